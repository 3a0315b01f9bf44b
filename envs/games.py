"""The small games of the papers, written from their text (no official code exists for any of them).

games/coordination  MOMA-PPO's offline Iterated Coordination Game (Barde et al. 2024, §5.2, Fig. 3a, Tables 1 and 3)
--------------------------------------------------------------------------------------------------------------
Two agents, ``Discrete(2)`` each: 0 = left (←), 1 = right (→). Both receive 1 when they pick the same
direction and 0 otherwise (Fig. 3a; §5.2: "Q(→,→) = Q(←,←) = 1 while Q(→,←) = Q(←,→) = 0").

Episode length (the paper is silent; we derive it). Table 1's "average score of the datasets" equals the
probability that two independent behavior agents match, P(→)P(→) + P(←)P(←): 0.75²+0.25² = 0.625 (table:
0.623), 0.5 (0.502), 0.25·0.75+0.75·0.25 = 0.375 (0.375), and Table 3 scores lie in [0, 1]. So a score
is the reward of ONE play of the matrix game, and the Q-values of §5.2 are the one-shot payoffs (with
γ > 0 over several plays they would exceed 1). The official code's 'toy' branches agree: world-model
rollouts of k = 1 step and no memory (docs/moma_ppo_official_code.md#iterated-coordination-game).
Hence ``episode_length = 1`` by default: an episode is one play of the game, and "iterated" means the
game is played again episode after episode.
``episode_length = T > 1`` plays T rounds in one episode (return in [0, T]; divide by T to compare with
the paper's scores).

Observation and state: the game has no state, so every agent observes the constant ``[1.0]`` and
``state()`` is ``[1.0]``. A constant 1 (not 0) lets a network's first layer see a non-zero input.
Seeds change nothing (the game is deterministic).

games/cliff_grid  CAST-BCQ's motivating example (Ma et al., §2.3, Fig. 1)
--------------------------------------------------------------------------
A robot on a 4×6 grid (4 rows, 6 columns) starts in the lower-left cell and must reach the upper-right
cell. Agent 1 moves it along x, agent 2 along y; each picks from ``Discrete(3)``: 0 = forward (+1),
1 = backward (−1), 2 = stay (0), in the paper's order "forward, backward and stay".

Coordinates (our choice, the one that fits the paper's example): 1-indexed, x ∈ {1..6} (columns, left to
right), y ∈ {1..4} (rows, bottom to top); start (1, 1), target (6, 4). The paper's example "at position
(4, 4), agent 1 should choose forward; if agent 2 also goes forward, the robot falls off the cliff" holds:
(4, 4) is on the top row, (5, 5) is off the grid.

Reward (shared by both agents) per step, our reading of "+10 for reaching the target, −10 for falling off
the cliff, and −1 for step cost": exactly one of the three applies to each step (the step cost is NOT
added on the goal or cliff step): +10 when the move lands on the target, −10 when it leaves the grid, −1
otherwise (including "stay"/bumping nowhere: there are no walls, any move off the grid is the cliff).
The episode terminates at the target or the cliff and is truncated after ``max_steps`` = 30 steps.
The optimal return from the start is 6 (3 diagonal + 1 x-only move cost −4, then +10 on the 5th step).

Observation: "agents receive their position", so both agents observe (x, y) as floats in the
coordinates above (after a fall, the off-grid cell the robot moved to). ``state()`` = (x, y).
The start is fixed, so seeds change nothing.

games/nonstationary_nav  OTC's non-stationary single-agent navigation (Jiang & Lu 2023, §4.5, Fig. 6c)
--------------------------------------------------------------------------------------------------------
Paper: one agent reaches a landmark for reward 10; its velocity is β·a, a the action; during data
collection the agent acts uniformly at random and β ~ U[−0.2, 0.2] per episode; during online fine-tuning
β moves from 0.1 to 0.2. Everything else is ours, kept closest to MPE (the paper's other tasks):
- one agent (N = 1), 2-D continuous action ``a ∈ [−1, 1]²`` (``act_low = −1``, ``act_high = 1``);
- one step: ``pos ← pos + β·a`` (no dt, no inertia, no damping: the velocity IS β·a, in units per step;
  with |β| ≤ 0.2 the agent moves at most 0.2 per axis per step, like OTC's MPE actions in [−0.1, 0.1]);
- start position and landmark uniform in [−1, 1]² from the env's RNG at each reset (as MPE's
  simple_spread); positions are not bounded afterwards (MPE has no walls);
- reward 10 on the step that brings the agent within ``goal_radius`` = 0.1 of the landmark (OTC's
  collision distance in its MPE tasks), and the episode TERMINATES there ("reaches a landmark to get a
  reward 10": one reward per episode, so returns are 0 or 10); 0 otherwise. An episode whose random start
  is already within the radius is redrawn; episodes last at most ``episode_length`` = 25 steps (MPE);
- observation ``[pos (2), landmark − pos (2)]`` (MPE's self-position and relative landmark position);
  β is NOT observed (it is the hidden non-stationarity). ``state()`` = ``[pos, landmark, β]`` (5);
- ``beta``: a number fixes β for every episode (default 0.1, the start of online fine-tuning);
  ``beta=None`` draws β ~ U[−0.2, 0.2] at each reset from the env's seeded RNG (data collection).
  ``set_beta(b)`` changes it between deployments (takes effect at once, also mid-episode); the β in use
  is ``env.beta`` and is reported in ``info["beta"]``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from envs.base import EnvSpec, MultiAgentEnv


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be an integer >= {minimum}")
    return int(value)


def _check_real(name: str, value, allowed: str, ok) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not ok(value)
    ):
        raise ValueError(f"{name}={value!r} is not allowed; {name} must be {allowed}")
    return float(value)


# ---- MOMA-PPO: offline Iterated Coordination Game ----------------------------------------------


class CoordinationGame(MultiAgentEnv):
    LEFT, RIGHT = 0, 1

    def __init__(self, episode_length: int):
        super().__init__(
            EnvSpec(
                name="games/coordination",
                agent_ids=("agent_0", "agent_1"),
                obs_dims=(1, 1),
                act_dims=(1, 1),
                state_dim=1,
                episode_length=episode_length,
                n_actions=(2, 2),
                shared_reward=True,
                options={"episode_length": episode_length},
            )
        )

    def _obs(self):
        return [np.ones(1, np.float32), np.ones(1, np.float32)]

    def _reset(self, seed):
        return self._obs()

    def _step(self, actions):
        r = 1.0 if int(actions[0]) == int(actions[1]) else 0.0
        return self._obs(), np.array([r, r]), False, False, {}

    def state(self) -> np.ndarray:
        return np.ones(1, np.float32)


def make_coordination(*, episode_length=1) -> CoordinationGame:
    """MOMA-PPO §5.2: two agents score 1 when they pick the same direction (see the module docstring)."""
    return CoordinationGame(_check_int("episode_length", episode_length, 1))


# ---- CAST-BCQ: 4x6 cliff grid -------------------------------------------------------------------


class CliffGrid(MultiAgentEnv):
    WIDTH, HEIGHT = 6, 4  # x in 1..6, y in 1..4
    START, GOAL = (1, 1), (6, 4)
    FORWARD, BACKWARD, STAY = 0, 1, 2
    MOVES = (1, -1, 0)  # by action index
    R_GOAL, R_CLIFF, R_STEP = 10.0, -10.0, -1.0

    STARTS = ("fixed", "uniform")

    def __init__(self, max_steps: int, start: str = "fixed"):
        super().__init__(
            EnvSpec(
                name="games/cliff_grid",
                agent_ids=("agent_x", "agent_y"),
                obs_dims=(2, 2),
                act_dims=(1, 1),
                state_dim=2,
                episode_length=max_steps,
                n_actions=(3, 3),
                shared_reward=True,
                options={"max_steps": max_steps, "start": start},
            )
        )
        self.start = start
        # "uniform": the 23 cells other than the goal, in (x, y) order
        self.cells = [
            (x, y) for x in range(1, self.WIDTH + 1) for y in range(1, self.HEIGHT + 1) if (x, y) != self.GOAL
        ]
        self._rng = np.random.default_rng(0)
        self.pos = self.START

    def _obs(self):
        p = np.array(self.pos, np.float32)
        return [p, p.copy()]

    def _reset(self, seed):
        if self.start == "fixed":
            self.pos = self.START
        else:  # reset(seed) reseeds the start RNG, reset(None) continues it
            if seed is not None:
                self._rng = np.random.default_rng(int(seed))
            self.pos = self.cells[int(self._rng.integers(len(self.cells)))]
        return self._obs()

    def _step(self, actions):
        x = self.pos[0] + self.MOVES[int(actions[0])]
        y = self.pos[1] + self.MOVES[int(actions[1])]
        self.pos = (x, y)
        if not (1 <= x <= self.WIDTH and 1 <= y <= self.HEIGHT):
            r, term, event = self.R_CLIFF, True, "cliff"
        elif self.pos == self.GOAL:
            r, term, event = self.R_GOAL, True, "goal"
        else:
            r, term, event = self.R_STEP, False, "step"
        return self._obs(), np.array([r, r]), term, False, {"event": event}

    def state(self) -> np.ndarray:
        return np.array(self.pos, np.float32)


def make_cliff_grid(*, max_steps=30, start="fixed") -> CliffGrid:
    """CAST-BCQ §2.3: two agents steer one robot (x and y) to the goal of a 4x6 grid without falling off.

    ``start``: "fixed" (the paper: every episode starts at the lower-left cell (1, 1)) or "uniform" (a
    uniformly drawn non-goal cell, for collecting Figure 1's variant dataset: from the fixed start,
    uniform-random play reaches the goal in ~0.5 % of episodes, so most 100-episode datasets hold no goal
    transition at all; see papers/cast_bcq/README.md)."""
    if start not in CliffGrid.STARTS:
        raise ValueError(f"start={start!r} is not allowed; allowed: {', '.join(CliffGrid.STARTS)}")
    return CliffGrid(_check_int("max_steps", max_steps, 1), start)


# ---- OTC: non-stationary single-agent navigation -------------------------------------------------


class NonstationaryNav(MultiAgentEnv):
    BETA_RANGE = (-0.2, 0.2)  # OTC §4.5: beta ~ U[-0.2, 0.2] during data collection
    R_GOAL = 10.0

    def __init__(self, beta, episode_length: int, goal_radius: float):
        super().__init__(
            EnvSpec(
                name="games/nonstationary_nav",
                agent_ids=("agent_0",),
                obs_dims=(4,),
                act_dims=(2,),
                state_dim=5,
                episode_length=episode_length,
                act_low=-1.0,
                act_high=1.0,
                shared_reward=True,
                options={"beta": beta, "episode_length": episode_length, "goal_radius": goal_radius},
            )
        )
        self.goal_radius = goal_radius
        self._fixed_beta = beta  # None: draw each reset
        self.beta = 0.0 if beta is None else beta
        self.rng = np.random.default_rng()
        self.pos = np.zeros(2)
        self.landmark = np.zeros(2)

    def set_beta(self, beta) -> None:
        """Fix beta for the following steps and episodes (None: draw from U[-0.2, 0.2] at each reset)."""
        if beta is not None:
            beta = _check_real("beta", beta, "a finite number or None", lambda b: True)
            self.beta = beta
        self._fixed_beta = beta

    def _obs(self):
        return [np.concatenate([self.pos, self.landmark - self.pos])]

    def _reset(self, seed):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        # draw order: beta (only when not fixed), landmark, start
        if self._fixed_beta is None:
            self.beta = float(self.rng.uniform(*self.BETA_RANGE))
        self.landmark = self.rng.uniform(-1.0, 1.0, 2)
        self.pos = self.rng.uniform(-1.0, 1.0, 2)
        while np.linalg.norm(self.pos - self.landmark) < self.goal_radius:
            self.pos = self.rng.uniform(-1.0, 1.0, 2)
        return self._obs()

    def _step(self, actions):
        a = np.asarray(actions[0], dtype=np.float64)  # already clipped to [-1, 1] by the base class
        self.pos = self.pos + self.beta * a
        reached = bool(np.linalg.norm(self.pos - self.landmark) < self.goal_radius)
        r = self.R_GOAL if reached else 0.0
        return self._obs(), np.array([r]), reached, False, {"beta": self.beta}

    def state(self) -> np.ndarray:
        return np.concatenate([self.pos, self.landmark, [self.beta]]).astype(np.float32)


def make_nonstationary_nav(*, beta=0.1, episode_length=25, goal_radius=0.1) -> NonstationaryNav:
    """OTC §4.5: reach a landmark (reward 10) with velocity beta*a; beta=None draws beta ~ U[-0.2, 0.2] per episode."""
    if beta is not None:
        allowed = "a finite number or None (None: beta ~ U[-0.2, 0.2] per episode)"
        beta = _check_real("beta", beta, allowed, lambda b: True)
    episode_length = _check_int("episode_length", episode_length, 1)
    goal_radius = _check_real("goal_radius", goal_radius, "a number in (0, 1]", lambda r: 0.0 < r <= 1.0)
    return NonstationaryNav(beta, episode_length, goal_radius)
