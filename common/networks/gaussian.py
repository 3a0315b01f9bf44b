"""Gaussian pieces of the batched heads: the hand-written diagonal Gaussian log-density and tanh log-Jacobian
(cheaper than torch.distributions objects inside an update; used by the actors of :mod:`common.networks.heads`), and
``GaussianEnsembleModel``, the Gaussian regression head of world models (MOMA-PPO's T and R heads).
Axis vocabulary: M members, A / O output dims.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.networks.nets import Activation, EnsembleMLP

__all__ = ["gaussian_log_prob", "tanh_log_det_jacobian", "GaussianEnsembleModel", "LOG_SQRT_2PI"]

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG2 = math.log(2.0)


def gaussian_log_prob(mean: Tensor, log_std: Tensor, x: Tensor) -> Tensor:
    """Diagonal Gaussian log-density summed over the last axis: [M, *, A] -> [M, *]."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z.square() - log_std - LOG_SQRT_2PI).sum(-1)


def tanh_log_det_jacobian(u: Tensor) -> Tensor:
    """sum_a log(1 - tanh(u_a)^2), stable form 2 (log 2 - u - softplus(-2u)): [M, *, A] -> [M, *]."""
    return (2.0 * (_LOG2 - u - F.softplus(-2.0 * u))).sum(-1)


class GaussianEnsembleModel(nn.Module):
    """Gaussian regression head for world models (MOMA-PPO's T and R heads).

    n_layers hidden layers of width ``hidden`` -> (mean [M, *, O], log_std [M, *, O] clamped
    [-6, 2]). For a model ensemble the M axis holds (seed x ensemble member).
    """

    def __init__(
        self,
        n_members: int,
        in_dim: int,
        out_dim: int,
        hidden: int = 1024,
        n_layers: int = 4,
        activation: Activation = nn.ReLU,
        log_std_bounds: tuple[float, float] = (-6.0, 2.0),
    ):
        super().__init__()
        self.n_members = n_members
        self.out_dim = out_dim
        self.log_std_min, self.log_std_max = (float(b) for b in log_std_bounds)
        self.net = EnsembleMLP(n_members, in_dim, 2 * out_dim, (hidden,) * n_layers, activation=activation)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_std = self.net(x).chunk(2, dim=-1)  # [M, *, O] each
        return mean, log_std.clamp(self.log_std_min, self.log_std_max)

    def sample(self, x: Tensor) -> Tensor:
        mean, log_std = self(x)
        return mean + log_std.exp() * torch.randn_like(mean)

    def nll(self, x: Tensor, target: Tensor) -> Tensor:
        """Per-member Gaussian negative log-likelihood [M], mean over the batch and output dims
        (constant 0.5 log 2 pi included). Sum over members before ``backward``."""
        mean, log_std = self(x)
        z = (target - mean) * torch.exp(-log_std)
        nll = 0.5 * z.square() + log_std + LOG_SQRT_2PI  # [M, *, O]
        return nll.reshape(self.n_members, -1).mean(1)
