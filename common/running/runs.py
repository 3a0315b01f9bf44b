"""One run of the experiment runner (common.running.experiment): the environment every run of a ``run_cells`` call
shares (``RunEnv``), a run's context, its Sacred run and record, and the reuse of an identical finished run.

``record_run`` seeds, runs ``compute(ctx)`` inside the run's own Sacred run, builds the record (``build_record``)
and appends it (or, with ``--force``, replaces its run's earlier record: ``common.running.records.replace_record``),
then deletes the run's checkpoint; a run that raises ends as a ``common.running.progress.RunFailure``. ``settle_run``
finds a run that needs no computing: finished meanwhile ("skipped") or identical to a finished run ("reused", its
record copied). Both read the item's records through ``RunEnv.seen`` (common.running.store: each file read once, then
only what was appended). common.running.experiment re-exports these names.
"""

from __future__ import annotations

import logging
import math
import socket
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from common.datasets.check import same_data
from common.running.profiles import Profile
from common.running.progress import failure
from common.running.records import (
    SCHEMA_VERSION,
    append_record,
    atomic_torch_save,
    canonical_json,
    record_threads,
    records_path,
    replace_record,
    to_jsonable,
)
from common.running.roots import checkpoints_root
from common.running.runtime import cpu_model, current_threads, now, seed_everything, versions
from common.running.store import SeenRecords, seen_records

if TYPE_CHECKING:
    from common.running.job import Cell, Job

log = logging.getLogger("offmarl.experiment")


@dataclass(frozen=True)
class RunEnv:
    """What every run of one ``run_cells`` call shares: the profile, where records and checkpoints go, the device,
    the commit the records name, the thread count (part of a run's identity), the reuse and replace rules, and the
    records seen so far (``seen``: common.running.store, this process's view: each file read once, caught up before
    each question)."""

    profile: Profile
    results_root: Path  # <root>/<profile>/<paper>/<item>.jsonl (common.running.records)
    device: str = "cpu"  # torch device of the jobs
    git: Mapping[str, Any] | None = None  # the commit the records name (common.running.runtime.git_commit)
    threads: int = field(default_factory=current_threads)  # torch threads of each run: part of its identity
    reuse_from: tuple[str, ...] | None = None  # items whose identical finished runs are copied (None: never)
    # --force: a run's record replaces its run's earlier records instead of adding to them
    replace: bool = False
    seen: SeenRecords = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.profile, Profile):
            raise TypeError(
                f"RunEnv.profile must be a Profile (common.running.profiles.get_profile), got "
                f"{self.profile!r}"
            )
        object.__setattr__(self, "results_root", Path(self.results_root))
        if self.reuse_from is not None:
            object.__setattr__(self, "reuse_from", tuple(self.reuse_from))
        object.__setattr__(self, "seen", seen_records(self.results_root, self.profile.name))

    def run_id(self, cell: Cell, seed: int) -> str:
        return cell.run_id(self.profile.name, seed)

    def own_key(self, cell: Cell, seed: int) -> tuple:
        """The identity of a finished run of (cell, seed) here (``common.running.records.finished_set``'s tuple)."""
        return cell.paper, cell.item, cell.keys_id(), seed, self.profile.name, cell.config_hash, self.threads

    def checkpoint_path(self, cell: Cell, seed: int) -> Path:
        """``<checkpoints_root(results, profile)>/<paper>/<item>/<keys>/seed<k>/<config hash>.pt`` (user cache)."""
        parts = self.run_id(cell, seed).split("/")[1:]
        return (
            checkpoints_root(self.results_root, self.profile.name) / Path(*parts) / f"{cell.config_hash}.pt"
        )

    def records_path(self, cell: Cell) -> Path:
        return records_path(self.results_root, self.profile.name, cell.paper, cell.item)

    def context(self, cell: Cell, seed: int, sacred_run=None) -> RunContext:
        """What the job of (cell, seed) sees."""
        return RunContext(
            seed,
            self.profile,
            self.device,
            self.checkpoint_path(cell, seed),
            self.run_id(cell, seed),
            sacred_run,
            threads=self.threads,
        )


