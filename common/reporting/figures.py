"""The hook by which an item's script draws its PNGs (common.reporting.plotting) and writes its claims' verdicts
(common.reporting.claims) once its runs are done, on the item's counted runs from the item store:

    after = item_after("omar", "figure2", finish)      # finish(runs, results_root, profile_name)
    common.running.cli.main(..., after=after)
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from common.running.store import Runs, item_runs


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
