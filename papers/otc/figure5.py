"""OTC Figure 5: OTC versus Balanced Replay, uniform sampling from the merged data, and online data only (Sec. 4.3).

    python papers/otc/figure5.py --profile smoke      # or quick / full; --help

The figure is missing from our copy and its panels are not named ("e.g., Figure 5d"): we take four tasks that
cover every robot and data kind [I C26] (published.FIG5_CELLS): halfcheetah random and medium-replay, walker2d
medium, hopper medium-replay. Base learner BCQ; OTC = d_e with the adaptive alpha (bcq_otc_de, Table 1's cells,
copied when Table 1 ran them); uniform = bcq (Table 1's); Balanced Replay (bcq_br: Lee et al. 2021's sampler
with its density-ratio net, papers/otc/balanced_replay.py, without its Q-ensemble: the paper compares sampling
strategies) and online only (bcq_online: 128 rows uniform from D^1 u ... u D^k) are new. Grids: full = the four
tasks; quick = halfcheetah medium-replay (the spec's cut); smoke = hopper medium-replay. Outputs under
<results>/<profile>/otc/: figure5_<env>_<dataset>.png and the verdicts of f5_otc_best, f5_br_uniform_susceptible,
f5_online_only_insufficient, f5_online_only_overfits on a complete grid only.
"""

from __future__ import annotations

from pathlib import Path

from papers.otc import mujoco_items as M
from papers.otc.published import FIG5_CELLS, FIG5_METHODS

ITEM = Path(__file__).stem


def tasks(profile: str) -> list[tuple[str, str]]:
    if profile == "full":
        return list(FIG5_CELLS)
    if profile == "quick":
        return [("mamujoco/halfcheetah-2x3", "medium-replay")]
    return [("mamujoco/hopper-3x1", "medium-replay")]


def grid(profile: str) -> list[tuple[str, str, str]]:
    return [(e, d, m) for e, d in tasks(profile) for m in FIG5_METHODS]


def build_cells(profile):
    return M.cells(ITEM, profile, grid(profile.name))


def finish(records, results: Path, profile: str) -> None:
    M.curve_panels(
        records, results / profile / "otc", ITEM, "Fig. 5, sampling strategies", tasks(profile), FIG5_METHODS
    )
    keys = [{"dataset": d, "env": e, "method": m} for e, d, m in grid(profile)]
    M.write_if_complete(records, results, profile, ITEM, keys)


def main(argv=None):
    return M.run(__doc__.splitlines()[0], ITEM, build_cells, finish, FIG5_METHODS, argv)


if __name__ == "__main__":
    main()
