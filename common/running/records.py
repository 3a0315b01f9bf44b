"""The record store: one JSON line per finished run, the item's plan file, and claim verdicts.

Layout: ``<results root>/<profile>/<paper>/<item>.jsonl`` (records) and ``<item>.plan.json`` (the grid a
script planned, and its last invocation's wall time: common.running.plans). Both the runner (common.running.experiment) and
the report read and write through this module (which re-exports common.running.plans and common.running.atomic).

One JSON object per line: a run's record or a claim's verdict, typed by common.running.record (``Record``,
``Verdict``: the schema, and the exact line each writes), read once per process and kept while the file is
unchanged by common.running.store (the item store the report, the figures and the item scripts read through).
``load_records`` gives the lines as plain dicts, for the runner's own bookkeeping.

Appends are a single locked ``O_APPEND`` write (``fcntl.flock`` + fsync), safe with several processes
appending to the same file. A forced re-run (``--force``) replaces its run's record instead (``replace_record``:
the file rewritten under the same lock and renamed over the old one), so a file holds one record per run. On disk the curve is stored column-wise, ``{"step": [...], "score": [...]}``
(``pack_curve``: the same numbers in half the bytes); ``load_records`` returns it as the list of points
``[{"step", "score"}, ...]`` that the job logged. Older files store that list as is; both read the same,
and ``python -m common.running.records --compact FILE...`` rewrites a file in the packed form, losslessly.

A claim's verdict is stored as a line of its item's file (``keys = {"claim": <id>}``; common.running.record.Verdict);
write it with ``write_claim``.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from common.running.atomic import atomic_torch_save, atomic_write, atomic_write_text  # noqa: F401 (re-exported)
from common.running.jsonable import canonical_json, to_jsonable  # noqa: F401 (re-exported)
from common.running.plans import item_blocked, plan_path, record_item_blocked, record_item_run, update_plan  # noqa: F401 (re-exported)
from common.running.record import (  # noqa: F401 (pack_curve, unpack_curve, SCHEMA_VERSION re-exported)
    SCHEMA_VERSION,
    Record,
    Verdict,
    is_claim,
    pack_curve,
    record_line,
    unpack_curve,
)


def config_hash(config: Mapping[str, Any]) -> str:
    """First 12 hex digits of sha256 of the canonical JSON of ``config``."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:12]


def records_path(results_root: str | Path, profile: str, paper: str, item: str) -> Path:
    return Path(results_root) / profile / paper / f"{item}.jsonl"


