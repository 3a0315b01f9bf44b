"""Balanced Replay as a sampling strategy: a learned density ratio sets proportional priorities over B^k, batched
over members = seeds x agents. OTC's baseline sampler of Figures 5 and 8 (no pessimistic Q-ensemble).

Paper: Lee, Seo, Lee, Abbeel & Shin, "Offline-to-Online Reinforcement Learning via Balanced Replay and Pessimistic
Q-Ensemble", CoRL 2021 (the balanced experience replay). Official code consulted (read, not copied):
shlee94/Off2OnRL: rlkit/rlkit/torch/sac/ours.py (w loss, priority update), rlkit/rlkit/core/batch_rl_algorithm.py
(OurRLAlgorithm: batch sizes, the initial max priority), rlkit/rlkit/data_management/prioritized_replay_buffer.py
(proportional sum tree, running max), rlkit/examples/ours.py (defaults, the w net). "[P]" marks what the paper
or that code fixes, "[I]" a choice of ours where both are silent.

Per member, B^k = the offline rows B^0 (indices [0, |B^0|)) followed by the online rows of deployments 1..k:
  density ratio   w_psi(s, a_i) = ReLU(MLP_{256,256}(s, a_i)) ~ d_on / d_off, last bias 1, Adam 3e-4          [P]
  its loss        L(psi) = E_off[-log(2 / (w + 1) + 1e-10)] - E_on[log(2 w / (w + 1) + 1e-10)]    [P, JS form]
                  on 256 rows uniform from B^0 and 256 uniform from the online part; the minimiser is
                  w = p_on / p_off (tests: T13)                                                                [P]
  sampling        P(j) = p_j / sum_l p_l over all rows of B^k, with replacement                  [P; iid draws: I]
  new priority    p_j = clamp(w_j^{1/T} / (mean_off w^{1/T} + 1e-10), 1e-3, 1e3), T = 5, for the rows j just
                  used by the learner; mean_off runs over the offline density batch of the same update         [P]
  entering rows   offline rows p = 1; online rows p = max_p, where max_p starts at |B^0| f / ((1 - f) |D^1|),
                  f = 0.5, so the online share of P right after deployment 1 is f (Off2OnRL writes its
                  first online set's size, 1000 steps, as a constant N = 1000)                                 [P]

Decisions where the paper and code are silent, and our readings of the code [I]:
- max_p is per member: max(|B^0| f / ((1 - f) |D^1|), every priority assigned so far by ``set_priorities``); the
  first ``add_online`` sets the initial value from its size |D^1| (Off2OnRL: ``max`` overwritten by the initial
  value, then a running max of the updates; the offline rows' initial 1 does not count).
- Order inside one learner update, as Off2OnRL: both w of the used rows and mean_off come from the net *before*
  that update's density step, so call ``update_priorities`` before ``update_density``.
- ``sample`` draws n iid indices (our reproduction spec); Off2OnRL draws one per 1/n slice of the total
  (stratified, as Rainbow's buffer), available as ``stratified=True``: the same expected count n P(j) of each
  row in a batch, with less spread.
- Duplicate indices in one ``set_priorities`` call: the last occurrence wins (deterministically).
- The sampler is a batched sum tree of fan-out ``block``: leaves = priorities float32 [M, C'] (Off2OnRL's tree is
  float32 too), inner sums float64. A draw descends with u ~ U[0, total) from the caller's generator; at a node,
  the child is the first whose inclusive cumsum exceeds u, capped at the last child with mass (so rounding never
  selects an empty row; rows at or beyond ``size`` have p = 0 and are never drawn). Writes recompute the touched
  sums bottom-up. Fan-out 32 by measurement at M = 15, |B^k| = 1.1e6, n = 256, one CPU thread of a shared
  2-core machine: 2-5 ms a draw and 1-3 ms a priority write, 10-15x less than with 1024-row blocks.
- Hidden layers keep common.networks.nets' ``nn.Linear`` default init (rlkit: fanin_init weights, zero biases); the last
  layer's weights are U(+-3e-3) as rlkit's Mlp, its bias 1 [P].

Shapes: M members, R rows, n drawn indices, O obs dim, A action dim, C capacity (max rows of B^k), K children.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from common.networks.nets import EnsembleMLP, adam
from common.running.fields import Rules, check, opt, ordered

__all__ = ["BalancedReplayConfig", "BalancedReplay", "br_loss", "priority_from_density"]

LOG_EPS = 1e-10  # inside both logs of the loss [P ours.py]
NORM_EPS = 1e-10  # added to mean_off w^{1/T} [P ours.py]


@dataclass
class BalancedReplayConfig:
    """Balanced Replay's settings; defaults = Off2OnRL's (examples/ours.py, OursTrainer) unless marked [I]."""

    # w_psi widths [P layer_size 256, 2 hidden layers]
    hidden: Sequence[int] = opt((256, 256), kind="int", ge=1, seq=True)
    lr: float = opt(3e-4, kind="num", gt=0)  # Adam lr of w_psi [P weight_net_lr]
    # rows from B^0 and from the online part per density step [P weight_net_batch_size]
    density_batch: int = opt(256, kind="int", ge=1)
    temperature: float = opt(5.0, kind="num", gt=0)  # T in w^{1/T} [P temperature]
    # f: online share of P right after deployment 1 [P init_online_fraction]
    init_online_fraction: float = opt(0.5, kind="num", gt=0, lt=1)
    p_min: float = opt(1e-3, kind="num", gt=0)  # priority clamp, low [P clamp(0.001, 1000)]
    p_max: float = opt(1e3, kind="num", gt=0)  # priority clamp, high [P]
    # last layer weights ~ U(+-last_init_w), bias 1 [P rlkit Mlp init_w]
    last_init_w: float = opt(3e-3, kind="num", ge=0)
    # fan-out of the batched sum tree [I: measured, see the module docstring]
    block: int = opt(32, kind="int", ge=2)
    # False: n iid draws [I: the spec]; True: one draw per 1/n of the total [P tree]
    stratified: bool = opt(False, kind="bool")
    RULES: ClassVar[Rules] = (ordered("p_min", "p_max", strict=False),)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):
            self.hidden = tuple(self.hidden)

    def validate(self) -> "BalancedReplayConfig":
        """The fields' declared rules and ``RULES`` (common.running.fields.check)."""
        return check(self)


