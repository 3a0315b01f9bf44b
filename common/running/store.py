"""The item store: each records file read once per process, kept while it is unchanged, as typed lines.

``item_file(root, profile, paper, item)`` reads ``<root>/<profile>/<paper>/<item>.jsonl`` (common.running.records) into
its runs (``Record``) and its claims' verdicts (``Verdict``), and keeps them; the next call returns the same objects
while the file's inode, size and modification time are those it was read at, and reads it again once they change (an
append, or a forced re-run that replaced the file). Corrupt lines are skipped with one warning each.

``Runs`` is a tuple of records with the selections every reader needs: by cell keys (``select``), the newest record of
each run (``newest``), and per-seed values and their means (``seed_values``, ``seed_means``, ``averaged_over``).
``item_runs`` gives an item's counted runs at a profile: the newest of each (cell, seed, thread count).

``seen_records(root, profile)`` is the runner's view of the records under ``<root>/<profile>/`` (plain dicts, as
``load_records`` gives them): it asks which runs of an item are finished, how many records a run has, and which
records may donate to an identical run (common.running.runs, common.running.experiment). Before each answer it looks
at the file (``os.stat``): unchanged, nothing is read; grown, only the bytes appended since are read and parsed (the
runner's own records and those of a parallel writer alike: another process on an overlapping grid, a Ray task's
earlier attempt); replaced (``--force`` and ``--compact`` rewrite a file: ``common.running.records.replace_record``) or
shrunk, it is read again whole. So a run finished by anyone since the last look is seen, and a file is read once. A
view pickles as its root and profile: a worker process or Ray task that unpickles one gets its own process's.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from common.running.jsonable import canonical_json
from common.running.record import Record, Verdict
from common.running.records import RecordWarning, finished_set, parse_record, records_path, warn_corrupt


class Runs(tuple):
    """Records (runs, not verdicts) in file order, with selections. ``Runs(records)`` takes ``Record`` objects or
    the plain dicts of ``load_records`` (converted)."""

    def __new__(cls, records: Iterable[Record | Mapping[str, Any]] = ()):
        return super().__new__(cls, (r if isinstance(r, Record) else Record.from_dict(r) for r in records))

    def select(self, **keys: Any) -> Runs:
        """The records whose cell keys hold every ``name=value`` given."""
        return Runs(r for r in self if r.matches(**keys))

    def where(self, keep: Callable[[Record], bool]) -> Runs:
        return Runs(r for r in self if keep(r))

    def key_values(self, name: str) -> list[Any]:
        """The distinct values of cell key ``name`` (records without it left out), in the order first seen."""
        return list(dict.fromkeys(r.keys[name] for r in self if name in r.keys))

    def newest(self) -> Runs:
        """The newest record (by ``finished``) of each run (item, cell keys, seed, thread count), in the order its
        run first appears: a forced re-run's record replaces the older ones."""
        best: dict[tuple, Record] = {}
        for r in self:
            k = (r.item, canonical_json(r.keys), r.seed, r.n_threads)
            if k not in best or str(r.finished or "") >= str(best[k].finished or ""):
                best[k] = r
        return Runs(best.values())

    def seed_values(self, metric: str, **keys: Any) -> dict[int, float]:
        """seed -> ``metric`` (``Record.value``) of the records whose keys hold ``keys``, finite values only."""
        return {int(r.seed): v for r in self.select(**keys) if (v := r.finite(metric)) is not None}

    def seed_means(self, metric: str, **keys: Any) -> tuple[float | None, float | None, int]:
        """(mean, population std, n) over seeds of ``metric`` for the matching records; (None, None, 0) if none."""
        return _mean_std(list(self.seed_values(metric, **keys).values()))

    def averaged_over(
        self, metric: str, groups: Sequence[Mapping[str, Any]], **keys: Any
    ) -> tuple[float | None, float | None, int]:
        """Per seed, the mean of ``metric`` over ``groups`` (each a dict of keys, e.g. one per task); then (mean,
        population std, n) over the seeds that have every group. (None, None, 0) if none."""
        per_group = [self.seed_values(metric, **keys, **g) for g in groups]
        seeds = set.intersection(*(set(v) for v in per_group)) if per_group else set()
        return _mean_std([float(np.mean([v[s] for v in per_group])) for s in sorted(seeds)])


def _mean_std(values: Sequence[float]) -> tuple[float | None, float | None, int]:
    if not values:
        return None, None, 0
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std()), int(a.size)


