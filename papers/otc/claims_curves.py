"""OTC's claims on the MaMuJoCo learning curves, Figures 3-5 (OTC on BCQ; adaptive vs fixed alpha; the sampling
strategies): each claim's words beside the rule's code (common.reporting.claims), listed with the others in
papers/otc/claims.py, whose module docstring gives the rules' conventions ("final": a cell's evaluation return of
pi^K, the last point of its curve, averaged over seeds). Also what these and Table 1's claims read: the envs' short
names (``SHORT``, ``HC``), the seed-mean final return, a curve field over seeds, an item's tasks, alpha_i^k.
papers/otc/figure3.py, figure4.py and figure5.py run the cells.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from common.reporting.claims import UNDECIDED, Claim, Evidence, Outcome, on_every_complete, whole_grid
from common.running.profiles import get_profile
from common.running.store import Runs
from papers.otc import config as C
from papers.otc.published import FIG4_CELLS, FIG4_METHODS, FIG5_METHODS

SHORT = {e: e.split("/")[1] for e in C.MUJOCO_ENVS}
HC = C.MUJOCO_ENVS[0]
ADAPTIVE, FIXED = FIG4_METHODS
OTC5, BR, UNIFORM, ONLINE = FIG5_METHODS


# ---- what the curve claims read -----------------------------------------------------------------------------------
def finished_seeds(runs: Runs, keys: Mapping[str, Any]) -> int:
    """Seeds of the cell ``keys`` with a finished run (a record with its curve): OTC's improvement % itself
    may be non-finite where S(pi^0) = 0 (e.g. the non-stationary navigation), and the run still counts."""
    return len({int(r.seed) for r in runs.select(**keys) if r.curve and r.seed is not None})


def complete(ev: Evidence, **keys: Any) -> bool:
    """Whether the cell ``keys`` has a finished run for every seed of the profile."""
    return finished_seeds(ev.runs, keys) >= get_profile(ev.profile, C.PROFILE_OVERRIDES).n_seeds


def panel_complete(ev: Evidence, methods: Sequence[str]) -> Callable[[tuple[str, str]], bool]:
    """Whether an (env, dataset) panel has every cell of ``methods`` complete."""
    return lambda task: all(complete(ev, env=task[0], dataset=task[1], method=m) for m in methods)


def panel_name(task: tuple[str, str]) -> str:
    return f"{task[1]}/{SHORT[task[0]]}"


def cells_of(**match: Any) -> Callable[[Evidence], list[Mapping[str, Any]]]:
    """A claim's ``reads``: the grid's cells whose keys equal ``match``."""
    return lambda ev: [k for k in ev.grid if all(k.get(n) == v for n, v in match.items())]


def finals(runs: Runs, **keys: Any) -> tuple[float | None, int]:
    """(mean over seeds of S(pi^K), the last evaluation of the curve; number of seeds)."""
    vals = [float(r.final()) for r in runs.select(**keys) if r.final() is not None]
    return (float(np.mean(vals)) if vals else None), len(vals)


def curve_values(runs: Runs, field: str, **keys: Any) -> np.ndarray:
    """[seeds, K + 1] (or [seeds, K + 1, N] for per-agent fields) of a curve field over the matching records;
    entries without the field are NaN."""
    rows = [
        [p.get(field, np.nan) if p.get(field) is not None else np.nan for p in r.curve or []]
        for r in runs.select(**keys)
    ]
    return np.asarray(rows, dtype=float)


def tasks(ev: Evidence) -> list[tuple[str, str]]:
    """The (env, dataset) tasks of a MuJoCo item's grid, in its order."""
    return list(dict.fromkeys((k["env"], k["dataset"]) for k in ev.grid))


