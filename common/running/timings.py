"""Measured wall times of items, read from a results root (standard library only).

``item_time`` gives the wall time of an item's last invocation that ran something (``last_run`` in
``<root>/<profile>/<paper>/<item>.plan.json``, written by ``common.running.cli.main``: runs, dataset
generation, figures and report included), else the sum of its newest records' run times, marked
``Σ`` (a lower bound, without dataset generation). Used by ``run_all.sh --list`` (before the virtual
environment exists) and by the README's generated timing table (``common.reporting.readme``).
"""

from __future__ import annotations

import json
from pathlib import Path


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    s = float(s)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def item_time(root: Path, profile: str, paper: str, item: str) -> tuple[float | None, str]:
    """(seconds, how it was measured) for one item in one root; (None, "") when nothing is on record."""
    base = root / profile / paper
    plan = base / f"{item}.plan.json"
    if plan.exists():
        try:
            last = json.loads(plan.read_text()).get("last_run")
        except ValueError:
            last = None
        if last and last.get("wall_s") is not None:
            part = f"{last.get('runs', '?')} runs" + (
                f" + {last['skipped']} done before" if last.get("skipped") else ""
            )
            return float(
                last["wall_s"]
            ), f"{part}, {last.get('threads', '?')} thread(s), {str(last.get('finished', ''))[:10]}"
    recs = base / f"{item}.jsonl"
    if recs.exists():
        newest: dict[tuple, dict] = {}
        for line in recs.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if not isinstance(r, dict) or "claim" in (r.get("keys") or {}):
                continue
            k = (json.dumps(r.get("keys"), sort_keys=True), r.get("seed"), r.get("threads", 1))
            if k not in newest or str(r.get("finished", "")) >= str(newest[k].get("finished", "")):
                newest[k] = r
        if newest:
            total = sum(
                float(r.get("wall_time_s") or 0.0) for r in newest.values() if not r.get("reused_from")
            )
            return total, f"Σ of {len(newest)} runs' times (no dataset generation)"
    return None, ""
