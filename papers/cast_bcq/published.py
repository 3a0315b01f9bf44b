"""CAST-BCQ (Ma & Wu, AAMAS 2023): the items of the paper and their published numbers, as data only.

Typed with common.reporting.published (Table, Figure, Entry, Claim), as papers/omar/published.py. These numbers are
never used to produce ours; they are only shown beside them.

Keys (the cells of the experiment scripts use the same ones):

- ``env``: the package's env ids. MaMuJoCo ``mamujoco/halfcheetah-2x3``, ``mamujoco/hopper-3x1``,
  ``mamujoco/walker2d-2x3`` (the paper's "HalfCheetah-2x3", "Hopper-3x1", "Walker2d-2x3");
  StarCraft maps as SMAX ids ``smax/3s_vs_3z``, ``smax/MMM``, ``smax/2s3z``, ``smax/10m_vs_11m`` (the
  paper's "3s vs 3z", "MMM", "2s3z", "10m vs 11m", played on SMAC/SC2); the motivating grid
  ``games/cliff_grid``.
- ``dataset`` (Table 2; the package's dataset kinds): ``mixed`` = the paper's "Multi-Agent MuJoCo,
  Medium-Expert" row group, the uncoordinated data where each agent follows the medium or the expert
  policy per episode; ``medium`` = "D4RL (Multi-Agent Variation), Medium-Medium"; ``expert`` =
  "D4RL (Multi-Agent Variation), Expert-Expert" (single-agent data with the action split per agent).
- ``method``: ``bcq`` (centralized BCQ on the joint action), ``i_bcq``, ``mabcq``, ``icq_ma``, ``cast_bcq``
  (the paper's "Ours"); Table 1 and Figure 5 have no ``bcq``. Figure 1: ``i_bcq``, ``i_icq``, ``cast_bcq``.
  Figure 6: ``cast_bcq``, ``cast_bcq_wo_csaa``, ``cast_bcq_wo_st``, ``cast_bcq_wo_cd``.

Numbers: Table 2 is the raw undiscounted return ("average score", not normalized) and Table 1 the test win
rate in %, each as printed, with no ``±`` and no seed count. CLAIMS carry the paper's words and the exact
rule a checker applies; EXPECTED_NOT_TO_HOLD names the claims that the paper's own tables already
contradict (see NOTES).
"""

from common.reporting.published import Claim, Entry, Figure, Table, check_paper

PAPER = "cast_bcq"
TITLE = "Learning to Coordinate from Offline Datasets with Uncoordinated Behavior Policies (CAST-BCQ)"

MUJOCO_ENVS = ("mamujoco/halfcheetah-2x3", "mamujoco/hopper-3x1", "mamujoco/walker2d-2x3")  # Table 2's order
DATASETS = ("mixed", "medium", "expert")  # Table 2's row groups: Medium-Expert, Medium-Medium, Expert-Expert
MUJOCO_METHODS = ("bcq", "i_bcq", "mabcq", "icq_ma", "cast_bcq")  # Table 2's columns BCQ .. Ours
DECENTRALIZED = ("i_bcq", "icq_ma", "cast_bcq")  # BCQ and MABCQ "require the joint observations" (§4.1)
SMAX_MAPS = ("smax/3s_vs_3z", "smax/MMM", "smax/2s3z", "smax/10m_vs_11m")  # Table 1's order
SMAX_METHODS = ("i_bcq", "mabcq", "icq_ma", "cast_bcq")  # Table 1's columns I-BCQ .. Ours
GRID_METHODS = ("i_bcq", "i_icq", "cast_bcq")  # Figure 1
ABLATIONS = ("cast_bcq", "cast_bcq_wo_csaa", "cast_bcq_wo_st", "cast_bcq_wo_cd")  # Figure 6

ITEMS = {
    "figure1": Figure(title="Two-agent 4x6 cliff grid world: learning curves of I-BCQ, I-ICQ and CAST-BCQ",
                      metric="score"),
    "figure4": Figure(title="Multi-agent MuJoCo (HalfCheetah 2x3, Walker2d 2x3, Hopper 3x1), uncoordinated datasets",
                      metric="score", seeds=3),
    "figure5": Figure(title="StarCraft II with offline datasets: learning curves",
                      metric="score", scale="percent", seeds=3),
    "table1": Table(title="Test win rates (%) in SMAC micromanagement tasks",
                    rows=["env"], cols="method", metric="score", scale="percent", spread="none", precision=0),
    "figure6": Figure(title="Ablations of the key components in multi-agent MuJoCo", metric="score"),
    "table2": Table(title="Average score for datasets of different quality",
                    rows=["env", "dataset"], cols="method", metric="score", spread="none", precision=1),
}


