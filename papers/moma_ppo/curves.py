"""Learning curves of the Table 3 / 4a / 4b runs, drawn from their records.

One panel per table row (Table 3: dataset; 4a: obs_mode; 4b: (obs_mode, dataset)), one line per method: the mean
over seeds of the evaluation scores, with a band of ± SEM over seeds (std ddof 1 / sqrt(n), 0 for one seed; the
tables' spread), in the table's scale (ITEMS[item].factor: Table 3 the team score as a fraction, Tables 4a/4b the
normalized score as a fraction, 1.0 = the expert, from each record's reference scores).

x is the fraction of the run's training: the evaluation's step over the cell's last evaluated step (every job
evaluates at its last step: baselines' gradient updates U, MAIQL-ft's U + F, MOMA-PPO's iterations). The two units
are not comparable (an iteration is 2,000 synthetic transitions and 5 epochs of MAPPO minibatches) and differ by
~100x (quick ICG: 2,000 updates vs 30 iterations), so on one step axis one kind of run would be a sliver at the
left; every run's final policy (the tables' score) sits at x = 1. The legend names each method's length.

A seed whose curve reaches a non-finite score is drawn up to the point before it; each point averages the seeds that
have a finite value there (n per point in ``Series.n``), so a cell with fewer seeds is drawn with what it has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from common.datasets.returns import normalize
from common.reporting.plotting import plt, save
from common.running.record import Record
from common.running.store import Runs
from papers.moma_ppo.published import ITEMS

PAPER = "moma_ppo"


@dataclass(frozen=True)
class Series:
    """One method's line in one panel."""

    x: np.ndarray  # [P] fraction of training at each evaluation
    mean: np.ndarray  # [P] mean over the seeds with a finite value at the point
    sem: np.ndarray  # [P] SEM over the same seeds (ddof 1; 0 where only one)
    n: np.ndarray  # [P] seeds averaged at the point
    seeds: int  # records of the cell
    total: int  # the cell's last evaluated step: its training length in its own unit


