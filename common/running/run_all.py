"""``./run_all.sh``'s driver: plan every item, then run them, up to ``--jobs`` at a time, under one progress bar.

``run_all.sh`` checks its arguments (bash, instantly), sets up the virtual environment and hands over to
``python -m common.running.run_all`` with the item scripts to run. This module

1. checks its own arguments and the device before importing torch (``--device cuda`` without a GPU is an error
   naming the fix, before anything runs);
2. plans: runs every item script's ``main`` in this one process under ``common.running.cli.planning`` (its argument checks,
   its grid at the profile, its seeds; nothing runs, nothing is written) and prints the plan: items, cells, runs,
   how many of those are done already, and the predicted time from measured times (``predict``);
3. runs each item script as its own process (as a user would start it; common.running.item_procs): up to ``--jobs`` at once with ``--launcher
   inline`` (the default), in the order and under the rules of common.running.item_schedule, else one at a time
   (``--launcher process``: its runs on ``--jobs`` worker processes; ``ray``: each run a Ray task). Each item's output
   goes to its log file (``--verbose``: the terminal too, after the item's name when several run); ONE progress bar
   with an ETA moves over all runs of all items, from the events each finished run reports
   (common.running.progress, ``$OFFMARL_PROGRESS``);
4. on SIGTERM or Ctrl-C stops every running item, says what finished and that the same command resumes (finished
   runs are skipped, a stopped run resumes from its last checkpoint);
5. writes the report and a summary: what ran, what needs something, what failed (each distinct failure once).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

from common.running.item_procs import Item, Proc, end_item, start_item, stop_processes
from common.running.item_schedule import Schedule, item_envs, model_note, model_total, predict, simulate
from common.running.progress import Bar, read_progress
from common.running.roots import REFERENCE_ROOT, runs_root
from common.running.timings import fmt_seconds

PROFILES = ("smoke", "quick", "full")
DEVICES = ("cpu", "cuda")
EXIT_NEEDS = 3  # common.running.cli.EXIT_NEEDS (not imported: common.running.cli imports the runner)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="run_all.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", choices=PROFILES, default="quick")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--launcher", choices=("inline", "process", "ray"), default="inline")
    p.add_argument("--address", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--group", type=int, default=1)
    p.add_argument("--force", action="store_true")
    p.add_argument("--verbose", action="store_true", help="item logs on the terminal too")
    p.add_argument("--plan", action="store_true", help="print the plan and exit: nothing runs")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--results", default=None)
    where.add_argument("--reference", action="store_true")
    p.add_argument("--command", default="./run_all.sh", help="the command the user typed (to resume with)")
    p.add_argument("items", nargs="*", help="item scripts papers/<paper>/<item>.py")
    a = p.parse_args(argv)
    if str(a.device).split(":")[0] not in DEVICES:  # the form, before torch is imported
        p.error(f"unknown device {a.device!r}; valid devices: {', '.join(DEVICES)} (cuda:N for one GPU)")
    for name in ("threads", "jobs", "group"):
        if getattr(a, name) < 1:
            p.error(f"--{name} {getattr(a, name)} must be a positive integer")
    if a.launcher == "ray" and a.jobs > 1:
        p.error(
            f"--jobs {a.jobs} needs --launcher process or inline (got 'ray': the cluster's CPUs run the runs)"
        )
    return a


def item_argv(a: argparse.Namespace, workers: int = 1) -> list[str]:
    """The options an item script gets (its plan's with ``workers`` 1): its runs in its own process, on ``workers``
    worker processes (``--launcher process``) when more than one, or as Ray tasks with ``--launcher ray``."""
    out = ["--profile", a.profile, "--threads", str(a.threads), "--device", a.device]
    if a.launcher != "ray" and workers > 1:
        out += ["--launcher", "process", "--jobs", str(workers)]
    elif a.launcher == "ray":
        out += ["--launcher", "ray"] + (["--address", a.address] if a.address else [])
    out += ["--reference"] if a.reference else (["--results", a.results] if a.results else [])
    out += (["--group", str(a.group)] if a.group > 1 else []) + (["--force"] if a.force else [])
    return out


def plan_items(scripts: Sequence[str], argv: Sequence[str]) -> list[Item]:
    """Each script's ``ItemPlan``, from its own ``main`` run here under ``common.running.cli.planning`` (its argument checks,
    grid, seeds, needs; ``$OFFMARL_PLAN_ONLY`` makes ``run_cells`` refuse, should a script not plan). An item whose
    arguments are refused raises SystemExit(2) after its message."""
    from common.running import cli
    from common.running.experiment import PLAN_ONLY_ENV

    items, saved = [], (sys.argv[:], os.environ.get(PLAN_ONLY_ENV))
    os.environ[PLAN_ONLY_ENV] = "1"
    try:
        with cli.planning() as plans:
            for script in scripts:
                sys.argv = [script, *argv]
                n = len(plans)
                try:
                    runpy.run_path(script, run_name="__main__")
                except SystemExit as e:
                    if e.code not in (0, None):
                        print(
                            f"run_all.sh: {script} refused the arguments above (exit {e.code})",
                            file=sys.stderr,
                        )
                        raise SystemExit(2) from None
                if len(plans) != n + 1:
                    raise RuntimeError(f"{script} did not plan through common.running.cli.main")
                items.append(Item(script, plans[-1]))
    finally:
        sys.argv = saved[0]
        if saved[1] is None:
            os.environ.pop(PLAN_ONLY_ENV, None)
    return items


def print_plan(items: Sequence[Item], a: argparse.Namespace, logs: Path) -> None:
    runs, todo = sum(i.plan.runs for i in items), sum(i.plan.todo for i in items)
    cells = sum(i.plan.cells for i in items)
    slots = a.jobs if a.launcher == "inline" else 1
    launch = {
        "inline": f"up to {a.jobs} items at a time, each in its own process"
        if slots > 1
        else "one item at a time, in its own process",
        "process": f"one item at a time on {a.jobs} worker processes",
        "ray": "one item at a time, each run a Ray task",
    }[a.launcher]
    print(
        f"run_all.sh plan: profile {a.profile}, {len(items)} items, {cells} cells, {runs} runs "
        f"({todo} to run, {runs - todo} finished before{', --force: all rerun' if a.force else ''}); {launch}, "
        f"threads {a.threads}, device {a.device}"
    )
    width = max([len(i.name) for i in items] + [4])
    for i in items:
        p = i.plan
        if p.needs:
            print(f"  {i.name.ljust(width)}  needs {p.needs}: not run; once it can: {p.cost or 'model —'}")
            continue
        part = f" of {p.grid}" if p.cells != p.grid else ""
        when = "—" if i.predicted_s is None else f"~{fmt_seconds(i.predicted_s)} ({i.basis})"
        print(
            f"  {i.name.ljust(width)}  {p.cells}{part} cells x {len(p.seeds)} seeds = {p.runs} runs, "
            f"{p.todo} to run  {when}; {p.cost or 'model —'}"
        )
    known = [i for i in items if i.predicted_s is not None and i.plan.todo]
    unknown = [i.name for i in items if i.predicted_s is None and i.plan.todo and not i.plan.needs]
    # all of known: narrowed for the checker
    total = sum(i.predicted_s for i in known if i.predicted_s is not None)
    print(
        f"predicted time: {fmt_seconds(total)} for {len(known)} items from measured times (here: this machine's "
        f"last run of the item; ref: the committed reference's, one item at a time, with --jobs 1 or more"
        f"{'; not measured: ' + ', '.join(unknown) if unknown else ''})"
        + (
            f"; up to {slots} at a time: about {fmt_seconds(simulate(items, slots))} (their schedule simulated on "
            "those times)"
            if slots > 1
            else ""
        )
        + model_total(items)
    )
    print(f"logs: {logs}/<paper>/<item>.log{'' if a.verbose else ' (--verbose: on the terminal too)'}")


class Stop(Exception):
    """SIGTERM or Ctrl-C: the running items were stopped."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run_items(
    items: Sequence[Item], a: argparse.Namespace, logs: Path, progress: Path, bar: Bar, state: dict
) -> None:
    """Run the item scripts by common.running.item_schedule.Schedule: ``--jobs`` of them at once with ``--launcher
    inline``, else one at a time. Each finished item gets one line; the bar moves with every finished run. Raises
    ``Stop`` after a signal (``state["stop"]``) once every running item is stopped."""
    sched = Schedule(items, a.jobs if a.launcher == "inline" else 1)
    procs: list[Proc] = state["procs"]
    started = finished = 0
    try:
        while (sched.waiting or procs) and not state.get("stop"):
            for it, slots in sched.ready():
                sched.start(it, slots)
                started += 1
                argv = item_argv(a, slots if a.launcher == "inline" else a.jobs)
                procs.append(
                    start_item(
                        it,
                        argv,
                        logs / it.plan.paper / f"{it.plan.item}.log",
                        progress,
                        bar,
                        a.verbose,
                        f"[{it.name}] " if sched.slots > 1 else "",
                    )
                )
            for p in [p for p in procs if p.popen.poll() is not None]:
                procs.remove(p)
                end_item(p, "done")
                sched.finish(p.item)
                finished += 1
                poll_events(state, progress)
                bar.write(
                    f"[{finished}/{len(items)}] {p.item.name}: {outcome(p.item).split(None, 1)[0].lower()} in "
                    f"{fmt_seconds(p.item.wall_s)}; {sum(len(i.events) for i in items)}/{bar.total} runs done, "
                    f"{bar.eta()}"
                )
            poll_events(state, progress)
            if procs:
                bar.show(started, SimpleNamespace(name=" + ".join(p.item.name for p in procs)))
                time.sleep(0.5)
    finally:  # stopped (or an error here): no item process is left behind
        ended = [p for p in procs if p.popen.poll() is not None]
        stop_processes([p.popen for p in procs])
        for p in procs:
            end_item(p, "done" if p in ended else "stopped")
        procs.clear()  # ended: a later signal must not reach their (maybe reused) group ids
        poll_events(state, progress)
    if state.get("stop"):
        raise Stop(state["stop"])


