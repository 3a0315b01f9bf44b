"""CAST-BCQ Figure 1: the two-agent 4x6 cliff grid (§2.3); learning curves of I-BCQ, I-ICQ and CAST-BCQ.

    python papers/cast_bcq/figure1.py --profile smoke      # or quick / full (quick = full: seconds per run); --help

Cells: data {uniform, fixed} x method {i_bcq, i_icq, cast_bcq} (papers/cast_bcq/grid.py), each trained offline
on 100 episodes of uniform-random play (papers/cast_bcq/datasets.py) and evaluated greedily from (1, 1).
  data "fixed":   the paper's literal data, every episode from (1, 1); our seed-0 set may hold no goal episode
                  (most such sets do not), then no offline learner can find the goal;
  data "uniform": our variant, episodes from uniform non-goal cells; the claims are checked on it, and on the
                  fixed-start data only when that holds a goal episode.
Outputs under <results>/<profile>/cast_bcq/: figure1_curves.png (one panel per data set) and one verdict per
claim of figure1 (papers/cast_bcq/claims.py): f1_ibcq_fails, f1_iicq_fails (final greedy return < 0 in a majority
of seeds) and f1_cast_reaches_goal (>= 0, i.e. the goal within 11 steps, in a majority of seeds).
"""

from __future__ import annotations

from pathlib import Path

from common.reporting.claims import Evidence, check_claims
from common.reporting.figures import item_after
from common.reporting.plotting import plot_curves
from common.running.experiment import Cell
from common.running.store import Runs
from papers.cast_bcq import config as C
from papers.cast_bcq.claims import CLAIMS
from papers.cast_bcq.datasets import goal_episodes, grid_dataset
from papers.cast_bcq.jobs import grid_config, grid_job, run_item

ITEM = Path(__file__).stem


def build_cells(profile) -> list[Cell]:
    return [
        Cell("cast_bcq", ITEM, {"data": d, "method": m}, grid_config(profile, m, d))
        for d in C.GRID_DATA
        for m in C.GRID_METHODS
    ]


def finish(records: Runs, results: Path, profile: str) -> None:
    out = results / profile / "cast_bcq"
    for d in C.GRID_DATA:
        recs = records.where(lambda r: r.key("data") == d and "method" in r.keys)
        png = plot_curves(
            recs,
            out / f"{ITEM}_{d}.png",
            ["method"],
            "score",
            f"Fig. 1: cliff grid, {d}-start data (greedy return from (1, 1); optimum 6)",
        )
        print(f"[cast_bcq/{ITEM}] wrote {png}", flush=True)
    goals = {d: goal_episodes(grid_dataset(d)) for d in C.GRID_DATA}  # claims are judged on data with a goal
    check_claims(results, "cast_bcq", ITEM, CLAIMS, Evidence(records, profile, data={"goal_episodes": goals}))


def main(argv=None):
    return run_item(
        __doc__.splitlines()[0],
        ITEM,
        build_cells,
        grid_job,
        argv=argv,
        after=item_after("cast_bcq", ITEM, finish),
    )


if __name__ == "__main__":
    main()
