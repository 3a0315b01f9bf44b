"""OMAR's claims (its figures have no numbers in our copy of the paper): each claim's words beside the rule that
decides it on our runs (common.reporting.claims). The figure scripts (papers/omar/figure<k>.py) run the cells, draw
the panels from the same numbers (``improvements``, ``per_n``, ``tau_table``, ``sweeps``) and write the verdicts.

Rules, per figure:
  figure1  1b_omar_best         mean final raw return of OMAR > that of MA-CQL and of MA-TD3+BC (n = 2);
           1c_cql_degrades      Spearman rank correlation between n and MA-CQL's mean improvement over the behavior
                                policy, 100 (S - R_behavior) / |R_behavior|, <= -0.5 (at least 3 values of n);
           1d_rectified_action  mean over seeds of mean_P,N [Q(a_OMAR) - Q(a_MA-CQL)] > 0 on MA-CQL's critic;
  figure2  omar_beats_cql_all_n     mean S_OMAR > mean S_MA-CQL for every n that ran;
           gain_larger_multiagent   the mean improvement 100 (S_OMAR - S_MA-CQL) / |S_MA-CQL| over n >= 2 exceeds the
                                    improvement at n = 1;
  figure3  best_tau_interior        for every dataset kind, the tau with the highest mean is neither 0 nor 1;
           every_tau_beats_cql      for every kind and tau, mean OMAR >= mean MA-CQL - std of MA-CQL over seeds;
           tau_smaller_low_quality  mean best tau of {random, medium-replay} < that of {medium, expert};
  figure4  insensitive   for each parameter, max - min of the setting means <= the pooled seed std (root of the mean
                         over its settings of the per-setting variance over seeds);
           all_beat_cql  every setting's mean > MA-CQL's mean.
Figures 3 and 4 read the normalized score averaged over the tasks (3) or dataset kinds (4) per seed, then mean ± std
over seeds.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from common.reporting.claims import Claim, Evidence, Outcome, on_every
from common.reporting.figures import fmt
from common.reporting.published import check_claim_list
from common.reporting.stats import spearman
from common.running.record import Record
from common.running.store import Runs
from papers.omar import config as C
from papers.omar.published import ITEMS

LABELS = {"ma_td3bc": "MA-TD3+BC", "ma_cql": "MA-CQL", "omar": "OMAR"}
CURVE_METHODS = ("ma_td3bc", "ma_cql", "omar")  # Figure 1 (b)
# Figure 3's dataset kinds of low / high quality
LOW, HIGH = ("random", "medium-replay"), ("medium", "expert")
# Figure 4's parameters, each varied alone around its default
SAMPLING = ("iters", "samples", "mu0", "sigma0")
SAMPLING_DEFAULT = {"iters": C.MPE.omar_iters, "samples": C.MPE.omar_samples, "mu0": 0.0, "sigma0": 2.0}


# ---- Figure 1 --------------------------------------------------------------------------------------------------
def improvement_pct(record: Record) -> float | None:
    """100 (score - behavior_return) / |behavior_return| of one MA-CQL record."""
    b, s = record.extra.get("behavior_return"), record.score
    if b is None or s is None or b == 0:
        return None
    return 100.0 * (float(s) - float(b)) / abs(float(b))


def improvements(runs: Runs) -> dict[int, list[float]]:
    """n_agents -> MA-CQL's improvement (%) per seed."""
    out: dict[int, list[float]] = {}
    for r in runs.select(method="ma_cql"):
        v = improvement_pct(r)
        if v is not None:
            out.setdefault(int(r.keys["n_agents"]), []).append(v)
    return dict(sorted(out.items()))


def omar_best(ev: Evidence) -> Outcome:
    means = {m: ev.runs.seed_means("score", n_agents=2, method=m) for m in CURVE_METHODS}
    text = ", ".join(f"{LABELS[m]} {fmt(mu)} ± {fmt(sd)} (n={k})" for m, (mu, sd, k) in means.items())
    if any(v[0] is None for v in means.values()):
        return False, f"final raw return, 2 agents: {text}; a method has no record"
    holds = means["omar"][0] > max(means["ma_cql"][0], means["ma_td3bc"][0])
    return holds, f"final raw return, 2 agents (mean ± std over seeds): {text}; OMAR best: {holds}"


