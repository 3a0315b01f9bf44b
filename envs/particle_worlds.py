"""The physics and the scenarios of the particle worlds of envs/particles.py, on mpe2's entities: the worlds
(:class:`OmarWorld`, OMAR's force physics; :class:`VelocityWorld`, OTC's velocity control) and the scenarios,
subclasses of mpe2's (OMAR's spread, tag and world; OTC's navigation and predator-prey) with their rewards and
observations. The module docstring of envs/particles.py describes them.
"""

from __future__ import annotations

import numpy as np
from mpe2._mpe_utils.core import World
from mpe2.simple_spread.simple_spread import Scenario as SpreadScenario
from mpe2.simple_tag.simple_tag import Scenario as TagScenario
from mpe2.simple_world_comm.simple_world_comm import Scenario as WorldCommScenario


def _dist(a, b) -> float:
    return float(np.sqrt(np.sum(np.square(a.state.p_pos - b.state.p_pos))))


def _pair_dist(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """[n, d] x [m, d] -> [n, m] Euclidean distances, each as :func:`_dist` computes it."""
    return np.sqrt(np.sum(np.square(p[:, None, :] - q[None, :, :]), axis=-1))


def _bound(x: float) -> float:
    """MPE's out-of-screen penalty for the prey, per axis (|x| = distance from the centre on that axis)."""
    if x < 0.9:
        return 0.0
    if x < 1.0:
        return (x - 0.9) * 10
    return float(min(np.exp(2 * x - 2), 10))


# ---- worlds --------------------------------------------------------------------------------------------
class VelocityWorld(World):
    """mpe2's World with OTC's velocity control: each movable entity's velocity for the step is the applied
    "force" vector itself (its action, there are no contact forces because OTC entities do not collide),
    with no damping and no mass, and ``p_pos += p_vel * dt``. Everything else (``World.step``: scripted agents,
    action and environment forces, comm state) is mpe2's."""

    def integrate_state(self, p_force):
        for i, entity in enumerate(self.entities):
            if not entity.movable:
                continue
            f = p_force[i]
            entity.state.p_vel = np.zeros(self.dim_p) if f is None else np.array(f, dtype=np.float64)
            entity.state.p_pos = entity.state.p_pos + entity.state.p_vel * self.dt


class OmarWorld(World):
    """mpe2's World with the physics of OMAR's ``multiagent/core.py`` (ling-pan/OMAR @0e52ad6), which is the
    original MPE's and not mpe2's:

    - action force ``mass · accel · u`` when the agent has an ``accel`` (else ``mass · u``), on top of the
      env's sensitivity scaling ``u = a · (accel or 5.0)``: a predator (accel 3) pushes with 9a, the prey
      (accel 4) with 16a, a spread agent (no accel) with 5a (``World.apply_action_force``);
    - semi-implicit Euler (``World.integrate_state``): damp the velocity, add force / mass · dt, cap the
      speed at ``max_speed``, and only then move the position with the *new* velocity. mpe2 moves the
      position with the old velocity first.

    Contact forces are mpe2's, which equal OMAR's for OMAR's entities (all masses 1, no walls). No motor
    noise (OMAR's worlds set none)."""

    def apply_action_force(self, p_force):
        for i, agent in enumerate(self.agents):
            if agent.movable:
                scale = agent.mass * agent.accel if agent.accel is not None else agent.mass
                p_force[i] = scale * agent.action.u
        return p_force

    def integrate_state(self, p_force):
        for i, entity in enumerate(self.entities):
            if not entity.movable:
                continue
            entity.state.p_vel = entity.state.p_vel * (1 - self.damping)
            if p_force[i] is not None:
                entity.state.p_vel += (p_force[i] / entity.mass) * self.dt
            if entity.max_speed is not None:
                speed = np.sqrt(np.sum(np.square(entity.state.p_vel)))  # = OMAR's sqrt(v0² + v1²) in 2-D
                if speed > entity.max_speed:
                    entity.state.p_vel = entity.state.p_vel / speed * entity.max_speed
            entity.state.p_pos = entity.state.p_pos + entity.state.p_vel * self.dt


def _rehost(world: World, cls: type[World]) -> World:
    """The same world (agents, landmarks, parameters) as an instance of ``cls`` (e.g. VelocityWorld)."""
    out = cls()
    out.__dict__.update(world.__dict__)
    return out


# ---- scenarios (subclasses of mpe2's) ------------------------------------------------------------------
class OmarSpreadScenario(SpreadScenario):
    """OMAR's ``simple_spread.py``: reward per agent i = Σ_l min(1 / min_a dist(a, l), 10) − 5 · #(other agents
    colliding with i); initial positions uniform in [−b, b] with b = 1 for ≤ 3 agents, 2 for 4..10.
    ``dim_p=1`` gives the 1-D motivating example (comm dropped: dim_c = 0)."""

    def __init__(self, dim_p: int = 2):
        super().__init__()
        self.dim_p = dim_p

    def make_world(self, N: int = 3):
        world = super().make_world(N)
        world.dim_p = self.dim_p
        if self.dim_p != 2:
            world.dim_c = 0  # the 1-D variant has no (always-zero) comm entries in its obs
        return _rehost(world, OmarWorld)

    def reset_world(self, world, np_random):
        n = len(world.agents)
        boundary = 1.0 if n <= 3 else 2.0  # OMAR's reset_world
        for agent in world.agents:
            agent.color = np.array([0.35, 0.35, 0.85])
        for landmark in world.landmarks:
            landmark.color = np.array([0.25, 0.25, 0.25])
        for agent in world.agents:  # same draws, in the same order, as mpe2's reset_world when boundary = 1
            agent.state.p_pos = np_random.uniform(-boundary, +boundary, world.dim_p)
            agent.state.p_vel = np.zeros(world.dim_p)
            agent.state.c = np.zeros(world.dim_c)
        for landmark in world.landmarks:
            landmark.state.p_pos = np_random.uniform(-boundary, +boundary, world.dim_p)
            landmark.state.p_vel = np.zeros(world.dim_p)

    def reward(self, agent, world) -> float:
        # Σ_l min(1/min_a d(a,l), 10) − 5·#(others colliding with agent), with every distance computed as
        # _dist / mpe2's is_collision do (sqrt of the summed squares) but for all pairs at once; the sums run
        # in the same order as the per-pair loop, so the reward is bitwise the loop's (tests/test_envs_particles.py)
        pos = np.stack([a.state.p_pos for a in world.agents])  # [n, d]
        lms = np.stack([lm.state.p_pos for lm in world.landmarks])  # [m, d]
        d_min = _pair_dist(pos, lms).min(axis=0)  # [m]: the nearest agent's distance to each landmark
        rew = 0.0
        for d in d_min.tolist():
            rew += 10.0 if d <= 0.1 else 1.0 / d  # = min(1/d, 10), also at d = 0
        if agent.collide:
            i = world.agents.index(agent)
            sizes = np.array([a.size for a in world.agents])
            hit = _pair_dist(pos[i : i + 1], pos)[0] < sizes + agent.size
            hit[i] = False
            rew -= 5.0 * int(hit.sum())
        return rew


def _predator_team_reward(scenario, agent, world, catch_bonus: float) -> float:
    """OMAR's shaped predator reward, identical for every predator:
    −0.1·Σ_adv min_prey dist + catch_bonus per colliding (prey, predator) pair."""
    prey, advs = scenario.good_agents(world), scenario.adversaries(world)
    rew = -0.1 * sum(min(_dist(p, adv) for p in prey) for adv in advs)
    if agent.collide:
        rew += catch_bonus * sum(scenario.is_collision(p, adv) for p in prey for adv in advs)
    return rew


class OmarTagScenario(TagScenario):
    """OMAR's simple_tag: mpe2's entities and obs with ``shape=True`` on both sides, in OMAR's physics.
    Predator (team): −0.1·Σ_adv min_prey dist + 10 per colliding (prey, predator) pair.
    Prey: +0.1·Σ_adv dist − 10 per colliding predator − Σ_axes bound(|x|)."""

    def make_world(self, num_good: int = 1, num_adversaries: int = 3, num_obstacles: int = 2):
        return _rehost(super().make_world(num_good, num_adversaries, num_obstacles), OmarWorld)

    def adversary_reward(self, agent, world) -> float:
        return _predator_team_reward(self, agent, world, catch_bonus=10.0)

    def agent_reward(self, agent, world) -> float:
        advs = self.adversaries(world)
        rew = 0.1 * sum(_dist(agent, adv) for adv in advs)
        if agent.collide:
            rew -= 10.0 * sum(self.is_collision(adv, agent) for adv in advs)
        rew -= sum(_bound(abs(x)) for x in agent.state.p_pos)
        return rew


class OmarWorldScenario(WorldCommScenario):
    """OMAR's simple_world: mpe2's simple_world_comm with 3 predators and 1 prey, 1 obstacle (0.2), 2 food
    (0.03), 2 forests (0.3); every agent ``leader=True`` and silent, so no comm and no forest occlusion.

    Obs (no comm entries): predator [vel, pos, 5 entities rel (obstacle, food×2, forest×2), 3 others rel,
    prey vel, in_forest ×2] = 24; prey [vel, pos, 5 entities rel, 3 predators rel, in_forest ×2] = 22.
    Predator (team): −0.1·Σ_adv min_prey dist + 5 per colliding (prey, predator) pair.
    Prey: +0.1·Σ_adv dist − 5 per colliding predator − 2·Σ_axes bound(|x|) + 2 per food it touches
    + 0.05·min_food dist (OMAR's ``simple_world.py`` adds it; the original MPE's simple_world_comm subtracts)."""

    def make_world(self, num_good_agents=1, num_adversaries=3, num_landmarks=1, num_food=2, num_forests=2):
        world = super().make_world(num_good_agents, num_adversaries, num_landmarks, num_food, num_forests)
        n_adv = 0
        for agent in world.agents:
            agent.leader = True
            agent.silent = True
            agent.name = f"adversary_{n_adv}" if agent.adversary else "agent_0"
            n_adv += agent.adversary
        return _rehost(world, OmarWorld)

    def observation(self, agent, world) -> np.ndarray:
        entity_pos = [e.state.p_pos - agent.state.p_pos for e in world.landmarks if not e.boundary]
        in_forest = [np.array([1.0 if self.is_collision(agent, f) else -1.0]) for f in world.forests]
        others = [o for o in world.agents if o is not agent]
        other_pos = [o.state.p_pos - agent.state.p_pos for o in others]  # leader: never occluded
        other_vel = [o.state.p_vel for o in others if not o.adversary]
        if agent.adversary:
            parts = [agent.state.p_vel, agent.state.p_pos] + entity_pos + other_pos + other_vel + in_forest
        else:
            parts = [agent.state.p_vel, agent.state.p_pos] + entity_pos + other_pos + in_forest + other_vel
        return np.concatenate(parts)

    def adversary_reward(self, agent, world) -> float:
        return _predator_team_reward(self, agent, world, catch_bonus=5.0)

    def agent_reward(self, agent, world) -> float:
        advs = self.adversaries(world)
        rew = 0.1 * sum(_dist(agent, adv) for adv in advs)
        if agent.collide:
            rew -= 5.0 * sum(self.is_collision(adv, agent) for adv in advs)
        rew -= 2.0 * sum(_bound(abs(x)) for x in agent.state.p_pos)
        rew += 2.0 * sum(self.is_collision(agent, food) for food in world.food)
        rew += 0.05 * min(_dist(food, agent) for food in world.food)  # OMAR's sign (simple_world.py)
        return rew


class OtcNavigationScenario(SpreadScenario):
    """OTC's Cooperative Navigation: N agents, N landmarks, team reward −Σ_j min_i dist(agent i, landmark j)
    (mpe2's ``global_reward``), no collision term and no collisions (agents do not collide under velocity
    control). Obs = mpe2 spread's without the always-zero comm: [vel, pos, N landmarks rel, N−1 others rel]."""

    def make_world(self, N: int = 3):
        world = super().make_world(N)
        world.dim_c = 0
        for agent in world.agents:
            agent.collide = False
        return _rehost(world, VelocityWorld)

    def reward(self, agent, world) -> float:
        return float(self.global_reward(world))


class OtcPredatorPreyScenario(TagScenario):
    """OTC's Predator-Prey: n predators chase one faster rule-based prey; no obstacles; team reward +1 for each
    predator whose distance to the prey is < 0.1. Obs = mpe2 simple_tag's with no landmarks:
    predator [vel, pos, n−1 others rel + prey rel, prey vel] (2n+6), prey [vel, pos, n predators rel] (2n+4)."""

    CATCH_DIST = 0.1

    def make_world(self, num_good: int = 1, num_adversaries: int = 3, num_obstacles: int = 0):
        world = super().make_world(num_good, num_adversaries, num_obstacles)
        for agent in world.agents:
            agent.collide = False
            agent.accel = None
            agent.max_speed = None
        return _rehost(world, VelocityWorld)

    def reward(self, agent, world) -> float:
        """Predators: +1 per (prey, predator) pair closer than 0.1; the prey (info only): minus the same."""
        prey = self.good_agents(world)
        catches = float(sum(_dist(p, adv) < self.CATCH_DIST for p in prey for adv in self.adversaries(world)))
        return catches if agent.adversary else -catches
