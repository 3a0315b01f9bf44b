"""OMAR's modified particle worlds and OTC's particle variants, built on mpe2's entities and scenarios.

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

import hashlib
import json
import numbers
from pathlib import Path
from typing import Callable

import numpy as np
from mpe2._mpe_utils.core import Action, Agent, World
from mpe2.simple_spread.simple_spread import Scenario as SpreadScenario
from mpe2.simple_tag.simple_tag import Scenario as TagScenario
from mpe2.simple_world_comm.simple_world_comm import Scenario as WorldCommScenario

from envs.base import EnvSpec, MultiAgentEnv

EPISODE_LENGTH = 25  # OMAR's loop horizon and mpe2's max_cycles default; OTC does not say (we use the same)
PreyPolicy = Callable[[np.ndarray], np.ndarray]


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


# ---- option checks -------------------------------------------------------------------------------------
def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    ok = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    ok = ok and value >= lo and (hi is None or value <= hi)
    if not ok:
        allowed = f"an integer in {lo}..{hi}" if hi is not None else f"an integer >= {lo}"
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be {allowed}")
    return int(value)


def _check_prey_policy(value, obs_dim: int):
    if value is not None and not callable(value):
        raise ValueError(
            f"prey_policy={value!r} is not allowed; it must be None (scripted prey) or a callable mapping the "
            f"prey's obs (np.ndarray [{obs_dim}]) to an action in [-1, 1]^2"
        )
    return value


def _prey_options(env_name: str, prey_policy, prey, learn_prey, obs_dim: int) -> PreyPolicy | None:
    """Check the prey options of tag / world; returns the fixed prey's policy (None when learn_prey)."""
    _check_prey_policy(prey_policy, obs_dim)
    allowed = ("scripted", *PREY_VERSIONS)
    if not isinstance(prey, str) or prey not in allowed:
        raise ValueError(f"prey={prey!r} is not allowed; prey must be one of {', '.join(map(repr, allowed))}")
    if not isinstance(learn_prey, bool):
        raise ValueError(f"learn_prey={learn_prey!r} is not allowed; learn_prey must be True or False")
    if learn_prey and (prey != "scripted" or prey_policy is not None):
        raise ValueError(f"learn_prey=True makes the prey a learning agent; it cannot be combined with "
                         f"prey={prey!r} / prey_policy={prey_policy!r}")
    if prey_policy is not None and prey != "scripted":
        raise ValueError(f"give either prey={prey!r} or a prey_policy callable, not both")
    if learn_prey:
        return None
    if prey != "scripted":
        actor = load_prey(env_name, prey)
        if actor.obs_dim != obs_dim:
            raise ValueError(
                f"prey={prey!r} of {env_name} expects {actor.obs_dim} obs entries; the prey sees {obs_dim}"
            )
        return actor
    return prey_policy


# ---- learned, frozen prey ------------------------------------------------------------------------------
PREY_DIR = Path(__file__).resolve().parent / "assets" / "prey"  # <key>-<version>.npz, cards, manifest.json
PREY_VERSIONS = ("v2",)  # learned prey versions; "scripted" is the rule-based flee_action
PREY_KEYS = {"omar/tag": "tag", "omar/world": "world"}  # env name -> asset file prefix


def prey_file(env_name: str, version: str) -> str:
    """Asset file name of a learned prey, e.g. ``tag-v2.npz``."""
    return f"{PREY_KEYS[env_name]}-{version}.npz"


class NumpyActor:
    """A deterministic actor exported from ``common.networks.heads.DeterministicActor`` (one member), evaluated in numpy
    float64: ``x`` = obs zero-padded to the trained input width (the learner's padded obs),
    [``(x − mean) / sqrt(var + eps) · gamma + beta``, BatchNorm in eval mode, if exported], then
    (``x @ W_i + b_i`` -> ReLU) per hidden layer, ``max_action · tanh(x @ W_L + b_L)``.

    Arrays (``np.savez``): ``obs_dim`` (the env's real prey obs size), ``max_action``, ``n_layers`` and
    ``W{i}`` [in, out], ``b{i}`` [out]; with input BatchNorm also ``bn_mean``, ``bn_var``, ``bn_weight``,
    ``bn_bias`` [in] and ``bn_eps``."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        f64 = lambda k: np.asarray(arrays[k], dtype=np.float64)  # noqa: E731
        self.obs_dim = int(arrays["obs_dim"])
        self.max_action = float(arrays["max_action"])
        n = int(arrays["n_layers"])
        self.layers = [(f64(f"W{i}"), f64(f"b{i}")) for i in range(n)]
        self.in_dim = self.layers[0][0].shape[0]
        self.bn = None
        if "bn_mean" in arrays:
            scale = f64("bn_weight") / np.sqrt(f64("bn_var") + float(arrays["bn_eps"]))
            self.bn = (f64("bn_mean"), scale, f64("bn_bias"))
        if self.obs_dim > self.in_dim:
            raise ValueError(f"actor input width {self.in_dim} < obs_dim {self.obs_dim}")

    @classmethod
    def load(cls, path: Path) -> "NumpyActor":
        with np.load(path, allow_pickle=False) as z:
            return cls({k: z[k] for k in z.files})

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """obs [*, obs_dim] -> actions [*, A] in [−max_action, max_action]."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape[-1] != self.obs_dim:
            raise ValueError(f"NumpyActor expects obs with {self.obs_dim} entries, got shape {obs.shape}")
        x = np.zeros((*obs.shape[:-1], self.in_dim))
        x[..., : self.obs_dim] = obs
        if self.bn is not None:
            mean, scale, beta = self.bn
            x = (x - mean) * scale + beta
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < last:
                x = np.maximum(x, 0.0)
        return self.max_action * np.tanh(x)


