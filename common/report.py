"""Reports: our records next to the published numbers, per item and for the whole project.

``python -m common.report [--profile P | --all] [--results DIR] [--papers DIR]`` writes

- ``results/<profile>/<paper>/<item>.md`` for every item of every paper (and ``<item>.png`` for
  figures with records), for each profile that has records (or the one asked for);
- ``results/REPORT.md``: one section per profile that has records, every item of every paper with
  its status (done n/m cells, partial n/m cells, not run), the date of its newest record and links.

Each paper's ``papers/<p>/published.py`` holds data only::

    PAPER = "omar"; TITLE = "..."
    ITEMS = {"table3": {"kind": "table", "title": "...", "rows": ["env", "dataset"], "cols": "method",
                        "metric": "normalized", "precision": 1,           # precision optional
                        "pool": {"env": ["omar/spread", ...]}},            # optional, see below
             "figure3": {"kind": "figure", "title": "...",
                         "plot": "curves" | "sweep" | "bar", "x": "tau", "group": "method",
                         "metric": "normalized"}}                           # plot keys optional
    PUBLISHED = [{"item": "table3", "keys": {...}, "mean": 114.9, "std": 2.6, "note": "..."}, ...]
    CLAIMS = [{"item": "figure3", "id": "tau_interior", "text": "the best tau is neither 0 nor 1"}]
    NOTES = {"table3": ["footnote", ...]}                                   # optional

A table cell reads ``ours mean ± std (n) vs published mean ± std, Δ ours−published verdict``; the
verdict is "within" (|Δ| ≤ published std, or ≤ our std where the paper gives none), "differs",
"not run" (no record), "no published", or "partial": records whose keys go beyond the table's rows
and columns are pooled into their cell (Table 5 averages over tasks), and a cell that has not pooled
every value its spec's ``pool`` lists gets no Δ and no verdict. std is the population std (ddof=0, numpy's default,
as the papers print). Only the newest record of each (cell keys, seed) counts, so ``--force``
reruns replace older ones. Claim verdicts are records with ``keys={"claim": id}`` and
``extra={"holds": bool, "evidence": str}`` (``common.experiment.write_claim``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import math
import os
import re
import sys
import types
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from tabulate import tabulate

from common import stats
from common.experiment import canonical_json, load_records, plan_path, record_threads
from common.roots import REFERENCE_ROOT, RUNS_ENV, is_reference, runs_root
from common.profiles import PROFILE_NAMES, get_profile

VERDICTS = ("within", "differs", "partial", "not run", "no published")
_REPORT_HEADERS = ["paper", "item", "kind", "title", "status", "newest", "report"]
_REPO_ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------------
# published.py
# ----------------------------------------------------------------------------------------------
def normalize_published(module: Any, paper: str | None = None) -> types.SimpleNamespace:
    """A namespace with PAPER, TITLE, ITEMS, PUBLISHED, CLAIMS, NOTES (defaults when absent)."""
    g = (lambda k, d: getattr(module, k, d)) if module is not None else (lambda k, d: d)
    ns = types.SimpleNamespace(
        PAPER=g("PAPER", paper), TITLE=g("TITLE", paper or ""), ITEMS=dict(g("ITEMS", {}) or {}),
        PUBLISHED=list(g("PUBLISHED", []) or []), CLAIMS=list(g("CLAIMS", []) or []),
        NOTES=dict(g("NOTES", {}) or {}), found=module is not None, error=None,
    )
    for it, spec in ns.ITEMS.items():
        if spec.get("kind") not in ("table", "figure"):
            raise ValueError(f"{ns.PAPER}: item {it!r} has kind {spec.get('kind')!r}; allowed: table, figure")
    return ns


def load_published(paper: str, papers_root: str | Path | None = None) -> types.SimpleNamespace:
    """Import ``<papers_root>/<paper>/published.py`` by path; a missing or broken file gives an empty one."""
    path = Path(papers_root or _REPO_ROOT / "papers") / paper / "published.py"
    if not path.exists():
        return normalize_published(None, paper)
    try:
        spec = importlib.util.spec_from_file_location(f"_offmarl_published_{paper}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return normalize_published(mod, paper)
    except Exception as e:  # noqa: BLE001 - report what is wrong, render the rest
        warnings.warn(f"{path}: could not load ({type(e).__name__}: {e})")
        ns = normalize_published(None, paper)
        ns.error = f"{type(e).__name__}: {e}"
        return ns


def discover_papers(papers_root: str | Path | None = None) -> list[str]:
    root = Path(papers_root or _REPO_ROOT / "papers")
    return sorted(p.name for p in root.iterdir() if (p / "published.py").exists()) if root.exists() else []


# ----------------------------------------------------------------------------------------------
# Aggregation
# ----------------------------------------------------------------------------------------------
def is_claim(rec: Mapping[str, Any]) -> bool:
    return "claim" in (rec.get("keys") or {})


def latest_records(records: Iterable[Mapping[str, Any]]) -> list[dict]:
    """The newest record (by ``finished``) of each (item, keys, seed, thread count), claims excluded;
    order kept. See ``one_thread_setting`` for cells run under several thread counts."""
    best: dict[tuple, dict] = {}
    for r in records:
        if is_claim(r):
            continue
        k = (r.get("item"), canonical_json(r.get("keys", {})), r.get("seed"), record_threads(r))
        if k not in best or str(r.get("finished", "")) >= str(best[k].get("finished", "")):
            best[k] = dict(r)
    return list(best.values())


def one_thread_setting(records: Sequence[Mapping[str, Any]]) -> tuple[list[dict], dict[int, int]]:
    """Records of one thread count per cell, never averaged across thread counts (a run's numbers
    depend on it): per (item, keys), the thread count with the most records (ties: the fewest threads).
    Returns (kept, {threads: number of records left out})."""
    by_cell: dict[tuple, dict[int, list]] = {}
    for r in records:
        k = (r.get("item"), canonical_json(r.get("keys", {})))
        by_cell.setdefault(k, {}).setdefault(record_threads(r), []).append(r)
    keep_ids, left_out = set(), {}
    for groups in by_cell.values():
        best = min(groups, key=lambda t: (-len(groups[t]), t))
        keep_ids |= {id(r) for r in groups[best]}
        for t, rs in groups.items():
            if t != best:
                left_out[t] = left_out.get(t, 0) + len(rs)
    return [dict(r) for r in records if id(r) in keep_ids], left_out


def _natural(v: Any, rank: int) -> tuple:
    """Sort key of a cell key's value: numbers (also numeric strings, e.g. "20") by value, before text;
    text (e.g. dataset kinds, methods) by ``rank``, the order it first appears in."""
    try:
        return (0, float(v))
    except (TypeError, ValueError):
        return (1, float(rank))


def mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std()), int(a.size)


def _fmt(x: float | None, p: int) -> str:
    return "—" if x is None else f"{x:.{p}f}"


def infer_precision(entries: Sequence[Mapping[str, Any]], default: int = 1) -> int:
    """Decimals as printed by the paper: the most decimals among published means (at most 3)."""
    best = None
    for e in entries:
        m = e.get("mean")
        if isinstance(m, float):
            dec = len(repr(m).split(".")[1]) if "." in repr(m) and "e" not in repr(m) else 0
            best = max(best or 0, min(dec, 3))
        elif isinstance(m, int):
            best = max(best or 0, 0)
    return default if best is None else best


def _key_names(records, entries, first: Sequence[str] = ()) -> list[str]:
    names = list(first)
    for src in (entries, records):
        for e in src:
            for k in e.get("keys", {}):
                if k not in names:
                    names.append(k)
    return names


def compare_cells(records: Sequence[Mapping], entries: Sequence[Mapping], key_names: Sequence[str],
                  metric: str, pool: Mapping[str, Sequence] | None = None) -> dict[tuple, dict]:
    """Cells keyed by the values of ``key_names``: published entry, our values, verdict, Δ.

    Records whose keys go beyond ``key_names`` (e.g. Table 5's env, pooled because the paper averages
    over tasks) are pooled into their cell; ``c["pooled"]`` counts the records per value of each such
    key. With ``pool`` (the item spec's ``{"env": [every value the paper's number averages over]}``), a
    cell that has not yet pooled every listed value (``c["pool_missing"]``) gets the verdict "partial"
    and no Δ: a mean over some of the tasks is not comparable to the paper's mean over all of them.

    Order: cells as they appear in ``entries`` (published), then in ``records``.
    """
    cells: dict[tuple, dict] = {}

    def cell(keys):
        k = tuple(canonical_json(keys.get(n)) for n in key_names)
        if k not in cells:
            cells[k] = {"keys": {n: keys.get(n) for n in key_names}, "pub": None, "values": [],
                        "n_nonfinite": 0, "hashes": set(), "pooled": {},
                        "pool_missing": {}}
        return cells[k]

    for e in entries:
        cell(e.get("keys", {}))["pub"] = e
    for r in records:
        c = cell(r.get("keys", {}))
        v = r.get(metric)
        if v is None or not math.isfinite(float(v)):
            c["n_nonfinite"] += 1
        else:
            c["values"].append(float(v))
        c["hashes"].add(r.get("config_hash"))
        for k, v in (r.get("keys") or {}).items():
            if k not in key_names:
                counts = c["pooled"].setdefault(k, {})
                counts[_label(v)] = counts.get(_label(v), 0) + 1
    for c in cells.values():
        for name, values in (pool or {}).items():
            missing = [_label(v) for v in values if _label(v) not in c["pooled"].get(name, {})]
            if missing:
                c["pool_missing"][name] = missing
    for c in cells.values():
        pub, vals = c["pub"], c["values"]
        c["mean"], c["std"], c["n"] = mean_std(vals) if vals else (None, None, 0)
        c["pub_mean"] = pub.get("mean") if pub else None
        c["pub_std"] = pub.get("std") if pub else None
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
            tol = c["pub_std"] if c["pub_std"] is not None else c["std"]
            c["verdict"] = "within" if abs(c["delta"]) <= tol + 1e-9 else "differs"
    return cells


def format_cell(c: Mapping[str, Any], p: int, marker: str = "") -> str:
    """``110.0 ± 2.0 (3) vs 114.9 ± 2.6, Δ -4.9 differs`` and its variants."""
    pub = None
    if c["pub_mean"] is not None:
        pub = _fmt(c["pub_mean"], p) + (f" ± {_fmt(c['pub_std'], p)}" if c["pub_std"] is not None else "")
    nf = f" +{c['n_nonfinite']} non-finite" if c["n_nonfinite"] else ""
    if c["n"] == 0 and not c["n_nonfinite"]:
        return f"not run (pub {pub}){marker}" if pub else "not run"
    if c["n"]:
        ours = f"{_fmt(c['mean'], p)} ± {_fmt(c['std'], p)} ({c['n']}){nf}"
    else:
        ours = f"non-finite ({c['n_nonfinite']})"
    if pub is None:
        return f"{ours}, no published"
    delta = f"Δ {c['delta']:+.{p}f} " if c["delta"] is not None else ""
    return f"{ours} vs {pub}, {delta}{c['verdict']}{marker}"


def format_ref(rc: Mapping[str, Any] | None, p: int) -> str:
    """The reference (committed) value of a cell: ``192.8 ± 47.7 (3) differs``, or ``not run``."""
    if rc is None or (rc["n"] == 0 and not rc["n_nonfinite"]):
        return "not run"
    nf = f" +{rc['n_nonfinite']} non-finite" if rc["n_nonfinite"] else ""
    ours = f"{_fmt(rc['mean'], p)} ± {_fmt(rc['std'], p)} ({rc['n']}){nf}" if rc["n"] else \
        f"non-finite ({rc['n_nonfinite']})"
    return ours + ("" if rc["verdict"] in ("no published",) else f" {rc['verdict']}")


def _md(rows, headers) -> str:
    """A GitHub-markdown table; numbers stay as we formatted them."""
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _label(v: Any) -> str:
    return "—" if v is None else (v if isinstance(v, str) else json.dumps(v))


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------
def render_table(item: str, spec: Mapping[str, Any], entries: Sequence[Mapping], records: Sequence[Mapping],
                 notes: Sequence[str] = (), reps: int = 1000, ref_records: Sequence[Mapping] | None = None) -> str:
    """Markdown for a table item: paper layout, long-format detail, IQM / P(improvement), footnotes.

    With ``ref_records`` (the committed reference's records, when ``records`` are this machine's),
    each cell also shows the reference's value and verdict, and the detail table ours − reference."""
    rows = list(spec.get("rows", []))
    col = spec.get("cols", "method")
    metric = spec.get("metric", "normalized")
    p = spec.get("precision", infer_precision(entries))
    key_names = rows + [col]
    cells = compare_cells(records, entries, key_names, metric, spec.get("pool"))
    ref_cells = None
    if ref_records is not None:
        ref_cells = compare_cells(ref_records, entries, key_names, metric, spec.get("pool"))
        for k, rc in ref_cells.items():  # a cell only the reference ran still gets its row
            if k not in cells:
                cells[k] = compare_cells([], [rc["pub"]] if rc["pub"] else [{"keys": rc["keys"]}], key_names,
                                         metric, spec.get("pool"))[k]

    footnotes: list[str] = []
    markers: dict[tuple, str] = {}
    for k, c in cells.items():
        texts = []
        if c["pub"] and c["pub"].get("note"):
            texts.append(str(c["pub"]["note"]))
        if len(c["hashes"]) > 1:
            texts.append(f"{_cell_name(c['keys'])}: seeds ran with {len(c['hashes'])} different configs "
                         f"({', '.join(sorted(map(str, c['hashes'])))})")
        for name, counts in c["pooled"].items():
            pooled = ", ".join(f"{v} ({n} run{'s' if n != 1 else ''})" for v, n in counts.items())
            missing = c["pool_missing"].get(name)
            texts.append(f"{_cell_name(c['keys'])}: pooled over {name} = {pooled}"
                         + (f"; not run yet: {', '.join(missing)}, so no verdict (partial)" if missing else ""))
        if texts:
            marks = []
            for t in texts:
                footnotes.append(t)
                marks.append(f"[{len(footnotes)}]")
            markers[k] = " " + "".join(marks)

    row_ids: list[tuple] = []
    col_ids: list[str] = []
    for k in cells:
        if k[:-1] not in row_ids:
            row_ids.append(k[:-1])
        if k[-1] not in col_ids:
            col_ids.append(k[-1])
    col_labels = [_label(json.loads(c)) for c in col_ids]
    wide = []
    for r in row_ids:
        line = [_label(json.loads(v)) for v in r]
        for cid in col_ids:
            c = cells.get((*r, cid))
            text = format_cell(c, p, markers.get((*r, cid), "")) if c else ""
            if c and ref_cells is not None:
                text += f" · ref {format_ref(ref_cells.get((*r, cid)), p)}"
            line.append(text)
        wide.append(line)
    who_ours = "ours (this machine)" if ref_cells is not None else "ours"
    out = [f"Metric: `{metric}` · cell: {who_ours} mean ± std (n seeds) vs published mean ± std, "
           f"Δ = ours − published, verdict"
           + (" · ref: the committed reference's mean ± std (n) and verdict" if ref_cells is not None else "")
           + "\n",
           _md(wide, headers=rows + col_labels) if wide else "_no cells_", ""]

    counts = {v: sum(c["verdict"] == v for c in cells.values()) for v in VERDICTS}
    out.append("Verdicts: " + ", ".join(f"{v} {n}" for v, n in counts.items()) + "\n")
    if ref_cells is not None:
        rcounts = {v: sum(c["verdict"] == v for c in ref_cells.values()) for v in VERDICTS}
        out.append("Reference verdicts: " + ", ".join(f"{v} {n}" for v, n in rcounts.items()) + "\n")

    out.append("### Detail\n")
    detail = []
    for k, c in cells.items():
        row = [*(_label(v) for v in c["keys"].values()), _fmt(c["mean"], p), _fmt(c["std"], p), c["n"],
               c["n_nonfinite"] or "", _fmt(c["pub_mean"], p), _fmt(c["pub_std"], p),
               "—" if c["delta"] is None else f"{c['delta']:+.{p}f}", c["verdict"]]
        if ref_cells is not None:
            rc = ref_cells.get(k)
            vs = (f"{c['mean'] - rc['mean']:+.{p}f}" if rc and rc["mean"] is not None and c["mean"] is not None
                  else "—")
            row += [format_ref(rc, p), vs]
        detail.append(row + [markers.get(k, "").strip()])
    ref_heads = ["reference", "ours − ref"] if ref_cells is not None else []
    out.append(_md(detail, headers=key_names + ["ours mean", "ours std", "n", "non-finite", "pub mean",
                                                "pub std", "Δ", "verdict", *ref_heads, "notes"]))
    out.append("")

    # who beats whom compares the values of spec["compare"] (default: the column key) within each
    # combination of the other keys, e.g. samplers per dataset when the paper's columns are datasets
    cmp_key = spec.get("compare", col)
    if cmp_key == col:
        who = render_who_beats_whom(cells, rows, col, p, reps=reps)
    else:
        others = [k for k in key_names if k != cmp_key]
        who = render_who_beats_whom(compare_cells(records, entries, others + [cmp_key], metric, spec.get("pool")),
                                    others, cmp_key, p, reps=reps)
    if who:
        out += ["### Who beats whom (IQM over seeds, 95% stratified-bootstrap CI; P(best > method))\n", who, ""]
    allnotes = [*footnotes, *([notes] if isinstance(notes, str) else list(notes))]
    if allnotes:
        out.append("### Notes\n")
        for i, t in enumerate(allnotes, 1):
            out.append(f"{i}. {t}" if i <= len(footnotes) else f"- {t}")
        out.append("")
    return "\n".join(out)


