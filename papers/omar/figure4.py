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
Outputs: results/<profile>/omar/figure4_sampling.png and one verdict per claim (published.CLAIMS):
  insensitive   for each parameter, max - min of the setting means <= the pooled seed std (root of
                the mean over its settings of the per-setting variance over seeds);
  all_beat_cql  every setting's mean > MA-CQL's mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from common.reporting.figures import averaged_over, figure_after, fmt, write_claims
from common.reporting.plotting import plt, save
from common.running.experiment import Cell
from papers.omar import config as C
from papers.omar.figure3 import QUICK_SEEDS
from papers.omar.jobs import offline_config, offline_job, run_item
from papers.omar.published import CLAIMS

ITEM = Path(__file__).stem
FIELDS = {"iters": "omar_iters", "samples": "omar_n_samples", "mu0": "omar_mu0", "sigma0": "omar_sigma0"}
DEFAULT = {"iters": C.MPE.omar_iters, "samples": C.MPE.omar_samples, "mu0": 0.0, "sigma0": 2.0}
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
            return Cell("omar", ITEM, {"dataset": kind, "env": env, "method": method, "param": param, "value": value},
                        offline_config(profile, env, kind, method, opts, **over))

        out.append(cell("ma_cql", None, None))
        out.append(cell("omar", "default", None))
        for param, values in GRIDS[profile.name].items():
            out += [cell("omar", param, v, **{FIELDS[param]: v}) for v in values]
    return out


def sweeps(records: Sequence[Mapping]) -> dict[str, Any]:
    """{"cql": (mean, std, n), param: {value: (mean, std, n)}} of the kind-averaged normalized score;
    each param's sweep includes the default setting at its default value."""
    kinds = sorted({r["keys"]["dataset"] for r in records if "dataset" in r.get("keys", {})})
    groups = [{"dataset": k} for k in kinds]
    out: dict[str, Any] = {"cql": averaged_over(records, "normalized", groups, method="ma_cql")}
    default = averaged_over(records, "normalized", groups, method="omar", param="default")
    for param in FIELDS:
        values = sorted({r["keys"]["value"] for r in records if r["keys"].get("param") == param})
        s = {v: averaged_over(records, "normalized", groups, method="omar", param=param, value=v) for v in values}
        if default[0] is not None:
            s[DEFAULT[param]] = default
        out[param] = {v: s[v] for v in sorted(s) if s[v][0] is not None}
    return out


def claim_insensitive(records: Sequence[Mapping]) -> tuple[bool, str]:
    s = sweeps(records)
    parts, ok = [], []
    for param in FIELDS:
        sw = s[param]
        if len(sw) < 2:
            parts.append(f"{param}: fewer than 2 settings")
            ok.append(False)
            continue
        means = [m for m, _, _ in sw.values()]
        spread = max(means) - min(means)
        pooled = float(np.sqrt(np.mean([sd ** 2 for _, sd, _ in sw.values()])))
        ok.append(spread <= pooled)
        parts.append(f"{param} range {spread:.1f} vs pooled std {pooled:.1f} over {len(sw)} settings")
    holds = all(ok)
    return holds, f"kind-averaged normalized score: {'; '.join(parts)}; insensitive (range <= pooled std): {holds}"


def claim_all_beat(records: Sequence[Mapping]) -> tuple[bool, str]:
    s = sweeps(records)
    c = s["cql"][0]
    settings = [(p, v, m) for p in FIELDS for v, (m, _, _) in s[p].items()]
    if c is None or not settings:
        return False, "needs MA-CQL and OMAR records with a normalized score"
    low = min(settings, key=lambda x: x[2])
    holds = all(m > c for _, _, m in settings)
    return holds, (f"MA-CQL {fmt(c)} ± {fmt(s['cql'][1])}; lowest OMAR setting {low[0]}={low[1]} at {fmt(low[2])} "
                   f"({len(settings)} (param, value) settings); all above MA-CQL: {holds}")


def verdicts(records: Sequence[Mapping]) -> dict[str, tuple[bool, str]]:
    return {"insensitive": claim_insensitive(records), "all_beat_cql": claim_all_beat(records)}


def plot(records: Sequence[Mapping], path: Path) -> Path:
    s = sweeps(records)
    p = plt()
    fig, axes = p.subplots(1, 4, figsize=(12, 3.2))
    for ax, param in zip(axes, FIELDS):
        vs = list(s[param])
        ax.errorbar(vs, [s[param][v][0] for v in vs], yerr=[s[param][v][1] for v in vs], marker="o", capsize=3,
                    label="OMAR")
        if s["cql"][0] is not None:
            ax.axhline(s["cql"][0], color="grey", ls=":", label="MA-CQL")
        ax.set_xlabel(param)
        ax.set_ylabel("normalized score (kind mean)")
        ax.legend(fontsize="small")
    fig.suptitle("Fig. 4: OMAR's sampling hyperparameters (cooperative navigation)", fontsize="small")
    return save(fig, path)


def finish(records: list[dict], results: Path, profile: str) -> None:
    png = plot(records, results / profile / "omar" / f"{ITEM}_sampling.png")
    print(f"[omar/{ITEM}] wrote {png}", flush=True)
    write_claims(results, profile, "omar", ITEM, verdicts(records), CLAIMS)


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, offline_job, argv, after=figure_after("omar", ITEM, finish),
                    default_seeds=QUICK_SEEDS)


if __name__ == "__main__":
    main()
