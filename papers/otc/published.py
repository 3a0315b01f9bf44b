"""OTC (Jiang & Lu, AAAI 2023): the items of the paper and their published numbers, as data only.

Typed with common.reporting.published (Table, Figure, Entry, Claim), as papers/omar/published.py and
papers/cast_bcq/published.py. These numbers are never used to produce ours; they are only shown beside them.

Keys (the cells of the experiment scripts use the same ones):

- ``env``: the package's env ids. Table 1 and Figures 3-5: ``mamujoco/halfcheetah-2x3``,
  ``mamujoco/walker2d-2x3``, ``mamujoco/hopper-3x1`` (the paper's "2-agent HalfCheetah", "2-agent Walker2d",
  "3-agent Hopper", Table 1's "halfcheetah", "walker2d", "hopper"; run with ``obs_mode="otc"``). Figure 6:
  ``otc/predator_prey`` (a), ``otc/navigation`` with ``n_agents`` 4 (b), ``games/nonstationary_nav`` (c),
  ``smax/5m_vs_6m`` (d; SMAX for the paper's SMAC 5m_vs_6m). Figures 7 and 8: ``otc/navigation``.
- ``dataset`` (the package's dataset kinds): ``random``, ``medium-replay`` (Table 1's "replay"), ``medium``;
  the MPE and navigation data of Figures 6-8 are ``random`` (uniform random policies), SMAX's ``medium``.
- ``n_agents`` (Figures 6b, 7, 8): the number of agents of ``otc/navigation``.
- ``method`` = base learner x sampler: ``<learner>`` alone is the paper's baseline column, uniform sampling
  from the merged offline + online data (§4.1); ``<learner>_otc_de`` / ``<learner>_otc_dq`` = OTC with the
  embedding-based / value-based distance and the adaptive α (the paper's "d_e + BCQ", "d_q + BCQ", ...);
  ``<learner>_otc_de_fixed<α>`` / ``<learner>_otc_dq_fixed<α>`` = OTC with a fixed α (Figures 4 and 8);
  ``<learner>_br`` = Balanced Replay; ``<learner>_online`` = online data only (Figures 5 and 8).
  Learners: ``bcq``, ``awac`` (Table 1), ``bremen`` (Fig. 6a, b), ``cql`` (Fig. 6d), ``td3bc`` (Figs. 7, 8).
  Table 1's columns in the paper's order: ``bcq_otc_de``, ``bcq_otc_dq``, ``bcq``, ``awac_otc_de``,
  ``awac_otc_dq``, ``awac``. Table 2's rows: ``bcq_otc_de``, ``bcq_otc_dq``, ``bcq``.
- ``quantity`` (Table 2): ``ms_per_update`` = the printed time of one update (ms), and ``ratio_to_bcq`` = that
  time over BCQ's on the same machine, DERIVED by us from the printed ms (14.2 / 11.6 = 1.224, 13.8 / 11.6 =
  1.190, not printed by the paper; each entry's note says so). Only the ratios are comparable across hardware.

Numbers: Table 1 is the improvement (%) at the last deployment over the offline-trained policy, mean ± std
over five seeds (§4.1: "five runs with different random seeds ... mean and standard deviation"), entered as
printed; our records hold the improvement already in percent (papers.otc.otc_metrics.improvement_percent), so the
item's scale is ``raw`` (no x 100). The three "–" cells of Table 1 (AWAC's columns on halfcheetah-random,
footnote †) are not entries: they are listed in ``MISSING_CELLS`` and in NOTES. Table 2 prints no ``±``.

The claims, each with the paper's words, the exact rule ("Check: ...") and its code, are in claims.py.
"""

from common.reporting.published import Entry, Figure, Reading, Table, check_paper
from papers.otc.otc_metrics import improvement_of_last

PAPER = "otc"
TITLE = "Online Tuning for Offline Decentralized Multi-Agent Reinforcement Learning (OTC)"

