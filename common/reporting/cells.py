"""Cells: our records and the published numbers of an item, side by side per cell, with a verdict.

A cell is one combination of the values of ``key_names`` (an item's rows and column). Our values are
the records' ``metric`` in the item's scale (× 100 for a percent item), with the item's spread kind;
the verdict is "within" (|Δ| ≤ the published spread, or ≤ ours where the paper prints none; a single value
without a spread of ours uses its record's own standard error ``extra.se`` when it has one, e.g. a dataset
statistic's sampling error; plus the entry's ``rounding``, half a unit of its last printed digit), "differs",
"not run" (no record), "no published", or "partial" (a pooled cell that has not pooled every value its
item's ``pool`` lists: no Δ, no verdict). See common.reporting.published for scales and spreads.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

import numpy as np

from common.reporting.numbers import fmt_delta, fmt_ours, fmt_published, spread_of
from common.reporting.published import Entry, Item, Table, as_entry
from common.running.record import Record
from common.running.records import canonical_json
from common.running.store import Runs

VERDICTS = ("within", "differs", "partial", "not run", "no published")
_PLAIN = Table()  # how cells are read and shown without an item: raw numbers, mean ± std


def label(v: Any) -> str:
    """A key's value as shown: text as is, anything else as JSON, None as "—"."""
    return "—" if v is None else (v if isinstance(v, str) else json.dumps(v))


def cell_name(keys: Mapping[str, Any]) -> str:
    return "/".join(label(v) for v in keys.values())


def key_names(
    records: Sequence[Record | Mapping], entries: Sequence[Entry | Mapping] = (), first: Sequence[str] = ()
) -> list[str]:
    """Every key name of ``entries`` then ``records``, in the order first seen, after ``first``."""
    names = list(first)
    for src in (map(as_entry, entries), Runs(records)):
        for e in src:
            for k in e.keys:
                if k not in names:
                    names.append(k)
    return names


def natural(v: Any, rank: int) -> tuple:
    """Sort key of a cell key's value: numbers (also numeric strings, e.g. "20") by value, before text;
    text (e.g. dataset kinds, methods) by ``rank``, the order it first appears in."""
    try:
        return (0, float(v))
    except (TypeError, ValueError):
        return (1, float(rank))


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, population std, n)."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std()), int(a.size)


def _new_cell(keys: Mapping[str, Any], names: Sequence[str]) -> dict:
    return {
        "keys": {n: keys.get(n) for n in names},
        "pub": None,
        "values": [],
        "n_nonfinite": 0,
        "n_noreading": 0,
        "hashes": set(),
        "pooled": {},
        "pool_missing": {},
        "se": [],
    }


def compare_cells(
    records: Sequence[Record | Mapping],
    entries: Sequence[Entry | Mapping],
    key_names: Sequence[str],
    metric: str,
    pool: Mapping[str, Sequence] | None = None,
    spec: Item | None = None,
    cells_only: Sequence[Mapping[str, Any]] = (),
) -> dict[tuple, dict]:
    """Cells keyed by the JSON of the values of ``key_names``: published entry, our values, verdict, Δ.

    ``spec`` (the item) gives the scale and spread (default: raw numbers, mean ± std). Each cell has
    ``mean``, ``spread`` (ours, of the item's kind; ``std`` too), ``n``, ``pub_mean``, ``pub_spread``,
    ``delta``, ``verdict``. Records whose keys go beyond ``key_names`` (e.g. Table 5's env, pooled because
    the paper averages over tasks) are pooled into their cell; ``c["pooled"]`` counts the records per value
    of each such key. With ``pool`` (``{"env": [every value the paper's number averages over]}``), a cell
    that has not yet pooled every listed value (``c["pool_missing"]``) gets the verdict "partial" and no Δ:
    a mean over some of the tasks is not comparable to the paper's mean over all of them. ``cells_only``:
    keys of cells to list even without an entry or a record.

    Order: cells as they appear in ``entries`` (published), then ``cells_only``, then ``records``.
    """
    spec = spec or _PLAIN
    cells: dict[tuple, dict] = {}

    def cell(keys: Mapping[str, Any]) -> dict:
        k = tuple(canonical_json(keys.get(n)) for n in key_names)
        if k not in cells:
            cells[k] = _new_cell(keys, key_names)
        return cells[k]

    for e in map(as_entry, entries):
        cell(e.keys)["pub"] = e
    for keys in cells_only:
        cell(keys)
    for r in Runs(records):
        c = cell(r.keys)
        v = r.value(metric)
        if v is None or not math.isfinite(float(v)):
            # no value for the verdict; shown apart when the run has no such reading at all
            c["n_nonfinite"] += 1
            c["n_noreading"] += int(v is None and not r.nonfinite)  # e.g. an analysis cell without a score
        else:
            c["values"].append(float(v) * spec.factor)
            se = r.extra.get("se")
            if se is not None and math.isfinite(float(se)):
                c["se"].append(float(se) * spec.factor)
        c["hashes"].add(r.config_hash)
        for k, v in r.keys.items():
            if k not in key_names:
                counts = c["pooled"].setdefault(k, {})
                counts[label(v)] = counts.get(label(v), 0) + 1
    for c in cells.values():
        for name, values in (pool or {}).items():
            missing = [label(v) for v in values if label(v) not in c["pooled"].get(name, {})]
            if missing:
                c["pool_missing"][name] = missing
        _judge(c, spec)
    return cells


