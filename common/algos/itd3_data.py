"""The independent TD3 learner's data side (a mixin of ``common.algos.itd3.ITD3``, whose module docstring gives the
equations): the step tensors it keeps (``prepare_data``), one minibatch per member (``sample_batch``: its own rows,
or one row set per seed shared by its agents for a joint critic or ``shared_rows``), and the critic's inputs built
from a minibatch: o_i or the joint s = [o_1..o_N], and member i's own action in its slot of the data's joint action.
Shapes: M members, B batch, K sampled actions, S seeds, N agents, O obs dim, A action dim, F a tensor's last dim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from common.algos.itd3_losses import with_next_actions
from common.datasets.sampling import gather_members

if TYPE_CHECKING:
    from common.algos.itd3_config import ITD3Config

BATCH_KEYS = ("obs", "actions", "rewards", "next_obs", "terminals")
ICQ_KEYS = ("next_actions", "next_valid")


class ITD3Data:
    """ITD3's data and critic inputs; reads the learner's config, shapes, device and training streams."""

    # what the data side reads of the learner (common.algos.itd3.ITD3), typed for the checker
    if TYPE_CHECKING:
        cfg: ITD3Config
        joint: bool  # critic_input == "joint"
        n_seeds: int
        n_agents: int
        act_dim: int
        agents: Tensor  # [M] each member's agent
        own_slot: Tensor  # [M, 1, N, 1] member m's own action slot (joint critic)
        device: torch.device
        dtype: torch.dtype

        def sample_rows(
            self,
            data: Mapping[str, Tensor],
            *,
            per_seed: bool = False,
            generator=None,
            replace: bool | None = None,
        ) -> Tensor: ...

    # ---- data ---------------------------------------------------------------------------------
    def prepare_data(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Keep the step tensors the update reads (Dataset.to_torch layout), on the learner's device
        and dtype; adds next_actions / next_valid for ICQ."""
        if self.cfg.actor_reg == "icq" and "next_actions" not in tensors:
            tensors = with_next_actions(tensors)
        keys = BATCH_KEYS + (ICQ_KEYS if self.cfg.actor_reg == "icq" else ())
        return {k: tensors[k].to(device=self.device, dtype=self.dtype) for k in keys}

    def sample_batch(
        self, data: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """One minibatch per member from ``prepare_data`` tensors: obs / next_obs [M, B, O],
        actions [M, B, A], rewards / terminals [M, B] (+ next_actions [M, B, A], next_valid [M, B]).
        critic_input="joint": one row set per seed, shared by its N members, plus joint_obs /
        joint_next_obs [M, B, N*O] and joint_actions [M, B, N*A] (+ joint_next_actions for ICQ)."""
        N = self.n_agents
        per_seed = self.joint or self.cfg.shared_rows  # one row set per seed, shared by its N members
        idx = self.sample_rows(data, per_seed=per_seed, generator=generator)  # [S or M, B]
        if per_seed:
            idx = idx.repeat_interleave(N, dim=0)  # [M, B], member s * N + i reads seed s's rows
        batch = gather_members({k: data[k] for k in BATCH_KEYS}, idx, self.agents)
        if self.cfg.actor_reg == "icq":
            if "next_actions" not in data:
                raise KeyError("actor_reg='icq' needs next_actions: pass learner.prepare_data(tensors)")
            batch["next_actions"] = data["next_actions"][idx, self.agents[:, None]]  # [M, B, A]
            batch["next_valid"] = data["next_valid"][idx]  # [M, B]
        if self.joint:
            keys = [("obs", "joint_obs"), ("actions", "joint_actions"), ("next_obs", "joint_next_obs")]
            if self.cfg.actor_reg == "icq":
                keys.append(("next_actions", "joint_next_actions"))
            for k, jk in keys:
                v = data[k]  # [T, N, F]
                batch[jk] = v[idx].flatten(-2)  # [M, B, N*F], agents in order
        return batch

    def _critic_obs(self, batch: Mapping[str, Tensor], key: str = "obs") -> Tensor:
        """The critic's observation input: o_i [M, B, O] (local) or s = [o_1..o_N] [M, B, N*O] (joint)."""
        return batch["joint_" + key] if self.joint else batch[key]

    def _critic_act(self, own: Tensor, batch: Mapping[str, Tensor]) -> Tensor:
        """The critic's action input for member m's own action ``own`` [M, B, A] or [M, B, K, A]:
        local: ``own``; joint: the dataset joint action with agent i's slot replaced by ``own``
        ([M, B, N*A] or [M, B, K, N*A]; a_{-i} from the data)."""
        if not self.joint:
            return own
        ja = batch["joint_actions"]  # [M, B, N*A]
        M, B = ja.shape[:2]
        ja = ja.view(M, B, self.n_agents, self.act_dim)  # [M, B, N, A]
        slot = self.own_slot  # [M, 1, N, 1]
        if own.dim() == 4:
            ja, slot = ja.unsqueeze(2), slot.unsqueeze(2)  # [M, B, 1, N, A], [M, 1, 1, N, 1]
        return torch.where(slot, own.unsqueeze(-2), ja).flatten(-2)  # [M, B, (K,) N*A]

    def _seed_joint(self, x: Tensor) -> Tensor:
        """Per-member x [M, B, A] -> each seed's joint [x_1..x_N] given to all its members [M, B, N*A]
        (valid because a seed's members share their minibatch rows in joint mode)."""
        S, N = self.n_seeds, self.n_agents
        _, B, A = x.shape
        j = x.view(S, N, B, A).transpose(1, 2).reshape(S, 1, B, N * A)  # [S, 1, B, N*A]
        return j.expand(S, N, B, N * A).reshape(S * N, B, N * A)
