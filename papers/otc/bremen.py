"""BREMEN adapted to OTC's online tuning (Figures 6a, 6b), batched over members = seeds x agents.

Papers:
- BREMEN: Matsushima, Furuta, Matsuo, Nachum & Gu, "Deployment-Efficient Reinforcement Learning via Model-Based
  Offline Optimization", ICLR 2021, Algorithm 1: an ensemble of deterministic dynamics models fit on the data,
  a behavior-cloned Gaussian policy as the initial policy, then policy optimization on imagined rollouts of the
  ensemble (a random model per step), with trust-region steps (TRPO) as the implicit behavior regularizer.
- OTC: Jiang & Lu, "Online Tuning for Offline Decentralized Multi-Agent Reinforcement Learning", AAAI 2023,
  Sec. 4.4 ("we adapt BREMEN to our setting, training the policies from the offline data and finetuning the
  policies using limited online data at each deployment") and Table 3 (BREMEN column: (256, 256) ReLU, actor lr
  1e-4, critic lr 5e-4, batch 128, gamma 0.99, L = 2000). The team's spec: Sec. 4.3 (C21, the BREMEN bullet),
  C4 (offline: model fit, BC 1e4, then 5 L policy updates), C14 (the OTC batch trains BREMEN's models).

Per member m = s * N + i (agent i of seed s, its own obs o_i, its own action a_i, the team reward r):
  models     f_e(o, a) = (Delta o, r), e = 1..E (E = 5), deterministic, on normalized inputs and outputs:
               x = ([o, a] - mu_x) / sd_x,  y = ([o' - o, r] - mu_y) / sd_y   (statistics of B_i^0, fixed)
               L_f = sum_e mean_{B, dims} (f_e(x) - y)^2                                    (``model_loss``)
  BC         L_bc = -mean_B log pi(a | o)   on B_i^0 (the offline stage)                    (``bc_loss``)
  imagine    o_0 ~ U(B_i^k); for t < H = 25: a_t = mu(o_t) + sigma eps_t, e_t ~ U{1..E} (one per step),
               (Delta o, r_t) = f_{e_t}(o_t, clip(a_t, +-max_action)), o_{t+1} = o_t + Delta o
  GAE        delta_t = r_t + gamma V(o_{t+1}) - V(o_t);  A_t = delta_t + gamma lambda A_{t+1} (A_H = 0);
             G_t = r_t + gamma G_{t+1}, G_{H-1} = r_{H-1} + gamma V(o_H)   (time-out at H: bootstrap on V)
  PPO        rho = pi(a|o) / pi_old(a|o);  L_pi = -mean min(rho A^, clip(rho, 1 - 0.2, 1 + 0.2) A^),
             A^ = the advantages normalized per member;  L_V = mean (V(o) - G)^2            (``ppo_losses``)

One ``update(batch)`` (the job's contract, papers/otc/deploy.py: the offline stage calls
``update(sample_batch(B^0))`` ``offline_updates`` times, each deployment L times on the sampler's batch):
  1. one Adam step of the model ensemble on ``batch`` (so OTC's prioritized batch is what trains the models: spec
     C14, "OTC + BREMEN: the OTC sampler (d_e) replaces uniform sampling in the dynamics-model minibatches");
  2. while ``step < bc_updates`` (the first calls, in the offline stage): one BC step of the policy on ``batch``;
     afterwards: one PPO iteration = one imagined rollout batch (``rollout_starts`` x H transitions per member,
     start states uniform from the tensors given to ``attach``) and one epoch over it in ``ppo_minibatches``
     minibatches (policy and value steps on each).
  So the job's offline_updates should be bc_updates + 5 L (spec C4: BC 1e4, then 5 L policy updates).

Deviations and choices (the spec is silent unless marked; papers/otc/README.md should list them):
- PPO-clip 0.2 with Adam instead of BREMEN's TRPO [spec C21: Table 3 gives Adam learning rates].
- Early stopping of the model fit [spec C21: "early stopping on a 10 % hold-out"], within the job's contract (the
  model trains on every update, there is no separate fit stage): ``holdout_fraction`` of B^0's rows (at most
  ``holdout_max``, for cost) are drawn per seed at build; while ``step < bc_updates``, ``sample_batch`` never draws
  them (neither the model nor BC sees them). Every ``holdout_every`` updates of that stage, and at its end, each
  (member, model) is scored by its normalized MSE on the hold-out and its best-so-far parameters are kept; at
  ``step == bc_updates`` every model is reset to its best-so-far parameters (Adam's moments are kept). The model
  then keeps training on every update's batch (uniform from B^k, or OTC's), with no further selection: a B^0
  hold-out would reject exactly the online correction OTC aims at. (OTC's own sampler may draw hold-out rows
  during tuning; that sampler draws its B itself.)
- "A random ensemble member per step" [spec C21] is read literally: one model e_t per member and step for all of
  its R rollouts, so a step evaluates one model, not E (OfflineRL draws one per row and step, at E times the cost).
- All E models of a member train on the same batch (diversity from their initializations only); model lr 1e-3
  (a common Adam rate for dynamics models; OTC's Table 3 has no model row).
- The policy: a Gaussian with a state-independent log-std (a learned [M, A] vector, the rllab-style TRPO
  policy), mean = MLP(o) unsquashed (common.algos.awac_policy.StateFreeGaussianActor), log-std clamped to
  ``log_std_bounds``; initialized at log(std of the agent's B^0 actions) per dim, so that imagined actions start
  at the data's spread (OTC's MPE actions lie in +-0.1: a unit std would leave the data at once, and BC at actor
  lr 1e-4 moves the log-std by at most ~1e-4 per step).
  BC is maximum likelihood of mean and log-std with the policy's Adam (actor lr), Adam state kept for PPO.
- Acting (evaluation, deployment): the mean, clipped to +-max_action [spec C3]. In imagination the model gets
  the clipped action (as the env clips), log pi the unclipped sample.
- Imagined next obs and rewards are clipped to B^0's range per member and dim (``clip_to_data``; OfflineRL's
  BREMEN does the same); no termination model (OTC's MPE episodes only time out).
- GAE lambda 0.95; value targets G = discounted rewards bootstrapped at the horizon (common.algos.ppo's
  gae_with_timeouts); advantage normalization per member (eps 1e-3); no entropy bonus, no gradient clipping,
  no value clipping (BREMEN's TRPO has none of them).
- Agents must share obs and action dims (OTC's MPE tasks do); a dataset with mixed dims is refused.
- Randomness of one PPO iteration (``draw_noise``): start rows [M, R], model index [M, H], eps [M, H, R, A]
  and the minibatch permutation [M, R H], from the learner's generator; ``update(batch, noise)`` takes them
  explicitly for tests. A seed's networks and hold-out rows come from ``seeds[s]`` alone.

Official code consulted (read, not copied): matsuolab/BREMEN is not in our library; polixir/OfflineRL
``offlinerl/algo/modelbase/bremen.py`` (its imagined rollouts: a random ensemble member per row and step, next
obs and rewards clipped to the data's range, GAE, a value net trained by Adam on value + advantage targets; its
models are probabilistic, BREMEN's and ours deterministic).

Where the parts are: this module holds the learner (construction, data, the update, acting, checkpoints); its
config papers/otc/bremen_config.py; the model ensemble papers/otc/bremen_models.py; the policy learning (BC, the
imagined rollouts, GAE, PPO, and the named losses ``bc_loss``, ``ppo_losses``) papers/otc/bremen_ppo.py.

Shapes: M members, E models per member, B batch, R rollouts per member, H horizon, S seeds, N agents,
T data rows, O obs dim, A action dim.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from common.algos import register_learner
from common.algos.awac_policy import StateFreeGaussianActor
from common.algos.members import MemberLearner
from common.algos.state import learner_state, load_learner_state, member_act
from common.datasets.sampling import gather_members
from common.networks.nets import EnsembleMLP, adam
from papers.otc.bremen_config import BREMENConfig
from papers.otc.bremen_models import BREMENModels, data_stats
from papers.otc.bremen_ppo import BREMENPolicy, bc_loss, ppo_losses

__all__ = [
    "BREMENConfig",  # re-exported: the learner's settings (papers/otc/bremen_config.py)
    "BREMEN",
    "bc_loss",  # re-exported: the named losses (papers/otc/bremen_ppo.py)
    "ppo_losses",
    "build_bremen",
]

BATCH_KEYS = ("obs", "actions", "rewards", "next_obs", "terminals")
HOLDOUT_STREAM = 0xB4E  # spawn key of a seed's hold-out draw


class _Buffers(nn.Module):
    """The learner's fixed statistics per member and the model selection's best hold-out losses, as buffers (so
    that they move with ``.to`` and travel in ``state_dict``)."""

    def __init__(self, stats: Mapping[str, Tensor], n_models: int):
        super().__init__()
        for k, v in stats.items():
            self.register_buffer(k, v.clone())
        m = next(iter(stats.values())).shape[0]
        self.register_buffer("best_loss", torch.full((m * n_models,), math.inf, dtype=stats["x_mean"].dtype))


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


class BREMEN(BREMENPolicy, BREMENModels, MemberLearner):
    """Batched BREMEN over members m = s * N + i (agent i of seed s, its own obs and action).

    BREMEN(obs_dim, act_dim, n_agents, n_seeds, stats, n_offline, cfg, seeds, device, dtype), or
    ``BREMEN.from_dataset(data, cfg, seeds, device)`` (statistics and hold-out from the dataset = B^0).
    Learner protocol (papers/otc/deploy.py): sample_batch, update, attach, policy, state_dict, load_state_dict.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        n_agents: int,
        n_seeds: int,
        stats: Mapping[str, Tensor],
        n_offline: int,
        cfg: BREMENConfig | None = None,
        seeds: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(
            (cfg or BREMENConfig()).validate(),
            [int(obs_dim)] * int(n_agents),
            [int(act_dim)] * int(n_agents),
            n_seeds,
            seeds=seeds,
            device=device,
            dtype=dtype,
        )
        cfg, M, N, O, A, E = (
            self.cfg,
            self.n_members,
            self.n_agents,
            self.obs_dim,
            self.act_dim,
            self.cfg.n_models,
        )
        self.member_seed = torch.arange(M, device=self.device) // self.n_agents  # [M] seed slot s of member m
        self.n_offline = int(n_offline)

        def build(n_seeds: int) -> dict[str, nn.Module]:
            n = n_seeds * N
            return {
                "actor": StateFreeGaussianActor(n, O, A, cfg.hidden, cfg.log_std_bounds, "clamp", 0.0),
                "value": EnsembleMLP(n, O, 1, cfg.hidden),
                "model": EnsembleMLP(n * E, O + A, O + 1, cfg.hidden),
            }

        big = self._build_members(build)  # seed before building: seed s's members (and models) from seeds[s]
        self.actor, self.value, self.model = big["actor"], big["value"], big["model"]
        self.model_best = copy.deepcopy(self.model)  # best-so-far on the hold-out (the BC stage's selection)
        for p in self.model_best.parameters():
            p.requires_grad_(False)
        per_member = {k: v[self.agents.cpu()] for k, v in stats.items()}  # [M, ...] by the member's agent
        self.buffers = _Buffers(per_member, E).to(device=self.device, dtype=dtype)
        with (
            torch.no_grad()
        ):  # [I] the policy starts at the data's action spread (the log-std of B^0's actions)
            lo, hi = cfg.log_std_bounds
            self.actor.log_std_raw.copy_(self.buffers.x_std[:, O:].log().clamp(lo, hi))
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.value_opt = adam(self.value.parameters(), lr=cfg.value_lr)
        self.model_opt = adam(self.model.parameters(), lr=cfg.model_lr)
        self.holdout, self.train_rows = self._holdout_rows()  # [S, H], [S, T0 - H]
        self._data: dict[str, Tensor] | None = None

    @classmethod
    def from_dataset(
        cls,
        data,
        cfg: BREMENConfig | None = None,
        seeds: Sequence[int] = (0,),
        device: str | torch.device = "cpu",
        **kw,
    ) -> "BREMEN":
        """The learner for a common.datasets.dataset.Dataset (B^0): its dims, statistics and size (for the hold-out)."""
        obs_dims, act_dims = tuple(data.obs_dims), tuple(data.act_dims)
        if len(set(obs_dims)) != 1 or len(set(act_dims)) != 1:
            raise ValueError(
                f"BREMEN needs agents with equal obs and action dims, got obs {obs_dims}, act {act_dims}"
            )
        stats = data_stats(data.to_torch("cpu", keys=("obs", "actions", "rewards", "next_obs")))
        return cls(
            obs_dims[0],
            act_dims[0],
            len(obs_dims),
            len(seeds),
            stats,
            data.size,
            cfg,
            seeds=list(seeds),
            device=device,
            **kw,
        )

    def _holdout_rows(self) -> tuple[Tensor, Tensor]:
        """Each seed's hold-out rows of B^0 [S, H] and the rest [S, T0 - H] (both sorted), from seeds[s] alone."""
        c, t0 = self.cfg, self.n_offline
        h = min(int(round(c.holdout_fraction * t0)), c.holdout_max) if c.bc_updates > 0 else 0
        held, rest = [], []
        for sd in self.seeds:
            s = int(
                np.random.SeedSequence([sd], spawn_key=(HOLDOUT_STREAM,)).generate_state(1, np.uint64)[0] >> 1
            )
            perm = torch.randperm(t0, generator=torch.Generator().manual_seed(s))
            held.append(perm[:h].sort().values)
            rest.append(perm[h:].sort().values)
        return torch.stack(held).to(self.device), torch.stack(rest).to(self.device)

    # ---- data ---------------------------------------------------------------------------------
    def attach(self, tensors: Mapping[str, Tensor]) -> None:
        """Keep a reference to the current merged data B^k (obs / next_obs [T, N, O], actions [T, N, A], rewards
        [T, N]; rows 0..T0-1 = B^0): rollout start states and the hold-out rows are read from it."""
        obs = tensors["obs"]
        if obs.dim() != 3 or tuple(obs.shape[1:]) != (self.n_agents, self.obs_dim):
            raise ValueError(
                f"attach: obs must be [T, N={self.n_agents}, O={self.obs_dim}], got {tuple(obs.shape)}"
            )
        if obs.shape[0] < self.n_offline:
            raise ValueError(f"attach: {obs.shape[0]} rows, fewer than B^0's {self.n_offline}")
        self._data = {k: tensors[k] for k in ("obs", "actions", "rewards", "next_obs")}

    def _attached(self) -> dict[str, Tensor]:
        if self._data is None:
            raise RuntimeError("BREMEN: call attach(tensors) with the merged data before PPO updates")
        return self._data

    def sample_batch(
        self, tensors: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """One uniform minibatch per member: obs / next_obs [M, B, O], actions [M, B, A], rewards / terminals
        [M, B]. While ``step < bc_updates`` the seed's hold-out rows of B^0 are never drawn (module docstring)."""
        T, B, rows = tensors["obs"].shape[0], self.cfg.batch_size, self.streams.indices
        H = self.holdout.shape[1]
        if self.step < self.cfg.bc_updates and H > 0:
            if T < self.n_offline:
                raise ValueError(f"sample_batch: {T} rows, fewer than B^0's {self.n_offline}")
            # [M, B] among the kept rows: B^0's train rows, then the rest
            j = rows(T - H, B, replace=True, generator=generator)
            n_train = self.train_rows.shape[1]
            own = self.train_rows[self.member_seed[:, None], j.clamp(max=n_train - 1)]  # [M, B]
            idx = torch.where(j < n_train, own, j - n_train + self.n_offline)
        else:
            idx = rows(T, B, replace=True, generator=generator)  # [M, B]
        return gather_members({k: tensors[k] for k in BATCH_KEYS}, idx, self.agents)

    def update(
        self, batch: Mapping[str, Tensor], noise: Mapping[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """One update of all members: a model step on ``batch``, then a BC step on it (the first ``bc_updates``
        calls) or a PPO iteration on fresh imagined rollouts (``noise`` defaults to ``draw_noise()``). During the
        BC stage the hold-out selection runs every ``holdout_every`` updates and at its end, which restores the
        best models. Returns detached [M] metrics every ``log_every`` updates, else {}."""
        c = self.cfg
        out = {"model_loss": self.model_step(batch)}
        if self.step < c.bc_updates:
            out["bc_loss"] = self.bc_step(batch)
        else:
            out.update(self.ppo_step(self.draw_noise() if noise is None else noise))
        self.step += 1
        if (
            self.step <= c.bc_updates
            and self.holdout.shape[1] > 0
            and (self.step % c.holdout_every == 0 or self.step == c.bc_updates)
        ):
            out["holdout_loss"] = self.select_models().view(self.n_members, -1).mean(-1)
            if self.step == c.bc_updates:
                self.restore_best_models()
        if self.step % c.check_finite_every == 0:
            sums = torch.stack([v.sum() for v in out.values()])
            if not bool(torch.isfinite(sums).all()):
                bad = [k for k, v in zip(out, sums.tolist()) if not np.isfinite(v)]
                raise FloatingPointError(
                    f"BREMEN: {bad[0]} is not finite at update {self.step} "
                    f"({ {k: v.tolist() for k, v in out.items()} })"
                )
        return {} if self.step % c.log_every else out

    # ---- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """obs [S, E, N, O] -> the clipped means [S, E, N, A] (numpy in, numpy out); no randomness."""
        return member_act(
            obs,
            self.n_seeds,
            self.n_agents,
            self.obs_dim,
            lambda x: self.actor.mean(x).clamp(-self.cfg.max_action, self.cfg.max_action),
            self.dtype,
            self.device,
        )

    def policy(self) -> Callable[[np.ndarray], np.ndarray]:
        """A callable for common.running.evaluate and deployments: obs [S, E, N, O] -> actions [S, E, N, A] (the mean)."""
        return self.act

    # ---- checkpoints --------------------------------------------------------------------------
    _MODULES = ("actor", "value", "model", "model_best", "buffers", "actor_opt", "value_opt", "model_opt")

    def state_dict(self) -> dict[str, Any]:
        return learner_state(self, self._MODULES)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_learner_state(self, state, self._MODULES, same_seeds=True)  # the hold-out rows follow the seeds


def build_bremen(data, section: Mapping[str, Any], seed: int, device) -> BREMEN:
    """Registry builder: BREMEN for one seed on the dataset B^0 from BREMENConfig fields."""
    return BREMEN.from_dataset(data, BREMENConfig(**dict(section)), seeds=[seed], device=device)


register_learner("bremen", build_bremen)
