"""OMAR Table 4: OMAR's sampling mechanism against random shooting and CEM (cooperative navigation).

    python papers/omar/table4.py --profile smoke      # or quick / full; --help for all options

Cells: sampler x dataset on omar/spread, OMAR with the official (tau, alpha) per dataset; only the
action search of Eq. 3 changes (common/algos/omar.py: search_action):
  softmax  OMAR's softmax-weighted update (the code's default, 3 iterations x 10 samples)
  cem      top-k CEM with elites rejoining the pool (the HalfCheetah code's sampler), 3 elites of 10
           (the paper gives no MPE elite count; 3 = the HalfCheetah code's 5-of-20 fraction, rounded up)
  random   random shooting: the best of 3 x 10 candidates drawn at once from N(mu0, sigma0), clipped
           to [-1, 1] (no refinement)
Metric: normalized score.
"""

from __future__ import annotations

from pathlib import Path

from common.running.experiment import Cell
from papers.omar import config as C
from papers.omar.jobs import offline_config, offline_job, run_item

ITEM, ENV = Path(__file__).stem, "omar/spread"
SAMPLERS = {
    "random": {"omar_sampler": "random"},
    "cem": {"omar_sampler": "cem", "omar_n_elites": 3},
    "softmax": {"omar_sampler": "softmax"},
}


def build_cells(profile):
    return [
        Cell(
            "omar",
            ITEM,
            {"sampler": name, "dataset": kind, "method": "omar"},
            offline_config(profile, ENV, kind, "omar", **over),
        )
        for name, over in SAMPLERS.items()
        for kind in C.DATASETS
    ]


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, offline_job, argv)


if __name__ == "__main__":
    main()