# ---- Figure 3 ----------------------------------------------------------------------------------------------------
def f3_otc_above_bcq(ev: Evidence) -> Outcome:
    def panel(task: tuple[str, str]) -> Outcome:
        e, d = task
        f = {m: finals(ev.runs, env=e, dataset=d, method=m)[0] for m in ("bcq_otc_de", "bcq_otc_dq", "bcq")}
        good = f["bcq_otc_de"] > f["bcq"] and f["bcq_otc_dq"] > f["bcq"]
        return good, (
            f"{d}/{SHORT[e]}: {'yes' if good else 'no'} (d_e {f['bcq_otc_de']:.1f}, "
            f"d_q {f['bcq_otc_dq']:.1f}, BCQ {f['bcq']:.1f})"
        )

    methods = ("bcq_otc_de", "bcq_otc_dq", "bcq")
    return on_every_complete(
        tasks(ev), panel_complete(ev, methods), panel, panel_name, "S(pi^K), seed means; "
    )


# ---- Figure 4 ----------------------------------------------------------------------------------------------------
def alphas(runs: Runs, dataset: str) -> np.ndarray:
    """alpha_i^k of the adaptive runs: [seeds, K, N] (deployments k = 1..K)."""
    adaptive = runs.select(method=ADAPTIVE, dataset=dataset, env=HC)
    return np.asarray([[p["alpha"] for p in r.curve[1:]] for r in adaptive], dtype=float)


def collapsed_embedding(runs: Runs, dataset: str, env: str = HC) -> str | None:
    """Why the adaptive d_e runs (``bcq_otc_de``) on (``env``, ``dataset``) cannot test d_e, or None: an agent whose
    DD^k (the mean d_e distance, the curve's ``dd``) is exactly 0 at every deployment of every seed has a collapsed
    CVAE embedding (one mu for all transitions): Eq. (4) then keeps its alpha at alpha^0 whatever the data, and Eq.
    (3) ranks its rows by their position in B, i.e. samples as uniform does (README, Findings)."""
    per_seed = [
        [p.get("dd") for p in r.curve[1:]] for r in runs.select(method=ADAPTIVE, dataset=dataset, env=env)
    ]
    if not per_seed or any(v is None for seed in per_seed for v in seed):
        return None  # a deployment without DD recorded: not judged collapsed
    flat = np.asarray(per_seed, dtype=float)  # [seeds, K, N], deployments k = 1..K
    if flat.ndim != 3:
        return None
    dead = [i for i in range(flat.shape[2]) if (flat[:, :, i] == 0).all()]
    if not dead:
        return None
    return (
        f"d_e's CVAE embedding collapsed on {dataset}/{SHORT[env]}: DD^k = 0 at every deployment of every seed for "
        f"agent(s) {', '.join(map(str, dead))}, so Eq. (4) keeps their alpha at alpha^0 and Eq. (3) samples their rows "
        "as uniform does; the runs cannot test d_e's correction"
    )


def _alpha_path(a: np.ndarray) -> str:
    return ", ".join(
        f"agent {i}: " + " -> ".join(f"{x:.2f}" for x in a[[0, -3, -1] if len(a) >= 3 else [0, -1], i])
        for i in range(a.shape[1])
    )


def f4_adaptive_beats_fixed(ev: Evidence) -> Outcome:
    def panel(task: tuple[str, str]) -> Outcome:
        e, d = task
        a, f = (finals(ev.runs, env=e, dataset=d, method=m)[0] for m in (ADAPTIVE, FIXED))
        return a > f, f"{d}: adaptive {a:.1f} vs fixed {f:.1f}"

    return on_every_complete(
        FIG4_CELLS, panel_complete(ev, FIG4_METHODS), panel, panel_name, "S(pi^K), seed means: "
    )


def f4_alpha_grows_replay(ev: Evidence) -> Outcome:
    if not alphas(ev.runs, "medium-replay").size:
        return None, "no adaptive run on medium-replay"
    if why := collapsed_embedding(ev.runs, "medium-replay"):
        return UNDECIDED, why
    rep = alphas(ev.runs, "medium-replay").mean(0)  # [K, N] seed means
    return bool(
        (rep[-1] > rep[0]).all()
    ), f"medium-replay alpha^1 -> alpha^(K-2) -> alpha^K: {_alpha_path(rep)}"


