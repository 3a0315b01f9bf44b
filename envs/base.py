"""The one environment interface of offmarl-repro.

Every environment of the four papers is a :class:`MultiAgentEnv` with an array boundary:

    obs = env.reset(seed)                       # [N, O] float32, per-agent obs padded to O with zeros
    obs, rewards, terminated, truncated, info = env.step(actions)   # actions [N, A]; rewards [N]
    s = env.state()                             # [S] float32, the global state

``terminated`` and ``truncated`` are plain bools for the whole team (every environment here ends
for all agents at once). ``spec`` describes shapes, bounds, episode length and, once known, the
normalization references. Discrete-action environments take ``actions[:, 0]`` as integer indices.

Subclasses implement ``_reset(seed) -> list of per-agent obs`` and ``_step(list of per-agent
actions) -> (list of obs, rewards [N], terminated, truncated, info)`` plus ``state()``; the base
class pads, checks shapes, counts steps and truncates at ``spec.episode_length``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class EnvSpec:
    """Static description of a multi-agent environment."""

    name: str
    agent_ids: tuple[str, ...]
    obs_dims: tuple[int, ...]  # per agent, before padding
    act_dims: tuple[int, ...]  # per agent, before padding (1 for discrete agents)
    state_dim: int
    episode_length: int
    act_low: float = -1.0  # continuous action bounds (same for every agent and dimension)
    act_high: float = 1.0
    n_actions: tuple[int, ...] | None = None  # discrete envs: choices per agent; None = continuous
    ref_scores: dict[str, float] | None = None  # {"random": S_random, "expert": S_expert}
    shared_reward: bool = False  # True when every agent receives the same team reward
    options: dict[str, Any] = field(default_factory=dict)  # the options the env was made with

    @property
    def n_agents(self) -> int:
        return len(self.agent_ids)

    @property
    def obs_dim(self) -> int:  # O: padded per-agent observation size
        return max(self.obs_dims)

    @property
    def act_dim(self) -> int:  # A: padded per-agent action size
        return max(self.act_dims)

    @property
    def discrete(self) -> bool:
        return self.n_actions is not None

    def obs_mask(self) -> np.ndarray:
        """[N, O] bool, True where an agent's observation has a real (not padded) entry."""
        return np.arange(self.obs_dim)[None, :] < np.asarray(self.obs_dims)[:, None]

    def act_mask(self) -> np.ndarray:
        """[N, A] bool, True where an agent's action has a real (not padded) entry."""
        return np.arange(self.act_dim)[None, :] < np.asarray(self.act_dims)[:, None]

    def with_ref_scores(self, random: float, expert: float) -> "EnvSpec":
        return dataclasses.replace(self, ref_scores={"random": float(random), "expert": float(expert)})


