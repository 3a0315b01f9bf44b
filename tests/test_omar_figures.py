"""OMAR Figures 1-4: each script end to end at --profile smoke (PNGs, one verdict per claim, skip on
rerun, same seed -> same records), and every claim's logic on synthetic records (holds / does not)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.reporting.claims import UNDECIDED, Evidence, write_claims
from common.reporting.report import claim_verdicts
from common.running.records import read_records
from common.running.store import item_file
from papers.omar import claims, figure1, figure2

ROOT = Path(__file__).resolve().parent.parent
PNGS = {
    "figure1": ["figure1_b.png", "figure1_c.png", "figure1_d.png"],
    "figure2": ["figure2_gain.png"],
    "figure3": ["figure3_tau.png"],
    "figure4": ["figure4_sampling.png"],
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")  # one dataset cache for the module: generated once


def _run(data_dir, item, *args):
    env = {**os.environ, "OFFMARL_DATA": str(data_dir), "OMP_NUM_THREADS": "1", "CI": "1"}
    return subprocess.run(
        [sys.executable, f"papers/omar/{item}.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _records(path):
    return read_records(path)


@pytest.mark.parametrize("item", ["figure1", "figure2", "figure3", "figure4"])
def test_figure_smoke_pngs_claims_and_skip(data_dir, tmp_path, item):
    res = tmp_path / "results"
    p = _run(data_dir, item, "--profile", "smoke", "--results", str(res))
    assert p.returncode == 0, p.stdout + p.stderr
    out = res / "smoke" / "omar"
    for png in PNGS[item]:
        assert (out / png).stat().st_size > 1000, png
    path = out / f"{item}.jsonl"
    text = path.read_text()
    recs = _records(path)
    verdicts = [r for r in recs if "claim" in r["keys"]]
    want = sorted(c.id for c in claims.CLAIMS if c.item == item)
    assert sorted(r["keys"]["claim"] for r in verdicts) == want  # exactly one verdict per claim
    for r in verdicts:
        assert isinstance(r["extra"]["holds"], bool) and r["extra"]["evidence"]
    runs = [r for r in recs if "claim" not in r["keys"]]
    assert runs and all(r["score"] is not None for r in runs)
    md = (out / f"{item}.md").read_text()
    assert "not checked" not in md  # the report was rendered after the verdicts

    p2 = _run(data_dir, item, "--profile", "smoke", "--results", str(res))
    assert p2.returncode == 0, p2.stdout + p2.stderr
    assert f"ran 0, skipped {len(runs)}" in p2.stdout
    assert path.read_text() == text  # nothing re-run; unchanged verdicts are not appended again


def test_same_seed_same_records(data_dir, tmp_path):
    scores = []
    for name in ("a", "b"):
        p = _run(
            data_dir,
            "figure2",
            "--profile",
            "smoke",
            "--seeds",
            "0",
            "--no-report",
            "--results",
            str(tmp_path / name),
        )
        assert p.returncode == 0, p.stdout + p.stderr
        recs = [
            r
            for r in _records(tmp_path / name / "smoke" / "omar" / "figure2.jsonl")
            if "claim" not in r["keys"]
        ]
        scores.append(
            sorted((json.dumps(r["keys"], sort_keys=True), r["score"], json.dumps(r["curve"])) for r in recs)
        )
    # ma_cql + omar per n
    assert scores[0] == scores[1] and len(scores[0]) == 2 * len(figure1.AGENTS["smoke"])


# ---- claim logic on synthetic records ----------------------------------------------------------
def rec(seed, score=None, normalized=None, extra=None, **keys):
    return {"keys": keys, "seed": seed, "score": score, "normalized": normalized, "extra": extra or {}}


def check(claim_id, records):
    """(holds, evidence) of the claim ``claim_id`` (papers/omar/claims.py) on ``records``."""
    claim = next(c for c in claims.CLAIMS if c.id == claim_id)
    return claim.check(Evidence(records))


def verdicts(item, records):
    return {c.id: c.check(Evidence(records)) for c in claims.CLAIMS if c.item == item}


def test_figure1_claims():
    good = [
        rec(s, v, n_agents=2, method=m)
        for s in (0, 1)
        for m, v in (("ma_td3bc", 10), ("ma_cql", 20), ("omar", 30))
    ]
    assert check("1b_omar_best", good)[0]
    bad = [
        rec(s, v, n_agents=2, method=m)
        for s in (0, 1)
        for m, v in (("ma_td3bc", 40), ("ma_cql", 20), ("omar", 30))
    ]
    assert not check("1b_omar_best", bad)[0]

    def cql(n, score, b=100.0):
        return rec(0, score, extra={"behavior_return": b}, n_agents=n, method="ma_cql")

    assert claims.improvement_pct(Evidence([cql(1, 150.0)]).runs[0]) == pytest.approx(50.0)
    shrinking = [cql(n, 100.0 + 50.0 / n) for n in range(1, 6)]
    holds, ev = check("1c_cql_degrades", shrinking)
    assert holds and "rho(n, improvement) = -1.00" in ev
    assert not check("1c_cql_degrades", [cql(n, 100.0 + 10.0 * n) for n in range(1, 6)])[0]
    assert not check("1c_cql_degrades", [cql(n, 100.0 + 50.0 / n) for n in (1, 2)])[0]  # too few n
    assert claims.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)

    def land(gain):
        ex = {
            "mean_q_gain": gain,
            "frac_omar_higher": 0.5,
            "mean_gap_to_grid_max": 1.0,
            "probe_steps": 1,
            "n_probe": 8,
        }
        return rec(0, 1.0, extra=ex, n_agents=2, method="landscape")

    assert check("1d_rectified_action", [land(0.2)])[0] and not check("1d_rectified_action", [land(-0.2)])[0]
    assert not check("1d_rectified_action", [])[0]


def _f2(values):
    return [
        rec(s, v[m], n_agents=n, method=m)
        for n, v in values.items()
        for m in ("ma_cql", "omar")
        for s in (0, 1)
    ]


def test_figure2_claims():
    good = _f2(
        {1: {"ma_cql": 100, "omar": 105}, 2: {"ma_cql": 100, "omar": 150}, 3: {"ma_cql": 100, "omar": 140}}
    )
    assert check("omar_beats_cql_all_n", good)[0] and check("gain_larger_multiagent", good)[0]
    assert claims.per_n(Evidence(good).runs)[2]["gain"] == pytest.approx(50.0)
    bad = _f2({1: {"ma_cql": 100, "omar": 160}, 2: {"ma_cql": 100, "omar": 90}})
    assert not check("omar_beats_cql_all_n", bad)[0] and not check("gain_larger_multiagent", bad)[0]


def _f3(best, cql=10.0):
    """OMAR normalized score peaks at best[kind] (at most 51); MA-CQL at ``cql``; two tasks, two seeds."""
    out = []
    for kind, b in best.items():
        for env in ("omar/spread", "omar/tag"):
            for s in (0, 1):
                out.append(rec(s, normalized=cql, dataset=kind, env=env, method="ma_cql", tau=None))
                out += [
                    rec(s, normalized=50.0 - 10 * abs(t - b) + s, dataset=kind, env=env, method="omar", tau=t)
                    for t in (0.0, 0.5, 0.9, 1.0)
                ]
    return out


def test_figure3_claims():
    good = _f3({"random": 0.5, "medium-replay": 0.5, "medium": 0.9, "expert": 0.9})
    v = verdicts("figure3", good)
    assert v["best_tau_interior"][0] and v["every_tau_beats_cql"][0] and v["tau_smaller_low_quality"][0]
    bad = _f3({"random": 1.0, "medium-replay": 0.9, "medium": 0.5, "expert": 0.0}, cql=60.0)
    v = verdicts("figure3", bad)
    assert (
        not v["best_tau_interior"][0]
        and not v["every_tau_beats_cql"][0]
        and not v["tau_smaller_low_quality"][0]
    )


def _f4(spread, cql=10.0):
    """Every setting's kind-averaged mean = 50 + spread * (its index); seeds differ by +-5 (std 5)."""
    out = []
    for kind in ("random", "expert"):
        for s, d in ((0, -5.0), (1, 5.0)):
            out.append(
                rec(
                    s,
                    normalized=cql,
                    dataset=kind,
                    env="omar/spread",
                    method="ma_cql",
                    param=None,
                    value=None,
                )
            )
            out.append(
                rec(
                    s,
                    normalized=50.0 + d,
                    dataset=kind,
                    env="omar/spread",
                    method="omar",
                    param="default",
                    value=None,
                )
            )
            grid = (("iters", (1, 5)), ("samples", (5, 20)), ("mu0", (-0.5, 0.5)), ("sigma0", (1.0, 3.0)))
            for param, values in grid:
                out += [
                    rec(
                        s,
                        normalized=50.0 + spread * (i + 1) + d,
                        dataset=kind,
                        env="omar/spread",
                        method="omar",
                        param=param,
                        value=v,
                    )
                    for i, v in enumerate(values)
                ]
    return out


