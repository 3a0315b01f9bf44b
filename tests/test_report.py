import re

import numpy as np
import pytest
from scipy.stats import trim_mean

from common.reporting import plotting, report, stats
from common.running.records import append_record, records_path, write_claim
from common.running.store import item_runs

PUBLISHED_PY = """
PAPER = "fake"
TITLE = "A Fake Paper"
ITEMS = {
    "table1": {"kind": "table", "title": "Main results", "rows": ["env", "dataset"], "cols": "method",
               "metric": "normalized"},
    "figure2": {"kind": "figure", "title": "Learning curves"},
    "table9": {"kind": "table", "title": "Never run", "rows": ["env"], "cols": "method"},
}
PUBLISHED = [
    {"item": "table1", "keys": {"env": "omar/spread", "dataset": "expert", "method": "omar"}, "mean": 11.0, "std": 2.0},
    {"item": "table1", "keys": {"env": "omar/spread", "dataset": "expert", "method": "cql"}, "mean": 10.0, "std": 1.0,
     "note": "CQL number read from the paper's figure"},
    {"item": "table1", "keys": {"env": "omar/tag", "dataset": "expert", "method": "omar"}, "mean": 5.0, "std": 1.0},
    {"item": "table9", "keys": {"env": "omar/tag", "method": "omar"}, "mean": 1.0, "std": 0.5},
]
"""
CLAIMS_PY = """
from common.reporting.claims import Claim


def by_hand(ev):
    return None, "the test writes the verdicts itself"


CLAIMS = [Claim(item="figure2", id="omar_wins", text="OMAR ends above CQL", check=by_hand),
          Claim(item="figure2", id="fast", text="OMAR learns fast", check=by_hand)]
"""


@pytest.fixture
def world(tmp_path, make_record, fake_papers):
    papers = fake_papers({"fake": (PUBLISHED_PY, CLAIMS_PY), "empty": ("PAPER = 'empty'\n", None)})
    (papers / "nopub").mkdir()  # not a paper: no published.py
    res = tmp_path / "results"
    path = records_path(res, "quick", "fake", "table1")
    spread = {"env": "omar/spread", "dataset": "expert"}
    for seed, (a, b) in enumerate([(10.0, 20.0), (12.0, 20.0), (14.0, 20.0)]):
        append_record(path, make_record({**spread, "method": "omar"}, seed, a, cpu="CPU A"))
        append_record(
            path, make_record({**spread, "method": "cql"}, seed, b, cpu="CPU B" if seed else "CPU A")
        )
        append_record(path, make_record({**spread, "method": "bc"}, seed, 1.0 + seed))
    # an older duplicate of omar seed 0 that the newest record replaces
    append_record(path, {**make_record({**spread, "method": "omar"}, 0, 99.0), "finished": "2025-01-01"})
    fig = records_path(res, "quick", "fake", "figure2")
    for seed in range(2):
        for m, base in (("omar", 1.0), ("cql", 0.0)):
            curve = [{"step": s, "score": base + s + seed, "normalized": base + s + seed} for s in range(4)]
            append_record(
                fig,
                make_record(
                    {"env": "omar/spread", "method": m},
                    seed,
                    curve[-1]["normalized"],
                    curve=curve,
                    item="figure2",
                ),
            )
    write_claim(res, "quick", "fake", "figure2", "omar_wins", True, "final 4.5 vs 3.5")
    return papers, res


