"""ICQ-MA's named losses (papers/cast_bcq/icq_ma.py, whose module docstring states the equations; the batched learner
calls them on [S, B(, N)] / [M, B] tensors, the tests on hand-made ones): the batch-softmax importance weights, the
SARSA-style target, the mixed critic's loss and the advantage-weighted actor loss.
Shapes: S seeds, N agents, M = S * N members, B batch.
"""

from __future__ import annotations

import torch
from torch import Tensor


def batch_softmax_weights(x: Tensor, temp: float, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """ICQ's importance weights n * softmax_n(x / temp) along ``dim`` (the batch axis), over the entries where
    ``mask`` (broadcastable to x; 1 = counts) is set, n = their number per slice; masked entries get 0. Without
    a mask n = B, i.e. B * softmax_B(x / temp): weights with mean 1 over the batch. Detached."""
    x = x.detach()
    if mask is None:
        return x.shape[dim] * torch.softmax(x / temp, dim=dim)
    keep = (mask > 0).expand_as(x)
    logits = torch.where(keep, x / temp, torch.full_like(x, -torch.inf))
    p = torch.nan_to_num(torch.softmax(logits, dim=dim), nan=0.0)  # a slice with no entry: all 0
    return keep.sum(dim, keepdim=True).to(x.dtype) * p


def icq_ma_target(
    rewards: Tensor,
    terminals: Tensor,
    q_next: Tensor,
    k_next: Tensor,
    gamma: float,
    agent_temp: float = 100.0,
    total_temp: float = 1000.0,
    boot: Tensor | None = None,
    bug_compat: bool = False,
) -> Tensor:
    """ICQ-MA's TD target y [S, B], detached (module docstring):
        w_i = clamp(B softmax_B(Q'_i / agent_temp), 0, 1),  Q'_tot = sum_i k'_i w_i Q'_i,
        fixed:      y = r + gamma (1 - d) B softmax_B(Q'_tot / total_temp) Q'_tot
        bug_compat: u = sum_i k'_i (r + gamma (1 - d) w_i Q'_i),  y = r + gamma (1 - d) B softmax_B(u / total_temp) u
    rewards, terminals [S, B]; q_next = Q_i^targ(o'_i, a'_i) [S, B, N]; k_next = k^targ(s') [S, B, N];
    boot [S, B] (1 = the row bootstraps; the softmaxes run over those rows) or None (all rows)."""
    q_next, k_next = q_next.detach(), k_next.detach()
    cont = gamma * (1.0 - terminals)  # [S, B]
    w = batch_softmax_weights(q_next, agent_temp, None if boot is None else boot.unsqueeze(-1), dim=1)
    w = w.clamp(0.0, 1.0)  # [S, B, N]
    if bug_compat:
        # [S, B, N] the code's per-agent targets
        y_i = rewards.unsqueeze(-1) + cont.unsqueeze(-1) * w * q_next
        u = (k_next * y_i).sum(-1)  # [S, B] mixed by the target mixer (r counted here ...)
    else:
        u = (k_next * w * q_next).sum(-1)  # [S, B] Q'_tot
    return rewards + cont * batch_softmax_weights(u, total_temp, boot, dim=1) * u  # (... and again here)


def icq_ma_critic_loss(q_tot: Tensor, y: Tensor, valid: Tensor | None = None) -> Tensor:
    """MSE(Q_tot, y) per seed [S]: sum_b v_b (Q_tot - y)^2 / max(sum_b v_b, 1), v = 0 on time-out rows
    (no a'_data); the plain mean over B without ``valid``. q_tot, y, valid [S, B]."""
    err = (q_tot - y).square()  # [S, B]
    if valid is None:
        return err.mean(-1)
    return (valid * err).sum(-1) / valid.sum(-1).clamp(min=1.0)


def icq_ma_actor_loss(
    logp: Tensor, k: Tensor, adv: Tensor, temp: float, valid: Tensor | None = None
) -> Tensor:
    """ICQ-MA's actor loss per member [M]: -mean_B[k_i(s) log pi_i(a_i | o_i) B softmax_B(A_i / temp)], the
    weights k and softmax detached; rows with valid = 0 (time-outs: no A_i) are left out of the softmax and the
    mean (sum_b v_b (...) / max(sum_b v_b, 1)). logp, k, adv, valid [M, B]."""
    w = batch_softmax_weights(adv, temp, valid, dim=-1)  # [M, B]
    terms = k.detach() * w * logp  # [M, B]
    if valid is None:
        return -terms.mean(-1)
    return -(valid * terms).sum(-1) / valid.sum(-1).clamp(min=1.0)