CHECKPOINT_WALL_S = 600.0  # a long run checkpoints at least this often (RunContext.checkpoint_due)


class RunContext:
    """What a job sees: seed, profile, device, checkpointing, logging and a progress bar."""

    def __init__(
        self,
        seed: int,
        profile: Profile,
        device: str,
        checkpoint_path: Path,
        run_id: str,
        sacred_run=None,
        threads: int | None = None,
    ):
        self.seed = seed
        self.threads = threads
        self.profile = profile
        self.device = device
        # <cache>/checkpoints/<root>/<profile>/<paper>/.../seed<k>/<hash>.pt
        self.checkpoint_path = checkpoint_path
        self.run_id = run_id
        self.curve: list[dict[str, Any]] = []  # filled by log(); restored from a checkpoint
        self.resumed_from_step: int | None = None
        # the machines of the segments before this one (from the checkpoint; ``segments``)
        self.earlier_segments: list[dict[str, Any]] = []
        self._sacred_run = sacred_run
        self._saved_at = time.monotonic()  # the start, then the last checkpoint (checkpoint_due's clock)

    def log(self, step: int, **scalars: Any) -> None:
        """Append ``{"step": step, **scalars}`` to the curve and log each scalar to Sacred (a list: one per entry)."""
        entry = {"step": int(step), **{k: to_jsonable(v) for k, v in scalars.items()}}
        self.curve.append(entry)
        self.log_sacred(step, scalars)

    def log_sacred(self, step: int, scalars: Mapping[str, Any]) -> None:
        """Log each scalar to this run's Sacred run, if any (``log``; a group's runs replay their curves)."""
        if self._sacred_run is not None:
            for k, v in scalars.items():
                if isinstance(v, (list, tuple)):  # per-agent values: Sacred takes scalars, one per name
                    for i, x in enumerate(v):
                        self._sacred_run.log_scalar(
                            f"{k}_{i}", float(x) if x is not None else float("nan"), int(step)
                        )
                    continue
                self._sacred_run.log_scalar(k, float(v) if v is not None else float("nan"), int(step))

    def save_checkpoint(self, obj: Any, step: int | None = None) -> None:
        """``torch.save`` ``obj`` (with the curve so far) atomically (``common.running.records.atomic_torch_save``)."""
        blob = {"user": obj, "curve": list(self.curve), "step": step, "segments": self.segments()}
        atomic_torch_save(blob, self.checkpoint_path)
        self._saved_at = time.monotonic()

    def segments(self) -> list[dict[str, Any]]:
        """Where each segment of this run was computed: ``{"from_step", "cpu", "threads", "device"}`` per segment,
        the earlier ones as their checkpoints recorded them, then this one (a checkpoint without segments, written
        before the field, gives one segment from step 0 whose machine is unknown: ``None``). Results are identical
        on one CPU type, not across types, so a run resumed on another CPU type or thread count says so here."""
        here = {"from_step": self.resumed_from_step or 0, "cpu": cpu_model(), "threads": self.threads}
        return [*self.earlier_segments, {**here, "device": self.device}]

    def checkpoint_due(self, step: int, every: int, last: int) -> bool:
        """Whether a loop at ``step`` (of ``last``) checkpoints now: every ``every`` steps (the cell config's
        ``ckpt_every``) and, between those, once ``CHECKPOINT_WALL_S`` seconds have passed since this run's last
        checkpoint (or its start), so a kill loses at most about that much work whatever the steps cost. Never at
        ``last``: the record follows. A job whose state is whole at every step may checkpoint at any step: its
        resumed run equals the uninterrupted one (tests/test_checkpoint_clock.py)."""
        if step >= last:
            return False
        return step % every == 0 or time.monotonic() - self._saved_at >= CHECKPOINT_WALL_S

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
        self.earlier_segments = list(
            blob.get("segments") or [{"from_step": 0, "cpu": None, "threads": None, "device": None}]
        )
        log.info("%s: resuming from checkpoint (step %s)", self.run_id, step)
        return blob["user"]

    def progress(self, total: int, desc: str | None = None):
        """The run's progress bar (common.running.progress.progress_bar: tqdm on a terminal, a line every 10
        minutes in a log, nothing under ``$CI``)."""
        from common.running.progress import progress_bar

        return progress_bar(total, f"{self.run_id}: {desc}" if desc else self.run_id)


