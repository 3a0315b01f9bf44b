"""What CAST-BCQ's three MaMuJoCo items (Figure 4, Table 2, Figure 6) share: their cells, their entry point with
the grid filters ``--env / --dataset / --method``, the claims' verdicts and the curve panels.

A claim is checked only on its complete grid (papers/cast_bcq/claims.py: the cells it reads, each with a finite score
for every seed of the profile); otherwise it stays not checked, with the cells it misses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from common.reporting.claims import Evidence, Outcome, check_claims
from common.reporting.figures import item_after
from common.reporting.plotting import plot_curves
from common.running.cli import grid_filters
from common.running.experiment import Cell
from common.running.store import Runs
from papers.cast_bcq import config as C
from papers.cast_bcq.claims import CLAIMS, SHORT
from papers.cast_bcq.jobs import MUJOCO_ITEMS, mujoco_config, mujoco_job, run_item


def cells(item: str, profile, datasets: Sequence[str] | None, methods: Sequence[str]) -> list[Cell]:
    """The item's grid: env x method (datasets None: the 'mixed' data, keys without 'dataset') or
    env x dataset x method (Table 2)."""
    if datasets is None:
        return [
            Cell("cast_bcq", item, {"env": e, "method": m}, mujoco_config(profile, e, "mixed", m))
            for e in C.MUJOCO_ENVS
            for m in methods
        ]
    return [
        Cell("cast_bcq", item, {"env": e, "dataset": d, "method": m}, mujoco_config(profile, e, d, m))
        for d in datasets
        for e in C.MUJOCO_ENVS
        for m in methods
    ]


def entry(
    doc: str,
    item: str,
    methods: Sequence[str],
    datasets: Sequence[str] | None = None,
    curves: str | None = None,
) -> tuple[Callable, Callable]:
    """A MaMuJoCo item script's ``build_cells(profile)`` (``cells``) and ``main(argv)``: common.running.cli.main with
    the grid filters, runs copied from the other MaMuJoCo items when their config and seed are the same, and after a
    clean run the curve panels titled ``curves`` (none when None) and the claims' verdicts."""
    options: dict[str, Any] = {"env": list(C.MUJOCO_ENVS), "method": list(methods)}
    if datasets is not None:
        options["dataset"] = list(datasets)

    def build_cells(profile) -> list[Cell]:
        return cells(item, profile, datasets, methods)

    def finish(records: Runs, results: Path, profile: str) -> None:
        if curves is not None:
            curve_panels(records, results / profile / "cast_bcq", item, curves)
        write_verdicts(records, results, profile, item)

    def main(argv=None):
        return run_item(
            doc.splitlines()[0],
            item,
            build_cells,
            mujoco_job,
            argv=argv,
            reuse_from=MUJOCO_ITEMS,
            after=item_after("cast_bcq", item, finish),
            **grid_filters(options, item),
        )

    return build_cells, main


def write_verdicts(records: Runs, results: Path, profile: str, item: str) -> dict[str, Outcome]:
    """Write the verdict of each claim of ``item`` whose cells all have the profile's seeds with a finite final score;
    the others stay not checked, with the cells they miss printed. Returns what was judged."""
    from common.running.profiles import get_profile

    n_seeds = get_profile(profile, C.PROFILE_OVERRIDES).n_seeds
    return check_claims(results, "cast_bcq", item, CLAIMS, Evidence(records, profile), n_seeds)


def curve_panels(records: Runs, out: Path, item: str, title: str, **keys: Any) -> None:
    """One PNG per env (``<item>_<env>.png``): every method's evaluation curve, mean ± std over seeds."""
    for env in C.MUJOCO_ENVS:
        recs = records.select(env=env, **keys)
        if not recs:
            continue
        png = plot_curves(
            recs, out / f"{item}_{SHORT[env]}.png", ["method"], "score", f"{title}: {SHORT[env]}"
        )
        print(f"[cast_bcq/{item}] wrote {png}", flush=True)
