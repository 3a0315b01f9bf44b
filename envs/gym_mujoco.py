"""The single-agent Gymnasium v5 MuJoCo robots behind D4RL-protocol datasets, with an exact save/restore of
their simulation state (for resumable behavior training).

    env = make_task("hopper")            # Hopper-v5, no wrappers: episodes are cut at EPISODE_LENGTH by the caller
    s = get_env_state(env); ...; set_env_state(env, s)   # continues bit-identically

Tasks are D4RL's four locomotion robots (D4RL used gym's -v2 under mujoco-py; these are Gymnasium v5 under
MuJoCo 4, a documented deviation): HalfCheetah 17/6, Hopper 11/3, Walker2d 17/6, Ant 27/8 (obs/action dims;
Ant-v5 built with ``include_cfrc_ext_in_observation=False``, the 27-dim observation MOMA-PPO cuts D4RL's
111 columns to). ``MULTI_AGENT`` names the MaMuJoCo split each robot is used with by the papers
(``envs.make(name).split(states, actions)`` maps single-agent data onto it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

TASKS: dict[str, tuple[str, dict[str, Any]]] = {
    "halfcheetah": ("HalfCheetah-v5", {}),
    "hopper": ("Hopper-v5", {}),
    "walker2d": ("Walker2d-v5", {}),
    "ant": ("Ant-v5", {"include_cfrc_ext_in_observation": False}),
}
EPISODE_LENGTH = 1000

# D4RL's reference returns (d4rl/infos.py REF_MIN_SCORE / REF_MAX_SCORE; identical for v0/v1/v2)
D4RL_REF_SCORES: dict[str, dict[str, float]] = {
    "halfcheetah": {"random": -280.178953, "expert": 12135.0},
    "hopper": {"random": -20.272305, "expert": 3234.3},
    "walker2d": {"random": 1.629008, "expert": 4592.3},
    "ant": {"random": -325.6, "expert": 3879.7},
}

# the per-agent split each robot is used with (CAST-BCQ / OTC / OMAR / MOMA-PPO)
MULTI_AGENT: dict[str, str] = {
    "halfcheetah": "mamujoco/halfcheetah-2x3",
    "hopper": "mamujoco/hopper-3x1",
    "walker2d": "mamujoco/walker2d-2x3",
    "ant": "mamujoco/ant-4x2",
}


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not known; allowed tasks: {', '.join(TASKS)}")
    return task


def make_task(task: str):
    """The unwrapped Gymnasium v5 env of ``task`` (no TimeLimit, no checker: the caller cuts episodes)."""
    import gymnasium

    from envs.mamujoco import quiet_mujoco_warnings

    env_id, kwargs = TASKS[check_task(task)]
    with quiet_mujoco_warnings():  # HalfCheetah's settotalmass compiler notice (see envs/mamujoco.py)
        return gymnasium.make(env_id, **kwargs).unwrapped


def task_dims(task: str) -> tuple[int, int]:
    """(observation dim, action dim) of ``task``."""
    env = make_task(task)
    try:
        return int(env.observation_space.shape[0]), int(env.action_space.shape[0])
    finally:
        env.close()


def get_env_state(env) -> dict[str, Any]:
    """MuJoCo's full integration state (qpos, qvel, act, warm-start, controls, time, ...) and the env's reset RNG."""
    import mujoco

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    buf = np.empty(mujoco.mj_stateSize(env.model, spec), dtype=np.float64)
    mujoco.mj_getState(env.model, env.data, buf, spec)
    return {"mj_state": buf, "np_random": env.np_random.bit_generator.state}


def set_env_state(env, state: dict[str, Any]) -> None:
    """Inverse of :func:`get_env_state`: the env continues exactly as the one the state was taken from."""
    import mujoco

    mujoco.mj_setState(
        env.model,
        env.data,
        np.asarray(state["mj_state"], dtype=np.float64),
        mujoco.mjtState.mjSTATE_INTEGRATION,
    )
    env.np_random.bit_generator.state = state["np_random"]


def current_obs(env) -> np.ndarray:
    """The observation of the env's current state (as ``step``/``reset`` return it)."""
    return np.asarray(env._get_obs(), dtype=np.float64)


__all__ = [
    "D4RL_REF_SCORES",
    "EPISODE_LENGTH",
    "MULTI_AGENT",
    "TASKS",
    "check_task",
    "current_obs",
    "get_env_state",
    "make_task",
    "set_env_state",
    "task_dims",
]
