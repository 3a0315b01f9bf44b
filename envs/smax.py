"""smax/<map>: SMAC's unit micromanagement through JaxMARL's SMAX, a JAX re-implementation (no StarCraft II).

StarCraft II does not run here and SMAC has no PyPI build, so the StarCraft items of CAST-BCQ (Table 1,
Figure 5) and OTC (Figure 6d) run on SMAX (``pip install -e '.[smax]'``: jaxmarl 0.2.0 on CPU jax; facts in
docs/smax.md). Only this module imports jax, and only when an smax env is made.

Maps (allies vs enemies; unit types 0 marine, 1 marauder, 2 stalker, 3 zealot) and SMAC's episode limits
(``limit`` of SMAC's map registry, smac/env/starcraft2/maps/smac_maps.py):

    smax/2s3z             2 stalkers + 3 zealots vs the same     built into SMAX        limit 120
    smax/3s_vs_3z         3 stalkers vs 3 zealots                registered here        limit 150
    smax/5m_vs_6m         5 marines vs 6 marines                 built into SMAX        limit 70
    smax/10m_vs_11m       10 marines vs 11 marines               built into SMAX        limit 150
    smax/MMM_no_medivac   SUBSTITUTE for SMAC's MMM: 2 marauders + 7 marines vs the same (9 v 9). SMAC's MMM
                          has a healing Medivac per side; SMAX has no healer and no heal mechanic, so this
                          is another map, not MMM: its results are labelled a substitute and not counted.
                                                                                  limit 150 (MMM's)

The enemy is SMAX's scripted ``HeuristicEnemySMAX`` (attack the closest unit in range, else walk toward the
enemy), not SC2's built-in AI: absolute win rates are not comparable to the papers' SC2 numbers.

Boundary (envs.base): ``reset(seed) -> obs [N, O]``; ``step(actions)`` with actions ``[N, 1]`` or ``[N]``
integers -> obs [N, O], rewards [N] (SMAX's team reward, the same for every agent, also dead ones),
terminated (one side wiped out), truncated (``max_steps`` reached with both sides alive), info with
``"won"`` (all enemies dead and an ally alive: SMAX's win, a draw is not a win) and ``"avail_actions"``
[N, n_actions] bool for the NEXT decision. ``avail_actions()`` returns the current masks, ``state()`` SMAX's
world state [S]. Actions: 0-3 move (N, E, S, W in SMAX's rotated frame), 4 stop (the only action of a dead
unit: SMAX has no separate no-op), 5 + i attack enemy i. SMAX executes an unavailable action as a no-op
(SMAC raises); masks are the caller's job, as in SMAC's learners.

Seeding: ``reset(seed)`` starts the env's JAX key stream at ``PRNGKey(seed)``; every reset and step draws
its key from that stream (unit start positions, cooldown jitter, the enemy's random choices), so one seed
and one action sequence give one episode. ``reset(None)`` continues the stream.

Batched stepping: ``envs.make_vec("smax/<map>", E)`` returns :class:`SmaxVecEnv`, E copies stepped by one
``jax.jit(jax.vmap(step))`` call (compiled once per map and options, shared by every env of the process),
numpy at the boundary. Copy k reset with ``seed + k`` follows exactly the single env reset with ``seed + k``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import numbers
import os
import sys

import numpy as np

from envs.base import EnvSpec, MultiAgentEnv, VecEnv
from envs.pettingzoo_view import PettingZooView

MARINE, MARAUDER, STALKER, ZEALOT = 0, 1, 2, 3  # SMAX unit type ids
N_MOVE = 5  # SMAX actions 0-3 move, 4 stop; attacks start at 5
STOP = 4

# map -> SMAC's episode limit; units = (types of allies then enemies, n_allies, n_enemies) for a scenario we
# register (None: SMAX's built-in one); the SMAC map it stands for; why it is a substitute (None: it is not)
MAPS: dict[str, dict] = {
    "2s3z": dict(limit=120, units=None, smac_map="2s3z", substitute=None),
    "3s_vs_3z": dict(limit=150, units=([STALKER] * 3 + [ZEALOT] * 3, 3, 3), smac_map="3s_vs_3z", substitute=None),
    "5m_vs_6m": dict(limit=70, units=None, smac_map="5m_vs_6m", substitute=None),
    "10m_vs_11m": dict(limit=150, units=None, smac_map="10m_vs_11m", substitute=None),
    "MMM_no_medivac": dict(
        limit=150,
        units=(([MARAUDER] * 2 + [MARINE] * 7) * 2, 9, 9),
        smac_map="MMM",
        substitute=(
            "SUBSTITUTE for SMAC's MMM (7 marines + 2 marauders + 1 Medivac per side): SMAX has no Medivac and no "
            "healing, so both sides are 7 marines + 2 marauders; results on it are not MMM results"
        ),
    ),
}
ATTACK_MODES = ("closest", "random")
DEVIATIONS = (
    "JaxMARL SMAX engine, not StarCraft II: different unit dynamics, no shields (Protoss HP folded into health)",
    "scripted HeuristicEnemySMAX opponent, not SC2's built-in AI: absolute win rates are not comparable to SMAC's",
    "SMAX obs/state/action layouts and reward scale (max return ~2 = normalized damage + 1 for a win; SMAC: 20)",
    "actions 5 + n_enemies with no separate no-op (stop = 4 for dead units); SMAC has 6 + n_enemies",
)


# ---- the jitted core, one per (map, options), shared by every env of the process ----------------------


@contextlib.contextmanager
def _quiet_stdout():
    """File descriptor 1 sent to /dev/null for the block: a module on jaxmarl's import path rewraps sys.stdout,
    so redirecting sys.stdout alone would not catch its prints; what Python buffered is flushed on each side."""
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        yield
    finally:
        try:
            sys.stdout.flush()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)


@functools.lru_cache(maxsize=None)
def _core(map_name: str, max_steps: int, enemy_shoots: bool, attack_mode: str) -> "_Core":
    return _Core(map_name, max_steps, enemy_shoots, attack_mode)


class _Core:
    """SMAX wrapped as pure functions on arrays: reset(key) and step(key, state, actions), jitted and vmapped."""

    def __init__(self, map_name: str, max_steps: int, enemy_shoots: bool, attack_mode: str):
        import jax
        import jax.numpy as jnp

        with _quiet_stdout():  # jaxmarl prints "Importing submoduled environments..." on import: no news for us
            from jaxmarl.environments.smax.heuristic_enemy_smax_env import HeuristicEnemySMAX
            from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO, Scenario, register_scenario

        m = MAPS[map_name]
        if m["units"] is not None and map_name not in MAP_NAME_TO_SCENARIO:
            types, n_allies, n_enemies = m["units"]
            register_scenario(map_name, Scenario(jnp.array(types, dtype=jnp.uint8), n_allies, n_enemies, False, False))
        scenario = MAP_NAME_TO_SCENARIO[map_name]
        self.env = env = HeuristicEnemySMAX(
            enemy_shoots=enemy_shoots, attack_mode=attack_mode, scenario=scenario, max_steps=max_steps
        )
        self.agents = list(env.agents)  # ally_0 .. ally_{N-1}
        self.n_allies, self.n_enemies = env.num_allies, env.num_enemies
        self.n_actions = env.num_ally_actions  # 5 + n_enemies
        self.obs_dim = int(env.observation_spaces[self.agents[0]].shape[0])
        self.state_dim = int(env.state_size)
        self.unit_types = np.asarray(scenario.unit_types)

        def canonical(tree):
            # strip weak types so that the state after reset and after step have one signature (one compile)
            return jax.tree.map(lambda x: jax.lax.convert_element_type(x, x.dtype), tree)

        def view(obs, st):
            """The arrays our boundary needs from SMAX's dict observation and its state."""
            alive = st.state.unit_alive
            avail = env.get_avail_actions(st)
            return dict(
                obs=jnp.stack([obs[a] for a in self.agents]),  # [N, O]
                state=obs["world_state"],  # [S]
                avail=jnp.stack([avail[a] for a in self.agents]).astype(bool),  # [N, n_actions]
                allies_alive=alive[: self.n_allies],  # [N]
                enemies_alive=alive[self.n_allies :],  # [n_enemies]
            )

        def reset(key):
            key, k = jax.random.split(key)
            obs, st = env.reset(k)
            st = canonical(st)
            return key, st, view(obs, st)

        def step(key, st, actions):  # actions int32 [N]
            key, k = jax.random.split(key)
            obs, st, rew, _, _ = env.step_env(k, st, {a: actions[i] for i, a in enumerate(self.agents)})
            st = canonical(st)
            out = view(obs, st)
            any_ally = jnp.any(out["allies_alive"])
            any_enemy = jnp.any(out["enemies_alive"])
            out["reward"] = rew[self.agents[0]]  # the team reward (every ally gets it)
            out["terminated"] = ~any_ally | ~any_enemy
            out["won"] = any_ally & ~any_enemy
            return key, st, out

        def step_frozen(key, st, actions, done):
            """A copy whose episode ended keeps its key, state and outputs (rewards 0) until reset."""
            new_key, new_st, out = step(key, st, actions)
            keep = lambda new, old: jnp.where(done, old, new)  # noqa: E731
            return keep(new_key, key), jax.tree.map(keep, new_st, st), out

        self.reset = jax.jit(reset)
        self.step = jax.jit(step)
        self.vreset = jax.jit(jax.vmap(reset))
        self.vstep = jax.jit(jax.vmap(step_frozen))
        self.key = jax.jit(jax.random.PRNGKey)
        self.vkey = jax.jit(jax.vmap(jax.random.PRNGKey))


