"""MAPPO's checkpoints and cells as members (common/algos/mappo.py, common/running/grouping.py): ``state_dict`` /
``load_state_dict`` (the modules, the optimizer, alpha, the observation statistics and every seed's generators,
restored on their streams: ``TRAIN_STREAM``, ``ACT_STREAM``); ``MAPPO.stack`` puts the learners of several runs
side by side as one learner of all their seeds and their streams (common.algos.streams.MemberStreams),
``split_state`` gives each run's ``state_dict`` back (a learner alone: its own, one run)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from common.algos.mappo_config import MAPPOConfig
from common.algos.mappo_graph import eager_adam
from common.algos.state import (
    restore_generator,
    slice_module_state,
    slice_optimizer_state,
    stack_module_states,
    stack_optimizer_states,
)
from common.algos.streams import MemberStreams

__all__ = ["ACT_STREAM", "TRAIN_STREAM", "MAPPOStacking"]

TRAIN_STREAM = 0x7A1  # spawn key of a seed's minibatch-order generator
ACT_STREAM = 0xAC7  # spawn key of a seed's action-sampling generator


class MAPPOStacking:
    """The checkpoint and stacking half of ``MAPPO`` (a mixin: it reads the learner's modules, optimizer, alpha,
    observation statistics and per-seed generators)."""

    if TYPE_CHECKING:  # what stacking reads of the learner (common.algos.mappo.MAPPO), typed for the checker
        cfg: MAPPOConfig
        _graph: Any  # the captured minibatch step (common.algos.mappo_graph.MinibatchGraph) or None
        obs_dims: tuple[int, ...]
        act_dims: tuple[int, ...]
        n_actions: tuple[int, ...] | None
        emb_dim: int
        memory_len: int
        encoder: nn.Module | None
        seeds: list[int]
        n_seeds: int
        n_updates: int
        n_steps: int
        step_mode: str
        alpha: Tensor  # [S]
        obs_mu: Tensor  # [S, N, O]
        obs_sd: Tensor  # [S, N, O]
        obs_stats_set: bool
        opt: torch.optim.Optimizer
        streams: MemberStreams
        act_gens: list[torch.Generator]
        device: torch.device
        dtype: torch.dtype

        @property
        def gens(self) -> list[torch.Generator]: ...

        def modules(self) -> dict[str, nn.Module]: ...

    # ---- cells as members ---------------------------------------------------------------------
    @classmethod
    def stack(cls, learners: Sequence["MAPPOStacking"]) -> "MAPPOStacking":
        """One learner whose seeds are those of ``learners`` side by side (e.g. one per (cell, seed) run of a
        MOMA-PPO group): modules and Adam moments copied in, alpha and obs statistics per seed, and each learner's
        own per-seed generators (minibatch order, action sampling) as those of its seeds, so that an update of the
        stack is an update of each learner alone, up to the float rounding of kernels whose results depend on the
        member count. The learners must share config, agent dims, dtype, device and update count (and hold no
        caller's encoder). ``split_state`` gives their state_dicts back."""
        first = learners[0]

        def sig(lr: "MAPPOStacking") -> tuple:
            return (
                asdict(lr.cfg),
                lr.obs_dims,
                lr.act_dims,
                lr.n_actions,
                lr.emb_dim,
                str(lr.dtype),
                str(lr.device),
                lr.n_updates,
                lr.n_steps,
                lr.obs_stats_set,
            )

        bad = [k for k, lr in enumerate(learners) if sig(lr) != sig(first)]
        if bad:
            raise ValueError(
                f"MAPPO.stack: learners {bad} differ from learner 0 in config, agent dims, dtype, device, "
                "update count or obs statistics being set"
            )
        if any(lr.encoder is not None and lr.memory_len == 0 for lr in learners):
            raise ValueError(
                "MAPPO.stack: a caller's own encoder cannot be stacked (memory_len > 0 builds one that can)"
            )
        learner: Callable[..., MAPPOStacking] = cls  # MAPPO's signature, not the mixin's
        big = learner(
            first.obs_dims,
            first.act_dims,
            sum(lr.n_seeds for lr in learners),
            first.cfg,
            seeds=[s for lr in learners for s in lr.seeds],
            n_actions=first.n_actions,
            device=first.device,
            dtype=first.dtype,
        )
        for name, mod in big.modules().items():
            stack_module_states(mod, [lr.modules()[name] for lr in learners])
        big.opt.load_state_dict(stack_optimizer_states([lr.opt.state_dict() for lr in learners]))
        eager_adam(big.opt)  # the stack's graph (if any) re-captures on its first update
        big.step_mode = first.step_mode
        big.alpha = torch.cat([lr.alpha for lr in learners])
        big.obs_mu, big.obs_sd = (
            torch.cat([getattr(lr, k) for lr in learners]) for k in ("obs_mu", "obs_sd")
        )
        big.obs_stats_set = first.obs_stats_set
        # each seed keeps its minibatch order
        big.streams = MemberStreams.cat([lr.streams for lr in learners])
        big.act_gens = [g for lr in learners for g in lr.act_gens]
        big.n_updates, big.n_steps = first.n_updates, first.n_steps
        return big

    def split_state(self) -> list[dict[str, Any]]:
        """Each stacked learner's ``state_dict`` as it would be alone (``stack``'s inverse): a checkpoint that
        resumes the run alone or stacked again."""
        S, out, s0 = self.n_seeds, [], 0
        opt = self.opt.state_dict()
        for n in self.streams.run_seeds():
            own = slice(s0, s0 + n)
            out.append(
                {
                    "cfg": asdict(self.cfg),
                    "seeds": list(self.seeds[own]),
                    "n_updates": self.n_updates,
                    "n_steps": self.n_steps,
                    "alpha": self.alpha[own].clone(),
                    "obs_stats": (self.obs_mu[own].clone(), self.obs_sd[own].clone(), self.obs_stats_set),
                    "opt": slice_optimizer_state(opt, own, S),
                    "rng": [g.get_state() for g in self.gens[own]],
                    "act_rng": [g.get_state() for g in self.act_gens[own]],
                    **{name: slice_module_state(m, own, S) for name, m in self.modules().items()},
                }
            )
            s0 += n
        return out

    # ---- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "cfg": asdict(self.cfg),
            "seeds": list(self.seeds),
            "n_updates": self.n_updates,
            "n_steps": self.n_steps,
            "alpha": self.alpha.clone(),
            "obs_stats": (self.obs_mu.clone(), self.obs_sd.clone(), self.obs_stats_set),
            "opt": copy.deepcopy(self.opt.state_dict()),
            "rng": [g.get_state() for g in self.gens],
            "act_rng": [g.get_state() for g in self.act_gens],
            **{name: copy.deepcopy(m.state_dict()) for name, m in self.modules().items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = {**asdict(MAPPOConfig()), **state["cfg"]}  # fields newer than the checkpoint: their defaults
        saved = asdict(MAPPOConfig(**saved))  # lists -> tuples
        if saved != asdict(self.cfg):
            diff = {f.name for f in fields(MAPPOConfig) if saved.get(f.name) != getattr(self.cfg, f.name)}
            raise ValueError(f"checkpoint config differs from this learner's in {sorted(diff)}")
        if ("encoder" in state) != (self.encoder is not None):
            raise ValueError("checkpoint and learner disagree on having an encoder")
        if len(state["seeds"]) != self.n_seeds:
            raise ValueError(f"checkpoint has {len(state['seeds'])} seeds, this learner {self.n_seeds}")
        for name, m in self.modules().items():
            m.load_state_dict(state[name])
        # it holds the optimizer's old state tensors and alpha: the next update re-captures
        self._graph = None
        self.opt.load_state_dict(state["opt"])
        eager_adam(self.opt)
        self.alpha = state["alpha"].to(device=self.device, dtype=self.dtype).clone()
        if "obs_stats" in state:  # checkpoints older than obs_norm hold none (identity)
            mu, sd, self.obs_stats_set = state["obs_stats"]
            self.obs_mu, self.obs_sd = (t.to(device=self.device, dtype=self.dtype).clone() for t in (mu, sd))
        for g, st, sd in zip(self.gens, state["rng"], state["seeds"]):
            restore_generator(g, st, int(sd), TRAIN_STREAM, int(state["n_updates"]))
        for g, st, sd in zip(self.act_gens, state["act_rng"], state["seeds"]):
            restore_generator(g, st, int(sd), ACT_STREAM, int(state["n_updates"]))
        self.n_updates, self.n_steps = int(state["n_updates"]), int(state["n_steps"])
        self.seeds = list(state["seeds"])
