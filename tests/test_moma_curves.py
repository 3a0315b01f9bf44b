"""MOMA-PPO Tables 3 / 4a / 4b learning curves (papers/moma_ppo/curves.py): on hand-made records, the per-panel
mean and SEM series the plot draws (x as the fraction of the run's training, y in the table's scale), a cell with a
missing seed and a seed with a non-finite point, the PNG written under the name the report embeds, and the report's
lines for a table's own PNGs."""

import math

import numpy as np
import pytest

from common.reporting.published import Table
from common.reporting.render import script_panels
from common.running.record import Record
from papers.moma_ppo import curves, table3
from papers.moma_ppo.published import ITEMS


def rec(keys, seed, points, refs=None, run_id=None):
    """A record as load_records returns it: the curve as a list of {step, score} points."""
    return {
        "keys": keys,
        "seed": seed,
        "run_id": run_id or f"{keys}/seed{seed}",
        "curve": [{"step": s, "score": v} for s, v in points],
        "extra": {"ref_scores": refs},
    }


def sem(v):
    v = np.asarray(v, dtype=float)
    return v.std(ddof=1) / math.sqrt(v.size)


def test_table3_mean_and_sem_per_panel_with_x_as_fraction_of_training():
    n = {"dataset": "neutral", "method": "iql"}
    m = {"dataset": "neutral", "method": "moma_ppo"}
    records = [
        rec(n, 0, [(50, 0.0), (100, 1.0)]),
        rec(n, 1, [(50, 1.0), (100, 1.0)]),
        rec(n, 2, [(50, 1.0), (100, 0.0)]),
        rec(m, 0, [(5, 0.5), (10, 1.0)]),
        rec(m, 1, [(5, 0.25), (10, 1.0)]),
        rec({"claim": "t3_x"}, 0, []),
    ]  # a claim verdict has no curve and no row
    data = curves.curve_data(records, "table3", [("favorable",), ("neutral",)], ("iql", "maiql", "moma_ppo"))
    assert list(data) == [("neutral",)]  # a row without records is no panel
    assert list(data[("neutral",)]) == ["iql", "moma_ppo"]  # a method without records is no line
    iql, moma = data[("neutral",)]["iql"], data[("neutral",)]["moma_ppo"]
    np.testing.assert_allclose(iql.x, [0.5, 1.0])  # updates / 100
    np.testing.assert_allclose(iql.mean, [2 / 3, 2 / 3])
    np.testing.assert_allclose(iql.sem, [sem([0, 1, 1]), sem([1, 1, 0])])
    assert iql.n.tolist() == [3, 3] and iql.seeds == 3 and iql.total == 100
    np.testing.assert_allclose(moma.x, [0.5, 1.0])  # iterations / 10: on the baselines' axis
    np.testing.assert_allclose(moma.mean, [0.375, 1.0])
    np.testing.assert_allclose(moma.sem, [sem([0.5, 0.25]), 0.0])
    assert moma.total == 10


def test_missing_seed_and_non_finite_point():
    keys = {"dataset": "unfavorable", "method": "maiql"}
    records = [
        rec(keys, 0, [(10, 0.2), (20, float("nan")), (30, 1.0), (40, 1.0)]),  # drawn up to step 10
        rec(keys, 1, [(10, 0.4), (20, 0.6), (30, 0.8), (40, None)]),  # None: the record's non-finite
        rec(keys, 3, [(10, 0.6), (20, 0.8), (30, 1.0), (40, 0.0)]),
    ]  # seed 2 is missing
    assert curves.run_points(Record.from_dict(records[0]), "table3") == {10: 0.2}
    s = curves.curve_data(records, "table3", [("unfavorable",)], ("maiql",))[("unfavorable",)]["maiql"]
    np.testing.assert_allclose(s.x, [0.25, 0.5, 0.75, 1.0])  # the cell's last step (40) is 1.0
    assert s.n.tolist() == [3, 2, 2, 1] and s.seeds == 3
    np.testing.assert_allclose(s.mean, [0.4, 0.7, 0.9, 0.0])
    np.testing.assert_allclose(s.sem, [sem([0.2, 0.4, 0.6]), sem([0.6, 0.8]), sem([0.8, 1.0]), 0.0])
    assert all(np.isfinite(s.mean)) and all(np.isfinite(s.sem))
    # a seed non-finite from its first point leaves the cell to the others; a cell with none is no line
    only_nan = [rec(keys, 0, [(10, float("inf"))])]
    assert curves.curve_data(only_nan, "table3", [("unfavorable",)], ("maiql",)) == {}


