"""MOMA-PPO's world-model networks and their training losses: the T, R and mask heads of M members
(``WMHeads``), the named per-member losses (Gaussian NLL, mask BCE), the elite score's sample error, and the
checksum that names a set of weights.

Paper and official code as in papers/moma_ppo/worldmodel.py (the ensemble that trains these). Shapes: M members,
B batch, N agents, Oj joint obs dim, I model input dim, D output dims.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.networks.gaussian import GaussianEnsembleModel
from common.networks.nets import EnsembleMLP
from papers.moma_ppo.worldmodel_data import WorldModelConfig

__all__ = ["WMHeads", "gaussian_nll", "mask_bce", "sample_l2_error", "weights_sha256"]


# ----------------------------------------------------------------------------------------------
# named losses
# ----------------------------------------------------------------------------------------------


def gaussian_nll(mean: Tensor, log_std: Tensor, target: Tensor) -> Tensor:
    """NLL = mean_{b, j} [log sigma_j + 0.5 z_j^2], z = (y - mu) / sigma, no 0.5 log 2 pi constant
    ([code] single_agent/world_models.py ``Gaussian.gaussian_log_prob``, reduction='mean',
    constant=False; its "var" is sigma and its clamp at -6 is a no-op). [M, B, D] -> [M]."""
    z = (target - mean) * torch.exp(-log_std)
    return (log_std + 0.5 * z.square()).flatten(1).mean(1)


def mask_bce(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy of the "not terminal" Bernoulli, mean over the batch and the agents
    ([code] multi_agent/worldmodel.py ``binary_cross_entropy(sigmoid(l), masks).mean()``; computed from
    the logits, equal wherever torch's log clamp at -100 is inactive). [M, B, N] -> [M]."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).mean(1)


def sample_l2_error(mean: Tensor, log_std: Tensor, target: Tensor, noise: Tensor) -> Tensor:
    """Elite score term: ||mu + sigma * noise - y||_2 over the output dims, per row, of a Gaussian
    SAMPLE ([code] multi_agent/worldmodel.py ``mean_l2_distance(T_samples, ...)``). [M, B, D] -> [M, B]."""
    return torch.linalg.vector_norm(mean + log_std.exp() * noise - target, dim=-1)


def weights_sha256(model_state: Mapping[str, Tensor]) -> str:
    """sha256 over (name, dtype, shape, raw bytes) of every tensor, names sorted: equal weights give
    equal digests whatever torch's pickle format does."""
    h = hashlib.sha256()
    for name in sorted(model_state):
        t = model_state[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{str(t.dtype)}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# networks
# ----------------------------------------------------------------------------------------------


def _members_forward(mlp: EnsembleMLP, idx: Tensor, x: Tensor) -> Tensor:
    """``mlp`` (ReLU hidden layers, no input norm) restricted to the members ``idx`` [K']:
    x [K', B, I] -> [K', B, O]."""
    h = x
    last = len(mlp.layers) - 1
    for i, layer in enumerate(mlp.layers):
        h = torch.baddbmm(layer.bias.index_select(0, idx), h, layer.weight.index_select(0, idx))
        if i < last:
            h = torch.relu(h)
    return h


class WMHeads(nn.Module):
    """The T, R and mask heads of M members; forward(x [M, *, I]) ->
    (mu_T, log_sigma_T [M, *, Oj], mu_R, log_sigma_R [M, *, N], mask logits [M, *, N])."""

    def __init__(self, n_members: int, in_dim: int, obs_dim: int, n_agents: int, cfg: WorldModelConfig):
        super().__init__()
        self.n_members = n_members
        bounds = (cfg.log_std_min, cfg.log_std_max)
        self.T = GaussianEnsembleModel(
            n_members, in_dim, obs_dim, cfg.hidden, cfg.t_layers, log_std_bounds=bounds
        )
        self.R = GaussianEnsembleModel(
            n_members, in_dim, n_agents, cfg.hidden, cfg.r_layers, log_std_bounds=bounds
        )
        self.mask = EnsembleMLP(n_members, in_dim, n_agents, (cfg.hidden,) * cfg.mask_layers)
        # no member chunking: at the code's width (1,024) the layers are compute-bound and the chunks' concatenation
        # cost 7 % of an update with nothing gained (Intel Xeon family 6 model 207, one thread, 2026-11-30; bitwise
        # the same weights either way, tests/test_moma_worldmodel.py)
        for net in (self.T.net, self.R.net, self.mask):
            net.chunked = False

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        mean_t, log_std_t = self.T(x)
        mean_r, log_std_r = self.R(x)
        return mean_t, log_std_t, mean_r, log_std_r, self.mask(x)

    def forward_members(self, idx: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """The same outputs for the members ``idx`` [K'] only, x [K', B, I] (elites, one group)."""
        out = []
        for head in (self.T, self.R):
            mean, log_std = _members_forward(head.net, idx, x).chunk(2, dim=-1)
            out += [mean, log_std.clamp(head.log_std_min, head.log_std_max)]
        return (*out, _members_forward(self.mask, idx, x))
