"""OMAR Table 1 end to end at --profile smoke: dataset generation, MA-CQL jobs, records, skip on rerun."""

import math
import os
import subprocess
import sys
from pathlib import Path

from common.running.records import read_records

ROOT = Path(__file__).resolve().parent.parent
KEYS = {
    "schema",
    "run_id",
    "paper",
    "item",
    "keys",
    "method",
    "seed",
    "profile",
    "score",
    "normalized",
    "curve",
    "extra",
    "config_hash",
}


def _run(tmp_path, *args):
    env = {**os.environ, "OFFMARL_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1", "CI": "1"}
    return subprocess.run(
        [sys.executable, "papers/omar/table1.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_table1_help(tmp_path):
    p = _run(tmp_path, "--help")
    assert p.returncode == 0 and "--profile" in p.stdout


def test_table1_smoke_records_and_skip(tmp_path):
    res = tmp_path / "results"
    p = _run(tmp_path, "--profile", "smoke", "--results", str(res))
    assert p.returncode == 0, p.stdout + p.stderr
    path = res / "smoke" / "omar" / "table1.jsonl"
    text = path.read_text()
    recs = read_records(path)
    assert len(recs) == 6  # 3 actor lrs x 2 smoke seeds
    assert {r["keys"]["actor_lr"] for r in recs} == {"1e-2", "5e-2", "1e-1"}
    assert {r["seed"] for r in recs} == {0, 1}
    for r in recs:
        assert KEYS <= set(r)
        assert r["keys"]["method"] == "ma_cql" and r["paper"] == "omar" and r["item"] == "table1"
        assert r["score"] is not None and math.isfinite(r["score"])
        assert r["curve"] and r["curve"][-1]["step"] == r["config"]["updates"]
        assert r["score"] == r["curve"][-1]["score"]
        assert r["config"]["itd3"]["actor_lr"] == float(r["keys"]["actor_lr"])
    assert (tmp_path / "data" / "omar" / "spread1d").is_dir()  # dataset cached under $OFFMARL_DATA

    p2 = _run(tmp_path, "--profile", "smoke", "--results", str(res))
    assert p2.returncode == 0, p2.stdout + p2.stderr
    assert "ran 0, skipped 6" in p2.stdout
    assert path.read_text() == text  # nothing re-run, nothing appended
