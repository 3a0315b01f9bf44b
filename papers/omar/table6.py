"""OMAR Table 6: the four methods on 2-agent HalfCheetah (MaMuJoCo 2x3), four datasets.

    python papers/omar/table6.py --profile smoke      # or quick / full; --help for all options

Cells: method x dataset on mamujoco/halfcheetah-2x3 (each agent its own leg's 3 joints), independent
TD3 with the HalfCheetah code's sizes (hidden 256, lr 3e-4, batch 256, target rate 0.005, 100,001
updates, CQL's 3 proposal groups, OMAR's top-5-of-20 CEM over 2 iterations) and per-dataset (tau,
alpha) from config.py. Metric: normalized score.
quick: 5 % of the updates (5,000) and seeds 0, 1 (QUICK_SEEDS): a CQL or OMAR run takes about 15 min here
(0.18 s per update: CQL's 30 sampled actions per state through 256-wide twin critics, 2 agents), so 3 seeds
would need about 7.5 core-hours against quick's 3 hours on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

from common.running.experiment import Cell
from papers.omar import config as C
from papers.omar.jobs import METHODS, offline_config, offline_job, run_item

ITEM, ENV = Path(__file__).stem, C.ENV_CHEETAH
QUICK_SEEDS = {"quick": (0, 1)}


def build_cells(profile):
    return [
        Cell("omar", ITEM, {"method": m, "dataset": kind}, offline_config(profile, ENV, kind, m))
        for m in METHODS
        for kind in C.DATASETS
    ]


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, offline_job, argv, default_seeds=QUICK_SEEDS)


if __name__ == "__main__":
    main()
