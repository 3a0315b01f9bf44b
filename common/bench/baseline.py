"""A hot path of the current tree against an older commit's, in one run (``python -m common.bench --baseline REV``).

The older commit is checked out with ``git worktree add --detach`` in a temporary folder (removed at the end, even
on an error). Each tree gets a child process running common/bench/worker.py's text from its own root, so each
imports its own modules and nothing is shared through ``sys.modules``; the parent interleaves their rounds (new,
old, new, old, ...: while one runs the other waits on its pipe, so load on the machine shifts both alike) and takes
each one's median round. new/old > 1: the current tree is faster. The current tree is the working tree as it is
(the page records its commit and ``+dirty`` when it has changes).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.bench.core import REPO
from common.bench.worker import PATHS, PREFIX

WORKER = Path(__file__).with_name("worker.py")


@dataclass(frozen=True)
class TreePath:
    """A hot path that ``--all --baseline REV`` times in both trees: its name (a worker.PATHS key unless ``builder``
    is given), the learner's name, the name of its sizes, the sizes, their --quick overrides, calls per round at full
    size, the builder file of a paper's hot path (``papers/<paper>/bench_step.py``, relative to the current tree:
    both trees' workers load it, so common imports no paper) and what one call is."""

    path: str
    learner: str
    sizes: str
    size: dict[str, Any]
    tiny: dict[str, Any]
    calls: int
    builder: str | None = None
    unit: str = "update"

    def sized(self, quick: bool) -> dict[str, Any]:
        return {**self.size, **(self.tiny if quick else {})}

    def label(self, quick: bool) -> str:
        """E.g. "OMAR update, MPE size, 15 members"."""
        size = self.sized(quick)
        m = size.get("members", size.get("n_seeds", 1) * size.get("n_agents", 1))
        return (
            f"{self.learner} {self.unit}, {'tiny' if quick else self.sizes} size, {m} member{'s' * (m > 1)}"
        )


_SAC_TINY: dict[str, Any] = dict(hidden=[16, 16], batch_size=32)
_OMAR_TINY: dict[str, Any] = dict(
    n_seeds=2, n_agents=2, obs_dim=4, act_dim=2, hidden=8, batch_size=16, cql_n_actions=3, omar_n_samples=4
)
_MOMA = dict(task="reacher-2x1", size="quick", n_seeds=3, n_agents=2)
_CAST = dict(task="hopper-3x1", size="quick", n_seeds=3, n_agents=3)
TREE_PATHS = (
    TreePath("sac", "SAC", "rlkit", dict(members=1, obs_dim=17, act_dim=6), _SAC_TINY, 20),
    TreePath("sac", "SAC", "rlkit", dict(members=4, obs_dim=17, act_dim=6), _SAC_TINY, 20),
    TreePath("omar-mpe", "OMAR", "MPE", dict(n_seeds=5, n_agents=3, obs_dim=18, act_dim=2), _OMAR_TINY, 3),
    TreePath(
        "moma-ppo",
        "MOMA-PPO",
        "Reacher quick",
        _MOMA,
        dict(size="tiny", n_seeds=1, batch=256, k=2),
        1,
        "papers/moma_ppo/bench_step.py",
        "iteration",
    ),
    TreePath(
        "cast-bcq",
        "CAST-BCQ",
        "Hopper 3x1 quick",
        _CAST,
        dict(n_seeds=1, hidden_vae=[16, 16], hidden=[16, 16], batch_size=32),
        2,
        "papers/cast_bcq/bench_step.py",
    ),
)


