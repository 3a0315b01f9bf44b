"""OTC's claims: each claim's words (the paper's, then "Check:" and the rule) beside the rule's code
(common.reporting.claims): here Table 1 and Table 2; Figures 3-5 (MaMuJoCo's curves) in claims_curves.py, which also
holds what the MuJoCo claims read (the envs' short names, the seed-mean final return); Figures 6-8 in claims_nav.py;
``CLAIMS`` lists them all. The item scripts run the cells and write the verdicts (papers/otc/table1.py, table2.py,
figure3.py ... figure8.py).

A claim reads its item's grid at the profile (``Evidence.grid``, the cells the script plans). A cell counts once it has a
finished run for every seed of the profile (``finished_seeds``: a record with its curve, since OTC's improvement %
itself may be non-finite where S(pi^0) = 0); a (dataset, env, learner) row or a figure's panel counts once all its
cells do ("complete"). Table 1's and Figures 3-5's rules are judged on the complete rows and panels, and decided only
where the ones not run cannot change the verdict: a rule over every row fails on one complete row that breaks it
(``on_every_complete``) and holds once all are complete; a rule on a count (all, more than half, at most half of the
grid's comparisons) is decided once the comparisons not run cannot move it across its threshold
(``decided_count``); else it stays not checked, with what holds so far, so a partial run never reads as "does not
hold" unless the rows run already break the rule. t1_pi0_reasonable (ours) is judged on each complete row. Rules
on one cell (Figure 4's alpha trends, the AWAC footnote) wait for that cell only. "final" (in the figures' claims): a
cell's evaluation return of pi^K, the last point of its curve, averaged over seeds.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from common.reporting.claims import UNDECIDED, Claim, Evidence, Outcome, decided_count
from common.reporting.published import check_claim_list
from common.running.profiles import get_profile
from papers.otc import claims_curves, claims_nav
from papers.otc import config as C
from papers.otc.claims_curves import HC, SHORT, complete, finished_seeds
from papers.otc.offline_levels import offline_level
from papers.otc.published import ITEMS, TABLE1_METHODS
from papers.otc.published import TABLE2_METHODS as T2_METHODS

LEARNERS = ("bcq", "awac")  # Table 1's learners
AWAC_NORMALIZED_FAIL = 5.0  # t1_awac_fails_hc_random: "does not work" = D4RL-normalized S(pi^0) < 5
OVERHEAD_LIMIT = 1.25  # t2_overhead_below_25pct: "costs less than 25 % of the BCQ training time"
PI0_FRACTION = 0.5  # t1_pi0_reasonable (ours): S(pi^0) >= half the learner's published single-agent level


# ---- Table 1 -----------------------------------------------------------------------------------------------------
def paper_cells(ev: Evidence) -> list[Mapping[str, Any]]:
    """The grid's cells in the paper's columns (TABLE1_METHODS): a column of ours (``bcq_otc_de_joint``) is shown
    beside them, and no claim of the paper reads it."""
    return [k for k in ev.grid if k["method"] in TABLE1_METHODS]


def _t1(ev: Evidence) -> dict[str, Any]:
    """The grid's cells (env, dataset, method) in the paper's columns and (dataset, env, learner) rows, the complete
    rows (``done``), each cell's (mean, std, n) improvement, and the OTC-vs-uniform comparisons of the complete
    rows."""
    cells = [(k["env"], k["dataset"], k["method"]) for k in paper_cells(ev)]
    have = set(cells)
    rows = [
        (d, e, lr)
        for d in C.MUJOCO_DATASETS
        for e in C.MUJOCO_ENVS
        for lr in LEARNERS
        if all((e, d, m) in have for m in (lr, f"{lr}_otc_de", f"{lr}_otc_dq"))
    ]
    done = [
        (d, e, lr)
        for d, e, lr in rows
        if all(complete(ev, env=e, dataset=d, method=m) for m in (lr, f"{lr}_otc_de", f"{lr}_otc_dq"))
    ]
    stat = {(e, d, m): ev.runs.seed_means("score", env=e, dataset=d, method=m) for e, d, m in cells}
    beats, big, dq_wins, ev_beats = 0, 0, 0, []
    for d, e, lr in done:
        u_mean, u_std, _ = stat[(e, d, lr)]
        means = {}
        for dist in ("otc_de", "otc_dq"):
            mean, std, _ = stat[(e, d, f"{lr}_{dist}")]
            means[dist] = mean
            beats += mean > u_mean
            big += (mean - u_mean) > max(std, u_std)
        dq_wins += means["otc_dq"] > means["otc_de"]
        ev_beats.append(
            f"{d}/{SHORT[e]}/{lr}: d_e {means['otc_de']:.1f}, d_q {means['otc_dq']:.1f}, uniform {u_mean:.1f}"
        )
    return {
        "cells": cells,
        "rows": rows,
        "done": done,
        "stat": stat,
        "beats": beats,
        "big": big,
        "dq_wins": dq_wins,
        "ev_beats": ev_beats,
        "n_cmp": 2 * len(done),
    }


def _t1_count(t: dict[str, Any], count: int, n_open: int, rule: Callable[[int], bool], words: str) -> Outcome:
    """A Table 1 rule on a count over the complete rows (``decided_count``), with the rows not run named."""
    if not t["rows"]:
        return None, "no (dataset, env, learner) row in the grid"
    if not t["done"]:
        return None, f"none of the grid's {len(t['rows'])} (dataset, env, learner) rows complete"
    gone = len(t["rows"]) - len(t["done"])
    holds = decided_count(count, n_open, rule)
    if gone:
        words += f"; {len(t['done'])} of {len(t['rows'])} rows complete"
        if holds is None:
            words = "not decided by the rows run: " + words
    return holds, words


def pi0_reasonable(ev: Evidence, n_seeds: int | None = None) -> Outcome:
    """t1_pi0_reasonable: per complete (dataset, env, learner) row of the grid (each of its cells with ``n_seeds``
    finished seeds; default the profile's), the seed mean of the records' D4RL-normalized S(pi^0) against
    PI0_FRACTION x a yardstick: the learner's published level on the dataset (papers/otc/offline_levels.py), else
    the dataset's own D4RL-normalized mean return (the records' ``normalized_data_mean``)."""
    n = n_seeds if n_seeds is not None else get_profile(ev.profile, C.PROFILE_OVERRIDES).n_seeds
    rows: dict[tuple[str, str, str], list[dict]] = {}
    for k in paper_cells(ev):
        rows.setdefault((k["dataset"], k["env"], C.parse_method(k["method"]).learner), []).append(k)
    complete = sorted(  # Table 1's order: dataset, env, learner
        (r for r, cells in rows.items() if all(finished_seeds(ev.runs, c) >= n for c in cells)),
        key=lambda r: (C.MUJOCO_DATASETS.index(r[0]), C.MUJOCO_ENVS.index(r[1]), LEARNERS.index(r[2])),
    )
    if not complete:
        return (
            None,
            f"no (dataset, env, learner) row of the grid has all {n} seeds finished ({len(rows)} rows)",
        )
    words, ok, counted = [], True, 0
    for d, e, lr in complete:
        per_seed: dict[int, list[float]] = {}
        data_means: set[float] = set()
        for c in rows[(d, e, lr)]:
            for r in ev.runs.select(**c):
                if r.seed is not None and r.extra.get("normalized_s0") is not None:
                    per_seed.setdefault(int(r.seed), []).append(float(r.extra["normalized_s0"]))
                if r.extra.get("normalized_data_mean") is not None:
                    data_means.add(round(float(r.extra["normalized_data_mean"]), 6))
        task, level = C.TASK_OF[e], offline_level(C.TASK_OF[e], d, lr)
        yardstick = "published"
        if level is None and len(data_means) == 1:
            level, yardstick = data_means.pop(), "the data's mean"
        pi0 = sum(sum(v) / len(v) for v in per_seed.values()) / len(per_seed) if per_seed else None
        if level is None:
            why = "records on different data" if data_means else "nor the data's mean in its records"
            words.append(f"{task} {d} {lr}: no published level ({why})")
        elif pi0 is None:
            words.append(f"{task} {d} {lr}: no D4RL-normalized S(pi^0) in its records")
        else:
            counted += 1
            ok &= pi0 >= PI0_FRACTION * level
            pct = f"{100 * pi0 / level:.0f} %" if level > 0 else "n/a"
            words.append(f"{task} {d} {lr}: pi^0 {pi0:.1f} vs {yardstick} {level:.1f} ({pct})")
    head = (
        f"seed-mean D4RL-normalized S(pi^0) vs the learner's published single-agent level (else the data's mean "
        f"return), holds if >= {100 * PI0_FRACTION:.0f} % in every complete row with a yardstick ({counted} "
        f"counted, {len(complete)} of {len(rows)} rows complete): "
    )
    return (ok if counted else UNDECIDED), head + "; ".join(words)


def otc_beats_uniform(ev: Evidence) -> Outcome:
    t = _t1(ev)
    total = 2 * len(t["rows"])
    return _t1_count(
        t,
        t["beats"],
        total - t["n_cmp"],
        lambda c: c == total,
        f"OTC > uniform in {t['beats']} of {t['n_cmp']} comparisons (holds if all {total}); "
        + "; ".join(t["ev_beats"]),
    )


def otc_substantially_better(ev: Evidence) -> Outcome:
    t = _t1(ev)
    total = 2 * len(t["rows"])
    return _t1_count(
        t,
        t["big"],
        total - t["n_cmp"],
        lambda c: c > total / 2,
        f"OTC - uniform > the larger std in {t['big']} of {t['n_cmp']} comparisons (holds if > half of {total})",
    )


def dq_not_commonly_better(ev: Evidence) -> Outcome:
    t = _t1(ev)
    total = len(t["rows"])
    return _t1_count(
        t,
        t["dq_wins"],
        total - len(t["done"]),
        lambda c: c <= total / 2,
        f"d_q > d_e in {t['dq_wins']} of {len(t['done'])} rows (holds if at most half of {total})",
    )


def otc_improves_offline(ev: Evidence) -> Outcome:
    t = _t1(ev)
    otc_cells = [c for c in t["cells"] if "_otc_" in c[2]]
    done = [c for c in otc_cells if complete(ev, env=c[0], dataset=c[1], method=c[2])]
    positive = [c for c in done if t["stat"][c][0] > 0]
    if not done:
        return None, f"none of the grid's {len(otc_cells)} OTC cells complete"
    holds = decided_count(len(positive), len(otc_cells) - len(done), lambda c: c == len(otc_cells))
    words = f"{len(positive)} of {len(done)} OTC cells have a mean improvement > 0 (holds if all {len(otc_cells)})"
    negative = [
        f"{d}/{SHORT[e]}/{m} {t['stat'][(e, d, m)][0]:.1f}"
        for e, d, m in done
        if t["stat"][(e, d, m)][0] <= 0
    ]
    if negative:
        words += "; not: " + ", ".join(negative)
    if holds is None:
        words = "not decided by the cells run: " + words
    return holds, words


def awac_cells(ev: Evidence) -> list[Mapping[str, Any]]:
    """What t1_awac_fails_hc_random reads: the grid's AWAC cells on halfcheetah random (one pi^0 per seed)."""
    return [
        k for k in ev.grid if k["env"] == HC and k["dataset"] == "random" and k["method"].startswith("awac")
    ]


