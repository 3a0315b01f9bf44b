"""The registry: every environment of the four papers is listed, built, and guarded by clear errors."""

import numpy as np
import pytest

import envs

EXPECTED = {
    "omar/spread",
    "omar/tag",
    "omar/world",
    "omar/spread1d",
    "mpe/simple_spread",
    "mpe/simple_tag",
    "mpe/simple_world_comm",
    "otc/navigation",
    "otc/predator_prey",
    "mamujoco/halfcheetah-2x3",
    "mamujoco/hopper-3x1",
    "mamujoco/walker2d-2x3",
    "mamujoco/reacher-2x1",
    "mamujoco/ant-4x2",
    "games/coordination",
    "games/cliff_grid",
    "games/nonstationary_nav",
}
# test_envs_smax.py
SMAX = {"smax/2s3z", "smax/3s_vs_3z", "smax/5m_vs_6m", "smax/10m_vs_11m", "smax/MMM_no_medivac"}


def test_names_lists_every_environment():
    assert set(envs.names()) == EXPECTED | SMAX


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as e:
        envs.make("omar/sprad")
    assert (
        "omar/sprad" in str(e.value) and "omar/spread" in str(e.value) and "games/cliff_grid" in str(e.value)
    )


def test_unknown_option_lists_valid_options():
    with pytest.raises(ValueError) as e:
        envs.make("omar/spread1d", n_agent=3)
    assert "n_agent" in str(e.value) and "n_agents" in str(e.value)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_env_builds_and_steps(name):
    env = envs.make(name)
    spec = env.spec
    assert spec.name == name
    assert spec.n_agents == len(spec.obs_dims) == len(spec.act_dims) >= 1
    obs = env.reset(0)
    assert obs.shape == (spec.n_agents, spec.obs_dim) and obs.dtype == np.float32
    assert env.state().shape == (spec.state_dim,)
    a = np.zeros((spec.n_agents, spec.act_dim), dtype=np.int64 if spec.discrete else np.float32)
    if not spec.discrete:
        a[:] = (spec.act_low + spec.act_high) / 2
    obs, r, term, trunc, info = env.step(a)
    assert r.shape == (spec.n_agents,) and isinstance(term, bool) and isinstance(trunc, bool)


def test_make_vec_seeds_each_copy():
    v = envs.make_vec("omar/spread", 3)
    obs = v.reset(seed=10)
    single = envs.make("omar/spread").reset(11)
    np.testing.assert_array_equal(obs[1], single)
    with pytest.raises(ValueError, match="n >= 1"):
        envs.make_vec("omar/spread", 0)


def test_step_after_end_and_bad_actions_raise():
    env = envs.make("games/coordination")
    env.reset(0)
    env.step(np.array([[0], [1]]))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([[0], [1]]))
    env = envs.make("omar/spread")
    env.reset(0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full((3, 2), np.nan))