def test_table_cells_and_verdicts(world):
    papers, res = world
    md = report.write_item_report(res, "quick", "fake", "table1", papers_root=papers).read_text()
    # omar: [10, 12, 14] -> 12.0 ± 1.633 (population std), published 11.0 ± 2.0 -> Δ +1.0 within
    assert "12.0 ± 1.6 (3) vs 11.0 ± 2.0, Δ +1.0 within" in md
    assert "20.0 ± 0.0 (3) vs 10.0 ± 1.0, Δ +10.0 differs [1]" in md
    assert "not run (pub 5.0 ± 1.0)" in md
    assert "2.0 ± 0.8 (3), no published" in md
    assert "1. CQL number read from the paper's figure" in md
    assert "Verdicts: within 1, differs 1, partial 0, not run 1, no published 1" in md
    assert (
        "Who beats whom" in md and "| omar/spread | expert    | cql      | 20.0  | [20.0, 20.0] | best" in md
    )
    assert "99.0" not in md  # superseded by the newer record of the same seed
    assert "Profile **quick** · status: partial 3/4 cells" in md
    # the CPU types beside the numbers (bc's records predate the field)
    assert "CPUs: CPU A; CPU B (and 3 records from before the field)" in md


def test_figure_png_and_claims(world):
    papers, res = world
    md = report.write_item_report(res, "quick", "fake", "figure2", papers_root=papers).read_text()
    png = res / "quick" / "fake" / "figure2.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![figure2](figure2.png)" in md
    assert "- **holds** — OMAR ends above CQL (`omar_wins`): final 4.5 vs 3.5" in md
    assert "- **not checked** — OMAR learns fast (`fast`)" in md
    bar = plotting.plot_sweep(item_runs(res, "quick", "fake", "figure2"), res / "bar.png", kind="bar")
    assert bar.exists()


def test_report_md(world):
    papers, res = world
    path = report.main(["--results", str(res), "--papers", str(papers)])
    text = path.read_text()
    assert (
        "## Profile `quick`" in text and "## Profile `smoke`" not in text and "## Profile `full`" not in text
    )
    assert "| fake    | table1  | table  | Main results    | partial 3/4 cells" in text
    assert "partial 3/4 cells" in text and "[md](quick/fake/table1.md)" in text
    # quick wants 3 seeds per cell; the figure ran 2
    assert "partial 0/2 cells; claims checked 1/2" in text and "[png](quick/fake/figure2.png)" in text
    line9 = next(line for line in text.splitlines() if "table9" in line)
    assert "not run" in line9
    assert (res / "quick" / "fake" / "table9.md").exists()
    assert "nopub" not in text
    with pytest.raises(SystemExit):
        report.main(["--help"])


def test_missing_or_empty_published(tmp_path):
    ns = report.load_published("nothing", tmp_path)
    assert ns.ITEMS == {} and ns.PUBLISHED == [] and not ns.found
    path = report.write_report(tmp_path / "results", papers_root=tmp_path)
    assert "No results yet" in path.read_text()


def test_stats_hand_computed():
    x = np.array([8.0, 1, 7, 2, 6, 3, 5, 4])
    assert stats.iqm(x) == pytest.approx(4.5)  # drop 1, 2 and 7, 8 -> mean(3, 4, 5, 6)
    assert stats.iqm(x) == pytest.approx(trim_mean(x, 0.25))
    assert stats.iqm([1.0, 2.0, 100.0, 3.0]) == pytest.approx(2.5)
    assert stats.probability_of_improvement([10.0, 11, 12], [1.0, 2, 3]) == 1.0
    assert stats.probability_of_improvement([1.0, 2.0], [1.0, 2.0]) == 0.5
    p, lo, hi = stats.probability_of_improvement_ci([10.0, 11, 12], [1.0, 2, 3], reps=200)
    assert p == lo == hi == 1.0
    q, lo, hi = stats.iqm_ci(np.arange(20.0), reps=300)
    assert lo <= q <= hi and q == pytest.approx(9.5)


