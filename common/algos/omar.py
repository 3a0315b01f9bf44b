"""OMAR: Offline Multi-Agent RL with Actor Rectification (Pan et al., ICML 2022).

Implements the paper's actor rectification (Eq. 2, Eq. 3, Algorithm 1 lines 7-13):
  - a zeroth-order search for a good action a_hat per observation (`search_action`), and
  - the rectified actor loss (`omar_actor_loss`).
The critic is MA-CQL's (common/algos/cql.py, Eq. 1).

Official code consulted (ling-pan/OMAR, summarized in docs/omar_official_code.md#action-search and #actor-loss):
  - MPE: mu0 = 0, sigma0 = 2, 3 iterations x 10 samples, samples clipped to [-1, 1]; the new mean is the
    softmax(Q1)-weighted mean of the samples (beta = 1, Eq. 3); the new sigma is the root-mean-square
    deviation of the samples around the NEW mean (the paper's Eq. 3 uses the old mean and a sum:
    `sigma_rule="paper"`); a_hat = the best of the last iteration's samples or pi(o), by Q1.
  - HalfCheetah: top-k elite CEM (2 iterations x 20 samples, 5 elites; previous elites rejoin the pool).
    The new sigma is the elites' biased std (``cem_std="biased"``, default); MOMA-PPO's copy of this search
    (PBarde/moma-ppo ``single_agent/td3.py`` ``update_pi``) takes ``torch.std`` (unbiased) + 1e-6:
    ``cem_std="unbiased"``.
  - Actor loss: tau * MSE(pi(o), a_hat) - (1 - tau) * mean Q1(o, pi(o)) + 1e-3 * mean(pi(o)^2);
    tau (the code's `omar_coe`) weighs the imitation term, as in the paper's Eq. 2.
Shapes: M members, B batch, K samples, A action dims.
"""

from __future__ import annotations

from typing import Callable

import torch

SAMPLERS = ("softmax", "cem", "random")
SIGMA_RULES = ("code", "paper")
CEM_STDS = ("biased", "unbiased")

QFn = Callable[[torch.Tensor], torch.Tensor]  # actions [M, B, K, A] -> Q1 [M, B, K]


