"""The command line of a paper item script: ``main(...)`` parses the shared options, builds the grid for
the profile, runs it (common.running.experiment.run_cells), renders the item's report and exits 1 if a run
failed. Its options, and the ones every entry point that computes shares, are common.running.cli_args's."""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from common.running import launchers
from common.running.cli_args import make_parser, results_root_of
from common.running.experiment import Cell, Job, RunEnv, RunSummary, pending_runs, run_cells
from common.running.grouping import GROUP_LAUNCHERS
from common.running.profiles import PaperProfiles, Profile, get_profile
from common.running.records import record_item_blocked, record_item_run, records_path
from common.running.roots import REFERENCE_ROOT
from common.running.runtime import check_device, check_seeds, set_threads

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
    # each cell of the whole grid: its keys' canonical JSON
    grid_keys: list[str] = field(default_factory=list)
    # each planned cell's config (common.running.cost_model)
    configs: list[dict] = field(default_factory=list)
    # each run still to run: cell config, seed
    todo_runs: list[tuple[dict, int]] = field(default_factory=list)
    # common.running.cost_model.Prediction of the runs to run (common.running.item_schedule.predict)
    cost: Any = None

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


def main(
    description: str,
    build_cells: Callable[..., Sequence[Cell]],
    job: Job | Callable,
    paper: str,
    item: str,
    paper_overrides: PaperProfiles | None = None,
    argv: Sequence[str] | None = None,
    configure_parser: Callable[[argparse.ArgumentParser], None] | None = None,
    after: Callable[[argparse.Namespace, Profile, RunSummary], None] | None = None,
    default_seeds: Mapping[str, Sequence[int]] | None = None,
    reuse_from: Sequence[str] | None = None,
    select: Callable[[Sequence[Cell], argparse.Namespace], Sequence[Cell]] | None = None,
    needs: Callable[[], str | None] | None = None,
) -> RunSummary:
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
        _check_launch(args)
    except (ValueError, RuntimeError) as e:
        parser.error(str(e))
    set_threads(args.threads)
    args.results = str(results_root_of(args))
    t_start = time.time()
    profile = get_profile(args.profile, paper_overrides)
    lacking = needs() if needs is not None else None
    if lacking and _PLANS is not None:  # nothing runs; the grid's configs still go to the cost model
        _PLANS.append(
            ItemPlan(
                paper,
                item,
                needs=str(lacking),
                seeds=list(seeds or profile.seeds),
                configs=[c.config for c in build_cells(profile)],
            )
        )
        raise SystemExit(0)
    if lacking:
        record_item_blocked(args.results, profile.name, paper, item, lacking)
        print(
            f"[{paper}/{item}] cannot run yet: needs {lacking}. Nothing was run; the report shows the item as "
            f"'needs {lacking}'.",
            flush=True,
        )
        raise SystemExit(EXIT_NEEDS)
    grid = list(build_cells(profile))
    cells = grid if select is None else list(select(grid, args))
    seeds = seeds or list(profile.seeds)
    part = "" if len(cells) == len(grid) else f" of {len(grid)}"
    grouped = f" group={args.group}" if args.group > 1 else ""
    if _PLANS is not None:
        _PLANS.append(
            _item_plan(paper, item, grid, cells, seeds, RunEnv(profile, Path(args.results)), args.force)
        )
        raise SystemExit(0)
    print(
        f"[{paper}/{item}] profile={profile.name} seeds={seeds} cells={len(cells)}{part} launcher={args.launcher}"
        f"{grouped} threads={args.threads} results={args.results}",
        flush=True,
    )
    summary = run_cells(
        cells,
        job,
        profile,
        seeds=seeds,
        force=args.force,
        results_root=args.results,
        launcher=args.launcher,
        jobs=args.jobs,
        device=args.device,
        reuse_from=reuse_from,
        plan_cells=grid,
        address=args.address,
        group=args.group,
    )
    out = records_path(args.results, profile.name, paper, item)
    print(summary)
    print(f"[{paper}/{item}] profile={profile.name}: records in {out}", flush=True)
    if after is not None:
        after(args, profile, summary)
    if not args.no_report:
        _item_report(args.results, profile.name, paper, item)
    if summary.ran:
        record_item_run(
            args.results, profile.name, paper, item, time.time() - t_start, summary, args.threads, args.device
        )
    if not summary.ok:
        raise SystemExit(1)
    return summary


