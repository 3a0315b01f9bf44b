"""MOMA-PPO Table 4b: the cells grid against published.py (60 cells: IQL only in the FO rows), the per-column configs
at each profile (MAIQL-ft's fine-tuning section, the code's Ant reward scaling), the claims' rules on hand-made
records (each claim holding and not holding), the "needs" exit at quick without data, bad CLI values, and a smoke run
of a few cells of papers/moma_ppo/table4b.py."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.datasets.dataset import Dataset
from common.reporting.claims import Evidence
from common.running.profiles import get_profile
from papers.moma_ppo import config as C
from papers.moma_ppo.claims import CLAIMS, EXPECTED_NOT_TO_HOLD
from papers.moma_ppo.claims_table4b import t4b_cells as cell_keys
from papers.moma_ppo.jobs import ant_baseline_config, ant_moma_config, ant_spec, scale_rewards
from papers.moma_ppo.published import ITEMS, PUBLISHED
from papers.moma_ppo.table4b import build_cells, published_dataset_means

ROOT = Path(__file__).resolve().parent.parent
T4B_CLAIMS = [c.id for c in CLAIMS if c.item == "table4b"]


def verdicts(records, dataset_means=None):
    """Every Table 4b claim (papers/moma_ppo/claims_table4b.py) on ``records``, with the datasets' mean returns."""
    ev = Evidence(records, data={"dataset_means": dataset_means})
    return {c.id: c.check(ev) for c in CLAIMS if c.item == "table4b"}


def _env(tmp_path):
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }


def _run(tmp_path, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "papers/moma_ppo/table4b.py", *args, "--results", str(tmp_path / "runs")],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---- the grid ---------------------------------------------------------------------------------------------------
def test_cells_are_the_published_cells():
    """2 obs modes x 4 datasets x 8 methods minus IQL's four PO cells ('—' in the paper) = 60 = 52 + 8 MOMA-PPO."""
    for name in ("smoke", "quick", "full"):
        cells = build_cells(get_profile(name, C.PROFILES))
        ours = {tuple(sorted(c.keys.items())) for c in cells}
        pub = {tuple(sorted(e.keys.items())) for e in PUBLISHED if e.item == "table4b"}
        assert ours == pub and len(cells) == 60
        assert sum(c.keys["method"] == "moma_ppo" for c in cells) == 8
    iql = [k for k in cell_keys() if k[2] == "iql"]
    assert len(iql) == 4 and all(o == "full" for o, _, _ in iql)
    assert not any(k[2] == "matd3bc" for k in cell_keys())
    assert ITEMS["table4b"].scale == "fraction" and ITEMS["table4b"].factor == 0.01
    rows = {(o, d) for o, d, _ in cell_keys()}
    assert set(C.T4B_QUICK_CELLS) <= rows and len(rows) == 8


