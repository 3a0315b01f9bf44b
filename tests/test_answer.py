"""The answer page (common.reporting.answer) at the top of REPORT.md: claims' verdicts per profile with their reason,
each table item's within / differs counts and headline cells, the superseded-data marking, and the check that
fails while a REPORT.md is stale against its records (the committed one included)."""

import re

import pytest

from common.reporting import answer, report
from common.running.record import Record
from common.running.records import append_record, records_path, write_claim
from common.running.roots import REFERENCE_ROOT

PUBLISHED_PY = """
PAPER = "fake"
TITLE = "A Fake Paper (FAKE)"
ITEMS = {
    "table1": {"kind": "table", "title": "Main results", "rows": ["env", "dataset"], "cols": "method",
               "metric": "normalized"},
    "figure2": {"kind": "figure", "title": "Learning curves"},
}
PUBLISHED = [
    {"item": "table1", "keys": {"env": "spread", "dataset": "expert", "method": "fake_m"}, "mean": 11.0, "std": 2.0},
    {"item": "table1", "keys": {"env": "spread", "dataset": "expert", "method": "cql"}, "mean": 10.0, "std": 1.0},
    {"item": "table1", "keys": {"env": "tag", "dataset": "expert", "method": "fake_m"}, "mean": 5.0, "std": 1.0},
    {"item": "table1", "keys": {"env": "hopper", "dataset": "medium", "method": "fake_m"}, "mean": 50.0, "std": 5.0},
]
"""
CLAIMS_PY = """
from common.reporting.claims import Claim


def by_hand(ev):
    return None, "the test writes the verdicts itself"


CLAIMS = [
    Claim(item="figure2", id="wins", text="'FAKE ends above CQL' (Fig. 2). Check: final mean above CQL's", check=by_hand),
    Claim(item="figure2", id="fast", text="FAKE learns fast", check=by_hand),
    Claim(item="table1", id="hopper_ok", text="FAKE does well on Hopper", check=by_hand),
]
"""
MUJOCO_QUICK = {
    "dataset": {"env": "mamujoco/hopper-3x1", "kind": "medium", "task": "hopper", "data_profile": "quick"}
}


@pytest.fixture
def world(tmp_path, make_record, fake_papers):
    papers = fake_papers({"fake": (PUBLISHED_PY, CLAIMS_PY)})
    res = tmp_path / "results"
    path = records_path(res, "quick", "fake", "table1")
    for seed, (a, b) in enumerate([(10.0, 20.0), (12.0, 20.0), (14.0, 20.0)]):
        append_record(path, make_record({"env": "spread", "dataset": "expert", "method": "fake_m"}, seed, a))
        append_record(path, make_record({"env": "spread", "dataset": "expert", "method": "cql"}, seed, b))
        append_record(
            path,
            make_record(
                {"env": "hopper", "dataset": "medium", "method": "fake_m"}, seed, 20.0, config=MUJOCO_QUICK
            ),
        )
    write_claim(res, "quick", "fake", "figure2", "wins", True, "final 4.5 vs 3.5")
    write_claim(res, "smoke", "fake", "figure2", "wins", False, "final 1.0 vs 2.0")
    write_claim(res, "quick", "fake", "table1", "hopper_ok", False, "20.0 vs 50.0 | far below")
    return papers, res


def _row(text, *needles):
    return next(ln for ln in text.splitlines() if ln.startswith("|") and all(n in ln for n in needles))


def _cells(line):
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]  # "\|" stays in its cell


def test_the_page_opens_with_each_claims_verdict_per_profile_and_its_reason(world):
    papers, res = world
    text = report.write_report(res, papers_root=papers).read_text()  # a root on its own (no reference beside)
    head = text.split("## Items per profile")[0]
    assert (
        head.index("## Summary")
        < head.index("## fake: A Fake Paper (FAKE)")
        < text.index("## Profile `quick`")
    )
    # summary: 3 claims; smoke: 1 checked (does not hold); quick: wins holds, hopper_ok does not (on superseded data)
    assert _cells(_row(head.split("## fake")[0], "| fake ")) == [
        "fake",
        "3",
        "does not hold 1 · not checked 2",
        "holds 1 · does not hold 1 · not checked 1 (1 ⚠)",
        "not checked 3",
    ]
    wins = _cells(_row(head, "`wins`"))
    # the claim as stated (its "Check:" cut off), a verdict per profile, the reason of the most complete profile
    assert wins[1] == "'FAKE ends above CQL' (Fig. 2). (`wins`)"
    assert wins[2:] == ["does not hold", "holds", "not checked", "quick: final 4.5 vs 3.5"]
    assert _cells(_row(head, "`fast`"))[2:] == ["not checked"] * 3 + ["—"]
    hop = _cells(_row(head, "`hopper_ok`"))
    assert hop[3] == "does not hold ⚠"
    assert hop[5] == "quick: ⚠ 20.0 vs 50.0 \\| far below"  # a pipe stays in its cell
    assert hop[0] == "[table1](quick/fake/table1.md)"


