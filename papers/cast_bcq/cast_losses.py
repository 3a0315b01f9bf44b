"""CAST-BCQ's sub-teams, counterfactual credit and named critic losses (pure functions; shared by the learner,
papers/cast_bcq/cast_bcq.py, whose module docstring gives the equations, and the tests): the sub-team support and its
weights (the code's draws, uniform, exact Shapley), the credit Delta_i, the weights w of the individual critic, the
central TD loss over rows with a partner action and the individual critic loss.
Shapes: M members, B batch, K sub-teams (or draws), N agents, A action dim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from common.algos.bcq_losses import soft_clipped_q
from common.algos.itd3_losses import critic_td_loss
from papers.cast_bcq.cast_config import SUBTEAM_DISTS, CASTConfig
from papers.cast_bcq.grid import credit_loss

MAX_AGENTS = 16  # the sub-team support has 2^(N-1) entries


def subteam_support(dist: str, n_agents: int) -> tuple[Tensor, Tensor]:
    """The law of the sub-team D (the partners that take the default action) of one agent among ``n_agents``:
    (drop [K, N-1] bool over the other agents in agent order, p [K] float64 > 0), subsets in bitmask order.
      "code"     N <= 2: every subset with 1 / 2^(N-1) (the code's exact two-player path; N = 1: D = {});
                 N > 2: |D| = k ~ U{1..N-1}, then a uniform k-subset: p(D) = 1 / ((N-1) C(N-1, |D|)), D = {} never
      "uniform"  every subset of the N-1 partners with 1 / 2^(N-1), D = {} included (P: st ~ ST(i))
      "shapley"  p(D) = |T|! (N-1-|T|)! / N!, T = the present partners (the Shapley weights)."""
    if dist not in SUBTEAM_DISTS:
        raise ValueError(f"subteam dist {dist!r} is not allowed; choose one of {list(SUBTEAM_DISTS)}")
    if not 1 <= n_agents <= MAX_AGENTS:
        raise ValueError(
            f"n_agents={n_agents} must be in 1..{MAX_AGENTS} (the support has 2^(N-1) sub-teams)"
        )
    n = n_agents - 1
    bits = torch.arange(2**n)[:, None]
    drop = (bits >> torch.arange(n)) & 1 == 1  # [2^n, n]
    size = drop.sum(-1).tolist()
    if dist == "uniform" or (dist == "code" and n_agents <= 2):
        p = [0.5**n] * len(size)
    elif dist == "code":
        p = [0.0 if k == 0 else 1.0 / (n * math.comb(n, k)) for k in size]
    else:
        p = [math.factorial(n - k) * math.factorial(k) / math.factorial(n + 1) for k in size]
    p = torch.tensor(p, dtype=torch.float64)
    keep = p > 0
    return drop[keep], p[keep]


def sample_subteam_weights(
    p: Tensor, n_draws: int, shape: Sequence[int], generator: torch.Generator | None = None
) -> Tensor:
    """Indices into a support of probabilities ``p`` [K]: [*shape, n_draws] int64, i.i.d. per entry of ``shape``
    (one ``torch.multinomial`` call, rows = prod(shape))."""
    rows = int(np.prod(shape)) if len(shape) else 1
    probs = p.to(device=generator.device if generator is not None else p.device).expand(rows, p.shape[0])
    idx = torch.multinomial(probs, n_draws, replacement=True, generator=generator)  # [rows, n]
    return idx.view(*shape, n_draws)


def counterfactual_credit(
    critic,
    state: Tensor,
    others: Tensor,
    own: Tensor,
    drop: Tensor,
    weights: Tensor,
    lmbda: float | None,
    baseline: bool = True,
) -> Tensor:
    """CAST's counterfactual credit (P Eq. 8 with the code's data partners), one batched critic forward:
        Delta = sum_k weights_k [Q_mix([s, a_{-i} * keep_k], a_i) - Q_mix([s, a_{-i} * keep_k], 0)],
    Q_mix = soft_clipped_q(Q1, Q2, lmbda), or Q1 when lmbda is None (w/o CD); baseline=False drops the second term
    (w/o CSAA). keep_k zeroes the A action columns of each partner that ``drop`` marks.
    critic: a TwinCritic-like object (forward_many, q1) on obs [M, B, 2K, X], act [M, B, 2K, A];
    state [M, B, D], others [M, B, (N-1) A], own [M, B, A]; drop bool [K, N-1] or [M, R, K, N-1];
    weights [M, R, K] (R = B or 1) -> Delta [M, B]."""
    M, B, A = own.shape
    keep = (~drop).to(others.dtype).repeat_interleave(A, dim=-1)  # [.., K, (N-1)A]
    K = keep.shape[-2]
    masked = (others.unsqueeze(2) * keep).expand(M, B, K, others.shape[-1])  # [M, B, K, (N-1)A]
    x = torch.cat([state.unsqueeze(2).expand(M, B, K, state.shape[-1]), masked], dim=-1)  # [M, B, K, X]
    a = own.unsqueeze(2).expand(M, B, K, A)  # [M, B, K, A]
    if baseline:
        x = torch.cat([x, x], dim=2)  # [M, B, 2K, X]
        a = torch.cat([a, torch.zeros_like(a)], dim=2)  # [M, B, 2K, A]: a_i, then the default action 0
    if lmbda is None:
        q = critic.q1(x, a).squeeze(-1)  # [M, B, (2)K]
    else:
        q1, q2 = critic.forward_many(x, a)
        q = soft_clipped_q(q1, q2, lmbda)  # [M, B, (2)K]
    marginal = q[..., :K] - q[..., K:] if baseline else q  # [M, B, K]
    return (weights * marginal).sum(dim=-1)


def qi_weights(delta: Tensor, kind: str, w_max: float) -> Tensor | None:
    """The Q_i loss weight [M, B] (detached): "exp_clip" clip(exp Delta, 0, w_max) (the code's use_adv), "none"
    None (P Eq. 9)."""
    if kind == "none":
        return None
    return delta.detach().exp().clamp(0.0, w_max)


def central_td_loss(q1: Tensor, q2: Tensor | None, y: Tensor, valid: Tensor) -> Tensor:
    """The central critic's TD loss per member [M]: sum_b v_b sum_j (Q^c_j - y)^2 / max(sum_b v_b, 1), v = 0 on
    time-out rows (no dataset next action of the partners). q2 None (w/o CD): head 1 only. All [M, B]."""
    if q2 is not None:
        return critic_td_loss(q1, q2, y, valid)
    return (valid * (q1 - y).square()).sum(dim=-1) / valid.sum(dim=-1).clamp(min=1.0)


def individual_critic_loss(q1: Tensor, q2: Tensor, delta: Tensor, w: Tensor | None) -> Tensor:
    """L_i = sum_j mean_b w (Q_{i,j}(o_i, a_i) - Delta_i)^2 per member [M] (P Eq. 9, the code's twin sum and
    weight); q1, q2, delta, w [M, B], delta and w detached."""
    return credit_loss(q1, delta, w) + credit_loss(q2, delta, w)


def subteam_law(cfg: CASTConfig, N: int) -> tuple[bool, Tensor, Tensor]:
    """The credit's sub-team law for ``N`` agents under a CASTConfig ``cfg``: (enumerate, drop [K, N-1] bool,
    p [K] float64). Enumerated (the weights are p) for the ablations without sub-teams (D = {} only), Shapley's
    law, and the code's law with N <= 2 (its exact two-player path); else sampled (``n_subteams`` draws of the
    support). Setting subteam_per_row / n_subteams where the code's law enumerates is an error (unused options)."""
    no_subteams = cfg.ablation in ("wo_csaa", "wo_st")  # D = {} only
    dist = cfg.subteam_dist
    enumerate_ = no_subteams or dist == "shapley" or (dist == "code" and N <= 2)
    if no_subteams:
        return enumerate_, torch.zeros(1, N - 1, dtype=torch.bool), torch.ones(1, dtype=torch.float64)
    drop, p = subteam_support(dist, N)
    if enumerate_ and dist == "code" and (cfg.subteam_per_row or cfg.n_subteams != CASTConfig.n_subteams):
        raise ValueError(
            f"CASTConfig.subteam_per_row / n_subteams are set but unused: subteam_dist='code' "
            f"enumerates both sub-teams for N = {N} agents (the code's exact two-player path)"
        )
    return enumerate_, drop, p
