"""The files of a :class:`common.datasets.dataset.Dataset`: ``DatasetFiles``, its base class, writes ``<path>.npz`` +
``<path>.json`` atomically (``save``) and reads them back verified (``load``: sha256, format version, every array's
shape and dtype against the card; ``read_card`` reads the card alone); ``verify`` re-checks arrays in memory.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from common.datasets.card import (
    DatasetError,
    base_path,
    check_arrays,
    check_card,
    dataset_path,
    read_card_json,
    regenerate_hint,
    resolve_dataset,
    sha256_bytes,
    sha256_file,
)

if TYPE_CHECKING:
    from typing import Self

__all__ = ["DatasetFiles"]


class DatasetFiles:
    """Saving, loading and checking a Dataset (its ``arrays``, ``card`` and ``id``); ``load`` builds the class it is
    called on."""

    if TYPE_CHECKING:  # what the subclass (common.datasets.dataset.Dataset) defines, typed for the checker
        arrays: dict[str, np.ndarray]
        card: dict[str, Any]

        def __init__(self, arrays: Mapping[str, np.ndarray], card: Mapping[str, Any]) -> None: ...

        @property
        def id(self) -> str: ...

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write ``<path>.npz`` and ``<path>.json`` atomically (temp file + os.replace), default
        path ``dataset_path(self.id)``. Fills in the card's sha256 and created time; returns the
        base path. A failure leaves any previous files in place and no temporary files behind."""
        base = dataset_path(self.id) if path is None else base_path(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        npz, js = base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")
        tmp_npz = _tmp_name(npz)
        tmp_js = _tmp_name(js)
        try:
            with open(tmp_npz, "wb") as f:
                np.savez(f, **self.arrays)  # type: ignore[arg-type]  # numpy stub: ** vs allow_pickle
                f.flush()
                os.fsync(f.fileno())
            card = {
                **self.card,
                "sha256": sha256_file(tmp_npz),
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            }
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
        base = resolve_dataset(path)
        try:
            return read_card_json(base)
        except DatasetError as e:
            raise DatasetError(f"{e}; {regenerate_hint(base)}") from None

    @staticmethod
    def present_cards(bases: Mapping[Any, Path]) -> dict[Any, dict[str, Any]]:
        """{key: card} of the datasets of ``bases`` (key -> base path) whose card ``<base>.json`` exists, in order."""
        return {
            k: DatasetFiles.read_card(b) for k, b in bases.items() if b.with_name(b.name + ".json").exists()
        }

    @classmethod
    def load(cls, path: str | os.PathLike, *, generators: Mapping[str, Sequence[Any]] | None = None) -> Self:
        """Load ``<path>.npz`` + ``<path>.json`` (``path`` may also be a dataset id), verifying
        the sha256, the format version, and every array's shape and dtype against the card.

        ``generators`` ({name: accepted versions}) optionally restricts the card's
        ``generator`` ({"name", "version"}) to known data generators. Errors (DatasetError) name the
        files and end with :func:`regenerate_hint`: what to delete and the command that regenerates them."""
        base = resolve_dataset(path)
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
        card = read_card_json(base)
        if generators is not None:
            g = card.get("generator") or {}
            name, ver = (g.get("name"), g.get("version")) if isinstance(g, Mapping) else (g, None)
            if name not in generators or ver not in generators[name]:
                raise DatasetError(
                    f"{js}: unknown generator {name!r} version {ver!r}; supported: "
                    + ", ".join(f"{n} {list(v)}" for n, v in generators.items())
                )
        raw = npz.read_bytes()  # hash and parse the same bytes
        digest = sha256_bytes(raw)
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
        check_arrays(arrays, card, str(npz))
        return arrays, card

    def verify(self) -> None:
        """Re-check the arrays against the card (shapes, dtypes, episode count)."""
        check_card(self.card, self.id)
        check_arrays(self.arrays, self.card, self.id)


def _tmp_name(target: Path) -> str:
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    return name
