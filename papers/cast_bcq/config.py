"""CAST-BCQ's protocol as data: items' settings, the paper's (or, where it is silent, our [I]) choices, and
the profile overrides. The learners' hyperparameters live in their config dataclasses (papers/cast_bcq/grid.py;
common/algos/bcq.py), each field citing its source.
"""

from __future__ import annotations

from common.profiles import PaperProfiles

GRID_ENV = "games/cliff_grid"
# Figure 1 (paper §2.3 gives no training protocol): [I] 5,000 gradient steps, a greedy evaluation every 100,
# one episode from (1, 1) (the env and greedy policies are deterministic), 3 seeds.
GRID_UPDATES = 5_000
GRID_EVAL_EVERY = 100
GRID_EVAL_EPISODES = 1
GRID_DATA = ("uniform", "fixed")  # episode starts of the data: our variant (claims) and the paper's literal one
GRID_METHODS = {"i_bcq": "i_bcq", "i_icq": "i_icq", "cast_bcq": "cast"}  # row key -> papers.cast_bcq.grid method

# StarCraft items (Table 1, Figure 5) run on SMAX, built by the StarCraft issue; until then their scripts
# stop with "needs SMAX" (common.cli ``needs``).
SMAX_MAPS = ("smax/3s_vs_3z", "smax/MMM", "smax/2s3z", "smax/10m_vs_11m")


def needs_smax() -> str | None:
    """"SMAX" while no ``smax/*`` environment is registered in envs, else None."""
    import envs

    return None if any(n.startswith("smax/") for n in envs.names()) else "SMAX"


# Profile overrides (merged onto common/profiles.py's base profiles):
#   full: the paper's 3 seeds ("mean and std of three runs", Fig. 4) instead of the base profile's 5;
#   quick: Figure 1 is seconds per run, so quick runs the full grid protocol;
#   smoke: Figure 1 with 300 gradient steps, evaluated every 50 (plumbing, not numbers).
PROFILE_OVERRIDES = PaperProfiles(
    by_profile={
        "smoke": {"overrides": {"grid_updates": 300, "grid_eval_every": 50}},
        "quick": {"overrides": {}},
        "full": {"n_seeds": 3},
    },
    keys={
        "grid_updates": "gradient steps of Figure 1's runs instead of 5,000 (smoke)",
        "grid_eval_every": "gradient steps between Figure 1's evaluations instead of 100 (smoke)",
    },
)
