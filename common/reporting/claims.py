"""Claims: each published claim's words beside the rule that decides it on our runs, and its verdicts written.

Each ``papers/<p>/claims.py`` lists ``CLAIMS = [Claim(item=..., id=..., text=..., check=...), ...]``: ``text`` is the
claim as the paper states it, followed by ``Check: ...``, the rule in words; ``check(evidence) -> (holds, evidence
text)`` is that rule in code. ``holds`` is True or False, ``UNDECIDED`` (the check ran and the runs cannot decide the
claim: written, shown as "undecided") or None (not checkable here, e.g. cells without a score: nothing is written and
the report shows "not checked"). ``reads(evidence)``, when given, lists the cells the rule reads (key dicts); the claim
is judged only once each of them has the profile's seeds, so that a partial run never reads as "does not hold".
A rule that must hold on every panel, row or setting judges each with ``on_every``; judged on a partial grid, it
uses ``on_every_complete`` (a complete group that breaks it decides, a group not run cannot repair it) and a rule on a
count (all, a majority, at most half) ``decided_count`` (decided once the groups not run cannot change it).

An item's script gathers the ``Evidence`` (its counted runs, its grid at the profile, and any fact a rule reads that is
not a run) and calls ``check_claims``, which judges every claim of the item and appends the verdicts that changed
(common.running.record.Verdict, stored in the item's records file). The report reads the claims' words from the same
list, so a claim and its rule cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from common.reporting.typed import PublishedError, Typed
from common.running.records import write_claim
from common.running.store import Runs, item_file

UNDECIDED = "undecided"  # a check's holds when it ran and the runs cannot decide the claim
Outcome = tuple[Any, str]  # (holds: True | False | UNDECIDED | None, evidence in words)


@dataclass(frozen=True)
class Evidence:
    """What a claim's rule reads: the item's counted runs at ``profile``; ``grid``: the cells its script plans at that
    profile (key dicts), so that a rule can say what a profile's grid leaves out; ``data``: facts that are not runs
    (e.g. the datasets' mean returns), gathered by the script."""

    runs: Runs
    profile: str = ""
    grid: tuple[Mapping[str, Any], ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", self.runs if isinstance(self.runs, Runs) else Runs(self.runs))
        object.__setattr__(self, "grid", tuple(dict(k) for k in self.grid))

    def grid_values(self, name: str) -> tuple[Any, ...]:
        """The distinct values of key ``name`` in the grid, in its order."""
        return tuple(dict.fromkeys(k[name] for k in self.grid if name in k))


@dataclass(frozen=True, kw_only=True)
class Claim(Typed):
    """A claim of item ``item``: its ``id``, its words (``text``: the paper's, then ``Check:`` and the rule) and the
    rule's code ``check``; ``reads`` (optional): the cells the rule reads, complete before it is judged. Keywords only;
    an unknown one, an empty text or a rule that is not a function raises ``PublishedError`` naming it."""

    item: str
    id: str
    text: str
    check: Callable[[Evidence], Outcome]
    reads: Callable[[Evidence], Sequence[Mapping[str, Any]]] | None = None

    def __post_init__(self) -> None:
        for name in ("item", "id", "text"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise PublishedError(
                    f"Claim {self.id!r}: {name} must be a non-empty string, got {getattr(self, name)!r}"
                )
        for name in ("check", "reads"):
            v = getattr(self, name)
            if not callable(v) and not (name == "reads" and v is None):
                raise PublishedError(
                    f"Claim {self.id!r}: {name} must be a function of the Evidence, got {v!r}"
                )


def whole_grid(ev: Evidence) -> tuple[Mapping[str, Any], ...]:
    """A claim's ``reads`` when its rule reads its item's whole grid at the profile (``ev.grid``)."""
    return ev.grid


def of_item(claims: Iterable[Claim], item: str) -> list[Claim]:
    """The claims of ``item``, in their listed order."""
    return [c for c in claims if c.item == item]


def on_every(groups: Iterable[Any], judge_one: Callable[[Any], Outcome], prefix: str = "") -> Outcome:
    """A rule that must hold on every group (panel, row, agent number, obs mode ...): ``judge_one(group) -> (holds,
    words)`` is applied to each of ``groups`` in order. The first group judged not checkable (None) or undecided
    decides the rule, with its own words; else the rule holds where every group's holds (``&``: each group is judged
    and worded, also after one fails) and its words are ``prefix`` then the groups' words joined by "; "."""
    holds: Any = True
    parts = []
    for group in groups:
        ok, words = judge_one(group)
        if ok is None or ok is UNDECIDED:
            return ok, words
        holds &= ok
        parts.append(words)
    return holds, prefix + "; ".join(parts)


def on_every_complete(
    groups: Iterable[Any],
    complete: Callable[[Any], bool],
    judge_one: Callable[[Any], Outcome],
    name: Callable[[Any], str] = str,
    prefix: str = "",
) -> Outcome:
    """``on_every`` on a grid that may be partly run: only the groups with ``complete(group)`` (every cell with the
    profile's seeds) are judged. False as soon as one complete group breaks the rule (the groups not run yet cannot
    repair it), True once every group is complete and keeps it, else not checked (None) with what holds so far;
    ``name(group)`` names the groups not run in the words."""
    groups = list(groups)
    done = [g for g in groups if complete(g)]
    open_ = [g for g in groups if not complete(g)]
    shown = ", ".join(name(g) for g in open_[:6]) + (" ..." if len(open_) > 6 else "")
    if not done:
        return None, f"none of its {len(open_)} groups complete: {shown}"
    holds, words = on_every(done, judge_one, prefix)
    if holds is None or holds is UNDECIDED or not open_:
        return holds, words
    if not holds:
        return False, f"{words} (not run yet: {shown})"
    return (
        None,
        f"holds on the {len(done)} complete of {len(groups)} groups so far; {words}; not run yet: {shown}",
    )


def decided_count(n_yes: int, n_open: int, rule: Callable[[int], bool]) -> bool | None:
    """A rule on how many members of a set have a property, before every member is known: ``n_yes`` members known to
    have it, ``n_open`` not known yet, ``rule(count)`` monotone in the count (all N, more than half, at most half).
    The rule's value where it is the same whatever the open members turn out to be (at count = n_yes and at n_yes +
    n_open), else None: the open members decide."""
    low, high = bool(rule(n_yes)), bool(rule(n_yes + n_open))
    return low if low == high else None


# ----------------------------------------------------------------------------------------------
# Complete cells
# ----------------------------------------------------------------------------------------------
def finite_seeds(runs: Runs, keys: Mapping[str, Any]) -> int:
    """How many seeds of the cell ``keys`` have a finite score (the default count of ``missing_cells``)."""
    return runs.seed_means("score", **keys)[2]


def missing_cells(
    runs: Iterable[Any],
    grid: Sequence[Mapping[str, Any]],
    n_seeds: int,
    count: Callable[[Runs, Mapping[str, Any]], int] = finite_seeds,
) -> list[str]:
    """The cells of ``grid`` (key dicts) with fewer than ``n_seeds`` seeds, as 'v1/v2 (k/n seeds)';
    ``count(runs, keys)`` says how many seeds a cell has (default: seeds with a finite score)."""
    runs, out = Runs(runs), []
    for keys in grid:
        n = count(runs, keys)
        if n < n_seeds:
            out.append("/".join(str(v) for v in keys.values()) + f" ({n}/{n_seeds} seeds)")
    return out


def judge(
    claim: Claim,
    ev: Evidence,
    n_seeds: int | None = None,
    count: Callable[[Runs, Mapping[str, Any]], int] = finite_seeds,
) -> Outcome:
    """The claim's outcome on ``ev``: not checked (None) while a cell it ``reads`` has fewer than ``n_seeds`` seeds
    (by ``count``), else its ``check``."""
    if claim.reads is not None and n_seeds is not None:
        grid = list(claim.reads(ev))
        missing = missing_cells(ev.runs, grid, n_seeds, count)
        if missing:
            return None, (
                f"{len(missing)} of its {len(grid)} cells incomplete: {', '.join(missing[:6])}"
                f"{' ...' if len(missing) > 6 else ''}"
            )
    return claim.check(ev)


# ----------------------------------------------------------------------------------------------
# Verdicts written
# ----------------------------------------------------------------------------------------------
def write_claims(
    results_root: str | Path,
    profile: str,
    paper: str,
    item: str,
    outcomes: Mapping[str, Outcome],
    claims: Iterable[Any],
) -> list[str]:
    """Write one verdict per claim of ``item`` (every listed claim of the item must be given; an outcome
    ``(None, reason)`` writes nothing, so the report shows the claim as not checked, and prints the reason; an outcome
    ``(UNDECIDED, reason)`` is a check whose runs cannot decide the claim, e.g. two methods that both win nothing: it is
    written, superseding any earlier verdict, and the report shows "undecided"). A verdict equal (holds, evidence) to
    the newest one on file is not appended again, so a rerun that changes nothing appends nothing; the report reads the
    newest verdict per claim. Returns the ids written."""
    want = [c.id for c in claims if c.item == item]
    if sorted(outcomes) != sorted(want):
        raise ValueError(
            f"{paper}/{item}: verdicts for {sorted(outcomes)}, the listed claims are {sorted(want)}"
        )
    newest = item_file(results_root, profile, paper, item).newest_verdicts
    written = []
    for cid in want:
        holds, evidence = outcomes[cid]
        if holds is None:  # not checkable here (e.g. a panel that needs an environment not built yet)
            continue
        # UNDECIDED: checked, and the runs cannot decide it
        holds = None if holds is UNDECIDED else bool(holds)
        if cid in newest and newest[cid].same_as(holds, evidence):
            continue
        write_claim(results_root, profile, paper, item, cid, holds, evidence)
        written.append(cid)
    for cid in want:
        holds, evidence = outcomes[cid]
        said = (
            "not checked"
            if holds is None
            else "undecided"
            if holds is UNDECIDED
            else "holds"
            if holds
            else "does not hold"
        )
        print(f"[{paper}/{item}] claim {cid}: {said} — {evidence}", flush=True)
    return written


def check_claims(
    results_root: str | Path,
    paper: str,
    item: str,
    claims: Sequence[Claim],
    ev: Evidence,
    n_seeds: int | None = None,
    count: Callable[[Runs, Mapping[str, Any]], int] = finite_seeds,
) -> dict[str, Outcome]:
    """Judge every claim of ``item`` on ``ev`` (``judge``) and write the verdicts (``write_claims``) at
    ``ev.profile``; returns the outcomes."""
    outcomes = {c.id: judge(c, ev, n_seeds, count) for c in of_item(claims, item)}
    write_claims(results_root, ev.profile, paper, item, outcomes, claims)
    return outcomes
