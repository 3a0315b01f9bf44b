"""OMAR's modified particle worlds and OTC's particle variants, built on mpe2's entities and scenarios: the env
and its factories. The physics and scenarios are in envs/particle_worlds.py, the fixed prey in envs/particle_prey.py.

    omar/spread      OMAR's Cooperative Navigation                                   3 agents, obs 18
    omar/tag         OMAR's Predator-Prey: 3 learned predators + 1 fixed prey        obs 16 (prey 14)
    omar/world       OMAR's World: 3 learned predators + 1 fixed prey, no comm       obs 24 (prey 22)
    omar/spread1d    OMAR's motivating example (Section 3.1): n agents on a line     obs 2n+1
    otc/navigation   OTC's Cooperative Navigation (appendix "Experiment Settings")   obs 4N+2
    otc/predator_prey OTC's Predator-Prey with a rule-based faster prey              obs 2n+6 (prey 2n+4)

OMAR's worlds as its official code defines them: docs/omar_official_code.md#particle-environments.

Every scenario SUBCLASSES mpe2's (``mpe2.simple_spread``, ``simple_tag``, ``simple_world_comm``) and every
step runs mpe2's ``World.step`` (dt 0.1, damping 0.25, contact force 100, margin 1e-3) with the force and
integrator of the world's class: OMAR's worlds run :class:`OmarWorld`, the physics of OMAR's own
``multiagent/core.py`` (force mass·accel·u on top of the env's sensitivity scaling; damp, add force, cap the
speed, then move with the new velocity), which is not mpe2's; OTC's run :class:`VelocityWorld`. Parity with
OMAR's code is tested by replaying episodes recorded from it (``tests/test_envs_omar_parity.py``, observations
and rewards within 1e-6 at every step). Besides the physics, the action conversion, the rewards and OMAR's
observation changes differ from mpe2.

OMAR action convention (OMAR's ``multiagent/environment.py``, ``discrete_action=False``): each agent's action
is ``a in [-1, 1]^2``, ``u = a * sensitivity`` with sensitivity = ``agent.accel`` if set else 5.0, and OMAR's
core then applies the force ``mass * accel * u`` (``mass * u`` without accel): spread 5a, predators 9a, prey 16a
(mpe2 would apply u itself: 3a and 4a). No communication action (every agent is silent).

OMAR rewards are per agent and not shared (``shared_reward = False`` in OMAR's env); in tag and world the
predator reward is a team quantity, identical for all predators, so those specs say ``shared_reward=True``.
No env terminates; the base class truncates after 25 steps (OMAR's training/eval loop horizon).

Fixed prey (tag, world; OTC's prey works the same way with its own rule, see below) is part of the env
dynamics: it is an mpe2 *scripted* agent (``action_callback``), so ``World.step`` sets its action from the
state before the step, exactly as OMAR's env did when the frozen prey acted on the previous observation.
``prey_policy(obs) -> action in [-1, 1]^2`` maps the prey's own observation to its action (clipped to
[-1, 1]); the prey's force is ``action * 4.0 * 4.0`` (sensitivity, then OMAR's accel factor).
OMAR's real prey is a pretrained DDPG network shipped only in OMAR's dataset archives; ``prey_policy=None``
uses :func:`flee_action` instead: the unit vector away from the nearest predator, with any component that
would push the prey further out once ``|x| >= 0.9`` on that axis (where its boundary penalty starts)
reversed, so the scripted prey does not simply run off the map (the learned prey is penalised for doing so).
The prey's reward (OMAR's formula) is returned in ``info["prey_reward"]``.

Prey options of tag and world (JSON-able, so a dataset spec or evaluation config can name the prey):
- ``prey="scripted"`` (default): :func:`flee_action` as above, or ``prey_policy`` when one is given.
- ``prey="v2"``: our frozen learned prey, trained online by MATD3 against learning predators in OMAR's physics
  (``python -m papers.omar.prey``, card ``envs/assets/prey/<tag|world>-v2.json``; v1, trained in mpe2's
  physics, was dropped with it). Its actor is loaded from ``envs/assets/prey/<tag|world>-v2.npz`` after its sha256 is checked against ``manifest.json`` and is run in
  numpy (:class:`NumpyActor`: [input BatchNorm, eval mode] -> (Linear -> ReLU)* -> Linear -> tanh), in float64.
- ``learn_prey=True`` (training only): no fixed prey; the prey is a 4th, last agent (``agent_0``, obs 14 / 22
  padded to the predators' 16 / 24) that takes actions like the predators (force a · 4.0) and whose reward
  is the prey reward (also in ``info["prey_reward"]``); ``shared_reward`` is then False.

``state()`` everywhere is the concatenation of every world agent's observation, the prey's included, in
world order (predators first, prey last); this is mpe2's ``SimpleEnv.state()`` convention.

Seeding: ``reset(seed)`` starts a fresh ``np.random.default_rng(seed)`` (identical to mpe2's
``gymnasium.utils.seeding.np_random(seed)``) and draws the initial state with the scenario's ``reset_world``;
``reset(None)`` continues the env's own stream. Nothing uses the global ``np.random`` (no motor noise).

OTC variants (OTC appendix "Experiment Settings"; no official code exists, so where the paper is silent the
choices below are ours): the action ``a in [-0.1, 0.1]^2`` is the agent's velocity expressed as its
displacement per step. We set ``u = a / dt`` and step a :class:`VelocityWorld` (mpe2's World whose integrator
sets ``p_vel = u`` and ``p_pos += p_vel * dt``), so ``p_pos_{t+1} = p_pos_t + a_t`` exactly: no inertia,
damping, mass or contact forces (OTC entities do not collide). Initial positions are mpe2's (uniform in
[-1, 1]^2). Team reward, shared by all agents; 25-step episodes (MPE's usual horizon; OTC does not say).
- navigation: N agents, N landmarks, reward −Σ_j min_i dist(agent i, landmark j); obs = mpe2 spread's
  layout without the always-zero comm, [vel, pos, N landmarks rel, N−1 others rel] (4N+2).
- predator_prey: n predators, no obstacles; reward +1 for each predator within 0.1 of the prey. The
  rule-based prey moves ``OTC_PREY_SPEED = 0.15`` per step (faster than a predator's largest step,
  0.1·√2 ≈ 0.141) along :func:`flee_action` with ``turn=False`` (outward components at |x| >= 0.9 are
  dropped, so it stops at the edge and can be cornered). Obs = mpe2 simple_tag's layout without landmarks:
  predator [vel, pos, n−1 predators rel, prey rel, prey vel] (2n+6), prey [vel, pos, n predators rel].
"""

