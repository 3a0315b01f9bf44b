"""One line of a records file, typed: a run's ``Record`` or a claim's ``Verdict``.

A records file (``<results root>/<profile>/<paper>/<item>.jsonl``, common.running.records) holds one JSON object per
line. A run's line has the fields of ``FIELDS`` (schema 1; older lines lack some, e.g. ``threads``, and a record copied
from an identical finished run adds ``reused_from`` and ``reused_at``); ``Record.from_json`` reads it and ``to_json``
writes it back byte for byte (the fields the line holds, in its order, compact separators, the curve column-wise as
``common.running.records.pack_curve`` stores it). Fields outside the schema (e.g. a diagnostic script's own lines)
are kept in ``other``, in their place.

A claim's verdict is stored in the same file, for the files written before it had a type of its own: a line with
``keys = {"claim": <id>}``, ``score: null`` and ``extra = {"holds": true | false | null, "evidence": "...", ...}``
(null: undecided). ``Verdict.from_record`` reads one, ``Verdict.new(...).to_record()`` makes the line that
``common.running.records.write_claim`` appends; ``is_claim`` tells the two kinds apart.
"""

from __future__ import annotations

import json
import math
import socket
from dataclasses import dataclass, field
from typing import Any, Mapping

from common.running.jsonable import to_jsonable
from common.running.runtime import git_commit, now, versions

SCHEMA_VERSION = 1
FIELDS = (
    "schema",
    "run_id",
    "paper",
    "item",
    "keys",
    "method",
    "seed",
    "profile",
    "score",
    "normalized",
    "curve",
    "extra",
    "nonfinite",
    "wall_time_s",
    "config",
    "config_hash",
    "profile_settings",
    "git_commit",
    "sacred_run_id",
    "started",
    "finished",
    "hostname",
    "cpu",
    "device",
    "threads",
    "resumed_from_step",
    "segments",
    "versions",
    "reused_from",
    "reused_at",
)
_OBJECTS = ("keys", "extra", "config")  # fields that must be JSON objects when a line has them


class RecordError(ValueError):
    """A line that is not a record (not a JSON object, or a field of the wrong kind)."""


def pack_curve(curve: Any) -> Any:
    """A curve stored column-wise: ``[{"step": 10, "score": 1.5}, ...]`` -> ``{"step": [10, ...],
    "score": [1.5, ...]}``. Lossless (the same JSON numbers, in the same order) and about half the
    bytes of the list of points. Only a list whose points all carry the same keys is packed; anything
    else is returned unchanged. ``unpack_curve`` inverts it."""
    if not isinstance(curve, list) or not curve or not all(isinstance(e, Mapping) for e in curve):
        return curve
    keys = list(curve[0])
    if not keys or any(list(e) != keys for e in curve):
        return curve
    return {k: [e[k] for e in curve] for k in keys}


def unpack_curve(curve: Any) -> Any:
    """The list of points of a curve stored by ``pack_curve`` (a list is returned unchanged)."""
    if not isinstance(curve, Mapping):
        return curve
    cols = list(curve.values())
    if not cols or not all(isinstance(c, list) for c in cols) or len({len(c) for c in cols}) != 1:
        shape = {k: len(v) if isinstance(v, list) else type(v).__name__ for k, v in curve.items()}
        raise ValueError(f"a packed curve needs equal-length list columns, got lengths {shape}")
    return [dict(zip(curve.keys(), point)) for point in zip(*cols)]


def record_line(record: Mapping[str, Any]) -> str:
    """The JSON line (with its newline) of a record given as a dict: plain JSON, the curve packed, compact."""
    rec = to_jsonable(record)
    if "curve" in rec:
        rec["curve"] = pack_curve(rec["curve"])
    return json.dumps(rec, allow_nan=False, separators=(",", ":")) + "\n"


def is_claim(rec: Mapping[str, Any]) -> bool:
    """Whether a line (as a dict) is a claim verdict (``keys = {"claim": id}``) rather than a run."""
    return "claim" in (rec.get("keys") or {})


