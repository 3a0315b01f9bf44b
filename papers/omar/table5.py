"""OMAR Table 5: the four methods on MATD3 with centralized critics (CTDE), per dataset kind.

    python papers/omar/table5.py --profile smoke      # or quick / full; --help for all options

Cells: method x dataset x env over the three particle tasks; every critic is Q_i(s, a_1..a_N) with
s = all agents' observations (ITD3Config.critic_input="joint", common/algos/itd3.py: MATD3 targets
from every agent's target actor, the actor step with a_-i from the dataset as the paper's Section 2.1).
The paper reports "the averaged normalized score ... in each kind of dataset" without naming the
tasks; we run the three particle tasks and the table pools them (mean +- std over tasks x seeds,
footnoted in the rendered table). Metric: normalized score.
"""

from __future__ import annotations

from pathlib import Path

from common.running.experiment import Cell
from papers.omar import config as C
from papers.omar.jobs import METHODS, offline_config, offline_job, run_item

ITEM = Path(__file__).stem


def build_cells(profile, envs=C.ENVS_MPE):
    return [
        Cell(
            "omar",
            ITEM,
            {"method": m, "dataset": kind, "env": env},
            offline_config(profile, env, kind, m, critic_input="joint"),
        )
        for m in METHODS
        for kind in C.DATASETS
        for env in envs
    ]


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, offline_job, argv)


if __name__ == "__main__":
    main()