def poll_events(state: dict, progress: Path) -> None:
    """Hand each new progress event to its item (by the run id's profile/paper/item prefix)."""
    events, state["offset"] = read_progress(progress, state.get("offset", 0))
    for e in events:
        key = "/".join(str(e.get("run_id", "")).split("/")[1:3])
        if key in state["by_name"]:
            state["by_name"][key].events.append(e)


def outcome(item: Item) -> str:
    """``ran``, ``NEEDS`` or ``FAILED`` and the item's times and failures (each distinct reason once)."""
    if item.rc == 0:
        return f"  ran     {item.script} ({item.wall_s:.0f} s, {len(item.events)} runs{model_note(item)})"
    if item.rc == EXIT_NEEDS:
        return f"  NEEDS   {item.script} (needs {item.plan.needs or 'see its log'})"
    lines = [f"  FAILED  {item.script} (exit {item.rc}, {item.wall_s:.0f} s)"]
    reasons: dict[str, int] = {}
    for e in item.events:
        if e.get("status") == "failed":
            reasons[str(e.get("reason"))] = reasons.get(str(e.get("reason")), 0) + 1
    for reason, n in reasons.items():
        lines.append(
            f"            {n} run{'s' if n > 1 else ''}{' with the same error' if n > 1 else ''}: {reason}"
        )
    return "\n".join(lines)


