"""Reports: our records next to the published numbers, per item and for the whole project.

``python -m common.reporting.report [--profile P | --all | --check] [--results DIR | --reference] [--papers DIR]`` writes

- ``results/<profile>/<paper>/<item>.md`` for every item of every paper (and ``<item>.png`` for
  figures with records), for each profile that has records (or the one asked for);
- ``results/REPORT.md``: the answer page (common.reporting.answer: per paper, each published claim's verdict at smoke,
  quick and full with its one-line reason; each table item's cells within / differs and its headline cells as
  published | ours | Δ), then one section per profile that has records, every item of every paper with its
  status (done n/m cells, partial n/m cells, not run), the date of its newest record and links.
  ``--check`` writes nothing and exits 1 while REPORT.md is stale against the records (a test runs it on the
  committed reference).

This module picks the records and writes the files; the pieces live apart: each paper's ``papers/<p>/published.py``
holds its items, published numbers and claims as typed data (common.reporting.published, which also says how scales
and spreads are read and shown); common.reporting.cells compares our records with them per cell;
common.reporting.render writes an item's markdown; common.reporting.plotting draws.

A table cell reads ``ours mean ± std (n) vs published mean ± std, Δ ours−published verdict`` (± se, and %, where the
item says so); the verdict is "within" (|Δ| ≤ published spread, or ≤ ours where the paper gives none), "differs", "not
run" (no record), "no published", or "partial": records whose keys go beyond the table's rows and columns are pooled
into their cell (Table 5 averages over tasks), and a cell that has not pooled every value its item's ``pool`` lists
gets no Δ and no verdict. std is the population std (ddof=0, numpy's default, as the papers print). Only the newest
record of each (cell keys, seed) counts, so ``--force`` reruns replace older ones, and a cell's records come from one
thread count (``common.reporting.outcomes.one_thread_setting``). The claims' verdicts are read from the same records
file (common.running.record.Verdict; judged and written by common.reporting.claims).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import sys
import types
from pathlib import Path
from typing import Any, Mapping, Sequence

from common.reporting.answer import answer_lines
from common.reporting.outcomes import (
    claim_verdicts,
    counted_records,
    item_status,
    one_thread_setting,
    status_text,
)
from common.reporting.published import (
    Figure,
    Item,
    Table,
    discover_papers,
    load_published,
    normalize_published,
)
from common.reporting.render import md_table, render_claims, render_figure, render_table, script_panels
from common.running.profiles import PROFILE_NAMES
from common.running.records import atomic_write_text
from common.running.roots import REFERENCE_ROOT, RUNS_ENV, is_reference, runs_root
from common.running.store import extra_items, item_file, of_profile

__all__ = [
    "claim_verdicts",
    "counted_records",
    "item_status",
    "is_stale",
    "main",
    "one_thread_setting",
    "report_text",
    "status_text",
    "write_item_report",
    "write_report",
]

_REPORT_HEADERS = ["paper", "item", "kind", "title", "status", "newest", "report"]


# ----------------------------------------------------------------------------------------------
# Item reports and REPORT.md
# ----------------------------------------------------------------------------------------------
def write_item_report(
    results_root: str | Path,
    profile: str,
    paper: str,
    item: str,
    published: Any = None,
    papers_root: str | Path | None = None,
    reference_root: str | Path | None = None,
) -> Path:
    """Render ``<results_root>/<profile>/<paper>/<item>.md`` (and ``.png`` for figures); return its path.

    With ``reference_root`` (the committed reference, when ``results_root`` holds this machine's
    runs), every cell shows published | reference | this machine."""
    pub = (
        published
        if isinstance(published, types.SimpleNamespace)
        else (
            normalize_published(published, paper)
            if published is not None
            else load_published(paper, papers_root)
        )
    )
    results_root = Path(results_root)
    file = item_file(results_root, profile, paper, item)
    spec: Item | None = pub.ITEMS.get(item)
    if spec is None:  # an item of ours (e.g. a diagnostic): one row per combination of its other keys
        keys = dict.fromkeys(k for r in file.runs for k in r.keys if k != "method")
        spec = Table(
            title="(not listed in published.py)", rows=tuple(keys), cols="method", metric="normalized"
        )
    recs, left_out = one_thread_setting(file.runs.where(lambda r: of_profile(r, profile)).newest())
    ref_recs = ref_file = None
    if reference_root is not None and Path(reference_root).resolve() != results_root.resolve():
        ref_file = item_file(reference_root, profile, paper, item)
        ref_recs, _ = one_thread_setting(ref_file.runs.where(lambda r: of_profile(r, profile)).newest())
    entries = [e for e in pub.PUBLISHED if e.item == item]
    notes = pub.NOTES.get(item, [])
    claims = [c for c in pub.CLAIMS if c.item == item]
    st = item_status(results_root, profile, paper, item, entries, file)
    base = results_root / profile / paper
    head = [
        f"# {pub.TITLE or paper} — {item}: {spec.title}\n",
        f"Profile **{profile}** · status: {status_text(st)} · newest record: {st['newest'] or '—'} · "
        f"generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}\n",
    ]
    gits = [r.git_commit for r in recs if r.git_commit]
    commits = sorted({str(g.get("commit"))[:10] + ("+dirty" if g.get("dirty") else "") for g in gits})
    if commits:
        head.append(f"Git commits: {', '.join(commits)}\n")
    cpus = sorted({r.cpu for r in recs if r.cpu})
    unnamed = sum(1 for r in recs if not r.cpu)
    if cpus:  # results are bit-identical on one CPU type, not across types
        more = f" (and {unnamed} records from before the field)" if unnamed else ""
        head.append(f"CPUs: {'; '.join(cpus)}{more}\n")
    if ref_recs is not None:
        ref_st = item_status(reference_root, profile, paper, item, entries, ref_file)
        head.append(
            f"Records: this machine's under `{results_root}`; reference: the committed "
            f"`results/{profile}/{paper}/{item}.jsonl` ({status_text(ref_st)}, newest record "
            f"{ref_st['newest'] or '—'})\n"
        )
    if left_out:
        head.append(
            "Left out (a cell's numbers are never averaged across thread counts; each cell keeps the "
            "thread count with the most records): "
            + ", ".join(
                f"{n} record{'s' if n != 1 else ''} made with {t} thread{'s' if t != 1 else ''}"
                for t, n in sorted(left_out.items())
            )
            + "\n"
        )
    if pub.error:
        head.append(f"**published.py failed to load**: {pub.error}\n")
    verdicts = claim_verdicts(claims, file.newest_verdicts)
    ref_verdicts = claim_verdicts(claims, ref_file.newest_verdicts) if ref_file is not None else None
    if isinstance(spec, Figure):  # spec.kind == "figure"
        body, _ = render_figure(
            item, spec, entries, recs, base / f"{item}.png", verdicts, notes, ref_recs, ref_verdicts
        )
    else:
        body = render_table(item, spec, entries, recs, notes, ref_records=ref_recs)
        if claims:
            body += "\n### Claims\n\n" + render_claims(verdicts, ref_verdicts) + "\n"
        panels = script_panels(item, spec, base)
        if panels:
            body += "\n### Plots drawn by the item's script\n\n" + "\n".join(panels)
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
    atomic_write_text(path, text)
    return True


def profiles_with_records(results_root: str | Path) -> list[str]:
    """The profiles (PROFILE_NAMES, in order) with a ``<profile>/<paper>/*.jsonl`` under ``results_root``; other
    folders there (bench/, superseded/) are not profiles, whatever they hold."""
    root = Path(results_root)
    return [p for p in PROFILE_NAMES if (root / p).is_dir() and any((root / p).glob("*/*.jsonl"))]


