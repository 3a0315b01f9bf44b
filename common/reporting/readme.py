"""The README's generated blocks: which claims reproduce, how long the commands take, and docs/status.md's tables.

    python -m common.reporting.readme           # rewrite the generated blocks of README.md and docs/status.md in place
    python -m common.reporting.readme --check   # exit 1 if a block is out of date (tests/test_repo_hygiene.py runs this check)
    python -m common.reporting.readme --time -- ./run_tests.sh   # time a command, log the measurement, re-render

Each block sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->`` and is rebuilt from the committed
reference (``results/``), each paper's ``published.py`` and scripts, and the log of measured commands, so no status
or time in the README is typed by hand:

- ``status`` (README): per paper, how many of its published claims hold at each profile (the summary table of
  ``results/REPORT.md``, ``common.reporting.answer``), and how many of its items are done per profile.
- ``timing`` (README): the measured time of each command the README states (``COMMANDS``): the newest row of the
  log in docs/status.md ("Measured commands") for that command and setting, "not measured yet" where none was
  measured on the current code (rows dated before the command's ``since`` are shown as older measurements); and
  per profile, the sum of the reference's item times (``common.running.timings.item_time``, what ``./run_all.sh --list``
  prints), with the dates and cores of those runs.
- ``items`` (docs/status.md): per paper and item, the reference's status at each profile.
- ``item_times`` (docs/status.md): per item and profile, the wall time of its last run in the reference.
- ``claims_<paper>`` (papers/<paper>/README.md): the paper's claims with their verdicts per profile
  (common.reporting.paper_readme).
- ``cost_totals`` (README) and ``costs`` (docs/status.md): the cost model's core-hours at quick and full per paper
  and per item, beside the reference's (common.reporting.cost_table).

``--time`` runs a command from the repository root and appends a row to the log: date, command, setting (a fresh
clone is a run without ``.venv/`` and with an empty data cache), wall seconds, exit code, commit, CPU and load.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from tabulate import tabulate

from common.reporting.answer import AnswerPage, Store
from common.reporting.cost_table import cost_block, cost_totals_block, item_scripts
from common.reporting.outcomes import item_status, status_text
from common.reporting.paper_readme import claims_blocks, paper_readmes
from common.running.profiles import PROFILE_NAMES
from common.reporting.published import discover_papers, load_published
from common.running.runtime import cpu_model
from common.running.roots import REFERENCE_ROOT, REPO_ROOT, cache_root
from common.running.timings import fmt_seconds as _fmt_s
from common.running.timings import item_time

README = REPO_ROOT / "README.md"
STATUS = REPO_ROOT / "docs" / "status.md"
FILES = (README, STATUS, *paper_readmes())
_BLOCK = re.compile(r"(<!-- generated:(\w+) -->\n)(.*?)(<!-- /generated:\2 -->)", re.S)
_LOG = re.compile(r"<!-- measurements -->\n(.*?)<!-- /measurements -->", re.S)
LOG_COLUMNS = ("date", "command", "setting", "wall_s", "parts", "code", "machine")
FRESH = "fresh clone"
NOT_MEASURED = "not measured yet"


@dataclass(frozen=True)
class Command:
    """A command whose time the README states: the log's rows of ``command`` in ``setting`` count from ``since``
    (the date of the last change that makes older times untrue, with ``why``)."""

    command: str
    setting: str
    what: str
    since: str
    why: str


COMMANDS = (
    Command(
        "./run_tests.sh",
        FRESH,
        "set up `.venv/`, run the whole test suite",
        "2026-11-28",
        "tests on a temporary data cache, issue 62",
    ),
    Command(
        "./run_all.sh --profile smoke --jobs 2",
        FRESH,
        "set up `.venv/`, every item at smoke, the report",
        "2026-11-28",
        "one plan, worker processes, a progress bar, issue 62",
    ),
)


# ------------------------------------------------------------------------------------------------
# The log of measured commands (docs/status.md, "Measured commands")
# ------------------------------------------------------------------------------------------------
def read_log(text: str) -> list[dict]:
    """The rows of the measurement log in ``text`` (a Markdown table between ``<!-- measurements -->`` markers)."""
    m = _LOG.search(text)
    if not m:
        raise ValueError("docs/status.md has no <!-- measurements --> table")
    rows = []
    for line in m.group(1).splitlines()[2:]:  # after the header and the --- line
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != len(LOG_COLUMNS):
            raise ValueError(
                f"measurement row with {len(cells)} cells, {len(LOG_COLUMNS)} expected: {line!r}"
            )
        row = dict(zip(LOG_COLUMNS, cells))
        row["command"] = row["command"].strip("`")
        row["wall_s"] = float(row["wall_s"])
        rows.append(row)
    return rows


def _measured(cmd: Command, rows: Sequence[Mapping]) -> str:
    mine = sorted(
        (r for r in rows if r["command"] == cmd.command and r["setting"] == cmd.setting),
        key=lambda r: r["date"],
    )

    def said(r: Mapping) -> str:
        parts = f": {r['parts']}" if r["parts"] else ""
        return f"{_fmt_s(r['wall_s'])} ({r['date']}, {r['code']}, {r['machine']}{parts})"

    current = [r for r in mine if r["date"] >= cmd.since]
    if current:
        return f"**{said(current[-1])}**"
    older = f"; last measured before that: {said(mine[-1])}" if mine else ""
    return f"**{NOT_MEASURED}** on the current code (changed {cmd.since}: {cmd.why}){older}"


def _last_runs(root: Path, profile: str) -> list[dict]:
    runs = []
    for plan in sorted((root / profile).glob("*/*.plan.json")):
        try:
            last = json.loads(plan.read_text(encoding="utf-8")).get("last_run")
        except (OSError, ValueError, AttributeError):
            continue
        if last:
            runs.append(last)
    return runs


def reference_totals(root: Path = REFERENCE_ROOT) -> list[list[str]]:
    """Per profile: the sum of the reference's item times, how many items have one, and when / where they ran."""
    items, rows, store = item_scripts(), [], Store(root)
    for prof in PROFILE_NAMES:
        times = [item_time(root, prof, p, i)[0] for p, i in items]
        known = [t for t in times if t is not None]
        runs = _last_runs(root, prof)
        dates = sorted(str(r.get("finished", ""))[:10] for r in runs if r.get("finished"))
        cpus = sorted({str(r["cpus"]) for r in runs if r.get("cpus")})
        when = (
            f"{dates[0]} to {dates[-1]}" if dates and dates[0] != dates[-1] else (dates[0] if dates else "")
        ) + (f", {'/'.join(cpus)}-core machines" if cpus else "")
        total = _fmt_s(sum(known)) if known else NOT_MEASURED
        missing = f"; {len(items) - len(known)} items {NOT_MEASURED}" if len(known) < len(items) else ""
        old = sum(store.superseded(prof, p, i) for p, i in items)
        stale = (
            (
                f"; {old} items trained on superseded MuJoCo data, their re-run on full's datasets (and building "
                f"those) {NOT_MEASURED}"
            )
            if old
            else ""
        )
        rows.append([prof, f"{total} for {len(known)} of {len(items)} items{missing}{stale}", when or "—"])
    return rows


