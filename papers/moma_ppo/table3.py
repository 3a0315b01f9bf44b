"""MOMA-PPO Table 3: team score on the Iterated Coordination Game: IQL, MAIQL, IBC and MOMA-PPO x 3 datasets.

    python papers/moma_ppo/table3.py --profile smoke      # or quick / full; --method / --dataset filters; --help

Cells: dataset {favorable, neutral, unfavorable} x method {iql (centralized training and execution, the joint
action), maiql, ibc (common/algos/iql.py), moma_ppo (world model + MAPPO on 1-step synthetic rollouts,
papers/moma_ppo/moma_ppo.py)}; 10 seeds (quick and full), the final greedy policy scored over 100 episodes, mean ±
SEM as the paper prints. Then one verdict per claim of table3 (papers/moma_ppo/claims.py) and the learning curves,
<results>/<profile>/moma_ppo/table3_curves.png (papers/moma_ppo/curves.py).
"""

from __future__ import annotations

from pathlib import Path

from common.reporting.claims import Evidence, check_claims
from common.reporting.figures import item_after
from common.running.cli import grid_filters
from common.running.experiment import Cell
from papers.moma_ppo import config as C
from papers.moma_ppo import curves
from papers.moma_ppo.claims import CLAIMS
from papers.moma_ppo.jobs import icg_baseline_config, icg_moma_config, run_item, table3_job

ITEM = Path(__file__).stem


def build_cells(profile) -> list[Cell]:
    return [
        Cell(
            "moma_ppo",
            ITEM,
            {"dataset": d, "method": m},
            icg_moma_config(profile, d) if m == "moma_ppo" else icg_baseline_config(profile, d, m),
        )
        for d in C.ICG_BEHAVIOR
        for m in C.T3_METHODS
    ]


def finish(records, results, profile) -> None:
    check_claims(results, "moma_ppo", ITEM, CLAIMS, Evidence(records, profile))
    curves.write(records, results, profile, ITEM, [(d,) for d in C.ICG_BEHAVIOR], C.T3_METHODS)


def main(argv=None):
    return run_item(
        __doc__.splitlines()[0],
        ITEM,
        build_cells,
        table3_job,
        argv=argv,
        after=item_after("moma_ppo", ITEM, finish),
        **grid_filters({"dataset": list(C.ICG_BEHAVIOR), "method": list(C.T3_METHODS)}, ITEM),
    )


if __name__ == "__main__":
    main()