def _publisheds(
    papers_root: str | Path | None, published: Mapping[str, Any] | None
) -> tuple[list[str], dict]:
    """The papers (those under ``papers_root`` and those ``published`` names) and each one's published data."""
    papers = sorted(set(discover_papers(papers_root)) | set(published or {}))
    pubs = {}
    for paper in papers:
        mod = (published or {}).get(paper)
        pubs[paper] = (
            (mod if isinstance(mod, types.SimpleNamespace) else normalize_published(mod, paper))
            if mod is not None
            else load_published(paper, papers_root)
        )
    return papers, pubs


def _links(results_root: Path, prof: str, paper: str, item: str) -> str:
    md = results_root / prof / paper / f"{item}.md"
    if not md.exists():
        return "—"
    png = md.with_suffix(".png")
    return f"[md]({prof}/{paper}/{item}.md)" + (
        f" · [png]({prof}/{paper}/{item}.png)" if png.exists() else ""
    )


def status_sections(
    results_root: Path,
    papers: Sequence[str],
    pubs: Mapping[str, Any],
    papers_root: str | Path | None = None,
    reference_root: str | Path | None = None,
) -> list[str]:
    """One section per profile with records: every item of every paper, its status, newest record and links."""
    sections = profiles_with_records(results_root)
    headers = (
        _REPORT_HEADERS
        if reference_root is None
        else _REPORT_HEADERS[:5] + ["reference"] + _REPORT_HEADERS[5:]
    )
    lines = []
    if not sections and reference_root is not None:
        lines.append(
            "_No runs on this machine yet_ (e.g. `./run_all.sh --profile smoke`, or "
            "`python papers/omar/table1.py --profile smoke`). The committed reference: `results/REPORT.md`.\n"
        )
    elif not sections:
        lines.append("_No results yet._ Items:\n")
        rows = [
            [paper, it, spec.kind, spec.title, "not run", "—", "—"]
            for paper in papers
            for it, spec in pubs[paper].ITEMS.items()
        ]
        lines.append(md_table(rows, headers=_REPORT_HEADERS))
    for prof in sections:
        lines.append(f"\n## Profile `{prof}`\n")
        rows = []
        on_disk = {p.name for p in (results_root / prof).iterdir() if p.is_dir()}
        for paper in sorted(set(papers) | (on_disk - {"sacred", "checkpoints"})):
            pub = pubs.get(paper) or load_published(paper, papers_root)
            listed = list(pub.ITEMS)
            extra = extra_items(results_root / prof / paper, listed)
            for it in listed + extra:
                spec = pub.ITEMS.get(it) or Table(title="(not in published.py)")
                file = item_file(results_root, prof, paper, it)
                entries = [e for e in pub.PUBLISHED if e.item == it]
                st = item_status(results_root, prof, paper, it, entries, file)
                claims = [c for c in pub.CLAIMS if c.item == it]
                status = status_text(st)
                if claims:
                    v = claim_verdicts(claims, file.newest_verdicts)
                    status += f"; claims checked {sum(x['verdict'] != 'not checked' for x in v)}/{len(v)}"
                row = [paper, it, spec.kind, spec.title, status]
                if reference_root is not None:
                    row.append(status_text(item_status(reference_root, prof, paper, it, entries)))
                rows.append(row + [st["newest"] or "—", _links(results_root, prof, paper, it)])
        lines.append(md_table(rows, headers=headers) if rows else "_no papers found_")
    return lines


