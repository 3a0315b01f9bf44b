"""``./run_all.sh --list``: the items that would run, with the measured wall time of their last runs.

For each item script and each profile: the wall time of the last invocation on record that ran
something (``last_run`` in ``<root>/<profile>/<paper>/<item>.plan.json``: runs, dataset generation,
figures and report included; written by every paper script), on this machine (the runs root) and in
the committed reference. Where a root has records but no ``last_run`` (records older than the
field), the sum of its newest records' run times is shown instead, marked ``Σ``: a lower bound,
without dataset generation. Totals per profile at the end. Standard library only (runs before the
virtual environment exists).

    python scripts/list_items.py --profile smoke [--results DIR | --reference] -- papers/omar/table1.py ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common.roots import REFERENCE_ROOT, runs_root  # noqa: E402  (standard library only)

PROFILES = ("smoke", "quick", "full")


def _fmt_s(s: float | None) -> str:
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
            part = f"{last.get('runs', '?')} runs" + (f" + {last['skipped']} done before" if last.get("skipped") else "")
            return float(last["wall_s"]), f"{part}, {last.get('threads', '?')} thread(s), {str(last.get('finished', ''))[:10]}"
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
            total = sum(float(r.get("wall_time_s") or 0.0) for r in newest.values() if not r.get("reused_from"))
            return total, f"Σ of {len(newest)} runs' times (no dataset generation)"
    return None, ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="run_all.sh --list", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=PROFILES, default="quick", help="the profile run_all.sh would run")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--results", default=None, help="this machine's results root (default runs/)")
    where.add_argument("--reference", action="store_true", help="the run would write to the reference")
    ap.add_argument("items", nargs="*", help="item scripts papers/<paper>/<item>.py")
    a = ap.parse_args(argv)
    mine = REFERENCE_ROOT if a.reference else (Path(a.results) if a.results else runs_root())
    print(f"profile to run: {a.profile} · this machine's results: {mine} · reference: {REFERENCE_ROOT}")
    if not a.items:
        print("no reproduction scripts exist yet for these papers")
        return 0
    width = max(len(f"{Path(f).parent.name}/{Path(f).stem}") for f in a.items)
    totals = {(p, w): 0.0 for p in PROFILES for w in ("mine", "ref")}
    counted = {(p, w): 0 for p in PROFILES for w in ("mine", "ref")}
    papers_seen = []
    for f in a.items:
        paper, item = Path(f).parent.name, Path(f).stem
        if paper not in papers_seen:
            papers_seen.append(paper)
            print(f"\n{paper}:")
        line = [f"  {paper}/{item}".ljust(width + 4)]
        for prof in PROFILES:
            cells = []
            for who, root in (("mine", mine), ("ref", REFERENCE_ROOT)):
                if who == "mine" and root.resolve() == REFERENCE_ROOT.resolve():
                    continue
                s, how = item_time(root, prof, paper, item)
                if s is not None:
                    totals[(prof, who)] += s
                    counted[(prof, who)] += 1
                mark = "Σ" if how.startswith("Σ") else ""
                cells.append(f"{'here' if who == 'mine' else 'ref'} {mark}{_fmt_s(s)}")
            line.append(f"{prof}: " + ", ".join(cells))
        print("   ".join(line))
    print("\ntotals (items with a time on record; Σ = lower bound without dataset generation):")
    for prof in PROFILES:
        parts = []
        for who in ("mine", "ref"):
            if who == "mine" and mine.resolve() == REFERENCE_ROOT.resolve():
                continue
            parts.append(f"{'this machine' if who == 'mine' else 'reference'} {_fmt_s(totals[(prof, who)]) if counted[(prof, who)] else '—'}"
                         f" ({counted[(prof, who)]}/{len(a.items)} items)")
        print(f"  {prof}: " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
