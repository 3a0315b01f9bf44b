"""The device scripts (scripts/device_*.sh, run on a lent GPU machine in one call) are valid bash, and the CAST-BCQ
width script's plumbing runs end to end at smoke on the CPU: data rebuilt from the policies, both cells recorded,
what comes back under $OUT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "scripts").glob("device_*.sh")))
def test_device_scripts_are_valid_bash(script: str) -> None:
    assert subprocess.run(["bash", "-n", str(REPO / "scripts" / script)]).returncode == 0


def test_cast_widths_script_dry_run_at_smoke(tmp_path: Path) -> None:
    out, res, data = tmp_path / "out", tmp_path / "results", tmp_path / "data"
    env = {
        **os.environ,
        "PROFILE": "smoke",
        "DEVICE": "cpu",
        "PY": sys.executable,
        "OUT": str(out),
        "RESULTS": str(res),
        "OFFMARL_DATA": str(data),
    }
    # another profile's card in the same cache: the script must read its own profile's
    decoy = data / "mujoco" / "full" / "hopper" / "mixed-3x1-v1.json"
    decoy.parent.mkdir(parents=True)
    decoy.write_text(json.dumps({"env": "decoy", "sha256": "0" * 64}))
    p = subprocess.run(
        ["bash", "scripts/device_cast_widths.sh", "240"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    setup = (out / "setup.log").read_text()
    for line in ("data rc 0", "cast_bcq rc 0", "mabcq rc 0", "data sha256 "):
        assert line in setup, setup
    card = json.loads((out / "data_card.json").read_text())
    assert card["env"] == "mujoco/hopper" and card["kind"] == "mixed"
    recs = [json.loads(line) for line in (out / "figure4.jsonl").read_text().splitlines()]
    runs = sorted((r["method"], r["seed"]) for r in recs if r.get("seed") is not None)
    assert runs == [("cast_bcq", 0), ("cast_bcq", 1), ("mabcq", 0), ("mabcq", 1)]
    assert all(
        r["profile"] == "smoke" and r["keys"]["env"] == "mamujoco/hopper-3x1"
        for r in recs
        if r.get("seed") is not None
    )
    assert (out / "logs.tar.gz").stat().st_size > 0 and not (
        REPO / "results" / "smoke" / "cast_bcq" / "nonexistent"
    ).exists()