def cql_degrades(ev: Evidence, threshold: float = -0.5) -> Outcome:
    imp = improvements(ev.runs)
    ns = sorted(imp)
    means = [float(np.mean(imp[n])) for n in ns]
    per_n = ", ".join(f"n={n}: {m:+.1f}%" for n, m in zip(ns, means))
    if len(ns) < 3:
        return (
            False,
            f"MA-CQL improvement over the behavior policy: {per_n or 'none'}; fewer than 3 values of n",
        )
    rho = spearman(ns, means)
    slope = float(np.polyfit(ns, means, 1)[0])
    holds = bool(np.isfinite(rho) and rho <= threshold)
    return holds, (
        f"MA-CQL improvement 100 (S - R_behavior)/|R_behavior|, mean over seeds: {per_n}; Spearman "
        f"rho(n, improvement) = {rho:+.2f} (holds if <= {threshold}), least-squares slope "
        f"{slope:+.2f} %/agent"
    )


def rectified_action(ev: Evidence) -> Outcome:
    recs = ev.runs.select(method="landscape")
    if not recs:
        return False, "no landscape record"
    ex = [r.extra for r in recs]
    gain = float(np.mean([e["mean_q_gain"] for e in ex]))
    frac = float(np.mean([e["frac_omar_higher"] for e in ex]))
    gap = float(np.mean([e["mean_gap_to_grid_max"] for e in ex]))
    holds = gain > 0
    return holds, (
        f"on MA-CQL's critic after {ex[0]['probe_steps']} actor step(s) from the same snapshot, "
        f"over {ex[0]['n_probe']} dataset states x 2 agents x {len(ex)} seed(s): mean Q(a_OMAR) - "
        f"Q(a_MA-CQL) = {gain:+.4f}, OMAR's Q higher on {100 * frac:.0f}% of (state, agent) pairs; "
        f"MA-CQL's pi(o) lies {gap:.4f} below the grid's best Q on average"
    )


# ---- Figure 2 --------------------------------------------------------------------------------------------------
def per_n(runs: Runs) -> dict[int, dict[str, float]]:
    """n -> {cql, cql_std, omar, omar_std, gain (%)} for every n where both methods have records."""
    out = {}
    for n in sorted({int(r.keys["n_agents"]) for r in runs if "n_agents" in r.keys}):
        c, cs, _ = runs.seed_means("score", n_agents=n, method="ma_cql")
        o, os_, _ = runs.seed_means("score", n_agents=n, method="omar")
        if c is None or o is None:
            continue
        gain = 100.0 * (o - c) / abs(c) if c != 0 else float("nan")
        out[n] = {"cql": c, "cql_std": cs, "omar": o, "omar_std": os_, "gain": gain}
    return out


def beats_cql_all_n(ev: Evidence) -> Outcome:
    t = per_n(ev.runs)
    if not t:
        return False, "no n with both methods"
    text = "; ".join(
        f"n={n}: OMAR {fmt(v['omar'])} vs MA-CQL {fmt(v['cql'])} ({v['gain']:+.1f}%)" for n, v in t.items()
    )
    holds = all(v["omar"] > v["cql"] for v in t.values())
    return holds, f"mean final raw return over seeds: {text}; OMAR higher for every n: {holds}"


def gain_larger_multiagent(ev: Evidence) -> Outcome:
    t = per_n(ev.runs)
    multi = [v["gain"] for n, v in t.items() if n >= 2]
    if 1 not in t or not multi:
        return False, f"needs n = 1 and some n >= 2; have n = {sorted(t)}"
    m = float(np.mean(multi))
    holds = m > t[1]["gain"]
    each = ", ".join(f"n={n}: {v['gain']:+.1f}%" for n, v in t.items() if n >= 2)
    return (
        holds,
        f"improvement of OMAR over MA-CQL: n=1 {t[1]['gain']:+.1f}%, mean over n >= 2 {m:+.1f}% ({each})",
    )


