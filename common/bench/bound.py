"""The matmul bound of a hot path: how near this device's matmul peak any implementation of one step can get while
it keeps the step's matrix products at their shapes and memory layouts.

The step's matmuls (every FLOP torch's counter counts is in one of them) are recorded once, then timed, round by
round and interleaved with the step itself and a peak reading, alone on fresh tensors of the same shapes and strides.
``bound_pct`` = the step's FLOPs over the matmuls' time alone, as % of the peak: the step with no other work (no
activations, copies, optimizer, Python) would reach that, and no more. Used for OMAR's update (common/bench/itd3.py)
and SAC's (common/bench/sac.py)."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from common.bench.core import Peak, count_flops, device_sync
from common.running.runtime import check_device

_MATMULS = (
    torch.ops.aten.bmm.default,
    torch.ops.aten.baddbmm.default,
    torch.ops.aten.mm.default,
    torch.ops.aten.addmm.default,
)


class _MatmulRecorder(TorchDispatchMode):
    """Records every matmul of the code it wraps: (op, its arguments with each tensor as (shape, strides))."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, list[Any]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in _MATMULS:
            self.calls.append(
                (func, [(tuple(a.shape), a.stride()) if isinstance(a, torch.Tensor) else a for a in args])
            )
        return func(*args, **(kwargs or {}))


def replay_args(args: list[Any], g: torch.Generator, device: torch.device) -> list[Any]:
    """Fresh random tensors of the recorded shapes and strides (same memory layouts, new storage)."""
    out = []
    for a in args:
        if isinstance(a, tuple):
            shape, stride = a
            numel = 1 + sum((n - 1) * st for n, st in zip(shape, stride, strict=True))
            a = torch.randn(numel, generator=g).to(device).as_strided(shape, stride)
        out.append(a)
    return out


def step_bound(
    step: Callable[[], Any], reps: int = 7, seed: int = 0, device: str = "cpu"
) -> dict[str, float]:
    """The matmul bound of ``step`` (module docstring): medians over ``reps`` interleaved rounds of the step's time
    (``update_s``), its matmuls' time alone (``matmul_s``) and the peak; percentages of that peak."""
    if reps < 1:
        raise ValueError(f"reps={reps!r} must be >= 1")
    dev = check_device(device)
    flops = count_flops(step)
    rec = _MatmulRecorder()
    with rec:
        step()
    g = torch.Generator().manual_seed(seed)
    replay = [(op, replay_args(args, g, dev)) for op, args in rec.calls]

    def products() -> None:
        for op, args in replay:
            op(*args)

    matmul_flops = count_flops(products)
    peak = Peak(device)

    def timed(fn) -> float:
        device_sync(dev)
        t0 = time.perf_counter()
        fn()
        device_sync(dev)
        return time.perf_counter() - t0

    upd, mm = [], []
    for _ in range(reps):
        upd.append(timed(step))
        mm.append(timed(products))
        peak.read(2)
    u, m, pk = statistics.median(upd), statistics.median(mm), peak.median
    return {
        "update_s": u,
        "matmul_s": m,
        "gflop_per_update": flops / 1e9,
        "matmul_gflop": matmul_flops / 1e9,
        "matmul_calls": float(len(replay)),
        "peak_gflops": pk,
        "update_pct": 100 * flops / u / 1e9 / pk,
        "matmul_pct": 100 * matmul_flops / m / 1e9 / pk,
        "bound_pct": 100 * flops / m / 1e9 / pk,
        "non_matmul_share": (u - m) / u,
    }


def bound_line(r: dict[str, float]) -> str:
    """One line of :func:`step_bound`'s result, e.g. for the command line."""
    return (
        f"{r['update_s'] * 1e3:.1f} ms = {r['update_pct']:.0f} % of the matmul peak ({r['peak_gflops']:.1f} "
        f"GFLOP/s); its {int(r['matmul_calls'])} matmuls alone ({r['matmul_gflop']:.3f} of "
        f"{r['gflop_per_update']:.3f} GFLOP) take {r['matmul_s'] * 1e3:.1f} ms = {r['matmul_pct']:.0f} % of the "
        f"peak: with no other work the update would reach {r['bound_pct']:.0f} %; the rest is "
        f"{100 * r['non_matmul_share']:.0f} % of its time"
    )
