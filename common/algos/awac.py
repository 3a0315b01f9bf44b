"""AWAC, batched over members = seeds x agents (independent learners), as OTC uses it as a base learner.

Papers:
- AWAC: Nair, Gupta, Dalal & Levine, "AWAC: Accelerating Online Reinforcement Learning with Offline Datasets",
  arXiv 2006.09359 (2020), Sec. 3 and Algorithm 1: a twin Q critic evaluated on the current policy and an actor
  fitted by advantage-weighted maximum likelihood on the dataset's actions.
- OTC: Jiang & Lu, "Online Tuning for Offline Decentralized Multi-Agent Reinforcement Learning", AAAI 2023,
  Table 3 (AWAC column: gamma 0.99, batch 128, (256, 256) ReLU, actor lr 1e-4, critic lr 5e-4) and the team's
  OTC reproduction spec ("spec" below): Sec. 4.3 (C18, the AWAC bullet), C3 (deterministic evaluation with the
  mean), C11 (V(s') for d_q: the mean of Q1 over 10 policy samples), C14 (every component trains on the batch
  it is given, e.g. OTC's prioritized one).

Equations (per member; B batch, d terminal flag; pi(.|o) = N(mu(o), diag sigma^2) with a state-independent
log sigma in [-6, 0]; samples are not squashed):
  target     y = r + gamma (1 - d) min_j Q'_j(o', a'),  a' ~ pi(.|o')        (current policy, no entropy term)
  critic     L_Q = MSE(Q1(o, a), y) + MSE(Q2(o, a), y)
  advantage  A_b = min_j Q_j(o_b, a_b) - min_j Q_j(o_b, a~_b),  a~_b ~ pi(.|o_b)     (one sample)
  weights    w = softmax_B(A / lambda)                                      (detached; sum_b w_b = 1)
  actor      L_pi = -sum_b w_b log pi(a_b | o_b)                            (+ weight decay on the policy only)
  targets    theta'_Q <- (1 - tau) theta'_Q + tau theta_Q                   (critic only: AWAC has no actor target)
  acting     a = clip(mu(o), -max_action, max_action)                       (OTC C3: evaluation and deployment)
  OTC C11    V(o) = mean_{k<n} Q1(o, a_k), a_k ~ pi(.|o), n = 10 (``AWAC.value``); Q1(o, a) (``AWAC.q1``)

Order of one update (rlkit ``AWACTrainer.train_from_torch``): every quantity comes from the parameters before the
update (y with the current policy; A and w from the critic before its step); then the critic step, the actor
step, and the Polyak step of the critic target.

Official code consulted: rail-berkeley/rlkit ``rlkit/torch/sac/awac_trainer.py`` (AWACTrainer),
``rlkit/torch/sac/policies/gaussian_policy.py`` (GaussianPolicy, std_architecture="values"),
``examples/awac/mujoco/awac1.py`` and ``examples/awac/hand/awac1.py`` (base trainer_kwargs: beta 1, alpha 0, no
entropy tuning, awr_min_q=True, awr_sample_actions=False, awr_use_mle_for_vf=False, vf_K 1,
normalize_over_batch=True, policy_weight_decay 1e-4, soft_target_tau 5e-3; batch 1024; lr 3e-4; offline
pretraining 50,000 (mujoco) / 25,000 (hand) steps; the sweeps override beta: 2 (mujoco), 0.5 with clip_score
0.5 and awr_use_mle_for_vf (hand)). rlkit's policy loss is mean_b(-log pi(a_b|o_b) * B * w_b), which is L_pi.

Where rlkit and the spec differ, the defaults follow the spec (C18) and a config field selects rlkit's form:
- the mean: spec "unsquashed" -> mu = MLP(o) (``mean_tanh=False``); rlkit's GaussianPolicy puts
  ``output_activation=torch.tanh`` on the mean (``mean_tanh=True``: mu = max_action * tanh(MLP(o))). In both,
  samples are plain Gaussian draws (rlkit: MultivariateDiagonalNormal), never squashed.
- the log-std: spec "log-std in [-6, 0]", read as a clamp of a learned [A] vector (``log_std_param="clamp"``);
  rlkit maps a learned logit l with log sigma = -6 + 6 * sigmoid(l) (``"sigmoid"``). Both start at log sigma = -3
  (rlkit: l = 0).

Decisions where the sources are silent (ours; tests/test_awac.py checks them):
- Views: "independent" only (OTC: each agent learns alone on its own obs o_i and own action a_i); member
  m = s * N + i, one independent minibatch per member, all members in one batched forward / backward.
- Heterogeneous agents: padded action dims are zeroed in every sampled and acted action and left out of
  log pi (they carry no probability mass).
- Time-outs: as BCQ (common.algos.bcq), only ``terminals`` stop the bootstrap; a time-out row bootstraps from its
  next_obs (common.datasets.dataset: "timeouts ... bootstrap").
- The mean head's last layer is initialised U(+-1e-3) (weights and bias; rlkit init_w=1e-3); hidden layers and
  the twin critic keep nn.Linear's default init (common.networks.heads.TwinCritic, as BCQ).
- Weight decay is torch Adam's ``weight_decay`` (L2 added to the gradient, as rlkit's optim.Adam) on every policy
  parameter, the log-std vector included (rlkit: ``policy.parameters()``); the critic has none.
- V(o) of ``value`` uses unclipped policy samples (as the advantage's a~ in training) and the current critic's
  Q1; its noise comes from the training generator unless one is passed.
- Noise of one update: eps' [M, B, A] for a' then eps~ [M, B, A] for a~, drawn from the learner's generator after
  the minibatch (``draw_noise``); ``update(batch, noise)`` takes them explicitly for tests and replays.

Shapes: M members, B batch, K policy samples, S seeds, N agents, E episodes, O obs dim, A action dim, T steps.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

import numpy as np
import torch
from torch import Tensor, nn

from common.algos.awac_config import AWACConfig
from common.algos.awac_policy import StateFreeGaussianActor, gaussian_log_prob
from common.algos.itd3_losses import critic_td_loss, td_target
from common.algos.members import StackableLearner
from common.algos.state import learner_state, load_learner_state, member_act
from common.datasets.sampling import gather_members
from common.networks.heads import TwinCritic
from common.networks.nets import adam, polyak_update

__all__ = ["AWACConfig", "AWAC", "N_VALUE", "awac_target", "awac_weights", "awac_actor_loss", "build_awac"]

N_VALUE = 10  # policy samples per V(o) estimate (OTC spec C11: "AWAC, the mean over 10 pi samples")
BATCH_KEYS = ("obs", "actions", "rewards", "next_obs", "terminals")


# ----------------------------------------------------------------------------------------------
# named losses (the batched learner calls them on [M, B] tensors; the tests on hand-made ones)
# ----------------------------------------------------------------------------------------------


def awac_target(rewards: Tensor, terminals: Tensor, q1_next: Tensor, q2_next: Tensor, gamma: float) -> Tensor:
    """AWAC's TD target (Nair et al. 2020, Algorithm 1; rlkit with alpha = 0, i.e. no entropy term):
        y = r + gamma (1 - d) min(Q1'(o', a'), Q2'(o', a')),  a' ~ pi(.|o').
    rewards, terminals, q1_next, q2_next [M, B] -> y [M, B]."""
    return td_target(rewards, terminals, torch.minimum(q1_next, q2_next), gamma)


def awac_weights(q_data: Tensor, q_pi: Tensor, lam: float) -> Tensor:
    """AWAC's advantage weights over the minibatch (Nair et al. 2020, Eq. 10 with rlkit's
    normalize_over_batch=True), detached:
        A = Q(o, a) - Q(o, a~),   w = softmax_B(A / lambda)   (each member's row sums to 1).
    q_data = min_j Q_j(o, a), q_pi = min_j Q_j(o, a~) [M, B] -> w [M, B]."""
    return torch.softmax((q_data - q_pi).detach() / lam, dim=-1)


def awac_actor_loss(logp: Tensor, w: Tensor) -> Tensor:
    """AWAC's actor loss per member [M] (weighted maximum likelihood of the data's actions):
        L_pi = -sum_b w_b log pi(a_b | o_b)      (= rlkit's mean_b(-log pi * B * w)).
    logp [M, B] with its graph; w [M, B] detached."""
    return -(w.detach() * logp).sum(dim=-1)


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


class AWAC(StackableLearner):
    """Batched AWAC over members m = s * N + i (agent i of seed s, its own obs and action).

    AWAC(obs_dims, act_dims, n_seeds, cfg, seed=0, seeds=None, device, dtype), or
    ``AWAC.from_dataset(data, cfg, seeds, device)``. A seed's networks are built from ``seeds[s]`` alone; the
    training random stream (minibatches, policy samples) is one torch.Generator for the whole learner.
    Learner protocol (common.running.offline): prepare_data, sample_batch, update, policy, state_dict, load_state_dict;
    for OTC also ``batch_at`` (a batch at given rows), ``q1`` and ``value`` (spec C11).

    Cells as members (common/running/grouping.py): ``AWAC.stack(learners)`` (common.algos.members) trains the runs
    of a group side by side, each drawing its rows and its policy noise from its own stream (the calls it makes
    alone), so a stacked update is each run's update alone; no config field may differ (``GROUP_FIELDS``).
    """

    _NETS = ("actor", "critic", "critic_target")
    _OPTS = (
        "actor_opt",
        "critic_opt",
    )  # GROUP_FIELDS: none (StackableLearner's): every config field is shared

    def __init__(
        self,
        obs_dims: Sequence[int],
        act_dims: Sequence[int],
        n_seeds: int,
        cfg: AWACConfig | None = None,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        cfg = (cfg or AWACConfig()).validate()
        super().__init__(cfg, obs_dims, act_dims, n_seeds, seeds=seeds, seed=seed, device=device, dtype=dtype)
        O, A, N = self.obs_dim, self.act_dim, self.n_agents

        def build(n_seeds: int) -> dict[str, nn.Module]:
            return {
                "actor": StateFreeGaussianActor(
                    n_seeds * N,
                    O,
                    A,
                    cfg.hidden,
                    cfg.log_std_bounds,
                    cfg.log_std_param,
                    cfg.log_std_init,
                    cfg.mean_tanh,
                    cfg.max_action,
                ),
                "critic": TwinCritic(n_seeds * N, O, A, cfg.hidden),
            }

        big = self._build_members(build)  # seed before building: seed s's members from seeds[s] alone
        actor, critic = big["actor"], big["critic"]
        assert isinstance(actor, StateFreeGaussianActor) and isinstance(critic, TwinCritic)  # what build made
        self.actor, self.critic = actor, critic
        self.critic_target = copy.deepcopy(self.critic)
        for p in self.critic_target.parameters():
            p.requires_grad_(False)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.actor_lr, weight_decay=cfg.policy_weight_decay)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.critic_lr)
        self.act_mask = (
            self._member_act_mask()
        )  # [M, 1, A] or None: padded dims 0 in every action, out of log pi

    @classmethod
    def from_dataset(
        cls,
        data,
        cfg: AWACConfig | None = None,
        seeds: Sequence[int] = (0,),
        device: str | torch.device = "cpu",
        **kw,
    ) -> "AWAC":
        """The learner for a common.datasets.dataset.Dataset (its obs_dims / act_dims)."""
        cfg = (cfg or AWACConfig()).validate()
        return cls(data.obs_dims, data.act_dims, len(seeds), cfg, seeds=list(seeds), device=device, **kw)

    # ---- data ---------------------------------------------------------------------------------
    def prepare_data(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The step tensors the update reads, on the learner's device and dtype: obs / next_obs [T, N, O],
        actions [T, N, A], rewards [T, N], terminals [T]. ``timeouts`` is not read: a time-out row bootstraps
        from its next_obs (as BCQ)."""
        return {k: tensors[k].to(device=self.device, dtype=self.dtype) for k in BATCH_KEYS}

    def batch_at(self, data: Mapping[str, Tensor], idx: Tensor) -> dict[str, Tensor]:
        """The minibatch at rows ``idx`` [M, B] (member m reads agent agents[m] of rows idx[m]): obs / next_obs
        [M, B, O], actions [M, B, A], rewards / terminals [M, B]. For samplers of one's own (OTC's Eq. 3)."""
        return gather_members({k: data[k] for k in BATCH_KEYS}, idx, self.agents)

    def sample_batch(
        self, data: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """One independent uniform minibatch per member from ``prepare_data`` tensors (``batch_at``)."""
        return self.batch_at(data, self.sample_rows(data, generator=generator))  # rows [M, B]

    def _randn(
        self, shape: Sequence[int], generator: torch.Generator | list[torch.Generator] | None
    ) -> Tensor:
        """N(0, I) of ``shape`` [M, ...] from the training streams, or ``generator`` (one, or one per run)."""
        return self.streams.draw(torch.randn, tuple(shape), generator, dtype=self.dtype, device=self.device)

    # ---- the policy -----------------------------------------------------------------------------
    def _mask(self, a: Tensor) -> Tensor:
        if self.act_mask is None:
            return a
        return a * self.act_mask.view(self.n_members, *([1] * (a.dim() - 2)), self.act_dim)

    def _mask_for(self, x: Tensor) -> Tensor | None:
        return (
            None
            if self.act_mask is None
            else self.act_mask.view(self.n_members, *([1] * (x.dim() - 2)), self.act_dim)
        )

    def sample(self, obs: Tensor, eps: Tensor) -> Tensor:
        """a = mu(o) + sigma * eps (unsquashed, unclipped; padded dims 0): obs [M, *, O], eps [M, *, A] -> [M, *, A]."""
        mean, log_std = self.actor(obs)
        return self._mask(mean + log_std.exp() * eps)

    def log_prob(self, obs: Tensor, act: Tensor) -> Tensor:
        """log pi(act | obs) over the real action dims: obs [M, *, O], act [M, *, A] -> [M, *]."""
        mean, log_std = self.actor(obs)
        return gaussian_log_prob(mean, log_std, act, self._mask_for(act))

    def draw_noise(self, batch_size: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """The standard normal noise of one update: eps' for a' ~ pi(.|o') ("next") and eps~ for a~ ~ pi(.|o)
        ("pi"), each [M, B, A], drawn in that order."""
        shape = (self.n_members, int(batch_size), self.act_dim)
        return {k: self._randn(shape, generator) for k in ("next", "pi")}

    # ---- pieces of the update -------------------------------------------------------------------
    @torch.no_grad()
    def target_value(self, batch: Mapping[str, Tensor], eps_next: Tensor) -> Tensor:
        """y [M, B] = r + gamma (1 - d) min Q'(o', a'), a' = mu(o') + sigma eps' from the current policy."""
        next_obs = batch["next_obs"]  # [M, B, O]
        a_next = self.sample(next_obs, eps_next)  # [M, B, A]
        q1, q2 = self.critic_target(next_obs, a_next)  # [M, B, 1] each
        return awac_target(
            batch["rewards"], batch["terminals"], q1.squeeze(-1), q2.squeeze(-1), self.cfg.gamma
        )

    def critic_loss(
        self, batch: Mapping[str, Tensor], eps_next: Tensor
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """(L_Q [M], min_j Q_j(o, a) [M, B] detached, diagnostics) with the critic before its step."""
        obs, act = batch["obs"], batch["actions"]  # [M, B, O], [M, B, A]
        y = self.target_value(batch, eps_next)  # [M, B]
        q1, q2 = self.critic(obs, act)
        q1, q2 = q1.squeeze(-1), q2.squeeze(-1)  # [M, B]
        info = {"q1": q1.detach().mean(-1), "target": y.mean(-1)}
        return critic_td_loss(q1, q2, y), torch.minimum(q1, q2).detach(), info

    def actor_loss(
        self, batch: Mapping[str, Tensor], eps_pi: Tensor, q_data: Tensor | None = None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """(L_pi [M], w [M, B], diagnostics): w from A = min Q(o, a) - min Q(o, a~), a~ = mu(o) + sigma eps~, with
        the critic as it is now (``q_data`` = min Q(o, a) when already computed, e.g. by ``critic_loss``)."""
        obs, act = batch["obs"], batch["actions"]  # [M, B, O], [M, B, A]
        with torch.no_grad():
            if q_data is None:
                q1, q2 = self.critic(obs, act)
                q_data = torch.minimum(q1, q2).squeeze(-1)  # [M, B]
            q1p, q2p = self.critic(obs, self.sample(obs, eps_pi))
            q_pi = torch.minimum(q1p, q2p).squeeze(-1)  # [M, B]
        w = awac_weights(q_data, q_pi, self.cfg.lam)  # [M, B]
        logp = self.log_prob(obs, act)  # [M, B]
        info = {
            "adv": (q_data - q_pi).mean(-1),
            "w_max": w.max(-1).values,
            "logp": logp.detach().mean(-1),
            "log_std": self.actor.log_std().detach().mean(-1),
        }
        return awac_actor_loss(logp, w), w, info

    def update(
        self, batch: Mapping[str, Tensor], noise: Mapping[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """One update of all members: both losses from the current parameters, then the critic step, the actor
        step and the Polyak step of the critic target. ``noise`` (``draw_noise``'s dict) defaults to a fresh draw
        from the training generator. Returns detached [M] metrics every ``log_every`` updates, else {}."""
        cfg = self.cfg
        if noise is None:
            noise = self.draw_noise(batch["obs"].shape[1])
        closs, q_data, cinfo = self.critic_loss(batch, noise["next"])
        aloss, _, ainfo = self.actor_loss(batch, noise["pi"], q_data)

        self.critic_opt.zero_grad(set_to_none=True)
        closs.sum().backward()
        self.critic_opt.step()

        self.actor_opt.zero_grad(set_to_none=True)
        aloss.sum().backward()
        self.actor_opt.step()

        polyak_update(self.critic_target, self.critic, cfg.tau)
        self.step += 1
        losses = {"critic_loss": closs.detach(), "actor_loss": aloss.detach()}
        self.check_finite(losses, "AWAC")
        if self.step % cfg.log_every:
            return {}
        return {**losses, **cinfo, **ainfo}

    # ---- OTC's d_q (spec C11) ---------------------------------------------------------------------
    @torch.no_grad()
    def q1(self, obs: Tensor, act: Tensor) -> Tensor:
        """Q1(o, a) of the current critic: obs [M, *, O], act [M, *, A] -> [M, *]."""
        return self.critic.q1(obs, act).squeeze(-1)

    def value_noise(self, obs: Tensor, n: int = N_VALUE, generator: torch.Generator | None = None) -> Tensor:
        """The standard normals eps [M, *, n, A] of ``value(obs)``'s n policy samples, from ``generator`` (default:
        the training generator): drawn apart so that a caller can evaluate V on some rows only, with those rows'
        draws (OTC's d_q computes V(s'*) on the matched rows only)."""
        return self._randn((*obs.shape[:-1], int(n), self.act_dim), generator)

    @torch.no_grad()
    def value(
        self,
        obs: Tensor,
        n: int = N_VALUE,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> Tensor:
        """V(o) = mean_{k<n} Q1(o, a_k), a_k ~ pi(.|o) (OTC spec C11): obs [M, *, O] -> [M, *]. The samples
        (unclipped as in training) come from ``noise`` [M, *, n, A] (``value_noise``), else from ``generator``
        (default: the training generator)."""
        eps = self.value_noise(obs, n, generator) if noise is None else noise
        o_k = obs.unsqueeze(-2).expand(*obs.shape[:-1], eps.shape[-2], obs.shape[-1])  # [M, *, K, O]
        return self.critic.q1(o_k, self.sample(o_k, eps)).squeeze(-1).mean(-1)

    # ---- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def select(self, obs: Tensor) -> Tensor:
        """The deterministic action clip(mu(o), -max_action, max_action), padded dims 0: [M, E, O] -> [M, E, A]."""
        a = self.actor.mean(obs).clamp(-self.cfg.max_action, self.cfg.max_action)
        return self._mask(a)

    @overload
    def act(self, obs: np.ndarray) -> np.ndarray: ...
    @overload
    def act(self, obs: Tensor) -> Tensor: ...

    def act(self, obs: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """obs [S, E, N, O] -> actions [S, E, N, A] (numpy in, numpy out); no randomness, no training stream."""
        return member_act(
            obs, self.n_seeds, self.n_agents, self.obs_dim, self.select, self.dtype, self.device
        )

    def policy(self) -> Callable[[np.ndarray], np.ndarray]:
        """A callable for common.running.evaluate: obs [S, E, N, O] numpy -> actions [S, E, N, A] numpy (the clipped
        mean; OTC spec C3)."""
        return self.act

    # ---- checkpoints --------------------------------------------------------------------------
    _MODULES = ("actor", "critic", "critic_target", "actor_opt", "critic_opt")

    def state_dict(self) -> dict[str, Any]:
        return learner_state(self, self._MODULES)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_learner_state(self, state, self._MODULES)

    # ---- stacking runs (cells as members, common/running/grouping.py): StackableLearner's hook -------------------
    def _empty_stack(self, cfg: AWACConfig, seeds: Sequence[int]) -> "AWAC":
        return type(self)(
            self.obs_dims, self.act_dims, len(seeds), cfg, seeds=seeds, device=self.device, dtype=self.dtype
        )


def build_awac(data, section: Mapping[str, Any], seed: int, device) -> AWAC:
    """Registry builder (common.algos): AWAC for one seed from AWACConfig fields."""
    return AWAC.from_dataset(data, AWACConfig(**dict(section)), seeds=[seed], device=device)