def _to_numpy(tree) -> dict:
    import jax

    return {k: np.asarray(v) for k, v in jax.device_get(tree).items()}


def _fresh_seed() -> int:
    return int(np.random.default_rng().integers(2**31 - 1))


def _seeds(seeds) -> np.ndarray:
    """Seeds as the uint32 that PRNGKey takes; out of range is an error, not a silent wrap."""
    s = np.asarray(seeds, dtype=np.int64)
    if s.min() < 0 or s.max() >= 2**32:
        raise ValueError(f"smax seeds must be integers in [0, 2**32), got {s.min()}..{s.max()}")
    return s.astype(np.uint32)


# ---- the single env ------------------------------------------------------------------------------------


class SmaxEnv(MultiAgentEnv):
    def __init__(self, map_name: str, max_steps: int, enemy_shoots: bool, attack_mode: str):
        self.core = core = _core(map_name, max_steps, enemy_shoots, attack_mode)
        m = MAPS[map_name]
        N = core.n_allies
        super().__init__(
            EnvSpec(
                name=f"smax/{map_name}",
                agent_ids=tuple(core.agents),
                obs_dims=(core.obs_dim,) * N,
                act_dims=(1,) * N,
                state_dim=core.state_dim,
                episode_length=max_steps,
                n_actions=(core.n_actions,) * N,
                shared_reward=True,
                options={"max_steps": max_steps, "enemy_shoots": enemy_shoots, "attack_mode": attack_mode},
            )
        )
        # what this env stands for; a substitute says so in its name and here
        self.card = {
            "engine": "jaxmarl==0.2.0 SMAX, HeuristicEnemySMAX",
            "smac_map": m["smac_map"],
            "smac_episode_limit": m["limit"],
            "substitute": m["substitute"],
            "n_allies": core.n_allies,
            "n_enemies": core.n_enemies,
            "unit_types": core.unit_types.tolist(),
            "deviations": list(DEVIATIONS),
        }
        self._key = None
        self._st = None
        self._out: dict | None = None

    def _reset(self, seed):
        if seed is None and self._key is None:
            seed = _fresh_seed()
        key = self.core.key(_seeds(int(seed))) if seed is not None else self._key
        self._key, self._st, out = self.core.reset(key)
        self._out = _to_numpy(out)
        return list(self._out["obs"])

    def _step(self, actions):
        a = np.asarray([int(x) for x in actions], dtype=np.int32)
        self._key, self._st, out = self.core.step(self._key, self._st, a)
        self._out = out = _to_numpy(out)
        r = np.full(self.spec.n_agents, out["reward"], dtype=np.float32)
        info = {"won": bool(out["won"]), "avail_actions": out["avail"].copy()}
        return list(out["obs"]), r, bool(out["terminated"]), False, info

    def state(self) -> np.ndarray:
        return self._out["state"].astype(np.float32)

    def avail_actions(self) -> np.ndarray:
        """[N, n_actions] bool: the actions each agent may take now (a dead unit: only stop = 4)."""
        return self._out["avail"].copy()

    def alive(self) -> np.ndarray:
        """[N] bool: which allies are alive now."""
        return self._out["allies_alive"].copy()

    def as_pettingzoo(self):
        return SmaxPettingZooView(self)