@dataclass(frozen=True)
class Record:
    """One finished run: its cell (``paper``, ``item``, ``keys``), seed and profile, its readings (``score``,
    ``normalized``, the evaluation ``curve`` as a list of points, ``extra``) and where it came from (``config`` and
    its hash, git commit, times, machine). ``present`` lists the fields its line holds, in order (empty: every
    field of ``FIELDS``); ``other`` holds the line's fields outside the schema. Treat it as read-only: the item
    store (common.running.store) shares one object per line between its readers."""

    schema: int | None = None
    run_id: str | None = None
    paper: str | None = None
    item: str | None = None
    keys: Mapping[str, Any] = field(default_factory=dict)
    method: str | None = None
    seed: int | None = None
    profile: str | None = None
    score: float | None = None
    normalized: float | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)
    extra: Mapping[str, Any] = field(default_factory=dict)
    nonfinite: list[str] = field(default_factory=list)
    wall_time_s: float | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    config_hash: str | None = None
    profile_settings: Mapping[str, Any] | None = None
    git_commit: Mapping[str, Any] | None = None
    sacred_run_id: str | None = None
    started: str | None = None
    finished: str | None = None
    hostname: str | None = None
    # the CPU type that finished the run (runtime.cpu_model); None on records before the field
    cpu: str | None = None
    device: str | None = None
    threads: int | None = None
    resumed_from_step: int | None = None
    # a resumed run: each segment's {"from_step", "cpu", "threads", "device"} (common.running.runs.RunContext.segments)
    segments: list[dict[str, Any]] | None = None
    versions: Mapping[str, Any] | None = None
    reused_from: str | None = None
    reused_at: str | None = None
    other: Mapping[str, Any] = field(default_factory=dict)
    present: tuple[str, ...] = ()

    # ---- JSON ------------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Record:
        """The record of a line read as a dict (its curve packed or as points)."""
        if not isinstance(d, Mapping):
            raise RecordError(f"a record is a JSON object, got {type(d).__name__}")
        for name in _OBJECTS:
            if name in d and not isinstance(d[name], Mapping):
                raise RecordError(f"field {name!r} must be a JSON object, got {type(d[name]).__name__}")
        known = {k: v for k, v in d.items() if k in FIELDS}
        if "curve" in known:
            known["curve"] = unpack_curve(known["curve"])
        return cls(**known, other={k: v for k, v in d.items() if k not in FIELDS}, present=tuple(d))

    @classmethod
    def from_json(cls, line: str) -> Record:
        """The record of one line of a records file; ``RecordError`` (a ValueError) for a line that is not one."""
        return cls.from_dict(json.loads(line))

    def to_dict(self) -> dict[str, Any]:
        """The line's fields as a dict, in the line's order, the curve as a list of points."""
        return {k: self.field(k) for k in (self.present or FIELDS)}

    def to_json(self) -> str:
        """The line (without its newline): the same bytes as the line it was read from, when that was written by
        common.running.records (compact separators, the curve column-wise)."""
        return record_line(self.to_dict())[:-1]

    # ---- reading --------------------------------------------------------------------------------------------------
    def field(self, name: str) -> Any:
        """A field of the line by name (a schema field, or one of ``other``); KeyError for one it lacks."""
        if name in FIELDS:
            return getattr(self, name)
        if name in self.other:
            return self.other[name]
        raise KeyError(f"record {self.run_id!r} has no field {name!r}")

    def key(self, name: str, default: Any = None) -> Any:
        """The value of the cell key ``name`` (``default`` when the cell has no such key)."""
        return self.keys.get(name, default)

    def matches(self, **keys: Any) -> bool:
        """Whether the cell's keys hold every ``name=value`` given (a key the cell lacks reads as None)."""
        return all(self.keys.get(k) == v for k, v in keys.items())

    def value(self, metric: str) -> Any:
        """A reading by name: a field the line holds (``score``, ``normalized``), else ``extra[metric]`` (e.g.
        ``score_best``); None when neither has it."""
        if metric in (self.present or FIELDS) or metric in self.other:
            return self.field(metric)
        return self.extra.get(metric)

    def finite(self, metric: str) -> float | None:
        """``value(metric)`` as a float when it is a finite number, else None."""
        v = self.value(metric)
        return float(v) if v is not None and math.isfinite(float(v)) else None

    @property
    def n_threads(self) -> int:
        """The torch thread count the run used; records written before the field existed count as one thread (the
        package's runners and the sessions that made the committed reference all ran with OMP_NUM_THREADS=1)."""
        return 1 if self.threads is None else int(self.threads)

    def final(self, name: str = "score", k: int = -1) -> Any:
        """``curve[k][name]`` (default: the last evaluation's score); None without a curve."""
        return self.curve[k].get(name) if self.curve else None