@contextlib.contextmanager
def worktree(rev: str, repo: Path = REPO) -> Iterator[Path]:
    """A detached checkout of ``rev`` (its code: all but results/ and tests/) in a temporary folder, removed
    (``git worktree remove --force``) on exit."""
    full = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=repo, capture_output=True, text=True
    )
    if full.returncode:
        raise ValueError(f"--baseline {rev!r} is not a commit of {repo}: {full.stderr.strip()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    path = tmp / "tree"
    try:
        subprocess.run(
            [
                "git",
                "worktree",
                "add",
                "--detach",
                "--no-checkout",
                "--quiet",
                str(path),
                full.stdout.strip(),
            ],
            cwd=repo,
            check=True,
            capture_output=True,
        )
        # the code only: results/ and tests/ are most of the tree's bytes and no hot path imports them
        subprocess.run(
            ["git", "checkout", "HEAD", "--", ".", ":!results", ":!tests"],
            cwd=path,
            check=True,
            capture_output=True,
        )
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=repo, capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=repo, capture_output=True)
        with contextlib.suppress(OSError):
            tmp.rmdir()


class Worker:
    """A child process timing hot path ``path`` of the tree at ``root`` (protocol: common/bench/worker.py)."""

    def __init__(self, root: Path, path: str, size: dict, device: str, file: str | None = None):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(root)}
        self.root = root
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER.read_text()],
            cwd=root,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # it starts (imports, builds) meanwhile
        self._send({"path": path, "device": device, "size": size, "file": file})
        self.flops = 0.0

    def ready(self) -> Worker:
        """Wait for its hot path to be built (and its FLOPs counted, one warm-up call made)."""
        hello = self._read()
        self.flops = float(hello["flops"])
        if Path(hello["root"]).resolve() != (self.root / "common").resolve():
            raise RuntimeError(f"the worker in {self.root} imported common from {hello['root']}")
        return self

    def _send(self, req: dict) -> None:
        assert self.proc.stdin is not None  # PIPE (Popen's pipes are typed Optional)
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()

    def _ask(self, req: dict) -> dict:
        self._send(req)
        return self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None and self.proc.stderr is not None  # PIPEs
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX) :])
        err = self.proc.stderr.read()[-3000:]
        raise RuntimeError(f"the benchmark worker in {self.root} ended ({self.proc.wait()}):\n{err}")

    def seconds(self, calls: int) -> float:
        return float(self._ask({"calls": calls})["seconds"])

    def close(self) -> None:
        assert self.proc.stdin is not None  # PIPE
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def compare_trees(
    path: str,
    rev: str,
    size: dict,
    n_calls: int,
    reps: int,
    device: str = "cpu",
    between: Callable[[], object] | None = None,
    repo: Path = REPO,
    builder: str | None = None,
) -> dict[str, Any]:
    """Calls/s of hot path ``path`` (a key of worker.PATHS, or the name of ``builder``'s: a paper's step builder,
    relative to ``repo``) in the current tree (``repo``'s working tree) and at commit ``rev``, their rounds
    interleaved (``between`` is called after each pair: e.g. a peak reading); medians, new/old, and each one's FLOPs
    per call."""
    if builder is None and path not in PATHS:
        raise ValueError(f"unknown hot path {path!r}; valid: {', '.join(PATHS)}, or give its builder")
    file = None if builder is None else str((repo / builder).resolve())
    if file is not None and not Path(file).is_file():
        raise ValueError(f"the builder of hot path {path!r}, {builder}, is not a file of {repo}")
    with worktree(rev, repo) as old_root:
        workers: dict[str, Worker] = {}
        try:
            workers["new"] = Worker(repo, path, size, device, file)  # both start at once, then are waited for
            workers["old"] = Worker(old_root, path, size, device, file)
            for w in workers.values():
                w.ready()
            rates: dict[str, list[float]] = {"new": [], "old": []}
            for r in range(reps):
                for k in ("new", "old") if r % 2 == 0 else ("old", "new"):  # alternate who goes first
                    rates[k].append(n_calls / workers[k].seconds(n_calls))
                if between is not None:
                    between()
        finally:
            for w in workers.values():
                w.close()
    new, old = statistics.median(rates["new"]), statistics.median(rates["old"])
    return {
        "new_per_s": new,
        "old_per_s": old,
        "ratio": new / old,
        "rev": rev,
        "new_gflop_per_call": workers["new"].flops / 1e9,
        "old_gflop_per_call": workers["old"].flops / 1e9,
        "new_rounds": rates["new"],
        "old_rounds": rates["old"],
    }