def log_tail(path: Path, n: int = 6) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("            " + x for x in lines[-n:])


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    from common.running.runtime import check_device  # imports torch: after the arguments are checked

    try:
        check_device(a.device)
    except ValueError as e:
        print(f"run_all.sh: {e}; see ./run_all.sh --help", file=sys.stderr)
        return 2
    mine = REFERENCE_ROOT if a.reference else (Path(a.results) if a.results else runs_root())
    logs = (runs_root() if a.reference else mine) / a.profile / "logs"
    t0 = time.time()
    items = plan_items(a.items, item_argv(a))
    predict(items, a.profile, mine)
    if a.launcher == "inline" and a.jobs > 1:  # which items may run together (common.running.item_schedule)
        roots = list(dict.fromkeys([REFERENCE_ROOT, mine]))
        for it in items:
            it.envs = item_envs(roots, it.plan)
    print_plan(items, a, logs)
    print(f"(planned in {time.time() - t0:.1f} s)", flush=True)
    if a.plan:
        return 0
    state: dict = {"by_name": {f"{i.plan.paper}/{i.plan.item}": i for i in items}, "procs": []}
    logs.mkdir(parents=True, exist_ok=True)
    progress = logs / f".progress-{os.getpid()}.jsonl"
    progress.unlink(missing_ok=True)

    def on_signal(signum, frame):
        if state.get("stop"):  # a second Ctrl-C: no more waiting
            for p in state["procs"]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.popen.pid, signal.SIGKILL)
        state["stop"] = signum

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    bar, stopped = Bar(items), None
    try:
        run_items(items, a, logs, progress, bar, state)
    except Stop as e:
        stopped = e
    finally:
        bar.close()
        progress.unlink(missing_ok=True)
    if stopped is not None:
        return stopped_message(stopped, items, a, time.time() - t0)
    return finish(items, a, mine, logs, time.time() - t0)


