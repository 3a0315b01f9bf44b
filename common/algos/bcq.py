"""Continuous BCQ and MABCQ, batched over members = seeds x agents (or one member per seed, "central").

Papers:
- BCQ: Fujimoto, Meger & Precup, "Off-Policy Deep Reinforcement Learning without Exploration", ICML 2019,
  Sec. 4 and Algorithm 1 (continuous BCQ: a conditional VAE G = {E, D} models the data's actions, a
  perturbation model xi moves a decoded action by at most Phi, twin critics with the soft clipped double-Q
  target).
- The baselines of CAST-BCQ (Ma & Wu, AAMAS 2023, Sec. 4): I-BCQ (BCQ per agent on its own observation),
  centralized BCQ ("applying centralized BCQ directly ... joint policies": one BCQ per seed on the global state
  and the joint action) and MABCQ (Jiang & Lu 2021, arXiv 2108.01832) in the CAST authors' re-implementation.

Equations (per member; B batch, K sampled actions, d terminal flag; D(o) = decode with z ~ N(0, I) clipped
to +-z_clip; xi(o, a) = clip(a + Phi * max_action * tanh(MLP([o, a])), -max_action, max_action)):
  VAE           (mu, sigma) = E(o, a),  a~ = D(o, mu + sigma * eps)
                L_G = mean (a~ - a)^2 + kl_weight * mean[-0.5 (1 + log sigma^2 - mu^2 - sigma^2)]
  BCQ target    y = r + gamma (1 - d) max_{k<K} [lambda min_j Q'_j(o', a'_k) + (1 - lambda) max_j Q'_j(o', a'_k)],
                a'_k = xi'(o', D(o')),  K = n_target = 10,  lambda = 0.75
  BCQ critic    L_Q = MSE(Q1(o, a), y) + MSE(Q2(o, a), y)
  BCQ actor     L_xi = -mean Q1(o, xi(o, D(o)))
  policy        pi(o) = argmax_{a_k} Q1(o, a_k),  a_k = xi(o, D(o)), k < n_select = 100
  MABCQ         (the CAST authors' agents/MABCQ.py; docs/cast_bcq_official_code.md#mabcq-re-implementation-not-official)
                a second VAE G1 on ([o, o'], a) trained beside G;
                y = r + gamma (1 - d) max_k Q1'(o', xi'(o', D(o')))        (Q1 only, no lambda mixing)
                weight_tn = mu_G(o, a) / mu_G1([o, o'], a)                 (elementwise, [B, L])
                  the means from a second, no-grad pass through G and G1 *after* their Adam step, as the code
                  (agents/MABCQ.py l. 204-208; replayed in tests/test_cast_bcq_official_parity.py; before
                  2026-11-24 ours used the training pass's means, before the step)
                E_V = (Q1(o, a) - r) / gamma,  weight_vd = clip(1 + (y - E_V) / E_V, 0.2, 1.8)     ([B])
                w = weight_vd * weight_tn                                  ([B, L], detached)
                L_Q = mean_{B,L} w (Q1(o, a) - y)^2   (Q2 is never trained),  L_xi = -mean_{B,L} w Q1(o, xi(o, D(o)))
  targets       theta' <- (1 - tau) theta' + tau theta for the critic and xi (every update); the VAEs have none.

Order of one update (the official ``BCQ.train``): VAE step (G, and G1 for MABCQ), critic step (its target decodes
with the just-updated VAE), actor step (on the just-updated critic), Polyak step of both targets.

Official code consulted: JinmingM/CAST-BCQ ``agents/BCQ.py``, ``baselines/run_BCQ.py`` (I-BCQ; Fujimoto et al.'s
sfujim/BCQ constants), ``agents/MABCQ.py``, ``baselines/run_MABCQ.py`` (docs/cast_bcq_official_code.md,
#networks-and-constants and #mabcq-re-implementation-not-official). Constants: VAE 750-750, latent 2A, z clip
0.5, KL weight 0.5; xi and the twin critic 400-300, Phi 0.05; Adam 1e-3 for all; tau 0.005; gamma 0.99;
batch 1024, an independent minibatch per agent, drawn with replacement.

Views (``BCQConfig.view``):
  "independent"  I-BCQ: member m = s * N + i is agent i of seed s, learning on agent i's obs o_i and own action
                 a_i (padded action dims are zeroed in every candidate), one independent minibatch per member.
                 Which observation o_i is (own + public, or the full state as MABCQ's code uses) is the
                 dataset's obs_mode.
  "central"      centralized BCQ: one member per seed. Training obs = the dataset's ``state`` (the global state
                 in its natural order) when it has one, else agent 0's obs; the action is the joint action,
                 ``join(actions [T, N, A]) -> [T, J]``. The evaluation API (common.running.evaluate) hands a policy the
                 per-agent obs [S, E, N, O] only, so the central policy reads **agent 0's obs row**: evaluate it
                 on an env whose obs_mode gives every agent the full state in natural order (MaMuJoCo: "otc";
                 tests/test_bcq.py checks that its agent-0 obs equals ``state``). A learner trained on ``state``
                 refuses obs whose agents' rows differ. The chosen joint action goes back to the agents with
                 ``split_actions([..., J]) -> [..., N, A]``. ``BCQ.from_dataset`` takes both maps from the
                 dataset's env when it has them (MaMuJoCo's ``join`` / ``split_actions``: the robot's natural
                 action order; Walker2d's per-agent dims are (foot, leg, thigh), so plain concatenation would
                 permute the joint action), else consecutive slices of act_dims in agent order. The team reward
                 is the mean of the agents' rewards (the shared reward itself in MaMuJoCo).

Decisions where the sources are silent (ours, also in tests/test_bcq.py):
- MABCQ's weights are computed once per update (from Q1 before the critic step) and used detached in both losses.
- ``guard=True`` (default; a deviation from the code, which can divide by ~0): weight_tn is clipped to
  [0, 10] (0/0 -> 0) and |E_V| >= 1e-6 with its sign kept (E_V = 0 counts as +).
- Action selection draws its z from a generator of its own, seeded afresh by every ``policy()`` call: an
  evaluation is a function of the parameters and the env seeds, and never moves the training stream.
- Heterogeneous agents ("independent"): one latent size 2 * max(act_dims) for all members.
- Cells as members (common/running/grouping.py, ``--group``): ``BCQ.stack(learners)`` (common.algos.members) makes
  one learner of the learners of several runs of one view and variant: each run keeps its own training stream
  (minibatch rows, VAE noise, decode z: ``MemberStreams``), its own rows of the stacked data (with
  ``drop_terminals`` its own non-terminal rows) and its own action-selection seed (``act_seeds``), so it draws
  the very numbers it draws alone. ``GROUP_FIELDS`` (lambda, the KL weight) may differ per run: per-member tensors
  of the numbers a run alone uses, in the same float operations. An update of the stack equals an update of each
  run alone up to float rounding (centralized BCQ's one-member networks: docs/scaling.md,
  tests/test_group_equals_alone.py).

Shapes: M members, B batch, K sampled actions, S seeds, N agents, E episodes, O obs dim, A action dim, L latent dim,
J joint action dim, T dataset steps.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from common.algos.bcq_acting import BCQActing, act_seed
from common.algos.bcq_config import GROUP_FIELDS, BCQConfig
from common.algos.bcq_data import BCQData
from common.algos.bcq_losses import (
    bcq_actor_loss,
    candidate_target,
    env_action_maps,
    join_slices,
    mabcq_actor_loss,
    mabcq_critic_loss,
    mabcq_weights,
    soft_clipped_q,
    split_slices,
    vae_loss,
)
from common.algos.itd3_losses import critic_td_loss
from common.algos.members import StackableLearner
from common.algos.state import learner_state, load_learner_state, slice_module_state, stack_module_states
from common.networks.heads import VAE, PerturbationActor, TwinCritic
from common.networks.nets import adam, polyak_update

__all__ = ["BCQConfig", "BCQ", "GROUP_FIELDS"]


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


class BCQ(BCQData, BCQActing, StackableLearner):
    """Batched continuous BCQ (or MABCQ, ``cfg.variant``); see the module docstring for the views.

    BCQ(obs_dims, act_dims, n_seeds, cfg, seed=0, seeds=None, device, dtype, state_dim=None, join=None,
    split_actions=None), or ``BCQ.from_dataset(data, cfg, seeds, device)``.
    "independent": members m = s * N + i; "central": m = s (one per seed), trained on ``state`` (width
    ``state_dim``) if given, else on agent 0's obs, with the joint action ``join(actions)`` (numpy
    [..., N, A] -> [..., J]) and acting through ``split_actions`` ([..., J] -> [..., N, A]); both default to
    consecutive slices of act_dims. A seed's networks are built from ``seeds[s]`` alone; the training
    random stream (minibatches, VAE noise, decode z) is one torch.Generator for the whole learner; a stack of
    runs (``BCQ.stack``, module docstring) draws each run's numbers from that run's generator.
    """

    _NETS = ("vae", "actor", "critic", "actor_target", "critic_target")  # + MABCQ's vae1 (the stacking hooks)
    _OPTS = ("vae_opt", "actor_opt", "critic_opt")
    GROUP_FIELDS = GROUP_FIELDS  # lambda and the KL weight: per-member scalars of the losses

    def __init__(
        self,
        obs_dims: Sequence[int],
        act_dims: Sequence[int],
        n_seeds: int,
        cfg: BCQConfig | None = None,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        state_dim: int | None = None,
        join: Callable[[np.ndarray], np.ndarray] | None = None,
        split_actions: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        cfg = (cfg or BCQConfig()).validate()
        # one member per seed on the state (or agent 0's obs), the joint action
        central = cfg.view == "central"
        units = 1 if central else None
        super().__init__(
            cfg, obs_dims, act_dims, n_seeds, seeds=seeds, seed=seed, units=units, device=device, dtype=dtype
        )
        self.central, self.mabcq, U = central, cfg.variant == "mabcq", self.n_units
        # [M, 1, A]: padded dims 0 in every candidate
        self.act_mask = None if central else self._member_act_mask()
        if central:
            self.state_dim = None if state_dim is None else int(state_dim)
            self.obs_dim = self.state_dim if self.state_dim is not None else self.obs_dims[0]
            self.act_dim = sum(self.act_dims)  # J
            self.join = join or functools.partial(join_slices, act_dims=self.act_dims)
            self.split_actions = split_actions or functools.partial(split_slices, act_dims=self.act_dims)
        elif state_dim is not None or join is not None or split_actions is not None:
            raise ValueError(
                f"state_dim, join and split_actions are for view='central' only (view={cfg.view!r})"
            )
        else:
            self.state_dim = None
        O, A = self.obs_dim, self.act_dim
        self.latent_dim = L = cfg.latent if cfg.latent is not None else 2 * A

        def build(n_seeds: int) -> dict[str, torch.nn.Module]:
            n = n_seeds * U
            nets = {
                "vae": VAE(n, O, A, L, cfg.hidden_vae, cfg.max_action, cfg.z_clip),
                "actor": PerturbationActor(n, O, A, cfg.hidden, cfg.phi, cfg.max_action),
                "critic": TwinCritic(n, O, A, cfg.hidden),
            }
            if self.mabcq:  # G1 on ([o, o'], a)
                nets["vae1"] = VAE(n, 2 * O, A, L, cfg.hidden_vae, cfg.max_action, cfg.z_clip)
            return nets

        big = self._build_members(build)  # seed before building: seed s's members from seeds[s] alone
        vae, actor, critic, vae1 = big["vae"], big["actor"], big["critic"], big.get("vae1")
        assert (
            isinstance(vae, VAE) and isinstance(actor, PerturbationActor) and isinstance(critic, TwinCritic)
        )
        assert vae1 is None or isinstance(vae1, VAE)  # what build made
        self.vae, self.actor, self.critic, self.vae1 = vae, actor, critic, vae1
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        for p in [*self.actor_target.parameters(), *self.critic_target.parameters()]:
            p.requires_grad_(False)
        vae_params = [*self.vae.parameters(), *(self._g1().parameters() if self.mabcq else ())]
        self.vae_opt = adam(vae_params, lr=cfg.lr if cfg.vae_lr is None else cfg.vae_lr)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.lr)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.lr)
        self.act_seed = act_seed(self.seeds)
        self.act_seeds = [self.act_seed]  # each run's (a stack: one per run, ``_act_generator``)
        # the loss scalars: numbers, or (a stack of runs with other values) per-member tensors of the same numbers
        self.kl_weight = self._member_values("kl_weight", lambda v: v, 1)  # a number or [M]
        # a number or [M, 1, 1] (targets are [M, B, K])
        self.lmbda = self._member_values("lmbda", lambda v: v, 3)
        # a number: 1 - lambda computed in the loss
        self.one_minus_lmbda = (
            None if not torch.is_tensor(self.lmbda) else self._member_values("lmbda", lambda v: 1.0 - v, 3)
        )

    def _g1(self) -> VAE:
        """MABCQ's G1 on ([o, o'], a) (BCQ has none)."""
        if self.vae1 is None:
            raise AttributeError(f"variant={self.cfg.variant!r} has no G1 (vae1): it is MABCQ's")
        return self.vae1

    def _member_values(self, name: str, fn: Callable[[float], float], dims: int) -> float | Tensor:
        """``fn`` of config field ``name`` (a ``GROUP_FIELDS`` one): a number as a run alone reads it, or (one value
        per member: a stack of runs) a tensor [M, 1, ...] of ``dims`` axes, each entry ``fn`` of its member's value
        in double precision rounded once to the learner's dtype, as a run alone's number is inside a kernel."""
        v = getattr(self.cfg, name)
        if not isinstance(v, tuple):
            return v
        if len(v) != self.n_members:
            raise ValueError(f"BCQConfig.{name}={v!r}: give one number, or one per member ({self.n_members})")
        t = torch.tensor([fn(x) for x in v], dtype=torch.float64).to(device=self.device, dtype=self.dtype)
        return t.view(self.n_members, *([1] * (dims - 1)))

    @classmethod
    def from_dataset(
        cls,
        data,
        cfg: BCQConfig | None = None,
        seeds: Sequence[int] = (0,),
        device: str | torch.device = "cpu",
        **kw,
    ) -> "BCQ":
        """The learner for a common.datasets.dataset.Dataset: its obs_dims / act_dims; "central" also its ``state`` width
        (if it has a state) and its env's ``join`` / ``split_actions`` (``env_action_maps``)."""
        cfg = (cfg or BCQConfig()).validate()
        if cfg.view == "central":
            kw.setdefault("state_dim", data.card.get("state_dim"))
            maps = env_action_maps(data.card["env"])
            if maps is not None:
                kw.setdefault("join", maps[0])
                kw.setdefault("split_actions", maps[1])
        return cls(data.obs_dims, data.act_dims, len(seeds), cfg, seeds=list(seeds), device=device, **kw)

    # ---- pieces of the update -------------------------------------------------------------------
    def vae_losses(self, batch: Mapping[str, Tensor]) -> Tensor:
        """L_G [M] (+ L_G1 for MABCQ)."""
        obs, act = batch["obs"], batch["actions"]  # [M, B, O], [M, B, A]
        M, B = obs.shape[:2]
        loss = vae_loss(self.vae, obs, act, self._randn((M, B, self.latent_dim)), self.kl_weight)[0]
        if not self.mabcq:
            return loss
        obs2 = torch.cat([obs, batch["next_obs"]], dim=-1)  # [M, B, 2O]
        return loss + vae_loss(self._g1(), obs2, act, self._randn((M, B, self.latent_dim)), self.kl_weight)[0]

    @torch.no_grad()
    def latent_means(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """The latent means of the current VAEs, no noise drawn: (mu_G(o, a), mu_G1([o, o'], a) or None), [M, B, L]."""
        obs, act = batch["obs"], batch["actions"]  # [M, B, O], [M, B, A]
        mu = self.vae.encode(obs, act)[0]
        if not self.mabcq:
            return mu, None
        return mu, self._g1().encode(torch.cat([obs, batch["next_obs"]], dim=-1), act)[0]

    @torch.no_grad()
    def target_value(self, batch: Mapping[str, Tensor]) -> Tensor:
        """y [M, B] from K = n_target candidates xi'(o', D(o')) per next obs (BCQ: lambda-mixed twin Q';
        MABCQ: Q1' only)."""
        cfg = self.cfg
        next_obs = batch["next_obs"]  # [M, B, O]
        M, B, O = next_obs.shape
        K = cfg.n_target
        o_k = next_obs.unsqueeze(2).expand(M, B, K, O)  # [M, B, K, O]
        a_k = self._candidates(
            self.actor_target, o_k, self._randn((M, B, K, self.latent_dim), clip=cfg.z_clip)
        )
        q1, q2 = self.critic_target(o_k, a_k)  # [M, B, K, 1] each
        if self.mabcq:
            q = q1.squeeze(-1)  # [M, B, K]
        else:
            q = soft_clipped_q(q1.squeeze(-1), q2.squeeze(-1), self.lmbda, self.one_minus_lmbda)  # [M, B, K]
        return candidate_target(batch["rewards"], batch["terminals"], q, cfg.gamma)

    def critic_loss(
        self, batch: Mapping[str, Tensor], mu: Tensor | None = None, mu1: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
        """(L_Q [M], MABCQ's weight w [M, B, L] or None, detached diagnostics). MABCQ needs the VAEs' means."""
        obs, act, rew = batch["obs"], batch["actions"], batch["rewards"]  # [M, B, O], [M, B, A], [M, B]
        y = self.target_value(batch)  # [M, B]
        if not self.mabcq:
            q1, q2 = self.critic(obs, act)
            q1 = q1.squeeze(-1)  # [M, B]
            return critic_td_loss(q1, q2.squeeze(-1), y), None, {"q1": q1.detach().mean(-1)}
        if mu is None or mu1 is None:
            raise ValueError("MABCQ's critic loss needs the VAEs' latent means mu and mu1 (latent_means)")
        q1 = self.critic.q1(obs, act).squeeze(-1)  # [M, B]
        w = mabcq_weights(mu, mu1, q1.detach(), rew, y, self.cfg.gamma, self.cfg.guard)  # [M, B, L]
        M = w.shape[0]
        return mabcq_critic_loss(q1, y, w), w, {"q1": q1.detach().mean(-1), "w": w.reshape(M, -1).mean(1)}

    def actor_loss(self, batch: Mapping[str, Tensor], w: Tensor | None = None) -> Tensor:
        """L_xi [M]: -mean Q1(o, xi(o, D(o))), weighted by MABCQ's w [M, B, L] when given."""
        obs = batch["obs"]  # [M, B, O]
        M, B = obs.shape[:2]
        pi = self._candidates(self.actor, obs, self._randn((M, B, self.latent_dim), clip=self.cfg.z_clip))
        q_pi = self.critic.q1(obs, pi).squeeze(-1)  # [M, B]
        return bcq_actor_loss(q_pi) if w is None else mabcq_actor_loss(q_pi, w)

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One update of all members: VAE step, critic step, actor step, Polyak step of the targets.
        Returns detached [M] metrics every ``log_every`` updates, else {}."""
        cfg = self.cfg
        vloss = self.vae_losses(batch)
        self.vae_opt.zero_grad(set_to_none=True)
        vloss.sum().backward()
        self.vae_opt.step()

        # MABCQ: weight_tn from the just-stepped VAEs' latent means, as the code's second pass (module docstring)
        mu, mu1 = self.latent_means(batch) if self.mabcq else (None, None)
        closs, w, info = self.critic_loss(batch, mu, mu1)
        self.critic_opt.zero_grad(set_to_none=True)
        closs.sum().backward()
        self.critic_opt.step()

        aloss = self.actor_loss(batch, w)
        self.actor_opt.zero_grad(set_to_none=True)
        aloss.sum().backward(inputs=list(self.actor.parameters()))
        self.actor_opt.step()

        polyak_update(self.critic_target, self.critic, cfg.tau)
        polyak_update(self.actor_target, self.actor, cfg.tau)
        self.step += 1
        losses = {"vae_loss": vloss.detach(), "critic_loss": closs.detach(), "actor_loss": aloss.detach()}
        self.check_finite(losses, cfg.variant.upper())
        if self.step % cfg.log_every:
            return {}
        return {**losses, **info}

    # ---- checkpoints --------------------------------------------------------------------------
    def _modules(self) -> tuple[str, ...]:
        nets = (
            "vae",
            "actor",
            "critic",
            "actor_target",
            "critic_target",
            "vae_opt",
            "actor_opt",
            "critic_opt",
        )
        return nets + (("vae1",) if self.mabcq else ())

    def state_dict(self) -> dict[str, Any]:
        return learner_state(self, self._modules())

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_learner_state(self, state, self._modules())

    # ---- stacking runs (cells as members, common/running/grouping.py): StackableLearner's hooks ---------------
    def stack_signature(self) -> str:
        """StackableLearner's, and the central view's state width."""
        return f"{super().stack_signature()}|state_dim={self.state_dim}"

    def _empty_stack(self, cfg: BCQConfig, seeds: Sequence[int]) -> "BCQ":
        maps: dict[str, Any] = (
            dict(state_dim=self.state_dim, join=self.join, split_actions=self.split_actions)
            if self.central
            else {}
        )
        return type(self)(
            self.obs_dims,
            self.act_dims,
            len(seeds),
            cfg,
            seeds=seeds,
            device=self.device,
            dtype=self.dtype,
            **maps,
        )

    def _stack_extra(self, learners: Sequence["BCQ"]) -> None:
        if self.mabcq:  # G1: a module of MABCQ's only (not in _NETS)
            stack_module_states(self._g1(), [lr._g1() for lr in learners])
        # each run selects with its own z, as alone
        self.act_seeds = [s for lr in learners for s in lr.act_seeds]

    def _run_state(self, state: dict[str, Any], opt_states: dict[str, Any], seeds: slice) -> dict[str, Any]:
        if self.mabcq:
            state["vae1"] = slice_module_state(self._g1(), seeds, self.n_seeds)
        state.update(opt_states)
        return state
