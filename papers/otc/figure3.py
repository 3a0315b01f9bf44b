"""OTC Figure 3: learning curves of OTC on BCQ over the deployments (Sec. 4.2).

    python papers/otc/figure3.py --profile smoke      # or quick / full; --help

The figure is missing from our copy of the paper and its text says "for a part of tasks": we plot every Table 1
task of the profile's grid [I C26] with d_e + BCQ, d_q + BCQ and BCQ (uniform), S(pi^k) for k = 0..K, mean ± std
over seeds. No new runs: these are Table 1's BCQ runs (copied when Table 1 ran them, run here otherwise).
Outputs under <results>/<profile>/otc/: figure3_<env>_<dataset>.png and the verdict of f3_otc_above_bcq (both OTC
curves end above BCQ on every plotted task), on a complete grid only.
"""

from __future__ import annotations

from pathlib import Path

from papers.otc import mujoco_items as M
from papers.otc import table1

ITEM = Path(__file__).stem
METHODS = ("bcq_otc_de", "bcq_otc_dq", "bcq")


def grid(profile: str) -> list[tuple[str, str, str]]:
    return [(e, d, m) for e, d, m in table1.grid(profile) if m in METHODS]


def tasks(profile: str) -> list[tuple[str, str]]:
    return list(dict.fromkeys((e, d) for e, d, _ in grid(profile)))


def build_cells(profile):
    return M.cells(ITEM, profile, grid(profile.name))


def finish(records, results: Path, profile: str) -> None:
    M.curve_panels(records, results / profile / "otc", ITEM, "Fig. 3, OTC on BCQ", tasks(profile), METHODS)
    keys = [{"dataset": d, "env": e, "method": m} for e, d, m in grid(profile)]
    M.write_if_complete(records, results, profile, ITEM, keys)


def main(argv=None):
    return M.run(__doc__.splitlines()[0], ITEM, build_cells, finish, METHODS, argv)


if __name__ == "__main__":
    main()
