"""One interface over every environment of the four papers.

    import envs
    envs.names()                               # every registered name
    env = envs.make("omar/spread")             # a MultiAgentEnv (array boundary, see envs.base)
    venv = envs.make_vec("omar/spread", 10)    # 10 copies for vectorised rollouts

An unknown name or option raises ValueError listing the valid ones. Factories are imported lazily so
that `import envs` stays cheap and a missing optional backend only fails the names that need it.
"""

from __future__ import annotations

import importlib
import inspect

from envs.base import EnvSpec, MultiAgentEnv, VecEnv

# name -> (module, factory function). The factory's keyword arguments are the env's options.
_REGISTRY: dict[str, tuple[str, str]] = {
    # OMAR's particle worlds (docs/omar_official_code.md#particle-environments), built on mpe2's core
    "omar/spread": ("envs.particles", "make_omar_spread"),
    "omar/tag": ("envs.particles", "make_omar_tag"),
    "omar/world": ("envs.particles", "make_omar_world"),
    "omar/spread1d": ("envs.particles", "make_omar_spread1d"),
    # OTC's particle variants (OTC §4.4, §4.7)
    "otc/navigation": ("envs.particles", "make_otc_navigation"),
    "otc/predator_prey": ("envs.particles", "make_otc_predator_prey"),
    # Farama's MPE through mpe2, unchanged
    "mpe/simple_spread": ("envs.farama_mpe", "make_simple_spread"),
    "mpe/simple_tag": ("envs.farama_mpe", "make_simple_tag"),
    "mpe/simple_world_comm": ("envs.farama_mpe", "make_simple_world_comm"),
    # Multi-agent MuJoCo from Gymnasium-Robotics
    "mamujoco/halfcheetah-2x3": ("envs.mamujoco", "make_halfcheetah_2x3"),
    "mamujoco/hopper-3x1": ("envs.mamujoco", "make_hopper_3x1"),
    "mamujoco/walker2d-2x3": ("envs.mamujoco", "make_walker2d_2x3"),
    "mamujoco/reacher-2x1": ("envs.mamujoco", "make_reacher_2x1"),
    "mamujoco/ant-4x2": ("envs.mamujoco", "make_ant_4x2"),
    # small games
    "games/coordination": ("envs.games", "make_coordination"),
    "games/cliff_grid": ("envs.games", "make_cliff_grid"),
    "games/nonstationary_nav": ("envs.games", "make_nonstationary_nav"),
    # SMAC's maps on JaxMARL's SMAX (optional extra [smax]; jax is imported only when one is made)
    "smax/2s3z": ("envs.smax", "make_2s3z"),
    "smax/3s_vs_3z": ("envs.smax", "make_3s_vs_3z"),
    "smax/5m_vs_6m": ("envs.smax", "make_5m_vs_6m"),
    "smax/10m_vs_11m": ("envs.smax", "make_10m_vs_11m"),
    "smax/MMM_no_medivac": ("envs.smax", "make_mmm_no_medivac"),  # a substitute: SMAX has no Medivac
}

# families that batch their copies themselves: name prefix -> (module, function(env, n) -> VecEnv)
_VEC_REGISTRY: dict[str, tuple[str, str]] = {
    "smax/": ("envs.smax", "make_vec"),
}


def names() -> list[str]:
    """Every registered environment name, sorted."""
    return sorted(_REGISTRY)


def _factory(name: str):
    if name not in _REGISTRY:
        raise ValueError(f"unknown env {name!r}; valid names: {', '.join(names())}")
    module, fn = _REGISTRY[name]
    return getattr(importlib.import_module(module), fn)


def options(name: str) -> dict[str, object]:
    """The options `make(name, ...)` accepts, with their defaults."""
    sig = inspect.signature(_factory(name))
    return {
        k: p.default
        for k, p in sig.parameters.items()
        if p.kind == p.KEYWORD_ONLY or p.default is not p.empty
    }


def make(name: str, **opts) -> MultiAgentEnv:
    """Build environment `name` with `opts`; unknown names or options raise ValueError."""
    factory = _factory(name)
    valid = options(name)
    bad = sorted(set(opts) - set(valid))
    if bad:
        raise ValueError(f"unknown option(s) {bad} for env {name!r}; valid options: {sorted(valid)}")
    return factory(**opts)


def make_vec(name: str, n: int, **opts) -> VecEnv:
    """n independent copies of `make(name, **opts)` (one batched JAX env for the smax family)."""
    if n < 1:
        raise ValueError(f"make_vec needs n >= 1, got {n}")
    for prefix, (module, fn) in _VEC_REGISTRY.items():
        if name.startswith(prefix):
            return getattr(importlib.import_module(module), fn)(make(name, **opts), n)
    return VecEnv([make(name, **opts) for _ in range(n)])


__all__ = ["EnvSpec", "MultiAgentEnv", "VecEnv", "make", "make_vec", "names", "options"]
