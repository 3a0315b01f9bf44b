"""Online MATD3: the behavior learner that generates offline datasets.

Paper: Ackermann, Gabler, Osa, Sugiyama, "Reducing Overestimation Bias in Multi-Agent Domains Using
Double Centralized Critics" (2019) = MADDPG (Lowe et al. 2017) with TD3's three fixes
(Fujimoto et al. 2018). OMAR (§5.1, docs/omar_official_code.md#protocol) generates its MPE and HalfCheetah data
with MATD3 behavior policies; the generation code is not released, so the defaults below follow
the MADDPG/MPE convention (hidden 64, γ 0.95, τ 0.01, batch 1024; maddpg-pytorch, which OMAR's code
is built on) and TD3's MuJoCo convention (hidden 256, lr 3e-4, γ 0.99, τ 0.005, batch 256,
25k random start steps); see :func:`MATD3Config.preset`.

For agent i of seed s (member m = s·N + i, seed-major as :func:`common.datasets.sampling.member_agents`):

    actor        a_i = π_i(o_i)                                       decentralized, deterministic
    critic       Q_i^{1,2}(x, a_1..a_N), x = [o_1..o_N] (joint obs)   centralized, per-agent reward
    target       y_i = r_i + γ (1 − terminal) min_k Q_i'^k(x', ã'_1..ã'_N),
                 ã'_j = clip(π_j'(o'_j) + clip(ε, −c, c), low, high),  ε ~ N(0, σ̃²)   (smoothing)
    critic loss  Σ_k (Q_i^k(x, a) − y_i)²                              (mean over the batch)
    actor loss   −Q_i^1(x, a_1..π_i(o_i)..a_N)                         every `policy_delay` updates
    targets      polyak(τ) on actors and critics after each actor update (TD3)

Timeouts bootstrap (only ``terminated`` stops the bootstrap), as in TD3. All S·N members are one
batched forward/backward (``common.networks.nets`` ensembles); every seed has its own env copies, its own
buffer rows, its own sampling / noise generators and its own network initialisation, so seed s of
a run with seeds [0, 1, 2] behaves as a run with seeds [s] alone (tests/test_behavior.py).

Checkpoints: :meth:`MATD3.state_dict` holds networks, optimizers, the replay buffer, counters and
every random generator. The envs are not part of it: :func:`train` resumed from a learner starts
fresh episodes (env RNG best-effort: reset with seeds derived from the step count).
The replay buffer is in common/behavior/replay.py, the training loop in common/behavior/matd3_train.py.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from common.behavior.replay import ReplayBuffer, load_progress, progress_state
from common.networks.heads import DeterministicActor, TwinCritic
from common.networks.nets import adam, clip_grad_norm_, load_member, member_state, polyak_update
from common.running.fields import Rules, check, opt
from common.running.validate import is_int

__all__ = ["MATD3Config", "MATD3"]


@dataclass
class MATD3Config:
    """MATD3 hyperparameters. Defaults = the MPE preset (MADDPG/maddpg-pytorch convention)."""

    # MLP widths of actor and critic (maddpg-pytorch: 64; TD3 MuJoCo: 256)
    hidden: tuple[int, ...] = opt((64, 64), kind="int", ge=1, seq=True)
    # Adam. maddpg-pytorch uses 1e-2 with 1 update / 100 steps; we update every `train_freq` steps, where 1e-2
    # was
    # unstable in our runs; TD3 MuJoCo: 3e-4
    actor_lr: float = opt(1e-3, kind="num", gt=0)
    critic_lr: float = opt(1e-3, kind="num", gt=0)
    gamma: float = opt(0.95, kind="num", ge=0, le=1)  # MPE convention (OMAR's code, MADDPG); MuJoCo: 0.99
    # polyak rate of the targets (maddpg-pytorch 0.01; TD3 0.005)
    tau: float = opt(0.01, kind="num", gt=0, le=1)
    batch_size: int = opt(1024, kind="int", ge=1)  # per member (maddpg-pytorch 1024; TD3 256)
    # replay capacity per seed, in transitions (OMAR: 1e6)
    buffer_size: int = opt(1_000_000, kind="int", ge=1)
    # Gaussian exploration std, as a fraction of the action bound (TD3: 0.1)
    expl_noise: float = opt(0.1, kind="num", ge=0)
    # target policy smoothing std (TD3), fraction of the action bound
    target_noise: float = opt(0.2, kind="num", ge=0)
    # target smoothing clip (TD3), fraction of the action bound
    noise_clip: float = opt(0.5, kind="num", ge=0)
    # actor and target updates every `policy_delay` critic updates (TD3)
    policy_delay: int = opt(2, kind="int", ge=1)
    # uniform-random actions for this many transitions per seed (TD3 MuJoCo: 25k)
    start_steps: int = opt(1000, kind="int", ge=0)
    # no update before the buffer holds this many transitions per seed
    learning_starts: int = opt(1000, kind="int", ge=0)
    train_freq: int = opt(4, kind="int", ge=1)  # an update round every `train_freq` transitions per seed
    # updates per round (updates per transition = gradient_steps / train_freq)
    gradient_steps: int = opt(1, kind="int", ge=0)
    # per-member grad-norm clip (maddpg-pytorch: 0.5); None = off
    grad_clip: float | None = opt(0.5, kind="num", gt=0, none_ok=True)
    # the critic learns Q of reward_scale * r (evaluation and data keep r)
    reward_scale: float = opt(1.0, kind="num", gt=0)
    # env copies per seed stepped together (transitions per env step per seed)
    n_envs: int = opt(1, kind="int", ge=1)
    eval_every: int = opt(5000, kind="int", ge=0)  # evaluate every this many transitions per seed (0 = never)
    eval_episodes: int = opt(10, kind="int", ge=1)  # deterministic evaluation episodes per seed
    # keep env.state() in the buffer (for medium-replay datasets with state)
    store_state: bool = opt(True, kind="bool")
    # centralized critic input: "obs" = all agents' observations (MADDPG/maddpg-pytorch on MPE); "state" =
    # the env's global state (MaMuJoCo: OMAR's HalfCheetah agents see only their own 3 joints, so the joint
    # observations miss the root velocity the reward is made of; a critic over the 17-dim state, as the
    # MaMuJoCo CTDE learners (FACMAC, MAPPO) use, has the whole Markov state)
    critic_input: str = opt("obs", choices=("obs", "state"))
    device: str = opt("cpu", kind="device")
    RULES: ClassVar[Rules] = (
        (lambda c: c.critic_input != "state" or c.store_state, "critic_input='state' needs store_state=True"),
        (
            lambda c: c.train_freq % c.n_envs == 0 or c.n_envs % c.train_freq == 0,
            "train_freq={c.train_freq} and n_envs={c.n_envs} must divide one another",
        ),
    )

    def __post_init__(self) -> None:
        if isinstance(self.hidden, (list, tuple)) and all(is_int(h) for h in self.hidden):
            self.hidden = tuple(int(h) for h in self.hidden)  # lists and NumPy ints as a tuple of Python ints

    PRESETS = {
        "mpe": {},
        "mamujoco": dict(
            hidden=(256, 256),
            actor_lr=3e-4,
            critic_lr=3e-4,
            gamma=0.99,
            tau=0.005,
            batch_size=256,
            start_steps=25_000,
            learning_starts=25_000,
            train_freq=1,
            gradient_steps=1,
            grad_clip=None,
            eval_every=5000,
            eval_episodes=5,
        ),
    }

    @classmethod
    def preset(cls, env_name: str, **overrides) -> "MATD3Config":
        """The preset of an env family (``mamujoco/*`` -> "mamujoco", everything else -> "mpe")."""
        fam = "mamujoco" if env_name.startswith("mamujoco/") else "mpe"
        return cls(**{**cls.PRESETS[fam], **overrides}).validate()

    def validate(self) -> "MATD3Config":
        """The fields' declared rules and ``RULES`` (common.running.fields.check)."""
        return check(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class MATD3:
    """S seeds x N agents of MATD3 in one batched learner (see the module docstring).

    ``act(obs [S, *, N, O], noise_std)`` -> actions [S, *, N, A] (numpy), ``update()`` samples the
    buffer and does one critic update (and every ``policy_delay``-th an actor + target update)."""

    def __init__(self, spec, cfg: MATD3Config, seeds: Sequence[int]):
        cfg.validate()
        self.spec, self.cfg, self.seeds = spec, cfg, [int(s) for s in seeds]
        if spec.discrete:
            raise ValueError(f"MATD3 needs continuous actions; {spec.name} is discrete")
        S, N, O, A = len(self.seeds), spec.n_agents, spec.obs_dim, spec.act_dim
        self.S, self.N, self.O, self.A, self.M = S, N, O, A, S * N
        self.device = torch.device(cfg.device)
        self.max_action = float(spec.act_high)
        if abs(spec.act_low + spec.act_high) > 1e-9:
            raise ValueError(f"MATD3 assumes symmetric action bounds, got [{spec.act_low}, {spec.act_high}]")
        self.agents = torch.arange(N).repeat(S)  # [M] agent of each member
        self.seed_of = torch.arange(S).repeat_interleave(N)  # [M] seed slot of each member
        self.act_mask = torch.as_tensor(spec.act_mask(), dtype=torch.float32, device=self.device)  # [N, A]
        if cfg.critic_input == "state" and not spec.state_dim:
            raise ValueError(
                f"MATD3: critic_input='state' but {spec.name} has no global state (state_dim={spec.state_dim})"
            )
        X = spec.state_dim if cfg.critic_input == "state" else N * O  # critic's observation input

        def build():
            actor = DeterministicActor(self.M, O, A, cfg.hidden, max_action=self.max_action)
            critic = TwinCritic(self.M, X, N * A, cfg.hidden)
            return actor, critic

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.actor, self.critic = build()
            # seed s's members are initialised from seed s alone (a run's seed s is independent of the others)
            for s, seed in enumerate(self.seeds):
                torch.manual_seed(seed)
                a1 = DeterministicActor(N, O, A, cfg.hidden, max_action=self.max_action)
                c1 = TwinCritic(N, X, N * A, cfg.hidden)
                for i in range(N):
                    load_member(self.actor, s * N + i, member_state(a1, i))
                    load_member(self.critic, s * N + i, member_state(c1, i))
            self.actor_targ, self.critic_targ = build()
        self.actor_targ.load_state_dict(self.actor.state_dict())
        self.critic_targ.load_state_dict(self.critic.state_dict())
        for m in (self.actor, self.critic, self.actor_targ, self.critic_targ):
            m.to(self.device)
            for p in (self.actor_targ.parameters(), self.critic_targ.parameters()):
                for q in p:
                    q.requires_grad_(False)
        self.actor_opt = adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), lr=cfg.critic_lr)
        self.buffer = ReplayBuffer(S, cfg.buffer_size, N, O, A, spec.state_dim if cfg.store_state else None)
        # one generator per seed: exploration noise (numpy), minibatch indices and target noise (torch)
        self.np_rngs = [np.random.default_rng([seed, 1]) for seed in self.seeds]
        self.torch_rngs = [torch.Generator().manual_seed(seed * 7919 + 17) for seed in self.seeds]
        self.n_updates = 0
        self.env_steps = 0  # transitions per seed seen by train()

    # ---- acting -------------------------------------------------------------------------------
    def _to_members(self, obs: np.ndarray) -> tuple[torch.Tensor, tuple]:
        """obs [S, *, N, O] -> [M, E, O] with E = prod(*)."""
        obs = np.asarray(obs, dtype=np.float32)
        S, N, O = self.S, self.N, self.O
        mid = obs.shape[1:-2]
        x = torch.from_numpy(obs.reshape(S, -1, N, O)).to(self.device)  # [S, E, N, O]
        return x.permute(0, 2, 1, 3).reshape(self.M, -1, O), mid

    @torch.no_grad()
    def act(self, obs: np.ndarray, noise_std: float = 0.0, actor=None) -> np.ndarray:
        """obs [S, *, N, O] -> actions [S, *, N, A] in the bounds; Gaussian noise std = noise_std ×
        max_action drawn from each seed's own generator (none drawn when noise_std == 0)."""
        x, mid = self._to_members(obs)  # [M, E, O]
        a = (actor or self.actor)(x)  # [M, E, A]
        E = a.shape[1]
        a = a.reshape(self.S, self.N, E, self.A).permute(0, 2, 1, 3).cpu().numpy()  # [S, E, N, A]
        if noise_std > 0:
            eps = np.stack(
                [r.normal(0.0, noise_std * self.max_action, size=a.shape[1:]) for r in self.np_rngs]
            )
            a = np.clip(a + eps, -self.max_action, self.max_action)
        a = a * self.spec.act_mask()  # padded action dims stay 0
        return a.reshape(self.S, *mid, self.N, self.A).astype(np.float32)

    def random_actions(self, shape_mid: tuple) -> np.ndarray:
        """Uniform actions [S, *shape_mid, N, A] from each seed's generator."""
        a = np.stack(
            [
                r.uniform(-self.max_action, self.max_action, size=(*shape_mid, self.N, self.A))
                for r in self.np_rngs
            ]
        )
        return (a * self.spec.act_mask()).astype(np.float32)

    def actor_snapshot(self) -> dict[str, torch.Tensor]:
        """A copy of the actors' parameters (all members)."""
        return {k: v.detach().clone() for k, v in self.actor.state_dict().items()}

    def seed_policy(
        self, seed_index: int, snapshot: dict | None = None
    ) -> Callable[[np.ndarray], np.ndarray]:
        """Deterministic policy of one seed slot: obs [*, N, O] -> actions [*, N, A] (numpy).
        ``snapshot`` (from :meth:`actor_snapshot`) selects past weights; default the current ones."""
        sd = self.actor_snapshot() if snapshot is None else snapshot
        N, O, A = self.N, self.O, self.A
        actor = DeterministicActor(N, O, A, self.cfg.hidden, max_action=self.max_action).to(self.device)
        full = DeterministicActor(self.M, O, A, self.cfg.hidden, max_action=self.max_action)
        full.load_state_dict(sd)
        for i in range(N):
            load_member(actor, i, member_state(full, seed_index * N + i))
        mask = self.spec.act_mask()

        @torch.no_grad()
        def policy(obs: np.ndarray) -> np.ndarray:
            obs = np.asarray(obs, dtype=np.float32)
            mid = obs.shape[:-2]
            x = torch.from_numpy(obs.reshape(-1, N, O)).to(self.device).transpose(0, 1)  # [N, E, O]
            a = actor(x).transpose(0, 1).cpu().numpy() * mask  # [E, N, A]
            return a.reshape(*mid, N, A).astype(np.float32)

        return policy

    # ---- learning -----------------------------------------------------------------------------
    def sample(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """idx [M, B] (per seed generator) and the joint batch obs [M, B, N, O], ... ."""
        B, N = self.cfg.batch_size, self.N
        size = self.buffer.size
        idx = torch.cat([torch.randint(0, size, (N, B), generator=g) for g in self.torch_rngs])  # [M, B]
        rows = self.seed_of[:, None]
        skip = () if self.cfg.critic_input == "state" else ("state", "next_state")
        batch = {k: v[rows, idx].to(self.device) for k, v in self.buffer.t.items() if k not in skip}
        return idx, batch

    def _critic_x(self, b: dict[str, torch.Tensor], nxt: bool = False) -> torch.Tensor:
        """The critic's observation input [M, B, X]: the joint observations or the global state."""
        if self.cfg.critic_input == "state":
            return b["next_state" if nxt else "state"]
        o = b["next_obs" if nxt else "obs"]
        return o.reshape(o.shape[0], o.shape[1], -1)

    def _joint_target_actions(self, next_obs: torch.Tensor) -> torch.Tensor:
        """next_obs [M, B, N, O] -> smoothed target actions of every agent of the member's seed [M, B, N, A].

        Actor member (s, j) runs on agent j's columns of the N batches of seed s: one batched forward."""
        S, N, O, A = self.S, self.N, self.O, self.A
        B = next_obs.shape[1]
        # [(s,j), (i,b), O]
        x = next_obs.reshape(S, N, B, N, O).permute(0, 3, 1, 2, 4).reshape(self.M, N * B, O)
        a = self.actor_targ(x)  # [M=(s,j), N*B, A]
        a = a.reshape(S, N, N, B, A).permute(0, 2, 3, 1, 4).reshape(self.M, B, N, A)  # [(s,i), b, j, A]
        c, ma = self.cfg.noise_clip * self.max_action, self.max_action
        eps = torch.cat([torch.randn((N, B, N, A), generator=g) for g in self.torch_rngs]).to(self.device)
        eps = (eps * self.cfg.target_noise * ma).clamp_(-c, c)
        return ((a + eps).clamp_(-ma, ma)) * self.act_mask  # [M, B, N, A]

    def critic_loss(self, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Σ_m mean_b Σ_k (Q_i^k(x, a) − y_i)², y_i = r_i + γ(1 − term) min_k Q_i'^k(x', ã'). Returns (loss, q1 [M, B])."""
        M, B = self.M, self.cfg.batch_size
        act, next_obs = b["actions"], b["next_obs"]  # [M, B, N, A], [M, B, N, O]
        # [M, B]
        r = b["rewards"].gather(2, self.agents.to(self.device).view(M, 1, 1).expand(M, B, 1)).squeeze(2)
        r = r * self.cfg.reward_scale
        with torch.no_grad():
            a2 = self._joint_target_actions(next_obs)
            q1t, q2t = self.critic_targ(self._critic_x(b, nxt=True), a2.reshape(M, B, -1))  # [M, B, 1]
            y = r + self.cfg.gamma * (1.0 - b["terminals"]) * torch.min(q1t, q2t).squeeze(-1)  # [M, B]
        q1, q2 = self.critic(self._critic_x(b), act.reshape(M, B, -1))
        loss = ((q1.squeeze(-1) - y).square().mean(1) + (q2.squeeze(-1) - y).square().mean(1)).sum()
        return loss, q1.detach().squeeze(-1)

    def actor_loss(self, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ_m −mean_b Q_i^1(x, a_{−i}, π_i(o_i)): member (s, i) replaces only its own agent's action."""
        M, B, N = self.M, self.cfg.batch_size, self.N
        obs, act = b["obs"], b["actions"]  # [M, B, N, O], [M, B, N, A]
        ag = self.agents.to(self.device)
        own_obs = obs[torch.arange(M), :, ag]  # [M, B, O]
        pi = self.actor(own_obs) * self.act_mask[ag][:, None]  # [M, B, A]
        onehot = F.one_hot(ag, N).to(obs.dtype).view(M, 1, N, 1)  # [M, 1, N, 1]
        joint = act * (1 - onehot) + pi.unsqueeze(2) * onehot  # [M, B, N, A]
        q = self.critic.q1(self._critic_x(b), joint.reshape(M, B, -1))  # [M, B, 1]
        return -q.squeeze(-1).mean(1).sum()

    def update(self, batch: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """One critic update, and every `policy_delay`-th an actor + polyak update. Metrics are tensors [M]."""
        if batch is None:
            _, batch = self.sample()
        cfg = self.cfg
        closs, q1 = self.critic_loss(batch)
        self.critic_opt.zero_grad(set_to_none=True)
        closs.backward()
        if cfg.grad_clip is not None:
            clip_grad_norm_(self.critic, cfg.grad_clip, self.M)
        self.critic_opt.step()
        self.n_updates += 1
        out = {"critic_loss": closs.detach(), "q1": q1.mean(1)}
        if self.n_updates % cfg.policy_delay == 0:
            aloss = self.actor_loss(batch)
            self.actor_opt.zero_grad(set_to_none=True)
            aloss.backward()
            if cfg.grad_clip is not None:
                clip_grad_norm_(self.actor, cfg.grad_clip, self.M)
            self.actor_opt.step()
            polyak_update(self.actor_targ, self.actor, cfg.tau)
            polyak_update(self.critic_targ, self.critic, cfg.tau)
            out["actor_loss"] = aloss.detach()
        return out

    # ---- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A deep copy (torch's optimizer state_dict shares tensors with the live optimizer, and
        Optimizer.load_state_dict keeps them shared: a shallow checkpoint would alias two learners)."""
        return copy.deepcopy(
            {
                "config": self.cfg.to_dict(),
                "seeds": list(self.seeds),
                "actor": self.actor.state_dict(),
                "critic": self.critic.state_dict(),
                "actor_targ": self.actor_targ.state_dict(),
                "critic_targ": self.critic_targ.state_dict(),
                "actor_opt": self.actor_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict(),
                **progress_state(self),
            }
        )

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        if list(sd["seeds"]) != self.seeds:
            raise ValueError(f"checkpoint seeds {sd['seeds']} != learner seeds {self.seeds}")
        for k in ("actor", "critic", "actor_targ", "critic_targ", "actor_opt", "critic_opt"):
            getattr(self, k).load_state_dict(sd[k])
        load_progress(self, sd)