def report_text(
    results_root: str | Path | None = None,
    papers_root: str | Path | None = None,
    published: Mapping[str, Any] | None = None,
    reference_root: str | Path | None = None,
) -> str:
    """REPORT.md of ``results_root`` as it would be written now, from its records alone (no file is written):
    the answer page (common.reporting.answer), then each profile's item status. See ``write_report``."""
    results_root = runs_root() if results_root is None else Path(results_root)
    if reference_root is not None and Path(reference_root).resolve() == results_root.resolve():
        reference_root = None
    papers, pubs = _publisheds(papers_root, published)
    if is_reference(results_root):
        whose, regen = "the committed reference results", "python -m common.reporting.report --reference"
    else:
        whose = f"this machine's runs (`{results_root}`), beside the committed reference"
        regen = "python -m common.reporting.report"
    lines = [
        "# offmarl-repro — which published claims reproduce here\n",
        f"Generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} from {whose}, "
        f"by `{regen}` (`{regen} --check` fails while this page is stale against the records). "
        "A profile's numbers are never mixed with another's.\n",
    ]
    lines += answer_lines(results_root, pubs, papers, reference_root)
    lines += [
        "## Items per profile\n",
        "Every item of every paper: its cells done, its claims checked, its newest "
        "record, and its report (every cell, plot, claim and footnote).",
    ]
    lines += status_sections(results_root, papers, pubs, papers_root, reference_root)
    return "\n".join(lines) + "\n"