def timing_block(root: Path = REFERENCE_ROOT, status_text_: str | None = None) -> str:
    rows = read_log(status_text_ if status_text_ is not None else STATUS.read_text(encoding="utf-8"))
    cmds = "\n".join(f"- `{c.command}` ({c.what}), {c.setting}: {_measured(c, rows)}." for c in COMMANDS)
    totals = tabulate(
        reference_totals(root),
        headers=["profile", "the reference's item times, summed", "measured"],
        tablefmt="github",
        disable_numparse=True,
    )
    return (
        cmds + "\n\nThe runs per profile (`./run_all.sh --list` shows each item's time, here and in the "
        "reference; the plan `./run_all.sh` prints first predicts from them; details: "
        "[docs/status.md](docs/status.md)):\n\n" + totals + "\n"
    )


# ------------------------------------------------------------------------------------------------
# Claims and item status
# ------------------------------------------------------------------------------------------------
def _item_states(root: Path) -> dict[str, list[list[str]]]:
    """Per paper, one row per item: item, title, status text per profile ("no script yet" without a script)."""
    out: dict[str, list[list[str]]] = {}
    for paper in discover_papers():
        pub = load_published(paper)
        for item, spec in pub.ITEMS.items():
            row = [item, spec.get("title", "")]
            if not (REPO_ROOT / "papers" / paper / f"{item}.py").exists():
                row += ["no script yet"] * len(PROFILE_NAMES)
            else:
                entries = [e for e in pub.PUBLISHED if e.get("item") == item]
                for prof in PROFILE_NAMES:
                    row.append(status_text(item_status(root, prof, paper, item, entries)))
            out.setdefault(paper, []).append(row)
    return out


