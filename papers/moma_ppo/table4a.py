"""MOMA-PPO Table 4a: two-agent Reacher, expert-mix dataset, 3 observation functions x 8 methods.

    python papers/moma_ppo/table4a.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/moma_ppo/table4a.py --profile quick --obs-mode leader-only --method ibc --method moma_ppo

Cells: obs_mode {full (FO all-observant), independent (PO), leader-only (PO)} x method {iql (centralized training
and execution: FO row only, the paper's '—' elsewhere), maiql, matd3bc (CTDE), ibc, itd3bc, icql, iomar
(independent learners), moma_ppo (world model + MAPPO on synthetic rollouts)} = 22 cells (19 baselines + 3
MOMA-PPO), 3 seeds (§6), the final greedy policy scored over 100 episodes of 50 steps. Scores are normalized with
the paper's Reacher constants (S_random = −11.144625, S_expert = −4.2370844; the records' ``normalized`` is × 100,
the table shows fractions as the paper does), mean ± SEM over seeds. Then one verdict per claim of
published.CLAIMS (table4a) and the learning curves, <results>/<profile>/moma_ppo/table4a_curves.png (one panel per
obs_mode, papers/moma_ppo/curves.py). How each column runs: papers/moma_ppo/jobs.py (reacher_baseline_config,
reacher_moma_config) and config.py (T4A_*); the profiles' scales and the deviations: papers/moma_ppo/README.md
"Table 4a".

Data: the expert-mix of papers/moma_ppo/reacher.py at the run's profile, split per agent for each obs_mode. At smoke
missing data are built (seconds); at quick and full the script stops and names the command that builds them.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from common.reporting.figures import figure_after, missing_cells, seed_values, write_claims
from common.running.cli import grid_filters
from common.running.experiment import Cell
from papers.moma_ppo import config as C
from papers.moma_ppo import curves
from papers.moma_ppo.jobs import (
    REACHER_BUILD_AT,
    reacher_baseline_config,
    reacher_moma_config,
    run_item,
    table4a_job,
)
from papers.moma_ppo.published import CLAIMS, CTDE_MODEL_FREE, INDEPENDENT, REACHER_OBS, T4A_METHODS

ITEM = Path(__file__).stem
PO_ROWS = REACHER_OBS[1:]  # independent, leader-only
CTDE = tuple(m for m in CTDE_MODEL_FREE if m in T4A_METHODS)  # maiql, matd3bc
DECENTRALIZED_MODEL_FREE = (*CTDE, *INDEPENDENT)


def cell_keys() -> list[tuple[str, str]]:
    """(obs_mode, method) in the paper's order, without the '—' cells (IQL's PO rows)."""
    return [(o, m) for o in REACHER_OBS for m in T4A_METHODS if o in C.T4A_ROWS_OF.get(m, REACHER_OBS)]


def build_cells(profile) -> list[Cell]:
    return [Cell("moma_ppo", ITEM, {"obs_mode": o, "method": m},
                 reacher_moma_config(profile, o) if m == "moma_ppo" else reacher_baseline_config(profile, o, m))
            for o, m in cell_keys()]


# ---- claims ----------------------------------------------------------------------------------------------------
def _stats(records) -> dict[tuple[str, str], tuple[float, float]]:
    """(obs_mode, method) -> (mean, SEM) over seeds of the final normalized score as a fraction (SEM 0 for one
    seed: the claims' rules then compare means)."""
    out = {}
    for o, m in cell_keys():
        v = np.array(list(seed_values(records, "normalized", obs_mode=o, method=m).values()), dtype=float) / 100.0
        if v.size:
            out[(o, m)] = (float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0)
    return out


def verdicts(records) -> dict[str, tuple[bool | None, str]]:
    """One verdict per Table 4a claim (the rules are the claims' texts in published.py); not checked while a cell
    has no finite score."""
    ids = [c.id for c in CLAIMS if c.item == ITEM]
    lacking = missing_cells(records, [{"obs_mode": o, "method": m} for o, m in cell_keys()], 1,
                            count=lambda recs, keys: len(seed_values(recs, "normalized", **keys)))
    if lacking:
        return {cid: (None, f"cells without a finite score: {', '.join(lacking)}") for cid in ids}
    st = _stats(records)
    mean = {k: v[0] for k, v in st.items()}

    def show(o, ms):
        return f"{o}: " + ", ".join(f"{m} {st[(o, m)][0]:.2f} ± {st[(o, m)][1]:.2f}" for m in ms)

    def within(o, a, b):  # a - b >= -(SEM_a + SEM_b)
        return mean[(o, a)] - mean[(o, b)] >= -(st[(o, a)][1] + st[(o, b)][1])

    others = {o: [m for m in T4A_METHODS if m != "moma_ppo" and (o, m) in mean] for o in REACHER_OBS}
    beats = all(within(o, "moma_ppo", b) for o in REACHER_OBS for b in others[o])
    fo = "full"
    par = abs(mean[(fo, "moma_ppo")] - mean[(fo, "iql")]) <= st[(fo, "moma_ppo")][1] + st[(fo, "iql")][1]
    ibc = all(mean[(o, "ibc")] > mean[(o, b)] for o in REACHER_OBS for b in INDEPENDENT if b != "ibc")
    avg = {m: float(np.mean([mean[(o, m)] for o in REACHER_OBS])) for m in DECENTRALIZED_MODEL_FREE}
    ctde = (all(np.mean([mean[(o, m)] for m in CTDE]) > np.mean([mean[(o, m)] for m in INDEPENDENT])
                for o in REACHER_OBS) and all(avg["maiql"] > avg[m] for m in INDEPENDENT))
    worse = all(mean[(o, m)] < mean[(fo, m)] for o in PO_ROWS for m in DECENTRALIZED_MODEL_FREE)
    fail_po = all(mean[(o, m)] <= 0.9 and mean[(o, m)] <= mean[(o, "moma_ppo")] - 0.1
                  for o in PO_ROWS for m in INDEPENDENT) and all(
        mean[(o, "moma_ppo")] >= 0.9 and mean[(o, "maiql")] >= 0.75 for o in PO_ROWS)
    fail_all = all(mean[(o, m)] <= 0.9 for o in REACHER_OBS for m in INDEPENDENT)
    rows = "; ".join(show(o, T4A_METHODS if o == fo else others[o] + ["moma_ppo"]) for o in REACHER_OBS)
    return {
        "t4a_moma_matches_or_beats_all": (beats, rows),
        "t4a_moma_on_par_with_iql": (par, show(fo, ("moma_ppo", "iql"))),
        "t4a_ibc_best_independent": (ibc, "; ".join(show(o, INDEPENDENT) for o in REACHER_OBS)),
        "t4a_ctde_fare_better_than_independent": (ctde, "3-row averages " + ", ".join(
            f"{m} {v:.3f}" for m, v in avg.items()) + "; " + "; ".join(
            f"{o}: CTDE {np.mean([mean[(o, m)] for m in CTDE]):.3f} vs independent "
            f"{np.mean([mean[(o, m)] for m in INDEPENDENT]):.3f}" for o in REACHER_OBS)),
        "t4a_model_free_worse_under_po": (worse, "; ".join(show(o, DECENTRALIZED_MODEL_FREE) for o in REACHER_OBS)),
        "t4a_independent_fail_under_po": (fail_po, "; ".join(show(o, (*INDEPENDENT, "maiql", "moma_ppo"))
                                                             for o in PO_ROWS)),
        "t4a_independent_learners_fail": (fail_all, "; ".join(show(o, INDEPENDENT) for o in REACHER_OBS)),
    }


def finish(records, results, profile) -> None:
    write_claims(results, profile, "moma_ppo", ITEM, verdicts(records), CLAIMS)
    curves.write(records, results, profile, ITEM, [(o,) for o in REACHER_OBS], T4A_METHODS)


# ---- data ------------------------------------------------------------------------------------------------------
def missing(profile: str) -> str | None:
    """The command that builds the profile's Reacher data, when they are missing (None at smoke: built here)."""
    from papers.moma_ppo.reacher import dataset_base

    if profile in REACHER_BUILD_AT or profile not in C.REACHER_SCALES:
        return None
    base = dataset_base(C.T4A_DATASET, profile)
    if base.with_name(base.name + ".json").exists():
        return None
    return f"the Reacher experts and expert-mix (python -m papers.moma_ppo.reacher --profile {profile})"


def _profile_of(argv) -> str:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--profile", default="quick")
    return p.parse_known_args(argv)[0].profile


def main(argv=None):
    profile = _profile_of(argv)
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, table4a_job, argv=argv,
                    default_seeds={p: list(C.T4A_SEEDS) for p in ("quick", "full")} | {"smoke": [0]},
                    needs=lambda: missing(profile), after=figure_after("moma_ppo", ITEM, finish),
                    **grid_filters({"obs_mode": list(REACHER_OBS), "method": list(T4A_METHODS)}, ITEM))


if __name__ == "__main__":
    main()
