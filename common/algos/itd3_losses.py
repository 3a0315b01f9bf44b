"""Named losses and data helpers of the independent TD3 learner (common/algos/itd3.py), kept apart so that the
learner's file stays short; itd3.py re-exports every name here.

OMAR's forms (Pan et al., ICML 2022; ling-pan/OMAR): the TD target, the twin-critic MSE, ICQ's actor, the
"mujoco" CQL proposal density quirk, ICQ's a'_data. MOMA-PPO's forms (Barde et al., AAMAS 2024; PBarde/moma-ppo
``offline_marl/single_agent/td3.py``, ``TD3Learner``): TD3's smoothed target action (``update_q``), the summed BC
term and the mixed actor loss of ``update_pi``.
Shapes: M members, B batch, A action dims.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

BC_REDUCES = ("mean", "sum")

# ----------------------------------------------------------------------------------------------
# named losses (shared by the batched learner and the per-member reference)
# ----------------------------------------------------------------------------------------------


def td_target(rewards: Tensor, terminals: Tensor, q_next: Tensor, gamma: float) -> Tensor:
    """y = r + gamma * (1 - d) * q_next; all [M, B] (or [B])."""
    return rewards + gamma * (1.0 - terminals) * q_next


def critic_td_loss(q1: Tensor, q2: Tensor, y: Tensor, weight: Tensor | None = None) -> Tensor:
    """MSE(Q1, y) + MSE(Q2, y) per member [M] (means over B); with ``weight`` [M, B] a weighted mean
    sum_b w (Q - y)^2 / max(sum_b w, 1) (ICQ drops time-out rows with w = 0)."""
    err = (q1 - y).square() + (q2 - y).square()  # [M, B]
    if weight is None:
        return err.mean(dim=-1)
    return (weight * err).sum(dim=-1) / weight.sum(dim=-1).clamp(min=1.0)


def icq_actor_loss(pi: Tensor, a_data: Tensor, q_data: Tensor, v: Tensor, beta: float) -> Tensor:
    """ICQ actor (implicit constraint, advantage-weighted BC) per member [M]:
    sum_b w_b mean_A (pi_b - a_b)^2 with w = B * softmax_B((Q(o,a) - V(o)) / beta), detached.
    pi, a_data [M, B, A]; q_data, v [M, B]."""
    B = q_data.shape[-1]
    w = (B * torch.softmax((q_data - v).detach() / beta, dim=-1)).detach()  # [M, B]
    return (w * (pi - a_data).square().mean(dim=-1)).mean(dim=-1)


def mujoco_cql_log_density(noise: Tensor, sigma: float, mask: Tensor | None = None) -> Tensor:
    """OMAR HalfCheetah quirk: the "log density" subtracted for the noisy groups is the Gaussian
    *pdf* prod_a N(noise_a; 0, sigma^2) of the noise (not its log). noise [..., A] -> [...]."""
    logpdf = -0.5 * (noise / sigma).square() - math.log(sigma * math.sqrt(2.0 * math.pi))
    if mask is not None:
        logpdf = logpdf * mask
    return logpdf.sum(dim=-1).exp()


def with_next_actions(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Adds ICQ's a'_data to step tensors (Dataset.to_torch layout, contiguous episodes):
    next_actions [T, N, A] = actions[t + 1] where the episode continues (not terminal, not time-out),
    0 elsewhere; next_valid [T] = 1 where the TD target is defined (the episode continues or ends by a
    terminal), 0 on time-out rows."""
    actions = tensors["actions"]  # [T, N, A]
    term, tout = tensors["terminals"].bool(), tensors["timeouts"].bool()  # [T]
    cont = ~(term | tout)  # [T]
    nxt = torch.zeros_like(actions)
    nxt[:-1] = actions[1:]
    nxt = nxt * cont.to(actions.dtype)[:, None, None]
    out = dict(tensors)
    out["next_actions"] = nxt
    out["next_valid"] = (cont | term).to(actions.dtype)
    return out


def per_member(value: float | Sequence[float], m: int, like: Tensor) -> float | Tensor:
    """A float stays a float; a sequence becomes a [M] tensor (must have M entries)."""
    if isinstance(value, (int, float)):
        return float(value)
    t = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=like.dtype, device=like.device)
    if t.shape != (m,):
        raise ValueError(
            f"per-member value needs {m} entries (members = seeds x agents), got {tuple(t.shape)}"
        )
    return t


def member_value(value: float | Sequence[float], m: int) -> float:
    return float(value) if isinstance(value, (int, float)) else float(value[m])


def smoothed_target_action(
    a_next: Tensor, noise: Tensor, noise_clip: float, max_action: float = 1.0
) -> Tensor:
    """TD3's target policy smoothing (Fujimoto et al. 2018, Eq. 14; MOMA-PPO ``TD3Learner.update_q``):
    clip(pi'(o') + clip(noise, -c, c), -max_action, max_action); ``noise`` is already scaled by its std. [..., A]."""
    return (a_next + noise.clamp(-noise_clip, noise_clip)).clamp(-max_action, max_action)


def bc_penalty(pi: Tensor, a_data: Tensor, reduce: str) -> Tensor:
    """The BC term per member [M]: "mean" = mean_{B,A} (pi - a)^2 (TD3+BC's F.mse_loss), "sum" = mean_B sum_A
    (pi - a)^2 (MOMA-PPO's ``((pi - a)**2).sum(1).mean(0)``). pi, a_data [M, B, A]."""
    sq = (pi - a_data).square()
    if reduce == "mean":
        return sq.mean(dim=(-2, -1))
    if reduce == "sum":
        return sq.sum(dim=-1).mean(dim=-1)
    raise ValueError(f"bc reduce={reduce!r} is not allowed; choose one of {list(BC_REDUCES)}")


def td3_mixed_actor_loss(
    q_pi: Tensor,
    pi: Tensor,
    a_data: Tensor,
    a_hat: Tensor | None,
    *,
    tau: float | Tensor,
    bc_alpha: float | Tensor,
    action_reg: float,
    bc_reduce: str = "sum",
) -> Tensor:
    """MOMA-PPO's ``TD3Learner.update_pi`` (not shortcut) per member [M]:
        (1 - tau) * lambda * (-mean_B Q1) + bc_alpha>0 * BC + tau * mean (pi - a_hat)^2 + action_reg * mean pi^2,
    lambda = bc_alpha / mean_B |Q1| (detached) when bc_alpha > 0, else 1 and no BC term; the a_hat and pi^2 terms
    only with ``a_hat`` (OMAR on). q_pi [M, B]; pi, a_data, a_hat [M, B, A]; tau, bc_alpha float or [M]."""
    bc_on = torch.as_tensor(bc_alpha, dtype=q_pi.dtype, device=q_pi.device) > 0  # [] or [M]
    # [M]
    lam = torch.where(bc_on, bc_alpha / q_pi.abs().mean(dim=-1).detach(), torch.ones_like(q_pi[..., 0]))
    loss = -(1.0 - tau) * lam * q_pi.mean(dim=-1) + bc_on * bc_penalty(pi, a_data, bc_reduce)
    if a_hat is not None:  # OMAR's imitation of the searched action and its 1e-3 pi^2 term
        imitation = (pi - a_hat.detach()).square().mean(dim=(-2, -1))
        loss = loss + tau * imitation + action_reg * pi.square().mean(dim=(-2, -1))
    return loss
