"""OMAR's particle worlds and OTC's variants (envs/particles.py): specs, episodes, determinism, PettingZoo API,
hand-computed rewards on constructed positions, the prey, option checks, and physics parity with mpe2."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from env_checks import check_determinism, check_parallel_api, check_spec_and_episode
from envs.particle_prey import flee_action

ALL = [
    ("omar/spread", {}),
    ("omar/tag", {}),
    ("omar/world", {}),
    ("omar/spread1d", {"n_agents": 1}),
    ("omar/spread1d", {"n_agents": 2}),
    ("omar/spread1d", {"n_agents": 5}),
    ("otc/navigation", {"n_agents": 3}),
    ("otc/navigation", {"n_agents": 4}),
    ("otc/navigation", {"n_agents": 6}),
    ("otc/predator_prey", {}),
]
IDS = [f"{n}-{o}" for n, o in ALL]


def _place(entities, positions):
    """Put entities at the given positions, at rest."""
    for e, p in zip(entities, positions):
        e.state.p_pos = np.array(p, dtype=np.float64)
        e.state.p_vel = np.zeros_like(e.state.p_pos)


def _rewards_here(env):
    """Every learned agent's reward for the world's current positions (the reward a step ending here gives)."""
    return np.array([env.scenario.reward(a, env.world) for a in env.learned])


# ---- specs, episodes, determinism, PettingZoo ------------------------------------------------------------
@pytest.mark.parametrize(
    "name, opts, obs_dims, state_dim, act_dim, bound, shared",
    [
        ("omar/spread", {}, (18,) * 3, 54, 2, 1.0, False),
        ("omar/tag", {}, (16,) * 3, 3 * 16 + 14, 2, 1.0, True),
        ("omar/world", {}, (24,) * 3, 3 * 24 + 22, 2, 1.0, True),
        ("omar/tag", {"prey": "scripted"}, (16,) * 3, 3 * 16 + 14, 2, 1.0, True),
        ("omar/tag", {"learn_prey": True}, (16, 16, 16, 14), 3 * 16 + 14, 2, 1.0, False),
        ("omar/world", {"learn_prey": True}, (24, 24, 24, 22), 3 * 24 + 22, 2, 1.0, False),
        ("omar/spread1d", {"n_agents": 1}, (3,), 3, 1, 1.0, False),
        ("omar/spread1d", {"n_agents": 2}, (5,) * 2, 10, 1, 1.0, False),
        ("omar/spread1d", {"n_agents": 5}, (11,) * 5, 55, 1, 1.0, False),
        ("otc/navigation", {"n_agents": 3}, (14,) * 3, 42, 2, 0.1, True),
        ("otc/navigation", {"n_agents": 6}, (26,) * 6, 156, 2, 0.1, True),
        ("otc/predator_prey", {}, (12,) * 3, 3 * 12 + 10, 2, 0.1, True),
        ("otc/predator_prey", {"n_predators": 2}, (10,) * 2, 2 * 10 + 8, 2, 0.1, True),
    ],
)
def test_spec(name, opts, obs_dims, state_dim, act_dim, bound, shared):
    spec = envs.make(name, **opts).spec
    assert spec.obs_dims == obs_dims and spec.state_dim == state_dim
    assert spec.act_dims == (act_dim,) * len(obs_dims)
    assert (spec.act_low, spec.act_high) == (-bound, bound)
    assert spec.shared_reward is shared and spec.episode_length == 25 and not spec.discrete
    assert spec.options == {**envs.options(name), **opts}


def test_agent_ids():
    assert envs.make("omar/spread").spec.agent_ids == ("agent_0", "agent_1", "agent_2")
    for name in ("omar/tag", "omar/world", "otc/predator_prey"):
        assert envs.make(name).spec.agent_ids == ("adversary_0", "adversary_1", "adversary_2")


@pytest.mark.parametrize("name, opts", ALL, ids=IDS)
def test_episode_determinism_and_api(name, opts):
    ep = check_spec_and_episode(envs.make(name, **opts), expect_len=25)
    assert np.all(np.isfinite(ep["state"]))
    check_determinism(lambda: envs.make(name, **opts))
    check_parallel_api(envs.make(name, **opts))


def test_reset_none_continues_own_stream():
    env = envs.make("omar/spread")
    a = env.reset(5)
    b = env.reset()
    c = env.reset(5)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


# ---- hand-computed rewards -------------------------------------------------------------------------------
def test_omar_spread_reward_with_collision():
    env = envs.make("omar/spread")
    env.reset(0)
    w = env.world
    # a0 and a1 are 0.2 apart (< 0.15 + 0.15: they collide); a2 is alone
    _place(w.agents, [(0.0, 0.0), (0.2, 0.0), (1.0, 1.0)])
    # landmark 0: nearest a0 at 0.5 -> 2; landmark 1: a2 at 0.05 -> min(20, 10) = 10; landmark 2: a1 at 0.25 -> 4
    _place(w.landmarks, [(0.0, 0.5), (1.0, 0.95), (0.2, -0.25)])
    np.testing.assert_allclose(_rewards_here(env), [2 + 10 + 4 - 5, 2 + 10 + 4 - 5, 2 + 10 + 4], rtol=1e-12)
    # a step reports the reward of the positions it ends in (the colliding pair is pushed apart first)
    _, r, term, trunc, _ = env.step(np.zeros((3, 2)))
    np.testing.assert_allclose(r, _rewards_here(env), rtol=1e-6)
    assert not term and not trunc and w.agents[0].state.p_pos[0] < 0.0 < 0.2 < w.agents[1].state.p_pos[0]
    # agent on a landmark: min(1/0, 10) = 10, no error
    _place(w.agents, [(0.0, 0.5), (3.0, 3.0), (-3.0, -3.0)])
    _place(w.landmarks, [(0.0, 0.5), (0.0, 1.0), (0.0, 0.0)])
    np.testing.assert_allclose(_rewards_here(env), [10 + 2 + 2] * 3, rtol=1e-12)


def _spread_reward_per_pair(scenario, agent, world) -> float:
    """The spread reward as a per-pair loop (the form it was first written in, mpe2's is_collision)."""

    def dist(a, b):
        return float(np.sqrt(np.sum(np.square(a.state.p_pos - b.state.p_pos))))

    rew = 0.0
    for lm in world.landmarks:
        d = min(dist(a, lm) for a in world.agents)
        rew += 10.0 if d <= 0.1 else 1.0 / d
    if agent.collide:
        rew -= 5.0 * sum(dist(a, agent) < a.size + agent.size and a is not agent for a in world.agents)
    return rew


@pytest.mark.parametrize("name, opts", [("omar/spread", {}), ("omar/spread1d", {"n_agents": 5})])
def test_spread_reward_is_bitwise_the_per_pair_loop(name, opts):
    # the vectorized reward equals the loop exactly, on random starts, after random steps, and on crowded
    # placements that have collisions and agents within 0.1 of a landmark (the cap)
    env = envs.make(name, **opts)
    rng = np.random.default_rng(0)
    w, sc = env.world, env.scenario
    n_checked = n_hit = n_cap = 0
    for ep in range(30):
        env.reset(ep)
        if ep % 2:  # crowd everything into a small box
            for e in [*w.agents, *w.landmarks]:
                e.state.p_pos = rng.uniform(-0.2, 0.2, w.dim_p)
        for _ in range(5):
            if ep % 2:  # crowded again before each step (contact forces push the pairs apart within a step)
                for e in [*w.agents, *w.landmarks]:
                    e.state.p_pos = rng.uniform(-0.2, 0.2, w.dim_p)
                crowded = [_spread_reward_per_pair(sc, a, w) for a in w.agents]
                assert [sc.reward(a, w) for a in w.agents] == crowded  # float64, exactly
                n_hit += any(
                    np.linalg.norm(a.state.p_pos - b.state.p_pos) < a.size + b.size
                    for a in w.agents
                    for b in w.agents
                    if a is not b
                )
            _, r, _, _, _ = env.step(rng.uniform(-1, 1, (len(w.agents), w.dim_p)))
            ref = [_spread_reward_per_pair(sc, a, w) for a in w.agents]
            assert [sc.reward(a, w) for a in w.agents] == ref  # float64, exactly
            np.testing.assert_array_equal(r, np.asarray(ref, dtype=r.dtype))
            n_checked += 1
            n_hit += any(
                np.linalg.norm(a.state.p_pos - b.state.p_pos) < a.size + b.size
                for a in w.agents
                for b in w.agents
                if a is not b
            )
            n_cap += any(
                np.linalg.norm(a.state.p_pos - lm.state.p_pos) <= 0.1 for a in w.agents for lm in w.landmarks
            )
    assert n_checked == 150 and n_hit > 10 and n_cap > 10  # both branches were exercised


def test_omar_spread_obs_layout():
    env = envs.make("omar/spread")
    env.reset(0)
    w = env.world
    _place(w.agents, [(0.1, 0.2), (0.5, -0.5), (-1.0, 0.3)])
    _place(w.landmarks, [(0.0, 0.0), (1.0, 1.0), (-0.5, 0.5)])
    obs = env._pad_obs(env._obs())
    expect0 = [0, 0, 0.1, 0.2, -0.1, -0.2, 0.9, 0.8, -0.6, 0.3, 0.4, -0.7, -1.1, 0.1, 0, 0, 0, 0]
    np.testing.assert_allclose(obs[0], expect0, atol=1e-6)


def test_omar_tag_rewards():
    env = envs.make("omar/tag")
    env.reset(0)
    w = env.world
    _place(w.landmarks, [(5.0, 5.0), (-5.0, 5.0)])
    # predator 0 is 0.1 from the prey (< 0.075 + 0.05: collision), predators 1, 2 at 0.4 and sqrt(0.01 + 1)
    _place(w.agents, [(0.0, 0.0), (0.5, 0.0), (0.0, -1.0), (0.1, 0.0)])
    dists = 0.1 + 0.4 + np.sqrt(0.01 + 1.0)
    np.testing.assert_allclose(_rewards_here(env), [-0.1 * dists + 10] * 3, rtol=1e-12)
    np.testing.assert_allclose(env.scenario.reward(w.agents[3], w), 0.1 * dists - 10, rtol=1e-12)
    # no collision, prey near the border: bound(0.95) = 0.5, bound(1.2) = exp(0.4)
    _place(w.agents, [(0.0, 0.0), (0.95, 0.0), (-1.0, -1.2), (0.95, -1.2)])
    d = [np.sqrt(0.95**2 + 1.2**2), 1.2, 1.95]
    np.testing.assert_allclose(_rewards_here(env), [-0.1 * sum(d)] * 3, rtol=1e-12)
    np.testing.assert_allclose(
        env.scenario.reward(w.agents[3], w), 0.1 * sum(d) - 0.5 - np.exp(0.4), rtol=1e-12
    )
    # a step's rewards are those of the positions it ends in
    _, r, _, _, info = env.step(np.zeros((3, 2)))
    np.testing.assert_allclose(r, _rewards_here(env), rtol=1e-6)
    np.testing.assert_allclose(info["prey_reward"], env.scenario.reward(w.agents[3], w), rtol=1e-12)


def test_omar_world_rewards_and_obs():
    env = envs.make("omar/world")
    env.reset(0)
    w = env.world
    # landmarks = [obstacle, food 0, food 1, forest 0, forest 1]
    _place(w.landmarks, [(3.0, 3.0), (0.1, 0.02), (-0.5, 0.5), (-1.0, -1.0), (3.0, -3.0)])
    # predator 0 at 0.1 from the prey (< 0.075 + 0.045: collision); prey on food 0 (0.02 < 0.045 + 0.03)
    # predator 2 in forest 0
    _place(w.agents, [(0.0, 0.0), (0.5, 0.0), (-1.0, -0.9), (0.1, 0.0)])
    obs = env._pad_obs(env._obs())
    d = [0.1, 0.4, np.sqrt(1.1**2 + 0.9**2)]
    np.testing.assert_allclose(_rewards_here(env), [-0.1 * sum(d) + 5] * 3, rtol=1e-12)
    # OMAR's simple_world.py adds 0.05 x the nearest food's distance (the original MPE subtracts it)
    np.testing.assert_allclose(
        env.scenario.reward(w.agents[3], w), 0.1 * sum(d) - 5 + 2 + 0.05 * 0.02, rtol=1e-12
    )
    # predator 2's obs: vel, pos, 5 entities rel, 3 others rel, prey vel, in_forest (forest 0 yes, forest 1 no)
    o = obs[2]
    np.testing.assert_allclose(o[2:4], [-1.0, -0.9], atol=1e-6)
    np.testing.assert_allclose(o[4:14], [4.0, 3.9, 1.1, 0.92, 0.5, 1.4, 0.0, -0.1, 4.0, -2.1], atol=1e-6)
    np.testing.assert_allclose(o[14:20], [1.0, 0.9, 1.5, 0.9, 1.1, 0.9], atol=1e-6)
    np.testing.assert_allclose(o[20:22], w.agents[3].state.p_vel, atol=1e-6)
    np.testing.assert_array_equal(o[22:24], [1.0, -1.0])
    # prey obs (22): [vel, pos, 5 entities rel, 3 predators rel, in_forest]
    p = env.scenario.observation(w.agents[3], w)
    assert p.shape == (22,)
    np.testing.assert_allclose(p[14:20], [-0.1, 0.0, 0.4, 0.0, -1.1, -0.9], atol=1e-9)
    np.testing.assert_array_equal(p[20:22], [-1.0, -1.0])


def test_omar_spread1d_reward_and_action():
    env = envs.make("omar/spread1d", n_agents=2)
    env.reset(0)
    w = env.world
    assert w.dim_p == 1
    # agents 0.2 apart (< 0.3: collide); landmark 0 at 0.3 of agent 1 -> 1/0.3, landmark 1 at 0.25 of agent 0 -> 4
    _place(w.agents, [(0.0,), (0.2,)])
    _place(w.landmarks, [(0.5,), (-0.25,)])
    np.testing.assert_allclose(_rewards_here(env), [1 / 0.3 + 4 - 5] * 2, rtol=1e-12)
    # action effect (OMAR's core): force a * 5, dt 0.1, damping 0.25, and the position moves with the new
    # velocity: v1 = 0.5 a, x1 = x0 + 0.05 a; v2 = 0.875 a, x2 = x1 + 0.0875 a
    _place(w.agents, [(-1.0,), (1.0,)])
    obs, _, _, _, _ = env.step(np.array([[1.0], [-0.5]]))
    np.testing.assert_allclose(obs[:, 0], [0.5, -0.25], atol=1e-6)  # velocity a * 5 * 0.1
    np.testing.assert_allclose([a.state.p_pos[0] for a in w.agents], [-0.95, 0.975], atol=1e-12)
    obs, _, _, _, _ = env.step(np.array([[1.0], [-0.5]]))
    np.testing.assert_allclose([a.state.p_pos[0] for a in w.agents], [-0.8625, 0.93125], atol=1e-12)
    np.testing.assert_allclose(obs[:, 0], [0.5 * 0.75 + 0.5, -(0.25 * 0.75 + 0.25)], atol=1e-6)
    # obs layout [vel, pos, 2 landmarks rel, 1 other rel]
    np.testing.assert_allclose(obs[0, 1:], [-0.8625, 1.3625, 0.6125, 1.79375], atol=1e-6)


def test_otc_navigation_velocity_and_reward():
    env = envs.make("otc/navigation", n_agents=3)
    env.reset(0)
    w = env.world
    _place(w.agents, [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)])
    _place(w.landmarks, [(0.5, 0.0), (1.0, 1.0), (-1.0, -1.0)])
    # the action is the displacement of this step; 0.5 is clipped to the bound 0.1
    _, r, _, _, _ = env.step(np.array([[0.1, 0.0], [0.0, 0.5], [-0.1, 0.05]]))
    np.testing.assert_allclose(
        [a.state.p_pos for a in w.agents], [[0.1, 0.0], [1.0, 0.1], [-0.1, 1.05]], atol=1e-12
    )
    # landmark 0: 0.4 (agent 0); landmark 1: 0.9 (agent 1); landmark 2: sqrt(1.1^2 + 1) (agent 0)
    np.testing.assert_allclose(r, [-(0.4 + 0.9 + np.sqrt(2.21))] * 3, rtol=1e-6)
    # no damping, no inertia: zero action means no motion
    env.step(np.zeros((3, 2)))
    np.testing.assert_allclose(
        [a.state.p_pos for a in w.agents], [[0.1, 0.0], [1.0, 0.1], [-0.1, 1.05]], atol=1e-12
    )


