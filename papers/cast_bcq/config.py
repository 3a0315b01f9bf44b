"""CAST-BCQ's protocol as data: items' settings, the paper's (or, where it is silent, our [I]) choices, and
the profile overrides. The learners' hyperparameters live in their config dataclasses (papers/cast_bcq/grid.py;
common/algos/bcq.py), each field citing its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from common.running.profiles import PaperProfiles, PaperSettings

GRID_ENV = "games/cliff_grid"
# Figure 1 (paper §2.3 gives no training protocol): [I] 5,000 gradient steps, a greedy evaluation every 100,
# one episode from (1, 1) (the env and greedy policies are deterministic), 3 seeds.
GRID_UPDATES = 5_000
GRID_EVAL_EVERY = 100
GRID_EVAL_EPISODES = 1
# episode starts of the data: our variant (claims) and the paper's literal one
GRID_DATA = ("uniform", "fixed")
# row key -> papers.cast_bcq.grid method
GRID_METHODS = {"i_bcq": "i_bcq", "i_icq": "i_icq", "cast_bcq": "cast"}

# ---- MaMuJoCo items (Figure 4, Table 2, Figure 6) ------------------------------------------------------------
# Data: the shared D4RL-protocol datasets (common.datasets.mujoco, built per profile) split per agent with each
# method's observation mode. Kinds: "mixed" = the uncoordinated Medium-Expert data (Fig. 4, Table 2 row 1,
# Fig. 6), "medium" / "expert" = the single-agent data with the action split (Table 2 rows 2-3).
TASK_OF = {
    "mamujoco/halfcheetah-2x3": "halfcheetah",
    "mamujoco/hopper-3x1": "hopper",
    "mamujoco/walker2d-2x3": "walker2d",
}
MUJOCO_ENVS = tuple(TASK_OF)  # Table 2's order
MUJOCO_DATASETS = ("mixed", "medium", "expert")


@dataclass(frozen=True)
class MujocoMethod:
    """How a column of Table 2 / Figure 4 / Figure 6 runs: the registered learner, its fixed config fields,
    the env's obs_mode (what the CAST-BCQ code gives that method to see) and the code's evaluation episodes."""

    learner: str
    fields: Mapping[str, Any]
    obs_mode: str
    code_eval_episodes: int
    source: str


MUJOCO_METHODS: dict[str, MujocoMethod] = {
    # [I] the code has no central script: Fujimoto et al.'s BCQ on the single-agent view (state, joint action),
    # its constants as I-BCQ's; evaluated on obs_mode "otc" (every agent row = the state in natural order)
    "bcq": MujocoMethod("bcq", {"view": "central"}, "otc", 10, "[I] BCQ on the joint action (paper §4.1)"),
    "i_bcq": MujocoMethod("bcq", {"view": "independent"}, "own_public", 10, "[C] baselines/run_BCQ.py"),
    "mabcq": MujocoMethod("mabcq", {}, "cast_bcq", 10, "[C] agents/MABCQ.py (full state per agent)"),
    # the code's ICQ-MA as it produced the published column: r and gamma doubled in the target, the actor's advantage
    # weight cancelled by its broadcast (papers/cast_bcq/icq_ma.py; our fixed form collapses, README Findings)
    "icq_ma": MujocoMethod(
        "icq_ma",
        {"bug_compat": True, "actor_weighted": False},
        "own_public",
        10,
        "[C] agents/ICQMA.py as it runs",
    ),
    "cast_bcq": MujocoMethod("cast_bcq", {}, "cast_bcq", 3, "[C] agents/CAST.py, run_CAST.py"),
    # Figure 6's ablations (paper §4.3.1-4.3.2 names; our definitions, papers/cast_bcq/cast_bcq.py)
    "cast_bcq_wo_csaa": MujocoMethod("cast_bcq", {"ablation": "wo_csaa"}, "cast_bcq", 3, "[P names, I]"),
    "cast_bcq_wo_st": MujocoMethod("cast_bcq", {"ablation": "wo_st"}, "cast_bcq", 3, "[P names, I]"),
    "cast_bcq_wo_cd": MujocoMethod("cast_bcq", {"ablation": "wo_cd"}, "cast_bcq", 3, "[P names, I]"),
    # Independent behavior cloning: each agent's own action from its own observation (I-BCQ's obs_mode, no
    # history), L = -mean_B log pi_i(a_i | o_i) with MOMA-PPO's IBC learner (common/algos/iql_continuous.py);
    # the items' updates, batch and width at every profile; at full one 400-300 policy (the code's BCQ actor and
    # critic widths), Adam lr 3e-4 (that learner's). Shows whether any gain of the paper's methods over BC is real.
    "bc": MujocoMethod(
        "iql_continuous",
        {"method": "bc", "memory_len": 0, "hidden": [400, 300]},
        "own_public",
        10,
        "[I] a fair baseline the paper does not have (issue 67)",
    ),
}
TABLE2_METHODS = ("bcq", "i_bcq", "mabcq", "icq_ma", "cast_bcq")  # the paper's columns: the claims read these
# methods the paper does not have: run beside its five in Table 2 and Figure 4, shown with no published number,
# never read by a claim
OURS_ONLY_METHODS = ("bc",)
TABLE2_RUN_METHODS = TABLE2_METHODS + OURS_ONLY_METHODS  # the cells of Table 2 and Figure 4
ABLATION_METHODS = ("cast_bcq", "cast_bcq_wo_csaa", "cast_bcq_wo_st", "cast_bcq_wo_cd")

# [C] run_CAST.py / baselines: max_timesteps 2e4 iterations, batch 1024, an evaluation every 100 iterations.
# [I] full evaluates every 500 (40 points): the code's 200 evaluations x 10 episodes of the 100-candidate
# action selection cost ~6 h per run on a CPU and dominate a GPU run too (a listed deviation).
MUJOCO_UPDATES = 20_000
MUJOCO_BATCH = 1024
MUJOCO_EVALS = 40


def width_fields(learner: str, width: int | None) -> dict[str, Any]:
    """The learner's hidden-width fields at one width for every layer (quick: 256; smoke: 32), or {} (the code's
    widths, the learners' config defaults: VAE 750-750, xi / critics 400-300, ICQ-MA actor 400-300-300; BC's
    400-300 is its method's fixed field)."""
    if width is None:
        return {}
    w = int(width)
    if learner in ("bcq", "mabcq", "cast_bcq"):
        return {"hidden_vae": [w, w], "hidden": [w, w]}
    if learner == "icq_ma":
        return {"hidden_critic": [w, w], "hidden_actor": [w, w, w]}
    if learner == "iql_continuous":
        return {"hidden": [w, w]}
    raise ValueError(
        f"no width fields for learner {learner!r}; known: bcq, mabcq, cast_bcq, icq_ma, iql_continuous"
    )


