"""mpe/* : Farama MPE through mpe2, unchanged; proven by step-by-step parity against the raw mpe2 env."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import envs
from env_checks import check_determinism, check_parallel_api, check_spec_and_episode, random_actions

# name -> (mpe2 module, options, agents, obs dims, act dims, state dim)   (docs/stack.md#mpe-through-mpe2, table)
CASES = {
    "mpe/simple_spread": (
        "mpe2.simple_spread_v3",
        dict(N=3, local_ratio=0.5, max_cycles=25),
        ("agent_0", "agent_1", "agent_2"),
        (18, 18, 18),
        (5, 5, 5),
        54,
    ),
    "mpe/simple_tag": (
        "mpe2.simple_tag_v3",
        dict(num_good=1, num_adversaries=3, num_obstacles=2, max_cycles=25),
        ("adversary_0", "adversary_1", "adversary_2", "agent_0"),
        (16, 16, 16, 14),
        (5, 5, 5, 5),
        62,
    ),
    "mpe/simple_world_comm": (
        "mpe2.simple_world_comm_v3",
        dict(num_good=2, num_adversaries=4, num_obstacles=1, num_food=2, num_forests=2, max_cycles=25),
        ("leadadversary_0", "adversary_0", "adversary_1", "adversary_2", "agent_0", "agent_1"),
        (34, 34, 34, 34, 28, 28),
        (9, 5, 5, 5, 5, 5),
        192,
    ),
}
NAMES = sorted(CASES)


@pytest.mark.parametrize("name", NAMES)
def test_spec_matches_mpe2_defaults(name):
    _, opts, agents, obs_dims, act_dims, state_dim = CASES[name]
    env = envs.make(name)
    s = env.spec
    assert envs.options(name) == opts and s.options == opts
    assert s.agent_ids == agents and s.obs_dims == obs_dims and s.act_dims == act_dims
    assert s.state_dim == state_dim and s.episode_length == 25
    assert (s.act_low, s.act_high) == (0.0, 1.0) and not s.discrete
    assert s.obs_dim == max(obs_dims) and s.act_dim == max(act_dims)


@pytest.mark.parametrize("name", NAMES)
def test_random_episode_runs_to_max_cycles(name):
    env = envs.make(name)
    ep = check_spec_and_episode(env, expect_len=25)
    # state() is mpe2's state: the concatenation of the (unpadded) per-agent observations
    mask = env.spec.obs_mask()
    np.testing.assert_array_equal(ep["state"][0], ep["obs"][0][mask])
    with pytest.raises(RuntimeError):
        env.step(random_actions(env.spec, np.random.default_rng(0)))


@pytest.mark.parametrize("name", NAMES)
def test_determinism(name):
    check_determinism(lambda: envs.make(name), seed=3)


@pytest.mark.parametrize("name", NAMES)
def test_parallel_api(name):
    check_parallel_api(envs.make(name), num_cycles=60)


def _raw(name, **opts):
    module, defaults, *_ = CASES[name]
    return importlib.import_module(module).parallel_env(continuous_actions=True, **{**defaults, **opts})


@pytest.mark.parametrize("name", NAMES)
def test_step_by_step_parity_with_raw_mpe2(name):
    """Same seed, same actions: obs, rewards, terminations/truncations and state equal mpe2's at every step."""
    ours, raw = envs.make(name), _raw(name)
    spec = ours.spec
    agents = list(spec.agent_ids)
    assert agents == list(raw.possible_agents)
    rng = np.random.default_rng(123)
    for episode in range(4):
        seed = 1000 + episode
        o_ours = ours.reset(seed)
        o_raw, _ = raw.reset(seed=seed)
        for i, a in enumerate(agents):
            np.testing.assert_array_equal(o_ours[i, : spec.obs_dims[i]], o_raw[a])  # float32 both
        np.testing.assert_array_equal(ours.state(), raw.state())
        done = False
        steps = 0
        while not done:
            act = random_actions(spec, rng)  # float32 in [0, 1], padded entries 0
            o_ours, r_ours, term, trunc, _ = ours.step(act)
            raw_act = {a: act[i, : spec.act_dims[i]] for i, a in enumerate(agents)}
            o_raw, r_raw, term_raw, trunc_raw, _ = raw.step(raw_act)
            steps += 1
            for i, a in enumerate(agents):
                np.testing.assert_array_equal(o_ours[i, : spec.obs_dims[i]], o_raw[a])  # float32 both
                assert np.all(o_ours[i, spec.obs_dims[i] :] == 0)
                np.testing.assert_allclose(r_ours[i], r_raw[a], rtol=1e-6, atol=1e-6)
                assert term_raw[a] == term and trunc_raw[a] == trunc
            np.testing.assert_array_equal(ours.state(), raw.state())
            done = term or trunc
        assert steps == 25 and trunc and not term and raw.agents == []


def test_parity_with_non_default_options():
    ours = envs.make("mpe/simple_spread", N=2, local_ratio=0.0, max_cycles=7)
    raw = _raw("mpe/simple_spread", N=2, local_ratio=0.0, max_cycles=7)
    assert ours.spec.n_agents == 2 and ours.spec.episode_length == 7
    rng = np.random.default_rng(5)
    o_ours, (o_raw, _) = ours.reset(9), raw.reset(seed=9)
    np.testing.assert_allclose(o_ours[0], o_raw["agent_0"], atol=1e-6)
    for t in range(7):
        act = random_actions(ours.spec, rng)
        o_ours, r, term, trunc, _ = ours.step(act)
        o_raw, r_raw, _, trunc_raw, _ = raw.step({a: act[i] for i, a in enumerate(raw.possible_agents)})
        np.testing.assert_allclose(r, [r_raw[a] for a in raw.possible_agents], atol=1e-6)
        assert trunc == (t == 6) == trunc_raw["agent_0"]


def test_out_of_box_actions_are_clipped():
    a, b = envs.make("mpe/simple_spread"), envs.make("mpe/simple_spread")
    a.reset(0), b.reset(0)
    act = np.full((3, 5), 0.3, dtype=np.float32)
    big = act.copy()
    big[:, 2] = 7.0  # clipped to 1
    big[:, 1] = -3.0  # clipped to 0
    ref = act.copy()
    ref[:, 2], ref[:, 1] = 1.0, 0.0
    np.testing.assert_array_equal(a.step(big)[0], b.step(ref)[0])


@pytest.mark.parametrize(
    "name, opts, word",
    [
        ("mpe/simple_spread", dict(N=0), "N=0"),
        ("mpe/simple_spread", dict(local_ratio=1.5), "local_ratio=1.5"),
        ("mpe/simple_spread", dict(max_cycles=0), "max_cycles=0"),
        ("mpe/simple_tag", dict(num_adversaries=2.5), "num_adversaries=2.5"),
        ("mpe/simple_world_comm", dict(num_food=-1), "num_food=-1"),
        ("mpe/simple_tag", dict(num_food=2), "num_food"),
    ],
)
def test_bad_options_raise(name, opts, word):
    with pytest.raises(ValueError, match=word.replace(".", r"\.")):
        envs.make(name, **opts)
