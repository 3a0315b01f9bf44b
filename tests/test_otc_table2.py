"""OTC Table 2, the microbenchmark (papers/otc/table2.py): medians and ratios from hand-made timings, the claims'
rules on hand-made records, the protocol's sizes per profile, the number of updates each method really runs (the
CVAE step only for d_e, the BCQ update for all), and a smoke run end to end: six records of one measurement,
ratio_to_bcq of BCQ exactly 1, both claims written, --force measuring afresh, --help and a bad --method."""

from __future__ import annotations

import pytest
import torch

from common.reporting.claims import Evidence
from common.running.profiles import get_profile
from common.running.records import latest_records, load_records
from papers.otc import config as C
from papers.otc import deploy as D
from papers.otc import table2 as T2
from papers.otc.claims import CLAIMS
from papers.otc.otc_config import OTCConfig
from papers.otc.published import PUBLISHED


def test_summarize_hand_made_timings():
    s = {
        "bcq": [0.010, 0.013, 0.011],
        "bcq_otc_de": [0.020, 0.026, 0.021],
        "bcq_otc_dq": [0.012, 0.016, 0.015],
    }
    out = T2.summarize(s)
    assert out["ms"] == pytest.approx({"bcq": 11.0, "bcq_otc_de": 21.0, "bcq_otc_dq": 15.0})  # medians, in ms
    assert out["ratio_to_bcq"]["bcq"] == 1.0  # exactly
    assert out["ratio_to_bcq"]["bcq_otc_de"] == pytest.approx(21 / 11)
    assert out["ratio_to_bcq"]["bcq_otc_dq"] == pytest.approx(15 / 11)
    # paired: the median of the per-repetition ratios 2.0, 2.0, 21/11
    assert out["paired_ratio"]["bcq_otc_de"] == pytest.approx(2.0)
    assert out["paired_ratio"]["bcq"] == 1.0
    assert out["reps_ms"]["bcq"] == pytest.approx([10.0, 13.0, 11.0])
    with pytest.raises(ValueError, match="baseline 'bcq'"):
        T2.summarize({"bcq_otc_de": [0.1]})
    with pytest.raises(ValueError, match="same non-zero number of repetitions"):
        T2.summarize({"bcq": [0.1, 0.2], "bcq_otc_de": [0.1]})


def _rec(method, quantity, score, seed=0, ms=None):
    return {
        "keys": {"method": method, "quantity": quantity},
        "seed": seed,
        "score": score,
        "extra": {"ms": ms or {}, "device_name": "test GPU", "threads": 1, "loadavg_1min": [0, 0]},
    }


def _verdicts(recs):
    return {c.id: c.check(Evidence(recs)) for c in CLAIMS if c.item == "table2"}


def test_claims_read_the_ratios():
    ms = {"bcq_otc_de": 14.2, "bcq_otc_dq": 13.8, "bcq": 11.6}  # the paper's: both claims hold
    paper = [_rec(m, "ratio_to_bcq", ms[m] / ms["bcq"], ms=ms) for m in ms]
    v = _verdicts(paper)
    assert set(v) == {c.id for c in CLAIMS if c.item == "table2"}
    assert v["t2_overhead_below_25pct"][0] and v["t2_dq_not_slower"][0]
    assert "test GPU" in v["t2_overhead_below_25pct"][1] and "1.224" in v["t2_overhead_below_25pct"][1]
    cpu = [
        _rec("bcq_otc_de", "ratio_to_bcq", 2.1),
        _rec("bcq_otc_dq", "ratio_to_bcq", 1.24),
        _rec("bcq", "ratio_to_bcq", 1.0),
    ]
    v = _verdicts(cpu)
    assert not v["t2_overhead_below_25pct"][0] and v["t2_dq_not_slower"][0]  # one ratio >= 1.25 is enough
    v = _verdicts(
        [
            _rec("bcq_otc_de", "ratio_to_bcq", 1.1),
            _rec("bcq_otc_dq", "ratio_to_bcq", 1.2),
            _rec("bcq", "ratio_to_bcq", 1.0),
        ]
    )
    assert v["t2_overhead_below_25pct"][0] and not v["t2_dq_not_slower"][0]
    # the ms records never decide; a missing ratio means no verdict
    v = _verdicts([_rec(m, "ms_per_update", 1.0) for m in ms] + cpu[:2])
    assert all(holds is None and "is missing" in why for holds, why in v.values())


