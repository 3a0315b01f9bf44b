"""The command line of a paper item script: ``main(...)`` parses the shared options, builds the grid for
the profile, runs it (common.running.experiment.run_cells), renders the item's report and exits 1 if a run
failed; ``add_common_options`` gives every entry point that computes ``--threads`` and ``--results`` /
``--reference``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from common.running import launchers
from common.running.experiment import LAUNCHERS, Cell, Job, RunEnv, RunSummary, pending_runs, run_cells
from common.running.grouping import GROUP_LAUNCHERS
from common.running.profiles import PROFILE_NAMES, PaperProfiles, Profile, get_profile
from common.running.records import record_item_blocked, record_item_run, records_path
from common.running.roots import REFERENCE_ROOT, RUNS_ENV, runs_root
from common.running.runtime import DEVICES, MAX_SEED, check_device, check_seeds, set_threads

log = logging.getLogger("offmarl.cli")
EXIT_NEEDS = 3  # exit status of an item script whose ``needs()`` is unmet (run_all.sh: "needs", not "FAILED")


@dataclass
class ItemPlan:
    """What one invocation of an item script would run (``planning``): its cells and seeds, how many of those runs
    have a finished record already (skipped unless ``--force``), or what the item still needs to run."""

    paper: str
    item: str
    cells: int = 0  # the cells this invocation runs (a grid filter may pick part of the grid)
    grid: int = 0  # the item's whole grid at this profile
    seeds: list[int] = field(default_factory=list)
    runs: int = 0  # cells x seeds
    done: int = 0  # of those, finished already (0 with --force)
    needs: str | None = None  # set: nothing runs (the item's needs())
    grid_keys: list[str] = field(default_factory=list)  # each cell of the whole grid: its keys' canonical JSON
    configs: list[dict] = field(default_factory=list)  # each planned cell's config (common.running.cost_model)
    todo_runs: list[tuple[dict, int]] = field(default_factory=list)  # each run still to run: cell config, seed
    cost: Any = None  # common.running.cost_model.Prediction of the runs to run (common.running.item_schedule.predict)

    @property
    def todo(self) -> int:
        return self.runs - self.done


_PLANS: list[ItemPlan] | None = None  # set by ``planning``: main() plans, runs nothing


@contextlib.contextmanager
def planning():
    """Within: ``main`` checks its arguments, builds the grid, appends an ``ItemPlan`` to the yielded list and exits
    (``SystemExit(0)``) before running or writing anything. ``run_all.sh`` plans every item in one process this way."""
    global _PLANS
    before, _PLANS = _PLANS, []
    try:
        yield _PLANS
    finally:
        _PLANS = before


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


def json_overrides(cls: type, flag: str) -> Callable[[str], dict[str, Any]]:
    """An argparse ``type`` for ``flag``: a JSON object whose keys are fields of the dataclass ``cls`` (probes'
    ``--mappo``, ``--world-model``); bad JSON or an unknown field is an error naming it and the allowed fields."""
    import dataclasses
    import json

    allowed = sorted(f.name for f in dataclasses.fields(cls))

    def parse(text: str) -> dict[str, Any]:
        try:
            over = json.loads(text)
        except json.JSONDecodeError as e:
            raise argparse.ArgumentTypeError(f"{flag} must be a JSON object, got {text!r} ({e})") from None
        if not isinstance(over, dict):
            raise argparse.ArgumentTypeError(f"{flag} must be a JSON object, got {text!r}")
        bad = sorted(set(over) - set(allowed))
        if bad:
            raise argparse.ArgumentTypeError(f"{flag}: unknown {cls.__name__} field(s) {bad}; allowed: "
                                             f"{', '.join(allowed)}")
        return over
    return parse


def add_common_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every entry point that computes shares: ``--threads``, and where results go
    (``--results DIR`` / ``--reference``; default this machine's runs root, see common.running.roots)."""
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
    p.add_argument("--group", type=_positive_int("group"), default=1, metavar="N",
                   help="train up to N (cell, seed) runs that share a learner and its shapes as ONE batched job "
                        "(members = runs x agents; datasets, seeds and per-member hyperparameters may differ), one "
                        "task of --launcher inline or process. Records as the runs alone's up to float rounding, "
                        "which long training amplifies (docs/scaling.md). Default 1: every run alone")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="Ray cluster for --launcher ray: HOST:PORT of its head (as `ray start --head` prints), auto "
                        "(the cluster started on this machine) or local (a new one-machine instance); default "
                        "$RAY_ADDRESS, else local. The results root and dataset cache must be on a filesystem "
                        "shared by every node, at the same paths")
    add_common_options(p)
    p.add_argument("--no-report", action="store_true", help="do not regenerate this item's .md afterwards")
    return p


