"""The markdown of one item: a table in the paper's layout (with detail, who beats whom and footnotes),
a figure's plot and per-cell summary, and claim verdicts. Cells come from common.reporting.cells; the item's
scale and spread (common.reporting.published) decide how every number is shown."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence, cast

from tabulate import tabulate

from common.reporting import stats
from common.reporting.cells import (
    VERDICTS,
    cell_name,
    compare_cells,
    format_cell,
    format_ref,
    key_names,
    label,
    natural,
    with_reference,
)
from common.reporting.numbers import describe, fmt, fmt_delta, infer_precision
from common.reporting.plotting import plot_curves, plot_sweep
from common.reporting.published import Figure, Item, Table, as_item
from common.running.record import Record
from common.running.store import Runs


def md_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A GitHub-markdown table; numbers stay as we formatted them."""
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _notes_list(notes: Sequence[str] | str) -> list[str]:
    return [notes] if isinstance(notes, str) else list(notes)


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------
def render_table(
    item: str,
    spec: Table | Mapping[str, Any],
    entries: Sequence,
    records: Sequence[Record | Mapping],
    notes: Sequence[str] = (),
    reps: int = 1000,
    ref_records: Sequence[Record | Mapping] | None = None,
) -> str:
    """Markdown for a table item: paper layout, long-format detail, IQM / P(improvement), footnotes.

    With ``ref_records`` (the committed reference's records, when ``records`` are this machine's),
    each cell also shows the reference's value and verdict, and the detail table ours − reference."""
    # a table item: report.py dispatches by kind
    spec, records = cast(Table, as_item(spec, item)), Runs(records)
    ref_records = None if ref_records is None else Runs(ref_records)
    rows, col, metric = list(spec.rows), spec.cols, spec.metric
    p = spec.precision if spec.precision is not None else infer_precision(entries)
    names = rows + [col]
    cells = compare_cells(records, entries, names, metric, spec.pool, spec)
    ref_cells = None
    if ref_records is not None:
        ref_cells = compare_cells(ref_records, entries, names, metric, spec.pool, spec)
        with_reference(cells, ref_cells, names, metric, spec.pool, spec)

    footnotes, markers = _cell_footnotes(cells)

    row_ids: list[tuple] = []
    col_ids: list[str] = []
    for k in cells:
        if k[:-1] not in row_ids:
            row_ids.append(k[:-1])
        if k[-1] not in col_ids:
            col_ids.append(k[-1])
    wide = []
    for r in row_ids:
        line = [label(json.loads(v)) for v in r]
        for cid in col_ids:
            cell = cells.get((*r, cid))
            text = format_cell(cell, p, markers.get((*r, cid), ""), spec) if cell else ""
            if cell and ref_cells is not None:
                text += f" · ref {format_ref(ref_cells.get((*r, cid)), p, spec)}"
            line.append(text)
        wide.append(line)
    who_ours = "ours (this machine)" if ref_cells is not None else "ours"
    ours_is, pub_is, scale_note = describe(spec)
    out = [
        f"Metric: `{metric}` · cell: {who_ours} {ours_is} (n seeds) vs published {pub_is}, "
        f"Δ = ours − published, verdict{scale_note}"
        + (f" · ref: the committed reference's {ours_is} (n) and verdict" if ref_cells is not None else "")
        + "\n",
        md_table(wide, headers=rows + [label(json.loads(c)) for c in col_ids]) if wide else "_no cells_",
        "",
    ]

    counts = {v: sum(c["verdict"] == v for c in cells.values()) for v in VERDICTS}
    out.append("Verdicts: " + ", ".join(f"{v} {n}" for v, n in counts.items()) + "\n")
    if ref_cells is not None:
        rcounts = {v: sum(c["verdict"] == v for c in ref_cells.values()) for v in VERDICTS}
        out.append("Reference verdicts: " + ", ".join(f"{v} {n}" for v, n in rcounts.items()) + "\n")

    out += ["### Detail\n", _detail_table(cells, ref_cells, markers, names, p, spec, ours_is), ""]

    readings = render_readings(records, entries, names, metric, spec, p)
    if readings:
        out += ["### Other readings of the same runs\n", readings, ""]

    # who beats whom compares the values of spec.compare (default: the column key) within each
    # combination of the other keys, e.g. samplers per dataset when the paper's columns are datasets
    cmp_key = spec.compare or col
    if cmp_key == col:
        who = render_who_beats_whom(cells, rows, col, p, reps=reps)
    else:
        others = [k for k in names if k != cmp_key]
        who = render_who_beats_whom(
            compare_cells(records, entries, others + [cmp_key], metric, spec.pool, spec),
            others,
            cmp_key,
            p,
            reps=reps,
        )
    if who:
        out += [
            "### Who beats whom (IQM over seeds, 95% stratified-bootstrap CI; P(best > method))\n",
            who,
            "",
        ]
    allnotes = [*footnotes, *_notes_list(notes)]
    if allnotes:
        out.append("### Notes\n")
        for i, t in enumerate(allnotes, 1):
            out.append(f"{i}. {t}" if i <= len(footnotes) else f"- {t}")
        out.append("")
    return "\n".join(out)


