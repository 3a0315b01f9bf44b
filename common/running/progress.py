"""What the runner tells about each run as it ends: a progress event for ``run_all.sh``'s bar, and failures said once.

Progress: when ``$OFFMARL_PROGRESS`` names a file, every finished run (in whichever process ran it: the item's,
a ``--launcher process`` worker or a Ray task, which gets the variable forwarded) appends one JSON line
``{"run_id", "status", "reason"}`` to it (``report_progress``); ``common.running.run_all`` reads them (``read_progress``)
to move its one progress bar over all the runs of all items (``Bar``). A line is one ``O_APPEND`` write, so processes
appending at once never interleave.

Failures: a run that raises ends with a ``RunFailure``, its one-line reason (``Type: message``: for a dataset
error it ends with the command that regenerates the data) carrying the traceback along, also across processes.
Each process logs a failure's reason the first time it sees it and a one-line pointer for every later run that
failed with the same reason; the item's end (``failures_text``) prints each distinct failure once, with its
traceback and the runs it stopped. A failure shared by all runs of an item (a corrupt dataset) is thus printed
once, not once per run.

A run's own bar (``progress_bar``): tqdm on a terminal; in a log (stderr not a terminal: nohup, a batch job) one line
``<desc>: 12,000/40,000 (30 %), 62.0 min elapsed, ETA 2.1 h`` every ``$OFFMARL_PROGRESS_EVERY`` seconds (default 600,
the checkpoints' cadence; 0 = none) and one at the end of a bar that lasted a tenth of that; nothing under ``$CI``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

log = logging.getLogger("offmarl.experiment")

PROGRESS_ENV = "OFFMARL_PROGRESS"
PROGRESS_EVERY_ENV = "OFFMARL_PROGRESS_EVERY"
PROGRESS_EVERY_S = 600.0  # a log line about as often as the long runs write their checkpoints
_SEEN: dict[str, str] = {}  # reason -> the first run of this process that failed with it


class RunFailure(str):
    """A failed run's one-line reason (``Type: message``) with its ``traceback`` (pickles with it)."""

    traceback: str = ""


def failure(run_id: str, error: BaseException, tb: str) -> RunFailure:
    """The reason of ``run_id``'s failure with its traceback ``tb``, logged in one line: the reason the first time this
    process sees it, else a pointer to the first run that failed the same way (``failures_text`` prints the
    traceback once, when the item's runs are over)."""
    reason = RunFailure(f"{type(error).__name__}: {error}")
    reason.traceback = tb
    first = _SEEN.setdefault(str(reason), run_id)
    if first == run_id:
        log.error("run %s failed: %s", run_id, reason)
    else:
        log.error("run %s failed with the same error as run %s", run_id, first)
    return reason


def reset_failures() -> None:
    """Forget the failures seen so far (``run_cells`` starts each call afresh)."""
    _SEEN.clear()


def failures_text(failed: Sequence[tuple[str, str | None]], tracebacks: bool = False) -> str:
    """The failed (run_id, reason) pairs, one block per distinct reason: ``FAILED <run>: <reason>`` for a reason of
    one run, ``FAILED <n> runs with the same error: <reason>`` and the runs for a shared one; with ``tracebacks``,
    the first traceback of each reason follows it."""
    groups: dict[str, list[tuple[str, str | None]]] = {}
    for rid, reason in failed:
        groups.setdefault(str(reason), []).append((rid, reason))
    lines = []
    for text, runs in groups.items():
        if len(runs) == 1:
            lines.append(f"FAILED {runs[0][0]}: {text}")
        else:
            lines.append(f"FAILED {len(runs)} runs with the same error: {text}")
            lines.append("  runs: " + ", ".join(rid for rid, _ in runs))
        tb = next((getattr(r, "traceback", "") for _, r in runs if getattr(r, "traceback", "")), "")
        if tracebacks and tb:
            lines.append(tb.rstrip())
    return "\n".join(lines)


def report_progress(results: Iterable[tuple[str, str, Any]]) -> None:
    """One line per finished run ``(run_id, status, reason)`` appended to ``$OFFMARL_PROGRESS``, if set."""
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    text = "".join(
        json.dumps({"run_id": rid, "status": status, "reason": None if reason is None else str(reason)})
        + "\n"
        for rid, status, reason in results
    )
    if not text:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as e:  # the bar is a convenience: never fail a run for it
        log.warning("could not write progress to %s: %s", path, e)


