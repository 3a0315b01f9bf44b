"""MOMA-PPO Table 2: the statistics on a hand-made dataset (exact), the cells against published.py's keys, the
D4RL ant reference scores in the env spec, and a smoke run of papers/moma_ppo/table2.py."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from common.datasets.dataset import Dataset
from papers.moma_ppo import data_config as DC
from papers.moma_ppo.published import PUBLISHED
from papers.moma_ppo.table2 import REFS, build_cells, table2_run, table2_stats

ROOT = Path(__file__).resolve().parent.parent
REACHER = {"random": -11.144625, "expert": -4.2370844}


def test_table2_stats_exact_on_hand_made_returns():
    # returns at 0 %, 50 %, 100 % and 150 % of the Reacher range (expert − random = 6.9075406)
    span = REACHER["expert"] - REACHER["random"]
    r = REACHER["random"] + span * np.array([0.0, 0.5, 1.0, 1.5])
    st = table2_stats(r, REACHER)
    assert st["min"] == pytest.approx(0.0, abs=1e-9) and st["max"] == pytest.approx(150.0)
    assert st["mean"] == pytest.approx(75.0) and st["median"] == pytest.approx(75.0)
    assert (st["expert_return"], st["random_return"]) == (-4.2370844, -11.144625)
    ant = table2_stats(np.array([-325.6, 3879.7, 3879.7]), {"random": -325.6, "expert": 3879.7})
    assert (ant["min"], ant["median"], ant["max"]) == (0.0, 100.0, 100.0)
    assert ant["mean"] == pytest.approx(200.0 / 3)
    with pytest.raises(ValueError, match="non-empty"):
        table2_stats(np.array([]), REACHER)


def test_table2_job_on_a_hand_made_dataset(monkeypatch):
    """Three 2-step episodes of a single-agent Reacher dataset with returns -11.144625, -4.2370844, -7.69: each
    quantity's record value."""
    per_step = np.array([-5.0, -6.144625, -2.0, -2.2370844, -3.69, -4.0], np.float32)
    n = len(per_step)
    to = np.array([0, 1, 0, 1, 0, 1], bool)
    ds = Dataset.from_arrays(
        "mujoco/reacher",
        "expert-mix",
        np.zeros((n, 1, 10)),
        np.zeros((n, 1, 2)),
        per_step[:, None],
        np.zeros((n, 1, 10)),
        np.zeros(n, bool),
        to,
        return_mode="sum",
        ref_scores=REACHER,
        behavior={"our_ref_scores": {"random": -12.0, "expert": -7.69}},
    )
    import papers.moma_ppo.table2 as t2

    monkeypatch.setattr(t2, "load_dataset", lambda spec: ds)
    rets = ds.episode_returns
    want_n = 100 * (rets - REACHER["random"]) / (REACHER["expert"] - REACHER["random"])
    got = {}
    for q in ("min", "mean", "median", "max", "expert_return", "random_return"):
        cell = SimpleNamespace(
            config={
                "dataset": {"env": "mamujoco/reacher-2x1", "dataset": "expert-mix", "profile": "smoke"},
                "quantity": q,
            }
        )
        out = table2_run(cell, 0, None)
        got[q] = out["normalized"]
        assert out["score"] == out["normalized"] and out["our_ref_scores"] == {
            "random": -12.0,
            "expert": -7.69,
        }
    assert got["min"] == pytest.approx(want_n.min(), abs=1e-4) and got["min"] == pytest.approx(0.0, abs=1e-4)
    assert got["max"] == pytest.approx(100.0, abs=1e-4) and got["median"] == pytest.approx(
        want_n[2], abs=1e-9
    )
    assert got["mean"] == pytest.approx(want_n.mean(), abs=1e-9)
    assert (got["expert_return"], got["random_return"]) == (-4.2370844, -11.144625)


def test_cells_match_published_keys():
    prof = SimpleNamespace(name="smoke")
    ours = {tuple(sorted(c.keys.items())) for c in build_cells(prof)}
    pub = {tuple(sorted(e.keys.items())) for e in PUBLISHED if e.item == "table2"}
    assert ours == pub and len(ours) == 24
    assert REFS["mamujoco/ant-4x2"] == {"random": -325.6, "expert": 3879.7}


def test_ant_spec_has_d4rl_reference_scores():
    import envs

    spec = envs.make("mamujoco/ant-4x2", obs_mode="full").spec
    assert spec.ref_scores == {"random": -325.6, "expert": 3879.7}


def test_table2_smoke_run(tmp_path):
    """The script builds the missing smoke data (Reacher experts + expert-mix, Ant SAC + 4 kinds) and writes 24
    records; the constants are the paper's and every statistic is finite and ordered min <= median, mean <= max."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }
    res = tmp_path / "results"
    p = subprocess.run(
        [
            sys.executable,
            str(ROOT / "papers/moma_ppo/table2.py"),
            "--profile",
            "smoke",
            "--results",
            str(res),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    recs = [json.loads(x) for x in (res / "smoke/moma_ppo/table2.jsonl").read_text().splitlines()]
    assert len(recs) == 24
    v = {(r["keys"]["env"], r["keys"]["dataset"], r["keys"]["quantity"]): r["normalized"] for r in recs}
    assert v[("mamujoco/reacher-2x1", "expert-mix", "expert_return")] == -4.2370844
    assert v[("mamujoco/ant-4x2", "random", "random_return")] == -325.6
    for e, d, _ in v:
        assert v[(e, d, "min")] <= v[(e, d, "median")] <= v[(e, d, "max")]
        assert v[(e, d, "min")] <= v[(e, d, "mean")] <= v[(e, d, "max")]
    base = tmp_path / f"data/moma_ppo/reacher/smoke/expert-mix-v{DC.reacher_scale('smoke').version}"
    card = json.loads(base.with_suffix(".json").read_text())
    assert card["convention"] == ["ccw", "cw"] and "NOT experts" in card["notes"]
    assert card["ref_scores"] == {"random": -11.144625, "expert": -4.2370844}
    assert set(card["behavior"]["our_ref_scores"]) == {"random", "expert"}
    assert np.flatnonzero(np.load(base.with_suffix(".npz"))["timeouts"])[[19, -1]].tolist() == [999, 1999]


def test_env_filter_asks_only_for_the_selected_rows_data(tmp_path, monkeypatch):
    """--env mamujoco/ant-4x2 refreshes the Ant rows without the Reacher experts: what is missing names only the
    Ant datasets; the whole table names both."""
    from papers.moma_ppo import table2

    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path))
    both = table2.missing("quick")
    assert len(both) == 2 and "Reacher" in both[0] and "--task ant" in both[1]
    ant = table2.missing("quick", ("mamujoco/ant-4x2",))
    assert len(ant) == 1 and "--task ant" in ant[0] and "Reacher" not in ant[0]
    assert table2.missing("quick", ("mamujoco/reacher-2x1",)) == both[:1]
    assert table2._profile_and_envs(["--profile", "full", "--env", "mamujoco/ant-4x2"]) == (
        "full",
        ("mamujoco/ant-4x2",),
    )
