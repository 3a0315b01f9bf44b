"""The records the runner has seen: each item's records file read once per process, then only what was appended.

``seen_records(root, profile)`` is this process's view of the records under ``<root>/<profile>/``; the runner asks
it which runs of an item are finished, how many records a run has, and which records may donate to an identical run
(common.running.runs, common.running.experiment). Before each answer it looks at the file (``os.stat``): unchanged,
nothing is read; grown, only the bytes appended since are read and parsed (the runner's own records and those of a
parallel writer alike: another process on an overlapping grid, a Ray task's earlier attempt); replaced (``--force``
and ``--compact`` rewrite a file: ``common.running.records.replace_record``) or shrunk, it is read again whole. So a
run finished by anyone since the last look is seen, and a file is read once.

A view pickles as its root and profile: a worker process or Ray task that unpickles one gets its own process's.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.running.records import RecordWarning, finished_set, records_path, unpack_curve

_CHECK = 64  # bytes before the end of what was read that must be unchanged for an append-only read of the rest


@dataclass
class _File:
    """One records file as seen: its inode, its stat when it was last read to its end, the bytes consumed (complete
    lines only) and the last ``_CHECK`` of them, its records, and its records grouped by finished identity
    (``finished_set``'s tuple)."""

    inode: int = -1
    stat: tuple[int, int, int] | None = None  # inode, size, mtime in ns; None: not read to its end
    offset: int = 0
    tail: bytes = b""
    records: list[dict[str, Any]] = field(default_factory=list)
    by_run: dict[tuple, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, data: bytes, path: Path) -> None:
        """Parse the complete lines of ``data`` (read at ``offset``); a line still being written waits."""
        complete = data[:data.rfind(b"\n") + 1]
        for line in complete.decode("utf-8").splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
                if "curve" in rec:
                    rec["curve"] = unpack_curve(rec["curve"])
            except ValueError as e:  # e.g. the fragment a killed writer left: skipped, as load_records does
                warnings.warn(f"{path}: skipping corrupt record ({e}); the other records are read", RecordWarning,
                              stacklevel=5)
                continue
            self.records.append(rec)
            (key,) = finished_set([rec])
            self.by_run.setdefault(key, []).append(rec)
        self.offset += len(complete)
        self.tail = (self.tail + complete)[-_CHECK:]


class SeenRecords:
    """The records of the ``<root>/<profile>/<paper>/<item>.jsonl`` files as this process has seen them (module
    docstring); every query first catches up with the file. Get one with ``seen_records``."""

    def __init__(self, root: Path, profile: str):
        self.root, self.profile = root, profile
        self._files: dict[tuple[str, str], _File] = {}

    def __reduce__(self):
        return seen_records, (self.root, self.profile)

    def _catch_up(self, paper: str, item: str) -> _File:
        path = records_path(self.root, self.profile, paper, item)
        seen = self._files.get((paper, item), _File())
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self._files[(paper, item)] = _File()  # no file (yet, or removed): no records
            return self._files[(paper, item)]
        stat = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stat == seen.stat:
            return seen
        data = None
        if st.st_ino == seen.inode and st.st_size >= seen.offset:  # appended to, presumably: check and read the rest
            start = seen.offset - len(seen.tail)
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(st.st_size - start)
            data = data[len(seen.tail):] if data.startswith(seen.tail) else None
        if data is None:  # new, replaced or rewritten: read it whole
            seen = _File(inode=st.st_ino)
            with open(path, "rb") as f:
                data = f.read()
        seen.add(data, path)
        seen.stat = stat if seen.offset == st.st_size else None  # a line still being written: look again next time
        self._files[(paper, item)] = seen
        return seen

    def records(self, paper: str, item: str) -> list[dict[str, Any]]:
        """Every record of the item (claims included), in file order, as ``load_records`` gives them."""
        return list(self._catch_up(paper, item).records)

    def finished(self, paper: str, item: str) -> set[tuple]:
        """The identities of the item's finished runs (``common.running.records.finished_set``)."""
        return set(self._catch_up(paper, item).by_run)

    def of_run(self, paper: str, item: str, key: tuple) -> list[dict[str, Any]]:
        """The item's records of the run with identity ``key`` (``finished_set``'s tuple), in file order."""
        return list(self._catch_up(paper, item).by_run.get(key, []))


_VIEWS: dict[tuple[Path, str], SeenRecords] = {}  # this process's views


def seen_records(root: str | Path, profile: str) -> SeenRecords:
    """This process's view of the records under ``<root>/<profile>/`` (one per root and profile)."""
    key = (Path(root).resolve(), profile)
    if key not in _VIEWS:
        _VIEWS[key] = SeenRecords(*key)
    return _VIEWS[key]
