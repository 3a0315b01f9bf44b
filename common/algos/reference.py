"""The per-member reference of the batched ITD3 learner: one member's TD3 (+ CQL / OMAR / TD3+BC / ICQ)
with plain torch modules and its own optimisers, written in the shape of OMAR's per-agent
``MATD3.update``. Only the tests (batched learner == reference loop, member by member) and the
benchmark (the per-agent loop the batched learner replaces) use it; no paper trains with it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, cast

import torch
from torch import Tensor, nn

from common.algos.itd3 import ITD3, ITD3Config, member_value
from common.algos.itd3_losses import mujoco_cql_log_density
from common.algos.omar import search_action
from common.networks.heads import DeterministicActor, TwinCritic


class RefTwinCritic(nn.Module):
    """OMAR's DoubleMLPNetwork: one input BatchNorm1d shared by two Linear-ReLU-Linear-ReLU-Linear heads."""

    def __init__(self, in_fn: nn.Module, q1: nn.Sequential, q2: nn.Sequential):
        super().__init__()
        self.in_fn, self.q1_net, self.q2_net = in_fn, q1, q2

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.in_fn(x)
        return self.q1_net(h), self.q2_net(h)

    def Q1(self, x: Tensor) -> Tensor:  # noqa: N802 (the code's name)
        return self.q1_net(self.in_fn(x))


class MemberModules(TypedDict):
    """One member's networks as plain modules (what :func:`member_modules` returns)."""

    actor: nn.Sequential
    critic: RefTwinCritic
    actor_target: nn.Sequential
    critic_target: RefTwinCritic


def member_modules(learner: ITD3, m: int) -> MemberModules:
    """Member m's actor, critic and their targets as plain modules (copies, learner's dtype):
    actor = Sequential(BatchNorm1d, Linear, ReLU, Linear, ReLU, Linear, tanh), critic = RefTwinCritic."""

    def critic(net: nn.Module) -> RefTwinCritic:
        c = cast(TwinCritic, net)  # the learner's critics are TwinCritic (typed nn.Module there)
        return RefTwinCritic(
            c.norm.member_module(m) if c.norm is not None else nn.Identity(),
            c.head1.member_module(m),
            c.head2.member_module(m),
        )

    def actor(a: nn.Module) -> nn.Sequential:
        # the learner's actors (typed nn.Module there)
        return cast(DeterministicActor, a).net.member_module(m)

    return {
        "actor": actor(learner.actor),
        "critic": critic(learner.critic),
        "actor_target": actor(learner.actor_target),
        "critic_target": critic(learner.critic_target),
    }


def _mlp(i: int, h: int, o: int, norm: bool, tanh: bool) -> nn.Sequential:
    mods: list[nn.Module] = [nn.BatchNorm1d(i)] if norm else []
    mods += [nn.Linear(i, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, o)]
    if tanh:
        nn.init.uniform_(cast(nn.Linear, mods[-1]).weight, -3e-3, 3e-3)
        mods.append(nn.Tanh())
    return nn.Sequential(*mods)