def _open_locked_append(path: Path) -> int:
    """An O_APPEND fd on ``path`` holding its exclusive flock, reopened if ``compact_records``
    replaced the file while we waited for the lock (so no append lands in a replaced inode)."""
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def append_record(path: str | Path, record: Mapping[str, Any] | Record) -> None:
    """Append one JSON line (a dict or a ``Record``) under an exclusive ``flock``: a single ``O_APPEND`` write, then
    fsync. The curve is stored column-wise (``pack_curve``); ``load_records`` gives it back as points."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = record.to_json() + "\n" if isinstance(record, Record) else record_line(record)
    fd = _open_locked_append(path)
    try:
        size = os.fstat(fd).st_size
        if size:  # a writer killed mid-line left no newline: start ours on a fresh line
            with open(path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = "\n" + line
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _rewrite_locked(path: Path, rewrite: Callable[[str], str]) -> tuple[str, str]:
    """Under the file's append lock: ``rewrite(old text) -> new text``, written to a temporary file beside ``path``
    and renamed over it (``atomic_write_text``); appenders waiting meanwhile reopen the new file
    (``_open_locked_append``). ``rewrite`` raising leaves the file as it was. Returns (old text, new text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_locked_append(path)
    try:
        raw = path.read_text(encoding="utf-8")
        text = rewrite(raw)
        atomic_write_text(path, text)
        return raw, text
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def run_identity(rec: Mapping[str, Any]) -> tuple:
    """The run a record belongs to: (paper, item, keys, seed, profile, thread count). A forced re-run replaces the
    records of its run whatever their config (``replace_record``)."""
    return (
        rec.get("paper"),
        rec.get("item"),
        canonical_json(rec.get("keys", {})),
        rec.get("seed"),
        rec.get("profile"),
        record_threads(rec),
    )


def replace_record(path: str | Path, record: Mapping[str, Any]) -> int:
    """``record`` in place of every record of its run (``run_identity``; claims are never replaced), atomically:
    the file rewritten under its lock with the other lines verbatim and ``record`` last. Returns how many records
    it replaced (0: it was appended). Used by ``--force``, so that a file holds one record per run."""
    path, line, ident = Path(path), record_line(record), run_identity(record)
    dropped = []

    def rewrite(raw: str) -> str:
        keep = []
        for old in raw.splitlines():
            if not old.strip():
                continue
            try:
                rec = json.loads(old)
                same = isinstance(rec, dict) and not is_claim(rec) and run_identity(rec) == ident
            except ValueError:  # a corrupt line is kept as it is (load_records skips it, warned)
                same = False
            if same:
                dropped.append(old)
            else:
                keep.append(old + "\n")
        return "".join(keep) + line

    _rewrite_locked(path, rewrite)
    return len(dropped)


def compact_records(path: str | Path) -> tuple[int, int]:
    """Rewrite a records file with every curve packed and compact separators; returns (bytes before,
    bytes after). Lossless: ``load_records`` reads back equal records (checked before the file is
    replaced). Holds the file's lock and replaces it atomically; appenders waiting meanwhile reopen it.
    Corrupt lines are kept verbatim, so nothing is lost."""
    path = Path(path)

    def rewrite(raw: str) -> str:
        lines = []
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                ok = isinstance(rec, dict)
            except ValueError:
                ok = False
            lines.append(record_line(rec) if ok else line + "\n")
        text = "".join(lines)
        before = _read_jsonl_text(raw, path)
        with warnings.catch_warnings():  # the same corrupt lines again: warned about just above
            warnings.simplefilter("ignore")
            after = _read_jsonl_text(text, path)
        if before != after:
            raise RuntimeError(f"{path}: compaction would change the records; file left as it was")
        return text

    raw, text = _rewrite_locked(path, rewrite)
    return len(raw.encode()), len(text.encode())


class RecordWarning(UserWarning):
    """A problem with a results file (e.g. a corrupt line); shown once per line, without source code."""


_WARNED: set[tuple] = set()


_format_warning = warnings.formatwarning


def _format(message, category, filename, lineno, line=None):
    if isinstance(category, type) and issubclass(category, RecordWarning):
        return f"warning: {message}\n"
    return _format_warning(message, category, filename, lineno, line)


warnings.formatwarning = _format  # ours read as a sentence; every other warning is formatted as before


def parse_record(line: str) -> dict[str, Any]:
    """One line of a records file as its record, the curve unpacked (``unpack_curve``); ValueError for a line that is
    not a JSON object (e.g. the fragment a killed writer left)."""
    rec = json.loads(line)
    if not isinstance(rec, dict):
        raise ValueError("not a JSON object")
    if "curve" in rec:
        rec["curve"] = unpack_curve(rec["curve"])
    return rec


def _read_jsonl_text(text: str, path: Path) -> list[dict[str, Any]]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = parse_record(line)
        except ValueError as e:
            warn_corrupt(path, lineno, line, e)
            continue
        out.append(rec)
    return out


def warn_corrupt(path: Path, lineno: int, line: str, error: Exception) -> None:
    """Say once per process that line ``lineno`` of ``path`` is skipped (a file is read several times per script)."""
    key = (str(path), lineno, hashlib.sha256(line.encode()).hexdigest())
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(
            f"{path}:{lineno}: skipping corrupt record ({error}); the other records are read",
            RecordWarning,
            stacklevel=3,
        )


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of one ``.jsonl`` file, curves as lists of points (corrupt lines skipped, warned)."""
    path = Path(path)
    return _read_jsonl_text(path.read_text(encoding="utf-8"), path)


def load_records(results_root: str | Path, profile: str, paper: str, item: str | None = None) -> list[dict]:
    """All records of ``<results_root>/<profile>/<paper>/<item>.jsonl`` (every item if None).

    Corrupt lines are skipped with a warning naming the file and line.
    """
    base = Path(results_root) / profile / paper
    files = [base / f"{item}.jsonl"] if item is not None else sorted(base.glob("*.jsonl"))
    out: list[dict] = []
    for p in files:
        if p.exists():
            out.extend(read_records(p))
    return out


def record_threads(rec: Mapping[str, Any]) -> int:
    """The torch thread count a record was made with. Records written before the field existed count
    as one thread: the package's runners (``run_all.sh``, ``run_tests.sh``) and the sessions that made
    the committed reference all ran with ``OMP_NUM_THREADS=1``."""
    t = rec.get("threads")
    return 1 if t is None else int(t)


def latest_records(records: Iterable[Mapping[str, Any]]) -> list[dict]:
    """The newest record (by ``finished``) of each (item, keys, seed, thread count), claims excluded;
    order kept. See ``common.reporting.report.one_thread_setting`` for cells run under several thread counts."""
    best: dict[tuple, dict] = {}
    for r in records:
        if is_claim(r):
            continue
        k = (r.get("item"), canonical_json(r.get("keys", {})), r.get("seed"), record_threads(r))
        if k not in best or str(r.get("finished", "")) >= str(best[k].get("finished", "")):
            best[k] = dict(r)
    return list(best.values())


def finished_set(records: Iterable[Mapping[str, Any]]) -> set[tuple]:
    """Identities of finished runs: (paper, item, keys, seed, profile, config hash, threads)."""
    return {
        (
            r.get("paper"),
            r.get("item"),
            canonical_json(r.get("keys", {})),
            r.get("seed"),
            r.get("profile"),
            r.get("config_hash"),
            record_threads(r),
        )
        for r in records
    }


def write_claim(
    results_root: str | Path,
    profile: str,
    paper: str,
    item: str,
    claim_id: str,
    holds: bool | None,
    evidence: str,
    data: Mapping[str, Any] | None = None,
) -> Verdict:
    """Append a claim's verdict judged now (``Verdict.new``; holds None: undecided) to the item's records file."""
    verdict = Verdict.new(paper, item, profile, claim_id, holds, evidence, data)
    append_record(records_path(results_root, profile, paper, item), verdict.to_record())
    return verdict


def _compact_cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m common.running.records",
        description="Rewrite records files with column-wise curves (lossless; load_records reads the same records).",
    )
    parser.add_argument("--compact", nargs="+", required=True, metavar="FILE", help="results .jsonl files")
    args = parser.parse_args(argv)
    for f in args.compact:
        p = Path(f)
        if not p.is_file() or p.suffix != ".jsonl":
            parser.error(f"--compact: {f!r} is not a .jsonl records file")
        before, after = compact_records(p)
        print(f"{p}: {before:,} -> {after:,} bytes")


if __name__ == "__main__":
    _compact_cli()
