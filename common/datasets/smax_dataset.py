"""The SMAX dataset container: ``SmaxDataset``, a :class:`common.datasets.dataset.Dataset` with SMAX's extra arrays
(action masks, wins, episode sources), and the ``<base>.smax.npz`` file that holds them beside the dataset's files,
written atomically and read back against the sha256 on the card.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from common.datasets.card import DatasetError, regenerate_hint, sha256_file
from common.datasets.dataset import Dataset
from common.running.records import atomic_write

__all__ = ["SmaxDataset", "EXTRA_KEYS", "extras_path", "write_extras", "read_extras"]

EXTRA_KEYS = {
    "avail_actions": ("T", "N", "K"),
    "next_avail_actions": ("T", "N", "K"),
    "won": ("E",),
    "episode_source": ("E",),
}


def extras_path(base: Path) -> Path:
    return base.with_name(base.name + ".smax.npz")


class SmaxDataset(Dataset):
    """A :class:`common.datasets.dataset.Dataset` with SMAX's extra arrays: ``avail_actions`` / ``next_avail_actions`` [T, N, K]
    bool (the masks at s and s'), ``won`` [E] bool (the episode's win), ``episode_source`` [E] (the index of its
    behavior snapshot in ``card["behavior"]["sources"]``)."""

    def __init__(self, arrays, card, extras: dict[str, np.ndarray]):
        super().__init__(arrays, card)
        self.extras = dict(extras)
        _check_extras(self.extras, self.card, "<in memory>")

    avail_actions = property(lambda self: self.extras["avail_actions"])  # [T, N, K]
    next_avail_actions = property(lambda self: self.extras["next_avail_actions"])  # [T, N, K]
    won = property(lambda self: self.extras["won"])  # [E]
    episode_source = property(lambda self: self.extras["episode_source"])  # [E]

    @property
    def win_rate(self) -> float:
        return float(self.won.mean())

    def extras_torch(self, device="cpu") -> dict[str, torch.Tensor]:
        """avail_actions / next_avail_actions as bool tensors [T, N, K] on ``device`` (for gather with the rows)."""
        return {
            k: torch.from_numpy(self.extras[k]).to(device) for k in ("avail_actions", "next_avail_actions")
        }


def _check_extras(extras: dict[str, np.ndarray], card: dict, where: str) -> None:
    dims = {"T": card["size"], "N": card["n_agents"], "K": max(card["n_actions"]), "E": card["n_episodes"]}
    for k, axes in EXTRA_KEYS.items():
        if k not in extras:
            raise DatasetError(f"{where}: missing array {k!r} (needs {list(EXTRA_KEYS)})")
        want = tuple(dims[a] for a in axes)
        if extras[k].shape != want:
            raise DatasetError(f"{where}: array {k!r} has shape {extras[k].shape}, the card expects {want}")


def write_extras(path: Path, extras: dict[str, np.ndarray]) -> str:
    """Write the extras .npz atomically; returns its sha256."""
    atomic_write(path, lambda f: np.savez(f, **extras))  # type: ignore[arg-type]  # numpy stub: ** vs allow_pickle
    digest = sha256_file(path)
    return digest


def read_extras(base: Path, card: dict) -> dict[str, np.ndarray]:
    path = extras_path(base)
    info = card.get("smax") or {}
    try:
        if not path.exists():
            raise DatasetError(f"dataset file missing: {path}")
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != info.get("sha256"):
            raise DatasetError(
                f"{path}: checksum mismatch: the file's sha256 is {digest}, its card "
                f"{base.name}.json says {info.get('sha256')}; the file is corrupt or belongs to "
                "another card"
            )
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                extras = {k: z[k] for k in z.files}
        except Exception as e:  # a corrupt zip
            raise DatasetError(f"{path}: cannot read arrays ({type(e).__name__}: {e})") from None
        _check_extras(extras, card, str(path))
    except DatasetError as e:
        raise DatasetError(f"{e}; {regenerate_hint(base)}") from None
    return extras
