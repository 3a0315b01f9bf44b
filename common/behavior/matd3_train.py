"""The training loop of the online behavior learner MATD3 (common/behavior/matd3.py): ``train`` steps S seeds' env
copies, fills the replay buffer, runs the update rounds and the periodic deterministic evaluations, and returns a
``TrainResult`` (learning curve and timings).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

import envs
from common.behavior.matd3 import MATD3, MATD3Config
from common.running.evaluate import eval_seed, evaluate

__all__ = ["train", "TrainResult"]


@dataclass
class TrainResult:
    learner: MATD3
    steps: list[int] = field(default_factory=list)  # transitions per seed at each evaluation
    scores: list[np.ndarray] = field(default_factory=list)  # [S] deterministic eval score at each evaluation
    wall_time: float = 0.0
    env_time: float = 0.0
    update_time: float = 0.0
    n_updates: int = 0

    @property
    def curve(self) -> np.ndarray:  # [n_evals, S]
        return np.stack(self.scores) if self.scores else np.zeros((0, self.learner.S))


def _env_seed(seed: int, k: int) -> int:
    return 10_000 * int(seed) + k  # training env seeds; evaluation uses common.running.evaluate.eval_seed


def train(
    env_name: str,
    env_options: dict | None,
    cfg: MATD3Config,
    seeds: Sequence[int],
    total_steps: int,
    callback: Callable[[int, MATD3, np.ndarray], Any] | None = None,
    return_mode: str = "mean",
    learner: MATD3 | None = None,
) -> TrainResult:
    """Train S = len(seeds) MATD3 runs for `total_steps` transitions per seed.

    Every ``cfg.eval_every`` transitions (and at step 0) each seed's deterministic policy is
    evaluated on ``cfg.eval_episodes`` episodes (env seeds ``eval_seed(seed) + e``) and
    ``callback(step, learner, scores [S])`` is called; a callback returning True stops training.
    Pass ``learner`` (e.g. one restored by load_state_dict) to continue a run: envs start fresh
    episodes. Returns a :class:`TrainResult` with the learning curve and timings."""
    cfg.validate()
    env_options = dict(env_options or {})
    S, E = len(seeds), cfg.n_envs
    venv = envs.make_vec(env_name, S * E, **env_options)
    spec = venv.spec
    lr = learner if learner is not None else MATD3(spec, cfg, seeds)
    eval_venv = envs.make_vec(env_name, S * cfg.eval_episodes, **env_options) if cfg.eval_every else None
    res = TrainResult(learner=lr)
    t0 = time.perf_counter()

    def do_eval(step: int) -> bool:
        if not cfg.eval_every:
            return False
        r = evaluate(
            lambda o: lr.act(o, 0.0),
            env_name,
            S,
            cfg.eval_episodes,
            [eval_seed(s) for s in lr.seeds],
            return_mode,
            env_options,
            vec_env=eval_venv,
        )
        res.steps.append(step)
        res.scores.append(r.mean)
        return bool(callback(step, lr, r.mean)) if callback is not None else False

    env_list = venv.envs  # copy k of seed slot s = env_list[s * E + k]; auto-reset on episode end
    restart = lr.env_steps
    obs = np.stack(
        [
            env_list[s * E + k].reset(_env_seed(seed, k) + restart)
            for s, seed in enumerate(lr.seeds)
            for k in range(E)
        ]
    ).reshape(S, E, spec.n_agents, -1)
    state = np.stack([e.state() for e in env_list]).reshape(S, E, -1) if cfg.store_state else None
    if restart == 0 and do_eval(0):
        res.wall_time = time.perf_counter() - t0
        return res
    buf = lr.buffer
    end = lr.env_steps + total_steps
    next_eval = (lr.env_steps // cfg.eval_every + 1) * cfg.eval_every if cfg.eval_every else None
    env_time = upd_time = 0.0
    while lr.env_steps < end:
        te = time.perf_counter()
        if lr.env_steps < cfg.start_steps:
            act = lr.random_actions((E,))  # [S, E, N, A]
        else:
            act = lr.act(obs, cfg.expl_noise)
        nobs = np.empty_like(obs)
        rew = np.empty((S, E, spec.n_agents), np.float32)
        term = np.zeros((S, E), bool)
        trunc = np.zeros((S, E), bool)
        nstate = np.empty_like(state) if state is not None else None
        for s in range(S):
            for k in range(E):
                env = env_list[s * E + k]
                o2, r, tm, tr, _ = env.step(act[s, k])
                nobs[s, k], rew[s, k], term[s, k], trunc[s, k] = o2, r, tm, tr
                if nstate is not None:
                    nstate[s, k] = env.state()
        env_time += time.perf_counter() - te
        for k in range(E):
            step = {
                "obs": obs[:, k],
                "actions": act[:, k],
                "rewards": rew[:, k],
                "next_obs": nobs[:, k],
                "terminals": term[:, k],
                "timeouts": trunc[:, k] & ~term[:, k],
            }
            if state is not None and nstate is not None:  # both or neither
                step["state"], step["next_state"] = state[:, k], nstate[:, k]
            buf.add(**step)
        obs = nobs
        state = nstate
        for s in range(S):  # auto-reset finished copies (each continues its own env RNG stream)
            for k in range(E):
                if term[s, k] or trunc[s, k]:
                    env = env_list[s * E + k]
                    obs[s, k] = env.reset(None)
                    if state is not None:
                        state[s, k] = env.state()
        before = lr.env_steps
        lr.env_steps += E
        if lr.env_steps >= cfg.learning_starts and buf.size >= 1:
            rounds = lr.env_steps // cfg.train_freq - before // cfg.train_freq
            tu = time.perf_counter()
            for _ in range(rounds * cfg.gradient_steps):
                lr.update()
            upd_time += time.perf_counter() - tu
        if next_eval is not None and lr.env_steps >= next_eval:
            next_eval += cfg.eval_every
            if do_eval(lr.env_steps):
                break
    res.wall_time = time.perf_counter() - t0
    res.env_time, res.update_time, res.n_updates = env_time, upd_time, lr.n_updates
    return res
