"""CAST-BCQ Figure 1: the two-agent 4x6 cliff grid (§2.3); learning curves of I-BCQ, I-ICQ and CAST-BCQ.

    python papers/cast_bcq/figure1.py --profile smoke      # or quick / full (quick = full: seconds per run); --help

Cells: data {uniform, fixed} x method {i_bcq, i_icq, cast_bcq} (papers/cast_bcq/grid.py), each trained offline
on 100 episodes of uniform-random play (papers/cast_bcq/datasets.py) and evaluated greedily from (1, 1).
  data "fixed":   the paper's literal data, every episode from (1, 1); our seed-0 set may hold no goal episode
                  (most such sets do not), then no offline learner can find the goal;
  data "uniform": our variant, episodes from uniform non-goal cells; the claims are checked on it, and on the
                  fixed-start data only when that holds a goal episode.
Outputs under <results>/<profile>/cast_bcq/: figure1_curves.png (one panel per data set) and one verdict per
claim of published.CLAIMS (figure1): f1_ibcq_fails, f1_iicq_fails (final greedy return < 0 in a majority of
seeds) and f1_cast_reaches_goal (>= 0, i.e. the goal within 11 steps, in a majority of seeds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from common.reporting.figures import figure_after, seed_values, write_claims
from common.reporting.plotting import plot_curves
from common.running.experiment import Cell
from papers.cast_bcq import config as C
from papers.cast_bcq.datasets import goal_episodes, grid_dataset
from papers.cast_bcq.jobs import grid_config, grid_job, run_item
from papers.cast_bcq.published import CLAIMS

ITEM = Path(__file__).stem
LABELS = {"i_bcq": "I-BCQ", "i_icq": "I-ICQ", "cast_bcq": "CAST-BCQ"}
CLAIM_OF = {"i_bcq": ("f1_ibcq_fails", False), "i_icq": ("f1_iicq_fails", False),
            "cast_bcq": ("f1_cast_reaches_goal", True)}  # method -> (claim, should it reach the goal)


def build_cells(profile) -> list[Cell]:
    return [Cell("cast_bcq", ITEM, {"data": d, "method": m}, grid_config(profile, m, d))
            for d in C.GRID_DATA for m in C.GRID_METHODS]


def claim(records: Sequence[Mapping], method: str, goal_in_data: Mapping[str, int]) -> tuple[bool, str]:
    """Majority of seeds reach the goal (final greedy return >= 0) or not, per data set with a goal episode."""
    _, want_goal = CLAIM_OF[method]
    parts, verdicts = [], []
    for d in C.GRID_DATA:
        finals = seed_values(records, "score", data=d, method=method)
        if goal_in_data[d] == 0:
            parts.append(f"{d}-start data: no goal episode in the data, not checked")
            continue
        if not finals:
            parts.append(f"{d}-start data: no record")
            verdicts.append(False)
            continue
        reached = sum(v >= 0 for v in finals.values())
        ok = (reached * 2 > len(finals)) == want_goal
        verdicts.append(ok)
        vals = ", ".join(f"seed {s}: {v:g}" for s, v in sorted(finals.items()))
        parts.append(f"{d}-start data ({goal_in_data[d]} goal episodes): goal reached in {reached}/{len(finals)} "
                     f"seeds ({vals})")
    holds = bool(verdicts) and all(verdicts)
    return holds, f"{LABELS[method]}, final greedy return from (1, 1): " + "; ".join(parts)


def verdicts(records: Sequence[Mapping]) -> dict[str, tuple[bool, str]]:
    goal_in_data = {d: goal_episodes(grid_dataset(d)) for d in C.GRID_DATA}
    return {CLAIM_OF[m][0]: claim(records, m, goal_in_data) for m in C.GRID_METHODS}


def finish(records: list[dict], results: Path, profile: str) -> None:
    out = results / profile / "cast_bcq"
    for d in C.GRID_DATA:
        recs = [r for r in records if (r.get("keys") or {}).get("data") == d and "method" in r.get("keys", {})]
        png = plot_curves(recs, out / f"{ITEM}_{d}.png", ["method"], "score",
                          f"Fig. 1: cliff grid, {d}-start data (greedy return from (1, 1); optimum 6)")
        print(f"[cast_bcq/{ITEM}] wrote {png}", flush=True)
    write_claims(results, profile, "cast_bcq", ITEM, verdicts(records), CLAIMS)


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, grid_job, argv=argv,
                    after=figure_after("cast_bcq", ITEM, finish))


if __name__ == "__main__":
    main()