def search_action(
    q_fn: QFn,
    pi: torch.Tensor,  # [M, B, A] the actor's action, a candidate of the final argmax (Alg. 1 line 12)
    *,
    sampler: str = "softmax",
    iters: int = 3,
    n_samples: int = 10,
    n_elites: int = 5,
    mu0: float = 0.0,
    sigma0: float = 2.0,
    beta: float = 1.0,
    sigma_rule: str = "code",
    low: float = -1.0,
    high: float = 1.0,
    generator: torch.Generator | None = None,
    cem_std: str = "biased",
    q_pi: torch.Tensor | None = None,
    draw: Callable[[tuple[int, ...]], torch.Tensor] | None = None,
) -> torch.Tensor:
    """a_hat [M, B, A]: the best of the sampled population and pi(o) under Q1.

    The standard normal noise eps [M, B, k, A] of each iteration comes from ``draw(shape)`` (e.g. a learner's
    training streams, each run of a stack drawing its own members' noise), else from
    ``torch.randn(shape, generator=generator)``; give one of the two at most.

    q_pi: Q1(o, pi(o)) [M, B] when the caller has it already (the learner's actor loss): the official code reuses
    its ``pred_qvals`` (algorithms/maddpg.py l. 247, 326), and a second critic forward would step the critic's
    BatchNorm running statistics once more (tests/test_omar_learner_official_parity.py). None: computed here.

    sampler "softmax" = OMAR's Eq. 3; "cem" = top-k elites (mean/std of the elites); "random" =
    random shooting: iters x n_samples draws from N(mu0, sigma0) with no refinement. ``cem_std`` (cem only):
    "biased" = the elites' std over n (OMAR), "unbiased" = over n - 1, plus 1e-6 (MOMA-PPO's code).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid: {SAMPLERS}")
    if sigma_rule not in SIGMA_RULES:
        raise ValueError(f"unknown sigma_rule {sigma_rule!r}; valid: {SIGMA_RULES}")
    if cem_std not in CEM_STDS:
        raise ValueError(f"unknown cem_std {cem_std!r}; valid: {CEM_STDS}")
    if iters < 1 or n_samples < 1:
        raise ValueError(f"iters and n_samples must be >= 1, got {iters}, {n_samples}")
    if draw is not None and generator is not None:
        raise ValueError("give the search's noise as draw or as generator, not both")
    M, B, A = pi.shape
    mu = torch.full((M, B, 1, A), float(mu0), dtype=pi.dtype, device=pi.device)
    sigma = torch.full_like(mu, float(sigma0))
    if draw is None:

        def draw(shape: tuple[int, ...]) -> torch.Tensor:
            return torch.randn(shape, generator=generator, dtype=pi.dtype, device=pi.device)

    def population(k: int) -> torch.Tensor:
        return (mu + sigma * draw((M, B, k, A))).clamp(low, high)  # [M, B, k, A]

    if sampler == "random":
        samples = population(iters * n_samples)
        q = q_fn(samples)
    else:
        elites = None
        for _ in range(iters):
            samples = population(n_samples)
            if sampler == "cem" and elites is not None:
                samples = torch.cat([samples, elites], dim=2)
            q = q_fn(samples)  # [M, B, K]
            if sampler == "softmax":
                w = torch.softmax(beta * q, dim=-1).unsqueeze(-1)  # [M, B, K, 1]
                new_mu = (w * samples).sum(dim=2, keepdim=True)
                if sigma_rule == "code":  # RMS deviation around the new mean (official code)
                    sigma = (samples - new_mu).pow(2).mean(dim=2, keepdim=True).sqrt()
                else:  # Eq. 3 as printed: sqrt of the summed squares around the old mean
                    sigma = (samples - mu).pow(2).sum(dim=2, keepdim=True).sqrt()
                mu = new_mu
            else:
                k = min(n_elites, samples.shape[2])
                idx = q.topk(k, dim=-1).indices  # [M, B, k]
                elites = samples.gather(2, idx.unsqueeze(-1).expand(-1, -1, -1, A))
                mu = elites.mean(dim=2, keepdim=True)
                sigma = cem_sigma(elites, cem_std)
    # Algorithm 1 line 12: argmax over the last population and pi(o)
    cand = torch.cat([samples, pi.unsqueeze(2)], dim=2)  # [M, B, K+1, A]
    q_last = q_fn(pi.unsqueeze(2)) if q_pi is None else q_pi.detach().unsqueeze(-1)  # [M, B, 1]
    q_all = torch.cat([q, q_last], dim=2)  # [M, B, K+1]
    best = q_all.argmax(dim=-1)  # [M, B]
    return cand.gather(2, best[..., None, None].expand(-1, -1, 1, A)).squeeze(2)


def cem_sigma(elites: torch.Tensor, cem_std: str = "biased") -> torch.Tensor:
    """The CEM's new std over the elites [M, B, k, A] -> [M, B, 1, A]: "biased" (OMAR) or "unbiased" + 1e-6
    (MOMA-PPO: ``torch.std(elite_acs, dim=1) + 1e-6``, "to make sure sigma is not 0")."""
    if cem_std == "biased":
        return elites.std(dim=2, keepdim=True, unbiased=False)
    return elites.std(dim=2, keepdim=True, unbiased=True) + 1e-6


def omar_actor_loss(
    q_pi: torch.Tensor,  # [M, B] Q1(o, pi(o))
    pi: torch.Tensor,  # [M, B, A]
    a_hat: torch.Tensor,  # [M, B, A] from search_action (no gradient)
    tau: float | torch.Tensor,  # a float, or [M] per member (stacked runs: float64, see ITD3.omar_tau_loss)
    action_reg: float = 1e-3,
) -> torch.Tensor:
    """Per-member loss [M] = tau * mean (pi - a_hat)^2 - (1 - tau) * mean Q1 + action_reg * mean pi^2 (Eq. 2)."""
    imitation = (pi - a_hat.detach()).pow(2).mean(dim=(-2, -1))
    return tau * imitation - (1.0 - tau) * q_pi.mean(dim=-1) + action_reg * pi.pow(2).mean(dim=(-2, -1))
