"""What an item's records say: the records that count (newest per seed, one thread count per cell), the
claims' verdicts, and the item's status (done n/m cells, partial, not run, blocked).

Shared by the item reports and REPORT.md (common.reporting.report), the answer page (common.reporting.answer) and the README's
generated blocks (common.reporting.readme). Claim verdicts are records with ``keys={"claim": id}`` and
``extra={"holds": bool | None, "evidence": str}`` (``common.running.records.write_claim``; None: undecided).
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Mapping, Sequence

from common.reporting.published import as_claim, as_entry
from common.running.profiles import get_profile
from common.running.records import (
    canonical_json,
    is_claim,
    item_blocked,
    latest_records,
    plan_path,
    record_threads,
)


# ----------------------------------------------------------------------------------------------
# Aggregation
# ----------------------------------------------------------------------------------------------
def one_thread_setting(records: Sequence[Mapping[str, Any]]) -> tuple[list[dict], dict[int, int]]:
    """Records of one thread count per cell, never averaged across thread counts (a run's numbers
    depend on it): per (item, keys), the thread count with the most records (ties: the fewest threads).
    Returns (kept, {threads: number of records left out})."""
    by_cell: dict[tuple, dict[int, list]] = {}
    for r in records:
        k = (r.get("item"), canonical_json(r.get("keys", {})))
        by_cell.setdefault(k, {}).setdefault(record_threads(r), []).append(r)
    keep_ids, left_out = set(), {}
    for groups in by_cell.values():
        best = min(groups, key=lambda t: (-len(groups[t]), t))
        keep_ids |= {id(r) for r in groups[best]}
        for t, rs in groups.items():
            if t != best:
                left_out[t] = left_out.get(t, 0) + len(rs)
    return [dict(r) for r in records if id(r) in keep_ids], left_out


def claim_verdicts(claims: Sequence[Mapping], records: Sequence[Mapping]) -> list[dict]:
    """Each claim with verdict holds / does not hold / undecided (a claim record with holds None) / not checked (no
    claim record); the newest claim record wins."""
    newest: dict[str, Mapping] = {}
    for r in records:
        if is_claim(r):
            cid = r["keys"]["claim"]
            if cid not in newest or str(r.get("finished", "")) >= str(newest[cid].get("finished", "")):
                newest[cid] = r
    out = []
    for c in map(as_claim, claims):
        r = newest.get(c.id)
        claim = {"item": c.item, "id": c.id, "text": c.text}
        if r is None:
            out.append({**claim, "verdict": "not checked", "evidence": ""})
        else:
            ex = r.get("extra", {})
            said = "undecided" if ex.get("holds") is None else "holds" if ex["holds"] else "does not hold"
            out.append({**claim, "verdict": said,
                        "evidence": ex.get("evidence", "")})
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


def item_status(results_root, profile: str, paper: str, item: str, entries: Sequence[Mapping],
                records: Sequence[Mapping]) -> dict[str, Any]:
    """status ("done", "partial", "not run"), n done / m cells, newest record date."""
    recs = latest_records(records)
    seeds_by_cell: dict[str, set] = {}
    for r in recs:
        seeds_by_cell.setdefault(canonical_json(r.get("keys", {})), set()).add(r.get("seed"))
    plan = _planned(results_root, profile, paper, item)
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
    finished = [str(r.get("finished")) for r in records if r.get("finished")]
    newest = max(finished)[:10] if finished else None
    m = len(want)
    needs = item_blocked(results_root, profile, paper, item)
    if not records and needs:
        return {"status": "blocked", "done": 0, "cells": m, "newest": None, "needs": needs}
    if not records:
        status = "not run"
    elif done == m and m > 0:
        status = "done"
    else:
        status = "partial"
    return {"status": status, "done": done, "cells": m, "newest": newest}


def status_text(st: Mapping[str, Any]) -> str:
    if st["status"] == "blocked":
        return f"needs {st['needs']}"
    return "not run" if st["status"] == "not run" else f"{st['status']} {st['done']}/{st['cells']} cells"


def counted_records(records: Sequence[Mapping[str, Any]], profile: str) -> list[dict]:
    """The run records of ``profile`` that an item's numbers use: the newest of each (cell, seed), of one thread
    count per cell (claims excluded)."""
    return one_thread_setting(latest_records([r for r in records if r.get("profile", profile) == profile]))[0]
