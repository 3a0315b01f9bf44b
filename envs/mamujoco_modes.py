"""The observation modes of the Multi-Agent MuJoCo envs (envs/mamujoco.py): for each task and ``obs_mode``, the
per-agent index sets into ``state`` (or MaMuJoCo's own observations with its constructor arguments).

Observation index sets (indices into ``state``; the layouts of the v5 observations are
HalfCheetah/Walker2d: 0 root z, 1 root angle, 2-7 joint angles [thigh, shin/leg, foot of the back/right
leg, then of the front/left leg], 8 vx, 9 vz, 10 root angular velocity, 11-16 joint velocities;
Hopper: 0 z, 1 angle, 2-4 thigh, leg, foot angles, 5 vx, 6 vz, 7 angular velocity, 8-10 joint velocities):

HalfCheetah-2x3 (agent 0 = back leg, agent 1 = front leg)
  omar      [4,13,3,12,2,11] | [7,16,6,15,5,14]                  OMAR (docs/omar_official_code.md#halfcheetah):
            MaMuJoCo agent_obsk=0, global_categories=(): own 3 joints' (qpos, qvel), foot first. 6 dims each.
  cast_bcq  own + other agent + public, public = [0,1,8,9,10]:   CAST-BCQ's agent_obs_index
            (docs/cast_bcq_official_code.md#observation-split)
            [4,13,3,12,2,11, 7,16,6,15,5,14, 0,1,8,9,10] | [7,16,6,15,5,14, 4,13,3,12,2,11, 0,1,8,9,10]
            (17 each: the whole state reordered, as CAST-BCQ's actors really see it).
  own_public  own + public: [4,13,3,12,2,11, 0,1,8,9,10] | [7,16,6,15,5,14, 0,1,8,9,10] (11 each): what the
            CAST-BCQ code's baselines I-BCQ and ICQ-MA see (docs/cast_bcq_official_code.md#observation-split).
  otc       [0..16] for every agent (OTC §4: each agent keeps the full state).
  mamujoco  MaMuJoCo's default (agent_obsk=1, global qpos/qvel of the root), 12 each:
            [4,13,3,12,2,11,5,0,1,8,9,10] | [7,16,6,15,5,14,2,0,1,8,9,10].
Walker2d-2x3 (agent 0 = right leg, agent 1 = left leg): the same index sets as HalfCheetah for
  cast_bcq / own_public / otc / mamujoco (CAST-BCQ uses HalfCheetah's indices for Walker2d; so does MaMuJoCo).
Hopper-3x1 (agent 0 thigh, 1 leg, 2 foot)
  cast_bcq  own + others (agent order) + public [0,1,5,6,7], 11 each:
            [2,8, 3,9, 4,10, 0,1,5,6,7] | [3,9, 2,8, 4,10, 0,1,5,6,7] | [4,10, 2,8, 3,9, 0,1,5,6,7]
  own_public  own + public, 7 each: [2,8, 0,1,5,6,7] | [3,9, 0,1,5,6,7] | [4,10, 0,1,5,6,7]
  otc       [0..10] for every agent.
  mamujoco  MaMuJoCo's default (obsk=1): [2,8,3,0,1,5,6,7] | [3,9,4,2,0,1,5,6,7] | [4,10,3,0,1,5,6,7].
Reacher-2x1 (MOMA-PPO, docs/moma_ppo_official_code.md#reacher; v5 obs: 0,1 cos θ0, cos θ1; 2,3 sin θ0,
  sin θ1; 4,5 target x, y; 6,7 ω0, ω1; 8,9 fingertip − target x, y. MOMA-PPO's gym-v2 obs had an 11th entry,
  the z of fingertip − target, which is always 0 and is absent from v5)
  leader-only  [0,2,6, 1,3,7, 4,5] | [0,2,6, 1,3,7]   (MOMA-PPO "2x1first", its main task: agent 0 sees both
               arms (cos, sin, ω) and the target; agent 1 both arms only, not the target)
  independent  [0,2,6, 4,5] | [1,3,7, 4,5]            (MOMA-PPO "2x1notip": own arm + target)
  full         [0..9] for both agents                 (MOMA-PPO "full", less the always-zero z entry)
Ant-4x2 (MOMA-PPO; state = qpos[2:] then qvel: 0 torso z, 1-4 quaternion, 5-12 joint angles hip1, ankle1,
  hip2, ankle2, hip3, ankle3, hip4, ankle4, 13-15 torso vx, vy, vz, 16-18 torso angular velocity, 19-26 joint
  velocities in the same joint order)
  partial  agent k (leg k = front-left, front-right, back-left, back-right): [5+2k, 19+2k, 6+2k, 20+2k]
           (hip θ, hip ω, ankle θ, ankle ω); agent 0 also sees the torso first, in MOMA-PPO's order
           [0,1,2,3,4,16,17,18,13,14,15] (z, quaternion, angular velocity, then vx, vy, vz): 15 | 4 | 4 | 4.
           This is MOMA-PPO's "t4x2" configuration at obsk "0" ("only agent 0 sees the torso").
  full     [0..26] for every agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Mode", "check_mode", "obs_modes"]


def _own_others_public(parts: list[list[int]], public: list[int]) -> tuple[tuple[int, ...], ...]:
    """CAST-BCQ's actor input: own indices, then every other agent's (agent order), then the public ones."""
    out = []
    for i, own in enumerate(parts):
        others = [x for j, p in enumerate(parts) if j != i for x in p]
        out.append(tuple(own + others + public))
    return tuple(out)


def _own_public(parts: list[list[int]], public: list[int]) -> tuple[tuple[int, ...], ...]:
    """CAST-BCQ's baselines' input (I-BCQ, ICQ-MA): the agent's own indices, then the public ones."""
    return tuple(tuple(own + public) for own in parts)


