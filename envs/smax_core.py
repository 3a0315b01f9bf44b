"""SMAX's maps and its jitted core for the smax/<map> envs (envs/smax.py): the map table (SMAC's episode limits, the
scenarios we register, the substitute's label), and SMAX wrapped as pure functions on arrays, reset(key) and
step(key, state, actions), jitted and vmapped once per (map, options) and shared by every env of the process.
Only the core imports jax and jaxmarl, and only when an smax env is made.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

import numpy as np

__all__ = [
    "MAPS",
    "N_MOVE",
    "STOP",
    "SmaxCore",
    "jitted_core",
    "persistent_compilation_cache",
    "user_cache",
    "to_numpy",
    "fresh_seed",
    "as_seeds",
]

MARINE, MARAUDER, STALKER, ZEALOT = 0, 1, 2, 3  # SMAX unit type ids
N_MOVE = 5  # SMAX actions 0-3 move, 4 stop; attacks start at 5
STOP = 4

# map -> SMAC's episode limit; units = (types of allies then enemies, n_allies, n_enemies) for a scenario we
# register (None: SMAX's built-in one); the SMAC map it stands for; why it is a substitute (None: it is not)
MAPS: dict[str, dict] = {
    "2s3z": dict(limit=120, units=None, smac_map="2s3z", substitute=None),
    "3s_vs_3z": dict(
        limit=150, units=([STALKER] * 3 + [ZEALOT] * 3, 3, 3), smac_map="3s_vs_3z", substitute=None
    ),
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
def persistent_compilation_cache() -> str:
    """Keep jax's compiled SMAX steps on disk, so that a new process loads them instead of compiling again (about
    20 s of each item script's start on one CPU thread). ``$JAX_COMPILATION_CACHE_DIR`` if set (jax's own variable:
    the user's choice wins), else ``<user cache>/jax/<key>``, the key naming the jax version and this CPU type with
    its whole instruction-set flags: XLA compiles for the host CPU, so a cache shared by machines must never hand
    one CPU another's code. Returns the folder in use."""
    import hashlib

    import jax

    folder = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if not folder:
        key = hashlib.sha1(f"{jax.__version__}|{_cpu_signature()}".encode()).hexdigest()[:12]
        folder = os.path.join(user_cache(), "jax", key)
        jax.config.update("jax_compilation_cache_dir", folder)
    if not os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # the many small steps add up
    return folder


def user_cache() -> str:
    """The package's user cache folder, by common.running.roots.cache_root's rule ($OFFMARL_DATA, else
    $XDG_CACHE_HOME/offmarl-repro, else ~/.cache/offmarl-repro), restated here because envs/ imports nothing of
    ours, and common.running.roots must stay standard-library only, so neither can import the other
    (tests/test_envs_smax.py holds the two equal)."""
    from pathlib import Path

    env = os.environ.get("OFFMARL_DATA")
    if env:
        return str(Path(env).expanduser().absolute())
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).expanduser().is_absolute() else Path.home() / ".cache"
    return str(base / "offmarl-repro")


def _cpu_signature() -> str:
    """/proc/cpuinfo's model name, family, model and flags of the first processor (else the platform's name)."""
    import platform

    keep: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if not line.strip() and keep:
                break
            if key.strip() in ("model name", "cpu family", "model", "flags"):
                keep.setdefault(key.strip(), value.strip())
    return "|".join(f"{k}={v}" for k, v in sorted(keep.items())) or platform.processor() or platform.machine()


@functools.lru_cache(maxsize=None)
def jitted_core(map_name: str, max_steps: int, enemy_shoots: bool, attack_mode: str) -> "SmaxCore":
    return SmaxCore(map_name, max_steps, enemy_shoots, attack_mode)


class SmaxCore:
    """SMAX wrapped as pure functions on arrays: reset(key) and step(key, state, actions), jitted and vmapped."""

    def __init__(self, map_name: str, max_steps: int, enemy_shoots: bool, attack_mode: str):
        import jax
        import jax.numpy as jnp

        persistent_compilation_cache()
        # jaxmarl prints "Importing submoduled environments..." on import: no news for us
        with _quiet_stdout():
            from jaxmarl.environments.smax.heuristic_enemy_smax_env import HeuristicEnemySMAX
            from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO, Scenario, register_scenario

        m = MAPS[map_name]
        if m["units"] is not None and map_name not in MAP_NAME_TO_SCENARIO:
            types, n_allies, n_enemies = m["units"]
            register_scenario(
                map_name, Scenario(jnp.array(types, dtype=jnp.uint8), n_allies, n_enemies, False, False)
            )
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


def to_numpy(tree) -> dict:
    import jax

    return {k: np.asarray(v) for k, v in jax.device_get(tree).items()}


def fresh_seed() -> int:
    return int(np.random.default_rng().integers(2**31 - 1))


def as_seeds(seeds) -> np.ndarray:
    """Seeds as the uint32 that PRNGKey takes; out of range is an error, not a silent wrap."""
    s = np.asarray(seeds, dtype=np.int64)
    if s.min() < 0 or s.max() >= 2**32:
        raise ValueError(f"smax seeds must be integers in [0, 2**32), got {s.min()}..{s.max()}")
    return s.astype(np.uint32)