# ---- configs -----------------------------------------------------------------------------------------------------
def test_baseline_configs_per_column_and_profile():
    full, quick, smoke = (get_profile(n, C.PROFILES) for n in ("full", "quick", "smoke"))
    iql = ant_baseline_config(full, "full", "medium", "iql")
    assert iql["learner"] == "iql_continuous" and iql["iql_continuous"] == {
        "method": "iql",
        "central_obs": "agent0",
    }
    assert iql["updates"] == 1_000_001 and iql["eval_episodes"] == 100 and iql["eval_every"] == 20_000
    assert "eval_max_steps" not in iql
    assert iql["dataset"] == {
        "env": "mamujoco/ant-4x2",
        "env_options": {"obs_mode": "full"},
        "return_mode": "mean",
        "kind": "medium",
        "profile": "full",
        "source": "common.datasets.mujoco",
        "task": "ant",
        "reward_scale": 1000.0,
    }
    # the code's Ant reward scaling: IQL family and BC only; the ITD3 family and MOMA-PPO see raw rewards
    for m in ("maiql", "maiql_ft", "ibc"):
        assert ant_baseline_config(full, "partial", "random", m)["dataset"]["reward_scale"] == 1000.0
    for m in ("itd3bc", "icql", "iomar"):
        assert "reward_scale" not in ant_baseline_config(full, "partial", "random", m)["dataset"]
    assert "reward_scale" not in ant_moma_config(full, "partial", "random")["dataset"]
    # MAIQL-ft: MAIQL's defaults [I] plus the fine-tuning phase (tests/test_moma_maiql_ft.py)
    ft = ant_baseline_config(full, "full", "expert", "maiql_ft")
    assert ft["iql_continuous"] == {"method": "maiql"} and ft["finetune"] == {"updates": 1_000_000}
    assert ant_baseline_config(full, "full", "expert", "maiql")["iql_continuous"] == {"method": "maiql"}
    # quick: 2 x 128, 10,000 updates, no histories, 5 evaluations of 100 episodes
    q = ant_baseline_config(quick, "partial", "full-replay", "maiql_ft")
    assert q["iql_continuous"] == {"method": "maiql", "hidden": [128, 128], "memory_len": 0}
    assert q["finetune"] == {"updates": 10_000}
    assert (q["updates"], q["eval_every"], q["eval_episodes"]) == (10_000, 2_000, 100)
    assert ant_baseline_config(quick, "full", "medium", "iomar")["itd3"]["hidden"] == 128
    # smoke: histories of 2 in the PO rows, evaluation episodes cut at 50 steps
    s = ant_baseline_config(smoke, "partial", "random", "ibc")
    assert s["iql_continuous"] == {"method": "bc", "hidden": [32, 32], "memory_len": 2}
    assert s["eval_max_steps"] == 50 and s["updates"] == 20
    assert ant_baseline_config(smoke, "full", "random", "ibc")["iql_continuous"]["memory_len"] == 0


def test_moma_configs_per_profile():
    full = ant_moma_config(get_profile("full", C.PROFILES), "partial", "expert")
    assert full["world_model"] == {} and full["rollouts"] == {"k": 10, "batch": 2000}
    # [code] memory 10
    assert full["mappo"] == {"obs_norm": True, "memory_len": 10} and full["iterations"] == 100_001
    quick = ant_moma_config(get_profile("quick", C.PROFILES), "full", "full-replay")
    # n_updates: the code's 1e4 + 1
    assert quick["world_model"] == {} and quick["iterations"] == 300  # the code's 4 x 1024 world model
    assert quick["mappo"]["hidden"] == [128, 128] and quick["eval_every"] == 60
    smoke = ant_moma_config(get_profile("smoke", C.PROFILES), "full", "random")
    assert smoke["rollouts"] == {"k": 10, "batch": 200} and smoke["eval_max_steps"] == 50
    # [code] 10 (0 until 2026-11-26)
    assert smoke["mappo"]["memory_len"] == 2 and quick["mappo"]["memory_len"] == 10


def test_bad_cell_values_are_errors():
    full = get_profile("full", C.PROFILES)
    with pytest.raises(ValueError, match="no 'iql' cell for obs_mode='partial'.*valid: full"):
        ant_baseline_config(full, "partial", "medium", "iql")
    with pytest.raises(ValueError, match="unknown Table 4b baseline 'matd3bc'; valid: iql, maiql"):
        ant_baseline_config(full, "full", "medium", "matd3bc")
    with pytest.raises(ValueError, match="obs_mode='independent' is not allowed; allowed: full, partial"):
        ant_spec("independent", "medium", "full")
    with pytest.raises(ValueError, match="dataset='medium-replay' is not an Ant dataset.*random, medium"):
        ant_moma_config(full, "full", "medium-replay")


def test_reward_scaling_is_the_codes_and_renames_the_data():
    rng = np.random.default_rng(0)
    T = 40
    obs = rng.normal(size=(T, 1, 3)).astype(np.float32)
    r = rng.uniform(0, 2, (T, 1)).astype(np.float32)
    to = np.zeros(T, bool)
    to[9::10] = True
    ds = Dataset.from_arrays(
        "mamujoco/ant-4x2",
        "random",
        obs,
        rng.uniform(-1, 1, (T, 1, 2)).astype(np.float32),
        r,
        obs,
        np.zeros(T, bool),
        to,
        return_mode="mean",
    )
    ds.card["sha256"] = "0" * 64
    ret = r[:, 0].reshape(4, 10).sum(1)
    out = scale_rewards(ds, 1000.0)
    factor = 1000.0 / (ret.max() - ret.min())
    assert np.allclose(out.rewards, r * factor, rtol=1e-5)
    assert out.card["reward_scale"]["factor"] == pytest.approx(factor)
    assert np.allclose(out.episode_returns, ret * factor, rtol=1e-5)
    assert out.card["sha256"] != ds.card["sha256"] and np.array_equal(out.obs, ds.obs)