def test_items_show_within_differs_counts_and_headline_cells(world):
    papers, res = world
    text = report.write_report(res, papers_root=papers).read_text()  # a root on its own (no reference beside)
    counts = _cells(_row(text, "[table1]", "Main results"))
    # spread/fake_m 12.0 ± 1.6 vs 11.0 ± 2.0 within; cql 20 vs 10 ± 1 differs; hopper 20 vs 50 ± 5 differs (⚠);
    # tag not run
    assert counts[2:] == ["not run", "within 1 · differs 2 · not run 1 (1 ⚠)", "not run"]
    head = text.split("Headline cells")[1].split("## Items per profile")[0]
    rows = [_cells(ln) for ln in head.splitlines() if ln.startswith("| [table1]")]
    # the paper's own method (fake_m) only, cells with runs first; published | ours | Δ | verdict
    assert [r[1:] for r in rows] == [
        ["spread/expert/fake_m", "quick", "11.0 ± 2.0", "12.0 ± 1.6 (3)", "+1.0", "within"],
        ["hopper/medium/fake_m", "quick ⚠", "50.0 ± 5.0", "20.0 ± 0.0 (3)", "-30.0", "differs"],
        ["tag/expert/fake_m", "quick", "5.0 ± 1.0", "not run", "—", "not run"],
    ]


def test_superseded_data_is_the_quick_mujoco_generation_only():
    def on(line):
        return answer.on_superseded_data(Record.from_dict(line))

    assert on({"config": MUJOCO_QUICK})
    assert on(
        {"config": {"dataset": {"source": "common.datasets.mujoco", "profile": "quick", "kind": "expert"}}}
    )
    assert not on({"config": {"dataset": {**MUJOCO_QUICK["dataset"], "data_profile": "full"}}})
    assert not on({"config": {"dataset": {"source": "papers.moma_ppo.reacher", "profile": "quick"}}})
    assert not on({"config": {"dataset": {"env": "smax/3s_vs_3z", "data_profile": "quick"}}})
    assert not on({"config": {"dataset": None}}) and not on({})
    # quick on full's datasets (2026-11-27 on): the record names the dataset's identity
    assert not on({"config": MUJOCO_QUICK, "extra": {"data_identity": "ab" * 32}})


def test_a_runs_root_shows_the_references_verdict_where_it_differs(world, tmp_path):
    papers, ref = world
    mine = tmp_path / "runs"
    write_claim(mine, "quick", "fake", "figure2", "fast", True, "mine is fast")
    text = report.write_report(mine, papers_root=papers, reference_root=ref).read_text()
    assert _cells(_row(text.split("## fake")[0], "| fake "))[2:4] == [
        "not checked 3; ref: does not hold 1 · not checked 2",
        "holds 1 · not checked 2; ref: holds 1 · does not hold 1 · not checked 1 (1 ⚠)",
    ]
    wins = _cells(_row(text, "`wins`"))
    assert wins[2:] == [
        "not checked (ref: does not hold)",
        "not checked (ref: holds)",
        "not checked",
        "quick (ref): final 4.5 vs 3.5",
    ]
    fast = _cells(_row(text, "`fast`"))
    assert fast[3] == "holds (ref: not checked)" and fast[5] == "quick: mine is fast"
    assert "not run; ref: within 1 · differs 2 · not run 1 (1 ⚠)" in _row(text, "| Main results")


def test_check_fails_while_report_md_is_stale(world, capsys):
    papers, res = world
    args = ["--results", str(res), "--papers", str(papers)]
    report.main(args)
    report.main([*args, "--check"])  # up to date
    (res / "REPORT.md").write_text(
        re.sub(r"Generated \S+", "Generated 2020-01-01T00:00:00+00:00", (res / "REPORT.md").read_text())
    )
    report.main([*args, "--check"])  # only the time stamp differs
    write_claim(res, "quick", "fake", "figure2", "fast", None, "overlapping intervals")
    with pytest.raises(SystemExit) as e:
        report.main([*args, "--check"])
    assert e.value.code == 1 and "stale against the records" in capsys.readouterr().err
    assert "| undecided |" not in (res / "REPORT.md").read_text()  # --check writes nothing


def test_the_committed_report_is_current(tmp_path):
    """results/REPORT.md, regenerated from the committed records into a temporary folder, equals the committed
    one up to its time stamp: run `python -m common.reporting.report --reference` after changing records or claims."""
    fresh = tmp_path / "REPORT.md"
    fresh.write_text(report.report_text(REFERENCE_ROOT), encoding="utf-8")
    committed = REFERENCE_ROOT / "REPORT.md"
    assert not report.is_stale(committed, fresh.read_text(encoding="utf-8")), (
        "results/REPORT.md is stale against the committed records: run `python -m common.reporting.report --reference`"
    )
    assert "## Summary: claims per paper and profile" in fresh.read_text(encoding="utf-8")
