"""CAST-BCQ's StarCraft items (Table 1, Figure 5; Ma & Wu, AAMAS 2023, §4.2) on SMAX: discrete offline learners as
the official SMAC code trains them (github JinmingM/CAST-BCQ, ``SMAC.rar`` at c5587eb2, ``src/``: ``learners/
q_learner.py`` = I-BCQ with ``iql_smac.yaml``, ``mbcq_learner.py`` = MABCQ, ``offpg_learner.py`` = ICQ-MA,
``cast_learner.py`` + ``modules/critics/centralc.py`` = CAST; ``run.py``'s offline loop; ``config/``). "code l. n"
cites those files; tests/test_cast_bcq_smac_official_parity.py replays their outputs.

Four methods behind one class, ``SmaxLearner`` (``SmaxConfig.method``), batched over members on the leading axis:
per-agent nets have members m = s * N + i (agent i of seed s), the seed-level nets (ICQ-MA's mixer, CAST's joint
critic) one member per seed. One minibatch of B rows (time steps) per seed, shared by its agents. SMAX
(envs/smax.py) replaces SC2; the data are common.datasets.smax ("mixed").

Notation: o = o_i, a = a_i (the action index), avail(o) the SMAX mask, r the team reward (x ``reward_scale``), d
terminal, K actions; every per-agent loss is the mean over the seed's agents (the code's mean over agents).
  I-BCQ   (q_learner.py l. 50-125) per agent a Q head and a BC head G: L = mean (Q(o, a) - y)^2 + NLL(G, a) + 1e-2
          mean G_logits^2, G's softmax over *all* K actions; filter F(o') = {a : G(a|o') / max G(.|o') + 1e-4 > 0.5}
          over all actions, a* = argmax of [Q(o', a) if a in F else -1e8, -9999999 if a unavailable] (the code's
          order: an unavailable action outranks a filtered available one), y = r + gamma (1 - d) Q'(o', a*).
  MABCQ   (mbcq_learner.py l. 100-125) I-BCQ with the value-deviation weight, *not* detached: E_V = (Q(o, a) - r) /
          gamma, w = clip(1 + (y - E_V) / E_V, 0.2, 1.8) (V = y), L = mean w (Q(o, a) - y)^2 + the BC terms.
  ICQ-MA  (offpg_learner.py; SMAC form) per agent Q_i(o, .) (256-256, the code's OffPGCritic width) and pi_i (64-64);
          QMIX's k(s) = normalized |W_1(s)| |w_final(s)| (embed 32, modules/mixers/qmix.py ``k``);
          critic (l. 119-160): y = r + gamma (1 - d) B softmax_B(Q'_tot(s', a') / 1000) Q'_tot(s', a'), the softmax
          over all B rows; L = mean (k . Q(o, a) - y)^2; then the actor (l. 44-95) from the *updated* critic and
          mixer (run.py l. 188-189: train_critic, then train): pi = softmax over avail, A = Q_i(o, a) - sum pi Q_i,
          L_pi = -mean k_i B softmax_B(A / 0.1) log pi_i(a|o); act argmax_avail pi.
  CAST    (cast_learner.py, ``agent="pi"``, the code) per agent a policy pi_i (softmax over avail) and one joint
          critic per seed Q(s, onehot a_1 .. a_N) (256-256, centralc.py): y = r + gamma (1 - d) Q'(s', a'_data)
          (SARSA; ``target="policy"``: a' = every agent's greedy action, P Eq. 6); credit (centralc.py l. 76-109):
          for m = 1..M (10), k ~ U{1..N-1}, a uniform k-subset D_m of the others (one draw per agent and m for the
          whole batch), Delta_i = 1/M sum_m [Q(s, a with D_m zeroed) - Q(s, a with D_m and i zeroed)] from the
          updated critic; L_pi = mean (pi_i(a_i|o_i) - Delta_i)^2 (l. 81-102: the *probability* is regressed onto
          the credit); act argmax_avail pi. ``agent="q"``: the paper's discrete form (P Eq. 9 with §2.6's BCQ filter,
          our earlier default): Q_i regressed onto Delta_i, a BC head, act argmax over avail & the filter at 0.3
          (over the available actions, Fujimoto et al. 2019b).
Every net: RMSprop (alpha 0.99, eps 1e-5; default.yaml), agents lr 5e-4, ICQ-MA's critic + mixer and CAST's
critic 1e-4 (``critic_lr``, offpg_smac.yaml / cast_smac.yaml), each optimizer's gradient clipped to norm 20 per seed
(``grad_norm_clip``); targets hard-copied every 20 updates (I-BCQ / MABCQ: ``target_update_interval`` 200 episodes,
run.py adds ``batch_size_run`` = 10 per iteration) or every 600 critic steps (ICQ-MA, CAST). Test actions are the
code's epsilon-greedy ones (``test_epsilon``; action_selectors.py: the test-mode epsilon = 0 is commented out): epsilon
from the linear schedule at t_env = 100 x updates (run.py l. 250): I-BCQ / MABCQ 1 -> 0.01, CAST 0.5 -> 0.001 over
200,000; ICQ-MA's multinomial selector is greedy at test. In training the code's policies carry an epsilon floor
(``train_epsilon``, ``floored_policy``): pi = (1 - eps) softmax over all K + eps / K, masked and renormalized, eps
0.5 -> 0.001 (CAST) / 0.5 -> 0.05 (ICQ-MA, over 500,000) on the same clock. A profile shorter than the code's 40,000
iterations lays these schedules over its own updates (``schedule_scale`` = 40,000 / updates; quick: 10) [I], so
its last evaluations use the code's final epsilons; full runs them on the code's clock.

Reward scale [I, measured]: every learner trains on r x ``reward_scale`` = 10, SMAC's scale (SMAC rescales its
returns to at most 20, ``reward_scale_rate``; SMAX's are at most ~2, docs/smax.md), so the code's hyperparameters
(ICQ's temperatures) apply as on SMAC. On SMAX's raw scale our earlier CAST's credits (|Delta| ~ 0.01) sat below
the optimizer's per-step jitter (papers/cast_bcq/README.md).
Our decisions [I]: MLP agent nets (64-64) on the agent's own SMAX observation instead of SMAC's GRU-64 with agent
id and last action (the behavior data come from feed-forward MAPPO policies, docs/smax.md), per-agent parameters
(no sharing, members = seeds x agents; the code shares one network: its clip sees the sum of the agents'
gradients, ours their concatenation); one-step targets on B sampled time steps instead of TD(lambda) on 32-episode
batches with one critic step per time step (the code: ~max episode length critic steps per agent step, ours 1:1);
ICQ-MA's critic an MLP with one output per action (the code's v + a dueling sum has the same outputs); the ICQ
softmaxes over the B rows (the code: over the 32 episodes at each time step); time-out rows get no critic loss.
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
from common.algos.ppo import clip_grad_norm_per_seed_
from common.algos.state import (
    slice_module_state,
    slice_optimizer_state,
    stack_module_states,
    stack_optimizer_states,
)
from common.datasets.sampling import sample_indices
from common.networks.nets import EnsembleMLP, hard_update, load_member, member_state, polyak_update
from papers.cast_bcq.grid import bc_loss, credit_loss, icq_policy_weights, icq_target_weights, masked_argmax

__all__ = ["SmaxConfig", "SmaxLearner", "METHODS", "LEARNER_NAME", "filter_allowed", "code_filter", "code_bcq_argmax",
           "masked_logits", "bcq_target", "vd_weight", "mabcq_loss", "qmix_k", "icq_ma_target", "subteam_masks",
           "cast_credit", "joint_input", "epsilon_at", "floored_policy", "build_smax_learner"]

LEARNER_NAME = "cast_smax"
METHODS = ("i_bcq", "mabcq", "icq_ma", "cast_bcq")
AGENTS = ("pi", "q")  # cast_bcq: the code's policy regression, or the paper's Q_i with the BCQ filter
STOP = 4  # SMAX's stop action: no no-op exists; the only action of a dead unit (envs/smax.py)
T_ENV_PER_UPDATE = 100  # run.py l. 250: runner.t_env += 100 per iteration (the epsilon schedules' clock)
# test-time epsilon (start, finish, anneal t_env) of each method's action selector [C: config/algs/*.yaml]
TEST_EPSILON = {"i_bcq": (1.0, 0.01, 200_000), "mabcq": (1.0, 0.01, 200_000), "cast_bcq": (0.5, 0.001, 200_000),
                "icq_ma": (0.0, 0.0, 1)}  # icq_ma: multinomial selector, greedy at test (test_greedy)
# the policy learners' training-time epsilon floor: BasicMAC.forward(test_mode=False) mixes (1 - eps) softmax + eps / K
# with its selector's epsilon (controllers/basic_controller.py l. 43-51; cast_smac.yaml / offpg_smac.yaml) [C]
TRAIN_EPSILON = {"cast_bcq": (0.5, 0.001, 200_000), "icq_ma": (0.5, 0.05, 500_000)}
QMIX_EMBED = 32  # offpg_smac.yaml mixing_embed_dim


@dataclass
class SmaxConfig:
    """One config for the four SMAX learners; sources per field ([C] the SMAC code's config, [I] ours)."""

    method: str = "cast_bcq"  # i_bcq | mabcq | icq_ma | cast_bcq (spec §1.5's columns)
    hidden: int = 64  # agent nets' two hidden layers (SMAC's GRU-64 agent, here an MLP) [I]
    critic_hidden: int = 256  # CAST's joint critic, ICQ-MA's per-agent critic (centralc / offpg 256) [C]
    lr: float = 5e-4  # RMSprop lr of the agent nets (default.yaml lr) [C]
    critic_lr: float = 1e-4  # RMSprop lr of ICQ-MA's critic + mixer and CAST's critic (critic_lr) [C]
    grad_clip: float = 20.0  # every optimizer's gradient norm, per seed (grad_norm_clip) [C]
    batch_size: int = 256  # time steps per seed per update [I] (the code: 32 episodes)
    gamma: float = 0.99  # discount [C]
    target_every: int | None = None  # hard target copy every this many updates; None: 20 (I-BCQ / MABCQ), 600 [C]
    polyak: float | None = None  # a Polyak rate per update instead of the hard copies (our earlier form: 0.005) [I]
    td_loss: str = "mse"  # i_bcq / mabcq: "mse" (the code) or "huber" (delta 1, Fujimoto 2019b; our earlier I-BCQ)
    bcq_threshold: float | None = None  # None: 0.5 (the code's filter, all but cast_bcq agent "q"), 0.3 (Fujimoto)
    bc_logit_reg: float = 1e-2  # mean logits^2 weight of the BC loss (q_learner.py l. 121) [C]
    vd_clip: float = 0.8  # mabcq: value-deviation weight clipped to 1 +- vd_clip (mbcq_learner.py) [C]
    reward_scale: float = 10.0  # r x this: SMAC's return scale (max 20) from SMAX's (max ~2) [I, module docstring]
    icq_alpha: float = 1000.0  # icq_ma: critic target temperature (offpg_learner.py l. 127) [C]
    icq_beta: float = 0.1  # icq_ma: policy advantage temperature (offpg_learner.py l. 85) [C]
    target: str = "data"  # cast_bcq: next joint action of the critic target, "data" (code SARSA) or "policy" (P Eq. 6)
    subteams: int = 10  # cast_bcq: sub-team draws per agent (centralc.py mc_times = 10) [C]
    absent: str = "zero"  # cast_bcq: masked blocks zeroed ("zero", code) or at the default action stop ("default")
    agent: str = "pi"  # cast_bcq: "pi" the code's pi(a|o) regression, "q" the paper's Q_i + BCQ filter (P Eq. 9)
    test_epsilon: bool = True  # test actions epsilon-greedy on the code's schedule (TEST_EPSILON) [C]; False: greedy
    train_epsilon: bool = True  # icq_ma / cast "pi": the code's epsilon floor on pi in training (TRAIN_EPSILON) [C]
    schedule_scale: float = 1.0  # the epsilon schedules' clock: t_env = 100 x updates x this (1: the code's; a
    #   shorter profile lays the code's 40,000-iteration schedules over its own updates with 40,000 / updates) [I]
    log_every: int = 100  # update() returns metrics every log_every updates [I]

    def validate(self) -> "SmaxConfig":
        for name, allowed in (("method", METHODS), ("target", ("data", "policy")), ("absent", ("zero", "default")),
                              ("agent", AGENTS), ("td_loss", ("mse", "huber"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"SmaxConfig.{name}={getattr(self, name)!r} is not allowed; "
                                 f"choose one of {list(allowed)}")
        for name in ("hidden", "critic_hidden", "batch_size", "subteams", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"SmaxConfig.{name}={v!r} must be an integer >= 1")
        if self.target_every is not None and (isinstance(self.target_every, bool) or self.target_every < 1):
            raise ValueError(f"SmaxConfig.target_every={self.target_every!r} must be an integer >= 1 or None")
        for name in ("lr", "critic_lr", "grad_clip", "icq_alpha", "icq_beta", "vd_clip", "reward_scale", "schedule_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SmaxConfig.{name}={getattr(self, name)!r} must be > 0")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"SmaxConfig.gamma={self.gamma!r} must be in [0, 1]")
        if self.polyak is not None and not 0.0 < self.polyak <= 1.0:
            raise ValueError(f"SmaxConfig.polyak={self.polyak!r} must be in (0, 1] or None")
        if self.polyak is not None and self.target_every is not None:
            raise ValueError("SmaxConfig: give polyak or target_every, not both")
        if self.bcq_threshold is not None and not 0.0 <= self.bcq_threshold < 1.0:
            raise ValueError(f"SmaxConfig.bcq_threshold={self.bcq_threshold!r} must be in [0, 1) or None")
        own = {"i_bcq": ("bcq_threshold", "bc_logit_reg", "td_loss"),
               "mabcq": ("bcq_threshold", "bc_logit_reg", "vd_clip", "td_loss"),
               "icq_ma": ("icq_alpha", "icq_beta", "critic_hidden", "critic_lr"),
               "cast_bcq": ("target", "subteams", "absent", "critic_hidden", "critic_lr", "agent")
               + (("bcq_threshold", "bc_logit_reg") if self.agent == "q" else ())}
        default = SmaxConfig()
        unused = [f.name for f in fields(self) if f.name in {n for v in own.values() for n in v} | {"agent"}
                  and f.name not in own[self.method] and getattr(self, f.name) != getattr(default, f.name)]
        if unused:
            raise ValueError(f"SmaxConfig fields {unused} are not used by method {self.method!r}"
                             + (f" with agent {self.agent!r}" if self.method == "cast_bcq" else ""))
        return self

    @property
    def threshold(self) -> float:
        if self.bcq_threshold is not None:
            return float(self.bcq_threshold)
        return 0.3 if self.paper_cast else 0.5

    @property
    def paper_cast(self) -> bool:
        """CAST in the paper's form (Q_i regressed, a BC head, acting through the filter over avail)."""
        return self.method == "cast_bcq" and self.agent == "q"

    @property
    def target_period(self) -> int:
        if self.target_every is not None:
            return int(self.target_every)
        return 20 if self.method in ("i_bcq", "mabcq") else 600


# ---- losses and pieces (each on a hand-computed case in tests/test_cast_bcq_smac.py) --------------------------


def masked_logits(logits: Tensor, avail: Tensor) -> Tensor:
    """logits [..., K] with the unavailable actions (avail [..., K] bool False) at -inf."""
    return logits.masked_fill(~avail, -torch.inf)


def filter_allowed(logits: Tensor, avail: Tensor, threshold: float) -> Tensor:
    """Discrete BCQ filter over the available actions (Fujimoto et al. 2019b; the paper form of CAST): avail &
    G(a|o) / max_{a' avail} G(a'|o) > threshold, G the softmax over the available actions; bool [..., K]."""
    p = torch.softmax(masked_logits(logits, avail), dim=-1)
    return avail & (p / p.amax(dim=-1, keepdim=True) > threshold)


def code_filter(logits: Tensor, threshold: float) -> Tensor:
    """The SMAC code's BCQ filter (q_learner.py / mbcq_learner.py l. 99-101): G = softmax over *all* K actions,
    allowed = G(a|o) / max_a' G(a'|o) + 1e-4 > threshold; bool [..., K] (availability not consulted)."""
    p = torch.softmax(logits, dim=-1)
    return p / p.amax(dim=-1, keepdim=True) + 1e-4 > threshold


def code_bcq_argmax(q: Tensor, allowed: Tensor, avail: Tensor) -> Tensor:
    """The code's filtered argmax (l. 103-105): score = Q where allowed else -1e8, then -9999999 where unavailable;
    argmax (so an unavailable action outranks an available one the filter removed). q, allowed, avail [..., K]."""
    score = torch.where(allowed, q, torch.full_like(q, -1e8))
    return score.masked_fill(~avail, -9999999.0).argmax(dim=-1)


def _take(x: Tensor, a: Tensor) -> Tensor:
    return x.gather(-1, a.unsqueeze(-1)).squeeze(-1)


def floored_policy(logits: Tensor, avail: Tensor, eps: float) -> Tensor:
    """The code's training-time policy (basic_controller.py l. 43-51, then offpg_learner.py l. 68-70 /
    cast_learner.py l. 64-66): p = (1 - eps) softmax over *all* K actions + eps / K, zeroed where unavailable and
    renormalized; eps = 0 gives the softmax over the available actions. logits, avail [..., K] -> [..., K]."""
    p = torch.softmax(logits, dim=-1)
    if eps > 0:
        p = (1.0 - eps) * p + eps / logits.shape[-1]
    p = p * avail
    return p / p.sum(dim=-1, keepdim=True)


def bcq_target(q_next_target: Tensor, a_star: Tensor, r: Tensor, d: Tensor, gamma: float) -> Tensor:
    """y = r + gamma (1 - d) Q'(o', a*); q_next_target [..., K], a_star / r / d [...]."""
    return r + gamma * (1.0 - d) * _take(q_next_target, a_star)


def vd_weight(q_data: Tensor, r: Tensor, y: Tensor, gamma: float, clip: float) -> Tensor:
    """MABCQ's value-deviation weight as the SMAC code (mbcq_learner.py l. 114-119), *not* detached (its gradient
    reaches Q through E_V): E_V = (Q(o, a) - r) / gamma, w = clip(1 + (y - E_V) / E_V, 1 - clip, 1 + clip), V = y.
    E_V = 0 exactly (the code: inf or nan) is read as 1e-12."""
    e_v = (q_data - r) / gamma
    e_v = torch.where(e_v == 0, torch.full_like(e_v, 1e-12), e_v)
    return (1.0 + (y.detach() - e_v) / e_v).clamp(1.0 - clip, 1.0 + clip)


def mabcq_loss(q_data: Tensor, y: Tensor, w: Tensor) -> Tensor:
    """MABCQ critic loss per member [M]: mean_B w (Q(o, a) - y)^2 (y detached, w as given: the code's is not)."""
    return (w * (q_data - y.detach()).square()).mean(dim=-1)


def qmix_k(raw: Tensor, n_agents: int, embed: int = QMIX_EMBED) -> Tensor:
    """QMIX's k(s) (modules/mixers/qmix.py ``k``): raw [..., N*E + E] = [hyper_w_1(s), hyper_w_final(s)];
    k_i = sum_e |W_1|_{i,e} |w_final|_e / sum_j (...); [..., N]."""
    w1 = raw[..., : n_agents * embed].abs().unflatten(-1, (n_agents, embed))
    k = (w1 * raw[..., n_agents * embed:].abs().unsqueeze(-2)).sum(-1)
    return k / k.sum(dim=-1, keepdim=True)


def icq_ma_target(q_tot_next: Tensor, r: Tensor, d: Tensor, boot: Tensor, gamma: float, alpha: float) -> Tensor:
    """ICQ-MA's SMAC critic target (offpg_learner.py l. 121-131 in one-step form): y = r + gamma boot w' Q'_tot,
    w' = B softmax_B(Q'_tot / alpha) over *all* B rows (the code: every episode of a time step, terminal and padded
    included); boot = 1 - d on rows with a next step, 0 on time-outs; all [S, B]."""
    w = icq_target_weights(q_tot_next, torch.ones_like(q_tot_next), alpha)
    return r + gamma * boot * w * q_tot_next.detach()


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
    their dataset actions; Delta_i = mean_c [Q(.., a_i, ..) - Q(.., absent_i, ..)].

    A plain ``EnsembleMLP`` critic (no input norm, no output activation) takes the factored path
    (``_factored_credit``): the same numbers up to float rounding, 2.2x faster per update on 10 agents; any other callable
    gets the joint inputs built row by row (``_direct_credit``)."""
    plain = (isinstance(joint_q, EnsembleMLP) and joint_q.norm is None and joint_q.output_activation is None
             and len(joint_q.layers) > 1)
    return (_factored_credit if plain else _direct_credit)(joint_q, state, act, masks, n_actions, absent)


def _absent_blocks(masks: Tensor, S: int, B: int) -> Tensor:
    """[S, B, N(i), C, 2, N(j)] bool: partner j's action block is absent in pair 0 (agent i at its action) or pair 1
    (agent i absent too) of agent i's draw c."""
    N, C = masks.shape[1], masks.shape[2]
    eye = torch.eye(N, dtype=torch.bool, device=masks.device)
    gone = masks[:, None, :, :, None, :].expand(S, B, N, C, 2, N).clone()
    gone[..., 1, :] |= eye[None, None, :, None, :]
    return gone


def _direct_credit(joint_q, state: Tensor, act: Tensor, masks: Tensor, n_actions: int, absent: str) -> Tensor:
    """cast_credit with every counterfactual joint input [s, onehot a_1 .. a_N] built and passed through joint_q."""
    S, B, N = act.shape
    C, K = masks.shape[2], n_actions
    onehot = F.one_hot(act, K).to(state.dtype)  # [S, B, N, K]
    away = torch.zeros(K, dtype=state.dtype, device=state.device)
    if absent == "default":
        away[STOP] = 1.0
    gone = _absent_blocks(masks, S, B)  # [S, B, N(i), C, 2, N(j)]
    x = torch.where(gone[..., None], away, onehot[:, :, None, None, None])
    inp = joint_input(state[:, :, None, None, None, :].expand(S, B, N, C, 2, state.shape[-1]), x)
    q = joint_q(inp.reshape(S, -1, inp.shape[-1])).reshape(S, B, N, C, 2)
    return (q[..., 0] - q[..., 1]).mean(dim=-1)


def _factored_credit(joint_q: EnsembleMLP, state: Tensor, act: Tensor, masks: Tensor, n_actions: int,
                     absent: str) -> Tensor:
    """cast_credit for a plain EnsembleMLP: its first layer is linear in [s, onehot a_1 .. a_N], so a counterfactual
    row's pre-activation is W_s s + b + sum_j present_j W_j[a_j] (+ sum_j absent_j W_j[stop] for "default"): the
    state part once per row of the batch, the action part one [N*C*2, N] x [N, H] product per row, instead of the
    [N*C*2, D + N*K] x [D + N*K, H] product of the built inputs. Then the remaining layers as joint_q's."""
    S, B, N = act.shape
    C, K, D = masks.shape[2], n_actions, state.shape[-1]
    first = joint_q.layers[0]
    w, H = first.weight, first.weight.shape[-1]  # [S, D + N*K, H]
    base = torch.bmm(state, w[:, :D])  # [S, B, H]
    if first.bias is not None:
        base = base + first.bias
    blocks = w[:, D:].reshape(S, N, K, H)  # W_j[k]
    idx = act.transpose(1, 2)[..., None].expand(S, N, B, H)
    taken = blocks.gather(2, idx).transpose(1, 2).reshape(S * B, N, H)  # W_j[a_j] [S*B, N(j), H]
    gone = _absent_blocks(masks, S, B)  # [S, B, N(i), C, 2, N(j)]
    keep = (~gone).to(state.dtype).reshape(S * B, N * C * 2, N)
    h = torch.baddbmm(base.reshape(S * B, 1, H), keep, taken)  # [S*B, N*C*2, H]
    if absent == "default":
        stop = blocks[:, :, STOP]  # [S, N(j), H]
        h = h.reshape(S, -1, H).baddbmm_(gone.to(state.dtype).reshape(S, B * N * C * 2, N), stop)
    h = h.reshape(S, -1, H)
    if isinstance(joint_q.activation, torch.nn.ReLU):
        h = h.relu_()  # (in place: the rows are large)
    elif joint_q.activation is not None:
        h = joint_q.activation(h)
    h = joint_q._layers(h, [(layer.weight, layer.bias) for layer in joint_q.layers[1:]])  # joint_q's other layers
    q = h.reshape(S, B, N, C, 2)
    return (q[..., 0] - q[..., 1]).mean(dim=-1)


def epsilon_at(method: str, updates: float, table: Mapping[str, tuple] = TEST_EPSILON) -> float:
    """The code's epsilon after ``updates`` updates (iterations of the code): ``table``'s (TEST_EPSILON, or
    TRAIN_EPSILON for the training floor) linear schedule at t_env = 100 x updates (components/epsilon_schedules.py
    DecayThenFlatSchedule)."""
    start, finish, anneal = table[method]
    t_env = T_ENV_PER_UPDATE * float(updates)
    return float(max(finish, start - (start - finish) * t_env / anneal))


# ---- the learner ----------------------------------------------------------------------------------------------


class SmaxLearner:
    """The four SMAX learners batched over seeds (module docstring). ``prepare_data`` -> ``sample_batch`` ->
    ``update``; ``act(obs [S, E, N, O], avail [S, E, N, K]) -> actions [S, E, N]`` (greedy or the code's
    epsilon-greedy, masked)."""

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
        targeted = {"i_bcq": ("q",), "mabcq": ("q",), "icq_ma": ("q", "mix"), "cast_bcq": ("qj",)}[cfg.method]
        self.targets = {k: copy.deepcopy(self.nets[k]).requires_grad_(False) for k in targeted}
        # optimizer groups: (nets, lr); each clipped per seed on its own norm (the code's optimizers)
        groups = {"i_bcq": {"q": (("q", "bc"), cfg.lr)}, "mabcq": {"q": (("q", "bc"), cfg.lr)},
                  "icq_ma": {"critic": (("q", "mix"), cfg.critic_lr), "pi": (("pi",), cfg.lr)},
                  "cast_bcq": ({"bc": (("bc",), cfg.lr), "qj": (("qj",), cfg.critic_lr), "q": (("q",), cfg.lr)}
                               if cfg.paper_cast else {"qj": (("qj",), cfg.critic_lr), "pi": (("pi",), cfg.lr)})}
        self.groups = {k: [p for n in nets for p in self.nets[n].parameters()]
                       for k, (nets, _) in groups[cfg.method].items()}
        self.opts = {k: torch.optim.RMSprop(self.groups[k], lr=lr, alpha=0.99, eps=1e-5)
                     for k, (_, lr) in groups[cfg.method].items()}
        self.gens = [torch.Generator(device=self.device) for _ in self.seeds]  # one stream per seed
        for g, sd in zip(self.gens, self.seeds):
            g.manual_seed(int(np.random.SeedSequence([sd, 0x5A]).generate_state(1, np.uint64)[0] >> 1))
        self.step = 0

    def _build(self, n_seeds: int) -> dict[str, EnsembleMLP]:
        cfg, N, O, K = self.cfg, self.N, self.O, self.K
        H, HC = (cfg.hidden, cfg.hidden), (cfg.critic_hidden, cfg.critic_hidden)
        if cfg.method in ("i_bcq", "mabcq") or cfg.paper_cast:
            return {"q": EnsembleMLP(n_seeds * N, O, K, H), "bc": EnsembleMLP(n_seeds * N, O, K, H),
                    **({"qj": EnsembleMLP(n_seeds, self.D + N * K, 1, HC)} if cfg.paper_cast else {})}
        if cfg.method == "icq_ma":
            return {"q": EnsembleMLP(n_seeds * N, O, K, HC), "pi": EnsembleMLP(n_seeds * N, O, K, H),
                    "mix": EnsembleMLP(n_seeds, self.D, (N + 1) * QMIX_EMBED, ())}
        return {"pi": EnsembleMLP(n_seeds * N, O, K, H), "qj": EnsembleMLP(n_seeds, self.D + N * K, 1, HC)}

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
    def _step(self, name: str, loss: Tensor) -> Tensor:
        """One optimizer step on sum(loss) (seeds are independent: their losses add), each seed's gradient clipped
        to ``grad_clip`` on this optimizer's parameters; returns the norms [S] before the clip."""
        opt = self.opts[name]
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        norms = clip_grad_norm_per_seed_(self.groups[name], self.cfg.grad_clip, self.S)
        opt.step()
        return norms

    def _agent_mean(self, per_member: Tensor) -> Tensor:
        """per-member losses [M] -> per-seed means over the seed's agents [S] (the code's mean over agents)."""
        return per_member.reshape(self.S, self.N).mean(dim=1)

    def _bc(self, obs: Tensor, a: Tensor, avail: Tensor | None) -> Tensor:
        """BC head loss per member [M]: NLL + logit_reg mean logits^2; the softmax over all K actions (the code) or,
        with ``avail`` (the paper form), over the available ones."""
        logits = self.nets["bc"](obs)  # [M, B, K]
        if avail is None:
            return bc_loss(logits, a, self.cfg.bc_logit_reg)
        keep = avail | F.one_hot(a, self.K).bool()
        nll = bc_loss(logits.masked_fill(~keep, -1e9), a, 0.0)
        return nll + self.cfg.bc_logit_reg * logits.square().mean(dim=(-2, -1))

    def _bcq_update(self, b: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = self._members(b["obs"]), self._members(b["next_obs"])  # [M, B, O]
        a, av2 = self._members(b["act"]), self._members(b["next_avail"])  # [M, B], [M, B, K]
        r, d = self._team(b["r"]), self._team(b["d"])  # [M, B]
        with torch.no_grad():
            a_star = code_bcq_argmax(self.nets["q"](o2), code_filter(self.nets["bc"](o2), cfg.threshold), av2)
            y = bcq_target(self.targets["q"](o2), a_star, r, d, cfg.gamma)
        l_bc = self._bc(obs, a, None)
        q_data = _take(self.nets["q"](obs), a)
        if cfg.td_loss == "huber":
            err = F.huber_loss(q_data, y.detach(), reduction="none", delta=1.0)
        else:
            err = (q_data - y.detach()).square()
        if cfg.method == "mabcq":  # mabcq_loss's form, the weight on the chosen error
            err = vd_weight(q_data, r, y, cfg.gamma, cfg.vd_clip) * err
        l_q = err.mean(dim=-1)
        l_q, l_bc = self._agent_mean(l_q), self._agent_mean(l_bc)
        norm = self._step("q", l_q + l_bc)
        return {"loss_q": l_q, "loss_bc": l_bc, "grad_norm": norm}

    def _icq_update(self, b: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = self._members(b["obs"]), self._members(b["next_obs"])
        a, a2 = self._members(b["act"]), self._members(b["next_act"])
        avail = self._members(b["avail"])
        with torch.no_grad():
            k2 = qmix_k(self.targets["mix"](b["next_state"]), self.N)  # [S, B, N]
            q2 = self._seeds(_take(self.targets["q"](o2), a2))  # [S, B, N]
            y = icq_ma_target((k2 * q2).sum(-1), b["r"], b["d"], b["has_next"], cfg.gamma, cfg.icq_alpha)
        q_tot = (qmix_k(self.nets["mix"](b["state"]), self.N) * self._seeds(_take(self.nets["q"](obs), a))).sum(-1)
        v = b["valid"]
        l_q = (v * (q_tot - y).square()).sum(-1) / v.sum(-1).clamp(min=1.0)  # [S]
        norm = self._step("critic", l_q)
        with torch.no_grad():  # the actor reads the critic and mixer after their step (run.py l. 188-189)
            q_all = self.nets["q"](obs)  # [M, B, K]
            k = self._members(qmix_k(self.nets["mix"](b["state"]), self.N))  # [M, B]
        pi = floored_policy(self.nets["pi"](obs), avail, self.train_epsilon())
        base = (pi.detach() * q_all.masked_fill(~avail, 0.0)).sum(-1)
        w = icq_policy_weights(_take(q_all, a), base, cfg.icq_beta) * k
        l_pi = self._agent_mean(-(w * torch.log(_take(pi, a))).mean(dim=-1))
        self._step("pi", l_pi)
        return {"loss_q": l_q, "loss_pi": l_pi, "grad_norm": norm}

    def _greedy(self, obs: Tensor, avail: Tensor) -> Tensor:
        """Greedy actions [M, B] of each member: argmax over avail of pi (icq_ma, cast "pi") or Q (i_bcq, mabcq),
        over avail & the Fujimoto filter of Q_i (cast "q")."""
        if self.cfg.paper_cast:
            return masked_argmax(self.nets["q"](obs), filter_allowed(self.nets["bc"](obs), avail, self.cfg.threshold))
        return masked_argmax(self.nets["q" if self.cfg.method in ("i_bcq", "mabcq") else "pi"](obs), avail)

    def _cast_update(self, b: Mapping[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.cfg
        obs, o2 = self._members(b["obs"]), self._members(b["next_obs"])
        a, avail = self._members(b["act"]), self._members(b["avail"])
        out: dict[str, Tensor] = {}
        if cfg.paper_cast:
            out["loss_bc"] = l_bc = self._agent_mean(self._bc(obs, a, avail))
        with torch.no_grad():  # (the paper form's filter at s' from G before its step, Fujimoto)
            if cfg.target == "policy":  # P Eq. 6: a' = every agent's greedy action; time-outs bootstrap
                a2, weight, boot = self._seeds(self._greedy(o2, self._members(b["next_avail"]))), None, 1.0 - b["d"]
            else:  # the code's SARSA: the next dataset joint action; time-out rows have none (weight 0)
                a2, weight, boot = b["next_act"], b["valid"], b["has_next"]
            q2 = self.targets["qj"](joint_input(b["next_state"], F.one_hot(a2, self.K).float()))[..., 0]  # [S, B]
            y = b["r"] + cfg.gamma * boot * q2
        if cfg.paper_cast:
            self._step("bc", l_bc)
        qj = self.nets["qj"](joint_input(b["state"], F.one_hot(b["act"], self.K).float()))[..., 0]  # [S, B]
        err = (qj - y).square()
        out["loss_qj"] = l_qj = err.mean(-1) if weight is None else (weight * err).sum(-1) / weight.sum(-1).clamp(min=1)
        out["grad_norm"] = self._step("qj", l_qj)
        with torch.no_grad():
            delta = cast_credit(self.nets["qj"], b["state"], b["act"], b["subteam"], self.K, cfg.absent)
        if cfg.paper_cast:
            out["loss_qi"] = l_qi = self._agent_mean(credit_loss(_take(self.nets["q"](obs), a), self._members(delta)))
            self._step("q", l_qi)
        else:  # the code: pi(a|o) (softmax over avail) regressed onto the credit
            pi_a = _take(floored_policy(self.nets["pi"](obs), avail, self.train_epsilon()), a)
            out["loss_pi"] = l_pi = self._agent_mean(credit_loss(pi_a, self._members(delta)))
            self._step("pi", l_pi)
        out["credit"] = delta.mean(dim=(1, 2))
        return out

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        m = self.cfg.method
        out = (self._icq_update if m == "icq_ma" else self._cast_update if m == "cast_bcq" else self._bcq_update)(batch)
        self.step += 1
        if self.cfg.polyak is not None:
            for k, tgt in self.targets.items():
                polyak_update(tgt, self.nets[k], self.cfg.polyak)
        elif self.step % self.cfg.target_period == 0:  # the code's hard copies
            for k, tgt in self.targets.items():
                hard_update(tgt, self.nets[k])
        if not all(bool(torch.isfinite(v).all()) for v in out.values()):
            raise FloatingPointError(f"{m}: non-finite loss at update {self.step}")
        return {k: v.detach() for k, v in out.items()} if self.step % self.cfg.log_every == 0 else {}

    def train_epsilon(self) -> float:
        """The policy's training-time epsilon floor now (``epsilon_at`` with TRAIN_EPSILON; 0 when train_epsilon is
        False or the method has no policy)."""
        on = self.cfg.train_epsilon and self.cfg.method in TRAIN_EPSILON and not self.cfg.paper_cast
        return epsilon_at(self.cfg.method, self.step * self.cfg.schedule_scale, TRAIN_EPSILON) if on else 0.0

    # ---- acting -----------------------------------------------------------------------------------------------
    def test_epsilon(self) -> float:
        """The test-time epsilon now (``epsilon_at`` at this learner's update count), 0 with test_epsilon False."""
        return epsilon_at(self.cfg.method, self.step * self.cfg.schedule_scale) if self.cfg.test_epsilon else 0.0

    @torch.no_grad()
    def act(self, obs, avail, epsilon: float = 0.0,
            generator: torch.Generator | Sequence[torch.Generator] | None = None) -> np.ndarray:
        """Masked actions [S, E, N] (int64) for obs [S, E, N, O] and avail [S, E, N, K] (numpy or torch): greedy
        (``_greedy``), each replaced with probability ``epsilon`` by a uniform available action (the code's
        epsilon-greedy selector; ``generator`` draws both; a list of S generators: seed s's draws from its own, the
        very draws a learner of seed s alone makes with it, e.g. in a stack of runs)."""
        o = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        av = torch.as_tensor(np.asarray(avail), dtype=torch.bool, device=self.device)
        S, E, N = o.shape[:3]
        om = o.transpose(1, 2).reshape(S * N, E, -1)  # [M, E, O]
        avm = av.transpose(1, 2).reshape(S * N, E, -1)
        a = self._greedy(om, avm)
        if epsilon > 0:
            gens = generator if isinstance(generator, (list, tuple)) else None
            if gens is not None and len(gens) != S:
                raise ValueError(f"act: {len(gens)} generators for {S} seeds; give one per seed, or one for all")
            parts = [(avm, a, generator)] if gens is None else \
                [(avm[s * N:(s + 1) * N], a[s * N:(s + 1) * N], g) for s, g in enumerate(gens)]
            a = torch.cat([self._epsilon_greedy(av_s, a_s, epsilon, g) for av_s, a_s, g in parts])
        return a.reshape(S, N, E).transpose(1, 2).cpu().numpy()

    def _epsilon_greedy(self, avail: Tensor, greedy: Tensor, epsilon: float, generator) -> Tensor:
        """Each greedy action [m, E] replaced with probability ``epsilon`` by a uniform available one (avail
        [m, E, K]): a multinomial draw for every entry, then a uniform, both from ``generator``."""
        rand = torch.multinomial(avail.reshape(-1, self.K).float(), 1, generator=generator).reshape(greedy.shape)
        pick = torch.rand(greedy.shape, generator=generator, device=self.device) < epsilon
        return torch.where(pick, rand, greedy)

    # ---- stacking runs (cells as members, common/running/grouping.py) -------------------------------------------------
    run_seeds: list[int] | None = None  # a stack: each stacked run's seed count, in order (None: one run)

    @classmethod
    def stack(cls, learners: Sequence["SmaxLearner"]) -> "SmaxLearner":
        """One learner whose seeds are those of ``learners`` side by side (e.g. one per (cell, seed) run): networks,
        targets, RMSprop states and per-seed generators copied in. The learner already keeps one random stream per
        seed and clips each seed's gradient on its own norm, so an update of the stack is an update of each learner
        alone (I-BCQ and MABCQ bit for bit: N members per seed in every network; ICQ-MA's mixer and CAST's joint
        critic, one member per seed, up to the float rounding of a batched product over another member count,
        docs/scaling.md). ``split_state`` gives the learners' state_dicts back."""
        first = learners[0]
        sig = lambda lr: (asdict(lr.cfg), lr.O, lr.D, lr.N, lr.K, str(lr.device), lr.step)  # noqa: E731
        bad = [k for k, lr in enumerate(learners) if sig(lr) != sig(first)]
        if bad:
            raise ValueError(f"SmaxLearner.stack: learners {bad} differ from learner 0 in config, shapes, device "
                             "or update count")
        big = cls(first.O, first.D, first.N, first.K, first.cfg, seeds=[s for lr in learners for s in lr.seeds],
                  device=first.device)
        for name in big.nets:
            stack_module_states(big.nets[name], [lr.nets[name] for lr in learners])
        for name in big.targets:
            stack_module_states(big.targets[name], [lr.targets[name] for lr in learners])
        for name, opt in big.opts.items():
            opt.load_state_dict(stack_optimizer_states([lr.opts[name].state_dict() for lr in learners]))
        for g, own in zip(big.gens, [g for lr in learners for g in lr.gens]):
            g.set_state(own.get_state())
        big.step, big.run_seeds = first.step, [lr.S for lr in learners]
        return big

    def split_state(self) -> list[dict[str, Any]]:
        """Each stacked run's ``state_dict`` as its learner alone would write it (a checkpoint that resumes the run
        alone or stacked again)."""
        if self.run_seeds is None:
            raise ValueError("split_state needs a stack of learners (SmaxLearner.stack)")
        out, s0 = [], 0
        opts = {k: v.state_dict() for k, v in self.opts.items()}
        for n in self.run_seeds:
            own = slice(s0, s0 + n)
            out.append({"cfg": asdict(self.cfg), "seeds": self.seeds[own], "step": self.step,
                        "nets": {k: slice_module_state(v, own, self.S) for k, v in self.nets.items()},
                        "targets": {k: slice_module_state(v, own, self.S) for k, v in self.targets.items()},
                        "opts": {k: slice_optimizer_state(v, own, self.S) for k, v in opts.items()},
                        "gens": [g.get_state() for g in self.gens[own]]})
            s0 += n
        return out

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
            g.set_state(s.cpu())
        self.step = int(state["step"])


def build_smax_learner(data, section: Mapping[str, Any], seed: int, device) -> SmaxLearner:
    """Registry builder of ``cast_smax``: SmaxConfig fields from the cell's section, one seed."""
    return SmaxLearner(data.obs.shape[-1], data.state.shape[-1], data.obs.shape[1],
                       data.extras["avail_actions"].shape[-1], SmaxConfig(**dict(section)), seeds=[seed], device=device)


register_learner(LEARNER_NAME, build_smax_learner)