def _item_plan(
    paper: str, item: str, grid: list[Cell], cells: list[Cell], seeds: list[int], env: RunEnv, force: bool
) -> ItemPlan:
    """The plan of an item that can run: ``cells`` (of its whole ``grid``) x ``seeds``, and which of those runs
    have a finished record under ``env`` already (none with ``force``)."""
    todo = pending_runs(cells, seeds, env, force=force)
    runs = len(cells) * len(seeds)
    return ItemPlan(
        paper,
        item,
        len(cells),
        len(grid),
        list(seeds),
        runs,
        runs - len(todo),
        grid_keys=[c.keys_id() for c in grid],
        configs=[c.config for c in cells],
        todo_runs=[(c.config, s) for c, s in todo],
    )


def _check_launch(args: argparse.Namespace) -> None:
    """The launch options against each other and this machine (ValueError / RuntimeError naming the bad one):
    --group needs a launcher that groups, --address only with ray (whose cluster's devices count, not this
    machine's), --device present, --seeds valid."""
    if args.group > 1 and args.launcher not in GROUP_LAUNCHERS:
        raise ValueError(
            f"--group {args.group} needs --launcher {' or '.join(GROUP_LAUNCHERS)}, not --launcher "
            f"{args.launcher}; drop --group"
        )
    if args.launcher == "ray":  # the cluster's GPUs count, not this machine's; ray must be installed
        launchers.check_device(args.device)
        address = launchers.resolve_address(args.address)
        launchers.require_ray()
        launchers.check_reachable(address)
    else:
        check_device(args.device)
        if args.address is not None:
            raise ValueError(
                f"--address {args.address!r} is for --launcher ray (a Ray cluster), "
                f"not --launcher {args.launcher}"
            )
    if args.seeds is not None:
        check_seeds(args.seeds)


def _item_report(results: str, profile: str, paper: str, item: str) -> None:
    """Render the item's report beside the committed reference; a failure is logged, never raised (a report bug
    must not hide finished runs)."""
    try:
        from common.reporting import report

        md = report.write_item_report(results, profile, paper, item, reference_root=REFERENCE_ROOT)
        print(f"[{paper}/{item}] report: {md}")
    except Exception as e:  # noqa: BLE001
        log.warning("could not render the report for %s/%s: %r", paper, item, e)


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
                g.add_argument(
                    flags[key],
                    dest=key,
                    type=int,
                    action="append",
                    metavar="N",
                    help=f"only the cells with this {key.replace('_', ' ')} (repeatable)",
                )
            else:
                g.add_argument(
                    flags[key],
                    dest=key,
                    action="append",
                    choices=list(choices),
                    help=f"only this {key} (repeatable)",
                )

    def select(cells: Sequence[Cell], args: argparse.Namespace) -> list[Cell]:
        wanted = {k: getattr(args, k) for k in options if getattr(args, k, None)}
        for key, values in wanted.items():
            if options[key] is None:
                have = sorted({c.keys[key] for c in cells if key in c.keys})
                bad = sorted(set(values) - set(have))
                if bad:
                    raise SystemExit(
                        f"{label or 'item'}: {flags[key]} {bad} not in the {args.profile} grid; valid: {have}"
                    )
        out = [c for c in cells if all(k not in c.keys or c.keys[k] in v for k, v in wanted.items())]
        if cells and not out:
            grid = {k: sorted({str(c.keys[k]) for c in cells if k in c.keys}) for k in options}
            raise SystemExit(
                f"no cell of the grid passes {'/'.join(flags[k] for k in wanted)}; the grid has "
                + "; ".join(f"{k}: {', '.join(v)}" for k, v in grid.items() if v)
            )
        return out

    return {"configure_parser": configure, "select": select}
