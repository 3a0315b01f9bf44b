"""OTC Figure 7: OTC (d_q) + TD3+BC against TD3+BC on cooperative navigation with 3, 4 and 6 agents (Sec. 4.7).

    python papers/otc/figure7.py --profile smoke      # or quick / full; --help

Cells: n_agents x {td3bc (uniform from the merged data), td3bc_otc_dq (OTC, value distance, adaptive alpha)} on
``otc/navigation`` with uniform-random data (papers/otc/nav_items.py). The N values are not in our copy (the
figure is missing): 3, 4 and 6 [I C26] (the MPE default and Figure 8's). Grids: full and quick = N in {3, 4, 6};
smoke = N = 3. Outputs under <results>/<profile>/otc/: figure7_n<N>.png (S(pi^k) over the deployments) and the
verdict of f7_scales_with_agents (OTC above TD3+BC at k = K for every N) on a complete grid only.
"""

from __future__ import annotations

from pathlib import Path

from papers.otc import nav_items as V
from papers.otc.published import FIG7_N_AGENTS

ITEM = Path(__file__).stem
METHODS = ("td3bc_otc_dq", "td3bc")


def n_agents(profile: str) -> tuple[int, ...]:
    return FIG7_N_AGENTS if profile != "smoke" else FIG7_N_AGENTS[:1]


def grid(profile: str) -> list[tuple[int, str]]:
    return [(n, m) for n in n_agents(profile) for m in METHODS]


def build_cells(profile):
    return V.cells(ITEM, profile, grid(profile.name))


def finish(records, results: Path, profile: str) -> None:
    V.finish_panels(records, results, profile, ITEM, n_agents(profile), grid(profile))


def main(argv=None):
    return V.run(__doc__.splitlines()[0], ITEM, build_cells, finish, METHODS, argv)


if __name__ == "__main__":
    main()
