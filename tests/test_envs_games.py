"""games/* : the papers' small games; rewards checked by hand on constructed situations."""

from __future__ import annotations

import re

import numpy as np
import pytest

import envs
from env_checks import check_determinism, check_parallel_api, check_spec_and_episode, rollout

L, R = 0, 1  # coordination: left, right
F, B, S = 0, 1, 2  # cliff grid: forward, backward, stay


def act(*ks):
    return np.array([[k] for k in ks], dtype=np.int64)


# ---- games/coordination --------------------------------------------------------------------------


def test_coordination_spec():
    env = envs.make("games/coordination")
    s = env.spec
    assert envs.options("games/coordination") == {"episode_length": 1}
    assert s.n_agents == 2 and s.n_actions == (2, 2) and s.act_dims == (1, 1) and s.discrete
    assert s.obs_dims == (1, 1) and s.state_dim == 1 and s.episode_length == 1 and s.shared_reward
    obs = env.reset(0)
    assert obs.shape == (2, 1) and obs.dtype == np.float32 and np.all(obs == 1.0)
    np.testing.assert_array_equal(env.state(), [1.0])


@pytest.mark.parametrize("a0, a1, r", [(R, R, 1.0), (L, L, 1.0), (L, R, 0.0), (R, L, 0.0)])
def test_coordination_payoff_matrix(a0, a1, r):
    env = envs.make("games/coordination")
    env.reset(0)
    obs, rew, term, trunc, _ = env.step(act(a0, a1))
    np.testing.assert_array_equal(rew, [r, r])
    assert trunc and not term  # one play per episode
    with pytest.raises(RuntimeError):
        env.step(act(R, R))


def test_coordination_iterated_rounds_and_random_episode():
    env = envs.make("games/coordination", episode_length=4)
    env.reset(0)
    rets = 0.0
    for t, (a0, a1) in enumerate([(R, R), (L, R), (L, L), (R, L)]):
        _, rew, term, trunc, _ = env.step(act(a0, a1))
        rets += rew[0]
        assert trunc == (t == 3) and not term
    assert rets == 2.0
    check_spec_and_episode(env, expect_len=4)
    check_spec_and_episode(envs.make("games/coordination"), expect_len=1)


def test_coordination_matches_table1_dataset_scores():
    """Table 1: dataset average score = P(match) of the behavior policies (0.623 / 0.502 / 0.375)."""
    env = envs.make("games/coordination")
    rng = np.random.default_rng(0)
    for p1, p2, published in [(0.75, 0.75, 0.623), (0.5, 0.5, 0.502), (0.25, 0.75, 0.375)]:
        scores = []
        for _ in range(4000):
            env.reset()
            _, rew, *_ = env.step(act(int(rng.random() < p1), int(rng.random() < p2)))
            scores.append(rew[0])
        assert abs(np.mean(scores) - published) < 0.025


def test_coordination_determinism_and_api():
    check_determinism(lambda: envs.make("games/coordination", episode_length=3), seed_changes_start=False)
    check_parallel_api(envs.make("games/coordination", episode_length=3), num_cycles=20)


def test_coordination_rejects_bad_actions():
    env = envs.make("games/coordination")
    env.reset(0)
    with pytest.raises(ValueError, match="not in 0..1"):
        env.step(act(2, 0))


# ---- games/cliff_grid ----------------------------------------------------------------------------


def grid_at(x, y, **opts):
    env = envs.make("games/cliff_grid", **opts)
    env.reset(0)
    env.pos = (x, y)  # construct a situation
    return env


def test_cliff_grid_spec_and_start():
    env = envs.make("games/cliff_grid")
    s = env.spec
    assert envs.options("games/cliff_grid") == {"max_steps": 30, "start": "fixed"}
    assert s.n_agents == 2 and s.n_actions == (3, 3) and s.act_dims == (1, 1)
    assert s.obs_dims == (2, 2) and s.state_dim == 2 and s.episode_length == 30 and s.shared_reward
    obs = env.reset(0)
    np.testing.assert_array_equal(obs, [[1, 1], [1, 1]])  # lower-left start, both agents see (x, y)
    np.testing.assert_array_equal(env.state(), [1, 1])


def test_cliff_grid_moves():
    env = grid_at(3, 2)
    obs, rew, term, _, info = env.step(act(F, B))  # x+1, y-1
    np.testing.assert_array_equal(obs, [[4, 1], [4, 1]])
    np.testing.assert_array_equal(rew, [-1, -1])
    assert not term and info["event"] == "step"
    obs, rew, *_ = env.step(act(B, S))
    np.testing.assert_array_equal(obs[0], [3, 1])
    obs, rew, *_ = env.step(act(S, S))  # staying costs the step
    np.testing.assert_array_equal(obs[0], [3, 1])
    np.testing.assert_array_equal(rew, [-1, -1])


