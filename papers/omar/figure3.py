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
from typing import Callable, Sequence

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
    "smoke": (("omar/spread", None),),
    "quick": MPE_TASKS,
    "full": MPE_TASKS,
}
KINDS = {"smoke": ("random", "expert"), "quick": C.DATASETS, "full": C.DATASETS}
# the ablation figures run 2 seeds at quick (the tables run the profile's 3); --seeds overrides
QUICK_SEEDS = {"quick": (0, 1)}


def build_cells(profile) -> list[Cell]:
    out = []
    for kind in KINDS[profile.name]:
        for env, opts in TASKS[profile.name]:
            out.append(
                Cell(
                    "omar",
                    ITEM,
                    {"dataset": kind, "env": env, "method": "ma_cql", "tau": None},
                    offline_config(profile, env, kind, "ma_cql", opts),
                )
            )
            out += [
                Cell(
                    "omar",
                    ITEM,
                    {"dataset": kind, "env": env, "method": "omar", "tau": tau},
                    offline_config(profile, env, kind, "omar", opts, omar_tau=tau),
                )
                for tau in TAUS[profile.name]
            ]
    return out


def sweep_panel(
    ax, xs: Sequence[float], omar: Sequence[tuple], cql: float | None, xlabel: str, ylabel: str
) -> None:
    """One panel of Figures 3 and 4: OMAR's score (mean ± std over seeds: ``omar[i]`` at ``xs[i]``) against the swept
    value, and MA-CQL's mean ``cql`` as a dotted line (none without MA-CQL records)."""
    ax.errorbar(xs, [m[0] for m in omar], yerr=[m[1] for m in omar], marker="o", capsize=3, label="OMAR")
    if cql is not None:
        ax.axhline(cql, color="grey", ls=":", label="MA-CQL")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")


def plot(records: Runs, path: Path) -> Path:
    t = tau_table(records)
    p = plt()
    fig, axes = p.subplots(1, max(1, len(t)), figsize=(3.2 * max(1, len(t)), 3.4), squeeze=False)
    for ax, (kind, v) in zip(axes[0], t.items()):
        taus = sorted(v["tau"])
        sweep_panel(ax, taus, [v["tau"][x] for x in taus], v["cql"][0], "tau", "normalized score (task mean)")
        ax.set_title(kind)
    fig.suptitle("Fig. 3: OMAR's regularization coefficient", fontsize="small")
    return save(fig, path)


def run_figure(
    doc: str, item: str, build_cells: Callable, plot: Callable[[Runs, Path], Path], png: str, argv=None
):
    """The main of OMAR's ablation figures (3 and 4): the item's cells by offline_job (2 seeds at quick,
    QUICK_SEEDS), then ``plot`` drawn to <results>/<profile>/omar/<item>_<png>.png and the item's claims' verdicts."""

    def finish(records: Runs, results: Path, profile: str) -> None:
        out = plot(records, results / profile / "omar" / f"{item}_{png}.png")
        print(f"[omar/{item}] wrote {out}", flush=True)
        check_claims(results, "omar", item, CLAIMS, Evidence(records, profile))

    return run_item(
        doc.splitlines()[0],
        item,
        build_cells,
        offline_job,
        argv,
        after=item_after("omar", item, finish),
        default_seeds=QUICK_SEEDS,
    )


def main(argv=None):
    return run_figure(__doc__, ITEM, build_cells, plot, "tau", argv)


if __name__ == "__main__":
    main()
