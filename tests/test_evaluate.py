import numpy as np

import envs
from common.running.evaluate import evaluate


def test_evaluate_matches_sequential_rollouts():
    """Vectorised evaluation equals stepping each episode alone with the same policy and seeds."""
    P, E = 2, 3

    def policy(obs):  # [P, E, N, O] -> [P, E, N, A]: a fixed function of the observation
        return np.tanh(obs[..., :2] * np.array([1.0, -1.0]))

    res = evaluate(policy, "omar/spread", P, E, seeds=[100, 200], return_mode="mean")
    assert res.returns.shape == (P, E) and np.all(res.lengths == 25)
    env = envs.make("omar/spread")
    for p, s in enumerate([100, 200]):
        for e in range(E):
            obs = env.reset(s + e)
            total, done = 0.0, False
            while not done:
                obs, r, term, trunc, _ = env.step(policy(obs[None, None])[0, 0])
                total += float(np.mean(r))
                done = term or trunc
            assert np.isclose(res.returns[p, e], total, rtol=1e-5)


def test_evaluate_handles_early_termination():
    """Episodes of different lengths (Hopper falls) are summed only while alive."""
    res = evaluate(
        lambda o: np.ones(o.shape[:-1] + (1,)), "mamujoco/hopper-3x1", 1, 2, seeds=0, return_mode="agent0"
    )
    assert np.all(res.lengths < 1000) and np.all(res.lengths >= 1)
    env = envs.make("mamujoco/hopper-3x1")
    env.reset(0)
    total, n, done = 0.0, 0, False
    while not done:
        _, r, term, trunc, _ = env.step(np.ones((3, 1)))
        total += float(r[0])
        n += 1
        done = term or trunc
    assert res.lengths[0, 0] == n and np.isclose(res.returns[0, 0], total, rtol=1e-5)


def test_max_steps_cuts_episodes_to_their_first_steps():
    """``max_steps`` (smoke runs) returns the sum of each episode's first k rewards, nothing more."""

    def policy(obs):
        return np.tanh(obs[..., :2])

    full = evaluate(policy, "omar/spread", 1, 2, seeds=7, return_mode="mean")
    cut = evaluate(policy, "omar/spread", 1, 2, seeds=7, return_mode="mean", max_steps=5)
    assert np.all(cut.lengths == 5) and np.all(full.lengths == 25)
    env = envs.make("omar/spread")
    for e in range(2):
        obs, total = env.reset(7 + e), 0.0
        for _ in range(5):
            obs, r, *_ = env.step(policy(obs[None, None])[0, 0])
            total += float(np.mean(r))
        assert np.isclose(cut.returns[0, e], total, rtol=1e-5)
    try:
        evaluate(policy, "omar/spread", 1, 1, seeds=7, max_steps=0)
    except ValueError as e:
        assert "max_steps=0" in str(e)
    else:
        raise AssertionError("max_steps=0 accepted")