def test_sizes_per_profile_and_the_cells():
    for p in ("quick", "full"):
        cfg = T2.timing_config(p)
        assert cfg["timing"] == {"warmup": 50, "reps": 5, "updates": 500}  # spec Sec. 7.3
        assert cfg["otc"] == {"big_batch": 512, "match_batch": 2000, "batch_size": 128}  # Table 3
        assert cfg["bcq"] == C.LEARNER_FIELDS["bcq"]  # (64, 64), lr 1e-4, VAE 1e-3, batch 128
    smoke = T2.timing_config("smoke")
    assert smoke["timing"] == {"warmup": 5, "reps": 3, "updates": 10}
    assert smoke["otc"] == {"big_batch": 64, "match_batch": 64, "batch_size": 32}
    assert smoke["bcq"]["hidden"] == [32, 32] and smoke["bcq"]["batch_size"] == 32
    cells = T2.build_cells(get_profile("quick", C.PROFILE_OVERRIDES))
    pub = {tuple(e.keys.items()) for e in PUBLISHED if e.item == "table2"}
    # every published entry has a cell
    assert len(cells) == 6 and {tuple(c.keys.items()) for c in cells} >= pub
    assert len({c.config_hash for c in cells}) == 1  # one measurement serves them all
    with pytest.raises(ValueError, match="unknown profile"):
        T2.timing_config("huge")


def test_one_update_runs_what_a_fine_tuning_step_runs(monkeypatch):
    """warmup + reps x updates BCQ updates per method; the CVAE steps of d_e and only d_e; the OTC draws for both
    OTC methods; alpha^1 set once per method before the clock."""
    calls = {"update": 0, "cvae": 0, "otc_batch": 0, "start_phase": 0}

    def count(name, fn):
        def wrapped(self, *a, **k):
            calls[name] += 1
            return fn(self, *a, **k)

        return wrapped

    monkeypatch.setattr(T2.BCQ, "update", count("update", T2.BCQ.update))
    monkeypatch.setattr(T2.O.TransitionCVAE, "update", count("cvae", T2.O.TransitionCVAE.update))
    monkeypatch.setattr(D.Sampler, "_pair", count("otc_batch", D.Sampler._pair))
    monkeypatch.setattr(D.Sampler, "start_phase", count("start_phase", D.Sampler.start_phase))
    monkeypatch.setenv("OFFMARL_DATA", "/nonexistent-offmarl-data")  # random tensors, never a cached dataset
    cfg = T2.timing_config("smoke")
    cfg["timing"] = {"warmup": 1, "reps": 2, "updates": 2}
    monkeypatch.setattr(T2, "FLOOR_REPS", 1)
    # the FLOP count's update, warm-up, reps x updates, then the floor's FLOP count, recording and one round
    per = 1 + 1 + 2 * 2 + 3
    out = T2.measure(cfg, 0, "cpu")
    assert calls["update"] == 3 * per  # every method: warm-up + timed BCQ updates
    assert calls["cvae"] == per  # one CVAE step per update of d_e alone
    assert calls["start_phase"] == 3  # once per method, before the clock
    # d_e and d_q: B, D per update + alpha's
    assert calls["otc_batch"] == 2 * (per + OTCConfig().n_alpha_draws)
    assert set(out["reps_ms"]) == set(T2.METHODS) and all(len(v) == 2 for v in out["reps_ms"].values())
    assert out["ratio_to_bcq"]["bcq"] == 1.0 and "random tensors" in out["data"]
    assert out["newest_rows"] == 64  # |D| rows of D^k even though 1 % of 3000 is 30
    flops, ratio = out["gemm_flops"], out["gemm_flop_ratio_to_bcq"]
    assert ratio["bcq"] == 1.0 and flops["bcq"] > 0  # d_q runs V on B and the matched D rows: more than d_e
    assert 1.0 < ratio["bcq_otc_de"] < ratio["bcq_otc_dq"], ratio
    # the floor: each method's matmuls alone, over BCQ's measured ms
    floor, mm = out["ratio_floor"], out["matmul_floor_ms"]
    assert set(floor) == set(T2.METHODS) and all(v > 0 for v in mm.values()) and out["peak_gflops"] > 0
    assert floor["bcq"] == 1.0
    assert floor["bcq_otc_dq"] == pytest.approx(1 + (mm["bcq_otc_dq"] - mm["bcq"]) / out["ms"]["bcq"])


