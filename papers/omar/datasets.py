"""OMAR's datasets (paper §5.1, the D4RL-style protocol of common.behavior.collect) per profile.

    ds = get_dataset("omar/spread1d", "medium-replay", profile, env_options={"n_agents": 2})

A thin wrapper over ``load_or_generate``: one MATD3 behavior run (behavior seed 0) makes all four
kinds of an (env, env_options) pair, cached under ``$OFFMARL_DATA`` (default ./data). Sizes:

    profile  behavior MATD3 steps        random / medium / expert transitions  medium-replay
    smoke    3,000                       2,000 (PROFILE_OVERRIDES)              the medium cut
    quick    75,000                      250,000 (1M x data_scale 0.25)         the medium cut
    full     300,000                     1,000,000 (paper §4.1.1)               the medium cut

The behavior step counts of quick/full are our choice (OMAR does not publish its behavior runs; the
released spread medium-replay has 97.5k transitions, so the medium level must be reachable well
inside the run). ``overrides.dataset_size`` of a profile replaces the transition count.
Each profile uses its own dataset version (smoke 1001, quick 1002, full 1), so a smoke cache
never shadows a full one. At smoke the behavior learner (batch 256, an update every 2 steps)
evaluates every 250 steps and starts learning after 250 steps, and "random" is uniform actions
(OMAR: the step-0 actor): on 2-agent spread1d the step-0 actor happens to score above a 2-3k-step
MATD3 run, which generate_protocol rightly refuses. config.py's smoke ``behavior_steps`` (2,000)
is too short for that (the trained policy stays below random), so smoke uses BEHAVIOR_STEPS.
"""

from __future__ import annotations

from typing import Any, Mapping

from common.behavior.collect import load_or_generate
from common.behavior.matd3 import MATD3Config
from common.data import Dataset
from common.profiles import Profile
from papers.omar.config import DATASETS, FULL_DATASET_SIZE, MEDIUM_FRACTION, RETURN_MODE

BEHAVIOR_STEPS = {"smoke": 3_000, "quick": 75_000, "full": 300_000}
VERSION = {"smoke": 1001, "quick": 1002, "full": 1}
# MATD3 overrides per profile (smoke: short run, frequent evaluation so the medium cut exists)
RANDOM_POLICY = {"smoke": "uniform", "quick": "init", "full": "init"}
BEHAVIOR_CFG: dict[str, dict[str, Any]] = {
    "smoke": dict(eval_every=250, learning_starts=250, start_steps=250, eval_episodes=5, batch_size=256,
                  train_freq=2),
    "quick": dict(eval_every=2_500),
    "full": dict(eval_every=5_000),
}


def dataset_sizes(profile: Profile) -> dict[str, int | None]:
    n = int(profile.overrides.get("dataset_size", profile.n_data(FULL_DATASET_SIZE)))
    return {"random": n, "medium-replay": None, "medium": n, "expert": n}


def behavior_steps(profile: Profile) -> int:
    return BEHAVIOR_STEPS[profile.name]


def dataset_spec(env: str, profile: Profile, env_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines the dataset (goes into a cell's config, hence its hash)."""
    return {"env": env, "env_options": dict(env_options or {}), "sizes": dataset_sizes(profile),
            "behavior_steps": behavior_steps(profile), "version": VERSION[profile.name],
            "behavior_cfg": BEHAVIOR_CFG[profile.name], "random_policy": RANDOM_POLICY[profile.name],
            "medium_fraction": MEDIUM_FRACTION.get(env, 0.31),
            "return_mode": RETURN_MODE.get(env, "mean"), "behavior_seed": 0}


def load_spec(spec: Mapping[str, Any], kind: str, log=print) -> Dataset:
    if kind not in DATASETS:
        raise ValueError(f"unknown dataset kind {kind!r}; valid: {DATASETS}")
    env = spec["env"]
    cfg = MATD3Config.preset(env, **spec["behavior_cfg"])
    out = load_or_generate(
        env, spec["env_options"], spec["sizes"], seed=spec["behavior_seed"], version=spec["version"],
        medium_fraction=spec["medium_fraction"], train_steps=spec["behavior_steps"],
        return_mode=spec["return_mode"], cfg=cfg, random_policy=spec["random_policy"], log=log,
    )
    return out[kind]


def get_dataset(env: str, kind: str, profile: Profile, env_options: Mapping[str, Any] | None = None,
                log=print) -> Dataset:
    """The OMAR dataset ``kind`` of ``env`` under ``profile`` (generated once, then loaded)."""
    return load_spec(dataset_spec(env, profile, env_options), kind, log=log)