def f4_alpha_stable_replay(ev: Evidence) -> Outcome:
    if not alphas(ev.runs, "medium-replay").size:
        return None, "no adaptive run on medium-replay"
    if why := collapsed_embedding(ev.runs, "medium-replay"):
        return UNDECIDED, why
    rep = alphas(ev.runs, "medium-replay").mean(0)
    stable = bool((np.abs(rep[-1] - rep[-3]) < np.abs(rep[-3] - rep[0])).all()) if len(rep) >= 3 else False
    return stable, f"|alpha^K - alpha^(K-2)| < |alpha^(K-2) - alpha^1| per agent; {_alpha_path(rep)}"


def f4_alpha_differs_random(ev: Evidence) -> Outcome:
    if not alphas(ev.runs, "random").size:
        return None, "no adaptive run on random"
    if why := collapsed_embedding(ev.runs, "random"):
        return UNDECIDED, why
    ran = alphas(ev.runs, "random").mean(0)
    r = ran[-1] / ran[0]
    differs = bool(np.sign(r[0] - 1) != np.sign(r[1] - 1) or r.max() / r.min() > 1.25)
    return differs, (
        "random r_i = alpha_i^K / alpha_i^1: "
        + ", ".join(f"{x:.2f}" for x in r)
        + " (holds if the signs of r_i - 1 differ or max/min > 1.25)"
    )


# ---- Figure 5 ----------------------------------------------------------------------------------------------------
def _f5(rule: Callable[[dict[str, float]], bool]) -> Callable[[Evidence], Outcome]:
    """A Figure 5 claim: ``rule(final return per method)`` on every panel of the grid."""

    def check(ev: Evidence) -> Outcome:
        def panel(task: tuple[str, str]) -> Outcome:
            e, d = task
            f = {m: finals(ev.runs, env=e, dataset=d, method=m)[0] for m in FIG5_METHODS}
            words = f"{d}/{SHORT[e]}: " + ", ".join(f"{m} {f[m]:.1f}" for m in FIG5_METHODS)
            if why := collapsed_embedding(ev.runs, d, e):  # OTC5 is d_e: its correction absent on this panel
                return UNDECIDED, f"{why}; {words}"
            return rule(f), words

        return on_every_complete(
            tasks(ev), panel_complete(ev, FIG5_METHODS), panel, panel_name, "S(pi^K), seed means; "
        )

    return check


def f5_online_only_overfits(ev: Evidence) -> Outcome:
    overfit, ev_over = False, []
    for e, d in tasks(ev):
        on = curve_values(ev.runs, "score", env=e, dataset=d, method=ONLINE)  # [seeds, K + 1]
        if on.shape[1] >= 3:
            mean, last_std = on.mean(0), on[:, -1].std()
            overfit |= bool(mean[1:-1].max() - mean[-1] > last_std)
            ev_over.append(
                f"{d}/{SHORT[e]}: peak {mean[1:-1].max():.1f} (k = 1..K-1), final {mean[-1]:.1f}, "
                f"std at K {last_std:.1f}"
            )
    return overfit, "; ".join(ev_over) or "no curve with >= 3 points"


