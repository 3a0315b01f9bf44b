"""Where and how a run executes: devices, seeds, torch threads, and the provenance a record carries
(git commit, library versions, time). Every entry point calls ``set_threads`` before any work."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import random
import re
import subprocess
from pathlib import Path
from typing import Any, Sequence

import numpy as np

_REPO_ROOT = Path(__file__).resolve().parents[2]


DEVICES = ("cpu", "cuda")


def check_device(device: str):
    """``device`` (cpu, cuda, cuda:N) as a torch.device; a clear ValueError for an unknown one or a GPU
    this machine lacks (scripts' and the benchmark's ``--device``), before any work starts."""
    import torch

    kind = str(device).split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid devices: {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r}: torch.cuda.is_available() is False on this machine; use --device cpu"
        )
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


def worker_init(n_threads: int | None, parent_pid: int, poll_s: float = 2.0) -> None:
    """Initializer of a launcher's worker process: ``set_threads(n_threads)`` (None: leave the thread count as the
    worker starts), and a daemon thread that ends the worker
    (``os._exit(1)``) within ``poll_s`` seconds once its driver ``parent_pid`` is gone (the worker re-parented), so
    that killing a run's driver does not leave workers training on: they would hold a core, write checkpoints
    beside a restarted run's and record the same runs twice. Checkpoint writes are atomic, so the restarted run
    resumes from the last complete one."""
    import threading
    import time

    if n_threads is not None:
        set_threads(n_threads)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-driver", daemon=True).start()


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


def git_commit(repo: str | Path = _REPO_ROOT) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the repo holding this package.

    A dirty tree also records which tracked files differ from the commit (``changed``) and the
    sha256 of ``git diff HEAD`` (``diff_sha256``), so that two records from dirty trees can be told
    apart and a record can be matched to the diff that produced it. Files under ``results/`` (the
    records and their reports, which runs themselves change) do not count.

    Outside a repo (a copy of the tree without ``.git``: a lent GPU machine, a worker), the commit the sender
    declares in ``$OFFMARL_GIT_COMMIT`` (40 hex digits; the sender checks its tree is clean at that commit) is
    recorded as ``{"commit": sha, "dirty": False, "declared": True}``: it cannot be checked there. None without it.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, timeout=30, check=True
        ).stdout

    try:
        sha = git("rev-parse", "HEAD").strip()
        # results/ holds the records themselves: a run appending to a tracked .jsonl is not a code change
        status = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
        out: dict[str, Any] = {"commit": sha, "dirty": bool(status.strip())}
        if out["dirty"]:
            out["changed"] = sorted(line[3:] for line in status.splitlines() if line.strip())
            out["diff_sha256"] = hashlib.sha256(
                git("diff", "HEAD", "--no-color", "--", ".", ":(exclude)results").encode()
            ).hexdigest()
    except (OSError, subprocess.SubprocessError):
        return _declared_commit()
    return out


def _declared_commit() -> dict[str, Any] | None:
    sha = os.environ.get("OFFMARL_GIT_COMMIT", "").strip()
    if not sha:
        return None
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise ValueError(
            f"OFFMARL_GIT_COMMIT={sha!r} is not a commit: allowed is a full sha, 40 hex digits "
            "(git rev-parse HEAD), or unset"
        )
    return {"commit": sha, "dirty": False, "declared": True}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "numpy": np.__version__, "torch": None}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def cpu_model() -> str:
    """This machine's CPU type: ``/proc/cpuinfo``'s model name with its family and model numbers and widest vector
    extension, e.g. "AMD EPYC (family 25 model 17, avx512)" (else the platform's processor string). Results are
    bit-identical on one CPU type, not across types, so long runs record the CPU of each piece."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model", "flags") and key not in info:
                    info[key] = value.strip()
                if not line.strip() and info:
                    break  # the first processor's block is enough
    except OSError:  # pragma: no cover - not Linux
        pass
    if "model name" not in info:
        return platform.processor() or platform.machine() or "unknown"
    flags = set(info.get("flags", "").split())
    simd = next((x for x in ("avx512f", "avx2", "avx", "sse4_2") if x in flags), None)
    extra = [
        f"family {info['cpu family']} model {info['model']}"
        if "cpu family" in info and "model" in info
        else "",
        {"avx512f": "avx512"}.get(simd, simd) if simd else "",
    ]
    extra = [x for x in extra if x]
    return info["model name"] + (f" ({', '.join(extra)})" if extra else "")


def now() -> str:
    """The current UTC time, ISO 8601 to the second (records' ``started`` / ``finished``)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def load_run_checkpoint(path: str | Path, identity: dict[str, Any]) -> dict[str, Any]:
    """A behavior run's checkpoint (a dict with ``identity``), refused with an error naming the file and the
    differing fields when another run (other arguments) wrote it: never silently resumed from."""
    import torch

    sd = torch.load(path, weights_only=False, map_location="cpu")
    if sd["identity"] != identity:
        diff = sorted(
            k for k in set(identity) | set(sd["identity"]) if identity.get(k) != sd["identity"].get(k)
        )
        raise ValueError(
            f"checkpoint {path} was written by a different run (differs in {diff}); delete it to start over"
        )
    return sd


def save_run_checkpoint(
    path: str | Path | None, identity: dict[str, Any], learner: Any, **fields: Any
) -> None:
    """Write a behavior run's checkpoint atomically, in the form :func:`load_run_checkpoint` reads: ``identity``,
    the learner's ``state_dict()`` and the run's other ``fields`` (logs, evaluations, times); nothing when ``path``
    is None (a run without a checkpoint)."""
    if path is None:
        return
    from common.running.atomic import atomic_torch_save

    atomic_torch_save({"identity": identity, "learner": learner.state_dict(), **fields}, path)
