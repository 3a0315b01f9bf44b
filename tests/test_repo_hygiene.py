"""The repository stands on its own (issue 27, point 8).

1. No tracked text file cites a path outside the repository: the team's working notes lived in a
   sibling ``shared`` folder that a user who clones the repository does not have. The facts the code
   needs are summarized in ``docs/`` instead.
2. No text file cites one of those notes by its bare file name (the official-code and stack notes, the
   architecture and style notes, the OMAR audit): the repository's own versions are ``docs/<name>.md``.
   Inside ``docs/`` a bare name is a relative link and is fine when that file exists there.
3. Every ``docs/<name>.md`` that a ``.py``, ``.md``, ``.cfg`` or ``.sh`` file cites exists, and so does the
   section when the citation names one (``docs/<name>.md#<anchor>``, GitHub's heading anchors).
4. The relative Markdown links inside ``docs/`` (its index, cross-references) resolve.

Tests 1 to 3 read the files ``git ls-files -co --exclude-standard`` lists: the tracked files and the new
files not yet committed, but not the ignored ones (virtual environments, caches, local data).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Built in two pieces so that this file does not match itself.
OUTSIDE_CITATION = "../" + "shared/"

# File names of the team's working notes outside the repository (each followed by ".md" in a citation).
OUTSIDE_NOTES = ("official_code", "stack", "ARCHITECTURE", "STYLE", "omar_audit")

# A bare citation of one of those notes: the name is not part of a longer name ("omar_official_code.md",
# "my-stack.md") and is not prefixed by "docs/". The ".md" is added here so that this file does not match.
BARE_NOTE_CITATION = re.compile(r"(?<![\w.-])(?<!docs/)((?:" + "|".join(OUTSIDE_NOTES) + r")\.md)\b")

# Never scanned: records kept as they were when they were superseded (history, not documentation).
HISTORICAL = ("results/superseded/",)


# Paths under another project's docs/ folder that our text names (OG-MARL's dataset card of OMAR's
# datasets); they are not ours to check.
FOREIGN_DOCS_PATHS = ("docs/dataset_cards/omar.md",)

# A repository-relative citation of one of our docs: starts at "docs/" (not inside a longer path such
# as "og-marl/docs/..."), optionally followed by a section anchor.
DOCS_CITATION = re.compile(r"(?<![\w./-])(docs/[\w./-]*?\.md)(?:#([\w-]+))?")


# A relative Markdown link: [text](target.md#anchor) or [text](#anchor).
MD_LINK = re.compile(r"\]\((?!\w+://)([^)\s#]*)(?:#([\w-]+))?\)")


# Suffixes of the files whose docs/ citations test 3 checks.
CITING_SUFFIXES = (".py", ".md", ".cfg", ".sh")


def _repo_files() -> list[str]:
    """Tracked files plus untracked files that git does not ignore, sorted, each once."""
    cmd = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout (e.g. an installed copy): nothing to check")
    return sorted({p for p in out.decode("utf-8").split("\0") if p})


def _skipped(path: str, prefixes: tuple[str, ...]) -> bool:
    """``path`` equals an entry, or lies under an entry ending in "/"."""
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in prefixes)


def _read_text(path: str) -> str | None:
    """The file's text, or None for binary files and files missing from the working tree."""
    f = ROOT / path
    if not f.is_file():
        return None
    data = f.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(md: Path) -> set[str]:
    anchors, in_fence = set(), False
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (m := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)):
            anchors.add(github_anchor(m.group(1)))
    return anchors


def test_github_anchor_matches_hand_computed_examples():
    assert github_anchor("Per-dataset tau and alpha") == "per-dataset-tau-and-alpha"
    assert github_anchor("OMAR's baseline (for comparison only)") == "omars-baseline-for-comparison-only"
    assert github_anchor("MPE through mpe2") == "mpe-through-mpe2"