CLAIMS: list[Claim] = [
    # Figure 3 (§4.2)
    Claim(
        item="figure3",
        id="f3_otc_above_bcq",
        check=f3_otc_above_bcq,
        text="'We plot the learning curves along with the number of deployments ... in Figure 3' and 'OTC with "
        "d_e ... or d_q ... substantially outperforms the baselines' (§4.2). Check: on every plotted (env, "
        "dataset), bcq_otc_de's and bcq_otc_dq's final returns are > bcq's. Table 1's BCQ columns (the same "
        "runs' final values) agree on all 9 rows.",
    ),
    # Figure 4 (§4.3)
    Claim(
        item="figure4",
        id="f4_adaptive_beats_fixed",
        check=f4_adaptive_beats_fixed,
        text="'Figure 4 (left) shows that adaptive α can improve the performance of online tuning' (§4.3). "
        "Check: on each FIG4_CELLS task, bcq_otc_de's (adaptive, α^0 = 1.0) final return > "
        "bcq_otc_de_fixed1.0's.",
    ),
    Claim(
        item="figure4",
        id="f4_alpha_grows_replay",
        check=f4_alpha_grows_replay,
        reads=cells_of(env=HC, dataset="medium-replay", method=ADAPTIVE),
        text="'In halfcheetah-replay, α of both two agents grows, indicating the difference between B_i^k and "
        "D_i^k increases as the agents are further improved' (§4.3). Check: on (halfcheetah-2x3, "
        "medium-replay), bcq_otc_de's seed-mean α_i^K > α_i^1 for both agents i.",
    ),
    Claim(
        item="figure4",
        id="f4_alpha_stable_replay",
        check=f4_alpha_stable_replay,
        reads=cells_of(env=HC, dataset="medium-replay", method=ADAPTIVE),
        text="'and α becomes stable in the latter deployments, meaning the convergence of online tuning' (§4.3). "
        "Check: on (halfcheetah-2x3, medium-replay), for both agents, |α_i^K - α_i^(K-2)| < "
        "|α_i^(K-2) - α_i^1| (seed means).",
    ),
    Claim(
        item="figure4",
        id="f4_alpha_differs_random",
        check=f4_alpha_differs_random,
        reads=cells_of(env=HC, dataset="random", method=ADAPTIVE),
        text="'In halfcheetah-random, two agents have different trends of α, which means that the agents are "
        "influenced differently by the update of other agent' (§4.3). Check: on (halfcheetah-2x3, random), "
        "with r_i = α_i^K / α_i^1 (seed means), the signs of r_1 - 1 and r_2 - 1 differ, or "
        "max(r_1, r_2) / min(r_1, r_2) > 1.25.",
    ),
    # Figure 5 (§4.3)
    Claim(
        item="figure5",
        id="f5_otc_best",
        check=_f5(lambda f: all(f[OTC5] > f[m] for m in (BR, UNIFORM, ONLINE))),
        text="'By considering the transition bias, OTC obtains the performance gain over the other three "
        "sampling strategies' (§4.3). Check: on every FIG5_CELLS panel, bcq_otc_de's final return > each "
        "of bcq_br's, bcq's and bcq_online's. Table 1 agrees for the uniform part (d_e+BCQ > BCQ on all "
        "four panels).",
    ),
    Claim(
        item="figure5",
        id="f5_br_uniform_susceptible",
        check=_f5(lambda f: f[BR] < f[OTC5] and f[UNIFORM] < f[OTC5]),
        text="'Balanced Replay (Lee et al. 2021) and uniformly sampling are susceptible to the difference "
        "between P_B and P_D' (§4.3). Check: on every panel, bcq_br's and bcq's final returns are both < "
        "bcq_otc_de's.",
    ),
    Claim(
        item="figure5",
        id="f5_online_only_insufficient",
        check=_f5(lambda f: f[ONLINE] < f[OTC5]),
        text="'Since the online dataset is very limited, finetuning the agents with online samples only is "
        "insufficient' (§4.3). Check: on every panel, bcq_online's final return < bcq_otc_de's.",
    ),
    Claim(
        item="figure5",
        id="f5_online_only_overfits",
        check=f5_online_only_overfits,
        reads=whole_grid,
        text="'and the small dataset can cause overfitting, e.g., Figure 5d' (§4.3). Check: on at least one "
        "panel, bcq_online's seed-mean return at k = K is below its own peak over k = 1..K-1 by more than "
        "its std over seeds at k = K (the curve falls back).",
    ),
]
