"""papers/otc/pi0_curve.py: the offline stage's learning curve (issue 65): rows at every evaluation, a killed or
shorter run continued, the outputs written, bad input refused."""

from __future__ import annotations

import json

import pytest

from papers.otc import pi0_curve as P


def test_curve_resumes_and_continues_a_shorter_run(tmp_path, monkeypatch):
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    logs: list[str] = []
    cfg = P.curve_config("smoke", "mamujoco/hopper-3x1", "medium", "bcq", 20)
    first = P.run_curve(cfg, [0, 1], 10, log=logs.append)
    assert [r["updates"] for r in first["rows"]] == [10, 20] and len(first["rows"][0]["normalized"]) == 2
    longer = P.run_curve(
        P.curve_config("smoke", "mamujoco/hopper-3x1", "medium", "bcq", 30), [0, 1], 10, log=logs.append
    )
    assert any("resumed at update 20" in m for m in logs)
    assert longer["rows"][:2] == first["rows"] and [r["updates"] for r in longer["rows"]] == [10, 20, 30]
    paths = P.write_outputs(longer, tmp_path / "out" / "hopper_medium_bcq")
    assert [p.suffix for p in paths] == [".json", ".md", ".png"] and all(p.stat().st_size > 0 for p in paths)
    assert json.loads(paths[0].read_text())["seeds"] == [0, 1]
    assert "| 30 |" in paths[1].read_text()


def test_navigation_curve_scores_the_return(tmp_path, monkeypatch):
    """Figures 7-8's pi^0: TD3+BC on N-agent navigation, whose random data have no reference scores: the curve
    holds the returns, the outputs say so."""
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    cfg = P.nav_curve_config("smoke", 2, 10)
    assert cfg["learner"] == "td3bc" and cfg["dataset"]["env_options"] == {"n_agents": 2}
    out = P.run_curve(cfg, [0, 1], 5, log=lambda m: None)
    rows = out["rows"]
    assert [r["updates"] for r in rows] == [5, 10] and all(r["normalized"] is None for r in rows)
    assert len(rows[0]["scores"]) == 2 and len({*rows[0]["scores"], *rows[1]["scores"]}) > 1
    md = P.write_outputs(out, tmp_path / "out" / "navigation_n2_td3bc")[1].read_text()
    assert "| updates | return mean ± std |" in md and "n_agents 2" in md


def test_bad_input_names_the_value():
    with pytest.raises(ValueError, match="unknown offline learner 'td3'"):
        P.curve_config("smoke", "mamujoco/hopper-3x1", "medium", "td3", None)
    with pytest.raises(ValueError, match="--updates must be >= 1"):
        P.curve_config("smoke", "mamujoco/hopper-3x1", "medium", "bcq", 0)
    with pytest.raises(SystemExit):
        P.main(["--seeds", "0", "0"])
    with pytest.raises(SystemExit):
        P.main(["--n-agents", "0"])
