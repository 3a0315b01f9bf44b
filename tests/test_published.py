"""common.reporting.published: typed published numbers are checked when built, and an item's scale and spread decide
how ours and the paper's numbers are shown and compared (hand-computed strings)."""

import math

import pytest

from common.reporting.cells import compare_cells, format_cell
from common.reporting.claims import Claim
from common.reporting.numbers import spread_of
from common.reporting.published import (
    METRICS,
    SCALES,
    SPREADS,
    Entry,
    Figure,
    PublishedError,
    Table,
    as_item,
    check_paper,
    load_published,
)
from common.reporting.render import render_table


def _rec(keys, seed, value, **extra):
    return {
        "item": "t",
        "keys": keys,
        "seed": seed,
        "score": value,
        "normalized": None,
        "extra": extra,
        "config_hash": "h",
        "finished": f"2026-01-0{seed + 1}",
    }


def _recs(values, method="m", **extra):
    return [_rec({"env": "e", "method": method}, s, v, **extra) for s, v in enumerate(values)]


def _one_cell(spec, entries, records):
    cells = compare_cells(records, entries, ["env", "method"], spec.metric, spec=spec)
    assert len(cells) == 1
    return next(iter(cells.values()))


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------
def test_an_unknown_key_names_itself_and_the_allowed_ones():
    with pytest.raises(PublishedError) as e:
        Table(title="t", rows=["env"], metirc="score")
    msg = str(e.value)
    assert "'metirc'" in msg and "allowed:" in msg
    for name in ("title", "metric", "scale", "spread", "seeds", "rows", "cols", "pool"):
        assert name in msg.split("allowed:")[1]
    with pytest.raises(PublishedError, match=r"Figure 'f': unknown key 'xkey'; allowed: .*\bx\b.*\bpngs\b"):
        Figure(title="f", xkey="tau")
    with pytest.raises(
        PublishedError, match=r"unknown key 'stdev'; allowed: item, keys, mean, std, sem, note"
    ):
        Entry(item="t", keys={}, mean=1.0, stdev=0.5)
    with pytest.raises(PublishedError, match=r"unknown key 'txt'; allowed: item, id, text, check, reads"):
        Claim(item="f", id="c", txt="...")
    with pytest.raises(PublishedError, match="keywords only"):
        Claim("f", "c", "text")
    with pytest.raises(PublishedError, match="check must be a function of the Evidence"):
        Claim(item="f", id="c", text="x", check="x > 1")


@pytest.mark.parametrize(
    "field, bad, allowed",
    [("metric", "normalised", METRICS), ("scale", "percentage", SCALES), ("spread", "se", SPREADS)],
)
def test_a_value_outside_its_set_names_itself_and_the_allowed_ones(field, bad, allowed):
    kw = {"metric": "score", field: bad}
    with pytest.raises(PublishedError) as e:
        Table(title="t", **kw)
    msg = str(e.value)
    assert f"{field} {bad!r} is not allowed; allowed: {', '.join(allowed)}" in msg and "'t'" in msg


def test_other_checks():
    with pytest.raises(PublishedError, match="plot 'line' is not allowed; allowed: curves, sweep, bar"):
        Figure(title="f", plot="line")
    with pytest.raises(PublishedError, match="seeds 0 must be an integer >= 1"):
        Table(title="t", seeds=0)
    with pytest.raises(PublishedError, match="does not go with metric 'score'"):
        Table(title="t", metric="score", scale="normalized")
    with pytest.raises(PublishedError, match="does not go with metric 'normalized'"):
        Table(title="t", metric="normalized", scale="percent")
    with pytest.raises(PublishedError, match="give std or sem, not both"):
        Entry(item="t", keys={}, mean=1.0, std=0.1, sem=0.1)
    with pytest.raises(PublishedError, match="mean 'x' must be a finite number"):
        Entry(item="t", keys={}, mean="x")
    with pytest.raises(PublishedError, match="std -1.0 must be >= 0"):
        Entry(item="t", keys={}, mean=1.0, std=-1.0)
    # defaults: the scale follows the metric
    assert Table(metric="score").scale == "raw" and Table(metric="normalized_last10").scale == "normalized"
    assert Table(metric="score", scale="percent").factor == 100.0 and Table(metric="score").factor == 1.0


