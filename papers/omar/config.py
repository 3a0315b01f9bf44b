"""OMAR's hyperparameters as data: defaults = the official code (ling-pan/OMAR, described in
docs/omar_official_code.md#hyperparameters), its profile settings as a typed dataclass (``OmarSettings``).

Where the paper is silent the code decides; where they disagree the code is the default and the
paper's variant is an option (papers/omar/README.md lists each case).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.running.profiles import PaperProfiles, PaperSettings

ENVS_MPE = ("omar/spread", "omar/tag", "omar/world")
ENV_CHEETAH = "mamujoco/halfcheetah-2x3"
DATASETS = ("random", "medium-replay", "medium", "expert")

# Per-dataset (tau = imitation weight `omar_coe`, alpha = CQL weight), the code's `env_config_map`
# (the CLI flags --omar_coe / --cql_alpha are ignored there). docs/omar_official_code.md#per-dataset-tau-and-alpha.
TAU_ALPHA: dict[str, dict[str, tuple[float, float]]] = {
    "omar/spread": {
        "random": (1.0, 0.5),
        "medium-replay": (1.0, 1.0),
        "medium": (1.0, 5.0),
        "expert": (1.0, 5.0),
    },
    "omar/tag": {
        "random": (0.9, 0.5),
        "medium-replay": (0.9, 0.5),
        "medium": (0.7, 5.0),
        "expert": (0.9, 5.0),
    },
    "omar/world": {
        "random": (1.0, 0.5),
        "medium-replay": (0.7, 1.0),
        "medium": (0.1, 0.5),
        "expert": (0.9, 5.0),
    },
    ENV_CHEETAH: {
        "random": (1.0, 1.0),
        "medium-replay": (0.9, 5.0),
        "medium": (0.7, 1.0),
        "expert": (0.5, 5.0),
    },
}

# Gradient steps per agent = num_steps / steps_per_update + 1 in the code's loop
# (docs/omar_official_code.md#update-counts).
UPDATES = {
    "omar/spread": {"random": 6_001, "medium-replay": 2_001, "medium": 2_001, "expert": 2_001},
    "omar/tag": {"random": 2_001, "medium-replay": 1_001, "medium": 2_001, "expert": 2_001},
    "omar/world": {d: 1_001 for d in DATASETS},
    ENV_CHEETAH: {d: 100_001 for d in DATASETS},
}
# updates between evaluations (code: eval_interval / steps_per_update)
EVAL_EVERY = {"mpe": 10, "mujoco": 500}


@dataclass(frozen=True)
class TaskConfig:
    """Network and optimizer sizes per task family (docs/omar_official_code.md#hyperparameters)."""

    hidden: int  # MLP width, 2 hidden layers, BatchNorm1d on the input
    lr: float  # Adam, actor and critic
    batch: int  # per agent, sampled without replacement
    gamma: float  # 0.95 in effect for both families (HalfCheetah's 0.99 is never passed on)
    target_tau: float  # Polyak rate
    omar_iters: int
    omar_samples: int
    omar_elites: int  # used by the top-k CEM (HalfCheetah); unused by the softmax sampler
    sampler: str  # "softmax" (MPE, Eq. 3) or "cem" (HalfCheetah's code)
    cql_proposal: str  # "uniform" (MPE) or "mujoco" (3 groups of 10)
    eval_episodes: int = 10
    episode_length: int = 25


MPE = TaskConfig(
    hidden=64,
    lr=0.01,
    batch=1024,
    gamma=0.95,
    target_tau=0.01,
    omar_iters=3,
    omar_samples=10,
    omar_elites=10,
    sampler="softmax",
    cql_proposal="uniform",
)
CHEETAH = TaskConfig(
    hidden=256,
    lr=3e-4,
    batch=256,
    gamma=0.95,
    target_tau=0.005,
    omar_iters=2,
    omar_samples=20,
    omar_elites=5,
    sampler="cem",
    cql_proposal="mujoco",
    episode_length=1000,
)

# Dataset sizes of the full protocol (paper §4.1.1) and the medium-replay sizes / medium levels of
# OMAR's released datasets (docs/omar_official_code.md#released-dataset-statistics), which our behavior
# runs aim for.
FULL_DATASET_SIZE = 1_000_000
MEDIUM_REPLAY_TARGET = {"omar/spread": 97_500, "omar/tag": 62_500, "omar/world": 80_000, ENV_CHEETAH: 460_000}
MEDIUM_FRACTION = {"omar/spread": 0.31, "omar/tag": 0.57, "omar/world": 0.79, ENV_CHEETAH: 0.51}
# The code's evaluation return: spread = sum_t mean_i r_i; tag/world = sum_t r_0; HalfCheetah = sum_t r.
RETURN_MODE = {
    "omar/spread": "mean",
    "omar/spread1d": "mean",
    "omar/tag": "agent0",
    "omar/world": "agent0",
    ENV_CHEETAH: "agent0",
}


def task_config(env: str) -> TaskConfig:
    return CHEETAH if env == ENV_CHEETAH else MPE


def tau_alpha(env: str, dataset: str) -> tuple[float, float]:
    if env not in TAU_ALPHA:
        raise ValueError(f"no (tau, alpha) for env {env!r}; known: {sorted(TAU_ALPHA)}")
    if dataset not in TAU_ALPHA[env]:
        raise ValueError(f"unknown dataset kind {dataset!r}; valid: {DATASETS}")
    return TAU_ALPHA[env][dataset]


# Env options every OMAR item uses (the dataset spec and the evaluation env both get them).
# tag / world: our frozen prey v2 (papers/omar/prey.py; envs/assets/prey/*-v2.json cards), trained online
# against learning predators in OMAR's physics, as OMAR's was; OMAR's own pretrained prey is not downloadable.
# (v1 was trained in mpe2's physics and is gone with it.)
ENV_OPTIONS: dict[str, dict] = {"omar/tag": {"prey": "v2"}, "omar/world": {"prey": "v2"}}


def env_options(env: str) -> dict:
    """The env options OMAR's items pass for ``env`` (a fresh dict)."""
    return dict(ENV_OPTIONS.get(env, {}))


# Profile overrides (merged onto common/running/profiles.py's base profiles), the one place for OMAR's profiles.
#   data_scale: random / medium / expert transitions = data_scale x the paper's 1M (the one layer for dataset
#   sizes): smoke 2,000; quick 100,000 (0.1, not the base profile's 0.25: collecting 3 x 250k MPE transitions
#   alone took longer than the behavior run on 2 cores); full 1M. medium-replay is the medium cut.
#   max_evals: at most this many evaluations per offline run (None: the code's interval, i.e. 201 on MPE).
#   mujoco_update_scale: replaces update_scale for HalfCheetah (its updates cost ~10x MPE's on a CPU).
#   batch_size: replaces the code's minibatch (smoke only: 64 instead of 1,024 / 256, so that a
#   smoke run of every OMAR item fits the 3-minute budget of issue 27; smoke checks plumbing, not numbers).
#   smoke's 10 updates and 2 evaluations (from 20 and 4): the whole OMAR smoke took 189 s on the idle
#   2-core machine with --jobs 2, over the budget; a run's cost was half updates, a third evaluation.
#   eval_max_steps: evaluation episodes cut after this many steps (smoke only: HalfCheetah's 1,000-step
#   episodes were 85 % of a smoke run; the particle worlds' 25-step episodes are unaffected).
#   quick: a quarter of the code's gradient steps on MPE (2,001 -> 500), 5 % on HalfCheetah (100,001 ->
#   5,000) and at most 20 evaluations per run, so that every item's grid fits a few hours on 2 cores
#   (papers/omar/README.md, "Profiles").
@dataclass(frozen=True)
class OmarSettings(PaperSettings):
    """OMAR's own settings per profile (the comment above says why each profile sets what it sets); None: the
    official code's value."""

    # gradient steps of every offline run (smoke); None: UPDATES x the profile's scale
    updates: int | None = None
    max_evals: int | None = None  # at most this many evaluations per offline run; None: the code's EVAL_EVERY
    # replaces update_scale for HalfCheetah (quick); None: update_scale
    mujoco_update_scale: float | None = None
    # minibatch of every ITD3 learner (smoke); None: the code's TaskConfig.batch
    batch_size: int | None = None
    # evaluation episodes cut after this many steps (smoke); None: whole episodes
    eval_max_steps: int | None = None


PROFILE_OVERRIDES = PaperProfiles(
    OmarSettings,
    by_profile={
        "smoke": {
            "data_scale": 0.002,
            "paper": {"updates": 10, "max_evals": 2, "batch_size": 64, "eval_max_steps": 50},
        },
        "quick": {
            "data_scale": 0.1,
            "update_scale": 0.25,
            "paper": {"max_evals": 20, "mujoco_update_scale": 0.05},
        },
        "full": {"paper": {"max_evals": None}},
    },
)
