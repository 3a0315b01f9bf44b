"""The record store: one JSON line per finished run, the item's plan file, and claim verdicts.

Layout: ``<results root>/<profile>/<paper>/<item>.jsonl`` (records) and ``<item>.plan.json`` (the grid a
script planned, and its last invocation's wall time). Both the runner (common.experiment) and the report
read and write through this module.

Record schema (``SCHEMA_VERSION`` 1), one JSON object per line::

    schema, run_id, paper, item, keys, method, seed, profile, score, normalized, curve,
    extra, nonfinite, wall_time_s, config, config_hash, profile_settings, git_commit,
    sacred_run_id, started, finished, hostname, device, threads, resumed_from_step, versions
    (+ reused_from, reused_at on a record copied from an identical finished run; see common.experiment)

Appends are a single locked ``O_APPEND`` write (``fcntl.flock`` + fsync), safe with several processes
appending to the same file. On disk the curve is stored column-wise, ``{"step": [...], "score": [...]}``
(``pack_curve``: the same numbers in half the bytes); ``load_records`` returns it as the list of points
``[{"step", "score"}, ...]`` that the job logged. Older files store that list as is; both read the same,
and ``python -m common.records --compact FILE...`` rewrites a file in the packed form, losslessly.

A claim verdict (for figure items) is a record with ``keys = {"claim": <id>}``, ``score: null`` and
``extra = {"holds": bool | None, "evidence": str}`` (None: undecided, ``common.figures.UNDECIDED``); write it with
``write_claim``.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from common.runtime import git_commit, now, versions

SCHEMA_VERSION = 1


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays, tuples, dataclasses, paths; non-finite -> None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # torch scalars
        return to_jsonable(obj.item())
    raise TypeError(f"cannot store a {type(obj).__name__} in a record: {obj!r}")


def canonical_json(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(config: Mapping[str, Any]) -> str:
    """First 12 hex digits of sha256 of the canonical JSON of ``config``."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:12]


def records_path(results_root: str | Path, profile: str, paper: str, item: str) -> Path:
    return Path(results_root) / profile / paper / f"{item}.jsonl"


def pack_curve(curve: Any) -> Any:
    """A curve stored column-wise: ``[{"step": 10, "score": 1.5}, ...]`` -> ``{"step": [10, ...],
    "score": [1.5, ...]}``. Lossless (the same JSON numbers, in the same order) and about half the
    bytes of the list of points. Only a list whose points all carry the same keys is packed; anything
    else is returned unchanged. ``unpack_curve`` inverts it."""
    if not isinstance(curve, list) or not curve or not all(isinstance(e, Mapping) for e in curve):
        return curve
    keys = list(curve[0])
    if not keys or any(list(e) != keys for e in curve):
        return curve
    return {k: [e[k] for e in curve] for k in keys}


def unpack_curve(curve: Any) -> Any:
    """The list of points of a curve stored by ``pack_curve`` (a list is returned unchanged)."""
    if not isinstance(curve, Mapping):
        return curve
    cols = list(curve.values())
    if not cols or not all(isinstance(c, list) for c in cols) or len({len(c) for c in cols}) != 1:
        shape = {k: len(v) if isinstance(v, list) else type(v).__name__ for k, v in curve.items()}
        raise ValueError(f"a packed curve needs equal-length list columns, got lengths {shape}")
    return [dict(zip(curve.keys(), point)) for point in zip(*cols)]


def _record_line(record: Mapping[str, Any]) -> str:
    rec = to_jsonable(record)
    if "curve" in rec:
        rec["curve"] = pack_curve(rec["curve"])
    return json.dumps(rec, allow_nan=False, separators=(",", ":")) + "\n"


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


def append_record(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one JSON line under an exclusive ``flock``: a single ``O_APPEND`` write, then fsync.
    The curve is stored column-wise (``pack_curve``); ``load_records`` gives it back as points."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = _record_line(record)
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


def compact_records(path: str | Path) -> tuple[int, int]:
    """Rewrite a records file with every curve packed and compact separators; returns (bytes before,
    bytes after). Lossless: ``load_records`` reads back equal records (checked before the file is
    replaced). Holds the file's lock and replaces it atomically; appenders waiting meanwhile reopen it.
    Corrupt lines are kept verbatim, so nothing is lost."""
    path = Path(path)
    fd = _open_locked_append(path)
    try:
        raw = path.read_text(encoding="utf-8")
        lines = []
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                ok = isinstance(rec, dict)
            except ValueError:
                ok = False
            lines.append(_record_line(rec) if ok else line + "\n")
        text = "".join(lines)
        before = _read_jsonl_text(raw, path)
        with warnings.catch_warnings():  # the same corrupt lines again: warned about just above
            warnings.simplefilter("ignore")
            after = _read_jsonl_text(text, path)
        if before != after:
            raise RuntimeError(f"{path}: compaction would change the records; file left as it was")
        tmp = path.with_name(path.name + ".compact.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return len(raw.encode()), len(text.encode())
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class RecordWarning(UserWarning):
    """A problem with a results file (e.g. a corrupt line); shown once per line, without source code."""


_WARNED: set[tuple] = set()


_format_warning = warnings.formatwarning


def _format(message, category, filename, lineno, line=None):
    if isinstance(category, type) and issubclass(category, RecordWarning):
        return f"warning: {message}\n"
    return _format_warning(message, category, filename, lineno, line)


warnings.formatwarning = _format  # ours read as a sentence; every other warning is formatted as before


def _read_jsonl_text(text: str, path: Path) -> list[dict[str, Any]]:
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
            if "curve" in rec:
                rec["curve"] = unpack_curve(rec["curve"])
        except ValueError as e:
            key = (str(path), lineno, hashlib.sha256(line.encode()).hexdigest())
            if key not in _WARNED:  # a file is read several times per script: say it once
                _WARNED.add(key)
                warnings.warn(f"{path}:{lineno}: skipping corrupt record ({e}); the other records are read",
                              RecordWarning, stacklevel=2)
            continue
        out.append(rec)
    return out


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


def is_claim(rec: Mapping[str, Any]) -> bool:
    """Whether ``rec`` is a claim verdict (``keys = {"claim": id}``) rather than a run."""
    return "claim" in (rec.get("keys") or {})


def latest_records(records: Iterable[Mapping[str, Any]]) -> list[dict]:
    """The newest record (by ``finished``) of each (item, keys, seed, thread count), claims excluded;
    order kept. See ``common.report.one_thread_setting`` for cells run under several thread counts."""
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
        (r.get("paper"), r.get("item"), canonical_json(r.get("keys", {})), r.get("seed"), r.get("profile"),
         r.get("config_hash"), record_threads(r))
        for r in records
    }


def plan_path(results_root: str | Path, profile: str, paper: str, item: str) -> Path:
    return Path(results_root) / profile / paper / f"{item}.plan.json"


def _locked_plan(results_root: str | Path, profile: str, paper: str, item: str, change: Callable[[dict], None]) -> None:
    """Read ``<item>.plan.json``, apply ``change`` to it and write it back atomically, under a lock."""
    path = plan_path(results_root, profile, paper, item)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = Path(results_root) / profile / "checkpoints" / paper / f"{item}.plan.lock"  # git-ignored
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        plan = {"cells": []}
        if path.exists():
            try:
                plan = json.loads(path.read_text())
            except ValueError:
                warnings.warn(f"{path}: corrupt plan file, rewriting it")
        before = json.dumps(plan, indent=1)
        change(plan)
        after = json.dumps(plan, indent=1)
        if after != before or not path.exists():
            atomic_write_text(path, after)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)