# ---- Figure 3 --------------------------------------------------------------------------------------------------
def tau_table(runs: Runs) -> dict[str, dict[str, Any]]:
    """kind -> {"cql": (mean, std, n), "tau": {tau: (mean, std, n)}} of the task-averaged normalized score."""
    groups = [{"env": e} for e in sorted(runs.key_values("env"))]
    out: dict[str, dict[str, Any]] = {}
    for kind in [k for k in C.DATASETS if runs.select(dataset=k)]:
        taus = sorted(runs.select(dataset=kind, method="omar").key_values("tau"))
        row = {
            "cql": runs.averaged_over("normalized", groups, dataset=kind, method="ma_cql"),
            "tau": {
                t: runs.averaged_over("normalized", groups, dataset=kind, method="omar", tau=t) for t in taus
            },
        }
        row["tau"] = {t: v for t, v in row["tau"].items() if v[0] is not None}
        if row["tau"]:
            out[kind] = row
    return out


def best_taus(t: Mapping[str, Mapping]) -> dict[str, float]:
    return {k: max(v["tau"], key=lambda tau: v["tau"][tau][0]) for k, v in t.items()}


def best_tau_interior(ev: Evidence) -> Outcome:
    t = tau_table(ev.runs)
    if not t:
        return False, "no OMAR records with a normalized score"
    best = best_taus(t)
    text = "; ".join(f"{k}: best tau {b} ({fmt(t[k]['tau'][b][0])})" for k, b in best.items())
    holds = all(0.0 < b < 1.0 for b in best.values())
    return holds, f"task-averaged normalized score, mean over seeds: {text}; interior for every kind: {holds}"


def every_tau_beats_cql(ev: Evidence) -> Outcome:
    t = tau_table(ev.runs)
    bad, n = [], 0
    for k, v in t.items():
        c, cs, _ = v["cql"]
        if c is None:
            bad.append(f"{k}: no MA-CQL")
            continue
        for tau, (m, _, _) in v["tau"].items():
            n += 1
            if m < c - cs:
                bad.append(f"{k} tau={tau}: {fmt(m)} < MA-CQL {fmt(c)} - {fmt(cs)}")
    levels = ", ".join(
        f"{k} MA-CQL {fmt(v['cql'][0])} ± {fmt(v['cql'][1])}, "
        f"OMAR min {fmt(min(x[0] for x in v['tau'].values()))}"
        for k, v in t.items()
    )
    holds = bool(t) and not bad
    return holds, (
        f"criterion: mean OMAR(tau) >= mean MA-CQL - its seed std, {n} (kind, tau) pairs; {levels}; "
        f"failures: {'; '.join(bad) or 'none'}"
    )


def tau_smaller_low_quality(ev: Evidence) -> Outcome:
    best = best_taus(tau_table(ev.runs))
    lo, hi = [best[k] for k in LOW if k in best], [best[k] for k in HIGH if k in best]
    text = ", ".join(f"{k} {b}" for k, b in best.items())
    if not lo or not hi:
        return False, f"best tau per kind: {text or 'none'}; needs a kind of each group {LOW} / {HIGH}"
    holds = float(np.mean(lo)) < float(np.mean(hi))
    return holds, (
        f"best tau per kind: {text}; mean over {LOW} {np.mean(lo):.2f} vs over {HIGH} "
        f"{np.mean(hi):.2f}; smaller for low quality: {holds}"
    )


