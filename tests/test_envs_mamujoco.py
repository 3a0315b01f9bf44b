"""mamujoco/* : Gymnasium-Robotics MaMuJoCo with the papers' observation modes; proven by step-by-step parity
against the wrapped mamujoco_v1 env (MaMuJoCo's own modes) or the single-agent Gymnasium v5 env (our modes),
and by the inverse map (single-agent data -> per-agent arrays) reproducing what the env produced."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest

import envs
from env_checks import check_determinism, check_parallel_api, check_spec_and_episode, random_actions, rollout
from envs.mamujoco import MaMuJoCoEnv, join_actions, split_transitions

# The index sets written out by hand from the papers' code, independent of envs/mamujoco.py's construction
# of them: docs/omar_official_code.md#halfcheetah; docs/cast_bcq_official_code.md#observation-split (in our
# own-first order); docs/moma_ppo_official_code.md#reacher and docs/moma_ppo_official_code.md#ant (MOMA-PPO's
# obs_mapping/{reacher,ant}.py).
HC_CAST = [
    [4, 13, 3, 12, 2, 11, 7, 16, 6, 15, 5, 14, 0, 1, 8, 9, 10],
    [7, 16, 6, 15, 5, 14, 4, 13, 3, 12, 2, 11, 0, 1, 8, 9, 10],
]
# I-BCQ, ICQ-MA
HC_OWN_PUBLIC = [[4, 13, 3, 12, 2, 11, 0, 1, 8, 9, 10], [7, 16, 6, 15, 5, 14, 0, 1, 8, 9, 10]]
HC_NATIVE = [[4, 13, 3, 12, 2, 11, 5, 0, 1, 8, 9, 10], [7, 16, 6, 15, 5, 14, 2, 0, 1, 8, 9, 10]]
ANT_TORSO = [0, 1, 2, 3, 4, 16, 17, 18, 13, 14, 15]
EXPECTED_OBS = {
    ("mamujoco/halfcheetah-2x3", "omar"): [[4, 13, 3, 12, 2, 11], [7, 16, 6, 15, 5, 14]],
    ("mamujoco/halfcheetah-2x3", "cast_bcq"): HC_CAST,
    ("mamujoco/halfcheetah-2x3", "own_public"): HC_OWN_PUBLIC,
    ("mamujoco/halfcheetah-2x3", "otc"): [list(range(17))] * 2,
    ("mamujoco/halfcheetah-2x3", "mamujoco"): HC_NATIVE,
    ("mamujoco/walker2d-2x3", "cast_bcq"): HC_CAST,
    ("mamujoco/walker2d-2x3", "own_public"): HC_OWN_PUBLIC,
    ("mamujoco/walker2d-2x3", "otc"): [list(range(17))] * 2,
    ("mamujoco/walker2d-2x3", "mamujoco"): HC_NATIVE,
    ("mamujoco/hopper-3x1", "cast_bcq"): [
        [2, 8, 3, 9, 4, 10, 0, 1, 5, 6, 7],
        [3, 9, 2, 8, 4, 10, 0, 1, 5, 6, 7],
        [4, 10, 2, 8, 3, 9, 0, 1, 5, 6, 7],
    ],
    ("mamujoco/hopper-3x1", "own_public"): [
        [2, 8, 0, 1, 5, 6, 7],
        [3, 9, 0, 1, 5, 6, 7],
        [4, 10, 0, 1, 5, 6, 7],
    ],
    ("mamujoco/hopper-3x1", "otc"): [list(range(11))] * 3,
    ("mamujoco/hopper-3x1", "mamujoco"): [
        [2, 8, 3, 0, 1, 5, 6, 7],
        [3, 9, 4, 2, 0, 1, 5, 6, 7],
        [4, 10, 3, 0, 1, 5, 6, 7],
    ],
    ("mamujoco/reacher-2x1", "leader-only"): [[0, 2, 6, 1, 3, 7, 4, 5], [0, 2, 6, 1, 3, 7]],
    ("mamujoco/reacher-2x1", "independent"): [[0, 2, 6, 4, 5], [1, 3, 7, 4, 5]],
    ("mamujoco/reacher-2x1", "full"): [list(range(10))] * 2,
    ("mamujoco/ant-4x2", "partial"): [
        ANT_TORSO + [5, 19, 6, 20],
        [7, 21, 8, 22],
        [9, 23, 10, 24],
        [11, 25, 12, 26],
    ],
    ("mamujoco/ant-4x2", "full"): [list(range(27))] * 4,
}
CASES = sorted(EXPECTED_OBS)
# per task: (v5 id, v5 kwargs, global action index of each agent's local dims, state dim, episode length)
TASKS = {
    "mamujoco/halfcheetah-2x3": ("HalfCheetah-v5", {}, [[0, 1, 2], [3, 4, 5]], 17, 1000),
    "mamujoco/walker2d-2x3": ("Walker2d-v5", {}, [[2, 1, 0], [5, 4, 3]], 17, 1000),
    "mamujoco/hopper-3x1": ("Hopper-v5", {}, [[0], [1], [2]], 11, 1000),
    "mamujoco/reacher-2x1": ("Reacher-v5", {}, [[0], [1]], 10, 50),
    "mamujoco/ant-4x2": (
        "Ant-v5",
        {"include_cfrc_ext_in_observation": False},
        [[2, 3], [4, 5], [6, 7], [0, 1]],
        27,
        1000,
    ),
}
# MaMuJoCo's own modes: the mamujoco_v1.parallel_env arguments they stand for
NATIVE = {
    ("mamujoco/halfcheetah-2x3", "omar"): ("HalfCheetah", "2x3", {"agent_obsk": 0, "global_categories": ()}),
    ("mamujoco/halfcheetah-2x3", "mamujoco"): ("HalfCheetah", "2x3", {}),
    ("mamujoco/walker2d-2x3", "mamujoco"): ("Walker2d", "2x3", {}),
    ("mamujoco/hopper-3x1", "mamujoco"): ("Hopper", "3x1", {}),
}
IDS = [f"{n.split('/')[1]}-{m}" for n, m in CASES]


def _make(name, mode):
    return envs.make(name, obs_mode=mode)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("name,mode", CASES, ids=IDS)
def test_spec_and_index_sets(name, mode):
    env = _make(name, mode)
    _, _, act_index, state_dim, length = TASKS[name]
    s = env.spec
    expected = EXPECTED_OBS[(name, mode)]
    assert [ix.tolist() for ix in env.obs_index] == expected
    assert [ix.tolist() for ix in env.act_index] == act_index
    assert s.obs_dims == tuple(len(ix) for ix in expected) and s.act_dims == tuple(
        len(ix) for ix in act_index
    )
    assert s.agent_ids == tuple(f"agent_{i}" for i in range(len(act_index)))
    assert s.state_dim == state_dim and s.episode_length == length and s.shared_reward and not s.discrete
    assert (s.act_low, s.act_high) == (-1.0, 1.0) and s.options == {"obs_mode": mode}
    if name == "mamujoco/reacher-2x1":
        assert s.ref_scores == {"random": -11.144625, "expert": -4.2370844}
    # each agent's actuators are the joints of the leg / segment it observes
    labels = [[n.label for n in part] for part in env.raw.agent_action_partitions]
    if name == "mamujoco/halfcheetah-2x3":
        assert labels == [["bthigh", "bshin", "bfoot"], ["fthigh", "fshin", "ffoot"]]
    if name == "mamujoco/ant-4x2":
        assert labels == [["hip1", "ankle1"], ["hip2", "ankle2"], ["hip3", "ankle3"], ["hip4", "ankle4"]]
        model = env.raw.single_agent_env.unwrapped.model
        actuated = [[model.joint(int(model.actuator_trnid[j, 0])).name for j in ix] for ix in act_index]
        assert actuated == [
            ["hip_1", "ankle_1"],
            ["hip_2", "ankle_2"],
            ["hip_3", "ankle_3"],
            ["hip_4", "ankle_4"],
        ]


def test_defaults_and_bad_obs_mode():
    defaults = {
        "mamujoco/halfcheetah-2x3": "omar",
        "mamujoco/hopper-3x1": "cast_bcq",
        "mamujoco/walker2d-2x3": "cast_bcq",
        "mamujoco/reacher-2x1": "leader-only",
        "mamujoco/ant-4x2": "partial",
    }
    for name, mode in defaults.items():
        assert envs.options(name) == {"obs_mode": mode}
        allowed = sorted({m for n, m in CASES if n == name})
        with pytest.raises(ValueError, match="allowed obs modes") as err:
            envs.make(name, obs_mode="nope")
        assert all(m in str(err.value) for m in allowed) and "'nope'" in str(err.value)


@pytest.mark.parametrize("name,mode", CASES, ids=IDS)
def test_random_episode(name, mode):
    env = _make(name, mode)
    never_ends_early = name in ("mamujoco/halfcheetah-2x3", "mamujoco/reacher-2x1")
    ep = check_spec_and_episode(env, expect_len=env.spec.episode_length if never_ends_early else None)
    assert np.all(ep["rewards"] == ep["rewards"][:, :1])  # one team reward
    # random actions fall over long before 1000 steps
    if name in ("mamujoco/hopper-3x1", "mamujoco/walker2d-2x3"):
        assert ep["terminated"] and len(ep["rewards"]) < 1000


@pytest.mark.parametrize("name,mode", CASES, ids=IDS)
def test_determinism(name, mode):
    check_determinism(lambda: _make(name, mode))


@pytest.mark.parametrize("name,mode", CASES, ids=IDS)
def test_parallel_api(name, mode):
    check_parallel_api(_make(name, mode), num_cycles=100)


def _reference(name, mode):
    """The env we wrap, built independently: mamujoco_v1 for MaMuJoCo's modes, else the v5 single-agent env."""
    if (name, mode) in NATIVE:
        from gymnasium_robotics import mamujoco_v1

        scenario, conf, kw = NATIVE[(name, mode)]
        return "mamujoco", mamujoco_v1.parallel_env(scenario, conf, **kw)
    env_id, kw, *_ = TASKS[name]
    return "gym", gymnasium.make(env_id, **kw)