def _rows(item, fixed, col_key, cols, values):
    """One PUBLISHED entry per (column, value) pair of a printed row (the paper prints no ``±``)."""
    return [Entry(item=item, keys={**fixed, col_key: col}, mean=float(v))
            for col, v in zip(cols, values, strict=True)]


_HC, _HOP, _W = MUJOCO_ENVS

PUBLISHED: list[Entry] = [
    # Table 2 (§4.3, printed after §4.3.1): raw return; columns BCQ, I-BCQ, MABCQ, ICQ-MA, Ours.
    # Multi-Agent MuJoCo, Medium-Expert (uncoordinated): also the final values of Figure 4 (§4.1)
    *_rows("table2", {"env": _HC, "dataset": "mixed"}, "method", MUJOCO_METHODS,
           (2465.1, 2401.4, 2613.6, 1648.6, 2937.1)),
    *_rows("table2", {"env": _HOP, "dataset": "mixed"}, "method", MUJOCO_METHODS,
           (408.2, 402.8, 1364.3, 923.2, 3077.9)),
    *_rows("table2", {"env": _W, "dataset": "mixed"}, "method", MUJOCO_METHODS,
           (590.5, 245.6, 986.5, 253.1, 1589.9)),
    # D4RL (Multi-Agent Variation), Medium-Medium
    *_rows("table2", {"env": _HC, "dataset": "medium"}, "method", MUJOCO_METHODS,
           (4296.1, 4466.5, 4341.0, 4313.7, 4496.8)),
    *_rows("table2", {"env": _HOP, "dataset": "medium"}, "method", MUJOCO_METHODS,
           (1026.5, 922.5, 927.7, 984.3, 2309.6)),
    *_rows("table2", {"env": _W, "dataset": "medium"}, "method", MUJOCO_METHODS,
           (1148.5, 383.6, 539.3, 242.0, 1080.8)),
    # D4RL (Multi-Agent Variation), Expert-Expert
    *_rows("table2", {"env": _HC, "dataset": "expert"}, "method", MUJOCO_METHODS,
           (10848.9, 5669.3, 10561.6, 8480.0, 11580.1)),
    *_rows("table2", {"env": _HOP, "dataset": "expert"}, "method", MUJOCO_METHODS,
           (3624.4, 1403.6, 2544.2, 2870.0, 2428.4)),
    *_rows("table2", {"env": _W, "dataset": "expert"}, "method", MUJOCO_METHODS,
           (3298.8, 834.4, 2921.5, 910.8, 3902.5)),
    # Table 1 (end of §4.2): test win rate (%); columns I-BCQ, MABCQ, ICQ-MA, Ours
    *_rows("table1", {"env": "smax/3s_vs_3z"}, "method", SMAX_METHODS, (58, 6, 83, 81)),
    *_rows("table1", {"env": "smax/MMM"}, "method", SMAX_METHODS, (4, 0, 89, 93)),
    *_rows("table1", {"env": "smax/2s3z"}, "method", SMAX_METHODS, (8, 1, 61, 71)),
    *_rows("table1", {"env": "smax/10m_vs_11m"}, "method", SMAX_METHODS, (0, 0, 21, 33)),
]

_SOURCE = ("Our copy of the paper is its text without page breaks, so numbers are located by section, not page "
           "(AAMAS 2023, 9 pages).")
_BOLD = ("The caption says 'best values are in bold'; the bold marks are lost in our copy of the text, so the best "
         "of each row is recomputed from the numbers, never read from the marks.")
_FINAL = ("The paper does not say whether a number is the last evaluation or the best one over training; the report "
          "shows the last evaluation (the item's reading) and the best and the mean of the last 10 beside it.")

