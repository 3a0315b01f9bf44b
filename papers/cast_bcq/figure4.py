"""CAST-BCQ Figure 4: MaMuJoCo HalfCheetah 2x3, Walker2d 2x3 and Hopper 3x1 on the uncoordinated data (§4.1).

    python papers/cast_bcq/figure4.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/cast_bcq/figure4.py --env mamujoco/hopper-3x1 --method cast_bcq   # part of the grid

Cells: env x method {bcq, i_bcq, mabcq, icq_ma, cast_bcq} on the 'mixed' data (each agent follows the medium or
the expert SAC policy per episode, every combination equally often; common.datasets.mujoco), each method with
the observation the official code gives it (config.MUJOCO_METHODS). Score = the raw return of the shared
reward (≤ 1000 steps), the last evaluation's mean; the curves are every evaluation, mean ± std over seeds.
These runs are Table 2's 'mixed' row: a run done by either script is copied, not re-run, by the other.
Outputs under <results>/<profile>/cast_bcq/: figure4_<env>.png and the verdicts of f4_ours_best_all,
f4_icqma_poor and f4_mabcq_poor_walker_hopper (each once the cells it reads are complete).
"""

from __future__ import annotations

from pathlib import Path

from papers.cast_bcq import config as C
from papers.cast_bcq import mujoco_items as M

ITEM = Path(__file__).stem
METHODS = C.TABLE2_METHODS
RATIO = 2 / 3  # f4_icqma_poor / f4_mabcq_poor_walker_hopper: "poor" = at most 2/3 of ours (published.CLAIMS)


def build_cells(profile):
    return M.cells(ITEM, profile, None, METHODS)


def _poor(records, method: str, envs) -> tuple[bool, str]:
    """``method``'s final score <= RATIO x ours on every env of ``envs``."""
    fin = {e: {m: M.finals(records, env=e, method=m)[0] for m in (method, "cast_bcq")} for e in envs}
    ratios = {e: fin[e][method] / fin[e]["cast_bcq"] if fin[e]["cast_bcq"] > 0 else float("nan") for e in envs}
    holds = all(r <= RATIO for r in ratios.values())  # NaN (ours <= 0) compares False: not "poor than ours"
    return holds, (f"{M.LABELS[method]} / ours final score: "
                   + ", ".join(f"{M.SHORT[e]} {r:.2f}" for e, r in ratios.items()) + f" (holds if all <= {RATIO:.2f})")


def _best(records) -> tuple[bool, str]:
    fin = {e: {m: M.finals(records, env=e, method=m)[0] for m in METHODS} for e in C.MUJOCO_ENVS}
    best = {e: all(fin[e]["cast_bcq"] > fin[e][m] for m in METHODS if m != "cast_bcq") for e in C.MUJOCO_ENVS}
    return all(best.values()), "final score (seed mean); " + "; ".join(
        f"{M.SHORT[e]}: {M.describe(fin[e])}" for e in C.MUJOCO_ENVS)


WALKER_HOPPER = ("mamujoco/hopper-3x1", "mamujoco/walker2d-2x3")
CHECKS: dict[str, M.Check] = {  # claim -> (the cells it reads, its judge)
    "f4_ours_best_all": (M.grid_of(C.MUJOCO_ENVS, METHODS), _best),
    "f4_icqma_poor": (M.grid_of(C.MUJOCO_ENVS, ("icq_ma", "cast_bcq")), lambda r: _poor(r, "icq_ma", C.MUJOCO_ENVS)),
    "f4_mabcq_poor_walker_hopper": (M.grid_of(WALKER_HOPPER, ("mabcq", "cast_bcq")),
                                    lambda r: _poor(r, "mabcq", WALKER_HOPPER)),
}


def verdicts(records) -> dict[str, tuple[bool, str]]:
    return M.judge_all(CHECKS, records)


def finish(records, results: Path, profile: str) -> None:
    M.curve_panels(records, results / profile / "cast_bcq", ITEM, "Fig. 4, uncoordinated data")
    M.write_verdicts(records, results, profile, ITEM, CHECKS)


def main(argv=None):
    return M.run(__doc__.splitlines()[0], ITEM, build_cells, finish, METHODS, None, argv)


if __name__ == "__main__":
    main()