def test_figure4_claims():
    v = verdicts("figure4", _f4(spread=1.0))
    assert v["insensitive"][0] and v["all_beat_cql"][0]
    assert set(claims.sweeps(Evidence(_f4(1.0)).runs)["iters"]) == {1, 3, 5}  # the default joins each sweep
    v = verdicts("figure4", _f4(spread=20.0, cql=200.0))
    assert not v["insensitive"][0] and not v["all_beat_cql"][0]


def test_claims_are_written_once(tmp_path):
    def write(v):
        return write_claims(tmp_path, "smoke", "omar", "figure2", v, claims.CLAIMS)

    verdicts = {"omar_beats_cql_all_n": (True, "x"), "gain_larger_multiagent": (False, "y")}
    assert len(write(verdicts)) == 2
    assert write(verdicts) == []  # unchanged: nothing appended
    assert write({**verdicts, "gain_larger_multiagent": (True, "z")}) == ["gain_larger_multiagent"]
    with pytest.raises(ValueError, match="the listed claims are"):
        write({"omar_beats_cql_all_n": (True, "x")})


def test_undecided_supersedes_an_earlier_verdict_and_none_writes_nothing(tmp_path):
    """(UNDECIDED, why) is written over an earlier verdict and shows as 'undecided'; (None, why) writes nothing, so
    the earlier verdict stays; an unchanged UNDECIDED is not appended again."""

    def write(v):
        return write_claims(tmp_path, "smoke", "omar", "figure2", v, claims.CLAIMS)

    def shown():
        newest = item_file(tmp_path, "smoke", "omar", "figure2").newest_verdicts
        return {
            c["id"]: c["verdict"]
            for c in claim_verdicts([c for c in claims.CLAIMS if c.item == "figure2"], newest)
        }

    assert write({"omar_beats_cql_all_n": (True, "x"), "gain_larger_multiagent": (False, "y")})
    assert write(
        {"omar_beats_cql_all_n": (None, "needs X"), "gain_larger_multiagent": (UNDECIDED, "0 vs 0")}
    ) == ["gain_larger_multiagent"]
    assert shown() == {"omar_beats_cql_all_n": "holds", "gain_larger_multiagent": "undecided"}
    assert write({"omar_beats_cql_all_n": (True, "x"), "gain_larger_multiagent": (UNDECIDED, "0 vs 0")}) == []