def test_cliff_grid_paper_example_falls_off_at_4_4():
    """CAST-BCQ §2.3: at (4, 4) forward/forward falls off the cliff: -10, no step cost added."""
    env = grid_at(4, 4)
    obs, rew, term, trunc, info = env.step(act(F, F))
    np.testing.assert_array_equal(rew, [-10, -10])
    assert term and not trunc and info["event"] == "cliff"
    np.testing.assert_array_equal(obs[0], [5, 5])
    # agent 1 alone going forward is the right move
    env = grid_at(4, 4)
    _, rew, term, *_ = env.step(act(F, S))
    np.testing.assert_array_equal(rew, [-1, -1])
    assert not term


def test_cliff_grid_uniform_start_covers_every_non_goal_cell_and_is_seeded():
    env = envs.make("games/cliff_grid", start="uniform")
    starts = [tuple(env.reset(0 if i == 0 else None)[0]) for i in range(2000)]
    assert set(starts) == {(x, y) for x in range(1, 7) for y in range(1, 5)} - {(6, 4)}  # 23 cells
    counts = np.array([starts.count(c) for c in set(starts)])
    assert counts.min() > 2000 / 23 * 0.6  # roughly uniform
    again = envs.make("games/cliff_grid", start="uniform")
    assert [tuple(again.reset(0 if i == 0 else None)[0]) for i in range(50)] == starts[:50]
    with pytest.raises(ValueError, match="start='corner' is not allowed; allowed: fixed, uniform"):
        envs.make("games/cliff_grid", start="corner")


@pytest.mark.parametrize("x, y, a", [(1, 1, (B, S)), (1, 1, (S, B)), (6, 2, (F, S)), (3, 4, (S, F))])
def test_cliff_grid_every_edge_is_a_cliff(x, y, a):
    _, rew, term, *_ = grid_at(x, y).step(act(*a))
    assert term and rew[0] == -10


@pytest.mark.parametrize("x, y, a", [(5, 3, (F, F)), (5, 4, (F, S)), (6, 3, (S, F))])
def test_cliff_grid_goal(x, y, a):
    obs, rew, term, trunc, info = grid_at(x, y).step(act(*a))
    np.testing.assert_array_equal(rew, [10, 10])
    assert term and not trunc and info["event"] == "goal"
    np.testing.assert_array_equal(obs[0], [6, 4])


def test_cliff_grid_optimal_return_is_6():
    env = envs.make("games/cliff_grid")
    env.reset(0)
    total, term = 0.0, False
    for a in [(F, F), (F, F), (F, F), (F, S), (F, S)]:
        _, rew, term, _, _ = env.step(act(*a))
        total += rew[0]
    assert term and total == 6.0


def test_cliff_grid_truncates_at_max_steps():
    env = envs.make("games/cliff_grid", max_steps=30)
    env.reset(0)
    for t in range(30):
        _, rew, term, trunc, _ = env.step(act(S, S))
        assert rew[0] == -1 and not term and trunc == (t == 29)
    check_spec_and_episode(envs.make("games/cliff_grid"))


def test_cliff_grid_determinism_and_api():
    ep = rollout(envs.make("games/cliff_grid"), seed=0, action_seed=7)
    assert ep["rewards"][-1, 0] in (10.0, -10.0, -1.0)
    check_determinism(lambda: envs.make("games/cliff_grid"), seed_changes_start=False)
    check_parallel_api(envs.make("games/cliff_grid"), num_cycles=60)


# ---- games/nonstationary_nav ---------------------------------------------------------------------


def test_nav_spec():
    env = envs.make("games/nonstationary_nav")
    s = env.spec
    assert envs.options("games/nonstationary_nav") == {"beta": 0.1, "episode_length": 25, "goal_radius": 0.1}
    assert s.n_agents == 1 and s.obs_dims == (4,) and s.act_dims == (2,) and s.state_dim == 5
    assert (s.act_low, s.act_high) == (-1.0, 1.0) and not s.discrete and s.episode_length == 25
    obs = env.reset(0)
    assert np.all(np.abs(env.pos) <= 1) and np.all(np.abs(env.landmark) <= 1)
    np.testing.assert_allclose(obs[0], np.r_[env.pos, env.landmark - env.pos], atol=1e-6)
    np.testing.assert_allclose(env.state(), np.r_[env.pos, env.landmark, 0.1], atol=1e-6)