MUJOCO_ENVS = ("mamujoco/halfcheetah-2x3", "mamujoco/walker2d-2x3", "mamujoco/hopper-3x1")  # Table 1's order
DATASETS = ("random", "medium-replay", "medium")  # Table 1's row groups: random, replay, medium
LEARNERS = ("bcq", "awac", "bremen", "cql", "td3bc")
DISTANCES = ("otc_de", "otc_dq")  # d_e (embedding-based), d_q (value-based)
# the paper's order
TABLE1_METHODS = (
    "bcq_otc_de",
    "bcq_otc_dq",
    "bcq",
    "awac_otc_de",
    "awac_otc_dq",
    "awac",
)
TABLE2_METHODS = ("bcq_otc_de", "bcq_otc_dq", "bcq")  # the paper's order
QUANTITIES = ("ms_per_update", "ratio_to_bcq")

FIG4_CELLS = (("mamujoco/halfcheetah-2x3", "random"), ("mamujoco/halfcheetah-2x3", "medium-replay"))
FIG4_METHODS = ("bcq_otc_de", "bcq_otc_de_fixed1.0")
# Figure 5's panels are not named in our copy (the figure is missing): our choice, every robot and data kind
FIG5_CELLS = (
    ("mamujoco/halfcheetah-2x3", "random"),
    ("mamujoco/halfcheetah-2x3", "medium-replay"),
    ("mamujoco/walker2d-2x3", "medium"),
    ("mamujoco/hopper-3x1", "medium-replay"),
)
FIG5_METHODS = ("bcq_otc_de", "bcq_br", "bcq", "bcq_online")
FIG6_PANELS = {  # panel -> (env, dataset, baseline, OTC)
    "a": ("otc/predator_prey", "random", "bremen", "bremen_otc_de"),
    "b": ("otc/navigation", "random", "bremen", "bremen_otc_de"),  # n_agents 4 (appendix: "In BREMEN, N = 4")
    "c": ("games/nonstationary_nav", "random", "bcq", "bcq_otc_de"),
    "d": ("smax/5m_vs_6m", "medium", "cql", "cql_otc_dq"),
}
FIG7_N_AGENTS = (3, 4, 6)  # not given in our copy: our choice (the MPE default 3, and Fig. 8's 4 and 6)
FIG8_N_AGENTS = (4, 6)  # §4.7: "4-agent and 6-agent Cooperative Navigation"
FIG8_FIXED_ALPHAS = (0.5, 1.0, 2.0)  # not given in our copy: our choice
FIG8_METHODS = (
    "td3bc_otc_dq",
    *(f"td3bc_otc_dq_fixed{a}" for a in FIG8_FIXED_ALPHAS),
    "td3bc_br",
    "td3bc",
    "td3bc_online",
)

ITEMS = {
    "table1": Table(
        title="Improvement (%) at the last deployment over the offline-trained policies",
        rows=["dataset", "env"],
        cols="method",
        metric="score",
        spread="std",
        seeds=5,
        precision=1,
        readings=(
            Reading(
                name="last3",
                text="improvement of the mean S over the last 3 deployments",
                of=improvement_of_last(3),
            ),
        ),
    ),
    "table2": Table(
        title="Average time taken by one update",
        rows=["method"],
        cols="quantity",
        metric="score",
        spread="none",
        precision=3,
    ),
    "figure3": Figure(title="Learning curves of OTC on BCQ", metric="score", seeds=5),
    "figure4": Figure(
        title="Adaptive versus fixed alpha; the adaptive alpha's curves", metric="score", seeds=5
    ),
    "figure5": Figure(
        title="OTC vs Balanced Replay, uniform merged sampling, online data only", metric="score", seeds=5
    ),
    "figure6": Figure(
        title="MPE (BREMEN baseline, predator-prey, navigation), single-agent case, SMAC", metric="score"
    ),
    "figure7": Figure(title="OTC+TD3+BC with 3, 4, 6 agents on cooperative navigation", metric="score"),
    "figure8": Figure(
        title="Ablations on cooperative navigation: alpha and sampling strategies", metric="score"
    ),
}