@dataclass(frozen=True)
class ItemFile:
    """What one records file holds: its runs and its claims' verdicts, each in file order."""

    path: Path
    runs: Runs
    verdicts: tuple[Verdict, ...]

    @property
    def newest_verdicts(self) -> dict[str, Verdict]:
        """claim id -> its newest verdict (by ``finished``; of equal times, the later line)."""
        out: dict[str, Verdict] = {}
        for v in self.verdicts:
            if v.claim not in out or str(v.finished or "") >= str(out[v.claim].finished or ""):
                out[v.claim] = v
        return out

    @property
    def newest(self) -> str | None:
        """The date (YYYY-MM-DD) of the newest line, runs and verdicts alike; None for an empty file."""
        times = [str(x.finished) for x in (*self.runs, *self.verdicts) if x.finished]
        return max(times)[:10] if times else None

    def __bool__(self) -> bool:
        return bool(self.runs or self.verdicts)


_CACHE: dict[str, tuple[tuple[int, int, int], ItemFile]] = {}


def read_item_file(path: str | Path) -> ItemFile:
    """The records file at ``path`` (an empty one when it does not exist), from the cache while it is unchanged."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _CACHE.pop(str(path.resolve()), None)
        return ItemFile(path, Runs(), ())
    sig, key = (st.st_ino, st.st_size, st.st_mtime_ns), str(path.resolve())
    hit = _CACHE.get(key)
    if hit is not None and hit[0] == sig:
        return hit[1]
    runs, verdicts = [], []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = Record.from_json(line)
        except ValueError as e:
            warn_corrupt(path, lineno, line, e)
            continue
        if "claim" in rec.keys:
            verdicts.append(Verdict.from_record(rec))
        else:
            runs.append(rec)
    out = ItemFile(path, Runs(runs), tuple(verdicts))
    _CACHE[key] = (sig, out)
    return out


def item_file(results_root: str | Path, profile: str, paper: str, item: str) -> ItemFile:
    """``<results_root>/<profile>/<paper>/<item>.jsonl`` as runs and verdicts (cached; see the module docstring)."""
    return read_item_file(records_path(results_root, profile, paper, item))


def item_runs(results_root: str | Path, profile: str, paper: str, item: str) -> Runs:
    """The runs of ``paper``/``item`` at ``profile`` that count: the newest of each (cell, seed, thread count) among
    the records made at ``profile`` (a record that names no profile counts)."""
    return item_file(results_root, profile, paper, item).runs.where(lambda r: of_profile(r, profile)).newest()


def of_profile(rec: Record, profile: str) -> bool:
    """Whether ``rec`` was made at ``profile`` (a record that names no profile, e.g. an old diagnostic, counts)."""
    return "profile" not in (rec.present or ("profile",)) or rec.profile == profile


# ---- the runner's view: each file read once, then only what was appended ----------------------------------------
# bytes before the end of what was read that must be unchanged for an append-only read of the rest
_CHECK = 64


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
        complete = data[: data.rfind(b"\n") + 1]
        for line in complete.decode("utf-8").splitlines():
            if not line.strip():
                continue
            try:
                rec = parse_record(line)
            except ValueError as e:  # e.g. the fragment a killed writer left: skipped, as load_records does
                warnings.warn(
                    f"{path}: skipping corrupt record ({e}); the other records are read",
                    RecordWarning,
                    stacklevel=5,
                )
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
        # appended to, presumably: check and read the rest
        if st.st_ino == seen.inode and st.st_size >= seen.offset:
            start = seen.offset - len(seen.tail)
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(st.st_size - start)
            data = data[len(seen.tail) :] if data.startswith(seen.tail) else None
        if data is None:  # new, replaced or rewritten: read it whole
            seen = _File(inode=st.st_ino)
            with open(path, "rb") as f:
                data = f.read()
        seen.add(data, path)
        # a line still being written: look again next time
        seen.stat = stat if seen.offset == st.st_size else None
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


def extra_items(folder: Path, listed: Iterable[str]) -> list[str]:
    """Item files in ``folder`` that published.py does not list: the ``*.jsonl`` whose first line is an item
    record of that item (a ``paper`` and an ``item`` equal to the file's stem). Other JSON-lines files there (a
    script's own side results, which write their own .md) are not items, and their .md is never overwritten."""
    out, listed_set = [], set(listed)
    for p in sorted(folder.glob("*.jsonl")):
        if p.stem in listed_set:
            continue
        with open(p, encoding="utf-8") as f:
            first = f.readline()
        try:
            rec = json.loads(first)
        except ValueError:
            continue
        if isinstance(rec, dict) and "paper" in rec and rec.get("item") == p.stem:
            out.append(p.stem)
    return out
