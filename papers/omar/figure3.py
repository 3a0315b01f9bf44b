"""OMAR Figure 3: ablation of the regularization coefficient tau per dataset kind (Sec. 5.1).

    python papers/omar/figure3.py --profile smoke      # or quick / full; --help (grid filters --env ...)

Cells: dataset kind x task x {OMAR with tau in TAUS, MA-CQL}; every other hyperparameter is the
official one of config.py (papers.omar.jobs.offline_config; tau replaces the per-dataset omar_coe).
tau = 0 is MA-CQL's actor loss plus an unused search (the random stream differs), tau = 1 pure
imitation of the searched action. Metric: normalized score, averaged over the tasks per seed (the
paper: "the averaged normalized score of OMAR over different tasks"), then mean ± std over seeds.
The paper's figure has no numbers in our copy and its tau grid is not stated; ours:
  full   tau in {0, 0.1, 0.3, 0.5, 0.7, 0.9, 1}, spread / tag / world, all four kinds;
  quick  tau in {0, 0.5, 0.9, 1} and seeds 0, 1 (QUICK_SEEDS; for compute: 120 runs, about 1.7 core-hours
         here), spread / tag / world, all four kinds; 0.9 is the code's most common per-dataset value;
  smoke  tau in {0.5, 1}, omar/spread standing in for the three tasks, kinds random and expert;
         pipeline check only.
Outputs: results/<profile>/omar/figure3_tau.png and one verdict per claim of figure3 (papers/omar/claims.py:
best_tau_interior, every_tau_beats_cql, tau_smaller_low_quality, each with its rule).
"""

from __future__ import annotations

from pathlib import Path

from common.reporting.claims import Evidence, check_claims
from common.reporting.figures import item_after
from common.reporting.plotting import plt, save
from common.running.experiment import Cell
from common.running.store import Runs
from papers.omar import config as C
from papers.omar.claims import CLAIMS, tau_table
from papers.omar.jobs import offline_config, offline_job, run_item

ITEM = Path(__file__).stem
TAUS = {"smoke": (0.5, 1.0), "quick": (0.0, 0.5, 0.9, 1.0), "full": (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)}
MPE_TASKS = tuple((env, None) for env in C.ENVS_MPE)
TASKS: dict[str, tuple[tuple[str, dict | None], ...]] = {
    "smoke": (("omar/spread", None),), "quick": MPE_TASKS, "full": MPE_TASKS}
KINDS = {"smoke": ("random", "expert"), "quick": C.DATASETS, "full": C.DATASETS}
# the ablation figures run 2 seeds at quick (the tables run the profile's 3); --seeds overrides
QUICK_SEEDS = {"quick": (0, 1)}


def build_cells(profile) -> list[Cell]:
    out = []
    for kind in KINDS[profile.name]:
        for env, opts in TASKS[profile.name]:
            out.append(Cell("omar", ITEM, {"dataset": kind, "env": env, "method": "ma_cql", "tau": None},
                            offline_config(profile, env, kind, "ma_cql", opts)))
            out += [Cell("omar", ITEM, {"dataset": kind, "env": env, "method": "omar", "tau": tau},
                         offline_config(profile, env, kind, "omar", opts, omar_tau=tau)) for tau in TAUS[profile.name]]
    return out


def plot(records: Runs, path: Path) -> Path:
    t = tau_table(records)
    p = plt()
    fig, axes = p.subplots(1, max(1, len(t)), figsize=(3.2 * max(1, len(t)), 3.4), squeeze=False)
    for ax, (kind, v) in zip(axes[0], t.items()):
        taus = sorted(v["tau"])
        ax.errorbar(taus, [v["tau"][x][0] for x in taus], yerr=[v["tau"][x][1] for x in taus], marker="o",
                    capsize=3, label="OMAR")
        if v["cql"][0] is not None:
            ax.axhline(v["cql"][0], color="grey", ls=":", label="MA-CQL")
        ax.set_title(kind)
        ax.set_xlabel("tau")
        ax.set_ylabel("normalized score (task mean)")
        ax.legend(fontsize="small")
    fig.suptitle("Fig. 3: OMAR's regularization coefficient", fontsize="small")
    return save(fig, path)


def finish(records: Runs, results: Path, profile: str) -> None:
    png = plot(records, results / profile / "omar" / f"{ITEM}_tau.png")
    print(f"[omar/{ITEM}] wrote {png}", flush=True)
    check_claims(results, "omar", ITEM, CLAIMS, Evidence(records, profile))


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, offline_job, argv, after=item_after("omar", ITEM, finish),
                    default_seeds=QUICK_SEEDS)


if __name__ == "__main__":
    main()