def _finite(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def run_points(record: Record, item: str) -> dict[int, float]:
    """step -> the evaluation's score in ``item``'s table scale, up to (not including) the first non-finite one."""
    spec = ITEMS[item]
    refs = record.extra.get("ref_scores") if spec.metric.startswith("normalized") else None
    out: dict[int, float] = {}
    for p in sorted(record.curve or [], key=lambda p: p["step"]):
        v = _finite(p.get("score"))
        if v is None:
            break
        if spec.metric.startswith("normalized"):
            try:
                v = float(normalize(v, refs))
            except ValueError as e:
                raise ValueError(f"{record.run_id}: {e}") from None
        out[int(p["step"])] = v * spec.factor
    return out


def cell_series(records: Sequence[Record], item: str) -> Series | None:
    """Mean ± SEM over the seeds of one cell's ``records`` at every evaluated step (None: no curve)."""
    if not records:
        return None
    total = max((int(p["step"]) for r in records for p in r.curve or []), default=0)
    runs = [run_points(r, item) for r in records]
    steps = sorted({s for c in runs for s in c})
    if not steps or total <= 0:
        return None
    mean, sem, n = [], [], []
    for s in steps:
        v = np.array([c[s] for c in runs if s in c])  # [seeds with a finite value at s]
        mean.append(v.mean())
        sem.append(v.std(ddof=1) / math.sqrt(v.size) if v.size > 1 else 0.0)
        n.append(v.size)
    return Series(
        np.array(steps, dtype=float) / total, np.array(mean), np.array(sem), np.array(n), len(records), total
    )


def curve_data(
    records: Sequence[Record | Mapping], item: str, rows: Sequence[tuple], methods: Sequence[str]
) -> dict[tuple, dict[str, Series]]:
    """{row: {method: Series}} for the rows (tuples of ITEMS[item].rows' values, the panels, in this order) and
    methods with records; rows without any are left out, methods without a curve are left out of their row. Only
    the newest record of each (cell, seed) counts (``common.running.store.Runs.newest``, the report's rule), so runs a
    cell superseded (kept in the JSONL as history) are not drawn beside the ones its table shows."""
    spec = ITEMS[item]
    records = Runs(records).newest()
    out: dict[tuple, dict[str, Series]] = {}
    for row in rows:
        keys = dict(zip(spec.rows, row, strict=True))
        lines = {}
        for m in methods:
            want = {**keys, spec.cols: m}
            s = cell_series([r for r in records if r.keys == want], item)
            if s is not None:
                lines[m] = s
        if lines:
            out[tuple(row)] = lines
    return out


def _unit(method: str) -> str:
    return "iterations" if method == "moma_ppo" else "updates"


def plot(
    records: Sequence[Mapping], item: str, rows: Sequence[tuple], methods: Sequence[str], path: str | Path
) -> Path | None:
    """Draw ``curve_data``'s panels into ``path`` (a PNG); None (nothing written) when no cell has a curve."""
    spec = ITEMS[item]
    data = curve_data(records, item, rows, methods)
    if not data:
        return None
    what = "normalized score (fraction; 1 = expert)" if spec.metric.startswith("normalized") else "team score"
    ncols = min(len(data), 4)
    nrows = math.ceil(len(data) / ncols)
    fig = plt().figure(figsize=(3.4 * ncols + 2.4, 2.9 * nrows + 0.5))
    grid = fig.add_gridspec(nrows, ncols + 1, width_ratios=[1] * ncols + [0.7])
    axes = [fig.add_subplot(grid[i // ncols, i % ncols]) for i in range(len(data))]
    colors = dict(zip(methods, plt().get_cmap("tab10").colors))
    handles, lengths = {}, {}
    for i, (ax, (row, lines)) in enumerate(zip(axes, data.items())):
        for m, s in lines.items():
            (handles[m],) = ax.plot(
                s.x, s.mean, color=colors[m], marker="o" if s.x.size < 12 else None, markersize=3
            )
            ax.fill_between(s.x, s.mean - s.sem, s.mean + s.sem, color=colors[m], alpha=0.15, linewidth=0)
            lengths.setdefault(m, set()).add(s.total)
        seeds = sorted({s.seeds for s in lines.values()})
        ax.set_title(
            f"{', '.join(map(str, row))} (seeds: {seeds[0]}"
            + (f"–{seeds[-1]}" if len(seeds) > 1 else "")
            + ")",
            fontsize="small",
        )
        ax.set_xlim(0, 1.02)
        ax.grid(alpha=0.3)
        if i % ncols == 0:
            ax.set_ylabel(what, fontsize="small")
        if i + ncols >= len(data):  # the lowest panel of its column
            ax.set_xlabel("fraction of training", fontsize="small")
    lax = fig.add_subplot(grid[:, -1])
    lax.axis("off")
    order = [m for m in methods if m in handles]
    lax.legend(
        [handles[m] for m in order],
        [f"{m} ({'/'.join(map(str, sorted(lengths[m])))} {_unit(m)})" for m in order],
        loc="center left",
        fontsize="small",
        frameon=False,
        title="x = updates / U (baselines)\n    = iterations / I (MOMA-PPO)",
        title_fontsize="x-small",
    )
    fig.suptitle(f"{item}: learning curves, mean ± SEM over seeds", fontsize="medium")
    return save(fig, path)


def write(
    records: Sequence[Mapping],
    results: str | Path,
    profile: str,
    item: str,
    rows: Sequence[tuple],
    methods: Sequence[str],
) -> Path | None:
    """``<results>/<profile>/moma_ppo/<item>_curves.png`` (the name ITEMS[item].pngs embeds in the report)."""
    png = plot(records, item, rows, methods, Path(results) / profile / PAPER / f"{item}_curves.png")
    print(
        f"[{PAPER}/{item}] " + (f"wrote {png}" if png else "no curves in the records: no learning-curve PNG"),
        flush=True,
    )
    return png