_PREY_CACHE: dict[str, NumpyActor] = {}  # sha256 -> actor (files are read and checked on every load)


def load_prey(env_name: str, version: str, root: Path | str | None = None) -> NumpyActor:
    """The frozen learned prey ``version`` of ``env_name`` from ``root`` (default :data:`PREY_DIR`), after
    checking its sha256 against ``root/manifest.json``."""
    root = Path(root) if root is not None else PREY_DIR
    name = prey_file(env_name, version)
    path, manifest_path = root / name, root / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"prey weights {path} are missing (train them with: python -m papers.omar.prey "
                                f"--env {env_name})")
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} is missing: cannot verify the checksum of {path}")
    entry = json.loads(manifest_path.read_text()).get(name)
    if entry is None:
        raise ValueError(f"{manifest_path} has no entry for {name}: cannot verify the checksum of {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()  # a small file; envs/ imports nothing of ours
    if digest != entry["sha256"]:
        raise ValueError(f"checksum mismatch for prey weights {path}: sha256 {digest}, manifest says {entry['sha256']}")
    if digest not in _PREY_CACHE:
        _PREY_CACHE[digest] = NumpyActor.load(path)
    return _PREY_CACHE[digest]


# ---- the scripted prey ---------------------------------------------------------------------------------
def flee_action(pos: np.ndarray, predators_rel: np.ndarray, turn: bool, edge: float = 0.9) -> np.ndarray:
    """Scripted prey rule: the unit vector away from the nearest predator (predators_rel [K, 2], relative to the
    prey); on each axis where ``|pos| >= edge`` a component pointing further out is reversed (``turn=True``,
    OMAR's worlds: the prey has inertia and only a reversed force brakes it near the edge) or set to 0
    (``turn=False``, OTC's velocity world: the prey stops at once and can be cornered). Returns [2]."""
    rel = np.asarray(predators_rel, dtype=np.float64).reshape(-1, 2)
    d = np.sqrt(np.sum(np.square(rel), axis=1))
    k = int(np.argmin(d))
    out = -rel[k] / d[k] if d[k] > 0 else np.zeros(2)
    outward = (np.abs(pos) >= edge) & (np.sign(out) == np.sign(pos))
    out[outward] = -out[outward] if turn else 0.0
    return out


def _flee_policy(pos_at: int, pred_at: int, n_pred: int, turn: bool) -> PreyPolicy:
    """The scripted prey as an obs -> action callable, given where the prey's obs holds pos and predators."""

    def policy(obs: np.ndarray) -> np.ndarray:
        return flee_action(obs[pos_at : pos_at + 2], obs[pred_at : pred_at + 2 * n_pred], turn)

    policy.__name__ = policy.__qualname__ = "flee_nearest_predator"
    return policy


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
            hit = _pair_dist(pos[i:i + 1], pos)[0] < sizes + agent.size
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
            raise ValueError(f"{self.spec.name}: prey_policy returned {a!r}; expected {world.dim_p} finite numbers")
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
            raise ValueError(f"{self.spec.name}: positions must be {len(ents)} finite points of dimension "
                             f"{self.world.dim_p} ({', '.join(e.name for e in ents)}); got shape {pos.shape}")
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
        return np.concatenate([self.scenario.observation(a, self.world) for a in self.world.agents]).astype(np.float32)


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


def _make_predator_prey(name, scenario, world, prey_dim, prey_pos_at, prey_pred_at, prey_policy, prey, learn_prey):
    """tag / world: 3 learned predators + a fixed prey (scripted, learned v<k> or a callable), or, with
    ``learn_prey``, 4 learned agents (the prey last). See the module docstring."""
    policy = _prey_options(name, prey_policy, prey, learn_prey, prey_dim)
    options = {"prey_policy": prey_policy, "prey": prey, "learn_prey": learn_prey}
    if learn_prey:
        return _build(name, scenario, world, 4, "force", options, shared=False, learned_prey=True)
    if policy is None:
        policy = _flee_policy(prey_pos_at, prey_pred_at, 3, turn=True)
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
    return _build("omar/spread1d", scenario, scenario.make_world(n), n, "force", {"n_agents": n}, shared=False)


OTC_ACT_BOUND = 0.1  # OTC appendix: "the action space of agents is [-0.1, 0.1], meaning the agent speed"
OTC_PREY_SPEED = 0.15  # per step; > the predators' largest step 0.1·√2 ≈ 0.141 ("a faster rule-based prey")


def make_otc_navigation(*, n_agents: int = 3) -> ParticleEnv:
    """OTC's Cooperative Navigation (N = 3, 4, 6 in the paper): velocity actions in [-0.1, 0.1]^2 (the
    agent moves by exactly a per step), shared team reward −Σ_j min_i dist."""
    n = _check_int("n_agents", n_agents, 1)
    scenario = OtcNavigationScenario()
    world = scenario.make_world(n)
    return _build(
        "otc/navigation", scenario, world, n, "velocity", {"n_agents": n}, shared=True, act_bound=OTC_ACT_BOUND
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
        act_bound=OTC_ACT_BOUND, prey_policy=_flee_policy(2, 4, n, turn=False), prey_scale=OTC_PREY_SPEED / world.dt,
    )  # fmt: skip