def _cell_name(keys: Mapping[str, Any]) -> str:
    return "/".join(_label(v) for v in keys.values())


def render_who_beats_whom(cells: Mapping[tuple, Mapping], rows: Sequence[str], col: str, p: int,
                          reps: int = 1000) -> str:
    """Per row with ≥2 methods that ran: IQM [CI] per method and P(best > method) [CI]."""
    by_row: dict[tuple, dict[str, list[float]]] = {}
    for k, c in cells.items():
        if c["values"] and c["verdict"] != "partial":  # a partial pool is not comparable to a full one
            by_row.setdefault(k[:-1], {})[_label(c["keys"][col])] = c["values"]
    lines = []
    for r, methods in by_row.items():
        if len(methods) < 2:
            continue
        iqms = {m: stats.iqm_ci(v, reps=reps) for m, v in methods.items()}
        best = max(iqms, key=lambda m: iqms[m][0])
        for m, (q, lo, hi) in iqms.items():
            if m == best:
                poi = "best"
            else:
                pt, plo, phi = stats.probability_of_improvement_ci(methods[best], methods[m], reps=reps)
                poi = f"{pt:.2f} [{plo:.2f}, {phi:.2f}]"
            lines.append([*(_label(json.loads(v)) for v in r), m, _fmt(q, p), f"[{_fmt(lo, p)}, {_fmt(hi, p)}]", poi])
    if not lines:
        return ""
    return _md(lines, headers=[*rows, col, "IQM", "95% CI", "P(best > method)"])


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _group(records: Sequence[Mapping], key_names: Sequence[str]) -> dict[str, list[Mapping]]:
    groups: dict[str, list[Mapping]] = {}
    for r in records:
        label = ", ".join(f"{_label(r['keys'].get(k))}" for k in key_names) or "all"
        groups.setdefault(label, []).append(r)
    return groups


