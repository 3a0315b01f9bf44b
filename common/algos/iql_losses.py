"""The named losses of IQL (Kostrikov et al., ICLR 2022, Eqs. 5-7: the expectile value loss, the advantage weights
and their weighted regression, the twin TD loss) and the joint-action index of centralized IQL, as the discrete
learner (common/algos/iql.py, whose docstring gives the equations) and the continuous one
(common/algos/iql_continuous.py) use them; tested on hand-computed cases in tests/test_moma_iql.py.
Shapes: B batch, N agents.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["expectile_loss", "awr_weights", "awr_loss", "twin_td_loss", "joint_index", "split_joint"]


def expectile_loss(q: Tensor, v: Tensor, tau: float | Tensor) -> Tensor:
    """IQL Eq. 5: mean_B |tau - 1(q < v)| (q - v)^2 over the last axis. q (the target, no gradient), v [*, B] -> [*];
    tau a float or per member, broadcast against q."""
    return (torch.abs(tau - (q < v).to(v.dtype)) * (q - v).square()).mean(-1)


def awr_weights(q: Tensor, v: Tensor, beta: float | Tensor, w_max: float) -> Tensor:
    """IQL Eq. 7's weights min(exp(beta (q - v)), w_max), detached. [*] -> [*]; beta a float or per member."""
    return torch.exp(beta * (q - v)).clamp(max=w_max).detach()


def awr_loss(logp: Tensor, w: Tensor) -> Tensor:
    """-mean_B w log pi(a | o) over the last axis; w = 1 is behavioral cloning. logp, w [*, B] -> [*]."""
    return -(w * logp).mean(-1)


def twin_td_loss(q1: Tensor, q2: Tensor, y: Tensor) -> Tensor:
    """IQL Eq. 6 for both critics ([code] ``((target - Qsa1)**2 + (target - Qsa2)**2).mean(0)``). [*, B] -> [*]."""
    return ((y - q1).square() + (y - q2).square()).mean(-1)


def joint_index(actions: Tensor, n_actions: Sequence[int]) -> Tensor:
    """Per-agent indices [..., N] -> the joint action index [...] (agent 0 the most significant digit)."""
    idx = torch.zeros_like(actions[..., 0])
    for i, k in enumerate(n_actions):
        idx = idx * int(k) + actions[..., i]
    return idx


def split_joint(idx: Tensor, n_actions: Sequence[int]) -> Tensor:
    """Inverse of :func:`joint_index`: [...] -> [..., N]."""
    out = []
    for k in reversed([int(k) for k in n_actions]):
        out.append(idx % k)
        idx = torch.div(idx, k, rounding_mode="floor")
    return torch.stack(out[::-1], dim=-1)