def test_bare_note_pattern_on_hand_written_examples():
    def hits(line):
        return [m.group(1) for m in BARE_NOTE_CITATION.finditer(line)]

    official, stack, style = (n + ".md" for n in ("official_code", "stack", "STYLE"))
    assert hits(f"see {official} §1.2") == [official]
    assert hits(f"({stack} §1.6)") == [stack]
    assert hits(f"{style} 12, reference/{official}") == [style, official]
    assert hits(f"docs/{stack}#install, docs/omar_{official}#protocol") == []
    assert hits(f"cast_bcq_{official} my-{stack} stack.mdx") == []


def _scanned_lines():
    """(path, line number, line) of every tracked or new text file, history under HISTORICAL excepted."""
    for path in _repo_files():
        if _skipped(path, HISTORICAL):
            continue
        text = _read_text(path)
        if text is not None:
            for n, line in enumerate(text.splitlines(), 1):
                yield path, n, line


def test_no_tracked_file_cites_the_outside_shared_folder():
    offenders = [
        f"{path}:{n}: {line.strip()}" for path, n, line in _scanned_lines() if OUTSIDE_CITATION in line
    ]
    assert not offenders, (
        f"{len(offenders)} line(s) cite {OUTSIDE_CITATION!r}, which is not in the repository; cite docs/ "
        "instead (docs/README.md lists the files and sections):\n" + "\n".join(offenders)
    )


def test_no_file_cites_an_outside_note_by_its_bare_name():
    offenders = []
    for path, n, line in _scanned_lines():
        for m in BARE_NOTE_CITATION.finditer(line):
            if path.startswith("docs/") and (ROOT / "docs" / m.group(1)).is_file():
                continue  # a relative link to a sibling page inside docs/
            offenders.append(f"{path}:{n}: {m.group(1)}: {line.strip()}")
    assert not offenders, (
        f"{len(offenders)} bare citation(s) of notes that are not in the repository; cite "
        "docs/<file>.md#<section> instead (docs/README.md lists the files and sections):\n"
        + "\n".join(offenders)
    )


def test_every_cited_docs_file_and_section_exists():
    missing, n_cited = [], 0
    for path in _repo_files():
        if not path.endswith(CITING_SUFFIXES) or _skipped(path, HISTORICAL):
            continue
        text = _read_text(path)
        if text is None:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            for m in DOCS_CITATION.finditer(line):
                doc, anchor = m.group(1), m.group(2)
                if doc in FOREIGN_DOCS_PATHS:
                    continue
                n_cited += 1
                target = ROOT / doc
                if not target.is_file():
                    missing.append(f"{path}:{n}: {doc} does not exist")
                elif anchor and anchor not in _anchors(target):
                    missing.append(
                        f"{path}:{n}: {doc} has no section #{anchor} "
                        f"(sections: {', '.join(sorted(_anchors(target)))})"
                    )
    assert not missing, "cited docs missing:\n" + "\n".join(missing)
    assert n_cited > 0, "no docs/ citation found at all: is the pattern still right?"


def test_links_inside_docs_resolve():
    docs = sorted((ROOT / "docs").glob("*.md"))
    assert docs, "docs/ has no Markdown files"
    broken = []
    for md in docs:
        for n, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
            for m in MD_LINK.finditer(line):
                target = (md.parent / m.group(1)) if m.group(1) else md
                anchor = m.group(2)
                where = f"docs/{md.name}:{n}: ({m.group(1)}{'#' + anchor if anchor else ''})"
                if not target.exists():
                    broken.append(f"{where}: no such file")
                elif anchor and (target.suffix != ".md" or anchor not in _anchors(target)):
                    broken.append(f"{where}: no such section")
    assert not broken, "broken links in docs/:\n" + "\n".join(broken)


def test_readme_generated_blocks_are_current():
    """README.md's status and timing tables are rendered from the committed records
    (``python -m common.reporting.readme``): a change of the reference without re-rendering them fails here."""
    from common.reporting import readme

    text = readme.README.read_text(encoding="utf-8")
    assert "<!-- generated:status -->" in text and "<!-- generated:timing -->" in text
    assert readme.render(text) == text, "README.md is stale: run `python -m common.reporting.readme`"
