"""What an item's records say: the runs that count (newest per seed, one thread count per cell), the claims'
verdicts, and the item's status (done n/m cells, partial, not run, blocked).

Shared by the item reports and REPORT.md (common.reporting.report), the answer page (common.reporting.answer) and the
README's generated blocks (common.reporting.readme); they read the records through the item store
(common.running.store: runs as ``Record``, claims' verdicts as ``Verdict``).
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Mapping, Sequence

from common.reporting.published import as_entry
from common.running.profiles import get_profile
from common.running.record import Record, Verdict
from common.running.records import canonical_json, item_blocked, plan_path
from common.running.store import ItemFile, Runs, item_file, of_profile


# ----------------------------------------------------------------------------------------------
# Aggregation
# ----------------------------------------------------------------------------------------------
def one_thread_setting(records: Sequence[Record]) -> tuple[Runs, dict[int, int]]:
    """Records of one thread count per cell, never averaged across thread counts (a run's numbers
    depend on it): per (item, keys), the thread count with the most records (ties: the fewest threads).
    Returns (kept, {threads: number of records left out})."""
    by_cell: dict[tuple, dict[int, list]] = {}
    for r in records:
        by_cell.setdefault((r.item, canonical_json(r.keys)), {}).setdefault(r.n_threads, []).append(r)
    keep_ids: set[int] = set()
    left_out: dict[int, int] = {}  # threads -> records left out
    for groups in by_cell.values():
        best = min(groups, key=lambda t: (-len(groups[t]), t))
        keep_ids |= {id(r) for r in groups[best]}
        for t, rs in groups.items():
            if t != best:
                left_out[t] = left_out.get(t, 0) + len(rs)
    return Runs(r for r in records if id(r) in keep_ids), left_out


def claim_verdicts(claims: Sequence[Any], verdicts: Mapping[str, Verdict]) -> list[dict]:
    """Each claim (item, id, text) with its verdict: holds / does not hold / undecided (the newest of ``verdicts``,
    claim id -> ``Verdict``, e.g. ``ItemFile.newest_verdicts``), or not checked (none), and its evidence."""
    out = []
    for c in claims:
        v = verdicts.get(c.id)
        out.append(
            {
                "item": c.item,
                "id": c.id,
                "text": c.text,
                "verdict": "not checked" if v is None else v.said,
                "evidence": "" if v is None else v.evidence,
            }
        )
    return out


def _planned(results_root, profile, paper, item) -> list[dict] | None:
    path = plan_path(results_root, profile, paper, item)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())["cells"]
    except (ValueError, KeyError):
        warnings.warn(f"{path}: corrupt plan file, ignored")
        return None


def item_status(
    results_root,
    profile: str,
    paper: str,
    item: str,
    entries: Sequence[Mapping],
    file: ItemFile | None = None,
) -> dict[str, Any]:
    """status ("done", "partial", "not run", "blocked"), n done / m cells, newest record date, from the item's
    records file (``file``: read from the item store when not given)."""
    file = item_file(results_root, profile, paper, item) if file is None else file
    seeds_by_cell: dict[str, set] = {}
    for r in file.runs.newest():
        seeds_by_cell.setdefault(canonical_json(r.keys), set()).add(r.seed)
    plan = _planned(results_root, profile, paper, item)
    want: dict[str, set | int]  # cell -> the seeds planned, or how many seeds
    if plan is not None:
        want = {canonical_json(e["keys"]): set(e["seeds"]) for e in plan}
    else:
        try:
            n_seeds = get_profile(profile).n_seeds
        except ValueError:
            n_seeds = 1
        want = {canonical_json(as_entry(e).keys): n_seeds for e in entries}
        for k in seeds_by_cell:
            want.setdefault(k, n_seeds)
    done = 0
    for k, w in want.items():
        have = seeds_by_cell.get(k, set())
        done += (w <= have) if isinstance(w, set) else (len(have) >= w)
    m = len(want)
    needs = item_blocked(results_root, profile, paper, item)
    if not file and needs:
        return {"status": "blocked", "done": 0, "cells": m, "newest": None, "needs": needs}
    if not file:
        status = "not run"
    elif done == m and m > 0:
        status = "done"
    else:
        status = "partial"
    return {"status": status, "done": done, "cells": m, "newest": file.newest}


def status_text(st: Mapping[str, Any]) -> str:
    if st["status"] == "blocked":
        return f"needs {st['needs']}"
    return "not run" if st["status"] == "not run" else f"{st['status']} {st['done']}/{st['cells']} cells"


def counted_records(runs: Sequence[Record], profile: str) -> Runs:
    """The runs of ``profile`` that an item's numbers use: the newest of each (cell, seed), of one thread count per
    cell."""
    return one_thread_setting(Runs(runs).where(lambda r: of_profile(r, profile)).newest())[0]
