"""papers/cast_bcq/icq_ma_probe.py at smoke: one record per (form, seed) with the critic's readings, the code's form
differing from ours in its target, a rerun skipping the recorded pairs, and bad input refused by name."""

import json
import math

import pytest

from papers.cast_bcq import icq_ma_probe as P


def test_probe_records_both_forms_and_skips_on_rerun(tmp_path):
    argv = [
        "--profile",
        "smoke",
        "--updates",
        "20",
        "--eval-every",
        "10",
        "--episodes",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert P.main([*argv, "--forms", "ours", "code"]) == 0
    jl = tmp_path / "icq_ma_probe_hopper-3x1.jsonl"
    recs = [json.loads(x) for x in jl.read_text().splitlines()]
    assert [r["form"] for r in recs] == ["ours", "code"]
    for r in recs:
        assert [p["step"] for p in r["curve"]] == [10, 20]
        assert all(math.isfinite(p[k]) for p in r["curve"] for k in ("score", "grad_norm", "q_tot", "target"))
    ours, code = recs
    assert code["section"]["bug_compat"] is True and code["section"]["actor_temp"] == "inf"
    # the code's target counts r and gamma twice: not the same number as ours on the same seed and data
    assert code["curve"][0]["target"] != ours["curve"][0]["target"]
    assert "| code | 0 | 20 |" in (tmp_path / "icq_ma_probe_hopper-3x1.md").read_text()
    assert P.main([*argv, "--forms", "ours"]) == 0  # already recorded: no new line
    assert len(jl.read_text().splitlines()) == 2


def test_probe_refuses_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit):
        P.main(["--updates", "10", "--eval-every", "20", "--out", str(tmp_path)])
    assert "--eval-every 20 exceeds --updates 10" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        P.main(["--forms", "nope", "--out", str(tmp_path)])
    assert "invalid choice: 'nope'" in capsys.readouterr().err
