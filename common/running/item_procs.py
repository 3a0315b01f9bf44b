"""The items of ``./run_all.sh`` (common.running.run_all): an item script with its plan and what became of it
(``Item``), and the script run as its own process: started in its own session with its output copied to its log file
(and the terminal), waited for, or stopped with its worker processes (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Sequence

from common.running.progress import PROGRESS_ENV, Bar

__all__ = ["Item", "Proc", "end_item", "start_item", "stop_processes"]


@dataclass(eq=False)
class Item:
    """One item script, its plan and what became of it."""

    script: str  # papers/<paper>/<item>.py
    plan: Any = None  # common.running.cli.ItemPlan
    per_run_s: float | None = None  # predicted seconds per run
    basis: str = ""  # where the prediction comes from
    events: list[dict] = field(default_factory=list)  # finished runs reported by the item's processes
    rc: int | None = None
    wall_s: float = 0.0
    envs: frozenset[str] | None = None  # whose datasets it trains on (common.running.item_schedule.item_envs)
    state: str = "waiting"  # waiting, running, done (rc set) or stopped

    @property
    def name(self) -> str:
        return f"{Path(self.script).parent.name}/{Path(self.script).stem}"

    @property
    def predicted_s(self) -> float | None:
        return None if self.per_run_s is None else self.per_run_s * self.plan.todo


@dataclass(eq=False)
class Proc:
    """A running item script: its process, its log file and the thread that copies its output there."""

    item: Item
    popen: subprocess.Popen
    log: BinaryIO
    reader: threading.Thread
    t0: float


def start_item(
    item: Item, argv: Sequence[str], log_path: Path, progress: Path, bar: Bar, verbose: bool, prefix: str = ""
) -> Proc:
    """Start one item script as its own process (its own session: a signal reaches it only through
    ``stop_processes``), its output to ``log_path`` (and the terminal with ``verbose``, each line after ``prefix``),
    its runs' progress events to ``progress``."""
    py = os.environ.get("OFFMARL_PY") or sys.executable
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {item.script} {' '.join(argv)}\n".encode())
    log.flush()
    popen = subprocess.Popen(
        [py, item.script, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, PROGRESS_ENV: str(progress)},
    )

    def copy():
        assert popen.stdout is not None  # PIPE (Popen's pipes are typed Optional)
        for line in popen.stdout:
            log.write(line)
            log.flush()
            if verbose:
                bar.write(prefix + line.decode(errors="replace").rstrip("\n"))

    reader = threading.Thread(target=copy, daemon=True)
    reader.start()
    item.state = "running"
    return Proc(item, popen, log, reader, time.time())


def end_item(p: Proc, state: str) -> None:
    """Wait for ``p``'s process (ended or being stopped) and its output, close its log, set its item's outcome."""
    p.popen.wait()
    p.reader.join(timeout=10)
    p.log.close()
    p.item.rc, p.item.wall_s, p.item.state = p.popen.returncode, time.time() - p.t0, state


def stop_processes(procs: Sequence[subprocess.Popen]) -> None:
    """SIGTERM to each item's process group (its worker processes too), SIGKILL to those left after 20 s."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        left = [p for p in procs if p.poll() is None]
        for p in left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, sig)
        end = time.time() + wait
        for p in left:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(end - time.time(), 0.01))