from __future__ import annotations

import numbers

import numpy as np
from mpe2._mpe_utils.core import Action, Agent, World

from envs.base import EnvSpec, MultiAgentEnv
from envs.particle_prey import PreyPolicy, flee_policy, prey_options
from envs.particle_worlds import (
    OmarSpreadScenario,
    OmarTagScenario,
    OmarWorldScenario,
    OtcNavigationScenario,
    OtcPredatorPreyScenario,
)

EPISODE_LENGTH = 25  # OMAR's loop horizon and mpe2's max_cycles default; OTC does not say (we use the same)


# ---- option checks -------------------------------------------------------------------------------------
def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    ok = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    ok = ok and value >= lo and (hi is None or value <= hi)
    if not ok:
        allowed = f"an integer in {lo}..{hi}" if hi is not None else f"an integer >= {lo}"
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be {allowed}")
    return int(value)


# ---- the env -------------------------------------------------------------------------------------------
class ParticleEnv(MultiAgentEnv):
    """One mpe2 world behind the array boundary. ``learned`` agents take our actions; a prey, if any, is an
    mpe2 scripted agent driven by ``prey_policy`` (see the module docstring).

    ``action_mode``: "force" (OMAR: u = a · sensitivity) or "velocity" (OTC: u = a / dt, the velocity that
    moves the agent by exactly a per step in a :class:`VelocityWorld`). ``prey_scale`` multiplies the prey's
    [-1, 1]^2 action into its u (its accel for OMAR, speed/dt for OTC)."""

    def __init__(
        self,
        spec: EnvSpec,
        scenario,
        world: World,
        action_mode: str,
        prey_policy: PreyPolicy | None = None,
        prey_scale: float = 0.0,
        learned_prey: bool = False,
    ):
        super().__init__(spec)
        self.scenario, self.world = scenario, world
        self.action_mode = action_mode
        n = spec.n_agents
        self.learned: list[Agent] = list(world.agents[:n])
        self.learned_prey = learned_prey  # the last learned agent is the prey (learn_prey=True)
        self.prey: Agent | None = None
        if len(world.agents) > n:
            (self.prey,) = world.agents[n:]
            self.prey_policy = prey_policy
            self.prey_scale = float(prey_scale)
            self.prey.action_callback = self._prey_action
        self._rng = np.random.default_rng()
        self.last_prey_action: np.ndarray | None = None

    # the prey, called by World.step before any force is applied
    def _prey_action(self, agent: Agent, world: World) -> Action:
        obs = self.scenario.observation(agent, world).astype(np.float32)
        a = np.asarray(self.prey_policy(obs), dtype=np.float64).reshape(-1)
        if a.shape != (world.dim_p,) or not np.all(np.isfinite(a)):
            raise ValueError(
                f"{self.spec.name}: prey_policy returned {a!r}; expected {world.dim_p} finite numbers"
            )
        a = np.clip(a, -1.0, 1.0)
        self.last_prey_action = a
        action = Action()
        action.u = a * self.prey_scale
        action.c = np.zeros(world.dim_c)
        return action

    def _set_action(self, agent: Agent, a: np.ndarray) -> None:
        a = np.asarray(a, dtype=np.float64).reshape(self.world.dim_p)
        if self.action_mode == "force":
            sensitivity = agent.accel if agent.accel is not None else 5.0
            agent.action.u = a * sensitivity
        else:
            agent.action.u = a / self.world.dt
        agent.action.c = np.zeros(self.world.dim_c)

    def _obs(self) -> list[np.ndarray]:
        return [self.scenario.observation(a, self.world) for a in self.learned]

    def _reset(self, seed):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.scenario.reset_world(self.world, self._rng)
        self.last_prey_action = None
        return self._obs()

    def reset_to(self, positions) -> np.ndarray:
        """Start an episode from given positions, every entity at rest: ``positions`` [E, dim_p] in
        ``world.entities`` order (world agents, the prey included, then landmarks; e.g. tag: 3 predators,
        prey, 2 obstacles; world: 3 predators, prey, obstacle, 2 food, 2 forests). Used to replay recorded
        episodes (the parity test against OMAR's own code). Draws one reset from the env's stream first,
        so what reset() would set and these positions do not override (colors) is as after reset().
        Returns obs [N, O]."""
        ents = self.world.entities
        pos = np.asarray(positions, dtype=np.float64)
        if pos.shape != (len(ents), self.world.dim_p) or not np.all(np.isfinite(pos)):
            raise ValueError(
                f"{self.spec.name}: positions must be {len(ents)} finite points of dimension "
                f"{self.world.dim_p} ({', '.join(e.name for e in ents)}); got shape {pos.shape}"
            )
        self.reset()
        for e, p in zip(ents, pos):
            e.state.p_pos = p.copy()
            e.state.p_vel = np.zeros(self.world.dim_p)
        return self._pad_obs(self._obs())

    def _step(self, actions):
        for agent, a in zip(self.learned, actions):
            self._set_action(agent, a)
        self.world.step()
        rewards = np.array([self.scenario.reward(a, self.world) for a in self.learned], dtype=np.float64)
        info = {}
        if self.prey is not None:
            info["prey_reward"] = float(self.scenario.reward(self.prey, self.world))
            info["prey_action"] = self.last_prey_action
        elif self.learned_prey:
            info["prey_reward"] = float(rewards[-1])
            info["prey_action"] = np.asarray(actions[-1], dtype=np.float64)
        return self._obs(), rewards, False, False, info

    def state(self) -> np.ndarray:
        return np.concatenate([self.scenario.observation(a, self.world) for a in self.world.agents]).astype(
            np.float32
        )