# ---- Figure 4 --------------------------------------------------------------------------------------------------
def sweeps(runs: Runs) -> dict[str, Any]:
    """{"cql": (mean, std, n), param: {value: (mean, std, n)}} of the kind-averaged normalized score;
    each param's sweep includes the default setting at its default value."""
    groups = [{"dataset": k} for k in sorted(runs.key_values("dataset"))]
    out: dict[str, Any] = {"cql": runs.averaged_over("normalized", groups, method="ma_cql")}
    default = runs.averaged_over("normalized", groups, method="omar", param="default")
    for param in SAMPLING:
        values = sorted(runs.select(param=param).key_values("value"))
        s = {v: runs.averaged_over("normalized", groups, method="omar", param=param, value=v) for v in values}
        if default[0] is not None:
            s[SAMPLING_DEFAULT[param]] = default
        out[param] = {v: s[v] for v in sorted(s) if s[v][0] is not None}
    return out


def insensitive(ev: Evidence) -> Outcome:
    s = sweeps(ev.runs)

    def one(param: str) -> Outcome:
        sw = s[param]
        if len(sw) < 2:
            return False, f"{param}: fewer than 2 settings"
        means = [m for m, _, _ in sw.values()]
        spread = max(means) - min(means)
        pooled = float(np.sqrt(np.mean([sd**2 for _, sd, _ in sw.values()])))
        return (
            spread <= pooled,
            f"{param} range {spread:.1f} vs pooled std {pooled:.1f} over {len(sw)} settings",
        )

    holds, parts = on_every(SAMPLING, one)
    return holds, f"kind-averaged normalized score: {parts}; insensitive (range <= pooled std): {holds}"


def all_beat_cql(ev: Evidence) -> Outcome:
    s = sweeps(ev.runs)
    c = s["cql"][0]
    settings = [(p, v, m) for p in SAMPLING for v, (m, _, _) in s[p].items()]
    if c is None or not settings:
        return False, "needs MA-CQL and OMAR records with a normalized score"
    low = min(settings, key=lambda x: x[2])
    holds = all(m > c for _, _, m in settings)
    return holds, (
        f"MA-CQL {fmt(c)} ± {fmt(s['cql'][1])}; lowest OMAR setting {low[0]}={low[1]} at {fmt(low[2])} "
        f"({len(settings)} (param, value) settings); all above MA-CQL: {holds}"
    )


CLAIMS: list[Claim] = [
    Claim(
        item="figure1",
        id="1b_omar_best",
        check=omar_best,
        text="On 2-agent spread1d medium-replay OMAR beats MA-CQL and MA-TD3+BC (Fig. 1b).",
    ),
    Claim(
        item="figure1",
        id="1c_cql_degrades",
        check=cql_degrades,
        text="MA-CQL's improvement over the behavior policy shrinks as the number of agents grows (Fig. 1c).",
    ),
    Claim(
        item="figure1",
        id="1d_rectified_action",
        check=rectified_action,
        text="OMAR's updated action has a higher Q than MA-CQL's, which stays in a local optimum (Fig. 1d).",
    ),
    Claim(
        item="figure2",
        id="omar_beats_cql_all_n",
        check=beats_cql_all_n,
        text="OMAR outperforms MA-CQL for every number of agents n = 1..5.",
    ),
    Claim(
        item="figure2",
        id="gain_larger_multiagent",
        check=gain_larger_multiagent,
        text="The improvement is larger with several agents than in the single-agent case.",
    ),
    Claim(
        item="figure3",
        id="best_tau_interior",
        check=best_tau_interior,
        text="The best tau is neither 0 nor 1.",
    ),
    Claim(
        item="figure3",
        id="every_tau_beats_cql",
        check=every_tau_beats_cql,
        text="OMAR with every tau matches or outperforms MA-CQL.",
    ),
    Claim(
        item="figure3",
        id="tau_smaller_low_quality",
        check=tau_smaller_low_quality,
        text="The optimal tau is smaller for random and medium-replay than for medium and expert.",
    ),
    Claim(
        item="figure4",
        id="insensitive",
        check=insensitive,
        text="The sampling is not sensitive to iterations, samples, mu0 and sigma0.",
    ),
    Claim(
        item="figure4",
        id="all_beat_cql",
        check=all_beat_cql,
        text="Every sampling setting stays above MA-CQL's level.",
    ),
]

check_claim_list(ITEMS, CLAIMS)
