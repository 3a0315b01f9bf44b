"""Online SAC training of M members (task, seed) with evaluation, actor snapshots and exact-resume checkpoints.

    run = train_sac(members, cfg, total_steps=300_000, eval_every=10_000, eval_episodes=5,
                    checkpoint="data/mujoco/.../run.pt", checkpoint_every=20_000)
    run.evals        [(step, scores [M])]  deterministic returns (step 0 = the initial policy)
    run.snapshots    [(step, actor weights of all members)] at every evaluation
    run.learner      the SAC learner (its buffer holds every training transition)

Every member steps its own unwrapped Gymnasium v5 env (``envs.gym_mujoco``), one transition per step, and
episodes end on the env's termination or at 1000 steps (``timeouts``). A checkpoint holds the learner
(networks, optimizers, α, buffer, generators), every env's MuJoCo integration state and reset RNG, the
current observations and episode counters, the evaluations and snapshots: a run killed after a checkpoint
and started again with the same arguments continues from it and ends bit-identical to an uninterrupted run
on the same machine (tests/test_sac.py). A checkpoint written by different arguments is an error naming
the file, never silently reused.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from common.behavior.sac import SAC, Member, SACConfig
from common.running.records import atomic_torch_save
from common.running.runtime import cpu_model, load_run_checkpoint
from envs.gym_mujoco import EPISODE_LENGTH, current_obs, get_env_state, make_task, set_env_state, task_dims

__all__ = ["SACRun", "train_sac", "evaluate_actor", "members_dims"]

# evaluation episodes of member m use env seeds EVAL_SEED + 1000·seed + e (never training's)
EVAL_SEED = 900_000


@dataclass
class SACRun:
    learner: SAC
    evals: list[tuple[int, np.ndarray]] = field(default_factory=list)
    snapshots: list[tuple[int, dict[str, torch.Tensor]]] = field(default_factory=list)
    train_returns: list[list[float]] = field(default_factory=list)  # per member, finished training episodes
    wall_time: float = 0.0  # summed over resumed pieces
    update_time: float = 0.0
    env_time: float = 0.0
    eval_time: float = 0.0
    resumed_from: int | None = None  # env step of the checkpoint this process started from
    # per process: steps [start, stop), CPU, wall time
    pieces: list[dict[str, Any]] = field(default_factory=list)

    @property
    def steps(self) -> list[int]:
        return [s for s, _ in self.evals]

    @property
    def curve(self) -> np.ndarray:  # [n_evals, M]
        return np.stack([v for _, v in self.evals])


def members_dims(members: Sequence[Member]) -> tuple[int, int]:
    """The common (obs dim, action dim) of the members' tasks; an error if they differ."""
    dims = {m.task: task_dims(m.task) for m in members}
    if len(set(dims.values())) != 1:
        raise ValueError(f"members of one SAC learner need equal obs/action dims, got {dims}")
    return next(iter(dims.values()))


def _train_seed(member: Member) -> int:
    return 10_000 * int(member.seed) + 1


@torch.no_grad()
def evaluate_actor(learner: SAC, eval_envs: list[list[Any]], actor=None) -> np.ndarray:
    """Deterministic (tanh μ) return of every member over its evaluation envs (eval_envs[m][e], episode e
    reset with seed EVAL_SEED + 1000·seed + e): scores [M] = the mean over episodes."""
    M, E = learner.M, len(eval_envs[0])
    obs = np.zeros((M, E, learner.O), np.float64)
    for m, mem in enumerate(learner.members):
        for e, env in enumerate(eval_envs[m]):
            obs[m, e] = env.reset(seed=EVAL_SEED + 1000 * mem.seed + e)[0]
    ret = np.zeros((M, E))
    alive = np.ones((M, E), bool)
    for _ in range(EPISODE_LENGTH):
        act = learner.act(obs, deterministic=True, actor=actor)  # [M, E, A]
        for m in range(M):
            for e in range(E):
                if alive[m, e]:
                    o2, r, term, _, _ = eval_envs[m][e].step(act[m, e])
                    obs[m, e] = o2
                    ret[m, e] += r
                    alive[m, e] = not term
        if not alive.any():
            break
    return ret.mean(1)


