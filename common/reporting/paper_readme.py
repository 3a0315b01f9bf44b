"""The generated block of a paper's README (``papers/<p>/README.md``): its claims and their verdicts per profile.

A README holds ``<!-- generated:claims_<p> -->`` ... ``<!-- /generated:claims_<p> -->``; ``python -m
common.reporting.readme`` rebuilds it from the committed reference (``results/``) with the answer page's rows
(``common.reporting.answer.AnswerPage.claim_rows``: the item, the claim's words and id, the verdict at each profile,
⚠ where it rests on superseded MuJoCo data, and the newest verdict's evidence), so that no verdict in a paper's
README is typed by hand and ``--check`` fails while one is stale against the records.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from tabulate import tabulate

from common.reporting.answer import AnswerPage, Store
from common.reporting.published import discover_papers, load_published
from common.running.profiles import PROFILE_NAMES
from common.running.roots import REFERENCE_ROOT, REPO_ROOT

__all__ = ["claims_block", "claims_blocks", "paper_readmes"]

_LINK = re.compile(r"\]\((?!https?:|/|\.\./)([^)]+)\)")  # a link relative to the results root


def claims_block(paper: str, root: Path = REFERENCE_ROOT) -> str:
    """The claims table of ``paper`` from the records under ``root``, its links relative to the paper's folder."""
    pub = load_published(paper)
    if not pub.CLAIMS:
        return f"`papers/{paper}/published.py` states no claims yet.\n"
    page = AnswerPage(Store(root), {paper: pub})
    rows, tally = page.claim_rows(paper)
    rel = Path("..", "..", Path(root).resolve().relative_to(REPO_ROOT.resolve())).as_posix()
    rows = [[_LINK.sub(lambda m: f"]({rel}/{m.group(1)})", cell) for cell in row] for row in rows]
    counts = "; ".join(
        f"{p}: {sum(v.startswith('holds') for v in tally['ours'][p])} of {len(pub.CLAIMS)} hold"
        for p in PROFILE_NAMES
    )
    table = tabulate(
        rows,
        headers=["item", "claim", *PROFILE_NAMES, "reason (the newest checked profile)"],
        tablefmt="github",
        disable_numparse=True,
    )
    return (
        f"Generated from the committed records by `python -m common.reporting.readme` ({counts}; ⚠ = on "
        "superseded MuJoCo data, to be re-run):\n\n" + table + "\n"
    )


def paper_readmes() -> list[Path]:
    """The papers' READMEs (those that exist)."""
    return [
        p for p in (REPO_ROOT / "papers" / name / "README.md" for name in discover_papers()) if p.exists()
    ]


def claims_blocks() -> dict[str, Callable[[], str]]:
    """{"claims_<paper>": a function that renders that paper's block}, for ``common.reporting.readme.BLOCKS``."""

    def block_of(paper: str) -> Callable[[], str]:
        return lambda: claims_block(paper)

    return {f"claims_{p}": block_of(p) for p in discover_papers()}