def test_dq_values_run_on_the_matched_rows_only(monkeypatch):
    """d_q's V(s') over |B| + |B| rows (B's and the matched D rows'), not |B| + |D| (issue 65's speed-up)."""
    rows = []
    monkeypatch.setattr(
        T2.BCQ,
        "value",
        lambda self, obs, *a, _f=T2.BCQ.value, **k: (rows.append(obs.shape[1]), _f(self, obs, *a, **k))[1],
    )
    monkeypatch.setenv("OFFMARL_DATA", "/nonexistent-offmarl-data")
    cfg = {**T2.timing_config("smoke"), "methods": ["bcq_otc_dq", "bcq"]}
    cfg["otc"] = {**cfg["otc"], "big_batch": 40, "match_batch": 64}
    step = T2.method_step(
        "bcq_otc_dq", cfg, *T2.task_tensors(cfg, 0, torch.device("cpu"))[:3], 0, torch.device("cpu")
    )
    rows.clear()
    step()
    assert rows == [40, 40]


def test_smoke_run_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    res = str(tmp_path / "res")
    T2.main(["--profile", "smoke", "--results", res, "--no-report"])
    recs = [
        r for r in latest_records(load_records(res, "smoke", "otc", "table2")) if "claim" not in r["keys"]
    ]
    assert len(recs) == 6 and {r["seed"] for r in recs} == {0}  # one seed: M = 2 members
    assert len({r["extra"]["measurement_id"] for r in recs}) == 1  # one measurement, six numbers
    ex = recs[0]["extra"]
    for r in recs:
        m, q = r["keys"]["method"], r["keys"]["quantity"]
        assert r["score"] == (ex["ms"][m] if q == "ms_per_update" else ex["ms"][m] / ex["ms"]["bcq"])
        assert r["score"] > 0 and r["device"] == "cpu" and r["threads"] == 1
    bcq_ratio = [r for r in recs if r["keys"] == {"method": "bcq", "quantity": "ratio_to_bcq"}]
    assert bcq_ratio[0]["score"] == 1.0  # exactly
    assert (
        all(len(v) == 3 for v in ex["reps_ms"].values())
        and ex["device_name"]
        and ex["protocol"]["updates"] == 10
    )
    claims = {r["keys"]["claim"] for r in load_records(res, "smoke", "otc", "table2") if "claim" in r["keys"]}
    assert claims == {"t2_overhead_below_25pct", "t2_dq_not_slower"}
    assert "claim t2_overhead_below_25pct" in capsys.readouterr().out
    # --force measures afresh (the in-process measurement is not reused across invocations)
    T2.main(
        [
            "--profile",
            "smoke",
            "--results",
            res,
            "--no-report",
            "--force",
            "--method",
            "bcq",
            "--quantity",
            "ratio_to_bcq",
        ]
    )
    new = [
        r
        for r in latest_records(load_records(res, "smoke", "otc", "table2"))
        if r["keys"] == {"method": "bcq", "quantity": "ratio_to_bcq"}
    ]
    assert new[0]["score"] == 1.0 and new[0]["extra"]["measurement_id"] != ex["measurement_id"]


def test_help_and_a_bad_method(capsys):
    with pytest.raises(SystemExit) as e:
        T2.main(["--help"])
    assert e.value.code == 0 and "Table 2" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        T2.main(["--method", "bcq_otc_dx"])
    assert e.value.code == 2 and "invalid choice: 'bcq_otc_dx'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="table2 times"):
        T2.method_step("awac", T2.timing_config("smoke"), {}, {}, 0, 0, torch.device("cpu"))