# ---- StarCraft items (Table 1, Figure 5) on SMAX (envs/smax.py; papers/cast_bcq/smac.py, smac_items.py) ----------
# A SUBSTITUTE for SMAC on StarCraft II: absolute win rates are not comparable, only orderings are compared.
# SMAC's MMM has a Medivac, SMAX has none: the MMM cell runs smax/MMM_no_medivac, labelled, its claims not counted.
SMAX_MAPS = ("smax/3s_vs_3z", "smax/MMM_no_medivac", "smax/2s3z", "smax/10m_vs_11m")  # Table 1's order
SMAX_SUBSTITUTES = {"smax/MMM_no_medivac": "smax/MMM"}  # our map -> the paper's map it stands in for
SMAX_DATA_MODULE = "common.datasets.smax"  # the StarCraft issue's behavior policies and datasets
# [C] the SMAC code: 40,002 iterations, a test every 50 iterations of 20 episodes. [I] one update = one minibatch
# of 256 time steps per seed (the code: 32 episodes); full evaluates 40 times (as the MaMuJoCo items), 20 episodes.
SMAX_UPDATES = 40_000
SMAX_BATCH = 256
SMAX_EVALS = 40
SMAX_EVAL_EPISODES = 20
# [I, measured] SMAX rewards x 10 = SMAC's scale (returns at most 20; SMAX's at most ~2): papers/cast_bcq/smac.py
SMAX_REWARD_SCALE = 10.0


def needs_smax() -> str | None:
    """What the StarCraft items still lack here, or None (they run): the SMAX environments (the ``[smax]`` extra:
    jaxmarl) and the SMAX datasets module; the learners are papers/cast_bcq/smac.py."""
    import importlib.util

    if importlib.util.find_spec("jaxmarl") is None:
        return "SMAX (pip install -e '.[smax]')"
    if importlib.util.find_spec(SMAX_DATA_MODULE) is None:
        return "SMAX datasets"
    return None


