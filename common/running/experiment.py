"""The experiment runner: cells x seeds -> one Sacred run and one JSON record each.

A paper script declares its grid as ``Cell``s and a ``Job`` (or a plain ``job_fn(cell, seed, ctx) ->
metrics``) and calls ``common.running.cli.main(...)`` (or ``run_cells``). For every (cell, seed) that has no
finished record yet, the runner

1. seeds python/numpy/torch (``seed_everything``) before the job builds anything;
2. runs the job inside a Sacred ``Experiment`` observed by a ``FileStorageObserver`` under
   ``<results>/<profile>/sacred/`` (config = cell config + seed + profile; curve via ``log_scalar``);
3. appends ONE record (common.running.records) to ``<results>/<profile>/<paper>/<item>.jsonl``;
4. deletes the run's checkpoint.

A run killed part-way leaves no record; its rerun resumes from the last ``ctx.save_checkpoint``.
A job that raises is logged with its traceback and reported in the returned ``RunSummary``; the
other cells still run. A non-finite final score is *recorded* (``score: null``, ``nonfinite``
lists the fields) because divergence is a result of the method, and counted in the summary.

Data identity: a ``Job`` that trains on a cached dataset says which one: ``data_spec(config) -> Mapping |
None`` (the dataset a cell trains on; records with equal specs train on the same data) and
``data_identity(spec) -> Mapping`` (``data_sha256``, ``data_identity`` where the card has one, ``dataset_size`` and ``ref_scores`` of the dataset in
the cache now, generating it if missing); the job returns the same fields in its metrics, so every record
carries them in ``extra``. Datasets are regenerated on a fresh machine and generation is not bit-identical
across CPUs, so before running, ``run_cells`` checks that the recorded runs of this item on each spec used
the data now in the cache, and raises ``DatasetMismatchError`` (naming the runs and both identities) rather
than mix two generations in one table; ``reuse_from`` copies a run only when its data match too.

Cells as members (``group=n``, ``--group n``): runs of equal ``Job.group_key`` train n at a time as ONE batched
job (``Job.run_group``), each still with its own Sacred run and record, that of the run alone up to float
rounding (common/running/grouping.py says which fields differ).

Launchers: ``inline`` (default, this process), ``process`` (``ProcessPoolExecutor`` with ``jobs``
spawned workers, each with the parent's torch thread count; the job must be importable, i.e. built from
module-level functions) and ``ray`` (each job a Ray task with one CPU per torch thread, and a GPU for
cuda, on the cluster at ``address``/``$RAY_ADDRESS`` or a new local instance; a task whose worker dies is
retried, resumes from its checkpoint and never records twice: ``run_once``; see common.running.launchers).

Every run of one call shares one ``RunEnv`` (common.running.runs: profile, results root, device, commit, thread
count, reuse and replace rules) and its view of the records (``RunEnv.seen``, common.running.store): an item's records
file is read once per call (per worker process), then only what was appended since, before each question (which runs
are finished, which finished run a run may copy, whether a retried Ray task's run was recorded by its earlier attempt).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from common.datasets.check import DATA_FIELDS, DatasetMismatchError, check_data, prepare_data, same_data  # noqa: F401
from common.running import launchers
from common.running.grouping import check_group, plan_groups, run_group
from common.running.job import Cell, Job, as_job  # noqa: F401 (re-exported: where they lived first)
from common.running.profiles import Profile, get_profile
from common.running.progress import failures_text, report_progress, reset_failures
from common.running.records import (  # noqa: F401
    canonical_json,
    config_hash,
    finished_set,
    latest_records,
    load_records,
    update_plan,
)
from common.running.roots import runs_root
from common.running.runs import (  # noqa: F401
    RunContext,
    RunEnv,
    build_record,
    find_identical_run,
    record_run,
    reused_record,
    settle_run,
)
from common.running.runtime import check_seeds, git_commit, worker_init

log = logging.getLogger("offmarl.experiment")

LAUNCHERS = ("inline", "process", "ray")
# set while run_all.sh plans (common.running.run_all): run_cells refuses to run
PLAN_ONLY_ENV = "OFFMARL_PLAN_ONLY"
Status = tuple[str, str, "str | None"]  # (run_id, status, reason): what every run ends with (``run_one``)


@dataclass
class RunSummary:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str | None]] = field(default_factory=list)  # (run_id, reason)
    nonfinite: list[str] = field(default_factory=list)  # recorded, but the score was NaN/inf
    reused: list[str] = field(default_factory=list)  # recorded as a copy of an identical earlier run
    # the sizes of the batched groups run (common.running.grouping)
    groups: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def add(self, results: Sequence[Status]) -> None:
        """Count each run's (run_id, status, reason)."""
        for rid, status, reason in results:
            if status == "failed":
                self.failed.append((rid, reason))
            elif status == "skipped":
                self.skipped.append(rid)
            else:
                self.ran.append(rid)
                if status == "reused":
                    self.reused.append(rid)
                if status == "nonfinite":
                    self.nonfinite.append(rid)

    def __str__(self) -> str:
        lines = [
            f"ran {len(self.ran)}, skipped {len(self.skipped)} (already finished), failed {len(self.failed)}"
        ]
        if self.reused:
            lines[0] += f"; {len(self.reused)} of those ran were copied from identical finished runs"
        if self.groups:
            lines[0] += f"; {sum(self.groups)} runs planned in {len(self.groups)} batched group(s)"
        if self.nonfinite:
            lines.append(f"non-finite scores recorded for: {', '.join(self.nonfinite)}")
        if self.failed:  # one block per distinct reason: a failure shared by many runs is said once
            lines.append(failures_text(self.failed))
        return "\n".join(lines)


