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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common.running.roots import REFERENCE_ROOT, runs_root  # noqa: E402  (standard library only)
from common.running.timings import fmt_seconds as _fmt_s  # noqa: E402
from common.running.timings import item_time  # noqa: E402

PROFILES = ("smoke", "quick", "full")


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
            parts.append(
                f"{'this machine' if who == 'mine' else 'reference'} {_fmt_s(totals[(prof, who)]) if counted[(prof, who)] else '—'}"
                f" ({counted[(prof, who)]}/{len(a.items)} items)"
            )
        print(f"  {prof}: " + "; ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
