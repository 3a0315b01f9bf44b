"""MOMA-PPO's Ant claims, Figure 6 (uncertainty penalty x rollouts) and the ablations (Appendix B.2), each claim's words
beside the rule's code (common.reporting.claims; listed with the others in papers/moma_ppo/claims.py). The scripts
papers/moma_ppo/figure6.py and ablations.py run the cells and draw from the same numbers (``final_stats``,
``extra_values``).

The grid's obs modes (and the ablations' variants) are the profile's (``Evidence.grid``; the paper's when none is
given): a setting whose obs_mode is not in the grid is left out and named; a claim none of whose settings ran, or one
of whose cells has no finite score, is not checked; cells trained on different world models or MAPPO settings are not
compared (undecided).
"""

from __future__ import annotations

import json
import math
from itertools import combinations
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from common.reporting.claims import UNDECIDED, Claim, Evidence, Outcome, on_every
from common.running.store import Runs
from papers.moma_ppo import config as C
from papers.moma_ppo.published import ABLATION_VARIANTS, ANT_OBS, FIGURE6_PENALTIES

# f6_epistemic_beats_aleatoric
CLAIM_SETTINGS = (("partial", "adaptive"), ("partial", "fixed"), ("full", "fixed"))
RULE = "significant: Δ > SEM_a + SEM_b (SEM over seeds; 0 for one seed)"
K_VARIANTS = {"k5": 5, "default": C.MOMA_ANT_ROLLOUT["k"], "k20": 20, "k50": 50}  # (e), in k's order
Stats = tuple[float, float, int]


# ---- numbers from records ------------------------------------------------------------------------------------------
def final_stats(runs: Runs, **keys: Any) -> Stats | None:
    """(mean, SEM, n) over seeds of the final normalized score as a fraction (records' normalized / 100), or None
    when no seed has a finite score. SEM = std (ddof 1) / sqrt(n); 0 for one seed."""
    v = np.array(list(runs.seed_values("normalized", **keys).values()), dtype=float) / 100.0
    if not v.size:
        return None
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0, int(v.size)


def show(st: Stats) -> str:
    return f"{st[0]:.3f} ± {st[1]:.3f} (n={st[2]})"


def significantly_above(a: Stats, b: Stats) -> bool:
    """a's mean − b's mean > the summed SEMs (the claims' reading of "significantly")."""
    return a[0] - b[0] > a[1] + b[1]


def world_model_mismatch(runs: Runs, cells: Sequence[Mapping]) -> str | None:
    """None when the records of ``cells`` (key dicts) that sampled a learned world model all name one ensemble
    (``extra.world_model_sha256``; the ground-truth simulator names none) and all trained one MAPPO configuration
    (``config.mappo``); else the reason they are not compared: cells trained on different ensembles (e.g. before
    and after a change of the profile's world-model settings) or with different MAPPO settings (e.g. before and
    after quick's Ant MOMA-PPO took the code's 10-step histories, 2026-11-26) differ in more than the claim's
    variable."""
    shas: dict[str, set[str]] = {}
    mappos: dict[str, set[str]] = {}
    for keys in cells:
        mine = runs.select(**keys)
        name = "/".join(str(v) for v in keys.values())
        got = {r.extra.get("world_model_sha256") for r in mine} - {None}
        if got:
            shas[name] = got
        conf = {json.dumps(r.config.get("mappo"), sort_keys=True) for r in mine} - {"null"}
        if conf:
            mappos[name] = conf
    if len(set().union(*shas.values()) if shas else ()) > 1:
        return "the compared cells ran on different world models, so they are not compared: " + "; ".join(
            f"{c} {', '.join(x[:12] for x in sorted(v))}" for c, v in shas.items()
        )
    if len(set().union(*mappos.values()) if mappos else ()) > 1:
        return "the compared cells trained different MAPPO settings, so they are not compared: " + "; ".join(
            f"{c} {' | '.join(sorted(v))}" for c, v in mappos.items()
        )
    return None


