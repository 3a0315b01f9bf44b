"""The named pieces of CAST-BCQ's SMAX learners (papers/cast_bcq/smac.py, whose docstring gives the four methods'
equations with the official SMAC code's lines): the BCQ filters and argmax, the training-time floored policy, the
I-BCQ / MABCQ targets and weights, QMIX's k(s) and ICQ-MA's target, CAST's sub-team draws and credit (factored and
direct forms), and the code's epsilon schedules. Each is tested on a hand-computed case (tests/test_cast_bcq_smac.py).
Shapes: S seeds, N agents, M = S*N members, B batch, D state, K actions, C sub-team draws.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from common.networks.nets import EnsembleMLP
from papers.cast_bcq.grid_losses import icq_target_weights, take_action
from papers.cast_bcq.smac_config import QMIX_EMBED, STOP, T_ENV_PER_UPDATE, TEST_EPSILON

__all__ = [
    "filter_allowed",
    "code_filter",
    "code_bcq_argmax",
    "masked_logits",
    "floored_policy",
    "bcq_target",
    "vd_weight",
    "mabcq_loss",
    "qmix_k",
    "icq_ma_target",
    "subteam_masks",
    "joint_input",
    "cast_credit",
    "epsilon_at",
]


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
    return r + gamma * (1.0 - d) * take_action(q_next_target, a_star)


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
    k = (w1 * raw[..., n_agents * embed :].abs().unsqueeze(-2)).sum(-1)
    return k / k.sum(dim=-1, keepdim=True)


def icq_ma_target(
    q_tot_next: Tensor, r: Tensor, d: Tensor, boot: Tensor, gamma: float, alpha: float
) -> Tensor:
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
    # self last
    score = score.masked_fill(torch.eye(N, dtype=torch.bool, device=device)[None, :, None, :], 2.0)
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
    plain = (
        isinstance(joint_q, EnsembleMLP)
        and joint_q.norm is None
        and joint_q.output_activation is None
        and len(joint_q.layers) > 1
    )
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


def _factored_credit(
    joint_q: EnsembleMLP, state: Tensor, act: Tensor, masks: Tensor, n_actions: int, absent: str
) -> Tensor:
    """cast_credit for a plain EnsembleMLP: its first layer is linear in [s, onehot a_1 .. a_N], so a counterfactual
    row's pre-activation is W_s s + b + sum_j present_j W_j[a_j] (+ sum_j absent_j W_j[stop] for "default"): the
    state part once per row of the batch, the action part one [N*C*2, N] x [N, H] product per row, instead of the
    [N*C*2, D + N*K] x [D + N*K, H] product of the built inputs. A row depends only on its batch row and its set of
    absent partners, so where the seeds' N*C*2 draws hold fewer distinct sets (at most 2^N - 1: 7 on 3 agents
    against 60 draws) each set is computed once per batch row and gathered back. Then the remaining layers as
    joint_q's."""
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
    # a row depends on (batch row, set of absent partners) only: one row per distinct set of the seeds' draws
    pattern = _absent_blocks(masks, S, 1)[:, 0].reshape(S, N * C * 2, N)  # [S, N*C*2, N(j)], batch-free
    codes = (pattern.long() << torch.arange(N, device=masks.device)).sum(-1)  # [S, N*C*2] bitmask
    uniq, inv = torch.unique(codes, return_inverse=True)  # [U], [S, N*C*2]
    if uniq.numel() < N * C * 2 and N < 63:  # fewer rows: U distinct sets instead of N*C*2 draws
        gone = ((uniq[:, None] >> torch.arange(N, device=masks.device)) & 1).bool()  # [U, N(j)]
        gone_s = gone[None].expand(S, -1, -1)  # the same sets for every seed
    else:
        gone_s, inv = pattern, None
    U = gone_s.shape[1]
    keep = (~gone_s).to(state.dtype)[:, None].expand(S, B, U, N).reshape(S * B, U, N)
    h = torch.baddbmm(base.reshape(S * B, 1, H), keep, taken)  # [S*B, U, H]
    if absent == "default":
        # [S, U, H]: the absent blocks' stop rows
        stop = torch.bmm(gone_s.to(state.dtype), blocks[:, :, STOP])
        h = h.reshape(S, B, U, H).add_(stop[:, None])
    h = h.reshape(S, -1, H)
    if isinstance(joint_q.activation, torch.nn.ReLU):
        h = h.relu_()  # (in place: the rows are large)
    elif joint_q.activation is not None:
        h = joint_q.activation(h)
    # joint_q's other layers
    h = joint_q._layers(h, [(layer.weight, layer.bias) for layer in joint_q.layers[1:]])
    q = h.reshape(S, B, U)
    if inv is not None:  # back to every draw: [S, B, N*C*2]
        q = q.gather(2, inv[:, None].expand(S, B, -1))
    q = q.reshape(S, B, N, C, 2)
    return (q[..., 0] - q[..., 1]).mean(dim=-1)


def epsilon_at(method: str, updates: float, table: Mapping[str, tuple] = TEST_EPSILON) -> float:
    """The code's epsilon after ``updates`` updates (iterations of the code): ``table``'s (TEST_EPSILON, or
    TRAIN_EPSILON for the training floor) linear schedule at t_env = 100 x updates (components/epsilon_schedules.py
    DecayThenFlatSchedule)."""
    start, finish, anneal = table[method]
    t_env = T_ENV_PER_UPDATE * float(updates)
    return float(max(finish, start - (start - finish) * t_env / anneal))