def test_only_the_newest_record_of_a_seed_is_drawn():
    """A cell re-run keeps its older records in the JSONL as history; the curve, as the table, uses the newest."""
    keys = {"dataset": "neutral", "method": "iql"}
    old = rec(keys, 0, [(10, 0.0), (20, 0.0)]) | {"finished": "2026-11-25T10:00:00+00:00"}
    new = rec(keys, 0, [(10, 1.0), (20, 1.0)]) | {"finished": "2026-11-26T10:00:00+00:00"}
    other = rec(keys, 1, [(10, 0.5), (20, 0.5)]) | {"finished": "2026-11-25T09:00:00+00:00"}
    for records in ([old, new, other], [new, old, other]):
        s = curves.curve_data(records, "table3", [("neutral",)], ("iql",))[("neutral",)]["iql"]
        assert s.seeds == 2
        np.testing.assert_allclose(s.mean, [0.75, 0.75])


def test_table4_scores_are_normalized_fractions():
    refs = {"random": -10.0, "expert": 10.0}
    keys = {"obs_mode": "full", "dataset": "medium", "method": "ibc"}
    records = [rec(keys, 0, [(10, 0.0), (20, 10.0)], refs), rec(keys, 1, [(10, -10.0), (20, 6.0)], refs)]
    s = curves.curve_data(records, "table4b", [("full", "medium")], ("ibc",))[("full", "medium")]["ibc"]
    np.testing.assert_allclose(s.mean, [0.25, 0.9])  # (0.5 + 0) / 2, (1 + 0.8) / 2: 1.0 = expert
    np.testing.assert_allclose(s.sem, [sem([0.5, 0.0]), sem([1.0, 0.8])])
    with pytest.raises(ValueError, match="nrefs.*reference scores missing"):
        curves.run_points(
            Record.from_dict(rec({"obs_mode": "full", "method": "ibc"}, 0, [(1, 0.0)], None, "nrefs")),
            "table4a",
        )


def test_png_written_under_the_name_the_report_embeds(tmp_path):
    keys = {"obs_mode": "full"}
    records = [
        rec({**keys, "method": m}, s, [(1, -5.0 + s), (2, -4.5)], {"random": -11.0, "expert": -4.0})
        for m in ("maiql", "moma_ppo")
        for s in (0, 1)
    ]
    png = curves.write(
        records, tmp_path, "smoke", "table4a", [("full",), ("independent",)], ("maiql", "moma_ppo")
    )
    assert png == tmp_path / "smoke" / "moma_ppo" / "table4a_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert curves.plot([], "table4a", [("full",)], ("maiql",), tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
    for item in ("table3", "table4a", "table4b"):
        assert ITEMS[item].pngs == (f"{item}_curves.png",)
    lines = script_panels("table4a", ITEMS["table4a"], png.parent)
    assert lines == ["![table4a table4a_curves](table4a_curves.png)\n"]
    assert script_panels("t", Table(title="t", pngs=["absent.png"]), png.parent) == []


def test_table3_finish_draws_the_curves(tmp_path):
    records = [
        rec({"dataset": d, "method": m}, s, [(1, 1.0), (2, 1.0)]) | {"score": 1.0}
        for d in ("favorable", "neutral", "unfavorable")
        for m in ("iql", "maiql", "ibc", "moma_ppo")
        for s in (0, 1)
    ]
    table3.finish(records, tmp_path, "smoke")
    assert (tmp_path / "smoke" / "moma_ppo" / "table3_curves.png").is_file()
