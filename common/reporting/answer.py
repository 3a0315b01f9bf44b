"""The answer page: which published claims of which paper reproduce here, and why not.

``REPORT.md`` (``results/`` for the committed reference, ``runs/`` for a user's runs) opens with this page
(``common.reporting.report`` writes it; ``python -m common.reporting.report --check`` fails while it is stale):

1. a summary: per paper, how many of its claims hold, do not hold, are undecided or not checked, per profile;
2. per paper, one row per published claim (``papers/<p>/claims.py`` ``CLAIMS``): its verdict at smoke,
   quick and full, read from the claims' verdicts (``common.reporting.outcomes.claim_verdicts``), and the one-line reason:
   the evidence of the most complete profile with a verdict (full, else quick, else smoke);
3. per paper, each table item's cells judged within / differs against the printed numbers, per profile, and
   its headline cells (the paper's own method where the item has it) as published | ours | Δ.

Nothing here is written by hand: every verdict, count and number comes from the records. Where a runs root is
shown beside the committed reference, a verdict that differs from the reference's says so (``ref: ...``).

**Superseded data** (issue 68): the quick MuJoCo records of CAST-BCQ, MOMA-PPO and OTC were trained on the
``mujoco/<task>`` datasets of profile quick (``common.datasets.mujoco``, 100k SAC steps), whose experts sit far
below D4RL's. Every verdict, count or cell that rests on such a record (``on_superseded_data``) is marked ⚠, so
that nobody reads it as a test of the claim, until the items are re-run on the paper-protocol data.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from common.reporting.cells import VERDICTS, cell_name, compare_cells
from common.reporting.numbers import fmt_delta, fmt_ours, fmt_published, infer_precision
from common.reporting.outcomes import claim_verdicts, counted_records
from common.reporting.published import as_entry
from common.reporting.render import md_table
from common.running.profiles import PROFILE_NAMES
from common.running.record import Record
from common.running.records import canonical_json
from common.running.roots import REPO_ROOT
from common.running.store import ItemFile, Runs, item_file
from envs.gym_mujoco import TASKS as MUJOCO_TASKS

CLAIM_VERDICTS = ("holds", "does not hold", "undecided", "not checked")
SUPERSEDED = "trained on superseded data (100k-step SAC, experts 9-34 D4RL-normalized)"
SUPERSEDED_MARK = "⚠"
MUJOCO_SOURCE = "common.datasets.mujoco"  # the generator of the mujoco/<task> datasets
SUPERSEDED_DATA_PROFILES = ("quick",)  # the mujoco/<task> data profiles built with 100k SAC steps
HEADLINE_CELLS = 8  # at most this many headline cells per item; the item's report has them all
TEXT_CHARS, REASON_CHARS = 110, 170


def on_superseded_data(record: Record) -> bool:
    """Whether a run record was trained on a superseded MuJoCo dataset: a ``mujoco/<task>`` dataset of
    ``common.datasets.mujoco`` (named by ``source`` or by its ``task``) of data profile quick (``data_profile``
    or ``profile`` of the record's dataset spec), built with 100k SAC steps (issue 68). Since then quick trains on
    full's datasets, whose cards carry an ``identity`` that every record names (``extra.data_identity``): a record
    with one is on the current data."""
    ds = record.config.get("dataset")
    if not isinstance(ds, Mapping):
        return False
    mujoco = ds.get("source") == MUJOCO_SOURCE or ds.get("task") in MUJOCO_TASKS
    if record.extra.get("data_identity"):
        return False
    return bool(mujoco) and (ds.get("data_profile") or ds.get("profile")) in SUPERSEDED_DATA_PROFILES


def one_line(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters (cut at a word, with "…"), safe in a table cell."""
    s = re.sub(r"\s+", " ", str(text)).strip().replace("|", "\\|")
    if len(s) <= limit:
        return s
    cut = s[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + "…"


def claim_text(text: str) -> str:
    """The claim as the paper states it: the text before its ``Check:`` (how we test it), on one line."""
    return one_line(re.split(r"\s+Check:", str(text), maxsplit=1)[0], TEXT_CHARS)


class Store:
    """The records of one results root, through the item store (common.running.store)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._runs: dict[tuple, Runs] = {}

    def all(self, profile: str, paper: str, item: str) -> ItemFile:
        return item_file(self.root, profile, paper, item)

    def runs(self, profile: str, paper: str, item: str) -> Runs:
        """The runs that count (newest per seed, one thread count per cell)."""
        key = (profile, paper, item)
        if key not in self._runs:
            self._runs[key] = counted_records(self.all(profile, paper, item).runs, profile)
        return self._runs[key]

    def superseded(self, profile: str, paper: str, item: str) -> bool:
        return any(on_superseded_data(r) for r in self.runs(profile, paper, item))


def _count(verdicts: Sequence[str], allowed: Sequence[str]) -> str:
    return " · ".join(f"{v} {sum(x == v for x in verdicts)}" for v in allowed if v in verdicts) or "—"


class AnswerPage:
    """The answer page of ``store`` (this results root), beside ``ref`` (the committed reference) if given."""

    def __init__(
        self,
        store: Store,
        pubs: Mapping[str, Any],
        ref: Store | None = None,
        profiles: Sequence[str] = PROFILE_NAMES,
    ):
        self.store, self.pubs, self.ref, self.profiles = store, pubs, ref, tuple(profiles)

    # ------------------------------------------------------------------------------------------
    # Claims
    # ------------------------------------------------------------------------------------------
    def verdict(self, store: Store, profile: str, paper: str, claim) -> dict:
        v = claim_verdicts([claim], store.all(profile, paper, claim.item).newest_verdicts)[0]
        v["superseded"] = v["verdict"] != "not checked" and store.superseded(profile, paper, claim.item)
        return v

    def _link(self, paper: str, item: str) -> str:
        """The item's report at the most complete profile with records (this root's, else the reference's)."""
        stores = [s for s in (self.store, self.ref) if s is not None]
        for prof in reversed(self.profiles):
            for store in stores:
                md = store.root / prof / paper / f"{item}.md"
                if store.all(prof, paper, item) and md.exists():
                    return f"[{item}]({Path(os.path.relpath(md, self.store.root)).as_posix()})"
        return item

    def claim_rows(self, paper: str) -> tuple[list[list[str]], dict[str, dict[str, list[str]]]]:
        """One row per claim: item, claim (id), a verdict per profile, the reason; and the tally for the summary:
        ``{"ours" | "ref": {profile: [verdict, with "⚠" appended where it rests on superseded data]}}``."""
        rows: list[list[str]] = []
        tally: dict[str, dict[str, list[str]]] = {
            "ours": {p: [] for p in self.profiles},
            "ref": {p: [] for p in self.profiles},
        }
        for c in self.pubs[paper].CLAIMS:
            row, reason = [self._link(paper, c.item), f"{claim_text(c.text)} (`{c.id}`)"], ""
            for prof in self.profiles:
                v = self.verdict(self.store, prof, paper, c)
                tally["ours"][prof].append(v["verdict"] + (SUPERSEDED_MARK if v["superseded"] else ""))
                cell = v["verdict"] + (f" {SUPERSEDED_MARK}" if v["superseded"] else "")
                if self.ref is not None:
                    r = self.verdict(self.ref, prof, paper, c)
                    tally["ref"][prof].append(r["verdict"] + (SUPERSEDED_MARK if r["superseded"] else ""))
                    if r["verdict"] != v["verdict"]:
                        cell += f" (ref: {r['verdict']}{' ' + SUPERSEDED_MARK if r['superseded'] else ''})"
                    if v["verdict"] == "not checked" and r["verdict"] != "not checked":
                        v = {**r, "ref": True}
                row.append(cell)
                if v["verdict"] != "not checked":
                    said = v["evidence"] or "no evidence recorded"
                    reason = (
                        f"{prof}{' (ref)' if v.get('ref') else ''}: "
                        f"{SUPERSEDED_MARK + ' ' if v['superseded'] else ''}{one_line(said, REASON_CHARS)}"
                    )
            rows.append(row + [reason or "—"])
        return rows, tally

    def summary(self, tallies: Mapping[str, Mapping[str, Mapping[str, list[str]]]]) -> str:
        def counted(verdicts: Sequence[str]) -> str:
            marked = sum(v.endswith(SUPERSEDED_MARK) for v in verdicts)
            text = _count([v.rstrip(SUPERSEDED_MARK) for v in verdicts], CLAIM_VERDICTS)
            return text + (f" ({marked} {SUPERSEDED_MARK})" if marked else "")

        rows = []
        for paper, tally in tallies.items():
            row = [paper, str(len(self.pubs[paper].CLAIMS))]
            for prof in self.profiles:
                row.append(
                    counted(tally["ours"][prof])
                    + (f"; ref: {counted(tally['ref'][prof])}" if self.ref is not None else "")
                )
            rows.append(row)
        return md_table(rows, headers=["paper", "claims", *self.profiles])

    # ------------------------------------------------------------------------------------------
    # Items: within / differs per profile, headline cells
    # ------------------------------------------------------------------------------------------
    def cells(self, store: Store, profile: str, paper: str, item: str) -> dict[tuple, dict]:
        pub = self.pubs[paper]
        spec = pub.ITEMS[item]
        entries = [e for e in map(as_entry, pub.PUBLISHED) if e.item == item]
        names = [*spec.rows, spec.cols]
        runs = store.runs(profile, paper, item)
        cells = compare_cells(runs, entries, names, spec.metric, spec.pool, spec)
        stale = {tuple(canonical_json(r.key(n)) for n in names) for r in runs if on_superseded_data(r)}
        for k, c in cells.items():
            c["superseded"] = k in stale
        return cells

    def counts(self, store: Store, profile: str, paper: str, item: str) -> str:
        cells = [c for c in self.cells(store, profile, paper, item).values() if c["pub"] is not None]
        if all(c["verdict"] == "not run" for c in cells):
            return "not run"
        text = _count([c["verdict"] for c in cells], VERDICTS)
        stale = sum(c["superseded"] for c in cells)
        return text + (f" ({stale} {SUPERSEDED_MARK})" if stale else "")

    def table_items(self, paper: str) -> list[str]:
        pub = self.pubs[paper]
        with_entries = {as_entry(e).item for e in pub.PUBLISHED}
        return [it for it, spec in pub.ITEMS.items() if spec.kind == "table" and it in with_entries]

    def item_rows(self, paper: str) -> list[list[str]]:
        rows = []
        for item in self.table_items(paper):
            row = [self._link(paper, item), one_line(self.pubs[paper].ITEMS[item].title, 70)]
            for prof in self.profiles:
                cell = self.counts(self.store, prof, paper, item)
                if self.ref is not None:
                    cell += f"; ref: {self.counts(self.ref, prof, paper, item)}"
                row.append(cell)
            rows.append(row)
        return rows

    def headline(self, paper: str, item: str) -> tuple[str | None, list[dict]]:
        """The most complete profile with runs of ``item`` (this root's, else the reference's) and the cells
        of the paper's own method there (all published cells where no method key names the paper)."""
        prof = next(
            (
                p
                for s in (self.store, self.ref)
                if s is not None
                for p in reversed(self.profiles)
                if s.runs(p, paper, item)
            ),
            None,
        )
        if prof is None:
            return None, []
        cells = [c for c in self.cells(self.store, prof, paper, item).values() if c["pub"] is not None]
        own = [c for c in cells if paper in str(c["keys"].get("method", ""))] or cells
        # cells with runs first, else in order
        return prof, sorted(own, key=lambda c: c["verdict"] == "not run")

    def headline_rows(self, paper: str) -> tuple[list[list[str]], list[str]]:
        rows, more = [], []
        for item in self.table_items(paper):
            prof, cells = self.headline(paper, item)
            if prof is None:
                continue
            spec = self.pubs[paper].ITEMS[item]
            entries = [e for e in map(as_entry, self.pubs[paper].PUBLISHED) if e.item == item]
            # as the item's report
            p = spec.precision if spec.precision is not None else infer_precision(entries)
            ref_cells = self.cells(self.ref, prof, paper, item) if self.ref is not None else None
            for c in cells[:HEADLINE_CELLS]:
                where = prof + (f" {SUPERSEDED_MARK}" if c["superseded"] else "")
                row = [
                    self._link(paper, item),
                    cell_name(c["keys"]),
                    where,
                    fmt_published(c["pub_mean"], c["pub_spread"], p, spec),
                    _ours(c, p, spec),
                    "—" if c["delta"] is None else fmt_delta(c["delta"], p, spec),
                    c["verdict"],
                ]
                if ref_cells is not None:
                    rc = next((x for x in ref_cells.values() if x["keys"] == c["keys"]), None)
                    row.append(
                        "not run"
                        if rc is None or rc["verdict"] == "not run"
                        else f"{_ours(rc, p, spec)} {rc['verdict']}"
                    )
                rows.append(row)
            if len(cells) > HEADLINE_CELLS:
                more.append(f"{item}: {len(cells) - HEADLINE_CELLS} more")
        return rows, more

    # ------------------------------------------------------------------------------------------
    # The page
    # ------------------------------------------------------------------------------------------
    def render(self, papers: Sequence[str]) -> list[str]:
        """The page's markdown lines (without the report's title and generated line)."""
        papers = [p for p in papers if p in self.pubs and (self.pubs[p].CLAIMS or self.table_items(p))]
        beside = self.ref is not None
        lines = [_legend(beside)]
        parts, tallies = [], {}
        for paper in papers:
            rows, tallies[paper] = self.claim_rows(paper)
            parts += self._paper(paper, rows, beside)
        lines += [
            "## Summary: claims per paper and profile\n",
            self.summary(tallies) if tallies else "_no papers with claims_",
            "",
            *parts,
        ]
        return lines

    def _paper(self, paper: str, claim_rows: list[list[str]], beside: bool) -> list[str]:
        pub = self.pubs[paper]
        readme = REPO_ROOT / "papers" / paper / "README.md"
        link = (
            f" (what is reproduced, every deviation and why: the paper's "
            f"[README]({Path(os.path.relpath(readme, self.store.root)).as_posix()}))"
            if readme.exists()
            else ""
        )
        out = [f"## {paper}: {pub.TITLE or paper}\n", f"Claims{link}:\n"]
        out += [
            md_table(claim_rows, headers=["item", "claim", *self.profiles, "reason (profile: evidence)"])
            if claim_rows
            else "_no claims listed_",
            "",
        ]
        item_rows = self.item_rows(paper)
        if item_rows:
            out += [
                "Printed numbers: cells per verdict (ours vs published)"
                + ("; ref: the reference's" if beside else "")
                + "\n",
                md_table(item_rows, headers=["item", "title", *self.profiles]),
                "",
            ]
        rows, more = self.headline_rows(paper)
        if rows:
            heads = ["item", "cell", "profile", "published", "ours (n)", "Δ", "verdict"] + (
                ["reference"] if beside else []
            )
            out += [
                "Headline cells (the paper's own method; ours at the most complete profile with runs)"
                + (f"; not shown here ({', '.join(more)}): the item's report" if more else "")
                + "\n",
                md_table(rows, headers=heads),
                "",
            ]
        return out


def _ours(c: Mapping[str, Any], p: int, spec) -> str:
    if c["n"]:
        return fmt_ours(c["mean"], c["spread"], c["n"], p, spec)
    return f"non-finite ({c['n_nonfinite']})" if c["n_nonfinite"] else "not run"


def _legend(beside: bool) -> str:
    ref = (
        " On this page of a runs root the verdict is this machine's, followed by the committed reference's "
        "(`ref: ...`) where the two differ; a reason marked (ref) is the reference's, where this machine has "
        "none."
        if beside
        else ""
    )
    return (
        "**How to read it.** Per paper, each claim it states (`papers/<p>/published.py`) and its verdict at "
        "each profile: **holds**, **does not hold**, **undecided** (checked, but the evidence does not decide), "
        "**not checked** (no verdict recorded at that profile). Profiles: smoke = tiny runs that prove the code "
        "runs (their verdicts test nothing); quick = reduced data and updates on a 2-core machine; full = the "
        "paper's protocol. The reason is the evidence of the most complete profile with a verdict."
        + ref
        + f" {SUPERSEDED_MARK} = {SUPERSEDED} (issue 68): a verdict, count or cell so marked is no test of the "
        "claim until its item is re-run. Then, per paper, the printed numbers: each table item's cells per "
        "verdict (within: |Δ| at most the published spread) and its headline cells as published | ours | Δ. "
        "Each item's report has every cell, plot and footnote.\n"
    )


def answer_lines(
    results_root: str | Path,
    pubs: Mapping[str, Any],
    papers: Sequence[str],
    reference_root: str | Path | None = None,
) -> list[str]:
    """The answer page's lines for ``results_root`` (beside ``reference_root`` when given)."""
    ref = Store(reference_root) if reference_root is not None else None
    return AnswerPage(Store(results_root), pubs, ref).render(papers)
