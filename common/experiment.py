"""The experiment runner: cells x seeds -> one Sacred run and one JSON record each.

A paper script declares its grid as ``Cell``s and a ``job_fn(cell, seed, ctx) -> metrics`` and calls
``main(...)`` (or ``run_cells``). For every (cell, seed) that has no finished record yet, the runner

1. seeds python/numpy/torch (``seed_everything``) before the job builds anything;
2. runs the job inside a Sacred ``Experiment`` observed by a ``FileStorageObserver`` under
   ``results/<profile>/sacred/`` (config = cell config + seed + profile; curve via ``log_scalar``);
3. appends ONE record to ``results/<profile>/<paper>/<item>.jsonl`` in a single locked ``O_APPEND``
   write (``fcntl.flock`` + fsync), safe with several processes appending to the same file;
4. deletes the run's checkpoint.

A run killed part-way leaves no record; its rerun resumes from the last ``ctx.save_checkpoint``.
A job that raises is logged with its traceback and reported in the returned ``RunSummary``; the
other cells still run. A non-finite final score is *recorded* (``score: null``, ``nonfinite``
lists the fields) because divergence is a result of the method, and counted in the summary.

Record schema (``SCHEMA_VERSION`` 1), one JSON object per line::

    schema, run_id, paper, item, keys, method, seed, profile, score, normalized, curve,
    extra, nonfinite, wall_time_s, config, config_hash, profile_settings, git_commit,
    sacred_run_id, started, finished, hostname, device, resumed_from_step, versions
    (+ reused_from, reused_at on a record copied from an identical finished run; see run_cells)

On disk the curve is stored column-wise, ``{"step": [...], "score": [...]}`` (``pack_curve``: the same
numbers in half the bytes); ``load_records`` returns it as the list of points ``[{"step", "score"}, ...]``
that the job logged. Older files store that list as is; both read the same, and
``python -m common.experiment --compact FILE...`` rewrites a file in the packed form, losslessly.

Data identity: a job that trains on a cached dataset can say which one, by two attributes of
``job_fn``: ``data_spec(config) -> Mapping | None`` (the dataset a cell trains on; records with equal
specs train on the same data) and ``data_identity(spec) -> Mapping`` (``data_sha256``, ``dataset_size``
and ``ref_scores`` of the dataset in the cache now, generating it if missing); the job returns the same
fields in its metrics, so every record carries them in ``extra``. Datasets are regenerated on a fresh
machine and generation is not bit-identical across CPUs, so before running, ``run_cells`` checks that
the recorded runs of this item on each spec used the data now in the cache, and raises
``DatasetMismatchError`` (naming the runs and both identities) rather than mix two generations in one
table; ``reuse_from`` copies a run only when its data match too.

A claim verdict (for figure items) is a record with ``keys = {"claim": <id>}``, ``score: null``
and ``extra = {"holds": bool, "evidence": str}``; write it with ``write_claim``.

Launchers: ``inline`` (default, this process), ``process`` (``ProcessPoolExecutor`` with ``jobs``
spawned workers, each with ``torch.set_num_threads(1)``; ``job_fn`` must be importable, i.e. a
module-level function) and ``ray`` (each job a ``ray.remote`` task with ``num_cpus=1`` on the
cluster at ``$RAY_ADDRESS``; raises a clear error when ray is not installed — it is not a
dependency of this package and the ray path is not exercised by the tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import fcntl
import hashlib
import json
import logging
import math
import os
import platform
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from common.profiles import PROFILE_NAMES, Profile, get_profile
from common.roots import REFERENCE_ROOT, RUNS_ENV, runs_root

log = logging.getLogger("offmarl.experiment")

SCHEMA_VERSION = 1
LAUNCHERS = ("inline", "process", "ray")
_REPO_ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------------
# Cells, identity, hashing
# ----------------------------------------------------------------------------------------------
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


def _path_part(value: Any) -> str:
    s = value if isinstance(value, str) else canonical_json(value)
    return re.sub(r"[^A-Za-z0-9._=+/-]", "_", s).strip("/") or "_"


@dataclass
class Cell:
    """One table/figure cell: which paper item it fills, its keys, and the job's config."""

    paper: str  # e.g. "omar"
    item: str  # e.g. "table3"
    keys: dict[str, Any]  # env, dataset, method, options... (order = identity order)
    config: dict[str, Any] = field(default_factory=dict)  # everything the job needs; hashed

    @property
    def method(self) -> Any:
        return self.keys.get("method")

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    def run_id(self, profile: str, seed: int) -> str:
        """``<profile>/<paper>/<item>/<key values joined by />/seed<k>``."""
        parts = [profile, self.paper, self.item, *(_path_part(v) for v in self.keys.values()), f"seed{seed}"]
        return "/".join(parts)

    def keys_id(self) -> str:
        return canonical_json(self.keys)