_RESERVED = {"score", "normalized", "curve"}


def build_record(
    cell: Cell,
    seed: int,
    env: RunEnv,
    metrics: Mapping[str, Any],
    ctx: RunContext,
    started: str,
    t0: float,
    sacred_id: Any,
    wall_time_s: float | None = None,
) -> dict[str, Any]:
    """The record of a finished run (its schema: common.running.records): identity, scores, curve, the job's other
    metrics as ``extra`` (a non-finite score recorded as null and named in ``nonfinite``), config, profile, and where
    and when it ran."""
    if not isinstance(metrics, Mapping) or "score" not in metrics:
        raise TypeError(f"a job must return a dict with at least 'score', got {metrics!r}")
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
        "run_id": env.run_id(cell, seed),
        "paper": cell.paper,
        "item": cell.item,
        "keys": to_jsonable(cell.keys),
        "method": to_jsonable(cell.keys.get("method")),
        "seed": seed,
        "profile": env.profile.name,
        "score": vals["score"],
        "normalized": vals["normalized"],
        "curve": to_jsonable(curve),
        "extra": to_jsonable({k: v for k, v in metrics.items() if k not in _RESERVED}),
        "nonfinite": nonfinite,
        "wall_time_s": round(time.time() - t0 if wall_time_s is None else wall_time_s, 3),
        "config": to_jsonable(cell.config),
        "config_hash": cell.config_hash,
        "profile_settings": env.profile.to_dict(),
        "git_commit": env.git,
        "sacred_run_id": sacred_id,
        "started": started,
        "finished": now(),
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        "device": env.device,
        "threads": env.threads,
        "resumed_from_step": ctx.resumed_from_step,
        "versions": versions(),
        # a resumed run: the machine of each segment (RunContext.segments); a run in one piece has none
        **({"segments": ctx.segments()} if ctx.resumed_from_step is not None else {}),
    }


def _sacred_failed_line(rec: logging.LogRecord) -> bool:
    """False for Sacred's "Failed after 0:00:01!" line (one per failed run; the runner says it once per reason)."""
    return not str(rec.msg).startswith("Failed after")


def _sacred_experiment(name: str, sacred_dir: Path):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pkg_resources.*")
        from sacred import Experiment
        from sacred.observers import FileStorageObserver

    ex = Experiment(name, interactive=True, save_git_info=False)
    ex.observers.append(FileStorageObserver(str(sacred_dir), copy_sources=False))
    sl = logging.getLogger("offmarl.sacred")
    sl.setLevel(logging.WARNING)
    run_log = sl.getChild(name)  # Sacred's logger of this run
    # a failed run is reported once by record_run (common.running.progress)
    if _sacred_failed_line not in run_log.filters:
        run_log.addFilter(_sacred_failed_line)
    ex.logger = sl  # type: ignore[assignment]  # sacred's Ingredient types its logger by `self.logger = None`
    return ex


