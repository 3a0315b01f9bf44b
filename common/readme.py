"""The README's generated blocks: what is reproduced today, and how long each item took, from the records.

    python -m common.readme           # rewrite the blocks of README.md in place
    python -m common.readme --check   # exit 1 if a block is out of date (the test suite runs this check)

Each block sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->`` and is rebuilt
from the committed reference (``results/``) and each paper's ``published.py`` / scripts, so the
README's status and timing tables cannot go stale: ``tests/test_repo_hygiene.py`` fails while they
differ from what this module renders.

- ``status``: per paper and item, the reference's status at each profile (done k/m cells, partial,
  not run; "no script yet" where the item's script does not exist).
- ``timing``: per item and profile, the measured wall time of the item's last run on record
  (``last_run`` of its plan file), else the sum of its records' run times (marked Σ: a lower bound
  without dataset generation); totals per profile.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable, Mapping

from tabulate import tabulate

from common.records import load_records
from common.profiles import PROFILE_NAMES
from common.published import discover_papers, load_published
from common.report import item_status, status_text
from common.roots import REFERENCE_ROOT, REPO_ROOT
from common.timings import fmt_seconds as _fmt_s
from common.timings import item_time

README = REPO_ROOT / "README.md"
_BLOCK = re.compile(r"(<!-- generated:(\w+) -->\n)(.*?)(<!-- /generated:\2 -->)", re.S)


def _script(paper: str, item: str) -> Path:
    return REPO_ROOT / "papers" / paper / f"{item}.py"


def status_block(root: Path = REFERENCE_ROOT) -> str:
    rows = []
    for paper in discover_papers():
        pub = load_published(paper)
        for item, spec in pub.ITEMS.items():
            row = [paper, item, spec.get("title", "")]
            if not _script(paper, item).exists():
                row += ["no script yet"] * len(PROFILE_NAMES)
            else:
                entries = [e for e in pub.PUBLISHED if e.get("item") == item]
                for prof in PROFILE_NAMES:
                    recs = load_records(root, prof, paper, item)
                    row.append(status_text(item_status(root, prof, paper, item, entries, recs)))
            rows.append(row)
    done = {p: sum(r[0] == p and r[3 + PROFILE_NAMES.index("quick")].startswith("done") for r in rows)
            for p in discover_papers()}
    scripted = {p: sum(r[0] == p and r[3] != "no script yet" for r in rows) for p in discover_papers()}
    total = {p: sum(r[0] == p for r in rows) for p in discover_papers()}
    summary = "; ".join(f"{p}: {scripted[p]}/{total[p]} items scripted, {done[p]} done at quick" for p in total)
    table = tabulate(rows, headers=["paper", "item", "title", *PROFILE_NAMES], tablefmt="github", disable_numparse=True)
    return f"Reference results (committed `results/`), per item and profile. {summary}.\n\n{table}\n"


def timing_block(root: Path = REFERENCE_ROOT) -> str:
    rows, totals, counted = [], dict.fromkeys(PROFILE_NAMES, 0.0), dict.fromkeys(PROFILE_NAMES, 0)
    n = 0
    for paper in discover_papers():
        for script in sorted((REPO_ROOT / "papers" / paper).glob("table*.py")) + \
                sorted((REPO_ROOT / "papers" / paper).glob("figure*.py")):
            n += 1
            row = [f"{paper}/{script.stem}"]
            for prof in PROFILE_NAMES:
                s, how = item_time(root, prof, paper, script.stem)
                if s is not None:
                    totals[prof] += s
                    counted[prof] += 1
                row.append(("Σ " if how.startswith("Σ") else "") + _fmt_s(s))
            rows.append(row)
    rows.append(["**total** (items with a time)", *(f"{_fmt_s(totals[p]) if counted[p] else '—'} ({counted[p]}/{n})"
                                                    for p in PROFILE_NAMES)])
    table = tabulate(rows, headers=["item", *PROFILE_NAMES], tablefmt="github", disable_numparse=True)
    return ("Wall time of each item's last run in the reference (`./run_all.sh --list` shows this machine's "
            "beside it). Σ: the sum of the item's run times, a lower bound without dataset generation, where "
            "the run predates the item-level timing.\n\n" + table + "\n")


BLOCKS: Mapping[str, Callable[[], str]] = {"status": status_block, "timing": timing_block}


def render(text: str) -> str:
    """``text`` with every known generated block rebuilt (unknown block names raise)."""
    def sub(m: re.Match) -> str:
        name = m.group(2)
        if name not in BLOCKS:
            raise ValueError(f"unknown generated block {name!r} in README.md; known: {', '.join(BLOCKS)}")
        return m.group(1) + BLOCKS[name]() + m.group(4)
    return _BLOCK.sub(sub, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m common.readme", description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md's generated blocks are out of date")
    a = ap.parse_args(argv)
    old = README.read_text(encoding="utf-8")
    new = render(old)
    if a.check:
        if new != old:
            print("README.md's generated blocks are out of date: run `python -m common.readme`", file=sys.stderr)
            return 1
        print("README.md is up to date")
        return 0
    if new != old:
        README.write_text(new, encoding="utf-8")
        print("README.md: generated blocks rewritten")
    else:
        print("README.md: already up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
