"""The cost model (common.running.cost_model) fitted on a results root's records, its predictions for
``./run_all.sh --plan`` and the README, and its measured errors.

    python -m common.running.cost_records                       # error on every measured invocation
    python -m common.running.cost_records --leave-out records   # each predicted without its own records

A measured invocation is an item's last run (``last_run`` of its plan file: wall time, runs) with the records it
trained (finished within that wall time, not copied, not resumed). Its core time is the sum of those runs' times
(one thread each); its wall time compares with a one-process prediction only where it ran one process
(``Invocation.sequential``: the runs' times sum to at most the wall time).
"""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from common.running.cost_model import CostModel, Prediction, error_pct, group_sizes, predict_item, run_points
from common.running.cost_stages import as_trained, record_config, stage_ids
from common.running.records import config_hash, latest_records, read_records
from common.running.roots import REFERENCE_ROOT
from common.running.timings import fmt_seconds

PROFILES = ("smoke", "quick", "full")


@dataclass
class Invocation:
    """One measured item invocation (``last_run`` of its plan file) and the timed records of the runs it trained."""

    profile: str
    paper: str
    item: str
    wall_s: float
    planned: int  # the runs it trained (``last_run.runs``); ``runs`` may hold fewer: records replaced since
    runs: list[dict] = field(default_factory=list)
    # each run's group size (common.running.cost_model.group_sizes)
    members: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.profile}/{self.paper}/{self.item}"

    @property
    def run_s(self) -> float:
        """Its runs' summed times: the core-seconds it spent training (one thread per run)."""
        return sum(float(r["wall_time_s"]) for r in self.runs)

    @property
    def sequential(self) -> bool:
        """Every run on record and run one after another (their times sum to at most the wall time): the wall
        time is then comparable to a prediction of one process's time."""
        return len(self.runs) == self.planned and self.run_s <= self.wall_s


def _time(s: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(s)).timestamp()
    except ValueError:
        return None


def invocations(
    records: Iterable[Mapping[str, Any]], root: Path, profile: str, paper: str, item: str
) -> list[Invocation]:
    """The item's last invocation (its plan file's ``last_run``) with the timed records that finished within its
    wall time and were trained there (not copied, not resumed); [] when none is on record."""
    try:
        last = json.loads((root / profile / paper / f"{item}.plan.json").read_text()).get("last_run") or {}
    except (OSError, ValueError, AttributeError):
        return []
    end, wall = _time(last.get("finished")), last.get("wall_s")
    if end is None or not isinstance(wall, (int, float)) or not last.get("runs"):
        return []
    mine = []
    for r in records:
        t, w = _time(r.get("finished")), r.get("wall_time_s")
        if (
            t is not None
            and end - wall - 5 <= t <= end + 5
            and r.get("item") == item
            and not r.get("reused_from")
            and not r.get("resumed_from_step")
            and isinstance(w, (int, float))
            and w > 0
        ):
            mine.append(dict(r))
    return (
        [Invocation(profile, paper, item, float(wall), int(last["runs"]), mine, group_sizes(mine))]
        if mine
        else []
    )


def predict_invocation(model: CostModel, inv: Invocation) -> Prediction:
    """The prediction for the runs of ``inv`` on record (their configs as recorded, grouped as they ran)."""
    return predict_item(model, inv.paper, [record_config(r) for r in inv.runs], 1, inv.members)


def load(
    root: Path = REFERENCE_ROOT, profiles: Sequence[str] = PROFILES, leave_out: Sequence[str] = ()
) -> tuple[CostModel, list[Invocation]]:
    """The model fitted on every record under ``root`` (items named ``profile/paper/item`` in ``leave_out``
    excluded) and every measured invocation (``invocations``) there, left-out items included."""
    points, measured = [], []
    for prof in profiles:
        for path in sorted((root / prof).glob("*/*.jsonl")):
            paper, item = path.parent.name, path.stem
            recs = read_records(path)
            measured += invocations(recs, root, prof, paper, item)
            if f"{prof}/{paper}/{item}" not in leave_out:
                points += run_points(recs)
    starts = [inv.wall_s - inv.run_s for inv in measured if inv.sequential and inv.name not in leave_out]
    return CostModel.fit(points, starts), measured


@functools.lru_cache(maxsize=4)
def reference_model(root: Path = REFERENCE_ROOT) -> CostModel:
    """The model fitted on every record of ``root`` (default: the committed reference), loaded once."""
    return load(root)[0]


