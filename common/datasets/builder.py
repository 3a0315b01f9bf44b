"""Building a :class:`common.datasets.dataset.Dataset` step by step from one env or a VecEnv's copies
(``DatasetBuilder``: ``add`` each step, then ``build``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from common.datasets.dataset import Dataset

__all__ = ["DatasetBuilder"]


class DatasetBuilder:
    """Collect steps from one env or ``n_envs`` envs stepped together (VecEnv), then :meth:`build`.

    ``add`` takes one step: obs [N, O] (or [n_envs, N, O]), actions, rewards [N] (or [n_envs, N]),
    next_obs, terminated / truncated (bool or [n_envs]), optional state / next_state [S] (or
    [n_envs, S]), and ``active`` [n_envs] to skip finished copies of a VecEnv. A copy's episode is
    kept when it ends (terminated or truncated); unfinished episodes are dropped by build()
    unless ``keep_partial=True`` (then cut with timeouts[-1] = True)."""

    def __init__(self, n_envs: int = 1):
        self.n_envs = n_envs
        self._current: list[dict[str, list]] = [self._empty() for _ in range(n_envs)]
        self.episodes: list[dict[str, np.ndarray]] = []

    @staticmethod
    def _empty() -> dict[str, list]:
        return {k: [] for k in ("obs", "actions", "rewards", "next_obs", "state", "next_state")}

    @property
    def n_steps(self) -> int:
        return sum(len(e["obs"]) for e in self.episodes) + sum(len(c["obs"]) for c in self._current)

    def add(
        self, obs, actions, rewards, next_obs, terminated, truncated, state=None, next_state=None, active=None
    ):
        batched = self.n_envs > 1 or np.ndim(obs) == 3
        step = {
            "obs": obs,
            "actions": actions,
            "rewards": rewards,
            "next_obs": next_obs,
            "state": state,
            "next_state": next_state,
        }
        term = np.asarray(terminated, dtype=bool).reshape(-1)
        trunc = np.asarray(truncated, dtype=bool).reshape(-1)
        act = np.ones(self.n_envs, bool) if active is None else np.asarray(active, dtype=bool).reshape(-1)
        for k in range(self.n_envs):
            if not act[k]:
                continue
            cur = self._current[k]
            for key, v in step.items():
                if v is not None:
                    cur[key].append(np.array(v[k] if batched else v, copy=True))
            if term[k] or trunc[k]:
                self._finish(k, bool(term[k]))

    def _finish(self, k: int, terminated: bool) -> None:
        cur = self._current[k]
        ep: dict[str, Any] = {key: np.stack(v) for key, v in cur.items() if v}  # arrays, and the flag below
        ep["terminated"] = terminated
        self.episodes.append(ep)
        self._current[k] = self._empty()

    def build(self, env: str, kind: str, keep_partial: bool = False, **kw) -> Dataset:
        """A Dataset of the finished episodes (in the order they finished); kw go to from_arrays."""
        if keep_partial:
            for k in range(self.n_envs):
                if self._current[k]["obs"]:
                    self._finish(k, terminated=False)
        return Dataset.from_episodes(env, kind, self.episodes, **kw)