# ---- claims on hand-made records --------------------------------------------------------------------------------
def _records(cells):
    """3 seeds per cell with the given (mean, SEM): values mean + SEM·√3·(−1, 0, 1) (ddof-1 std SEM·√3)."""
    out = []
    for (o, d, m), (mu, se) in cells.items():
        for k, dv in enumerate((-1.0, 0.0, 1.0)):
            out.append(
                {
                    "keys": {"obs_mode": o, "dataset": d, "method": m},
                    "seed": k,
                    "normalized": 100.0 * (mu + se * math.sqrt(3.0) * dv),
                }
            )
    return out


def _published():
    return {
        (e.keys["obs_mode"], e.keys["dataset"], e.keys["method"]): (e.mean, e.sem)
        for e in PUBLISHED
        if e.item == "table4b"
    }


def _verdicts(cells, means=None):
    return {k: h for k, (h, _) in verdicts(_records(cells), means or published_dataset_means()).items()}


PUBLISHED_VERDICTS = {cid: cid not in EXPECTED_NOT_TO_HOLD for cid in T4B_CLAIMS}


def test_claims_on_the_published_table():
    """The paper's own numbers (3 seeds with its means and SEMs): every claim holds but the one the paper's PO random
    row contradicts (EXPECTED_NOT_TO_HOLD); the SEMs are read back exactly."""
    assert len(T4B_CLAIMS) == 11 and published_dataset_means()["expert"] == pytest.approx(1.174)
    assert _verdicts(_published()) == PUBLISHED_VERDICTS
    assert PUBLISHED_VERDICTS["t4b_moma_significant_all_rows"] is False


# each case: the cells to change (obs_mode, dataset, method) -> (mean, SEM), and the claims it flips
FLIPS = [
    ({("partial", "random", "moma_ppo"): (0.60, 0.01)}, {"t4b_moma_significant_all_rows": True}),
    (
        {("full", "random", "ibc"): (0.60, 0.00)},
        {"t4b_moma_best_all_rows": False, "t4b_model_free_surpassed_in_fo": False},
    ),  # IQL still on par
    (
        {("full", "expert", "iql"): (1.60, 0.01)},
        {
            "t4b_moma_best_all_rows": False,
            "t4b_model_free_surpassed_in_fo": False,
            "t4b_iql_on_par_with_model_free": False,
            "t4b_varied_data_harder_than_expert": False,
        },
    ),
    ({("full", "random", "iql"): (0.05, 0.00)}, {"t4b_iql_on_par_with_model_free": False}),
    (
        {
            ("full", "medium", "maiql"): (1.20, 0.01),
            ("full", "full-replay", "maiql"): (1.40, 0.01),
            ("full", "expert", "maiql"): (1.30, 0.01),
        },
        {"t4b_independent_beat_ctde": False, "t4b_varied_data_harder_than_expert": False},
    ),
    # MAIQL-ft 0.81 now far above
    ({("full", "medium", "maiql"): (0.50, 0.01)}, {"t4b_maiql_ft_no_better": False}),
    (
        {("full", "expert", "maiql"): (0.60, 0.01)},
        {"t4b_varied_data_harder_than_expert": False, "t4b_maiql_ft_no_better": False},
    ),
    ({("partial", "medium", "moma_ppo"): (0.25, 0.01)}, {"t4b_moma_steers_under_po": False}),
    (
        {("partial", "expert", "moma_ppo"): (0.50, 0.01)},
        {"t4b_moma_po_expert_lowest": False, "t4b_random_beats_expert_under_po": False},
    ),
    ({("partial", "expert", "icql"): (0.175, 0.0)}, {"t4b_random_beats_expert_under_po": False}),
    ({("full", "full-replay", "maiql_ft"): (1.20, 0.01)}, {"t4b_maiql_ft_no_better": False}),
]


@pytest.mark.parametrize("changes, flipped", FLIPS)
def test_each_claim_can_fail(changes, flipped):
    cells = {**_published(), **changes}
    assert _verdicts(cells) == {**PUBLISHED_VERDICTS, **flipped}