def awac_fails_hc_random(ev: Evidence) -> Outcome:
    cells = [(k["env"], k["dataset"], k["method"]) for k in ev.grid]
    fails = [c for c in cells if c[0] == HC and c[1] == "random" and c[2].startswith("awac")]
    norm = [
        r.extra["normalized_s0"]
        for r in ev.runs.select(env=HC, dataset="random")
        if str(r.key("method", "")).startswith("awac") and r.extra.get("normalized_s0") is not None
    ]
    low = sum(v < AWAC_NORMALIZED_FAIL for v in norm)
    return (
        bool(fails) and bool(norm) and low > len(norm) / 2,
        f"AWAC's pi^0 on halfcheetah random: D4RL-normalized {', '.join(f'{v:.1f}' for v in norm) or 'n/a'} "
        f"(< {AWAC_NORMALIZED_FAIL:g} in {low} of {len(norm)} seeds; holds if a majority)",
    )


# ---- Table 2 -----------------------------------------------------------------------------------------------------
def _t2(ev: Evidence) -> tuple[dict[str, float | None], str]:
    """ratio_to_bcq per method (mean over seeds; None where a record is missing) and the machine it was timed on."""
    ratio = {m: ev.runs.seed_means("score", method=m, quantity="ratio_to_bcq")[0] for m in T2_METHODS}
    ex = next((r.extra for r in ev.runs.select(quantity="ratio_to_bcq")), {})
    ms = ex.get("ms") or {}
    where = (
        f"{ex.get('device_name', '?')}, {ex.get('threads', '?')} thread(s), load average "
        f"{ex.get('loadavg_1min', '?')}; ms per update d_e+BCQ {ms.get('bcq_otc_de', float('nan')):.2f}, "
        f"d_q+BCQ {ms.get('bcq_otc_dq', float('nan')):.2f}, BCQ {ms.get('bcq', float('nan')):.2f}"
    )
    floor = ex.get("ratio_floor")
    if floor:  # the matrix products alone over BCQ's update (papers/otc/table2.py), records since 2026-11-29
        where += (
            f"; floor (BCQ + the methods' extra matmuls alone, / BCQ) d_e {floor['bcq_otc_de']:.2f}, d_q "
            f"{floor['bcq_otc_dq']:.2f} at {ex.get('peak_gflops', float('nan')):.0f} GFLOP/s"
        )
    return ratio, where


