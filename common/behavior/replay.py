"""The replay buffer of the online behavior learner MATD3 (common/behavior/matd3.py): preallocated numpy rows, one
block per seed, with torch views for sampling; its first transitions become the medium-replay datasets
(common/behavior/collect.py).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

__all__ = ["ReplayBuffer", "load_progress", "progress_state"]


class OnlineLearner(Protocol):
    """What an online behavior learner (MATD3, SAC) carries besides its networks: its buffer, one numpy and one
    torch generator per stream, and its counters."""

    buffer: Any
    np_rngs: list[np.random.Generator]
    torch_rngs: list[torch.Generator]
    n_updates: int
    env_steps: int


def progress_state(learner: OnlineLearner) -> dict[str, Any]:
    """The part of an online learner's checkpoint that is not networks or optimizers: the buffer, the generators'
    states and the counters (``load_progress`` restores it)."""
    return {
        "buffer": learner.buffer.state_dict(),
        "np_rngs": [r.bit_generator.state for r in learner.np_rngs],
        "torch_rngs": [g.get_state() for g in learner.torch_rngs],
        "n_updates": learner.n_updates,
        "env_steps": learner.env_steps,
    }


def load_progress(learner: OnlineLearner, sd: dict[str, Any]) -> None:
    """Restores what ``progress_state`` saved into ``learner``."""
    learner.buffer.load_state_dict(sd["buffer"])
    for r, st in zip(learner.np_rngs, sd["np_rngs"]):
        r.bit_generator.state = st
    for g, st in zip(learner.torch_rngs, sd["torch_rngs"]):
        g.set_state(st.cpu())
    learner.n_updates, learner.env_steps = int(sd["n_updates"]), int(sd["env_steps"])


class ReplayBuffer:
    """Preallocated ring buffer, one row block per seed: ``obs [S, C, N, O]``, ``actions [S, C, N, A]``,
    ``rewards [S, C, N]``, ``next_obs``, ``terminals [S, C]``, ``timeouts [S, C]``, optional
    ``state``/``next_state [S, C, Sd]``. All seeds add one transition per env copy per step, so the
    write pointer is shared; sampling indices are drawn per seed. Transition t of the run sits at
    row ``t % C`` (``n_added`` counts them); with n_envs copies, row t belongs to copy ``t % n_envs``."""

    def __init__(self, n_seeds, capacity, n_agents, obs_dim, act_dim, state_dim=None):
        S, C, N = n_seeds, capacity, n_agents
        z = np.zeros
        self.np = {
            "obs": z((S, C, N, obs_dim), np.float32),
            "actions": z((S, C, N, act_dim), np.float32),
            "rewards": z((S, C, N), np.float32),
            "next_obs": z((S, C, N, obs_dim), np.float32),
            "terminals": z((S, C), np.float32),
            "timeouts": z((S, C), np.float32),
        }
        if state_dim is not None:
            self.np["state"] = z((S, C, state_dim), np.float32)
            self.np["next_state"] = z((S, C, state_dim), np.float32)
        self.t = {k: torch.from_numpy(v) for k, v in self.np.items()}  # shares memory (CPU)
        self.capacity = C
        self.n_added = 0

    @property
    def size(self) -> int:
        return min(self.n_added, self.capacity)

    @property
    def wrapped(self) -> bool:
        return self.n_added > self.capacity

    def add(self, **step) -> None:
        """One transition per seed: obs [S, N, O], ..., terminals [S], timeouts [S], state [S, Sd]."""
        row = self.n_added % self.capacity
        for k, v in self.np.items():
            v[:, row] = step[k]
        self.n_added += 1

    def prefix(self, n: int, seed_index: int) -> dict[str, np.ndarray]:
        """The first n transitions ever added for one seed (raises if overwritten)."""
        if n > self.n_added:
            raise ValueError(f"asked for the first {n} transitions, the buffer received only {self.n_added}")
        if self.wrapped:  # transition 0 is overwritten as soon as more than C were added
            raise ValueError(
                f"the buffer (capacity {self.capacity}) has wrapped ({self.n_added} added): its first "
                f"{n} transitions are overwritten; use buffer_size >= total transitions per seed"
            )
        return {k: v[seed_index, :n].copy() for k, v in self.np.items()}

    def state_dict(self) -> dict[str, Any]:
        """A copy of the filled rows and the count: a 1M-row buffer holding 300k transitions checkpoints 300k rows."""
        return {"arrays": {k: v[:, : self.size].copy() for k, v in self.np.items()}, "n_added": self.n_added}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        for k, v in self.np.items():
            a = sd["arrays"][k]
            if a.shape[0] != v.shape[0] or a.shape[2:] != v.shape[2:] or a.shape[1] > self.capacity:
                raise ValueError(f"buffer array {k!r} of shape {a.shape} does not fit this buffer {v.shape}")
            v[:, : a.shape[1]] = a
            v[:, a.shape[1] :] = 0
        self.n_added = int(sd["n_added"])
