"""OMAR Table 2: MA-CQL with more actor updates per critic update (2-agent spread1d, medium-replay).

    python papers/omar/table2.py --profile smoke      # or quick / full; --help for all options

Cells: method ma_cql x actor_updates in {1, 5, 20} (ITD3Config.actor_updates: the actor takes that
many gradient steps on the same minibatch after each critic step); metric = raw return (Section 3.1).
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
ACTOR_UPDATES = ("1", "5", "20")


def build_cells(profile):
    return [Cell("omar", "table2", {"method": "ma_cql", "actor_updates": k},
                 offline_config(profile, ENV, KIND, "ma_cql", ENV_OPTIONS, actor_updates=int(k)))
            for k in ACTOR_UPDATES]


def main(argv=None):
    return run_main(__doc__.splitlines()[0], build_cells, offline_job, "omar", "table2",
                    paper_overrides=PROFILE_OVERRIDES, argv=argv,
                    reuse_from=OFFLINE_JOB_ITEMS)


if __name__ == "__main__":
    main()