def test_otc_predator_prey_reward_and_prey():
    env = envs.make("otc/predator_prey")
    env.reset(0)
    w = env.world
    # prey in the corner: fleeing predator 0 would push it out on both axes -> it stays
    _place(w.agents, [(0.9, 0.9), (0.8, 0.95), (0.0, 0.0), (0.95, 0.95)])
    _, r, _, _, info = env.step(np.array([[0.0, 0.0], [0.1, 0.0], [0.1, 0.1]]))
    np.testing.assert_allclose(w.agents[3].state.p_pos, [0.95, 0.95])
    # predator 0 at sqrt(2) * 0.05, predator 1 at 0.05 (both < 0.1), predator 2 far: +1 each, shared
    np.testing.assert_array_equal(r, [2.0, 2.0, 2.0])
    assert info["prey_reward"] == -2.0
    # in the open the prey moves 0.15 per step straight away from the nearest predator
    _place(w.agents, [(0.0, 0.0), (-0.5, -0.5), (0.5, 0.9), (0.3, 0.4)])
    _, r, _, _, _ = env.step(np.zeros((3, 2)))
    np.testing.assert_allclose(w.agents[3].state.p_pos, [0.3 + 0.15 * 0.6, 0.4 + 0.15 * 0.8], atol=1e-12)
    np.testing.assert_array_equal(r, [0.0, 0.0, 0.0])


