"""The samplers of OTC's online tuning (papers/otc/deploy.py): ``Sampler`` draws one update batch of all members
from the merged data B^k and the newest deployment D^k, by the cell's sampler (``uniform``, ``otc`` by Eq. (3) with
the adaptive alpha, ``online``, ``br`` Balanced Replay), with its own random stream (``stream_generator``).
Shapes: M members (agents of one seed), T rows, n rows drawn, O obs dim, A action dim, N agents.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

from common.datasets.sampling import gather_members, sample_indices
from papers.otc import otc as O
from papers.otc.config import SAMPLERS

__all__ = ["Sampler", "stream_generator", "take_rows", "matched_values", "BATCH_KEYS", "SAMPLER_STREAM"]

SAMPLER_STREAM = 0x07C  # spawn key of the sampler's generator
BATCH_KEYS = ("obs", "actions", "rewards", "next_obs", "terminals")


def stream_generator(seed: int, stream: int, device) -> torch.Generator:
    """The generator of one named random stream (``SAMPLER_STREAM``, the CVAE's, ...) of a run's ``seed``."""
    s = int(
        np.random.SeedSequence([int(seed)], spawn_key=(int(stream),)).generate_state(1, np.uint64)[0] >> 1
    )
    return torch.Generator(device=device).manual_seed(s)


def take_rows(batch: Mapping[str, Tensor], sel: Tensor) -> dict[str, Tensor]:
    """Rows ``sel`` [M, n] of every [M, R, ...] tensor of ``batch`` -> [M, n, ...]."""
    m = torch.arange(sel.shape[0], device=sel.device)[:, None]
    return {k: v[m, sel] for k, v in batch.items()}


def matched_values(
    learner, next_obs: Tensor, noise: Tensor | None, idx: Tensor, norm: str
) -> dict[str, Tensor]:
    """V(s') of the D rows for ``otc.q_deviation_distance``: with norm "transition" only at the matched rows idx
    [M, B] (``v_next_dm``, each row with its own draws from ``noise`` [M, D, ...]: the values of all D rows at
    those rows, |B| instead of |D| rows through the value's networks), else at every row (``v_next_d``).
    next_obs [M, D, O]; ``noise`` = the learner's ``value_noise`` of all D rows (None for a deterministic V)."""
    if norm != "transition":
        return {"v_next_d": learner.value(next_obs, noise=noise)}
    at = take_rows({"o": next_obs} if noise is None else {"o": next_obs, "z": noise}, idx)
    return {"v_next_dm": learner.value(at["o"], noise=at.get("z"))}


class Sampler:
    """The update batches of one cell's sampler (``uniform``, ``otc``, ``online``, ``br``), all members at once, from
    the merged tensors [T, N, ...] (offline rows first, then D^1, ..., D^k) and the newest online set D^k."""

    def __init__(
        self, kind: str, learner, cfg: Mapping[str, Any], seed: int, device, cvae=None, cvae_gen=None
    ):
        if kind not in SAMPLERS:
            raise ValueError(f"unknown sampler {kind!r}; valid: {', '.join(SAMPLERS)}")
        self.kind, self.learner = kind, learner
        self.ocfg = O.OTCConfig(**cfg["otc"]).validate() if kind == "otc" else None
        self.gen = stream_generator(seed, SAMPLER_STREAM, device)
        self.cvae, self.cvae_gen = cvae, cvae_gen
        if kind == "otc" and self.ocfg.distance == "embedding" and cvae is None:
            raise ValueError("OTC with distance='embedding' needs its CVAE")
        n = learner.n_members
        self.alpha = O.AdaptiveAlpha(n, self.ocfg.alpha0, self.ocfg.alpha_mode) if kind == "otc" else None
        self.gamma = float(learner.cfg.gamma)
        self.br = None
        if kind == "br":  # [P Fig. 5; I C16] Off2OnRL's sampler over B^k, its density net per member
            from papers.otc.balanced_replay import BalancedReplay, BalancedReplayConfig

            n0, cap = int(cfg["n_offline"]), int(cfg["capacity"])
            self.br = BalancedReplay(
                n,
                learner.obs_dim,
                learner.act_dim,
                n0,
                cap,
                BalancedReplayConfig(**cfg.get("br", {})),
                device=device,
                seed=int(seed),
            )

    # -- OTC's pieces
    def _pair(self, merged: Mapping[str, Tensor], newest: Mapping[str, Tensor]):
        """The uniform B (|B| rows of B^k, with replacement) and D (min(|D|, |D^k|) rows of D^k, no repeats)."""
        c, m, agents = self.ocfg, self.learner.n_members, self.learner.agents
        idx_b = sample_indices(self.gen, merged["obs"].shape[0], m, c.big_batch)  # [M, |B|]
        nd = min(c.match_batch, newest["obs"].shape[0])
        idx_d = sample_indices(self.gen, newest["obs"].shape[0], m, nd, replace=False)  # [M, |D|]
        return gather_members(merged, idx_b, agents), gather_members(newest, idx_d, agents)

    def similarity(self, bb: Mapping[str, Tensor], bd: Mapping[str, Tensor]) -> Tensor:
        """d(s', s'* of the best match in D) [M, |B|] by the cell's distance [P Eq. 1, Sec. 3.3]."""
        if self.ocfg.distance == "embedding":
            return O.embedding_distance(*O.embed_pair(self.cvae, bb, bd), self.gen)
        lr = self.learner
        q_b, q_d = lr.q1(bb["obs"], bb["actions"]), lr.q1(bd["obs"], bd["actions"])  # [M, B], [M, D]
        # V's draws, B then D
        z_b, z_d = (lr.value_noise(x["next_obs"], generator=self.gen) for x in (bb, bd))
        idx, _ = O.q_match(q_b, q_d, self.gen)  # [M, B] into D
        return O.q_deviation_distance(
            idx,
            q_b,
            q_d,
            lr.value(bb["next_obs"], noise=z_b),
            bb["rewards"],
            bd["rewards"],
            bb["terminals"],
            bd["terminals"],
            self.gamma,
            self.ocfg.dq_norm,
            **matched_values(lr, bd["next_obs"], z_d, idx, self.ocfg.dq_norm),
        )

    @torch.no_grad()
    def start_phase(
        self, merged: Mapping[str, Tensor], newest: Mapping[str, Tensor]
    ) -> dict[str, list[float]]:
        """At the start of phase k (before any update): DD^k = mean of d over ``n_alpha_draws`` (B, D) draws with
        the current model, and alpha^k by Eq. (4) [P; I C13]. -> {"alpha": [M], "dd": [M]} ({} if not OTC)."""
        if self.kind == "br":  # the rows of D^k enter with the current max priority
            self.br.add_online(int(newest["obs"].shape[0]))
            return {}
        if self.kind != "otc":
            return {}
        dd = torch.stack(
            [
                self.similarity(*self._pair(merged, newest)).double().mean(-1)
                for _ in range(self.ocfg.n_alpha_draws)
            ]
        ).mean(0)  # [M]
        alpha = self.alpha.step(dd)
        return {"alpha": alpha.tolist(), "dd": dd.tolist()}

    def batch(
        self, merged: Mapping[str, Tensor], newest: Mapping[str, Tensor], n_offline: int
    ) -> dict[str, Tensor]:
        """One update batch [M, n, ...] (n = the learner's batch size, or OTC's ``batch_size``)."""
        lr = self.learner
        if self.kind == "uniform":
            return lr.sample_batch(merged, generator=self.gen)
        if self.kind == "online":
            t = merged["obs"].shape[0] - n_offline
            idx = n_offline + sample_indices(self.gen, t, lr.n_members, lr.cfg.batch_size)
            return gather_members({k: merged[k] for k in BATCH_KEYS}, idx, lr.agents)
        if self.kind == "br":
            return self._br_batch(merged)
        bb, bd = self._pair(merged, newest)
        with torch.no_grad():
            d = self.similarity(bb, bd)  # [M, |B|]
            probs = O.rank_probabilities(d, self.alpha.alpha.to(d.dtype).to(d.device))  # [M, |B|]
            sel = O.prioritized_draw(probs, self.ocfg.batch_size, self.gen)  # [M, n]
        if self.ocfg.distance == "embedding":  # [I C10] one CVAE step on this update's uniform B
            self.cvae.update(bb["obs"], bb["next_obs"], bb["actions"], generator=self.cvae_gen)
        return take_rows(bb, sel)

    def _br_batch(self, merged: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Balanced Replay: the update batch drawn by priority from B^k; then (Off2OnRL's order) the drawn rows get
        new priorities from the density net before its step on 256 offline and 256 online rows."""
        lr, br, agents = self.learner, self.br, self.learner.agents
        if br.size != merged["obs"].shape[0]:
            raise RuntimeError(
                f"Balanced Replay holds {br.size} rows, the merged data {merged['obs'].shape[0]}"
            )
        idx = br.sample(lr.cfg.batch_size, self.gen)  # [M, n]
        batch = gather_members({k: merged[k] for k in BATCH_KEYS}, idx, agents)
        off_i, on_i = br.density_indices(self.gen)  # [M, R] each
        off = gather_members({k: merged[k] for k in ("obs", "actions")}, off_i, agents)
        on = gather_members({k: merged[k] for k in ("obs", "actions")}, on_i, agents)
        with torch.no_grad():
            br.update_priorities(idx, batch["obs"], batch["actions"], off["obs"], off["actions"])
        br.update_density(off, on)
        return batch

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"gen": self.gen.get_state()}
        if self.br is not None:
            out["br"] = self.br.state_dict()
        if self.alpha is not None:
            out["alpha"] = self.alpha.state_dict()
        if self.cvae is not None:
            out["cvae"], out["cvae_gen"] = self.cvae.state_dict(), self.cvae_gen.get_state()
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.gen.set_state(state["gen"].cpu())
        if self.br is not None:
            self.br.load_state_dict(state["br"])
        if self.alpha is not None:
            self.alpha.load_state_dict(state["alpha"])
        if self.cvae is not None:
            self.cvae.load_state_dict(state["cvae"])
            self.cvae_gen.set_state(state["cvae_gen"].cpu())
