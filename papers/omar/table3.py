"""OMAR Table 3: MA-ICQ, MA-TD3+BC, MA-CQL and OMAR on the three particle tasks x four datasets.

    python papers/omar/table3.py --profile smoke      # or quick / full; --help for all options
    python papers/omar/table3.py --env omar/spread    # one task only (repeatable)

Cells: dataset x env x method, all on independent TD3 with decentralized critics (Section 4.1) and the
official code's per-dataset (tau, alpha) and update counts (config.py); metric = normalized score
100 (S - S_random) / (S_expert - S_random) with S_random / S_expert from our random / expert datasets.
"""

from __future__ import annotations

from pathlib import Path

from common.running.experiment import Cell
from papers.omar import config as C
from papers.omar.jobs import METHODS, offline_config, offline_job, run_item

ITEM = Path(__file__).stem


def build_cells(profile, envs=C.ENVS_MPE, datasets=C.DATASETS, methods=METHODS):
    return [
        Cell("omar", ITEM, {"dataset": kind, "env": env, "method": m}, offline_config(profile, env, kind, m))
        for kind in datasets
        for env in envs
        for m in methods
    ]


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, offline_job, argv)


if __name__ == "__main__":
    main()
