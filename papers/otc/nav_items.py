"""What OTC's cooperative-navigation items (Figures 7 and 8) share: the cell config of (n_agents, method) at a
profile, the cells, and the entry point with the grid filters ``--n-agents / --method``.

Data [P Sec. 4.7]: 1 x 10^6 transitions of uniform random policies on ``otc/navigation`` with N agents (actions
in [-0.1, 0.1]^2; papers/otc/datasets.py); TD3+BC as the base learner with Table 3's column (max_action 0.1); the
same deployment protocol as the MuJoCo items (K = 10, M = 1 % |B^0|, L = 2000; papers/otc/deploy.py).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from common.running.experiment import Cell
from common.running.profiles import Profile
from papers.otc import config as C
from papers.otc import mujoco_items as M

NAV_ITEMS = ("figure7", "figure8")  # identical (config, seed) runs are copied between them


def cell_config(
    profile: Profile,
    n_agents: int | None,
    method: str,
    env: str = C.NAV_ENV,
    env_options: dict[str, Any] | None = None,
    max_action: float = C.NAV_MAX_ACTION,
    offline: int | None = None,
    td3bc_item: bool = False,
) -> dict[str, Any]:
    """The deploy.job config of ``method`` on ``env`` (default ``otc/navigation`` with ``n_agents`` agents; other
    envs take ``env_options``) with uniform-random data, at ``profile``; ``offline`` overrides the learner's
    offline updates of config.OFFLINE_UPDATES (before the profile's own override); ``td3bc_item``: a cell of
    Figures 7-8, which take the profile's ``nav_td3bc_*`` settings (L scale, pi^0 updates, data size) where set."""
    if env == C.NAV_ENV and not (isinstance(n_agents, int) and n_agents >= 1):
        raise ValueError(f"n_agents {n_agents!r}: give an integer >= 1")
    m, settings = C.parse_method(method), profile.paper
    section = {**C.learner_section(m.learner, settings), "max_action": max_action}
    offline = settings.offline_updates_of(m.learner, offline)
    size = settings.nav_size
    if td3bc_item:
        offline = settings.nav_td3bc_offline_updates or offline
        size = settings.nav_td3bc_size or size
    opts = {"n_agents": n_agents} if env == C.NAV_ENV else dict(env_options or {})
    cfg: dict[str, Any] = {
        "dataset": {
            "env": env,
            "env_options": opts,
            "return_mode": "mean",
            "kind": "random",
            "size": size,
            "data_seed": 0,
        },
        **M.deploy_fields(m, section, settings, offline, nav_td3bc=td3bc_item),
        "eval_episodes": (
            settings.nav_eval_episodes if settings.nav_eval_episodes is not None else settings.eval_episodes
        ),
    }
    return {**cfg, **M.sampler_fields(m, settings, offline)}


def cells(item: str, profile: Profile, grid: Sequence[tuple[int, str]]) -> list[Cell]:
    return [
        Cell(
            "otc",
            item,
            {"env": C.NAV_ENV, "n_agents": n, "method": m},
            cell_config(profile, n, m, td3bc_item=True),
        )
        for n, m in grid
    ]


def run(
    description: str, item: str, build_cells: Callable, finish: Callable, methods: Sequence[str], argv=None
):
    return M.run(
        description,
        item,
        build_cells,
        finish,
        methods,
        argv,
        options={"n_agents": None},
        reuse_from=NAV_ITEMS,
    )


def finish_panels(
    records, results, profile: str, item: str, n_values: Sequence[int], grid: Sequence[tuple[int, str]]
) -> None:
    """One PNG per N (``<item>_n<N>.png``: S(pi^k) over the deployments per method), then the claims on a complete
    grid."""
    from common.reporting.plotting import plot_curves

    for n in n_values:
        recs = records.select(n_agents=n)
        if recs:
            png = plot_curves(
                recs,
                results / profile / "otc" / f"{item}_n{n}.png",
                ["method"],
                "score",
                f"OTC {item}, cooperative navigation, N = {n}",
                xlabel="deployment k",
            )
            print(f"[otc/{item}] wrote {png}", flush=True)
    keys = [{"env": C.NAV_ENV, "n_agents": n, "method": m} for n, m in grid]
    M.write_if_complete(records, results, profile, item, keys)
