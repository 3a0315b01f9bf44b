"""Numbers and claim verdicts of a paper's figure items, from its records: per-seed values and their
means, averages over groups of cells, the claims' verdicts written once, and the ``after`` hook by which
a figure script draws its PNGs (common.reporting.plotting) once its runs are done.

    after = figure_after("omar", "figure2", finish)      # finish(records, results_root, profile_name)
    common.running.cli.main(..., after=after)
    write_claims(root, profile, "omar", "figure2", {"claim_id": (holds, evidence)}, published.CLAIMS)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from common.reporting.claims import UNDECIDED
from common.running.records import latest_records, load_records, write_claim
from common.running.store import Runs, item_runs


def item_records(results_root: str | Path, profile: str, paper: str, item: str) -> list[dict]:
    """The newest record of each (keys, seed) of ``paper``/``item`` (claim verdicts excluded)."""
    recs = [r for r in load_records(results_root, profile, paper, item) if r.get("profile", profile) == profile]
    return latest_records(recs)


def seed_values(records: Iterable[Mapping], metric: str, **keys: Any) -> dict[int, float]:
    """seed -> ``metric`` of the records whose keys contain ``keys`` (finite values only)."""
    out: dict[int, float] = {}
    for r in records:
        k = r.get("keys", {})
        if all(k.get(n) == v for n, v in keys.items()):
            v = r.get(metric)
            if v is not None and math.isfinite(float(v)):
                out[int(r["seed"])] = float(v)
    return out


def seed_means(records: Iterable[Mapping], metric: str, **keys: Any) -> tuple[float | None, float | None, int]:
    """(mean, population std, n) over seeds of ``metric`` for the matching records; (None, None, 0) if none."""
    vals = list(seed_values(records, metric, **keys).values())
    if not vals:
        return None, None, 0
    a = np.asarray(vals, dtype=float)
    return float(a.mean()), float(a.std()), int(a.size)


def averaged_over(records: Iterable[Mapping], metric: str, groups: Sequence[Mapping[str, Any]],
                  **keys: Any) -> tuple[float | None, float | None, int]:
    """Per seed, the mean of ``metric`` over ``groups`` (each a dict of keys, e.g. one per task);
    then (mean, population std, n) over the seeds that have every group. (None, None, 0) if none."""
    per_group = [seed_values(records, metric, **keys, **g) for g in groups]
    seeds = set.intersection(*(set(v) for v in per_group)) if per_group else set()
    vals = [float(np.mean([v[s] for v in per_group])) for s in sorted(seeds)]
    if not vals:
        return None, None, 0
    a = np.asarray(vals, dtype=float)
    return float(a.mean()), float(a.std()), int(a.size)


def claim_ids(claims: Iterable[Any], item: str) -> list[str]:
    """The ids of the claims (common.reporting.published.Claim) of ``item``, in their published order."""
    return [c.id for c in claims if c.item == item]




def write_claims(results_root: str | Path, profile: str, paper: str, item: str,
                 verdicts: Mapping[str, tuple[bool, str]], claims: Iterable[Any]) -> list[str]:
    """Write one verdict per claim of ``item`` (every published claim of the item must be given; a verdict
    ``(None, reason)`` writes nothing, so the report shows the claim as not checked, and prints the reason; a
    verdict ``(UNDECIDED, reason)`` is a check whose runs cannot decide the claim, e.g. two methods that both win
    nothing: it is written, superseding any earlier verdict, and the report shows "undecided"). A
    verdict equal (holds, evidence) to the newest one on file is not appended again, so a rerun that
    changes nothing appends nothing; the report reads the newest verdict per claim. Returns the ids written."""
    want = claim_ids(claims, item)
    if sorted(verdicts) != sorted(want):
        raise ValueError(f"{paper}/{item}: verdicts for {sorted(verdicts)}, the published claims are {sorted(want)}")
    newest: dict[str, Mapping] = {}
    for r in load_records(results_root, profile, paper, item):
        cid = (r.get("keys") or {}).get("claim")
        if cid is None:
            continue
        if cid not in newest or str(r.get("finished", "")) >= str(newest[cid].get("finished", "")):
            newest[cid] = r
    written = []
    for cid in want:
        holds, evidence = verdicts[cid]
        if holds is None:  # not checkable here (e.g. a panel that needs an environment not built yet)
            continue
        holds = None if holds is UNDECIDED else bool(holds)  # UNDECIDED: checked, and the runs cannot decide it
        old = (newest.get(cid) or {}).get("extra", {})
        if cid in newest and old.get("holds") == holds and old.get("evidence") == str(evidence):
            continue
        write_claim(results_root, profile, paper, item, cid, holds, evidence)
        written.append(cid)
    for cid in want:
        holds, evidence = verdicts[cid]
        said = "not checked" if holds is None else "undecided" if holds is UNDECIDED else "holds" if holds else "does not hold"
        print(f"[{paper}/{item}] claim {cid}: {said} — {evidence}", flush=True)
    return written


def finite_seeds(records: Iterable[Mapping], keys: Mapping[str, Any]) -> int:
    """How many seeds of the cell ``keys`` have a finite score (the default count of ``missing_cells``)."""
    return seed_means(records, "score", **keys)[2]


def missing_cells(records: Sequence[Mapping], grid: Sequence[Mapping[str, Any]], n_seeds: int,
                  count: Callable[[Sequence[Mapping], Mapping[str, Any]], int] = finite_seeds) -> list[str]:
    """The cells of ``grid`` (key dicts) with fewer than ``n_seeds`` seeds, as 'v1/v2 (k/n seeds)';
    ``count(records, keys)`` says how many seeds a cell has (default: seeds with a finite score)."""
    out = []
    for keys in grid:
        n = count(records, keys)
        if n < n_seeds:
            out.append("/".join(str(v) for v in keys.values()) + f" ({n}/{n_seeds} seeds)")
    return out


def claims_if_complete(records: Sequence[Mapping], results_root: str | Path, profile: str, paper: str, item: str,
                       grid: Sequence[Mapping[str, Any]], n_seeds: int,
                       verdicts: Callable[[], Mapping[str, tuple[bool, str]]], claims: Iterable[Any],
                       count: Callable[[Sequence[Mapping], Mapping[str, Any]], int] = finite_seeds) -> bool:
    """Write the item's claim verdicts (``write_claims``) only when every cell of ``grid`` has ``n_seeds``
    seeds (``missing_cells``): a claim judged on part of a grid would compare what was run, not the paper's
    statement. Otherwise print which cells are incomplete and return False."""
    missing = missing_cells(records, grid, n_seeds, count)
    if missing:
        print(f"[{paper}/{item}] claims not checked: {len(missing)} cell(s) incomplete: "
              f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}", flush=True)
        return False
    write_claims(results_root, profile, paper, item, verdicts(), claims)
    return True


def fmt(x: float | None, p: int = 1) -> str:
    """``x`` with ``p`` decimals, or "n/a"."""
    return "n/a" if x is None else f"{x:.{p}f}"


def item_after(paper: str, item: str, finish: Callable[[Runs, Path, str], None]) -> Callable:
    """An ``after(args, profile, summary)`` hook for common.running.cli.main: on a clean run,
    ``finish(runs, results_root, profile_name)`` draws the PNGs and writes the claims' verdicts; ``runs`` are the
    item's counted runs (common.running.store.item_runs)."""

    def after(args, profile, summary) -> None:
        if not summary.ok:
            print(f"[{paper}/{item}] some runs failed: no figure and no claim verdicts this time", flush=True)
            return
        finish(item_runs(args.results, profile.name, paper, item), Path(args.results), profile.name)

    return after


def figure_after(paper: str, item: str, finish: Callable[[list[dict], Path, str], None]) -> Callable:
    """An ``after(args, profile, summary)`` hook for common.running.cli.main: on a clean run,
    ``finish(records, results_root, profile_name)`` draws the PNGs and writes the claims."""

    def after(args, profile, summary) -> None:
        if not summary.ok:
            print(f"[{paper}/{item}] some runs failed: no figure and no claim verdicts this time", flush=True)
            return
        finish(item_records(args.results, profile.name, paper, item), Path(args.results), profile.name)

    return after
