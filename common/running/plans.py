"""An item's plan file, ``<results root>/<profile>/<paper>/<item>.plan.json``: the grid a script planned (the
report's "done k/m"), its last invocation's wall time (``last_run``: ``run_all.sh --list`` and its plan) and what it
needs when it cannot run yet (``blocked``). Re-exported by common.running.records, where these functions lived first."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

from common.running.atomic import atomic_write_text
from common.running.jsonable import canonical_json, to_jsonable
from common.running.runtime import now


def plan_path(results_root: str | Path, profile: str, paper: str, item: str) -> Path:
    return Path(results_root) / profile / paper / f"{item}.plan.json"


def _locked_plan(
    results_root: str | Path, profile: str, paper: str, item: str, change: Callable[[dict], None]
) -> None:
    """Read ``<item>.plan.json``, apply ``change`` to it and write it back atomically, under a lock."""
    path = plan_path(results_root, profile, paper, item)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = Path(results_root) / profile / "checkpoints" / paper / f"{item}.plan.lock"  # git-ignored
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        plan: dict[str, Any] = {"cells": []}
        if path.exists():
            try:
                plan = json.loads(path.read_text())
            except ValueError:
                warnings.warn(f"{path}: corrupt plan file, rewriting it")
        before = json.dumps(plan, indent=1)
        change(plan)
        after = json.dumps(plan, indent=1)
        if after != before or not path.exists():
            atomic_write_text(path, after)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)


def update_plan(results_root: str | Path, profile: str, cells: Sequence[Any], seeds: Sequence[int]) -> None:
    """Merge the planned (keys, seeds) of ``cells`` (``common.running.experiment.Cell``) into ``<item>.plan.json`` (the report's n/m)."""

    by_item: dict[tuple[str, str], list[Any]] = {}
    for c in cells:
        by_item.setdefault((c.paper, c.item), []).append(c)
    for (paper, item), group in by_item.items():

        def change(plan, group=group):
            index = {canonical_json(e["keys"]): e for e in plan["cells"]}
            for c in group:
                e = index.setdefault(c.keys_id(), {"keys": to_jsonable(c.keys), "seeds": []})
                if e not in plan["cells"]:
                    plan["cells"].append(e)
                e["seeds"] = sorted(set(e["seeds"]) | set(seeds))

        _locked_plan(results_root, profile, paper, item, change)


def record_item_run(
    results_root: str | Path,
    profile: str,
    paper: str,
    item: str,
    wall_s: float,
    summary: Any,
    threads: int,
    device: str,
) -> None:
    """Store the wall time of this invocation of an item's script (runs, dataset generation, figures
    and report included) as ``last_run`` in ``<item>.plan.json``, when it ran anything (``run_all.sh
    --list`` shows it). ``runs``/``skipped`` say how much of the grid that time covers."""
    info = {
        "wall_s": round(float(wall_s), 1),
        "finished": now(),
        "runs": len(summary.ran),
        "skipped": len(summary.skipped),
        "failed": len(summary.failed),
        "threads": int(threads),
        "device": device,
        "hostname": socket.gethostname(),
        "cpus": os.cpu_count(),
    }

    def change(plan):
        plan["last_run"] = info
        plan.pop("blocked", None)

    _locked_plan(results_root, profile, paper, item, change)


def record_item_blocked(results_root: str | Path, profile: str, paper: str, item: str, needs: str) -> None:
    """Mark an item that cannot run on this installation (e.g. ``needs="SMAX"``: its environments are not
    built yet) in ``<item>.plan.json``, so that the report shows "needs SMAX" rather than "not run"."""

    def change(plan):
        plan["blocked"] = {"needs": str(needs), "checked": now()}

    _locked_plan(results_root, profile, paper, item, change)


def item_blocked(results_root: str | Path, profile: str, paper: str, item: str) -> str | None:
    """What an item needs to run (``record_item_blocked``), or None."""
    path = plan_path(results_root, profile, paper, item)
    try:
        return (json.loads(path.read_text()).get("blocked") or {}).get("needs")
    except (OSError, ValueError, AttributeError):
        return None
