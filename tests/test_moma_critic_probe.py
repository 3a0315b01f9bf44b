"""papers/moma_ppo/critic_probe.py: the rollout-step bookkeeping by hand, a smoke run end to end, bad input."""

import json

import pytest
import torch

from papers.moma_ppo import critic_probe


def test_rollout_steps_by_hand():
    # rows: a rollout of 3 ending at a terminal (mask 0), one of 2 ending at a time-out (zeta 0), one still open
    masks = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    zetas = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    assert critic_probe.rollout_steps(masks, zetas).tolist() == [0, 1, 2, 0, 1, 0]
    assert critic_probe.rollout_steps(torch.zeros(3), torch.ones(3)).tolist() == [0, 0, 0]  # every row terminal


def test_smoke_run_writes_per_step_readings(tmp_path):
    out = tmp_path / "probe.json"
    assert critic_probe.main(["--profile", "smoke", "--iterations", "2", "--every", "1", "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    k = got["config"]["rollouts"]["k"]
    assert [r["iteration"] for r in got["readings"]] == [1, 2]
    for r in got["readings"]:
        assert len(r["V"]) == len(r["V_next"]) == len(r["G"]) == len(r["input_absmax"]) == k
        assert r["V"][0] is not None and all(abs(v) < 1e3 for v in r["V"] if v is not None)  # two updates: bounded
        assert r["rows"] >= got["config"]["rollouts"]["batch"]


def test_bad_input_is_named(capsys):
    with pytest.raises(SystemExit):
        critic_probe.main(["--profile", "smoke", "--mappo", '{"mixr": "monotonic"}'])
    assert "unknown MAPPOConfig field(s) ['mixr']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        critic_probe.main(["--profile", "smoke", "--task", "reacher", "--obs-mode", "partial"])
    assert "not one of reacher's" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        critic_probe.main(["--profile", "smoke", "--iterations", "0"])
    assert "--iterations must be >= 1" in capsys.readouterr().err
