"""OMAR Table 2: MA-CQL with more actor updates per critic update (2-agent spread1d, medium-replay).

    python papers/omar/table2.py --profile smoke      # or quick / full; --help for all options

Cells: method ma_cql x actor_updates in {1, 5, 20} (ITD3Config.actor_updates: the actor takes that
many gradient steps on the same minibatch after each critic step); metric = raw return (Section 3.1).
"""

from __future__ import annotations

from pathlib import Path

from papers.omar.jobs import cql_sweep

ITEM = Path(__file__).stem
ACTOR_UPDATES = ("1", "5", "20")
build_cells, main = cql_sweep(ITEM, "actor_updates", ACTOR_UPDATES, int, __doc__)

if __name__ == "__main__":
    main()