def stats_or_missing(runs: Runs, cells: Sequence[Mapping]) -> tuple[dict, list[str]]:
    """The final stats of each cell (keyed by its values) and the cells without a finite score."""
    st, lack = {}, []
    for keys in cells:
        s = final_stats(runs, **keys)
        if s is None:
            lack.append("/".join(str(v) for v in keys.values()))
        else:
            st[tuple(keys.values())] = s
    return st, lack


def extra_values(runs: Runs, key: str, **keys: Any) -> list[float]:
    """The records' ``extra[key]`` for the cell ``keys`` (every seed); a key present with null (JSON has no inf: a
    non-finite value was written as null) reads as inf."""
    return [
        math.inf if r.extra[key] is None else float(r.extra[key])
        for r in runs.select(**keys)
        if key in r.extra
    ]


def obs_modes_of(ev: Evidence) -> tuple[str, ...]:
    """The obs modes of the profile's grid (the paper's, without a grid)."""
    return ev.grid_values("obs_mode") or ANT_OBS


# ---- Figure 6 --------------------------------------------------------------------------------------------------
def epistemic_beats_aleatoric(ev: Evidence) -> Outcome:
    obs_modes = obs_modes_of(ev)
    ran = [s for s in CLAIM_SETTINGS if s[0] in obs_modes]
    left = [s for s in CLAIM_SETTINGS if s[0] not in obs_modes]
    cells = [{"obs_mode": o, "penalty": p, "rollouts": r} for o, r in ran for p in FIGURE6_PENALTIES]
    st, lack = stats_or_missing(ev.runs, cells)
    if not ran:
        return None, f"none of its settings is in this profile's grid ({obs_modes})"
    if lack:
        return None, f"cells without a finite score: {', '.join(lack)}"
    if world_model_mismatch(ev.runs, cells):
        return UNDECIDED, world_model_mismatch(ev.runs, cells)

    def pair(setting: tuple[str, str, str]) -> Outcome:
        o, r, p = setting
        e, a = st[(o, "epistemic", r)], st[(o, p, r)]
        sig = significantly_above(e, a)
        return sig, (
            f"{o} {r}: epistemic {show(e)} vs {p} {show(a)} (Δ {e[0] - a[0]:+.4f}, summed SEM "
            f"{e[1] + a[1]:.4f}: {'significant' if sig else 'not significant'})"
        )

    holds, text = on_every([(o, r, p) for o, r in ran for p in FIGURE6_PENALTIES[1:]], pair, f"{RULE}. ")
    note = (
        f"; not in this profile's grid, so not judged: {', '.join(' '.join(s) for s in left)}" if left else ""
    )
    return holds, text + note


def fo_adaptive_not_significant(ev: Evidence) -> Outcome:
    obs_modes = obs_modes_of(ev)
    if "full" not in obs_modes:
        return None, f"FO is not in this profile's grid ({obs_modes})"
    cells = [{"obs_mode": "full", "penalty": p, "rollouts": "adaptive"} for p in FIGURE6_PENALTIES]
    st, lack = stats_or_missing(ev.runs, cells)
    if lack:
        return None, f"cells without a finite score: {', '.join(lack)}"
    if world_model_mismatch(ev.runs, cells):
        return UNDECIDED, world_model_mismatch(ev.runs, cells)
    e = st[("full", "epistemic", "adaptive")]
    best = max(FIGURE6_PENALTIES[1:], key=lambda p: st[("full", p, "adaptive")][0])
    a = st[("full", best, "adaptive")]
    ok = abs(e[0] - a[0]) <= e[1] + a[1]
    return ok, (
        f"{RULE}. full adaptive: epistemic {show(e)} vs the better aleatoric, {best} {show(a)}: |Δ| "
        f"{abs(e[0] - a[0]):.3f} {'≤' if ok else '>'} summed SEM {e[1] + a[1]:.3f}"
    )