def main(description: str, build_cells: Callable[..., Sequence[Cell]], job: Job | Callable, paper: str,
         item: str, paper_overrides: PaperProfiles | None = None, argv: Sequence[str] | None = None,
         configure_parser: Callable[[argparse.ArgumentParser], None] | None = None,
         after: Callable[[argparse.Namespace, Profile, RunSummary], None] | None = None,
         default_seeds: Mapping[str, Sequence[int]] | None = None,
         reuse_from: Sequence[str] | None = None,
         select: Callable[[Sequence[Cell], argparse.Namespace], Sequence[Cell]] | None = None,
         needs: Callable[[], str | None] | None = None) -> RunSummary:
    """Entry point of a paper script: parse args, build the grid for the profile, run, report.

    ``build_cells(profile)`` returns the item's whole grid; a script with grid filters adds its
    options with ``configure_parser(parser)`` and picks the part to run with ``select(cells, args)``
    (the plan, the report's "done k/m", still records the whole grid: see ``run_cells``'s
    ``plan_cells``). ``paper_overrides`` is the paper's ``PaperProfiles`` (its config.py: the profiles' overrides
    and its typed settings, common.running.profiles); the one ``Profile`` built from it and ``--profile`` goes to
    ``build_cells``, the runner and every job (``ctx.profile``). ``after(args, profile, summary)`` runs once the
    cells are done and before the report (figures: plots and claim verdicts). ``default_seeds``
    maps a profile name to this item's seeds when ``--seeds`` is not given (else the profile's seeds).
    ``reuse_from``: items of this paper run by the same job whose identical runs are copied
    instead of re-run (see ``run_cells``).
    ``needs()`` returns what the item still lacks on this installation (e.g. "SMAX": environments not built
    yet), or None: then nothing runs, the plan file says so (the report shows "needs ...") and the script
    exits with status EXIT_NEEDS (``run_all.sh`` lists it apart from failures).
    Exits with status 1 when a run failed.
    """
    parser = make_parser(description)
    if configure_parser is not None:
        configure_parser(parser)
    args = parser.parse_args(argv)
    # every argument is checked before anything is written (plan files, records, datasets)
    seeds = args.seeds if args.seeds is not None else list((default_seeds or {}).get(args.profile) or [])
    try:
        if args.group > 1 and args.launcher not in GROUP_LAUNCHERS:
            raise ValueError(f"--group {args.group} needs --launcher {' or '.join(GROUP_LAUNCHERS)}, not --launcher "
                             f"{args.launcher}; drop --group")
        if args.launcher == "ray":  # the cluster's GPUs count, not this machine's; ray must be installed
            launchers.check_device(args.device)
            address = launchers.resolve_address(args.address)
            launchers.require_ray()
            launchers.check_reachable(address)
        else:
            check_device(args.device)
            if args.address is not None:
                raise ValueError(f"--address {args.address!r} is for --launcher ray (a Ray cluster), "
                                 f"not --launcher {args.launcher}")
        if args.seeds is not None:
            check_seeds(args.seeds)
    except (ValueError, RuntimeError) as e:
        parser.error(str(e))
    set_threads(args.threads)
    args.results = str(results_root_of(args))
    t_start = time.time()
    profile = get_profile(args.profile, paper_overrides)
    lacking = needs() if needs is not None else None
    if lacking and _PLANS is not None:  # nothing runs; the grid's configs still go to the cost model
        _PLANS.append(ItemPlan(paper, item, needs=str(lacking), seeds=list(seeds or profile.seeds),
                               configs=[c.config for c in build_cells(profile)]))
        raise SystemExit(0)
    if lacking:
        record_item_blocked(args.results, profile.name, paper, item, lacking)
        print(f"[{paper}/{item}] cannot run yet: needs {lacking}. Nothing was run; the report shows the item as "
              f"'needs {lacking}'.", flush=True)
        raise SystemExit(EXIT_NEEDS)
    grid = list(build_cells(profile))
    cells = grid if select is None else list(select(grid, args))
    seeds = seeds or list(profile.seeds)
    part = "" if len(cells) == len(grid) else f" of {len(grid)}"
    grouped = f" group={args.group}" if args.group > 1 else ""
    if _PLANS is not None:
        todo = pending_runs(cells, seeds, RunEnv(profile, Path(args.results)), force=args.force)
        _PLANS.append(ItemPlan(paper, item, len(cells), len(grid), list(seeds), len(cells) * len(seeds),
                               len(cells) * len(seeds) - len(todo), grid_keys=[c.keys_id() for c in grid],
                               configs=[c.config for c in cells], todo_runs=[(c.config, s) for c, s in todo]))
        raise SystemExit(0)
    print(f"[{paper}/{item}] profile={profile.name} seeds={seeds} cells={len(cells)}{part} launcher={args.launcher}"
          f"{grouped} threads={args.threads} results={args.results}", flush=True)
    summary = run_cells(cells, job, profile, seeds=seeds, force=args.force, results_root=args.results,
                        launcher=args.launcher, jobs=args.jobs, device=args.device, reuse_from=reuse_from,
                        plan_cells=grid, address=args.address, group=args.group)
    out = records_path(args.results, profile.name, paper, item)
    print(summary)
    print(f"[{paper}/{item}] profile={profile.name}: records in {out}", flush=True)
    if after is not None:
        after(args, profile, summary)
    if not args.no_report:
        try:
            from common.reporting import report
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


