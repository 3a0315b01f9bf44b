"""MOMA-PPO (Barde et al., AAMAS 2024): the items of the paper and their published numbers, as data only.

Typed with common.reporting.published (Table, Figure, Entry, Claim), as papers/omar/published.py and
papers/cast_bcq/published.py. These numbers are never used to produce ours; they are only shown beside them.

Keys (the cells of the experiment scripts use the same ones):

- ``dataset``: Iterated Coordination Game (``games/coordination``, Tables 1 and 3) ``favorable``, ``neutral``,
  ``unfavorable`` (the paper's "fav.", "neutral", "unfav."); Reacher (``mamujoco/reacher-2x1``) ``expert-mix``
  (the mixture-of-experts dataset); Ant (``mamujoco/ant-4x2``) ``random``, ``medium``, ``full-replay``,
  ``expert`` (the paper's "ant-random" .. "ant-expert", D4RL ``ant-<kind>-v2``).
- ``env`` (Table 2 only, the one table that mixes envs): ``mamujoco/reacher-2x1``, ``mamujoco/ant-4x2``.
- ``obs_mode``: the package's env options. Reacher (Table 4a) ``full`` = "FO all-observant", ``independent`` =
  "PO independent", ``leader-only`` = "PO leader-only"; Ant (Table 4b, Figure 6, ablations) ``full`` = "FO",
  ``partial`` = "PO" (only the yellow agent, agent 0, sees the torso).
- ``method``: ``iql`` (centralized training and execution), ``maiql``, ``maiql_ft``, ``matd3bc``, ``ibc``,
  ``itd3bc``, ``icql``, ``iomar``, ``moma_ppo``. Table 3 has iql, maiql, ibc, moma_ppo; Table 4a has no
  maiql_ft; Table 4b has no matd3bc; IQL has no PO cells ("—").
- ``quantity``: Table 1 ``p_right_agent1`` (P(a¹ = →)), ``p_right_agent2`` (P(a² = →)), ``avg_score``;
  Table 2 ``min``, ``mean``, ``median``, ``max`` (in % of the normalized per-episode return), ``expert_return``,
  ``random_return`` (the raw normalization constants).
- Figure 6 (claims only): ``penalty`` ∈ ``epistemic`` (MOMA-PPO's λ_g ε_g + λ_r ε_r), ``aleatoric_1``,
  ``aleatoric_5`` (MOPO's λ·max_m ‖Σ_m‖_F with λ = 1, 5) × ``rollouts`` ∈ ``adaptive`` (ℓ_ε = 2), ``fixed``
  (ℓ_ε = ∞) × ``obs_mode`` ∈ ``full``, ``partial``, on Ant full-replay.
- Ablations (claims only): ``variant`` ∈ ``default`` (MOMA-PPO as in Table 4b, k = 10), ``ground_truth``,
  ``no_clip``, ``no_lambda_g``, ``no_adaptive``, ``k5``, ``k20``, ``k50`` (k = maximum rollout length), with
  ``obs_mode``, on Ant full-replay [inferred: the paper names no task for Appendix B.2].

Numbers: Tables 3 and 4 print mean ± the standard error of the mean across seeds (10 seeds on the ICG, 3 on
MAMuJoCo: §6), entered as ``sem=``; their scores are fractions (1.0 = the expert; the ICG score is the raw
reward in [0, 1]). Table 2 is in % (the package's ``normalized`` scale, × 100); Table 1 prints probabilities and
a mean reward, no ``±``. Every number is entered as printed ("1." as 1.0). The claims, with the paper's words,
the exact rule and its code, are in claims.py (and claims_table4b.py, claims_ant.py); the notes on each item
(where it sits in the paper, how it was entered, its deviations) in published_notes.py.

Conventions of the claims' rules:

- "final": a cell's reading (its record's metric: the last evaluation, 100 greedy episodes), averaged over
  seeds; "SEM": the standard error of the mean over seeds (ddof 1 over sqrt(n), ``common.reporting.numbers.spread_of``).
- Tables 4a/4b and Figure 6/ablations are read as fractions: our records' ``normalized`` / 100 (see NOTES).
- "significantly above" (the paper's "significantly"): the two cells' mean ± SEM intervals do not overlap,
  i.e. mean_a − mean_b > SEM_a + SEM_b; "matches" / "on par": |mean_a − mean_b| ≤ SEM_a + SEM_b.
"""