def _cell_footnotes(cells: Mapping[tuple, dict]) -> tuple[list[str], dict[tuple, str]]:
    """The numbered footnotes of a table's cells (a published entry's note, seeds run with different configs,
    values pooled into the cell) and each cell's markers (" [1][2]")."""
    footnotes: list[str] = []
    markers: dict[tuple, str] = {}
    for k, c in cells.items():
        texts = []
        if c["pub"] and c["pub"].note:
            texts.append(str(c["pub"].note))
        if len(c["hashes"]) > 1:
            texts.append(
                f"{cell_name(c['keys'])}: seeds ran with {len(c['hashes'])} different configs "
                f"({', '.join(sorted(map(str, c['hashes'])))})"
            )
        for name, counts in c["pooled"].items():
            pooled = ", ".join(f"{v} ({n} run{'s' if n != 1 else ''})" for v, n in counts.items())
            missing = c["pool_missing"].get(name)
            texts.append(
                f"{cell_name(c['keys'])}: pooled over {name} = {pooled}"
                + (f"; not run yet: {', '.join(missing)}, so no verdict (partial)" if missing else "")
            )
        if texts:
            marks = []
            for t in texts:
                footnotes.append(t)
                marks.append(f"[{len(footnotes)}]")
            markers[k] = " " + "".join(marks)

    return footnotes, markers


def _detail_table(
    cells: Mapping[tuple, dict],
    ref_cells: Mapping[tuple, dict] | None,
    markers: Mapping[tuple, str],
    names: list[str],
    p: int,
    spec: Table,
    ours_is: str,
) -> str:
    """The long-format detail of a table: one row per cell, ours and published mean and spread, Δ and verdict
    (with the reference and ours − reference when ``ref_cells`` are given), and the cell's footnote markers."""
    detail = []
    for k, c in cells.items():
        row = [
            *(label(v) for v in c["keys"].values()),
            fmt(c["mean"], p),
            fmt(c["spread"], p),
            c["n"],
            c["n_nonfinite"] or "",
            fmt(c["pub_mean"], p),
            fmt(c["pub_spread"], p),
            "—" if c["delta"] is None else fmt_delta(c["delta"], p, spec),
            c["verdict"],
        ]
        if ref_cells is not None:
            rc = ref_cells.get(k)
            vs = (
                fmt_delta(c["mean"] - rc["mean"], p, spec)
                if rc and rc["mean"] is not None and c["mean"] is not None
                else "—"
            )
            row += [format_ref(rc, p, spec), vs]
        detail.append(row + [markers.get(k, "").strip()])
    ours_err, pub_err = ours_is.split(" ± ")[1], "se" if spec.spread == "sem" else "std"
    ref_heads = ["reference", "ours − ref"] if ref_cells is not None else []
    heads = ["ours mean", f"ours {ours_err}", "n", "non-finite", "pub mean", f"pub {pub_err}", "Δ", "verdict"]
    return md_table(detail, headers=[*names, *heads, *ref_heads, "notes"])