def test_plain_dicts_are_checked_the_same_way():
    with pytest.raises(PublishedError, match=r"item 'table1': Table 't': unknown key 'metirc'; allowed: "):
        as_item({"kind": "table", "title": "t", "metirc": "score"}, "table1")
    with pytest.raises(PublishedError, match=r"item 'x' has kind 'tabel'; allowed: table, figure"):
        as_item({"kind": "tabel"}, "x")
    spec = as_item({"kind": "figure", "title": "f", "pngs": ["a.png"]}, "figure1")
    assert isinstance(spec, Figure) and spec.pngs == ("a.png",) and spec.kind == "figure"


def _rule(ev):
    return True, "a rule"


def test_cross_references_of_a_paper():
    items = {
        "t": Table(title="t", rows=["env"], cols="method", metric="score", scale="fraction", spread="sem"),
        "f": Figure(title="f"),
    }
    ok = Entry(item="t", keys={"env": "e", "method": "m"}, mean=0.5, sem=0.1)
    check_paper(items, [ok], [Claim(item="f", id="c", text="x", check=_rule)], {"t": ["note"]})
    with pytest.raises(PublishedError, match="gives std but the item's spread is 'sem'"):
        check_paper(items, [Entry(item="t", keys={"env": "e", "method": "m"}, mean=0.5, std=0.1)])
    with pytest.raises(PublishedError, match="names item 'table9'; items: t, f"):
        check_paper(items, [Entry(item="table9", keys={}, mean=0.5)])
    with pytest.raises(
        PublishedError, match=r"keys \['env'\] are not the table's rows and cols \['env', 'method'\]"
    ):
        check_paper(items, [Entry(item="t", keys={"env": "e"}, mean=0.5)])
    with pytest.raises(PublishedError, match="given twice"):
        check_paper(items, [ok, ok])
    with pytest.raises(PublishedError, match="claim 'c' names item 'g'"):
        check_paper(items, [], [Claim(item="g", id="c", text="x", check=_rule)])
    with pytest.raises(PublishedError, match="NOTES names item 'table7'"):
        check_paper(items, [], [], {"table7": ["x"]})


def test_a_broken_published_py_is_reported_not_silently_defaulted(tmp_path):
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "published.py").write_text(
        'ITEMS = {"table1": {"kind": "table", "title": "t", "rows": ["env"], "metirc": "score"}}\n'
    )
    with pytest.warns(UserWarning, match="metirc"):
        ns = load_published("fake", tmp_path)
    assert ns.ITEMS == {} and "unknown key 'metirc'" in ns.error and "allowed:" in ns.error


def test_omar_is_typed_and_old_style_reads_still_work():
    from papers.omar import published as omar

    assert all(isinstance(s, (Table, Figure)) for s in omar.ITEMS.values())
    assert (
        all(isinstance(e, Entry) and e.spread == "std" for e in omar.PUBLISHED) and len(omar.PUBLISHED) == 98
    )
    t3 = omar.ITEMS["table3"]
    assert (t3.metric, t3.scale, t3.spread, t3.rows, t3.cols) == (
        "normalized",
        "normalized",
        "std",
        ("dataset", "env"),
        "method",
    )
    assert omar.ITEMS["table1"].scale == "raw"
    assert not hasattr(omar, "CLAIMS")  # claims live beside their rules (papers/omar/claims.py)
    assert load_published("omar").CLAIMS[0].id == "1b_omar_best"
    assert omar.ITEMS["figure1"].get("title", "").startswith("MA-TD3+BC")
    with pytest.raises(KeyError, match="no field 'titel'"):
        omar.ITEMS["figure1"].get("titel")


# ----------------------------------------------------------------------------------------------
# rendering and verdicts
# ----------------------------------------------------------------------------------------------
def test_spread_kinds():
    assert spread_of([0.5, 0.6, 0.7], "std") == pytest.approx(math.sqrt(0.02 / 3))  # population std
    assert spread_of([0.5, 0.6, 0.7], "sem") == pytest.approx(0.1 / math.sqrt(3))  # sample std 0.1 / sqrt(3)
    assert spread_of([0.5], "sem") is None and spread_of([0.5], "std") == 0.0
    assert spread_of([0.5, 0.7], "none") == pytest.approx(0.1)  # ours shows the std where the paper has none


