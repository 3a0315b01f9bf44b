"""Independent TD3+BC as Fujimoto & Gu published it, batched over members = seeds x agents.

Paper: Fujimoto & Gu, "A Minimalist Approach to Offline Reinforcement Learning", NeurIPS 2021, Sec. 5 and
Algorithm 1 (TD3 with a behavior-cloning term and state normalization); official code sfujim/TD3_BC
(``TD3_BC.py``, ``utils.py``) read for the constants. Used by OTC (Jiang & Lu, AAAI 2023) as a base learner on
cooperative navigation (Figures 7 and 8), independently per agent on its own action (OTC spec C19).
OMAR's MA-TD3+BC (``ITD3`` with ``actor_reg="td3bc"``) shares only the actor loss: it has no target smoothing,
no policy delay and no state normalization, as OMAR's code.

Equations (per member; B batch, d terminal flag; s~ = (s - mu) / sigma, mu / sigma of the training data, fixed):
  target        a' = clip(pi'(s~') + clip(eps, -c max_a, c max_a), -max_a, max_a),  eps ~ N(0, (sigma_n max_a)^2)
                y = r + gamma (1 - d) min_j Q'_j(s~', a'),   sigma_n = 0.2, c = 0.5
  critic        L_Q = MSE(Q1(s~, a), y) + MSE(Q2(s~, a), y)                               (every update)
  actor         L_pi = -lambda mean_B Q1(s~, pi(s~)) + mean_{B,A} (pi(s~) - a)^2,
                lambda = alpha / mean_B |Q1(s~, pi(s~))| (detached), alpha = 2.5   (every ``policy_delay`` updates)
  targets       Polyak rate tau = 0.005 on both, after each actor step (TD3's delayed target update)

Constants (code): hidden (256, 256), Adam 3e-4 both, batch 256, gamma 0.99, state normalization with eps 1e-3
(``normalize_states``: std + 1e-3). Members m = s * N + i: agent i of seed s on its own obs and action; the
normalization statistics are per agent, computed once from the dataset the learner is built on
(``from_dataset``) and kept in the checkpoint. Shapes: M members, B batch, S seeds, N agents, E episodes,
O obs dim, A action dim.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from common.algos.itd3_losses import critic_td_loss, td_target
from common.algos.members import StackableLearner
from common.algos.state import learner_state, load_learner_state, member_act, seed_rows
from common.algos.td3bc import td3bc_actor_loss
from common.datasets.sampling import gather_members
from common.networks.heads import DeterministicActor, TwinCritic
from common.networks.nets import adam, polyak_update
from common.running.fields import check, opt

BATCH_KEYS = ("obs", "actions", "rewards", "next_obs", "terminals")


@dataclass
class TD3BCConfig:
    """Defaults = Fujimoto & Gu's code (TD3_BC.py / main.py); OTC's Table 3 sets batch 128 and lr 3e-4."""

    # actor and twin-critic widths (code: 256-256)
    hidden: Sequence[int] = opt((256, 256), kind="int", ge=1, seq=True, hint="e.g. (256, 256)")
    actor_lr: float = opt(3e-4, kind="num", gt=0)  # Adam lr of the actor (code 3e-4; OTC Table 3 3e-4)
    critic_lr: float = opt(3e-4, kind="num", gt=0)  # Adam lr of the critic (code 3e-4; OTC Table 3 3e-4)
    alpha: float = opt(2.5, kind="num", ge=0)  # BC trade-off: lambda = alpha / mean|Q| (paper Sec. 5: 2.5)
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # discount (code 0.99)
    tau: float = opt(0.005, kind="num", gt=0, le=1)  # Polyak rate of both targets (code 0.005)
    # target smoothing std, fraction of max_action (code 0.2)
    policy_noise: float = opt(0.2, kind="num", ge=0)
    noise_clip: float = opt(0.5, kind="num", ge=0)  # target smoothing clip, fraction of max_action (code 0.5)
    # critic steps per actor and target step (code policy_freq 2)
    policy_delay: int = opt(2, kind="int", ge=1)
    batch_size: int = opt(256, kind="int", ge=1)  # per-member minibatch (code 256; OTC Table 3 128)
    replace: bool = opt(True, kind="bool")  # rows drawn with replacement (code: np.random.randint)
    # states normalized by the data's mean / std (code normalize True)
    normalize_obs: bool = opt(True, kind="bool")
    obs_eps: float = opt(1e-3, kind="num", gt=0)  # std + obs_eps (code 1e-3)
    max_action: float = opt(1.0, kind="num", gt=0)  # action bound (MuJoCo 1; OTC navigation 0.1)
    # update() returns metrics (detached [M] tensors) every log_every updates
    log_every: int = opt(100, kind="int", ge=1)
    check_finite_every: int = opt(1, kind="int", ge=1)  # NaN guard period (one host sync per check)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, (list, tuple)):
            self.hidden = tuple(self.hidden)

    def validate(self) -> "TD3BCConfig":
        """The fields' declared rules, their needs and ``RULES`` (common.running.fields.check)."""
        return check(self)


