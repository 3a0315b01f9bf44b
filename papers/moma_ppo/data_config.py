"""MOMA-PPO's MaMuJoCo data protocol as data (§5.3; spec §3; Table 2): the Reacher env, its observation modes, the
experts' collection seed and expert level, and the experts' and datasets' sizes per profile (``ReacherScale``); the
Ant env, its observation modes and D4RL's reference returns. papers/moma_ppo/config.py holds the items' protocol."""

from __future__ import annotations

from dataclasses import dataclass

from envs.mamujoco import ANT_REF_SCORES

# ---- MaMuJoCo data: the Reacher experts and expert-mix (§5.3; spec §3), Table 2 ----------------------------------
REACHER_ENV = "mamujoco/reacher-2x1"
# Table 4a's rows; the data are split per agent for each
REACHER_OBS_MODES = ("full", "independent", "leader-only")
# the Reacher protocol's generation: the experts' run identity (papers/moma_ppo/reacher_experts.py) and the default
# generation of a profile's data files (``ReacherScale.version``); bump when the training or collection rule changes
REACHER_VERSION = 2
REACHER_COLLECT_ENV_SEED = 10101  # [C] generate_dataset_from_model.py: the collection env is seeded 10101
# [I] "at the expert level (≈ −4.2)": greedy score normalized with the paper's constants
REACHER_EXPERT_LEVEL = 0.9
ANT_ENV = "mamujoco/ant-4x2"
ANT_OBS_MODES = ("full", "partial")  # Table 4b's FO / PO rows (envs/mamujoco.py obs modes)
ANT_D4RL_REF_SCORES = ANT_REF_SCORES  # D4RL ant REF_MIN / REF_MAX (Table 2)


@dataclass(frozen=True)
class ReacherScale:
    """The Reacher experts and data at one profile (spec §7 rows "Reacher experts" and "Reacher data / T2")."""

    seeds: tuple[int, ...]  # MAPPO seeds trained together as members ([C] seeds 1 and 2; spec: >= 4)
    iterations: int  # PPO iterations ([C] at most 1e6 + 1, "until expert")
    steps_per_iteration: int  # env transitions per seed and update ([C] 2000)
    eval_every: int  # iterations between greedy evaluations ([C] 50)
    eval_episodes: int  # greedy episodes per seed and evaluation (the convention and the expert level)
    checkpoint_every: int  # iterations between checkpoints of the MAPPO run
    collect: int  # transitions each chosen expert collects ([C] 1,000,000)
    mix: int  # transitions of each expert in expert-mix: the first ones ([C] 500,000)
    hidden: tuple[int, ...] = (256, 256)  # MAPPO widths ([C] 256, 2 layers)
    require_experts: bool = True  # False: keep the best seed of each convention even below the expert level
    # the generation of this profile's data files (their names' -v<N>): a profile bumps its own when its data change
    # (old files are then other paths, never read as new ones); not part of the experts' run identity
    version: int = REACHER_VERSION


# full: the code's settings "until expert" [I: ≤ 1e4 iterations]. quick keeps the protocol's data: experts at the
# expert level, 1,000,000 sampled transitions per expert, expert-mix = the first 500,000 of each (1M in all; data
# version 3, 2026-11-28: before, 500k per expert and a 2 × 250k mix, files -v2); it cuts the training: 4 seeds ×
# 600 iterations (1.2M steps per seed) instead of "until expert" with at most 10,000; measured: every seed at the
# expert level (final greedy −4.81 / −3.96 / −3.71 / −3.84 against the paper's −4.24; with normalized inputs every
# seed was within 0.8 of it by iteration 250). smoke: seconds, not experts (the card says so).
REACHER_SCALES = {
    "smoke": ReacherScale(
        seeds=(0, 1),
        iterations=20,
        steps_per_iteration=500,
        eval_every=10,
        eval_episodes=4,
        checkpoint_every=10,
        collect=2_000,
        mix=1_000,
        hidden=(64, 64),
        require_experts=False,
    ),
    "quick": ReacherScale(
        seeds=(0, 1, 2, 3),
        iterations=600,
        steps_per_iteration=2_000,
        eval_every=50,
        eval_episodes=10,
        checkpoint_every=25,
        collect=1_000_000,
        mix=500_000,
        version=3,
    ),
    "full": ReacherScale(
        seeds=(0, 1, 2, 3),
        iterations=10_000,
        steps_per_iteration=2_000,
        eval_every=50,
        eval_episodes=10,
        checkpoint_every=50,
        collect=1_000_000,
        mix=500_000,
    ),
}


def reacher_scale(profile: str) -> ReacherScale:
    if profile not in REACHER_SCALES:
        raise ValueError(f"profile={profile!r} is not known; allowed profiles: {', '.join(REACHER_SCALES)}")
    return REACHER_SCALES[profile]