def read_progress(path: str | Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The events appended to ``path`` since byte ``offset`` (whole lines only) and the offset to read from next."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events, offset + end


class Bar:
    """One progress bar over all runs (tqdm on a terminal; one line per finished item otherwise), with an ETA from
    the predicted times scaled by this machine's pace so far."""

    def __init__(self, items: Sequence[Any]):  # common.running.run_all.Item
        from tqdm.auto import tqdm

        self.items, self.t0 = items, time.time()
        self.total = sum(i.plan.todo for i in items)
        self.tty = sys.stderr.isatty() and not os.environ.get("CI")
        width = shutil.get_terminal_size((100, 20)).columns or 100  # a terminal of unknown width: 100
        self.tqdm = tqdm(
            total=self.total,
            unit="run",
            disable=not self.tty,
            ncols=width,
            smoothing=0,
            bar_format="{desc} {percentage:3.0f}%|{bar}| {n}/{total} runs [{elapsed}{postfix}]",
        )

    def eta(self) -> str:
        from common.running.timings import fmt_seconds

        done = sum(len(i.events) * (i.per_run_s or 0) for i in self.items)
        left = sum(max(i.plan.todo - len(i.events), 0) * (i.per_run_s or 0) for i in self.items)
        if not left:
            return "ETA —"
        pace = (time.time() - self.t0) / done if done else 1.0
        return f"ETA {fmt_seconds(left * pace)}"

    def show(self, k: int, item: Any) -> None:
        self.tqdm.set_description_str(f"[{k}/{len(self.items)}] {item.name}", refresh=False)
        self.tqdm.set_postfix_str(self.eta(), refresh=False)
        self.tqdm.n = min(sum(len(i.events) for i in self.items), self.total)
        self.tqdm.refresh()

    def write(self, text: str) -> None:
        if self.tty:
            self.tqdm.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        self.tqdm.close()


class LogLines:
    """A progress bar for a log: ``update``/``close`` as tqdm's, one line to ``stream`` (stderr) at most every
    ``every`` seconds, and a last one at ``close`` if any was written or the bar lasted a tenth of ``every`` (an OTC
    deployment of a few minutes says when it ends; a smoke run of seconds writes nothing)."""

    def __init__(self, total: int, desc: str, every: float, clock=time.monotonic, stream=None):
        self.total, self.desc, self.every, self.clock = int(total), desc, float(every), clock
        self.stream = stream
        self.n, self.lines = 0, 0
        self.t0 = self.last = clock()

    def _line(self, now: float) -> None:
        from common.running.timings import fmt_seconds

        spent = now - self.t0
        eta = fmt_seconds((self.total - self.n) * spent / self.n) if self.n else "—"
        pct = 100.0 * self.n / self.total if self.total else 100.0
        print(
            f"{self.desc}: {self.n:,}/{self.total:,} ({pct:.0f} %), {fmt_seconds(spent)} elapsed, ETA {eta}",
            file=self.stream or sys.stderr,
            flush=True,
        )
        self.last, self.lines = now, self.lines + 1

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.every:
            self._line(now)

    def close(self) -> None:
        now = self.clock()
        if self.every >= 0 and (self.lines or now - self.t0 >= self.every / 10):
            self._line(now)
            self.every = -1.0  # closed: a second close writes nothing

    def __enter__(self) -> "LogLines":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_every() -> float:
    """Seconds between two log lines of ``progress_bar``: ``$OFFMARL_PROGRESS_EVERY``, else 600; 0 = none."""
    raw = os.environ.get(PROGRESS_EVERY_ENV)
    if raw is None or raw == "":
        return PROGRESS_EVERY_S
    try:
        every = float(raw)
    except ValueError:
        every = -1.0
    if not every >= 0 or every == float("inf"):
        raise ValueError(
            f"{PROGRESS_EVERY_ENV}={raw!r} is not allowed; give the seconds between two progress lines in a log "
            "as a finite number >= 0 (0 = no lines; unset = 600)"
        )
    return every


def progress_bar(total: int, desc: str, unit: str = "it"):
    """A run's progress over ``total`` steps: a tqdm bar on a terminal, ``LogLines`` in a log, nothing under $CI or
    with ``$OFFMARL_PROGRESS_EVERY=0``. Either is a context manager with ``update(n)`` and ``close()``."""
    from tqdm.auto import tqdm

    if os.environ.get("CI"):
        return tqdm(total=total, desc=desc, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, leave=False)
    every = progress_every()
    if every == 0:
        return tqdm(total=total, desc=desc, disable=True)
    return LogLines(total, desc, every)
