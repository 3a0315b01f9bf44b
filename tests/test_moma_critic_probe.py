"""papers/moma_ppo/critic_probe.py: the rollout-step bookkeeping by hand, a smoke run end to end, bad input."""

import json
import math

import pytest
import torch

from papers.moma_ppo import critic_probe


def test_rollout_steps_by_hand():
    # rows: a rollout of 3 ending at a terminal (mask 0), one of 2 ending at a time-out (zeta 0), one still open
    masks = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    zetas = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    assert critic_probe.rollout_steps(masks, zetas).tolist() == [0, 1, 2, 0, 1, 0]
    # every row terminal
    assert critic_probe.rollout_steps(torch.zeros(3), torch.ones(3)).tolist() == [0, 0, 0]


def test_smoke_run_writes_per_step_readings(tmp_path):
    out = tmp_path / "probe.json"
    assert (
        critic_probe.main(
            ["--profile", "smoke", "--iterations", "2", "--every", "1", "--evaluate", "--out", str(out)]
        )
        == 0
    )
    got = json.loads(out.read_text())
    k = got["config"]["rollouts"]["k"]
    assert len(got["git"]["commit"]) == 40 and got["wall_s"] > 0  # what produced the readings
    assert (
        [r["iteration"] for r in got["readings"]] == [1, 2]
        and got["complete"] is True
        and got["device"] == "cpu"
    )
    for r in got["readings"]:
        assert len(r["V"]) == len(r["V_next"]) == len(r["G"]) == len(r["input_absmax"]) == k
        # two updates: bounded
        assert r["V"][0] is not None and all(abs(v) < 1e3 for v in r["V"] if v is not None)
        assert r["rows"] >= got["config"]["rollouts"]["batch"]
        # --evaluate: the true env's return
        assert math.isfinite(r["return"]) and math.isfinite(r["normalized"])


def test_a_killed_probe_keeps_the_readings_it_took(tmp_path, monkeypatch):
    """--out is rewritten after every reading: a probe stopped after two readings leaves those two, marked incomplete."""
    reading = {
        "V": [0.0],
        "V_next": [0.0],
        "G": [0.0],
        "input_absmax": [1.0],
        "reward": -0.1,
        "done_fraction": 0.0,
        "rows": 10,
    }

    def stopped(cfg, seed, iterations, every, progress=None, evaluate=False, device="cpu"):
        progress({"iteration": 1, **reading})
        progress({"iteration": 2, **reading})
        raise KeyboardInterrupt

    monkeypatch.setattr(critic_probe, "probe", stopped)
    out = tmp_path / "probe.json"
    with pytest.raises(KeyboardInterrupt):
        critic_probe.main(["--profile", "smoke", "--out", str(out)])
    got = json.loads(out.read_text())
    assert got["complete"] is False and [r["iteration"] for r in got["readings"]] == [1, 2]
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left beside it


def test_bad_input_is_named(capsys):
    with pytest.raises(SystemExit):
        critic_probe.main(["--profile", "smoke", "--mappo", '{"mixr": "monotonic"}'])
    assert "unknown MAPPOConfig field(s) ['mixr']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        critic_probe.main(["--profile", "smoke", "--world-model", '{"n_member": 3}'])
    assert "unknown WorldModelConfig field(s) ['n_member']; allowed: action_eps," in capsys.readouterr().err
    with pytest.raises(SystemExit):
        critic_probe.main(["--profile", "smoke", "--task", "reacher", "--obs-mode", "partial"])
    assert "not one of reacher's" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        critic_probe.main(["--profile", "smoke", "--device", "tpu"])
    assert "--device: unknown device 'tpu'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        critic_probe.main(["--profile", "smoke", "--iterations", "0"])
    assert "--iterations must be >= 1" in capsys.readouterr().err


def test_overrides_reach_the_cell_config():
    """--mappo and --world-model replace only the named fields of the cell's sections (the world model then gets its
    own cache entry: jobs.wm_cache_path hashes the whole section)."""
    import argparse

    from papers.moma_ppo.jobs import wm_cache_path

    args = argparse.Namespace(
        profile="smoke",
        task="reacher",
        obs_mode="full",
        dataset="full-replay",
        mappo={"obs_norm": False},
        world_model={"hidden": 16},
        simulator=None,
    )
    base = critic_probe._cell(argparse.Namespace(**{**vars(args), "mappo": {}, "world_model": {}}))
    got = critic_probe._cell(args)
    assert got["world_model"] == {**base["world_model"], "hidden": 16} and base["world_model"]["hidden"] != 16
    assert got["mappo"] == {**base["mappo"], "obs_norm": False}

    class _Data:
        card = {"sha256": "0" * 64}

    assert wm_cache_path(got, _Data) != wm_cache_path(base, _Data)
    assert "simulator" not in got
    assert (
        critic_probe._cell(
            argparse.Namespace(**{**vars(args), "world_model": {}, "simulator": "ground_truth"})
        )["simulator"]
        == "ground_truth"
    )


def test_ground_truth_reacher_smoke_run(tmp_path, capsys):
    """--simulator ground_truth: Reacher rolls out in the true physics (no uncertainty: penalty 0, no cut)."""
    out = tmp_path / "gt.json"
    assert (
        critic_probe.main(
            [
                "--profile",
                "smoke",
                "--task",
                "reacher",
                "--obs-mode",
                "independent",
                "--simulator",
                "ground_truth",
                "--iterations",
                "1",
                "--evaluate",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    got = json.loads(out.read_text())
    assert got["config"]["simulator"] == "ground_truth" and math.isfinite(got["readings"][0]["return"])
    assert got["readings"][0]["done_fraction"] == 0.0  # Reacher never terminates
    hyb = tmp_path / "hybrid.json"
    assert (
        critic_probe.main(
            [
                "--profile",
                "smoke",
                "--task",
                "reacher",
                "--obs-mode",
                "full",
                "--simulator",
                "wm_dynamics_true_reward",
                "--iterations",
                "1",
                "--out",
                str(hyb),
            ]
        )
        == 0
    )
    assert json.loads(hyb.read_text())["readings"][0]["reward"] < 0  # Reacher's true reward is never positive
    with pytest.raises(SystemExit):
        critic_probe.main(
            ["--profile", "smoke", "--simulator", "ground_truth", "--world-model", '{"hidden": 8}']
        )
    assert (
        '--world-model {"hidden": 8} has no effect with --simulator ground_truth' in capsys.readouterr().err
    )
