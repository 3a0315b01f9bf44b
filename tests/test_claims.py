"""common.reporting.claims: a claim is judged only on its complete cells, its verdicts are written once (not checked
writes nothing, undecided supersedes), and every paper's claims.py lists each claim with a rule, loads without the
learners (the report reads it), and agrees with what the report loads."""

import subprocess
import sys

import pytest

from common.reporting.claims import (
    UNDECIDED,
    Claim,
    Evidence,
    check_claims,
    judge,
    on_every,
    whole_grid,
    write_claims,
)
from common.reporting.published import load_published
from common.running.roots import REPO_ROOT
from common.running.store import Runs, item_file

PAPERS = ("omar", "cast_bcq", "otc", "moma_ppo")


def _rec(keys, seed, score):
    return {"keys": keys, "seed": seed, "score": score, "curve": [], "extra": {}}


def _beats(ev):
    a, b = (ev.runs.seed_means("score", method=m)[0] for m in ("a", "b"))
    return a > b, f"a {a:.1f} vs b {b:.1f}"


GRID = [{"method": "a"}, {"method": "b"}]
CLAIMS = [
    Claim(
        item="fig",
        id="a_beats_b",
        text="A beats B. Check: mean a > mean b",
        check=_beats,
        reads=lambda ev: GRID,
    ),
    Claim(
        item="fig",
        id="b_ran",
        text="B ran. Check: any record of b",
        check=lambda ev: (bool(ev.runs.select(method="b")), f"{len(ev.runs.select(method='b'))} runs"),
    ),
]


def test_a_claim_waits_for_the_cells_it_reads():
    runs = [_rec({"method": "a"}, s, 2.0) for s in (0, 1)] + [_rec({"method": "b"}, 0, 1.0)]
    ev = Evidence(runs, "quick", GRID)
    assert judge(CLAIMS[0], ev) == (True, "a 2.0 vs b 1.0")  # no seed count given: judged as it is
    assert judge(CLAIMS[0], ev, n_seeds=2) == (None, "1 of its 2 cells incomplete: b (1/2 seeds)")
    assert judge(CLAIMS[1], ev, n_seeds=2) == (True, "1 runs")  # a claim without ``reads`` never waits
    nan = ev.runs + Runs([_rec({"method": "b"}, 1, float("nan"))])
    assert judge(CLAIMS[0], Evidence(nan), n_seeds=2)[0] is None  # a non-finite score is no seed
    assert judge(CLAIMS[0], Evidence(nan), n_seeds=2, count=lambda r, k: len(r.select(**k)))[0] is True


def test_verdicts_are_written_once_and_not_checked_writes_nothing(tmp_path, capsys):
    def write(outcomes):
        return write_claims(tmp_path, "smoke", "toy", "fig", outcomes, CLAIMS)

    assert write({"a_beats_b": (True, "x"), "b_ran": (None, "no runs yet")}) == ["a_beats_b"]
    # unchanged: nothing appended
    assert write({"a_beats_b": (True, "x"), "b_ran": (None, "no runs yet")}) == []
    assert write({"a_beats_b": (UNDECIDED, "both 0"), "b_ran": (False, "y")}) == ["a_beats_b", "b_ran"]
    newest = item_file(tmp_path, "smoke", "toy", "fig").newest_verdicts
    assert {c: (v.holds, v.said) for c, v in newest.items()} == {
        "a_beats_b": (None, "undecided"),
        "b_ran": (False, "does not hold"),
    }
    out = capsys.readouterr().out
    assert (
        "[toy/fig] claim b_ran: not checked — no runs yet" in out
        and "claim a_beats_b: undecided — both 0" in out
    )
    with pytest.raises(ValueError, match=r"verdicts for \['a_beats_b'\], the listed claims are"):
        write({"a_beats_b": (True, "x")})


def test_check_claims_judges_and_writes(tmp_path):
    runs = [_rec({"method": m}, s, v) for m, v in (("a", 1.0), ("b", 3.0)) for s in (0, 1)]
    ev = Evidence(runs, "quick", GRID)
    assert ev.grid_values("method") == ("a", "b") and whole_grid(ev) == tuple(GRID)
    out = check_claims(tmp_path, "toy", "fig", CLAIMS, ev, n_seeds=2)
    assert out == {"a_beats_b": (False, "a 1.0 vs b 3.0"), "b_ran": (True, "2 runs")}
    assert [v.claim for v in item_file(tmp_path, "quick", "toy", "fig").verdicts] == ["a_beats_b", "b_ran"]


def test_on_every_judges_each_group_and_stops_at_one_that_cannot_be_decided():
    seen = []

    def judge_one(g):
        seen.append(g)
        if g in ("no", "?"):
            return {"no": (None, "no record"), "?": (UNDECIDED, "two models")}[g]
        return g > 1, f"g={g}"

    assert on_every([2, 1, 3], judge_one, "panels: ") == (False, "panels: g=2; g=1; g=3")
    assert seen == [2, 1, 3]  # judged and worded after the failing one too
    assert on_every([2, 3], judge_one) == (True, "g=2; g=3")
    assert on_every([], judge_one, "none: ") == (True, "none: ")
    seen.clear()
    assert on_every([0, "?", "no"], judge_one) == (UNDECIDED, "two models")
    assert seen == [0, "?"]
    assert on_every([2, "no"], judge_one) == (None, "no record")


@pytest.mark.parametrize("paper", PAPERS)
def test_a_papers_claims_have_rules_and_load_without_the_learners(paper):
    """The report loads every paper's claims.py: it must not pull in torch (the learners) to read a claim's words."""
    code = (
        f"import sys; import papers.{paper}.claims as k; "
        "assert all(callable(c.check) for c in k.CLAIMS); assert 'torch' not in sys.modules, 'torch'; "
        "print(len(k.CLAIMS))"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr[-2000:]
    pub = load_published(paper)
    assert pub.error is None and len(pub.CLAIMS) == int(p.stdout) > 0
    assert all(isinstance(c, Claim) for c in pub.CLAIMS)


def test_decided_count_only_where_the_open_members_cannot_move_it():
    from common.reporting.claims import decided_count

    at_most_half = lambda c: c <= 5  # noqa: E731  (of 10)
    assert decided_count(6, 4, at_most_half) is False  # already 6 of 10
    assert decided_count(3, 2, at_most_half) is True  # at most 5 whatever the 2 open give
    assert decided_count(3, 4, at_most_half) is None  # 3 to 7: the open decide
    every = lambda c: c == 10  # noqa: E731
    assert decided_count(7, 2, every) is False and decided_count(8, 2, every) is None
    assert decided_count(10, 0, every) is True


def test_on_every_complete_fails_on_a_complete_group_and_waits_otherwise():
    from common.reporting.claims import on_every_complete

    done = {"a", "b"}
    judge_one = lambda g: (g != "b", f"{g}: {'ok' if g != 'b' else 'no'}")  # noqa: E731
    holds, words = on_every_complete(["a", "b", "c"], lambda g: g in done, judge_one)
    assert holds is False and "b: no" in words and "not run yet: c" in words
    holds, words = on_every_complete(["a", "c"], lambda g: g in done, judge_one)
    assert holds is None and "holds on the 1 complete of 2 groups so far" in words
    assert on_every_complete(["a"], lambda g: g in done, judge_one) == (True, "a: ok")
    assert on_every_complete(["c"], lambda g: g in done, judge_one)[0] is None