def _everyone(n_agents: int, state_dim: int) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(range(state_dim)) for _ in range(n_agents))


_CHEETAH_LEGS = [[4, 13, 3, 12, 2, 11], [7, 16, 6, 15, 5, 14]]  # foot, shin, thigh: (qpos, qvel) pairs
_CHEETAH_PUBLIC = [0, 1, 8, 9, 10]  # root z, root angle, vx, vz, root angular velocity
_HOPPER_JOINTS = [[2, 8], [3, 9], [4, 10]]
_HOPPER_PUBLIC = [0, 1, 5, 6, 7]

_REACHER_ARM = [[0, 2, 6], [1, 3, 7]]  # cos, sin, omega of joint 0 / joint 1 (MOMA-PPO's OBSERVATION_INDEXES)
_REACHER_TARGET = [4, 5]

_ANT_TORSO = [0, 1, 2, 3, 4, 16, 17, 18, 13, 14, 15]  # MOMA-PPO: torso_no_vel, then x, y, z velocity
_ANT_LEGS = [[5 + 2 * k, 19 + 2 * k, 6 + 2 * k, 20 + 2 * k] for k in range(4)]  # hip θ, ω, ankle θ, ω


@dataclass(frozen=True)
class Mode:
    """One observation mode: fixed index sets, or MaMuJoCo's own observations with these constructor args."""

    obs_index: tuple[tuple[int, ...], ...] | None = None  # None: MaMuJoCo's observation_factorization
    mamujoco_kwargs: tuple[tuple[str, Any], ...] = ()  # extra parallel_env(...) args of a native mode


_NATIVE_DEFAULT = Mode(None, ())  # MaMuJoCo's default observations (agent_obsk=1, root qpos/qvel global)

_MODES: dict[str, dict[str, Mode]] = {
    "halfcheetah": {
        "omar": Mode(None, (("agent_obsk", 0), ("global_categories", ()))),
        "cast_bcq": Mode(_own_others_public(_CHEETAH_LEGS, _CHEETAH_PUBLIC)),
        "own_public": Mode(_own_public(_CHEETAH_LEGS, _CHEETAH_PUBLIC)),
        "otc": Mode(_everyone(2, 17)),
        "mamujoco": _NATIVE_DEFAULT,
    },
    "walker2d": {
        "cast_bcq": Mode(_own_others_public(_CHEETAH_LEGS, _CHEETAH_PUBLIC)),
        "own_public": Mode(_own_public(_CHEETAH_LEGS, _CHEETAH_PUBLIC)),
        "otc": Mode(_everyone(2, 17)),
        "mamujoco": _NATIVE_DEFAULT,
    },
    "hopper": {
        "cast_bcq": Mode(_own_others_public(_HOPPER_JOINTS, _HOPPER_PUBLIC)),
        "own_public": Mode(_own_public(_HOPPER_JOINTS, _HOPPER_PUBLIC)),
        "otc": Mode(_everyone(3, 11)),
        "mamujoco": _NATIVE_DEFAULT,
    },
    "reacher": {
        "leader-only": Mode(
            (
                tuple(_REACHER_ARM[0] + _REACHER_ARM[1] + _REACHER_TARGET),
                tuple(_REACHER_ARM[0] + _REACHER_ARM[1]),
            )
        ),
        "independent": Mode(tuple(tuple(arm + _REACHER_TARGET) for arm in _REACHER_ARM)),
        "full": Mode(_everyone(2, 10)),
    },
    "ant": {
        "partial": Mode(
            tuple(tuple((_ANT_TORSO if k == 0 else []) + leg) for k, leg in enumerate(_ANT_LEGS))
        ),
        "full": Mode(_everyone(4, 27)),
    },
}


def check_mode(name: str, task: str, obs_mode: str) -> Mode:
    modes = _MODES[task]
    if obs_mode not in modes:
        raise ValueError(
            f"obs_mode={obs_mode!r} is not allowed for {name}; allowed obs modes: {', '.join(modes)}"
        )
    return modes[obs_mode]


def obs_modes(task: str) -> list[str]:
    """The obs_mode values of a task ('halfcheetah', 'hopper', 'walker2d', 'reacher', 'ant')."""
    return list(_MODES[task])