@pytest.mark.parametrize("name,mode", CASES, ids=IDS)
def test_step_parity_with_wrapped_env(name, mode):
    env = _make(name, mode)
    kind, ref = _reference(name, mode)
    _, _, act_index, _, _ = TASKS[name]
    expected_idx = EXPECTED_OBS[(name, mode)]
    spec = env.spec
    rng = np.random.default_rng(7)
    for seed in (0, 1):
        obs = env.reset(seed)
        if kind == "mamujoco":
            ref_obs, _ = ref.reset(seed=seed)
            ref_state = ref.state()
        else:
            ref_state, _ = ref.reset(seed=seed)
        done = False
        while not done:
            np.testing.assert_array_equal(env.state(), ref_state.astype(np.float32))
            for i, ix in enumerate(expected_idx):  # obs = the documented selection of the state
                np.testing.assert_array_equal(obs[i, : len(ix)], env.state()[ix])
                assert np.all(obs[i, len(ix) :] == 0)
            if kind == "mamujoco":  # MaMuJoCo's own obs, and its own state -> obs map
                local = ref.map_global_state_to_local_observations(ref_state)
                for i, a in enumerate(spec.agent_ids):
                    mine = obs[i, : spec.obs_dims[i]]
                    np.testing.assert_array_equal(mine, local[a].astype(np.float32))
                    want = ref_obs[a]
                    if name == "mamujoco/walker2d-2x3":  # MaMuJoCo's step obs skip Walker2d-v5's qvel clip
                        want = np.where(env.obs_index[i] >= 8, np.clip(want, -10, 10), want)
                    np.testing.assert_array_equal(mine, want.astype(np.float32))
            a = rng.uniform(-1, 1, size=(spec.n_agents, spec.act_dim))
            obs, r, term, trunc, _ = env.step(a)
            if kind == "mamujoco":
                local = {ag: a[i, : spec.act_dims[i]] for i, ag in enumerate(spec.agent_ids)}
                ref_obs, rr, rt, rtr, _ = ref.step(local)
                ref_state = ref.state()
                ref_r, ref_term, ref_trunc = rr["agent_0"], rt["agent_0"], rtr["agent_0"]
            else:
                joint = np.zeros(ref.action_space.shape[0])
                for i, ix in enumerate(act_index):
                    joint[ix] = a[i, : len(ix)]
                ref_state, ref_r, ref_term, ref_trunc, _ = ref.step(joint)
            np.testing.assert_array_equal(r, np.full(spec.n_agents, ref_r, dtype=np.float32))
            assert (term, trunc) == (bool(ref_term), bool(ref_trunc))
            done = term or trunc
        np.testing.assert_array_equal(env.state(), ref_state.astype(np.float32))


