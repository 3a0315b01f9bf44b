"""Farama's Multi-Agent Particle Environments through ``mpe2`` 1.1.x, unchanged.

    mpe/simple_spread       mpe2.simple_spread_v3.parallel_env(continuous_actions=True, N, local_ratio, max_cycles)
    mpe/simple_tag          mpe2.simple_tag_v3.parallel_env(continuous_actions=True, num_good, num_adversaries,
                                                            num_obstacles, max_cycles)
    mpe/simple_world_comm   mpe2.simple_world_comm_v3.parallel_env(continuous_actions=True, num_good, num_adversaries,
                                                                   num_obstacles, num_food, num_forests, max_cycles)

What our boundary adds and nothing more (mpe2's own API: docs/stack.md#mpe-through-mpe2):
- Every mpe2 agent is one of our agents, in mpe2's ``possible_agents`` order (adversaries first, then
  good agents / prey; the world_comm leader is agent 0). No agent is scripted here.
- Actions are mpe2's continuous ``Box(0, 1)``: 5 dims ``[no-op, left, right, down, up]`` per agent, 9 for the
  world_comm leader (5 move + 4 say); ``spec.act_low = 0``, ``act_high = 1``, padded to the widest agent.
  Like every env of ours, out-of-range actions are clipped to the box before they reach mpe2 (mpe2 does
  not check), and they are passed as float32, mpe2's own dtype.
- Observations are mpe2's float32 per-agent obs, zero-padded to the widest agent. ``state()`` is mpe2's
  ``state()`` (the concatenation of all agents' obs).
- Rewards per agent exactly as mpe2 gives them; ``terminated`` / ``truncated`` are the any() of mpe2's
  per-agent flags (mpe2 ends every agent together: truncation after ``max_cycles`` steps).
- ``reset(seed)`` calls mpe2's ``reset(seed=seed)``; ``reset(None)`` continues mpe2's own RNG.
"""

from __future__ import annotations

import importlib
import numbers

import numpy as np

from envs.base import EnvSpec, MultiAgentEnv


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be an integer >= {minimum}")
    return int(value)


class FaramaMPE(MultiAgentEnv):
    """One mpe2 parallel env behind the array boundary (see the module docstring)."""

    def __init__(self, name: str, module: str, options: dict):
        self.raw = importlib.import_module(module).parallel_env(continuous_actions=True, **options)
        agents = tuple(self.raw.possible_agents)
        obs_dims = tuple(int(np.prod(self.raw.observation_space(a).shape)) for a in agents)
        act_spaces = [self.raw.action_space(a) for a in agents]
        for a, sp in zip(agents, act_spaces):  # the boundary below assumes mpe2's Box(0, 1)
            assert np.all(sp.low == 0.0) and np.all(sp.high == 1.0), (a, sp)
        act_dims = tuple(int(sp.shape[0]) for sp in act_spaces)
        state_dim = int(np.prod(self.raw.state_space.shape))  # no reset here: mpe2's RNG stays untouched
        spec = EnvSpec(
            name=name,
            agent_ids=agents,
            obs_dims=obs_dims,
            act_dims=act_dims,
            state_dim=state_dim,
            episode_length=int(options["max_cycles"]),
            act_low=0.0,
            act_high=1.0,
            options=dict(options),
        )
        super().__init__(spec)

    def _reset(self, seed):
        obs, _ = self.raw.reset(seed=seed)
        return [obs[a] for a in self.spec.agent_ids]

    def _step(self, actions):
        agents = self.spec.agent_ids
        act = {a: np.asarray(actions[i], dtype=np.float32) for i, a in enumerate(agents)}
        obs, rew, term, trunc, info = self.raw.step(act)
        rewards = np.array([rew[a] for a in agents], dtype=np.float64)
        return (
            [obs[a] for a in agents],
            rewards,
            any(term.values()),
            any(trunc.values()),
            {"mpe2": info},
        )

    def state(self) -> np.ndarray:
        return np.asarray(self.raw.state(), dtype=np.float32)

    def close(self) -> None:
        self.raw.close()


def make_simple_spread(*, N=3, local_ratio=0.5, max_cycles=25) -> FaramaMPE:
    """simple_spread_v3: N agents cover N landmarks; reward (1-local_ratio)·global + local_ratio·local."""
    N = _check_int("N", N, 1)
    max_cycles = _check_int("max_cycles", max_cycles, 1)
    if (
        isinstance(local_ratio, bool)
        or not isinstance(local_ratio, numbers.Real)
        or not 0.0 <= local_ratio <= 1.0
    ):
        raise ValueError(
            f"local_ratio={local_ratio!r} is not allowed; local_ratio must be a number in [0, 1]"
        )
    opts = dict(N=N, local_ratio=float(local_ratio), max_cycles=max_cycles)
    return FaramaMPE("mpe/simple_spread", "mpe2.simple_spread_v3", opts)


def make_simple_tag(*, num_good=1, num_adversaries=3, num_obstacles=2, max_cycles=25) -> FaramaMPE:
    """simple_tag_v3: adversaries (predators) chase good agents (prey); all of them are our agents."""
    opts = dict(
        num_good=_check_int("num_good", num_good, 1),
        num_adversaries=_check_int("num_adversaries", num_adversaries, 1),
        num_obstacles=_check_int("num_obstacles", num_obstacles, 0),
        max_cycles=_check_int("max_cycles", max_cycles, 1),
    )
    return FaramaMPE("mpe/simple_tag", "mpe2.simple_tag_v3", opts)


def make_simple_world_comm(
    *, num_good=2, num_adversaries=4, num_obstacles=1, num_food=2, num_forests=2, max_cycles=25
) -> FaramaMPE:
    """simple_world_comm_v3: a leader adversary (9-dim action: move + say) and adversaries chase good agents."""
    opts = dict(
        num_good=_check_int("num_good", num_good, 1),
        num_adversaries=_check_int("num_adversaries", num_adversaries, 1),  # includes the leader
        num_obstacles=_check_int("num_obstacles", num_obstacles, 0),
        num_food=_check_int("num_food", num_food, 0),
        num_forests=_check_int("num_forests", num_forests, 0),
        max_cycles=_check_int("max_cycles", max_cycles, 1),
    )
    return FaramaMPE("mpe/simple_world_comm", "mpe2.simple_world_comm_v3", opts)
