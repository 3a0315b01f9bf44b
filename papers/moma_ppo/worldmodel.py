"""MOMA-PPO's world-model ensemble: training, elite selection and the synthetic transition ``sample``.

Paper: Barde, Foerster, Nowrouzezahrai, Zhang, "A Model-Based Solution to the Offline Multi-Agent
Reinforcement Learning Coordination Problem", AAMAS 2024, §3.1 (the ensemble) and §3.2 (its use in
the rollouts). Official code consulted (PBarde/moma-ppo at c276efc, paths under
``moma-ppo/offline_marl/offline_marl/``; summarized in docs/moma_ppo_official_code.md#world-model-ensemble,
docs/moma_ppo_official_code.md#sampling and docs/moma_ppo_official_code.md#moma-ppo-rollouts-and-penalty):
``train_worldmodel.py``, ``multi_agent/worldmodel.py``, ``multi_agent/worldmodel_ensemble.py``,
``single_agent/world_models.py``, ``utils/networks.py``, ``train_rl_model_based.py`` (``clip_to_dataset``,
``correct_rewards``), and ``dzsc/dzsc/ma_d4rl/multiagent_env_and_dataset.py`` (``get_split_idx``).

Model (one member m; x = [o_1, .., o_N (padding stripped), a] the joint observation and the joint action)
  T head   N(mu_T(x), sigma_T(x)^2) over the next joint observation (absolute, not a delta), 4 x 1024 ReLU
  R head   N(mu_R(x), sigma_R(x)^2) over one reward per agent (N outputs), 4 x 1024 ReLU
  mask     Bern(sigmoid(l(x))) "not terminal" per agent (N outputs), 2 x 1024 ReLU
  log sigma clamped to [-6, 2]
Loss (per member, weights 1, 1, 1; [code] multi_agent/worldmodel.py ``update``)
  L = NLL_T + NLL_R + BCE,   NLL = mean_{b, j} [log sigma_j + 0.5 ((y_j - mu_j) / sigma_j)^2]   (no constant)
  Adam lr 3e-5, gradient-norm clip 1.0 per member, an independent minibatch of 256 per member.
Elites (lowest validation error; [paper] §3.1 "keep the best N = 5 based on their average validation
accuracy across the next states and rewards")
  score_m = 0.5 (mean_b ||T_sample - s'|| + mean_b ||R_sample - r||),  T_sample = mu_T + sigma_T * eps
Sampling (on the E elites, for a batch of joint (o, a)): papers/moma_ppo/worldmodel_sample.py.
Checkpoints (what ``sample`` depends on, and the whole training state): papers/moma_ppo/worldmodel_state.py.

Elite selection, code vs ours. The code evaluates every 5 updates (and after the first): each member
draws 50 train and 50 validation minibatches of 256 rows with replacement, and ``top_wms`` becomes the
5 members with the lowest mean of (T_dist_valid, R_dist_valid) "as of the last evaluation"; the saved
model is the last one, saved right after that evaluation. Earlier evaluations never influence training
(they only overwrite ``top_wms``), so only the last one matters, and it scores the weights that are saved
(with ``max_training_step`` = 1e4 + 1 the last evaluation follows update 1e4, and the 1e4+1-th update is
never saved: [code] train_worldmodel.py saves only inside its evaluation block). We select once, after
training, on the whole validation split (or its first ``elite_eval_rows`` rows), every member on the
same rows: the same estimator as the code's with less noise, hence the same elites of the final model
up to the code's sampling noise, at a fraction of the cost (the code evaluates 2000 times).

Batching. Every network holds M = G * K members, K = ``n_members`` per ensemble and G ensembles
("groups": one per seed, or one per dataset of the same layout) stacked on the member axis; member
m = g * K + k. One ``update`` steps all members at once (tests prove it equals K separate updates).
Shapes: M members, G groups, K members per group, E elites per group, B batch, N agents, O padded obs
dim, A padded action dim, Oj = sum_i O_i joint obs dim, I model input dim, T dataset steps.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from common.algos.state import copy_members
from common.networks.nets import clip_grad_norm_
from common.running.records import atomic_torch_save
from papers.moma_ppo.worldmodel_data import (
    JointLayout,
    WMData,
    WorldModelConfig,
    dataset_box,
    dataset_tensors,
    split_indices,
)
from papers.moma_ppo.worldmodel_nets import WMHeads, gaussian_nll, mask_bce, sample_l2_error
from papers.moma_ppo.worldmodel_sample import sample_step
from papers.moma_ppo.worldmodel_state import BOX_KEYS, WorldModelCheckpoint

__all__ = ["WorldModelEnsemble"]


class WorldModelEnsemble(WorldModelCheckpoint):
    """G ensembles of K = ``cfg.n_members`` world models on one member axis (M = G * K).

    ``WorldModelEnsemble(layout, cfg, seeds=(0,))`` or ``WorldModelEnsemble.for_datasets(datasets, cfg,
    seeds)``. Group g's networks are initialised from ``seeds[g]`` alone (seed before building), so a
    group equals the ensemble built alone with that seed. Training minibatches come from one
    torch.Generator (``self.gen``); elite selection uses its own generator, so it never moves the
    training stream. Typical use::

        wm = WorldModelEnsemble.for_datasets(dataset, cfg, seeds=[0])
        wm.fit(dataset)                      # split, cfg.n_updates updates, elites on the validation split
        out = wm.sample(obs, actions, gen)   # obs [B, N, O], actions [B, N, A] (Dataset layout)
        record["world_model_sha256"] = wm.checksum()
    """

    def __init__(
        self,
        layout: JointLayout,
        cfg: WorldModelConfig | None = None,
        seeds: Sequence[int] = (0,),
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        self.cfg = cfg = (cfg or WorldModelConfig()).validate()
        if layout.action_eps != cfg.action_eps:
            layout = JointLayout(layout.obs_dims, layout.act_dims, layout.n_actions, cfg.action_eps)
        self.layout = layout
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise ValueError("seeds must name at least one group")
        self.n_groups = G = len(self.seeds)
        self.n_per_group = K = cfg.n_members
        self.n_members = M = G * K
        self.device, self.dtype = torch.device(device), dtype
        dims = (layout.in_dim, layout.joint_obs_dim, layout.n_agents)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seeds[0])
            self.heads = WMHeads(M, *dims, cfg)  # with one group: already the lone ensemble of seeds[0]
            for g, s in enumerate(self.seeds if G > 1 else []):  # member (g, k) from seeds[g] only
                torch.manual_seed(s)
                copy_members(self.heads, WMHeads(K, *dims, cfg), g * K)
        self.heads.to(device=self.device, dtype=dtype).train()
        # fused Adam (one pass over each tensor): at the code's sizes torch's per-tensor Adam was 23 % of an update
        # (234 ms of ~1 s, 24M parameters); fused, the update is 1.26x faster (Intel Xeon family 6 model 207, one
        # thread, 2026-11-30). Same algorithm, other float rounding (|Δw| ≤ 1.5e-8 after 3 steps)
        self.optim = torch.optim.Adam(
            self.heads.parameters(),
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            fused=self.device.type in ("cpu", "cuda"),
        )
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(_derived_seed(self.seeds, 0))
        self.step = 0
        # elites [G, E]: member index within the group, -1 until selected
        self.elites = torch.full((G, cfg.n_elites), -1, dtype=torch.long, device=self.device)
        self.elite_scores = torch.full((M,), math.nan, dtype=dtype, device=self.device)  # [M]
        n, o = layout.n_agents, layout.obs_pad  # box: +-inf until set (clipping by an unset box raises)
        self.box = {
            "obs_low": torch.full((G, n, o), -math.inf, dtype=dtype, device=self.device),
            "obs_high": torch.full((G, n, o), math.inf, dtype=dtype, device=self.device),
            "rew_low": torch.full((G, n), -math.inf, dtype=dtype, device=self.device),
            "rew_high": torch.full((G, n), math.inf, dtype=dtype, device=self.device),
        }

    @classmethod
    def for_datasets(
        cls, datasets, cfg: WorldModelConfig | None = None, seeds: Sequence[int] | None = None, **kw
    ) -> "WorldModelEnsemble":
        """One group per dataset (or one dataset shared by all ``seeds``); the layout comes from the
        datasets' cards (all must agree) and the clipping box from each dataset."""
        cfg = (cfg or WorldModelConfig()).validate()
        ds = _dataset_list(datasets, seeds)
        seeds = list(range(len(ds))) if seeds is None else list(seeds)
        layout = JointLayout.from_dataset(ds[0], cfg.action_eps)
        for d in ds[1:]:
            if JointLayout.from_dataset(d, cfg.action_eps) != layout:
                raise ValueError(
                    f"datasets {ds[0].id} and {d.id} have different layouts: one ensemble group "
                    "needs the same obs_dims, act_dims and n_actions"
                )
        wm = cls(layout, cfg, seeds, **kw)
        wm.set_box(ds)
        return wm

    # ---- data ---------------------------------------------------------------------------------
    def set_box(self, datasets) -> None:
        """The clipping box of each group from its dataset (:func:`dataset_box`)."""
        ds = _dataset_list(datasets, self.seeds)
        for g, d in enumerate(ds):
            if JointLayout.from_dataset(d, self.cfg.action_eps) != self.layout:
                raise ValueError(f"dataset {d.id} does not have this ensemble's layout {self.layout}")
            for k, v in dataset_box(d).items():
                self.box[k][g] = torch.as_tensor(v, dtype=self.dtype, device=self.device)

    def prepare_data(self, datasets) -> WMData:
        """Model rows of each group's dataset (or one shared dataset) and the code's train/valid split."""
        ds = _dataset_list(datasets, self.seeds)
        parts, train, valid, offset = [], [], [], 0
        for d in ds:
            if JointLayout.from_dataset(d, self.cfg.action_eps) != self.layout:
                raise ValueError(f"dataset {d.id} does not have this ensemble's layout {self.layout}")
            t = dataset_tensors(d, self.layout, self.device, self.dtype)
            tr, va = split_indices(len(d), self.cfg.valid_fraction, self.cfg.split_seed)
            if len(tr) == 0 or len(va) == 0:
                raise ValueError(
                    f"dataset {d.id} ({len(d)} rows) is too small for a validation split of "
                    f"{self.cfg.valid_fraction}"
                )
            train.append(torch.as_tensor(tr + offset, device=self.device))
            valid.append(torch.as_tensor(va + offset, device=self.device))
            parts.append(t)
            offset += len(d)
        cat = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return WMData(**cat, train=train, valid=valid)

    def sample_batch(self, data: WMData, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """An independent minibatch per member, uniform with replacement from its group's train rows
        ([code] worldmodel_ensemble.py ``update``: one ``dataset.sample`` per member): inputs [M, B, I],
        next_obs [M, B, Oj], rewards / masks [M, B, N]."""
        g = self.gen if generator is None else generator
        K, B = self.n_per_group, self.cfg.batch_size
        rows = torch.cat(
            [
                tr[torch.randint(len(tr), (K, B), generator=g, device=g.device).to(tr.device)]
                for tr in data.train
            ]
        )  # [M, B]
        return data.rows(rows)

    # ---- update -------------------------------------------------------------------------------
    def losses(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Per-member losses [M]: nll_t, nll_r, bce and loss = nll_t + nll_r + bce ([paper] §3.1; [code]
        multi_agent/worldmodel.py ``update``, loss_weights 1, 1, 1)."""
        # [M, B, Oj], ..., [M, B, N]
        mean_t, log_std_t, mean_r, log_std_r, logits = self.heads(batch["inputs"])
        nll_t = gaussian_nll(mean_t, log_std_t, batch["next_obs"])
        nll_r = gaussian_nll(mean_r, log_std_r, batch["rewards"])
        bce = mask_bce(logits, batch["masks"])
        return {"loss": nll_t + nll_r + bce, "nll_t": nll_t, "nll_r": nll_r, "bce": bce}

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One Adam step of every member on its own rows of ``batch`` ([M, B, ...]); the summed loss gives
        each member its own gradient, clipped per member. Returns detached [M] metrics (no host sync)."""
        self.heads.train()
        out = self.losses(batch)
        self.optim.zero_grad(set_to_none=True)
        out["loss"].sum().backward()
        grad_norm = clip_grad_norm_(self.heads.parameters(), self.cfg.grad_clip, self.n_members)
        self.optim.step()
        self.step += 1
        return {**{k: v.detach() for k, v in out.items()}, "grad_norm": grad_norm}

    def train(self, data: WMData, n_updates: int | None = None, log_every: int = 100) -> list[dict[str, Any]]:
        """``n_updates`` (default cfg.n_updates) updates; returns the metrics of every ``log_every``-th
        update and of the last one ({"step": int, name: [M] tensor})."""
        n = self.cfg.n_updates if n_updates is None else int(n_updates)
        history = []
        for i in range(n):
            m = self.update(self.sample_batch(data))
            if (i + 1) % log_every == 0 or i == n - 1:
                history.append({"step": self.step, **m})
        return history

    def fit(
        self,
        datasets,
        log_every: int = 100,
        partial: str | os.PathLike | None = None,
        save_every: int = 500,
        on_updates: Callable[[int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Split, train cfg.n_updates updates, then select the elites on the validation split.

        ``partial``: a file that makes the training resumable. The full state (:meth:`state_dict`: weights,
        Adam, the minibatch generator, the step) is written there atomically every ``save_every`` updates,
        and a fit that finds the file resumes from it; the resumed ensemble equals the uninterrupted one
        bit for bit (the split is a fixed permutation and every minibatch comes from ``self.gen``). The
        caller removes the file once the finished ensemble is stored. A file from another configuration,
        layout or seed set is an error (:meth:`load_state_dict`). ``on_updates(n)`` is called after
        every chunk of updates with the number of updates just done (a progress bar's ``update``);
        ``history`` holds the metrics of this call's updates only."""
        if save_every < 1:
            raise ValueError(f"save_every={save_every!r} must be >= 1")
        data = self.prepare_data(datasets)
        path = None if partial is None else Path(partial)
        if path is not None and path.exists():
            self.load_state_dict(torch.load(path, map_location=self.device, weights_only=False))
            if on_updates is not None and self.step:
                on_updates(self.step)
        total, history = self.cfg.n_updates, []
        while self.step < total:
            n = min(total - self.step, save_every if path is not None else total - self.step)
            history += self.train(data, n_updates=n, log_every=log_every)
            if path is not None and self.step < total:
                atomic_torch_save(self.state_dict(), path)
            if on_updates is not None:
                on_updates(n)
        self.select_elites(data)
        return history

    # ---- elites -------------------------------------------------------------------------------
    @torch.no_grad()
    def validation_scores(self, data: WMData, generator: torch.Generator | None = None) -> Tensor:
        """score [M] = 0.5 (mean_b ||T_sample - s'|| + mean_b ||R_sample - r||) over group g's
        validation rows (the first ``cfg.elite_eval_rows`` of them if set), the same rows for its K
        members ([code] worldmodel_ensemble.py ``evaluate``: mean of T_dist_valid and R_dist_valid)."""
        gen = generator if generator is not None else self._eval_generator()
        K, C = self.n_per_group, self.cfg.eval_chunk
        scores = []
        for g, va in enumerate(data.valid):
            if self.cfg.elite_eval_rows is not None:
                va = va[: self.cfg.elite_eval_rows]
            idx = torch.arange(g * K, (g + 1) * K, device=self.device)
            t_sum = torch.zeros(K, dtype=self.dtype, device=self.device)
            r_sum = torch.zeros_like(t_sum)
            for c in range(0, len(va), C):
                rows = data.rows(va[c : c + C])  # [C, F]
                x = rows["inputs"].unsqueeze(0).expand(K, -1, -1)  # [K, C, I]
                mean_t, log_std_t, mean_r, log_std_r, _ = self.heads.forward_members(idx, x)
                noise_t = _randn(mean_t.shape, gen, mean_t)
                noise_r = _randn(mean_r.shape, gen, mean_r)
                t_sum += sample_l2_error(mean_t, log_std_t, rows["next_obs"], noise_t).sum(1)
                r_sum += sample_l2_error(mean_r, log_std_r, rows["rewards"], noise_r).sum(1)
            scores.append(0.5 * (t_sum + r_sum) / len(va))
        return torch.cat(scores)

    def select_elites(self, data: WMData, generator: torch.Generator | None = None) -> Tensor:
        """Keep the cfg.n_elites members of each group with the lowest validation score ([paper] §3.1;
        [code] ``top_wms`` = argsort of the scores). Returns elites [G, E] (member index in the group)."""
        scores = self.validation_scores(data, generator)
        self.elite_scores = scores
        order = torch.argsort(scores.view(self.n_groups, self.n_per_group), dim=1, stable=True)
        self.set_elites(order[:, : self.cfg.n_elites])
        return self.elites

    def set_elites(self, elites) -> None:
        """Elites [G, E] (or [E] for one group), each a member index in 0..K-1, distinct per group."""
        e = torch.as_tensor(elites, dtype=torch.long, device=self.device).reshape(self.n_groups, -1)
        if e.shape[1] != self.cfg.n_elites:
            raise ValueError(f"need {self.cfg.n_elites} elites per group, got {tuple(e.shape)}")
        if bool((e < 0).any() or (e >= self.n_per_group).any()):
            raise ValueError(f"elites must lie in 0..{self.n_per_group - 1}, got {e.tolist()}")
        if any(len(set(row)) != len(row) for row in e.tolist()):
            raise ValueError(f"elites must be distinct within a group, got {e.tolist()}")
        self.elites = e.clone()

    # ---- sampling -----------------------------------------------------------------------------
    def sample(
        self,
        obs: Tensor,
        actions: Tensor,
        generator: torch.Generator | None = None,
        choice: Tensor | None = None,
        groups: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """One synthetic step for a batch of joint (o, a) on the elites: :func:`worldmodel_sample.sample_step`, whose
        docstring gives the arguments and the outputs."""
        return sample_step(self, obs, actions, generator, choice, groups)

    # ---- cells as members ---------------------------------------------------------------------
    @classmethod
    def stack(cls, ensembles: Sequence["WorldModelEnsemble"]) -> "WorldModelEnsemble":
        """One ensemble whose groups are those of ``ensembles`` side by side (e.g. the trained ensembles of
        several MOMA-PPO cells), for ``sample`` only: heads, elites, elite scores and boxes copied in (no optimizer
        state, no training stream). Config, layout, dtype and device must agree."""
        first = ensembles[0]
        bad = [
            k
            for k, e in enumerate(ensembles)
            if (asdict(e.cfg), e.layout, e.dtype, e.device)
            != (asdict(first.cfg), first.layout, first.dtype, first.device)
        ]
        if bad:
            raise ValueError(
                f"WorldModelEnsemble.stack: ensembles {bad} differ from ensemble 0 in config, layout, "
                "dtype or device"
            )
        big = cls(
            first.layout,
            first.cfg,
            [s for e in ensembles for s in e.seeds],
            device=first.device,
            dtype=first.dtype,
        )
        with torch.no_grad():
            for name, v in big.heads.state_dict().items():
                v.copy_(torch.cat([e.heads.state_dict()[name] for e in ensembles]))
        big.elites = torch.cat([e.elites for e in ensembles]).clone()
        big.elite_scores = torch.cat([e.elite_scores for e in ensembles]).clone()
        big.box = {k: torch.cat([e.box[k] for e in ensembles]).clone() for k in BOX_KEYS}
        return big

    # ---- helpers ------------------------------------------------------------------------------
    def _eval_generator(self) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(_derived_seed(self.seeds, 1))
        return g


def _dataset_list(datasets, seeds: Sequence[int] | None) -> list:
    """A list of datasets, one per group; a single dataset is shared by all groups."""
    if isinstance(datasets, (list, tuple)):
        ds = list(datasets)
        if seeds is not None and len(ds) != len(seeds):
            raise ValueError(f"{len(ds)} datasets for {len(seeds)} groups (seeds {list(seeds)})")
        return ds
    return [datasets] * (1 if seeds is None else len(seeds))


def _derived_seed(seeds: Sequence[int], stream: int) -> int:
    """A 63-bit torch seed for one named stream (0: training batches, 1: elite scoring) of these seeds."""
    return int(np.random.SeedSequence([*seeds, stream]).generate_state(1, np.uint64)[0] >> 1)


def _randn(shape, generator: torch.Generator, like: Tensor) -> Tensor:
    return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)