def _build(
    name: str,
    scenario,
    world: World,
    n_learned: int,
    action_mode: str,
    options: dict,
    shared: bool,
    act_bound: float = 1.0,
    prey_policy: PreyPolicy | None = None,
    prey_scale: float = 0.0,
    learned_prey: bool = False,
) -> ParticleEnv:
    # dims from a throwaway initial state (the env's own RNG is untouched)
    scenario.reset_world(world, np.random.default_rng(0))
    obs_dims = tuple(len(scenario.observation(a, world)) for a in world.agents)
    spec = EnvSpec(
        name=name,
        agent_ids=tuple(a.name for a in world.agents[:n_learned]),
        obs_dims=obs_dims[:n_learned],
        act_dims=(world.dim_p,) * n_learned,
        state_dim=sum(obs_dims),
        episode_length=EPISODE_LENGTH,
        act_low=-act_bound,
        act_high=act_bound,
        shared_reward=shared,
        options=options,
    )
    return ParticleEnv(spec, scenario, world, action_mode, prey_policy, prey_scale, learned_prey)


# ---- factories (their keyword arguments are the env's options) -----------------------------------------
def make_omar_spread() -> ParticleEnv:
    """OMAR's Cooperative Navigation: 3 agents, 3 landmarks, per-agent rewards, obs 18, actions [-1, 1]^2."""
    scenario = OmarSpreadScenario()
    return _build("omar/spread", scenario, scenario.make_world(3), 3, "force", {}, shared=False)


