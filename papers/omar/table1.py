"""OMAR Table 1: MA-CQL with a larger actor learning rate (2-agent spread1d, medium-replay).

    python -m papers.omar.table1 --profile smoke     # or: python papers/omar/table1.py --profile smoke

Cells: method ma_cql x actor_lr in {1e-2, 5e-2, 1e-1} (critic lr stays 1e-2); metric = raw return.
"""

from __future__ import annotations

from pathlib import Path

from papers.omar.jobs import cql_sweep

ITEM = Path(__file__).stem
ACTOR_LRS = ("1e-2", "5e-2", "1e-1")
build_cells, main = cql_sweep(ITEM, "actor_lr", ACTOR_LRS, float, __doc__)

if __name__ == "__main__":
    main()
