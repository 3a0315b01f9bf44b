"""What OTC's MuJoCo items (Table 1, Figures 3 and 4) share: the cell config of (env, dataset, method) at a
profile, the entry point with the grid filters ``--env / --dataset / --method``, the claims' verdicts and the
curve panels. A claim is checked only on a complete grid (papers/otc/claims.py: every cell with every seed of the
profile); otherwise it stays not checked, with the cells it misses, so a partial run never reads as "does not hold".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from common.reporting.claims import Evidence, check_claims
from common.reporting.figures import item_after
from common.running.cli import grid_filters
from common.running.cli import main as run_main
from common.running.experiment import Cell
from common.running.profiles import Profile, get_profile
from common.running.store import Runs
from papers.otc import config as C
from papers.otc.claims import CLAIMS, finished_seeds
from papers.otc.claims_curves import SHORT
from papers.otc.deploy import job

# items whose runs are exactly deploy.job(cell, seed): an identical (config, seed) run is copied between them
MUJOCO_ITEMS = ("table1", "figure3", "figure4", "figure5")


def cell_config(profile: Profile, env: str, dataset: str, method: str) -> dict[str, Any]:
    """The deploy.job config of ``method`` (config.parse_method) on (``env``, ``dataset``) at ``profile``."""
    if env not in C.TASK_OF:
        raise ValueError(f"unknown OTC MuJoCo env {env!r}; valid: {', '.join(C.TASK_OF)}")
    if dataset not in C.MUJOCO_DATASETS:
        raise ValueError(f"unknown OTC dataset {dataset!r}; valid: {', '.join(C.MUJOCO_DATASETS)}")
    m, settings = C.parse_method(method), profile.paper
    offline = settings.offline_updates_of(m.learner, mujoco=True, where=f"{C.TASK_OF[env]}/{dataset}")
    cfg: dict[str, Any] = {
        "dataset": {
            "env": env,
            "env_options": {"obs_mode": C.OBS_MODE},
            "return_mode": "mean",
            "kind": dataset,
            "task": C.TASK_OF[env],
            "data_profile": profile.name,
        },
        **deploy_fields(m, C.learner_section(m.learner, settings), settings, offline, mujoco=True),
        "eval_episodes": settings.eval_episodes,
    }
    return {**cfg, **sampler_fields(m, settings, offline)}


def deploy_fields(
    m: C.Method,
    section: dict[str, Any],
    settings: C.OtcSettings,
    offline: int,
    mujoco: bool = False,
    nav_td3bc: bool = False,
) -> dict[str, Any]:
    """The config keys every OTC deployment cell (MuJoCo and navigation) has: the learner and its ``section``, the
    method and its sampler, the ``offline`` updates of pi^0, and the deployment protocol (K deployments of
    DEPLOY_FRACTION x |B| transitions each, at least min_deploy, then tune_updates of the learner); ``mujoco``: the
    profile's MuJoCo-item L; ``nav_td3bc``: the profile's L of Figures 7-8."""
    return {
        "learner": m.learner,
        m.learner: section,
        "method": m.key,
        "sampler": m.sampler,
        "offline_updates": offline,
        "deployments": settings.deployments,
        "deploy_fraction": C.DEPLOY_FRACTION,
        "min_deploy": settings.min_deploy,
        "tune_updates": settings.tune_updates(m.learner, mujoco=mujoco, nav_td3bc=nav_td3bc),
    }


def sampler_fields(m: C.Method, settings: C.OtcSettings, offline: int) -> dict[str, Any]:
    """The config keys a cell adds for its sampler and profile: OTC's section (distance, alpha, the profile's
    |B| / |D| / batch / draws), d_e's CVAE offline updates, and the smoke evaluation cut."""
    out: dict[str, Any] = {}
    if m.sampler == "otc":
        out["otc"] = {
            "distance": m.distance,
            "alpha_mode": m.alpha_mode,
            "alpha0": m.alpha0,
            **settings.otc_batches(),
        }
        if m.distance == "embedding":
            out["cvae_offline_updates"] = min(offline, C.CVAE_OFFLINE_CAP)
            if (
                m.cvae_form != "conditional"
            ):  # the paper's form stays implicit: the committed configs keep their keys
                out["otc"]["cvae_form"] = m.cvae_form
    if settings.eval_max_steps is not None:
        out["eval_max_steps"] = settings.eval_max_steps
    return out


def cells(item: str, profile: Profile, grid: Sequence[tuple[str, str, str]]) -> list[Cell]:
    """Cells of (env, dataset, method) triples, keys in Table 1's order (dataset, env, method)."""
    return [
        Cell("otc", item, {"dataset": d, "env": e, "method": m}, cell_config(profile, e, d, m))
        for e, d, m in grid
    ]


def run(
    description: str,
    item: str,
    build_cells: Callable,
    finish: Callable,
    methods: Sequence[str],
    argv=None,
    options: Mapping[str, Any] | None = None,
    reuse_from: Sequence[str] = MUJOCO_ITEMS,
    item_job=None,
):
    """common.running.cli.main for an OTC item run by deploy.job (or ``item_job``: Figure 6's, which adds the SMAX panel):
    grid filters (``options``, default the MuJoCo items' env / dataset / method), runs copied from the items of
    ``reuse_from`` when their config and seed are equal, ``finish(records, results, profile)`` after a clean run."""
    if options is None:
        options = {"env": list(C.MUJOCO_ENVS), "dataset": list(C.MUJOCO_DATASETS)}
    options = {**options, "method": list(methods)}
    return run_main(
        description,
        build_cells,
        job if item_job is None else item_job,
        "otc",
        item,
        paper_overrides=C.PROFILE_OVERRIDES,
        argv=argv,
        reuse_from=reuse_from,
        after=item_after("otc", item, finish),
        **grid_filters(options, item),
    )


def write_if_complete(
    records: Runs,
    results: Path,
    profile: str,
    item: str,
    grid: Sequence[Mapping[str, Any]],
    data: Mapping[str, Any] | None = None,
) -> None:
    """Judge and write the claims of ``item`` (papers/otc/claims.py) on its ``grid`` (key dicts), each once every
    cell has all the profile's seeds finished (``claims.finished_seeds``); ``data``: facts a rule reads that are
    not runs."""
    n_seeds = get_profile(profile, C.PROFILE_OVERRIDES).n_seeds
    check_claims(
        results, "otc", item, CLAIMS, Evidence(records, profile, grid, data or {}), n_seeds, finished_seeds
    )


def curve_panels(
    records: Runs, out: Path, item: str, title: str, tasks: Sequence[tuple[str, str]], methods: Sequence[str]
) -> list[Path]:
    """One PNG per (env, dataset) task (``<item>_<env>_<dataset>.png``): S(pi^k) of every method over the
    deployments k = 0..K, mean ± std over seeds."""
    from common.reporting.plotting import plot_curves

    pngs = []
    for env, dataset in tasks:
        recs = records.where(
            lambda r: r.key("env") == env and r.key("dataset") == dataset and r.key("method") in methods
        )
        if not recs:
            continue
        png = plot_curves(
            recs,
            out / f"{item}_{SHORT[env]}_{dataset}.png",
            ["method"],
            "score",
            f"{title}: {SHORT[env]} {dataset}",
            xlabel="deployment k",
        )
        print(f"[otc/{item}] wrote {png}", flush=True)
        pngs.append(png)
    return pngs