class _Training:
    """One process's piece of a SAC run: the learner and its ``SACRun``, each member's training env with its
    current observation ``obs`` [M, O] and episode counters, the evaluation envs, the checkpoint path and the
    clocks. ``train_sac`` calls its methods in the run's order; each method does one job of the loop."""

    def __init__(
        self, lr: SAC, ident: dict[str, Any], eval_episodes: int, checkpoint: str | os.PathLike | None
    ):
        self.lr, self.ident = lr, ident
        self.envs = [make_task(m.task) for m in lr.members]
        self.eval_envs = [[make_task(m.task) for _ in range(eval_episodes)] for m in lr.members]
        self.run = SACRun(learner=lr, train_returns=[[] for _ in range(lr.M)])
        self.ckpt = Path(checkpoint) if checkpoint is not None else None
        self.obs = np.zeros((lr.M, lr.O), np.float64)
        self.ep_len = np.zeros(lr.M, np.int64)
        self.ep_ret = np.zeros(lr.M, np.float64)
        self.t_start = self.last_save = self.wall0 = 0.0  # set by start_piece
        self.piece: dict[str, Any] = {}

    def resume_or_reset(self) -> None:
        """Load the checkpoint if it exists (an error if its identity differs), else reset every training env
        with its member's training seed."""
        lr, run = self.lr, self.run
        if self.ckpt is None or not self.ckpt.exists():
            for m, (mem, env) in enumerate(zip(lr.members, self.envs)):
                self.obs[m] = env.reset(seed=_train_seed(mem))[0]
            return
        sd = load_run_checkpoint(self.ckpt, self.ident)
        lr.load_state_dict(sd["learner"])
        for env, st in zip(self.envs, sd["envs"]):
            set_env_state(env, st)
        self.obs[:], self.ep_len[:], self.ep_ret[:] = sd["obs"], sd["ep_len"], sd["ep_ret"]
        run.evals = [(int(s), np.asarray(v)) for s, v in sd["evals"]]
        run.snapshots = list(sd["snapshots"])
        run.train_returns = [list(r) for r in sd["train_returns"]]
        run.wall_time, run.update_time, run.env_time, run.eval_time = sd["times"]
        run.pieces = list(sd.get("pieces", []))
        run.resumed_from = lr.env_steps

    def start_piece(self, total_steps: int) -> None:
        """Start the clocks and, if steps remain, record this process's piece [start, stop) in the run."""
        self.t_start = self.last_save = time.perf_counter()
        self.wall0 = self.run.wall_time
        self.piece = {
            "start": self.lr.env_steps,
            "stop": self.lr.env_steps,
            "cpu": cpu_model(),
            "wall_s": 0.0,
        }
        if self.lr.env_steps < total_steps:
            self.run.pieces.append(self.piece)

    def seconds_since_save(self) -> float:
        """Seconds since the last checkpoint write (or the piece's start)."""
        return time.perf_counter() - self.last_save

    def stop_clock(self) -> None:
        """Bring the run's wall time and this piece's stop step and wall time up to date."""
        self.run.wall_time = self.wall0 + time.perf_counter() - self.t_start
        self.piece.update(stop=self.lr.env_steps, wall_s=round(self.run.wall_time - self.wall0, 1))

    def save(self) -> None:
        """Write the resumable state (learner, envs, observations, episode counters, evaluations, snapshots,
        returns, times, pieces) to the checkpoint, if the run has one."""
        run, lr = self.run, self.lr
        self.stop_clock()
        if self.ckpt is None:
            return
        self.last_save = time.perf_counter()
        atomic_torch_save(
            {
                "identity": self.ident,
                "learner": lr.state_dict(),
                "envs": [get_env_state(e) for e in self.envs],
                "obs": self.obs.copy(),
                "ep_len": self.ep_len.copy(),
                "ep_ret": self.ep_ret.copy(),
                "evals": [(s, np.asarray(v)) for s, v in run.evals],
                "snapshots": run.snapshots,
                "train_returns": run.train_returns,
                "times": (run.wall_time, run.update_time, run.env_time, run.eval_time),
                "pieces": run.pieces,
            },
            self.ckpt,
        )

    def evaluate(self) -> None:
        """Append the current policy's evaluation scores [M] and actor snapshot at the current env step."""
        t = time.perf_counter()
        self.run.evals.append((self.lr.env_steps, evaluate_actor(self.lr, self.eval_envs)))
        self.run.snapshots.append((self.lr.env_steps, self.lr.actor_snapshot()))
        self.run.eval_time += time.perf_counter() - t

    def step(self) -> None:
        """One transition per member into the buffer (uniform random actions before ``start_steps``, then the
        stochastic policy); an episode ends on termination or, as a timeout, at EPISODE_LENGTH steps, and its
        env is reset with its own RNG. Then one update once ``learning_starts`` transitions are in."""
        lr, run, cfg = self.lr, self.run, self.lr.cfg
        te = time.perf_counter()
        obs = self.obs
        act = lr.random_actions() if lr.env_steps < cfg.start_steps else lr.act(obs)
        nobs = np.empty_like(obs)
        rew = np.empty(lr.M)
        term = np.zeros(lr.M, bool)
        for m, env in enumerate(self.envs):
            o2, r, tm, _, _ = env.step(act[m])
            nobs[m], rew[m], term[m] = o2, r, tm
        self.ep_len += 1
        self.ep_ret += rew
        tout = (self.ep_len >= EPISODE_LENGTH) & ~term
        lr.buffer.add(obs=obs, actions=act, rewards=rew, next_obs=nobs, terminals=term, timeouts=tout)
        self.obs = nobs
        # members whose episode ended (numpy ints: not the int m above)
        for mi in np.flatnonzero(term | tout):
            run.train_returns[mi].append(float(self.ep_ret[mi]))
            self.obs[mi] = self.envs[mi].reset()[0]  # continues the env's own reset RNG
            self.ep_len[mi], self.ep_ret[mi] = 0, 0.0
        lr.env_steps += 1
        run.env_time += time.perf_counter() - te
        if lr.env_steps >= cfg.learning_starts:
            tu = time.perf_counter()
            lr.update()
            run.update_time += time.perf_counter() - tu

    def close(self) -> None:
        """Close every training and evaluation env."""
        for e in self.envs + [x for row in self.eval_envs for x in row]:
            e.close()