DEVICES = ("cpu", "cuda")


def check_device(device: str):
    """``device`` (cpu, cuda, cuda:N) as a torch.device; a clear ValueError for an unknown one or a GPU
    this machine lacks (scripts' and the benchmark's ``--device``), before any work starts."""
    import torch

    kind = str(device).split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid devices: {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: torch.cuda.is_available() is False on this machine; use --device cpu")
    return torch.device(device)


MAX_SEED = 2**31 - 1


def check_seeds(seeds: Sequence[Any]) -> list[int]:
    """``seeds`` as a list of ints, or a ValueError naming the bad value: each an integer in
    [0, 2**31 - 1], none repeated, at least one."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("no seeds given; give at least one, e.g. --seeds 0 1 2")
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"seed {s!r} is not an integer; seeds are integers in [0, {MAX_SEED}]")
        if not 0 <= int(s) <= MAX_SEED:
            raise ValueError(f"seed {s} is out of range; seeds are integers in [0, {MAX_SEED}]")
        if int(s) in out:
            raise ValueError(f"seed {s} is given twice; give each seed once")
        out.append(int(s))
    return out


def set_threads(n: int) -> int:
    """Use ``n`` torch (intra-op) threads in this process and in the workers it spawns
    (``OMP_NUM_THREADS``/``MKL_NUM_THREADS``); returns ``n``. Every entry point calls this before any
    work: results depend on the thread count (float reductions split differently), so it is part of
    a run's identity (``record_threads``) and recorded."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"threads {n!r}: give a positive integer (default 1)")
    import torch

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(int(n))
    torch.set_num_threads(int(n))
    return int(n)


def current_threads() -> int:
    """The torch intra-op thread count of this process."""
    import torch

    return int(torch.get_num_threads())


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


# ----------------------------------------------------------------------------------------------
# Provenance
# ----------------------------------------------------------------------------------------------
def git_commit(repo: str | Path = _REPO_ROOT) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the repo holding this package; None outside a repo.

    A dirty tree also records which tracked files differ from the commit (``changed``) and the
    sha256 of ``git diff HEAD`` (``diff_sha256``), so that two records from dirty trees can be told
    apart and a record can be matched to the diff that produced it. Files under ``results/`` (the
    records and their reports, which runs themselves change) do not count.
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30,
                              check=True).stdout

    try:
        sha = git("rev-parse", "HEAD").strip()
        # results/ holds the records themselves: a run appending to a tracked .jsonl is not a code change
        status = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
        out: dict[str, Any] = {"commit": sha, "dirty": bool(status.strip())}
        if out["dirty"]:
            out["changed"] = sorted(line[3:] for line in status.splitlines() if line.strip())
            out["diff_sha256"] = hashlib.sha256(
                git("diff", "HEAD", "--no-color", "--", ".", ":(exclude)results").encode()).hexdigest()
    except (OSError, subprocess.SubprocessError):
        return None
    return out


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "numpy": np.__version__, "torch": None}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------
# Record store
# ----------------------------------------------------------------------------------------------
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


def _finished_set(records: Iterable[Mapping[str, Any]]) -> set[tuple]:
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
            _atomic_write_text(path, after)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)


def _update_plan(results_root: str | Path, profile: str, cells: Sequence[Cell], seeds: Sequence[int]) -> None:
    """Merge the planned (keys, seeds) of ``cells`` into ``<item>.plan.json`` (the report's n/m)."""
    by_item: dict[tuple[str, str], list[Cell]] = {}
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
                    summary: "RunSummary", threads: int, device: str) -> None:
    """Store the wall time of this invocation of an item's script (runs, dataset generation, figures
    and report included) as ``last_run`` in ``<item>.plan.json``, when it ran anything (``run_all.sh
    --list`` shows it). ``runs``/``skipped`` say how much of the grid that time covers."""
    info = {"wall_s": round(float(wall_s), 1), "finished": _now(), "runs": len(summary.ran),
            "skipped": len(summary.skipped), "failed": len(summary.failed), "threads": int(threads),
            "device": device, "hostname": socket.gethostname(), "cpus": os.cpu_count()}

    def change(plan):
        plan["last_run"] = info
    _locked_plan(results_root, profile, paper, item, change)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# The job context
