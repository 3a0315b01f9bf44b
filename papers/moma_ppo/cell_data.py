"""The dataset a MOMA-PPO cell trains on: the ``dataset`` specs of the Reacher (Table 4a) and Ant (Table 4b) cells,
and ``load_dataset``, the loader every job of the paper shares (an ICG spec: papers/moma_ppo/datasets.py; a Reacher
spec: papers/moma_ppo/reacher.py; an Ant spec: common.datasets.mujoco's kind split per agent, its rewards scaled for
the IQL family as the code does)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import numpy as np

from papers.moma_ppo import config as C
from papers.moma_ppo import data_config as DC
from papers.moma_ppo.datasets import load_spec

REACHER_SOURCE = "papers.moma_ppo.reacher"
REACHER_BUILD_AT = ("smoke",)  # profiles at which a missing Reacher dataset is built by the item (seconds)
ANT_SOURCE = "common.datasets.mujoco"
ANT_BUILD_AT = ("smoke",)  # profiles at which a missing Ant dataset is built by the item (seconds)


def reacher_spec(obs_mode: str, profile: str) -> dict[str, Any]:
    """The ``dataset`` spec of a Table 4a cell: the profile's expert-mix (papers/moma_ppo/reacher.py) split per agent
    for ``obs_mode`` (what evaluation needs: env, env_options, return_mode; and which data). return_mode "mean": the
    team reward is copied to both agents, so "sum" would count it twice (the paper's -11.14 / -4.24 are one copy)."""
    if obs_mode not in DC.REACHER_OBS_MODES:
        raise ValueError(f"obs_mode={obs_mode!r} is not allowed; allowed: {', '.join(DC.REACHER_OBS_MODES)}")
    return {
        "env": DC.REACHER_ENV,
        "env_options": {"obs_mode": obs_mode},
        "return_mode": "mean",
        "kind": C.T4A_DATASET,
        "profile": profile,
        "source": REACHER_SOURCE,
        "version": DC.reacher_scale(profile).version,
    }


def load_dataset(spec: Mapping[str, Any]):
    """The dataset a cell's ``dataset`` spec names: an ICG dataset (generated if missing), a Reacher or an Ant dataset
    (built if missing at smoke only; at quick / full a FileNotFoundError names the command that builds it)."""
    if spec.get("source") == ANT_SOURCE:
        return load_ant(spec)
    if spec.get("source") == REACHER_SOURCE:
        from papers.moma_ppo.reacher import reacher_dataset

        return reacher_dataset(
            spec["kind"],
            spec["env_options"]["obs_mode"],
            spec["profile"],
            build_missing=spec["profile"] in REACHER_BUILD_AT,
        )
    return load_spec(spec)


def ant_spec(obs_mode: str, dataset: str, profile: str, reward_scale: bool = False) -> dict[str, Any]:
    """The ``dataset`` spec of a Table 4b cell: common.datasets.mujoco's Ant ``dataset`` (D4RL's protocol on Ant-v5)
    at ``profile``, split per agent for ``obs_mode``; ``reward_scale``: rewards x 1000 / (max - min episode return)
    ([code] for IQL, MAIQL(-ft) and BC on Ant, spec §3). The team return is every agent's copy of the reward
    (return_mode "mean"), the single-agent Ant return that D4RL's constants normalize."""
    from papers.moma_ppo.published import ANT_DATASETS

    if obs_mode not in DC.ANT_OBS_MODES:
        raise ValueError(f"obs_mode={obs_mode!r} is not allowed; allowed: {', '.join(DC.ANT_OBS_MODES)}")
    if dataset not in ANT_DATASETS:
        raise ValueError(
            f"dataset={dataset!r} is not an Ant dataset of Table 4b; allowed: {', '.join(ANT_DATASETS)}"
        )
    spec = {
        "env": DC.ANT_ENV,
        "env_options": {"obs_mode": obs_mode},
        "return_mode": "mean",
        "kind": dataset,
        "profile": profile,
        "source": ANT_SOURCE,
        "task": "ant",
    }
    if reward_scale:
        spec["reward_scale"] = C.T4B_REWARD_SCALE
    return spec


def ant_missing(kinds, profile: str) -> str | None:
    """The command that builds the profile's missing Ant datasets among ``kinds`` (None when all are there, and at
    the profiles where the item builds them itself)."""
    from common.datasets.mujoco import dataset_base

    if profile in ANT_BUILD_AT:
        return None
    lack = [
        k
        for k in kinds
        if not dataset_base("ant", k, profile)
        .with_name(dataset_base("ant", k, profile).name + ".json")
        .exists()
    ]
    if not lack:
        return None
    return (
        f"the Ant datasets {', '.join(lack)} (python -m common.datasets.mujoco --task ant "
        + " ".join(f"--kind {k}" for k in lack)
        + f" --profile {profile})"
    )


def scale_rewards(data, scale: float):
    """``data`` with rewards x ``scale`` / (max - min episode return) ([code] IQL's locomotion normalization); the
    card names the factor and its sha256 is rehashed, so records of scaled and raw data never mix."""
    from common.datasets.dataset import Dataset

    returns = np.asarray(data.episode_returns, dtype=np.float64)
    span = float(returns.max() - returns.min())
    if not np.isfinite(span) or span <= 0:
        raise ValueError(f"{data.id}: cannot scale rewards, the episode returns span {span!r}")
    factor = float(scale) / span
    card = {
        **data.card,
        "reward_scale": {
            "rule": f"rewards x {scale:g} / (max - min episode return)",
            "factor": factor,
            "source_sha256": data.card["sha256"],
        },
    }
    card["sha256"] = hashlib.sha256(
        json.dumps([data.card["sha256"], "reward_scale", factor]).encode()
    ).hexdigest()
    arrays = {
        **data.arrays,
        "rewards": (data.rewards * factor).astype(data.rewards.dtype),
        "episode_returns": returns * factor,
    }
    return Dataset(arrays, card)


def load_ant(spec: Mapping[str, Any]):
    """The per-agent Ant dataset of a Table 4b spec (built if missing at smoke only; at quick / full a
    FileNotFoundError names the command that builds it)."""
    from common.datasets import mujoco

    kind, profile = spec["kind"], spec["profile"]
    base = mujoco.dataset_base("ant", kind, profile)
    if profile not in ANT_BUILD_AT and not base.with_name(base.name + ".json").exists():
        raise FileNotFoundError(f"needs {ant_missing([kind], profile)}")
    data = mujoco.split(mujoco.load("ant", kind, profile), DC.ANT_ENV, **spec["env_options"])
    if spec.get("reward_scale") is not None:
        data = scale_rewards(data, float(spec["reward_scale"]))
    return data