def curve_metric(records: Sequence[Mapping], metric: str) -> str:
    """``metric`` if the curves carry it, else ``score``."""
    for r in records:
        for e in r.get("curve") or []:
            if e.get(metric) is not None:
                return metric
    return "score"


def plot_curves(records: Sequence[Mapping], path: str | Path, group_by: Sequence[str] | None = None,
                metric: str = "normalized", title: str | None = None) -> Path:
    """Learning curves: mean ± std over seeds per group (default: every key but seed) at common steps."""
    plt = _plt()
    metric = curve_metric(records, metric)
    group_by = list(group_by) if group_by is not None else _key_names(records, [])
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, recs in _group(records, group_by).items():
        series = [{e["step"]: e.get(metric) for e in r.get("curve") or [] if e.get(metric) is not None} for r in recs]
        series = [s for s in series if s]
        if not series:
            continue
        steps = sorted(set.intersection(*(set(s) for s in series)))
        if not steps:
            continue
        y = np.array([[s[t] for t in steps] for s in series], dtype=float)  # [seeds, steps]
        m, sd = y.mean(0), y.std(0)
        ax.plot(steps, m, label=f"{label} (n={len(series)})")
        ax.fill_between(steps, m - sd, m + sd, alpha=0.2)
    ax.set_xlabel("gradient step")
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return _save(fig, path)


