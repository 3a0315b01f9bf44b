"""Discrete CQL(H) on independent per-agent Q-networks, with avail-action masks; batched over members.

Paper: Kumar, Zhou, Tucker & Levine, "Conservative Q-Learning for Offline Reinforcement Learning", NeurIPS 2020,
Eq. (4) (CQL(H)) and its discrete-action variant (Sec. 4, App. F: the Atari runs on DQN / QR-DQN, where the
logsumexp is exact over the finite action set). Used by OTC's Figure 6(d) (Jiang & Lu, AAAI 2023, Table 3's CQL
column: (256, 256), lr 1e-4, batch 128, gamma 0.99) on SMAX 5m_vs_6m. No code was copied; the form below is ours.

Per member m (agent i of seed s; members m = s * N + i, one leading axis, one optimizer step for all), on the
agent's own observation o, its action a, the team reward r, terminal d, and the masks avail(o), avail(o'):

    y      = r + gamma (1 - d) max_{a' in avail(o')} Q'(o', a')               [P Kumar Eq. 4's B Q-hat; DQN target]
             (double_q: a* = argmax_{avail(o')} Q(o', .), y = r + gamma (1 - d) Q'(o', a*))            [I option]
    L_TD   = 1/2 mean_B (Q(o, a) - y)^2                                            [P Kumar Eq. 4: 1/2 E[(Q - BQ)^2]]
    L_CQL  = mean_B [ log sum_{a in avail(o)} exp Q(o, a) - Q(o, a_data) ]     [P Kumar Eq. 4, CQL(H); masks: spec C20]
    L      = L_TD + alpha_cql L_CQL,     alpha_cql = 1.0                           [I spec C20]
    Q'     <- (1 - tau) Q' + tau Q,  tau = 0.005 after every update                 [I spec C20]
    acting: argmax_{a in avail(o)} Q(o, a) (greedy)                                [I spec C20]

Decisions where the papers are silent ([I], also in papers/otc/README.md):
- [I] The target takes the max of the target network over the available next actions (the plain DQN target that
  Kumar et al.'s discrete runs build on; the OTC spec C20 says "masks in the max"); ``double_q=True`` picks a*
  with the online network instead. Default False.
- [I] Squared TD error with Kumar's 1/2 (Eq. 4), no Huber; no gradient clipping; Adam on the Q-network only.
- [I] A next state with no available action (never in SMAX: a dead unit may always stop) has max := 0, so that
  -inf never meets (1 - d) = 0. The logsumexp runs over avail(o), which must hold the data action: the learner's
  ``check_batch`` refuses data whose action is unavailable (SMAX executes it as a no-op; it is a data error).
- [I] V(o') for OTC's d_q (``value``) = max_{avail(o')} Q(o', .) of the online network (the greedy policy's value;
  OTC spec C11 "CQL, max over available actions").
- [I] Seeds: member m's initial weights come from its seed alone (seed s's members are built from
  torch.manual_seed(seeds[s])), so a batched learner equals separate per-seed learners.

Shapes: M members (= S seeds x N agents), B batch, O obs dim, K actions, N agents, S seeds.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from common.algos.members import MemberLearner
from common.networks.nets import EnsembleMLP, adam, polyak_update
from common.running.fields import check, opt

__all__ = [
    "DiscreteCQLConfig",
    "DiscreteCQL",
    "masked_max",
    "masked_argmax",
    "masked_logsumexp",
    "td_target",
    "cql_loss",
    "epsilon_greedy",
    "BATCH_KEYS",
]

BATCH_KEYS = ("obs", "actions", "rewards", "next_obs", "terminals", "avail", "next_avail")


@dataclass
class DiscreteCQLConfig:
    """Discrete CQL(H). Defaults: OTC's Table 3 CQL column where it has the field, else the OTC spec's C20 [I]."""

    hidden: Sequence[int] = opt((256, 256), kind="int", ge=1, seq=True)  # Q-network widths [P OTC Table 3]
    # Adam lr of the Q-network (Table 3's "critic lr"; its "actor lr" has no use here) [P]
    lr: float = opt(1e-4, kind="num", gt=0)
    batch_size: int = opt(128, kind="int", ge=1)  # update batch [P OTC Table 3]
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # discount [P OTC Table 3]
    # weight of the CQL(H) term [I spec C20; Kumar's discrete runs use 1.0 or 4.0]
    cql_alpha: float = opt(1.0, kind="num", ge=0)
    tau: float = opt(0.005, kind="num", gt=0, le=1)  # Polyak rate of the target network [I spec C20]
    # target action by the online network (double DQN) instead of the target's max [I]
    double_q: bool = opt(False, kind="bool")
    # update() returns its metrics every log_every updates (no .item() per update) [I]
    log_every: int = opt(100, kind="int", ge=1)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):
            self.hidden = tuple(self.hidden)

    def validate(self) -> "DiscreteCQLConfig":
        """The fields' declared rules (common.running.fields.check)."""
        return check(self)