def test_who_beats_whom_compares_the_compare_key(make_record):
    """With rows = sampler and columns = dataset, spec["compare"] = "sampler" ranks samplers within each
    dataset (not datasets within a sampler)."""
    from common.reporting.render import render_table

    recs = [
        make_record({"sampler": s, "dataset": d}, seed, v + seed, item="t")
        for s, base in (("a", 10.0), ("b", 30.0))
        for d, off in (("x", 0.0), ("y", 100.0))
        for seed in range(3)
        for v in (base + off,)
    ]
    spec = {
        "kind": "table",
        "rows": ["sampler"],
        "cols": "dataset",
        "metric": "normalized",
        "compare": "sampler",
    }
    who = render_table("t", spec, [], recs, reps=200).split("### Who beats whom")[1]
    lines = [ln for ln in who.splitlines() if ln.startswith("| x") or ln.startswith("| y")]
    best = {(ln.split("|")[1].strip(), ln.split("|")[2].strip()) for ln in lines if "best" in ln}
    assert best == {("x", "b"), ("y", "b")}  # b beats a on both datasets
    spec.pop("compare")  # default: compare the columns (datasets) within a sampler -> y best for both
    who = render_table("t", spec, [], recs, reps=200).split("### Who beats whom")[1]
    best = {
        (ln.split("|")[1].strip(), ln.split("|")[2].strip())
        for ln in who.splitlines()
        if ln.startswith("| ") and "| best" in ln
    }
    assert best == {("a", "y"), ("b", "y")}


def test_a_pooled_cell_gets_a_verdict_only_once_every_listed_task_ran(make_record):
    """Table 5's layout: rows = method, columns = dataset, records also keyed by env and pooled. With
    only some of the spec's pool values run, the cell shows its mean but no delta and no verdict."""
    from common.reporting.cells import compare_cells
    from common.reporting.render import render_table

    pub = [{"item": "t", "keys": {"method": m, "dataset": "d"}, "mean": 10.0, "std": 1.0} for m in ("a", "b")]
    spread = [
        make_record({"method": m, "dataset": "d", "env": "spread"}, seed, v, item="t")
        for m, v in (("a", 10.0), ("b", 30.0))
        for seed in range(2)
    ]
    tag = [
        make_record({"method": m, "dataset": "d", "env": "tag"}, seed, v, item="t")
        for m, v in (("a", 12.0), ("b", 40.0))
        for seed in range(2)
    ]
    spec = {
        "kind": "table",
        "rows": ["method"],
        "cols": "dataset",
        "metric": "normalized",
        "compare": "method",
        "pool": {"env": ["spread", "tag"]},
    }

    cells = compare_cells(spread, pub, ["method", "dataset"], "normalized", spec["pool"])
    a = next(c for c in cells.values() if c["keys"]["method"] == "a")
    assert (a["verdict"], a["delta"], a["mean"], a["pool_missing"]) == (
        "partial",
        None,
        10.0,
        {"env": ["tag"]},
    )
    md = render_table("t", spec, pub, spread, reps=50)
    assert (
        "10.0 ± 0.0 (2) vs 10.0 ± 1.0, partial" in md
        and "Δ" not in md.split("### Detail")[0].split("verdict")[1]
    )
    assert "pooled over env = spread (2 runs); not run yet: tag, so no verdict (partial)" in md
    assert "Verdicts: within 0, differs 0, partial 2," in md
    assert "### Who beats whom" not in md  # partial pools are not ranked

    cells = compare_cells(spread + tag, pub, ["method", "dataset"], "normalized", spec["pool"])
    a = next(c for c in cells.values() if c["keys"]["method"] == "a")
    b = next(c for c in cells.values() if c["keys"]["method"] == "b")
    assert (a["verdict"], a["mean"], a["n"], a["pooled"]) == (
        "within",
        11.0,
        4,
        {"env": {"spread": 2, "tag": 2}},
    )
    assert (b["verdict"], b["delta"]) == ("differs", 25.0)
    md = render_table("t", spec, pub, spread + tag, reps=50)
    assert "pooled over env = spread (2 runs), tag (2 runs)" in md and "not run yet" not in md
    assert "### Who beats whom" in md
    # without a pool spec the same records pool silently into a verdict, as before
    assert (
        compare_cells(spread, pub, ["method", "dataset"], "normalized")[('"a"', '"d"')]["verdict"] == "within"
    )