def update_plan(results_root: str | Path, profile: str, cells: Sequence[Any], seeds: Sequence[int]) -> None:
    """Merge the planned (keys, seeds) of ``cells`` (``common.experiment.Cell``) into ``<item>.plan.json`` (the report's n/m)."""
    by_item: dict[tuple[str, str], list[Any]] = {}
    for c in cells:
        by_item.setdefault((c.paper, c.item), []).append(c)
    for (paper, item), group in by_item.items():
        def change(plan, group=group):
            index = {canonical_json(e["keys"]): e for e in plan["cells"]}
            for c in group:
                e = index.setdefault(c.keys_id(), {"keys": to_jsonable(c.keys), "seeds": []})
                if e not in plan["cells"]:
                    plan["cells"].append(e)
                e["seeds"] = sorted(set(e["seeds"]) | set(seeds))
        _locked_plan(results_root, profile, paper, item, change)


def record_item_run(results_root: str | Path, profile: str, paper: str, item: str, wall_s: float,
                    summary: Any, threads: int, device: str) -> None:
    """Store the wall time of this invocation of an item's script (runs, dataset generation, figures
    and report included) as ``last_run`` in ``<item>.plan.json``, when it ran anything (``run_all.sh
    --list`` shows it). ``runs``/``skipped`` say how much of the grid that time covers."""
    info = {"wall_s": round(float(wall_s), 1), "finished": now(), "runs": len(summary.ran),
            "skipped": len(summary.skipped), "failed": len(summary.failed), "threads": int(threads),
            "device": device, "hostname": socket.gethostname(), "cpus": os.cpu_count()}

    def change(plan):
        plan["last_run"] = info
        plan.pop("blocked", None)
    _locked_plan(results_root, profile, paper, item, change)


def record_item_blocked(results_root: str | Path, profile: str, paper: str, item: str, needs: str) -> None:
    """Mark an item that cannot run on this installation (e.g. ``needs="SMAX"``: its environments are not
    built yet) in ``<item>.plan.json``, so that the report shows "needs SMAX" rather than "not run"."""
    def change(plan):
        plan["blocked"] = {"needs": str(needs), "checked": now()}
    _locked_plan(results_root, profile, paper, item, change)


def item_blocked(results_root: str | Path, profile: str, paper: str, item: str) -> str | None:
    """What an item needs to run (``record_item_blocked``), or None."""
    path = plan_path(results_root, profile, paper, item)
    try:
        return (json.loads(path.read_text()).get("blocked") or {}).get("needs")
    except (OSError, ValueError, AttributeError):
        return None


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


def write_claim(results_root: str | Path, profile: str, paper: str, item: str, claim_id: str, holds: bool | None,
                evidence: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Append a claim verdict record (``keys={"claim": id}``, ``extra={"holds", "evidence", ...}``)."""
    t = now()
    rec = {
        "schema": SCHEMA_VERSION, "run_id": f"{profile}/{paper}/{item}/claim/{claim_id}",
        "paper": paper, "item": item, "keys": {"claim": claim_id}, "method": None, "seed": None,
        "profile": profile, "score": None, "normalized": None, "curve": [],
        "extra": {"holds": None if holds is None else bool(holds), "evidence": str(evidence), **to_jsonable(dict(data or {}))},
        "nonfinite": [], "wall_time_s": 0.0, "config": {}, "config_hash": config_hash({}),
        "git_commit": git_commit(), "sacred_run_id": None, "started": t, "finished": t,
        "hostname": socket.gethostname(), "versions": versions(),
    }
    append_record(records_path(results_root, profile, paper, item), rec)
    return rec


def _compact_cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m common.records",
        description="Rewrite records files with column-wise curves (lossless; load_records reads the same records).")
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