def grid_filters(options: Mapping[str, Sequence[Any] | None], label: str = "") -> dict[str, Callable]:
    """``configure_parser`` and ``select`` for ``main`` that run part of an item's grid: one repeatable
    option ``--<key>`` (underscores as dashes) per grid key of ``options``. A key mapped to a list of
    choices checks values with argparse; a key mapped to None takes integers, checked against the grid
    (a value not in it is an error naming the valid ones). A cell without the key is never filtered out;
    a selection that leaves no cell is an error naming the grid. The plan still records the whole grid."""
    flags = {k: "--" + k.replace("_", "-") for k in options}

    def configure(parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("grid filters (default: the whole grid)")
        for key, choices in options.items():
            if choices is None:
                g.add_argument(flags[key], dest=key, type=int, action="append", metavar="N",
                               help=f"only the cells with this {key.replace('_', ' ')} (repeatable)")
            else:
                g.add_argument(flags[key], dest=key, action="append", choices=list(choices),
                               help=f"only this {key} (repeatable)")

    def select(cells: Sequence[Cell], args: argparse.Namespace) -> list[Cell]:
        wanted = {k: getattr(args, k) for k in options if getattr(args, k, None)}
        for key, values in wanted.items():
            if options[key] is None:
                have = sorted({c.keys[key] for c in cells if key in c.keys})
                bad = sorted(set(values) - set(have))
                if bad:
                    raise SystemExit(f"{label or 'item'}: {flags[key]} {bad} not in the {args.profile} grid; "
                                     f"valid: {have}")
        out = [c for c in cells if all(k not in c.keys or c.keys[k] in v for k, v in wanted.items())]
        if cells and not out:
            grid = {k: sorted({str(c.keys[k]) for c in cells if k in c.keys}) for k in options}
            raise SystemExit(f"no cell of the grid passes {'/'.join(flags[k] for k in wanted)}; the grid has "
                             + "; ".join(f"{k}: {', '.join(v)}" for k, v in grid.items() if v))
        return out

    return {"configure_parser": configure, "select": select}
