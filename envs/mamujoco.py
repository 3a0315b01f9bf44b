"""Multi-Agent MuJoCo (Gymnasium-Robotics ``mamujoco_v1`` 1.4.x) behind our array boundary, with the
per-agent observations of each paper as an ``obs_mode`` option.

    mamujoco/halfcheetah-2x3   obs_mode: omar (default) | cast_bcq | own_public | otc | mamujoco
    mamujoco/hopper-3x1        obs_mode: cast_bcq (default) | own_public | otc | mamujoco
    mamujoco/walker2d-2x3      obs_mode: cast_bcq (default) | own_public | otc | mamujoco
    mamujoco/reacher-2x1       obs_mode: leader-only (default) | independent | full
    mamujoco/ant-4x2           obs_mode: partial (default) | full

Dynamics, rewards, termination and the split of the action among agents are MaMuJoCo's: every step goes
through ``mamujoco_v1.parallel_env(scenario, agent_conf, ...).step`` (which steps the Gymnasium v5
single-agent env). What this module adds:

- **State** ``state()`` = MaMuJoCo's ``state()`` = the v5 single-agent observation (HalfCheetah 17, Hopper 11,
  Walker2d 17, Reacher 10, Ant 27: Ant-v5 built with ``include_cfrc_ext_in_observation=False`` and handed to
  MaMuJoCo as ``gym_env``, so the contact forces are gone as in MOMA-PPO's cut to 27 dims).
- **Per-agent observation** = ``state[obs_index[i]]`` for a fixed index set per agent and mode (below).
  Modes ``omar`` and ``mamujoco`` are MaMuJoCo's own observations (its ``observation_factorization``, i.e.
  ``map_global_state_to_local_observations(state)``); the other modes are index sets we define from
  the papers' code. All are float32 at our boundary, zero-padded to the widest agent. One difference from
  the obs MaMuJoCo's ``step`` returns: for Walker2d those do not clip velocities, while Walker2d-v5's state
  (hence D4RL data and our obs) clips every qvel to [-10, 10]; we take the state's value so that single-agent
  data maps exactly onto what the env shows (HalfCheetah and Hopper agree with MaMuJoCo's step obs exactly).
- **Per-agent action** = MaMuJoCo's local action: agent i's dims are the joints of its partition, in the
  partition's order, and ``join`` is ``map_local_actions_to_global_action``. Global action index per agent:
  HalfCheetah [0,1,2] [3,4,5] (bthigh,bshin,bfoot | fthigh,fshin,ffoot); Hopper [0] [1] [2] (thigh, leg,
  foot); Walker2d [2,1,0] [5,4,3] (foot,leg,thigh of the right | left leg: MaMuJoCo 1.4 lists them foot
  first); Reacher [0] [1] (joint0 | joint1); Ant [2,3] [4,5] [6,7] [0,1] (hip,ankle of the front-left,
  front-right, back-left, back-right leg; Ant's actuators are listed hip_4 first).
- One team reward (``spec.shared_reward``), ``terminated``/``truncated`` passed through from the v5 env
  (Hopper, Walker2d and Ant end early when unhealthy); episodes of 1000 steps (Reacher 50).
- ``reset(seed)`` calls ``reset(seed=seed)`` of MaMuJoCo (hence of the v5 env); ``reset(None)`` continues its RNG.
- Two known third-party messages that tell our users nothing are dropped where we trigger them (Farama's
  Adroit notice on ``import gymnasium_robotics``; MuJoCo's ``settotalmass`` compiler warning, once per
  HalfCheetah built); any other output of those calls passes (tests/test_noise.py).

Observation index sets of each mode: envs/mamujoco_modes.py.

Decisions where the papers are silent or their code disagrees with itself (also in the report):
- Ant: MOMA-PPO pairs agent k's observation (leg k's joints, qpos order) with action dims [2k, 2k+1], but
  gym's Ant lists its actuators hip_4, ankle_4, hip_1, ... so their agent 0 sees the front-left leg and drives
  the back-right one. We follow MaMuJoCo's partition: every agent observes the leg it actuates.
- Walker2d: CAST-BCQ (old MaMuJoCo) gives agent 0 the global action dims [0,1,2] in that order; MaMuJoCo
  1.4 orders them (foot, leg, thigh) = [2,1,0]. We keep MaMuJoCo 1.4's order in every mode: it is a fixed
  permutation inside each agent's action vector, and ``split``/``join`` apply it to data consistently.
- CAST-BCQ's index sets are its ``agent_obs_index`` (docs/cast_bcq_official_code.md#observation-split); each
  agent's obs is the full state reordered. We put the agent's own set first, then the others in agent order,
  then public; the official code uses agent order for every agent, which differs from ours only by a fixed
  permutation of the inputs.

The inverse map (single-agent D4RL-protocol data -> our per-agent arrays):

    env = envs.make("mamujoco/halfcheetah-2x3", obs_mode="cast_bcq")
    obs_n, act_n = env.split(states, actions)        # [T, S], [T, J] -> [T, N, O] float32, [T, N, A]
    actions = env.join(act_n)                        # [T, N, A] -> [T, J], exact inverse
    obs_n, act_n = split_transitions("mamujoco/halfcheetah-2x3", states, actions, obs_mode="cast_bcq")

``split`` of the states and joint actions an env produced equals its per-agent obs and actions exactly.
A few foreign state layouts are accepted and converted first: Ant with more than 27 columns (D4RL's 111 or
Ant-v5's default 105) is cut to its first 27 columns, as MOMA-PPO does; Reacher with 11 columns (gym v2, as in
MOMA-PPO's datasets) drops column 10 (the always-zero z of fingertip − target).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys

import numpy as np

from envs.base import EnvSpec, MultiAgentEnv
from envs.mamujoco_modes import check_mode

# MOMA-PPO, per 50-step episode (docs/moma_ppo_official_code.md#normalization)
REACHER_REF_SCORES = {"random": -11.144625, "expert": -4.2370844}
# D4RL's ant REF_MIN / REF_MAX (MOMA-PPO Table 2 normalizes the Ant datasets and scores with them)
ANT_REF_SCORES = {"random": -325.6, "expert": 3879.7}


# ---- third-party output that tells our users nothing -------------------------------------------------
# Each pattern is one known message, dropped only around the call of ours that triggers it; every other
# line that call writes is passed on unchanged.
# Farama's notice on the Adroit hand envs' rewards, printed to sys.stderr by ``import gymnasium_robotics``
# (from the farama_notifications package) whatever envs one uses; we use none of them.
_ADROIT_NOTICE = re.compile(r"^AdroitHand\w+-v1, .*reward functions were updated in v1\.2\.1")
# MuJoCo's compiler warning on Gymnasium's half_cheetah.xml (``<compiler settotalmass="14"/>``), raised at
# every compile of the model (every HalfCheetah env built) by C code that prints it to stderr and appends it
# to MUJOCO_LOG.TXT in the working directory. The masses the attribute sets are the ones the env means.
_MUJOCO_NOISE = re.compile(r"^compiler attribute 'settotalmass' is deprecated")


def _import_mamujoco():
    """``gymnasium_robotics.mamujoco_v1``; the first import's stderr without Farama's Adroit notice."""
    if "gymnasium_robotics" not in sys.modules:
        buf = io.StringIO()
        try:
            with contextlib.redirect_stderr(buf):
                import gymnasium_robotics  # noqa: F401
        finally:
            lines = buf.getvalue().splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not _ADROIT_NOTICE.match(line)))
    from gymnasium_robotics import mamujoco_v1

    return mamujoco_v1


def _warn_to_stderr(msg: str) -> None:
    """MuJoCo's warnings as MuJoCo prints them (``WARNING: ...`` on stderr), without its log file: MuJoCo's own
    default also appends each to MUJOCO_LOG.TXT in the working directory (the repository, under run_all.sh and the
    tests), e.g. "Nan, Inf or huge value in QACC" from an unstable simulation. The known noise is dropped."""
    if not _MUJOCO_NOISE.match(msg):
        print(f"WARNING: {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def quiet_mujoco_warnings():
    """Within: MuJoCo warnings matching ``_MUJOCO_NOISE`` are dropped (neither printed nor logged); any
    other goes to the warning handler set before. With none set, ``_warn_to_stderr`` becomes this process's handler
    first (here and after the block: every env of ours is built in this block, so MuJoCo never writes its log file)."""
    import mujoco

    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_warn_to_stderr)
    before = mujoco.get_mju_user_warning()

    def handler(msg: str) -> None:
        if _MUJOCO_NOISE.match(msg):
            return
        before(msg)

    mujoco.set_mju_user_warning(handler)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(before)


# ---- the env ----------------------------------------------------------------------------------------


class MaMuJoCoEnv(MultiAgentEnv):
    """One ``mamujoco_v1.parallel_env`` behind the array boundary (see the module docstring)."""

    def __init__(
        self,
        name: str,
        task: str,
        scenario: str,
        agent_conf: str,
        obs_mode: str,
        episode_length: int,
        ref_scores: dict[str, float] | None = None,
        gym_env=None,
        **mamujoco_kwargs,
    ):
        mamujoco_v1 = _import_mamujoco()
        mode = check_mode(name, task, obs_mode)
        kwargs = {**mamujoco_kwargs, **dict(mode.mamujoco_kwargs)}
        if gym_env is not None:
            kwargs["gym_env"] = gym_env
        with quiet_mujoco_warnings():  # builds (compiles) the MuJoCo model
            self.raw = mamujoco_v1.parallel_env(scenario, agent_conf, **kwargs)
        self.native = mode.obs_index is None  # per-agent obs are MaMuJoCo's own
        agents = tuple(self.raw.possible_agents)
        if self.native:
            fac = self.raw.observation_factorization
            self.obs_index = [np.asarray(fac[a], dtype=np.int64) for a in agents]
        else:
            self.obs_index = [np.asarray(ix, dtype=np.int64) for ix in mode.obs_index]
        # global action index of each agent's local action dims (MaMuJoCo's partition, in its order)
        parts = self.raw.agent_action_partitions
        self.act_index = [np.array([node.act_ids for node in part], dtype=np.int64) for part in parts]
        state_dim = int(self.raw.single_agent_env.observation_space.shape[0])
        self.joint_act_dim = int(self.raw.single_agent_env.action_space.shape[0])
        assert sorted(np.concatenate(self.act_index).tolist()) == list(range(self.joint_act_dim))
        for ix in self.obs_index:
            assert ix.min() >= 0 and ix.max() < state_dim, (name, obs_mode, ix)
        for a in agents:  # our action bounds are the library's (Box(-1, 1) for every task here)
            sp = self.raw.action_space(a)
            assert np.all(sp.low == -1.0) and np.all(sp.high == 1.0), (a, sp)
        spec = EnvSpec(
            name=name,
            agent_ids=agents,
            obs_dims=tuple(len(ix) for ix in self.obs_index),
            act_dims=tuple(len(ix) for ix in self.act_index),
            state_dim=state_dim,
            episode_length=int(episode_length),
            act_low=-1.0,
            act_high=1.0,
            ref_scores=None if ref_scores is None else dict(ref_scores),
            shared_reward=True,
            options={"obs_mode": obs_mode},
        )
        super().__init__(spec)
        self.task = task
        self.obs_mode = obs_mode

    # ---- MultiAgentEnv ------------------------------------------------------------------------------
    def _obs(self) -> list[np.ndarray]:
        # state[index] in every mode; in MaMuJoCo's own modes this is its map_global_state_to_local_observations
        s = self.raw.state()
        return [s[ix] for ix in self.obs_index]

    def _reset(self, seed):
        self.raw.reset(seed=seed)
        return self._obs()

    def _step(self, actions):
        # MaMuJoCo's ``step`` (mujoco_multi.py) less its per-agent observations, which we read from ``state()``:
        # the local actions mapped to the global one (``map_local_actions_to_global_action``: every dim set once,
        # checked in __init__), the single-agent env's step, its reward for every agent, and the agents cleared
        # when the episode ends. Its ``_get_obs`` (obsk.build_obs per agent) and dict building cost 10-15 % of an Ant
        # step here (2026-11-26, A/B in one process beside two training runs on the 2 cores); tests/
        # test_envs_mamujoco.py's step parity against MaMuJoCo's own step holds bit for bit.
        g = np.full(self.joint_act_dim, np.nan)
        for ix, a in zip(self.act_index, actions):
            g[ix] = a
        _, rew, term, trunc, info = self.raw.single_agent_env.step(g)
        if term or trunc:
            self.raw.agents = []
        rewards = np.full(self.spec.n_agents, rew, dtype=np.float64)
        return self._obs(), rewards, bool(term), bool(trunc), {"mamujoco": info}

    def state(self) -> np.ndarray:
        return np.asarray(self.raw.state(), dtype=np.float32)

    def close(self) -> None:
        self.raw.close()

    # ---- the inverse map: single-agent data <-> per-agent arrays -----------------------------------
    def _as_state(self, states) -> np.ndarray:
        s = np.asarray(states)
        S = self.spec.state_dim
        if s.shape[-1] != S:
            if self.task == "ant" and s.shape[-1] in (105, 111):  # Ant-v5 default / D4RL ant: drop cfrc_ext
                s = s[..., :S]
            elif self.task == "reacher" and s.shape[-1] == 11:  # gym v2 Reacher: drop the always-zero tip z
                s = s[..., :10]
            else:
                raise ValueError(f"{self.spec.name}: states must have {S} columns, got shape {s.shape}")
        return s

    def split_obs(self, states) -> np.ndarray:
        """[..., S] single-agent observations -> [..., N, O] float32 per-agent obs, zero-padded."""
        s = self._as_state(states)
        spec = self.spec
        out = np.zeros(s.shape[:-1] + (spec.n_agents, spec.obs_dim), dtype=np.float32)
        for i, ix in enumerate(self.obs_index):
            out[..., i, : len(ix)] = s[..., ix]
        return out

    def split_actions(self, actions) -> np.ndarray:
        """[..., J] joint (single-agent) actions -> [..., N, A] per-agent actions, zero-padded, same dtype."""
        a = np.asarray(actions)
        if a.shape[-1] != self.joint_act_dim:
            raise ValueError(
                f"{self.spec.name}: joint actions must have {self.joint_act_dim} columns, got shape {a.shape}"
            )
        spec = self.spec
        out = np.zeros(a.shape[:-1] + (spec.n_agents, spec.act_dim), dtype=a.dtype)
        for i, ix in enumerate(self.act_index):
            out[..., i, : len(ix)] = a[..., ix]
        return out

    def split(self, states, actions) -> tuple[np.ndarray, np.ndarray]:
        """Single-agent (D4RL-protocol) states [..., S] and joint actions [..., J] ->
        per-agent obs [..., N, O] (float32) and actions [..., N, A]."""
        return self.split_obs(states), self.split_actions(actions)

    def join(self, actions) -> np.ndarray:
        """[..., N, A] per-agent actions -> [..., J] joint action (``map_local_actions_to_global_action``, batched)."""
        a = np.asarray(actions)
        spec = self.spec
        if a.shape[-2:] != (spec.n_agents, spec.act_dim):
            raise ValueError(
                f"{spec.name}: per-agent actions must end in ({spec.n_agents}, {spec.act_dim}), got {a.shape}"
            )
        out = np.zeros(a.shape[:-2] + (self.joint_act_dim,), dtype=a.dtype)
        for i, ix in enumerate(self.act_index):
            out[..., ix] = a[..., i, : len(ix)]
        return out


# ---- factories (their keyword arguments are the env options) ----------------------------------------


def make_halfcheetah_2x3(*, obs_mode: str = "omar") -> MaMuJoCoEnv:
    """HalfCheetah-v5 split in 2 agents of 3 joints (agent 0 back leg, agent 1 front leg)."""
    return MaMuJoCoEnv("mamujoco/halfcheetah-2x3", "halfcheetah", "HalfCheetah", "2x3", obs_mode, 1000)


def make_hopper_3x1(*, obs_mode: str = "cast_bcq") -> MaMuJoCoEnv:
    """Hopper-v5 split in 3 agents of 1 joint (thigh, leg, foot); ends early when unhealthy."""
    return MaMuJoCoEnv("mamujoco/hopper-3x1", "hopper", "Hopper", "3x1", obs_mode, 1000)


def make_walker2d_2x3(*, obs_mode: str = "cast_bcq") -> MaMuJoCoEnv:
    """Walker2d-v5 split in 2 agents of 3 joints (right leg, left leg); ends early when unhealthy."""
    return MaMuJoCoEnv("mamujoco/walker2d-2x3", "walker2d", "Walker2d", "2x3", obs_mode, 1000)


def make_reacher_2x1(*, obs_mode: str = "leader-only") -> MaMuJoCoEnv:
    """Reacher-v5 split in 2 agents of 1 joint (MOMA-PPO); 50-step episodes, MOMA-PPO's reference scores."""
    return MaMuJoCoEnv(
        "mamujoco/reacher-2x1", "reacher", "Reacher", "2x1", obs_mode, 50, ref_scores=REACHER_REF_SCORES
    )


