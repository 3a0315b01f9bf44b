"""The package's one plotting setup: pyplot on the Agg backend, atomic PNG saving, and the report's
generic plots of records (learning curves, final values against a swept key or per cell)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from common.reporting.cells import key_names, label, mean_std
from common.running.record import Record
from common.running.records import atomic_write
from common.running.store import Runs

DPI = 110


def plt():
    """``matplotlib.pyplot`` on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def tight_layout(fig) -> None:
    """``fig.tight_layout()`` without matplotlib's "Tight layout not applied" warning: when the layout
    cannot be tightened (e.g. a long legend) the figure is saved as drawn, which is all the warning says."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Tt]ight.?layout.*")
        fig.tight_layout()


def save(fig, path: str | Path) -> Path:
    """Lay out ``fig``, write it to ``path`` as a PNG (``common.running.records.atomic_write``: a reader never sees half
    a file, processes saving one figure at once do not race), close it and return ``path``."""
    path = Path(path)
    tight_layout(fig)
    atomic_write(path, lambda f: fig.savefig(f, dpi=DPI, format="png"))
    fig.clear()
    plt().close(fig)
    return path


def group_records(records: Sequence[Record], names: Sequence[str]) -> dict[str, list[Record]]:
    """Records grouped by the values of the keys ``names``; the label joins them ("all" for none)."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        groups.setdefault(", ".join(label(r.key(k)) for k in names) or "all", []).append(r)
    return groups


def curve_metric(records: Sequence[Record], metric: str) -> str:
    """``metric`` if the curves carry it, else ``score``."""
    for r in records:
        for e in r.curve or []:
            if e.get(metric) is not None:
                return metric
    return "score"


def plot_curves(
    records: Sequence[Record | Mapping],
    path: str | Path,
    group_by: Sequence[str] | None = None,
    metric: str = "normalized",
    title: str | None = None,
    xlabel: str = "gradient step",
) -> Path:
    """Learning curves: mean ± std over seeds per group (default: every key but seed) at common steps."""
    records = Runs(records)
    metric = curve_metric(records, metric)
    group_by = list(group_by) if group_by is not None else key_names(records)
    fig, ax = plt().subplots(figsize=(6, 4))
    for name, recs in group_records(records, group_by).items():
        series = [
            {e["step"]: e.get(metric) for e in r.curve or [] if e.get(metric) is not None} for r in recs
        ]
        series = [s for s in series if s]
        if not series:
            continue
        steps = sorted(set.intersection(*(set(s) for s in series)))
        if not steps:
            continue
        y = np.array([[s[t] for t in steps] for s in series], dtype=float)  # [seeds, steps]
        m, sd = y.mean(0), y.std(0)
        ax.plot(steps, m, label=f"{name} (n={len(series)})")
        ax.fill_between(steps, m - sd, m + sd, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return save(fig, path)


def plot_sweep(
    records: Sequence[Record | Mapping],
    path: str | Path,
    x_key: str | None = None,
    group_key: str | None = "method",
    metric: str = "normalized",
    kind: str = "line",
    title: str | None = None,
) -> Path:
    """Final ``metric`` (mean ± std over seeds) against a swept key (line) or per cell (bar)."""
    records = Runs(records)
    fig, ax = plt().subplots(figsize=(6, 4))
    keys = key_names(records)
    if kind == "bar" or x_key is None:
        names = [k for k in keys if k != group_key] if group_key in keys else keys
        groups = group_records(records, names + ([group_key] if group_key in keys else []))
        labels, ms, sds = [], [], []
        for name, recs in groups.items():
            vals = [r.value(metric) for r in recs if r.value(metric) is not None]
            if vals:
                m, sd, n = mean_std(vals)
                labels.append(f"{name}\n(n={n})")
                ms.append(m)
                sds.append(sd)
        ax.bar(range(len(ms)), ms, yerr=sds, capsize=3)
        ax.set_xticks(range(len(ms)), labels, rotation=30, ha="right", fontsize="small")
    else:
        gkeys = [group_key] if group_key in keys else []
        for name, recs in group_records(records, gkeys).items():
            xs: dict[Any, list[float]] = {}
            for r in recs:
                if r.value(metric) is not None:
                    xs.setdefault(r.key(x_key), []).append(r.value(metric))
            numeric = all(isinstance(v, (int, float)) for v in xs)
            order = sorted(xs) if numeric else sorted(xs, key=str)
            if not order:
                continue
            means = np.array([np.mean(xs[v]) for v in order])
            stds = np.array([np.std(xs[v]) for v in order])
            xpos = order if numeric else list(range(len(order)))
            ax.errorbar(xpos, means, yerr=stds, marker="o", capsize=3, label=name)
            if not numeric:
                ax.set_xticks(xpos, [label(v) for v in order])
        ax.set_xlabel(x_key)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title)
    return save(fig, path)
