"""OMAR Figure 1 (b, c, d): MA-TD3+BC, MA-CQL and OMAR on spread1d medium-replay (Sec. 3.1).

    python papers/omar/figure1.py --profile smoke      # or quick / full; --n-agents N (repeatable) runs part; --help

Cells (official hyperparameters of config.py through papers.omar.jobs.offline_config):
  (b) n_agents 2 x method {ma_td3bc, ma_cql, omar}: learning curves (raw return vs gradient step);
  (c) n_agents 1..5 x ma_cql (smoke: n = 1, 2, see AGENTS): MA-CQL's improvement over the behavior
      policy in percent, 100 (S_MA-CQL - R_behavior) / |R_behavior|, R_behavior = the mean episode return of that
      medium-replay dataset (its card's ``returns.mean``, recorded as ``behavior_return``);
  (d) n_agents 2 x "landscape": papers/omar/landscape.py (agent 0's Q1(o, a) on MA-CQL's critic).
Outputs under results/<profile>/omar/: figure1_b.png, figure1_c.png, figure1_d.png (figure1.png
is the report's generic plot) and one verdict per claim of figure1 (papers/omar/claims.py: 1b_omar_best,
1c_cql_degrades, 1d_rectified_action, each with its rule).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from common.reporting.claims import Evidence, check_claims
from common.reporting.figures import item_after
from common.reporting.plotting import plt, save
from common.running.cli import main as run_main
from common.running.experiment import Cell, Job
from common.running.store import Runs
from papers.omar.claims import CLAIMS, CURVE_METHODS, improvements
from papers.omar.config import PROFILE_OVERRIDES
from papers.omar.data_protocol import load_spec
from papers.omar.jobs import agents_filter, dataset_identity, offline_config, offline_job
from papers.omar.landscape import landscape_config, landscape_job

ITEM = Path(__file__).stem
ENV, KIND = "omar/spread1d", "medium-replay"
# n of panel (c) per profile. smoke: n = 1, 2 (a pipeline check; smoke datasets need not beat random).
AGENTS = {"smoke": (1, 2), "quick": (1, 2, 3, 4, 5), "full": (1, 2, 3, 4, 5)}


def build_cells(profile) -> list[Cell]:
    # (b) and (c)
    pairs = [(2, m) for m in CURVE_METHODS] + [(n, "ma_cql") for n in AGENTS[profile.name] if n != 2]
    out = [
        Cell(
            "omar", ITEM, {"n_agents": n, "method": m}, offline_config(profile, ENV, KIND, m, {"n_agents": n})
        )
        for n, m in pairs
    ]
    out.append(
        Cell(
            "omar",
            ITEM,
            {"n_agents": 2, "method": "landscape"},
            landscape_config(profile, ENV, KIND, {"n_agents": 2}),
        )
    )
    return out


def figure1_run(cell, seed: int, ctx) -> dict[str, Any]:
    """The landscape job for (d); else offline_job plus the dataset's own mean return (for c)."""
    if "landscape" in cell.config:
        return landscape_job(cell, seed, ctx)
    out = offline_job.run(cell, seed, ctx)
    ds = cell.config["dataset"]
    out["behavior_return"] = load_spec(ds, ds["kind"]).card["returns"]["mean"]
    return out