def test_rerendering_unchanged_results_leaves_the_files_alone(world, make_record):
    """Only the 'generated' time would differ, so the .md files (and REPORT.md) are not rewritten;
    a new record changes the item's report."""
    papers, res = world
    ref = report.REFERENCE_ROOT  # as report.main renders a non-reference root
    md = report.write_item_report(res, "quick", "fake", "table1", papers_root=papers, reference_root=ref)
    top = report.main(["--results", str(res), "--papers", str(papers)])
    old = {p: (p.read_text(), p.stat().st_mtime_ns) for p in (md, top)}
    for p in (md, top):  # make the files look old so that a rewrite would show in the time stamps
        p.write_text(p.read_text().replace("enerated 2026-", "enerated 2025-"))
    stamped = {p: p.read_text() for p in (md, top)}
    report.write_item_report(res, "quick", "fake", "table1", papers_root=papers, reference_root=ref)
    report.main(["--results", str(res), "--papers", str(papers)])
    assert all(p.read_text() == stamped[p] for p in (md, top))
    append_record(
        records_path(res, "quick", "fake", "table1"),
        make_record({"env": "omar/tag", "dataset": "expert", "method": "omar"}, 0, 5.0),
    )
    new = report.write_item_report(res, "quick", "fake", "table1", papers_root=papers).read_text()
    assert new != stamped[md] and "5.0 ± 0.0 (1) vs 5.0 ± 1.0" in new and old[md][0] != new


def test_an_item_not_in_published_is_listed_as_a_table(world, make_record):
    """A diagnostic of ours (records but no published.py entry) renders as a table of all its keys."""
    papers, res = world
    append_record(
        records_path(res, "quick", "fake", "diagnose"),
        make_record({"variant": "a", "method": "omar"}, 0, 3.0, item="diagnose"),
    )
    text = report.main(["--results", str(res), "--papers", str(papers)]).read_text()
    line = next(x for x in text.splitlines() if "| diagnose" in x)
    assert "| table " in line and "(not in published.py)" in line
    md = (res / "quick" / "fake" / "diagnose.md").read_text()
    assert "| variant   | omar" in md and "3.0 ± 0.0 (1), no published" in md


def test_a_scripts_side_results_are_not_items_and_keep_their_own_md(world, make_record):
    """A JSON-lines file that holds no item records (a script's side results beside its own .md, e.g.
    scripts/smax_bcq_forms.py) is neither listed nor rendered: the script's .md is left as it wrote it."""
    papers, res = world
    append_record(
        records_path(res, "quick", "fake", "diagnose"),
        make_record({"variant": "a", "method": "omar"}, 0, 3.0, item="diagnose"),
    )
    side = res / "quick" / "fake"
    (side / "forms.jsonl").write_text('{"form": "code", "seed": 0, "win": 0.0}\n')
    (side / "forms.md").write_text("# the script's own table\n")
    text = report.main(["--results", str(res), "--papers", str(papers)]).read_text()
    assert "| diagnose" in text and "| forms" not in text
    assert (side / "forms.md").read_text() == "# the script's own table\n"


def test_figure_cell_rows_in_natural_key_order(world, tmp_path, make_record):
    """A figure's "final per cell" rows sort by key value, numbers numerically (2 < 3 < 10), whatever
    order the records were written in (e.g. a --n-agents 3 run before n = 2)."""
    papers, _ = world
    res = tmp_path / "other"
    fig = records_path(res, "quick", "fake", "figure2")
    for n in (3, 10, 2):
        for m in ("omar", "cql"):
            append_record(fig, make_record({"n_agents": n, "method": m}, 0, float(n), item="figure2"))
    # text keeps its first-seen order (the grid's: random before expert), not the alphabet's
    md = report.write_item_report(res, "quick", "fake", "figure2", papers_root=papers).read_text()
    table = md.split("per cell:")[1].split("###")[0]
    rows = [ln.split("|")[1:3] for ln in table.splitlines() if ln.startswith("| ") and "n_agents" not in ln]
    assert [(a.strip(), b.strip()) for a, b in rows] == [
        (str(n), m) for n in (2, 3, 10) for m in ("omar", "cql")
    ], md