def _check_arguments(
    total_steps: int, eval_every: int, eval_episodes: int, checkpoint_every: int, checkpoint_seconds: float
) -> None:
    if (
        total_steps < 1
        or eval_every < 1
        or eval_episodes < 1
        or checkpoint_every < 0
        or checkpoint_seconds < 0
    ):
        raise ValueError(
            f"total_steps={total_steps}, eval_every={eval_every}, eval_episodes={eval_episodes}, "
            f"checkpoint_every={checkpoint_every}, checkpoint_seconds={checkpoint_seconds}: need total_steps, "
            "eval_every, eval_episodes >= 1 and checkpoint_every, checkpoint_seconds >= 0"
        )


def train_sac(
    members: Sequence[Member],
    cfg: SACConfig,
    total_steps: int,
    *,
    eval_every: int,
    eval_episodes: int = 5,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    checkpoint_seconds: float = 0.0,
    stop_at: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    identity: dict[str, Any] | None = None,
    ignore: Sequence[str] = ("device",),
) -> SACRun:
    """Train ``members`` for ``total_steps`` transitions each (see the module docstring).

    checkpoint / checkpoint_every / checkpoint_seconds: where, every how many steps (0 = only at the end) and
    also after how many seconds since the last write (0 = never by time) to write the resumable state; an existing
    checkpoint with the same arguments is resumed. When a checkpoint is written changes nothing in the run. ``stop_at`` ends the
    process early after the checkpoint at that step (tests: a "killed" run). ``progress(step, total)``
    is called every 1000 steps. ``identity``: extra fields a resumed checkpoint must match; ``ignore``: config
    fields that need not match (by default the device: a run may resume on another one)."""
    cfg.validate()
    _check_arguments(total_steps, eval_every, eval_episodes, checkpoint_every, checkpoint_seconds)
    O, A = members_dims(members)
    lr = SAC(members, O, A, cfg, capacity=total_steps)
    config = {k: v for k, v in cfg.to_dict().items() if k not in ignore}
    ident = {
        "members": [m.key() for m in lr.members],
        "config": config,
        "total_steps": int(total_steps),
        "eval_every": int(eval_every),
        "eval_episodes": int(eval_episodes),
        **(identity or {}),
    }
    tr = _Training(lr, ident, eval_episodes, checkpoint)
    tr.resume_or_reset()
    tr.start_piece(total_steps)
    if lr.env_steps == 0 and not tr.run.evals:
        tr.evaluate()
    while lr.env_steps < total_steps:
        tr.step()
        if lr.env_steps % eval_every == 0 or lr.env_steps == total_steps:
            tr.evaluate()
        if progress is not None and lr.env_steps % 1000 == 0:
            progress(lr.env_steps, total_steps)
        at_ckpt = checkpoint_every and lr.env_steps % checkpoint_every == 0
        late = checkpoint_seconds and tr.seconds_since_save() >= checkpoint_seconds
        if at_ckpt or late or lr.env_steps == total_steps:
            tr.save()
        if stop_at is not None and lr.env_steps >= stop_at:
            break
    tr.stop_clock()
    tr.close()
    return tr.run


def current_observations(envs_: Sequence[Any]) -> np.ndarray:
    """[M, O] observations of the envs' current states (a check for restored envs)."""
    return np.stack([current_obs(e) for e in envs_])