# ---- the prey ----------------------------------------------------------------------------------------------
def test_flee_action():
    for turn in (True, False):
        np.testing.assert_allclose(flee_action(np.zeros(2), [[0.3, 0.4], [1.0, 1.0]], turn), [-0.6, -0.8])
        # inward components are kept at the edge
        np.testing.assert_allclose(flee_action(np.array([0.95, 0.0]), [[0.3, 0.4]], turn), [-0.6, -0.8])
    # at x = 0.95 the outward x component is reversed (OMAR, inertia) or dropped (OTC, velocity control)
    np.testing.assert_allclose(
        flee_action(np.array([0.95, 0.0]), [[-0.3, 0.4], [2.0, 2.0]], True), [-0.6, -0.8]
    )
    np.testing.assert_allclose(
        flee_action(np.array([0.95, 0.0]), [[-0.3, 0.4], [2.0, 2.0]], False), [0.0, -0.8]
    )
    np.testing.assert_allclose(flee_action(np.array([-0.9, -0.9]), [[0.3, 0.4]], True), [0.6, 0.8])


@pytest.mark.parametrize("name, obs_dim", [("omar/tag", 14), ("omar/world", 22)])
def test_prey_policy_is_called_and_moves_the_prey(name, obs_dim):
    calls = []

    def policy(obs):
        calls.append(obs.copy())
        return np.array([1.0, -3.0])  # clipped to [1, -1]

    env = envs.make(name, prey_policy=policy)
    env.reset(1)
    w = env.world
    _place(w.agents, [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (0.0, 0.0)])
    _place(w.landmarks, [(5.0 + i, 5.0) for i in range(len(w.landmarks))])
    env.step(np.zeros((3, 2)))
    env.step(np.zeros((3, 2)))
    assert len(calls) == 2 and calls[0].shape == (obs_dim,) and calls[0].dtype == np.float32
    np.testing.assert_allclose(calls[0][2:4], [0.0, 0.0])  # the prey's own position, before the step
    # force = a * 4 * 4 (sensitivity x accel, OMAR's core): speed 1.6·√2 in each step, capped at max_speed 1.3
    # along a; the position moves with the new velocity: 2 steps x 0.1 x 1.3 along (1, -1)/√2
    np.testing.assert_allclose(w.agents[3].state.p_pos, 0.26 * np.array([1.0, -1.0]) / np.sqrt(2), atol=1e-12)
    # the predators did not move
    np.testing.assert_allclose(w.agents[0].state.p_pos, [-1.0, -1.0])

    env = envs.make(name, prey_policy=lambda obs: np.zeros(3))
    env.reset(0)
    with pytest.raises(ValueError, match="prey_policy returned"):
        env.step(np.zeros((3, 2)))


