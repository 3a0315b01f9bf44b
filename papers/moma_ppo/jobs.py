"""MOMA-PPO's jobs for common.running.experiment: the Table 1 statistics job, the Table 3 job and the Table 4a / 4b job
(the baselines through common.running.offline's generic job; MOMA-PPO through papers/moma_ppo/moma_job.py: world
model, then synthetic rollouts + MAPPO; MAIQL-ft through papers/moma_ppo/maiql_ft.py), and ``run_item``, the entry
point of an item script. What a cell trains is papers/moma_ppo/cells.py's; the dataset it trains on,
papers/moma_ppo/cell_data.py's. The item scripts import all of it from here.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import common.algos.iql_continuous  # noqa: F401 - registers iql_continuous (Table 4a's IQL, MAIQL, IBC)
import common.algos.matd3bc  # noqa: F401 - registers matd3bc (Table 4a's MATD3+BC); itd3 is built in
from common.running.experiment import Job
from common.running.offline import (
    data_identity_of,
    dataset_of,
    group_key_of,
    identity_of,
    offline_run,
    offline_run_group,
)
from papers.moma_ppo import config as C
from papers.moma_ppo.cell_data import (  # noqa: F401 - re-exported for the item scripts, probes and tests
    REACHER_BUILD_AT,
    ant_missing,
    ant_spec,
    load_dataset,
    reacher_spec,
    scale_rewards,
)
from papers.moma_ppo.cell_model import (  # noqa: F401 - re-exported for the item scripts, probes and tests
    ProbeContext,
    moma_model,
    wm_cache_path,
    wm_sampling_of,
    world_model,
)
from papers.moma_ppo.cells import (  # noqa: F401 - re-exported for the item scripts, probes and tests
    BASELINE_LEARNER,
    ant_baseline_config,
    ant_moma_config,
    ant_moma_variant_config,
    icg_baseline_config,
    icg_moma_config,
    reacher_baseline_config,
    reacher_moma_config,
)
from papers.moma_ppo.datasets import table1_stats
from papers.moma_ppo.maiql_ft import maiql_ft_run
from papers.moma_ppo.moma_job import (  # noqa: F401 - re-exported for the item scripts, probes and tests
    eval_moma,
    last_fraction,
    moma_group_key,
    moma_histories,
    moma_learner,
    moma_run,
    moma_run_group,
)


# ---- Table 1 ---------------------------------------------------------------------------------------------------
def table1_run(cell, seed: int, ctx) -> dict[str, Any]:
    """A Table 1 cell: one statistic of one dataset (no training; the seed does not enter)."""
    data = load_dataset(cell.config["dataset"])
    st = table1_stats(data)
    q = cell.config["quantity"]
    return {"score": st[q], "se": st[f"se_{q}"], "n_plays": st["n_plays"], **data_identity_of(data)}


table1_job = Job(
    run=table1_run, data_spec=dataset_of, data_identity=functools.partial(identity_of, load=load_dataset)
)


# ---- Table 3's job ---------------------------------------------------------------------------------------------
def table3_run(cell, seed: int, ctx) -> dict[str, Any]:
    """A Table 3 cell: MOMA-PPO (``moma_run``) or a baseline (common.running.offline's job on ``iql_discrete``)."""
    if cell.config["method"] == "moma_ppo":
        return moma_run(cell, seed, ctx)
    out = offline_run(cell, seed, ctx, learner=BASELINE_LEARNER, load=load_dataset)
    out["score_last20pct"] = last_fraction(out["curve"])
    return out


def _with_moma_groups(cfg: Mapping[str, Any], key=None) -> str | None:
    """A job's group key: ``moma_group_key`` for a MOMA-PPO cell, ``key`` (None: alone) for the others."""
    if cfg.get("method") == "moma_ppo":
        return moma_group_key(cfg)
    return key(cfg) if key is not None else None


def _run_moma_or(runs, run_group=None) -> list[dict[str, Any]]:
    """A job's run_group: ``moma_run_group`` for a MOMA-PPO group, ``run_group`` for the others (module level and
    partials only: the process and Ray launchers pickle the job)."""
    if runs[0][0].config.get("method") == "moma_ppo":
        return moma_run_group(runs)
    return run_group(runs)


# MOMA-PPO cells: each cell's seeds may train stacked (--group); the ICG baselines (iql_discrete) alone
table3_job = Job(
    run=table3_run,
    data_spec=dataset_of,
    data_identity=functools.partial(identity_of, load=load_dataset),
    group_key=_with_moma_groups,
    run_group=moma_run_group,
)


def table4a_run(cell, seed: int, ctx) -> dict[str, Any]:
    """A Table 4a cell: MOMA-PPO (``moma_run``) or a baseline (common.running.offline's job on the cell's learner)."""
    if cell.config["method"] == "moma_ppo":
        return moma_run(cell, seed, ctx)
    return offline_run(cell, seed, ctx, learner=None, load=load_dataset)


# baselines of one learner may train stacked (--group; common/running/grouping.py), and a MOMA-PPO cell's seeds
table4a_job = Job(
    run=table4a_run,
    data_spec=dataset_of,
    data_identity=functools.partial(identity_of, load=load_dataset),
    group_key=functools.partial(_with_moma_groups, key=functools.partial(group_key_of, learner=None)),
    run_group=functools.partial(
        _run_moma_or, run_group=functools.partial(offline_run_group, learner=None, load=load_dataset)
    ),
)


def table4b_run(cell, seed: int, ctx) -> dict[str, Any]:
    """A Table 4b cell: MAIQL-ft (offline MAIQL, then online fine-tuning in the true simulator: maiql_ft.py),
    otherwise as Table 4a's."""
    if cell.config["method"] == "maiql_ft":
        return maiql_ft_run(cell, seed, ctx, load=load_dataset)
    return table4a_run(cell, seed, ctx)


def table4b_group_key(cfg: Mapping[str, Any]) -> str | None:
    """Table 4a's baseline group key (baselines of one learner may stack, --group), None for MAIQL-ft (its online phase runs
    alone: common.running.offline's stacked loop has none)."""
    return None if cfg.get("method") == "maiql_ft" else group_key_of(cfg, learner=None)


table4b_job = Job(
    run=table4b_run,
    data_spec=dataset_of,
    data_identity=functools.partial(identity_of, load=load_dataset),
    group_key=functools.partial(_with_moma_groups, key=table4b_group_key),
    run_group=functools.partial(
        _run_moma_or, run_group=functools.partial(offline_run_group, learner=None, load=load_dataset)
    ),
)


def run_item(description: str, item: str, build_cells, job, argv=None, **main_kw):
    """common.running.cli.main for a MOMA-PPO item."""
    from common.running.cli import main as run_main

    return run_main(
        description, build_cells, job, "moma_ppo", item, paper_overrides=C.PROFILES, argv=argv, **main_kw
    )
