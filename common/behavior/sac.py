"""Soft actor-critic, D4RL/rlkit style: the behavior learner of the MuJoCo datasets (issue 21).

D4RL's locomotion data come from rlkit's SAC (``rlkit/torch/sac/sac.py``, ``TanhGaussianPolicy``). What we take
from it (defaults of :class:`SACConfig`):

    actor        a = tanh(u), u ~ N(μ(s), σ(s)²), MLP 2×256 ReLU, log σ clamped to [−20, 2]
    critics      Q¹, Q² MLP 2×256 ReLU on [s, a], targets Q̄ᵏ polyak-averaged with τ = 0.005 after every update
    α            automatic: log α trained on  −log α · (log π(ã|s) + H̄),  H̄ = −|A|  (target entropy)
    target       y = r + γ (1 − terminal) (min_k Q̄ᵏ(s', ã') − α log π(ã'|s')),  ã' ~ π(·|s'),  γ = 0.99
    critic loss  Σ_k mean_b (Qᵏ(s, a) − y)²                  (rlkit: one MSELoss per critic)
    actor loss   mean_b (α log π(ã|s) − min_k Qᵏ(s, ã)),  ã ~ π(·|s) reparameterised
    updates      all three losses from the same minibatch and the same (pre-update) parameters, then one
                 Adam step each (lr 3e-4; rlkit computes every loss before stepping any optimizer)
    init         rlkit's: hidden weights U(±1/√fan) with fan = weight.size(0) of torch's [out, in] layout (rlkit's
                 ``fanin_init`` quirk), hidden biases 0.1, last layers (μ, log σ, Q) weights and biases U(±3e-3)

Where rlkit differs and why we keep ours: log π uses the stable tanh correction 2(log 2 − u − softplus(−2u))
instead of log(1 − tanh²u + 1e-6); the first ``start_steps`` actions are uniform (D4RL's rlkit runs used
the initial policy; the reference specs ask for uniform start steps), and updates begin after
``learning_starts`` transitions, one update per transition (rlkit: 1000 steps then 1000 updates per loop).

**Members.** One learner trains M members = (task, seed) pairs whose tasks have the same observation and
action dims (HalfCheetah and Walker2d: 17/6) as one batched forward/backward (``common.networks.nets`` ensembles:
weights [M, in, out]). Member m has its own initialisation (drawn from its own seed), its own env, its own
buffer rows and its own generators for actions, minibatch indices and the policy noise of the update; losses
are summed over members and Adam is elementwise, so member m of a batched run equals a run of m alone
(tests/test_sac.py; exact up to float summation order).
Checkpoints: :meth:`SAC.state_dict` holds networks, optimizers, log α, the buffer and every generator;
:func:`common.behavior.sac_train.train` adds the envs' MuJoCo states so that a resumed run continues exactly."""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence, cast

import numpy as np
import torch
from torch import Tensor

from common.behavior.replay import load_progress, progress_state
from common.networks.gaussian import tanh_log_det_jacobian
from common.networks.nets import EnsembleLinear, EnsembleMLP, polyak_update
from common.running.fields import Rules, check, low_high, opt
from common.running.validate import is_int, is_num