def smoothed_target_action(
    pi_next: Tensor, eps: Tensor, policy_noise: float, noise_clip: float, max_action: float
) -> Tensor:
    """TD3's target policy smoothing: clip(pi'(s') + clip(sigma_n max_a eps, +-c max_a), +-max_a); eps ~ N(0, 1)."""
    noise = (eps * policy_noise * max_action).clamp(-noise_clip * max_action, noise_clip * max_action)
    return (pi_next + noise).clamp(-max_action, max_action)


class TD3BC(StackableLearner):
    """Batched independent TD3+BC: TD3BC(obs_dims, act_dims, n_seeds, cfg, seeds=..., obs_mean=..., obs_std=...)
    or ``TD3BC.from_dataset(data, cfg, seeds, device)`` (statistics from the data). A seed's networks are built
    from its own seed; the training stream (minibatches, smoothing noise) is one torch.Generator.

    Cells as members (common/running/grouping.py): ``TD3BC.stack(learners)`` (common.algos.members) trains the runs
    of a group side by side, each with its own normalization statistics (those of its dataset) and drawing its rows
    and smoothing noise from its own stream, so a stacked update is each run's update alone; no config field may
    differ (``GROUP_FIELDS``)."""

    _NETS = ("actor", "critic", "actor_target", "critic_target")
    _OPTS = ("actor_opt", "critic_opt")
    GROUP_FIELDS: tuple[str, ...] = ()  # every config field is shared by the stacked runs
    cfg: TD3BCConfig  # set by MemberLearner.__init__ (validated)

    def __init__(
        self,
        obs_dims: Sequence[int],
        act_dims: Sequence[int],
        n_seeds: int,
        cfg: TD3BCConfig | None = None,
        seeds: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        obs_mean: Tensor | np.ndarray | None = None,
        obs_std: Tensor | np.ndarray | None = None,
    ):
        super().__init__(
            (cfg or TD3BCConfig()).validate(),
            obs_dims,
            act_dims,
            n_seeds,
            seeds=seeds,
            device=device,
            dtype=dtype,
        )
        cfg, M, N, O, A = self.cfg, self.n_members, self.n_agents, self.obs_dim, self.act_dim

        def build(n_seeds: int) -> dict[str, torch.nn.Module]:
            return {
                "actor": DeterministicActor(n_seeds * N, O, A, cfg.hidden, cfg.max_action),
                "critic": TwinCritic(n_seeds * N, O, A, cfg.hidden),
            }

        big = self._build_members(build)  # seed before building: seed s's members from seeds[s] alone
        actor, critic = big["actor"], big["critic"]
        assert isinstance(actor, DeterministicActor) and isinstance(critic, TwinCritic)  # what build made
        self.actor, self.critic = actor, critic
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        for p in [*self.actor_target.parameters(), *self.critic_target.parameters()]:
            p.requires_grad_(False)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.critic_lr)
        dev = self.device
        mean = (
            torch.zeros(self.n_agents, O, device=dev, dtype=dtype)
            if obs_mean is None
            else torch.as_tensor(obs_mean, device=dev, dtype=dtype)
        )
        std = (
            torch.ones(self.n_agents, O, device=dev, dtype=dtype)
            if obs_std is None
            else torch.as_tensor(obs_std, device=dev, dtype=dtype)
        )
        if mean.shape != (self.n_agents, O) or std.shape != (self.n_agents, O):
            raise ValueError(
                f"obs_mean / obs_std must be [N={self.n_agents}, O={O}], got {tuple(mean.shape)}, "
                f"{tuple(std.shape)}"
            )
        on = cfg.normalize_obs
        self.obs_mean = (
            mean[self.agents][:, None] if on else torch.zeros(M, 1, O, device=dev, dtype=dtype)
        )  # [M, 1, O]
        self.obs_scale = (
            (std[self.agents][:, None] + cfg.obs_eps) if on else torch.ones(M, 1, O, device=dev, dtype=dtype)
        )

    @classmethod
    def from_dataset(
        cls,
        data,
        cfg: TD3BCConfig | None = None,
        seeds: Sequence[int] = (0,),
        device: str | torch.device = "cpu",
        **kw,
    ) -> "TD3BC":
        """The learner for a common.datasets.dataset.Dataset, normalized by its per-agent obs mean and std (ddof 0)."""
        obs = np.asarray(data.obs, dtype=np.float64)  # [T, N, O]
        return cls(
            data.obs_dims,
            data.act_dims,
            len(seeds),
            cfg,
            seeds=list(seeds),
            device=device,
            obs_mean=obs.mean(0),
            obs_std=obs.std(0),
            **kw,
        )

    # ---- data ---------------------------------------------------------------------------------
    def prepare_data(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {k: tensors[k].to(device=self.device, dtype=self.dtype) for k in BATCH_KEYS}

    def sample_batch(
        self, data: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """One independent minibatch per member: obs / next_obs [M, B, O], actions [M, B, A], rewards /
        terminals [M, B]."""
        return gather_members(
            {k: data[k] for k in BATCH_KEYS}, self.sample_rows(data, generator=generator), self.agents
        )

    def norm(self, obs: Tensor) -> Tensor:
        """s~ = (s - mu) / (sigma + eps) per member: obs [M, *, O]."""
        shape = (self.n_members, *([1] * (obs.dim() - 2)), self.obs_dim)
        return (obs - self.obs_mean.view(shape)) / self.obs_scale.view(shape)

    # ---- the update ---------------------------------------------------------------------------
    @torch.no_grad()
    def target_value(self, batch: Mapping[str, Tensor], eps: Tensor) -> Tensor:
        """y [M, B] with the smoothing noise eps [M, B, A] ~ N(0, 1) passed in."""
        c = self.cfg
        s2 = self.norm(batch["next_obs"])
        a2 = smoothed_target_action(self.actor_target(s2), eps, c.policy_noise, c.noise_clip, c.max_action)
        q1, q2 = self.critic_target(s2, a2)
        return td_target(batch["rewards"], batch["terminals"], torch.minimum(q1, q2).squeeze(-1), c.gamma)

    def critic_loss(self, batch: Mapping[str, Tensor], eps: Tensor) -> Tensor:
        """L_Q [M]."""
        q1, q2 = self.critic(self.norm(batch["obs"]), batch["actions"])
        return critic_td_loss(q1.squeeze(-1), q2.squeeze(-1), self.target_value(batch, eps))

    def actor_loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        """L_pi [M] (Fujimoto & Gu Eq. 3)."""
        s = self.norm(batch["obs"])
        pi = self.actor(s)  # [M, B, A]
        return td3bc_actor_loss(self.critic.q1(s, pi).squeeze(-1), pi, batch["actions"], self.cfg.alpha)

    def update(self, batch: Mapping[str, Tensor], eps: Tensor | None = None) -> dict[str, Tensor]:
        """A critic step; every ``policy_delay``-th call also an actor step and the Polyak step of both targets.
        ``eps`` (the target smoothing noise [M, B, A]) defaults to a draw from the training streams."""
        c = self.cfg
        if eps is None:
            eps = self.streams.draw(
                torch.randn, tuple(batch["actions"].shape), device=self.device, dtype=self.dtype
            )
        closs = self.critic_loss(batch, eps)
        self.critic_opt.zero_grad(set_to_none=True)
        closs.sum().backward()
        self.critic_opt.step()
        self.step += 1
        losses = {"critic_loss": closs.detach()}
        if self.step % c.policy_delay == 0:
            aloss = self.actor_loss(batch)
            self.actor_opt.zero_grad(set_to_none=True)
            aloss.sum().backward(inputs=list(self.actor.parameters()))
            self.actor_opt.step()
            polyak_update(self.critic_target, self.critic, c.tau)
            polyak_update(self.actor_target, self.actor, c.tau)
            losses["actor_loss"] = aloss.detach()
        if self.step % c.check_finite_every == 0 and not bool(torch.isfinite(closs).all()):
            raise FloatingPointError(
                f"TD3+BC: critic_loss is not finite at update {self.step} ({closs.tolist()})"
            )
        return {} if self.step % c.log_every else losses

    # ---- OTC's d_q (OTC spec C11) -------------------------------------------------------------
    @torch.no_grad()
    def q1(self, obs: Tensor, act: Tensor) -> Tensor:
        """Q1(s~, a): obs [M, *, O], act [M, *, A] -> [M, *]."""
        return self.critic.q1(self.norm(obs), act).squeeze(-1)

    def value_noise(self, obs: Tensor, n: int = 1, generator: torch.Generator | None = None) -> None:
        """None: ``value`` draws nothing (a deterministic policy)."""
        return None

    @torch.no_grad()
    def value(
        self, obs: Tensor, n: int = 1, generator: torch.Generator | None = None, noise: Tensor | None = None
    ) -> Tensor:
        """V(s) = Q1(s~, pi(s~)), the deterministic policy's value (``n``, ``generator``, ``noise`` unused):
        [M, *, O] -> [M, *]."""
        s = self.norm(obs)
        return self.critic.q1(s, self.actor(s)).squeeze(-1)

    # ---- acting -------------------------------------------------------------------------------
    def act(self, obs: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """obs [S, E, N, O] -> actions [S, E, N, A] = pi(s~) (numpy in, numpy out)."""
        return member_act(
            obs,
            self.n_seeds,
            self.n_agents,
            self.obs_dim,
            lambda x: self.actor(self.norm(x)),
            self.dtype,
            self.device,
        )

    def policy(self) -> Callable[[np.ndarray | Tensor], np.ndarray | Tensor]:
        return self.act

    # ---- checkpoints --------------------------------------------------------------------------
    _MODULES = ("actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt")

    def state_dict(self) -> dict[str, Any]:
        return {
            **learner_state(self, self._MODULES),
            "obs_mean": self.obs_mean.clone(),
            "obs_scale": self.obs_scale.clone(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_learner_state(self, state, self._MODULES)
        self.obs_mean = state["obs_mean"].to(device=self.device, dtype=self.dtype).clone()
        self.obs_scale = state["obs_scale"].to(device=self.device, dtype=self.dtype).clone()

    # ---- stacking runs (cells as members, common/running/grouping.py): StackableLearner's hooks ---------------
    def _empty_stack(self, cfg: TD3BCConfig, seeds: Sequence[int]) -> "TD3BC":
        return type(self)(
            self.obs_dims, self.act_dims, len(seeds), cfg, seeds=seeds, device=self.device, dtype=self.dtype
        )

    def _stack_extra(self, learners: Sequence["TD3BC"]) -> None:
        self.obs_mean = torch.cat(
            [lr.obs_mean for lr in learners]
        )  # [M, 1, O]: each run its own data's statistics
        self.obs_scale = torch.cat([lr.obs_scale for lr in learners])

    def _run_state(self, state: dict[str, Any], opt_states: dict[str, Any], seeds: slice) -> dict[str, Any]:
        state.update(opt_states)
        state["obs_mean"] = seed_rows(self.obs_mean, seeds, self.n_seeds).clone()
        state["obs_scale"] = seed_rows(self.obs_scale, seeds, self.n_seeds).clone()
        return state


def build_td3bc(data, section: Mapping[str, Any], seed: int, device) -> TD3BC:
    """Registry builder (common.algos): independent TD3+BC for one seed from TD3BCConfig fields."""
    return TD3BC.from_dataset(data, TD3BCConfig(**dict(section)), seeds=[seed], device=device)
