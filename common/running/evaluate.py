"""Vectorised evaluation rollouts: P policies (e.g. one per seed) x E episodes stepped together.

    scores = evaluate(lambda obs: actions, "omar/spread", n_policies=5, n_episodes=10, seed=10_000)
    scores.returns   # [P, E] per-episode returns by `return_mode` (as the dataset card's)
    scores.mean      # [P]

The policy receives obs [P, E, N, O] (float32 numpy) and returns actions [P, E, N, A]; one call per
step for all policies and episodes, under torch.inference_mode when it is a torch function. An
episode that ended is frozen (envs.base.VecEnv), so all episodes advance until the longest ends.
Evaluation seeds are separate from training seeds: pass a seed range nobody trains with
(`EVAL_SEED_OFFSET + seed`). The policies' own random streams are untouched (deterministic
actions), so evaluating never changes the training random stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

import envs
from common.datasets.returns import episode_return_fn

EVAL_SEED_OFFSET = 1_000_000  # evaluation env seeds = EVAL_SEED_OFFSET + training seed * 1000 + episode


@dataclass
class EvalResult:
    returns: np.ndarray  # [P, E]
    lengths: np.ndarray  # [P, E]

    @property
    def mean(self) -> np.ndarray:  # [P]
        return self.returns.mean(axis=1)


def eval_seed(train_seed: int) -> int:
    """The first env seed of a training seed's evaluation episodes."""
    return EVAL_SEED_OFFSET + 1000 * int(train_seed)


def evaluate(
    policy: Callable[[np.ndarray], np.ndarray],
    env_name: str,
    n_policies: int,
    n_episodes: int,
    seeds: list[int] | int,
    return_mode: str | Callable = "mean",
    env_options: dict | None = None,
    vec_env=None,
    max_steps: int | None = None,
) -> EvalResult:
    """Roll out `policy` for n_policies x n_episodes episodes; policy p's episode e uses env seed
    seeds[p] + e (an int `seeds` means the same episodes for every policy). ``max_steps`` cuts every
    episode after that many steps (None: the env's own length; smoke runs use it to keep 1,000-step
    MuJoCo episodes from dominating a plumbing test)."""
    if max_steps is not None and (isinstance(max_steps, bool) or int(max_steps) < 1):
        raise ValueError(f"max_steps={max_steps!r}: give a positive number of steps or None")
    fn, _ = episode_return_fn(return_mode)
    P, E = n_policies, n_episodes
    venv = vec_env if vec_env is not None else envs.make_vec(env_name, P * E, **(env_options or {}))
    if venv.n != P * E:
        raise ValueError(f"vec_env has {venv.n} envs, need n_policies * n_episodes = {P * E}")
    spec = venv.spec
    # np.isscalar's stub narrows only its True branch (and to numpy's scalar types, not int)
    base = [int(seeds)] * P if np.isscalar(seeds) else [int(s) for s in seeds]  # type: ignore[arg-type, union-attr]
    if len(base) != P:
        raise ValueError(f"need one seed per policy ({P}), got {len(base)}")
    obs = venv.reset(seeds=[base[p] + e for p in range(P) for e in range(E)])  # [P*E, N, O]
    rewards: list[np.ndarray] = []  # [P*E, N] per step
    alive: list[np.ndarray] = []  # [P*E] per step
    with torch.inference_mode():
        while not venv.done.all() and (max_steps is None or len(rewards) < max_steps):
            act = np.asarray(policy(obs.reshape(P, E, spec.n_agents, spec.obs_dim)))
            was_alive = ~venv.done
            obs, r, _, _ = venv.step(act.reshape(P * E, spec.n_agents, -1))
            rewards.append(r)
            alive.append(was_alive)
    R = np.stack(rewards, axis=1)  # [P*E, T, N]
    L = np.stack(alive, axis=1)  # [P*E, T]
    returns = np.array([fn(R[k][L[k]]) for k in range(P * E)]).reshape(P, E)
    return EvalResult(returns=returns, lengths=L.sum(axis=1).reshape(P, E))
