"""OMAR Figure 4: the sampling hyperparameters (iterations, samples, mu0, sigma0) on cooperative navigation.

    python papers/omar/figure4.py --profile smoke      # or quick / full; --help (grid filters --dataset ...)

Cells on omar/spread (the paper: "in the cooperative navigation task ... averaged over different types
of datasets"), every dataset kind, official hyperparameters (config.py) except one sampling parameter
varied alone around the default (iterations 3, samples 10, mu0 0, sigma0 2); plus the default and
MA-CQL. Metric: normalized score averaged over the dataset kinds per seed, then mean ± std over seeds.
The paper's grids are not stated in our copy; ours:
  full   iters {1,2,3,4,5}, samples {5,10,20,50}, mu0 {-0.5,0,0.5}, sigma0 {0.5,1,2,3}, all four kinds;
  quick  iters {1,3,5}, samples {5,10,20}, mu0 {-0.5,0,0.5}, sigma0 {1,2,3} (fewer values), all four kinds,
         seeds 0, 1 (figure3.QUICK_SEEDS; 80 runs);
  smoke  one alternative per parameter, medium-replay only; pipeline check only.
Outputs: results/<profile>/omar/figure4_sampling.png and one verdict per claim of figure4 (papers/omar/claims.py:
insensitive, all_beat_cql, each with its rule).
"""

from __future__ import annotations

from pathlib import Path

from common.reporting.plotting import plt, save
from common.running.experiment import Cell
from common.running.store import Runs
from papers.omar import config as C
from papers.omar.claims import SAMPLING, sweeps
from papers.omar.figure3 import run_figure, sweep_panel
from papers.omar.jobs import offline_config

ITEM = Path(__file__).stem
# the config's fields
FIELDS = dict(zip(SAMPLING, ("omar_iters", "omar_n_samples", "omar_mu0", "omar_sigma0")))
GRIDS = {
    "smoke": {"iters": (1,), "samples": (5,), "mu0": (0.5,), "sigma0": (1.0,)},
    "quick": {"iters": (1, 5), "samples": (5, 20), "mu0": (-0.5, 0.5), "sigma0": (1.0, 3.0)},
    "full": {"iters": (1, 2, 4, 5), "samples": (5, 20, 50), "mu0": (-0.5, 0.5), "sigma0": (0.5, 1.0, 3.0)},
}  # values besides the default, which is one shared cell (param "default")
TASK = {"smoke": ("omar/spread", None), "quick": ("omar/spread", None), "full": ("omar/spread", None)}
KINDS = {"smoke": ("medium-replay",), "quick": C.DATASETS, "full": C.DATASETS}


def build_cells(profile) -> list[Cell]:
    env, opts = TASK[profile.name]
    out = []
    for kind in KINDS[profile.name]:

        def cell(method, param, value, **over):
            return Cell(
                "omar",
                ITEM,
                {"dataset": kind, "env": env, "method": method, "param": param, "value": value},
                offline_config(profile, env, kind, method, opts, **over),
            )

        out.append(cell("ma_cql", None, None))
        out.append(cell("omar", "default", None))
        for param, values in GRIDS[profile.name].items():
            out += [cell("omar", param, v, **{FIELDS[param]: v}) for v in values]
    return out


def plot(records: Runs, path: Path) -> Path:
    s = sweeps(records)
    p = plt()
    fig, axes = p.subplots(1, 4, figsize=(12, 3.2))
    for ax, param in zip(axes, FIELDS):
        vs = list(s[param])
        sweep_panel(ax, vs, [s[param][v] for v in vs], s["cql"][0], param, "normalized score (kind mean)")
    fig.suptitle("Fig. 4: OMAR's sampling hyperparameters (cooperative navigation)", fontsize="small")
    return save(fig, path)


def main(argv=None):
    return run_figure(__doc__, ITEM, build_cells, plot, "sampling", argv)


if __name__ == "__main__":
    main()