# ----------------------------------------------------------------------------------------------
class RunContext:
    """What a job sees: seed, profile, device, checkpointing, logging and a progress bar."""

    def __init__(self, seed: int, profile: Profile, device: str, checkpoint_path: Path, run_id: str, sacred_run=None):
        self.seed = seed
        self.profile = profile
        self.device = device
        self.checkpoint_path = checkpoint_path  # results/<profile>/checkpoints/<paper>/.../seed<k>/<hash>.pt
        self.run_id = run_id
        self.curve: list[dict[str, Any]] = []  # filled by log(); restored from a checkpoint
        self.resumed_from_step: int | None = None
        self._sacred_run = sacred_run

    def log(self, step: int, **scalars: Any) -> None:
        """Append ``{"step": step, **scalars}`` to the curve and log each scalar to Sacred."""
        entry = {"step": int(step), **{k: to_jsonable(v) for k, v in scalars.items()}}
        self.curve.append(entry)
        if self._sacred_run is not None:
            for k, v in scalars.items():
                self._sacred_run.log_scalar(k, float(v) if v is not None else float("nan"), int(step))

    def save_checkpoint(self, obj: Any, step: int | None = None) -> None:
        """``torch.save`` ``obj`` (with the curve so far) to a temp file, then ``os.replace``."""
        import torch

        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.checkpoint_path.parent, suffix=".tmp")
        os.close(fd)
        try:
            torch.save({"user": obj, "curve": list(self.curve), "step": step}, tmp)
            os.replace(tmp, self.checkpoint_path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def load_checkpoint(self) -> Any:
        """The object last saved by this run (same cell, seed, profile, config), or None."""
        if not self.checkpoint_path.exists():
            return None
        import torch

        blob = torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)
        self.curve = list(blob.get("curve", []))
        step = blob.get("step")
        if step is None and self.curve:
            step = self.curve[-1]["step"]
        self.resumed_from_step = step
        log.info("%s: resuming from checkpoint (step %s)", self.run_id, step)
        return blob["user"]

    def progress(self, total: int, desc: str | None = None):
        """A tqdm bar; disabled when stderr is not a TTY or ``$CI`` is set."""
        from tqdm.auto import tqdm

        disable = bool(os.environ.get("CI")) or not sys.stderr.isatty()
        return tqdm(total=total, desc=desc or self.run_id, disable=disable, leave=False)


# ----------------------------------------------------------------------------------------------
# Running one (cell, seed)
# ----------------------------------------------------------------------------------------------
@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (run_id, reason)
    nonfinite: list[str] = field(default_factory=list)  # recorded, but the score was NaN/inf
    reused: list[str] = field(default_factory=list)  # recorded as a copy of an identical earlier run

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        lines = [f"ran {len(self.ran)}, skipped {len(self.skipped)} (already finished), failed {len(self.failed)}"]
        if self.reused:
            lines[0] += f"; {len(self.reused)} of those ran were copied from identical finished runs"
        if self.nonfinite:
            lines.append(f"non-finite scores recorded for: {', '.join(self.nonfinite)}")
        for rid, reason in self.failed:
            lines.append(f"FAILED {rid}: {reason}")
        return "\n".join(lines)


_RESERVED = {"score", "normalized", "curve"}


# ---- data identity ------------------------------------------------------------------------------
DATA_FIELDS = ("data_sha256", "dataset_size", "ref_scores")


class DatasetMismatchError(ValueError):
    """Recorded runs of an item used another generation of a dataset than the one in the cache."""