def record_run(
    cell: Cell,
    seed: int,
    env: RunEnv,
    compute: Callable[[RunContext], Mapping[str, Any]],
    started: str | None = None,
    wall_time_s: float | None = None,
) -> tuple[str, str, str | None]:
    """``compute(ctx) -> metrics`` in the run's own Sacred run (after ``seed_everything``), its record appended (with
    ``env.replace``: in place of its run's earlier records), its checkpoint deleted; as ``run_one``. ``started`` /
    ``wall_time_s``: a group's (common.running.grouping)."""
    rid, ckpt = env.run_id(cell, seed), env.checkpoint_path(cell, seed)
    ex = _sacred_experiment(rid, env.results_root / env.profile.name / "sacred")
    sacred_config = {
        "paper": cell.paper,
        "item": cell.item,
        "keys": to_jsonable(cell.keys),
        "cell_config": to_jsonable(cell.config),
        "config_hash": cell.config_hash,
        "seed": seed,
        "profile": env.profile.name,
        "profile_settings": env.profile.to_dict(),
    }
    ex.add_config(sacred_config)
    out: dict[str, Any] = {}

    @ex.main
    def _main(_run):
        seed_everything(seed)  # before the job builds anything
        ctx = env.context(cell, seed, sacred_run=_run)
        t_start, t0 = now(), time.time()
        metrics = compute(ctx)
        out["record"] = build_record(
            cell, seed, env, metrics, ctx, started or t_start, t0, _run._id, wall_time_s
        )
        return out["record"]["score"]

    try:
        ex.run(options={"--capture": "no", "--loglevel": "WARNING"})
    except BaseException as e:  # noqa: BLE001 - a job may raise anything; SystemExit/KeyboardInterrupt too
        if isinstance(e, KeyboardInterrupt):
            raise
        return rid, "failed", failure(rid, e, traceback.format_exc())
    rec = out["record"]
    (replace_record if env.replace else append_record)(env.records_path(cell), rec)
    if ckpt.exists():
        ckpt.unlink()
    return rid, ("nonfinite" if rec["nonfinite"] else "ran"), None


def find_identical_run(
    env: RunEnv, cell: Cell, seed: int, items: Sequence[str], data: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """A finished record of ``cell.paper`` in one of ``items`` with the same profile, seed, device, thread count and
    config (hash and full config equal), or None. Claim verdicts are never donors. With ``data`` (the identity of the
    dataset the run would train on), only a record on that same data qualifies."""
    want = canonical_json(to_jsonable(cell.config))
    for item in dict.fromkeys(items):
        for r in env.seen.records(cell.paper, item):
            if (
                r.get("seed") == seed
                and r.get("config_hash") == cell.config_hash
                and r.get("device", "cpu") == env.device
                and "claim" not in (r.get("keys") or {})
                and record_threads(r) == env.threads
                and canonical_json(r.get("config", {})) == want
                and (data is None or same_data(r.get("extra"), data) is True)
            ):
                return r
    return None


def reused_record(donor: Mapping[str, Any], cell: Cell, run_id: str) -> dict[str, Any]:
    """``donor`` re-filed under ``cell`` as run ``run_id``: the same run's results (scores, curve, config, commit,
    timings) with this cell's run_id / item / keys, and ``reused_from`` naming the run that computed it."""
    rec = dict(donor)
    rec.update(
        run_id=run_id,
        item=cell.item,
        keys=to_jsonable(cell.keys),
        method=to_jsonable(cell.keys.get("method")),
        reused_from=donor.get("reused_from") or donor["run_id"],
        reused_at=now(),
    )
    return rec


def settle_run(cell: Cell, seed: int, job: Job, env: RunEnv) -> str | None:
    """``run_one``'s first step (with ``env.reuse_from``): "skipped" (another process finished it since this one
    planned its runs), "reused" (an identical finished run's record copied) or None (to compute)."""
    if env.reuse_from is None:
        return None
    if env.own_key(cell, seed) in env.seen.finished(cell.paper, cell.item):
        return "skipped"
    items = [cell.item, *env.reuse_from]
    donor = find_identical_run(env, cell, seed, items)
    spec_fn, ident_fn = job.data_spec, job.data_identity
    if donor is not None and spec_fn is not None and ident_fn is not None:  # a Job gives both or neither
        spec = spec_fn(cell.config)
        if spec is not None:  # a donor must have trained on the data this run would use
            data = ident_fn(spec)
            if same_data(donor.get("extra"), data) is not True:
                donor = find_identical_run(env, cell, seed, items, data)
    if donor is None:
        return None
    append_record(env.records_path(cell), reused_record(donor, cell, env.run_id(cell, seed)))
    return "reused"
