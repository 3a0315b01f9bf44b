"""Cells as members: the runs of an item that share a learner and its shapes train as ONE batched job.

    python papers/omar/table3.py --profile quick --group 48          # up to 48 (cell, seed) runs per job
    run_cells(cells, job, profile, group=48)                          # the same from Python

Today's batched learners already put seeds x agents on one leading member axis; a group puts several
(cell, seed) runs on it too, so that one update (one kernel per layer) trains them all: on a GPU, where a
run of 15 members leaves the device launch-bound, this is what fills it (docs/scaling.md).

What groups: runs whose ``Job.group_key(config)`` is equal and not None (common.running.offline.group_key_of: the
same learner, env, update / evaluation / checkpoint schedule and learner config, except the learner's per-member
fields such as ITD3's CQL alpha and OMAR tau, IQL's expectile and beta, MATD3+BC's alpha, BCQ's lambda and KL weight;
datasets, dataset kinds and seeds may differ). The learners that can stack are common.algos.GROUPABLE's (today
itd3, iql_continuous, matd3bc, bcq, mabcq, awac, td3bc, cast_bcq and icq_ma); jobs of their own may group too: OMAR
Figure 1's, OTC's offline stage and tuning, CAST-BCQ's SMAX learner, MOMA-PPO's model-based MAPPO. A group is one
learner with more members (common.algos.members: the runs' members and random streams side by side). In run order,
up to ``group`` such runs form one task (``plan_groups``); a run with a None key, or alone with
its key, is one task as without grouping. A task is one unit of every launcher (a Ray task too; a retried Ray
task skips the runs its killed attempt recorded: common.running.experiment.run_task_once).

What a group does (``run_group``): each run is first settled as ``run_one`` would (finished meanwhile:
skipped; an identical finished run: its record copied); the others train together (``Job.run_group``, e.g.
common.running.offline.offline_run_group, which builds and resumes each run's learner as alone and stacks them);
then every run gets its own Sacred run (its curve replayed into it) and its own record through the same
atomic append as a run alone, and its checkpoint is deleted. The record has the fields of the run alone's,
with ``wall_time_s`` the group's wall time shared equally among its runs, ``started`` the group's start, and
its own ``finished`` and Sacred run id; it does not say whether it was grouped. Its numbers are those of the
run alone: the same networks, rows, random numbers and hyperparameters, bit for bit where no kernel's rounding
depends on the member count, else to float rounding (one-member networks: docs/scaling.md), which long training
amplifies; tests/test_group_equals_alone.py says which for every groupable learner.

Failures and resume: a group that raises (e.g. one run's loss turned non-finite, which stops the whole
stacked learner) runs its runs alone instead, each resuming from its last checkpoint (the group's), so each
is recorded, or fails with its own reason, as it would alone. Checkpoints are each run's own, in the format
of a run alone, written together every ``ckpt_every`` updates: a killed group loses no finished record (its
runs are recorded only at its end, earlier groups' records are on disk) and its rerun, grouped or alone,
resumes every run from its last checkpoint.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any, Callable, Mapping, Sequence

from common.running.runtime import now, seed_everything

log = logging.getLogger("offmarl.grouping")

GROUP_LAUNCHERS = ("inline", "process", "ray")  # the launchers that run a group as one task (all)
Run = tuple[Any, int]  # (cell, seed)
# (run_id, status, reason), as common.running.experiment.run_one returns
Status = tuple[str, str, "str | None"]


def check_group(group: Any, launcher: str) -> int:
    """``group`` as an int if it is a valid group size for ``launcher``, else a ValueError naming the value and
    the allowed ones (before any side effect)."""
    if isinstance(group, bool) or not isinstance(group, int) or group < 1:
        raise ValueError(
            f"group {group!r}: give a positive integer, the most (cell, seed) runs per batched job "
            "(1: every run alone)"
        )
    if group > 1 and launcher not in GROUP_LAUNCHERS:
        raise ValueError(f"group {group} needs launcher {' or '.join(GROUP_LAUNCHERS)}, not {launcher!r}")
    return group


def plan_groups(
    todo: Sequence[Run], group_key: Callable[[Mapping[str, Any]], str | None] | None, group: int
) -> list[list[Run]]:
    """The tasks of ``todo``: runs with one ``group_key(cell.config)`` (not None) in tasks of at most ``group``
    runs, in the order of their first run; every other run a task of its own. ``group`` 1, or no
    ``group_key`` (a job that cannot group): one task per run, in order."""
    if group <= 1 or group_key is None:
        return [[run] for run in todo]
    tasks: list[list[Run]] = []
    open_task: dict[str, list[Run]] = {}  # key -> its task still taking runs
    for cell, seed in todo:
        key = group_key(cell.config)
        if key is None:
            tasks.append([(cell, seed)])
            continue
        task = open_task.get(key)
        if task is None or len(task) >= group:
            task = open_task[key] = []
            tasks.append(task)
        task.append((cell, seed))
    return tasks


def _replay(metrics: Mapping[str, Any], trained, ctx) -> Mapping[str, Any]:
    """A grouped run's ``compute`` for ``record``: its curve and resume step, computed in the group, into the
    run's own context, and the points it computed (not those restored from its checkpoint) into its Sacred
    run, as a run alone logs them."""
    resumed = trained.resumed_from_step
    for entry in trained.curve:
        ctx.curve.append(dict(entry))
        if resumed is None or entry["step"] > resumed:
            ctx.log_sacred(entry["step"], {k: v for k, v in entry.items() if k != "step"})
    ctx.resumed_from_step = trained.resumed_from_step
    ctx.earlier_segments = list(trained.earlier_segments)
    return metrics


def run_group(
    runs: Sequence[Run],
    train: Callable[[list], Sequence[Mapping[str, Any]]],
    *,
    run_id: Callable[[Any, int], str],
    settle: Callable[[Any, int], str | None],
    alone: Callable[[Any, int], Status],
    context: Callable[[Any, int], Any],
    record: Callable[..., Status],
) -> list[Status]:
    """Train the runs of one group as one batched job and record each (module docstring); a status per run, in
    order. The runner's steps come in as functions (common.running.experiment.run_task; this module is below it):
    ``settle(cell, seed)`` ("skipped", "reused" or None: to compute), ``alone(cell, seed)`` (run_one),
    ``context(cell, seed)`` (the run's RunContext), ``record(cell, seed, compute, started, wall_time_s)``
    (record_run); ``train([(cell, seed, ctx)]) -> metrics per run`` is the job's ``run_group``."""
    status: dict[str, Status] = {}
    todo = []
    for cell, seed in runs:
        settled = settle(cell, seed)
        if settled is None:
            todo.append((cell, seed))
        else:
            status[run_id(cell, seed)] = (run_id(cell, seed), settled, None)
    if len(todo) == 1:
        status[run_id(*todo[0])] = alone(*todo[0])
    elif todo:
        ctxs = [context(cell, seed) for cell, seed in todo]
        # as a run alone (the stacked learners seed themselves; nothing draws globally)
        seed_everything(todo[0][1])
        started, t0 = now(), time.time()
        try:
            metrics = list(train([(cell, seed, ctx) for (cell, seed), ctx in zip(todo, ctxs)]))
            if len(metrics) != len(todo):
                raise RuntimeError(f"run_group returned {len(metrics)} metrics for {len(todo)} runs")
        except Exception:  # noqa: BLE001 - each run then ends as it would alone, from its checkpoint
            log.warning(
                "a group of %d runs failed; running them alone (each resumes from its checkpoint):\n%s",
                len(todo),
                traceback.format_exc(),
            )
            metrics = None
        share = (time.time() - t0) / len(todo)  # the group's wall time, shared equally
        for k, (cell, seed) in enumerate(todo):
            status[run_id(cell, seed)] = (
                alone(cell, seed)
                if metrics is None
                else record(
                    cell,
                    seed,
                    lambda ctx, m=metrics[k], trained=ctxs[k]: _replay(m, trained, ctx),
                    started,
                    share,
                )
            )
    return [status[run_id(cell, seed)] for cell, seed in runs]
