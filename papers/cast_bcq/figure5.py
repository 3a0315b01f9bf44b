"""CAST-BCQ Figure 5: learning curves (test win rate) on the StarCraft maps (§4.2), on SMAX, a SUBSTITUTE for SC2.

    python papers/cast_bcq/figure5.py --profile smoke      # or quick / full; --help
    python papers/cast_bcq/figure5.py --env smax/2s3z --method icq_ma          # part of the grid

SMAX SUBSTITUTE (see table1.py): SMAX's engine and scripted enemy, our MAPPO-snapshot datasets; absolute win rates are
NOT comparable to the paper's SC2 numbers, only the orderings are compared; the MMM panel is smax/MMM_no_medivac, a
labelled substitute whose claims are not counted.
Cells: map (config.SMAX_MAPS) x method {i_bcq, mabcq, icq_ma, cast_bcq, cast_bcq_paper, bc}, the same runs as
Table 1 (copied when present). Curves: the test win rate at each evaluation (config.SMAX_EVALS evenly spaced; quick 10), mean ± std over
seeds. Outputs under <results>/<profile>/cast_bcq/: figure5_<map>.png and the verdicts of f5_ours_best,
f5_ibcq_fails, f5_mabcq_poor, f5_icqma_and_ours_satisfactory (counted maps, complete grid only).
"""

from __future__ import annotations

from pathlib import Path

from papers.cast_bcq import smac_items as S

ITEM = Path(__file__).stem
METHODS = S.METHODS
build_cells, main = S.entry(__doc__, ITEM)


if __name__ == "__main__":
    main()
