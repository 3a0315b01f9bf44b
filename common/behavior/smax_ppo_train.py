"""The training run of the SMAX behavior learner (common/behavior/smax_ppo.py): ``train`` alternates rollouts of
whole episodes and PPO iterations for every seed, evaluates and snapshots the actor (greedy and sampled win rates on
fixed evaluation episodes), checkpoints and resumes; ``SmaxRun`` holds the log, the evaluations and the snapshots.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from torch import Tensor

import envs
from common.behavior.smax_acting import ENV_STREAM, EVAL_STREAM, env_seeds, rollout
from common.behavior.smax_ppo import SmaxPPO, SmaxPPOConfig
from common.running.runtime import load_run_checkpoint, save_run_checkpoint

__all__ = ["SmaxRun", "train"]


@dataclass
class SmaxRun:
    env_name: str
    learner: SmaxPPO
    # per iteration: env_steps, win_rate, return [S] ...
    log: list[dict[str, Any]] = field(default_factory=list)
    # iteration, env_steps, (sampled_)win_rate / return [S]
    evals: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[tuple[int, dict[str, Tensor]]] = field(default_factory=list)  # (iteration, actor state)
    times: dict[str, float] = field(
        default_factory=lambda: {"wall": 0.0, "env": 0.0, "update": 0.0, "eval": 0.0}
    )
    resumed_from: int | None = None  # iteration of the checkpoint this process started from

    def env_steps(self) -> np.ndarray:
        """[S] environment steps (of live copies) run so far per seed."""
        return (
            np.sum([x["env_steps"] for x in self.log], axis=0) if self.log else np.zeros(self.learner.S, int)
        )


def _per_seed(x: np.ndarray, S: int) -> np.ndarray:
    return x.reshape(S, -1).mean(1)


def train(
    env_name: str,
    cfg: SmaxPPOConfig,
    seeds: Sequence[int] = (0,),
    *,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    stop_at: int | None = None,
    device: str = "cpu",
    progress: Callable[[SmaxRun], None] | None = None,
    identity: dict[str, Any] | None = None,
) -> SmaxRun:
    """Train ``cfg.iterations`` PPO iterations of every seed on ``env_name`` (an ``smax/<map>``).

    checkpoint / checkpoint_every: the resumable state's file and period in iterations (0: only at the end); an
    existing checkpoint of the same run (env, config, seeds, ``identity``) is resumed, another one is an error naming
    the file. ``stop_at``: return after the checkpoint at that iteration (tests: a killed run). ``progress(run)``
    after every iteration."""
    cfg.validate()
    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every={checkpoint_every} must be >= 0 (0: only at the end)")
    spec = envs.make(env_name).spec
    assert spec.n_actions is not None, f"{env_name}: an SMAX env has discrete actions"
    lr = SmaxPPO(spec.n_agents, spec.obs_dims[0], spec.state_dim, spec.n_actions[0], cfg, seeds, device)
    S = lr.S
    run = SmaxRun(env_name, lr)
    ident = {
        "env": env_name,
        "env_options": spec.options,
        "cfg": asdict(cfg),
        "seeds": list(lr.seeds),
        **(identity or {}),
    }
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        sd = load_run_checkpoint(ckpt, ident)
        lr.load_state_dict(sd["learner"])
        run.log, run.evals, run.snapshots, run.times = sd["log"], sd["evals"], sd["snapshots"], sd["times"]
        run.resumed_from = lr.iteration
    # copies -> vec env, made on first use (a finished run loaded back compiles nothing)
    vecs: dict[int, Any] = {}

    def vec(copies: int):
        if copies not in vecs:
            vecs[copies] = envs.make_vec(env_name, copies)
        return vecs[copies]

    eval_seeds = np.concatenate([env_seeds(s, cfg.eval_episodes, EVAL_STREAM) for s in lr.seeds])
    t0, wall0 = time.perf_counter(), run.times["wall"]

    def save() -> None:
        run.times["wall"] = wall0 + time.perf_counter() - t0
        save_run_checkpoint(
            ckpt, ident, lr, log=run.log, evals=run.evals, snapshots=run.snapshots, times=run.times
        )

    def evaluate() -> None:
        """Greedy and sampled win rates of the current actor on the fixed evaluation episodes, and its snapshot."""
        te = time.perf_counter()
        ev = {"iteration": lr.iteration, "env_steps": run.env_steps().tolist()}
        for prefix, greedy in (("", True), ("sampled_", False)):
            ro = rollout(vec(S * cfg.eval_episodes), lr.policy(greedy, EVAL_STREAM), eval_seeds)
            ev[prefix + "win_rate"] = _per_seed(ro["won"], S).tolist()
            ev[prefix + "return"] = _per_seed(ro["reward"].sum(1), S).tolist()
        run.evals.append(ev)
        run.snapshots.append((lr.iteration, lr.actor_snapshot()))
        run.times["eval"] += time.perf_counter() - te

    while True:
        it = lr.iteration
        if (it % cfg.eval_every == 0 or it == cfg.iterations) and not any(
            e["iteration"] == it for e in run.evals
        ):
            evaluate()
        if it >= cfg.iterations:
            break
        te = time.perf_counter()
        seeds_it = np.concatenate([env_seeds(s, cfg.n_envs, ENV_STREAM, it) for s in lr.seeds])
        ro = rollout(vec(S * cfg.n_envs), lr.policy(), seeds_it)
        tu = time.perf_counter()
        metrics = lr.update(ro)
        run.times["env"] += tu - te
        run.times["update"] += time.perf_counter() - tu
        run.log.append(
            {
                "iteration": it,
                "env_steps": ro["length"].reshape(S, -1).sum(1).tolist(),
                "win_rate": _per_seed(ro["won"], S).tolist(),
                "return": _per_seed(ro["reward"].sum(1), S).tolist(),
                "length": _per_seed(ro["length"], S).tolist(),
                **{k: v.tolist() for k, v in metrics.items()},
            }
        )
        if progress is not None:
            progress(run)
        done = lr.iteration >= cfg.iterations
        if done:
            evaluate()
        if (checkpoint_every and lr.iteration % checkpoint_every == 0) or done:
            save()
        if stop_at is not None and lr.iteration >= stop_at:
            break
    run.times["wall"] = wall0 + time.perf_counter() - t0
    return run