def figure1_dataset(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The dataset a cell trains on: (d)'s MA-CQL dataset, else the cell's own."""
    return config["ma_cql"]["dataset"] if "landscape" in config else config.get("dataset")


def figure1_group_key(config: Mapping[str, Any]) -> str | None:
    """(b) and (c)'s runs group as offline_job's do (common/running/grouping.py); (d)'s landscape job trains two
    learners of its own in sequence and runs alone (None)."""
    return None if "landscape" in config else offline_job.group_key(config)


def figure1_run_group(runs: Sequence[tuple[Any, int, Any]]) -> list[dict[str, Any]]:
    """(b) and (c)'s runs ``[(cell, seed, ctx)]`` of one group trained as ONE stacked learner
    (offline_job.run_group), each given its dataset's mean return as ``figure1_run`` gives a run alone."""
    outs = list(offline_job.run_group(runs))
    for out, (cell, _, _) in zip(outs, runs):
        ds = cell.config["dataset"]
        out["behavior_return"] = load_spec(ds, ds["kind"]).card["returns"]["mean"]
    return outs


figure1_job = Job(
    run=figure1_run,
    data_spec=figure1_dataset,
    data_identity=dataset_identity,
    group_key=figure1_group_key,
    run_group=figure1_run_group,
)


# ----------------------------------------------------------------------------------------------
# plots
# ----------------------------------------------------------------------------------------------
def plot_b(records: Runs, path: Path) -> Path:
    from common.reporting.plotting import plot_curves

    recs = records.where(lambda r: r.key("n_agents") == 2 and r.key("method") in CURVE_METHODS)
    return plot_curves(recs, path, ["method"], "score", "Fig. 1(b): 2-agent spread1d, medium-replay")


def plot_c(records: Runs, path: Path) -> Path:
    imp = improvements(records)
    p = plt()
    fig, ax = p.subplots(figsize=(5, 3.5))
    ns = sorted(imp)
    ax.bar(
        ns, [np.mean(imp[n]) for n in ns], yerr=[np.std(imp[n]) for n in ns], capsize=3, color="tab:orange"
    )
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xticks(ns)
    ax.set_xlabel("number of agents n")
    ax.set_ylabel("MA-CQL over behavior (%)")
    ax.set_title("Fig. 1(c): spread1d medium-replay")
    return save(fig, path)


def plot_d(records: Runs, path: Path) -> Path | None:
    recs = sorted(records.select(method="landscape"), key=lambda r: r.seed)
    if not recs:
        return None
    e, seed = recs[0].extra, recs[0].seed
    p = plt()
    fig, (a1, a2) = p.subplots(1, 2, figsize=(9, 3.6))
    a1.plot(e["grid"], e["q_grid_ma_cql"], color="k", lw=1)
    a1.plot(e["a_cur"], e["q_cur"], "o", color="red", ms=9, label="MA-CQL pi(o)")
    a1.plot(e["a_cql"], e["q_cql"], "^", color="green", ms=9, label="after MA-CQL step")
    a1.plot(e["a_omar"], e["q_omar"], "s", color="blue", ms=8, label="after OMAR step")
    a1.set_title(f"MA-CQL critic, agent 0, state {e['state_index']}")
    a2.plot(e["grid"], e["q_grid_omar"], color="k", lw=1)
    a2.plot(
        e["a_omar_policy"], e["q_omar_policy_own_critic"], "s", color="blue", ms=8, label="trained OMAR pi(o)"
    )
    a2.set_title("trained OMAR's critic, same state")
    for ax in (a1, a2):
        ax.set_xlabel("action a (agent 0)")
        ax.set_ylabel("Q1(o, a)")
        ax.legend(fontsize="small")
    fig.suptitle(
        f"Fig. 1(d), seed {seed}: the probe state where MA-CQL's pi(o) is furthest below the best Q",
        fontsize="small",
    )
    return save(fig, path)


def finish(records: Runs, results: Path, profile: str) -> None:
    out = results / profile / "omar"
    for name, fn in (("b", plot_b), ("c", plot_c), ("d", plot_d)):
        png = fn(records, out / f"{ITEM}_{name}.png")
        if png is not None:
            print(f"[omar/{ITEM}] wrote {png}", flush=True)
    check_claims(results, "omar", ITEM, CLAIMS, Evidence(records, profile))


def main(argv=None):
    return run_main(
        __doc__.splitlines()[0],
        build_cells,
        figure1_job,
        "omar",
        ITEM,
        paper_overrides=PROFILE_OVERRIDES,
        argv=argv,
        **agents_filter(ITEM),
        after=item_after("omar", ITEM, finish),
    )


if __name__ == "__main__":
    main()
