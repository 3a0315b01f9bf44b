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

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from common.datasets.returns import normalize
from common.reporting.figures import UNDECIDED, figure_after, seed_values, write_claims
from common.reporting.plotting import plt, save
from common.running.cli import grid_filters
from common.running.experiment import Cell
from papers.moma_ppo import config as C
from papers.moma_ppo.jobs import ant_missing, ant_moma_variant_config, run_item, table4b_job
from papers.moma_ppo.published import ANT_OBS, CLAIMS, FIGURE6_PENALTIES, FIGURE6_ROLLOUTS

ITEM = Path(__file__).stem
REUSE_FROM = ("table4b",)  # (epistemic, adaptive) = Table 4b's MOMA-PPO full-replay cell, run by the same job
CLAIM_SETTINGS = (("partial", "adaptive"), ("partial", "fixed"), ("full", "fixed"))  # f6_epistemic_beats_aleatoric
RULE = "significant: Δ > SEM_a + SEM_b (SEM over seeds; 0 for one seed)"


def cell_keys(profile: str) -> list[tuple[str, str, str]]:
    """(obs_mode, penalty, rollouts) of the profile's grid, in the paper's order."""
    return [(o, p, r) for o in C.F6_OBS[profile] for p in FIGURE6_PENALTIES for r in FIGURE6_ROLLOUTS]


def build_cells(profile) -> list[Cell]:
    return [Cell("moma_ppo", ITEM, {"obs_mode": o, "penalty": p, "rollouts": r},
                 ant_moma_variant_config(profile, o, wm_sampling={**C.F6_PENALTIES[p], **C.F6_ROLLOUTS[r]}))
            for o, p, r in cell_keys(profile.name)]


# ---- numbers from records --------------------------------------------------------------------------------------
def final_stats(records: Sequence[Mapping], **keys) -> tuple[float, float, int] | None:
    """(mean, SEM, n) over seeds of the final normalized score as a fraction (records' normalized / 100), or None
    when no seed has a finite score. SEM = std (ddof 1) / sqrt(n); 0 for one seed."""
    v = np.array(list(seed_values(records, "normalized", **keys).values()), dtype=float) / 100.0
    if not v.size:
        return None
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0, int(v.size)


def show(st: tuple[float, float, int]) -> str:
    return f"{st[0]:.3f} ± {st[1]:.3f} (n={st[2]})"


def significantly_above(a: tuple[float, float, int], b: tuple[float, float, int]) -> bool:
    """a's mean − b's mean > the summed SEMs (published.py's reading of "significantly")."""
    return a[0] - b[0] > a[1] + b[1]


def world_model_mismatch(records: Sequence[Mapping], cells: Sequence[Mapping]) -> str | None:
    """None when the records of ``cells`` (key dicts) that sampled a learned world model all name one ensemble
    (``extra.world_model_sha256``; the ground-truth simulator names none) and all trained one MAPPO configuration
    (``config.mappo``); else the reason they are not compared: cells trained on different ensembles (e.g. before
    and after a change of the profile's world-model settings) or with different MAPPO settings (e.g. before and
    after quick's Ant MOMA-PPO took the code's 10-step histories, 2026-11-26) differ in more than the claim's
    variable."""
    shas: dict[str, set[str]] = {}
    mappos: dict[str, set[str]] = {}
    for keys in cells:
        mine = [r for r in records if all((r.get("keys") or {}).get(k) == v for k, v in keys.items())]
        name = "/".join(str(v) for v in keys.values())
        got = {(r.get("extra") or {}).get("world_model_sha256") for r in mine} - {None}
        if got:
            shas[name] = got
        conf = {json.dumps((r.get("config") or {}).get("mappo"), sort_keys=True) for r in mine} - {"null"}
        if conf:
            mappos[name] = conf
    if len(set().union(*shas.values()) if shas else ()) > 1:
        return ("the compared cells ran on different world models, so they are not compared: "
                + "; ".join(f"{c} {', '.join(x[:12] for x in sorted(v))}" for c, v in shas.items()))
    if len(set().union(*mappos.values()) if mappos else ()) > 1:
        return ("the compared cells trained different MAPPO settings, so they are not compared: "
                + "; ".join(f"{c} {' | '.join(sorted(v))}" for c, v in mappos.items()))
    return None


def _stats_or_missing(records, cells: Sequence[Mapping]) -> tuple[dict, list[str]]:
    st, lack = {}, []
    for keys in cells:
        s = final_stats(records, **keys)
        if s is None:
            lack.append("/".join(str(v) for v in keys.values()))
        else:
            st[tuple(keys.values())] = s
    return st, lack


