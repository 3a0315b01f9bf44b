"""CAST-BCQ Figure 4: MaMuJoCo HalfCheetah 2x3, Walker2d 2x3 and Hopper 3x1 on the uncoordinated data (§4.1).

    python papers/cast_bcq/figure4.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/cast_bcq/figure4.py --env mamujoco/hopper-3x1 --method cast_bcq   # part of the grid

Cells: env x method {bcq, i_bcq, mabcq, icq_ma, cast_bcq, bc} on the 'mixed' data (each agent follows the medium
or the expert SAC policy per episode, every combination equally often; common.datasets.mujoco), each method with
the observation the official code gives it (config.MUJOCO_METHODS); ``bc`` is ours only (issue 67): independent
behavior cloning on the same data and budget, the curve a reader compares the others' gains with, no published
number, read by no claim. Score = the raw return of the shared reward (≤ 1000 steps), the last evaluation's mean;
the curves are every evaluation, mean ± std over seeds. These runs are Table 2's 'mixed' row: a run done by either
script is copied, not re-run, by the other. Outputs under <results>/<profile>/cast_bcq/: figure4_<env>.png and the
verdicts of f4_ours_best_all, f4_icqma_poor and f4_mabcq_poor_walker_hopper (each once the cells it reads are
complete).
"""

from __future__ import annotations

from pathlib import Path

from papers.cast_bcq import config as C
from papers.cast_bcq import mujoco_items as M

ITEM = Path(__file__).stem
METHODS = C.TABLE2_RUN_METHODS  # the paper's five, then bc
build_cells, main = M.entry(__doc__, ITEM, METHODS, curves="Fig. 4, uncoordinated data")


if __name__ == "__main__":
    main()