# ---- masked reductions and the loss (hand-computed in tests/test_otc_smax.py) ------------------------------------


def masked_argmax(q: Tensor, avail: Tensor) -> Tensor:
    """argmax over the available actions: q [..., K], avail [..., K] bool -> [...] int64 (the first on ties; 0 when
    nothing is available)."""
    return q.masked_fill(~avail, -torch.inf).argmax(dim=-1)


def masked_max(q: Tensor, avail: Tensor) -> Tensor:
    """max over the available actions, [...]; 0 where no action is available [I]."""
    m = q.masked_fill(~avail, -torch.inf).amax(dim=-1)
    return torch.where(avail.any(dim=-1), m, torch.zeros_like(m))


def masked_logsumexp(q: Tensor, avail: Tensor) -> Tensor:
    """log sum_{a in avail} exp q[..., a] -> [...] (-inf where nothing is available)."""
    return torch.logsumexp(q.masked_fill(~avail, -torch.inf), dim=-1)


def td_target(
    q_next_target: Tensor,
    next_avail: Tensor,
    rewards: Tensor,
    terminals: Tensor,
    gamma: float,
    q_next_online: Tensor | None = None,
) -> Tensor:
    """y = r + gamma (1 - d) max_{avail(o')} Q'(o', .), or with ``q_next_online`` (double Q) Q'(o', a*),
    a* = argmax_{avail(o')} Q(o', .). q_next_* [M, B, K], next_avail [M, B, K] bool, rewards / terminals [M, B]."""
    if q_next_online is None:
        v = masked_max(q_next_target, next_avail)
    else:
        a_star = masked_argmax(q_next_online, next_avail)
        v = q_next_target.gather(-1, a_star.unsqueeze(-1)).squeeze(-1)
        v = torch.where(next_avail.any(dim=-1), v, torch.zeros_like(v))
    return rewards + gamma * (1.0 - terminals) * v


def cql_loss(
    q_all: Tensor, actions: Tensor, avail: Tensor, y: Tensor, alpha: float
) -> tuple[Tensor, Tensor, Tensor]:
    """CQL(H) [P Kumar et al. 2020, Eq. 4] per member: (L, L_TD, L_CQL), each [M].
        L_TD  = 1/2 mean_B (Q(o, a) - y)^2        (y detached)
        L_CQL = mean_B [logsumexp_{avail(o)} Q(o, .) - Q(o, a)]
        L     = L_TD + alpha L_CQL
    q_all [M, B, K], actions [M, B] int64, avail [M, B, K] bool, y [M, B]."""
    q_data = q_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)  # [M, B]
    td = 0.5 * (q_data - y.detach()).square().mean(dim=-1)
    gap = (masked_logsumexp(q_all, avail) - q_data).mean(dim=-1)
    return td + alpha * gap, td, gap


def epsilon_greedy(
    greedy: Tensor, avail: Tensor, explore: Tensor, epsilon: float, generator: torch.Generator
) -> Tensor:
    """Per row: with probability ``epsilon`` (where ``explore`` [...] is True) a uniform available action, else
    ``greedy``. greedy [...] int64, avail [..., K] bool; two draws per row, whatever the data (a fixed stream)."""
    u = torch.rand(greedy.shape, generator=generator, device=greedy.device)
    score = torch.rand(avail.shape, generator=generator, device=greedy.device).masked_fill(~avail, -1.0)
    rand_a = score.argmax(dim=-1)  # uniform over the available actions
    return torch.where(explore & (u < epsilon), rand_a, greedy)


# ---- the learner ---------------------------------------------------------------------------------------------------


