"""Member chunking of the batched layers (common/networks/nets.py, common/networks/batchnorm.py), cache blocking on
the CPU: ``CHUNK_BYTES`` (set with ``set_chunk_bytes``; 0 = never chunk), the balanced chunk sizes
(``member_chunks``), whether a tensor is chunked (``chunking_on``), and the member-axis flattening every layer uses.
The layers read ``CHUNK_BYTES`` from this module at call time.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["CHUNK_BYTES", "set_chunk_bytes", "member_chunks", "chunking_on", "flatten_members"]


# Largest activation (bytes) one chunk of members may produce in an ``EnsembleMLP`` layer. When
# one baddbmm over all M members makes an activation far larger than the CPU cache (OMAR's CQL /
# action-search forwards: 15 members x 10240 rows x 64 = 39 MB), every layer streams it through
# memory and the batched learner runs slower than a per-member loop (measured: baddbmm 37 vs 68
# GFLOP/s, ReLU 18 ms). Splitting the members into chunks whose activations stay in cache keeps
# the math identical (each member's rows go through the same kernels) and keeps the single
# baddbmm when activations are small (batch 256 TD3+BC), where batching wins. 0 disables chunking.
# Measured with ``python -m common.bench`` (see that module's docstring).
# CPU only: on a GPU the chunks are only more kernel launches. Measured on an H100
# (``python -m common.bench --device cuda``): OMAR at MPE size 22.4 updates/s chunked vs 59.4
# unchunked, at MuJoCo size 18.4 vs 56.5; so tensors off the CPU are never chunked.
CHUNK_BYTES: int = 2 << 20


def chunking_on(t: Tensor) -> bool:
    """Whether member chunking applies to ``t`` (on, and on the CPU)."""
    return CHUNK_BYTES > 0 and t.device.type == "cpu"


def set_chunk_bytes(n_bytes: int) -> int:
    """Sets ``CHUNK_BYTES`` (0 = never chunk); returns the previous value."""
    global CHUNK_BYTES
    old, CHUNK_BYTES = CHUNK_BYTES, int(n_bytes)
    return old


def member_chunks(
    n_members: int, rows: int, width: int, itemsize: int = 4, chunk_bytes: int | None = None
) -> list[int]:
    """Sizes of balanced member chunks whose activation [chunk, rows, width] fits ``chunk_bytes``
    (default ``CHUNK_BYTES``); ``[n_members]`` (one chunk, the plain batched path) when all fit or
    chunking is off. E.g. (15, 10240, 64) -> 15 chunks of 1; (15, 1024, 64) -> [8, 7]; (15, 256, 64) -> [15]."""
    limit = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    per_member = rows * width * itemsize
    if limit <= 0 or n_members <= 1 or per_member * n_members <= limit:
        return [n_members]
    per_chunk = max(1, limit // max(per_member, 1))
    n_chunks = -(-n_members // per_chunk)
    base, extra = divmod(n_members, n_chunks)
    return [base + (i < extra) for i in range(n_chunks)]


def flatten_members(x: Tensor, m: int) -> tuple[Tensor, torch.Size]:
    """x [M, *, D] -> ([M, N, D], original shape); a no-op view for 3-d inputs."""
    if x.shape[0] != m:
        raise ValueError(f"leading axis must be the {m} members, got input of shape {tuple(x.shape)}")
    if x.dim() == 3:
        return x, x.shape
    return x.reshape(m, -1, x.shape[-1]), x.shape