_VERDICT_LINE = (
    "schema",
    "run_id",
    "paper",
    "item",
    "keys",
    "method",
    "seed",
    "profile",
    "score",
    "normalized",
    "curve",
    "extra",
    "nonfinite",
    "wall_time_s",
    "config",
    "config_hash",
    "git_commit",
    "sacred_run_id",
    "started",
    "finished",
    "hostname",
    "versions",
)
_EMPTY_CONFIG_HASH = "44136fa355b3"  # config_hash({}): sha256 of "{}", first 12 hex digits


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict at a profile: ``holds`` True / False, or None when the check ran and the runs cannot decide
    it (undecided); ``evidence``: what it read, in words; ``data``: further numbers the check stored. ``started`` /
    ``finished``, ``git_commit``, ``hostname`` and ``versions`` say when and where it was judged."""

    paper: str
    item: str
    profile: str
    claim: str
    holds: bool | None
    evidence: str
    data: Mapping[str, Any] = field(default_factory=dict)
    started: str | None = None
    finished: str | None = None
    git_commit: Mapping[str, Any] | None = None
    hostname: str | None = None
    versions: Mapping[str, Any] | None = None

    @classmethod
    def new(
        cls,
        paper: str,
        item: str,
        profile: str,
        claim: str,
        holds: bool | None,
        evidence: str,
        data: Mapping[str, Any] | None = None,
    ) -> Verdict:
        """A verdict judged now, on this machine and commit."""
        t = now()
        return cls(
            paper=paper,
            item=item,
            profile=profile,
            claim=claim,
            holds=None if holds is None else bool(holds),
            evidence=str(evidence),
            data=to_jsonable(dict(data or {})),
            started=t,
            finished=t,
            git_commit=git_commit(),
            hostname=socket.gethostname(),
            versions=versions(),
        )

    @classmethod
    def from_record(cls, rec: Record) -> Verdict:
        """The verdict stored as ``rec`` (a line with ``keys = {"claim": id}``)."""
        if "claim" not in rec.keys:
            raise RecordError(f"record {rec.run_id!r} is a run, not a claim verdict (keys {dict(rec.keys)})")
        if rec.paper is None or rec.item is None or rec.profile is None:
            raise RecordError(
                f"claim verdict {rec.run_id!r} lacks its paper, item or profile (paper={rec.paper!r}, "
                f"item={rec.item!r}, profile={rec.profile!r})"
            )
        ex = dict(rec.extra)
        holds, evidence = ex.pop("holds", None), ex.pop("evidence", "")
        return cls(
            paper=rec.paper,
            item=rec.item,
            profile=rec.profile,
            claim=rec.keys["claim"],
            holds=holds,
            evidence=evidence,
            data=ex,
            started=rec.started,
            finished=rec.finished,
            git_commit=rec.git_commit,
            hostname=rec.hostname,
            versions=rec.versions,
        )

    def to_record(self) -> Record:
        """The line that stores this verdict, field for field as ``write_claim`` has always written it."""
        return Record(
            schema=SCHEMA_VERSION,
            run_id=f"{self.profile}/{self.paper}/{self.item}/claim/{self.claim}",
            paper=self.paper,
            item=self.item,
            keys={"claim": self.claim},
            profile=self.profile,
            extra={"holds": self.holds, "evidence": self.evidence, **self.data},
            wall_time_s=0.0,
            config={},
            config_hash=_EMPTY_CONFIG_HASH,
            git_commit=self.git_commit,
            started=self.started,
            finished=self.finished,
            hostname=self.hostname,
            versions=self.versions,
            present=_VERDICT_LINE,
        )

    @property
    def said(self) -> str:
        """The verdict in words: holds, does not hold, or undecided."""
        return "undecided" if self.holds is None else "holds" if self.holds else "does not hold"

    def same_as(self, holds: bool | None, evidence: str) -> bool:
        """Whether this verdict already says ``holds`` with ``evidence`` (a rerun that changes nothing)."""
        return self.holds == holds and self.evidence == str(evidence)
