"""CAST-BCQ Figure 6: ablations of CAST-BCQ on MaMuJoCo, w/o CSAA, w/o ST and w/o CD (§4.3.1-4.3.2).

    python papers/cast_bcq/figure6.py --profile smoke      # or quick / full (--device cuda); --help

Cells: env {HalfCheetah 2x3, Walker2d 2x3, Hopper 3x1} x method {cast_bcq, cast_bcq_wo_csaa, cast_bcq_wo_st,
cast_bcq_wo_cd} on the uncoordinated 'mixed' data. Only panel (a) HalfCheetah is named in our copy of the paper;
the other two panels are taken to be Figure 4's envs. The ablations (papers/cast_bcq/cast_bcq.py, ``ablation``):
  wo_csaa  Q_i regresses onto the un-credited central value (no counterfactual baseline, no sub-teams);
  wo_st    the counterfactual baseline with the empty sub-team only (COMA-style);
  wo_cd    the single head Q^c_1 instead of the clipped double-Q mix, in the target and the credit.
The cast_bcq cells are Figure 4's (copied when run there). Outputs: figure6_<env>.png and the verdicts of
f6_wo_csaa_worse, f6_wo_st_close and f6_wo_cd_drops (each once ours and its ablation are complete on every env).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.reporting.figures import seed_means
from papers.cast_bcq import config as C
from papers.cast_bcq import mujoco_items as M

ITEM = Path(__file__).stem
METHODS = C.ABLATION_METHODS
WALKER = "mamujoco/walker2d-2x3"


def build_cells(profile):
    return M.cells(ITEM, profile, None, METHODS)


def _fin(records, method: str) -> dict[str, float | None]:
    return {e: M.finals(records, env=e, method=method)[0] for e in C.MUJOCO_ENVS}


def _csaa(records) -> tuple[bool, str]:
    ours, wo = _fin(records, "cast_bcq"), _fin(records, "cast_bcq_wo_csaa")
    std = {e: seed_means(records, "score", env=e, method="cast_bcq")[1] for e in C.MUJOCO_ENVS}
    return all(ours[e] - wo[e] > std[e] for e in C.MUJOCO_ENVS), "ours − w/o CSAA vs ours' std over seeds: " + ", ".join(
        f"{M.SHORT[e]} {ours[e] - wo[e]:.1f} vs {std[e]:.1f}" for e in C.MUJOCO_ENVS)


def _st(records) -> tuple[bool, str]:
    ours, wo = _fin(records, "cast_bcq"), _fin(records, "cast_bcq_wo_st")
    holds = all(wo[e] >= 0.8 * ours[e] for e in C.MUJOCO_ENVS) and ours[WALKER] > wo[WALKER]
    return holds, "w/o ST / ours: " + ", ".join(
        f"{M.SHORT[e]} {wo[e] / ours[e]:.2f}" if ours[e] else f"{M.SHORT[e]} n/a" for e in C.MUJOCO_ENVS) + "; " + \
        "; ".join(f"{M.SHORT[e]}: {M.describe({'cast_bcq': ours[e], 'cast_bcq_wo_st': wo[e]})}" for e in C.MUJOCO_ENVS)


def _cd(records) -> tuple[bool, str]:
    ours, wo = _fin(records, "cast_bcq"), _fin(records, "cast_bcq_wo_cd")
    drop = {e: 1 - wo[e] / ours[e] if ours[e] > 0 else float("nan") for e in C.MUJOCO_ENVS}
    holds = all(wo[e] < ours[e] for e in C.MUJOCO_ENVS) and \
        bool(np.nanargmax([drop[e] for e in C.MUJOCO_ENVS]) == C.MUJOCO_ENVS.index(WALKER)) \
        if not all(np.isnan(list(drop.values()))) else False
    return holds, "relative drop 1 − w/o CD / ours: " + ", ".join(f"{M.SHORT[e]} {drop[e]:.2f}" for e in C.MUJOCO_ENVS)


CHECKS: dict[str, M.Check] = {  # claim -> (the cells it reads: ours and one ablation on every env, its judge)
    "f6_wo_csaa_worse": (M.grid_of(C.MUJOCO_ENVS, ("cast_bcq", "cast_bcq_wo_csaa")), _csaa),
    "f6_wo_st_close": (M.grid_of(C.MUJOCO_ENVS, ("cast_bcq", "cast_bcq_wo_st")), _st),
    "f6_wo_cd_drops": (M.grid_of(C.MUJOCO_ENVS, ("cast_bcq", "cast_bcq_wo_cd")), _cd),
}


def verdicts(records) -> dict[str, tuple[bool, str]]:
    return M.judge_all(CHECKS, records)


def finish(records, results: Path, profile: str) -> None:
    M.curve_panels(records, results / profile / "cast_bcq", ITEM, "Fig. 6, ablations (uncoordinated data)")
    M.write_verdicts(records, results, profile, ITEM, CHECKS)


def main(argv=None):
    return M.run(__doc__.splitlines()[0], ITEM, build_cells, finish, METHODS, None, argv)


if __name__ == "__main__":
    main()