def test_this_machine_beside_the_reference_and_the_published(world, tmp_path, make_record):
    """Issue 27: a runs root's report shows each cell as published | reference (committed) | this
    machine, with the reference's verdict, ours − reference, and each claim's reference verdict."""
    papers, ref = world  # the world's records play the committed reference
    mine = tmp_path / "runs"
    spread = {"env": "omar/spread", "dataset": "expert"}
    for seed, v in enumerate([11.0, 13.0]):
        append_record(
            records_path(mine, "quick", "fake", "table1"), make_record({**spread, "method": "omar"}, seed, v)
        )
    md = report.write_item_report(
        mine, "quick", "fake", "table1", papers_root=papers, reference_root=ref
    ).read_text()
    assert "12.0 ± 1.0 (2) vs 11.0 ± 2.0, Δ +1.0 within · ref 12.0 ± 1.6 (3) within" in md
    assert "ref 20.0 ± 0.0 (3) differs" in md  # only the reference ran cql: its row is still there
    assert re.search(r"\| 12.0 ± 1.6 \(3\) within +\| \+0.0 ", md)  # detail: reference, ours − ref
    assert "Reference verdicts: within 1, differs 1" in md
    assert "reference: the committed `results/quick/fake/table1.jsonl` (partial 3/4 cells" in md
    append_record(
        records_path(mine, "quick", "fake", "figure2"),
        make_record(
            {"env": "omar/spread", "method": "omar"},
            0,
            1.0,
            curve=[{"step": 0, "score": 1.0}],
            item="figure2",
        ),
    )
    fig = report.write_item_report(
        mine, "quick", "fake", "figure2", papers_root=papers, reference_root=ref
    ).read_text()
    assert "- **not checked** (reference: holds) — OMAR ends above CQL" in fig
    assert "- **not checked** (reference: no verdict yet) — OMAR learns fast" in fig
    top = report.write_report(mine, papers_root=papers, reference_root=ref).read_text()
    # this machine: omar ran 2 of quick's 3 seeds; the reference: 3 of its 4 cells
    assert re.search(
        r"\| fake +\| table1 +\| table +\| Main results +\| partial 0/3 cells +\| partial 3/4 cells", top
    )
    assert "this machine's runs" in top


def test_records_made_with_other_thread_counts_are_not_averaged_in(world, make_record):
    """A cell's numbers come from one thread count (the one with the most records); the rest are
    left out, and the report says so."""
    papers, res = world
    spread = {"env": "omar/spread", "dataset": "expert", "method": "omar"}
    append_record(
        records_path(res, "quick", "fake", "table1"), {**make_record(spread, 5, 1000.0), "threads": 2}
    )
    md = report.write_item_report(res, "quick", "fake", "table1", papers_root=papers).read_text()
    assert "12.0 ± 1.6 (3) vs 11.0 ± 2.0" in md and "1000" not in md
    assert "1 record made with 2 threads" in md