def status_block(root: Path = REFERENCE_ROOT) -> str:
    papers = discover_papers()
    pubs = {p: load_published(p) for p in papers}
    page = AnswerPage(Store(root), pubs)
    claims = page.summary({p: page.claim_rows(p)[1] for p in papers if pubs[p].CLAIMS})
    states = _item_states(root)
    rows = []
    for p in papers:
        done = [
            sum(r[2 + k].startswith("done") for r in states.get(p, [])) for k in range(len(PROFILE_NAMES))
        ]
        n = len(states.get(p, []))
        rows.append([f"[{p}](papers/{p}/README.md)", pubs[p].TITLE or p, *(f"{d}/{n}" for d in done)])
    items = tabulate(
        rows,
        headers=["paper", "title", *(f"items done, {q}" for q in PROFILE_NAMES)],
        tablefmt="github",
        disable_numparse=True,
    )
    return (
        "Claims per paper and their verdicts per profile, from the committed records (the summary of "
        "[results/REPORT.md](results/REPORT.md); ⚠ = resting on superseded MuJoCo data, to be re-run):\n\n"
        + claims
        + "\n\n"
        + items
        + "\n"
    )


def items_block(root: Path = REFERENCE_ROOT) -> str:
    rows = [[p, *r] for p, prows in _item_states(root).items() for r in prows]
    table = tabulate(
        rows, headers=["paper", "item", "title", *PROFILE_NAMES], tablefmt="github", disable_numparse=True
    )
    return f"Reference results (committed `results/`), per item and profile.\n\n{table}\n"


def item_times_block(root: Path = REFERENCE_ROOT) -> str:
    items = item_scripts()
    rows, totals, counted = [], dict.fromkeys(PROFILE_NAMES, 0.0), dict.fromkeys(PROFILE_NAMES, 0)
    for paper, item in items:
        row = [f"{paper}/{item}"]
        for prof in PROFILE_NAMES:
            s, how = item_time(root, prof, paper, item)
            if s is not None:
                totals[prof] += s
                counted[prof] += 1
            row.append(("Σ " if how.startswith("Σ") else "") + _fmt_s(s))
        rows.append(row)
    rows.append(
        [
            "**total** (items with a time)",
            *(
                f"{_fmt_s(totals[p]) if counted[p] else '—'} ({counted[p]}/{len(items)})"
                for p in PROFILE_NAMES
            ),
        ]
    )
    table = tabulate(rows, headers=["item", *PROFILE_NAMES], tablefmt="github", disable_numparse=True)
    return (
        "Wall time of each item's last run in the reference (`./run_all.sh --list` shows this machine's "
        "beside it). Σ: the sum of the item's run times, a lower bound without dataset generation, where "
        "the run predates the item-level timing.\n\n" + table + "\n"
    )


