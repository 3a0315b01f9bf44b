"""MOMA-PPO Table 4a: two-agent Reacher, expert-mix dataset, 3 observation functions x 8 methods.

    python papers/moma_ppo/table4a.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/moma_ppo/table4a.py --profile quick --obs-mode leader-only --method ibc --method moma_ppo

Cells: obs_mode {full (FO all-observant), independent (PO), leader-only (PO)} x method {iql (centralized training
and execution: FO row only, the paper's '—' elsewhere), maiql, matd3bc (CTDE), ibc, itd3bc, icql, iomar
(independent learners), moma_ppo (world model + MAPPO on synthetic rollouts)} = 22 cells (19 baselines + 3
MOMA-PPO), 3 seeds (§6), the final greedy policy scored over 100 episodes of 50 steps. Scores are normalized with
the paper's Reacher constants (S_random = −11.144625, S_expert = −4.2370844; the records' ``normalized`` is × 100,
the table shows fractions as the paper does), mean ± SEM over seeds. Then one verdict per claim of
table4a (papers/moma_ppo/claims.py) and the learning curves, <results>/<profile>/moma_ppo/table4a_curves.png (one panel per
obs_mode, papers/moma_ppo/curves.py). How each column runs: papers/moma_ppo/jobs.py (reacher_baseline_config,
reacher_moma_config) and config.py (T4A_*); the profiles' scales and the deviations: papers/moma_ppo/README.md
"Table 4a".

Data: the expert-mix of papers/moma_ppo/reacher.py at the run's profile, split per agent for each obs_mode. At smoke
missing data are built (seconds); at quick and full the script stops and names the command that builds them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common.reporting.claims import Evidence, check_claims
from common.reporting.figures import item_after
from common.running.cli import grid_filters
from common.running.experiment import Cell
from papers.moma_ppo import config as C
from papers.moma_ppo import curves
from papers.moma_ppo import data_config as DC
from papers.moma_ppo.claims import CLAIMS, t4a_cells
from papers.moma_ppo.jobs import (
    REACHER_BUILD_AT,
    reacher_baseline_config,
    reacher_moma_config,
    run_item,
    table4a_job,
)
from papers.moma_ppo.published import REACHER_OBS, T4A_METHODS

ITEM = Path(__file__).stem


def build_cells(profile) -> list[Cell]:
    return [
        Cell(
            "moma_ppo",
            ITEM,
            {"obs_mode": o, "method": m},
            reacher_moma_config(profile, o) if m == "moma_ppo" else reacher_baseline_config(profile, o, m),
        )
        for o, m in t4a_cells()
    ]


def finish(records, results, profile) -> None:
    check_claims(results, "moma_ppo", ITEM, CLAIMS, Evidence(records, profile))
    curves.write(records, results, profile, ITEM, [(o,) for o in REACHER_OBS], T4A_METHODS)


# ---- data ------------------------------------------------------------------------------------------------------
def missing(profile: str) -> str | None:
    """The command that builds the profile's Reacher data, when they are missing (None at smoke: built here)."""
    from papers.moma_ppo.reacher import dataset_base

    if profile in REACHER_BUILD_AT or profile not in DC.REACHER_SCALES:
        return None
    base = dataset_base(C.T4A_DATASET, profile)
    if base.with_name(base.name + ".json").exists():
        return None
    return f"the Reacher experts and expert-mix (python -m papers.moma_ppo.reacher --profile {profile})"


def _profile_of(argv) -> str:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--profile", default="quick")
    return p.parse_known_args(argv)[0].profile


def main(argv=None):
    profile = _profile_of(argv)
    return run_item(
        __doc__.splitlines()[0],
        ITEM,
        build_cells,
        table4a_job,
        argv=argv,
        default_seeds={p: list(C.T4A_SEEDS) for p in ("quick", "full")} | {"smoke": [0]},
        needs=lambda: missing(profile),
        after=item_after("moma_ppo", ITEM, finish),
        **grid_filters({"obs_mode": list(REACHER_OBS), "method": list(T4A_METHODS)}, ITEM),
    )


if __name__ == "__main__":
    main()