def br_loss(w_off: Tensor, w_on: Tensor) -> Tensor:
    """Balanced Replay's density-ratio loss, the JS-divergence form of Off2OnRL [P ours.py]:
        L = mean_off[-log(2 / (w + 1) + 1e-10)] - mean_on[log(2 w / (w + 1) + 1e-10)],
    minimised by w = d_on / d_off. w_off [M, R_off], w_on [M, R_on] (w >= 0) -> [M]; 0 where w == 1 everywhere."""
    f_star = -torch.log(2.0 / (w_off + 1.0) + LOG_EPS)  # [M, R_off]
    f_prime = torch.log(2.0 * w_on / (w_on + 1.0) + LOG_EPS)  # [M, R_on]
    return f_star.mean(dim=-1) - f_prime.mean(dim=-1)


def priority_from_density(w: Tensor, w_off: Tensor, temperature: float, p_min: float, p_max: float) -> Tensor:
    """New priorities [P ours.py]: clamp(w^{1/T} / (mean_off w^{1/T} + 1e-10), p_min, p_max).
    w [M, n] of the rows just used, w_off [M, R] of the offline density batch -> p [M, n]."""
    inv_t = 1.0 / temperature
    norm = w_off.pow(inv_t).mean(dim=-1, keepdim=True) + NORM_EPS  # [M, 1]
    return (w.pow(inv_t) / norm).clamp(p_min, p_max)