def _recorded_meanwhile(cell: Cell, seed: int, env: RunEnv, recorded_before: int) -> str | None:
    """A Ray retry's check: the status of this run if it has more finished records than ``recorded_before`` (an
    earlier attempt recorded it before dying; its leftover checkpoint is deleted), else None (to run). The item's
    records are caught up first (``RunEnv.seen``), so a record appended by any process since is counted."""
    mine = env.seen.of_run(cell.paper, cell.item, env.own_key(cell, seed))
    if len(mine) <= recorded_before:
        return None
    env.checkpoint_path(cell, seed).unlink(missing_ok=True)
    return "reused" if mine[-1].get("reused_from") else "nonfinite" if mine[-1].get("nonfinite") else "ran"


def run_once(cell: Cell, seed: int, job: Job | Callable, env: RunEnv, recorded_before: int) -> Status:
    """``run_one`` for a task that may be a retry (Ray re-runs a task whose worker died): when this run has
    more finished records than ``recorded_before`` (the count when the driver planned it), an earlier
    attempt recorded it before dying, so nothing is run and its leftover checkpoint is deleted. Test-only
    fault points (common.running.launchers.fault_point) follow a checkpoint and the record."""
    return run_task_once([(cell, seed)], job, env, [recorded_before])[0]


def run_task_once(
    task: Sequence[tuple[Cell, int]], job: Job | Callable, env: RunEnv, recorded_before: Sequence[int]
) -> list[Status]:
    """``run_task`` (one run, or a group) as a Ray task that may be a retry: the runs an earlier attempt recorded
    (``_recorded_meanwhile``) are not run again; the others run as ``run_task`` runs them (a group of the rest
    resumes each run from its checkpoint). A status per run, in order."""
    job = as_job(job)
    status: dict[str, Status] = {}
    rest = []
    for (cell, seed), before in zip(task, recorded_before, strict=True):
        done = _recorded_meanwhile(cell, seed, env, before)
        if done is None:
            rest.append((cell, seed))
        else:
            status[env.run_id(cell, seed)] = (env.run_id(cell, seed), done, None)
    if rest:
        out = run_task(rest, launchers.with_fault_injection(job), env)
        status.update((o[0], o) for o in out)
        if any(o[1] in ("ran", "nonfinite", "reused") for o in out):  # a record was appended
            launchers.fault_point("record")
    return [status[env.run_id(cell, seed)] for cell, seed in task]


def run_one(cell: Cell, seed: int, job: Job | Callable, env: RunEnv) -> Status:
    """Run one (cell, seed) and append its record (``env.replace``, with ``--force``: in place of its run's earlier
    records, ``common.running.records.replace_record``). Returns (run_id, status, reason): status "ran", "nonfinite"
    (recorded with a null score), "skipped" (with ``env.reuse_from``: finished meanwhile, e.g. by another process on
    an overlapping grid), "reused" (an identical finished run's record copied; see ``run_cells``) or "failed"."""
    job = as_job(job)
    settled = settle_run(cell, seed, job, env)
    if settled is not None:
        return env.run_id(cell, seed), settled, None
    return record_run(cell, seed, env, lambda ctx: job.run(cell, seed, ctx))