def same_data(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool | None:
    """Whether two data identities (a record's ``extra``, or ``job_fn.data_identity(spec)``) name the
    same dataset: by ``data_sha256`` when both have it, else by ``dataset_size`` and ``ref_scores``
    (records written before the sha was recorded carry only those); None if either carries neither."""
    a, b = a or {}, b or {}
    if a.get("data_sha256") and b.get("data_sha256"):
        return a["data_sha256"] == b["data_sha256"]
    if a.get("dataset_size") is None or b.get("dataset_size") is None:
        return None
    return (int(a["dataset_size"]) == int(b["dataset_size"])
            and canonical_json(a.get("ref_scores")) == canonical_json(b.get("ref_scores")))


def _describe_data(ident: Mapping[str, Any]) -> str:
    refs = ident.get("ref_scores") or {}
    ref = "/".join("?" if refs.get(k) is None else f"{float(refs[k]):.6g}" for k in ("random", "expert"))
    sha = ident.get("data_sha256")
    return (f"size {ident.get('dataset_size')}, random/expert refs {ref}, "
            f"sha256 {sha[:12] if sha else 'not recorded'}")


def _spec_label(spec: Mapping[str, Any]) -> str:
    parts = [str(spec[k]) for k in ("env", "kind") if k in spec]
    return " ".join(parts) if parts else f"dataset {config_hash(dict(spec))}"


def check_data(todo: Sequence[tuple[Cell, int]], job_fn: Callable, results_root: str | Path, profile: str,
               force: bool = False) -> None:
    """Raise ``DatasetMismatchError`` when a run in ``todo`` would join recorded runs of its item whose
    dataset (same ``job_fn.data_spec``) was another generation than the one in the cache now. Records
    that ``todo`` re-runs under ``force`` do not count; neither do records that carry no identity."""
    spec_fn, ident_fn = getattr(job_fn, "data_spec", None), getattr(job_fn, "data_identity", None)
    if spec_fn is None or ident_fn is None or not todo:
        return
    redo = {(c.item, c.keys_id(), s) for c, s in todo} if force else set()
    by_item: dict[tuple[str, str], dict[str, list[dict]]] = {}
    current: dict[str, Mapping[str, Any]] = {}
    problems: list[str] = []
    for cell, _ in todo:
        if (cell.paper, cell.item) not in by_item:
            from common.report import latest_records  # report imports this module

            groups: dict[str, list[dict]] = {}
            for r in latest_records(load_records(results_root, profile, cell.paper, cell.item)):
                if (r.get("item"), canonical_json(r.get("keys", {})), r.get("seed")) in redo:
                    continue
                spec = spec_fn(r.get("config") or {})
                if spec is not None:
                    groups.setdefault(canonical_json(to_jsonable(spec)), []).append(r)
            by_item[(cell.paper, cell.item)] = groups
        spec = spec_fn(cell.config)
        if spec is None:
            continue
        sid = canonical_json(to_jsonable(spec))
        recs = by_item[(cell.paper, cell.item)].pop(sid, [])  # each spec checked once per item
        if not recs:
            continue
        if sid not in current:
            current[sid] = ident_fn(spec)
        bad = [r for r in recs if same_data(r.get("extra"), current[sid]) is False]
        if bad:
            ids = sorted({_describe_data(r.get("extra") or {}) for r in bad})
            problems.append(
                f"{cell.paper}/{cell.item}, {_spec_label(spec)}: {len(bad)} recorded run(s) (e.g. {bad[0]['run_id']}) "
                f"trained on {'; '.join(ids)}; the dataset in the cache now has {_describe_data(current[sid])}")
    if problems:
        raise DatasetMismatchError(
            "the cached dataset differs from the one that recorded runs of this item trained on (datasets "
            "are regenerated on a fresh machine, and generation is not bit-identical across CPUs), so new "
            "runs would not be comparable with them:\n  " + "\n  ".join(problems) +
            "\nRe-run every run of that dataset on the current data with --force and the grid filters "
            "that select it (e.g. --env ENV --dataset KIND --force), or restore the dataset files they used.")


def prepare_data(todo: Sequence[tuple[Cell, int]], job_fn: Callable) -> None:
    """Load (generating if missing) every dataset that ``todo`` trains on, once each, in this process:
    before workers start, so that two workers never generate the same missing dataset at once."""
    spec_fn, ident_fn = getattr(job_fn, "data_spec", None), getattr(job_fn, "data_identity", None)
    if spec_fn is None or ident_fn is None:
        return
    seen: set[str] = set()
    for cell, _ in todo:
        spec = spec_fn(cell.config)
        if spec is not None and canonical_json(to_jsonable(spec)) not in seen:
            seen.add(canonical_json(to_jsonable(spec)))
            ident_fn(spec)


def _build_record(cell, seed, profile, metrics, ctx, started, t0, sacred_id, git, device) -> dict[str, Any]:
    if not isinstance(metrics, Mapping) or "score" not in metrics:
        raise TypeError(f"job_fn must return a dict with at least 'score', got {metrics!r}")
    nonfinite = []
    vals = {}
    for k in ("score", "normalized"):
        v = metrics.get(k)
        if v is not None:
            v = float(v)
            if not math.isfinite(v):
                nonfinite.append(k)
                v = None
        vals[k] = v
    curve = metrics.get("curve", ctx.curve)
    return {
        "schema": SCHEMA_VERSION,
        "run_id": cell.run_id(profile.name, seed),
        "paper": cell.paper,
        "item": cell.item,
        "keys": to_jsonable(cell.keys),
        "method": to_jsonable(cell.keys.get("method")),
        "seed": seed,
        "profile": profile.name,
        "score": vals["score"],
        "normalized": vals["normalized"],
        "curve": to_jsonable(curve),
        "extra": to_jsonable({k: v for k, v in metrics.items() if k not in _RESERVED}),
        "nonfinite": nonfinite,
        "wall_time_s": round(time.time() - t0, 3),
        "config": to_jsonable(cell.config),
        "config_hash": cell.config_hash,
        "profile_settings": profile.to_dict(),
        "git_commit": git,
        "sacred_run_id": sacred_id,
        "started": started,
        "finished": _now(),
        "hostname": socket.gethostname(),
        "device": device,
        "threads": current_threads(),
        "resumed_from_step": ctx.resumed_from_step,
        "versions": versions(),
    }


def _sacred_experiment(name: str, sacred_dir: Path):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pkg_resources.*")
        from sacred import Experiment
        from sacred.observers import FileStorageObserver

    ex = Experiment(name, interactive=True, save_git_info=False)
    ex.observers.append(FileStorageObserver(str(sacred_dir), copy_sources=False))
    sl = logging.getLogger("offmarl.sacred")
    sl.setLevel(logging.WARNING)
    ex.logger = sl
    return ex


def find_identical_run(results_root: str | Path, profile: str, cell: Cell, seed: int, items: Sequence[str],
                       device: str = "cpu", data: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """A finished record of ``cell.paper`` in one of ``items`` with the same profile, seed, device
    and config (hash and full config equal), or None. Claim verdicts are never donors. With ``data``
    (the identity of the dataset the run would train on), only a record on that same data qualifies."""
    want = canonical_json(to_jsonable(cell.config))
    for item in dict.fromkeys(items):
        for r in load_records(results_root, profile, cell.paper, item):
            if (r.get("seed") == seed and r.get("config_hash") == cell.config_hash
                    and r.get("device", "cpu") == device and "claim" not in (r.get("keys") or {})
                    and record_threads(r) == current_threads()
                    and canonical_json(r.get("config", {})) == want
                    and (data is None or same_data(r.get("extra"), data) is True)):
                return r
    return None


def reused_record(donor: Mapping[str, Any], cell: Cell, profile: str, seed: int) -> dict[str, Any]:
    """``donor`` re-filed under ``cell``: the same run's results (scores, curve, config, commit,
    timings) with this cell's run_id / item / keys, and ``reused_from`` naming the run that computed it."""
    rec = dict(donor)
    rec.update(run_id=cell.run_id(profile, seed), item=cell.item, keys=to_jsonable(cell.keys),
               method=to_jsonable(cell.keys.get("method")),
               reused_from=donor.get("reused_from") or donor["run_id"], reused_at=_now())
    return rec


def run_one(cell: Cell, seed: int, job_fn: Callable, profile: Profile, results_root: str | Path,
            device: str = "cpu", git: dict | None = None,
            reuse_from: Sequence[str] | None = None) -> tuple[str, str, str | None]:
    """Run one (cell, seed) and append its record. Returns (run_id, status, reason).

    status is "ran", "nonfinite" (recorded with a null score), "skipped" (with ``reuse_from``: the run
    was finished meanwhile, e.g. by another process on an overlapping grid), "reused" (an identical finished run
    was found in this item or one of ``reuse_from``, and its record copied; see ``run_cells``) or
    "failed" (nothing recorded).
    """
    results_root = Path(results_root)
    rid = cell.run_id(profile.name, seed)
    if reuse_from is not None:
        own = (cell.paper, cell.item, cell.keys_id(), seed, profile.name, cell.config_hash, current_threads())
        if own in _finished_set(load_records(results_root, profile.name, cell.paper, cell.item)):
            return rid, "skipped", None  # another process finished it since this one planned its runs
        items = [cell.item, *reuse_from]
        donor = find_identical_run(results_root, profile.name, cell, seed, items, device)
        spec_fn, ident_fn = getattr(job_fn, "data_spec", None), getattr(job_fn, "data_identity", None)
        spec = spec_fn(cell.config) if donor is not None and spec_fn is not None and ident_fn is not None else None
        if spec is not None:  # a donor must have trained on the data this run would use
            data = ident_fn(spec)
            if same_data(donor.get("extra"), data) is not True:
                donor = find_identical_run(results_root, profile.name, cell, seed, items, device, data)
        if donor is not None:
            append_record(records_path(results_root, profile.name, cell.paper, cell.item),
                          reused_record(donor, cell, profile.name, seed))
            return rid, "reused", None
    ckpt = (results_root / profile.name / "checkpoints" / Path(*rid.split("/")[1:]) / f"{cell.config_hash}.pt")
    ex = _sacred_experiment(rid, results_root / profile.name / "sacred")
    sacred_config = {
        "paper": cell.paper, "item": cell.item, "keys": to_jsonable(cell.keys),
        "cell_config": to_jsonable(cell.config), "config_hash": cell.config_hash,
        "seed": seed, "profile": profile.name, "profile_settings": profile.to_dict(),
    }
    ex.add_config(sacred_config)
    out: dict[str, Any] = {}

    @ex.main
    def _main(_run):
        seed_everything(seed)  # before the job builds anything
        ctx = RunContext(seed, profile, device, ckpt, rid, sacred_run=_run)
        started, t0 = _now(), time.time()
        metrics = job_fn(cell, seed, ctx)
        out["record"] = _build_record(cell, seed, profile, metrics, ctx, started, t0, _run._id, git, device)
        return out["record"]["score"]

    try:
        ex.run(options={"--capture": "no", "--loglevel": "WARNING"})
    except BaseException as e:  # noqa: BLE001 - a job may raise anything; SystemExit/KeyboardInterrupt too
        if isinstance(e, KeyboardInterrupt):
            raise
        tb = traceback.format_exc()
        log.error("run %s failed:\n%s", rid, tb)
        return rid, "failed", f"{type(e).__name__}: {e}"
    rec = out["record"]
    append_record(records_path(results_root, profile.name, cell.paper, cell.item), rec)
    if ckpt.exists():
        ckpt.unlink()
    return rid, ("nonfinite" if rec["nonfinite"] else "ran"), None


def _worker_init(threads: int = 1) -> None:
    set_threads(threads)


def run_cells(cells: Sequence[Cell], job_fn: Callable, profile: Profile | str, seeds: Sequence[int] | None = None,
              force: bool = False, results_root: str | Path | None = None, launcher: str = "inline", jobs: int = 1,
              device: str = "cpu", reuse_from: Sequence[str] | None = None,
              plan_cells: Sequence[Cell] | None = None) -> RunSummary:
    """Run every (cell, seed) that has no finished record (all of them if ``force``).

    A finished record matches paper, item, keys, seed, profile and config hash.

    ``reuse_from`` (items of the same paper whose runs used this same ``job_fn``): a (cell, seed)
    whose exact config, seed, profile and device already ran, under other keys of this item or in
    one of those items, is not run again; that record is copied under this cell's keys with
    ``reused_from`` naming the original run (valid because a run is a deterministic function of
    (job_fn, config, seed): the tests check that the same seed gives identical records). None
    (default) never reuses; ``--force`` never reuses.

    ``plan_cells``: the item's whole grid when ``cells`` is only part of it (a script's grid
    filters); the plan file, the report's "done k/m", records the whole grid so that a partial run
    reads as partial. None (default): ``cells`` is the whole grid.
    """
    if isinstance(profile, str):
        profile = get_profile(profile)
    if launcher not in LAUNCHERS:
        raise ValueError(f"unknown launcher {launcher!r}; valid launchers: {', '.join(LAUNCHERS)}")
    seeds = check_seeds(profile.seeds if seeds is None else seeds)  # before any side effect
    if int(jobs) < 1:
        raise ValueError(f"jobs {jobs!r}: give a positive number of worker processes")
    results_root = runs_root() if results_root is None else Path(results_root)
    threads = current_threads()
    summary = RunSummary()
    if plan_cells is None:
        plan_cells = cells
    else:
        grid = {(c.paper, c.item, c.keys_id()) for c in plan_cells}
        outside = [c.keys for c in cells if (c.paper, c.item, c.keys_id()) not in grid]
        if outside:
            raise ValueError(f"plan_cells must hold every cell to run; not in it: {outside}")
    _update_plan(results_root, profile.name, plan_cells, seeds)

    finished: dict[tuple[str, str], set] = {}
    todo: list[tuple[Cell, int]] = []
    for cell in cells:
        if (cell.paper, cell.item) not in finished:
            finished[(cell.paper, cell.item)] = _finished_set(
                load_records(results_root, profile.name, cell.paper, cell.item))
        for seed in seeds:
            key = (cell.paper, cell.item, cell.keys_id(), seed, profile.name, cell.config_hash, threads)
            if not force and key in finished[(cell.paper, cell.item)]:
                summary.skipped.append(cell.run_id(profile.name, seed))
            else:
                todo.append((cell, seed))

    check_data(todo, job_fn, results_root, profile.name, force)
    git = git_commit()
    reuse = None if force or reuse_from is None else tuple(reuse_from)
    results = []
    if launcher == "inline" or not todo:
        results = [run_one(c, s, job_fn, profile, results_root, device, git, reuse) for c, s in todo]
    elif launcher == "process":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        prepare_data(todo, job_fn)  # missing datasets made here, one at a time, not twice by two workers

        ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                                 initargs=(threads,)) as pool:
            futs = [pool.submit(run_one, c, s, job_fn, profile, results_root, device, git, reuse) for c, s in todo]
            for (c, s), f in zip(todo, futs):
                try:
                    results.append(f.result())
                except Exception as e:  # the worker itself died (e.g. killed, unpicklable job_fn)
                    log.error("worker for %s failed: %r", c.run_id(profile.name, s), e)
                    results.append((c.run_id(profile.name, s), "failed", f"{type(e).__name__}: {e}"))
    else:  # ray
        try:
            import ray
        except ImportError as e:
            raise RuntimeError(
                "launcher='ray' needs the 'ray' package, which is not installed (pip install 'ray[default]'); "
                "use --launcher process for a local pool") from e
        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS"))
        remote = ray.remote(num_cpus=1)(run_one)
        refs = [remote.remote(c, s, job_fn, profile, str(results_root), device, git, reuse) for c, s in todo]
        for (c, s), ref in zip(todo, refs):
            try:
                results.append(ray.get(ref))
            except Exception as e:  # noqa: BLE001
                results.append((c.run_id(profile.name, s), "failed", f"{type(e).__name__}: {e}"))

    for rid, status, reason in results:
        if status == "failed":
            summary.failed.append((rid, reason))
        elif status == "skipped":
            summary.skipped.append(rid)
        else:
            summary.ran.append(rid)
            if status == "reused":
                summary.reused.append(rid)
            if status == "nonfinite":
                summary.nonfinite.append(rid)
    if summary.failed:
        log.error("%d run(s) failed:\n%s", len(summary.failed), "\n".join(f"  {r}: {m}" for r, m in summary.failed))
    return summary


def write_claim(results_root: str | Path, profile: str, paper: str, item: str, claim_id: str, holds: bool,
                evidence: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Append a claim verdict record (``keys={"claim": id}``, ``extra={"holds", "evidence", ...}``)."""
    now = _now()
    rec = {
        "schema": SCHEMA_VERSION, "run_id": f"{profile}/{paper}/{item}/claim/{claim_id}",
        "paper": paper, "item": item, "keys": {"claim": claim_id}, "method": None, "seed": None,
        "profile": profile, "score": None, "normalized": None, "curve": [],
        "extra": {"holds": bool(holds), "evidence": str(evidence), **to_jsonable(dict(data or {}))},
        "nonfinite": [], "wall_time_s": 0.0, "config": {}, "config_hash": config_hash({}),
        "git_commit": git_commit(), "sacred_run_id": None, "started": now, "finished": now,
        "hostname": socket.gethostname(), "versions": versions(),
    }
    append_record(records_path(results_root, profile, paper, item), rec)
    return rec


# ----------------------------------------------------------------------------------------------
# CLI for paper scripts
# ----------------------------------------------------------------------------------------------
def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} {text!r} is not an integer; give a positive integer") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"{name} {v} must be a positive integer")
        return v
    return parse


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed {text!r} is not an integer; seeds are integers in [0, {MAX_SEED}]") \
            from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed {v} is out of range; seeds are integers in [0, {MAX_SEED}]")
    return v


def add_common_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every entry point that computes shares: ``--threads``, and where results go
    (``--results DIR`` / ``--reference``; default this machine's runs root, see common.roots)."""
    p.add_argument("--threads", type=_positive_int("threads"), default=1,
                   help="torch threads of this process and of each worker (default 1; part of a run's identity: "
                        "records made with different thread counts are kept apart)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--results", default=None, metavar="DIR",
                       help=f"results root (default ${RUNS_ENV} or runs/ in the repository: this machine's runs)")
    where.add_argument("--reference", action="store_true",
                       help="write to the committed reference results/ (maintainers refreshing the reference)")
    return p


def results_root_of(args: argparse.Namespace) -> Path:
    """The results root chosen by ``add_common_options``' options."""
    if getattr(args, "reference", False):
        return REFERENCE_ROOT
    return Path(args.results) if getattr(args, "results", None) else runs_root()


def make_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--profile", default="quick", choices=PROFILE_NAMES,
                   help="smoke (CI), quick (one small machine) or full (the paper's protocol); default quick")
    p.add_argument("--seeds", type=_seed, nargs="+", default=None, help="seeds to run (default: the profile's)")
    p.add_argument("--force", action="store_true", help="re-run cells that already have a record")
    p.add_argument("--device", default="cpu", help=f"torch device for the jobs: {', '.join(DEVICES)} (default cpu)")
    p.add_argument("--launcher", default="inline", choices=LAUNCHERS, help="where jobs run (default inline)")
    p.add_argument("--jobs", type=_positive_int("jobs"), default=1, help="worker processes for --launcher process")
    add_common_options(p)
    p.add_argument("--no-report", action="store_true", help="do not regenerate this item's .md afterwards")
    return p


def main(description: str, build_cells: Callable[..., Sequence[Cell]], job_fn: Callable, paper: str,
         item: str, paper_overrides: Mapping[str, Any] | None = None, argv: Sequence[str] | None = None,
         configure_parser: Callable[[argparse.ArgumentParser], None] | None = None,
         after: Callable[[argparse.Namespace, Profile, RunSummary], None] | None = None,
         default_seeds: Mapping[str, Sequence[int]] | None = None,
         reuse_from: Sequence[str] | None = None,
         select: Callable[[Sequence[Cell], argparse.Namespace], Sequence[Cell]] | None = None) -> RunSummary:
    """Entry point of a paper script: parse args, build the grid for the profile, run, report.

    ``build_cells(profile)`` returns the item's whole grid; a script with grid filters adds its
    options with ``configure_parser(parser)`` and picks the part to run with ``select(cells, args)``
    (the plan, the report's "done k/m", still records the whole grid: see ``run_cells``'s
    ``plan_cells``). ``paper_overrides`` is the paper's
    profile-override dict (see common.profiles). ``after(args, profile, summary)`` runs once the
    cells are done and before the report (figures: plots and claim verdicts). ``default_seeds``
    maps a profile name to this item's seeds when ``--seeds`` is not given (else the profile's seeds).
    ``reuse_from``: items of this paper run by the same ``job_fn`` whose identical runs are copied
    instead of re-run (see ``run_cells``).
    Exits with status 1 when a run failed.
    """
    parser = make_parser(description)
    if configure_parser is not None:
        configure_parser(parser)
    args = parser.parse_args(argv)
    # every argument is checked before anything is written (plan files, records, datasets)
    seeds = args.seeds if args.seeds is not None else list((default_seeds or {}).get(args.profile) or [])
    try:
        check_device(args.device)
        if args.seeds is not None:
            check_seeds(args.seeds)
    except ValueError as e:
        parser.error(str(e))
    set_threads(args.threads)
    args.results = str(results_root_of(args))
    t_start = time.time()
    profile = get_profile(args.profile, paper_overrides)
    grid = list(build_cells(profile))
    cells = grid if select is None else list(select(grid, args))
    seeds = seeds or list(profile.seeds)
    part = "" if len(cells) == len(grid) else f" of {len(grid)}"
    print(f"[{paper}/{item}] profile={profile.name} seeds={seeds} cells={len(cells)}{part} launcher={args.launcher} "
          f"threads={args.threads} results={args.results}", flush=True)
    summary = run_cells(cells, job_fn, profile, seeds=seeds, force=args.force, results_root=args.results,
                        launcher=args.launcher, jobs=args.jobs, device=args.device, reuse_from=reuse_from,
                        plan_cells=grid)
    out = records_path(args.results, profile.name, paper, item)
    print(summary)
    print(f"[{paper}/{item}] profile={profile.name}: records in {out}", flush=True)
    if after is not None:
        after(args, profile, summary)
    if not args.no_report:
        try:
            from common import report

            md = report.write_item_report(args.results, profile.name, paper, item, reference_root=REFERENCE_ROOT)
            print(f"[{paper}/{item}] report: {md}")
        except Exception as e:  # noqa: BLE001 - a report bug must not hide finished runs
            log.warning("could not render the report for %s/%s: %r", paper, item, e)
    if summary.ran:
        record_item_run(args.results, profile.name, paper, item, time.time() - t_start, summary, args.threads,
                        args.device)
    if not summary.ok:
        raise SystemExit(1)
    return summary


def _compact_cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m common.experiment",
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
