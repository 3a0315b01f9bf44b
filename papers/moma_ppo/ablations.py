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

import argparse
import math
from itertools import combinations
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from common.reporting.figures import UNDECIDED, figure_after, write_claims
from common.reporting.plotting import plt, save
from common.running.cli import grid_filters
from common.running.experiment import Cell
from papers.moma_ppo import config as C
from papers.moma_ppo.figure6 import RULE, final_stats, show, significantly_above, world_model_mismatch
from papers.moma_ppo.jobs import ant_missing, ant_moma_variant_config, run_item, table4b_job
from papers.moma_ppo.published import ABLATION_VARIANTS, ANT_OBS, CLAIMS

ITEM = Path(__file__).stem
REUSE_FROM = ("table4b", "figure6")  # default = Table 4b's cell, no_adaptive = Figure 6's (epistemic, fixed)
VARIANTS = ABLATION_VARIANTS + tuple(C.OUR_ABLATIONS)  # the paper's, then ours
K_VARIANTS = {"k5": 5, "default": C.MOMA_ANT_ROLLOUT["k"], "k20": 20, "k50": 50}  # (e), in k's order


def grid(profile: str) -> list[tuple[str, str]]:
    """(obs_mode, variant) of the profile's grid."""
    return [(o, v) for o in C.ABLATION_OBS[profile] for v in C.ABLATION_VARIANTS_OF[profile]]


def build_cells(profile) -> list[Cell]:
    return [Cell("moma_ppo", ITEM, {"obs_mode": o, "variant": v}, ant_moma_variant_config(profile, o, **C.ABLATIONS[v]))
            for o, v in grid(profile.name)]


# ---- numbers from records --------------------------------------------------------------------------------------
def extra_values(records: Sequence[Mapping], key: str, **keys) -> list[float]:
    """The records' ``extra[key]`` for the cell ``keys`` (every seed); a key present with null (JSON has no inf: a
    non-finite value was written as null) reads as inf."""
    out = []
    for r in records:
        if all((r.get("keys") or {}).get(k) == v for k, v in keys.items()) and key in (r.get("extra") or {}):
            v = r["extra"][key]
            out.append(math.inf if v is None else float(v))
    return out


def _per_obs(records, obs_modes, variants, rule, how: str = RULE) -> tuple[bool | None, str]:
    """Apply ``rule(o, stats) -> (holds, text)`` per obs_mode of the grid with the final-score stats of
    ``variants``; None when a variant is not in the grid or a cell has no finite score."""
    parts, holds = [], True
    for o in obs_modes:
        st = {v: final_stats(records, obs_mode=o, variant=v) for v in variants}
        lack = [v for v, s in st.items() if s is None]
        if lack:
            return None, f"{o}: cells without a finite score: {', '.join(lack)}"
        mismatch = world_model_mismatch(records, [{"obs_mode": o, "variant": v} for v in variants])
        if mismatch:
            return UNDECIDED, f"{o}: {mismatch}"
        ok, text = rule(o, st)
        holds &= ok
        parts.append(text)
    return holds, f"{how}. " + "; ".join(parts)


