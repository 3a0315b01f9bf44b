"""AWAC's policy head (common/algos/awac.py holds the learner and the sources; OTC's BREMEN, papers/otc/bremen.py,
uses the same head): a Gaussian whose mean is an MLP of the observation (or max_action tanh of it; last layer U(+-MEAN_INIT_W), as rlkit's
GaussianPolicy) and whose log-std is one state-free parameter per member and action dim ("clamp" or "sigmoid" to its
bounds), and the diagonal Gaussian log-density with padded action dims left out.
Shapes: M members, O obs dim, A action dim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from common.networks.nets import EnsembleLinear, EnsembleMLP

LOG_STD_PARAMS = ("clamp", "sigmoid")
MEAN_INIT_W = 1e-3  # mean head's last layer U(+-MEAN_INIT_W), weights and bias (rlkit GaussianPolicy init_w)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _init_mean_head(layer: EnsembleLinear) -> None:
    layer.init_uniform_(MEAN_INIT_W, MEAN_INIT_W)


class StateFreeGaussianActor(nn.Module):
    """pi(.|o) = N(mu(o), diag sigma^2) with a state-independent log sigma per member and action dim.

    mu(o) = MLP(o) (``mean_tanh=False``) or max_action * tanh(MLP(o)); log sigma = clamp(p, lo, hi)
    (``log_std_param="clamp"``) or lo + (hi - lo) * sigmoid(p) (``"sigmoid"``, rlkit's "values" std), p a learned
    [M, A] parameter. (common.networks.heads.GaussianActor has a state-dependent log sigma, hence this head.)

    forward(obs [M, *, O]) -> (mean [M, *, A], log_std [M, 1.., A] broadcastable to the mean)."""

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (256, 256),
        log_std_bounds: Sequence[float] = (-6.0, 0.0),
        log_std_param: str = "clamp",
        log_std_init: float = -3.0,
        mean_tanh: bool = False,
        max_action: float = 1.0,
    ):
        super().__init__()
        if log_std_param not in LOG_STD_PARAMS:
            raise ValueError(
                f"log_std_param={log_std_param!r} is not allowed; choose one of {list(LOG_STD_PARAMS)}"
            )
        self.n_members, self.act_dim = n_members, act_dim
        self.log_std_min, self.log_std_max = (float(b) for b in log_std_bounds)
        self.log_std_param, self.mean_tanh, self.max_action = (
            log_std_param,
            bool(mean_tanh),
            float(max_action),
        )
        self.net = EnsembleMLP(n_members, obs_dim, act_dim, hidden, last_layer_init=_init_mean_head)
        if log_std_param == "clamp":
            raw = float(log_std_init)
        else:  # the logit whose sigmoid gives log_std_init (0 for the middle of the bounds)
            u = (float(log_std_init) - self.log_std_min) / (self.log_std_max - self.log_std_min)
            raw = math.log(u / (1.0 - u))
        self.log_std_raw = nn.Parameter(torch.full((n_members, act_dim), raw))  # [M, A]

    def log_std(self) -> Tensor:
        """log sigma [M, A], within [log_std_min, log_std_max]."""
        if self.log_std_param == "clamp":
            return self.log_std_raw.clamp(self.log_std_min, self.log_std_max)
        return self.log_std_min + (self.log_std_max - self.log_std_min) * torch.sigmoid(self.log_std_raw)

    def mean(self, obs: Tensor) -> Tensor:
        """mu(o) [M, *, A]."""
        h = self.net(obs)
        return self.max_action * torch.tanh(h) if self.mean_tanh else h

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        mean = self.mean(obs)  # [M, *, A]
        log_std = self.log_std().view(self.n_members, *([1] * (mean.dim() - 2)), self.act_dim)  # [M, 1.., A]
        return mean, log_std


def gaussian_log_prob(mean: Tensor, log_std: Tensor, x: Tensor, mask: Tensor | None = None) -> Tensor:
    """Diagonal Gaussian log-density summed over the action dims: [M, *, A] -> [M, *]; ``mask`` (1 = a real
    dim, broadcastable) leaves padded dims out."""
    lp = -0.5 * ((x - mean) * torch.exp(-log_std)).square() - log_std - _LOG_SQRT_2PI  # [M, *, A]
    if mask is not None:
        lp = lp * mask
    return lp.sum(-1)
