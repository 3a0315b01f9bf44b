"""The cost model's tables for the README (``cost_totals``: per paper) and docs/status.md (``costs``: per item).

Every item script is planned at quick and at full (its grid built, nothing run: common.running.run_all.plan_items)
against an empty results root and data cache, so the tables do not depend on this machine's cache; the cost model
(common.running.cost_model, fitted on the committed records by common.running.cost_records) prices each planned
run, and the reference's recorded core time of the item stands beside it. The plans are made once per process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from common.reporting.published import discover_papers
from common.running.roots import REFERENCE_ROOT, REPO_ROOT

COST_PROFILES = ("quick", "full")


def item_scripts() -> list[tuple[str, str]]:
    """(paper, item) of every item script, as run_all.sh finds them (table*, figure*, ablations*)."""
    out = []
    for paper in discover_papers():
        folder = REPO_ROOT / "papers" / paper
        for pattern in ("table*.py", "figure*.py", "ablations*.py"):
            out += [(paper, s.stem) for s in sorted(folder.glob(pattern))]
    return out


@contextlib.contextmanager
def env_set(**values: str):
    """Within: the environment variables ``values`` set (restored after)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass(frozen=True)
class ItemCost:
    """One item at one profile: its planned runs, the model's core-seconds (None: not predicted) and how each run
    was priced (basis -> runs), and the reference's recorded core-seconds (None: not run)."""

    paper: str
    item: str
    runs: int
    predicted_s: float | None
    bases: tuple[tuple[str, int], ...]
    measured_s: float | None


@functools.lru_cache(maxsize=4)
def item_costs(root: Path = REFERENCE_ROOT) -> dict[str, list[ItemCost]]:
    """Per profile of COST_PROFILES, every item's ``ItemCost`` (in item_scripts' order)."""
    from common.running.cost_records import predict_plans, recorded_core_s
    from common.running.run_all import plan_items

    items = item_scripts()
    scripts = [str(REPO_ROOT / "papers" / p / f"{i}.py") for p, i in items]
    out: dict[str, list[ItemCost]] = {}
    with tempfile.TemporaryDirectory() as empty, env_set(OFFMARL_DATA=empty):
        for prof in COST_PROFILES:
            plans = [it.plan for it in plan_items(scripts, ["--profile", prof, "--results", empty])]
            costs: list[Any] = predict_plans(plans, todo=False)
            out[prof] = [
                ItemCost(
                    paper,
                    item,
                    len(plan.configs) * len(plan.seeds),
                    None if cost is None else cost.core_s,
                    () if cost is None else tuple(sorted(cost.bases.items())),
                    recorded_core_s(root, prof, paper, item),
                )
                for (paper, item), plan, cost in zip(items, plans, costs)
            ]
    return out


def _h(seconds: float | None, digits: int = 2) -> str:
    return "—" if seconds is None else f"{seconds / 3600:.{digits}f}"


BASES = (
    "*fit*: runs whose learner, sizes and environment ran before; *grouped*: ran before only as members of a "
    "batched job, whose per-run share underestimates a run alone; *same size*: the learner's per-update cost "
    "at the same sizes on runs of >= 5,000 updates in another environment or setting; *scaled*: from another "
    "size by batch × width², much less reliable; *unsized*: a config leaving its widths to the learner's defaults, costed at "
    "the widths on record; *copied*: a run an earlier item of the paper has, 0"
)


def cost_block(root: Path = REFERENCE_ROOT) -> str:
    """docs/status.md's per-item table: predicted core-hours (runs, by basis) and the reference's, per profile."""
    costs = item_costs(root)
    rows = []
    for k, (paper, item) in enumerate(item_scripts()):
        row = [f"{paper}/{item}"]
        for prof in COST_PROFILES:
            c = costs[prof][k]
            how = ", ".join(f"{n} {b}" for b, n in c.bases)
            row += [f"{_h(c.predicted_s)} ({c.runs} runs: {how})", _h(c.measured_s)]
        rows.append(row)
    head = [x for q in COST_PROFILES for x in (f"{q}: predicted core-h", f"{q}: measured core-h")]
    table = tabulate(rows, headers=["item", *head], tablefmt="github", disable_numparse=True)
    return (
        "Predicted by the cost model (`common/running/cost_model.py`: unit costs per update, evaluation "
        "episode and run fitted on the committed records, times each item's planned cells × seeds × counts; "
        f"{BASES}; dataset generation not counted). `./run_all.sh --plan` prints the same per item; "
        "`python -m common.running.cost_records` lists its error on every measured item. Measured: Σ of the "
        "run times of the item's newest records in the reference (a copied run counts 0; runs that built a "
        "dataset include the build; a run trained in a group, as full's OMAR runs were, counts its share of "
        "the group's time, while the prediction is for runs alone).\n\n" + table + "\n"
    )


def cost_totals_block(root: Path = REFERENCE_ROOT) -> str:
    """The README's per-paper table: Σ of the items' predicted and recorded core-hours at each profile."""
    costs = item_costs(root)
    papers = list(dict.fromkeys(p for p, _ in item_scripts()))
    rows = []
    for paper in [*papers, None]:
        row = [paper or "**total**"]
        for prof in COST_PROFILES:
            mine = [c for c in costs[prof] if paper is None or c.paper == paper]
            pred = [c.predicted_s for c in mine if c.predicted_s is not None]
            meas = [c.measured_s for c in mine if c.measured_s is not None]
            row += [
                f"{_h(sum(pred), 1)} ({len(pred)}/{len(mine)} items)",
                f"{_h(sum(meas), 1)} ({len(meas)} items)" if meas else "—",
            ]
        rows.append(row)
    head = [x for q in COST_PROFILES for x in (f"{q}: predicted core-h", f"{q}: measured core-h")]
    return (
        "Core-hours (one torch thread per run) predicted by the cost model from the committed records, beside "
        "the reference's recorded ones; per item, with how each run was priced and how far to trust it, in "
        "[docs/status.md](docs/status.md#costs); `./run_all.sh --plan` prints it for a command.\n\n"
        + tabulate(rows, headers=["paper", *head], tablefmt="github", disable_numparse=True)
        + "\n"
    )