# ---- --n-agents: part of Figures 1-2's grid ------------------------------------------------------
@pytest.mark.parametrize("mod", [figure1, figure2])
def test_n_agents_filter_selects_cells_and_rejects_n_outside_grid(mod):
    import argparse

    from common.running.profiles import get_profile
    from papers.omar.config import PROFILE_OVERRIDES
    from papers.omar.jobs import agents_filter

    profile = get_profile("full", PROFILE_OVERRIDES)
    kw = agents_filter(mod.ITEM)
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="full")
    kw["configure_parser"](parser)
    select = kw["select"]
    every = list(mod.build_cells(profile))
    assert select(every, parser.parse_args([])) == every
    part = select(every, parser.parse_args(["--n-agents", "2", "--n-agents", "4"]))
    assert part and {c.keys["n_agents"] for c in part} == {2, 4}
    assert part == [c for c in every if c.keys["n_agents"] in (2, 4)]  # grid order kept
    smoke = list(mod.build_cells(get_profile("smoke", PROFILE_OVERRIDES)))
    with pytest.raises(SystemExit, match=r"--n-agents \[3\] not in the smoke grid; valid: \[1, 2\]"):
        select(smoke, parser.parse_args(["--profile", "smoke", "--n-agents", "3"]))


def test_figure2_copies_figure1s_identical_runs(data_dir, tmp_path):
    """Figure 1's MA-CQL (every n) and OMAR (n = 2) cells are Figure 2's cells: Figure 2 copies them
    (same config, seed and data) and runs only OMAR at the other n."""
    res = str(tmp_path / "results")
    p1 = _run(data_dir, "figure1", "--profile", "smoke", "--seeds", "0", "--no-report", "--results", res)
    assert p1.returncode == 0, p1.stdout + p1.stderr
    p2 = _run(data_dir, "figure2", "--profile", "smoke", "--seeds", "0", "--no-report", "--results", res)
    assert p2.returncode == 0, p2.stdout + p2.stderr
    assert "3 of those ran were copied from identical finished runs" in p2.stdout, p2.stdout
    out = tmp_path / "results" / "smoke" / "omar"
    one = {
        (r["keys"]["n_agents"], r["keys"]["method"]): r
        for r in _records(out / "figure1.jsonl")
        if "claim" not in r["keys"]
    }
    two = {
        (r["keys"]["n_agents"], r["keys"]["method"]): r
        for r in _records(out / "figure2.jsonl")
        if "claim" not in r["keys"]
    }
    for key in ((1, "ma_cql"), (2, "ma_cql"), (2, "omar")):
        assert two[key]["reused_from"] == one[key]["run_id"] and two[key]["score"] == one[key]["score"]
    assert not two[(1, "omar")].get("reused_from")