def test_a_fraction_with_standard_error():
    """MOMA-PPO style: 0.55 ± 0.11 (se over 5 seeds); ours [0.5, 0.6, 0.7]: mean 0.60, se 0.1/√3 = 0.058."""
    spec = Table(
        title="t", rows=["env"], cols="method", metric="score", scale="fraction", spread="sem", seeds=5
    )
    pub = [Entry(item="t", keys={"env": "e", "method": "m"}, mean=0.55, sem=0.11)]
    c = _one_cell(spec, pub, _recs([0.5, 0.6, 0.7]))
    assert format_cell(c, 2, spec=spec) == "0.60 ± 0.06 (se, 3) vs 0.55 ± 0.11 (se), Δ +0.05 within"
    md = render_table("t", spec, pub, _recs([0.5, 0.6, 0.7]), reps=20)
    assert (
        "Metric: `score` · cell: ours mean ± se (n seeds) vs published mean ± se over 5 seeds, "
        "Δ = ours − published, verdict · fractions (0..1)"
    ) in md
    assert "| ours mean   | ours se   | n   | non-finite   | pub mean   | pub se   |" in md
    assert (
        "| e     | m        | 0.60        | 0.06      | 3   |              | 0.55       | 0.11     | +0.05 | within"
        in md
    )
    # one seed: no standard error yet
    one = _one_cell(spec, pub, _recs([0.7]))
    assert format_cell(one, 2, spec=spec) == "0.70 ± — (se, 1) vs 0.55 ± 0.11 (se), Δ +0.15 differs"


def test_a_percent_item_scales_our_fractions():
    """CAST-BCQ style win rates: the paper prints 55.0 ± 2.0 (%); the records hold fractions 0.5, 0.6, 0.7,
    so ours is 60.0 ± 8.2% (population std of 50, 60, 70 = 8.165) and Δ is in percentage points."""
    spec = Table(title="t", rows=["env"], cols="method", metric="score", scale="percent")
    pub = [Entry(item="t", keys={"env": "e", "method": "m"}, mean=55.0, std=2.0)]
    c = _one_cell(spec, pub, _recs([0.5, 0.6, 0.7]))
    assert format_cell(c, 1, spec=spec) == "60.0 ± 8.2% (3) vs 55.0 ± 2.0%, Δ +5.0 pp differs"
    md = render_table("t", spec, pub, _recs([0.5, 0.6, 0.7]), reps=20)
    assert "in %: ours are the records' fractions × 100, Δ in percentage points (pp)" in md
    assert "Verdicts: within 0, differs 1" in md
    # the same numbers as standard errors: 60.0 ± 5.8% (se) vs 55.0 ± 6.0% (se) -> within
    se = Table(title="t", rows=["env"], cols="method", metric="score", scale="percent", spread="sem")
    c = _one_cell(
        se, [Entry(item="t", keys={"env": "e", "method": "m"}, mean=55.0, sem=6.0)], _recs([0.5, 0.6, 0.7])
    )
    assert format_cell(c, 1, spec=se) == "60.0 ± 5.8% (se, 3) vs 55.0 ± 6.0% (se), Δ +5.0 pp within"
    assert format_cell(_one_cell(spec, [], _recs([0.25])), 1, spec=spec) == "25.0 ± 0.0% (1), no published"


def test_verdicts_compare_like_with_like():
    """Where the paper prints no spread, ours of the paper's kind is the tolerance: [0.4, 0.6, 0.8] vs a
    published 0.45 is within one std (0.163) but not one standard error (0.115)."""
    recs, keys = _recs([0.4, 0.6, 0.8]), {"env": "e", "method": "m"}
    std = Table(title="t", rows=["env"], metric="score", scale="fraction", spread="std")
    sem = Table(title="t", rows=["env"], metric="score", scale="fraction", spread="sem")
    bare = [Entry(item="t", keys=keys, mean=0.45)]
    assert _one_cell(std, bare, recs)["verdict"] == "within"
    assert _one_cell(sem, bare, recs)["verdict"] == "differs"
    assert (
        format_cell(_one_cell(sem, bare, recs), 2, spec=sem) == "0.60 ± 0.12 (se, 3) vs 0.45, Δ +0.15 differs"
    )
    # a percent item compares percent with percent: 0.6 recorded is 60%, within 60.0 ± 1.0
    pct = Table(title="t", rows=["env"], metric="score", scale="percent")
    assert (
        _one_cell(pct, [Entry(item="t", keys=keys, mean=60.0, std=1.0)], _recs([0.6, 0.6]))["verdict"]
        == "within"
    )
    # the plain default (raw, std) is what it was: no scaling
    raw = Table(title="t", rows=["env"], metric="score")
    c = _one_cell(raw, [Entry(item="t", keys=keys, mean=0.6, std=0.1)], recs)
    assert format_cell(c, 1, spec=raw) == "0.6 ± 0.2 (3) vs 0.6 ± 0.1, Δ +0.0 within"


