"""CAST-BCQ's cells for the generic offline job (common.running.offline): a cell config per item, the job that trains
it and ``run_item``, the entry point of an item script.

A Figure 1 cell config (``grid_config``):
  dataset     {"env": "games/cliff_grid", "env_options": {} (evaluation starts at (1, 1)), "return_mode": "mean",
               "kind": "random", "data_start": "uniform" | "fixed", "data_seed": 0} (papers.cast_bcq.datasets)
  cast_grid   GridConfig fields (papers/cast_bcq/grid.py), "method" among i_bcq / i_icq / cast
  method      the row key (i_bcq, i_icq, cast_bcq)
  updates, eval_every, eval_episodes, ckpt_every

A MaMuJoCo cell config (``mujoco_config``; Figure 4, Table 2, Figure 6):
  dataset     papers.cast_bcq.datasets.mujoco_spec: env, env_options {"obs_mode"}, return_mode "mean", kind,
              task, data_profile
  learner     the registered learner of the method (config.MUJOCO_METHODS): bcq, mabcq, icq_ma, cast_bcq,
              iql_continuous (BC)
  <learner>   its config fields: the method's fixed ones (view, ablation), batch size, widths (quick/smoke)
  method      the column key (published.MUJOCO_METHODS / ABLATIONS, or config.OURS_ONLY_METHODS)
  updates, eval_every, eval_episodes, ckpt_every (+ eval_max_steps at smoke)
"""

from __future__ import annotations

from typing import Any, Mapping

from common.running.offline import identity_of
from common.running.offline import offline_job as common_offline_job
from common.running.profiles import Profile
from papers.cast_bcq import cast_bcq, grid, icq_ma  # noqa: F401 - register the paper's learners
from papers.cast_bcq import config as C
from papers.cast_bcq.datasets import load_spec, mujoco_spec

GRID_LEARNER = grid.LEARNER_NAME


def load_dataset(spec: Mapping[str, Any]):
    """The dataset a cell's ``dataset`` spec names, loaded (generated if missing)."""
    return load_spec(spec)


def dataset_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    return identity_of(spec, load_dataset)


grid_job = common_offline_job(GRID_LEARNER, load_dataset)
mujoco_job = common_offline_job(None, load_dataset)  # the learner is the cell config's "learner"
# the MaMuJoCo items whose runs are exactly mujoco_job(cell, seed): an identical (config, seed) run in one of
# them is copied, not re-run (Figure 4's runs are Table 2's 'mixed' row; Figure 6's CAST-BCQ is Figure 4's)
MUJOCO_ITEMS = ("figure4", "table2", "figure6")


def grid_config(profile: Profile, method: str, data_start: str) -> dict[str, Any]:
    """Figure 1's cell config for row ``method`` (a key of config.GRID_METHODS) on the data whose episodes
    start at ``data_start`` (config.GRID_DATA)."""
    if method not in C.GRID_METHODS:
        raise ValueError(f"unknown Figure 1 method {method!r}; valid: {', '.join(C.GRID_METHODS)}")
    if data_start not in C.GRID_DATA:
        raise ValueError(f"unknown data start {data_start!r}; valid: {', '.join(C.GRID_DATA)}")
    updates = profile.paper.grid_updates
    eval_every = min(updates, profile.paper.grid_eval_every)
    return {
        "dataset": {
            "env": C.GRID_ENV,
            "env_options": {},
            "return_mode": "mean",
            "kind": "random",
            "data_start": data_start,
            "data_seed": 0,
        },
        "method": method,
        GRID_LEARNER: {"method": C.GRID_METHODS[method]},
        "updates": updates,
        "eval_every": eval_every,
        "eval_episodes": C.GRID_EVAL_EPISODES,
        "ckpt_every": max(eval_every, updates // 5),
    }


def mujoco_config(profile: Profile, env: str, kind: str, method: str) -> dict[str, Any]:
    """The MaMuJoCo cell config of column ``method`` (config.MUJOCO_METHODS) on (``env``, ``kind``)."""
    if method not in C.MUJOCO_METHODS:
        raise ValueError(f"unknown MaMuJoCo method {method!r}; valid: {', '.join(C.MUJOCO_METHODS)}")
    if kind not in C.MUJOCO_DATASETS:
        raise ValueError(f"unknown CAST-BCQ dataset {kind!r}; valid: {', '.join(C.MUJOCO_DATASETS)}")
    m, settings = C.MUJOCO_METHODS[method], profile.paper
    updates = settings.mujoco_updates
    eval_every = max(1, updates // settings.mujoco_evals)
    fields = {
        **dict(m.fields),
        "batch_size": settings.mujoco_batch,
        **C.width_fields(m.learner, settings.mujoco_width),
    }
    cfg: dict[str, Any] = {
        "dataset": mujoco_spec(env, kind, m.obs_mode, profile.name),
        "learner": m.learner,
        m.learner: fields,
        "method": method,
        "updates": updates,
        "eval_every": eval_every,
        "eval_episodes": (
            settings.mujoco_eval_episodes
            if settings.mujoco_eval_episodes is not None
            else m.code_eval_episodes
        ),
        "ckpt_every": max(eval_every, updates // 10),
    }
    if settings.eval_max_steps is not None:
        cfg["eval_max_steps"] = settings.eval_max_steps
    return cfg


def run_item(description: str, item: str, build_cells, job, argv=None, **main_kw):
    """common.running.cli.main for a CAST-BCQ item."""
    from common.running.cli import main as run_main

    return run_main(
        description,
        build_cells,
        job,
        "cast_bcq",
        item,
        paper_overrides=C.PROFILE_OVERRIDES,
        argv=argv,
        **main_kw,
    )