def plot_sweep(records: Sequence[Mapping], path: str | Path, x_key: str | None = None, group_key: str | None = "method",
               metric: str = "normalized", kind: str = "line", title: str | None = None) -> Path:
    """Final ``metric`` (mean ± std over seeds) against a swept key (line) or per cell (bar)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    keys = _key_names(records, [])
    if kind == "bar" or x_key is None:
        names = [k for k in keys if k != group_key] if group_key in keys else keys
        groups = _group(records, names + ([group_key] if group_key in keys else []))
        labels, ms, sds = [], [], []
        for label, recs in groups.items():
            vals = [r[metric] for r in recs if r.get(metric) is not None]
            if vals:
                m, sd, n = mean_std(vals)
                labels.append(f"{label}\n(n={n})")
                ms.append(m)
                sds.append(sd)
        ax.bar(range(len(ms)), ms, yerr=sds, capsize=3)
        ax.set_xticks(range(len(ms)), labels, rotation=30, ha="right", fontsize="small")
    else:
        gkeys = [group_key] if group_key in keys else []
        for label, recs in _group(records, gkeys).items():
            xs: dict[Any, list[float]] = {}
            for r in recs:
                if r.get(metric) is not None:
                    xs.setdefault(r["keys"].get(x_key), []).append(r[metric])
            numeric = all(isinstance(v, (int, float)) for v in xs)
            order = sorted(xs) if numeric else sorted(xs, key=str)
            if not order:
                continue
            ms = np.array([np.mean(xs[v]) for v in order])
            sds = np.array([np.std(xs[v]) for v in order])
            xpos = order if numeric else list(range(len(order)))
            ax.errorbar(xpos, ms, yerr=sds, marker="o", capsize=3, label=label)
            if not numeric:
                ax.set_xticks(xpos, [_label(v) for v in order])
        ax.set_xlabel(x_key)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def tight_layout(fig) -> None:
    """``fig.tight_layout()`` without matplotlib's "Tight layout not applied" warning: when the layout
    cannot be tightened (e.g. a long legend) the figure is saved as drawn, which is all the warning says."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Tt]ight.?layout.*")
        fig.tight_layout()


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tight_layout(fig)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    fig.clear()
    _plt().close(fig)
    return path