class SmaxPettingZooView(PettingZooView):
    """PettingZoo view whose infos carry each agent's ``action_mask`` (int8, PettingZoo's convention)."""

    def _masks(self):
        m = self.env.avail_actions().astype(np.int8)
        return {a: {"action_mask": m[i]} for i, a in enumerate(self.possible_agents)}

    def reset(self, seed=None, options=None):
        obs, _ = super().reset(seed, options)
        return obs, self._masks()

    def step(self, actions):
        obs, rew, term, trunc, infos = super().step(actions)
        masks = self._masks()
        return obs, rew, term, trunc, {a: masks[a] for a in infos}


# ---- E copies stepped by one jitted vmap ----------------------------------------------------------------


class SmaxVecEnv(VecEnv):
    """E copies of one smax env stepped by one ``jit(vmap(step))`` call; the contract of envs.base.VecEnv.

    ``reset(seed)`` seeds copy k with ``seed + k`` (or ``seeds[k]``); ``step(actions [E, N, 1] or [E, N])``
    -> obs [E, N, O], rewards [E, N], terminated [E], done [E]. A copy whose episode ended is frozen (obs kept,
    rewards 0, done True) until the next reset. ``info`` holds the last step's ``won`` [E], ``truncated`` [E]
    and ``avail_actions`` [E, N, n_actions]; ``avail_actions()`` and ``state()`` [E, S] are the current ones."""

    def __init__(self, env: SmaxEnv, n: int):
        self.env = env
        self.core = env.core
        self.spec = env.spec
        self.envs = []  # no per-copy Python envs: the copies live in one batched JAX state
        self._n = n
        self.done = np.ones(n, dtype=bool)
        self.t = np.zeros(n, dtype=np.int64)
        self._key = self._st = None
        self._out: dict | None = None
        self.info: dict = {}

    @property
    def n(self) -> int:
        return self._n

    def reset(self, seed=None, seeds=None) -> np.ndarray:
        if seeds is not None:
            if len(seeds) != self.n:
                raise ValueError(f"need one seed per env ({self.n}), got {len(seeds)}")
            seeds = np.asarray([int(s) for s in seeds])
        else:
            seed = _fresh_seed() if seed is None else int(seed)
            seeds = seed + np.arange(self.n)
        self._key, self._st, out = self.core.vreset(self.core.vkey(_seeds(seeds)))
        self._out = _to_numpy(out)
        self.done[:] = False
        self.t[:] = 0
        self.info = {}
        return self._out["obs"].astype(np.float32)

    def step(self, actions):
        if self._out is None:
            raise RuntimeError(f"{self.spec.name}: step() before reset()")
        a = np.asarray(actions)
        E, N, K = self.n, self.spec.n_agents, self.spec.n_actions[0]
        if a.shape not in ((E, N), (E, N, 1)):
            raise ValueError(f"{self.spec.name}: actions must have shape [{E}, {N}, 1] or [{E}, {N}], got {a.shape}")
        a = a.reshape(E, N)
        if not np.all(a == np.round(a)) or a.min() < 0 or a.max() >= K:
            raise ValueError(f"{self.spec.name}: actions must be integers in 0..{K - 1}, got {a.min()}..{a.max()}")
        was_done = self.done.copy()
        self._key, self._st, out = self.core.vstep(self._key, self._st, a.astype(np.int32), was_done)
        out = _to_numpy(out)
        live = ~was_done
        self.t += live
        terminated = out["terminated"] & live
        truncated = live & ~terminated & (self.t >= self.spec.episode_length)
        for k in ("obs", "state", "avail", "allies_alive", "enemies_alive"):
            out[k] = np.where(live.reshape((-1,) + (1,) * (out[k].ndim - 1)), out[k], self._out[k])
        self._out = out
        self.done = was_done | terminated | truncated
        rewards = np.where(live[:, None], out["reward"][:, None], 0.0).astype(np.float32) * np.ones((1, N), np.float32)
        self.info = {"won": out["won"] & live, "truncated": truncated, "avail_actions": out["avail"].copy()}
        return out["obs"].astype(np.float32), rewards, terminated, self.done.copy()

    def state(self) -> np.ndarray:
        return self._out["state"].astype(np.float32)

    def avail_actions(self) -> np.ndarray:
        return self._out["avail"].copy()

    def close(self) -> None:
        pass


