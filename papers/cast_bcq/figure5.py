"""CAST-BCQ Figure 5: learning curves (test win rate) on the four StarCraft maps (§4.2), on SMAX.

    python papers/cast_bcq/figure5.py --profile smoke      # --help

Not runnable yet: the StarCraft items run on SMAX (JaxMARL's StarCraft, the ``[smax]`` extra; the environments
are envs/smax.py, the behavior policies and datasets common/datasets/smax.py); the SMAC variant of CAST-BCQ and its
discrete baselines are the StarCraft issue's remaining part. Until they exist (config.needs_smax), this script runs
nothing, says what it needs, marks the item so in its plan file (the report shows it instead of "not run") and exits with status 3 (common.cli.EXIT_NEEDS), which ./run_all.sh lists
apart from failures. The published numbers are in papers/cast_bcq/published.py. Planned cells: map
(config.SMAX_MAPS) x method {i_bcq, mabcq, icq_ma, cast_bcq}.
"""

from __future__ import annotations

from pathlib import Path

from common.experiment import Cell
from papers.cast_bcq import config as C
from papers.cast_bcq.jobs import grid_job, run_item

ITEM = Path(__file__).stem
METHODS = ("i_bcq", "mabcq", "icq_ma", "cast_bcq")


def build_cells(profile) -> list[Cell]:
    """The planned grid (its configs come with the SMAX learners; needs_smax stops the script first)."""
    return [Cell("cast_bcq", ITEM, {"env": m, "method": k}, {"env": m, "method": k}) for m in C.SMAX_MAPS
            for k in METHODS]


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, grid_job, argv=argv, needs=C.needs_smax)


if __name__ == "__main__":
    main()
