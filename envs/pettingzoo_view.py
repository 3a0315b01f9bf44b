"""PettingZoo ParallelEnv view over any :class:`envs.base.MultiAgentEnv` (dict boundary, unpadded)."""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv


class PettingZooView(ParallelEnv):
    metadata = {"name": "offmarl_view", "render_modes": []}

    def __init__(self, env):
        self.env = env
        spec = env.spec
        self.spec = spec
        self.possible_agents = list(spec.agent_ids)
        self.agents: list[str] = []
        self.metadata = {"name": spec.name.replace("/", "_"), "render_modes": []}

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        i = self.possible_agents.index(agent)
        return spaces.Box(-np.inf, np.inf, (self.spec.obs_dims[i],), np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        i = self.possible_agents.index(agent)
        if self.spec.discrete:
            return spaces.Discrete(self.spec.n_actions[i])
        return spaces.Box(self.spec.act_low, self.spec.act_high, (self.spec.act_dims[i],), np.float32)

    def _obs_dict(self, obs):
        return {a: obs[i, : self.spec.obs_dims[i]].copy() for i, a in enumerate(self.possible_agents)}

    def reset(self, seed=None, options=None):
        obs = self.env.reset(seed)
        self.agents = list(self.possible_agents)
        return self._obs_dict(obs), {a: {} for a in self.agents}

    def step(self, actions):
        spec = self.spec
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"{spec.name}: no action for agents {missing}")
        if spec.discrete:
            arr = np.array([[int(actions[a])] for a in self.possible_agents], dtype=np.int64)
        else:
            arr = np.zeros((spec.n_agents, spec.act_dim), dtype=np.float32)
            for i, a in enumerate(self.possible_agents):
                arr[i, : spec.act_dims[i]] = actions[a]
        obs, rew, term, trunc, info = self.env.step(arr)
        agents = list(self.agents)
        out = (
            self._obs_dict(obs),
            {a: float(rew[i]) for i, a in enumerate(self.possible_agents)},
            {a: bool(term) for a in agents},
            {a: bool(trunc) for a in agents},
            {a: {} for a in agents},
        )
        if term or trunc:
            self.agents = []
        return out

    def state(self):
        return np.asarray(self.env.state(), dtype=np.float32)

    def render(self):
        return None

    def close(self):
        self.env.close()