def _t1_row(dataset, env, values):
    """One Table 1 entry per printed 'mean ± std' of a row (columns TABLE1_METHODS); None = a '–' cell."""
    out = []
    for method, text in zip(TABLE1_METHODS, values, strict=True):
        if text is None:
            continue
        mean, std = (float(x) for x in text.split("±"))
        out.append(
            Entry(item="table1", keys={"dataset": dataset, "env": env, "method": method}, mean=mean, std=std)
        )
    return out


_HC, _W, _HOP = MUJOCO_ENVS
_MS = {"bcq_otc_de": 14.2, "bcq_otc_dq": 13.8, "bcq": 11.6}  # Table 2 as printed

# Table 1's '–' cells (footnote †: "AWAC does not work on halfcheetah-random"): no published value
MISSING_CELLS = tuple(
    {"dataset": "random", "env": _HC, "method": m} for m in ("awac_otc_de", "awac_otc_dq", "awac")
)

PUBLISHED: list[Entry] = [
    # Table 1 (§4.2): improvement (%), mean ± std over 5 seeds; columns d_e+BCQ, d_q+BCQ, BCQ, d_e+AWAC, d_q+AWAC, AWAC
    *_t1_row("random", _HC, ("25.7 ± 1.2", "18.3 ± 1.7", "9.0 ± 2.4", None, None, None)),
    *_t1_row(
        "random",
        _W,
        ("43.7 ± 7.8", "43.1 ± 7.8", "20.5 ± 10.6", "102.4 ± 83.0", "-14.8 ± 6.7", "-19.5 ± 2.7"),
    ),
    *_t1_row(
        "random", _HOP, ("7.3 ± 1.3", "6.4 ± 2.8", "1.2 ± 12.8", "41.5 ± 20.3", "17.8 ± 16.9", "-33.0 ± 15.8")
    ),
    *_t1_row(
        "medium-replay",
        _HC,
        ("13.0 ± 2.6", "8.9 ± 1.4", "4.9 ± 2.2", "16.7 ± 8.4", "27.4 ± 3.8", "0.6 ± 7.3"),
    ),
    *_t1_row(
        "medium-replay",
        _W,
        ("27.8 ± 8.1", "47.2 ± 14.6", "17.3 ± 25.8", "-8.0 ± 15.1", "3.2 ± 8.4", "-17.2 ± 13.5"),
    ),
    *_t1_row(
        "medium-replay",
        _HOP,
        ("44.6 ± 12.3", "49.2 ± 52.1", "9.2 ± 4.3", "203.0 ± 13.5", "93.3 ± 72.4", "79.2 ± 46.9"),
    ),
    *_t1_row(
        "medium", _HC, ("14.8 ± 4.1", "15.0 ± 1.1", "12.1 ± 3.0", "31.0 ± 1.7", "28.7 ± 3.6", "26.0 ± 2.3")
    ),
    *_t1_row(
        "medium",
        _W,
        ("27.1 ± 21.7", "23.3 ± 7.9", "-13.9 ± 4.4", "77.7 ± 27.3", "84.0 ± 51.6", "-7.2 ± 59.0"),
    ),
    *_t1_row(
        "medium",
        _HOP,
        ("2.6 ± 3.8", "12.0 ± 2.6", "-6.8 ± 7.0", "104.2 ± 42.5", "81.3 ± 62.6", "11.8 ± 30.6"),
    ),
    # Table 2 (§4.2): average time of one update, ms as printed (no ±, no seed count)
    *(
        Entry(item="table2", keys={"method": m, "quantity": "ms_per_update"}, mean=ms)
        for m, ms in _MS.items()
    ),
    # ... and the ratios to BCQ, derived by us from the printed ms (the only hardware-independent reading)
    *(
        Entry(
            item="table2",
            keys={"method": m, "quantity": "ratio_to_bcq"},
            mean=round(_MS[m] / _MS["bcq"], 3),
            note=f"derived, not printed: {_MS[m]} ms / {_MS['bcq']} ms (BCQ) = {_MS[m] / _MS['bcq']:.4f}",
        )
        for m in ("bcq_otc_de", "bcq_otc_dq")
    ),
]

