"""OMAR diagnostic: the official loop's 10 fixed minibatches per agent, cycled, against fresh minibatches.

    python papers/omar/diagnose_minibatches.py --profile full --env omar/world --dataset medium
    python papers/omar/diagnose_minibatches.py --help

Not an item of the paper (./run_all.sh, which runs table*.py and figure*.py, skips it). OMAR's `main.py`
rebuilds the evaluation environment every 1,000 loop steps (10 update rounds) and, in doing so, calls
`np.random.seed(seed + 100)`; the replay sampling that follows restarts from the same state, so each agent
trains on the same 10 minibatches of 1,024 transitions, cycled, for the whole run
(docs/omar_official_code.md#evaluation). Our items draw a fresh minibatch at every update. This script
measures what the quirk does to Table 3's cells:
  minibatches=fresh     Table 3's cell as is (its runs are copied from table3 when they exist)
  minibatches=official  the same cell cycling 10 fixed minibatches per agent (common.running.offline.fixed_minibatches)
Cells: env x dataset x method x minibatches (filters --env / --dataset / --method); metric = Table 3's
normalized score (last evaluation; the record also keeps the best and the mean of the last 10).
"""

from __future__ import annotations

from pathlib import Path

from common.running.experiment import Cell
from papers.omar import config as C
from papers.omar.jobs import METHODS, offline_config, offline_job, run_item

ITEM = Path(__file__).stem
OFFICIAL_MINIBATCHES = 10  # main.py: eval_interval 1,000 loop steps / steps_per_update 100 = 10 update rounds
VARIANTS = {"fresh": 0, "official": OFFICIAL_MINIBATCHES}


def build_cells(profile, envs=C.ENVS_MPE, datasets=C.DATASETS, methods=METHODS):
    return [
        Cell(
            "omar",
            ITEM,
            {"dataset": kind, "env": env, "method": m, "minibatches": v},
            offline_config(profile, env, kind, m, official_minibatches=n),
        )
        for kind in datasets
        for env in envs
        for m in methods
        for v, n in VARIANTS.items()
    ]


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, offline_job, argv)


if __name__ == "__main__":
    main()
