"""OMAR's cells for the generic offline job (common.running.offline): ``offline_config`` builds a cell config,
``offline_job`` trains it (ITD3 on OMAR's datasets), ``run_item`` is the entry point of an item script.

A cell config (``offline_config``):
  dataset   the dataset spec of papers.omar.datasets (env, options, sizes, behavior run) + "kind"
  method    ma_cql | omar | ma_td3bc | ma_icq (all on ITD3 with decentralized critics)
  itd3      ITD3Config fields (MPE/HalfCheetah TaskConfig sizes, per-dataset tau/alpha of config.py)
  updates   gradient steps (the code's count, scaled by the profile)
  eval_every, eval_episodes, ckpt_every (+ official_minibatches, eval_max_steps when set)
Evaluation and the record's readings (last, best, mean of the last 10): common.running.offline.
Every item takes ``--group N`` (cells as members: runs of one env, method and schedule, whatever their
dataset kind, seed and per-dataset tau / alpha, train as one batched ITD3; common/running/grouping.py, docs/scaling.md).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from common.running.cli import grid_filters
from common.running.experiment import Cell
from common.running.offline import identity_of
from common.running.offline import offline_job as common_offline_job
from common.running.profiles import Profile
from papers.omar import config as C
from papers.omar.datasets import dataset_spec, load_spec

METHODS = ("ma_cql", "omar", "ma_td3bc", "ma_icq")
# The items whose runs are exactly offline_job(cell, seed): a run with the same config and seed in
# one of them is copied rather than re-run (common.running.experiment.run_cells(reuse_from=...)), e.g. the
# MA-CQL reference of Figures 3-4 is Table 3's MA-CQL run. Figure 1 is not here: its job differs.
OFFLINE_JOB_ITEMS = (
    "table1",
    "table2",
    "table3",
    "table4",
    "table5",
    "table6",
    "figure2",
    "figure3",
    "figure4",
    "diagnose_table5",
    "diagnose_minibatches",
)
BASE_ENV = {"omar/spread1d": "omar/spread"}  # spread1d has no table of its own: spread's tau/alpha/updates


def itd3_fields(method: str, env: str, kind: str) -> dict[str, Any]:
    """ITD3Config fields of a method on (env, dataset kind) from config.py."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {METHODS}")
    base = BASE_ENV.get(env, env)
    task = C.task_config(base)
    tau, alpha = C.tau_alpha(base, kind)
    f: dict[str, Any] = dict(
        hidden=task.hidden,
        actor_lr=task.lr,
        critic_lr=task.lr,
        batch_size=task.batch,
        gamma=task.gamma,
        tau_target=task.target_tau,
    )
    if method in ("ma_cql", "omar"):
        f.update(critic_reg="cql", cql_alpha=alpha, cql_proposal=task.cql_proposal)
    if method == "omar":
        f.update(
            actor_reg="omar",
            omar_tau=tau,
            omar_sampler=task.sampler,
            omar_iters=task.omar_iters,
            omar_n_samples=task.omar_samples,
            omar_n_elites=task.omar_elites,
        )
    elif method == "ma_td3bc":
        f.update(actor_reg="td3bc")
    elif method == "ma_icq":
        f.update(actor_reg="icq")
    return f