_SOURCE = (
    "Our copy of the paper is its text without page breaks or figures, so numbers are located by section "
    "(AAAI 2023)."
)
_FIGURE_MISSING = (
    "The figure itself is missing from our copy (only its caption and the text remain); no numbers."
)

NOTES = {
    "table1": [
        f"Table 1 sits in §4.2, caption 'Performance improvement (%) at the last deployment compared with the "
        f"offline-trained policies.' {_SOURCE}",
        "'–' cells: halfcheetah-random under d_e+AWAC, d_q+AWAC and AWAC print '–' (the AWAC one with footnote †: "
        "'AWAC does not work on halfcheetah-random, which is consistent with the result in AWAC paper (Nair et al. "
        "2020)'). They have no PUBLISHED entry (MISSING_CELLS); we still run them, so they show ours only. 51 of "
        "the 54 cells are published.",
        "± is the standard deviation over five seeds (§4.1: 'All the models are trained for five runs with "
        "different random seeds, and results are presented using mean and standard deviation'); whether it is the "
        "population (ddof 0) or the sample std is not said; entered as std (ddof 0, the package's reading).",
        "The metric's formula is not given: ours is 100 (S(π^K) - S(π^0)) / |S(π^0)| per seed on the mean raw "
        "evaluation return (our reading; |.| keeps the sign meaningful when S(π^0) < 0). 'At the last deployment' "
        "could also mean π^(K-1), the policy deployed at the 10th deployment; the records keep every deployment's "
        "return for that reading. Where |S(π^0)| is near 0 the % is unstable (papers.otc.otc.near_zero_baseline "
        "flags it).",
        "Rows: the paper's 'replay' = dataset medium-replay; 'halfcheetah', 'walker2d', 'hopper' = the 2-agent "
        "HalfCheetah, 2-agent Walker2d and 3-agent Hopper splits (§4.1), our mamujoco/*-2x3, *-3x1 with "
        "obs_mode 'otc'. D4RL's version is not stated; ours are D4RL-protocol datasets generated on Gymnasium v5, "
        "so absolute % differ: judge who beats whom first.",
        "Bold marks (if any) are lost in our copy; every comparison is recomputed from the numbers.",
        "Recomputed from the table: both OTC columns exceed their learner's uniform column in 34 of 34 "
        "(row, learner, distance) comparisons, by more than the larger of the two stds in 24 of 34; d_q > d_e in "
        "7 of 17 rows (BCQ 4 of 9, AWAC 3 of 8); OTC's improvement is negative in 2 of 34 OTC cells "
        "(walker2d-random d_q+AWAC -14.8, walker2d-medium-replay d_e+AWAC -8.0), which contradicts the abstract's "
        "'improve agent policies in online tuning' (claim t1_otc_improves_offline, expected not to hold).",
    ],
    "table2": [
        f"Table 2 sits in §4.2, caption 'Average time taken by one update.' {_SOURCE} Printed: d_e+BCQ 14.2ms, "
        "d_q+BCQ 13.8ms, BCQ 11.6ms; no ±, no seed count, the task is not named.",
        "Hardware: 'Intel i7-8700 CPU and NVIDIA GTX 1080Ti GPU', the similarity computed 'on GPU'. ms on another "
        "machine are informative only; the ratios to BCQ (quantity ratio_to_bcq, 1.224 and 1.190) are derived by "
        "us, not printed, and are what the verdict compares. On a CPU the similarity step touches |B| + |D| = 2512 "
        "transitions against the update's 128, so the < 25 % claim is expected to fail there (papers/otc/README.md).",
        "'One update' is not defined; ours is everything a fine-tuning step does (both minibatch draws, the CVAE "
        "step for d_e, the similarities, the prioritized draw and the BCQ update; our reading).",
    ],
    "figure3": [
        f"{_FIGURE_MISSING} The text plots 'a part of tasks', not named: we plot all 9 Table 1 tasks (our "
        "choice). Its runs are Table 1's BCQ columns, whose final values the table summarizes, so the published "
        "table already agrees with the claim on all 9 rows.",
        "x = deployments k = 0..10 and y = raw return are our reading; five seeds (§4.1).",
    ],
    "figure4": [
        f"{_FIGURE_MISSING} The text names halfcheetah-replay and halfcheetah-random for the right panel (α "
        "curves); the left panel (adaptive vs fixed α = 1.0, OTC d_e on BCQ) is taken to use the same two tasks "
        "(our reading). The adaptive runs are Table 1's d_e+BCQ cells (25.7 and 13.0 %); the fixed-α runs have no "
        "published value.",
        "Right panel: 'Dotted lines show mean values, and violin plots show distributions over seeds'; the rules "
        "'grows', 'stable' and 'different trends' are ours (claims' Check).",
    ],
    "figure5": [
        f"{_FIGURE_MISSING} It has at least 4 panels ('e.g., Figure 5d'), whose tasks are not named: ours are "
        "halfcheetah-random, halfcheetah-medium-replay, walker2d-medium, hopper-medium-replay (FIG5_CELLS), and "
        "the one where online-only overfits ('5d') is not known, so that claim asks for at least one panel.",
        "The base learner and the distance are not stated: BCQ with d_e (as Figure 4) is our choice. OTC and "
        "uniform are Table 1's cells; Balanced Replay (sampling only, no Q-ensemble) and online-only are new.",
    ],
    "figure6": [
        f"{_FIGURE_MISSING} Panels as the text names them: 6a and 6b = BREMEN vs OTC (d_e) + BREMEN on "
        "Predator-Prey and Cooperative Navigation (which panel is which is our reading of the sentence's order; "
        "the appendix sets N = 4 for BREMEN's navigation), 6c = the non-stationary single-agent navigation (BCQ "
        "vs OTC (d_e)), 6d = SMAC 5m_vs_6m (CQL vs OTC (d_q), sequential online collection).",
        "6d is played on SMAX, not StarCraft II: absolute numbers are not comparable; its y is taken to be the "
        "test win rate (not stated). BREMEN adapted to finetuning is our construction (papers/otc/README.md).",
        "Seeds are not stated for 6a-6d (§4.1's 'five runs' is said of the MuJoCo experiments).",
    ],
    "figure7": [
        f"{_FIGURE_MISSING} The numbers of agents are not given in our copy: N = 3, 4, 6 is our choice (the MPE "
        "default, and Figure 8's 4 and 6). The text builds OTC (d_q) on TD3+BC; data from uniform random "
        "policies, 1e6 transitions.",
    ],
    "figure8": [
        f"{_FIGURE_MISSING} Caption: 'Ablation on Cooperative Navigation. Left: Effectiveness of α. Right: "
        "Different sampling strategies.'; the text: 'on 4-agent and 6-agent Cooperative Navigation'. Whether each "
        "panel shows both N or one N each is ambiguous: we run both panels on both N.",
        "The fixed α values are not given: ours are 0.5, 1.0, 2.0 (FIG8_FIXED_ALPHAS); uniform sampling is α = 0. "
        "The strategies of the right panel are taken to be Figure 5's (OTC, Balanced Replay, uniform, online "
        "only), all on TD3+BC with d_q (our reading of §4.7).",
        "Claim f8_alpha_interior is §4.3's general observation on α ('if α is too small ... Otherwise ...'), "
        "checked here because this is the only item with several α values.",
    ],
}

check_paper(ITEMS, PUBLISHED, notes=NOTES)
