"""smax/<map>: SMAC's unit micromanagement through JaxMARL's SMAX, a JAX re-implementation (no StarCraft II).

StarCraft II does not run here and SMAC has no PyPI build, so the StarCraft items of CAST-BCQ (Table 1,
Figure 5) and OTC (Figure 6d) run on SMAX (``pip install -e '.[smax]'``: jaxmarl 0.2.0 on CPU jax; facts in
docs/smax.md). Only envs/smax_core.py imports jax, and only when an smax env is made.

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
The map table and the jitted core are in envs/smax_core.py.
"""

from __future__ import annotations

import importlib.util
import numbers

import numpy as np

from envs.base import EnvSpec, MultiAgentEnv, VecEnv
from envs.pettingzoo_view import PettingZooView
from envs.smax_core import MAPS, as_seeds, fresh_seed, jitted_core, to_numpy

ATTACK_MODES = ("closest", "random")
DEVIATIONS = (
    "JaxMARL SMAX engine, not StarCraft II: different unit dynamics, no shields (Protoss HP folded into health)",
    "scripted HeuristicEnemySMAX opponent, not SC2's built-in AI: absolute win rates are not comparable to SMAC's",
    "SMAX obs/state/action layouts and reward scale (max return ~2 = normalized damage + 1 for a win; SMAC: 20)",
    "actions 5 + n_enemies with no separate no-op (stop = 4 for dead units); SMAC has 6 + n_enemies",
)


# ---- the single env ------------------------------------------------------------------------------------


class SmaxEnv(MultiAgentEnv):
    def __init__(self, map_name: str, max_steps: int, enemy_shoots: bool, attack_mode: str):
        self.core = core = jitted_core(map_name, max_steps, enemy_shoots, attack_mode)
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
            seed = fresh_seed()
        key = self.core.key(as_seeds(int(seed))) if seed is not None else self._key
        self._key, self._st, out = self.core.reset(key)
        self._out = to_numpy(out)
        return list(self._out["obs"])

    def _step(self, actions):
        a = np.asarray([int(x) for x in actions], dtype=np.int32)
        self._key, self._st, out = self.core.step(self._key, self._st, a)
        self._out = out = to_numpy(out)
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
            seed = fresh_seed() if seed is None else int(seed)
            seeds = seed + np.arange(self.n)
        self._key, self._st, out = self.core.vreset(self.core.vkey(as_seeds(seeds)))
        self._out = to_numpy(out)
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
            raise ValueError(
                f"{self.spec.name}: actions must have shape [{E}, {N}, 1] or [{E}, {N}], got {a.shape}"
            )
        a = a.reshape(E, N)
        if not np.all(a == np.round(a)) or a.min() < 0 or a.max() >= K:
            raise ValueError(
                f"{self.spec.name}: actions must be integers in 0..{K - 1}, got {a.min()}..{a.max()}"
            )
        was_done = self.done.copy()
        self._key, self._st, out = self.core.vstep(self._key, self._st, a.astype(np.int32), was_done)
        out = to_numpy(out)
        live = ~was_done
        self.t += live
        terminated = out["terminated"] & live
        truncated = live & ~terminated & (self.t >= self.spec.episode_length)
        for k in ("obs", "state", "avail", "allies_alive", "enemies_alive"):
            out[k] = np.where(live.reshape((-1,) + (1,) * (out[k].ndim - 1)), out[k], self._out[k])
        self._out = out
        self.done = was_done | terminated | truncated
        rewards = np.where(live[:, None], out["reward"][:, None], 0.0).astype(np.float32) * np.ones(
            (1, N), np.float32
        )
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
