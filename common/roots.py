"""Where results live: the committed reference and this machine's own runs.

- **Reference** (``results/`` in the repository, committed): the package's reference results, the
  records behind the published comparison. Only maintainers write there, explicitly
  (``--reference`` on a paper script, ``python -m common.report --reference``).
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

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_ROOT = REPO_ROOT / "results"
RUNS_ENV = "OFFMARL_RESULTS"


def runs_root() -> Path:
    """This machine's results root: ``$OFFMARL_RESULTS`` if set, else ``<repo>/runs``."""
    env = os.environ.get(RUNS_ENV)
    return Path(env).expanduser() if env else REPO_ROOT / "runs"


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
    g.add_argument("--results", default=None, metavar="DIR",
                   help=f"results root of {what} (default ${RUNS_ENV} or runs/ in the repository: this machine's)")
    g.add_argument("--reference", action="store_true",
                   help=f"write {what} to the committed reference results/ (maintainers refreshing the reference)")


def chosen_root(args) -> Path:
    """The results root that ``add_root_options``' arguments name."""
    if getattr(args, "reference", False):
        return REFERENCE_ROOT
    return Path(args.results).expanduser() if getattr(args, "results", None) else runs_root()