@pytest.mark.parametrize("name,mode", CASES, ids=IDS)
def test_inverse_map_reproduces_rollout(name, mode):
    env = _make(name, mode)
    ep = rollout(env, seed=5, action_seed=2, max_steps=300)
    spec = env.spec
    # the joint (single-agent) actions the v5 env received
    joint = np.clip(env.join(ep["actions"].astype(np.float64)), -1, 1)
    obs_n, act_n = env.split(ep["state"], joint)
    np.testing.assert_array_equal(obs_n, ep["obs"])  # every obs of the episode, the reset one included
    np.testing.assert_array_equal(act_n, ep["actions"].astype(np.float64))
    # the module functions, by name with options and by env
    o2, a2 = split_transitions(name, ep["state"], joint, obs_mode=mode)
    np.testing.assert_array_equal(o2, obs_n)
    np.testing.assert_array_equal(a2, act_n)
    # join(split(a)) == a exactly, for any float joint action
    g = np.random.default_rng(0).normal(size=(64, env.joint_act_dim))
    for dt in (np.float64, np.float32):
        np.testing.assert_array_equal(join_actions(env, env.split_actions(g.astype(dt))), g.astype(dt))
        assert env.split_actions(g.astype(dt)).dtype == dt
    assert np.all(env.split_actions(g)[:, ~spec.act_mask()] == 0)
    # agree with MaMuJoCo's own single-row helpers where they apply
    for t in range(3):
        local = env.raw.map_global_action_to_local_actions(g[t])
        for i, a in enumerate(spec.agent_ids):
            np.testing.assert_array_equal(env.split_actions(g[t])[i, : spec.act_dims[i]], local[a])
        np.testing.assert_array_equal(env.raw.map_local_actions_to_global_action(local), g[t])
        if env.native:
            s64 = env.raw.state()
            loc = env.raw.map_global_state_to_local_observations(s64)
            for i, a in enumerate(spec.agent_ids):
                np.testing.assert_array_equal(
                    env.split_obs(s64)[i, : spec.obs_dims[i]], loc[a].astype(np.float32)
                )


