"""Independent TD3 with decentralized critics, batched over members = seeds x agents.

The learner behind OMAR's experiments and its baselines (Pan et al., ICML 2022, Sec. 5: "we build
all methods on independent TD3 based on decentralized critics"). Each member m = s * N + i is agent
i of seed s, with its own deterministic actor pi(o_i) and twin critic Q(o_i, a_i); one batched
forward / backward per network updates all members at once.

Equations (per member; B = minibatch, d = terminal flag):
  TD target      y = r + gamma * (1 - d) * min(Q1', Q2')(o', pi'(o'))            (no target smoothing)
  critic loss    L_Q = MSE(Q1(o, a), y) + MSE(Q2(o, a), y) + alpha * (CQL_1 + CQL_2)    [OMAR Eq. 1]
                 CQL_k = mean_B[ T * logsumexp_K((Q_k(o, a_k) - log p(a_k)) / T) ] - mean_B Q_k(o, a)
  actor losses   "none"  (MA-CQL / ITD3):  -mean Q1(o, pi(o)) + 1e-3 * mean pi(o)^2   (official code)
                 "omar"  (OMAR Eq. 2):     tau * MSE(pi(o), a_hat) - (1 - tau) * mean Q1 + 1e-3 * mean pi^2
                 "td3bc" (Fujimoto & Gu Eq. 3): -lambda * mean Q1 + MSE(pi(o), a),  lambda = alpha / mean|Q1|
                 "icq"   (see below)
  targets        theta' <- (1 - tau_target) theta' + tau_target theta (parameters only, every update)

MA-ICQ (Yang et al., NeurIPS 2021, "Believe what you see", actor-critic form, Sec. 4): the
implicit constraint keeps both the critic and the actor on seen (o, a) pairs.
  critic (ours)  y = r + gamma * (1 - d) * min(Q1', Q2')(o', a'_data), a'_data = the dataset action at
                 t+1 of the same episode (SARSA-style evaluation of the behaviour data). Rows that end
                 by a time-out (no a'_data, not terminal) are dropped from the TD loss (weight 0).
                 ICQ's extra importance weight softmax_B(Q'(o', a')/alpha) on the target is NOT applied.
  actor (ours)   L_pi = sum_b w_b * mean_A (pi(o_b) - a_b)^2,
                 w = B * softmax_B( (Q1(o, a) - V(o)) / beta ),  V(o) = Q1(o, pi(o)),  w detached,
                 i.e. advantage-weighted regression onto the dataset action with the weights normalised
                 over the minibatch (ICQ Eq. 9 with a deterministic actor: -log pi(a|o) -> ||pi(o) - a||^2
                 for a fixed-variance Gaussian; the factor B makes beta -> inf plain BC).

Options beyond the independent learner (both off by default; off = the learner above, bit for bit):
  actor_updates = U  (OMAR Table 2, "MA-CQL with larger number of updates for the actor": 1 / 5 / 20):
                 after the critic step the actor takes U gradient steps, each a full recomputation of
                 its loss (OMAR's action search and TD3+BC's lambda included), zero_grad, backward, clip
                 and Adam step, all on the SAME minibatch as the critic step (the paper does not say;
                 one minibatch per update() keeps U a pure "more actor steps" knob). The targets are
                 Polyak-updated once per update(), after the last actor step. Logged actor metrics are
                 those of the last actor step.
  critic_input = "joint"  (OMAR Table 5: the same four methods on MATD3 with centralized critics,
                 OMAR Sec. 2.1 and 4.1.4): member (s, i) learns Q_i(s, a_1..a_N), s = [o_1, .., o_N]
                 (each padded to O), a = [a_1, .., a_N] (each padded to A), critic input width N*O + N*A;
                 actors stay decentralized pi_i(o_i). One minibatch of rows per SEED, shared by its N
                 members. With a_{-i} the dataset actions of the same rows:
                   TD target  y_i = r_i + gamma * (1 - d) * min_k Qbar_i^k(s', pibar_1(o'_1), .., pibar_N(o'_N))
                              (ICQ: the dataset's next joint action)
                   actor      Q_i(s, a_i = pi_i(o_i), a_{-i})        ("a_{-i} sampled from the replay buffer")
                   CQL / OMAR search / ICQ's V: the sampled or searched action replaces agent i's slot
                              only; the other slots keep a_{-i}.
                 Each target actor runs once per update on its own o' (the official MATD3 runs all target
                 actors inside every agent's update; only the targets' unused BN running statistics
                 would differ).

MOMA-PPO's TD3 baselines (Barde et al., AAMAS 2024, Sec. 6; PBarde/moma-ppo ``single_agent/td3.py``
``TD3Learner``, run per agent by ``multi_agent/itd3.py``; presets in papers/moma_ppo/td3_presets.py): options, all off
by default (off = the learner above, bit for bit):
  target_noise, target_noise_clip   y uses a~' = clip(pi'(o') + clip(eps, -c, c), -1, 1), eps ~ N(0, sigma^2) per
                 member, row and action dim, drawn from the training stream right after the minibatch (0.2 / 0.5).
  policy_delay = d   the actor step(s) and the Polyak step of ALL targets only on updates d, 2d, ... (code:
                 total_it % policy_freq == 0, targets updated inside that branch); the critic every update.
  grad_clip=None, input_norm=False, actor_last_init=None (torch's default init), shared_rows (one row set per
                 seed for all its agents), gamma 0.99, replace=True (sampling with replacement).
  bc_reduce="sum"   TD3+BC's BC term sum_dims (pi - a)^2 averaged over the batch (the code), not the mean.
  cem_std="unbiased"   the CEM's sigma = torch.std(elites) (n - 1) + 1e-6 (the code); OMAR's is the biased std.
  omar_bc_alpha = alpha > 0   the code's actor with both coefficients: (1 - tau) lambda (-Q1) + sum_dims BC +
                 tau MSE(pi, a_hat) + 1e-3 pi^2, lambda = alpha / mean|Q1|; 0 = OMAR's Eq. 2 (lambda 1, no BC).
  Left out: the code's self-attention history encoder (memory_len 10) is not an input here.
Official code consulted: ling-pan/OMAR ``algorithms/maddpg.py``, ``utils/agents.py``,
``utils/networks.py`` (summarized in docs/omar_official_code.md#algorithm and #hyperparameters):
  - networks: BatchNorm1d on the input, Linear-ReLU-Linear-ReLU-Linear, hidden 64; actor tanh with last
    layer U(+-3e-3); twin critic heads share one input BN. All four networks (targets included) stay in
    train mode during updates, so BN uses batch statistics and updates running ones everywhere.
  - Adam lr 0.01 for both; batch 1024 without replacement, one batch per agent; gamma 0.95;
    tau_target 0.01; grad-norm clip 0.5 per network; actor updated every step after the critic.
  - CQL "uniform" (MPE): K = 10 actions ~ U(-1, 1)^d, log p = log 0.5^d, T = 1; the data and sampled
    actions go through separate critic forwards (separate BN batch statistics).
  - CQL "mujoco" (HalfCheetah): 3 groups of K: uniform; pi(o) + N(0, 0.2^2) clipped; pi(o') + noise,
    all evaluated at o; the noisy groups subtract the Gaussian *pdf* of the noise (a quirk we keep).
Shapes: M members, B batch, K sampled actions, S seeds, N agents, E episodes, O obs dim, A action dim.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from common.algos.itd3_config import ITD3Config
from common.algos.itd3_cql import ITD3CQL
from common.algos.itd3_losses import (
    critic_td_loss,
    icq_actor_loss,
    member_value,
    per_member,
    smoothed_target_action,
    td3_mixed_actor_loss,
    td_target,
)
from common.algos.members import StackableLearner
from common.algos.omar import omar_actor_loss, search_action
from common.algos.state import learner_state, load_learner_state, member_act
from common.algos.td3bc import td3bc_actor_loss
from common.networks.heads import DeterministicActor, TwinCritic
from common.networks.nets import adam, clip_grad_norm_, polyak_update

__all__ = ["ITD3Config", "ITD3", "member_value"]  # member_value: re-exported for common/algos/reference.py


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


class ITD3(ITD3CQL, StackableLearner):
    """Batched independent TD3 (+ CQL / OMAR / TD3+BC / ICQ regularisers); members m = s * N + i.

    ITD3(obs_dims, act_dims, n_seeds, cfg, seed=0, seeds=None) or ITD3.init(spec, cfg, seeds).
    Member (s, i) is initialised from ``seeds[s]`` alone (seeds default to seed, seed + 1, ...), so a
    seed's networks do not depend on which other seeds run beside it. Every random number (minibatches,
    CQL / OMAR samples) comes from the training streams ``streams`` (common.algos.members: one torch.Generator
    for a run). ``ITD3.stack(learners)`` is one learner of several runs' members (cells as members): each run keeps
    its own stream and data rows, and ``GROUP_FIELDS`` (CQL alpha, OMAR tau) may differ per member; an update of
    the stack is an update of each run alone (tests/test_group_equals_alone.py, docs/scaling.md).
    """

    def __init__(
        self,
        obs_dims: Sequence[int],
        act_dims: Sequence[int],
        n_seeds: int,
        cfg: ITD3Config | None = None,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        cfg = (cfg or ITD3Config()).validate()
        super().__init__(cfg, obs_dims, act_dims, n_seeds, seeds=seeds, seed=seed, device=device, dtype=dtype)
        cfg, M, N = self.cfg, self.n_members, self.n_agents
        O, A, H = self.obs_dim, self.act_dim, (cfg.hidden, cfg.hidden)
        self.joint = cfg.critic_input == "joint"
        Oc, Ac = (N * O, N * A) if self.joint else (O, A)  # critic input widths

        def build(n_seeds: int) -> dict[str, nn.Module]:
            actor = DeterministicActor(
                n_seeds * N,
                O,
                A,
                H,
                max_action=cfg.max_action,
                input_norm=cfg.input_norm,
                last_layer_init=cfg.actor_last_init,
            )
            return {"actor": actor, "critic": TwinCritic(n_seeds * N, Oc, Ac, H, input_norm=cfg.input_norm)}

        nets = self._build_members(build)  # seed before building: member (s, i) from seeds[s] only
        actor, critic = nets["actor"], nets["critic"]
        assert isinstance(actor, DeterministicActor) and isinstance(critic, TwinCritic)  # what build made
        self.actor, self.critic = actor, critic
        self.actor_target = copy.deepcopy(self.actor)  # hard_update: parameters and BN buffers
        self.critic_target = copy.deepcopy(self.critic)
        for p in [*self.actor_target.parameters(), *self.critic_target.parameters()]:
            p.requires_grad_(False)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.critic_lr)
        # the last actor step's (loss, grad norm, info) (policy_delay > 1)
        self.last_actor: tuple | None = None
        self.act_mask = self._member_act_mask()  # [M, 1, A] or None: padded action dims are 0 everywhere
        d = torch.tensor(
            [self.act_dims[i] for i in self.agents.cpu().tolist()], dtype=dtype, device=self.device
        )
        self.log_p_uniform = (-d * math.log(2.0 * cfg.max_action)).view(M, 1, 1)  # [M, 1, 1] log U(-1,1)^d
        one = torch.zeros((), dtype=dtype, device=self.device)
        self.cql_alpha = per_member(cfg.cql_alpha, M, one)
        self.omar_tau = per_member(cfg.omar_tau, M, one)
        # per-member tau enters the loss in float64: 1 - tau is then the complement a run alone computes from
        # its Python float (float32 1 - tau differs by an ulp for tau = 0.9), so stacked gradients are its own
        self.omar_tau_loss = (
            self.omar_tau if isinstance(self.omar_tau, float) else per_member(cfg.omar_tau, M, one.double())
        )
        self.td3bc_alpha = per_member(cfg.td3bc_alpha, M, one)
        # joint critic: member m's own slot i = agents[m] among the N action slots [M, 1, N, 1]
        self.own_slot = (self.agents[:, None] == torch.arange(self.n_agents, device=self.device)).view(
            M, 1, self.n_agents, 1
        )

    @classmethod
    def init(cls, spec, cfg: ITD3Config | None = None, seeds: Sequence[int] = (0,), **kw) -> "ITD3":
        """The learner's constructor from an env spec (obs_dims / act_dims per agent) and the seeds."""
        return cls(spec.obs_dims, spec.act_dims, len(seeds), cfg, seeds=list(seeds), **kw)

    # ---- update -------------------------------------------------------------------------------
    def _mask(self, a: Tensor) -> Tensor:
        if self.act_mask is None:
            return a
        return a * (self.act_mask if a.dim() == 3 else self.act_mask.unsqueeze(2))

    def _policy(self, net: DeterministicActor, obs: Tensor) -> Tensor:
        return self._mask(net(obs))

    def critic_loss(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """L_Q per member [M] and detached diagnostics."""
        cfg = self.cfg
        # [M, B], [M, B, O], [M, B]
        rew, next_obs, done = batch["rewards"], batch["next_obs"], batch["terminals"]
        # [M, B, O] or [M, B, N*O]
        x_obs, x_next = self._critic_obs(batch), self._critic_obs(batch, "next_obs")
        x_act = batch["joint_actions"] if self.joint else batch["actions"]  # [M, B, A] or [M, B, N*A]
        with torch.no_grad():  # targets in train mode (BN batch statistics), as the code
            if cfg.actor_reg == "icq":  # dataset a' (seen pairs only)
                a_next = batch["joint_next_actions"] if self.joint else batch["next_actions"]
            else:
                a_next = self._policy(self.actor_target, next_obs)  # [M, B, A] pibar_i(o'_i)
                if cfg.target_noise > 0:  # TD3 target policy smoothing (MOMA-PPO), drawn after the minibatch
                    noise = self._draw(torch.randn, tuple(a_next.shape), a_next) * cfg.target_noise
                    a_next = self._mask(
                        smoothed_target_action(a_next, noise, cfg.target_noise_clip, cfg.max_action)
                    )
                if self.joint:
                    a_next = self._seed_joint(a_next)  # [M, B, N*A] (pibar_1(o'_1), .., pibar_N(o'_N))
            q1_t, q2_t = self.critic_target(x_next, a_next)  # [M, B, 1]
            y = td_target(rew, done, torch.min(q1_t, q2_t).squeeze(-1), cfg.gamma)  # [M, B]
        q1, q2 = self.critic(x_obs, x_act)
        q1, q2 = q1.squeeze(-1), q2.squeeze(-1)  # [M, B]
        loss = critic_td_loss(q1, q2, y, batch.get("next_valid") if cfg.actor_reg == "icq" else None)
        info = {"q1": q1.detach().mean(-1), "td": loss.detach()}
        if cfg.critic_reg == "cql":
            pen = self.cql_term(batch, q1, q2)  # [M]
            loss = loss + self.cql_alpha * pen
            info["cql"] = pen.detach()
        return loss, info

    def actor_loss(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """L_pi per member [M] (run after the critic step, as the code)."""
        cfg = self.cfg
        obs, act = batch["obs"], batch["actions"]  # [M, B, O], [M, B, A]
        x_obs = self._critic_obs(batch)  # [M, B, O] or [M, B, N*O]
        pi = self._policy(self.actor, obs)  # [M, B, A]
        info: dict[str, Tensor] = {}
        if cfg.actor_reg == "icq":
            with torch.no_grad():
                q_data = self.critic.q1(x_obs, self._critic_act(act, batch)).squeeze(-1)  # [M, B]
                v = self.critic.q1(x_obs, self._critic_act(pi, batch)).squeeze(-1)  # [M, B] V = Q1(o, pi(o))
            return icq_actor_loss(pi, act, q_data, v, cfg.icq_beta), info
        q_pi = self.critic.q1(x_obs, self._critic_act(pi, batch)).squeeze(-1)  # [M, B]
        if cfg.actor_reg == "none":
            loss = -q_pi.mean(-1) + cfg.action_reg * pi.square().mean(dim=(-2, -1))
        elif cfg.actor_reg == "td3bc" and cfg.bc_reduce == "mean":
            loss = td3bc_actor_loss(q_pi, pi, act, self.td3bc_alpha)
        elif cfg.actor_reg == "td3bc":  # MOMA-PPO's ITD3+BC: lambda * (-Q1) + sum_dims BC
            loss = td3_mixed_actor_loss(
                q_pi,
                pi,
                act,
                None,
                tau=0.0,
                bc_alpha=self.td3bc_alpha,
                action_reg=0.0,
                bc_reduce=cfg.bc_reduce,
            )
        else:  # omar
            with torch.no_grad():  # the search's noise from the training streams (each run's own)
                a_hat = search_action(
                    lambda a: self.critic.q1_many(x_obs, self._critic_act(self._mask(a), batch)),
                    pi.detach(),
                    sampler=cfg.omar_sampler,
                    iters=cfg.omar_iters,
                    n_samples=cfg.omar_n_samples,
                    n_elites=cfg.omar_n_elites,
                    mu0=cfg.omar_mu0,
                    sigma0=cfg.omar_sigma0,
                    sigma_rule=cfg.omar_sigma_rule,
                    low=-cfg.max_action,
                    high=cfg.max_action,
                    draw=lambda shape: self._draw(torch.randn, shape, pi),
                    cem_std=cfg.cem_std,
                    q_pi=q_pi,
                )
            if cfg.omar_bc_alpha > 0:  # MOMA-PPO's TD3Learner with both td3_omar_coeff and td3_bc_coeff
                loss = td3_mixed_actor_loss(
                    q_pi,
                    pi,
                    act,
                    self._mask(a_hat),
                    tau=self.omar_tau_loss,
                    bc_alpha=cfg.omar_bc_alpha,
                    action_reg=cfg.action_reg,
                    bc_reduce=cfg.bc_reduce,
                )
            else:
                loss = omar_actor_loss(q_pi, pi, self._mask(a_hat), self.omar_tau_loss, cfg.action_reg)
        info["q_pi"] = q_pi.detach().mean(-1)
        return loss, info

    def _clip(self, net: nn.Module, log: bool) -> Tensor | None:
        """Per-member grad-norm clip (norms [M] before clipping); grad_clip=None: no clip, norms only to log."""
        if self.cfg.grad_clip is not None:
            return clip_grad_norm_(net, self.cfg.grad_clip, self.n_members)
        return clip_grad_norm_(net, math.inf, self.n_members) if log else None  # inf: every factor is 1

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One update of all members: critic step; on every ``policy_delay``-th update ``actor_updates`` actor
        steps (same minibatch) and the targets' Polyak step. Returns detached [M] metrics every ``log_every``
        updates, else {} (actor metrics: those of the last actor step; zeros before the first)."""
        cfg = self.cfg
        log = (self.step + 1) % cfg.log_every == 0
        closs, cinfo = self.critic_loss(batch)
        self.critic_opt.zero_grad(set_to_none=True)
        closs.sum().backward()
        cnorm = self._clip(self.critic, log)
        self.critic_opt.step()

        if (self.step + 1) % cfg.policy_delay == 0:  # MOMA-PPO: total_it % policy_freq == 0
            for _ in range(cfg.actor_updates):  # OMAR Table 2; each step recomputes the whole loss
                aloss, ainfo = self.actor_loss(batch)
                self.actor_opt.zero_grad(set_to_none=True)
                aloss.sum().backward(inputs=list(self.actor.parameters()))
                # a delayed actor's norm is logged later
                anorm = self._clip(self.actor, log or cfg.policy_delay > 1)
                self.actor_opt.step()
            polyak_update(self.critic_target, self.critic, cfg.tau_target)
            polyak_update(self.actor_target, self.actor, cfg.tau_target)
            self.last_actor = (aloss.detach(), anorm, ainfo)
        elif self.last_actor is None:  # before the first actor step
            zero = torch.zeros_like(closs.detach())
            self.last_actor = (zero, zero, {} if cfg.actor_reg == "icq" else {"q_pi": zero})
        self.step += 1
        aloss, anorm, ainfo = self.last_actor
        if self.step % cfg.check_finite_every == 0:
            both = torch.stack([closs.detach().sum(), aloss.detach().sum()])
            if not bool(torch.isfinite(both).all()):
                bad = "critic_loss" if not bool(torch.isfinite(both[0])) else "actor_loss"
                raise FloatingPointError(
                    f"ITD3: {bad} is not finite at update {self.step} "
                    f"(critic {closs.detach().tolist()}, actor {aloss.detach().tolist()})"
                )
        if self.step % cfg.log_every:
            return {}
        assert cnorm is not None and anorm is not None  # a logged update: _clip computed both norms
        return {
            "critic_loss": closs.detach(),
            "actor_loss": aloss,
            "critic_grad_norm": cnorm,
            "actor_grad_norm": anorm,
            **cinfo,
            **ainfo,
        }

    # ---- acting -------------------------------------------------------------------------------
    def act(self, obs: np.ndarray | Tensor, deterministic: bool = True) -> np.ndarray | Tensor:
        """Deterministic pi(o): obs [S, E, N, O] -> actions [S, E, N, A] (numpy in, numpy out), BN
        in eval mode (running statistics); training state untouched."""
        if not deterministic:
            raise ValueError(
                "ITD3 policies are deterministic (offline, no exploration noise); use deterministic=True"
            )
        was = self.actor.training
        self.actor.eval()
        try:
            return member_act(
                obs,
                self.n_seeds,
                self.n_agents,
                self.obs_dim,
                lambda xm: self._policy(self.actor, xm),
                self.dtype,
                self.device,
            )
        finally:
            self.actor.train(was)

    def policy(self):
        """A callable for common.running.evaluate: obs [S, E, N, O] numpy -> actions numpy."""
        return lambda obs: self.act(obs)

    # ---- checkpoints --------------------------------------------------------------------------
    _NETS = ("actor", "critic", "actor_target", "critic_target")
    _OPTS = ("actor_opt", "critic_opt")
    # may differ between stacked runs: per-member scalars of the losses
    GROUP_FIELDS = ("cql_alpha", "omar_tau")

    def state_dict(self) -> dict[str, Any]:
        return learner_state(self, self._NETS + self._OPTS)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_learner_state(self, state, self._NETS + self._OPTS)

    # ---- stacking runs (cells as members, common/running/grouping.py): StackableLearner's hook ----------
    def _empty_stack(self, cfg: ITD3Config, seeds: Sequence[int]) -> "ITD3":
        return type(self)(
            self.obs_dims, self.act_dims, len(seeds), cfg, seeds=seeds, device=self.device, dtype=self.dtype
        )