from common.reporting.published import Entry, Figure, Table, check_paper, rounding_of
from papers.moma_ppo.published_notes import ANT_CONSTANTS_NOTE, NOTES

PAPER = "moma_ppo"
TITLE = "A Model-Based Solution to the Offline Multi-Agent RL Coordination Problem (MOMA-PPO)"

ENV_ICG, ENV_REACHER, ENV_ANT = "games/coordination", "mamujoco/reacher-2x1", "mamujoco/ant-4x2"
ICG_DATASETS = ("favorable", "neutral", "unfavorable")  # Tables 1 and 3, in the paper's order
ANT_DATASETS = ("random", "medium", "full-replay", "expert")  # Tables 2 and 4b
# Table 4a: FO all-observant, PO independent, PO leader-only
REACHER_OBS = ("full", "independent", "leader-only")
ANT_OBS = ("full", "partial")  # Table 4b: FO, PO
T1_QUANTITIES = ("p_right_agent1", "p_right_agent2", "avg_score")
T2_QUANTITIES = ("min", "mean", "median", "max", "expert_return", "random_return")
METHODS = ("iql", "maiql", "maiql_ft", "matd3bc", "ibc", "itd3bc", "icql", "iomar", "moma_ppo")
T3_METHODS = ("iql", "maiql", "ibc", "moma_ppo")
T4A_METHODS = ("iql", "maiql", "matd3bc", "ibc", "itd3bc", "icql", "iomar", "moma_ppo")  # Table 4a's columns
T4B_METHODS = ("iql", "maiql", "maiql_ft", "ibc", "itd3bc", "icql", "iomar", "moma_ppo")  # Table 4b's columns
# the paper's column groups (Table 4): centralized | CTDE | independent learners | model-based CTDE
CENTRALIZED = ("iql",)
CTDE_MODEL_FREE = ("maiql", "maiql_ft", "matd3bc")
INDEPENDENT = ("ibc", "itd3bc", "icql", "iomar")
MODEL_FREE = (*CENTRALIZED, *CTDE_MODEL_FREE, *INDEPENDENT)
DECENTRALIZED = (*CTDE_MODEL_FREE, *INDEPENDENT, "moma_ppo")  # every method but IQL executes per agent
FIGURE6_PENALTIES = ("epistemic", "aleatoric_1", "aleatoric_5")
FIGURE6_ROLLOUTS = ("adaptive", "fixed")
ABLATION_VARIANTS = ("default", "ground_truth", "no_clip", "no_lambda_g", "no_adaptive", "k5", "k20", "k50")

ITEMS = {
    "table1": Table(
        title="Iterated Coordination Game: behavior policies and the datasets' average scores",
        rows=["dataset"],
        cols="quantity",
        metric="score",
        scale="fraction",
        spread="none",
    ),
    "table2": Table(
        title="Normalized score distributions of the MuJoCo datasets (%) and the normalization returns",
        rows=["env", "dataset"],
        cols="quantity",
        metric="normalized",
        spread="none",
    ),
    "table3": Table(
        title="Iterated Coordination Game: team performance (mean ± SEM over 10 seeds)",
        rows=["dataset"],
        cols="method",
        metric="score",
        scale="fraction",
        spread="sem",
        seeds=10,
        precision=2,
        pngs=["table3_curves.png"],
    ),
    # Tables 4a/4b print fractions (1.0 = expert): our records' normalized (× 100) is shown × 0.01
    # (common.reporting.published: scale "fraction" with a normalized metric).
    "table4a": Table(
        title="Two-agent Reacher, mixture-of-experts dataset, observation functions (mean ± SEM, 3 seeds)",
        rows=["obs_mode"],
        cols="method",
        metric="normalized",
        scale="fraction",
        spread="sem",
        seeds=3,
        precision=2,
        pngs=["table4a_curves.png"],
    ),
    "table4b": Table(
        title="Four-agent Ant, D4RL datasets and full/partial observability (mean ± SEM, 3 seeds)",
        rows=["obs_mode", "dataset"],
        cols="method",
        metric="normalized",
        scale="fraction",
        spread="sem",
        seeds=3,
        precision=2,
        pngs=["table4b_curves.png"],
    ),
    "figure6": Figure(
        title="Epistemic vs aleatoric (MOPO) penalty, with and without adaptive rollouts "
        "(Ant full-replay, FO and PO; App. B.2)",
        metric="normalized",
        spread="sem",
        plot="curves",
        pngs=["figure6_full.png", "figure6_partial.png"],
    ),
    "ablations": Figure(
        title="MOMA-PPO ablations: ground-truth simulator, no clipping, no λ_g, no adaptive "
        "rollouts, rollout length k (App. B.2)",
        metric="normalized",
        spread="sem",
        plot="bar",
        group="variant",
        pngs=["ablations_panels.png"],
    ),
}