BLOCKS: Mapping[str, Callable[[], str]] = {
    "status": status_block,
    "timing": timing_block,
    "items": items_block,
    "item_times": item_times_block,
    "costs": cost_block,
    "cost_totals": cost_totals_block,
    **claims_blocks(),
}


def render(text: str) -> str:
    """``text`` with every known generated block rebuilt (unknown block names raise)."""

    def sub(m: re.Match) -> str:
        name = m.group(2)
        if name not in BLOCKS:
            raise ValueError(f"unknown generated block {name!r}; known: {', '.join(BLOCKS)}")
        return m.group(1) + BLOCKS[name]() + m.group(4)

    return _BLOCK.sub(sub, text)


# ------------------------------------------------------------------------------------------------
# Timing a command
# ------------------------------------------------------------------------------------------------
def _machine() -> str:
    model = cpu_model()  # the CPU type (family, model, vector width): results differ across types
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model or 'CPU'}, {os.cpu_count()} cores, load {load:.1f} before"


def _commit() -> str:
    def git(*args: str) -> str:
        p = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown commit"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def setting_now() -> str:
    """``fresh clone`` when there is no ``.venv/`` (nor ``$OFFMARL_VENV``) and the data cache is empty."""
    venv = Path(os.environ.get("OFFMARL_VENV") or REPO_ROOT / ".venv")
    cache = cache_root()
    empty = not cache.exists() or not any(cache.iterdir())
    if not venv.exists() and empty:
        return FRESH
    return f"{'existing' if venv.exists() else 'new'} .venv, {'empty' if empty else 'filled'} data cache"


def log_row(row: Mapping[str, object]) -> str:
    cells = [f"`{row['command']}`" if k == "command" else str(row[k]).replace("|", "/") for k in LOG_COLUMNS]
    return "| " + " | ".join(cells) + " |"


def time_command(argv: Sequence[str], status: Path = STATUS) -> int:
    """Run ``argv`` from the repository root, append its measurement to the log in ``status``; its exit code."""
    row = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        "command": shlex.join(argv),
        "setting": setting_now(),
        "code": _commit(),
        "machine": _machine(),
    }
    t0 = time.monotonic()
    rc = subprocess.run(list(argv), cwd=REPO_ROOT).returncode
    row.update(wall_s=f"{time.monotonic() - t0:.0f}", parts=f"exit {rc}")
    text = status.read_text(encoding="utf-8")
    text = text.replace("<!-- /measurements -->", log_row(row) + "\n<!-- /measurements -->", 1)
    status.write_text(text, encoding="utf-8")
    print(f"{row['command']}: {_fmt_s(float(row['wall_s']))} ({row['setting']}), logged in {status}")
    return rc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m common.reporting.readme", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--check", action="store_true", help="exit 1 if a generated block is out of date")
    ap.add_argument(
        "--time",
        action="store_true",
        help="--time -- COMMAND...: run COMMAND, log its wall time in docs/status.md, then re-render",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd: list[str] = []
    if "--time" in argv:  # everything after --time (and an optional --) is the command, never our options
        k = argv.index("--time")
        argv, cmd = argv[: k + 1], argv[k + 1 :]
        cmd = cmd[1:] if cmd[:1] == ["--"] else cmd
    a = ap.parse_args(argv)
    rc = 0
    if a.time:
        if not cmd:
            ap.error("--time needs a command, e.g. --time -- ./run_tests.sh")
        rc = time_command(cmd)
    stale = []
    for path in FILES:
        old = path.read_text(encoding="utf-8")
        new = render(old)
        if new != old:
            stale.append(path.relative_to(REPO_ROOT).as_posix())
            if not a.check:
                path.write_text(new, encoding="utf-8")
    if a.check:
        if stale:
            print(
                f"generated blocks out of date in {', '.join(stale)}: run `python -m common.reporting.readme`",
                file=sys.stderr,
            )
            return 1
        print("README.md, docs/status.md and the papers' READMEs are up to date")
        return 0
    print(f"rewritten: {', '.join(stale)}" if stale else "already up to date")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
