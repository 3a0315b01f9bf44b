"""Conservative Q-learning penalty (Kumar et al. 2020, CQL(H)), in the form OMAR's code uses.

OMAR Eq. (1): the critic minimizes the TD error plus
    alpha * E_{o ~ D} [ log sum_a exp Q(o, a) - E_{a ~ D} Q(o, a) ],
with the log-sum-exp estimated by importance sampling over K sampled actions:
    T * logsumexp_k( (Q(o, a_k) - log p(a_k)) / T )
(docs/omar_official_code.md#critic-and-cql: MPE samples K = 10 actions from U(-1, 1)^d,
log p = log 0.5^d, T = 1; HalfCheetah adds policy-centred groups).
Shapes: M members, B batch, K sampled actions, A action dims.
"""

from __future__ import annotations

import math

import torch


def uniform_log_density(act_dim: int, low: float = -1.0, high: float = 1.0) -> float:
    """log p(a) of U(low, high)^act_dim, e.g. log 0.5^d for [-1, 1]."""
    return -act_dim * math.log(high - low)


def cql_penalty(
    q_sampled: torch.Tensor,  # [M, B, K] Q(o, a_k) of the sampled actions
    log_density: torch.Tensor | float,  # [M, B, K] or scalar: log p(a_k) of the proposal
    q_data: torch.Tensor,  # [M, B] Q(o, a) of the dataset actions
    temperature: float = 1.0,
) -> torch.Tensor:
    """Per-member CQL penalty [M]: mean_B[T * logsumexp_K((Q_k - log p_k)/T)] - mean_B[Q_data]."""
    lse = torch.logsumexp((q_sampled - log_density) / temperature, dim=-1) * temperature  # [M, B]
    return lse.mean(dim=-1) - q_data.mean(dim=-1)