NOTES = {
    "table2": [
        f"Table 2 sits in §4.3 (printed after §4.3.1), caption 'Comparison average score of different quality of "
        f"the datasets'; §4.1 says the evaluation performance of Figure 4 is 'summarized in Table 2', so its "
        f"first row group (dataset 'mixed') is Figure 4's final values. {_SOURCE}",
        "Raw undiscounted return of <= 1000 steps (not D4RL-normalized), no std and no seed count printed "
        "(Figure 4's curves are 'three runs').",
        _BOLD,
        "dataset 'mixed' = the paper's 'Multi-Agent MuJoCo, Medium-Expert' (uncoordinated: each agent follows the "
        "medium or the expert policy, each combination a quarter of the episodes); 'medium' / 'expert' = 'D4RL "
        "(Multi-Agent Variation)' Medium-Medium / Expert-Expert, single-agent data with the action split per agent.",
        "Self-contradiction: §4.3.3 says 'For the coordination datasets (D4RL), our method achieved the best "
        "performance compared to the decentralized baselines', but on Hopper-3x1 Expert-Expert Ours (2428.4) is "
        "below ICQ-MA (2870.0), a decentralized baseline (and 4th of 5 overall: BCQ 3624.4, ICQ-MA 2870.0, MABCQ "
        "2544.2). Claim t2_ours_best_decentralized_d4rl is therefore expected not to hold; §4.1's weaker wording "
        "('most of the coordination datasets split from D4RL') agrees with the table.",
        "t2_split_easier ('splitting ... will generate easier datasets') holds in only 10 of the 15 method x env "
        "pairs of the table (medium >= mixed: all 5 on HalfCheetah, 3 of 5 on Hopper, 2 of 5 on Walker2d); the two "
        "datasets also differ in content (the mixed one holds expert actions), so it is a soft, majority claim.",
        _FINAL,
    ],
    "table1": [
        f"Table 1 ends §4.2, caption 'Comparison of test win rates (%) in StarCraft II micromanagement tasks'. "
        f"{_SOURCE}",
        "Win rates in % as printed (integers), no std and no seed count printed (Figure 5's curves are 'three "
        "runs'); our records hold fractions, shown x 100.",
        _BOLD,
        "Map names: the table writes '3s vs 3z' and '10m vs 11m'; the keys use SMAX's underscores. §4.2's Datasets "
        "paragraph calls the first map '3 Stalkers vs 3 Zealots (3d vs 3z)': '3d' is a typo for 3s (Stalkers).",
        "Self-contradictions: 'our method outperforms all baselines' and Figure 5's 'outperformed all the compared "
        "methods' against 3s_vs_3z, where ICQ-MA (83) beats Ours (81); 'single-agent offline RL methods (I-BCQ) "
        "fail to learn a policy that successfully defeats the enemy' against I-BCQ's 58% on 3s_vs_3z. Claims "
        "f5_ours_best and f5_ibcq_fails are therefore expected not to hold; t1_ours_best_most_maps is the table's "
        "own 'most of the maps' and holds (3 of 4).",
        "The paper plays SMAC on StarCraft II (built-in AI, difficulty 7) with ICQ's datasets; ours are SMAX maps "
        "with our datasets, so absolute win rates are not comparable, and SMAX has no Medivac for MMM.",
        _FINAL,
    ],
    "figure1": ["No numbers published (the figure itself is missing from our copy, only its caption remains). The "
                "text names I-BCQ and I-ICQ; CAST-BCQ is plotted beside them because the figure motivates it "
                "(the paper implies it learns the task, it does not say so)."],
    "figure4": ["No numbers published beyond Table 2's 'mixed' rows (the same runs' final values); the curves "
                "are mean and std of three seeds."],
    "figure5": ["No numbers published beyond Table 1 (the final test win rates); the curves are mean and std of "
                "three seeds. The claims' expectations are read from Table 1 (see its notes)."],
    "figure6": ["No numbers published; only panel (a) HalfCheetah (2x3) is named in our copy. The other panels "
                "are taken to be Walker2d 2x3 and Hopper 3x1 on the 'mixed' data, as Figure 4."],
}