def make_ant_4x2(*, obs_mode: str = "partial") -> MaMuJoCoEnv:
    """Ant-v5 without contact forces in the obs (27-dim state), 4 agents of one leg (MOMA-PPO); D4RL's ant
    reference scores (MOMA-PPO Table 2)."""
    import gymnasium

    name = "mamujoco/ant-4x2"
    check_mode(name, "ant", obs_mode)  # before building the MuJoCo model
    gym_env = gymnasium.make("Ant-v5", include_cfrc_ext_in_observation=False)
    cats = [["qpos", "qvel"], ["qpos"]]  # MaMuJoCo's Ant default adds cfrc_ext, absent from this state
    return MaMuJoCoEnv(
        name,
        "ant",
        "Ant",
        "4x2",
        obs_mode,
        1000,
        ref_scores=ANT_REF_SCORES,
        gym_env=gym_env,
        local_categories=cats,
    )


# ---- module-level inverse map ---------------------------------------------------------------------


def _env(name_or_env, options: dict) -> MaMuJoCoEnv:
    if isinstance(name_or_env, MaMuJoCoEnv):
        if options:
            raise ValueError(
                f"options {sorted(options)} given with an env; pass a name to build one with them"
            )
        return name_or_env
    import envs

    env = envs.make(name_or_env, **options)
    if not isinstance(env, MaMuJoCoEnv):
        raise ValueError(f"{name_or_env!r} is not a mamujoco env")
    return env


def split_transitions(name_or_env, states, actions, **options) -> tuple[np.ndarray, np.ndarray]:
    """Single-agent states [T, S] and joint actions [T, J] -> per-agent obs [T, N, O] (float32, padded) and
    actions [T, N, A] of env ``name_or_env`` (a MaMuJoCoEnv, or a registered name built with ``options``,
    e.g. ``obs_mode="cast_bcq"``)."""
    return _env(name_or_env, options).split(states, actions)


def join_actions(name_or_env, actions, **options) -> np.ndarray:
    """Per-agent actions [T, N, A] -> joint single-agent actions [T, J]; the exact inverse of the action split."""
    return _env(name_or_env, options).join(actions)


__all__ = [
    "ANT_REF_SCORES",
    "MaMuJoCoEnv",
    "REACHER_REF_SCORES",
    "join_actions",
    "make_ant_4x2",
    "make_halfcheetah_2x3",
    "make_hopper_3x1",
    "make_reacher_2x1",
    "make_walker2d_2x3",
    "quiet_mujoco_warnings",
    "split_transitions",
]
