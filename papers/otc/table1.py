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

Grids: full = the paper's 54 cells; quick = the spec's cut (BCQ's three columns on halfcheetah medium-replay,
walker2d medium and hopper medium-replay; AWAC's three on walker2d medium; AWAC on halfcheetah random for the
footnote's claim); smoke = hopper random with every column, AWAC on halfcheetah random. Verdicts
(t1_otc_beats_uniform, t1_otc_substantially_better, t1_dq_not_commonly_better, t1_otc_improves_offline,
t1_awac_fails_hc_random) on a complete grid only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from papers.otc import config as C
from papers.otc import mujoco_items as M
from papers.otc.published import TABLE1_METHODS

ITEM = Path(__file__).stem
HC, WALKER, HOPPER = C.MUJOCO_ENVS
LEARNERS = ("bcq", "awac")
AWAC_NORMALIZED_FAIL = 5.0  # t1_awac_fails_hc_random: "does not work" = D4RL-normalized S(pi^0) < 5


def grid(profile: str) -> list[tuple[str, str, str]]:
    """(env, dataset, method) triples of the profile's grid (module docstring)."""
    if profile == "full":
        return [(e, d, m) for d in C.MUJOCO_DATASETS for e in C.MUJOCO_ENVS for m in TABLE1_METHODS]
    if profile == "quick":
        bcq = [(e, d, m) for e, d in ((HC, "medium-replay"), (WALKER, "medium"), (HOPPER, "medium-replay"))
               for m in ("bcq_otc_de", "bcq_otc_dq", "bcq")]
        return bcq + [(WALKER, "medium", m) for m in ("awac_otc_de", "awac_otc_dq", "awac")] + [(HC, "random", "awac")]
    return [(HOPPER, "random", m) for m in TABLE1_METHODS] + [(HC, "random", "awac")]


def build_cells(profile):
    return M.cells(ITEM, profile, grid(profile.name))


def verdicts(records, cells: list[tuple[str, str, str]]) -> dict[str, tuple[bool, str]]:
    have = set(cells)
    rows = [(d, e, lr) for d in C.MUJOCO_DATASETS for e in C.MUJOCO_ENVS for lr in LEARNERS
            if all((e, d, m) in have for m in (lr, f"{lr}_otc_de", f"{lr}_otc_dq"))]
    stat = {(e, d, m): M.mean_of(records, env=e, dataset=d, method=m) for e, d, m in cells}
    beats, big, dq_wins, ev_beats = 0, 0, 0, []
    for d, e, lr in rows:
        u_mean, u_std, _ = stat[(e, d, lr)]
        means = {}
        for dist in ("otc_de", "otc_dq"):
            mean, std, _ = stat[(e, d, f"{lr}_{dist}")]
            means[dist] = mean
            beats += mean > u_mean
            big += (mean - u_mean) > max(std, u_std)
        dq_wins += means["otc_dq"] > means["otc_de"]
        ev_beats.append(f"{d}/{M.SHORT[e]}/{lr}: d_e {means['otc_de']:.1f}, d_q {means['otc_dq']:.1f}, "
                        f"uniform {u_mean:.1f}")
    n_cmp = 2 * len(rows)
    otc_cells = [c for c in cells if "_otc_" in c[2]]
    positive = [c for c in otc_cells if stat[c][0] > 0]
    fails = [c for c in cells if c[0] == HC and c[1] == "random" and c[2].startswith("awac")]
    norm = [r["extra"]["normalized_s0"] for r in records
            if (r.get("keys") or {}).get("env") == HC and (r.get("keys") or {}).get("dataset") == "random"
            and str((r.get("keys") or {}).get("method", "")).startswith("awac")
            and (r.get("extra") or {}).get("normalized_s0") is not None]
    low = sum(v < AWAC_NORMALIZED_FAIL for v in norm)
    return {
        "t1_otc_beats_uniform": (bool(rows) and beats == n_cmp,
                                 f"OTC > uniform in {beats} of {n_cmp} comparisons; " + "; ".join(ev_beats)),
        "t1_otc_substantially_better": (bool(rows) and big > n_cmp / 2,
                                        f"OTC - uniform > the larger std in {big} of {n_cmp} comparisons "
                                        f"(holds if > half)"),
        "t1_dq_not_commonly_better": (bool(rows) and dq_wins <= len(rows) / 2,
                                      f"d_q > d_e in {dq_wins} of {len(rows)} rows (holds if at most half)"),
        "t1_otc_improves_offline": (bool(otc_cells) and len(positive) == len(otc_cells),
                                    f"{len(positive)} of {len(otc_cells)} OTC cells have a mean improvement > 0"),
        "t1_awac_fails_hc_random": (bool(fails) and bool(norm) and low > len(norm) / 2,
                                    f"AWAC's pi^0 on halfcheetah random: D4RL-normalized "
                                    f"{', '.join(f'{v:.1f}' for v in norm) or 'n/a'} (< {AWAC_NORMALIZED_FAIL:g} in "
                                    f"{low} of {len(norm)} seeds; holds if a majority)"),
    }


def finish(records, results: Path, profile: str) -> None:
    cells = grid(profile)
    keys = [{"dataset": d, "env": e, "method": m} for e, d, m in cells]
    M.write_if_complete(records, results, profile, ITEM, keys, lambda: verdicts(records, cells))
    for e, d, m in cells:
        s0 = M.curve_values(records, "score", env=e, dataset=d, method=m)
        if s0.size:
            print(f"[otc/{ITEM}] {d}/{M.SHORT[e]}/{m}: S(pi^0) {np.nanmean(s0[:, 0]):.1f} -> S(pi^K) "
                  f"{np.nanmean(s0[:, -1]):.1f} (seed means)", flush=True)


def main(argv=None):
    return M.run(__doc__.splitlines()[0], ITEM, build_cells, finish, TABLE1_METHODS, argv)


if __name__ == "__main__":
    main()