# "final" below: a cell's last evaluation (the record's metric), averaged over seeds; "every env": the three
# MaMuJoCo envs on the 'mixed' data unless the claim says otherwise.
CLAIMS: list[Claim] = [
    # Figure 1 (§2.3)
    Claim(item="figure1", id="f1_ibcq_fails",
          text="'both I-BCQ and I-ICQ failed to learn an effective policy even in such a sample domain' (§2.3). "
               "Check: I-BCQ's final greedy episode from the start (1,1) returns < 0 in a majority of seeds "
               "(return >= 0 iff the goal is reached within 11 steps: goal at step k gives 11 - k, optimal 6; "
               "a fall at step k gives -9 - k; a time-out -30). Only on data with >= 1 goal transition."),
    Claim(item="figure1", id="f1_iicq_fails",
          text="'both I-BCQ and I-ICQ failed to learn an effective policy even in such a sample domain' (§2.3). "
               "Check: I-ICQ's final greedy return from the start is < 0 in a majority of seeds. Only on data "
               "with >= 1 goal transition."),
    Claim(item="figure1", id="f1_cast_reaches_goal",
          text="Implied, not stated: CAST-BCQ learns the coordination the independent learners miss. Check: "
               "CAST-BCQ's final greedy return from the start is >= 0 (goal within 11 steps) in a majority of "
               "seeds. Only on data with >= 1 goal transition."),
    # Figure 4 (§4.1)
    Claim(item="figure4", id="f4_ours_best_all",
          text="'our method substantially outperformed all the compared baselines in all the tested tasks, in "
               "terms of convergence speed, learning stability, and policy quality' (§4.1). Check: on every env, "
               "cast_bcq's final score > the final score of each of bcq, i_bcq, mabcq, icq_ma (speed and "
               "stability are not checked). Holds on Table 2's 'mixed' rows."),
    Claim(item="figure4", id="f4_icqma_poor",
          text="'Surprisingly, ICQ-MA also performed poorly in our tests' (§4.1). Check: on every env, icq_ma's "
               "final score <= 2/3 of cast_bcq's (Table 2 'mixed': ratios 0.56, 0.30, 0.16)."),
    Claim(item="figure4", id="f4_mabcq_poor_walker_hopper",
          text="'the Walker and Hopper domains require very tightly coupled coordination ... Here, even MABCQ does "
               "not achieve good results' (§4.1). Check: on hopper-3x1 and walker2d-2x3, mabcq's final score "
               "<= 2/3 of cast_bcq's (Table 2 'mixed': ratios 0.44, 0.62)."),
    # Table 2 (§4.3.3)
    Claim(item="table2", id="t2_ours_best_uncoordinated",
          text="'our method outperformed all the baselines for the uncoordinated datasets (Multi-Agent MuJoCo)' "
               "(§4.3.3). Check: for dataset 'mixed', on every env, cast_bcq > each of bcq, i_bcq, mabcq, icq_ma. "
               "Holds in the published table (3 of 3 rows)."),
    Claim(item="table2", id="t2_ours_beats_central_bcq_uncoordinated",
          text="'even better than the centralized approach (BCQ)' (§4.3.3). Check: for dataset 'mixed', on every "
               "env, cast_bcq > bcq. Holds in the published table."),
    Claim(item="table2", id="t2_ours_best_decentralized_d4rl",
          text="'For the coordination datasets (D4RL), our method achieved the best performance compared to the "
               "decentralized baselines' (§4.3.3). Check: for datasets 'medium' and 'expert', on every env, "
               "cast_bcq > i_bcq and cast_bcq > icq_ma (BCQ and MABCQ need joint observations, §4.1). EXPECTED "
               "NOT TO HOLD: the paper's own table fails it on hopper-3x1 'expert' (ICQ-MA 2870.0 > Ours 2428.4), "
               "the only failing row of 6."),
    Claim(item="table2", id="t2_split_easier",
          text="'splitting the action from D4RL datasets will generate easier datasets for offline MARL because "
               "the agents' behavior policies are coordinated and consistent' (§4.3.3). Check (soft): per method "
               "and env, the 'medium' score >= the 'mixed' score in a majority (>= 8) of the 15 method x env "
               "pairs. The published table has 10 of 15 (not MABCQ and Ours on Hopper; not MABCQ, ICQ-MA and "
               "Ours on Walker2d); not weighted in the verdicts."),
    # Figure 6 (§4.3.1, §4.3.2)
    Claim(item="figure6", id="f6_wo_csaa_worse",
          text="'the method without CSAA (Ours w/o CSAA) performs significantly worse' (§4.3.1). Check: on every "
               "env, cast_bcq's final score - cast_bcq_wo_csaa's > cast_bcq's std over seeds."),
    Claim(item="figure6", id="f6_wo_st_close",
          text="'our method without subteam masking (Ours w/o ST) also works well in the multi-agent MuJoCo "
               "domains ... The advantage of the proposed method becomes apparent in the Walker domain' "
               "(§4.3.1). Check: on every env, cast_bcq_wo_st's final score >= 0.8 x cast_bcq's, and on "
               "walker2d-2x3 cast_bcq's final score > cast_bcq_wo_st's (the 'stability' part is not checked)."),
    Claim(item="figure6", id="f6_wo_cd_drops",
          text="'without it (Ours w/o CD), the overall performance dropped sharply, especially in the Walker2d "
               "environment' (§4.3.2). Check: on every env, cast_bcq_wo_cd's final score < cast_bcq's, and the "
               "relative drop 1 - wo_cd / cast_bcq is largest on walker2d-2x3."),
    # Table 1 (§4.2)
    Claim(item="table1", id="t1_ours_best_most_maps",
          text="'our method outperforms all baselines and achieves state-of-the-art performance in most of the "
               "maps' (§4.2). Check: cast_bcq's win rate > each of i_bcq, mabcq, icq_ma on >= 3 of the 4 maps, "
               "and >= icq_ma - 2 pp on 3s_vs_3z. Holds in the published table (best on MMM, 2s3z, 10m_vs_11m; "
               "81 vs ICQ-MA 83 on 3s_vs_3z)."),
    Claim(item="table1", id="t1_ibcq_mabcq_low",
          text="'single-agent offline RL methods (I-BCQ) fail ... The multi-agent offline RL approaches (MABCQ) "
               "also performed poorly' (§4.2). Check: on MMM, 2s3z and 10m_vs_11m, max(i_bcq, mabcq) <= 1/2 x "
               "min(icq_ma, cast_bcq). Holds in the published table (4 vs 89, 8 vs 61, 0 vs 21)."),
    # Figure 5 (§4.2)
    Claim(item="figure5", id="f5_ours_best",
          text="'As shown in Figure 5, our method outperformed all the compared methods and achieves good results "
               "in all the maps' (§4.2). Check: on every map, cast_bcq's final win rate >= each of i_bcq, mabcq, "
               "icq_ma. EXPECTED NOT TO HOLD: Table 1 has ICQ-MA 83 > Ours 81 on 3s_vs_3z."),
    Claim(item="figure5", id="f5_ibcq_fails",
          text="'As expected, single-agent offline RL methods (I-BCQ) fail to learn a policy that successfully "
               "defeats the enemy' (§4.2). Check: on every map, i_bcq's final win rate <= 10%. EXPECTED NOT TO "
               "HOLD: Table 1 has I-BCQ at 58% on 3s_vs_3z (4, 8, 0 on the others)."),
    Claim(item="figure5", id="f5_mabcq_poor",
          text="'The multi-agent offline RL approaches (MABCQ) also performed poorly due to the lack of cooperation "
               "mechanism' (§4.2). Check: on every map, mabcq's final win rate <= 10% (Table 1: 6, 0, 1, 0)."),
    Claim(item="figure5", id="f5_icqma_and_ours_satisfactory",
          text="'ICQ-MA and ours achieved satisfactory performance thanks to their respective cooperation "
               "mechanisms' (§4.2). Check: on every map, icq_ma's and cast_bcq's final win rates are each >= 20% "
               "and >= max(i_bcq, mabcq) + 10 pp (Table 1: lowest 21 on 10m_vs_11m; smallest margin 81 - 58 = 23 "
               "on 3s_vs_3z)."),
]

# Claims the paper's own tables contradict (NOTES of table1 and table2): id -> the table cell that breaks it.
# A verdict of "does not hold" on these is the paper's, not a failure of ours. (Claim has no field for this.)
EXPECTED_NOT_TO_HOLD = {
    "t2_ours_best_decentralized_d4rl": "Table 2, hopper-3x1 expert: ICQ-MA 2870.0 > Ours 2428.4",
    "f5_ours_best": "Table 1, 3s_vs_3z: ICQ-MA 83 > Ours 81",
    "f5_ibcq_fails": "Table 1, 3s_vs_3z: I-BCQ wins 58%",
}

check_paper(ITEMS, PUBLISHED, CLAIMS, NOTES)