def test_other_readings_show_best_and_last10_with_their_verdicts(make_record):
    """Records carrying normalized_best / normalized_last10 get a table of the three readings, each judged
    against the published number; records without them get no such section."""
    from common.reporting.render import render_table

    recs = []
    for seed in range(3):
        r = make_record({"method": "m", "env": "e"}, seed, 10.0 + seed, item="t")  # last: 10, 11, 12
        r.update(normalized_best=50.0 + seed, normalized_last10=12.0)
        recs.append(r)
    spec = {"kind": "table", "rows": ["env"], "cols": "method", "metric": "normalized"}
    entries = [{"item": "t", "keys": {"env": "e", "method": "m"}, "mean": 51.0, "std": 1.0}]
    text = render_table("t", spec, entries, recs, reps=50)
    part = text.split("### Other readings of the same runs")[1]
    row = next(ln for ln in part.splitlines() if ln.startswith("| e "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "51.0"  # published
    assert cells[3].startswith("11.0 (differs)") and cells[4].startswith("51.0 (within)")
    assert cells[5].startswith("12.0 (differs)")
    assert "Verdicts per reading: last: differs 1; best: within 1; last10: differs 1." in part
    for r in recs:
        del r["normalized_best"], r["normalized_last10"]
    assert "Other readings" not in render_table("t", spec, entries, recs, reps=50)


def test_an_items_own_reading_is_derived_from_each_record_and_judged(make_record):
    """``Table.readings``: a reading computed from each record when the report is made (here the curve's last
    point doubled) gets its column in "Other readings", judged against the published number; an item without
    one, and records it cannot read, add nothing."""
    from common.reporting.published import PublishedError, Reading, Table
    from common.reporting.render import render_table

    def doubled(r):
        return 2 * r.curve[-1]["score"] if r.curve else None

    recs = [
        make_record({"method": "m", "env": "e"}, s, 10.0, item="t", curve=[{"step": 1, "score": 20.0 + s}])
        for s in range(3)
    ]
    spec = Table(
        rows=("env",), cols="method", metric="score", readings=(Reading(name="x2", text="twice", of=doubled),)
    )
    entries = [{"item": "t", "keys": {"env": "e", "method": "m"}, "mean": 42.0, "std": 1.0}]
    part = render_table("t", spec, entries, recs, reps=50).split("### Other readings of the same runs")[1]
    row = next(ln for ln in part.splitlines() if ln.startswith("| e "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3].startswith("10.0 (differs)") and cells[4].startswith(
        "42.0 (within)"
    )  # 2 x mean(20, 21, 22)
    assert "| twice " in part and "last: differs 1; x2: within 1." in part
    plain = Table(rows=("env",), cols="method", metric="score")
    assert "Other readings" not in render_table("t", plain, entries, recs, reps=50)
    for r in recs:
        r["curve"] = []
    assert "Other readings" not in render_table("t", spec, entries, recs, reps=50)
    with pytest.raises(PublishedError, match="name must be one word"):
        Reading(name="last 3", text="t", of=doubled)
    with pytest.raises(PublishedError, match="must be Reading"):
        Table(rows=("env",), readings=("last3",))


def test_a_single_value_without_spread_is_judged_by_its_standard_error():
    """A dataset statistic (one record, no published spread) is within when |Δ| <= its record's own ``se``."""
    from common.reporting.cells import compare_cells

    pub = [{"item": "t", "keys": {"q": "a"}, "mean": 0.623}, {"item": "t", "keys": {"q": "b"}, "mean": 0.5}]
    recs = [
        {"keys": {"q": "a"}, "seed": 0, "score": 0.6221, "extra": {"se": 0.0048}},
        {"keys": {"q": "b"}, "seed": 0, "score": 0.52, "extra": {"se": 0.005}},
    ]
    cells = {c["keys"]["q"]: c for c in compare_cells(recs, pub, ["q"], "score").values()}
    assert cells["a"]["verdict"] == "within" and cells["b"]["verdict"] == "differs"
    recs[0]["extra"] = {}
    cells = {c["keys"]["q"]: c for c in compare_cells(recs, pub, ["q"], "score").values()}
    assert cells["a"]["verdict"] == "differs"  # no spread at all: exact match needed, as before


def test_only_profiles_are_report_sections(tmp_path):
    for folder in ("quick/otc", "bench/h200", "superseded/x/otc"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "table2.jsonl").write_text("{}\n")
    # bench/ holds a device run's records beside its logs: not a profile of the report
    assert report.profiles_with_records(tmp_path) == ["quick"]
