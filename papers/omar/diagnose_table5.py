"""OMAR Table 5 diagnostic: why CQL-based methods fall behind with centralized critics on spread expert.

    python papers/omar/diagnose_table5.py --profile quick     # or smoke / full; --help

Not an item of the paper (./run_all.sh, which runs table*.py and figure*.py, skips it). At quick
(500 updates) Table 5's MA-CQL and OMAR score far below their decentralized Table 3 runs on spread
expert. This script trains them at the code's full update count
(2,001, every profile but smoke) with an evaluation every 100 updates, so the curves show whether the
joint critic learns slowly or learns and then declines, and compares where CQL's sampled actions go:
  critic=local                 Table 3's decentralized critic (reference)
  critic=joint, cql_slots=own  Table 5's default: agent i's slot sampled, a_-i from the dataset
  critic=joint, cql_slots=all  the whole joint action sampled uniformly (CQL on Q(s, a_1..a_N) as a
                               single-agent CQL would treat the joint action)
for MA-CQL and OMAR. Metric: normalized score and the learning curve.
"""

from __future__ import annotations

from pathlib import Path

from common.running.cli import main as run_main
from common.running.experiment import Cell
from papers.omar import config as C
from papers.omar.jobs import OFFLINE_JOB_ITEMS, offline_config, offline_job

ITEM, ENV, KIND = Path(__file__).stem, "omar/spread", "expert"
VARIANTS = (("local", None), ("joint", "own"), ("joint", "all"))
CODE_UPDATES = {"smoke": False, "quick": True, "full": True}  # the official update count (not scaled)?


def build_cells(profile) -> list[Cell]:
    out = []
    for method in ("ma_cql", "omar"):
        for critic, slots in VARIANTS:
            over = {} if critic == "local" else {"critic_input": "joint", "cql_slots": slots}
            cfg = offline_config(profile, ENV, KIND, method, **over)
            if CODE_UPDATES[profile.name]:  # the code's count, whatever the profile's update scale
                cfg.update(updates=C.UPDATES[ENV][KIND], eval_every=100, ckpt_every=C.UPDATES[ENV][KIND])
            out.append(Cell("omar", ITEM, {"method": method, "critic": critic, "cql_slots": slots}, cfg))
    return out


def main(argv=None):
    return run_main(
        __doc__.splitlines()[0],
        build_cells,
        offline_job,
        "omar",
        ITEM,
        paper_overrides=C.PROFILE_OVERRIDES,
        argv=argv,
        reuse_from=OFFLINE_JOB_ITEMS,
        default_seeds={"quick": (0,)},
    )


if __name__ == "__main__":
    main()
