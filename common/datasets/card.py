"""Dataset cards and the on-disk format: ids and paths, the card schema, checksums, and checks.

On disk a dataset is two files written atomically side by side (by :meth:`common.datasets.dataset.Dataset.save`):
``<path>.npz`` (``np.savez``, not compressed: float observations barely compress and loading stays
fast) and ``<path>.json``, the card (schema in :func:`make_card`). Every
:meth:`common.datasets.dataset.Dataset.load` re-hashes the ``.npz`` and compares it with the card's sha256, and
checks every array's shape and dtype against the card (:data:`ARRAYS`); any mismatch raises
:class:`DatasetError` naming what differs, the files, and how to regenerate them
(:func:`regenerate_hint`: the card's ``regenerate_command`` when the generating code recorded one).

Dataset ids read ``<env>/<kind>-v<k>`` (``omar/spread/medium-v1``) and live at
``dataset_path(id)`` = ``<cache>/<env>/<kind>-v<k>``, the cache being :func:`common.running.roots.cache_root`
(``$OFFMARL_DATA``, else ``$XDG_CACHE_HOME/offmarl-repro``, else ``~/.cache/offmarl-repro``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from common.datasets.returns import return_stats
from common.running.roots import cache_root

# On-disk format of the .npz + card pair that common.datasets.dataset writes and this module checks. Bump it
# when the layout changes, and keep reading the old versions listed here.
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
    """The dataset cache root = :func:`common.running.roots.cache_root` (``$OFFMARL_DATA``, else
    ``$XDG_CACHE_HOME/offmarl-repro``, else ``~/.cache/offmarl-repro``)."""
    return cache_root()


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


def base_path(path: str | os.PathLike) -> Path:
    """Accept ``x``, ``x.npz`` or ``x.json``; return ``x``."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".npz", ".json") else p


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# the card
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


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------
def regenerate_hint(path: str | os.PathLike) -> str:
    """What to do about a missing or broken dataset at ``path`` (a base path): delete its files that
    exist, named, then run the card's ``regenerate_command`` if it records one, else re-run the script
    that needs the dataset (the paper scripts generate missing datasets)."""
    base = base_path(path)
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


def read_card_json(base: Path) -> dict[str, Any]:
    js = base.with_name(base.name + ".json")
    if not js.exists():
        raise DatasetError(f"dataset file missing: {js}")
    try:
        card = json.loads(js.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{js}: card is not valid JSON ({e})") from None
    check_card(card, str(js))
    return card


_CARD_FIELDS = (
    "format_version",
    "id",
    "env",
    "kind",
    "version",
    "size",
    "n_episodes",
    "n_agents",
    "obs_dims",
    "act_dims",
    "state_dim",
    "return_mode",
    "returns",
    "ref_scores",
    "sha256",
)


def check_card(card: Mapping[str, Any], where: str) -> None:
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
        raise DatasetError(
            f"{where}: unknown dataset kind {card['kind']!r}; allowed kinds: {', '.join(KINDS)}"
        )
    want_id = f"{card['env']}/{card['kind']}-v{card['version']}"
    if card["id"] != want_id:
        raise DatasetError(f"{where}: card id {card['id']!r} disagrees with env/kind/version ({want_id!r})")
    N = card["n_agents"]
    if len(card["obs_dims"]) != N or len(card["act_dims"]) != N:
        raise DatasetError(
            f"{where}: card n_agents={N} but obs_dims={card['obs_dims']}, act_dims={card['act_dims']}"
        )


def check_arrays(arrays: Mapping[str, np.ndarray], card: Mapping[str, Any], where: str) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise DatasetError(
            f"{where}: missing arrays {missing} (has {sorted(arrays)}; needs {list(REQUIRED_KEYS)})"
        )
    unknown = [k for k in arrays if k not in ARRAYS]
    if unknown:
        raise DatasetError(f"{where}: unknown arrays {unknown}; allowed: {list(ARRAYS)}")
    if ("state" in arrays) != ("next_state" in arrays):
        raise DatasetError(f"{where}: state and next_state must be stored together")
    if ("state" in arrays) != (card.get("state_dim") is not None):
        raise DatasetError(
            f"{where}: card state_dim={card.get('state_dim')} but state array "
            f"{'present' if 'state' in arrays else 'absent'}"
        )
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
        raise DatasetError(
            f"{where}: card says n_episodes={card['n_episodes']}, the episode flags give {n_ep}"
        )


def resolve_dataset(path: str | os.PathLike) -> Path:
    """A file path (with or without extension), else a dataset id under data_root()."""
    base = base_path(path)
    if base.with_name(base.name + ".json").exists() or base.with_name(base.name + ".npz").exists():
        return base
    if isinstance(path, str) and _ID_RE.match(path):
        try:
            return dataset_path(path)
        except ValueError:
            pass
    return base
