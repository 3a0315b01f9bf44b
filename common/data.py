"""Offline multi-agent datasets: arrays + a JSON card, checksummed, cached under ``$OFFMARL_DATA``.

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

On disk a dataset is two files written atomically side by side: ``<path>.npz`` (``np.savez``, not
compressed: float observations barely compress and loading stays fast) and ``<path>.json``, the
card (schema in :func:`make_card`). Every :meth:`Dataset.load` re-hashes the ``.npz`` and compares
it with the card's sha256, and checks every array's shape and dtype against the card; any mismatch
raises :class:`DatasetError` naming what differs, the files, and how to regenerate them
(:func:`regenerate_hint`: the card's ``regenerate_command`` when the generating code recorded one).

Dataset ids read ``<env>/<kind>-v<k>`` (``omar/spread/medium-v1``) and live at
``dataset_path(id)`` = ``$OFFMARL_DATA/<env>/<kind>-v<k>`` (default root: the repository's ``data/``,
whatever the working directory).

Minibatches for M members (members = seeds × agents) are drawn at once: :func:`sample_indices`
gives ``[M, B]`` int64 indices, then :func:`gather` (joint layout, ``obs [M, B, N, O]``) or
:func:`gather_members` (member m sees only its agent's columns, ``obs [M, B, O]``) index tensors
already in memory (:meth:`Dataset.to_torch`).

CLI: ``python -m common.data info PATH_OR_ID`` prints the card and verifies the checksum.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import importlib.metadata
import io
import json
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from common.roots import REPO_ROOT

# On-disk format of the .npz + card pair that this module writes and reads. Bump it when the
# layout changes, and keep reading the old versions listed here.
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)

# Dataset kinds. "custom" is the escape hatch for a paper-specific protocol (say so in `protocol`).
KINDS = (
    "random",
    "medium",
    "medium-replay",
    "expert",
    "full-replay",
    "mixed",
    "medium-expert",
    "expert-mix",
    "custom",
)

# Episode return of an episode's rewards [L, N]: "mean" = sum_t mean_i r (the default: the team
# return for shared rewards, OMAR's score on spread); "sum" = sum_t sum_i r; "agent0" = sum_t r_0
# (OMAR's score on tag / world, where agent 0's return is reported). A callable rewards[L, N] ->
# float is also accepted; the card then records "custom:<name>".
RETURN_MODES = ("mean", "sum", "agent0")

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

# Libraries whose versions the card records (None when not installed).
LIBRARIES = ("numpy", "torch", "mujoco", "gymnasium", "gymnasium_robotics", "pettingzoo", "mpe2")

# key -> (dtype, shape in axis letters). T size, N agents, O/A padded dims, S state, E episodes.
ARRAYS: dict[str, tuple[np.dtype, tuple[str, ...]]] = {
    "obs": (np.dtype(np.float32), ("T", "N", "O")),
    "actions": (np.dtype(np.float32), ("T", "N", "A")),
    "rewards": (np.dtype(np.float32), ("T", "N")),
    "next_obs": (np.dtype(np.float32), ("T", "N", "O")),
    "terminals": (np.dtype(bool), ("T",)),
    "timeouts": (np.dtype(bool), ("T",)),
    "episode_returns": (np.dtype(np.float64), ("E",)),
    "state": (np.dtype(np.float32), ("T", "S")),
    "next_state": (np.dtype(np.float32), ("T", "S")),
}
REQUIRED_KEYS = ("obs", "actions", "rewards", "next_obs", "terminals", "timeouts", "episode_returns")
OPTIONAL_KEYS = ("state", "next_state")
# Keys with an agent axis (sliced per agent by agent_view / gather_members).
AGENT_KEYS = ("obs", "actions", "rewards", "next_obs")
STEP_KEYS = ("obs", "actions", "rewards", "next_obs", "terminals", "timeouts", "state", "next_state")

_ID_RE = re.compile(r"^(?P<env>[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*)/(?P<kind>[a-z\-]+)-v(?P<version>\d+)$")


class DatasetError(ValueError):
    """A dataset file is missing, corrupt, or disagrees with its card."""


# ---------------------------------------------------------------------------------------------
# ids, paths, versions
# ---------------------------------------------------------------------------------------------
def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; allowed kinds: {', '.join(KINDS)}")
    return kind


def dataset_id(env: str, kind: str, version: int = 1) -> str:
    """``<env>/<kind>-v<k>``, e.g. ``omar/spread/medium-v1``."""
    check_kind(kind)
    if int(version) != version or version < 0:
        raise ValueError(f"dataset version must be a non-negative integer, got {version!r}")
    return f"{env}/{kind}-v{int(version)}"


def parse_dataset_id(ds_id: str) -> tuple[str, str, int]:
    """``"omar/spread/medium-v1"`` -> ``("omar/spread", "medium", 1)``."""
    m = _ID_RE.match(ds_id)
    if m is None:
        raise ValueError(f"dataset id {ds_id!r} does not read <env>/<kind>-v<k> (e.g. omar/spread/medium-v1)")
    check_kind(m["kind"])
    return m["env"], m["kind"], int(m["version"])


def data_root() -> Path:
    """The dataset cache root: ``$OFFMARL_DATA`` if set, else ``<repo>/data`` (not relative to the CWD)."""
    env = os.environ.get("OFFMARL_DATA")
    return Path(env).expanduser() if env else REPO_ROOT / "data"


def dataset_path(ds_id: str) -> Path:
    """Base path (no extension) of a dataset id under :func:`data_root`."""
    env, kind, version = parse_dataset_id(ds_id)
    return data_root().joinpath(*env.split("/"), f"{kind}-v{version}")


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            try:
                out[name] = importlib.metadata.version(name.replace("_", "-"))
            except importlib.metadata.PackageNotFoundError:
                out[name] = None
    return out


def _base(path: str | os.PathLike) -> Path:
    """Accept ``x``, ``x.npz`` or ``x.json``; return ``x``."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".npz", ".json") else p