def _row(item, fixed, col_key, cols, cells):
    """One PUBLISHED entry per printed cell of a row: 'mean ± sem' (Tables 3, 4), a bare number (Tables 1, 2),
    or '—' (no entry). A bare number carries its printing's rounding (half a unit of its last digit,
    common.reporting.published.rounding_of), the verdict's tolerance where the paper prints no spread; a bare integer
    beside decimals ('-3' in a row of '6.4') takes the row's rounding (the paper drops a trailing '.0')."""
    bare = [c.strip() for c in cells if c.strip() != "—" and "±" not in c]
    row_rounding = min((rounding_of(c) for c in bare if "." in c), default=None)
    out = []
    for col, text in zip(cols, cells, strict=True):
        text = text.strip()
        if text == "—":
            continue
        if "±" in text:
            mean, sem = (float(x) for x in text.split("±"))
            out.append(Entry(item=item, keys={**fixed, col_key: col}, mean=mean, sem=sem))
        else:
            rounding = rounding_of(text) if "." in text or row_rounding is None else row_rounding
            out.append(Entry(item=item, keys={**fixed, col_key: col}, mean=float(text), rounding=rounding))
    return out


# the paper's rows as printed, one entry (or one _row of printed cells) per line: kept out of the formatter
# fmt: off
PUBLISHED: list[Entry] = [
    # Table 1 (§5.2): behavior probabilities of going right (→) and the dataset's mean score
    *_row("table1", {"dataset": "favorable"}, "quantity", T1_QUANTITIES, ("0.75", "0.75", "0.623")),
    *_row("table1", {"dataset": "neutral"}, "quantity", T1_QUANTITIES, ("0.5", "0.5", "0.502")),
    *_row("table1", {"dataset": "unfavorable"}, "quantity", T1_QUANTITIES, ("0.25", "0.75", "0.375")),
    # Table 2 (§5.3): min, mean, median, max (%) of the normalized per-episode returns; expert and random returns
    *_row("table2", {"env": ENV_REACHER, "dataset": "expert-mix"}, "quantity", T2_QUANTITIES,
          ("38.8", "100.0", "98.9", "152.3", "-4.237", "-11.145")),
    *_row("table2", {"env": ENV_ANT, "dataset": "random"}, "quantity", T2_QUANTITIES[:4],
          ("-3", "6.4", "7.2", "10.3")),
    Entry(item="table2", keys={"env": ENV_ANT, "dataset": "random", "quantity": "expert_return"}, mean=3879.7,
          note=ANT_CONSTANTS_NOTE),
    Entry(item="table2", keys={"env": ENV_ANT, "dataset": "random", "quantity": "random_return"}, mean=-325.6,
          note=ANT_CONSTANTS_NOTE),
    *_row("table2", {"env": ENV_ANT, "dataset": "medium"}, "quantity", T2_QUANTITIES,
          ("-4.8", "80.2", "95.1", "107.2", "—", "—")),
    *_row("table2", {"env": ENV_ANT, "dataset": "full-replay"}, "quantity", T2_QUANTITIES,
          ("-22.4", "72.0", "77.8", "134.3", "—", "—")),
    *_row("table2", {"env": ENV_ANT, "dataset": "expert"}, "quantity", T2_QUANTITIES,
          ("-32.8", "117.4", "129.4", "142.5", "—", "—")),
    # Table 3 (§6): ICG team score, mean ± SEM over 10 seeds; columns IQL, MAIQL, IBC, MOMA-PPO
    *_row("table3", {"dataset": "favorable"}, "method", T3_METHODS, ("1. ± 0.", "1. ± 0.", "1. ± 0.", "1. ± 0.")),
    *_row("table3", {"dataset": "neutral"}, "method", T3_METHODS, ("1. ± 0.", "0.9 ± 0.1", "0.55 ± 0.11", "1. ± 0.")),
    *_row("table3", {"dataset": "unfavorable"}, "method", T3_METHODS, ("1. ± 0.", "0. ± 0.", "0. ± 0.", "1. ± 0.")),
    # Table 4a (§6): Reacher expert-mix, normalized (fraction), mean ± SEM over 3 seeds;
    # columns IQL, MAIQL, MATD3+BC, IBC, ITD3+BC, ICQL, IOMAR, MOMA-PPO
    *_row("table4a", {"obs_mode": "full"}, "method", T4A_METHODS,
          ("1.07 ± 0.01", "0.96 ± 0.05", "1.04 ± 0.01", "1.02 ± 0.01", "0.78 ± 0.00", "0.48 ± 0.06", "0.73 ± 0.01",
           "1.07 ± 0.01")),
    *_row("table4a", {"obs_mode": "independent"}, "method", T4A_METHODS,
          ("—", "0.92 ± 0.04", "0.59 ± 0.03", "0.76 ± 0.04", "0.30 ± 0.11", "0.46 ± 0.04", "0.45 ± 0.02",
           "0.95 ± 0.06")),
    *_row("table4a", {"obs_mode": "leader-only"}, "method", T4A_METHODS,
          ("—", "0.80 ± 0.05", "0.73 ± 0.02", "0.84 ± 0.02", "0.48 ± 0.04", "0.31 ± 0.05", "0.39 ± 0.02",
           "1.00 ± 0.01")),
    # Table 4b (§6): Ant, normalized (fraction), mean ± SEM over 3 seeds;
    # columns IQL, MAIQL, MAIQL-ft, IBC, ITD3+BC, ICQL, IOMAR, MOMA-PPO
    *_row("table4b", {"obs_mode": "full", "dataset": "random"}, "method", T4B_METHODS,
          ("0.12 ± 0.00", "0.28 ± 0.01", "0.28 ± 0.03", "0.31 ± 0.00", "0.22 ± 0.02", "0.08 ± 0.00", "0.08 ± 0.00",
           "0.52 ± 0.07")),
    *_row("table4b", {"obs_mode": "full", "dataset": "medium"}, "method", T4B_METHODS,
          ("0.97 ± 0.02", "0.85 ± 0.02", "0.81 ± 0.02", "0.84 ± 0.01", "1.04 ± 0.00", "0.88 ± 0.12", "1.10 ± 0.03",
           "1.29 ± 0.06")),
    *_row("table4b", {"obs_mode": "full", "dataset": "full-replay"}, "method", T4B_METHODS,
          ("1.22 ± 0.02", "0.77 ± 0.21", "0.95 ± 0.13", "1.20 ± 0.01", "1.33 ± 0.01", "1.21 ± 0.02", "1.30 ± 0.00",
           "1.42 ± 0.07")),
    *_row("table4b", {"obs_mode": "full", "dataset": "expert"}, "method", T4B_METHODS,
          ("1.26 ± 0.01", "1.24 ± 0.00", "1.06 ± 0.07", "1.24 ± 0.00", "1.25 ± 0.02", "0.73 ± 0.15", "1.16 ± 0.01",
           "1.49 ± 0.01")),
    *_row("table4b", {"obs_mode": "partial", "dataset": "random"}, "method", T4B_METHODS,
          ("—", "0.31 ± 0.00", "0.34 ± 0.04", "0.31 ± 0.00", "0.31 ± 0.00", "0.17 ± 0.02", "0.21 ± 0.02",
           "0.42 ± 0.05")),
    *_row("table4b", {"obs_mode": "partial", "dataset": "medium"}, "method", T4B_METHODS,
          ("—", "0.14 ± 0.02", "0.11 ± 0.01", "0.17 ± 0.01", "0.22 ± 0.05", "0.09 ± 0.02", "0.06 ± 0.01",
           "0.54 ± 0.19")),
    *_row("table4b", {"obs_mode": "partial", "dataset": "full-replay"}, "method", T4B_METHODS,
          ("—", "0.18 ± 0.02", "-0.07 ± 0.10", "0.21 ± 0.02", "0.20 ± 0.01", "0.09 ± 0.01", "0.11 ± 0.02",
           "0.46 ± 0.10")),
    *_row("table4b", {"obs_mode": "partial", "dataset": "expert"}, "method", T4B_METHODS,
          ("—", "-0.16 ± 0.01", "-0.23 ± 0.02", "0.05 ± 0.04", "0.16 ± 0.00", "0.11 ± 0.03", "0.10 ± 0.01",
           "0.18 ± 0.00")),
]
# fmt: on

check_paper(ITEMS, PUBLISHED, notes=NOTES)
