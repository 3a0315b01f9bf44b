"""CAST-BCQ Figure 6: ablations of CAST-BCQ on MaMuJoCo, w/o CSAA, w/o ST and w/o CD (§4.3.1-4.3.2).

    python papers/cast_bcq/figure6.py --profile smoke      # or quick / full (--device cuda); --help

Cells: env {HalfCheetah 2x3, Walker2d 2x3, Hopper 3x1} x method {cast_bcq, cast_bcq_wo_csaa, cast_bcq_wo_st,
cast_bcq_wo_cd} on the uncoordinated 'mixed' data. Only panel (a) HalfCheetah is named in our copy of the paper;
the other two panels are taken to be Figure 4's envs. The ablations (papers/cast_bcq/cast_bcq.py, ``ablation``):
  wo_csaa  Q_i regresses onto the un-credited central value (no counterfactual baseline, no sub-teams);
  wo_st    the counterfactual baseline with the empty sub-team only (COMA-style);
  wo_cd    the single head Q^c_1 instead of the clipped double-Q mix, in the target and the credit.
The cast_bcq cells are Figure 4's (copied when run there). Outputs: figure6_<env>.png and the verdicts of
f6_wo_csaa_worse, f6_wo_st_close and f6_wo_cd_drops (each once ours and its ablation are complete on every env).
"""

from __future__ import annotations

from pathlib import Path

from papers.cast_bcq import config as C
from papers.cast_bcq import mujoco_items as M

ITEM = Path(__file__).stem
METHODS = C.ABLATION_METHODS
build_cells, main = M.entry(__doc__, ITEM, METHODS, curves="Fig. 6, ablations (uncoordinated data)")


if __name__ == "__main__":
    main()
