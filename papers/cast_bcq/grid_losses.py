"""The named, pure functions of CAST-BCQ's grid learners (papers/cast_bcq/grid.py, whose docstring gives the
equations), also used by its SMAX learners (papers/cast_bcq/smac.py) and the tests: the discrete BCQ filter and
masked argmax, the BC, TD, ICQ and advantage-weighted losses and weights, the two-player CAST credit (P Eq. 8) with
its loss (P Eq. 9), and the joint critic's action table. Shapes: M members, S seeds, B batch, K actions, D state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from common.networks.nets import EnsembleMLP
from papers.cast_bcq.grid_config import STAY, TD_LOSSES

__all__ = [
    "bcq_allowed",
    "masked_argmax",
    "take_action",
    "bc_loss",
    "td_error_loss",
    "icq_target_weights",
    "icq_policy_weights",
    "awbc_loss",
    "grid_credit",
    "credit_loss",
    "joint_q_table",
]


def bcq_allowed(logits: Tensor, threshold: float) -> Tensor:
    """Discrete BCQ filter (Fujimoto et al. 2019b): allowed(o) = {a : G(a|o) / max_a' G(a'|o) > threshold}.
    logits [..., K] -> bool [..., K]; the most likely action is always allowed (threshold < 1)."""
    p = torch.softmax(logits, dim=-1)
    return p / p.amax(dim=-1, keepdim=True) > threshold


def masked_argmax(q: Tensor, allowed: Tensor) -> Tensor:
    """argmax over the allowed entries of the last axis: q, allowed [..., K] -> long [...] (first of ties)."""
    return torch.where(allowed, q, torch.full_like(q, -torch.inf)).argmax(dim=-1)


def take_action(x: Tensor, a: Tensor) -> Tensor:
    """x [..., K] at index a [...] -> [...]."""
    return x.gather(-1, a.unsqueeze(-1)).squeeze(-1)


def bc_loss(logits: Tensor, a: Tensor, logit_reg: float) -> Tensor:
    """BC classifier loss per member [M]: mean_B CE(G(.|o), a) + logit_reg * mean logits^2 (Fujimoto 2019b).
    logits [M, B, K], a [M, B] long."""
    nll = -take_action(F.log_softmax(logits, dim=-1), a)  # [M, B]
    return nll.mean(dim=-1) + logit_reg * logits.square().mean(dim=(-2, -1))


def td_error_loss(q: Tensor, y: Tensor, kind: str, weight: Tensor | None = None) -> Tensor:
    """TD loss per member [M]: "huber" (delta 1, = F.smooth_l1_loss, Fujimoto 2019b) or "mse" of q - y [M, B];
    with ``weight`` [M, B] the weighted mean sum_b w err / max(sum_b w, 1) (ICQ: time-out rows get w = 0)."""
    if kind == "huber":
        err = F.huber_loss(q, y, reduction="none", delta=1.0)
    elif kind == "mse":
        err = (q - y).square()
    else:
        raise ValueError(f"td loss {kind!r} is not allowed; choose one of {list(TD_LOSSES)}")
    if weight is None:
        return err.mean(dim=-1)
    return (weight * err).sum(dim=-1) / weight.sum(dim=-1).clamp(min=1.0)


def icq_target_weights(q_next: Tensor, has_next: Tensor, alpha: float) -> Tensor:
    """ICQ's critic target weights [M, B]: B_c * softmax over the rows with a next dataset action (``has_next``
    [M, B] 0/1, B_c of them) of Q'(o', a'_data) / alpha; 0 on the other rows (terminal or time-out)."""
    z = (q_next / alpha).masked_fill(has_next <= 0, -torch.inf)
    w = torch.nan_to_num(torch.softmax(z, dim=-1), nan=0.0)  # a member with no such row: all 0
    return (w * has_next.sum(dim=-1, keepdim=True)).detach()


def icq_policy_weights(q_data: Tensor, v: Tensor, beta: float) -> Tensor:
    """ICQ's policy weights [M, B] = B * softmax_B((Q(o, a) - V(o)) / beta), detached; q_data, v [M, B]."""
    B = q_data.shape[-1]
    return (B * torch.softmax((q_data - v) / beta, dim=-1)).detach()


def awbc_loss(logits: Tensor, a: Tensor, w: Tensor) -> Tensor:
    """Advantage-weighted BC per member [M]: -mean_B w log pi(a|o); logits [M, B, K], a [M, B], w [M, B]."""
    return -(w * take_action(F.log_softmax(logits, dim=-1), a)).mean(dim=-1)


def grid_credit(q_joint, a_i, a_j, agent, default: int = STAY) -> Tensor:
    """Two-player CAST credit (P Eq. 8 with ST(i) = {emptyset, {j}} enumerated; the exact Shapley value):
    Delta_i(a_i) = 1/2 [(Q(a_i, a_j) - Q(d, a_j)) + (Q(a_i, d) - Q(d, d))].

    q_joint [..., K, K] indexed [a_1, a_2] (agent 0 moves x, agent 1 moves y); a_i = agent ``agent``'s action and
    a_j = its partner's, ints or long tensors broadcastable to q_joint's leading axes [...]; ``agent`` 0 or 1 (an int,
    or a long tensor broadcastable to [...]); ``default`` the default action d. Returns Delta_i [...]."""
    q = torch.as_tensor(q_joint)
    dev, K = q.device, q.shape[-1]
    a_i, a_j, agent = (torch.as_tensor(v, device=dev).long() for v in (a_i, a_j, agent))
    shape = torch.broadcast_shapes(q.shape[:-2], a_i.shape, a_j.shape, agent.shape)
    own_first = torch.where((agent == 0)[..., None, None], q, q.transpose(-1, -2))  # [..., own, partner]
    flat = own_first.expand(*shape, K, K).flatten(-2)  # [..., K*K]

    def at(x, y) -> Tensor:
        return take_action(flat, (torch.as_tensor(x, device=dev).long() * K + y).expand(shape))

    return 0.5 * ((at(a_i, a_j) - at(default, a_j)) + (at(a_i, default) - at(default, default)))


def credit_loss(qi_data: Tensor, delta: Tensor, weight: Tensor | None = None) -> Tensor:
    """CAST's individual critic loss per member [M] (P Eq. 9): mean_B w (Q_i(o_i, a_i) - Delta_i)^2, Delta_i and
    w detached (w = 1 when None); all [M, B]."""
    err = (qi_data - delta.detach()).square()
    return (err if weight is None else weight.detach() * err).mean(dim=-1)


def _joint_onehots(n_actions: int, like: Tensor) -> Tensor:
    """[K*K, 2K]: row a_1 * K + a_2 = [onehot(a_1), onehot(a_2)]."""
    eye = torch.eye(n_actions, dtype=like.dtype, device=like.device)
    return torch.cat([eye.repeat_interleave(n_actions, dim=0), eye.repeat(n_actions, 1)], dim=-1)


def joint_q_table(net: EnsembleMLP, state: Tensor, n_actions: int) -> Tensor:
    """The joint critic's K x K table at each state: state [S, *, D] -> Q [S, *, K, K] indexed [a_1, a_2]
    (one forward of the K*K rows [s, onehot a_1, onehot a_2] per state)."""
    J = _joint_onehots(n_actions, state)  # [K*K, 2K]
    lead = state.shape[:-1]
    x = torch.cat(
        [state.unsqueeze(-2).expand(*lead, J.shape[0], state.shape[-1]), J.expand(*lead, *J.shape)], dim=-1
    )  # [S, *, K*K, D + 2K]
    return net(x).squeeze(-1).unflatten(-1, (n_actions, n_actions))