def predict_plans(plans: Sequence[Any], todo: bool = True) -> list[Prediction | None]:
    """The predictions for items' plans (common.running.cli.ItemPlan, in the order they run): each item's runs still
    to run (``todo``) or all its runs; for an item that cannot run yet (``needs``), its whole grid × seeds (what it
    will cost once it can), None when its plan has no grid. A run whose config and seed an earlier run of the same
    paper has is copied, not trained (``reuse_from``: 0 s, basis ``copied``); an item copies only from the items it
    names, so this undercounts where two items share a run without naming each other. A run counts the steps of a
    shared stage (OTC's pi^0 and CVAE: common.running.cost_stages) only if no earlier run of the plan trains it."""
    seen: set[tuple[str, str, int]] = set()
    stages: set[str] = set()  # shared stages (common.running.cost_stages) an earlier run of the plan trains
    out: list[Prediction | None] = []
    for plan in plans:
        if plan.needs and not plan.configs:
            out.append(None)
            continue
        whole = not todo or plan.needs
        runs = [(c, s) for c in plan.configs for s in plan.seeds] if whole else plan.todo_runs
        fresh = []
        for config, seed in runs:
            key = (plan.paper, config_hash(config), int(seed))
            if key not in seen:
                seen.add(key)
                ids = stage_ids(plan.paper, config, int(seed))
                fresh.append(as_trained(config, [st for st, i in ids.items() if i not in stages]))
                stages.update(ids.values())
        p = predict_item(reference_model(), plan.paper, fresh, 1)
        if len(runs) > len(fresh):
            p.bases["copied"] = len(runs) - len(fresh)
        out.append(p)
    return out


def predict_plan(plan: Any, todo: bool = True) -> Prediction | None:
    """``predict_plans`` of one item's plan alone."""
    return predict_plans([plan], todo)[0]


def recorded_core_s(root: Path, profile: str, paper: str, item: str) -> float | None:
    """The measured core-seconds of an item's runs on record: Σ of the newest record of each run's time (a run
    copied from another item counts 0); None without records."""
    path = root / profile / paper / f"{item}.jsonl"
    if not path.exists():
        return None
    recs = latest_records(read_records(path))
    return sum(float(r.get("wall_time_s") or 0.0) for r in recs if not r.get("reused_from")) if recs else None


LEAVE_OUT = ("none", "records", "item")


def error_rows(root: Path = REFERENCE_ROOT, leave_out: str = "none") -> list[list[str]]:
    """One row per measured invocation: its core time (Σ of its runs' times) measured and predicted, its wall time
    measured and predicted for one process (where it ran one process: ``Invocation.sequential``), the bases.
    ``leave_out``: "none" (the model of every record), "records" (each invocation predicted by a model fitted
    without its item's records at its profile: the cross-profile case) or "item" (without its item's records at
    any profile: an item never run)."""
    if leave_out not in LEAVE_OUT:
        raise ValueError(f"leave_out={leave_out!r} is not allowed; choose one of {', '.join(LEAVE_OUT)}")
    model, measured = load(root)
    rows = []
    for inv in measured:
        out = {"none": [], "records": [inv.name], "item": [f"{q}/{inv.paper}/{inv.item}" for q in PROFILES]}
        m = load(root, leave_out=out[leave_out])[0] if leave_out != "none" else model
        p = predict_invocation(m, inv)
        seq = inv.sequential
        rows.append(
            [
                inv.name,
                f"{len(inv.runs)}/{inv.planned}",
                fmt_seconds(inv.run_s),
                fmt_seconds(p.core_s),
                error_pct(p.core_s, inv.run_s),
                fmt_seconds(inv.wall_s),
                fmt_seconds(p.wall_s) if seq else "",
                error_pct(p.wall_s, inv.wall_s) if seq else "",
                ", ".join(f"{n} {b}" for b, n in sorted(p.bases.items())),
            ]
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="The cost model's error on every measured item invocation.")
    p.add_argument(
        "--leave-out",
        choices=LEAVE_OUT,
        default="none",
        help="predict each invocation without its item's records at its profile (records) or at any "
        "profile (item); default none",
    )
    p.add_argument("--results", default=str(REFERENCE_ROOT), help="results root (default: the reference)")
    a = p.parse_args(argv)
    from tabulate import tabulate

    rows = error_rows(Path(a.results), a.leave_out)
    print(
        tabulate(
            rows,
            headers=[
                "invocation",
                "runs timed",
                "core measured",
                "predicted",
                "error",
                "wall measured",
                "predicted (1 process)",
                "error",
                "bases",
            ],
            tablefmt="github",
        )
    )
    print(f"start of an invocation: {load(Path(a.results))[0].start_s:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