def offline_config(
    profile: Profile,
    env: str,
    kind: str,
    method: str,
    env_options: Mapping[str, Any] | None = None,
    official_minibatches: int = 0,
    **itd3_overrides: Any,
) -> dict[str, Any]:
    """A cell config: dataset spec, ITD3 fields (+ overrides such as actor_lr), update/eval counts;
    ``official_minibatches`` > 0 adds the official loop's fixed-minibatch quirk (common.running.offline.fixed_minibatches;
    only then is the key in the config, so every other config, and its hash, is as before)."""
    if (
        isinstance(official_minibatches, bool)
        or not isinstance(official_minibatches, int)
        or official_minibatches < 0
    ):
        raise ValueError(
            f"official_minibatches={official_minibatches!r} is not allowed; give 0 (fresh minibatches "
            f"every update) or the number of fixed minibatches to cycle (10 in OMAR's code)"
        )
    base = BASE_ENV.get(env, env)
    family = "mujoco" if base == C.ENV_CHEETAH else "mpe"
    paper_updates, settings = C.UPDATES[base][kind], profile.paper  # settings: config.OmarSettings
    if family == "mujoco" and settings.mujoco_update_scale:
        paper_updates = round(paper_updates * settings.mujoco_update_scale / profile.update_scale)
    updates = settings.updates if settings.updates is not None else profile.n_updates(paper_updates)
    eval_every = min(updates, profile.eval_interval(C.EVAL_EVERY[family]))
    if settings.max_evals:  # cap the number of evaluations (each is eval_episodes full episodes)
        eval_every = max(eval_every, -(-updates // settings.max_evals))
    if env_options is None:
        env_options = C.env_options(env)
    task = C.task_config(base)
    return {
        "dataset": {**dataset_spec(env, profile, env_options), "kind": kind},
        "method": method,
        "itd3": {
            **itd3_fields(method, env, kind),
            **({"batch_size": settings.batch_size} if settings.batch_size is not None else {}),
            **itd3_overrides,
        },
        "updates": updates,
        "eval_every": eval_every,
        "eval_episodes": profile.n_eval_episodes(task.eval_episodes),
        "ckpt_every": max(eval_every, updates // 10),
        **({"official_minibatches": official_minibatches} if official_minibatches else {}),
        # smoke only: evaluation episodes cut after this many steps (absent from quick/full configs)
        **({"eval_max_steps": settings.eval_max_steps} if settings.eval_max_steps is not None else {}),
    }


def load_dataset(spec: Mapping[str, Any]):
    """The dataset a cell's ``dataset`` spec (with its ``kind``) names, loaded (generated if missing)."""
    return load_spec(spec, spec["kind"])


def dataset_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The identity (common.running.offline.data_identity_of) of the dataset ``spec`` names, loaded now."""
    return identity_of(spec, load_dataset)


# the generic offline job (common.running.offline) on ITD3 and OMAR's datasets: every table and Figures 2-4
offline_job = common_offline_job("itd3", load_dataset)


def agents_filter(item: str) -> dict:
    """``--n-agents N`` (repeatable) for Figures 1-2 (common.running.cli.grid_filters): run only the grid's cells
    with those n_agents (e.g. start n = 2 while the datasets of the other n are still being generated)."""
    return grid_filters({"n_agents": None}, label=item)


def run_item(description: str, item: str, build_cells, job=None, argv=None, **main_kw):
    """common.running.cli.main for an OMAR item with the grid filters ``--env / --dataset / --method``;
    ``build_cells(profile)`` returns the whole grid; ``job`` defaults to ``offline_job``, whose identical
    runs in the other offline-job items are copied rather than re-run."""
    from common.running.cli import main as run_main

    job = offline_job if job is None else job
    if job is offline_job:
        main_kw.setdefault("reuse_from", OFFLINE_JOB_ITEMS)
    filters = grid_filters(
        {"env": [*C.ENVS_MPE, C.ENV_CHEETAH], "dataset": C.DATASETS, "method": METHODS}, item
    )
    return run_main(
        description,
        build_cells,
        job,
        "omar",
        item,
        paper_overrides=C.PROFILE_OVERRIDES,
        argv=argv,
        **{**filters, **main_kw},
    )


SWEEP_TASK = ("omar/spread1d", {"n_agents": 2}, "medium-replay")  # Tables 1-2: env, env options, dataset kind


def cql_sweep(item: str, key: str, values: Sequence[str], cast: Callable[[str], Any], description: str):
    """Tables 1-2 (Section 3.1): MA-CQL on 2-agent spread1d medium-replay with one ITD3 field swept over
    ``values`` (cell key ``key``: the value as the paper prints it; ``cast`` makes the field's value).
    Returns the item's ``build_cells(profile)`` and ``main(argv=None)``."""
    env, env_options, kind = SWEEP_TASK

    def build_cells(profile) -> list[Cell]:
        return [
            Cell(
                "omar",
                item,
                {"method": "ma_cql", key: v},
                offline_config(profile, env, kind, "ma_cql", dict(env_options), **{key: cast(v)}),
            )
            for v in values
        ]

    def main(argv=None):
        from common.running.cli import main as run_main

        return run_main(
            description.splitlines()[0],
            build_cells,
            offline_job,
            "omar",
            item,
            paper_overrides=C.PROFILE_OVERRIDES,
            argv=argv,
            reuse_from=OFFLINE_JOB_ITEMS,
        )

    return build_cells, main
