"""OMAR Tables 2-6 at --profile smoke: each script runs (part of) its grid end to end and writes
well-formed records; the same seed gives identical records twice (table1 is in test_omar_scripts.py).

The grids are filtered (--env / --dataset / --method) to keep CI short; ./run_all.sh --profile smoke
runs every cell. Datasets are generated once per session into a shared tmp $OFFMARL_DATA.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.running.profiles import get_profile
from common.running.records import canonical_json, read_records
from papers.omar.config import PROFILE_OVERRIDES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("omar_data")


def _run(data_dir, results, script, *args):
    env = {**os.environ, "OFFMARL_DATA": str(data_dir), "OMP_NUM_THREADS": "1", "CI": "1"}
    return subprocess.run(
        [sys.executable, f"papers/omar/{script}.py", "--profile", "smoke", "--results", str(results), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _records(results, item):
    return read_records(results / "smoke" / "omar" / f"{item}.jsonl")


CASES = {
    # item: (filter args, expected key sets, config check)
    "table2": ((), [{"method": "ma_cql", "actor_updates": k} for k in ("1", "5", "20")]),
    "table3": (
        ("--env", "omar/spread", "--dataset", "medium-replay"),
        [
            {"dataset": "medium-replay", "env": "omar/spread", "method": m}
            for m in ("ma_cql", "omar", "ma_td3bc", "ma_icq")
        ],
    ),
    "table4": (
        ("--dataset", "medium"),
        [{"sampler": s, "dataset": "medium", "method": "omar"} for s in ("random", "cem", "softmax")],
    ),
    "table5": (
        ("--env", "omar/spread", "--dataset", "expert"),
        [
            {"method": m, "dataset": "expert", "env": "omar/spread"}
            for m in ("ma_icq", "ma_td3bc", "ma_cql", "omar")
        ],
    ),
    "diagnose_table5": (
        (),
        [
            {"method": m, "critic": c, "cql_slots": k}
            for m in ("ma_cql", "omar")
            for c, k in (("local", None), ("joint", "own"), ("joint", "all"))
        ],
    ),
    "diagnose_minibatches": (
        ("--env", "omar/world", "--dataset", "medium", "--method", "ma_cql"),
        [
            {"dataset": "medium", "env": "omar/world", "method": "ma_cql", "minibatches": v}
            for v in ("fresh", "official")
        ],
    ),
    "table6": (
        ("--dataset", "medium-replay", "--method", "omar", "--method", "ma_td3bc"),
        [{"method": m, "dataset": "medium-replay"} for m in ("omar", "ma_td3bc")],
    ),
}


@pytest.mark.parametrize("item", sorted(CASES))
def test_table_smoke(item, data_dir, tmp_path):
    args, keys = CASES[item]
    p = _run(data_dir, tmp_path, item, *args)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    recs = _records(tmp_path, item)
    assert sorted(json.dumps(r["keys"], sort_keys=True) for r in recs) == sorted(
        json.dumps(k, sort_keys=True) for k in keys for _ in (0, 1)
    )  # 2 smoke seeds per cell
    for r in recs:
        assert r["item"] == item and r["profile"] == "smoke"
        assert r["score"] is not None and math.isfinite(r["score"])
        assert r["curve"][-1]["step"] == r["config"]["updates"]
        if item != "table2":
            assert r["normalized"] is not None and math.isfinite(r["normalized"])
    cfgs = {json.dumps(r["keys"], sort_keys=True): r["config"] for r in recs}
    if item == "table2":
        assert {c["itd3"]["actor_updates"] for c in cfgs.values()} == {1, 5, 20}
    if item == "table4":
        assert {c["itd3"]["omar_sampler"] for c in cfgs.values()} == {"random", "cem", "softmax"}
    if item == "table5":
        assert all(c["itd3"]["critic_input"] == "joint" for c in cfgs.values())
    if item == "diagnose_table5":
        for c in cfgs.values():
            joint = c["itd3"].get("critic_input") == "joint"
            assert c["itd3"].get("cql_slots", "own") in (("own", "all") if joint else ("own",))
    # the quirk's key only in the official variant: fresh = Table 3's config
    if item == "diagnose_minibatches":
        assert {k: c.get("official_minibatches") for k, c in cfgs.items()} == {
            json.dumps(k, sort_keys=True): (10 if k["minibatches"] == "official" else None) for k in keys
        }
        fresh, official = (_curves(recs, v) for v in ("fresh", "official"))
        assert fresh != official  # the fixed minibatches change the training
    if item == "table6":
        assert all(
            c["itd3"]["hidden"] == 256 and c["dataset"]["env"] == "mamujoco/halfcheetah-2x3"
            for c in cfgs.values()
        )
    assert (tmp_path / "smoke" / "omar" / f"{item}.md").exists()
    # the plan (the report's "done k/m") is the whole grid, also when the filters ran only part of it
    import importlib

    grid = importlib.import_module(f"papers.omar.{item}").build_cells(get_profile("smoke", PROFILE_OVERRIDES))
    plan = json.loads((tmp_path / "smoke" / "omar" / f"{item}.plan.json").read_text())["cells"]
    assert sorted(canonical_json(e["keys"]) for e in plan) == sorted(canonical_json(c.keys) for c in grid)
    assert len(plan) > len(keys) if args else len(plan) == len(keys)


def _curves(recs, variant):
    return sorted(
        (r["seed"], [p["score"] for p in r["curve"]]) for r in recs if r["keys"]["minibatches"] == variant
    )


def test_same_seed_same_records(data_dir, tmp_path):
    """Two fresh runs of the same cells give identical scores and curves (table3, OMAR and MA-ICQ)."""
    args = (
        "--env",
        "omar/spread",
        "--dataset",
        "random",
        "--method",
        "omar",
        "--method",
        "ma_icq",
        "--seeds",
        "3",
    )
    runs = []
    for k in range(2):
        p = _run(data_dir, tmp_path / f"r{k}", "table3", *args)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        runs.append(
            {
                json.dumps(r["keys"], sort_keys=True): (r["score"], r["curve"])
                for r in _records(tmp_path / f"r{k}", "table3")
            }
        )
    assert len(runs[0]) == 2 and runs[0] == runs[1]


def test_grid_filters_reject_unknown(data_dir, tmp_path):
    p = _run(data_dir, tmp_path, "table3", "--env", "omar/nowhere")
    assert p.returncode == 2 and "omar/nowhere" in p.stderr and "omar/spread" in p.stderr
    # a valid choice, but not table3's
    p = _run(data_dir, tmp_path, "table3", "--env", "mamujoco/halfcheetah-2x3")
    assert p.returncode != 0 and "no cell of the grid passes" in p.stderr and "omar/spread" in p.stderr, (
        p.stderr
    )
