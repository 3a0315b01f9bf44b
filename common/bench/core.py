"""The benchmark's measuring tools: clocks after a device sync, interleaved rounds, FLOP counts, the matmul peak as
a robust median of many readings with its spread, and the machine a run was measured on."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import torch

from common.running.runtime import DEVICES, check_device, cpu_model, set_threads

REPO = Path(__file__).resolve().parents[2]
PEAK_SHAPE = (10240, 256)  # [rows x width] @ [width x width] fp32: the shape of the learners' widest products
# a median of 5 readings came out at 45 GFLOP/s against 63 of 30 (issue 63): never fewer
MIN_PEAK_READINGS = 30


def device_sync(device: torch.device) -> None:
    """Wait for the device's queued kernels before a clock is read (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Peak:
    """Readings of this machine's matmul ceiling (GFLOP/s of one [rows x width] @ [width x width] fp32 product),
    taken through a run: before, between and after the hot paths, so that the median sees the load they saw."""

    def __init__(
        self, device: str | torch.device = "cpu", rows: int = PEAK_SHAPE[0], width: int = PEAK_SHAPE[1]
    ):
        self.device = check_device(str(device))
        self.rows, self.width = rows, width
        self.a = torch.randn(rows, width, device=self.device)
        self.w = torch.randn(width, width, device=self.device)
        self.out = torch.empty(rows, width, device=self.device)
        # one GPU matmul is microseconds: time a run of them
        self.inner = 1 if self.device.type == "cpu" else 50
        torch.mm(self.a, self.w, out=self.out)
        self.readings: list[float] = []

    def read(self, n: int = 1) -> Peak:
        """Take ``n`` more readings."""
        for _ in range(n):
            device_sync(self.device)
            t0 = time.perf_counter()
            for _ in range(self.inner):
                torch.mm(self.a, self.w, out=self.out)
            device_sync(self.device)
            s = (time.perf_counter() - t0) / self.inner
            self.readings.append(2.0 * self.rows * self.width * self.width / s / 1e9)
        return self

    @property
    def median(self) -> float:
        return statistics.median(self.readings)

    def spread(self) -> dict[str, float]:
        """min, first quartile, median, third quartile, max of the readings (GFLOP/s) and their count."""
        r = sorted(self.readings)
        q = statistics.quantiles(r, n=4) if len(r) > 1 else [r[0]] * 3
        return {
            "n": float(len(r)),
            "min": r[0],
            "q1": q[0],
            "median": statistics.median(r),
            "q3": q[2],
            "max": r[-1],
        }

    def describe(self) -> str:
        s = self.spread()
        return (
            f"matmul peak [{self.rows}x{self.width}]@[{self.width}x{self.width}] fp32: median {s['median']:.1f} "
            f"GFLOP/s of {int(s['n'])} readings (min {s['min']:.1f}, IQR {s['q1']:.1f}-{s['q3']:.1f}, "
            f"max {s['max']:.1f})"
        )


def matmul_peak_gflops(
    reps: int = MIN_PEAK_READINGS, rows: int = PEAK_SHAPE[0], width: int = PEAK_SHAPE[1], device: str = "cpu"
) -> float:
    """Median GFLOP/s of max(reps, 30) readings of a [rows x width] @ [width x width] fp32 matmul (this machine's
    ceiling). At least 30: a median of 5 misled by a third (issue 63). ``Peak`` keeps the readings and spread."""
    return Peak(device, rows, width).read(max(reps, MIN_PEAK_READINGS)).median


def interleaved_rates(
    variants: dict[str, Callable[[], object]], n_calls: int, reps: int, device
) -> dict[str, float]:
    """Calls per second of each variant (a paper's benchmark): one warm-up call each, then ``reps`` interleaved
    rounds of ``n_calls`` calls, clocks read after a device sync; the median round per variant."""

    def timed(fn) -> float:
        device_sync(device)
        t0 = time.perf_counter()
        for _ in range(n_calls):
            fn()
        device_sync(device)
        return n_calls / (time.perf_counter() - t0)

    for fn in variants.values():
        fn()
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for k, fn in variants.items():
            rates[k].append(timed(fn))
    return {k: statistics.median(v) for k, v in rates.items()}


def paper_bench_args(
    prog: str,
    description: str,
    quick_help: str,
    argv: list[str] | None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The command line of a paper's benchmark (``--quick --reps --updates --device``, and the paper's own options
    added by ``extra``), checked (positive counts, a known device), with one torch thread set."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    if extra is not None:
        extra(p)
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--reps", type=int, default=None, help="interleaved rounds (median taken)")
    p.add_argument("--updates", type=int, default=None, help="updates or iterations per round")
    p.add_argument("--device", default="cpu", help=f"where it runs: {' | '.join(DEVICES)} (default cpu)")
    args = p.parse_args(argv)
    check_bench_args(p, args, ("reps", "updates"))
    return args


def check_bench_args(p: argparse.ArgumentParser, args: argparse.Namespace, counts: tuple[str, ...]) -> None:
    """``p.error`` unless each option of ``counts`` that was given is a positive integer and ``--device`` is a known
    device; then one torch thread (a benchmark's claim is per thread)."""
    for name in counts:
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} {getattr(args, name)}: give a positive integer")
    try:
        check_device(args.device)
    except ValueError as e:
        p.error(str(e))
    set_threads(1)


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (torch's FlopCounterMode: matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return int(fc.get_total_flops())


def where(device: str) -> str:
    """The device in words: "1 CPU thread" or "cuda (<GPU name>)"."""
    return "1 CPU thread" if device == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info(device: str = "cpu") -> dict[str, str]:
    """What a benchmark's numbers depend on: CPU (and GPU), versions, threads, date, commit (``+dirty`` when the
    working tree differs from it), the 1-minute load average now."""
    import numpy as np

    gpu = torch.cuda.get_device_name(device) if device.startswith("cuda") else ""
    commit = _git("rev-parse", "--short", "HEAD")
    if not commit:  # a copy without .git (the lent GPU machine's): the commit its caller declares
        commit = os.environ.get("OFFMARL_GIT_COMMIT", "unknown")[:12]
    elif _git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return {
        "cpu": cpu_model(),
        "logical_cores": str(os.cpu_count()),
        "gpu": gpu,
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": str(torch.get_num_threads()),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def machine_slug(info: dict[str, str]) -> str:
    """The file name of a machine's benchmark page: its GPU's name on a GPU run, else its CPU's model."""
    name = info["gpu"] or info["cpu"]
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"