def claim_verdicts(claims: Sequence[Mapping], records: Sequence[Mapping]) -> list[dict]:
    """Each claim with verdict holds / does not hold / not checked (newest claim record wins)."""
    newest: dict[str, Mapping] = {}
    for r in records:
        if is_claim(r):
            cid = r["keys"]["claim"]
            if cid not in newest or str(r.get("finished", "")) >= str(newest[cid].get("finished", "")):
                newest[cid] = r
    out = []
    for c in claims:
        r = newest.get(c["id"])
        if r is None:
            out.append({**c, "verdict": "not checked", "evidence": ""})
        else:
            ex = r.get("extra", {})
            out.append({**c, "verdict": "holds" if ex.get("holds") else "does not hold",
                        "evidence": ex.get("evidence", "")})
    return out


def render_claims(verdicts: Sequence[Mapping], ref_verdicts: Sequence[Mapping] | None = None) -> str:
    """One line per claim: verdict, text, evidence; with ``ref_verdicts``, the reference's verdict too."""
    ref = {v["id"]: v["verdict"] for v in ref_verdicts or () if v["verdict"] != "not checked"}
    return "\n".join(f"- **{v['verdict']}**" + (f" (reference: {ref.get(v['id'], 'no verdict yet')})"
                                                   if ref_verdicts is not None else "")
                     + f" — {v['text']} (`{v['id']}`)"
                     + (f": {v['evidence']}" if v["evidence"] else "") for v in verdicts)


