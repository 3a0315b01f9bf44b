"""What the experiment runner runs: a ``Cell`` (one table or figure cell of a paper item, its keys and its job's
config) and a ``Job`` (the function that runs a cell's seed, and what it trains on). common.running.experiment re-exports
both; they live here so that the runner's parts (common.running.runs, common.running.experiment) import them without a cycle."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from common.running.records import canonical_json, config_hash

__all__ = ["Cell", "Job", "as_job"]


def _path_part(value: Any) -> str:
    s = value if isinstance(value, str) else canonical_json(value)
    return re.sub(r"[^A-Za-z0-9._=+/-]", "_", s).strip("/") or "_"


@dataclass
class Cell:
    """One table/figure cell: which paper item it fills, its keys, and the job's config."""

    paper: str  # e.g. "omar"
    item: str  # e.g. "table3"
    keys: dict[str, Any]  # env, dataset, method, options... (order = identity order)
    config: dict[str, Any] = field(default_factory=dict)  # everything the job needs; hashed

    @property
    def method(self) -> Any:
        return self.keys.get("method")

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    def run_id(self, profile: str, seed: int) -> str:
        """``<profile>/<paper>/<item>/<key values joined by />/seed<k>``."""
        parts = [profile, self.paper, self.item, *(_path_part(v) for v in self.keys.values()), f"seed{seed}"]
        return "/".join(parts)

    def keys_id(self) -> str:
        return canonical_json(self.keys)


@dataclass(frozen=True)
class Job:
    """What the runner needs of a job: ``run(cell, seed, ctx) -> metrics`` (a dict with at least
    ``score``; ``normalized`` and ``curve`` are read too, everything else lands in the record's
    ``extra``), and, for a job that trains on a cached dataset, ``data_spec(config) -> Mapping | None``
    and ``data_identity(spec) -> Mapping`` (see the module docstring). Built from module-level
    functions (or ``functools.partial`` of them) so that process and Ray workers can unpickle it."""

    run: Callable[..., Mapping[str, Any]]
    data_spec: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None
    data_identity: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    # cells as members (common/running/grouping.py): group_key(config) -> str (equal: may train as one job) or None;
    # run_group([(cell, seed, ctx)]) -> one metrics dict per run, in order
    group_key: Callable[[Mapping[str, Any]], str | None] | None = None
    run_group: Callable[..., Sequence[Mapping[str, Any]]] | None = None

    def __post_init__(self):
        if not callable(self.run):
            raise TypeError(f"Job.run must be callable, got {self.run!r}")
        if (self.data_spec is None) != (self.data_identity is None):
            raise TypeError("Job: give both data_spec and data_identity, or neither")
        if (self.group_key is None) != (self.run_group is None):
            raise TypeError("Job: give both group_key and run_group, or neither")

    # ctx: common.running.runs.RunContext
    def __call__(self, cell: "Cell", seed: int, ctx: Any) -> Mapping[str, Any]:
        return self.run(cell, seed, ctx)


def as_job(job: "Job | Callable") -> Job:
    """``job`` itself, or a plain ``job_fn(cell, seed, ctx)`` wrapped as a ``Job`` without a dataset."""
    if isinstance(job, Job):
        return job
    if not callable(job):
        raise TypeError(
            f"a job is a common.running.experiment.Job or a function (cell, seed, ctx) -> metrics, got {job!r}"
        )
    return Job(run=job)