def make_vec(env: SmaxEnv, n: int) -> SmaxVecEnv:
    """envs.make_vec's hook for this family: n batched copies of ``env``'s map and options."""
    return SmaxVecEnv(env, n)


# ---- factories ----------------------------------------------------------------------------------------


def _make(map_name: str, max_steps, enemy_shoots, attack_mode) -> SmaxEnv:
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 1:
        raise ValueError(f"max_steps={max_steps!r} is not allowed; max_steps must be an integer >= 1")
    if not isinstance(enemy_shoots, bool):
        raise ValueError(f"enemy_shoots={enemy_shoots!r} is not allowed; enemy_shoots must be True or False")
    if attack_mode not in ATTACK_MODES:
        raise ValueError(f"attack_mode={attack_mode!r} is not allowed; allowed: {', '.join(ATTACK_MODES)}")
    if importlib.util.find_spec("jaxmarl") is None:
        raise ImportError(
            f"smax/{map_name} needs the [smax] extra (jaxmarl on CPU jax): pip install -c constraints.txt -e '.[smax]'"
        )
    return SmaxEnv(map_name, int(max_steps), enemy_shoots, attack_mode)


# Options: max_steps (SMAC's limit of the map), enemy_shoots (False: the scripted enemy only walks; for tests and
# sanity checks), attack_mode (the scripted enemy's target choice, SMAX's default "closest").


