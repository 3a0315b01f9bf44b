"""MOMA-PPO Table 3: team score on the Iterated Coordination Game: IQL, MAIQL, IBC and MOMA-PPO x 3 datasets.

    python papers/moma_ppo/table3.py --profile smoke      # or quick / full; --method / --dataset filters; --help

Cells: dataset {favorable, neutral, unfavorable} x method {iql (centralized training and execution, the joint
action), maiql, ibc (common/algos/iql.py), moma_ppo (world model + MAPPO on 1-step synthetic rollouts,
papers/moma_ppo/moma_ppo.py)}; 10 seeds (quick and full), the final greedy policy scored over 100 episodes, mean ±
SEM as the paper prints. Then one verdict per claim of published.CLAIMS (table3) and the learning curves,
<results>/<profile>/moma_ppo/table3_curves.png (papers/moma_ppo/curves.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.reporting.figures import figure_after, seed_values, write_claims
from common.running.cli import grid_filters
from common.running.experiment import Cell
from papers.moma_ppo import config as C
from papers.moma_ppo import curves
from papers.moma_ppo.jobs import icg_baseline_config, icg_moma_config, run_item, table3_job
from papers.moma_ppo.published import CLAIMS

ITEM = Path(__file__).stem
SOLVED, FAILED = 0.99, 0.01  # the claims' thresholds (published.CLAIMS)


def build_cells(profile) -> list[Cell]:
    return [Cell("moma_ppo", ITEM, {"dataset": d, "method": m},
                 icg_moma_config(profile, d) if m == "moma_ppo" else icg_baseline_config(profile, d, m))
            for d in C.ICG_BEHAVIOR for m in C.T3_METHODS]


def verdicts(records) -> dict[str, tuple[bool, str]]:
    per = {(d, m): seed_values(records, "score", dataset=d, method=m) for d in C.ICG_BEHAVIOR for m in C.T3_METHODS}
    mean = {k: float(np.mean(list(v.values()))) if v else float("nan") for k, v in per.items()}
    every = {k: sorted(v.values()) for k, v in per.items()}

    def show(m):
        return ", ".join(f"{d} {mean[(d, m)]:.2f} (n={len(per[(d, m)])})" for d in C.ICG_BEHAVIOR)

    solves = {m: all(mean[(d, m)] >= SOLVED for d in C.ICG_BEHAVIOR) for m in C.T3_METHODS}
    ibc = (min(every[("favorable", "ibc")] or [0]) >= SOLVED and mean[("neutral", "ibc")] < SOLVED
           and max(every[("unfavorable", "ibc")] or [1]) <= FAILED)
    ev = {m: f"{m}: {show(m)}" for m in C.T3_METHODS}
    return {
        "t3_moma_only_decentralized_solver": (solves["moma_ppo"] and not solves["maiql"] and not solves["ibc"],
                                              "; ".join(ev[m] for m in ("moma_ppo", "maiql", "ibc"))),
        "t3_iql_and_moma_coordinate_any_dataset": (solves["iql"] and solves["moma_ppo"],
                                                   "; ".join(ev[m] for m in ("iql", "moma_ppo"))),
        "t3_ibc_coordinates_only_on_coordinated_data": (ibc, ev["ibc"] + "; per seed: " + "; ".join(
            f"{d} {every[(d, 'ibc')]}" for d in C.ICG_BEHAVIOR)),
        "t3_maiql_breaks_symmetry_on_neutral": (mean[("neutral", "maiql")] >= 0.8
                                                and mean[("neutral", "maiql")] > mean[("neutral", "ibc")],
                                                f"{ev['maiql']}; ibc neutral {mean[('neutral', 'ibc')]:.2f}"),
        "t3_maiql_fails_on_unfavorable": (max(every[("unfavorable", "maiql")] or [1]) <= FAILED,
                                          f"maiql unfavorable per seed {every[('unfavorable', 'maiql')]}"),
    }


def finish(records, results, profile) -> None:
    write_claims(results, profile, "moma_ppo", ITEM, verdicts(records), CLAIMS)
    curves.write(records, results, profile, ITEM, [(d,) for d in C.ICG_BEHAVIOR], C.T3_METHODS)


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, table3_job, argv=argv,
                    after=figure_after("moma_ppo", ITEM, finish),
                    **grid_filters({"dataset": list(C.ICG_BEHAVIOR), "method": list(C.T3_METHODS)}, ITEM))


if __name__ == "__main__":
    main()
