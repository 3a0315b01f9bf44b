"""papers/moma_ppo/baseline_length.py: Table 4b's baseline cells trained LENGTH_FACTOR x longer, and the summary that
says whether quick's ranking is the ranking at the end (the measurement behind quick's cut of the baselines'
updates, issue 64)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.running.profiles import get_profile
from papers.moma_ppo import baseline_length as BL
from papers.moma_ppo import config as C
from papers.moma_ppo import table4b

ROOT = Path(__file__).resolve().parent.parent


def test_cells_are_table4b_baselines_trained_longer():
    prof = get_profile("quick", C.PROFILES)
    base = {tuple(sorted(c.keys.items())): c.config for c in table4b.build_cells(prof)}
    cells = BL.build_cells(prof)
    assert {c.keys["method"] for c in cells} == set(BL.METHODS) and "maiql_ft" not in BL.METHODS
    assert len(cells) == 60 - 8 - 8  # Table 4b minus MOMA-PPO's and MAIQL-ft's 8 cells each
    for c in cells:
        t = base[tuple(sorted(c.keys.items()))]
        assert (
            c.config["updates"] == 10 * t["updates"] == 100_000 and c.config["base_updates"] == t["updates"]
        )
        assert (
            c.config["updates"] % c.config["eval_every"] == 0 and t["updates"] % c.config["eval_every"] == 0
        )
        rest = {
            k: v
            for k, v in c.config.items()
            if k not in ("updates", "eval_every", "ckpt_every", "base_updates")
        }
        assert rest == {k: v for k, v in t.items() if k not in ("updates", "eval_every", "ckpt_every")}
    with pytest.raises(ValueError, match="allowed: smoke, quick"):
        BL.build_cells(get_profile("full", C.PROFILES))


def test_flips_name_the_pairs_whose_order_changes():
    short = {"ibc": 0.51, "itd3bc": 0.34, "iql": 0.40}
    assert BL.flips(short, {"ibc": 0.6, "itd3bc": 0.5, "iql": 0.55}) == []
    got = BL.flips(short, {"ibc": 0.5, "itd3bc": 0.9, "iql": 0.45})
    assert sorted((a, b) for a, b, _, _ in got) == [("ibc", "itd3bc"), ("iql", "itd3bc")]
    a, b, g1, g2 = next(f for f in got if f[0] == "ibc")
    assert g1 == pytest.approx(0.17) and g2 == pytest.approx(0.4)


def test_smoke_run_writes_records_and_the_ranking(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }
    res = tmp_path / "runs"
    args = ["--obs-mode", "partial", "--dataset", "random", "--method", "ibc", "--method", "itd3bc"]
    cmd = [
        sys.executable,
        "papers/moma_ppo/baseline_length.py",
        "--profile",
        "smoke",
        "--results",
        str(res),
        *args,
    ]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    out = res / "smoke" / "moma_ppo"
    recs = [json.loads(x) for x in (out / "baseline_length.jsonl").read_text().splitlines()]
    runs = [r for r in recs if r.get("seed") is not None]
    assert sorted(r["keys"]["method"] for r in runs) == ["ibc", "itd3bc"]
    for r in runs:  # an evaluation at quick's length (20 at smoke) and at the end (40)
        assert r["config"]["updates"] == 40 and {20, 40} <= set(r["curve"]["step"])
    md = (out / "baseline_length_ranking.md").read_text()
    assert "## partial random (U = 20; end 40)" in md and "| ibc |" in md and "| itd3bc |" in md
    assert "Order at U: " in md and "Flips: " in md
    assert (out / "baseline_length_curves.png").stat().st_size > 0
    bad = subprocess.run([*cmd[:3], "full"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--profile 'full'" in bad.stderr and "allowed: smoke, quick" in bad.stderr
