"""scripts/otc_row.sh, a Table 1 row split over two cores: at smoke, on an empty data root and results root, every run of
the row is recorded once, and every method of a seed tunes the same pi^0 whichever lane trained it (the improvement
stays paired), with d_q, the last phase, training no pi^0 of its own; each pi^0 is exported for the next session
(papers/otc/pi0_carry.py, tests/test_otc_pi0_carry.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "otc_row.sh"


def test_otc_row_script_is_valid_bash_with_help() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    out = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "lane A" in out.stdout and "lane B" in out.stdout


def test_otc_row_shares_pi0_across_lanes_at_smoke(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OFFMARL_RESULTS": str(tmp_path / "results"),
        "OFFMARL_PI0_CARRY": str(tmp_path / "carry"),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), "mamujoco/hopper-3x1", "random", "smoke"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(x) for x in (tmp_path / "results/smoke/otc/table1.jsonl").read_text().splitlines()]
    runs = [r for r in records if r["seed"] is not None]
    assert sorted((r["method"], r["seed"]) for r in runs) == sorted(
        (m, s) for m in ("bcq", "bcq_otc_de", "bcq_otc_dq") for s in (0, 1, 2)
    )
    for seed in (0, 1, 2):
        s0 = {r["method"]: r["extra"]["s0"] for r in runs if r["seed"] == seed}
        assert len(set(s0.values())) == 1, (seed, s0)  # one pi^0 per seed
    assert all("pi0" not in r["extra"]["offline_s"] for r in runs if r["method"] == "bcq_otc_dq")
    assert all("pi0" in r["extra"]["offline_s"] for r in runs if r["method"] == "bcq")
    cards = sorted(p.name for p in (tmp_path / "carry/smoke/pi0").glob("*.json"))
    assert cards == [f"hopper_random_bcq_seed{s}.json" for s in (0, 1, 2)]
    s0 = {json.loads((tmp_path / "carry/smoke/pi0" / c).read_text())["s0"] for c in cards}
    assert s0 == {r["extra"]["s0"] for r in runs if r["method"] == "bcq"}