def verdicts(records: Sequence[Mapping], obs_modes: Sequence[str] = ANT_OBS,
             variants: Sequence[str] = ABLATION_VARIANTS) -> dict[str, tuple[bool | None, str]]:
    """One verdict per ablation claim (published.CLAIMS; rules in their texts) over the grid's ``obs_modes`` and
    ``variants``; a claim whose variants are not in the grid is not checked (None, saying so)."""

    def needs(*vs):
        missing = [v for v in vs if v not in variants]
        return (None, f"not in this profile's grid: {', '.join(missing)}") if missing else None

    out: dict[str, tuple[bool | None, str]] = {}
    out["ab_ground_truth_scores_higher"] = needs("ground_truth", "default") or _per_obs(
        records, obs_modes, ("ground_truth", "default"),
        lambda o, st: (st["ground_truth"][0] > st["default"][0],
                       f"{o}: ground_truth {show(st['ground_truth'])} vs default {show(st['default'])}"),
        "higher: ground_truth's mean > default's")
    out["ab_no_clip_rollouts_explode"] = needs("no_clip", "default") or _no_clip(records, obs_modes)
    for cid, v in (("ab_lambda_g_needed", "no_lambda_g"), ("ab_adaptive_rollouts_needed", "no_adaptive")):
        out[cid] = needs(v, "default") or _per_obs(
            records, obs_modes, ("default", v),
            lambda o, st, v=v: (significantly_above(st["default"], st[v]),
                                f"{o}: default {show(st['default'])} vs {v} {show(st[v])} (Δ "
                                f"{st['default'][0] - st[v][0]:+.4f}, summed SEM {st['default'][1] + st[v][1]:.4f})"))
    ks = [v for v in K_VARIANTS if v in variants]
    if len(ks) < 2:
        out["ab_rollout_length_insensitive"] = (None, f"fewer than two k in this profile's grid ({ks})")
    else:
        def same(o, st):
            pairs = [(a, b) for a, b in combinations(ks, 2) if abs(st[a][0] - st[b][0]) > st[a][1] + st[b][1]]
            return not pairs, (f"{o}: " + ", ".join(f"k={K_VARIANTS[v]} {show(st[v])}" for v in ks)
                               + f"; pairs beyond the summed SEMs: {', '.join(f'{a}/{b}' for a, b in pairs) or 'none'}")

        left = [v for v in K_VARIANTS if v not in variants]
        holds, text = _per_obs(records, obs_modes, ks, same)
        out["ab_rollout_length_insensitive"] = (holds, text + (f"; not in this profile's grid: {', '.join(left)}"
                                                               if left and holds is not None else ""))
    return out


def _no_clip(records, obs_modes) -> tuple[bool | None, str]:
    """ab_no_clip_rollouts_explode: no_clip's mean rollout length over training (extra rollout_len_run_mean, mean
    over seeds) < k = 10 and < default's, and its largest |synthetic next obs| (wm_obs_absmax, max over seeds) > 10 x
    the dataset's largest |obs| (data_obs_absmax)."""
    k = K_VARIANTS["default"]
    parts, holds = [], True
    for o in obs_modes:
        ln, ld = (extra_values(records, "rollout_len_run_mean", obs_mode=o, variant=v) for v in ("no_clip", "default"))
        ab, data = (extra_values(records, key, obs_mode=o, variant="no_clip")
                    for key in ("wm_obs_absmax", "data_obs_absmax"))
        if not (ln and ld and ab and data):
            return None, f"{o}: no_clip or default has no record with rollout statistics yet"
        mismatch = world_model_mismatch(records, [{"obs_mode": o, "variant": v} for v in ("no_clip", "default")])
        if mismatch:
            return UNDECIDED, f"{o}: {mismatch}"
        mn, md, amax, dmax = float(np.mean(ln)), float(np.mean(ld)), max(ab), max(data)
        ok = mn < k and mn < md and amax > 10 * dmax
        holds &= ok
        parts.append(f"{o}: rollout length no_clip {mn:.2f} vs default {md:.2f} (k = {k}); largest |next obs| "
                     f"no_clip {amax:.3g} vs 10 x data {10 * dmax:.3g}")
    return holds, "; ".join(parts)


def plot(records: Sequence[Mapping], obs_modes: Sequence[str], variants: Sequence[str], path: Path) -> Path:
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


def finish(records: list[dict], results: Path, profile: str) -> None:
    obs_modes, variants = C.ABLATION_OBS[profile], C.ABLATION_VARIANTS_OF[profile]
    png = plot(records, obs_modes, variants, results / profile / "moma_ppo" / f"{ITEM}_panels.png")
    print(f"[moma_ppo/{ITEM}] wrote {png}", flush=True)
    write_claims(results, profile, "moma_ppo", ITEM, verdicts(records, obs_modes, variants), CLAIMS)


def main(argv=None):
    a = argparse.ArgumentParser(add_help=False)
    a.add_argument("--profile", default="quick")
    profile = a.parse_known_args(argv)[0].profile
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, table4b_job, argv=argv,
                    default_seeds={p: list(C.F6_SEEDS) for p in ("quick", "full")} | {"smoke": [0]},
                    needs=lambda: ant_missing([C.F6_DATASET], profile), reuse_from=REUSE_FROM,
                    after=figure_after("moma_ppo", ITEM, finish),
                    **grid_filters({"obs_mode": list(ANT_OBS), "variant": list(VARIANTS)}, ITEM))


if __name__ == "__main__":
    main()
