"""papers/moma_ppo/wm_probe.py: the simulator reward it compares the world model with, its action families, and
its command at smoke."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs import make
from papers.moma_ppo.wm_probe import FAMILIES, family_actions, true_rewards

ROOT = Path(__file__).resolve().parents[1]


def test_true_rewards_replay_the_env():
    """States and rewards of a random rollout of mamujoco/reacher-2x1 (full: agent 0 sees the 10-dim state), with
    actions beyond the bounds (the env clips them): the simulator set to each state gives the env's reward."""
    env = make("mamujoco/reacher-2x1", obs_mode="full")
    rng = np.random.default_rng(3)
    obs = env.reset(7)
    states, actions, rewards = [], [], []
    for _ in range(40):
        a = rng.uniform(-1.5, 1.5, (2, 1)).astype(np.float32)
        states.append(np.asarray(obs)[0].copy())
        actions.append(env.join(a))
        obs, r, term, trunc, _ = env.step(a)
        rewards.append(float(np.asarray(r)[0]))
        if term or trunc:
            break
    got = true_rewards(np.stack(states), np.stack(actions))
    np.testing.assert_allclose(got, rewards, atol=1e-6)
    assert min(rewards) < -0.5  # the control cost of large actions is in the replayed rewards


def test_action_families():
    data = np.full((5, 2, 1), 0.1, np.float32)
    rng = np.random.default_rng(0)
    got = {f: family_actions(f, data, rng) for f in FAMILIES}
    assert np.array_equal(got["dataset"], data)
    assert got["uniform"].shape == data.shape and np.abs(got["uniform"]).max() <= 1.0
    assert set(np.abs(got["half"]).ravel().tolist()) == {0.5}
    assert set(np.abs(got["saturated"]).ravel().tolist()) == {1.0}
    with pytest.raises(ValueError, match="allowed: dataset, uniform, half, saturated"):
        family_actions("huge", data, rng)


def test_probe_command_at_smoke(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }
    res = subprocess.run(
        [sys.executable, "papers/moma_ppo/wm_probe.py", "--profile", "smoke", "--rows", "50"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    lines = {ln.split()[0] for ln in res.stdout.splitlines() if ln.strip()}
    assert set(FAMILIES) <= lines
    bad = subprocess.run(
        [sys.executable, "papers/moma_ppo/wm_probe.py", "--rows", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "--rows must be >= 1, got 0" in bad.stderr


def test_ant_probe_command_at_smoke(tmp_path):
    """--task ant: Table 4b's PO world model against the ground-truth simulator, every family printed; the true
    reward of saturated actions carries Ant's control cost (0.5 x sum a^2 = 4 per step at |a| = 1), so its mean is
    below the dataset actions'. An obs mode of the other task is refused by name."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }
    res = subprocess.run(
        [
            sys.executable,
            "papers/moma_ppo/wm_probe.py",
            "--profile",
            "smoke",
            "--task",
            "ant",
            "--obs-mode",
            "partial",
            "--rows",
            "40",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    rows = {ln.split()[0]: ln.split() for ln in res.stdout.splitlines() if ln.strip()}
    assert set(FAMILIES) <= set(rows) and "Ant partial full-replay world model" in res.stdout
    # true r: the control cost of |a| = 1
    assert float(rows["saturated"][2]) < float(rows["dataset"][2]) - 1.0
    bad = subprocess.run(
        [sys.executable, "papers/moma_ppo/wm_probe.py", "--task", "ant", "--obs-mode", "independent"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "--obs-mode independent is not one of ant's: full, partial" in bad.stderr