class ReferenceAgent:
    """One member's independent TD3 (+ CQL / OMAR / TD3+BC / ICQ) with plain modules and its own
    optimisers, written as OMAR's per-agent ``MATD3.update``. Used by tests (equality with the batched
    learner) and by the benchmark (the per-agent loop).

    Random draws: ``update(batch, generator, member, n_members)`` draws every random tensor with the
    batched learner's shape [n_members, B, ...] and keeps row ``member``, so that with a generator in
    the same state it sees exactly the batched learner's noise; the benchmark uses n_members = 1.

    critic_input="joint" (``slot`` = this agent's index i among ``n_agents``): the critic reads the
    batch's joint_obs / joint_next_obs [B, N*O] and joint_actions [B, N*A]; the TD target reads
    ``joint_next_pi`` [B, N*A], all N target actors' pibar_j(o'_j), which the caller assembles (the
    official MATD3 update is handed every agent's target policy; see :func:`joint_next_pi`), or
    joint_next_actions for ICQ. Own actions go into slot i of the dataset joint action.
    """

    def __init__(
        self,
        actor: nn.Sequential,
        critic: RefTwinCritic,
        cfg: ITD3Config,
        act_dim: int,
        log_p_uniform: float,
        omar_tau: float,
        cql_alpha: float,
        td3bc_alpha: float,
        slot: int | None = None,
        n_agents: int = 1,
    ):
        if (slot is None) != (cfg.critic_input == "local"):
            raise ValueError(
                f"critic_input={cfg.critic_input!r} needs slot given exactly when 'joint', got {slot}"
            )
        self.cfg, self.act_dim, self.slot, self.n_agents = cfg, act_dim, slot, n_agents
        self.actor, self.critic = actor.train(), critic.train()
        self.actor_target, self.critic_target = copy.deepcopy(actor), copy.deepcopy(critic)
        for p in [*self.actor_target.parameters(), *self.critic_target.parameters()]:
            p.requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)
        self.log_p_uniform, self.omar_tau, self.cql_alpha, self.td3bc_alpha = (
            log_p_uniform,
            omar_tau,
            cql_alpha,
            td3bc_alpha,
        )

    @classmethod
    def from_learner(cls, learner: ITD3, m: int) -> "ReferenceAgent":
        """Member m of a batched learner (homogeneous agents), copied into plain modules."""
        if learner.act_mask is not None:
            raise NotImplementedError("the reference covers homogeneous agents (no padded action dims)")
        mods = member_modules(learner, m)
        cfg = learner.cfg
        return cls(
            mods["actor"],
            mods["critic"],
            cfg,
            learner.act_dim,
            float(learner.log_p_uniform[m].item()),
            member_value(cfg.omar_tau, m),
            member_value(cfg.cql_alpha, m),
            member_value(cfg.td3bc_alpha, m),
            slot=m % learner.n_agents if learner.joint else None,
            n_agents=learner.n_agents,
        )

    @classmethod
    def fresh(cls, obs_dim: int, act_dim: int, cfg: ITD3Config) -> "ReferenceAgent":
        """A new agent built as OMAR's TD3Agent (for the benchmark; decentralized critic only)."""
        cfg.validate()
        if cfg.critic_input != "local":
            raise NotImplementedError(
                "ReferenceAgent.fresh builds OMAR's decentralized critic (critic_input='local')"
            )
        h, n = cfg.hidden, cfg.input_norm
        i = obs_dim + act_dim
        critic = RefTwinCritic(
            nn.BatchNorm1d(i) if n else nn.Identity(),
            _mlp(i, h, 1, False, False),
            _mlp(i, h, 1, False, False),
        )
        return cls(
            _mlp(obs_dim, h, act_dim, n, True),
            critic,
            cfg,
            act_dim,
            -act_dim * math.log(2.0),
            member_value(cfg.omar_tau, 0),
            member_value(cfg.cql_alpha, 0),
            member_value(cfg.td3bc_alpha, 0),
        )

    def _q_many(self, net, obs: Tensor, acts: Tensor, q1_only: bool = False):
        """obs [B, O], acts [B, K, A] -> Q [B, K] (repeat + cat + one forward, as the code)."""
        B, K, _ = acts.shape
        x = torch.cat([obs.unsqueeze(1).expand(B, K, obs.shape[-1]), acts], dim=-1).reshape(B * K, -1)
        if q1_only:
            return net.Q1(x).view(B, K)
        q1, q2 = net(x)
        return q1.view(B, K), q2.view(B, K)

    def _own(self, a: Tensor, joint_act: Tensor | None) -> Tensor:
        """Own action a [B, A] or [B, K, A] as the critic's action input: itself (local) or the joint
        action joint_act [B, N*A] with slot i set to a (joint)."""
        if self.slot is None:
            return a
        assert joint_act is not None, "a joint critic (slot given) needs the joint action"
        j = joint_act.view(joint_act.shape[0], self.n_agents, self.act_dim)  # [B, N, A]
        if a.dim() == 3:
            j = j.unsqueeze(1).expand(a.shape[0], a.shape[1], self.n_agents, self.act_dim)  # [B, K, N, A]
        j = j.clone()
        j[..., self.slot, :] = a
        return j.reshape(*a.shape[:-1], self.n_agents * self.act_dim)

    def update(
        self, b: Mapping[str, Tensor], generator: torch.Generator, member: int = 0, n_members: int = 1
    ) -> None:
        """One official-style update; b holds one member's batch: obs [B, O], actions [B, A], rewards [B], ...
        (joint critic: also joint_obs, joint_actions, joint_next_obs and joint_next_pi or joint_next_actions)."""
        cfg, A, g = self.cfg, self.act_dim, generator
        obs, act, rew, next_obs, done = b["obs"], b["actions"], b["rewards"], b["next_obs"], b["terminals"]
        B, K, M = obs.shape[0], cfg.cql_n_actions, n_members
        kw: dict[str, Any] = dict(generator=g, dtype=obs.dtype, device=obs.device)
        joint = self.slot is not None
        s, s_next = (b["joint_obs"], b["joint_next_obs"]) if joint else (obs, next_obs)  # critic's obs input
        ja = b["joint_actions"] if joint else None  # [B, N*A]
        # ---- critic
        with torch.no_grad():
            if cfg.actor_reg == "icq":
                a_next = b["joint_next_actions"] if joint else b["next_actions"]
            else:
                a_next = b["joint_next_pi"] if joint else self.actor_target(next_obs)
            t1, t2 = self.critic_target(torch.cat([s_next, a_next], dim=1))
            y = rew + cfg.gamma * (1.0 - done) * torch.min(t1, t2).squeeze(-1)  # [B]
        q1, q2 = self.critic(torch.cat([s, ja if ja is not None else act], dim=1))  # ja is None unless joint
        q1, q2 = q1.squeeze(-1), q2.squeeze(-1)  # [B]
        err = (q1 - y) ** 2 + (q2 - y) ** 2
        if cfg.actor_reg == "icq":
            w = b["next_valid"]
            loss = (w * err).sum() / w.sum().clamp(min=1.0)
        else:
            loss = err.mean()
        if cfg.critic_reg == "cql":
            a_r = (torch.rand((M, B, K, A), **kw)[member] * 2.0 - 1.0) * cfg.max_action  # [B, K, A]
            r1, r2 = self._q_many(self.critic, s, self._own(a_r, ja))
            lp = torch.full((B, K), self.log_p_uniform, dtype=obs.dtype, device=obs.device)
            if cfg.cql_proposal == "mujoco":
                n_cur = torch.randn((M, B, K, A), **kw)[member] * cfg.cql_noise
                n_new = torch.randn((M, B, K, A), **kw)[member] * cfg.cql_noise
                with torch.no_grad():
                    a_cur = (self.actor(obs).unsqueeze(1) + n_cur).clamp(-1.0, 1.0)
                    a_new = (self.actor(next_obs).unsqueeze(1) + n_new).clamp(-1.0, 1.0)
                c1, c2 = self._q_many(self.critic, s, self._own(a_cur, ja))
                n1, n2 = self._q_many(self.critic, s, self._own(a_new, ja))
                lp = torch.cat(
                    [
                        lp,
                        mujoco_cql_log_density(n_new, cfg.cql_noise),
                        mujoco_cql_log_density(n_cur, cfg.cql_noise),
                    ],
                    dim=1,
                )
                r1, r2 = torch.cat([r1, n1, c1], dim=1), torch.cat([r2, n2, c2], dim=1)
            T = cfg.cql_temp
            cql1 = (torch.logsumexp((r1 - lp) / T, dim=1) * T - q1).mean()
            cql2 = (torch.logsumexp((r2 - lp) / T, dim=1) * T - q2).mean()
            loss = loss + self.cql_alpha * (cql1 + cql2)
        self.critic_opt.zero_grad()
        loss.backward()
        if cfg.grad_clip is not None:  # None: no clip, as ITD3 (torch's clip_grad_norm_ raises on None)
            torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip)
        self.critic_opt.step()
        # ---- actor: actor_updates steps on this minibatch (OMAR Table 2)
        for _ in range(cfg.actor_updates):
            self._actor_step(b, s, ja, g, member, M)
        # ---- targets (parameters only)
        with torch.no_grad():
            for tgt, src in ((self.critic_target, self.critic), (self.actor_target, self.actor)):
                for pt, ps in zip(tgt.parameters(), src.parameters(), strict=True):
                    pt.mul_(1.0 - cfg.tau_target).add_(ps, alpha=cfg.tau_target)

    def _actor_step(
        self, b: Mapping[str, Tensor], s: Tensor, ja: Tensor | None, g: torch.Generator, member: int, M: int
    ) -> None:
        """One actor step of the official update (loss recomputed from scratch)."""
        cfg, A = self.cfg, self.act_dim
        obs, act = b["obs"], b["actions"]  # [B, O], [B, A]
        B = obs.shape[0]
        pi = self.actor(obs)  # [B, A]
        if cfg.actor_reg == "icq":
            with torch.no_grad():
                q_data = self.critic.Q1(torch.cat([s, self._own(act, ja)], dim=1)).squeeze(-1)
                v = self.critic.Q1(torch.cat([s, self._own(pi, ja)], dim=1)).squeeze(-1)
                w = B * torch.softmax((q_data - v) / cfg.icq_beta, dim=0)
            ploss = (w * ((pi - act) ** 2).mean(dim=1)).mean()
        else:
            q_pi = self.critic.Q1(torch.cat([s, self._own(pi, ja)], dim=1)).squeeze(-1)  # [B]
            if cfg.actor_reg == "none":
                ploss = -q_pi.mean() + cfg.action_reg * (pi**2).mean()
            elif cfg.actor_reg == "td3bc":
                lam = self.td3bc_alpha / q_pi.abs().mean().detach()
                ploss = -lam * q_pi.mean() + ((pi - act) ** 2).mean()
            else:
                with torch.no_grad():

                    def q_fn(acts: Tensor) -> Tensor:  # [M, B, K, A] -> [M, B, K], only row `member` is real
                        out = torch.zeros(acts.shape[:3], dtype=acts.dtype, device=acts.device)
                        out[member] = self._q_many(self.critic, s, self._own(acts[member], ja), q1_only=True)
                        return out

                    pi_pad = torch.zeros((M, B, A), dtype=obs.dtype, device=obs.device)
                    pi_pad[member] = pi.detach()
                    q_pi_pad = torch.zeros((M, B), dtype=obs.dtype, device=obs.device)
                    q_pi_pad[member] = q_pi.detach()  # the code reuses pred_qvals (no second critic forward)
                    a_hat = search_action(
                        q_fn,
                        pi_pad,
                        sampler=cfg.omar_sampler,
                        iters=cfg.omar_iters,
                        n_samples=cfg.omar_n_samples,
                        n_elites=cfg.omar_n_elites,
                        mu0=cfg.omar_mu0,
                        sigma0=cfg.omar_sigma0,
                        sigma_rule=cfg.omar_sigma_rule,
                        low=-cfg.max_action,
                        high=cfg.max_action,
                        generator=g,
                        q_pi=q_pi_pad,
                    )[member]
                tau = self.omar_tau
                ploss = (
                    tau * ((pi - a_hat) ** 2).mean()
                    - (1.0 - tau) * q_pi.mean()
                    + cfg.action_reg * (pi**2).mean()
                )
        self.actor_opt.zero_grad()
        ploss.backward()
        if cfg.grad_clip is not None:  # None: no clip, as ITD3
            torch.nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip)
        self.actor_opt.step()


def joint_next_pi(agents: Sequence[ReferenceAgent], next_obs: Sequence[Tensor]) -> Tensor:
    """One seed's target joint action [B, N*A] = [pibar_1(o'_1), .., pibar_N(o'_N)] from its N reference
    agents' target actors (train mode, one forward each, as the batched learner)."""
    with torch.no_grad():
        return torch.cat([a.actor_target(o) for a, o in zip(agents, next_obs, strict=True)], dim=-1)


def reference_loop(
    agents: Sequence[ReferenceAgent], batches: Sequence[Mapping[str, Tensor]], generator: torch.Generator
) -> None:
    """The plain per-agent loop of the official code: one update per agent, each with its own
    minibatch (batches[i]) and its own noise draws (n_members = 1)."""
    for agent, b in zip(agents, batches, strict=True):
        agent.update(b, generator)
