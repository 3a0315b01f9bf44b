"""OTC Figure 8: ablations on 4- and 6-agent cooperative navigation: adaptive versus fixed alpha (left) and the
sampling strategies (right), all on TD3+BC with the value distance d_q (Sec. 4.7, 4.3).

    python papers/otc/figure8.py --profile smoke      # or quick / full; --help

Cells: n_agents x {td3bc_otc_dq (adaptive alpha), td3bc_otc_dq_fixed<alpha> for alpha in {0.5, 1.0, 2.0} (not
given in our copy: our choice [I C26]), td3bc_br (Balanced Replay), td3bc (uniform from the merged data),
td3bc_online (online data only)}. The adaptive and uniform runs are Figure 7's (copied when Figure 7 ran them).
Grids: full = N in {4, 6}; quick and smoke = N = 4 (the spec's cut). Outputs under <results>/<profile>/otc/:
figure8_n<N>.png and the verdicts of f8_alpha_sensitive, f8_adaptive_best, f8_alpha_interior,
f8_otc_best_sampling on a complete grid only.
"""

from __future__ import annotations

from pathlib import Path

from papers.otc import nav_items as V
from papers.otc.published import FIG8_METHODS, FIG8_N_AGENTS

ITEM = Path(__file__).stem


def n_agents(profile: str) -> tuple[int, ...]:
    return FIG8_N_AGENTS if profile == "full" else FIG8_N_AGENTS[:1]


def grid(profile: str) -> list[tuple[int, str]]:
    return [(n, m) for n in n_agents(profile) for m in FIG8_METHODS]


def build_cells(profile):
    return V.cells(ITEM, profile, grid(profile.name))


def finish(records, results: Path, profile: str) -> None:
    V.finish_panels(records, results, profile, ITEM, n_agents(profile), grid(profile))


def main(argv=None):
    return V.run(__doc__.splitlines()[0], ITEM, build_cells, finish, FIG8_METHODS, argv)


if __name__ == "__main__":
    main()
