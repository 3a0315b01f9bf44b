"""ICQ-MA's networks (papers/cast_bcq/icq_ma.py holds the learner, the equations and the official code): the
Gaussian actor with a state-independent log-std whose mean is a tanh MLP, and the QMIX-style hypernetwork mixer of
the agents' Q values, one per seed.
Shapes: S seeds, N agents, M = S * N members, B batch, O obs dim, A action dim, SD state dim.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from common.networks.nets import EnsembleLinear, EnsembleMLP

_LOG_SQRT_2PI = 0.5 * float(np.log(2.0 * np.pi))


class GaussianMeanActor(nn.Module):
    """ICQ-MA's "AWAC" actor (rlkit GaussianPolicy, std_architecture="values"): diagonal Gaussian with mean
    tanh(MLP(o)) and a state-independent log sigma = lo + (hi - lo) * sigmoid(l), l [A] per member (init 0).
    Samples are not squashed; the evaluation action is the mean. (common.networks.heads.GaussianActor has a
    state-dependent log sigma, hence this head.)

    forward(obs [M, *, O]) -> (mean [M, *, A], log_std [M, 1.., A] broadcastable)."""

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (400, 300, 300),
        log_std_bounds: tuple[float, float] = (-6.0, 0.0),
    ):
        super().__init__()
        self.n_members, self.act_dim = n_members, act_dim
        self.log_std_min, self.log_std_max = (float(b) for b in log_std_bounds)
        self.net = EnsembleMLP(n_members, obs_dim, act_dim, hidden, output_activation=torch.tanh)
        self.log_std_logit = nn.Parameter(torch.zeros(n_members, 1, act_dim))  # [M, 1, A]

    def log_std(self) -> Tensor:
        """[M, 1, A] in [log_std_min, log_std_max]."""
        return self.log_std_min + (self.log_std_max - self.log_std_min) * torch.sigmoid(self.log_std_logit)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        mean = self.net(obs)  # [M, *, A]
        log_std = self.log_std().view(self.n_members, *([1] * (mean.dim() - 2)), self.act_dim)
        return mean, log_std

    def log_prob(self, obs: Tensor, act: Tensor, act_mask: Tensor | None = None) -> Tensor:
        """log pi(act | obs) summed over the (real) action dims: obs [M, *, O], act [M, *, A] -> [M, *];
        act_mask [M, 1.., A] (1 = a real dim) drops padded dims."""
        mean, log_std = self(obs)
        lp = -0.5 * ((act - mean) * torch.exp(-log_std)).square() - log_std - _LOG_SQRT_2PI  # [M, *, A]
        if act_mask is not None:
            lp = lp * act_mask
        return lp.sum(-1)


class HyperMixer(nn.Module):
    """One QMIX-style mixer per seed with weights only (ICQ-MA): k(s) = normalize(|W1(s)| |w_f(s)|) over the
    N agents, Q_tot = sum_i k_i(s) Q_i. Single-Linear hypernetworks W1: SD -> N*E, w_f: SD -> E.

    weights(state [S, *, SD]) -> k [S, *, N];  forward(q [S, *, N], state [S, *, SD]) -> Q_tot [S, *]."""

    def __init__(self, n_seeds: int, state_dim: int, n_agents: int, embed: int = 32):
        super().__init__()
        self.n_members, self.n_agents, self.embed = n_seeds, n_agents, embed
        self.hyper_w1 = EnsembleLinear(n_seeds, state_dim, n_agents * embed)
        self.hyper_wf = EnsembleLinear(n_seeds, state_dim, embed)

    def weights(self, state: Tensor) -> Tensor:
        w1 = self.hyper_w1(state).abs().unflatten(-1, (self.n_agents, self.embed))  # [S, *, N, E]
        wf = self.hyper_wf(state).abs()  # [S, *, E]
        k = (w1 * wf.unsqueeze(-2)).sum(-1)  # [S, *, N] = W1 w_f
        return k / k.sum(-1, keepdim=True)

    def forward(self, q: Tensor, state: Tensor) -> Tensor:
        return (self.weights(state) * q).sum(-1)