def run_task(task: Sequence[tuple[Cell, int]], job: Job | Callable, env: RunEnv) -> list[Status]:
    """One task of ``run_cells`` (common.running.grouping.plan_groups): ``run_one`` for a run alone; for a group, its
    runs trained as one job (``job.run_group``) and recorded each by common.running.grouping.run_group, given these
    steps."""
    job = as_job(job)
    if len(task) == 1:
        out = [run_one(*task[0], job, env)]
    else:
        alone = dataclasses.replace(env, reuse_from=None)  # a group's run that fails over to running alone
        assert job.run_group is not None, "only a job with run_group plans tasks of several runs"
        out = run_group(
            task,
            job.run_group,
            run_id=env.run_id,
            settle=lambda c, s: settle_run(c, s, job, env),
            alone=lambda c, s: run_one(c, s, job, alone),
            context=env.context,
            record=lambda c, s, *rest: record_run(c, s, env, *rest),
        )
    report_progress(out)
    return out


def pending_runs(
    cells: Sequence[Cell], seeds: Sequence[int], env: RunEnv, force: bool = False
) -> list[tuple[Cell, int]]:
    """The (cell, seed) runs of ``cells`` x ``seeds`` without a finished record under ``env``'s profile and thread
    count (all of them with ``force``), in order."""
    return [
        (cell, seed)
        for cell in cells
        for seed in seeds
        if force or env.own_key(cell, seed) not in env.seen.finished(cell.paper, cell.item)
    ]


def _check_call(launcher: str, jobs: int, device: str, address: str | None, group: int) -> None:
    """``run_cells``' arguments that need no grid, checked before any side effect (a ValueError or RuntimeError
    naming the value and the allowed ones)."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"unknown launcher {launcher!r}; valid launchers: {', '.join(LAUNCHERS)}")
    check_group(group, launcher)
    if int(jobs) < 1:
        raise ValueError(f"jobs {jobs!r}: give a positive number of worker processes")
    if launcher == "ray":  # the address's form, ray installed, the device's form
        launchers.require_ray()
        launchers.check_device(device)
        launchers.check_reachable(launchers.resolve_address(address))
    elif address is not None:
        raise ValueError(f"address {address!r} is for launcher='ray' (a Ray cluster), not {launcher!r}")


def _run_in_processes(
    tasks: Sequence[Sequence[tuple[Cell, int]]], job: Job, env: RunEnv, jobs: int
) -> list[Status]:
    """Each task in one of ``jobs`` spawned worker processes, each with the driver's torch thread count; a worker
    that died fails each run of its task with its reason."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    results: list[Status] = []
    ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=ctx, initializer=worker_init, initargs=(env.threads, os.getpid())
    ) as pool:
        futs = [pool.submit(run_task, task, job, env) for task in tasks]
        for task, f in zip(tasks, futs):
            try:
                results.extend(f.result())
            except Exception as e:  # the worker itself died (e.g. killed, unpicklable job)
                log.error("worker for %s failed: %r", [env.run_id(c, s) for c, s in task], e)
                died = [(env.run_id(c, s), "failed", f"{type(e).__name__}: {e}") for c, s in task]
                report_progress(died)
                results += died
    return results


def _run_on_ray(
    tasks: Sequence[Sequence[tuple[Cell, int]]], job: Job, env: RunEnv, address: str | None
) -> list[Status]:
    """Each task (a run, or a group) a Ray task that knows how many records each of its runs had when planned, so
    that a retry never records twice (``run_task_once``); a task failed for good fails each of its runs."""
    from common.datasets.card import data_root

    calls = [
        (
            run_task_once,
            (task, job, env, [len(env.seen.of_run(c.paper, c.item, env.own_key(c, s))) for c, s in task]),
        )
        for task in tasks
    ]
    labels = [" + ".join(env.run_id(c, s) for c, s in task) for task in tasks]
    out = launchers.run_ray(
        calls,
        labels,
        threads=env.threads,
        device=env.device,
        address=address,
        env={"OFFMARL_DATA": str(data_root())},
        git=env.git,
    )
    results: list[Status] = []
    for task, res in zip(tasks, out):
        failed = isinstance(res, tuple) and len(res) == 3 and res[1] == "failed"
        if failed:
            report_progress([(env.run_id(c, s), "failed", res[2]) for c, s in task])
        results += [(env.run_id(c, s), "failed", res[2]) for c, s in task] if failed else list(res)
    return results


