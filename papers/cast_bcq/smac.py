"""CAST-BCQ's StarCraft items (Table 1, Figure 5; Ma & Wu, AAMAS 2023, §4.2) on SMAX: discrete offline learners.

Four methods behind one class, ``SmaxLearner`` (``SmaxConfig.method``), batched over members on the leading axis:
per-agent nets have members m = s * N + i (agent i of seed s), the seed-level nets (ICQ-MA's mixer, CAST's joint
critic) one member per seed. One minibatch of B rows (time steps) per seed, shared by its agents. "spec §x" = the
team's CAST-BCQ reproduction spec (§1.5 Table 1, §1.6 Figure 5, §2.6 discrete CAST, §3.6 SMAX baselines, §8).
SMAX (envs/smax.py) replaces SC2; the data are common.datasets.smax ("mixed"). Discrete BCQ follows Fujimoto et
al. 2019b (sfujim/BCQ ``discrete_BCQ``), the shared pieces are papers/cast_bcq/grid.py's (the Figure 1 learners).

Notation: o = o_i, a = a_i (the action index), avail(o) the SMAX mask, r the team reward, d terminal, K actions,
allowed(o) = avail(o) & {a : G(a|o) / max_{a' in avail} G(a'|o) > tau}, G's softmax over the available actions.
  I-BCQ     (spec §3.6) per agent: L_G = CE(G(.|o), a) + 1e-2 mean logits^2; a* = argmax_{allowed(o')} Q(o', .),
            y = r + gamma (1 - d) Q'(o', a*), L_Q = Huber(Q(o, a), y); act argmax_{allowed(o)} Q(o, .), tau 0.3
  MABCQ     (spec §3.6, the SMAC mbcq_learner's form) I-BCQ with tau = 0.5 and the value-deviation weight of Jiang
            & Lu 2021: V' = (1 - d) Q'(o', a*), E_V = (Q(o, a) - r) / gamma (detached; |E_V| >= 1e-6),
            w = clip(1 + (V' - E_V) / |E_V|, 1 - 0.8, 1 + 0.8), L_Q = mean w (Q(o, a) - y)^2
  ICQ-MA    (spec §3.4 / §3.6, discrete ICQ, Yang et al. 2021, the target fixed as spec §3.4): per agent Q_i and
            pi_i (softmax over avail); Q_tot(s, a) = sum_i k_i(s) Q_i(o_i, a_i), k(s) = |W(s)| / sum |W(s)|;
            y = r + gamma (1 - d) w' Q'_tot(s', a'_data), w' = B_c softmax_B(Q'_tot / alpha) over the rows with a
            next dataset action; L_Q = sum v (Q_tot - y)^2 / sum v (v = 0 on time-out rows);
            L_pi = -mean k_i B softmax_B((Q_i(o, a) - sum_a pi Q_i(o, .)) / beta) log pi_i(a | o); act argmax pi
  CAST      (spec §8 "code" form with §2.6's BCQ filter) per agent G_i (L_G above) and Q_i; one joint critic per
            seed Q(s, onehot a_1 .. a_N) (MLP on [s, N*K one-hot]):
            y = r + gamma (1 - d) Q'(s', a'), a' = the next dataset joint action (``target`` "data", the code's
            SARSA, time-out rows weight 0) or each agent's greedy allowed action ("policy", P Eq. 6's a' ~ pi(o'));
            credit (P Eq. 8; the code's mc_times draws): for m = 1..M, k ~ U{1..N-1} and a uniform k-subset D_m of
            the other agents (one draw per seed, agent and m for the whole batch, as the code), D_m's blocks
            "absent" (zeroed one-hot, the code) or at the default action (stop, ``absent="default"``),
            Delta_i = 1/M sum_m [Q(s, a_i, a_{D_m -> absent}) - Q(s, absent_i, a_{D_m -> absent})] with the other
            partners at their dataset actions, from the updated online critic (Algorithm 1's order);
            L_theta_i = mean (Q_i(o_i, a_i) - Delta_i)^2 (P Eq. 9); act argmax_{allowed_i(o_i)} Q_i(o_i, .)
Unavailable actions are never chosen: every argmax (acting and targets) runs over avail (& the BCQ filter).

Reward scale [I, measured]: every learner trains on r x ``reward_scale`` = 10, SMAC's scale (SMAC rescales its
returns to at most 20, ``reward_scale_rate``; SMAX's are at most ~2, docs/smax.md), so the code's hyperparameters
(ICQ's temperatures 1000 / 100, BCQ's Huber threshold 1) apply as on SMAC. On SMAX's raw scale CAST's credits
(|Delta| ~ 0.01) sit below the per-step jitter that Adam (lr 5e-4) puts on Q_i, whose argmax was then noise: on
the quick 3s_vs_3z data, seed 0, 2,000 updates, CAST won 0 % of 20 test episodes at scale 1 and 25 % at scale 10;
I-BCQ 10 % and 60 % (data 59 %); the same greedy actions under two different credits at scale 1 showed it.
Our decisions [I]: MLP agent nets (64-64) on the agent's own SMAX observation instead of SMAC's GRU-64 with agent
id and last action (the behavior data come from feed-forward MAPPO policies, docs/smax.md), per-agent parameters
(no sharing, members = seeds x agents); one-step targets on transitions instead of the code's TD(lambda) on
32-episode batches; Adam 5e-4 (pymarl's lr) for every net, Polyak 0.005 targets instead of RMSprop and hard copies
every 200/600 steps; joint critic 256-256 (the code's centralc). ICQ's temperatures are the CAST ICQ-MA code's
(1000, 100), on the rescaled rewards.
Shapes: S seeds, N agents, M = S*N members, B batch, O obs, D state, K actions, C sub-team draws.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from common.algos import register_learner
from common.nets import EnsembleMLP, load_member, member_state, polyak_update
from common.sampling import sample_indices
from papers.cast_bcq.grid import (awbc_loss, bc_loss, credit_loss, icq_policy_weights, icq_target_weights,
                                  masked_argmax, td_error_loss)

__all__ = ["SmaxConfig", "SmaxLearner", "METHODS", "LEARNER_NAME", "filter_allowed", "masked_logits",
           "bcq_target", "vd_weight", "mabcq_loss", "mixer_weights", "icq_ma_target", "subteam_masks",
           "cast_credit", "joint_input", "build_smax_learner"]

LEARNER_NAME = "cast_smax"
METHODS = ("i_bcq", "mabcq", "icq_ma", "cast_bcq")
STOP = 4  # SMAX's stop action: no no-op exists; the only action of a dead unit (envs/smax.py)


@dataclass
class SmaxConfig:
    """One config for the four SMAX learners; sources per field ([I] = ours, see the module docstring)."""

    method: str = "cast_bcq"  # i_bcq | mabcq | icq_ma | cast_bcq (spec §1.5's columns)
    hidden: int = 64  # agent nets' two hidden layers (SMAC's GRU-64 agent, here an MLP) [I]
    critic_hidden: int = 256  # CAST's joint critic / ICQ-MA's mixer hypernet, two layers (code centralc 256) [C]
    lr: float = 5e-4  # Adam lr of every net (pymarl's 5e-4; the code's RMSprop) [I]
    batch_size: int = 256  # time steps per seed per update [I] (the code: 32 episodes)
    gamma: float = 0.99  # discount [C]
    tau_target: float = 0.005  # Polyak rate of the targets [I] (the code: hard copies)
    bcq_threshold: float | None = None  # None: the method's (i_bcq, cast_bcq 0.3 Fujimoto 2019b; mabcq 0.5 spec §3.6)
    bc_logit_reg: float = 1e-2  # mean logits^2 weight of the BC loss (Fujimoto 2019b code)
    vd_clip: float = 0.8  # mabcq: value-deviation weight clipped to 1 +- vd_clip (spec §3.6)
    reward_scale: float = 10.0  # r x this: SMAC's return scale (max 20) from SMAX's (max ~2) [I, module docstring]
    icq_alpha: float = 1000.0  # icq_ma: critic target temperature (CAST ICQ-MA code) [C]
    icq_beta: float = 100.0  # icq_ma: policy advantage temperature (CAST ICQ-MA code) [C]
    target: str = "data"  # cast_bcq: next joint action of the critic target, "data" (code SARSA) or "policy" (P Eq. 6)
    subteams: int = 10  # cast_bcq: sub-team draws per agent (code mc_times = 10, spec §8)
    absent: str = "zero"  # cast_bcq: masked blocks zeroed ("zero", code) or at the default action stop ("default")
    log_every: int = 100  # update() returns metrics every log_every updates [I]

    def validate(self) -> "SmaxConfig":
        for name, allowed in (("method", METHODS), ("target", ("data", "policy")), ("absent", ("zero", "default"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"SmaxConfig.{name}={getattr(self, name)!r} is not allowed; "
                                 f"choose one of {list(allowed)}")
        for name in ("hidden", "critic_hidden", "batch_size", "subteams", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"SmaxConfig.{name}={v!r} must be an integer >= 1")
        for name in ("lr", "icq_alpha", "icq_beta", "vd_clip", "reward_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SmaxConfig.{name}={getattr(self, name)!r} must be > 0")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 < self.tau_target <= 1.0:
            raise ValueError(f"SmaxConfig: gamma={self.gamma!r} must be in [0, 1], "
                             f"tau_target={self.tau_target!r} in (0, 1]")
        if self.bcq_threshold is not None and not 0.0 <= self.bcq_threshold < 1.0:
            raise ValueError(f"SmaxConfig.bcq_threshold={self.bcq_threshold!r} must be in [0, 1) or None")
        own = {"i_bcq": ("bcq_threshold", "bc_logit_reg"), "mabcq": ("bcq_threshold", "bc_logit_reg", "vd_clip"),
               "icq_ma": ("icq_alpha", "icq_beta", "critic_hidden"),
               "cast_bcq": ("bcq_threshold", "bc_logit_reg", "target", "subteams", "absent", "critic_hidden")}
        default = SmaxConfig()
        unused = [f.name for f in fields(self) if f.name in {n for v in own.values() for n in v}
                  and f.name not in own[self.method] and getattr(self, f.name) != getattr(default, f.name)]
        if unused:
            raise ValueError(f"SmaxConfig fields {unused} are not used by method {self.method!r}")
        return self

    @property
    def threshold(self) -> float:
        if self.bcq_threshold is not None:
            return float(self.bcq_threshold)
        return 0.5 if self.method == "mabcq" else 0.3


# ---- losses and pieces (each on a hand-computed case in tests/test_cast_bcq_smac.py) --------------------------


def masked_logits(logits: Tensor, avail: Tensor) -> Tensor:
    """logits [..., K] with the unavailable actions (avail [..., K] bool False) at -inf."""
    return logits.masked_fill(~avail, -torch.inf)


def filter_allowed(logits: Tensor, avail: Tensor, threshold: float) -> Tensor:
    """Discrete BCQ filter over the available actions: avail & G(a|o) / max_{a' avail} G(a'|o) > threshold, G the
    softmax over the available actions; bool [..., K]; the most likely available action is always allowed."""
    p = torch.softmax(masked_logits(logits, avail), dim=-1)
    return avail & (p / p.amax(dim=-1, keepdim=True) > threshold)


def _take(x: Tensor, a: Tensor) -> Tensor:
    return x.gather(-1, a.unsqueeze(-1)).squeeze(-1)


def bcq_target(q_next: Tensor, q_next_target: Tensor, allowed_next: Tensor, r: Tensor, d: Tensor,
               gamma: float) -> tuple[Tensor, Tensor]:
    """(y, V') of discrete BCQ: a* = argmax_{allowed(o')} Q(o', .), V' = (1 - d) Q'(o', a*), y = r + gamma V'.
    q_next, q_next_target, allowed_next [..., K]; r, d [...]."""
    a_star = masked_argmax(q_next, allowed_next)
    v_next = (1.0 - d) * _take(q_next_target, a_star)
    return r + gamma * v_next, v_next


def vd_weight(q_data: Tensor, r: Tensor, v_next: Tensor, gamma: float, clip: float) -> Tensor:
    """MABCQ's value-deviation weight (Jiang & Lu 2021; spec §3.3/§3.6), detached: E_V = (Q(o, a) - r) / gamma
    (|E_V| >= 1e-6), w = clip(1 + (V' - E_V) / |E_V|, 1 - clip, 1 + clip)."""
    e_v = (q_data.detach() - r) / gamma
    den = e_v.abs().clamp(min=1e-6)
    return (1.0 + (v_next.detach() - e_v) / den).clamp(1.0 - clip, 1.0 + clip)


def mabcq_loss(q_data: Tensor, y: Tensor, w: Tensor) -> Tensor:
    """MABCQ critic loss per member [M]: mean_B w (Q(o, a) - y)^2 (w, y detached); all [M, B]."""
    return (w.detach() * (q_data - y.detach()).square()).mean(dim=-1)


def mixer_weights(raw: Tensor) -> Tensor:
    """ICQ-MA's mixing weights k(s) = |W(s)| / sum_i |W(s)| (CAST ICQ-MA code: normalized, no state bias); [..., N]."""
    w = raw.abs() + 1e-8
    return w / w.sum(dim=-1, keepdim=True)


def icq_ma_target(q_tot_next: Tensor, r: Tensor, d: Tensor, has_next: Tensor, gamma: float, alpha: float) -> Tensor:
    """ICQ-MA's critic target (spec §3.4, fixed): y = r + gamma (1 - d) w' Q'_tot, w' = B_c softmax(Q'_tot / alpha)
    over the rows with a next dataset action (has_next 1), 0 elsewhere; all [S, B]."""
    w = icq_target_weights(q_tot_next, has_next, alpha)
    return r + gamma * (1.0 - d) * w * q_tot_next.detach()


def subteam_masks(generator: torch.Generator, n_seeds: int, n_agents: int, draws: int, device) -> Tensor:
    """The code's sub-team draws (spec §2.2 / §8): bool [S, N(i), C, N(j)], True = partner j is in the masked
    sub-team of agent i's draw c: k ~ U{1..N-1}, then a uniform k-subset of the other agents (never i itself)."""
    S, N, C = n_seeds, n_agents, draws
    if N < 2:
        return torch.zeros(S, N, C, N, dtype=torch.bool, device=device)
    k = torch.randint(1, N, (S, N, C, 1), generator=generator, device=device)
    score = torch.rand(S, N, C, N, generator=generator, device=device)
    score = score.masked_fill(torch.eye(N, dtype=torch.bool, device=device)[None, :, None, :], 2.0)  # self last
    rank = score.argsort(dim=-1).argsort(dim=-1)  # rank of partner j among the others
    return rank < k


def joint_input(state: Tensor, onehot: Tensor) -> Tensor:
    """[s, onehot a_1 .. a_N]: state [..., D], onehot [..., N, K] -> [..., D + N*K]."""
    return torch.cat([state, onehot.flatten(-2)], dim=-1)


def cast_credit(joint_q, state: Tensor, act: Tensor, masks: Tensor, n_actions: int, absent: str) -> Tensor:
    """CAST's credit Delta_i [S, B, N] (P Eq. 8 with the code's sub-team draws). joint_q: [S, R, D + N*K] -> [S, R, 1];
    state [S, B, D]; act [S, B, N] long (dataset actions); masks [S, N(i), C, N(j)] (subteam_masks). Draw c of agent
    i: partners in the sub-team are absent (zero block, or one-hot stop for absent="default"), the others keep
    their dataset actions; Delta_i = mean_c [Q(.., a_i, ..) - Q(.., absent_i, ..)]."""
    S, B, N = act.shape
    C, K = masks.shape[2], n_actions
    onehot = F.one_hot(act, K).to(state.dtype)  # [S, B, N, K]
    away = torch.zeros(K, dtype=state.dtype, device=state.device)
    if absent == "default":
        away[STOP] = 1.0
    eye = torch.eye(N, dtype=torch.bool, device=state.device)
    # [S, B, N(i), C, 2, N(j), K]: pair 0 = agent i at its action, pair 1 = agent i absent
    gone = masks[:, None, :, :, None, :].expand(S, B, N, C, 2, N).clone()
    gone[..., 1, :] |= eye[None, None, :, None, :]
    x = torch.where(gone[..., None], away, onehot[:, :, None, None, None])
    inp = joint_input(state[:, :, None, None, None, :].expand(S, B, N, C, 2, state.shape[-1]), x)
    q = joint_q(inp.reshape(S, -1, inp.shape[-1])).reshape(S, B, N, C, 2)
    return (q[..., 0] - q[..., 1]).mean(dim=-1)


# ---- the learner ----------------------------------------------------------------------------------------------


class SmaxLearner:
    """The four SMAX learners batched over seeds (module docstring). ``prepare_data`` -> ``sample_batch`` ->
    ``update``; ``act(obs [S, E, N, O], avail [S, E, N, K]) -> actions [S, E, N]`` (greedy, masked)."""

    def __init__(self, obs_dim: int, state_dim: int, n_agents: int, n_actions: int, cfg: SmaxConfig | None = None,
                 seeds: Sequence[int] = (0,), device: str | torch.device = "cpu"):
        self.cfg = cfg = (cfg or SmaxConfig()).validate()
        self.seeds = [int(s) for s in seeds]
        self.S, self.N, self.K = len(self.seeds), int(n_agents), int(n_actions)
        self.M = self.S * self.N
        self.O, self.D = int(obs_dim), int(state_dim)
        self.device = torch.device(device)
        with torch.random.fork_rng(devices=[]):  # seed s's members from seeds[s] only (batched = separate runs)
            torch.manual_seed(self.seeds[0])
            self.nets = self._build(self.S)
            for s, sd in enumerate(self.seeds):
                torch.manual_seed(sd)
                for name, small in self._build(1).items():
                    n = small.n_members
                    for k in range(n):
                        load_member(self.nets[name], s * n + k, member_state(small, k))
        for net in self.nets.values():
            net.to(self.device).train()
        self.targets = {k: copy.deepcopy(self.nets[k]).requires_grad_(False)
                        for k in ("q", "mix", "qj") if k in self.nets and not (k == "q" and cfg.method == "cast_bcq")}
        groups = {"i_bcq": {"q": ("q", "bc")}, "mabcq": {"q": ("q", "bc")},
                  "icq_ma": {"q": ("q", "mix"), "pi": ("pi",)},
                  "cast_bcq": {"bc": ("bc",), "qj": ("qj",), "q": ("q",)}}[cfg.method]
        self.opts = {k: torch.optim.Adam([p for n in v for p in self.nets[n].parameters()], lr=cfg.lr)
                     for k, v in groups.items()}
        self.gens = [torch.Generator(device=self.device) for _ in self.seeds]  # one stream per seed
        for g, sd in zip(self.gens, self.seeds):
            g.manual_seed(int(np.random.SeedSequence([sd, 0x5A]).generate_state(1, np.uint64)[0] >> 1))
        self.step = 0

    def _build(self, n_seeds: int) -> dict[str, EnsembleMLP]:
        cfg, N, O, K = self.cfg, self.N, self.O, self.K
        H, HC = (cfg.hidden, cfg.hidden), (cfg.critic_hidden, cfg.critic_hidden)
        nets = {"q": EnsembleMLP(n_seeds * N, O, K, H)}
        if cfg.method in ("i_bcq", "mabcq", "cast_bcq"):
            nets["bc"] = EnsembleMLP(n_seeds * N, O, K, H)
        if cfg.method == "icq_ma":
            nets["pi"] = EnsembleMLP(n_seeds * N, O, K, H)
            nets["mix"] = EnsembleMLP(n_seeds, self.D, N, HC)
        if cfg.method == "cast_bcq":
            nets["qj"] = EnsembleMLP(n_seeds, self.D + N * K, 1, HC)
        return nets

    # ---- data -------------------------------------------------------------------------------------------------
    def prepare_data(self, t: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Dataset.to_torch tensors + SmaxDataset.extras_torch -> obs / next_obs [T, N, O], state / next_state
        [T, D], act / next_act [T, N] long, avail / next_avail [T, N, K] bool, r (x reward_scale) / d / has_next /
        valid [T]."""
        dev = self.device
        act = t["actions"][..., 0].round().long().to(dev)  # [T, N]
        d = t["terminals"].float().to(dev)
        timeout = t["timeouts"].float().to(dev)
        T = act.shape[0]
        has_next = (1.0 - d) * (1.0 - timeout)
        has_next[-1] = 0.0
        next_act = torch.cat([act[1:], act[-1:]], dim=0)
        avail = t["avail_actions"].bool().to(dev)
        if not bool(avail.gather(-1, act.unsqueeze(-1)).all()):
            raise ValueError("the dataset holds an action its avail_actions mark unavailable")
        return {"obs": t["obs"].float().to(dev), "next_obs": t["next_obs"].float().to(dev),
                "state": t["state"].float().to(dev), "next_state": t["next_state"].float().to(dev),
                "act": act, "next_act": next_act, "avail": avail, "next_avail": t["next_avail_actions"].bool().to(dev),
                "r": t["rewards"].float().mean(dim=-1).to(dev) * self.cfg.reward_scale, "d": d, "has_next": has_next,
                "valid": torch.maximum(d, 1.0 - timeout) if T else d}

    def sample_batch(self, data: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """[S, B, ...] rows per seed (each seed from its own stream) + CAST's sub-team draws [S, N, C, N]."""
        T, B = data["obs"].shape[0], self.cfg.batch_size
        idx = torch.cat([sample_indices(g, T, 1, B) for g in self.gens])  # [S, B]
        batch = {k: v[idx] for k, v in data.items()}
        if self.cfg.method == "cast_bcq":
            batch["subteam"] = torch.cat([subteam_masks(g, 1, self.N, self.cfg.subteams, self.device)
                                          for g in self.gens])
        return batch

    def _members(self, x: Tensor) -> Tensor:
        """[S, B, N, ...] -> [M, B, ...] (m = s * N + i)."""
        S, B, N = x.shape[:3]
        return x.transpose(1, 2).reshape(S * N, B, *x.shape[3:])

    def _seeds(self, x: Tensor) -> Tensor:
        """[M, B, ...] -> [S, B, N, ...]."""
        return x.reshape(self.S, self.N, *x.shape[1:]).transpose(1, 2)

    def _team(self, x: Tensor) -> Tensor:
        """per-seed [S, B] -> per-member [M, B]."""
        return x.repeat_interleave(self.N, dim=0)

    # ---- update -----------------------------------------------------------------------------------------------
    def _step(self, name: str, loss: Tensor) -> None:
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()

    def _bc(self, obs: Tensor, a: Tensor, avail: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.nets["bc"](obs)  # [M, B, K]
        keep = avail | F.one_hot(a, self.K).bool()  # the softmax over the available actions
        nll = bc_loss(logits.masked_fill(~keep, -1e9), a, 0.0)
        return nll + self.cfg.bc_logit_reg * logits.square().mean(dim=(-2, -1)), logits

    def _bcq_update(self, b: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = self._members(b["obs"]), self._members(b["next_obs"])  # [M, B, O]
        a, av2 = self._members(b["act"]), self._members(b["next_avail"])  # [M, B], [M, B, K]
        r, d = self._team(b["r"]), self._team(b["d"])  # [M, B]
        with torch.no_grad():
            allowed2 = filter_allowed(self.nets["bc"](o2), av2, cfg.threshold)
            y, v_next = bcq_target(self.nets["q"](o2), self.targets["q"](o2), allowed2, r, d, cfg.gamma)
        l_bc, _ = self._bc(obs, a, self._members(b["avail"]))
        q_data = _take(self.nets["q"](obs), a)
        if cfg.method == "mabcq":
            l_q = mabcq_loss(q_data, y, vd_weight(q_data, r, v_next, cfg.gamma, cfg.vd_clip))
        else:
            l_q = td_error_loss(q_data, y, "huber")
        self._step("q", l_q + l_bc)
        return {"loss_q": l_q, "loss_bc": l_bc}

    def _icq_update(self, b: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = self._members(b["obs"]), self._members(b["next_obs"])
        a, a2 = self._members(b["act"]), self._members(b["next_act"])
        with torch.no_grad():
            k2 = mixer_weights(self.targets["mix"](b["next_state"]))  # [S, B, N]
            q2 = self._seeds(_take(self.targets["q"](o2), a2))  # [S, B, N]
            y = icq_ma_target((k2 * q2).sum(-1), b["r"], b["d"], b["has_next"], cfg.gamma, cfg.icq_alpha)
        q_all = self.nets["q"](obs)  # [M, B, K]
        q_data = _take(q_all, a)
        k = mixer_weights(self.nets["mix"](b["state"]))  # [S, B, N]
        q_tot = (k * self._seeds(q_data)).sum(-1)  # [S, B]
        l_q = td_error_loss(q_tot, y, "mse", weight=b["valid"])
        self._step("q", l_q)
        logits = masked_logits(self.nets["pi"](obs), self._members(b["avail"]))
        pi = torch.softmax(logits, dim=-1)
        v = (pi * q_all.masked_fill(~self._members(b["avail"]), 0.0)).sum(-1)
        w = icq_policy_weights(q_data, v, cfg.icq_beta) * self._members(k).detach()
        l_pi = awbc_loss(logits, a, w)
        self._step("pi", l_pi)
        return {"loss_q": l_q, "loss_pi": l_pi}

    def _cast_update(self, b: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = self._members(b["obs"]), self._members(b["next_obs"])
        a = self._members(b["act"])
        l_bc, _ = self._bc(obs, a, self._members(b["avail"]))
        with torch.no_grad():  # the BCQ filter at s' from G before its step (Fujimoto)
            if cfg.target == "policy":  # P Eq. 6: a' = every agent's greedy allowed action; time-outs bootstrap
                allowed2 = filter_allowed(self.nets["bc"](o2), self._members(b["next_avail"]), cfg.threshold)
                a2, weight, boot = self._seeds(masked_argmax(self.nets["q"](o2), allowed2)), None, 1.0 - b["d"]
            else:  # the code's SARSA: the next dataset joint action; time-out rows have none (weight 0)
                a2, weight, boot = b["next_act"], b["valid"], b["has_next"]
            q2 = self.targets["qj"](joint_input(b["next_state"], F.one_hot(a2, self.K).float()))[..., 0]  # [S, B]
            y = b["r"] + cfg.gamma * boot * q2
        self._step("bc", l_bc)
        qj = self.nets["qj"](joint_input(b["state"], F.one_hot(b["act"], self.K).float()))[..., 0]  # [S, B]
        l_qj = td_error_loss(qj, y, "mse", weight=weight)
        self._step("qj", l_qj)
        with torch.no_grad():
            delta = cast_credit(self.nets["qj"], b["state"], b["act"], b["subteam"], self.K, cfg.absent)
        l_qi = credit_loss(_take(self.nets["q"](obs), a), self._members(delta))
        self._step("q", l_qi)
        return {"loss_bc": l_bc, "loss_qj": l_qj, "loss_qi": l_qi, "credit": delta.mean(dim=(1, 2))}

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        m = self.cfg.method
        out = (self._icq_update if m == "icq_ma" else self._cast_update if m == "cast_bcq" else self._bcq_update)(batch)
        for k, tgt in self.targets.items():
            polyak_update(tgt, self.nets[k], self.cfg.tau_target)
        self.step += 1
        if not all(bool(torch.isfinite(v).all()) for v in out.values()):
            raise FloatingPointError(f"{m}: non-finite loss at update {self.step}")
        return {k: v.detach() for k, v in out.items()} if self.step % self.cfg.log_every == 0 else {}

    # ---- acting -----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs, avail) -> np.ndarray:
        """Greedy masked actions [S, E, N] (int64) for obs [S, E, N, O] and avail [S, E, N, K] (numpy or torch):
        argmax over allowed = avail & the BCQ filter (BCQ methods), over avail of pi (ICQ-MA)."""
        o = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        av = torch.as_tensor(np.asarray(avail), dtype=torch.bool, device=self.device)
        S, E, N = o.shape[:3]
        om = o.transpose(1, 2).reshape(S * N, E, -1)  # [M, E, O]
        avm = av.transpose(1, 2).reshape(S * N, E, -1)
        if self.cfg.method == "icq_ma":
            a = masked_argmax(self.nets["pi"](om), avm)
        else:
            a = masked_argmax(self.nets["q"](om), filter_allowed(self.nets["bc"](om), avm, self.cfg.threshold))
        return a.reshape(S, N, E).transpose(1, 2).cpu().numpy()

    # ---- checkpoints ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"cfg": asdict(self.cfg), "seeds": self.seeds, "step": self.step,
                "nets": {k: v.state_dict() for k, v in self.nets.items()},
                "targets": {k: v.state_dict() for k, v in self.targets.items()},
                "opts": {k: v.state_dict() for k, v in self.opts.items()}, "gens": [g.get_state() for g in self.gens]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if dict(state["cfg"]) != asdict(self.cfg) or list(state["seeds"]) != self.seeds:
            raise ValueError("checkpoint config or seeds differ from this learner's")
        for group, own in (("nets", self.nets), ("targets", self.targets), ("opts", self.opts)):
            for k, v in own.items():
                v.load_state_dict(state[group][k])
        for g, s in zip(self.gens, state["gens"]):
            g.set_state(s)
        self.step = int(state["step"])


def build_smax_learner(data, section: Mapping[str, Any], seed: int, device) -> SmaxLearner:
    """Registry builder of ``cast_smax``: SmaxConfig fields from the cell's section, one seed."""
    return SmaxLearner(data.obs.shape[-1], data.state.shape[-1], data.obs.shape[1],
                       data.extras["avail_actions"].shape[-1], SmaxConfig(**dict(section)), seeds=[seed], device=device)


register_learner(LEARNER_NAME, build_smax_learner)
