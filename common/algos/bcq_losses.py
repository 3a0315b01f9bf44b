"""BCQ's and MABCQ's named losses, and the joint-action maps of centralized BCQ: the pure functions of
common/algos/bcq.py (which re-exports every name here; import them from either module). The papers and equations
they implement are in that module's docstring; each function's docstring states its own equation.

Every loss takes [M, ...] tensors (members first). A loss scalar may be a number (a run alone) or a tensor that
broadcasts over the member axis (a stack of runs whose scalar differs, ``BCQ.GROUP_FIELDS``): the elementwise
products are then the same float operations as with the number.

Shapes: M members, B batch, K sampled actions, N agents, A action dim, L latent dim, J joint action dim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from common.algos.itd3_losses import td_target
from common.networks.heads import VAE

__all__ = [
    "vae_loss",
    "soft_clipped_q",
    "candidate_target",
    "bcq_actor_loss",
    "mabcq_weights",
    "mabcq_critic_loss",
    "mabcq_actor_loss",
    "join_slices",
    "split_slices",
    "env_action_maps",
    "VD_CLIP",
    "GUARD_TN_MAX",
    "GUARD_EV_MIN",
]

VD_CLIP = 0.8  # MABCQ's value-deviation weight lies in [1 - 0.8, 1 + 0.8] (the code's clip_param)
GUARD_TN_MAX = 10.0  # guard: weight_tn clipped to [0, GUARD_TN_MAX] (ours)
GUARD_EV_MIN = 1e-6  # guard: |E_V| >= GUARD_EV_MIN, sign kept (ours)


# ----------------------------------------------------------------------------------------------
# named losses (the batched learner calls them on [M, ...] tensors; the tests on hand-made ones)
# ----------------------------------------------------------------------------------------------


def vae_loss(
    vae: VAE, obs: Tensor, act: Tensor, eps: Tensor, kl_weight: float | Tensor
) -> tuple[Tensor, Tensor]:
    """BCQ's VAE loss per member [M] (Fujimoto et al. 2019, Sec. 4; the formula of ``common.networks.heads.VAE.loss``,
    with the noise passed in so that it comes from the learner's generator):
        (mu, log sigma) = E(o, a),   a~ = D(o, mu + sigma * eps),
        L_G = mean_{B,A} (a~ - a)^2 + kl_weight * mean_{B,L} [-0.5 (1 + log sigma^2 - mu^2 - sigma^2)].
    obs [M, B, O], act [M, B, A], eps [M, B, L] ~ N(0, I), kl_weight a number or [M] -> (L_G [M], mu [M, B, L]
    with its graph)."""
    mean, log_std = vae.encode(obs, act)  # [M, B, L], log sigma clamped to [-4, 15]
    std = log_std.exp()
    recon = vae.decode(obs, mean + std * eps)  # [M, B, A]
    m = mean.shape[0]
    recon_loss = (recon - act).square().reshape(m, -1).mean(1)  # [M]
    kl = -0.5 * (1.0 + 2.0 * log_std - mean.square() - std.square())  # [M, B, L]
    return recon_loss + kl_weight * kl.reshape(m, -1).mean(1), mean


def soft_clipped_q(
    q1: Tensor, q2: Tensor, lmbda: float | Tensor, one_minus: float | Tensor | None = None
) -> Tensor:
    """BCQ's soft clipped double-Q (Fujimoto et al. 2019, Sec. 4): lambda min(Q1, Q2) + (1 - lambda) max(Q1, Q2),
    elementwise (any shape). lambda = 1 is TD3's clipped double-Q, lambda = 0.5 the mean. lambda may be a tensor
    that broadcasts (one per member); ``one_minus`` = 1 - lambda computed beforehand (None: here), so that a
    per-member tensor holds the number a run alone computes in double precision and rounds once."""
    return lmbda * torch.minimum(q1, q2) + (
        (1.0 - lmbda) if one_minus is None else one_minus
    ) * torch.maximum(q1, q2)


def candidate_target(rewards: Tensor, terminals: Tensor, q_next: Tensor, gamma: float) -> Tensor:
    """BCQ's TD target over K sampled next actions (Fujimoto et al. 2019, Algorithm 1):
        y = r + gamma * (1 - d) * max_k q_next[..., k].
    rewards, terminals [M, B]; q_next [M, B, K] (already lambda-mixed for BCQ, Q1' for MABCQ) -> y [M, B]."""
    return td_target(rewards, terminals, q_next.max(dim=-1).values, gamma)


def bcq_actor_loss(q_pi: Tensor) -> Tensor:
    """BCQ's perturbation-model loss per member [M] (Fujimoto et al. 2019, Sec. 4; DPG on Q1):
        L_xi = -mean_B Q1(o, xi(o, D(o))).
    q_pi [M, B] = Q1 at the perturbed decoded actions (gradient flows into xi only)."""
    return -q_pi.mean(dim=-1)


def mabcq_weights(
    mu_g: Tensor, mu_g1: Tensor, q1_data: Tensor, rewards: Tensor, y: Tensor, gamma: float, guard: bool = True
) -> Tensor:
    """MABCQ's loss weight w [M, B, L], detached (the CAST authors' agents/MABCQ.py):
        weight_tn = mu_G(o, a) / mu_G1([o, o'], a)               elementwise on the latent means [M, B, L]
        E_V       = (Q1(o, a) - r) / gamma                       [M, B]
        weight_vd = clip(1 + (y - E_V) / E_V, 0.2, 1.8)          [M, B]   (V = y)
        w         = weight_vd[..., None] * weight_tn
    guard (ours): weight_tn clipped to [0, 10] (0/0 -> 0) and |E_V| >= 1e-6 with its sign kept (E_V = 0 -> +1e-6).
    mu_g, mu_g1 [M, B, L]; q1_data, rewards, y [M, B]."""
    tn = mu_g / mu_g1  # [M, B, L], unbounded in the code
    ev = (q1_data - rewards) / gamma  # [M, B]
    if guard:
        tn = torch.nan_to_num(tn, nan=0.0, posinf=GUARD_TN_MAX, neginf=0.0).clamp(0.0, GUARD_TN_MAX)
        sign = torch.where(ev < 0, -torch.ones_like(ev), torch.ones_like(ev))
        ev = sign * ev.abs().clamp(min=GUARD_EV_MIN)
    vd = (1.0 + (y - ev) / ev).clamp(1.0 - VD_CLIP, 1.0 + VD_CLIP)  # [M, B]
    return (vd.unsqueeze(-1) * tn).detach()


def mabcq_critic_loss(q1: Tensor, y: Tensor, w: Tensor) -> Tensor:
    """MABCQ's weighted TD loss per member [M] (Q1 only; Q2 is never trained):
        L_Q = mean_{B,L} w (Q1(o, a) - y)^2.
    q1, y [M, B]; w [M, B, L]."""
    m = q1.shape[0]
    return (w * (q1 - y).square().unsqueeze(-1)).reshape(m, -1).mean(1)


def mabcq_actor_loss(q_pi: Tensor, w: Tensor) -> Tensor:
    """MABCQ's weighted perturbation-model loss per member [M]:
        L_xi = -mean_{B,L} w Q1(o, xi(o, D(o))).
    q_pi [M, B]; w [M, B, L] (detached)."""
    m = q_pi.shape[0]
    return -(w * q_pi.unsqueeze(-1)).reshape(m, -1).mean(1)


# ----------------------------------------------------------------------------------------------
# joint action <-> per-agent actions (central view)
# ----------------------------------------------------------------------------------------------


def join_slices(actions: np.ndarray, act_dims: Sequence[int]) -> np.ndarray:
    """Default ``join``: per-agent actions [..., N, A] (padded) -> [..., J], each agent's real dims concatenated
    in agent order (J = sum(act_dims))."""
    a = np.asarray(actions)
    return np.concatenate([a[..., i, :d] for i, d in enumerate(act_dims)], axis=-1)


def split_slices(joint: np.ndarray, act_dims: Sequence[int]) -> np.ndarray:
    """Default ``split_actions``: [..., J] -> [..., N, A] per-agent actions, consecutive slices of act_dims in
    agent order, zero-padded to A = max(act_dims); the inverse of :func:`join_slices`."""
    j = np.asarray(joint)
    out = np.zeros(j.shape[:-1] + (len(act_dims), max(act_dims)), dtype=j.dtype)
    start = 0
    for i, d in enumerate(act_dims):
        out[..., i, :d] = j[..., start : start + d]
        start += d
    return out


def env_action_maps(env_name: str) -> tuple[Callable, Callable] | None:
    """The env's (``join``, ``split_actions``) when env ``env_name`` is registered and has both (MaMuJoCo: the
    robot's natural joint-action order, independent of obs_mode), else None (consecutive slices then)."""
    import envs

    if env_name not in envs.names():
        return None
    env = envs.make(env_name)
    # MaMuJoCo's, not MultiAgentEnv's
    join, split = getattr(env, "join", None), getattr(env, "split_actions", None)
    if callable(join) and callable(split):
        return join, split
    return None
