"""OTC Figure 6: (a) predator-prey and (b) 4-agent cooperative navigation with BREMEN as the base learner, (c) the
non-stationary single-agent navigation with BCQ, (d) SMAC 5m_vs_6m with CQL (Sec. 4.4-4.6).

    python papers/otc/figure6.py --profile smoke      # or quick / full; --help

Panels (published.FIG6_PANELS), uniform-random data of 1 x 10^6 transitions [P] (papers/otc/datasets.py):
  a  otc/predator_prey (3 predators):      bremen vs bremen_otc_de (OTC's d_e sampler feeds BREMEN's dynamics models)
  b  otc/navigation, 4 agents:             bremen vs bremen_otc_de
  c  games/nonstationary_nav (one agent):  bcq vs bcq_otc_de; the data draw beta ~ U[-0.2, 0.2] per episode;
     deployment k runs at beta_k = 0.1 + 0.1 (k - 1) / (K - 1) and pi^k is evaluated at beta_{min(k + 1, K)}, the
     beta it faces next (pi^0 at beta_1) [I C22]; BCQ offline 5 x 10^4 updates [I C4], max_action 1
  d  smax/5m_vs_6m (SMAX for SMAC's 5m_vs_6m), the "medium" data (common.datasets.smax; 1 x 10^4 episodes at full):
     cql vs cql_otc_dq, discrete CQL(H) (common/algos/cql_discrete.py) with the paper's sequential online collection
     (agent j epsilon-greedy while the others act greedily, M = 1 % of the episodes per agent), y = the greedy test
     win rate (papers/otc/smax_items.py). Needs the [smax] extra (jaxmarl): without it panel d is reported as
     "needs SMAX" and its claim is not checked.
Grids: full and quick = the runnable panels; smoke = the same at smoke size. Outputs under
<results>/<profile>/otc/: figure6_<panel>.png and the verdicts (papers/otc/claims.py) f6ab_otc_beats_bremen,
f6c_offline_bcq_fails, f6c_otc_beats_bcq, f6d_otc_beats_cql on a complete grid only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from common.reporting.plotting import plot_curves
from common.running.evaluate import eval_seed, evaluate
from common.running.profiles import Profile
from papers.otc import mujoco_items as M
from papers.otc import nav_items as V
from papers.otc import smax_items as X
from papers.otc.claims_nav import NS_SUCCESS, RANDOM_EPISODES
from papers.otc.published import FIG6_PANELS

ITEM = Path(__file__).stem
NS_ENV = "games/nonstationary_nav"
NS_OFFLINE_BCQ = 50_000  # [I C4] offline BCQ updates on the non-stationary navigation


def panels() -> list[str]:
    """The panels this installation runs: a, b (BREMEN), c, and d where SMAX (jaxmarl) is installed."""
    return ["a", "b", "c"] + (["d"] if X.needs_smax() is None else [])


def betas(k_total: int) -> dict[str, list[float]]:
    """[I C22] deployment k = 1..K at beta_k = 0.1 + 0.1 (k - 1) / (K - 1); pi^k evaluated at beta_{min(k+1, K)}."""
    dep = [0.1 + 0.1 * (k - 1) / max(1, k_total - 1) for k in range(1, k_total + 1)]
    return {"deploy": dep, "eval": [dep[min(k, k_total - 1)] for k in range(k_total + 1)]}


def cell_config(profile: Profile, panel: str, method: str) -> dict[str, Any]:
    env = FIG6_PANELS[panel][0]
    if panel == "c":
        cfg = V.cell_config(
            profile,
            None,
            method,
            env=NS_ENV,
            env_options={"beta": None},
            max_action=1.0,
            offline=NS_OFFLINE_BCQ,
        )
        cfg["env_schedule"] = {"key": "beta", **betas(cfg["deployments"])}
        return cfg
    if panel == "b":
        return V.cell_config(profile, 4, method)
    if panel == "d":
        return X.cell_config(profile, method)
    return V.cell_config(profile, None, method, env=env, env_options={})


def grid(profile: str) -> list[tuple[str, str]]:
    return [(p, m) for p in panels() for m in FIG6_PANELS[p][2:]]


def build_cells(profile):
    return [
        M.Cell("otc", ITEM, {"panel": p, "env": FIG6_PANELS[p][0], "method": m}, cell_config(profile, p, m))
        for p, m in grid(profile.name)
    ]


def random_success(seed: int = 0) -> float:
    """Success rate of the uniform random policy on the non-stationary navigation at beta_1 = 0.1."""
    rng = np.random.default_rng(seed)
    r = evaluate(
        lambda obs: rng.uniform(-1, 1, size=(*obs.shape[:-1], 2)),
        NS_ENV,
        1,
        RANDOM_EPISODES,
        [eval_seed(seed)],
        env_options={"beta": 0.1},
    )
    return float((r.returns >= NS_SUCCESS).mean())


def finish(records, results: Path, profile: str) -> None:
    for p in panels():
        recs = records.select(panel=p)
        if recs:
            what = " (SMAX for SMAC), greedy test win rate" if p == "d" else ""
            png = plot_curves(
                recs,
                results / profile / "otc" / f"{ITEM}_{p}.png",
                ["method"],
                "score",
                f"Fig. 6{p}, {FIG6_PANELS[p][0]}{what}",
                xlabel="deployment k",
            )
            print(f"[otc/{ITEM}] wrote {png}", flush=True)
    lacking = X.needs_smax()
    if lacking:
        print(f"[otc/{ITEM}] panel d not run: it needs {lacking}", flush=True)
    keys = [{"panel": p, "env": FIG6_PANELS[p][0], "method": m} for p, m in grid(profile)]
    # random_success: when judged
    M.write_if_complete(
        records, results, profile, ITEM, keys, {"random_success": random_success, "smax_missing": lacking}
    )


def main(argv=None):
    methods = tuple(dict.fromkeys(m for p in FIG6_PANELS for m in FIG6_PANELS[p][2:]))
    return M.run(
        __doc__.splitlines()[0],
        ITEM,
        build_cells,
        finish,
        methods,
        argv,
        options={"panel": list(FIG6_PANELS)},
        reuse_from=(ITEM,),
        item_job=X.JOB,
    )


if __name__ == "__main__":
    main()