def test_claim_below_ibc_or_data():
    """Holds on the paper (e.g. FO expert ICQL 0.73 < IBC 1.24 and < the data's 1.174); fails when no model-free mean
    is below the dataset's, and is not checked without the datasets' means."""
    pub = _published()
    assert (
        _verdicts(pub, {d: -1.0 for d in ("random", "medium", "full-replay", "expert")})[
            "t4b_model_free_sometimes_below_ibc_or_data"
        ]
        is False
    )
    h, why = verdicts(_records(pub), None)["t4b_model_free_sometimes_below_ibc_or_data"]
    assert h is None and "not known" in why
    better_than_ibc = {k: ((9.0, 0.0) if k[2] == "ibc" else v) for k, v in pub.items()}
    assert _verdicts(better_than_ibc)["t4b_model_free_sometimes_below_ibc_or_data"] is True
    no_ibc_gap = {k: ((-9.0, 0.0) if k[2] == "ibc" else v) for k, v in pub.items()}
    assert _verdicts(no_ibc_gap)["t4b_model_free_sometimes_below_ibc_or_data"] is False


def test_verdicts_need_a_complete_row():
    recs = _records({("full", "random", "ibc"): (0.3, 0.0)})
    v = verdicts(recs, published_dataset_means())
    assert set(v) == set(T4B_CLAIMS) and all(
        h is None and "cells without a finite score" in e for h, e in v.values()
    )


# config.T4B_QUICK_CELLS
QUICK_ROWS = [("full", "full-replay"), ("partial", "medium"), ("partial", "full-replay")]


def _partial(changes=None, rows=QUICK_ROWS):
    cells = {k: v for k, v in _published().items() if (k[0], k[1]) in rows}
    return _verdicts({**cells, **(changes or {})})


def test_partial_rows_decide_only_what_they_can():
    """quick's 3 rows with the paper's numbers: every "in every row" claim holds so far and stays not checked, as do
    the majority rules (3 of 8 rows cannot make 5) and the claims that need rows not run; the existence rule holds
    (e.g. PO full-replay ICQL 0.09 < IBC 0.21, and model-free means below their datasets' means)."""
    assert tuple(QUICK_ROWS) == C.T4B_QUICK_CELLS
    v = _partial()
    assert v.pop("t4b_model_free_sometimes_below_ibc_or_data") is True
    assert all(h is None for h in v.values()), v
    h, why = verdicts(
        _records({k: x for k, x in _published().items() if (k[0], k[1]) in QUICK_ROWS}),
        published_dataset_means(),
    )["t4b_moma_best_all_rows"]
    assert h is None and "holds in the 3 rows run (FO full-replay, PO medium, PO full-replay)" in why
    assert "rows not run: FO random, FO medium, FO expert, PO random, PO expert" in why
    # the dataset means of the rows run are enough for the existence rule (quick builds no expert data)
    po_fr = _records({k: x for k, x in _published().items() if (k[0], k[1]) == ("partial", "full-replay")})
    h, why = verdicts(po_fr, {"full-replay": 0.0})["t4b_model_free_sometimes_below_ibc_or_data"]
    assert h is True and "below the dataset's mean (e.g. partial full-replay maiql_ft)" in why
    h, why = verdicts(po_fr, {"expert": 0.5})["t4b_model_free_sometimes_below_ibc_or_data"]
    assert h is None and "(PO full-replay) are not known" in why
    h, why = verdicts(po_fr, {"full-replay": 0.0})["t4b_model_free_surpassed_in_fo"]
    assert h is None and why == "none of its rows run (FO random, FO medium, FO full-replay, FO expert)"


@pytest.mark.parametrize(
    "changes, refuted",
    [
        (
            {("partial", "full-replay", "moma_ppo"): (0.03, 0.13)},  # what quick measured
            {"t4b_moma_best_all_rows", "t4b_moma_significant_all_rows", "t4b_moma_steers_under_po"},
        ),
        (
            {("full", "full-replay", "iql"): (1.50, 0.01)},
            {
                "t4b_moma_best_all_rows",
                "t4b_moma_significant_all_rows",
                "t4b_model_free_surpassed_in_fo",
                "t4b_iql_on_par_with_model_free",
            },
        ),
        (
            {("partial", "medium", "maiql_ft"): (0.40, 0.01)},  # far above MAIQL's 0.14 in one row
            {"t4b_maiql_ft_no_better", "t4b_moma_significant_all_rows"},
        ),
    ],
)
def test_one_row_refutes_a_rule_over_every_row(changes, refuted):
    v = _partial(changes)
    assert {cid for cid, h in v.items() if h is False} == refuted
    assert all(
        h is None
        for cid, h in v.items()
        if cid not in refuted | {"t4b_model_free_sometimes_below_ibc_or_data"}
    )


