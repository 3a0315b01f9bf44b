"""Small datasets the MOMA-PPO tests share."""

from __future__ import annotations

import numpy as np

from common.datasets.dataset import Dataset


def tiny_reacher_dataset(T: int = 64, seed: int = 0) -> Dataset:
    """T random 2-agent Reacher-shaped rows (3-dim obs, 1-dim actions, a shared reward in [-0.5, 0]), a time-out
    every 10 rows and at the last one, never terminal."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, (T, 2, 3)).astype(np.float32)
    nxt = rng.uniform(-1, 1, (T, 2, 3)).astype(np.float32)
    act = rng.uniform(-1, 1, (T, 2, 1)).astype(np.float32)
    r = np.repeat(rng.uniform(-0.5, 0.0, (T, 1)), 2, axis=1).astype(np.float32)
    to = np.zeros(T, bool)
    to[9::10] = True
    to[-1] = True
    return Dataset.from_arrays(
        "mamujoco/reacher-2x1", "expert-mix", obs, act, r, nxt, np.zeros(T, bool), to, return_mode="sum"
    )
