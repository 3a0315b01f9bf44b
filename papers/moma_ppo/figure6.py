"""MOMA-PPO Figure 6 (App. B.2, §6.3): epistemic vs aleatoric (MOPO) penalty, with and without adaptive rollouts.

    python papers/moma_ppo/figure6.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/moma_ppo/figure6.py --profile quick --penalty aleatoric_1 --rollouts fixed

Cells (config.F6_*): obs_mode {full, partial} x penalty {epistemic (MOMA-PPO's lambda_g eps_g + lambda_r eps_r,
0.1 / 0.05), aleatoric_1, aleatoric_5 (MOPO's lambda max_m ||Sigma_m||_F, lambda = 1, 5, no epistemic term)} x
rollouts {adaptive (cut where eps_g >= l_eps = 2), fixed (l_eps = inf)} on Ant full-replay = 12 cells, 3 seeds; quick
runs PO only (spec §7): 6 cells. Every cell is Table 4b's MOMA-PPO cell at the same profile with the world model's
sampling changed (jobs.ant_moma_variant_config: the same trained ensemble); (epistemic, adaptive) *is* Table 4b's
full-replay cell, so its finished runs are copied from table4b (REUSE_FROM) rather than re-run.
Outputs under <results>/<profile>/moma_ppo/: figure6_<obs_mode>.png (learning curves: normalized score as a fraction
against MOMA-PPO iterations, mean ± SEM over seeds) and the verdicts of f6_epistemic_beats_aleatoric and
f6_fo_adaptive_not_significant. "Significantly" is published.py's convention: mean_a − mean_b > SEM_a + SEM_b of the
final scores (SEM over seeds, ddof 1; 0 with one seed, so smoke compares means).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from common.datasets.returns import normalize
from common.reporting.claims import Evidence, check_claims
from common.reporting.figures import item_after
from common.reporting.plotting import plt, save
from common.running.cli import grid_filters
from common.running.experiment import Cell
from common.running.record import Record
from common.running.store import Runs
from papers.moma_ppo import config as C
from papers.moma_ppo.claims import CLAIMS
from papers.moma_ppo.jobs import ant_missing, ant_moma_variant_config, run_item, table4b_job
from papers.moma_ppo.published import ANT_OBS, FIGURE6_PENALTIES, FIGURE6_ROLLOUTS

ITEM = Path(__file__).stem
REUSE_FROM = ("table4b",)  # (epistemic, adaptive) = Table 4b's MOMA-PPO full-replay cell, run by the same job


def cell_keys(profile: str) -> list[tuple[str, str, str]]:
    """(obs_mode, penalty, rollouts) of the profile's grid, in the paper's order."""
    return [(o, p, r) for o in C.F6_OBS[profile] for p in FIGURE6_PENALTIES for r in FIGURE6_ROLLOUTS]


def build_cells(profile) -> list[Cell]:
    return [
        Cell(
            "moma_ppo",
            ITEM,
            {"obs_mode": o, "penalty": p, "rollouts": r},
            ant_moma_variant_config(profile, o, wm_sampling={**C.F6_PENALTIES[p], **C.F6_ROLLOUTS[r]}),
        )
        for o, p, r in cell_keys(profile.name)
    ]


def curve_fraction(record: Record) -> dict[int, float]:
    """step -> the evaluation's normalized score as a fraction (the record's reference scores)."""
    refs = record.extra.get("ref_scores")
    out = {}
    for p in record.curve or []:
        if p.get("score") is not None and refs and math.isfinite(float(p["score"])):
            out[int(p["step"])] = float(normalize(float(p["score"]), refs)) / 100.0
    return out


def plot(records: Runs, obs_mode: str, path: Path) -> Path:
    """Learning curves of one obs_mode: colour = penalty, solid = adaptive, dashed = fixed; mean ± SEM over seeds."""
    fig, ax = plt().subplots(figsize=(6.4, 4))
    colors = dict(zip(FIGURE6_PENALTIES, ("tab:blue", "tab:orange", "tab:red")))
    for p in FIGURE6_PENALTIES:
        for r, style in zip(FIGURE6_ROLLOUTS, ("-", "--")):
            curves = [
                curve_fraction(x)
                for x in records
                if x.keys == {"obs_mode": obs_mode, "penalty": p, "rollouts": r}
            ]
            curves = [c for c in curves if c]
            if not curves:
                continue
            steps = sorted(set.intersection(*(set(c) for c in curves)))
            y = np.array([[c[t] for t in steps] for c in curves])  # [seeds, steps]
            m = y.mean(0)
            sem = y.std(0, ddof=1) / math.sqrt(len(curves)) if len(curves) > 1 else np.zeros_like(m)
            ax.plot(
                steps,
                m,
                style,
                color=colors[p],
                marker="o" if style == "-" else "s",
                fillstyle="full" if style == "-" else "none",
                label=f"{p}, {r} (n={len(curves)})",
            )
            ax.fill_between(steps, m - sem, m + sem, color=colors[p], alpha=0.15)
    ax.set_xlabel("MOMA-PPO iteration")
    ax.set_ylabel("normalized score (fraction)")
    ax.set_title(f"Fig. 6: Ant full-replay, {'FO' if obs_mode == 'full' else 'PO'}", fontsize="small")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small")
    return save(fig, path)


def finish(records: Runs, results: Path, profile: str) -> None:
    for o in C.F6_OBS[profile]:
        png = plot(records, o, results / profile / "moma_ppo" / f"{ITEM}_{o}.png")
        print(f"[moma_ppo/{ITEM}] wrote {png}", flush=True)
    grid = [{"obs_mode": o, "penalty": p, "rollouts": r} for o, p, r in cell_keys(profile)]
    check_claims(results, "moma_ppo", ITEM, CLAIMS, Evidence(records, profile, grid))


def run_ant_item(
    doc: str,
    item: str,
    build_cells: Callable,
    finish: Callable,
    reuse_from: Sequence[str],
    filters: Mapping[str, list],
    argv=None,
):
    """The main of an Ant item trained by Table 4b's job (Figure 6, the ablations): seeds F6_SEEDS (smoke: 0), Ant's
    F6_DATASET needed at the profile, finished runs copied from ``reuse_from``, grid filters ``filters`` (key ->
    values), ``finish(records, results, profile)`` after a clean run."""
    import argparse

    a = argparse.ArgumentParser(add_help=False)
    a.add_argument("--profile", default="quick")
    profile = a.parse_known_args(argv)[0].profile
    return run_item(
        doc.splitlines()[0],
        item,
        build_cells,
        table4b_job,
        argv=argv,
        default_seeds={p: list(C.F6_SEEDS) for p in ("quick", "full")} | {"smoke": [0]},
        needs=lambda: ant_missing([C.F6_DATASET], profile),
        reuse_from=reuse_from,
        after=item_after("moma_ppo", item, finish),
        **grid_filters(filters, item),
    )


def main(argv=None):
    return run_ant_item(
        __doc__,
        ITEM,
        build_cells,
        finish,
        REUSE_FROM,
        {"obs_mode": list(ANT_OBS), "penalty": list(FIGURE6_PENALTIES), "rollouts": list(FIGURE6_ROLLOUTS)},
        argv,
    )


if __name__ == "__main__":
    main()
