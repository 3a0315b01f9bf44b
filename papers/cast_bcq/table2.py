"""CAST-BCQ Table 2: average score on data of different quality, five methods x three MaMuJoCo tasks (§4.3.3),
and our behavior-cloning column.

    python papers/cast_bcq/table2.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/cast_bcq/table2.py --dataset mixed --env mamujoco/hopper-3x1     # part of the grid

Row groups (``dataset``): 'mixed' = "Multi-Agent MuJoCo, Medium-Expert", the uncoordinated data (Figure 4's
runs, copied when run there); 'medium' / 'expert' = "D4RL (Multi-Agent Variation)", the single-agent SAC medium
/ expert data with the action split per agent. Columns: BCQ (central), I-BCQ, MABCQ, ICQ-MA, CAST-BCQ, then
``bc``: independent behavior cloning on the same data, updates, batch and width (ours only, issue 67: no published
number, no claim reads it; it shows whether a method's gain over cloning the data is real). Score = raw return of
the last evaluation, mean over seeds (the paper prints no spread); every record also holds the D4RL-normalized
score, the best evaluation and the mean of the last 10. Verdicts (papers/cast_bcq/claims.py, the paper's five
columns only): t2_ours_best_uncoordinated, t2_ours_beats_central_bcq_uncoordinated, t2_ours_best_decentralized_d4rl,
t2_split_easier (soft), each once the cells it reads are complete (the 'mixed' claims need only the 'mixed' row).
"""

from __future__ import annotations

from pathlib import Path

from papers.cast_bcq import config as C
from papers.cast_bcq import mujoco_items as M

ITEM = Path(__file__).stem
METHODS = C.TABLE2_RUN_METHODS  # the paper's five, then bc
DATASETS = C.MUJOCO_DATASETS
build_cells, main = M.entry(__doc__, ITEM, METHODS, DATASETS)


if __name__ == "__main__":
    main()