def render_figure(item: str, spec: Mapping[str, Any], entries: Sequence[Mapping], records: Sequence[Mapping],
                  png_path: Path, claims: Sequence[Mapping] = (), all_records: Sequence[Mapping] = (),
                  notes: Sequence[str] = (), ref_records: Sequence[Mapping] | None = None,
                  ref_all_records: Sequence[Mapping] = ()) -> tuple[str, Path | None]:
    """Markdown (summary table, image link, claims) and the PNG (None when nothing to plot).

    With ``ref_records`` (the committed reference's newest records; ``ref_all_records`` with its
    claim verdicts), the per-cell table and the claims show the reference beside ours."""
    metric = spec.get("metric", "normalized")
    p = spec.get("precision", infer_precision(entries))
    plot = spec.get("plot")
    if plot is None:
        has_curves = any(len(r.get("curve") or []) >= 2 for r in records)
        plot = "curves" if has_curves else ("sweep" if spec.get("x") else "bar")
    png = None
    if records:
        if plot == "curves":
            png = plot_curves(records, png_path, spec.get("group"), metric, spec.get("title"))
        else:
            png = plot_sweep(records, png_path, spec.get("x"), spec.get("group", "method"), metric,
                             "bar" if plot == "bar" else "line", spec.get("title"))
    out = []
    # the script's own panels (spec["pngs"], drawn beside the records) come first when they exist
    panels = [name for name in spec.get("pngs", ()) if (Path(png_path).parent / name).exists()]
    out += [f"![{item} {Path(name).stem}]({name})\n" for name in panels]
    if png is not None:
        out += [f"![{item}]({png.name})\n"]
    elif not panels:
        out += ["_no records yet: nothing plotted_\n"]
    names = _key_names([*records, *(ref_records or [])], entries)
    cells = compare_cells(records, entries, names, metric)
    ref_cells = None
    if ref_records is not None:
        ref_cells = compare_cells(ref_records, entries, names, metric)
        for k, rc in ref_cells.items():
            if k not in cells:
                cells[k] = compare_cells([], [rc["pub"]] if rc["pub"] else [{"keys": rc["keys"]}], names, metric)[k]
    if cells:
        first: dict[tuple[str, str], int] = {}  # text values keep the order they first appear in (the grid's)
        for c in cells.values():
            for k, v in c["keys"].items():
                first.setdefault((k, str(v)), len(first))
        ordered = sorted(cells.values(), key=lambda c: tuple(_natural(v, first[(k, str(v))])
                                                             for k, v in c["keys"].items()))
        by_id = {id(c): k for k, c in cells.items()}
        rows = [[*(_label(v) for v in c["keys"].values()), format_cell(c, p)]
                + ([format_ref(ref_cells.get(by_id[id(c)]), p)] if ref_cells is not None else []) for c in ordered]
        out += [f"Final `{metric}` per cell:\n",
                _md(rows, headers=names + ["ours vs published"] + (["reference"] if ref_cells is not None else [])),
                ""]
    verdicts = claim_verdicts(claims, all_records)
    if verdicts:
        ref_v = claim_verdicts(claims, ref_all_records) if ref_records is not None else None
        out += ["### Claims\n", render_claims(verdicts, ref_v), ""]
    if notes:
        out += ["### Notes\n", *(f"- {t}" for t in ([notes] if isinstance(notes, str) else notes)), ""]
    return "\n".join(out), png


# ----------------------------------------------------------------------------------------------
# Item reports and REPORT.md
# ----------------------------------------------------------------------------------------------
def _planned(results_root, profile, paper, item) -> list[dict] | None:
    path = plan_path(results_root, profile, paper, item)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())["cells"]
    except (ValueError, KeyError):
        warnings.warn(f"{path}: corrupt plan file, ignored")
        return None


def item_status(results_root, profile: str, paper: str, item: str, entries: Sequence[Mapping],
                records: Sequence[Mapping]) -> dict[str, Any]:
    """status ("done", "partial", "not run"), n done / m cells, newest record date."""
    recs = latest_records(records)
    seeds_by_cell: dict[str, set] = {}
    for r in recs:
        seeds_by_cell.setdefault(canonical_json(r.get("keys", {})), set()).add(r.get("seed"))
    plan = _planned(results_root, profile, paper, item)
    if plan is not None:
        want = {canonical_json(e["keys"]): set(e["seeds"]) for e in plan}
    else:
        try:
            n_seeds = get_profile(profile).n_seeds
        except ValueError:
            n_seeds = 1
        want = {canonical_json(e.get("keys", {})): n_seeds for e in entries}
        for k in seeds_by_cell:
            want.setdefault(k, n_seeds)
    done = 0
    for k, w in want.items():
        have = seeds_by_cell.get(k, set())
        done += (w <= have) if isinstance(w, set) else (len(have) >= w)
    finished = [str(r.get("finished")) for r in records if r.get("finished")]
    newest = max(finished)[:10] if finished else None
    m = len(want)
    if not records:
        status = "not run"
    elif done == m and m > 0:
        status = "done"
    else:
        status = "partial"
    return {"status": status, "done": done, "cells": m, "newest": newest}


def status_text(st: Mapping[str, Any]) -> str:
    return "not run" if st["status"] == "not run" else f"{st['status']} {st['done']}/{st['cells']} cells"