def _sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# returns and statistics
# ---------------------------------------------------------------------------------------------
def episode_return_fn(mode: str | Callable[[np.ndarray], float]) -> tuple[Callable[[np.ndarray], float], str]:
    """(fn(rewards [L, N]) -> float, name recorded in the card)."""
    if callable(mode):
        return mode, f"custom:{getattr(mode, '__qualname__', type(mode).__name__)}"
    if mode == "mean":
        return (lambda r: float(np.sum(np.mean(r, axis=1, dtype=np.float64)))), mode
    if mode == "sum":
        return (lambda r: float(np.sum(r, dtype=np.float64))), mode
    if mode == "agent0":
        return (lambda r: float(np.sum(r[:, 0], dtype=np.float64))), mode
    raise ValueError(f"unknown return mode {mode!r}; use one of {', '.join(RETURN_MODES)} or a callable")


def return_stats(returns: np.ndarray) -> dict[str, Any]:
    """Mean, std (population, ddof=0), min, max and quantiles of per-episode returns [E]."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "quantiles": {}}
    return {
        "mean": float(r.mean()),
        "std": float(r.std()),
        "min": float(r.min()),
        "max": float(r.max()),
        "quantiles": {str(q): float(np.quantile(r, q)) for q in QUANTILES},
    }


def normalize(score, refs) -> Any:
    """``100 * (score - S_random) / (S_expert - S_random)``.

    ``refs`` is a card (its ``ref_scores``), a Dataset, an EnvSpec, or ``{"random", "expert"}``.
    ``score`` may be a float or an array. Raises ValueError when the references are missing."""
    if isinstance(refs, Dataset):
        refs = refs.card
    elif hasattr(refs, "ref_scores") and not isinstance(refs, Mapping):  # EnvSpec
        refs = refs.ref_scores
    if isinstance(refs, Mapping) and "ref_scores" in refs:
        refs = refs["ref_scores"]
    if not isinstance(refs, Mapping) or refs.get("random") is None or refs.get("expert") is None:
        raise ValueError(f"cannot normalize: reference scores missing (need 'random' and 'expert', got {refs!r})")
    lo, hi = float(refs["random"]), float(refs["expert"])
    if hi == lo:
        raise ValueError(f"cannot normalize: expert and random reference scores are equal ({hi})")
    if isinstance(score, (int, float)):
        return 100.0 * (float(score) - lo) / (hi - lo)
    return 100.0 * (np.asarray(score, dtype=np.float64) - lo) / (hi - lo)


# ---------------------------------------------------------------------------------------------
# minibatch indices and gathers (members = seeds × agents)
# ---------------------------------------------------------------------------------------------
def sample_indices(rng, size: int, n_members: int, batch_size: int, replace: bool = True):
    """Indices [M, B] int64 into [0, size), each member's row drawn independently.

    ``rng`` is a ``np.random.Generator`` (returns an ndarray) or a ``torch.Generator`` (returns a
    tensor on the generator's device). ``replace=False``: no index repeats within a row (OMAR's
    sampler); each row is then a uniform B-subset (its order is not a uniform permutation)."""
    if size <= 0:
        raise ValueError("cannot sample from an empty dataset")
    if n_members < 1 or batch_size < 1:
        raise ValueError(f"n_members and batch_size must be >= 1, got {n_members}, {batch_size}")
    if not replace and batch_size > size:
        raise ValueError(f"batch_size {batch_size} > dataset size {size} without replacement")
    M, B = int(n_members), int(batch_size)
    if isinstance(rng, np.random.Generator):
        if replace:
            return rng.integers(0, size, size=(M, B), dtype=np.int64)
        return np.stack([rng.choice(size, B, replace=False) for _ in range(M)]).astype(np.int64)
    import torch

    if not isinstance(rng, torch.Generator):
        raise TypeError(f"rng must be a numpy Generator or a torch.Generator, got {type(rng).__name__}")
    dev = rng.device
    if replace:
        return torch.randint(0, size, (M, B), generator=rng, device=dev, dtype=torch.int64)
    if 2 * B > size:  # dense: a permutation per member
        return torch.stack([torch.randperm(size, generator=rng, device=dev)[:B] for _ in range(M)])
    # sparse: draw with replacement, redraw the repeated entries of each row until none repeat.
    # The procedure commutes with relabelling [0, size), so each row's set is a uniform B-subset.
    idx = torch.randint(0, size, (M, B), generator=rng, device=dev, dtype=torch.int64)
    while True:
        s, order = idx.sort(dim=1)
        dup_sorted = torch.zeros_like(s, dtype=torch.bool)
        dup_sorted[:, 1:] = s[:, 1:] == s[:, :-1]
        if not bool(dup_sorted.any()):
            return idx
        dup = torch.zeros_like(dup_sorted).scatter_(1, order, dup_sorted)
        n = int(dup.sum())
        idx[dup] = torch.randint(0, size, (n,), generator=rng, device=dev, dtype=torch.int64)


def member_agents(n_seeds: int, n_agents: int, device=None):
    """Agent index of each member for the seed-major layout m = s * N + i: [M] int64, M = S×N."""
    import torch

    return torch.arange(n_agents, device=device, dtype=torch.int64).repeat(n_seeds)


def gather(tensors: Mapping[str, Any], idx) -> dict[str, Any]:
    """Joint layout: ``idx [M, B]`` -> obs [M, B, N, O], actions [M, B, N, A], rewards [M, B, N],
    terminals / timeouts [M, B], state [M, B, S]. Works on torch tensors and ndarrays alike."""
    return {k: v[idx] for k, v in tensors.items()}


def gather_members(tensors: Mapping[str, Any], idx, agents) -> dict[str, Any]:
    """Per-member agent columns: member m reads agent ``agents[m]`` of the rows ``idx[m]``.

    ``idx [M, B]``, ``agents [M]`` (e.g. :func:`member_agents`) -> obs / next_obs [M, B, O],
    actions [M, B, A], rewards [M, B]; keys without an agent axis as in :func:`gather`
    (terminals [M, B], state [M, B, S])."""
    out = {}
    for k, v in tensors.items():
        if k in AGENT_KEYS:
            out[k] = v[idx, agents[:, None]]  # [M, B, ...]: advanced indices broadcast to [M, B]
        else:
            out[k] = v[idx]
    return out


# ---------------------------------------------------------------------------------------------
# the Dataset
# ---------------------------------------------------------------------------------------------
def make_card(
    arrays: Mapping[str, np.ndarray],
    *,
    env: str,
    kind: str,
    version: int,
    obs_dims: Sequence[int],
    act_dims: Sequence[int],
    return_mode: str,
    protocol: Any = None,
    ref_scores: Mapping[str, float] | None = None,
    behavior: Any = None,
    generator: Any = None,
    n_actions: Sequence[int] | None = None,
    notes: str = "",
    regenerate_command: str | None = None,
) -> dict[str, Any]:
    """The card: everything about a dataset except its arrays. Fields:

    format_version  int, this module's on-disk format (see SUPPORTED_FORMAT_VERSIONS)
    id              "<env>/<kind>-v<k>";  env, kind, version: its parts
    protocol        free text or dict: how the data was generated (the paper's protocol)
    size            T transitions;  n_episodes  E
    n_agents        N;  obs_dims / act_dims  per agent, unpadded;  state_dim  S or null
    n_actions       per agent choices for discrete envs, else null
    return_mode     "mean" | "sum" | "agent0" | "custom:<name>" (how episode_returns were computed)
    returns         {mean, std, min, max, quantiles: {"0.05": .., ..}} of episode_returns
    ref_scores      {"random": .., "expert": ..} or null (used by normalize())
    behavior        free: behavior policies' scores, checkpoints, ...
    generator       free: the code that generated the data, e.g. {"name": .., "version": ..}
    regenerate_command  shell command that makes the dataset again once its files are deleted (filled in
                    by the paper module that generates it), or null; quoted by load errors
    libraries       {"python", "numpy", "torch", "mujoco", ...: version or null}
    arrays          {key: {"shape": [...], "dtype": "float32"}}
    sha256          hex digest of the .npz file (filled in by save())
    created         UTC ISO-8601 time of writing
    notes           free text
    """
    check_kind(kind)
    ref = None
    if ref_scores is not None:
        ref = {k: (None if v is None else float(v)) for k, v in dict(ref_scores).items()}
    state = arrays.get("state")
    return {
        "format_version": FORMAT_VERSION,
        "id": dataset_id(env, kind, version),
        "env": env,
        "kind": kind,
        "version": int(version),
        "protocol": protocol,
        "size": int(arrays["obs"].shape[0]),
        "n_episodes": int(arrays["episode_returns"].shape[0]),
        "n_agents": int(arrays["obs"].shape[1]),
        "obs_dims": [int(d) for d in obs_dims],
        "act_dims": [int(d) for d in act_dims],
        "state_dim": None if state is None else int(state.shape[1]),
        "n_actions": None if n_actions is None else [int(n) for n in n_actions],
        "return_mode": return_mode,
        "returns": return_stats(arrays["episode_returns"]),
        "ref_scores": ref,
        "behavior": behavior,
        "generator": generator,
        "regenerate_command": regenerate_command,
        "libraries": library_versions(),
        "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()},
        "sha256": None,
        "created": None,
        "notes": notes,
    }


class Dataset:
    """Arrays (see the module docstring) and a card. Build with :meth:`from_arrays`,
    :meth:`from_episodes` or :class:`DatasetBuilder`; store with :meth:`save` / :meth:`load`."""

    def __init__(self, arrays: Mapping[str, np.ndarray], card: Mapping[str, Any]):
        self.card: dict[str, Any] = dict(card)
        self.arrays: dict[str, np.ndarray] = dict(arrays)
        _check_card(self.card, "<in memory>")
        _check_arrays(self.arrays, self.card, "<in memory>")

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
            raise ValueError(f"obs_dims {obs_dims} / act_dims {act_dims} must have one entry per agent (N={N})")
        if max(obs_dims) != O or max(act_dims) != A:
            raise ValueError(
                f"padded widths O={O}, A={A} must equal max(obs_dims)={max(obs_dims)}, max(act_dims)={max(act_dims)}"
            )
        om = np.arange(O)[None, :] < np.asarray(obs_dims)[:, None]  # [N, O]
        am = np.arange(A)[None, :] < np.asarray(act_dims)[:, None]  # [N, A]
        for k, m in (("obs", om), ("next_obs", om), ("actions", am)):
            v = arrays[k]
            if v.shape[1:] == m.shape and np.any(v[:, ~m] != 0):
                raise ValueError(f"{k} has non-zero entries in padded columns (per-agent dims {list(m.sum(1))})")
        for k, v in arrays.items():
            if v.shape[0] != T:
                raise ValueError(f"{k} has {v.shape[0]} steps, obs has {T}")
        fn, mode_name = episode_return_fn(return_mode)
        ends = arrays["terminals"] | arrays["timeouts"]
        if not ends[-1]:
            raise ValueError("the last transition must end an episode: set terminals[-1] or timeouts[-1] "
                             "(timeouts[-1] = True for an episode cut off by the end of the data)")
        starts, stops = _bounds(ends)
        r = arrays["rewards"]
        arrays["episode_returns"] = np.array([fn(r[a:b]) for a, b in zip(starts, stops)], dtype=np.float64)
        card = make_card(
            arrays, env=env, kind=kind, version=version, obs_dims=obs_dims, act_dims=act_dims,
            return_mode=mode_name, protocol=protocol, ref_scores=ref_scores, behavior=behavior,
            generator=generator, n_actions=n_actions, notes=notes, regenerate_command=regenerate_command,
        )
        return cls(arrays, card)

    @classmethod
    def from_episodes(cls, env: str, kind: str, episodes: Sequence[Mapping[str, np.ndarray]], **kw) -> "Dataset":
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
        return cls.from_arrays(
            env, kind, flat["obs"], flat["actions"], flat["rewards"], flat["next_obs"],
            flat["terminals"], flat["timeouts"], state=flat.get("state"), next_state=flat.get("next_state"), **kw,
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
                    raise ValueError(f"cannot concat {d0.id} and {d.id}: {f} differs ({d0.card[f]} vs {d.card[f]})")
        mode = d0.card["return_mode"]
        if mode not in RETURN_MODES and "return_mode" not in kw:
            raise ValueError(f"datasets use a custom return mode {mode!r}; pass return_mode=<callable>")
        kw.setdefault("return_mode", mode)
        kw.setdefault("obs_dims", d0.obs_dims)
        kw.setdefault("act_dims", d0.act_dims)
        kw.setdefault("ref_scores", d0.card["ref_scores"])
        kw.setdefault("protocol", {"concat": [d.id for d in datasets]})
        cat = {k: np.concatenate([d.arrays[k] for d in datasets]) for k in STEP_KEYS if k in d0.arrays}
        return cls.from_arrays(
            d0.card["env"], kind, cat["obs"], cat["actions"], cat["rewards"], cat["next_obs"], cat["terminals"],
            cat["timeouts"], state=cat.get("state"), next_state=cat.get("next_state"), **kw,
        )

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
            out = {"obs": self.obs.reshape(T, -1), "actions": self.actions.reshape(T, -1),
                   "next_obs": self.next_obs.reshape(T, -1)}
        out.update(rewards=self.rewards, terminals=self.terminals, timeouts=self.timeouts)
        if self.state is not None:
            out.update(state=self.state, next_state=self.next_state)
        return out

    def to_torch(self, device="cpu", keys: Sequence[str] | None = None) -> dict[str, Any]:
        """Step arrays as tensors on ``device``, kept in memory for :func:`gather`: obs [T, N, O],
        actions [T, N, A], rewards [T, N], next_obs [T, N, O] float32; terminals / timeouts [T]
        float32 0/1 (ready for ``1 - terminals``); state / next_state [T, S] when present.
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
        """[M, B] int64 indices into [0, T); see the module-level :func:`sample_indices`."""
        return sample_indices(rng, self.size, n_members, batch_size, replace)

    # ---- storage ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write ``<path>.npz`` and ``<path>.json`` atomically (temp file + os.replace), default
        path ``dataset_path(self.id)``. Fills in the card's sha256 and created time; returns the
        base path. A failure leaves any previous files in place and no temporary files behind."""
        base = dataset_path(self.id) if path is None else _base(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        npz, js = base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")
        tmp_npz = _tmp_name(npz)
        tmp_js = _tmp_name(js)
        try:
            with open(tmp_npz, "wb") as f:
                np.savez(f, **self.arrays)
                f.flush()
                os.fsync(f.fileno())
            card = {**self.card, "sha256": sha256_file(tmp_npz),
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
            with open(tmp_js, "w") as f:
                json.dump(card, f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            # The card goes last: a crash between the two replaces leaves a new .npz beside the
            # old card, which the next load reports as a checksum mismatch (never a silent mix).
            os.replace(tmp_npz, npz)
            os.replace(tmp_js, js)
            self.card = card
        finally:
            for t in (tmp_npz, tmp_js):
                if os.path.exists(t):
                    os.unlink(t)
        return base

    @staticmethod
    def read_card(path: str | os.PathLike) -> dict[str, Any]:
        """The validated card ``<path>.json`` of a saved dataset, without reading its arrays.
        Errors end with :func:`regenerate_hint`."""
        base = _resolve(path)
        try:
            return _read_card(base)
        except DatasetError as e:
            raise DatasetError(f"{e}; {regenerate_hint(base)}") from None

    @classmethod
    def load(cls, path: str | os.PathLike, *, generators: Mapping[str, Sequence[Any]] | None = None) -> "Dataset":
        """Load ``<path>.npz`` + ``<path>.json`` (``path`` may also be a dataset id), verifying
        the sha256, the format version, and every array's shape and dtype against the card.

        ``generators`` ({name: accepted versions}) optionally restricts the card's
        ``generator`` ({"name", "version"}) to known data generators. Errors (DatasetError) name the
        files and end with :func:`regenerate_hint`: what to delete and the command that regenerates them."""
        base = _resolve(path)
        try:
            arrays, card = cls._load_checked(base, generators)
        except DatasetError as e:
            raise DatasetError(f"{e}; {regenerate_hint(base)}") from None
        return cls(arrays, card)

    @staticmethod
    def _load_checked(base: Path, generators) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        npz, js = base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")
        for p in (js, npz):
            if not p.exists():
                raise DatasetError(f"dataset file missing: {p}")
        card = _read_card(base)
        if generators is not None:
            g = card.get("generator") or {}
            name, ver = (g.get("name"), g.get("version")) if isinstance(g, Mapping) else (g, None)
            if name not in generators or ver not in generators[name]:
                raise DatasetError(
                    f"{js}: unknown generator {name!r} version {ver!r}; supported: "
                    + ", ".join(f"{n} {list(v)}" for n, v in generators.items())
                )
        raw = npz.read_bytes()  # hash and parse the same bytes
        digest = _sha256_bytes(raw)
        if digest != card.get("sha256"):
            raise DatasetError(
                f"{npz}: checksum mismatch: the file's sha256 is {digest}, its card {js} says "
                f"{card.get('sha256')}; the file is corrupt or belongs to another card"
            )
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as e:  # a corrupt zip or an object array
            raise DatasetError(f"{npz}: cannot read arrays ({type(e).__name__}: {e})") from None
        _check_arrays(arrays, card, str(npz))
        return arrays, card

    def verify(self) -> None:
        """Re-check the arrays against the card (shapes, dtypes, episode count)."""
        _check_card(self.card, self.id)
        _check_arrays(self.arrays, self.card, self.id)


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

    def add(self, obs, actions, rewards, next_obs, terminated, truncated, state=None, next_state=None, active=None):
        batched = self.n_envs > 1 or np.ndim(obs) == 3
        step = {"obs": obs, "actions": actions, "rewards": rewards, "next_obs": next_obs,
                "state": state, "next_state": next_state}
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
        ep = {key: np.stack(v) for key, v in cur.items() if v}
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


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------
def regenerate_hint(path: str | os.PathLike) -> str:
    """What to do about a missing or broken dataset at ``path`` (a base path): delete its files that
    exist, named, then run the card's ``regenerate_command`` if it records one, else re-run the script
    that needs the dataset (the paper scripts generate missing datasets)."""
    base = _base(path)
    npz, js = base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")
    try:
        card = json.loads(js.read_text())
    except (OSError, ValueError):  # missing or not JSON
        card = None
    cmd = card.get("regenerate_command") if isinstance(card, dict) else None
    files = [shlex.quote(str(p)) for p in (npz, js) if p.exists()]
    delete = f"delete its files (rm {' '.join(files)}), then " if files else ""
    if isinstance(cmd, str) and cmd:
        return f"to regenerate it, {delete}run: {cmd}"
    why = "" if card is None else "; its card records no regenerate_command"
    return f"to regenerate it, {delete}re-run the script that needs it (paper scripts generate missing datasets{why})"


def _read_card(base: Path) -> dict[str, Any]:
    js = base.with_name(base.name + ".json")
    if not js.exists():
        raise DatasetError(f"dataset file missing: {js}")
    try:
        card = json.loads(js.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{js}: card is not valid JSON ({e})") from None
    _check_card(card, str(js))
    return card


_CARD_FIELDS = ("format_version", "id", "env", "kind", "version", "size", "n_episodes", "n_agents",
                "obs_dims", "act_dims", "state_dim", "return_mode", "returns", "ref_scores", "sha256")


def _check_card(card: Mapping[str, Any], where: str) -> None:
    v = card.get("format_version")
    if v not in SUPPORTED_FORMAT_VERSIONS:
        raise DatasetError(
            f"{where}: unknown dataset format_version {v!r}; this code reads format versions "
            f"{list(SUPPORTED_FORMAT_VERSIONS)} (regenerate the dataset or update offmarl-repro)"
        )
    missing = [f for f in _CARD_FIELDS if f not in card]
    if missing:
        raise DatasetError(f"{where}: card lacks fields {missing}")
    if card["kind"] not in KINDS:
        raise DatasetError(f"{where}: unknown dataset kind {card['kind']!r}; allowed kinds: {', '.join(KINDS)}")
    want_id = f"{card['env']}/{card['kind']}-v{card['version']}"
    if card["id"] != want_id:
        raise DatasetError(f"{where}: card id {card['id']!r} disagrees with env/kind/version ({want_id!r})")
    N = card["n_agents"]
    if len(card["obs_dims"]) != N or len(card["act_dims"]) != N:
        raise DatasetError(f"{where}: card n_agents={N} but obs_dims={card['obs_dims']}, act_dims={card['act_dims']}")


def _check_arrays(arrays: Mapping[str, np.ndarray], card: Mapping[str, Any], where: str) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise DatasetError(f"{where}: missing arrays {missing} (has {sorted(arrays)}; needs {list(REQUIRED_KEYS)})")
    unknown = [k for k in arrays if k not in ARRAYS]
    if unknown:
        raise DatasetError(f"{where}: unknown arrays {unknown}; allowed: {list(ARRAYS)}")
    if ("state" in arrays) != ("next_state" in arrays):
        raise DatasetError(f"{where}: state and next_state must be stored together")
    if ("state" in arrays) != (card.get("state_dim") is not None):
        raise DatasetError(f"{where}: card state_dim={card.get('state_dim')} but state array "
                           f"{'present' if 'state' in arrays else 'absent'}")
    dims = {
        "T": card["size"],
        "N": card["n_agents"],
        "O": max(card["obs_dims"]),
        "A": max(card["act_dims"]),
        "S": card.get("state_dim"),
        "E": card["n_episodes"],
    }
    for k, v in arrays.items():
        dtype, axes = ARRAYS[k]
        want = tuple(dims[a] for a in axes)
        if v.shape != want:
            legend = ", ".join(f"{a}={dims[a]}" for a in axes)
            raise DatasetError(f"{where}: array {k!r} has shape {v.shape}, card expects {want} ({legend})")
        if v.dtype != dtype:
            raise DatasetError(f"{where}: array {k!r} has dtype {v.dtype}, expected {dtype}")
    ends = arrays["terminals"] | arrays["timeouts"]
    if not ends[-1]:
        raise DatasetError(f"{where}: the last transition does not end an episode (terminals/timeouts)")
    n_ep = int(ends.sum())
    if n_ep != card["n_episodes"]:
        raise DatasetError(f"{where}: card says n_episodes={card['n_episodes']}, the episode flags give {n_ep}")


def _bounds(ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stops = np.flatnonzero(ends).astype(np.int64) + 1  # [E] exclusive ends
    starts = np.concatenate([[0], stops[:-1]]).astype(np.int64)
    return starts, stops


def _tmp_name(target: Path) -> str:
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    return name


def _resolve(path: str | os.PathLike) -> Path:
    """A file path (with or without extension), else a dataset id under data_root()."""
    base = _base(path)
    if base.with_name(base.name + ".json").exists() or base.with_name(base.name + ".npz").exists():
        return base
    if isinstance(path, str) and _ID_RE.match(path):
        try:
            return dataset_path(path)
        except ValueError:
            pass
    return base


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def _format_card(card: Mapping[str, Any]) -> str:
    lines = []
    for k, v in card.items():
        if k == "returns":
            continue
        if k == "arrays" and isinstance(v, Mapping):
            lines.append("arrays:")
            lines += [f"  {a:<16} {tuple(m['shape'])} {m['dtype']}" for a, m in v.items()]
            continue
        if k == "libraries" and isinstance(v, Mapping):
            lines.append("libraries: " + ", ".join(f"{n} {ver}" for n, ver in v.items()))
            continue
        if isinstance(v, (dict, list)) and len(json.dumps(v)) > 80:
            v = json.dumps(v, indent=2).replace("\n", "\n  ")
        elif isinstance(v, (dict, list)):
            v = json.dumps(v)
        lines.append(f"{k}: {v}")
    r = card.get("returns") or {}
    lines.append(f"episode returns ({card.get('return_mode')}, E={card.get('n_episodes')}):")

    def f(x):
        return "n/a" if x is None else f"{x:.4g}"

    lines.append(f"  mean {f(r.get('mean'))}  std {f(r.get('std'))}  min {f(r.get('min'))}  max {f(r.get('max'))}")
    q = r.get("quantiles") or {}
    if q:
        lines.append("  quantiles " + "  ".join(f"q{k}={f(v)}" for k, v in q.items()))
    refs = card.get("ref_scores")
    if refs and refs.get("random") is not None and refs.get("expert") is not None and r.get("mean") is not None:
        lines.append(f"  normalized mean {normalize(r['mean'], refs):.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m common.data",
        description="Inspect offmarl-repro datasets (.npz + .json card). Cache root: $OFFMARL_DATA or the "
                    "repository's data/.",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("info", help="print a dataset's card and verify its checksum, shapes and dtypes")
    p.add_argument("path", help="base path (with or without .npz/.json) or a dataset id like omar/spread/medium-v1")
    args = ap.parse_args(argv)
    if args.cmd == "info":
        try:
            ds = Dataset.load(args.path)
        except DatasetError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(_format_card(ds.card))
        print(f"checksum OK (sha256 {ds.card['sha256']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
