"""CAST-BCQ's cells for the generic offline job (common.offline): a cell config per item, the job that trains
it and ``run_item``, the entry point of an item script.

A Figure 1 cell config (``grid_config``):
  dataset     {"env": "games/cliff_grid", "env_options": {} (evaluation starts at (1, 1)), "return_mode": "mean",
               "kind": "random", "data_start": "uniform" | "fixed", "data_seed": 0} (papers.cast_bcq.datasets)
  cast_grid   GridConfig fields (papers/cast_bcq/grid.py), "method" among i_bcq / i_icq / cast
  method      the row key (i_bcq, i_icq, cast_bcq)
  updates, eval_every, eval_episodes, ckpt_every
"""

from __future__ import annotations

from typing import Any, Mapping

from common.offline import identity_of
from common.offline import offline_job as common_offline_job
from common.profiles import Profile
from papers.cast_bcq import config as C
from papers.cast_bcq import cast_bcq, grid, icq_ma  # noqa: F401 - register the paper's learners
from papers.cast_bcq.datasets import load_spec

GRID_LEARNER = grid.LEARNER_NAME


def load_dataset(spec: Mapping[str, Any]):
    """The dataset a cell's ``dataset`` spec names, loaded (generated if missing)."""
    return load_spec(spec)


def dataset_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    return identity_of(spec, load_dataset)


grid_job = common_offline_job(GRID_LEARNER, load_dataset)


def grid_config(profile: Profile, method: str, data_start: str) -> dict[str, Any]:
    """Figure 1's cell config for row ``method`` (a key of config.GRID_METHODS) on the data whose episodes
    start at ``data_start`` (config.GRID_DATA)."""
    if method not in C.GRID_METHODS:
        raise ValueError(f"unknown Figure 1 method {method!r}; valid: {', '.join(C.GRID_METHODS)}")
    if data_start not in C.GRID_DATA:
        raise ValueError(f"unknown data start {data_start!r}; valid: {', '.join(C.GRID_DATA)}")
    updates = int(profile.overrides.get("grid_updates", C.GRID_UPDATES))
    eval_every = min(updates, int(profile.overrides.get("grid_eval_every", C.GRID_EVAL_EVERY)))
    return {
        "dataset": {"env": C.GRID_ENV, "env_options": {}, "return_mode": "mean", "kind": "random",
                    "data_start": data_start, "data_seed": 0},
        "method": method,
        GRID_LEARNER: {"method": C.GRID_METHODS[method]},
        "updates": updates,
        "eval_every": eval_every,
        "eval_episodes": C.GRID_EVAL_EPISODES,
        "ckpt_every": max(eval_every, updates // 5),
    }


def run_item(description: str, item: str, build_cells, job, argv=None, **main_kw):
    """common.cli.main for a CAST-BCQ item."""
    from common.cli import main as run_main

    return run_main(description, build_cells, job, "cast_bcq", item, paper_overrides=C.PROFILE_OVERRIDES, argv=argv,
                    **main_kw)