READINGS = (("best", "best evaluation over training"), ("last10", "mean of the last 10 evaluations"))


def render_readings(
    records: Sequence[Record], entries: Sequence, names: Sequence[str], metric: str, spec: Table, p: int
) -> str:
    """The table's cells read three ways from the same runs (when the records carry ``<metric>_best`` and
    ``<metric>_last10``, common.running.offline.score_readings): the last evaluation (the table's own reading), the best
    over training and the mean of the last 10, each with its verdict against the published number, and the item's
    own ``Table.readings`` derived from each record (e.g. OTC's improvement of the last deployments' mean). A
    paper that does not say which reading it printed can then be compared with each."""
    present = [
        (r, text) for r, text in READINGS if any(x.value(f"{metric}_{r}") is not None for x in records)
    ]
    derived = tuple(getattr(spec, "readings", ()) or ())
    if derived:  # the item's own readings, computed from each record now
        records = Runs(
            replace(x, extra={**x.extra, **{f"{metric}_{d.name}": d.of(x) for d in derived}}) for x in records
        )
        present += [
            (d.name, d.text)
            for d in derived
            if any(x.value(f"{metric}_{d.name}") is not None for x in records)
        ]
    if not present:
        return ""
    per = {"last": compare_cells(records, entries, names, metric, spec.pool, spec)}
    for r, _ in present:
        per[r] = compare_cells(records, entries, names, f"{metric}_{r}", spec.pool, spec)
    rows = []
    for k, c in per["last"].items():
        if not c["n"]:
            continue
        line = [*(label(v) for v in c["keys"].values()), fmt(c["pub_mean"], p)]
        for name in per:
            o = per[name].get(k)
            line.append("—" if o is None or o["mean"] is None else f"{fmt(o['mean'], p)} ({o['verdict']})")
        rows.append(line)
    counts = "; ".join(
        f"{name}: "
        + ", ".join(f"{v} {n}" for v in VERDICTS if (n := sum(c["verdict"] == v for c in cs.values())))
        for name, cs in per.items()
    )
    heads = [*names, "published", "last (the table's)", *(text for _, text in present)]
    return md_table(rows, headers=heads) + f"\n\nVerdicts per reading: {counts}."


def render_who_beats_whom(
    cells: Mapping[tuple, Mapping], rows: Sequence[str], col: str, p: int, reps: int = 1000
) -> str:
    """Per row with ≥2 methods that ran: IQM [CI] per method and P(best > method) [CI]."""
    by_row: dict[tuple, dict[str, list[float]]] = {}
    for k, c in cells.items():
        if c["values"] and c["verdict"] != "partial":  # a partial pool is not comparable to a full one
            by_row.setdefault(k[:-1], {})[label(c["keys"][col])] = c["values"]
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
            lines.append(
                [*(label(json.loads(v)) for v in r), m, fmt(q, p), f"[{fmt(lo, p)}, {fmt(hi, p)}]", poi]
            )
    if not lines:
        return ""
    return md_table(lines, headers=[*rows, col, "IQM", "95% CI", "P(best > method)"])


# ----------------------------------------------------------------------------------------------
# Claims and figures
# ----------------------------------------------------------------------------------------------
def render_claims(verdicts: Sequence[Mapping], ref_verdicts: Sequence[Mapping] | None = None) -> str:
    """One line per claim: verdict, text, evidence; with ``ref_verdicts``, the reference's verdict too."""
    ref = {v["id"]: v["verdict"] for v in ref_verdicts or () if v["verdict"] != "not checked"}
    return "\n".join(
        f"- **{v['verdict']}**"
        + (f" (reference: {ref.get(v['id'], 'no verdict yet')})" if ref_verdicts is not None else "")
        + f" — {v['text']} (`{v['id']}`)"
        + (f": {v['evidence']}" if v["evidence"] else "")
        for v in verdicts
    )


