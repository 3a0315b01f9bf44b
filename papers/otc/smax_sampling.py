"""The data and samplers of OTC's Figure 6(d) on SMAX (papers/otc/smax_items.py, whose docstring states the
protocol): ``Buffers``, each member's merged data B_j^k (the shared offline rows and its agent's own online rows),
and ``SmaxSampler``, the update batches of the CQL column (uniform) and of OTC with d_q (Eq. 3, Eq. 4).
Shapes: M members (= the N agents of one seed), R rows, N agents.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from common.algos.cql_discrete import BATCH_KEYS, DiscreteCQL
from papers.otc import otc as O
from papers.otc.sampler import SAMPLER_STREAM, stream_generator

__all__ = ["Buffers", "SmaxSampler"]


class Buffers:
    """Each member's merged data B_j^k: the offline rows [T0, N, ...] (shared; member m reads column agents[m]) and
    its agent's own online rows, stored compacted in column j of ``online`` [C, N, ...] (rows [0, count_j)). Row
    index r of member m: r < T0 = offline row r, else online row r - T0. D_j^k = its rows of the newest deployment."""

    def __init__(self, offline: Mapping[str, Tensor], agents: Tensor):
        self.offline = dict(offline)
        self.agents = agents  # [M]
        self.n0 = int(self.offline["obs"].shape[0])
        self.N = int(self.offline["obs"].shape[1])
        self.online: dict[str, Tensor] | None = None
        dev = agents.device
        self.counts = torch.zeros(self.N, dtype=torch.int64, device=dev)  # online rows per agent
        # D_j^k = [start, start + size)
        self.newest_start = torch.zeros(self.N, dtype=torch.int64, device=dev)
        self.newest_size = torch.zeros(self.N, dtype=torch.int64, device=dev)

    def sizes(self) -> Tensor:
        """|B_j^k| of each member [M]."""
        return self.n0 + self.counts[self.agents]

    def add(self, rows: Sequence[Mapping[str, Tensor]]) -> None:
        """Append D_j^k for every agent j: rows[j] holds BATCH_KEYS of agent j's own transitions, [c_j, ...]."""
        if len(rows) != self.N:
            raise ValueError(f"need the online rows of {self.N} agents, got {len(rows)}")
        c = torch.tensor([int(r["obs"].shape[0]) for r in rows], dtype=torch.int64, device=self.counts.device)
        need = int((self.counts + c).max())
        have = 0 if self.online is None else int(self.online["obs"].shape[0])
        if need > have:  # grow once per deployment (never inside the update loop)
            grown = {k: v.new_zeros((need - have, *v.shape[1:])) for k, v in self.offline.items()}
            self.online = (
                grown if self.online is None else {k: torch.cat([self.online[k], grown[k]]) for k in grown}
            )
        for j, r in enumerate(rows):  # N writes per deployment
            a, n = int(self.counts[j]), int(c[j])
            for k in BATCH_KEYS:
                self.online[k][a : a + n, j] = r[k].to(self.online[k].dtype)
        self.newest_start, self.newest_size = self.counts.clone(), c
        self.counts = self.counts + c

    def gather(self, idx: Tensor) -> dict[str, Tensor]:
        """Member m's rows idx[m] (into [0, |B_m^k|)) -> BATCH_KEYS [M, R, ...]."""
        cols = self.agents[:, None]
        off = idx < self.n0  # [M, R]
        i_off = idx.clamp(max=self.n0 - 1)
        out = {k: v[i_off, cols] for k, v in self.offline.items()}
        if self.online is None or bool(off.all()):
            return out
        i_on = (idx - self.n0).clamp(min=0, max=self.online["obs"].shape[0] - 1)
        for k, v in self.online.items():
            keep = off.reshape(*off.shape, *([1] * (out[k].dim() - 2)))
            out[k] = torch.where(keep, out[k], v[i_on, cols])
        return out

    def sample(self, gen: torch.Generator, n: int) -> Tensor:
        """n rows uniform (with replacement) from each member's B_m^k -> idx [M, n]."""
        size = self.sizes().to(torch.float64)[:, None]
        u = torch.rand(
            (len(self.agents), int(n)), generator=gen, device=self.agents.device, dtype=torch.float64
        )
        return torch.minimum((u * size).long(), size.long() - 1)

    def sample_newest(self, gen: torch.Generator, n: int) -> Tensor:
        """min(n, min_m |D_m^k|) rows of each member's newest online set, without repeats -> idx [M, n'] (into
        B_m^k). One uniform key per slot of the largest D^k, the smallest keys of the valid slots win."""
        size = self.newest_size[self.agents]  # [M]
        if int(size.min()) < 1:
            raise ValueError("an agent has no online rows in the newest deployment")
        n = min(int(n), int(size.min()))
        width = int(size.max())
        keys = torch.rand((len(self.agents), width), generator=gen, device=self.agents.device)
        keys = keys.masked_fill(torch.arange(width, device=keys.device)[None, :] >= size[:, None], 2.0)
        pos = keys.topk(n, dim=-1, largest=False).indices  # [M, n] distinct valid slots
        return self.n0 + self.newest_start[self.agents][:, None] + pos

    def state_dict(self) -> dict[str, Any]:
        return {
            "online": None if self.online is None else {k: v.cpu() for k, v in self.online.items()},
            "counts": self.counts.cpu(),
            "newest_start": self.newest_start.cpu(),
            "newest_size": self.newest_size.cpu(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        dev = self.agents.device
        self.online = None if state["online"] is None else {k: v.to(dev) for k, v in state["online"].items()}
        self.counts, self.newest_start, self.newest_size = (
            state[k].to(dev) for k in ("counts", "newest_start", "newest_size")
        )


# ---- the samplers: uniform (the CQL column) and OTC (d_q) -----------------------------------------------------------


class SmaxSampler:
    """Update batches [M, n, ...] of ``uniform`` (128 rows of B_j^k) or ``otc`` (d_q, Eq. 3, Eq. 4)."""

    def __init__(self, kind: str, learner: DiscreteCQL, cfg: Mapping[str, Any], seed: int, device):
        if kind not in ("uniform", "otc"):
            raise ValueError(f"unknown SMAX sampler {kind!r}; valid: uniform, otc")
        self.kind, self.learner = kind, learner
        self.gen = stream_generator(seed, SAMPLER_STREAM, device)
        self.ocfg = self.alpha = None
        if kind == "otc":
            self.ocfg = O.OTCConfig(**cfg["otc"]).validate()
            if self.ocfg.distance != "q":
                raise ValueError(
                    f"OTC on SMAX uses d_q (Figure 6d); distance={self.ocfg.distance!r} is not built"
                )
            self.alpha = O.AdaptiveAlpha(learner.n_members, self.ocfg.alpha0, self.ocfg.alpha_mode)

    def _pair(self, buf: Buffers) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        c = self.ocfg
        return buf.gather(buf.sample(self.gen, c.big_batch)), buf.gather(
            buf.sample_newest(self.gen, c.match_batch)
        )

    def similarity(self, bb: Mapping[str, Tensor], bd: Mapping[str, Tensor]) -> Tensor:
        """d_q(s', s'* of the best match in D) [M, |B|] (papers/otc/otc.py's q_similarity) [P Sec. 3.3; I C11]."""
        lr = self.learner
        q_b, q_d = lr.q1(bb["obs"], bb["actions"]), lr.q1(bd["obs"], bd["actions"])  # [M, B], [M, D]
        v_b, v_d = lr.value(bb["next_obs"], bb["next_avail"]), lr.value(bd["next_obs"], bd["next_avail"])
        return O.q_similarity(
            q_b,
            q_d,
            v_b,
            v_d,
            bb["rewards"],
            bd["rewards"],
            bb["terminals"],
            bd["terminals"],
            float(lr.cfg.gamma),
            self.gen,
            self.ocfg.dq_norm,
        )[1]

    @torch.no_grad()
    def start_phase(self, buf: Buffers) -> dict[str, list[float]]:
        """DD^k over ``n_alpha_draws`` (B, D) draws with the current Q, then alpha^k (Eq. 4) [I C13]; {} if uniform."""
        if self.kind != "otc":
            return {}
        dd = torch.stack(
            [self.similarity(*self._pair(buf)).double().mean(-1) for _ in range(self.ocfg.n_alpha_draws)]
        ).mean(0)  # [M]
        return {"alpha": self.alpha.step(dd).tolist(), "dd": dd.tolist()}

    def batch(self, buf: Buffers) -> dict[str, Tensor]:
        lr = self.learner
        if self.kind == "uniform":
            return buf.gather(buf.sample(self.gen, lr.cfg.batch_size))
        bb, bd = self._pair(buf)
        with torch.no_grad():
            d = self.similarity(bb, bd)  # [M, |B|]
            probs = O.rank_probabilities(d, self.alpha.alpha.to(d.dtype).to(d.device))
            sel = O.prioritized_draw(probs, self.ocfg.batch_size, self.gen)  # [M, n]
        m = torch.arange(sel.shape[0], device=sel.device)[:, None]
        return {k: v[m, sel] for k, v in bb.items()}

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"gen": self.gen.get_state()}
        if self.alpha is not None:
            out["alpha"] = self.alpha.state_dict()
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.gen.set_state(state["gen"].cpu())
        if self.alpha is not None:
            self.alpha.load_state_dict(state["alpha"])
