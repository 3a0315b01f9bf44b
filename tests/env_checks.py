"""Checks every environment test reuses: construction, random episode, determinism, PettingZoo API."""

from __future__ import annotations

import warnings

import numpy as np
from pettingzoo.test import parallel_api_test


def random_actions(spec, rng: np.random.Generator) -> np.ndarray:
    """[N, A] uniformly random valid actions (padded entries zero)."""
    if spec.discrete:
        return np.array([[rng.integers(k)] for k in spec.n_actions], dtype=np.int64)
    a = rng.uniform(spec.act_low, spec.act_high, size=(spec.n_agents, spec.act_dim)).astype(np.float32)
    return a * spec.act_mask()


def rollout(env, seed: int, action_seed: int = 0, max_steps: int | None = None):
    """One episode with random actions; returns dict of stacked arrays."""
    rng = np.random.default_rng(action_seed)
    obs = env.reset(seed)
    out = {"obs": [obs], "rewards": [], "state": [env.state()], "actions": []}
    term = trunc = False
    steps = 0
    while not (term or trunc):
        a = random_actions(env.spec, rng)
        obs, r, term, trunc, _ = env.step(a)
        out["obs"].append(obs)
        out["rewards"].append(r)
        out["state"].append(env.state())
        out["actions"].append(a)
        steps += 1
        if max_steps is not None and steps >= max_steps:
            break
    out = {k: np.stack(v) for k, v in out.items()}
    out["terminated"], out["truncated"] = term, trunc
    return out


def check_spec_and_episode(env, expect_len: int | None = None):
    spec = env.spec
    N, O = spec.n_agents, spec.obs_dim
    ep = rollout(env, seed=0)
    assert ep["obs"].shape[1:] == (N, O) and ep["obs"].dtype == np.float32
    assert ep["rewards"].shape[1:] == (N,)
    assert ep["state"].shape[1:] == (spec.state_dim,)
    assert np.all(np.isfinite(ep["obs"])) and np.all(np.isfinite(ep["rewards"]))
    # padded observation entries are zero
    assert np.all(ep["obs"][:, ~spec.obs_mask()] == 0)
    T = ep["rewards"].shape[0]
    assert 1 <= T <= spec.episode_length
    if expect_len is not None:
        assert T == expect_len and ep["truncated"] and not ep["terminated"]
    return ep


def check_determinism(env_fn, seed: int = 3, seed_changes_start: bool = True):
    a, b, c = rollout(env_fn(), seed), rollout(env_fn(), seed), rollout(env_fn(), seed + 1)
    n = min(len(a["obs"]), len(b["obs"]))
    np.testing.assert_array_equal(a["obs"], b["obs"])
    np.testing.assert_array_equal(a["rewards"], b["rewards"])
    if seed_changes_start:
        assert not np.array_equal(a["obs"][0], c["obs"][0]), (
            "different seeds gave the same initial observation"
        )
    return n


def check_parallel_api(env, num_cycles: int = 200):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(env.as_pettingzoo(), num_cycles=num_cycles)