# Profile overrides (merged onto common/running/profiles.py's base profiles):
#   full: the paper's 3 seeds ("mean and std of three runs", Fig. 4) instead of the base profile's 5; the MaMuJoCo
#         items at the code's sizes (above), each method with the code's evaluation episodes;
#   quick: Figure 1 is seconds per run, so quick runs the full grid protocol; the MaMuJoCo items on the protocol
#         datasets (full's, common.datasets.mujoco) at the code's 20,000 iterations with full's 40 evaluations (the
#         learning curves that may show the ranking settled earlier, issue 67), batch 256 and every hidden layer
#         256 wide (the code's 1,024 and 750 / 400-300 cost ~30 h per 3-seed cell on one CPU thread: not measured
#         against quick's yet, a listed deviation), 5 episodes per evaluation (code: 10);
#         until 2026-11-28 quick ran 3,000 iterations with 10 evaluations on the 100k-step data (superseded);
#   smoke: Figure 1 with 300 gradient steps, evaluated every 50; MaMuJoCo with 20 iterations, batch 32, width 32,
#         one evaluation of one episode cut at 50 steps (plumbing, not numbers);
#   SMAX (Table 1, Figure 5): quick the code's 40,000 updates (4,000, spec §8, did not keep who beats whom: BC on
#         3s_vs_3z wins 17 % at 4,000 and 83 % at 40,000, results/quick/cast_bcq/smax_ibcq_forms_3s_vs_3z.md), 10
#         evaluations x 20 episodes, the quick datasets (1,000 episodes); smoke 20 updates, batch 32, width 16, 2
#         sub-team draws, 2 evaluations x 2 episodes.
@dataclass(frozen=True)
class CastSettings(PaperSettings):
    """CAST-BCQ's own settings per profile (the comment above says why each profile sets what it sets); defaults:
    the protocol's values above, None: the code's (or the learner config's) own."""

    grid_updates: int = GRID_UPDATES  # gradient steps of Figure 1's runs [I]
    grid_eval_every: int = GRID_EVAL_EVERY  # gradient steps between Figure 1's evaluations [I]
    mujoco_updates: int = MUJOCO_UPDATES  # iterations of the MaMuJoCo runs [C]
    mujoco_batch: int = MUJOCO_BATCH  # minibatch of the MaMuJoCo runs [C]
    # one width for every hidden layer of the MaMuJoCo learners; None: the code's
    mujoco_width: int | None = None
    mujoco_evals: int = MUJOCO_EVALS  # evaluations per MaMuJoCo run, evenly spaced [I]
    # episodes per evaluation, every method; None: the code's (CAST 3, else 10)
    mujoco_eval_episodes: int | None = None
    # evaluation episodes cut after this many steps (smoke); None: whole episodes
    eval_max_steps: int | None = None
    smax_updates: int = SMAX_UPDATES  # updates of the SMAX runs [C, I]
    smax_batch: int = SMAX_BATCH  # time steps per SMAX minibatch [I]
    # hidden width of every SMAX net (agent nets, joint critic, mixer); None: 64 / 256
    smax_width: int | None = None
    smax_subteams: int | None = None  # CAST's sub-team draws per agent on SMAX; None: the code's 10
    smax_evals: int = SMAX_EVALS  # evaluations per SMAX run, evenly spaced [I]
    smax_eval_episodes: int = SMAX_EVAL_EPISODES  # test episodes per SMAX evaluation [C]


PROFILE_OVERRIDES = PaperProfiles(
    CastSettings,
    by_profile={
        "smoke": {
            "paper": {
                "grid_updates": 300,
                "grid_eval_every": 50,
                "mujoco_updates": 20,
                "mujoco_batch": 32,
                "mujoco_width": 32,
                "mujoco_evals": 1,
                "mujoco_eval_episodes": 1,
                "eval_max_steps": 50,
                "smax_updates": 20,
                "smax_batch": 32,
                "smax_width": 16,
                "smax_subteams": 2,
                "smax_evals": 2,
                "smax_eval_episodes": 2,
            }
        },
        "quick": {
            "paper": {
                "mujoco_batch": 256,
                "mujoco_width": 256,
                "mujoco_eval_episodes": 5,
                "smax_evals": 10,
            }
        },
        "full": {"n_seeds": 3},
    },
)
