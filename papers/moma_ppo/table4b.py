"""MOMA-PPO Table 4b: four-agent Ant, 4 D4RL-protocol datasets x full / partial observability x 8 methods.

    python papers/moma_ppo/table4b.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/moma_ppo/table4b.py --profile quick --obs-mode partial --dataset full-replay --method moma_ppo

Cells: obs_mode {full (FO: every agent sees the 27-dim state), partial (PO: each agent its leg's hip and ankle
(θ, ω), agent 0 also the torso's 15 dims)} x dataset {random, medium, full-replay, expert} x method {iql
(centralized training and execution: FO rows only, the paper's '—' elsewhere), maiql, maiql_ft (CTDE), ibc, itd3bc,
icql, iomar (independent learners), moma_ppo (world model + MAPPO on synthetic rollouts)} = 60 cells (52 baselines +
8 MOMA-PPO), 3 seeds (§6), the final greedy policy scored over 100 episodes of up to 1,000 steps. Scores are
normalized with D4RL's Ant constants (S_random = −325.6, S_expert = 3879.7; the records' ``normalized`` is × 100,
the table shows fractions as the paper does), mean ± SEM over seeds. Then one verdict per claim of table4b
(papers/moma_ppo/claims_table4b.py) and the learning curves, <results>/<profile>/moma_ppo/table4b_curves.png (one panel per row that has
records, papers/moma_ppo/curves.py). How each column runs: papers/moma_ppo/jobs.py (ant_baseline_config,
ant_moma_config) and config.py (T4B_*) and maiql_ft.py (MAIQL-ft: offline MAIQL, then fine-tuned online in the
ground-truth simulator; see papers/moma_ppo/README.md "Table 4b").

Data: common.datasets.mujoco's Ant kinds at the run's profile, split per agent for each obs_mode (IQL, MAIQL(-ft)
and IBC on rewards x 1000 / (max − min episode return), the code's scaling). At smoke missing data are built
(seconds); at quick and full the script stops and names the command that builds them. spec §7's quick cells are
config.T4B_QUICK_CELLS (FO full-replay, PO medium, PO full-replay): run them with --obs-mode / --dataset filters.
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
from papers.moma_ppo.claims import CLAIMS
from papers.moma_ppo.claims_table4b import T4B_ROWS, t4b_cells
from papers.moma_ppo.jobs import ant_baseline_config, ant_missing, ant_moma_config, run_item, table4b_job
from papers.moma_ppo.published import ANT_DATASETS, ANT_OBS, PUBLISHED, T4B_METHODS

ITEM = Path(__file__).stem


def build_cells(profile) -> list[Cell]:
    return [
        Cell(
            "moma_ppo",
            ITEM,
            {"obs_mode": o, "dataset": d, "method": m},
            ant_moma_config(profile, o, d) if m == "moma_ppo" else ant_baseline_config(profile, o, d, m),
        )
        for o, d, m in t4b_cells()
    ]


def published_dataset_means() -> dict[str, float]:
    """Table 2's mean normalized episode return of each Ant dataset, as a fraction (the paper's data)."""
    return {
        e.keys["dataset"]: e.mean / 100.0
        for e in PUBLISHED
        if e.item == "table2" and e.keys.get("env") == DC.ANT_ENV and e.keys["quantity"] == "mean"
    }


def dataset_means_of(profile: str) -> dict[str, float]:
    """Mean normalized episode return (fraction, D4RL's constants) of each Ant dataset of ``profile`` that is built,
    from its card (the datasets not built are left out)."""
    from common.datasets.dataset import Dataset
    from common.datasets.mujoco import dataset_base
    from common.datasets.returns import normalize

    out = {}
    for d in ANT_DATASETS:
        base = dataset_base("ant", d, profile)
        if not base.with_name(base.name + ".json").exists():
            continue
        out[d] = float(normalize(Dataset.read_card(base)["returns"]["mean"], DC.ANT_D4RL_REF_SCORES)) / 100.0
    return out


def finish(records, results, profile) -> None:
    ev = Evidence(records, profile, data={"dataset_means": dataset_means_of(profile)})
    check_claims(results, "moma_ppo", ITEM, CLAIMS, ev)
    curves.write(records, results, profile, ITEM, T4B_ROWS, T4B_METHODS)


# ---- data ------------------------------------------------------------------------------------------------------
def _args_of(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--profile", default="quick")
    p.add_argument("--dataset", action="append")
    return p.parse_known_args(argv)[0]


def run_ant_item(description: str, item: str, build, after, methods, argv=None):
    """``run_item`` for an item of Table 4b's grid (this one, baseline_length.py): Table 4b's job and seeds, the
    Ant data the selected datasets need, the --obs-mode / --dataset / --method filters (``methods``)."""
    a = _args_of(argv)
    # only what the selected cells train on
    kinds = [d for d in ANT_DATASETS if not a.dataset or d in a.dataset]
    return run_item(
        description,
        item,
        build,
        table4b_job,
        argv=argv,
        default_seeds={p: list(C.T4B_SEEDS) for p in ("quick", "full")} | {"smoke": [0]},
        needs=lambda: ant_missing(kinds, a.profile),
        after=item_after("moma_ppo", item, after),
        **grid_filters(
            {"obs_mode": list(ANT_OBS), "dataset": list(ANT_DATASETS), "method": list(methods)}, item
        ),
    )


def main(argv=None):
    return run_ant_item(__doc__.splitlines()[0], ITEM, build_cells, finish, T4B_METHODS, argv)


if __name__ == "__main__":
    main()