def script_panels(item: str, spec: Item, folder: Path) -> list[str]:
    """Markdown image lines of the item's own PNGs (``spec.pngs``) that exist in ``folder`` (the report's)."""
    return [
        f"![{item} {Path(name).stem}]({name})\n"
        for name in getattr(spec, "pngs", ())
        if (Path(folder) / name).exists()
    ]


def render_figure(
    item: str,
    spec: Figure | Mapping[str, Any],
    entries: Sequence,
    records: Sequence[Record | Mapping],
    png_path: Path,
    verdicts: Sequence[Mapping] = (),
    notes: Sequence[str] = (),
    ref_records: Sequence[Record | Mapping] | None = None,
    ref_verdicts: Sequence[Mapping] | None = None,
) -> tuple[str, Path | None]:
    """Markdown (the script's panels and our plot, the final value per cell, claims) and our PNG (None
    when there is nothing to plot). ``verdicts``: the claims' verdicts (``report.claim_verdicts``).

    With ``ref_records`` (the committed reference's newest records; ``ref_verdicts`` its claim
    verdicts), the per-cell table and the claims show the reference beside ours."""
    spec = cast(Figure, as_item(spec, item))  # a figure item: report.py dispatches by kind
    records, ref_records = Runs(records), None if ref_records is None else Runs(ref_records)
    metric = spec.metric
    p = spec.precision if spec.precision is not None else infer_precision(entries)
    plot = getattr(spec, "plot", None)
    if plot is None:
        has_curves = any(len(r.curve or []) >= 2 for r in records)
        plot = "curves" if has_curves else ("sweep" if getattr(spec, "x", None) else "bar")
    png = None
    if records:
        title = spec.title or None
        if plot == "curves":
            group = getattr(spec, "group", None)  # a key name: plot_curves takes a list of key names
            png = plot_curves(records, png_path, [group] if isinstance(group, str) else group, metric, title)
        else:
            png = plot_sweep(
                records,
                png_path,
                getattr(spec, "x", None),
                getattr(spec, "group", None) or "method",
                metric,
                "bar" if plot == "bar" else "line",
                title,
            )
    # the script's own panels (spec.pngs, drawn beside the records) come first when they exist
    out = script_panels(item, spec, Path(png_path).parent)
    panels = bool(out)
    if png is not None:
        out += [f"![{item}]({png.name})\n"]
    elif not panels:
        out += ["_no records yet: nothing plotted_\n"]
    names = key_names([*records, *(ref_records or [])], entries)
    cells = compare_cells(records, entries, names, metric, spec=spec)
    ref_cells = None
    if ref_records is not None:
        ref_cells = compare_cells(ref_records, entries, names, metric, spec=spec)
        with_reference(cells, ref_cells, names, metric, None, spec)
    if cells:
        first: dict[tuple[str, str], int] = {}  # text values keep the order they first appear in (the grid's)
        for c in cells.values():
            for k, v in c["keys"].items():
                first.setdefault((k, str(v)), len(first))
        ordered = sorted(
            cells.values(), key=lambda c: tuple(natural(v, first[(k, str(v))]) for k, v in c["keys"].items())
        )
        by_id = {id(c): k for k, c in cells.items()}
        rows = [
            [*(label(v) for v in c["keys"].values()), format_cell(c, p, spec=spec)]
            + ([format_ref(ref_cells.get(by_id[id(c)]), p, spec)] if ref_cells is not None else [])
            for c in ordered
        ]
        out += [
            f"Final `{metric}` per cell:\n",
            md_table(
                rows, headers=names + ["ours vs published"] + (["reference"] if ref_cells is not None else [])
            ),
            "",
        ]
    if verdicts:
        out += ["### Claims\n", render_claims(verdicts, ref_verdicts), ""]
    if notes:
        out += ["### Notes\n", *(f"- {t}" for t in _notes_list(notes)), ""]
    return "\n".join(out), png
