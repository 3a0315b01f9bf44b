"""What the offline learners of MOMA-PPO share (common/algos/iql_continuous.py ``ContinuousIQL``, common/algos/iql.py
``DiscreteIQL``, common/algos/matd3bc.py ``MATD3BC``): ``MemberLayout``, the member base (common.algos.members) with
units u of a seed (agents, or one centralized unit; member m = s * U + u), one minibatch-row generator per seed, joint
views of observations and actions, dataset histories and stacking runs with them; and the two config helpers for
fields given per member in a stack of runs (``config_values``, ``as_tuple``).
Shapes: M members, S seeds, U units per seed, N agents, B batch, E episodes, L history length, D history step dim,
O obs dim, A action dim.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from common.algos.members import SeedStreamsLearner
from common.algos.ppo import mix_values
from common.networks.history import (
    HISTORY_ACT_CLIP,
    HistoryPolicy,
    episode_starts,
    gather_history,
)
from common.networks.nets import clip_grad_norm_, member_count

SAMPLE_STREAM = 0x1C0  # second entropy word of a seed's minibatch-row generator


def config_values(v: Any) -> tuple:
    """A config number, or a ``GROUP_FIELDS`` value given per member (a stack of runs), as the tuple of its values."""
    return tuple(v) if isinstance(v, (tuple, list)) and len(v) else (v,)


def as_tuple(v: Any) -> Any:
    return tuple(float(x) for x in v) if isinstance(v, (list, tuple, np.ndarray)) else v


class MemberLayout(SeedStreamsLearner):
    """The member base with one minibatch-row generator per seed (common.algos.members.SeedStreamsLearner) and
    what MOMA-PPO's offline learners share: units u of a seed (agents, or one centralized unit), joint views,
    dataset histories, and stacking runs with them. A subclass passes its validated ``cfg`` (with batch_size; a
    config with histories also memory_len) to ``MemberLayout.__init__``, builds ``nets`` / ``targets`` / ``opts``
    (``_build_nets``), implements ``update`` and ``act`` and takes (obs_dims, act_dims, n_seeds, cfg, *, seeds,
    device, dtype) (``_empty_stack``)."""

    SAMPLE_STREAM = SAMPLE_STREAM
    nets: nn.ModuleDict  # the subclass's networks by name (``_build_nets``)
    targets: nn.ModuleDict  # their target copies
    opts: dict[str, torch.optim.Optimizer]  # the optimizers by group name (``_zero``)

    if TYPE_CHECKING:  # what the subclass defines, typed for the checker
        act: Callable[..., np.ndarray | Tensor]  # (obs[, memory]) -> greedy actions (``policy``)

    def __init__(
        self,
        cfg: Any,
        obs_dims,
        act_dims,
        n_seeds,
        seeds,
        seed,
        central: bool,
        central_obs: str,
        device,
        dtype,
    ):
        super().__init__(
            cfg,
            obs_dims,
            act_dims,
            n_seeds,
            seeds=seeds,
            seed=seed,
            units=1 if central else None,
            device=device,
            dtype=dtype,
        )
        S, N, O, A = self.n_seeds, self.n_agents, self.obs_dim, self.act_dim
        self.central = central
        self.joint_obs_dim, self.joint_act_dim = sum(self.obs_dims), sum(self.act_dims)
        dev = self.device
        self._joint_obs_idx = torch.tensor(
            [i * O + k for i in range(N) for k in range(self.obs_dims[i])], device=dev
        )
        self._joint_act_idx = torch.tensor(
            [i * A + k for i in range(N) for k in range(self.act_dims[i])], device=dev
        )
        self._unit_obs_idx = (
            self._joint_obs_idx if central_obs == "joint" else torch.arange(self.obs_dims[0], device=dev)
        )
        self.unit_obs = (self.joint_obs_dim if central_obs == "joint" else self.obs_dims[0]) if central else O
        self.unit_act = self.joint_act_dim if central else A
        # [N, A]
        am = torch.tensor([[float(k < self.act_dims[i]) for k in range(A)] for i in range(N)], dtype=dtype)
        self.act_mask = am.to(dev)
        self._unit_act_mask = (
            (torch.ones(1, self.unit_act, dtype=dtype) if central else am).repeat(S, 1).to(dev)
        )
        self.memory_len = L = int(getattr(self.cfg, "memory_len", 0))  # a config without histories has none
        self.history_dim = self.unit_obs + self.unit_act if L > 0 else 0  # a step [unit obs ⊕ unit action]

    def _build_nets(self, build: Callable[[int], dict[str, nn.Module]]) -> nn.ModuleDict:
        """``build(n_seeds) -> {name: module}`` (U members per seed; mixers one) as one ModuleDict: seed s's part
        from ``seeds[s]`` alone (common.algos.members)."""
        return nn.ModuleDict(self._build_members(build))

    # ---- layout -------------------------------------------------------------------------------
    def _units(self, x: Tensor, joint_idx: Tensor) -> Tensor:
        """x [S, *, N, F] -> the units' view [M, *, F_u]: per agent (m = s * N + i), or the joint columns
        ``joint_idx`` of the flattened agents (centralized, M = S)."""
        if self.central:
            return x.flatten(-2).index_select(-1, joint_idx)
        return x.movedim(-2, 1).reshape(self.n_members, *x.shape[1:-2], x.shape[-1])

    def _unit_obs_of(self, obs: Tensor) -> Tensor:
        return self._units(obs, self._unit_obs_idx)

    def _unit_act_of(self, actions: Tensor) -> Tensor:
        return self._units(actions, self._joint_act_idx)

    def _joint(self, x: Tensor, idx: Tensor) -> Tensor:
        """[S, *, N, F] padded -> [S, *, F_joint] (the agents' real entries in agent order)."""
        return x.flatten(-2).index_select(-1, idx)

    def _per_seed(self, y: Tensor) -> Tensor:
        """[M, B] -> [S, B, U]."""
        return y.view(self.n_seeds, self.n_units, -1).transpose(1, 2)

    def _to_agents(self, a_u: Tensor) -> Tensor:
        """unit actions [M, E, A_u] -> [S, E, N, A] padded (centralized: the joint action split back)."""
        S, N, A = self.n_seeds, self.n_agents, self.act_dim
        if self.central:
            out = a_u.new_zeros(S, a_u.shape[1], N * A)
            out[..., self._joint_act_idx] = a_u
            return out.view(S, -1, N, A)
        return a_u.view(S, N, -1, A).transpose(1, 2) * self.act_mask

    def _history_step(self, obs: Tensor, actions: Tensor) -> Tensor:
        """The units' history step [S, *, U, D] = [unit obs ⊕ clip(unit action)] from obs [S, *, N, O] and
        actions [S, *, N, A] (per agent: [o_i ⊕ a_i]; centralized: [o_u ⊕ joint a])."""
        a = actions.clamp(-HISTORY_ACT_CLIP, HISTORY_ACT_CLIP)
        if not self.central:
            return torch.cat([obs, a], dim=-1)
        return torch.cat(
            [self._joint(obs, self._unit_obs_idx), self._joint(a, self._joint_act_idx)], -1
        ).unsqueeze(-2)

    def _memory_units(self, memory: Tensor | None) -> Tensor | None:
        """memory [S, *, U, L, D] -> [M, *, L, D]."""
        if memory is None:
            return None
        S, U = self.n_seeds, self.n_units
        if memory.shape[0] != S or memory.shape[-3:] != (U, self.memory_len, self.history_dim):
            raise ValueError(
                f"memory must be [S={S}, *, U={U}, L={self.memory_len}, D={self.history_dim}], "
                f"got {tuple(memory.shape)}"
            )
        return memory.movedim(-3, 1).reshape(S * U, *memory.shape[1:-3], self.memory_len, self.history_dim)

    # ---- data ---------------------------------------------------------------------------------
    def prepare_data(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Dataset.to_torch tensors -> obs / next_obs [T, N, O], actions [T, N, A], rewards [T] (agent 0's: the team
        reward), masks [T] = 1 - terminals (time-outs bootstrap); with histories also starts [T] (the row where each
        transition's episode begins, episodes cut at terminals and time-outs; common/networks/history.py)."""
        obs = tensors["obs"].to(self.device, self.dtype)
        if obs.shape[1:] != (self.n_agents, self.obs_dim) or tensors["actions"].shape[1:] != (
            self.n_agents,
            self.act_dim,
        ):
            raise ValueError(
                f"dataset obs {tuple(obs.shape)} / actions {tuple(tensors['actions'].shape)} do not match "
                f"N={self.n_agents}, O={self.obs_dim}, A={self.act_dim}"
            )
        out = {
            "obs": obs,
            "next_obs": tensors["next_obs"].to(self.device, self.dtype),
            "actions": tensors["actions"].to(self.device, self.dtype),
            "rewards": tensors["rewards"][:, 0].to(self.device, self.dtype),
            "masks": 1.0 - tensors["terminals"].to(self.device, self.dtype),
        }
        if self.memory_len > 0:
            out["starts"] = episode_starts(tensors["terminals"], tensors["timeouts"]).to(self.device)
        return out

    def sample_batch(
        self, data: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Rows [S, B] (one draw per seed from its own generator, with replacement; shared by the seed's agents):
        obs / next_obs [S, B, N, O], actions [S, B, N, A], rewards / masks [S, B]; with histories memory /
        next_memory [S, B, U, L, D] (the histories of s and s')."""
        # [S, B]
        rows = self.sample_rows(data, per_seed=True, generator=generator, replace=True).to(self.device)
        out = {k: v[rows] for k, v in data.items() if k != "starts"}
        if self.memory_len > 0:
            for key, nxt in (("memory", False), ("next_memory", True)):
                o = gather_history(data["obs"], rows, data["starts"], self.memory_len, nxt)  # [S, B, L, N, O]
                # [S, B, L, N, A]
                a = gather_history(data["actions"], rows, data["starts"], self.memory_len, nxt)
                out[key] = self._history_step(o, a).movedim(-2, -3)  # [S, B, U, L, D] (zeros stay zeros)
        return out

    # ---- stacking runs (cells as members, common/running/grouping.py): StackableLearner's hooks ------------
    def _empty_stack(self, cfg: Any, seeds: Sequence[int]) -> "MemberLayout":
        # its own signature (class docstring), not this __init__'s
        subclass: Callable[..., MemberLayout] = type(self)
        return subclass(
            self.obs_dims, self.act_dims, len(seeds), cfg, seeds=seeds, device=self.device, dtype=self.dtype
        )

    def stack_data(self, parts: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """StackableLearner.stack_data; the episode starts (row indices) shifted to their block's rows."""
        data = super().stack_data(parts)
        if "starts" in data:
            assert self.stream_rows is not None  # set by StackableLearner.stack_data
            # id(part) -> (its first row, part), in order
            blocks: dict[int, tuple[int, Mapping[str, Tensor]]] = {}
            for part, (start, _) in zip(parts, self.stream_rows):
                blocks.setdefault(id(part), (start, part))
            data["starts"] = torch.cat([part["starts"] + start for start, part in blocks.values()])
        return data

    def _seed_values(self, name: str) -> float | Tensor:
        """Config field ``name`` (a ``GROUP_FIELDS`` one) as the losses read it: a number as given, or (one value
        per member: a stack of runs) a tensor [S, 1], one value per seed, which its U units share."""
        v = getattr(self.cfg, name)
        if not isinstance(v, tuple):
            return v
        t = torch.tensor(v, dtype=self.dtype, device=self.device)  # rounded once, as a run alone's scalar is
        if t.numel() != self.n_members or not bool(
            (t.view(self.n_seeds, -1) == t.view(self.n_seeds, -1)[:, :1]).all()
        ):
            raise ValueError(
                f"{type(self.cfg).__name__}.{name}={v!r}: give one number, or one per member "
                f"({self.n_members}) equal within each seed"
            )
        return t.view(self.n_seeds, -1)[:, :1]

    def _mix(self, mixer: nn.Module, x: Tensor, values: Tensor) -> Tensor:
        """QMIX-style mixing (the MAIQL learners): values [S, B, N] mixed by mixer(x [S, B, X]) = [w, b] ->
        sum_i w_i v_i + b [S, B]."""
        wb = mixer(x)
        return mix_values(values, wb[..., :-1], wb[..., -1])

    def _zero(self, *groups: str) -> None:
        for g in groups:
            self.opts[g].zero_grad(set_to_none=True)

    def _clip(self, names: Sequence[str]) -> None:
        for name in names:
            clip_grad_norm_(self.nets[name].parameters(), self.cfg.grad_clip, member_count(self.nets[name]))

    def _embed(self, nets: nn.ModuleDict, obs_u: Tensor, mem_u: Tensor | None) -> Tensor:
        """x [M, B, E + X] = [emb(h) ⊕ o] with ``nets``' encoder (online or target); o alone without histories."""
        if mem_u is None:
            return obs_u
        return torch.cat([nets["enc"](mem_u), obs_u], dim=-1)

    def policy(self):
        """A callable for common.running.evaluate (greedy): obs [S, E, N, O] numpy -> actions [S, E, N, A] numpy; with
        histories a fresh :class:`common.networks.history.HistoryPolicy` (zero histories at t = 0)."""
        if self.memory_len == 0:
            return lambda obs: self.act(obs)
        return HistoryPolicy(
            lambda obs, memory: self.act(obs, memory),
            self.memory_len,
            self.history_dim,
            step_fn=self._history_step,
            n_units=self.n_units,
            device=self.device,
            dtype=self.dtype,
        )

    def _act_input(self, obs: Any, memory: Any) -> tuple[Tensor, Tensor | None, bool]:
        is_np = isinstance(obs, np.ndarray)
        x = torch.as_tensor(obs, dtype=self.dtype, device=self.device)
        if x.dim() != 4 or (x.shape[0], x.shape[2], x.shape[3]) != (
            self.n_seeds,
            self.n_agents,
            self.obs_dim,
        ):
            raise ValueError(
                f"obs must be [S={self.n_seeds}, E, N={self.n_agents}, O={self.obs_dim}], "
                f"got {tuple(x.shape)}"
            )
        if (memory is None) != (self.memory_len == 0):
            raise ValueError(
                f"memory must be given exactly when memory_len > 0 (memory_len={self.memory_len})"
            )
        mem = (
            None
            if memory is None
            else self._memory_units(torch.as_tensor(memory, dtype=self.dtype, device=self.device))
        )
        return x, mem, is_np