def write_report(
    results_root: str | Path | None = None,
    profiles: Sequence[str] | None = None,
    papers_root: str | Path | None = None,
    published: Mapping[str, Any] | None = None,
    reference_root: str | Path | None = None,
) -> Path:
    """Regenerate the item reports of ``profiles`` (default: all with records) and ``REPORT.md``.

    ``results_root`` defaults to this machine's runs root (common.running.roots). ``published`` maps paper ->
    module (or namespace) and overrides the files under ``papers_root``. With ``reference_root``
    (the committed reference, for a runs root), item reports show the reference beside ours and
    REPORT.md the reference's verdicts and status beside this machine's.
    """
    results_root = runs_root() if results_root is None else Path(results_root)
    if reference_root is not None and Path(reference_root).resolve() == results_root.resolve():
        reference_root = None
    papers, pubs = _publisheds(papers_root, published)
    with_records = profiles_with_records(results_root)
    for prof in list(profiles) if profiles is not None else with_records:
        if prof not in with_records:
            print(f"profile {prof!r} has no records under {results_root}; nothing to regenerate for it")
            continue
        on_disk = {p.name for p in (results_root / prof).iterdir() if p.is_dir()}
        for paper in sorted(set(papers) | (on_disk - {"sacred", "checkpoints"})):
            pub = pubs.get(paper) or load_published(paper, papers_root)
            extra = extra_items(results_root / prof / paper, pub.ITEMS)
            for it in [*pub.ITEMS, *extra]:
                write_item_report(results_root, prof, paper, it, pub, reference_root=reference_root)
    results_root.mkdir(parents=True, exist_ok=True)
    path = results_root / "REPORT.md"
    _write_unless_only_timestamp_changed(
        path, report_text(results_root, papers_root, published, reference_root)
    )
    return path


def is_stale(path: str | Path, text: str) -> bool:
    """Whether the file at ``path`` differs from ``text`` beyond its "generated" time stamp (or is missing)."""
    path = Path(path)
    return not path.exists() or _GENERATED.sub(
        r"\1 <time>", path.read_text(encoding="utf-8")
    ) != _GENERATED.sub(r"\1 <time>", text)


def main(argv: Sequence[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(
        prog="python -m common.reporting.report",
        description="Render <results>/<profile>/<paper>/<item>.md and <results>/REPORT.md (the answer page: which "
        "published claims reproduce, per paper and profile, then each item's status) from the JSONL "
        "records and each paper's published.py. <results> is this machine's runs root (runs/ or "
        f"${RUNS_ENV}), whose cells are shown beside the committed reference's; --reference renders "
        "the committed results/ itself (maintainers).",
    )
    g = ap.add_mutually_exclusive_group()
    g.add_argument(
        "--profile", choices=PROFILE_NAMES, help="regenerate the item reports of this profile only"
    )
    g.add_argument("--all", action="store_true", help="regenerate every profile that has records (default)")
    g.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if <results>/REPORT.md is stale against the records",
    )
    where = ap.add_mutually_exclusive_group()
    where.add_argument(
        "--results", default=None, metavar="DIR", help="results root (default: this machine's runs root)"
    )
    where.add_argument("--reference", action="store_true", help="render the committed reference results/")
    ap.add_argument("--papers", default=None, help="papers folder (default: the repository's papers/)")
    args = ap.parse_args(argv)
    if args.papers is not None and not Path(args.papers).is_dir():
        ap.error(f"--papers {args.papers!r} is not a folder")
    root = REFERENCE_ROOT if args.reference else (Path(args.results) if args.results else runs_root())
    ref = None if is_reference(root) else REFERENCE_ROOT
    if args.check:
        path = Path(root) / "REPORT.md"
        if is_stale(path, report_text(root, args.papers, reference_root=ref)):
            regen = "python -m common.reporting.report" + (
                " --reference" if is_reference(root) else f" --results {root}"
            )
            print(f"{path} is stale against the records: run `{regen}`", file=sys.stderr)
            raise SystemExit(1)
        print(f"{path} is up to date")
        return path
    path = write_report(root, [args.profile] if args.profile else None, args.papers, reference_root=ref)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