def _t2_rule(rule: Callable[[float, float, str], Outcome]) -> Callable[[Evidence], Outcome]:
    """A Table 2 claim on the ratio_to_bcq records of d_e and d_q (not checked while one of the three is missing)."""

    def check(ev: Evidence) -> Outcome:
        ratio, where = _t2(ev)
        if any(v is None for v in ratio.values()):
            return None, f"a ratio_to_bcq record of {', '.join(T2_METHODS)} is missing"
        return rule(ratio["bcq_otc_de"], ratio["bcq_otc_dq"], where)

    return check


def _overhead(de: float, dq: float, where: str) -> Outcome:
    return (
        de < OVERHEAD_LIMIT and dq < OVERHEAD_LIMIT,
        f"ratio_to_bcq d_e {de:.3f}, d_q {dq:.3f} (holds if both < {OVERHEAD_LIMIT}; published 1.224, 1.190 on a "
        f"GTX 1080Ti) on {where}",
    )


def _dq_not_slower(de: float, dq: float, where: str) -> Outcome:
    return dq <= de, (
        f"ratio_to_bcq d_q {dq:.3f} <= d_e {de:.3f}? (same BCQ baseline, so the same order as the ms; "
        f"published 13.8 <= 14.2 ms) on {where}"
    )


CLAIMS: list[Claim] = [
    # Table 1 (§4.2, abstract): first the precondition of its percentages, then the paper's claims
    Claim(
        item="table1",
        id="t1_pi0_reasonable",
        check=pi0_reasonable,
        text="Precondition of Table 1 (ours: the paper states no such rule). Table 1 prints the 'Performance "
        "improvement (%) at the last deployment compared with the offline-trained policies' (Table 1 caption), "
        "which is only meaningful if the offline-trained π^0 is a reasonable offline policy. Check: in every (dataset, env, learner) row whose cells all have the profile's seeds finished, "
        "the seed mean of π^0's D4RL-normalized score is >= half a yardstick: the learner's published "
        "single-agent level on that D4RL dataset (papers/otc/offline_levels.py: AWAC from IQL's Table 1, BCQ on "
        "medium from robomimic; OTC's agents see the full state, only the actions are split), else, where no "
        "level is published (BCQ on random and medium-replay, AWAC on random), the dataset's own D4RL-normalized "
        "mean return (an offline learner below half its data's average has not learned the behaviour). Rows "
        "without either are listed and not counted; not checked while no row is complete.",
    ),
    Claim(
        item="table1",
        id="t1_otc_beats_uniform",
        check=otc_beats_uniform,
        text="'The empirical results show that OTC with d_e (embedding-based distance) or d_q (value-based "
        "distance) substantially outperforms the baselines ... Since the online experiences are limited, "
        "uniformly sampling from the merged dataset is not effective at correcting the difference between "
        "transition dynamics' (§4.2). Check: in every (dataset, env) row and learner (bcq, awac), both "
        "<learner>_otc_de and <learner>_otc_dq have a mean improvement > <learner>'s. Holds in the "
        "published table: 34 of 34 comparisons (the 3 '–' cells excluded).",
    ),
    Claim(
        item="table1",
        id="t1_otc_substantially_better",
        check=otc_substantially_better,
        text="'OTC ... substantially outperforms the baselines' (§4.2). Check: of the comparisons of "
        "t1_otc_beats_uniform, a majority (> half) have OTC's mean - the uniform's mean > the larger of the "
        "two cells' std. Holds in the published table: 24 of 34.",
    ),
    Claim(
        item="table1",
        id="t1_dq_not_commonly_better",
        check=dq_not_commonly_better,
        text="'But d_q does not commonly outperform d_e' (§4.2). Check: <learner>_otc_dq's mean improvement > "
        "<learner>_otc_de's in at most half of the (dataset, env, learner) rows (bcq and awac pooled). "
        "Holds in the published table: 7 of 17 (BCQ 4 of 9, AWAC 3 of 8).",
    ),
    Claim(
        item="table1",
        id="t1_otc_improves_offline",
        check=otc_improves_offline,
        text="'OTC is simple yet effective to increase data efficiency and improve agent policies in online "
        "tuning' (abstract). Check: every OTC cell (<learner>_otc_de, <learner>_otc_dq) has a mean "
        "improvement > 0, i.e. π^K beats the offline-trained π^0. EXPECTED NOT TO HOLD: the published table "
        "has walker2d-random d_q+AWAC -14.8 and walker2d-medium-replay d_e+AWAC -8.0 (32 of 34 > 0).",
    ),
    Claim(
        item="table1",
        id="t1_awac_fails_hc_random",
        check=awac_fails_hc_random,
        reads=awac_cells,
        text="'AWAC does not work on halfcheetah-random, which is consistent with the result in AWAC paper' "
        "(Table 1, footnote †). Check (our reading of 'does not work'): on (random, halfcheetah-2x3), "
        "awac's offline-trained policy π^0 has a D4RL-normalized score < 5 (a random policy scores 0) in "
        "a majority of seeds. No published number (the cells print '–').",
    ),
    # Table 2 (§4.2)
    Claim(
        item="table2",
        id="t2_overhead_below_25pct",
        check=_t2_rule(_overhead),
        text="'The computation of transition similarity is on GPU, which is fully parallelized and very "
        "efficient ... The computation of transition similarity in OTC costs less than 25% of the BCQ "
        "training time' (§4.2). Check: ratio_to_bcq < 1.25 for both bcq_otc_de and bcq_otc_dq, timed on "
        "the same machine (the record names the device). Holds in the published table: 1.224 and 1.190.",
    ),
    Claim(
        item="table2",
        id="t2_dq_not_slower",
        check=_t2_rule(_dq_not_slower),
        text="Implied, not stated as a timing: 'by reusing the learned Q values, d_q does not introduce "
        "additional modules' (§4.2). Check: ms_per_update of bcq_otc_dq <= that of bcq_otc_de on the same "
        "machine. Holds in the published table: 13.8 <= 14.2 ms.",
    ),
    *claims_curves.CLAIMS,
    *claims_nav.CLAIMS,
]

# Claims the paper's own tables contradict (NOTES of table1): id -> the cells that break it.
# A verdict of "does not hold" on these is the paper's, not a failure of ours.
EXPECTED_NOT_TO_HOLD = {
    "t1_otc_improves_offline": "Table 1: walker2d-random d_q+AWAC -14.8 and walker2d-medium-replay d_e+AWAC -8.0 "
    "are below 0 (OTC ends below the offline-trained policy)",
}

check_claim_list(ITEMS, CLAIMS)
