"""Parity of our omar/* particle worlds with OMAR's own code (ling-pan/OMAR, multiagent-particle-envs).

``tests/fixtures/omar_parity.npz`` holds 20 episodes x 25 steps per scenario played by OMAR's core, environment
and scenario files with uniform random actions for every agent, the prey included (``scripts/omar_parity_fixture.py``
says how it was made and how to rebuild it). Each episode is replayed here through our public API: ``reset_to``
with the recorded initial positions, ``step`` with the recorded actions, the prey's recorded actions through the
``prey_policy`` option. Observations (the prey's too: what our prey policy is shown) and rewards (the prey's
from ``info["prey_reward"]``) must equal OMAR's within 1e-6 at every step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import envs
from scripts.parity_common import load_fixture

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "omar_parity.npz"
TOL = dict(rtol=1e-6, atol=1e-6)  # our boundary is float32; the worlds themselves agree to ~1e-15
# fixture key -> (env name, options, has a fixed prey)
CASES = {
    "spread": ("omar/spread", {}, False),
    "tag": ("omar/tag", {}, True),
    "world": ("omar/world", {}, True),
    "spread1d_n2": ("omar/spread1d", {"n_agents": 2}, False),
    "spread1d_n5": ("omar/spread1d", {"n_agents": 5}, False),
}


@pytest.fixture(scope="module")
def fixture():
    return load_fixture(FIXTURE)[0]


class _Replay:
    """A prey_policy that plays recorded actions and keeps the observations it is shown."""

    def __init__(self):
        self.actions, self.seen = [], []

    def __call__(self, obs):
        self.seen.append(np.array(obs, dtype=np.float64))
        return self.actions[len(self.seen) - 1]


@pytest.mark.parametrize("key", list(CASES))
def test_replay_equals_official_code(fixture, key):
    name, opts, has_prey = CASES[key]
    meta = json.loads(str(fixture["meta"]))["scenarios"][key]
    pos0, acts = fixture[f"{key}__pos0"], fixture[f"{key}__actions"]
    obs_ref, rew_ref = fixture[f"{key}__obs"], fixture[f"{key}__rewards"]
    prey = _Replay() if has_prey else None
    env = envs.make(name, **opts, **({"prey_policy": prey} if has_prey else {}))
    n = env.spec.n_agents  # learned agents; OMAR's policy agents are these plus the prey (last)
    assert n + has_prey == meta["n_policy_agents"] and list(env.spec.obs_dims) == meta["obs_dims"][:n]
    n_ep, n_t = acts.shape[:2]
    worst = 0.0
    for ep in range(n_ep):
        if prey is not None:
            prey.actions, prey.seen = list(acts[ep, :, n]), []
        obs = env.reset_to(pos0[ep])
        np.testing.assert_allclose(obs, obs_ref[ep, 0, :n, : env.spec.obs_dim], **TOL)
        for t in range(n_t):
            obs, r, term, trunc, info = env.step(acts[ep, t, :n])
            np.testing.assert_allclose(
                obs,
                obs_ref[ep, t + 1, :n, : env.spec.obs_dim],
                **TOL,
                err_msg=f"{key}: obs, episode {ep}, step {t}",
            )
            np.testing.assert_allclose(
                r, rew_ref[ep, t, :n], **TOL, err_msg=f"{key}: reward, episode {ep}, step {t}"
            )
            worst = max(worst, float(np.max(np.abs(r - rew_ref[ep, t, :n]))))
            if prey is not None:
                np.testing.assert_allclose(
                    info["prey_reward"],
                    rew_ref[ep, t, n],
                    **TOL,
                    err_msg=f"{key}: prey reward, episode {ep}, step {t}",
                )
                p_dim = meta["obs_dims"][n]
                np.testing.assert_allclose(
                    prey.seen[t],
                    obs_ref[ep, t, n, :p_dim],
                    **TOL,
                    err_msg=f"{key}: prey obs, episode {ep}, step {t}",
                )
            assert not term and trunc == (t == n_t - 1)
    # the episodes went somewhere: the fixture is not a trivial standstill
    assert np.abs(obs_ref[:, -1] - obs_ref[:, 0]).max() > 0.5


def test_internal_state_agrees_in_float64(fixture):
    """Below the float32 boundary the worlds agree to float64 rounding: positions after 25 steps of tag."""
    key = "tag"
    prey = _Replay()
    env = envs.make("omar/tag", prey_policy=prey)
    for ep in range(3):
        prey.actions, prey.seen = list(fixture[f"{key}__actions"][ep, :, 3]), []
        env.reset_to(fixture[f"{key}__pos0"][ep])
        for t in range(25):
            env.step(fixture[f"{key}__actions"][ep, t, :3])
        # predator 0's own position is obs[2:4] of OMAR's last observation
        pos = env.world.agents[0].state.p_pos
        np.testing.assert_allclose(pos, fixture[f"{key}__obs"][ep, -1, 0, 2:4], rtol=0, atol=1e-12)
        rew = [env.scenario.reward(a, env.world) for a in env.world.agents]
        np.testing.assert_allclose(rew, fixture[f"{key}__rewards"][ep, -1], rtol=0, atol=1e-12)


def test_one_step_physics_by_hand():
    """OMAR's core by hand: a predator (accel 3) at rest pushed with a = (1, 0) gets force 3·3·1 = 9, so
    v = 9 · dt = 0.9 (under max_speed 1.0) and, moving with the new velocity, x = 0.09 after one step
    (mpe2's core: force 3, v = 0.3, x = 0)."""
    env = envs.make("omar/tag", prey_policy=lambda o: np.zeros(2))
    pos = np.array([[-0.5, 0.0], [0.5, 0.5], [0.5, -0.5], [-0.9, 0.9], [5.0, 5.0], [-5.0, 5.0]])
    env.reset_to(pos)
    env.step(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]))
    a0 = env.world.agents[0]
    np.testing.assert_allclose(a0.state.p_vel, [0.9, 0.0], atol=1e-12)
    np.testing.assert_allclose(a0.state.p_pos, [-0.5 + 0.09, 0.0], atol=1e-12)
    # the prey (accel 4) pushed with a = (0, -1): force 16, v = 1.6 capped at max_speed 1.3
    env = envs.make("omar/tag", prey_policy=lambda o: np.array([0.0, -1.0]))
    env.reset_to(pos)
    env.step(np.zeros((3, 2)))
    prey = env.world.agents[3]
    np.testing.assert_allclose(prey.state.p_vel, [0.0, -1.3], atol=1e-12)
    np.testing.assert_allclose(prey.state.p_pos, [-0.9, 0.9 - 0.13], atol=1e-12)


def test_reset_to_rejects_bad_positions():
    env = envs.make("omar/spread")
    with pytest.raises(ValueError, match=r"6 finite points of dimension 2"):
        env.reset_to(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="finite"):
        env.reset_to(np.full((6, 2), np.nan))
