"""PPO's named pieces as MOMA-PPO's MAPPO uses them (common/algos/mappo.py holds the learner and the sources):
GAE over rollout time-outs, the joint-ratio clipped surrogate, the critic loss over batch means, the entropy
estimate and its adaptive coefficient, the action-bound penalty, the value mixer, the minibatch count and the
per-seed gradient clip. Each is a function of tensors, tested on hand-computed cases (tests/test_mappo.py).

Masked pieces for the SMAX behavior learner (common/behavior/smax_ppo.py; tests/test_smax_behavior.py): rows of a
padded buffer and unavailable discrete actions are left out through 0/1 weights and action masks, in the standard
PPO-clip form (Schulman et al. 2017; the MAPPO of Yu et al. 2022 and JaxMARL's SMAX baselines): the elementwise
clipped value loss, a weighted mean, a masked categorical and its entropy. ``ppo_actor_loss`` and
``normalize_advantages`` take optional weights; without them they are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

ILLEGAL_LOGIT = -1e10  # logit of an unavailable discrete action (exp underflows to exactly 0 in float32)


# ----------------------------------------------------------------------------------------------
# named pieces (the batched learner calls them on [S, ...] tensors; the tests on hand-made ones)
# ----------------------------------------------------------------------------------------------


def _reverse_linear_scan(a: Tensor, c: Tensor) -> Tensor:
    """x_t = a_t + c_t x_{t+1} along the last axis with x_n = 0, for every leading row at once.

    Hillis-Steele doubling on the affine maps x_t = a_t + c_t x_{t+d}: after the step with offset d each (a_t, c_t)
    spans 2d rows; ceil(log2 n) steps of O(n) vectorised work (11 for n = 2000) instead of n sequential steps.
    Rows past the end contribute 0."""
    n = a.shape[-1]
    d = 1
    while d < n:
        a = torch.cat([a[..., :-d] + c[..., :-d] * a[..., d:], a[..., -d:]], dim=-1)
        c = torch.cat([c[..., :-d] * c[..., d:], torch.zeros_like(c[..., -d:])], dim=-1)
        d *= 2
    return a


def gae_with_timeouts(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    masks: Tensor,
    zetas: Tensor,
    gamma: float,
    lam: float,
) -> tuple[Tensor, Tensor]:
    """GAE and returns with rollout time-outs ([paper] §3.2 "we adapt the generalized advantage estimation to account
    for the timeouts zeta_t"; [code] multi_agent/mappo.py ``get_gae``), before advantage normalisation:
        delta_t = r_t + gamma m_t V(s'_t) - V(s_t)
        A_t     = delta_t + gamma lam m_t zeta_t A_{t+1}
        G_t     = r_t + gamma m_t (zeta_t G_{t+1} + (1 - zeta_t) m_t V(s'_t))
    All inputs [*, n] (any leading axes, e.g. seeds), rows in buffer order: contiguous rollouts, each ending where
    zeta = 0 (time-out: bootstrap on V(s')) or m = 0 (terminal). The last row always acts as a time-out (the code's
    initialisation). Returns (advantages [*, n], returns [*, n])."""
    zetas = zetas.clone()
    zetas[..., -1] = 0.0  # the buffer's end: no row after it
    adv = _reverse_linear_scan(rewards + gamma * masks * next_values - values, gamma * lam * masks * zetas)
    ret = _reverse_linear_scan(
        rewards + gamma * masks * (1.0 - zetas) * masks * next_values, gamma * masks * zetas
    )
    return adv, ret


def normalize_advantages(adv: Tensor, eps: float = 1e-3, weights: Tensor | None = None) -> Tensor:
    """(A - mean A) / (std A + eps) over the last axis (one buffer per leading row), std unbiased ([code] get_gae).
    With 0/1 ``weights`` (same shape) the mean and the (biased) std are taken over the rows of weight 1 only."""
    if weights is None:
        return (adv - adv.mean(-1, keepdim=True)) / (adv.std(-1, keepdim=True) + eps)
    mean = masked_mean(adv, weights).unsqueeze(-1)
    std = masked_mean((adv - mean).square(), weights).sqrt().unsqueeze(-1)
    return (adv - mean) / (std + eps)


def masked_mean(x: Tensor, weights: Tensor) -> Tensor:
    """sum_B w x / sum_B w over the last axis [*] (0 where every weight is 0). x, weights [*, B]."""
    return (x * weights).sum(-1) / weights.sum(-1).clamp(min=1e-8)


def joint_ratio(logp: Tensor, logp_old: Tensor, log_max: float = 10.0) -> Tensor:
    """The joint ratio exp(min(sum_i log pi_i - sum_i log pi_i^old, log_max)) ([code] ``torch.clamp(new_policy -
    old_policy_samples, max=10.)``). logp, logp_old [*, N] per agent -> [*]."""
    return torch.exp(torch.clamp(logp.sum(-1) - logp_old.sum(-1), max=log_max))


def ppo_actor_loss(ratio: Tensor, adv: Tensor, clip: float, weights: Tensor | None = None) -> Tensor:
    """Clipped surrogate [*]: -mean_B min(rho A, clip(rho, 1 - clip, 1 + clip) A). ratio, adv [*, B]; with
    ``weights`` [*, B] the weighted mean (padded rows and rows without a choice get weight 0)."""
    rc = ratio.clamp(1.0 - clip, 1.0 + clip)
    surrogate = torch.minimum(ratio * adv, rc * adv)
    return -(surrogate.mean(-1) if weights is None else masked_mean(surrogate, weights))


def clipped_value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, clip: float, weights: Tensor | None = None
) -> Tensor:
    """Clipped value loss [*] of PPO2 / MAPPO / JaxMARL (``0.5 * max(value_losses, value_losses_clipped).mean()``): the
    mean of an ELEMENTWISE max, unlike :func:`ppo_critic_loss` (MOMA-PPO's max of two batch means):
        0.5 mean_B max((V - G)^2, (V_c - G)^2),  V_c = V_old + clip(V - V_old, -clip, clip).
    values, old_values, returns [*, B]; ``weights`` [*, B] for a weighted mean."""
    vc = old_values + (values - old_values).clamp(-clip, clip)
    err = torch.maximum((values - returns).square(), (vc - returns).square())
    return 0.5 * (err.mean(-1) if weights is None else masked_mean(err, weights))


def masked_log_softmax(logits: Tensor, avail: Tensor) -> Tensor:
    """Log-probabilities [*, K] of a categorical restricted to the available actions: unavailable logits get
    ILLEGAL_LOGIT (finite, so that p log p = 0 there and the entropy stays finite; JaxMARL's ``logits - (1 - avail)
    * 1e10``). logits [*, K], avail [*, K] bool with at least one True per row."""
    return torch.log_softmax(logits.masked_fill(~avail, ILLEGAL_LOGIT), dim=-1)


def categorical_entropy(logp_all: Tensor) -> Tensor:
    """H = -sum_k p_k log p_k [*] of log-probabilities [*, K] (unavailable actions, p = 0, add 0)."""
    return -(logp_all.exp() * logp_all).sum(-1)


def ppo_critic_loss(values: Tensor, old_values: Tensor, returns: Tensor, clip: float) -> Tensor:
    """Clipped value loss [*] ([code] ``torch.max(criterion(clipped_values, G), criterion(values, G))`` with
    ``criterion = MSELoss()``): the max of the two batch means, NOT the mean of an elementwise max:
        max(mean_B (V_c - G)^2, mean_B (V - G)^2),  V_c = V_old + clip(V - V_old, -clip, clip).
    values, old_values, returns [*, B]."""
    vc = old_values + (values - old_values).clamp(-clip, clip)
    return torch.maximum((vc - returns).square().mean(-1), (values - returns).square().mean(-1))


def entropy_estimate(ratio: Tensor, logp_joint: Tensor, clip: float) -> Tensor:
    """Sampled, ratio-corrected entropy of the joint policy [*] ([code]: the samples come from pi_old, hence rho):
    H = min(-mean_B rho logpi, -mean_B clip(rho) logpi). ratio, logp_joint [*, B]."""
    rc = ratio.clamp(1.0 - clip, 1.0 + clip)
    return torch.minimum(-(ratio * logp_joint).mean(-1), -(rc * logp_joint).mean(-1))


def adaptive_alpha(alpha: Tensor, entropy: Tensor, target: float, lr: float) -> Tensor:
    """One step of the entropy weight [*]: max(0, alpha + lr (target - H)), H detached ([code] ``entropy_alpha +=
    coeff * (target - entropy).detach(); clamp_min_(0)``)."""
    return (alpha + lr * (target - entropy.detach())).clamp(min=0.0)


def action_bound_error(mean_actions: Tensor, act_mask: Tensor | None = None) -> Tensor:
    """e = sum_{agents, dims} (1 - |mu|)^2 [|mu| > 1] ([code] ``delta = 1 - |a|; ((delta < 0) * delta**2).sum``) on the
    mean actions. mean_actions [*, N, A] (act_mask [N, A] or broadcastable: 1 = a real dim) -> [*]."""
    delta = 1.0 - mean_actions.abs()
    e = (delta < 0).to(delta.dtype) * delta.square()
    if act_mask is not None:
        e = e * act_mask
    return e.sum((-2, -1))


def action_penalty(ratio: Tensor, err: Tensor, clip: float) -> Tensor:
    """Ratio-weighted bound penalty [*]: max(mean_B rho e, mean_B clip(rho) e). ratio, err [*, B]."""
    rc = ratio.clamp(1.0 - clip, 1.0 + clip)
    return torch.maximum((ratio * err).mean(-1), (rc * err).mean(-1))


def mix_values(v: Tensor, w: Tensor, b: Tensor, monotonic: bool = False) -> Tensor:
    """V_tot = sum_i w_i V_i + b ([paper] §3.2; [code] ``MixerNetwork.mix``); |w| if monotonic (QMIX).
    v, w [*, N]; b [*] -> [*]."""
    return ((w.abs() if monotonic else w) * v).sum(-1) + b


def n_minibatches(n: int, size: int) -> int:
    """floor(n / size) minibatches per epoch, the remainder dropped ([code] ``range(n // self.batch_size)``)."""
    k = int(n) // int(size)
    if k < 1:
        raise ValueError(
            f"a buffer of {n} rows holds no minibatch of {size}: collect at least {size} rows "
            "or lower MAPPOConfig.minibatch_size"
        )
    return k


@torch.no_grad()
def clip_grad_norm_per_seed_(parameters: Iterable[Tensor], max_norm: float, n_seeds: int) -> Tensor:
    """``torch.nn.utils.clip_grad_norm_`` for each seed: every parameter carries a seed-major leading axis (S*N agent
    members m = s * N + i, or S for the mixer), so ``g.reshape(S, -1)`` row s is seed s's slice; seed s's gradient is
    rescaled by min(1, max_norm / (||g_s|| + 1e-6)), ||g_s|| the 2-norm over all its slices. Returns norms [S]."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(n_seeds)
    per = torch.stack([torch.linalg.vector_norm(g.reshape(n_seeds, -1), dim=1) for g in grads])  # [P, S]
    norms = torch.linalg.vector_norm(per, dim=0)  # [S]
    coef = (max_norm / (norms + 1e-6)).clamp_(max=1.0)  # [S]
    for g in grads:
        g.view(n_seeds, -1).mul_(coef[:, None])
    return norms


# ----------------------------------------------------------------------------------------------
# the batched learner
# ----------------------------------------------------------------------------------------------


def obs_moments(obs: Tensor, obs_dims: Iterable[int], floor: float = 1e-2) -> tuple[Tensor, Tensor]:
    """Per-seed, per-agent input statistics for MAPPO's ``obs_norm``: obs [S, n, N, O] (padded) -> mean and
    population std [S, N, O] over the n rows; the padding (entry k >= obs_dims[i]) gets (0, 1) so that it stays 0,
    and stds are floored at ``floor`` (a feature constant in the sample is shifted, not blown up)."""
    if obs.dim() != 4:
        raise ValueError(f"obs must be [S, n, N, O], got shape {tuple(obs.shape)}")
    dims = [int(d) for d in obs_dims]
    if len(dims) != obs.shape[2] or any(not 1 <= d <= obs.shape[3] for d in dims):
        raise ValueError(
            f"obs_dims {dims} must give one size in [1, O={obs.shape[3]}] per agent (N={obs.shape[2]})"
        )
    if obs.shape[1] < 2:
        raise ValueError(f"obs statistics need at least 2 rows per seed, got n={obs.shape[1]}")
    if not floor > 0:
        raise ValueError(f"floor={floor!r} must be > 0")
    real = (
        torch.arange(obs.shape[3], device=obs.device)[None, :]
        < torch.tensor(dims, device=obs.device)[:, None]
    )
    mu = torch.where(real, obs.mean(1), torch.zeros((), dtype=obs.dtype, device=obs.device))
    sd = torch.where(
        real, obs.std(1, unbiased=False).clamp_min(floor), torch.ones((), dtype=obs.dtype, device=obs.device)
    )
    return mu, sd
