"""MOMA-PPO App. B.2 ablations (§6.3): ground-truth simulator, no clipping, no lambda_g, no adaptive rollouts, k.

    python papers/moma_ppo/ablations.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/moma_ppo/ablations.py --profile quick --variant no_clip

Cells (config.ABLATIONS, jobs.ant_moma_variant_config): Ant full-replay [I: the paper names no task] x obs_mode x
variant: default (Table 4b's MOMA-PPO cell, k = 10: its finished runs are copied), (a) ground_truth (the true MuJoCo
physics instead of the learned model: papers/moma_ppo/simulator.py; no penalty, no adaptive cut), (b) no_clip (next
states and rewards not clipped to the dataset's box), (c) no_lambda_g (lambda_g = 0, lambda_r kept), (d) no_adaptive
(l_eps = inf: Figure 6's (epistemic, fixed) cell, copied when it ran), (e) k5, k20, k50 (maximum rollout length); and one of ours (config.OUR_ABLATIONS: no published number, no claim):
monotonic_mixer (MAPPO's V mixer with |w|, the paper's §3.2 QMIX, instead of the code's unconstrained w).
Grids (config.ABLATION_OBS / ABLATION_VARIANTS_OF): smoke FO and PO x all 9 = 18 cells, full the paper's 8 = 16;
quick PO x {default, ground_truth, no_clip, no_adaptive, k5, k20} = 6 cells (spec §7: "PO only, ablation (b) and k in {5, 10, 20}"; (a)
added: README "Table 4b"). 3 seeds (smoke 1). Cells compared by a claim must share one world model (records' extra
world_model_sha256, figure6.world_model_mismatch), else the claim is undecided.
Outputs under <results>/<profile>/moma_ppo/: ablations_panels.png (per obs_mode: final normalized score, mean synthetic
rollout length over training, largest |synthetic next obs| / the dataset's) and one verdict per claim; a claim is
judged on the obs_modes / variants of the profile's grid and says which it left out ("significantly": published.py's
mean_a − mean_b > SEM_a + SEM_b; the rollout statistics are the records' rollout_len_run_mean, wm_obs_absmax,
data_obs_absmax, written by jobs.moma_run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from common.reporting.claims import Evidence, check_claims
from common.reporting.plotting import plt, save
from common.running.experiment import Cell
from common.running.store import Runs
from papers.moma_ppo import config as C
from papers.moma_ppo.claims import CLAIMS
from papers.moma_ppo.claims_ant import extra_values, final_stats
from papers.moma_ppo.figure6 import run_ant_item
from papers.moma_ppo.jobs import ant_moma_variant_config
from papers.moma_ppo.published import ABLATION_VARIANTS, ANT_OBS

ITEM = Path(__file__).stem
REUSE_FROM = ("table4b", "figure6")  # default = Table 4b's cell, no_adaptive = Figure 6's (epistemic, fixed)
VARIANTS = ABLATION_VARIANTS + tuple(C.OUR_ABLATIONS)  # the paper's, then ours


def grid(profile: str) -> list[tuple[str, str]]:
    """(obs_mode, variant) of the profile's grid."""
    return [(o, v) for o in C.ABLATION_OBS[profile] for v in C.ABLATION_VARIANTS_OF[profile]]


def build_cells(profile) -> list[Cell]:
    return [
        Cell(
            "moma_ppo",
            ITEM,
            {"obs_mode": o, "variant": v},
            ant_moma_variant_config(profile, o, **C.ABLATIONS[v]),
        )
        for o, v in grid(profile.name)
    ]


def plot(records: Runs, obs_modes: Sequence[str], variants: Sequence[str], path: Path) -> Path:
    """Per obs_mode (columns): final normalized score (mean ± SEM), mean rollout length over training, and the
    largest |synthetic next obs| relative to the dataset's, per variant."""
    fig, axes = plt().subplots(3, len(obs_modes), figsize=(4.2 * len(obs_modes), 8), squeeze=False)
    x = np.arange(len(variants))
    for j, o in enumerate(obs_modes):
        st = [final_stats(records, obs_mode=o, variant=v) for v in variants]
        axes[0, j].bar(x, [s[0] if s else np.nan for s in st], yerr=[s[1] if s else 0 for s in st], capsize=3)
        axes[0, j].set_title(f"Ant full-replay, {'FO' if o == 'full' else 'PO'}", fontsize="small")
        lens = [extra_values(records, "rollout_len_run_mean", obs_mode=o, variant=v) for v in variants]
        axes[1, j].bar(x, [np.mean(v) if v else np.nan for v in lens])
        ratio = []
        for v in variants:
            ab = extra_values(records, "wm_obs_absmax", obs_mode=o, variant=v)
            data = extra_values(records, "data_obs_absmax", obs_mode=o, variant=v)
            ratio.append(min(max(ab) / max(data), 1e6) if ab and data and max(data) > 0 else np.nan)
        axes[2, j].bar(x, ratio)
        axes[2, j].set_yscale("log")
        for i, lab in enumerate(("final score (fraction)", "rollout length", "max |next obs| / data's")):
            axes[i, j].set_ylabel(lab, fontsize="small")
            axes[i, j].set_xticks(x, variants, rotation=35, ha="right", fontsize="x-small")
    return save(fig, path)


def finish(records: Runs, results: Path, profile: str) -> None:
    obs_modes, variants = C.ABLATION_OBS[profile], C.ABLATION_VARIANTS_OF[profile]
    png = plot(records, obs_modes, variants, results / profile / "moma_ppo" / f"{ITEM}_panels.png")
    print(f"[moma_ppo/{ITEM}] wrote {png}", flush=True)
    cells = [{"obs_mode": o, "variant": v} for o, v in grid(profile)]
    check_claims(results, "moma_ppo", ITEM, CLAIMS, Evidence(records, profile, cells))


def main(argv=None):
    return run_ant_item(
        __doc__,
        ITEM,
        build_cells,
        finish,
        REUSE_FROM,
        {"obs_mode": list(ANT_OBS), "variant": list(VARIANTS)},
        argv,
    )


if __name__ == "__main__":
    main()
