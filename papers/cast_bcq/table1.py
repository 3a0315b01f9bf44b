"""CAST-BCQ Table 1: test win rates (%) on SMAC's maps (§4.2), on SMAX, a SUBSTITUTE (win rates not comparable to SC2).

    python papers/cast_bcq/table1.py --profile smoke      # or quick / full; --help
    python papers/cast_bcq/table1.py --env smax/3s_vs_3z --method cast_bcq     # part of the grid

SMAX SUBSTITUTE: the paper plays StarCraft II (SMAC, built-in AI at difficulty 7) on ICQ's datasets; we play JaxMARL's
SMAX (envs/smax.py; scripted heuristic enemy, no shields) on our own multi-source datasets from MAPPO snapshots
(common.datasets.smax, kind "mixed", built at the run's profile when missing). Absolute win rates are NOT comparable
to the paper's; only the orderings (the claims) are compared. SMAX has no Medivac, so the MMM cell runs
smax/MMM_no_medivac (7 marines + 2 marauders a side), a labelled substitute whose claims are not counted (its row
stands apart from the published smax/MMM row in the report).
Cells: map (config.SMAX_MAPS) x method {i_bcq, mabcq, icq_ma, cast_bcq} (papers/cast_bcq/smac.py; MLP agents in place
of SMAC's GRUs), then ours: cast_bcq_paper (CAST-BCQ in the paper's form: Q_i regressed onto the credit, acting through
the BCQ filter at 0.3; the cast_bcq column is the official code's form, pi regressed onto the credit) and bc. Score = the last evaluation's test win rate (greedy masked actions, 20 episodes at quick/full;
stored as a fraction, shown in %). These runs are Figure 5's: a run done by either script is copied by the other.
Claims t1_ours_best_most_maps and t1_ibcq_mabcq_low on the counted maps, on a complete grid only
(papers/cast_bcq/smac_items.py).
"""

from __future__ import annotations

from pathlib import Path

from papers.cast_bcq import smac_items as S

ITEM = Path(__file__).stem
METHODS = S.METHODS
build_cells, main = S.entry(__doc__, ITEM)


if __name__ == "__main__":
    main()