def verdicts(records: Sequence[Mapping], obs_modes: Sequence[str] = ANT_OBS) -> dict[str, tuple[bool | None, str]]:
    """One verdict per Figure 6 claim (published.CLAIMS; rules in their texts), from the final scores of the cells
    of ``obs_modes`` (the profile's grid). A setting whose obs_mode is not in the grid is left out and named; a claim
    none of whose settings ran, or one of whose cells has no finite score, is not checked (None)."""
    out: dict[str, tuple[bool | None, str]] = {}
    ran = [s for s in CLAIM_SETTINGS if s[0] in obs_modes]
    left = [s for s in CLAIM_SETTINGS if s[0] not in obs_modes]
    cells = [{"obs_mode": o, "penalty": p, "rollouts": r} for o, r in ran for p in FIGURE6_PENALTIES]
    st, lack = _stats_or_missing(records, cells)
    if not ran:
        out["f6_epistemic_beats_aleatoric"] = (None, f"none of its settings is in this profile's grid ({obs_modes})")
    elif lack:
        out["f6_epistemic_beats_aleatoric"] = (None, f"cells without a finite score: {', '.join(lack)}")
    elif world_model_mismatch(records, cells):
        out["f6_epistemic_beats_aleatoric"] = (UNDECIDED, world_model_mismatch(records, cells))
    else:
        parts, holds = [], True
        for o, r in ran:
            e = st[(o, "epistemic", r)]
            for p in FIGURE6_PENALTIES[1:]:
                a = st[(o, p, r)]
                sig = significantly_above(e, a)
                holds &= sig
                parts.append(f"{o} {r}: epistemic {show(e)} vs {p} {show(a)} (Δ {e[0] - a[0]:+.4f}, summed SEM "
                             f"{e[1] + a[1]:.4f}: {'significant' if sig else 'not significant'})")
        note = (f"; not in this profile's grid, so not judged: {', '.join(' '.join(s) for s in left)}"
                if left else "")
        out["f6_epistemic_beats_aleatoric"] = (holds, f"{RULE}. " + "; ".join(parts) + note)
    if "full" not in obs_modes:
        out["f6_fo_adaptive_not_significant"] = (None, f"FO is not in this profile's grid ({obs_modes})")
    else:
        cells = [{"obs_mode": "full", "penalty": p, "rollouts": "adaptive"} for p in FIGURE6_PENALTIES]
        st, lack = _stats_or_missing(records, cells)
        if lack:
            out["f6_fo_adaptive_not_significant"] = (None, f"cells without a finite score: {', '.join(lack)}")
        elif world_model_mismatch(records, cells):
            out["f6_fo_adaptive_not_significant"] = (UNDECIDED, world_model_mismatch(records, cells))
        else:
            e = st[("full", "epistemic", "adaptive")]
            best = max(FIGURE6_PENALTIES[1:], key=lambda p: st[("full", p, "adaptive")][0])
            a = st[("full", best, "adaptive")]
            ok = abs(e[0] - a[0]) <= e[1] + a[1]
            out["f6_fo_adaptive_not_significant"] = (ok, f"{RULE}. full adaptive: epistemic {show(e)} vs the better "
                                                     f"aleatoric, {best} {show(a)}: |Δ| {abs(e[0] - a[0]):.3f} "
                                                     f"{'≤' if ok else '>'} summed SEM {e[1] + a[1]:.3f}")
    return out


def curve_fraction(record: Mapping) -> dict[int, float]:
    """step -> the evaluation's normalized score as a fraction (the record's reference scores)."""
    refs = (record.get("extra") or {}).get("ref_scores")
    out = {}
    for p in record.get("curve") or []:
        if p.get("score") is not None and refs and math.isfinite(float(p["score"])):
            out[int(p["step"])] = float(normalize(float(p["score"]), refs)) / 100.0
    return out


def plot(records: Sequence[Mapping], obs_mode: str, path: Path) -> Path:
    """Learning curves of one obs_mode: colour = penalty, solid = adaptive, dashed = fixed; mean ± SEM over seeds."""
    fig, ax = plt().subplots(figsize=(6.4, 4))
    colors = dict(zip(FIGURE6_PENALTIES, ("tab:blue", "tab:orange", "tab:red")))
    for p in FIGURE6_PENALTIES:
        for r, style in zip(FIGURE6_ROLLOUTS, ("-", "--")):
            curves = [curve_fraction(x) for x in records if x.get("keys") == {"obs_mode": obs_mode, "penalty": p,
                                                                              "rollouts": r}]
            curves = [c for c in curves if c]
            if not curves:
                continue
            steps = sorted(set.intersection(*(set(c) for c in curves)))
            y = np.array([[c[t] for t in steps] for c in curves])  # [seeds, steps]
            m = y.mean(0)
            sem = y.std(0, ddof=1) / math.sqrt(len(curves)) if len(curves) > 1 else np.zeros_like(m)
            ax.plot(steps, m, style, color=colors[p], marker="o" if style == "-" else "s",
                    fillstyle="full" if style == "-" else "none", label=f"{p}, {r} (n={len(curves)})")
            ax.fill_between(steps, m - sem, m + sem, color=colors[p], alpha=0.15)
    ax.set_xlabel("MOMA-PPO iteration")
    ax.set_ylabel("normalized score (fraction)")
    ax.set_title(f"Fig. 6: Ant full-replay, {'FO' if obs_mode == 'full' else 'PO'}", fontsize="small")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small")
    return save(fig, path)


def finish(records: list[dict], results: Path, profile: str) -> None:
    obs_modes = C.F6_OBS[profile]
    for o in obs_modes:
        png = plot(records, o, results / profile / "moma_ppo" / f"{ITEM}_{o}.png")
        print(f"[moma_ppo/{ITEM}] wrote {png}", flush=True)
    write_claims(results, profile, "moma_ppo", ITEM, verdicts(records, obs_modes), CLAIMS)


def main(argv=None):
    import argparse

    a = argparse.ArgumentParser(add_help=False)
    a.add_argument("--profile", default="quick")
    profile = a.parse_known_args(argv)[0].profile
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, table4b_job, argv=argv,
                    default_seeds={p: list(C.F6_SEEDS) for p in ("quick", "full")} | {"smoke": [0]},
                    needs=lambda: ant_missing([C.F6_DATASET], profile), reuse_from=REUSE_FROM,
                    after=figure_after("moma_ppo", ITEM, finish),
                    **grid_filters({"obs_mode": list(ANT_OBS), "penalty": list(FIGURE6_PENALTIES),
                                    "rollouts": list(FIGURE6_ROLLOUTS)}, ITEM))


if __name__ == "__main__":
    main()