def _judge(c: dict, spec: Item) -> None:
    """Our mean and spread, the published ones, Δ and the verdict of cell ``c`` (in place)."""
    pub, vals = c["pub"], c["values"]
    c["mean"], c["std"], c["n"] = mean_std(vals) if vals else (None, None, 0)
    c["spread"] = spread_of(vals, spec.ours_spread) if vals else None
    c["pub_mean"] = pub.mean if pub else None
    c["pub_spread"] = pub.err if pub else None
    c["delta"] = c["mean"] - c["pub_mean"] if vals and c["pub_mean"] is not None else None
    if not vals and not c["n_nonfinite"]:
        c["verdict"] = "not run"
    elif c["pub_mean"] is None:
        c["verdict"] = "no published"
    elif c["pool_missing"] and vals:
        c["verdict"], c["delta"] = "partial", None
    elif c["delta"] is None:
        c["verdict"] = "differs"  # every run diverged
    else:
        tol = c["pub_spread"] if c["pub_spread"] is not None else c["spread"]
        # one value: its own standard error
        if c["pub_spread"] is None and len(vals) == 1 and len(c["se"]) == 1:
            tol = c["se"][0]
        tol = (tol or 0.0) + (pub.rounding or 0.0)  # + half a unit of the paper's last printed digit
        c["verdict"] = "within" if abs(c["delta"]) <= tol + 1e-9 else "differs"


def _ours(c: Mapping[str, Any], p: int, spec: Item) -> str:
    n_bad, n_none = c["n_nonfinite"] - c.get("n_noreading", 0), c.get("n_noreading", 0)
    nf = (f" +{n_bad} non-finite" if n_bad else "") + (f" +{n_none} without this reading" if n_none else "")
    if c["n"]:
        return fmt_ours(c["mean"], c["spread"], c["n"], p, spec) + nf
    if not n_bad:
        return f"no such reading ({n_none})"  # runs that record no value of the metric (not a divergence)
    return f"non-finite ({n_bad})" + (f" +{n_none} without this reading" if n_none else "")


def format_cell(c: Mapping[str, Any], p: int, marker: str = "", spec: Item | None = None) -> str:
    """``110.0 ± 2.0 (3) vs 114.9 ± 2.6, Δ -4.9 differs`` and its variants (see common.reporting.published)."""
    spec = spec or _PLAIN
    pub = fmt_published(c["pub_mean"], c["pub_spread"], p, spec) if c["pub_mean"] is not None else None
    if c["n"] == 0 and not c["n_nonfinite"]:
        return f"not run (pub {pub}){marker}" if pub else "not run"
    if pub is None:
        return f"{_ours(c, p, spec)}, no published"
    delta = f"Δ {fmt_delta(c['delta'], p, spec)} " if c["delta"] is not None else ""
    return f"{_ours(c, p, spec)} vs {pub}, {delta}{c['verdict']}{marker}"


def format_ref(rc: Mapping[str, Any] | None, p: int, spec: Item | None = None) -> str:
    """The reference (committed) value of a cell: ``192.8 ± 47.7 (3) differs``, or ``not run``."""
    if rc is None or (rc["n"] == 0 and not rc["n_nonfinite"]):
        return "not run"
    return _ours(rc, p, spec or _PLAIN) + ("" if rc["verdict"] in ("no published",) else f" {rc['verdict']}")


def with_reference(
    cells: dict[tuple, dict],
    ref_cells: Mapping[tuple, Mapping],
    key_names: Sequence[str],
    metric: str,
    pool: Mapping[str, Sequence] | None,
    spec: Item | None,
) -> None:
    """Give a cell that only the reference ran its row in ``cells`` (in place): published, no values."""
    for k, rc in ref_cells.items():
        if k not in cells:
            cells[k] = compare_cells(
                [], [rc["pub"]] if rc["pub"] else [], key_names, metric, pool, spec, cells_only=[rc["keys"]]
            )[k]
