"""The command-line options of the package's entry points: ``make_parser`` builds a paper item script's parser (the
options ``common.running.cli.main`` reads), ``add_common_options`` gives every entry point that computes
``--threads`` and ``--results`` / ``--reference``, ``results_root_of`` reads the latter, and ``json_overrides``
types a JSON option of a config dataclass's fields. Each option type rejects a bad value with a message naming it
and the allowed ones."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Iterable

from common.running.experiment import LAUNCHERS
from common.running.profiles import PROFILE_NAMES
from common.running.roots import REFERENCE_ROOT, RUNS_ENV, runs_root
from common.running.runtime import DEVICES, MAX_SEED


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} {text!r} is not an integer; give a positive integer"
            ) from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"{name} {v} must be a positive integer")
        return v

    return parse


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seed {text!r} is not an integer; seeds are integers in [0, {MAX_SEED}]"
        ) from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed {v} is out of range; seeds are integers in [0, {MAX_SEED}]")
    return v


def check_fields(cls: type, keys: Iterable[str], what: str) -> None:
    """One ValueError if ``keys`` holds a name that is not a field of the dataclass ``cls``, naming the bad names and
    the allowed ones (``what`` says where they came from: a flag)."""
    import dataclasses

    allowed = sorted(f.name for f in dataclasses.fields(cls))
    bad = sorted(set(keys) - set(allowed))
    if bad:
        raise ValueError(f"{what}: unknown {cls.__name__} field(s) {bad}; allowed: {', '.join(allowed)}")


def json_overrides(cls: type, flag: str) -> Callable[[str], dict[str, Any]]:
    """An argparse ``type`` for ``flag``: a JSON object whose keys are fields of the dataclass ``cls`` (probes'
    ``--mappo``, ``--world-model``); bad JSON or an unknown field is an error naming it and the allowed fields."""
    import json

    def parse(text: str) -> dict[str, Any]:
        try:
            over = json.loads(text)
        except json.JSONDecodeError as e:
            raise argparse.ArgumentTypeError(f"{flag} must be a JSON object, got {text!r} ({e})") from None
        if not isinstance(over, dict):
            raise argparse.ArgumentTypeError(f"{flag} must be a JSON object, got {text!r}")
        try:
            check_fields(cls, over, flag)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return over

    return parse


def add_common_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every entry point that computes shares: ``--threads``, and where results go
    (``--results DIR`` / ``--reference``; default this machine's runs root, see common.running.roots)."""
    p.add_argument(
        "--threads",
        type=_positive_int("threads"),
        default=1,
        help="torch threads of this process and of each worker (default 1; part of a run's identity: "
        "records made with different thread counts are kept apart)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--results",
        default=None,
        metavar="DIR",
        help=f"results root (default ${RUNS_ENV} or runs/ in the repository: this machine's runs)",
    )
    where.add_argument(
        "--reference",
        action="store_true",
        help="write to the committed reference results/ (maintainers refreshing the reference)",
    )
    return p


def results_root_of(args: argparse.Namespace) -> Path:
    """The results root chosen by ``add_common_options``' options."""
    if getattr(args, "reference", False):
        return REFERENCE_ROOT
    return Path(args.results) if getattr(args, "results", None) else runs_root()


def make_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--profile",
        default="quick",
        choices=PROFILE_NAMES,
        help="smoke (CI), quick (one small machine) or full (the paper's protocol); default quick",
    )
    p.add_argument(
        "--seeds", type=_seed, nargs="+", default=None, help="seeds to run (default: the profile's)"
    )
    p.add_argument("--force", action="store_true", help="re-run cells that already have a record")
    p.add_argument(
        "--device", default="cpu", help=f"torch device for the jobs: {', '.join(DEVICES)} (default cpu)"
    )
    p.add_argument("--launcher", default="inline", choices=LAUNCHERS, help="where jobs run (default inline)")
    p.add_argument(
        "--jobs", type=_positive_int("jobs"), default=1, help="worker processes for --launcher process"
    )
    p.add_argument(
        "--group",
        type=_positive_int("group"),
        default=1,
        metavar="N",
        help="train up to N (cell, seed) runs that share a learner and its shapes as ONE batched job "
        "(members = runs x agents; datasets, seeds and per-member hyperparameters may differ), one "
        "task of --launcher inline or process. Records as the runs alone's up to float rounding, "
        "which long training amplifies (docs/scaling.md). Default 1: every run alone",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="Ray cluster for --launcher ray: HOST:PORT of its head (as `ray start --head` prints), auto "
        "(the cluster started on this machine) or local (a new one-machine instance); default "
        "$RAY_ADDRESS, else local. The results root and dataset cache must be on a filesystem "
        "shared by every node, at the same paths",
    )
    add_common_options(p)
    p.add_argument("--no-report", action="store_true", help="do not regenerate this item's .md afterwards")
    return p
