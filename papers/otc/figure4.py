"""OTC Figure 4: adaptive versus fixed alpha (left) and the adaptive alpha of each agent over the deployments
(right), on halfcheetah-2x3 random and medium-replay with d_e + BCQ (Sec. 4.3).

    python papers/otc/figure4.py --profile smoke      # or quick / full; --help

Cells: (halfcheetah-2x3, random | medium-replay) x {bcq_otc_de (adaptive alpha, alpha^0 = 1: Table 1's cells,
copied when Table 1 ran them), bcq_otc_de_fixed1.0 (alpha = 1 throughout)}. The text names the two tasks for the
right panel; the left panel is read to use the same two [I]. Outputs under <results>/<profile>/otc/:
figure4_halfcheetah-2x3_<dataset>.png (S(pi^k) of both), figure4_alpha.png (alpha_i^k per agent: seed mean as a
dotted line, every seed as a point; the paper draws violins over seeds) and the verdicts (papers/otc/claims.py) of
f4_adaptive_beats_fixed, f4_alpha_grows_replay, f4_alpha_stable_replay, f4_alpha_differs_random on a complete grid
only. alpha^1 = alpha^0
= 1 (Eq. 4 adapts from the second deployment on), so alpha_i^K is also the ratio r_i of the claims.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.reporting.plotting import plt, save
from papers.otc import mujoco_items as M
from papers.otc.claims_curves import alphas
from papers.otc.published import FIG4_CELLS, FIG4_METHODS

ITEM = Path(__file__).stem


def grid(profile: str) -> list[tuple[str, str, str]]:
    return [(e, d, m) for e, d in FIG4_CELLS for m in FIG4_METHODS]


def build_cells(profile):
    return M.cells(ITEM, profile, grid(profile.name))


def plot_alpha(records, path: Path) -> Path | None:
    sets = [(d, alphas(records, d)) for _, d in FIG4_CELLS]
    sets = [(d, a) for d, a in sets if a.size]
    if not sets:
        return None
    fig, axes = plt().subplots(1, len(sets), figsize=(5 * len(sets), 3.6), squeeze=False)
    for ax, (d, a) in zip(axes[0], sets):  # a [seeds, K, N]
        k = np.arange(1, a.shape[1] + 1)
        for i in range(a.shape[2]):
            line = ax.plot(k, a[:, :, i].mean(0), ":", marker="o", label=f"agent {i} (seed mean)")[0]
            for s in range(a.shape[0]):
                ax.scatter(k + 0.08 * (i - 0.5), a[s, :, i], s=8, color=line.get_color(), alpha=0.5)
        ax.set_title(f"alpha, halfcheetah-2x3 {d}")
        ax.set_xlabel("deployment k")
        ax.set_ylabel("alpha_i^k")
        ax.legend(fontsize="small")
    return save(fig, path)


def finish(records, results: Path, profile: str) -> None:
    out = results / profile / "otc"
    M.curve_panels(records, out, ITEM, "Fig. 4, adaptive vs fixed alpha", FIG4_CELLS, FIG4_METHODS)
    png = plot_alpha(records, out / f"{ITEM}_alpha.png")
    if png is not None:
        print(f"[otc/{ITEM}] wrote {png}", flush=True)
    keys = [{"dataset": d, "env": e, "method": m} for e, d, m in grid(profile)]
    M.write_if_complete(records, results, profile, ITEM, keys)


def main(argv=None):
    return M.run(__doc__.splitlines()[0], ITEM, build_cells, finish, FIG4_METHODS, argv)


if __name__ == "__main__":
    main()