def run_cells(
    cells: Sequence[Cell],
    job: Job | Callable,
    profile: Profile | str,
    seeds: Sequence[int] | None = None,
    force: bool = False,
    results_root: str | Path | None = None,
    launcher: str = "inline",
    jobs: int = 1,
    device: str = "cpu",
    reuse_from: Sequence[str] | None = None,
    plan_cells: Sequence[Cell] | None = None,
    address: str | None = None,
    group: int = 1,
) -> RunSummary:
    """Run every (cell, seed) that has no finished record (all of them if ``force``).

    A finished record matches paper, item, keys, seed, profile, config hash and thread count. ``profile``: the
    script's ``Profile`` (a base profile's name only where no paper settings are needed: tests, sketches).

    ``reuse_from`` (items of the same paper whose runs used this same job): a (cell, seed)
    whose exact config, seed, profile and device already ran, under other keys of this item or in
    one of those items, is not run again; that record is copied under this cell's keys with
    ``reused_from`` naming the original run (valid because a run is a deterministic function of
    (job, config, seed): the tests check that the same seed gives identical records). None
    (default) never reuses; ``--force`` never reuses.

    ``plan_cells``: the item's whole grid when ``cells`` is only part of it (a script's grid
    filters); the plan file, the report's "done k/m", records the whole grid so that a partial run
    reads as partial. None (default): ``cells`` is the whole grid.

    ``address`` (``launcher="ray"`` only): the Ray cluster, checked before anything is written (see
    common.running.launchers: HOST:PORT, auto or local; None: ``$RAY_ADDRESS``, else a new local instance).

    ``group``: up to this many runs of one ``job.group_key`` train as one batched job, one task of any launcher
    (a Ray task too: common.running.grouping); 1 (default): every run alone.
    """
    if os.environ.get(PLAN_ONLY_ENV):  # run_all.sh plans items in one process: an item must plan, not run
        raise RuntimeError(
            f"${PLAN_ONLY_ENV} is set: planning only, nothing runs (an item script that plans through "
            "common.running.cli.main never gets here)"
        )
    if isinstance(profile, str):
        profile = get_profile(profile)
    _check_call(launcher, jobs, device, address, group)
    seeds = check_seeds(profile.seeds if seeds is None else seeds)  # before any side effect
    if plan_cells is None:
        plan_cells = cells
    else:
        grid = {(c.paper, c.item, c.keys_id()) for c in plan_cells}
        outside = [c.keys for c in cells if (c.paper, c.item, c.keys_id()) not in grid]
        if outside:
            raise ValueError(f"plan_cells must hold every cell to run; not in it: {outside}")
    env = RunEnv(
        profile,
        runs_root() if results_root is None else Path(results_root),
        device,
        git_commit(),
        reuse_from=None if force or reuse_from is None else tuple(reuse_from),
        replace=force,
    )
    update_plan(env.results_root, profile.name, plan_cells, seeds)
    reset_failures()

    summary = RunSummary()
    todo = pending_runs(cells, seeds, env, force)
    pending = {(id(c), s) for c, s in todo}
    summary.skipped += [env.run_id(c, s) for c in cells for s in seeds if (id(c), s) not in pending]

    job = as_job(job)
    check_data(todo, job, env.results_root, profile.name, force)
    tasks = plan_groups(todo, job.group_key, group)  # one run per task, or the runs of a group
    summary.groups = [len(t) for t in tasks if len(t) > 1]
    # datasets made here first, once each: never twice by two workers at once (ray: on this node; its cache must be
    # shared with the workers)
    if todo and (launcher != "inline" or group > 1):
        prepare_data(todo, job)
    if launcher == "inline" or not todo:
        summary.add([r for task in tasks for r in run_task(task, job, env)])
    elif launcher == "process":
        summary.add(_run_in_processes(tasks, job, env, jobs))
    else:
        summary.add(_run_on_ray(tasks, job, env, address))
    if summary.failed:
        log.error("%s", failures_text(summary.failed, tracebacks=True))
    return summary
