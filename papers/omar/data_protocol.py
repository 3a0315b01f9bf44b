"""OMAR's datasets per profile (paper §5.1, the D4RL-style protocol of common.behavior.collect): the behavior run's
scale and settings, the dataset spec that names a dataset (and goes into a cell's config hash), its cache paths, and
loading or generating it. The report is papers/omar/dataset_report.py, the command line papers/omar/datasets.py.

    ds = get_dataset("omar/spread", "medium-replay", profile)                    # generated once, then loaded
    ds = get_dataset("omar/tag", "expert", profile, env_options={"prey": "v2"})  # options are part of the key

A thin wrapper over ``load_or_generate``: one MATD3 behavior run (behavior seed 0) makes all four
kinds of an (env, env_options) pair, cached under the user cache (``common.running.roots.cache_root``); non-empty
env_options add a ``-o<hash>`` suffix to the cache path, so two options never share a file.

    profile  behavior MATD3 steps (MPE / HalfCheetah)   random / medium / expert   medium-replay
    smoke    1,000 / 1,000                               2,000                      the medium cut
    quick    100,000 / 100,000                           100,000                    the medium cut
    full     300,000 / 1,000,000                         1,000,000 (paper §4.1.1)   the medium cut
    (random / medium / expert: PROFILE_OVERRIDES' data_scale x the paper's 1M, config.py)

Why these numbers (OMAR publishes no behavior runs, noise level or medium level):
- quick is sized for the 2-core machine: behavior run plus collection took 12.5 min for spread
  (100k steps) on a shared 2-core machine; HalfCheetah runs 100k steps (about 100 s per 5k steps
  here, about 35 min). With OMAR's own 6-dim observations for the behavior actors, MATD3 on
  HalfCheetah-2x3 stayed near standing still (60k steps: final -26, uniform random -291), hence
  BEHAVIOR_ENV_OPTIONS below (full-state behavior actors, state critic). quick's data are 100k transitions per kind (data_scale 0.1 of the
  paper's 1M, not the base profile's 0.25: collection of 3 x 250k MPE transitions alone took longer
  than the behavior run).
- the behavior learner: MATD3Config's MPE preset (hidden 64, gamma 0.95, tau 0.01, batch 1024, an
  update every 4 transitions, exploration noise 0.1, centralized twin critics) with lr 3e-3; OMAR's
  online settings are unpublished. Deterministic spread scores (10 episodes, Σ_t mean_i r_i) at
  steps 0 / 10k / 20k / 30k, behavior seed 0, measured on this machine:
      lr 1e-3 (old default)                         167 / 82 / 174 / 205
      lr 3e-3 (chosen)                              167 / 125 / 184 / 211
      lr 1e-3, noise 0.3                            167 / 87 / 104 / 203
      lr 1e-3, batch 256, update/step, r x 0.1      167 / 166 / 198 / 173
  The step-0 actor (OMAR's "randomly initialised policy") already scores ~167 because its actions
  are near 0 and spread's reward is positive; the first learned policies move away and score less,
  so learning only passes random after ~15k transitions and keeps rising slowly: the MPE behavior
  run is long (100k at quick) rather than the learner being broken.
- HalfCheetah: every episode is 1000 steps; step 1000 is a time-limit truncation (timeouts = True,
  terminals = False), so the behavior critic bootstraps through it and the datasets mark it as a
  timeout (the offline learners bootstrap there too). MaMuJoCo's HalfCheetah never terminates.

Each profile uses its own dataset version (MaMuJoCo: smoke 1005, quick 1003, full 2; particle worlds since
OMAR's physics: smoke 1006, quick 1004, full 3), so a smoke cache never
shadows a full one; bump VERSION when the protocol changes. "random" (RANDOM_POLICY) is the step-0
MATD3 actor on MPE (OMAR: "a randomly initialised policy") and uniform actions on HalfCheetah (the
step-0 actor stands still; uniform actions give OMAR's/D4RL's random level) and at smoke (on
2-agent spread1d the step-0 actor scores above a 1-3k-step MATD3 run, which generate_protocol
rightly refuses).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Mapping

from common.behavior.matd3 import MATD3Config
from common.behavior.protocol_cache import generated_dataset_path, load_or_generate
from common.datasets.dataset import Dataset
from common.running.profiles import Profile
from papers.omar.config import DATASETS, FULL_DATASET_SIZE, MEDIUM_FRACTION, RETURN_MODE
from papers.omar.config import env_options as config_env_options

FAMILIES = ("mpe", "mujoco")
# behavior MATD3 transitions per seed, per profile and env family
BEHAVIOR_STEPS = {
    "smoke": {"mpe": 1_000, "mujoco": 1_000},
    "quick": {"mpe": 100_000, "mujoco": 100_000},
    "full": {"mpe": 300_000, "mujoco": 1_000_000},
}
VERSION = {"smoke": 1005, "quick": 1003, "full": 2}  # MaMuJoCo (HalfCheetah 2x3)
# OMAR's particle worlds: bumped when the worlds moved to OMAR's own physics (semi-implicit Euler, force
# mass·accel·u, world prey's food sign; envs/particle_worlds.py OmarWorld), so no cache made in mpe2's physics is
# ever loaded for them (the cell configs change too, so old records are other cells).
PARTICLE_VERSION = {"smoke": 1006, "quick": 1004, "full": 3}
# smoke datasets test the pipeline only: their 1,000-step behavior run need not beat random (on spread,
# tag and world it does not), so generate_protocol keeps it and the card says beats_random = False.
# Smoke behavior runs went from 3,000 to 1,000 steps (versions 1001 / 1002 -> 1005 / 1006, issue 27): the
# nine smoke behavior runs of OMAR's items were ~75 % of a smoke run of the paper, over its 3-minute budget.
SMOKE_VERSIONS = (VERSION["smoke"], PARTICLE_VERSION["smoke"])
# "random" data: MPE the step-0 MATD3 actor (OMAR: "a randomly initialized policy"); HalfCheetah
# uniform actions: the step-0 actor's near-zero actions stand still (-3 per episode), while OMAR's
# random data score -283, D4RL's random level (-280), which uniform actions reproduce.
RANDOM_POLICY = {
    "smoke": {"mpe": "uniform", "mujoco": "uniform"},
    "quick": {"mpe": "init", "mujoco": "uniform"},
    "full": {"mpe": "init", "mujoco": "uniform"},
}
# MATD3 overrides per profile and family on top of MATD3Config.preset (see the module docstring).
# MPE: lr 3e-3 for actor and critic (best of lr 1e-3 / 3e-3, noise 0.1 / 0.3, batch 256 + an update
# per step + reward scale 0.1 on spread at 30k steps; README "Behavior policies"), 20 evaluation
# episodes (the medium cut is read off the evaluation curve; 10 episodes gave a standard error of
# ~30 on spread).
BEHAVIOR_CFG: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "mpe": dict(
            eval_every=250,
            learning_starts=250,
            start_steps=250,
            eval_episodes=5,
            batch_size=256,
            train_freq=2,
        ),
        "mujoco": dict(
            eval_every=500,
            learning_starts=500,
            start_steps=500,
            eval_episodes=1,
            train_freq=2,
            critic_input="state",
        ),
    },
    "quick": {
        "mpe": dict(eval_every=2_500, eval_episodes=20, actor_lr=3e-3, critic_lr=3e-3),
        "mujoco": dict(
            eval_every=5_000,
            eval_episodes=2,
            start_steps=10_000,
            learning_starts=10_000,
            critic_input="state",
        ),
    },
    "full": {
        "mpe": dict(eval_every=5_000, eval_episodes=20, actor_lr=3e-3, critic_lr=3e-3),
        "mujoco": dict(eval_every=10_000, eval_episodes=5, critic_input="state"),
    },
}
# env options of the behavior learner per family, where they differ from the datasets' (None: the same).
# HalfCheetah: OMAR's agents see only their own leg's 3 joints (obs_mode "omar", 6 dims; no root velocity,
# which the reward is made of). MATD3 with such actors barely learned here (60k steps: -26, with
# a state critic: 58 at 30k), so the behavior actors see the whole 17-dim state (obs_mode "otc") and the
# critics the state (critic_input "state"); the datasets are re-observed into OMAR's 6-dim observations
# (common.behavior.rollouts.reobserve). OMAR's generation code is unreleased; its datasets store the state too (docs/omar_official_code.md#halfcheetah).
BEHAVIOR_ENV_OPTIONS: dict[str, dict[str, Any] | None] = {"mpe": None, "mujoco": {"obs_mode": "otc"}}
COLLECT_ENVS = {"mpe": 8, "mujoco": 1}  # env copies stepped together during collection (batched policy)

SPREAD1D_DEFAULT_OPTIONS = {"n_agents": 2}  # Tables 1-2's task (Figures 1-2 use n_agents 1..5)


def default_env_options(env: str) -> dict[str, Any]:
    """The env options a dataset of ``env`` is built with when none are given: the OMAR items' options
    (config.ENV_OPTIONS, e.g. tag's v2 prey), and n_agents 2 on omar/spread1d (Tables 1-2)."""
    return dict(SPREAD1D_DEFAULT_OPTIONS) if env == "omar/spread1d" else config_env_options(env)


def family(env: str) -> str:
    return "mujoco" if env.startswith("mamujoco/") else "mpe"


def dataset_version(profile: Profile, env: str) -> int:
    """The cache version of ``env``'s datasets at ``profile`` (VERSION for MaMuJoCo, PARTICLE_VERSION else)."""
    _check_profile(profile)
    return (VERSION if family(env) == "mujoco" else PARTICLE_VERSION)[profile.name]


def _check_profile(profile: Profile) -> None:
    if profile.name not in VERSION:
        raise ValueError(f"unknown profile {profile.name!r}; valid: {sorted(VERSION)}")


def dataset_sizes(profile: Profile) -> dict[str, int | None]:
    _check_profile(profile)
    n = profile.n_data(FULL_DATASET_SIZE)  # data_scale of PROFILE_OVERRIDES: the one layer for sizes
    return {"random": n, "medium-replay": None, "medium": n, "expert": n}


def behavior_steps(profile: Profile, env: str = "omar/spread") -> int:
    _check_profile(profile)
    return BEHAVIOR_STEPS[profile.name][family(env)]


def dataset_spec(env: str, profile: Profile, env_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything that determines the dataset (goes into a cell's config, hence its hash)."""
    fam = family(env)
    return {
        "env": env,
        "env_options": dict(env_options or {}),
        "sizes": dataset_sizes(profile),
        "behavior_steps": behavior_steps(profile, env),
        "version": dataset_version(profile, env),
        "behavior_cfg": BEHAVIOR_CFG[profile.name][fam],
        "random_policy": RANDOM_POLICY[profile.name][fam],
        "medium_fraction": MEDIUM_FRACTION.get(env, 0.31),
        "collect_envs": COLLECT_ENVS[fam],
        "return_mode": RETURN_MODE.get(env, "mean"),
        "behavior_seed": 0,
        **({"behavior_env_options": BEHAVIOR_ENV_OPTIONS[fam]} if BEHAVIOR_ENV_OPTIONS[fam] else {}),
    }


def spec_paths(spec: Mapping[str, Any]) -> dict[str, Path]:
    """Cache base paths (no extension) of the four kinds of a spec."""
    return {
        k: generated_dataset_path(
            spec["env"],
            k,
            spec["version"],
            spec["behavior_seed"],
            None,
            env_options=spec["env_options"],
            behavior_env_options=spec.get("behavior_env_options"),
        )
        for k in DATASETS
    }


def regenerate_command(spec: Mapping[str, Any]) -> str:
    """The shell command that regenerates ``spec``'s datasets once their files are deleted (in their cards)."""
    profile = {v: p for d in (VERSION, PARTICLE_VERSION) for p, v in d.items()}.get(
        spec["version"], "<profile>"
    )
    opts = shlex.quote(json.dumps(spec["env_options"], sort_keys=True))
    return f"python -m papers.omar.datasets --generate --profile {profile} --env {spec['env']} --env-options {opts}"


def is_cached(spec: Mapping[str, Any]) -> bool:
    return all(p.with_name(p.name + ".npz").exists() for p in spec_paths(spec).values())


def load_spec(spec: Mapping[str, Any], kind: str, log=print) -> Dataset:
    if kind not in DATASETS:
        raise ValueError(f"unknown dataset kind {kind!r}; valid: {DATASETS}")
    env = spec["env"]
    cfg = MATD3Config.preset(env, **spec["behavior_cfg"])
    out = load_or_generate(
        env,
        spec["env_options"],
        spec["sizes"],
        seed=spec["behavior_seed"],
        version=spec["version"],
        medium_fraction=spec["medium_fraction"],
        train_steps=spec["behavior_steps"],
        return_mode=spec["return_mode"],
        cfg=cfg,
        random_policy=spec["random_policy"],
        collect_envs=spec.get("collect_envs", 1),
        log=log,
        require_improvement=spec["version"] not in SMOKE_VERSIONS,
        behavior_env_options=spec.get("behavior_env_options"),
        kinds=(kind,),  # read and checksum only this kind's arrays (a run needs one dataset)
        regenerate_command=regenerate_command(spec),
    )
    return out[kind]


def get_dataset(
    env: str, kind: str, profile: Profile, env_options: Mapping[str, Any] | None = None, log=print
) -> Dataset:
    """The OMAR dataset ``kind`` of ``env`` under ``profile`` (generated once, then loaded)."""
    return load_spec(dataset_spec(env, profile, env_options), kind, log=log)


def cached_identity(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    """The identity (``jobs.data_identity_of``'s fields) of the dataset ``spec`` names, from its cached
    card alone (no arrays read), or None when it is not in the cache."""
    base = spec_paths(spec)[spec["kind"]]
    card = base.with_name(base.name + ".json")
    if not card.exists() or not base.with_name(base.name + ".npz").exists():
        return None
    c = json.loads(card.read_text())
    return {"data_sha256": c.get("sha256"), "dataset_size": c.get("size"), "ref_scores": c.get("ref_scores")}