def make_2s3z(*, max_steps=120, enemy_shoots=True, attack_mode="closest") -> SmaxEnv:
    """2 stalkers + 3 zealots vs the same (built into SMAX); SMAC limit 120."""
    return _make("2s3z", max_steps, enemy_shoots, attack_mode)


def make_3s_vs_3z(*, max_steps=150, enemy_shoots=True, attack_mode="closest") -> SmaxEnv:
    """3 stalkers vs 3 zealots (registered as a custom SMAX scenario); SMAC limit 150."""
    return _make("3s_vs_3z", max_steps, enemy_shoots, attack_mode)


def make_5m_vs_6m(*, max_steps=70, enemy_shoots=True, attack_mode="closest") -> SmaxEnv:
    """5 marines vs 6 marines (built into SMAX); SMAC limit 70."""
    return _make("5m_vs_6m", max_steps, enemy_shoots, attack_mode)


def make_10m_vs_11m(*, max_steps=150, enemy_shoots=True, attack_mode="closest") -> SmaxEnv:
    """10 marines vs 11 marines (built into SMAX); SMAC limit 150."""
    return _make("10m_vs_11m", max_steps, enemy_shoots, attack_mode)


def make_mmm_no_medivac(*, max_steps=150, enemy_shoots=True, attack_mode="closest") -> SmaxEnv:
    """SUBSTITUTE for SMAC's MMM: 2 marauders + 7 marines vs the same, no Medivac (SMAX has no healer); limit 150."""
    return _make("MMM_no_medivac", max_steps, enemy_shoots, attack_mode)
