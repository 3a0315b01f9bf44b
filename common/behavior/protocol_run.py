"""The behavior run of the dataset protocol (common.behavior.collect): MATD3 trained once for every seed, an
evaluation snapshot of the actors kept at every evaluation (the medium and expert policies are chosen from them
afterwards), resumable from a checkpoint written at evaluations."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import envs
from common.behavior.matd3 import MATD3, MATD3Config
from common.behavior.matd3_train import train
from common.behavior.rollouts import plain_json
from common.running.evaluate import eval_seed, evaluate
from common.running.records import atomic_torch_save
from common.running.runtime import load_run_checkpoint

__all__ = ["train_behavior"]


def train_behavior(
    env_name: str,
    benv: dict,
    cfg: MATD3Config,
    seeds: Sequence[int],
    train_steps: int,
    return_mode: str,
    ckpt: Path | None,
    checkpoint_every_s: float,
    say: Callable[[str], None],
) -> tuple[MATD3, list[dict], list[int]]:
    """The behavior MATD3 run of :func:`common.behavior.collect.generate_protocol`, resumable from ``ckpt``: returns the trained learner,
    its evaluation snapshots ({"step", "actor", "scores" [S]} at every evaluation, the final policy's last) and the
    steps a resumed run went on from (``resumed_at``)."""
    snaps: list[dict] = []
    identity = {
        "env": env_name,
        "behavior_env_options": plain_json(benv),
        "config": plain_json(cfg.to_dict()),
        "seeds": [int(x) for x in seeds],
        "train_steps": int(train_steps),
        "return_mode": return_mode,
    }
    resumed_at: list[int] = []
    learner = None
    if ckpt is not None and ckpt.exists():
        state = load_run_checkpoint(ckpt, identity)  # another run's file: ValueError naming what differs
        learner = MATD3(envs.make_vec(env_name, 1, **benv).spec, cfg, seeds)
        learner.load_state_dict(state["learner"])
        snaps, resumed_at = list(state["snaps"]), list(state["resumed_at"])
        if learner.env_steps < train_steps:  # training goes on from here with fresh episodes
            resumed_at.append(learner.env_steps)
        say(f"[matd3 {env_name}] resumed from {ckpt} at step {learner.env_steps} of {train_steps}")
    last_save = [time.monotonic()]

    def save(learner) -> None:
        if ckpt is not None:
            atomic_torch_save(
                {
                    "identity": identity,
                    "learner": learner.state_dict(),
                    "snaps": snaps,
                    "resumed_at": resumed_at,
                },
                ckpt,
            )
            last_save[0] = time.monotonic()

    def keep(step, learner, scores):
        snaps.append(
            {"step": int(step), "actor": learner.actor_snapshot(), "scores": np.asarray(scores, float)}
        )
        say(f"[matd3 {env_name}] step {step}: eval {np.round(scores, 2).tolist()}")
        if time.monotonic() - last_save[0] >= checkpoint_every_s and learner.env_steps < train_steps:
            save(learner)

    left = train_steps - (learner.env_steps if learner is not None else 0)
    if left > 0:
        res = train(env_name, benv, cfg, seeds, left, callback=keep, return_mode=return_mode, learner=learner)
        lr = res.learner
        save(lr)  # the trained run: a kill during the collection below keeps it
    else:
        assert learner is not None, f"train_steps={train_steps}: nothing to train and no checkpoint to resume"
        lr = learner
    if snaps[-1]["step"] != lr.env_steps:  # make sure the final policy is evaluated
        r = evaluate(
            lambda o: lr.act(o, 0.0),
            env_name,
            lr.S,
            cfg.eval_episodes,
            [eval_seed(s) for s in lr.seeds],
            return_mode,
            benv,
        )
        keep(lr.env_steps, lr, r.mean)
    return lr, snaps, resumed_at