# ---- Ablations ---------------------------------------------------------------------------------------------------
def per_obs(
    ev: Evidence, variants: Sequence[str], rule: Callable[[str, dict], tuple[bool, str]], how: str = RULE
) -> Outcome:
    """Apply ``rule(o, stats) -> (holds, text)`` per obs_mode of the grid with the final-score stats of
    ``variants``; None when a cell has no finite score, undecided when the cells ran on different world models."""

    def one(o: str) -> Outcome:
        st = {v: final_stats(ev.runs, obs_mode=o, variant=v) for v in variants}
        lack = [v for v, s in st.items() if s is None]
        if lack:
            return None, f"{o}: cells without a finite score: {', '.join(lack)}"
        mismatch = world_model_mismatch(ev.runs, [{"obs_mode": o, "variant": v} for v in variants])
        if mismatch:
            return UNDECIDED, f"{o}: {mismatch}"
        return rule(o, st)

    return on_every(obs_modes_of(ev), one, f"{how}. ")


def in_grid(*needed: str) -> Callable[[Callable[[Evidence], Outcome]], Callable[[Evidence], Outcome]]:
    """An ablation rule that is not checked while a variant it reads is not in the profile's grid."""

    def wrap(check: Callable[[Evidence], Outcome]) -> Callable[[Evidence], Outcome]:
        def checked(ev: Evidence) -> Outcome:
            variants = ev.grid_values("variant") or ABLATION_VARIANTS
            missing = [v for v in needed if v not in variants]
            return (None, f"not in this profile's grid: {', '.join(missing)}") if missing else check(ev)

        return checked

    return wrap


@in_grid("ground_truth", "default")
def ground_truth_scores_higher(ev: Evidence) -> Outcome:
    return per_obs(
        ev,
        ("ground_truth", "default"),
        lambda o, st: (
            st["ground_truth"][0] > st["default"][0],
            f"{o}: ground_truth {show(st['ground_truth'])} vs default {show(st['default'])}",
        ),
        "higher: ground_truth's mean > default's",
    )


@in_grid("no_clip", "default")
def no_clip_rollouts_explode(ev: Evidence) -> Outcome:
    """no_clip's mean rollout length over training (extra rollout_len_run_mean, mean over seeds) < k = 10 and <
    default's, and its largest |synthetic next obs| (wm_obs_absmax, max over seeds) > 10 x the dataset's largest
    |obs| (data_obs_absmax)."""
    k = K_VARIANTS["default"]

    def one(o: str) -> Outcome:
        ln, ld = (
            extra_values(ev.runs, "rollout_len_run_mean", obs_mode=o, variant=v)
            for v in ("no_clip", "default")
        )
        ab, data = (
            extra_values(ev.runs, key, obs_mode=o, variant="no_clip")
            for key in ("wm_obs_absmax", "data_obs_absmax")
        )
        if not (ln and ld and ab and data):
            return None, f"{o}: no_clip or default has no record with rollout statistics yet"
        mismatch = world_model_mismatch(
            ev.runs, [{"obs_mode": o, "variant": v} for v in ("no_clip", "default")]
        )
        if mismatch:
            return UNDECIDED, f"{o}: {mismatch}"
        mn, md, amax, dmax = float(np.mean(ln)), float(np.mean(ld)), max(ab), max(data)
        return mn < k and mn < md and amax > 10 * dmax, (
            f"{o}: rollout length no_clip {mn:.2f} vs default {md:.2f} (k = {k}); largest |next obs| no_clip "
            f"{amax:.3g} vs 10 x data {10 * dmax:.3g}"
        )

    return on_every(obs_modes_of(ev), one)


def needed(variant: str) -> Callable[[Evidence], Outcome]:
    """default's final mean significantly above ``variant``'s (the component it removes is needed)."""

    @in_grid(variant, "default")
    def check(ev: Evidence) -> Outcome:
        return per_obs(
            ev,
            ("default", variant),
            lambda o, st: (
                significantly_above(st["default"], st[variant]),
                f"{o}: default {show(st['default'])} vs {variant} {show(st[variant])} (Δ "
                f"{st['default'][0] - st[variant][0]:+.4f}, summed SEM "
                f"{st['default'][1] + st[variant][1]:.4f})",
            ),
        )

    return check