def test_default_prey_flees():
    env = envs.make("omar/tag")
    env.reset(0)
    w = env.world
    _place(w.landmarks, [(5.0, 5.0), (-5.0, 5.0)])
    _place(w.agents, [(0.3, 0.4), (-1.0, 1.0), (1.0, -1.0), (0.0, 0.0)])
    env.step(np.zeros((3, 2)))
    env.step(np.zeros((3, 2)))
    # away from predator 0 (unit (-0.6, -0.8)), force 16: at the max speed 1.3 from the first step on
    np.testing.assert_allclose(w.agents[3].state.p_pos, [-0.6 * 0.26, -0.8 * 0.26], atol=1e-12)
    # at the edge x = 0.95 fleeing (0.6, -0.8) turns into (-0.6, -0.8): the prey brakes back inside
    _place(w.agents, [(0.65, 0.4), (-1.0, 1.0), (-1.0, -1.0), (0.95, 0.0)])
    _, _, _, _, info = env.step(np.zeros((3, 2)))
    np.testing.assert_allclose(info["prey_action"], [-0.6, -0.8], atol=1e-6)
    np.testing.assert_allclose(w.agents[3].state.p_pos, [0.95 - 0.6 * 0.13, -0.8 * 0.13], atol=1e-12)


# ---- options -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, opts, match",
    [
        ("omar/spread1d", {"n_agents": 0}, "n_agents=0"),
        ("omar/spread1d", {"n_agents": 6}, "1..5"),
        ("omar/spread1d", {"n_agents": 2.0}, "n_agents=2.0"),
        ("omar/spread1d", {"n_agents": True}, "n_agents=True"),
        ("otc/navigation", {"n_agents": 0}, ">= 1"),
        ("otc/predator_prey", {"n_predators": -1}, "n_predators=-1"),
        ("omar/tag", {"prey_policy": "flee"}, "prey_policy='flee'"),
        ("omar/world", {"prey_policy": 3}, "callable"),
        ("omar/tag", {"prey": "v0"}, "prey must be one of 'scripted', 'v2'"),
        ("omar/world", {"learn_prey": "yes"}, "learn_prey='yes'"),
        ("omar/spread", {"n_agents": 3}, "unknown option"),
    ],
)
def test_bad_options(name, opts, match):
    with pytest.raises(ValueError, match=match):
        envs.make(name, **opts)


# Physics parity is against OMAR's own code now (tests/test_envs_omar_parity.py): OMAR's core is the original
# MPE's semi-implicit Euler with force mass·accel·u, not mpe2's. The mpe/* envs keep mpe2's core and are
# tested against mpe2 in tests/test_envs_farama_mpe.py.
