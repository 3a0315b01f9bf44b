"""OMAR Table 1: MA-CQL with a larger actor learning rate (2-agent spread1d, medium-replay).

    python -m papers.omar.table1 --profile smoke     # or: python papers/omar/table1.py --profile smoke

Cells: method ma_cql x actor_lr in {1e-2, 5e-2, 1e-1} (critic lr stays 1e-2); metric = raw return.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a file: make the repo root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from common.experiment import Cell, main as run_main  # noqa: E402
from papers.omar.config import PROFILE_OVERRIDES  # noqa: E402
from papers.omar.jobs import OFFLINE_JOB_ITEMS, offline_config, offline_job  # noqa: E402

ENV, ENV_OPTIONS, KIND = "omar/spread1d", {"n_agents": 2}, "medium-replay"
ACTOR_LRS = ("1e-2", "5e-2", "1e-1")


def build_cells(profile):
    return [Cell("omar", "table1", {"method": "ma_cql", "actor_lr": lr},
                 offline_config(profile, ENV, KIND, "ma_cql", ENV_OPTIONS, actor_lr=float(lr)))
            for lr in ACTOR_LRS]


def main(argv=None):
    return run_main(__doc__.splitlines()[0], build_cells, offline_job, "omar", "table1",
                    paper_overrides=PROFILE_OVERRIDES, argv=argv,
                    reuse_from=OFFLINE_JOB_ITEMS)


if __name__ == "__main__":
    main()