def rollout_length_insensitive(ev: Evidence) -> Outcome:
    variants = ev.grid_values("variant") or ABLATION_VARIANTS
    ks = [v for v in K_VARIANTS if v in variants]
    if len(ks) < 2:
        return None, f"fewer than two k in this profile's grid ({ks})"

    def same(o, st):
        pairs = [(a, b) for a, b in combinations(ks, 2) if abs(st[a][0] - st[b][0]) > st[a][1] + st[b][1]]
        return not pairs, (
            f"{o}: "
            + ", ".join(f"k={K_VARIANTS[v]} {show(st[v])}" for v in ks)
            + f"; pairs beyond the summed SEMs: {', '.join(f'{a}/{b}' for a, b in pairs) or 'none'}"
        )

    left = [v for v in K_VARIANTS if v not in variants]
    holds, text = per_obs(ev, ks, same)
    return holds, text + (
        f"; not in this profile's grid: {', '.join(left)}" if left and holds is not None else ""
    )


CLAIMS: list[Claim] = [
    # Figure 6 (§6.3; App. B.2)
    Claim(
        item="figure6",
        id="f6_epistemic_beats_aleatoric",
        check=epistemic_beats_aleatoric,
        text="'using epistemic uncertainty always significantly outperforms using aleatoric uncertainty except in "
        "the case of full observability and adaptive rollouts' (§6.3). Check: on Ant full-replay, in each of "
        "(partial, adaptive), (partial, fixed) and (full, fixed), epistemic's final mean − each of "
        "aleatoric_1's and aleatoric_5's > the summed SEMs.",
    ),
    Claim(
        item="figure6",
        id="f6_fo_adaptive_not_significant",
        check=fo_adaptive_not_significant,
        text="'... except in the case of full observability and adaptive rollouts where the comparison is not "
        "statistically significant' (§6.3). Check: in (full, adaptive), |epistemic − aleatoric_λ| ≤ the "
        "summed SEMs for the better of aleatoric_1 and aleatoric_5 (the one with the higher final mean).",
    ),
    # Ablations (§6.3; App. B.2)
    Claim(
        item="ablations",
        id="ab_ground_truth_scores_higher",
        check=ground_truth_scores_higher,
        text="'using the ground-truth simulator yielded higher scores suggesting that the performance of MOMA-PPO "
        "can be further improved by learning a more accurate world model' (§6.3). Check: for each obs_mode "
        "run, ground_truth's final mean > default's.",
    ),
    Claim(
        item="ablations",
        id="ab_no_clip_rollouts_explode",
        check=no_clip_rollouts_explode,
        text="'not clipping the generated next-states to the dataset's bounding box prevented generating length "
        "10 rollouts as the states' magnitude exploded after a few world-model steps' (§6.3). Check: for "
        "no_clip, the mean synthetic rollout length over training (record extra 'rollout_len_run_mean') < 10 "
        "and < default's, and the largest |next obs| generated (extra 'wm_obs_absmax') > 10 × the dataset's "
        "largest |obs| (extra 'data_obs_absmax').",
    ),
    Claim(
        item="ablations",
        id="ab_lambda_g_needed",
        check=needed("no_lambda_g"),
        text="'the use of uncertainty penalty (λ_g) ... [is] necessary to achieve satisfactory results' (§6.3). "
        "Check: for each obs_mode run, default's final mean − no_lambda_g's > the summed SEMs.",
    ),
    Claim(
        item="ablations",
        id="ab_adaptive_rollouts_needed",
        check=needed("no_adaptive"),
        text="'the use of ... adaptive rollouts' length (l_ϵ) [is] necessary to achieve satisfactory results' "
        "(§6.3). Check: for each obs_mode run, default's final mean − no_adaptive's > the summed SEMs.",
    ),
    Claim(
        item="ablations",
        id="ab_rollout_length_insensitive",
        check=rollout_length_insensitive,
        text="'varying the rollout's maximum length from 5 to 50 did not significantly impact performance' "
        "(§6.3). Check: for each obs_mode run, every pair among k5, default (k = 10), k20, k50 has "
        "|Δ final mean| ≤ the summed SEMs.",
    ),
]
