"""OMAR Figure 2: improvement of OMAR over MA-CQL with n = 1..5 agents (spread1d, medium-replay).

    python papers/omar/figure2.py --profile smoke      # or quick / full; --n-agents N (repeatable) runs part; --help

Cells: n_agents 1..5 x method {ma_cql, omar} on omar/spread1d medium-replay, official hyperparameters
(config.py via papers.omar.jobs.offline_config); smoke runs n = 1, 2 only (figure1.AGENTS).
Improvement (%) per n = 100 (mean S_OMAR - mean S_MA-CQL) / |mean S_MA-CQL| (raw returns, means over seeds).
Outputs: results/<profile>/omar/figure2_gain.png and one verdict per claim of figure2 (papers/omar/claims.py:
omar_beats_cql_all_n, gain_larger_multiagent, each with its rule).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.reporting.claims import Evidence, check_claims
from common.reporting.figures import item_after
from common.reporting.plotting import plt, save
from common.running.cli import main as run_main
from common.running.experiment import Cell
from common.running.store import Runs
from papers.omar.claims import CLAIMS, per_n
from papers.omar.config import PROFILE_OVERRIDES
from papers.omar.figure1 import AGENTS, ENV, KIND
from papers.omar.jobs import OFFLINE_JOB_ITEMS, agents_filter, offline_config, offline_job

ITEM = Path(__file__).stem
METHODS = ("ma_cql", "omar")
# Figure 1's MA-CQL (n = 1..5) and OMAR (n = 2) cells are this figure's cells run by offline_job (figure1_job only
# adds the dataset's mean return), so their finished runs on the same data are copied rather than re-run.
REUSE_FROM = (*OFFLINE_JOB_ITEMS, "figure1")


def build_cells(profile) -> list[Cell]:
    return [
        Cell(
            "omar", ITEM, {"n_agents": n, "method": m}, offline_config(profile, ENV, KIND, m, {"n_agents": n})
        )
        for n in AGENTS[profile.name]
        for m in METHODS
    ]


def plot(records: Runs, path: Path) -> Path:
    t = per_n(records)
    ns = list(t)
    p = plt()
    fig, (a1, a2) = p.subplots(1, 2, figsize=(9, 3.6))
    a1.bar(ns, [t[n]["gain"] for n in ns], color="tab:blue")
    a1.axhline(0.0, color="grey", lw=0.8)
    a1.set_ylabel("OMAR over MA-CQL (%)")
    w = 0.38
    a2.bar(
        np.array(ns) - w / 2,
        [t[n]["cql"] for n in ns],
        w,
        yerr=[t[n]["cql_std"] for n in ns],
        capsize=3,
        label="MA-CQL",
        color="tab:orange",
    )
    a2.bar(
        np.array(ns) + w / 2,
        [t[n]["omar"] for n in ns],
        w,
        yerr=[t[n]["omar_std"] for n in ns],
        capsize=3,
        label="OMAR",
        color="tab:blue",
    )
    a2.set_ylabel("final raw return (mean ± std)")
    a2.legend(fontsize="small")
    for ax in (a1, a2):
        ax.set_xticks(ns)
        ax.set_xlabel("number of agents n")
    fig.suptitle("Fig. 2: spread1d medium-replay", fontsize="small")
    return save(fig, path)


def finish(records: Runs, results: Path, profile: str) -> None:
    png = plot(records, results / profile / "omar" / f"{ITEM}_gain.png")
    print(f"[omar/{ITEM}] wrote {png}", flush=True)
    check_claims(results, "omar", ITEM, CLAIMS, Evidence(records, profile))


def main(argv=None):
    return run_main(
        __doc__.splitlines()[0],
        build_cells,
        offline_job,
        "omar",
        ITEM,
        paper_overrides=PROFILE_OVERRIDES,
        argv=argv,
        **agents_filter(ITEM),
        reuse_from=REUSE_FROM,
        after=item_after("omar", ITEM, finish),
    )


if __name__ == "__main__":
    main()
