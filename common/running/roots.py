"""Where results live: the committed reference and this machine's own runs.

- **Reference** (``results/`` in the repository, committed): the package's reference results, the
  records behind the published comparison. Only maintainers write there, explicitly
  (``--reference`` on a paper script, ``python -m common.reporting.report --reference``).
- **Cache** (:func:`cache_root`, outside the repository): datasets, behavior runs and the resumable
  checkpoints of long runs, kept between work trees, clones and sessions on one machine.
- **Runs** (``runs/`` in the repository, git-ignored; ``$OFFMARL_RESULTS`` overrides it): where a
  user's runs go by default, so that ``./run_all.sh`` on a fresh clone reproduces on this machine
  instead of finding the reference's records and skipping every cell, and no command a user runs
  modifies a tracked file. The report of a runs root shows each cell as published | reference |
  this machine.

Standard library only: ``run_all.sh --list`` reads these before the virtual environment exists.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_ROOT = REPO_ROOT / "results"
RUNS_ENV = "OFFMARL_RESULTS"
CACHE_ENV = "OFFMARL_DATA"
CACHE_NAME = "offmarl-repro"


def cache_root() -> Path:
    """The user cache of datasets, behavior runs, world models and resumable checkpoints, outside the
    repository so that it outlives a work tree: ``$OFFMARL_DATA`` if set, else ``$XDG_CACHE_HOME/offmarl-repro``,
    else ``~/.cache/offmarl-repro`` (the convention of Minari, D4RL and Hugging Face). Never relative to the CWD."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).expanduser().is_absolute() else Path.home() / ".cache"
    return base / CACHE_NAME


def runs_root() -> Path:
    """This machine's results root: ``$OFFMARL_RESULTS`` if set, else ``<repo>/runs``."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser() if env else REPO_ROOT / "runs"


def checkpoints_root(results_root: str | Path, profile: str) -> Path:
    """Where the resumable checkpoints of the runs filed under ``results_root`` live: in the cache, so that a
    killed run resumes in a new work tree on the same machine. ``<cache>/checkpoints/<key>/<profile>``, the key
    being ``reference`` for the committed results/ and ``<folder name>-<hash of its absolute path>`` otherwise."""
    import hashlib

    if is_reference(results_root):
        key = "reference"
    else:
        path = Path(results_root).expanduser().absolute()
        key = f"{path.name or 'root'}-{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"
    return cache_root() / "checkpoints" / key / profile


def is_reference(root: str | Path) -> bool:
    """Whether ``root`` is the committed reference root."""
    try:
        return Path(root).resolve() == REFERENCE_ROOT.resolve()
    except OSError:
        return False


def add_root_options(parser, what: str = "the report") -> None:
    """``--results DIR | --reference`` on a command that writes ``what`` under a results root (default this
    machine's runs root; ``--reference``: the committed results/, for maintainers)."""
    g = parser.add_mutually_exclusive_group()
    g.add_argument(
        "--results",
        default=None,
        metavar="DIR",
        help=f"results root of {what} (default ${RUNS_ENV} or runs/ in the repository: this machine's)",
    )
    g.add_argument(
        "--reference",
        action="store_true",
        help=f"write {what} to the committed reference results/ (maintainers refreshing the reference)",
    )


def chosen_root(args) -> Path:
    """The results root that ``add_root_options``' arguments name."""
    if getattr(args, "reference", False):
        return REFERENCE_ROOT
    return Path(args.results).expanduser() if getattr(args, "results", None) else runs_root()