def test_majority_rules_fail_once_four_rows_break_them():
    """The independent-beat-CTDE tendency needs 5 of 8 rows: 4 complete rows where CTDE wins already refute it, 3
    do not."""
    pub = _published()
    ctde_wins = {k: ((2.0, 0.0) if k[2] == "maiql" else v) for k, v in pub.items()}
    four = [("full", "random"), ("full", "medium"), ("full", "full-replay"), ("full", "expert")]
    three = four[:3]
    for rows, want in ((three, None), (four, False)):
        cells = {k: x for k, x in ctde_wins.items() if (k[0], k[1]) in rows}
        assert _verdicts(cells)["t4b_independent_beat_ctde"] is want


# ---- the script ---------------------------------------------------------------------------------------------------
def test_quick_without_data_names_the_command(tmp_path):
    p = _run(tmp_path, "--profile", "quick", "--dataset", "full-replay")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "python -m common.datasets.mujoco --task ant --kind full-replay --profile quick" in p.stdout
    assert not (tmp_path / "data" / "mujoco").exists()  # nothing built silently


@pytest.mark.parametrize(
    "args, bad",
    [
        (["--dataset", "medium-replay"], "medium-replay"),
        (["--method", "matd3bc"], "matd3bc"),
        (["--obs-mode", "leader-only"], "leader-only"),
    ],
)
def test_bad_cli_values(tmp_path, args, bad):
    p = _run(tmp_path, "--profile", "smoke", *args)
    assert p.returncode == 2 and f"invalid choice: '{bad}'" in p.stderr


def test_table4b_smoke_subset(tmp_path):
    """Smoke Table 4b on the random data (built here in seconds): IQL, MAIQL-ft and MOMA-PPO in both rows = 5 cells
    (IQL has no PO cell), normalized with D4RL's Ant constants, one world model per obs mode; the 11 claims are
    not checked (cells missing): printed, not written."""
    from common.running.records import load_records

    p = _run(
        tmp_path,
        "--profile",
        "smoke",
        "--dataset",
        "random",
        "--method",
        "iql",
        "--method",
        "maiql_ft",
        "--method",
        "moma_ppo",
        timeout=300,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    recs = load_records(tmp_path / "runs", "smoke", "moma_ppo", "table4b")
    runs = [r for r in recs if "claim" not in r["keys"]]
    assert sorted((r["keys"]["obs_mode"], r["keys"]["method"]) for r in runs) == [
        ("full", "iql"),
        ("full", "maiql_ft"),
        ("full", "moma_ppo"),
        ("partial", "maiql_ft"),
        ("partial", "moma_ppo"),
    ]
    for r in runs:
        assert np.isfinite(r["score"]) and r["normalized"] == pytest.approx(
            100 * (r["score"] + 325.6) / 4205.3, rel=1e-6
        )
    moma = [r for r in runs if r["keys"]["method"] == "moma_ppo"]
    assert len({r["extra"]["world_model_sha256"] for r in moma}) == 2
    assert all(r["extra"]["wm_obs_absmax"] <= r["extra"]["data_obs_absmax"] + 1e-4 for r in moma)  # clipped
    sha = {r["keys"]["method"]: r["extra"]["data_sha256"] for r in runs if r["keys"]["obs_mode"] == "full"}
    assert sha["iql"] == sha["maiql_ft"] != sha["moma_ppo"]  # scaled rewards vs raw
    assert not [r for r in recs if "claim" in r["keys"]]  # not checked: nothing written, the reason printed
    assert p.stdout.count("claim t4b_") == 11 and "not checked — cells without a finite score" in p.stdout
    assert (tmp_path / "runs" / "smoke" / "moma_ppo" / "table4b.md").exists()