def stopped_message(stop: Stop, items: Sequence[Item], a: argparse.Namespace, elapsed: float) -> int:
    """What finished, what was stopped and what did not start, and the command that resumes; the exit status."""
    done, cut = [i for i in items if i.state == "done"], [i for i in items if i.state == "stopped"]
    waiting = [i for i in items if i.state == "waiting"]
    print(f"\n================ stopped by {stop} after {fmt_seconds(elapsed)}")
    print(f"finished items ({len(done)}/{len(items)}): {', '.join(i.name for i in done) or 'none'}")
    if cut or waiting:
        print(
            "stopped in: "
            + (
                ", ".join(f"{i.name} ({len(i.events)}/{i.plan.todo} of its runs recorded)" for i in cut)
                or "none"
            )
            + f"; not started: {', '.join(i.name for i in waiting) or 'none'}"
        )
    print(
        f"{sum(len(i.events) for i in items)} runs recorded in this invocation; nothing recorded is lost. The same "
        f"command resumes (finished runs are skipped, a stopped run resumes from its last checkpoint):\n  {a.command}"
    )
    return 128 + stop.signum


def finish(items: Sequence[Item], a: argparse.Namespace, mine: Path, logs: Path, elapsed: float) -> int:
    """The report, then the summary; 0 unless an item or the report failed."""
    print("\n=== report", flush=True)
    py = os.environ.get("OFFMARL_PY") or sys.executable
    where = ["--reference"] if a.reference else (["--results", a.results] if a.results else [])
    with open(logs / "report.log", "ab") as log:
        rep = subprocess.run(
            [py, "-m", "common.reporting.report", "--profile", a.profile, *where],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    print(
        f"report: {mine / 'REPORT.md'}"
        + ("" if rep.returncode == 0 else f" FAILED (log: {logs / 'report.log'})")
    )
    print(f"\n================ summary (profile: {a.profile}, {elapsed:.0f} s)")
    if not items:
        print("no reproduction scripts exist yet for these papers")
    for item in items:
        print(outcome(item))
        if item.rc not in (0, EXIT_NEEDS):
            if not any(e.get("status") == "failed" for e in item.events):
                print(log_tail(logs / item.plan.paper / f"{item.plan.item}.log"))
            print(f"            log: {logs / item.plan.paper / (item.plan.item + '.log')}")
    print(
        f"records: {mine}/{a.profile}/<paper>/<item>.jsonl   tables: {mine}/{a.profile}/<paper>/<item>.md   "
        f"report: {mine}/REPORT.md   logs: {logs}"
    )
    failed = [i for i in items if i.rc not in (0, EXIT_NEEDS)]
    return 1 if failed or rep.returncode != 0 else 0


if __name__ == "__main__":
    raise SystemExit(main())