def _pick(children: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """One descent step: children [M, n, K] float64 masses, u [M, n] in [0, their sum) -> (child k [M, n], the
    rest of u inside k). k = #(inclusive cumsum <= u), capped at the last child with mass (guards rounding)."""
    cum = children.cumsum(dim=-1)  # [M, n, K]
    # [M, n, 1]; K only where u >= the sum (rounding)
    k = torch.searchsorted(cum, u.unsqueeze(-1), right=True)
    over = k == cum.shape[-1]
    if bool(over.any()):
        # the last child with mass
        k = torch.where(over, torch.searchsorted(cum, cum[..., -1:].contiguous()), k)
    before = cum.gather(-1, (k - 1).clamp_(min=0)).masked_fill_(k == 0, 0.0)  # exclusive cumsum at k: <= u
    return k.squeeze(-1), u - before.squeeze(-1)


def _children(level: Tensor, nodes: Tensor, k: int) -> Tensor:
    """The K children in ``level`` [M, L] of the parent nodes [M, n] -> [M, n, K] (rows copied by index_select)."""
    m, n = nodes.shape
    base = torch.arange(m, device=nodes.device).unsqueeze(1) * (level.shape[1] // k)  # [M, 1]
    return level.view(-1, k).index_select(0, (nodes + base).reshape(-1)).view(m, n, k)


class BalancedReplay:
    """Priorities over B^k and the density-ratio net w_psi for M members (one net each, ``EnsembleMLP``).

    The caller owns the data: it draws ``sample(n, gen)`` indices [M, n] into its B^k tensors for the learner,
    and ``density_indices(gen)`` for the density step, gathers the rows, then per learner update calls
    ``update_priorities(idx, ...)`` and ``update_density(off, on)`` (in this order, as Off2OnRL). Every random
    number comes from the generator passed in. ``levels`` is the sum tree: levels[0] the leaf priorities
    float32 [M, C'], levels[l + 1][:, j] = the float64 sum of levels[l][:, j K:(j + 1) K]; the last level is
    the root's children (at most K)."""

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        n_offline: int,
        capacity: int,
        cfg: BalancedReplayConfig | None = None,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ):
        self.cfg = (cfg if cfg is not None else BalancedReplayConfig()).validate()
        self.n_members, self.obs_dim, self.act_dim = int(n_members), int(obs_dim), int(act_dim)
        self.n_offline, self.capacity, self.n_online = int(n_offline), int(capacity), 0
        if self.n_members < 1 or self.n_offline < 1 or self.capacity < self.n_offline:
            raise ValueError(
                f"need n_members >= 1 and 1 <= n_offline <= capacity, got n_members={n_members}, "
                f"n_offline={n_offline}, capacity={capacity}"
            )
        with torch.random.fork_rng(devices=[]):  # seeded before building; the global stream is left alone
            torch.manual_seed(seed)
            self.net = EnsembleMLP(
                self.n_members,
                self.obs_dim + self.act_dim,
                1,
                self.cfg.hidden,
                activation=nn.ReLU,
                output_activation=torch.relu,
                last_layer_init=float(self.cfg.last_init_w),
            )
        with torch.no_grad():
            self.net.layers[-1].bias.fill_(1.0)  # w starts near 1 [P examples/ours.py]
        self.net.to(device)
        self.opt = adam(self.net.parameters(), lr=self.cfg.lr)
        k, m = self.cfg.block, self.n_members
        sizes = [-(-self.capacity // k) * k]  # each level a multiple of K, but the last (<= K)
        while sizes[-1] > k:
            s = sizes[-1] // k
            sizes.append(s if s <= k else -(-s // k) * k)
        self.levels = [torch.zeros(m, sizes[0], device=device)]
        self.levels += [torch.zeros(m, s, device=device, dtype=torch.float64) for s in sizes[1:]]
        self.levels[0][:, : self.n_offline] = 1.0  # offline rows enter at priority 1 [P]
        self._refresh_rows(0, self.n_offline)
        self.max_priority = torch.zeros(m, dtype=torch.float64, device=device)  # [M] max assigned so far

    # ---- the sum tree -----------------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Rows of B^k now: |B^0| + all online rows."""
        return self.n_offline + self.n_online

    @property
    def priorities(self) -> Tensor:
        """The leaf priorities [M, size] (a view)."""
        return self.levels[0][:, : self.size]

    def _refresh(self, nodes: Tensor) -> None:
        """Recomputes levels[1][nodes] from their children, then their parents, up to the last level.
        nodes [M, k] int64 indices into levels[1] (repeats allowed: they write equal sums)."""
        for lo, hi in zip(self.levels[:-1], self.levels[1:]):
            hi.scatter_(1, nodes, _children(lo, nodes, self.cfg.block).double().sum(-1))
            nodes = nodes // self.cfg.block

    def _refresh_rows(self, lo: int, hi: int) -> None:
        """Recomputes the sums above the contiguous leaf rows [lo, hi) (slices, no index)."""
        kk = self.cfg.block
        for child, parent in zip(self.levels[:-1], self.levels[1:]):
            lo, hi = lo // kk, -(-hi // kk)  # parent nodes [lo, hi)
            parent[:, lo:hi] = child[:, lo * kk : hi * kk].reshape(self.n_members, -1, kk).double().sum(-1)

    def total(self) -> Tensor:
        """The tree's total priority per member [M] float64 (= the root)."""
        return self.levels[-1].double().sum(-1)

    def probabilities(self) -> Tensor:
        """P(j) = p_j / sum_l p_l [M, size] float64, from the leaves (for tests and logs)."""
        p = self.priorities.double()
        return p / p.sum(-1, keepdim=True)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n row indices [M, n] int64 into B^k per member, P(j) = p_j / sum p, with replacement [P]; one
        U[0, 1) per draw from ``generator`` (float64), then a descent of the tree for all members and draws.
        ``cfg.stratified``: draw i lies in the i-th of n equal slices of the total (Off2OnRL's segments)."""
        m, n, kk, top = self.n_members, int(n), self.cfg.block, self.levels[-1].double()
        u = torch.rand((m, n), generator=generator, device=top.device, dtype=torch.float64)
        if self.cfg.stratified:
            u = (u + torch.arange(n, device=top.device, dtype=torch.float64)) / n
        node, u = _pick(top.unsqueeze(1).expand(m, n, top.shape[1]), u * top.sum(-1, keepdim=True))
        for lvl in reversed(self.levels[:-1]):
            k, u = _pick(_children(lvl, node, kk).double(), u)
            node = node * kk + k
        return node

    def set_priorities(self, idx: Tensor, p: Tensor) -> None:
        """p [M, n] (finite, > 0) -> rows idx [M, n] (each in [0, size)); the last occurrence of a repeated row
        wins [I]. Recomputes the touched sums and raises the running max priority."""
        idx = idx.to(self.levels[0].device, torch.int64)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.size):
            raise IndexError(
                f"priority indices must lie in [0, size={self.size}), got "
                f"[{int(idx.min())}, {int(idx.max())}]"
            )
        if not bool(((p > 0) & torch.isfinite(p)).all()):
            raise ValueError(
                f"priorities must be finite and > 0, got min {float(p.min())}, max {float(p.max())}"
            )
        s_idx, order = idx.sort(dim=1, stable=True)  # [M, n]
        last = torch.searchsorted(s_idx, s_idx, right=True) - 1  # [M, n] last position of each run
        vals = p.detach().to(s_idx.device).gather(1, order).gather(1, last)  # [M, n]
        self.levels[0].scatter_(1, s_idx, vals.to(self.levels[0].dtype))
        self._refresh(s_idx // self.cfg.block)
        self.max_priority = torch.maximum(self.max_priority, vals.double().amax(dim=1))

    def add_online(self, n_new: int) -> None:
        """The next n_new rows (after the current ``size``) are online rows entering at the member's max
        priority [P]. The first call fixes max_p >= |B^0| f / ((1 - f) n_new) (n_new = |D^1|), see [I] above."""
        n_new, f = int(n_new), self.cfg.init_online_fraction
        if n_new < 1 or self.size + n_new > self.capacity:
            raise ValueError(
                f"add_online(n_new={n_new}): need n_new >= 1 and size + n_new <= capacity, "
                f"size={self.size}, capacity={self.capacity}"
            )
        if self.n_online == 0:
            init = self.n_offline * f / ((1.0 - f) * n_new)
            self.max_priority = self.max_priority.clamp(min=init)
        lo, hi = self.size, self.size + n_new
        self.levels[0][:, lo:hi] = self.max_priority.to(self.levels[0].dtype).unsqueeze(1)
        self.n_online += n_new
        self._refresh_rows(lo, hi)

    # ---- the density ratio --------------------------------------------------------------------------------

    def density_indices(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Rows of one density step [P]: (off [M, R] uniform from B^0, on [M, R] uniform from the online part
        [|B^0|, size)), R = cfg.density_batch, int64, drawn in this order from ``generator``."""
        if self.n_online == 0:
            raise RuntimeError("density_indices needs online rows: call add_online first")
        shape, dev = (self.n_members, self.cfg.density_batch), self.levels[0].device
        off = torch.randint(0, self.n_offline, shape, generator=generator, device=dev)
        on = torch.randint(self.n_offline, self.size, shape, generator=generator, device=dev)
        return off, on

    def density(self, obs: Tensor, act: Tensor) -> Tensor:
        """w_psi(s, a_i) [M, R] >= 0 for obs [M, R, O], act [M, R, A]."""
        return self.net(torch.cat([obs, act], dim=-1)).squeeze(-1)

    def update_density(self, off: Mapping[str, Tensor], on: Mapping[str, Tensor]) -> Tensor:
        """One Adam step on ``br_loss``; off / on hold "obs" [M, R, O] and "actions" [M, R, A] (offline and online
        density rows). Member losses are summed before backward (one step = M separate steps).
        -> the loss before the step [M], detached."""
        nb = off["obs"].shape[1]
        # [M, R_off + R_on], one forward
        w = self.density(
            torch.cat([off["obs"], on["obs"]], dim=1), torch.cat([off["actions"], on["actions"]], dim=1)
        )
        loss = br_loss(w[:, :nb], w[:, nb:])  # [M]
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt.step()
        return loss.detach()

    @torch.no_grad()
    def update_priorities(
        self, idx: Tensor, obs: Tensor, act: Tensor, off_obs: Tensor, off_act: Tensor
    ) -> Tensor:
        """New priorities of the rows idx [M, n] just used by the learner (obs [M, n, O], act [M, n, A] are those
        rows), normalised on the offline density batch (off_obs [M, R, O], off_act [M, R, A]) [P]. -> p [M, n]."""
        c = self.cfg
        p = priority_from_density(
            self.density(obs, act), self.density(off_obs, off_act), c.temperature, c.p_min, c.p_max
        )
        self.set_priorities(idx, p)
        return p

    # ---- checkpoints ------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs (a deep copy): config, sizes, the whole tree, max priority, net, Adam."""
        return copy.deepcopy(
            {
                "cfg": asdict(self.cfg),
                "shape": [self.n_members, self.obs_dim, self.act_dim, self.n_offline, self.capacity],
                "n_online": self.n_online,
                "max_priority": self.max_priority,
                "levels": self.levels,
                "net": self.net.state_dict(),
                "opt": self.opt.state_dict(),
            }
        )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restores ``state_dict``'s output (copied in); refuses another config or shape, naming both."""
        mine = (asdict(self.cfg), [self.n_members, self.obs_dim, self.act_dim, self.n_offline, self.capacity])
        theirs = (asdict(BalancedReplayConfig(**state["cfg"])), list(state["shape"]))
        if mine != theirs:
            raise ValueError(f"checkpoint (config, shape) {theirs} differs from this BalancedReplay's {mine}")
        dev = self.levels[0].device
        self.n_online = int(state["n_online"])
        self.max_priority = state["max_priority"].to(dev, torch.float64).clone()
        self.levels = [
            t.to(dev, ref.dtype).clone() for t, ref in zip(state["levels"], self.levels, strict=True)
        ]
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(copy.deepcopy(state["opt"]))
