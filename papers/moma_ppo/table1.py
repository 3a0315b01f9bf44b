"""MOMA-PPO Table 1: the Iterated Coordination Game's datasets: behavior P(a¹=→), P(a²=→) and the average score.

    python papers/moma_ppo/table1.py --profile smoke      # or quick / full (quick = full: 10,000 plays); --help

Cells: dataset {favorable, neutral, unfavorable} x quantity {p_right_agent1, p_right_agent2, avg_score}, each the
empirical value of the generated dataset (papers/moma_ppo/datasets.py: 10,000 independent plays of the listed
behavior policies; one dataset per kind, so one seed). Then one verdict per claim of table1 (papers/moma_ppo/claims.py).
"""

from __future__ import annotations

from pathlib import Path

from common.reporting.claims import Evidence, check_claims
from common.reporting.figures import item_after
from common.running.experiment import Cell
from papers.moma_ppo import config as C
from papers.moma_ppo.claims import CLAIMS
from papers.moma_ppo.datasets import icg_spec
from papers.moma_ppo.jobs import run_item, table1_job
from papers.moma_ppo.published import T1_QUANTITIES

ITEM = Path(__file__).stem


def build_cells(profile) -> list[Cell]:
    plays = profile.paper.icg_plays
    return [
        Cell("moma_ppo", ITEM, {"dataset": d, "quantity": q}, {"dataset": icg_spec(d, plays), "quantity": q})
        for d in C.ICG_BEHAVIOR
        for q in T1_QUANTITIES
    ]


def finish(records, results, profile) -> None:
    check_claims(results, "moma_ppo", ITEM, CLAIMS, Evidence(records, profile))


def main(argv=None):
    return run_item(
        __doc__.splitlines()[0],
        ITEM,
        build_cells,
        table1_job,
        argv=argv,
        default_seeds={p: [0] for p in ("smoke", "quick", "full")},
        after=item_after("moma_ppo", ITEM, finish),
    )


if __name__ == "__main__":
    main()
