"""TD3+BC actor loss (Fujimoto & Gu 2021, Eq. 3), used per agent as MA-TD3+BC.

    pi = argmax_pi E_{(s,a) ~ D} [ lambda Q(s, pi(s)) - (pi(s) - a)^2 ],  lambda = alpha / mean|Q(s, pi(s))|
with lambda computed on the minibatch and detached (official TD3_BC code), alpha = 2.5.
(pi(s) - a)^2 is the MSE averaged over batch and action dims, as the official code's F.mse_loss.
"""

from __future__ import annotations

import torch


def td3bc_actor_loss(
    q_pi: torch.Tensor,  # [M, B] Q1(s, pi(s))
    pi: torch.Tensor,  # [M, B, A] pi(s)
    a_data: torch.Tensor,  # [M, B, A] dataset actions
    alpha: float | torch.Tensor = 2.5,  # or per member [M] (a stack of runs)
) -> torch.Tensor:
    """Per-member loss [M]: -lambda * mean_B Q + mean_{B,A} (pi - a)^2."""
    lam = alpha / q_pi.abs().mean(dim=-1).detach()  # [M]
    return -lam * q_pi.mean(dim=-1) + (pi - a_data).pow(2).mean(dim=(-2, -1))
