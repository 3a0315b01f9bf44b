"""Atomic file writes: a reader never sees half a file and a killed write leaves the previous file intact.

Every atomic write of the package goes through ``atomic_write`` (re-exported by common.running.records, where these
functions lived first)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def atomic_write(path: str | os.PathLike, writer: Callable[[Any], None]) -> Path:
    """Write ``path`` atomically: ``writer(f)`` fills a binary file object of a temporary file of its own beside
    ``path`` (so processes writing one path at once do not race), which is flushed, fsynced, given mode 644
    (``mkstemp`` makes it private) and renamed over ``path``. A reader never sees half a file, a killed write leaves
    the previous file intact, and a failed one leaves no temporary behind. Parent folders are created; returns
    ``path``. Every atomic write of the package goes through here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """``text`` (UTF-8) to ``path`` through ``atomic_write``."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` through ``atomic_write``."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))