def write_item_report(results_root: str | Path, profile: str, paper: str, item: str,
                      published: Any = None, papers_root: str | Path | None = None,
                      reference_root: str | Path | None = None) -> Path:
    """Render ``<results_root>/<profile>/<paper>/<item>.md`` (and ``.png`` for figures); return its path.

    With ``reference_root`` (the committed reference, when ``results_root`` holds this machine's
    runs), every cell shows published | reference | this machine."""
    pub = published if isinstance(published, types.SimpleNamespace) else (
        normalize_published(published, paper) if published is not None else load_published(paper, papers_root))
    results_root = Path(results_root)
    all_recs = load_records(results_root, profile, paper, item)
    spec = pub.ITEMS.get(item)
    if spec is None:  # an item of ours (e.g. a diagnostic): one row per combination of its other keys
        keys = dict.fromkeys(k for r in all_recs for k in (r.get("keys") or {}) if k not in ("method", "claim"))
        spec = {"kind": "table", "title": "(not listed in published.py)", "rows": list(keys),
                "cols": "method", "metric": "normalized"}
    recs, left_out = one_thread_setting(latest_records([r for r in all_recs if r.get("profile", profile) == profile]))
    ref_recs = ref_all = None
    if reference_root is not None and Path(reference_root).resolve() != results_root.resolve():
        ref_all = load_records(reference_root, profile, paper, item)
        ref_recs, _ = one_thread_setting(latest_records([r for r in ref_all if r.get("profile", profile) == profile]))
    entries = [e for e in pub.PUBLISHED if e.get("item") == item]
    notes = pub.NOTES.get(item, [])
    claims = [c for c in pub.CLAIMS if c.get("item") == item]
    st = item_status(results_root, profile, paper, item, entries, all_recs)
    base = results_root / profile / paper
    head = [f"# {pub.TITLE or paper} — {item}: {spec.get('title', '')}\n",
            f"Profile **{profile}** · status: {status_text(st)} · newest record: {st['newest'] or '—'} · "
            f"generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}\n"]
    gits = [r["git_commit"] for r in recs if r.get("git_commit")]
    commits = sorted({str(g.get("commit"))[:10] + ("+dirty" if g.get("dirty") else "") for g in gits})
    if commits:
        head.append(f"Git commits: {', '.join(commits)}\n")
    if ref_recs is not None:
        ref_st = item_status(reference_root, profile, paper, item, entries, ref_all)
        head.append(f"Records: this machine's under `{results_root}`; reference: the committed "
                    f"`results/{profile}/{paper}/{item}.jsonl` ({status_text(ref_st)}, newest record "
                    f"{ref_st['newest'] or '—'})\n")
    if left_out:
        head.append("Left out (a cell's numbers are never averaged across thread counts; each cell keeps the "
                    "thread count with the most records): "
                    + ", ".join(f"{n} record{'s' if n != 1 else ''} made with {t} thread{'s' if t != 1 else ''}"
                                for t, n in sorted(left_out.items())) + "\n")
    if pub.error:
        head.append(f"**published.py failed to load**: {pub.error}\n")
    if spec.get("kind") == "figure":
        body, _ = render_figure(item, spec, entries, recs, base / f"{item}.png", claims, all_recs, notes,
                                ref_recs, ref_all or ())
    else:
        body = render_table(item, spec, entries, recs, notes, ref_records=ref_recs)
        if claims:
            ref_v = claim_verdicts(claims, ref_all) if ref_all is not None else None
            body += "\n### Claims\n\n" + render_claims(claim_verdicts(claims, all_recs), ref_v) + "\n"
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{item}.md"
    _write_unless_only_timestamp_changed(path, "\n".join(head) + "\n" + body + "\n")
    return path


_GENERATED = re.compile(r"([Gg]enerated) \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+\-]\d\d:\d\d")