def test_an_extra_reading_is_found_in_the_records_extra():
    spec = Table(title="t", rows=["env"], metric="normalized_best")
    recs = [_rec({"env": "e", "method": "m"}, s, 1.0, normalized_best=v) for s, v in enumerate([80.0, 90.0])]
    c = _one_cell(spec, [Entry(item="t", keys={"env": "e", "method": "m"}, mean=84.0, std=3.0)], recs)
    assert format_cell(c, 1, spec=spec) == "85.0 ± 5.0 (2) vs 84.0 ± 3.0, Δ +1.0 within"


def test_a_rounded_published_number_is_within_its_rounding():
    """A constant known exactly (-4.2370844) that the paper prints as -4.237: Δ -8.4e-5 is within half a unit of
    the last printed digit (0.0005), not without it; the rounding is read off the printed text."""
    from common.reporting.published import rounding_of

    assert rounding_of("-4.237") == pytest.approx(0.0005) and rounding_of("6.4") == pytest.approx(0.05)
    assert rounding_of("−3") == 0.5 and rounding_of(" 152.3 ") == pytest.approx(0.05)
    with pytest.raises(PublishedError, match="'abc' is not a printed number"):
        rounding_of("abc")
    keys = {"env": "e", "method": "m"}
    spec = Table(title="t", rows=["env"], metric="score")
    ours = _recs([-4.2370844])
    assert _one_cell(spec, [Entry(item="t", keys=keys, mean=-4.237)], ours)["verdict"] == "differs"
    assert (
        _one_cell(spec, [Entry(item="t", keys=keys, mean=-4.237, rounding=0.0005)], ours)["verdict"]
        == "within"
    )
    assert (
        _one_cell(spec, [Entry(item="t", keys=keys, mean=-4.236, rounding=0.0005)], ours)["verdict"]
        == "differs"
    )
    with pytest.raises(PublishedError, match="rounding 0.7 must be half a unit"):
        Entry(item="t", keys=keys, mean=1.0, rounding=0.7)


def test_moma_ppo_bare_numbers_carry_their_printed_rounding():
    from papers.moma_ppo import published as moma

    reacher = next(
        e
        for e in moma.PUBLISHED
        if e.item == "table2" and e.keys.get("quantity") == "expert_return" and "reacher" in e.keys["env"]
    )
    assert reacher.rounding == pytest.approx(0.0005)
    ant_min = next(
        e
        for e in moma.PUBLISHED
        if e.item == "table2"
        and e.keys.get("dataset") == "random"
        and e.keys.get("quantity") == "min"
        and "ant" in e.keys["env"]
    )
    # '-3' beside '6.4': a dropped '.0'
    assert ant_min.mean == -3.0 and ant_min.rounding == pytest.approx(0.05)
    assert all(e.rounding is None for e in moma.PUBLISHED if e.sem is not None)


def test_a_run_without_the_reading_is_not_shown_as_non_finite():
    """An analysis cell records no normalized score (None, nothing non-finite): 'no such reading', while a diverged
    run (its record lists non-finite fields) stays 'non-finite'."""
    spec = Table(title="t", rows=["env"], metric="normalized")
    keys = {"env": "e", "method": "m"}
    recs = [dict(_rec(keys, s, 1.0), normalized=None, nonfinite=[]) for s in range(3)]
    assert format_cell(_one_cell(spec, [], recs), 1, spec=spec) == "no such reading (3), no published"
    bad = [dict(r, nonfinite=["score"]) for r in recs]
    assert format_cell(_one_cell(spec, [], bad), 1, spec=spec) == "non-finite (3), no published"
    mixed = [dict(_rec(keys, 0, 1.0), normalized=50.0), recs[1], bad[2]]
    assert format_cell(_one_cell(spec, [], mixed), 1, spec=spec).startswith(
        "50.0 ± 0.0 (1) +1 non-finite +1 without this reading"
    )