def test_inverse_map_shapes_and_foreign_layouts():
    env = _make("mamujoco/ant-4x2", "partial")
    s = np.random.default_rng(1).normal(size=(5, 111))  # D4RL ant-v2: 27 + 84 contact forces
    np.testing.assert_array_equal(env.split_obs(s), env.split_obs(s[:, :27]))
    np.testing.assert_array_equal(env.split_obs(s[:, :105]), env.split_obs(s[:, :27]))
    assert env.split_obs(s[0, :27]).shape == (4, 15)  # a single row works too
    with pytest.raises(ValueError, match="27 columns"):
        env.split_obs(s[:, :30])
    with pytest.raises(ValueError, match="8 columns"):
        env.split_actions(np.zeros((5, 6)))
    reacher = _make("mamujoco/reacher-2x1", "full")
    r11 = np.random.default_rng(2).normal(size=(4, 11))  # gym-v2 Reacher obs (MOMA-PPO's datasets)
    np.testing.assert_array_equal(reacher.split_obs(r11), reacher.split_obs(r11[:, :10]))
    with pytest.raises(ValueError):
        split_transitions(env, s, np.zeros((5, 8)), obs_mode="full")  # options only with a name
    with pytest.raises(ValueError):
        split_transitions("mpe/simple_spread", s, np.zeros((5, 8)))


def test_walker_and_hopper_pass_termination_through():
    env = _make("mamujoco/hopper-3x1", "otc")
    env.reset(0)
    term = trunc = False
    while not (term or trunc):
        _, _, term, trunc, info = env.step(np.ones((3, 1)))
    assert term and not trunc and env.t < 1000
    with pytest.raises(RuntimeError):
        env.step(np.zeros((3, 1)))
    assert random_actions(env.spec, np.random.default_rng(0)).shape == (3, 1)
    assert isinstance(env, MaMuJoCoEnv) and "mamujoco" in info