class DiscreteCQL(MemberLearner):
    """Independent discrete CQL agents on the member base (common.algos.members), members = seeds x agents
    (m = s * N + i), one Q-network per member; seed s's members are built from ``seeds[s]`` alone.

    ``update(batch)`` takes per-member rows (every tensor [M, B, ...], BATCH_KEYS: obs / next_obs [M, B, O],
    actions [M, B] int64, rewards / terminals [M, B], avail / next_avail [M, B, K] bool), drawn by the caller (OTC's
    samplers: the learner draws nothing). ``greedy(obs [M, R, O], avail [M, R, K]) -> [M, R]``; ``act(obs [S, E, N,
    O], avail [S, E, N, K]) -> [S, E, N]``."""

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        n_agents: int,
        cfg: DiscreteCQLConfig | None = None,
        seeds: Sequence[int] = (0,),
        device: str | torch.device = "cpu",
    ):
        n_agents = int(n_agents)
        super().__init__(
            (cfg or DiscreteCQLConfig()).validate(),
            [obs_dim] * n_agents,
            [n_actions] * n_agents,
            len(seeds),
            seeds=seeds,
            device=device,
        )
        self.n_actions = self.act_dim
        hidden = tuple(self.cfg.hidden)
        self.q = self._build_members(
            lambda S: {"q": EnsembleMLP(S * n_agents, self.obs_dim, self.n_actions, hidden)}
        )["q"]
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.opt = adam(self.q.parameters(), lr=self.cfg.lr)

    @property
    def S(self) -> int:
        """The seed count (``n_seeds``)."""
        return self.n_seeds

    # ---- pieces OTC's d_q reads --------------------------------------------------------------------------------
    @torch.no_grad()
    def q1(self, obs: Tensor, actions: Tensor) -> Tensor:
        """Q(o, a) [M, R] of the online network: obs [M, R, O], actions [M, R] int64."""
        return self.q(obs).gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def value(self, next_obs: Tensor, next_avail: Tensor) -> Tensor:
        """V(o') = max_{avail(o')} Q(o', .) of the online network [M, R] [I spec C11]."""
        return masked_max(self.q(next_obs), next_avail)

    @torch.no_grad()
    def greedy(self, obs: Tensor, avail: Tensor) -> Tensor:
        """argmax_{avail(o)} Q(o, .): obs [M, R, O], avail [M, R, K] -> [M, R] int64."""
        return masked_argmax(self.q(obs), avail)

    @torch.no_grad()
    def act(self, obs, avail) -> np.ndarray:
        """Greedy masked actions [S, E, N] for obs [S, E, N, O], avail [S, E, N, K] (numpy or torch)."""
        o = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        av = torch.as_tensor(np.asarray(avail), dtype=torch.bool, device=self.device)
        S, E, N = o.shape[:3]
        a = self.greedy(o.transpose(1, 2).reshape(S * N, E, -1), av.transpose(1, 2).reshape(S * N, E, -1))
        return a.reshape(S, N, E).transpose(1, 2).cpu().numpy()

    # ---- update ------------------------------------------------------------------------------------------------
    @staticmethod
    def check_batch(batch: Mapping[str, Tensor]) -> None:
        """Refuses rows whose action is unavailable (the logsumexp would not cover it) or missing keys."""
        missing = [k for k in BATCH_KEYS if k not in batch]
        if missing:
            raise ValueError(f"a DiscreteCQL batch needs {list(BATCH_KEYS)}; missing {missing}")
        ok = batch["avail"].gather(-1, batch["actions"].long().unsqueeze(-1))
        if not bool(ok.all()):
            raise ValueError("the data hold an action that their avail mask marks unavailable")

    def losses(self, b: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(L, L_TD, L_CQL) [M] of one batch (module docstring)."""
        cfg = self.cfg
        with torch.no_grad():
            q_next_t = self.q_target(b["next_obs"])  # [M, B, K]
            q_next_o = self.q(b["next_obs"]) if cfg.double_q else None
            y = td_target(q_next_t, b["next_avail"], b["rewards"], b["terminals"], cfg.gamma, q_next_o)
        return cql_loss(self.q(b["obs"]), b["actions"].long(), b["avail"], y, cfg.cql_alpha)

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        loss, td, gap = self.losses(batch)
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # members are independent: the sum's gradient is each member's own
        self.opt.step()
        polyak_update(self.q_target, self.q, self.cfg.tau)
        self.step += 1
        if self.step % self.cfg.log_every:
            return {}
        if not bool(torch.isfinite(loss).all()):
            raise FloatingPointError(f"DiscreteCQL: non-finite loss at update {self.step}")
        return {"loss": loss.detach(), "loss_td": td.detach(), "loss_cql": gap.detach()}

    # ---- checkpoints -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "cfg": {**asdict(self.cfg), "hidden": list(self.cfg.hidden)},
            "seeds": self.seeds,
            "step": self.step,
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "opt": self.opt.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        mine = {**asdict(self.cfg), "hidden": list(self.cfg.hidden)}
        if dict(state["cfg"]) != mine or list(state["seeds"]) != self.seeds:
            raise ValueError(
                f"checkpoint config / seeds {state['cfg']} / {state['seeds']} differ from this "
                f"learner's {mine} / {self.seeds}"
            )
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.opt.load_state_dict(copy.deepcopy(state["opt"]))
        self.step = int(state["step"])