def _make_predator_prey(
    name, scenario, world, prey_dim, prey_pos_at, prey_pred_at, prey_policy, prey, learn_prey
):
    """tag / world: 3 learned predators + a fixed prey (scripted, learned v<k> or a callable), or, with
    ``learn_prey``, 4 learned agents (the prey last). See the module docstring."""
    policy = prey_options(name, prey_policy, prey, learn_prey, prey_dim)
    options = {"prey_policy": prey_policy, "prey": prey, "learn_prey": learn_prey}
    if learn_prey:
        return _build(name, scenario, world, 4, "force", options, shared=False, learned_prey=True)
    if policy is None:
        policy = flee_policy(prey_pos_at, prey_pred_at, 3, turn=True)
    return _build(
        name, scenario, world, 3, "force", options, shared=True, prey_policy=policy, prey_scale=world.agents[3].accel,
    )  # fmt: skip


def make_omar_tag(
    *, prey_policy: PreyPolicy | None = None, prey: str = "scripted", learn_prey: bool = False
) -> ParticleEnv:
    """OMAR's Predator-Prey: 3 learned predators (obs 16) + 1 fixed prey (obs 14, accel 4.0): ``prey`` =
    "scripted" (or the ``prey_policy`` callable) or a frozen learned version ("v2"); ``learn_prey=True``
    makes the prey a 4th learning agent instead."""
    scenario = OmarTagScenario()
    world = scenario.make_world(num_good=1, num_adversaries=3, num_obstacles=2)
    # prey obs [vel 0:2, pos 2:4, 2 landmarks rel 4:8, 3 predators rel 8:14]
    return _make_predator_prey("omar/tag", scenario, world, 14, 2, 8, prey_policy, prey, learn_prey)


def make_omar_world(
    *, prey_policy: PreyPolicy | None = None, prey: str = "scripted", learn_prey: bool = False
) -> ParticleEnv:
    """OMAR's World: 3 learned predators (obs 24) + 1 fixed prey (obs 22, accel 4.0), no comm; ``prey``
    and ``learn_prey`` as in :func:`make_omar_tag`."""
    scenario = OmarWorldScenario()
    world = scenario.make_world()
    # prey obs [vel 0:2, pos 2:4, 5 entities rel 4:14, 3 predators rel 14:20, in_forest 20:22]
    return _make_predator_prey("omar/world", scenario, world, 22, 2, 14, prey_policy, prey, learn_prey)


def make_omar_spread1d(*, n_agents: int = 2) -> ParticleEnv:
    """OMAR's motivating example (Section 3.1): n agents and n landmarks on a line, 1-D actions in [-1, 1]
    (force a · 5.0), spread's reward with 1-D distances; obs [vel, pos, n landmarks rel, n−1 others rel]."""
    n = _check_int("n_agents", n_agents, 1, 5)
    scenario = OmarSpreadScenario(dim_p=1)
    return _build(
        "omar/spread1d", scenario, scenario.make_world(n), n, "force", {"n_agents": n}, shared=False
    )


OTC_ACT_BOUND = 0.1  # OTC appendix: "the action space of agents is [-0.1, 0.1], meaning the agent speed"
OTC_PREY_SPEED = 0.15  # per step; > the predators' largest step 0.1·√2 ≈ 0.141 ("a faster rule-based prey")


def make_otc_navigation(*, n_agents: int = 3) -> ParticleEnv:
    """OTC's Cooperative Navigation (N = 3, 4, 6 in the paper): velocity actions in [-0.1, 0.1]^2 (the
    agent moves by exactly a per step), shared team reward −Σ_j min_i dist."""
    n = _check_int("n_agents", n_agents, 1)
    scenario = OtcNavigationScenario()
    world = scenario.make_world(n)
    return _build(
        "otc/navigation",
        scenario,
        world,
        n,
        "velocity",
        {"n_agents": n},
        shared=True,
        act_bound=OTC_ACT_BOUND,
    )


def make_otc_predator_prey(*, n_predators: int = 3) -> ParticleEnv:
    """OTC's Predator-Prey: n predators with velocity actions in [-0.1, 0.1]^2, one rule-based prey moving
    ``OTC_PREY_SPEED`` per step away from the nearest predator; shared team reward +1 per predator within
    0.1 of the prey."""
    n = _check_int("n_predators", n_predators, 1)
    scenario = OtcPredatorPreyScenario()
    world = scenario.make_world(num_good=1, num_adversaries=n, num_obstacles=0)
    # prey obs [vel 0:2, pos 2:4, n predators rel 4:4+2n]
    return _build(
        "otc/predator_prey", scenario, world, n, "velocity", {"n_predators": n}, shared=True,
        act_bound=OTC_ACT_BOUND, prey_policy=flee_policy(2, 4, n, turn=False), prey_scale=OTC_PREY_SPEED / world.dt,
    )  # fmt: skip
