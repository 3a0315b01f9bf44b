"""The independent TD3 learner's CQL term (a mixin of ``common.algos.itd3.ITD3``, whose module docstring gives OMAR's
Eq. 1 and the official code's proposals): CQL_1 + CQL_2 per member from K sampled actions of agent i's own slot
("uniform": U(-1, 1)^d; "mujoco": also pi(o) and pi(o') plus Gaussian noise, all at o, the noise's pdf subtracted)
or, with ``cql_slots="all"``, K uniform joint actions; every draw from the training streams.
Shapes: M members, B batch, K sampled actions, S seeds, N agents, O obs dim, A action dim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from common.algos.cql import cql_penalty
from common.algos.itd3_data import ITD3Data
from common.algos.itd3_losses import mujoco_cql_log_density

if TYPE_CHECKING:
    from common.algos.streams import MemberStreams
    from common.networks.heads import DeterministicActor, TwinCritic

__all__ = ["ITD3CQL"]


class ITD3CQL(ITD3Data):
    """ITD3's CQL term and its draws, on its data side (the critic's inputs)."""

    # what the CQL term reads of the learner (common.algos.itd3.ITD3), typed for the checker
    if TYPE_CHECKING:
        n_members: int
        act_mask: Tensor | None  # [M, 1, A]
        log_p_uniform: Tensor  # [M, 1, 1]
        actor: DeterministicActor
        critic: TwinCritic
        streams: MemberStreams

        def _mask(self, a: Tensor) -> Tensor: ...

        def _policy(self, net: DeterministicActor, obs: Tensor) -> Tensor: ...

    def cql_term(self, batch: Mapping[str, Tensor], q1_data: Tensor, q2_data: Tensor) -> Tensor:
        """CQL_1 + CQL_2 per member [M] (OMAR Eq. 1, the code's proposals); the sampled actions are
        agent i's own (joint critic: in its slot, a_{-i} from the data)."""
        cfg, M = self.cfg, self.n_members
        obs, next_obs = batch["obs"], batch["next_obs"]  # [M, B, O]
        x_obs = self._critic_obs(batch)  # [M, B, O] or [M, B, N*O]
        B, A, K = obs.shape[1], self.act_dim, cfg.cql_n_actions
        if cfg.cql_slots == "all":  # the whole joint action ~ U(-1, 1)^(sum_j d_j), for every slot
            return self._cql_all_slots(batch, x_obs, q1_data, q2_data)
        u = self._draw(torch.rand, (M, B, K, A), obs)
        a_rand = self._mask((2.0 * u - 1.0) * cfg.max_action)  # [M, B, K, A] ~ U(-1, 1)^d
        q1_r, q2_r = self.critic.forward_many(x_obs, self._critic_act(a_rand, batch))  # [M, B, K]
        logp = self.log_p_uniform  # [M, 1, 1]
        if cfg.cql_proposal == "mujoco":
            n_cur = self._draw(torch.randn, (M, B, K, A), obs) * cfg.cql_noise
            n_new = self._draw(torch.randn, (M, B, K, A), obs) * cfg.cql_noise
            with torch.no_grad():  # actor in train mode (its BN statistics move, as in the code)
                a_cur = self._mask((self._policy(self.actor, obs).unsqueeze(2) + n_cur).clamp(-1.0, 1.0))
                a_new = self._mask((self._policy(self.actor, next_obs).unsqueeze(2) + n_new).clamp(-1.0, 1.0))
            q1_c, q2_c = self.critic.forward_many(x_obs, self._critic_act(a_cur, batch))
            # pi(o') at o (code's quirk)
            q1_n, q2_n = self.critic.forward_many(x_obs, self._critic_act(a_new, batch))
            p_cur = mujoco_cql_log_density(n_cur, cfg.cql_noise, self.act_mask_k())
            p_new = mujoco_cql_log_density(n_new, cfg.cql_noise, self.act_mask_k())
            logp = torch.cat([logp.expand(M, B, K), p_new, p_cur], dim=-1)  # [M, B, 3K]
            q1_r = torch.cat([q1_r, q1_n, q1_c], dim=-1)
            q2_r = torch.cat([q2_r, q2_n, q2_c], dim=-1)
        return cql_penalty(q1_r, logp, q1_data, cfg.cql_temp) + cql_penalty(q2_r, logp, q2_data, cfg.cql_temp)

    def _cql_all_slots(
        self, batch: Mapping[str, Tensor], x_obs: Tensor, q1_data: Tensor, q2_data: Tensor
    ) -> Tensor:
        """cql_slots="all": K uniform joint actions [M, B, K, N*A] (padded dims of each slot masked)."""
        cfg, M, N, A, K = self.cfg, self.n_members, self.n_agents, self.act_dim, self.cfg.cql_n_actions
        B = x_obs.shape[1]
        u = self._draw(torch.rand, (M, B, K, N * A), x_obs)
        a = (2.0 * u - 1.0) * cfg.max_action
        if self.act_mask is not None:  # each seed's N members' masks side by side [M, 1, 1, N*A]
            a = a * self._seed_joint(self.act_mask).unsqueeze(2)
        q1_r, q2_r = self.critic.forward_many(x_obs, a)  # [M, B, K]
        logp = self.log_p_uniform.view(self.n_seeds, N).sum(1).repeat_interleave(N).view(M, 1, 1)
        return cql_penalty(q1_r, logp, q1_data, cfg.cql_temp) + cql_penalty(q2_r, logp, q2_data, cfg.cql_temp)

    def _draw(self, fn, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """``fn(shape)`` (torch.rand / randn) from the training streams (each run's own: MemberStreams), in
        ``like``'s dtype and device."""
        return self.streams.draw(fn, shape, dtype=like.dtype, device=like.device)

    def act_mask_k(self) -> Tensor | None:
        return None if self.act_mask is None else self.act_mask.unsqueeze(2)  # [M, 1, 1, A]
