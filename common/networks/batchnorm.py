"""The batched BatchNorm1d (``EnsembleBatchNorm1d``: M independent ``nn.BatchNorm1d`` with their own affine
parameters and running statistics, one ``F.batch_norm`` over the members' channels, each member's channels padded to
``BN_LANES`` so that its bits do not depend on its neighbours), used as the input norm of ``EnsembleMLP``
(common/networks/nets.py). Axis vocabulary: M members, N rows, F features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.networks import chunking
from common.networks.chunking import chunking_on, flatten_members

__all__ = ["EnsembleBatchNorm1d", "BN_LANES"]

# EnsembleBatchNorm1d pads each member's channels to a multiple of this (the CPU batch-norm kernel's vector
# block, 16 float32 lanes with AVX-512; a multiple of the AVX2 width too), see EnsembleBatchNorm1d.forward.
BN_LANES: int = 16


class EnsembleBatchNorm1d(nn.Module):
    """M independent ``nn.BatchNorm1d(F)``: own affine params [M, F] and own running statistics.

    Input [M, *, F]: statistics are taken per member over all middle axes (as ``nn.BatchNorm1d``
    on the member's input flattened to [N, F]). Train mode normalises with the batch statistics and
    updates the running ones (unbiased variance, ``momentum``); eval mode uses the running ones.
    Computed by one ``F.batch_norm`` over M*F channels, so it equals ``nn.BatchNorm1d`` per member.
    """

    # the parameters and buffers set in __init__, typed (nn.Module's attribute lookup is typed Tensor | Module)
    weight: nn.Parameter | None  # [M, F]; None unless affine
    bias: nn.Parameter | None  # [M, F]; None unless affine
    running_mean: Tensor  # [M, F]
    running_var: Tensor  # [M, F]
    num_batches_tracked: Tensor  # [M]

    def __init__(
        self,
        n_members: int,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
    ):
        super().__init__()
        self.n_members = n_members
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(n_members, num_features))  # [M, F]
            self.bias = nn.Parameter(torch.zeros(n_members, num_features))  # [M, F]
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(n_members, num_features))  # [M, F]
        self.register_buffer("running_var", torch.ones(n_members, num_features))  # [M, F]
        # [M] (all equal; one per member so that every tensor here has the member axis first)
        self.register_buffer("num_batches_tracked", torch.zeros(n_members, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        m, f = self.n_members, self.num_features
        x3, shape = flatten_members(x, m)  # [M, N, F]
        n = x3.shape[1]
        factor = 0.0
        if self.training:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as nn.BatchNorm1d
                factor = 1.0 / float(self.num_batches_tracked[0])
            else:
                factor = self.momentum
        if chunking_on(x3) and m > 1 and x3.numel() * x3.element_size() > chunking.CHUNK_BYTES:
            # large inputs (OMAR's [M, B*K, F] CQL / search rows): one member at a time on its own
            # contiguous [N, F] slice, no [N, M*F] transpose copy (measured: the copy and the
            # channel-strided batch_norm over 15 x 10240 x 20 cost more than the critic's matmuls).
            ys = [
                F.batch_norm(
                    x3[i],
                    self.running_mean[i],  # views: updated in place
                    self.running_var[i],
                    self.weight[i] if self.weight is not None else None,
                    self.bias[i] if self.bias is not None else None,
                    self.training,
                    factor,
                    self.eps,
                )
                for i in range(m)
            ]  # [N, F] each
            return torch.stack(ys).reshape(shape)  # [M, *, F]
        fp = -(-f // BN_LANES) * BN_LANES  # each member's channels padded to a multiple of BN_LANES
        if fp == f:
            xt = x3.transpose(0, 1).reshape(n, m * f)  # [N, M*F]: channel c = member * F + feature
            y = F.batch_norm(
                xt,
                self.running_mean.view(-1),  # views: F.batch_norm updates the [M, F] buffers in place
                self.running_var.view(-1),
                self.weight.reshape(-1) if self.weight is not None else None,
                self.bias.reshape(-1) if self.bias is not None else None,
                self.training,
                factor,
                self.eps,
            )  # [N, M*F]
            return y.view(n, m, f).transpose(0, 1).reshape(shape)  # [M, *, F]
        # Padded layout: member i's features start at channel i * fp. The CPU kernel processes channels in
        # vector blocks and rounds a trailing partial block differently (measured in the backward pass), so
        # without padding a member's gradients depended on where it sat among the M * F channels, i.e. on how
        # many members share the module; padded, a member computes the same bits alone or stacked with others
        # (common.running.grouping's grouped runs equal runs alone). The zero channels normalise to 0 and are dropped.
        pad = fp - f
        xt = F.pad(x3, (0, pad)).transpose(0, 1).reshape(n, m * fp)  # [N, M*Fp]
        rm = F.pad(self.running_mean, (0, pad)).reshape(-1)  # copies: written back below
        rv = F.pad(self.running_var, (0, pad), value=1.0).reshape(-1)
        y = F.batch_norm(
            xt,
            rm,
            rv,
            F.pad(self.weight, (0, pad), value=1.0).reshape(-1) if self.weight is not None else None,
            F.pad(self.bias, (0, pad)).reshape(-1) if self.bias is not None else None,
            self.training,
            factor,
            self.eps,
        )  # [N, M*Fp]
        if self.training:
            with torch.no_grad():
                self.running_mean.copy_(rm.view(m, fp)[:, :f])
                self.running_var.copy_(rv.view(m, fp)[:, :f])
        return y.view(n, m, fp)[:, :, :f].transpose(0, 1).reshape(shape)  # [M, *, F]

    def member_module(self, m: int) -> nn.BatchNorm1d:
        """Member m as a plain ``nn.BatchNorm1d`` (a copy, running stats included)."""
        rm = self.running_mean
        bn = nn.BatchNorm1d(
            self.num_features,
            eps=self.eps,
            momentum=self.momentum,
            affine=self.affine,
            device=rm.device,
            dtype=rm.dtype,
        )  # built in the buffers' dtype: no rounding
        # built with track_running_stats (the default), so its buffers are tensors, not None
        assert (
            bn.running_mean is not None and bn.running_var is not None and bn.num_batches_tracked is not None
        )
        with torch.no_grad():
            if self.weight is not None and self.bias is not None:  # affine
                bn.weight.copy_(self.weight[m])
                bn.bias.copy_(self.bias[m])
            bn.running_mean.copy_(self.running_mean[m])
            bn.running_var.copy_(self.running_var[m])
            bn.num_batches_tracked.copy_(self.num_batches_tracked[m])
        bn.train(self.training)
        return bn

    def extra_repr(self) -> str:
        return (
            f"n_members={self.n_members}, num_features={self.num_features}, eps={self.eps}, "
            f"momentum={self.momentum}, affine={self.affine}"
        )