__all__ = ["SACConfig", "SAC", "SACBuffer", "Member", "Actor"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass
class SACConfig:
    """SAC hyperparameters; defaults = D4RL's rlkit SAC (see the module docstring)."""

    hidden: tuple[int, ...] = opt((256, 256), kind="int", ge=1, seq=True)  # MLP widths of actor and critics
    actor_lr: float = opt(3e-4, kind="num", gt=0)
    critic_lr: float = opt(3e-4, kind="num", gt=0)
    alpha_lr: float = opt(3e-4, kind="num", ge=0)  # 0 = a fixed alpha
    gamma: float = opt(0.99, kind="num", ge=0, le=1)
    tau: float = opt(0.005, kind="num", gt=0, le=1)
    batch_size: int = opt(256, kind="int", ge=1)
    log_std_bounds: tuple[float, float] = opt((-20.0, 2.0), kind="num", seq=True)
    target_entropy: float | None = opt(None, kind="num", none_ok=True)  # None: −|A| (rlkit's default)
    init_alpha: float = opt(1.0, kind="num", gt=0)  # log α starts at log(init_alpha) (rlkit: 0)
    # uniform-random actions for this many transitions per member
    start_steps: int = opt(10_000, kind="int", ge=0)
    # no update before this many transitions per member (rlkit/SpinningUp: 1000)
    learning_starts: int = opt(1_000, kind="int", ge=1)
    # "rlkit" (fanin_init quirk, bias 0.1, last layers U(±3e-3)) | "torch" (nn.Linear default)
    init: str = opt("rlkit", choices=("rlkit", "torch"))
    device: str = opt("cpu", kind="device")
    RULES: ClassVar[Rules] = (low_high("log_std_bounds"),)

    def __post_init__(self) -> None:
        # lists and NumPy values (a card read back from JSON) become the Python tuples the networks and hashes
        # read
        if isinstance(self.hidden, (list, tuple)) and all(is_int(h) for h in self.hidden):
            self.hidden = tuple(int(h) for h in self.hidden)
        if isinstance(self.log_std_bounds, (list, tuple)) and all(is_num(b) for b in self.log_std_bounds):
            self.log_std_bounds = cast("tuple[float, float]", tuple(float(b) for b in self.log_std_bounds))

    def validate(self) -> "SACConfig":
        """The fields' declared rules and ``RULES`` (common.running.fields.check)."""
        return check(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Member:
    """One independent SAC run inside a batched learner."""

    task: str
    seed: int

    def key(self) -> str:
        return f"{self.task}/seed{self.seed}"


class SACBuffer:
    """Preallocated per-member buffer that never wraps (the datasets need every transition ever added):
    ``obs [M, C, O]``, ``actions [M, C, A]``, ``rewards [M, C]``, ``next_obs``, ``terminals [M, C]``,
    ``timeouts [M, C]`` (float32; terminal/timeout as 0/1). Every member adds one transition per step."""

    KEYS = ("obs", "actions", "rewards", "next_obs", "terminals", "timeouts")

    def __init__(self, n_members: int, capacity: int, obs_dim: int, act_dim: int):
        M, C = n_members, int(capacity)
        shapes = {
            "obs": (M, C, obs_dim),
            "actions": (M, C, act_dim),
            "rewards": (M, C),
            "next_obs": (M, C, obs_dim),
            "terminals": (M, C),
            "timeouts": (M, C),
        }
        self.np = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
        self.t = {k: torch.from_numpy(v) for k, v in self.np.items()}  # shares memory
        self.capacity = C
        self.n_added = 0

    def add(self, **step: np.ndarray) -> None:
        if self.n_added >= self.capacity:
            raise ValueError(
                f"SACBuffer is full ({self.capacity} transitions per member); size it to the run"
            )
        for k, v in self.np.items():
            v[:, self.n_added] = step[k]
        self.n_added += 1

    def rows(self, m: int, start: int, stop: int) -> dict[str, np.ndarray]:
        """Member m's transitions [start, stop) (copies)."""
        if not 0 <= start <= stop <= self.n_added:
            raise ValueError(f"rows [{start}, {stop}) outside the {self.n_added} transitions added")
        return {k: v[m, start:stop].copy() for k, v in self.np.items()}

    def state_dict(self) -> dict[str, Any]:
        n = self.n_added
        return {"arrays": {k: v[:, :n].copy() for k, v in self.np.items()}, "n_added": n}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        n = int(sd["n_added"])
        if n > self.capacity:
            raise ValueError(f"checkpoint holds {n} transitions, the buffer only {self.capacity}")
        for k, v in self.np.items():
            v[:, :n] = sd["arrays"][k]
            v[:, n:] = 0
        self.n_added = n


def _relu_mlp(layers: Sequence[torch.nn.Module] | torch.nn.ModuleList, x: Tensor) -> Tensor:
    """Linear -> ReLU, ..., Linear, the ReLUs in place on each layer's fresh output (baddbmm's backward needs its
    inputs, not its output, and ReLU's backward its result: autograd allows it, and it saves an allocation)."""
    last = len(layers) - 1
    for i, lin in enumerate(layers):  # no layers[:-1]: slicing a ModuleList builds a new one at every call
        x = lin(x) if i == last else torch.relu_(lin(x))
    return x


class Actor(torch.nn.Module):
    """Tanh-Gaussian policy: trunk MLP then one linear head to [μ | log σ] (= rlkit's two last layers)."""

    def __init__(self, M: int, O: int, A: int, hidden: Sequence[int]):
        super().__init__()
        self.trunk = EnsembleMLP(M, O, hidden[-1], hidden[:-1], output_activation=torch.nn.ReLU)
        self.head = EnsembleLinear(M, hidden[-1], 2 * A)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        # unclamped [M, *, A] each
        mu, log_std = _relu_mlp([*self.trunk.layers, self.head], obs).chunk(2, dim=-1)
        return mu, log_std


class _Critic(torch.nn.Module):
    """The twin critics Q¹, Q² (each an ensemble over the M SAC members)."""

    def __init__(self, M: int, O: int, A: int, hidden: Sequence[int]):
        super().__init__()
        self.q1 = EnsembleMLP(M, O + A, 1, hidden)
        self.q2 = EnsembleMLP(M, O + A, 1, hidden)

    def forward(self, obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.cat([obs, act], dim=-1)
        # [M, *] each
        return _relu_mlp(self.q1.layers, x).squeeze(-1), _relu_mlp(self.q2.layers, x).squeeze(-1)

    def twin_layers(self, k: int, m: int) -> list[tuple[EnsembleLinear, int]]:
        """(layer, member index) of Qᵏ⁺¹ of SAC member m, input layer first."""
        # typed items
        return [(lin, m) for lin in cast("Sequence[EnsembleLinear]", (self.q1, self.q2)[k].layers)]


@torch.no_grad()
def _init_member(layers: Sequence[tuple[EnsembleLinear, int]], gen: torch.Generator, style: str) -> None:
    """Initialise the given (layer, ensemble index) pairs, in order, from ``gen`` alone (rlkit or torch style);
    the last pair is the output layer."""
    for i, (lin, m) in enumerate(layers):
        assert lin.bias is not None, "SAC's layers have biases"
        w, b = lin.weight[m], lin.bias[m]  # [I, O], [1, O]
        if style == "torch":
            bound = 1.0 / math.sqrt(lin.in_features)
            w.uniform_(-bound, bound, generator=gen)
            b.uniform_(-bound, bound, generator=gen)
        elif i == len(layers) - 1:
            w.uniform_(-3e-3, 3e-3, generator=gen)
            b.uniform_(-3e-3, 3e-3, generator=gen)
        else:  # rlkit fanin_init: bound 1/sqrt(weight.size(0)) of the [out, in] weight = 1/sqrt(out)
            bound = 1.0 / math.sqrt(lin.out_features)
            w.uniform_(-bound, bound, generator=gen)
            b.fill_(0.1)


def _adam(groups: list[dict[str, Any]]) -> torch.optim.Adam:
    """One Adam over the parameter groups (each with its own lr; Adam is elementwise, so one optimizer over three
    groups is three optimizers), with the fused kernel: one pass over every parameter's elements instead of ~10
    tensor ops each, the same update up to float rounding."""
    return torch.optim.Adam(groups, fused=True)


class SAC:
    """M members of SAC in one batched learner (see the module docstring).

    ``act(obs [M, O], deterministic)`` -> actions [M, A] (numpy); ``update()`` samples the buffer and does
    one update of critics, actor and α for every member."""

    def __init__(self, members: Sequence[Member], obs_dim: int, act_dim: int, cfg: SACConfig, capacity: int):
        cfg.validate()
        self.members = [Member(str(m.task), int(m.seed)) for m in members]
        if not self.members:
            raise ValueError("SAC needs at least one member")
        if len(set(self.members)) != len(self.members):
            raise ValueError(f"duplicate members: {[m.key() for m in self.members]}")
        self.cfg, self.O, self.A, self.M = cfg, int(obs_dim), int(act_dim), len(self.members)
        self.device = torch.device(cfg.device)
        M, O, A, H = self.M, self.O, self.A, cfg.hidden
        self.actor = Actor(M, O, A, H)
        self.critic = _Critic(M, O, A, H)
        for m, mem in enumerate(self.members):  # order: actor, Q¹, Q², each input layer first
            gen = torch.Generator().manual_seed(_stream(mem, 0))
            _init_member([(lin, m) for lin in (*self.actor.trunk.layers, self.actor.head)], gen, cfg.init)
            _init_member(self.critic.twin_layers(0, m), gen, cfg.init)
            _init_member(self.critic.twin_layers(1, m), gen, cfg.init)
        self.critic_targ = copy.deepcopy(self.critic)
        for p in self.critic_targ.parameters():
            p.requires_grad_(False)
        self.log_alpha = torch.full((M,), math.log(cfg.init_alpha), requires_grad=True)
        for mod in (self.actor, self.critic, self.critic_targ):
            mod.to(self.device)
        self.log_alpha = self.log_alpha.detach().to(self.device).requires_grad_(True)
        # built once: parameters() walks the module tree, ~3 % of a 1-member update
        self._actor_params, self._critic_params, self._critic_targ_params = (
            list(m.parameters()) for m in (self.actor, self.critic, self.critic_targ)
        )
        self.opt = _adam(
            [
                {"params": self._actor_params, "lr": cfg.actor_lr},
                {"params": self._critic_params, "lr": cfg.critic_lr},
                {"params": [self.log_alpha], "lr": cfg.alpha_lr},
            ]
        )
        self.target_entropy = float(-A if cfg.target_entropy is None else cfg.target_entropy)
        self.buffer = SACBuffer(M, capacity, O, A)
        # per member: actions (numpy), minibatch indices and update noise (torch)
        self.np_rngs = [np.random.default_rng(_stream(mem, 1)) for mem in self.members]
        self.torch_rngs = [torch.Generator().manual_seed(_stream(mem, 2)) for mem in self.members]
        self.n_updates = 0
        self.env_steps = 0  # transitions per member added by the trainer

    # ---- policy -------------------------------------------------------------------------------------
    def _dist(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        mu, log_std = self.actor(obs)
        lo, hi = self.cfg.log_std_bounds
        return mu, log_std.clamp(lo, hi)

    def _noise(self, shape_mid: tuple[int, ...]) -> Tensor:
        """Standard normal [M, *shape_mid, A], member m's block from member m's generator."""
        eps = torch.cat([torch.randn((1, *shape_mid, self.A), generator=g) for g in self.torch_rngs])
        return eps.to(self.device)

    def _sample(self, obs: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
        """Reparameterised tanh-Gaussian sample and its log-density: ([M, *, A], [M, *])."""
        mu, log_std = self._dist(obs)
        u = mu + eps * log_std.exp()
        logp = (-0.5 * eps.square() - log_std - _LOG_SQRT_2PI).sum(-1) - tanh_log_det_jacobian(u)
        return torch.tanh(u), logp

    @torch.no_grad()
    def act(
        self, obs: np.ndarray, deterministic: bool = False, actor: torch.nn.Module | None = None
    ) -> np.ndarray:
        """obs [M, *, O] -> actions [M, *, A] in [−1, 1]: tanh(μ) when deterministic, else a sample whose noise
        comes from each member's numpy generator (so acting never touches the update's streams)."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        mu, log_std = (actor or self.actor)(x)
        if deterministic:
            return torch.tanh(mu).cpu().numpy()
        lo, hi = self.cfg.log_std_bounds
        mid = tuple(x.shape[1:-1])
        eps = np.stack([r.standard_normal((*mid, self.A)) for r in self.np_rngs]).astype(np.float32)
        u = mu + torch.from_numpy(eps).to(self.device) * log_std.clamp(lo, hi).exp()
        return torch.tanh(u).cpu().numpy()

    def random_actions(self) -> np.ndarray:
        """Uniform actions [M, A] in [−1, 1], member m's from its own generator."""
        return np.stack([r.uniform(-1.0, 1.0, size=self.A) for r in self.np_rngs]).astype(np.float32)

    def actor_snapshot(self) -> dict[str, Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.actor.state_dict().items()}

    def snapshot_actor(self, snapshot: dict[str, Tensor]) -> torch.nn.Module:
        """An actor module holding ``snapshot``'s weights (all members), for :meth:`act` with ``actor=``."""
        a = Actor(self.M, self.O, self.A, self.cfg.hidden)
        a.load_state_dict(snapshot)
        return a.to(self.device)

    # ---- learning -----------------------------------------------------------------------------------
    def sample(self) -> dict[str, Tensor]:
        """A minibatch [M, B, ...]: member m's indices drawn from its own generator over its own rows."""
        B, n = self.cfg.batch_size, self.buffer.n_added
        if n == 0:
            raise ValueError("the buffer is empty")
        idx = torch.stack([torch.randint(0, n, (B,), generator=g) for g in self.torch_rngs])  # [M, B]
        rows = torch.arange(self.M)[:, None]
        return {k: v[rows, idx].to(self.device) for k, v in self.buffer.t.items()}

    def losses(self, b: dict[str, Tensor], eps: Tensor | None = None) -> dict[str, Tensor]:
        """The three losses (summed over members, mean over the batch) from one minibatch.

        eps: standard-normal noise [2, M, B, A] for the sample at s and at s' (default: drawn)."""
        B = b["obs"].shape[1]
        if eps is None:
            eps = torch.stack([self._noise((B,)), self._noise((B,))])
        a_new, logp = self._sample(b["obs"], eps[0])  # [M, B, A], [M, B]
        alpha_loss = -(self.log_alpha[:, None] * (logp + self.target_entropy).detach()).mean(1).sum()
        alpha = self.log_alpha.detach().exp()[:, None]  # [M, 1]
        q1n, q2n = self.critic(b["obs"], a_new)
        actor_loss = (alpha * logp - torch.min(q1n, q2n)).mean(1).sum()
        with torch.no_grad():
            a2, logp2 = self._sample(b["next_obs"], eps[1])
            t1, t2 = self.critic_targ(b["next_obs"], a2)
            y = b["rewards"] + self.cfg.gamma * (1.0 - b["terminals"]) * (torch.min(t1, t2) - alpha * logp2)
        q1, q2 = self.critic(b["obs"], b["actions"])
        critic_loss = ((q1 - y).square().mean(1) + (q2 - y).square().mean(1)).sum()
        return {
            "critic_loss": critic_loss,
            "actor_loss": actor_loss,
            "alpha_loss": alpha_loss,
            "q1": q1.detach().mean(1),
            "entropy": -logp.detach().mean(1),
            "alpha": alpha.squeeze(1),
        }

    def update(self, batch: dict[str, Tensor] | None = None, eps: Tensor | None = None) -> dict[str, Tensor]:
        """One SAC update of every member; returns the losses and per-member diagnostics."""
        out = self.losses(self.sample() if batch is None else batch, eps)
        self.opt.zero_grad(set_to_none=True)
        # each loss only into its own parameters (the actor loss also reaches the critics: not their gradient)
        out["actor_loss"].backward(inputs=self._actor_params)
        out["critic_loss"].backward(inputs=self._critic_params)
        out["alpha_loss"].backward(inputs=[self.log_alpha])
        self.opt.step()
        polyak_update(self._critic_targ_params, self._critic_params, self.cfg.tau)
        self.n_updates += 1
        return {k: v.detach() for k, v in out.items()}

    # ---- checkpoints --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A deep copy of everything that determines the continuation (networks, optimizers, α, buffer, generators)."""
        return copy.deepcopy(
            {
                "config": self.cfg.to_dict(),
                "members": [dataclasses.asdict(m) for m in self.members],
                "actor": self.actor.state_dict(),
                "critic": self.critic.state_dict(),
                "critic_targ": self.critic_targ.state_dict(),
                "log_alpha": self.log_alpha.detach().cpu(),
                "opt": self.opt.state_dict(),
                **progress_state(self),
            }
        )

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        mine = [dataclasses.asdict(m) for m in self.members]
        if sd["members"] != mine:
            raise ValueError(f"checkpoint members {sd['members']} != learner members {mine}")
        for k in ("actor", "critic", "critic_targ", "opt"):
            getattr(self, k).load_state_dict(sd[k])
        with torch.no_grad():
            self.log_alpha.copy_(sd["log_alpha"].to(self.device))
        load_progress(self, sd)


def _stream(member: Member, k: int) -> int:
    """Seed of member's k-th random stream (0 init, 1 actions, 2 update); depends on the member alone."""
    h = sum((i + 1) * ord(c) for i, c in enumerate(member.task))  # stable across processes (no hash())
    return (int(member.seed) * 1_000_003 + h * 101 + k) % (2**63 - 1)