def test_nav_moves_by_beta_times_action():
    env = envs.make("games/nonstationary_nav", beta=0.15)
    env.reset(1)
    env.pos, env.landmark = np.array([0.0, 0.0]), np.array([0.9, 0.9])
    obs, rew, term, _, info = env.step(np.array([[1.0, -0.5]]))
    np.testing.assert_allclose(env.pos, [0.15, -0.075], rtol=0, atol=1e-12)
    np.testing.assert_allclose(obs[0], [0.15, -0.075, 0.75, 0.975], atol=1e-6)
    assert rew[0] == 0.0 and not term and info["beta"] == 0.15
    # actions outside [-1, 1] are clipped: the speed never exceeds |beta|
    env.step(np.array([[5.0, -5.0]]))
    np.testing.assert_allclose(env.pos, [0.30, -0.225], atol=1e-12)
    # set_beta takes effect at once; a negative beta reverses the motion
    env.set_beta(-0.2)
    env.step(np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(env.pos, [0.10, -0.225], atol=1e-12)
    assert env.state()[4] == np.float32(-0.2)


def test_nav_reward_10_at_landmark_and_terminates():
    env = envs.make("games/nonstationary_nav", beta=0.2)
    env.reset(2)
    env.pos, env.landmark = np.array([0.0, 0.0]), np.array([0.25, 0.0])
    _, rew, term, _, _ = env.step(np.array([[0.5, 0.0]]))  # pos 0.1: distance 0.15 >= 0.1
    assert rew[0] == 0.0 and not term
    _, rew, term, trunc, _ = env.step(np.array([[0.5, 0.0]]))  # pos 0.2: distance 0.05 < 0.1
    assert rew[0] == 10.0 and term and not trunc


def test_nav_beta_none_draws_uniform_per_episode():
    env = envs.make("games/nonstationary_nav", beta=None)
    betas = []
    for k in range(1000):
        env.reset(k)
        betas.append(env.beta)
        assert env.state()[4] == np.float32(env.beta)
    # the first draw of the episode's seeded RNG
    assert betas[7] == np.random.default_rng(7).uniform(-0.2, 0.2)
    betas = np.array(betas)
    assert betas.min() >= -0.2 and betas.max() <= 0.2 and abs(betas.mean()) < 0.015  # 4 standard errors
    assert betas.min() < -0.18 and betas.max() > 0.18
    env.reset(5)
    b5 = env.beta
    env.reset(5)
    assert env.beta == b5  # seeded
    env.set_beta(0.12)
    env.reset(5)
    assert env.beta == 0.12  # a fixed beta survives resets
    env.set_beta(None)
    env.reset(5)
    assert env.beta == b5


def test_nav_random_episode_determinism_and_api():
    ep = check_spec_and_episode(envs.make("games/nonstationary_nav", beta=None))
    assert set(np.unique(ep["rewards"])) <= {0.0, 10.0}
    check_determinism(lambda: envs.make("games/nonstationary_nav", beta=None), seed=3)
    check_parallel_api(envs.make("games/nonstationary_nav"), num_cycles=60)


def test_nav_reaches_landmark_with_greedy_policy():
    env = envs.make("games/nonstationary_nav", beta=0.1)
    obs = env.reset(4)
    total, term, trunc = 0.0, False, False
    while not (term or trunc):
        d = obs[0, 2:]
        obs, rew, term, trunc, _ = env.step(np.clip(d / 0.1, -1, 1)[None])
        total += rew[0]
    assert term and total == 10.0


# ---- options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, opts, words",
    [
        ("games/coordination", dict(episode_length=0), ["episode_length=0", ">= 1"]),
        ("games/coordination", dict(episode_length=1.5), ["episode_length=1.5", ">= 1"]),
        ("games/cliff_grid", dict(max_steps=-3), ["max_steps=-3", ">= 1"]),
        ("games/nonstationary_nav", dict(beta="big"), ["beta='big'", "None"]),
        ("games/nonstationary_nav", dict(beta=float("nan")), ["beta=nan", "finite"]),
        ("games/nonstationary_nav", dict(goal_radius=0.0), ["goal_radius=0.0", r"\(0, 1\]"]),
        ("games/nonstationary_nav", dict(episode_length=0), ["episode_length=0"]),
        ("games/cliff_grid", dict(width=5), ["width", "max_steps"]),
    ],
)
def test_bad_options_raise(name, opts, words):
    with pytest.raises(ValueError) as e:
        envs.make(name, **opts)
    for w in words:
        assert re.search(w, str(e.value)), (w, str(e.value))


def test_set_beta_rejects_bad_values():
    env = envs.make("games/nonstationary_nav")
    with pytest.raises(ValueError, match="beta=inf"):
        env.set_beta(float("inf"))
