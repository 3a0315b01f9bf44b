"""OTC Table 1: improvement (%) at the last of K = 10 deployments over the offline-trained policies (Sec. 4.2).

    python papers/otc/table1.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/otc/table1.py --env mamujoco/hopper-3x1 --dataset medium-replay --method bcq_otc_de   # part

Cells: dataset (random, medium-replay, medium) x env (2-agent HalfCheetah, 2-agent Walker2d, 3-agent Hopper, all
agents seeing the full state) x method: d_e + BCQ (bcq_otc_de), d_q + BCQ (bcq_otc_dq), BCQ (bcq: uniform from
the merged data), and the same three on AWAC. Data: the shared D4RL-protocol datasets (common.datasets.mujoco),
each agent keeping its own action column. Per seed: pi^0 offline (cached, shared by the variants of a seed), then
K deployments of M = 1 % |B^0| steps with L fine-tuning updates each (papers/otc/deploy.py). Score = 100 (S(pi^K) -
S(pi^0)) / |S(pi^0)| with S = the mean raw return of deterministic evaluation episodes; every record also holds
S(pi^0), S(pi^K), both D4RL-normalized, and the curve of S(pi^k), deployment returns, alpha_i^k and DD_i^k.

Grids: full = the paper's 54 cells; quick = the whole BCQ half (27 cells: BCQ's three columns on every env and
dataset), AWAC's three on walker2d medium and AWAC on halfcheetah random for the footnote's claim, and a column of
ours beside BCQ's, d_e on a VAE of the joint transition (bcq_otc_de_joint; papers/otc/otc_cvae.py: the paper's CVAE
collapses on these data) on every BCQ row (40 cells); smoke = hopper random with every column and ours, AWAC on
halfcheetah random. Verdicts
(papers/otc/claims.py: first our precondition t1_pi0_reasonable, pi^0 against the offline learner's published level,
papers/otc/offline_levels.py; then the paper's t1_otc_beats_uniform, t1_otc_substantially_better,
t1_dq_not_commonly_better, t1_otc_improves_offline, t1_awac_fails_hc_random) on a complete grid only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from papers.otc import config as C
from papers.otc import mujoco_items as M
from papers.otc.claims_curves import SHORT, curve_values
from papers.otc.published import TABLE1_METHODS

ITEM = Path(__file__).stem
JOINT = "bcq_otc_de_joint"  # ours, beside the paper's columns; read by no claim (module docstring)
HC, WALKER, HOPPER = C.MUJOCO_ENVS


def grid(profile: str) -> list[tuple[str, str, str]]:
    """(env, dataset, method) triples of the profile's grid (module docstring)."""
    if profile == "full":
        return [(e, d, m) for d in C.MUJOCO_DATASETS for e in C.MUJOCO_ENVS for m in TABLE1_METHODS]
    if profile == "quick":
        # the whole BCQ half (issue 65), Table 1's order, and ours after BCQ's columns
        bcq = [
            (e, d, m) for d in C.MUJOCO_DATASETS for e in C.MUJOCO_ENVS for m in (*TABLE1_METHODS[:3], JOINT)
        ]
        return (
            bcq
            + [(WALKER, "medium", m) for m in ("awac_otc_de", "awac_otc_dq", "awac")]
            + [(HC, "random", "awac")]
        )
    return [(HOPPER, "random", m) for m in (*TABLE1_METHODS, JOINT)] + [(HC, "random", "awac")]


def build_cells(profile):
    return M.cells(ITEM, profile, grid(profile.name))


def finish(records, results: Path, profile: str) -> None:
    cells = grid(profile)
    keys = [{"dataset": d, "env": e, "method": m} for e, d, m in cells]
    M.write_if_complete(records, results, profile, ITEM, keys)
    for e, d, m in cells:
        s0 = curve_values(records, "score", env=e, dataset=d, method=m)
        if s0.size:
            print(
                f"[otc/{ITEM}] {d}/{SHORT[e]}/{m}: S(pi^0) {np.nanmean(s0[:, 0]):.1f} -> S(pi^K) "
                f"{np.nanmean(s0[:, -1]):.1f} (seed means)",
                flush=True,
            )


def main(argv=None):
    return M.run(__doc__.splitlines()[0], ITEM, build_cells, finish, (*TABLE1_METHODS, JOINT), argv)


if __name__ == "__main__":
    main()