def _write_unless_only_timestamp_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically, unless the file already holds it up to its "generated"
    timestamp (then the file is left as it is, so a re-render of unchanged results is not a git change).
    Return whether the file was written."""
    def strip(t: str) -> str:
        return _GENERATED.sub(r"\1 <time>", t)

    if path.exists() and strip(path.read_text(encoding="utf-8")) == strip(text):
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def profiles_with_records(results_root: str | Path) -> list[str]:
    root = Path(results_root)
    found = [d.name for d in root.iterdir() if d.is_dir() and any(d.glob("*/*.jsonl"))] if root.exists() else []
    return [p for p in PROFILE_NAMES if p in found] + sorted(p for p in found if p not in PROFILE_NAMES)


def write_report(results_root: str | Path | None = None, profiles: Sequence[str] | None = None,
                 papers_root: str | Path | None = None, published: Mapping[str, Any] | None = None,
                 reference_root: str | Path | None = None) -> Path:
    """Regenerate the item reports of ``profiles`` (default: all with records) and ``REPORT.md``.

    ``results_root`` defaults to this machine's runs root (common.roots). ``published`` maps paper ->
    module (or namespace) and overrides the files under ``papers_root``. With ``reference_root``
    (the committed reference, for a runs root), item reports show the reference beside ours and
    REPORT.md the reference's status beside this machine's.
    """
    results_root = runs_root() if results_root is None else Path(results_root)
    if reference_root is not None and Path(reference_root).resolve() == results_root.resolve():
        reference_root = None
    papers = sorted(set(discover_papers(papers_root)) | set(published or {}))
    pubs = {}
    for paper in papers:
        mod = (published or {}).get(paper)
        pubs[paper] = (mod if isinstance(mod, types.SimpleNamespace) else normalize_published(mod, paper)) \
            if mod is not None else load_published(paper, papers_root)
    with_records = profiles_with_records(results_root)
    regenerate = list(profiles) if profiles is not None else with_records
    sections = with_records
    for prof in regenerate:
        if prof not in with_records:
            print(f"profile {prof!r} has no records under {results_root}; nothing to regenerate for it")
    whose = ("the committed reference results" if is_reference(results_root)
             else f"this machine's runs (`{results_root}`), beside the committed reference")
    regen = "python -m common.report --reference" if is_reference(results_root) else "python -m common.report"
    lines = ["# offmarl-repro — report\n",
             f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} from {whose}. "
             "One section per profile with records; a profile's numbers are never mixed with another's. "
             f"Regenerate with `{regen}`.\n"]
    headers = _REPORT_HEADERS if reference_root is None else _REPORT_HEADERS[:5] + ["reference"] + _REPORT_HEADERS[5:]
    if not sections and reference_root is not None:
        lines.append("_No runs on this machine yet_ (e.g. `./run_all.sh --profile smoke`, or "
                     "`python papers/omar/table1.py --profile smoke`). The committed reference: `results/REPORT.md`.\n")
    elif not sections:
        lines.append("_No results yet._ Items:\n")
        rows = [[paper, it, spec.get("kind"), spec.get("title", ""), "not run", "—", "—"]
                for paper in papers for it, spec in pubs[paper].ITEMS.items()]
        lines.append(_md(rows, headers=_REPORT_HEADERS))
    for prof in sections:
        lines.append(f"\n## Profile `{prof}`\n")
        rows = []
        on_disk = {p.name for p in (results_root / prof).iterdir() if p.is_dir()}
        for paper in sorted(set(papers) | (on_disk - {"sacred", "checkpoints"})):
            pub = pubs.get(paper) or load_published(paper, papers_root)
            listed = list(pub.ITEMS)
            extra_items = sorted(p.stem for p in (results_root / prof / paper).glob("*.jsonl") if p.stem not in listed)
            for it in listed + extra_items:
                spec = pub.ITEMS.get(it, {"kind": "table", "title": "(not in published.py)"})
                recs = load_records(results_root, prof, paper, it)
                entries = [e for e in pub.PUBLISHED if e.get("item") == it]
                st = item_status(results_root, prof, paper, it, entries, recs)
                link = "—"
                if prof in regenerate:
                    md = write_item_report(results_root, prof, paper, it, pub, reference_root=reference_root)
                    link = f"[md]({md.relative_to(results_root).as_posix()})"
                    png = md.with_suffix(".png")
                    if png.exists():
                        link += f" · [png]({png.relative_to(results_root).as_posix()})"
                elif (results_root / prof / paper / f"{it}.md").exists():
                    link = f"[md]({prof}/{paper}/{it}.md)"
                claims = [c for c in pub.CLAIMS if c.get("item") == it]
                status = status_text(st)
                if claims:
                    v = claim_verdicts(claims, recs)
                    status += f"; claims checked {sum(x['verdict'] != 'not checked' for x in v)}/{len(v)}"
                row = [paper, it, spec.get("kind"), spec.get("title", ""), status]
                if reference_root is not None:
                    ref_recs = load_records(reference_root, prof, paper, it)
                    row.append(status_text(item_status(reference_root, prof, paper, it, entries, ref_recs)))
                rows.append(row + [st["newest"] or "—", link])
        lines.append(_md(rows, headers=headers) if rows else "_no papers found_")
    results_root.mkdir(parents=True, exist_ok=True)
    path = results_root / "REPORT.md"
    _write_unless_only_timestamp_changed(path, "\n".join(lines) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(
        prog="python -m common.report",
        description="Render <results>/<profile>/<paper>/<item>.md and <results>/REPORT.md from the JSONL records "
                    "and each paper's published.py. <results> is this machine's runs root (runs/ or "
                    f"${RUNS_ENV}), whose cells are shown beside the committed reference's; --reference renders "
                    "the committed results/ itself (maintainers).")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--profile", choices=PROFILE_NAMES, help="regenerate the item reports of this profile only")
    g.add_argument("--all", action="store_true", help="regenerate every profile that has records (default)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--results", default=None, metavar="DIR",
                       help="results root (default: this machine's runs root)")
    where.add_argument("--reference", action="store_true", help="render the committed reference results/")
    ap.add_argument("--papers", default=None, help="papers folder (default: the repository's papers/)")
    args = ap.parse_args(argv)
    if args.papers is not None and not Path(args.papers).is_dir():
        ap.error(f"--papers {args.papers!r} is not a folder")
    root = REFERENCE_ROOT if args.reference else (Path(args.results) if args.results else runs_root())
    ref = None if is_reference(root) else REFERENCE_ROOT
    path = write_report(root, [args.profile] if args.profile else None, args.papers, reference_root=ref)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