class MultiAgentEnv:
    """Base class; see the module docstring for the contract."""

    spec: EnvSpec

    def __init__(self, spec: EnvSpec):
        self.spec = spec
        self._t = 0
        self._done = True

    # ---- to implement -------------------------------------------------------------------------
    def _reset(self, seed: int | None) -> Sequence[np.ndarray]:
        raise NotImplementedError

    def _step(self, actions: list[np.ndarray]) -> tuple[Sequence[np.ndarray], np.ndarray, bool, bool, dict]:
        raise NotImplementedError

    def state(self) -> np.ndarray:
        raise NotImplementedError

    # ---- public API ---------------------------------------------------------------------------
    @property
    def t(self) -> int:
        """Steps taken in the current episode."""
        return self._t

    def reset(self, seed: int | None = None) -> np.ndarray:
        obs = self._reset(seed)
        self._t = 0
        self._done = False
        return self._pad_obs(obs)

    def step(self, actions) -> tuple[np.ndarray, np.ndarray, bool, bool, dict]:
        if self._done:
            raise RuntimeError(f"{self.spec.name}: step() called after the episode ended; call reset() first")
        per_agent = self._split_actions(actions)
        obs, rewards, terminated, truncated, info = self._step(per_agent)
        self._t += 1
        truncated = bool(truncated) or (self._t >= self.spec.episode_length and not terminated)
        self._done = bool(terminated) or truncated
        rewards = np.asarray(rewards, dtype=np.float32).reshape(self.spec.n_agents)
        return self._pad_obs(obs), rewards, bool(terminated), truncated, info

    def close(self) -> None:
        pass

    def as_pettingzoo(self):
        """A PettingZoo ParallelEnv view of this env (same dynamics, dict boundary)."""
        from envs.pettingzoo_view import PettingZooView

        return PettingZooView(self)

    # ---- helpers ------------------------------------------------------------------------------
    def _pad_obs(self, obs: Sequence[np.ndarray]) -> np.ndarray:
        spec = self.spec
        out = np.zeros((spec.n_agents, spec.obs_dim), dtype=np.float32)
        for i, o in enumerate(obs):
            o = np.asarray(o, dtype=np.float32).reshape(-1)
            if o.shape[0] != spec.obs_dims[i]:
                raise ValueError(
                    f"{spec.name}: agent {i} obs has {o.shape[0]} dims, spec says {spec.obs_dims[i]}"
                )
            out[i, : o.shape[0]] = o
        return out

    def _split_actions(self, actions) -> list[np.ndarray]:
        spec = self.spec
        a = np.asarray(actions)
        if spec.discrete:
            a = a.reshape(spec.n_agents, -1)[:, 0]
            out = []
            for i, ai in enumerate(a):
                k = int(ai)
                if k != ai or not 0 <= k < spec.n_actions[i]:
                    raise ValueError(
                        f"{spec.name}: agent {i} action {ai!r} not in 0..{spec.n_actions[i] - 1}"
                    )
                out.append(np.asarray(k))
            return out
        if a.ndim != 2 or a.shape[0] != spec.n_agents or a.shape[1] < spec.act_dim:
            raise ValueError(
                f"{spec.name}: actions must have shape [{spec.n_agents}, {spec.act_dim}], got {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{spec.name}: actions contain NaN or inf: {a}")
        a = np.clip(a.astype(np.float64), spec.act_low, spec.act_high)
        return [a[i, : spec.act_dims[i]] for i in range(spec.n_agents)]


class VecEnv:
    """n independent copies of one env stepped together (for vectorised evaluation rollouts).

    ``reset(seed)`` seeds copy k with ``seed + k``. An env whose episode ended is frozen: its
    obs stay at the last value, its rewards are 0 and ``done[k]`` stays True, so a caller can
    loop until ``done.all()`` and sum rewards without masking."""

    def __init__(self, envs: list[MultiAgentEnv]):
        if not envs:
            raise ValueError("VecEnv needs at least one env")
        self.envs = envs
        self.spec = envs[0].spec
        self.done = np.ones(len(envs), dtype=bool)
        self._obs: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.envs)

    def reset(self, seed: int | None = None, seeds: Sequence[int] | None = None) -> np.ndarray:
        """Reset every copy: copy k gets ``seed + k``, or ``seeds[k]`` when a list is given."""
        if seeds is not None:
            if len(seeds) != self.n:
                raise ValueError(f"need one seed per env ({self.n}), got {len(seeds)}")
            obs = [e.reset(int(s)) for e, s in zip(self.envs, seeds)]
        else:
            obs = [e.reset(None if seed is None else seed + k) for k, e in enumerate(self.envs)]
        self._obs = np.stack(obs)  # [n, N, O]
        self.done[:] = False
        return self._obs.copy()

    def step(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """actions [n, N, A] -> obs [n, N, O], rewards [n, N], terminated [n], done [n]."""
        rewards = np.zeros((self.n, self.spec.n_agents), dtype=np.float32)
        terminated = np.zeros(self.n, dtype=bool)
        for k, e in enumerate(self.envs):
            if self.done[k]:
                continue
            o, r, term, trunc, _ = e.step(actions[k])
            self._obs[k] = o
            rewards[k] = r
            terminated[k] = term
            self.done[k] = term or trunc
        return self._obs.copy(), rewards, terminated, self.done.copy()

    def state(self) -> np.ndarray:
        return np.stack([e.state() for e in self.envs])

    def close(self) -> None:
        for e in self.envs:
            e.close()
