"""Offline multi-agent datasets: the :class:`Dataset` container (arrays + a card) and its constructors.

A :class:`Dataset` holds T transitions of N agents, per-agent vectors padded to O / A with zeros
(the layout of :class:`envs.base.EnvSpec`)::

    obs        [T, N, O] float32      next_obs  [T, N, O] float32
    actions    [T, N, A] float32      rewards   [T, N]    float32
    terminals  [T] bool   (true end of the MDP: no bootstrap)
    timeouts   [T] bool   (episode cut by a time limit or by the end of the buffer: bootstrap)
    state      [T, S] float32, next_state [T, S] float32   (optional, for centralized methods)
    episode_returns [E] float64  (one per episode, by the card's ``return_mode``)

Discrete actions are stored as the choice index in ``actions[..., 0]`` (float32 is exact below
2**24). An episode ends at every step with ``terminals | timeouts``; the last step of a dataset
must end one (mark a cut-off episode with ``timeouts[-1] = True``).

:meth:`Dataset.save` writes ``<path>.npz`` + ``<path>.json`` atomically and :meth:`Dataset.load`
verifies them (common.datasets.storage); the card schema, ids and paths under ``$OFFMARL_DATA``, checksums and
checks are :mod:`common.datasets.card`'s. Around the container: :mod:`common.datasets.builder` (``DatasetBuilder``),
:mod:`common.datasets.returns` (return modes, statistics,
normalized scores), :mod:`common.datasets.sampling` (member minibatches from :meth:`Dataset.to_torch`), and
:mod:`common.datasets.info` (``python -m common.datasets.info info PATH_OR_ID`` prints a card and verifies it).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from common.datasets.card import (
    ARRAYS,
    STEP_KEYS,
    check_arrays,
    check_card,
    check_kind,
    dataset_id,
    make_card,
)
from common.datasets.returns import RETURN_MODES, episode_return_fn
from common.datasets.sampling import sample_indices
from common.datasets.storage import DatasetFiles

__all__ = ["Dataset"]


class Dataset(DatasetFiles):
    """Arrays (see the module docstring) and a card. Build with :meth:`from_arrays`,
    :meth:`from_episodes` or :class:`common.datasets.builder.DatasetBuilder`; store with :meth:`save` / :meth:`load`."""

    def __init__(self, arrays: Mapping[str, np.ndarray], card: Mapping[str, Any]):
        self.card: dict[str, Any] = dict(card)
        self.arrays: dict[str, np.ndarray] = dict(arrays)
        check_card(self.card, "<in memory>")
        check_arrays(self.arrays, self.card, "<in memory>")

    # ---- array attributes ---------------------------------------------------------------------
    obs = property(lambda self: self.arrays["obs"])  # [T, N, O]
    actions = property(lambda self: self.arrays["actions"])  # [T, N, A]
    rewards = property(lambda self: self.arrays["rewards"])  # [T, N]
    next_obs = property(lambda self: self.arrays["next_obs"])  # [T, N, O]
    terminals = property(lambda self: self.arrays["terminals"])  # [T]
    timeouts = property(lambda self: self.arrays["timeouts"])  # [T]
    episode_returns = property(lambda self: self.arrays["episode_returns"])  # [E]
    state = property(lambda self: self.arrays.get("state"))  # [T, S] or None
    next_state = property(lambda self: self.arrays.get("next_state"))  # [T, S] or None

    @property
    def id(self) -> str:
        return self.card["id"]

    @property
    def size(self) -> int:  # T
        return self.card["size"]

    def __len__(self) -> int:
        return self.size

    @property
    def n_agents(self) -> int:  # N
        return self.card["n_agents"]

    @property
    def n_episodes(self) -> int:  # E
        return self.card["n_episodes"]

    @property
    def obs_dims(self) -> tuple[int, ...]:
        return tuple(self.card["obs_dims"])

    @property
    def act_dims(self) -> tuple[int, ...]:
        return tuple(self.card["act_dims"])

    def obs_mask(self) -> np.ndarray:
        """[N, O] bool, True on real (not padded) observation entries."""
        return np.arange(self.obs.shape[2])[None, :] < np.asarray(self.obs_dims)[:, None]

    def act_mask(self) -> np.ndarray:
        """[N, A] bool, True on real (not padded) action entries."""
        return np.arange(self.actions.shape[2])[None, :] < np.asarray(self.act_dims)[:, None]

    def __repr__(self) -> str:
        r = self.card["returns"]
        return (
            f"Dataset({self.id!r}, T={self.size}, E={self.n_episodes}, N={self.n_agents}, "
            f"O={self.obs.shape[2]}, A={self.actions.shape[2]}, return mean={r['mean']})"
        )

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        env: str,
        kind: str,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminals: np.ndarray,
        timeouts: np.ndarray,
        *,
        state: np.ndarray | None = None,
        next_state: np.ndarray | None = None,
        obs_dims: Sequence[int] | None = None,
        act_dims: Sequence[int] | None = None,
        spec=None,
        version: int = 1,
        protocol: Any = None,
        ref_scores: Mapping[str, float] | None = None,
        return_mode: str | Callable[[np.ndarray], float] = "mean",
        behavior: Any = None,
        generator: Any = None,
        notes: str = "",
        regenerate_command: str | None = None,
    ) -> "Dataset":
        """Build a dataset from flat step arrays (obs [T, N, O], ... see the module docstring).

        ``spec`` (an EnvSpec) supplies obs_dims, act_dims, n_actions and ref_scores unless given;
        without either, every agent uses the full padded width. Episode returns are computed by
        ``return_mode`` ("mean" | "sum" | "agent0" | callable rewards[L, N] -> float)."""
        check_kind(kind)
        arrays = {
            "obs": np.asarray(obs, dtype=np.float32),
            "actions": np.asarray(actions, dtype=np.float32),
            "rewards": np.asarray(rewards, dtype=np.float32),
            "next_obs": np.asarray(next_obs, dtype=np.float32),
            "terminals": np.asarray(terminals).astype(bool).reshape(-1),
            "timeouts": np.asarray(timeouts).astype(bool).reshape(-1),
        }
        if (state is None) != (next_state is None):
            raise ValueError("give both state and next_state, or neither")
        if state is not None:
            arrays["state"] = np.asarray(state, dtype=np.float32)
            arrays["next_state"] = np.asarray(next_state, dtype=np.float32)
        for k, v in arrays.items():
            need = len(ARRAYS[k][1])
            if v.ndim != need:
                raise ValueError(f"{k} must have {need} axes {list(ARRAYS[k][1])}, got shape {v.shape}")
            if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
                raise ValueError(f"{k} contains NaN or inf")
        T, N, O = arrays["obs"].shape
        if T == 0:
            raise ValueError("a dataset needs at least one transition")
        A = arrays["actions"].shape[2]
        n_actions = None
        if spec is not None:
            obs_dims = spec.obs_dims if obs_dims is None else obs_dims
            act_dims = spec.act_dims if act_dims is None else act_dims
            ref_scores = spec.ref_scores if ref_scores is None else ref_scores
            n_actions = spec.n_actions
        obs_dims = [O] * N if obs_dims is None else [int(d) for d in obs_dims]
        act_dims = [A] * N if act_dims is None else [int(d) for d in act_dims]
        if len(obs_dims) != N or len(act_dims) != N:
            raise ValueError(
                f"obs_dims {obs_dims} / act_dims {act_dims} must have one entry per agent (N={N})"
            )
        if max(obs_dims) != O or max(act_dims) != A:
            raise ValueError(
                f"padded widths O={O}, A={A} must equal max(obs_dims)={max(obs_dims)}, max(act_dims)={max(act_dims)}"
            )
        om = np.arange(O)[None, :] < np.asarray(obs_dims)[:, None]  # [N, O]
        am = np.arange(A)[None, :] < np.asarray(act_dims)[:, None]  # [N, A]
        for k, m in (("obs", om), ("next_obs", om), ("actions", am)):
            v = arrays[k]
            if v.shape[1:] == m.shape and np.any(v[:, ~m] != 0):
                raise ValueError(
                    f"{k} has non-zero entries in padded columns (per-agent dims {list(m.sum(1))})"
                )
        for k, v in arrays.items():
            if v.shape[0] != T:
                raise ValueError(f"{k} has {v.shape[0]} steps, obs has {T}")
        fn, mode_name = episode_return_fn(return_mode)
        ends = arrays["terminals"] | arrays["timeouts"]
        if not ends[-1]:
            raise ValueError(
                "the last transition must end an episode: set terminals[-1] or timeouts[-1] "
                "(timeouts[-1] = True for an episode cut off by the end of the data)"
            )
        starts, stops = _bounds(ends)
        r = arrays["rewards"]
        arrays["episode_returns"] = np.array([fn(r[a:b]) for a, b in zip(starts, stops)], dtype=np.float64)
        card = make_card(
            arrays,
            env=env,
            kind=kind,
            version=version,
            obs_dims=obs_dims,
            act_dims=act_dims,
            return_mode=mode_name,
            protocol=protocol,
            ref_scores=ref_scores,
            behavior=behavior,
            generator=generator,
            n_actions=n_actions,
            notes=notes,
            regenerate_command=regenerate_command,
        )
        return cls(arrays, card)

    @classmethod
    def from_episodes(
        cls, env: str, kind: str, episodes: Sequence[Mapping[str, np.ndarray]], **kw
    ) -> "Dataset":
        """Build from a list of episodes, each a dict of step arrays of length L (``obs [L, N, O]``,
        ``actions``, ``rewards``, ``next_obs``, optional ``state`` / ``next_state``) plus either
        ``terminals`` / ``timeouts`` [L] or a scalar ``terminated`` (True: the episode ended in a
        terminal state; False: it was cut by a time limit). Keyword arguments go to from_arrays."""
        if not episodes:
            raise ValueError("from_episodes needs at least one episode")
        cols: dict[str, list[np.ndarray]] = {}
        for e, ep in enumerate(episodes):
            L = len(ep["obs"])
            if L == 0:
                raise ValueError(f"episode {e} is empty")
            if "terminals" in ep:
                term = np.asarray(ep["terminals"], dtype=bool)
                tout = np.asarray(ep.get("timeouts", np.zeros(L, bool)), dtype=bool)
                if np.any((term | tout)[:-1]):
                    raise ValueError(f"episode {e} has an end flag before its last step")
                if not (term[-1] or tout[-1]):
                    tout = tout.copy()
                    tout[-1] = True
            else:
                term = np.zeros(L, bool)
                tout = np.zeros(L, bool)
                (term if bool(ep.get("terminated", False)) else tout)[-1] = True
            keys = ("obs", "actions", "rewards", "next_obs", "state", "next_state")
            step = {k: np.asarray(ep[k]) for k in keys if k in ep}
            step["terminals"], step["timeouts"] = term, tout
            for k, v in step.items():
                if len(v) != L:
                    raise ValueError(f"episode {e}: {k} has {len(v)} steps, obs has {L}")
                cols.setdefault(k, []).append(v)
        if any(len(cols[k]) != len(episodes) for k in cols):
            raise ValueError("every episode must carry the same keys (state/next_state in all or none)")
        flat = {k: np.concatenate(v) for k, v in cols.items()}
        return cls.from_steps(env, kind, flat, **kw)

    @classmethod
    def from_steps(cls, env: str, kind: str, steps: Mapping[str, np.ndarray], **kw) -> "Dataset":
        """:meth:`from_arrays` with the step arrays in one dict (obs, actions, rewards, next_obs, terminals,
        timeouts; state / next_state optional); keyword arguments go to from_arrays."""
        flat = (steps[k] for k in ("obs", "actions", "rewards", "next_obs", "terminals", "timeouts"))
        return cls.from_arrays(
            env, kind, *flat, state=steps.get("state"), next_state=steps.get("next_state"), **kw
        )

    @classmethod
    def concat(cls, datasets: Sequence["Dataset"], kind: str, **kw) -> "Dataset":
        """Concatenate whole datasets (e.g. medium-expert = medium + expert) of one env and layout.
        ``env``, dims and ref_scores come from the first; the return mode must agree."""
        if not datasets:
            raise ValueError("concat needs at least one dataset")
        d0 = datasets[0]
        for d in datasets[1:]:
            for f in ("env", "n_agents", "obs_dims", "act_dims", "state_dim", "return_mode"):
                if d.card[f] != d0.card[f]:
                    raise ValueError(
                        f"cannot concat {d0.id} and {d.id}: {f} differs ({d0.card[f]} vs {d.card[f]})"
                    )
        mode = d0.card["return_mode"]
        if mode not in RETURN_MODES and "return_mode" not in kw:
            raise ValueError(f"datasets use a custom return mode {mode!r}; pass return_mode=<callable>")
        kw.setdefault("return_mode", mode)
        kw.setdefault("obs_dims", d0.obs_dims)
        kw.setdefault("act_dims", d0.act_dims)
        kw.setdefault("ref_scores", d0.card["ref_scores"])
        kw.setdefault("protocol", {"concat": [d.id for d in datasets]})
        cat = {k: np.concatenate([d.arrays[k] for d in datasets]) for k in STEP_KEYS if k in d0.arrays}
        return cls.from_steps(d0.card["env"], kind, cat, **kw)

    def with_card(self, **fields) -> "Dataset":
        """A copy sharing the arrays, with card fields replaced (e.g. ref_scores once known)."""
        card = {**self.card, **fields}
        if "kind" in fields or "version" in fields or "env" in fields:
            card["id"] = dataset_id(card["env"], card["kind"], card["version"])
        return Dataset(self.arrays, card)

    # ---- episodes -----------------------------------------------------------------------------
    def episode_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts [E], stops [E]) int64: episode e covers steps starts[e] : stops[e]."""
        return _bounds(self.terminals | self.timeouts)

    def episode_starts(self) -> np.ndarray:
        """[E] int64 first step of each episode."""
        return self.episode_bounds()[0]

    def episode_ids(self) -> np.ndarray:
        """[T] int64 episode index of each step."""
        ends = self.terminals | self.timeouts
        return np.concatenate([[0], np.cumsum(ends[:-1])]).astype(np.int64)

    def episodes(self) -> Iterator[dict[str, np.ndarray]]:
        """Yield each episode as a dict of views (``obs [L, N, O]``, ..., no episode_returns)."""
        for a, b in zip(*self.episode_bounds()):
            yield {k: v[a:b] for k, v in self.arrays.items() if k in STEP_KEYS}

    def compute_returns(self, mode: str | Callable[[np.ndarray], float] = "mean") -> np.ndarray:
        """[E] float64 episode returns under any return mode (the stored ones use the card's)."""
        fn, _ = episode_return_fn(mode)
        r = self.rewards
        return np.array([fn(r[a:b]) for a, b in zip(*self.episode_bounds())], dtype=np.float64)

    # ---- views --------------------------------------------------------------------------------
    def agent_view(self, i: int) -> dict[str, np.ndarray]:
        """Agent i's own columns, unpadded (decentralized methods): obs / next_obs [T, O_i],
        actions [T, A_i], rewards [T], terminals / timeouts [T]. Views, not copies."""
        if not 0 <= i < self.n_agents:
            raise IndexError(f"agent {i} out of range 0..{self.n_agents - 1}")
        oi, ai = self.obs_dims[i], self.act_dims[i]
        return {
            "obs": self.obs[:, i, :oi],
            "actions": self.actions[:, i, :ai],
            "rewards": self.rewards[:, i],
            "next_obs": self.next_obs[:, i, :oi],
            "terminals": self.terminals,
            "timeouts": self.timeouts,
        }

    def joint_view(self, unpadded: bool = False) -> dict[str, np.ndarray]:
        """Joint arrays for CTDE methods, agent-major concatenation: obs / next_obs [T, N*O],
        actions [T, N*A] (padded: a reshape, no copy), or with ``unpadded=True`` the concatenation
        of each agent's real columns, [T, sum O_i] / [T, sum A_i] (a copy). rewards [T, N],
        terminals / timeouts [T], state / next_state [T, S] when present."""
        T = self.size
        if unpadded:
            om, am = self.obs_mask(), self.act_mask()
            # boolean mask over the trailing [N, O] axes keeps agent-major order
            out = {"obs": self.obs[:, om], "actions": self.actions[:, am], "next_obs": self.next_obs[:, om]}
        else:
            out = {
                "obs": self.obs.reshape(T, -1),
                "actions": self.actions.reshape(T, -1),
                "next_obs": self.next_obs.reshape(T, -1),
            }
        out.update(rewards=self.rewards, terminals=self.terminals, timeouts=self.timeouts)
        if self.state is not None:
            out.update(state=self.state, next_state=self.next_state)
        return out

    def to_torch(self, device="cpu", keys: Sequence[str] | None = None) -> dict[str, Any]:
        """Step arrays as tensors on ``device``, kept in memory for :func:`common.datasets.sampling.gather`:
        obs [T, N, O], actions [T, N, A], rewards [T, N], next_obs [T, N, O] float32; terminals /
        timeouts [T] float32 0/1 (ready for ``1 - terminals``); state / next_state [T, S] when present.
        On CPU the float tensors share memory with the arrays."""
        import torch

        keys = [k for k in STEP_KEYS if k in self.arrays] if keys is None else list(keys)
        out = {}
        for k in keys:
            v = self.arrays[k]
            if v.dtype == bool:
                v = v.astype(np.float32)
            out[k] = torch.from_numpy(v).to(device)
        return out

    def sample_indices(self, rng, n_members: int, batch_size: int, replace: bool = True):
        """[M, B] int64 indices into [0, T); see :func:`common.datasets.sampling.sample_indices`."""
        return sample_indices(rng, self.size, n_members, batch_size, replace)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _bounds(ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stops = np.flatnonzero(ends).astype(np.int64) + 1  # [E] exclusive ends
    starts = np.concatenate([[0], stops[:-1]]).astype(np.int64)
    return starts, stops
