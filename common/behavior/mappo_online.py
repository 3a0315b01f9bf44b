"""Online MAPPO on vectorized multi-agent envs: the behavior learner of MOMA-PPO's Reacher experts.

    python -m common.behavior.mappo_online --iterations 1500 --seeds 0 1 2 3 --checkpoint runs/reacher.pt
    run = train(OnlineMAPPOConfig(iterations=20), seeds=[0, 1], checkpoint="ckpt.pt")   # resumable
    mean_theta, conv = classify_convention(elbow_angles(states))                       # spec §3, step 1

The rollouts, greedy evaluation and the elbow-convention classifier are in common/behavior/mappo_rollouts.py.

Paper: Barde, Foerster, Nowrouzezahrai, Zhang, "A Model-Based Solution to the Offline Multi-Agent Reinforcement
Learning Coordination Problem", AAMAS 2024, §5.3: the Reacher experts are MAPPO teams trained online on the fully
observed 2-agent Reacher (50-step episodes); depending on the seed a team bends its elbow counter-clockwise
(θ₂ ≥ 0) or clockwise (θ₂ ≤ 0), and one expert of each convention makes the expert-mix dataset.
Official code consulted (PBarde/moma-ppo at c276efc, under ``moma-ppo/offline_marl/offline_marl/``): ``train_rl.py``
(its defaults: 2000 env transitions per update, minibatch 256, 5 epochs, lr 5e-5 ``ppo_general_lr``, γ 0.99,
GAE λ 0.98, clip 0.2, entropy target −2, action penalty 1, memory_len 10, at most 1e6 + 1 updates) and
``multi_agent/mappo.py`` (the learner, here common.algos.mappo.MAPPO used as is).

One iteration, per seed s (every seed batched as members s * N + i of one MAPPO learner):
    rollout  E = steps_per_iteration / episode_length whole episodes (40 for 2000 / 50), copies reset with env seeds
             drawn from SeedSequence([seed, ENV_STREAM, iteration]) alone; actions a ~ N(μ, σ) from the learner's
             per-seed sampling generators (unbounded; the env clips them, the update sees the sample)
    batch    the episodes laid out contiguously (episode-major), masks m = 1 − terminated, time-outs ζ = 0 at each
             episode's last step (a time-out bootstraps V(s')), then one ``MAPPO.update`` (5 epochs of
             ⌊n / 256⌋ minibatches, GAE with time-outs, the spec's §4.3 losses)
    eval     every ``eval_every`` iterations (and at 0 and the end): ``eval_episodes`` greedy episodes (the mean
             action, clipped by the env) on env seeds fixed per training seed; the return, and the elbow angle
             θ₂ = atan2(sin θ₂, cos θ₂) of the env state over the episodes' last 25 steps (the convention)

Deviation (spec §7, quick): memory 0 (no history encoder); the code's experts read the last 10 (obs, action) pairs.
The policies then see only the current observation, which fully describes the Reacher's state (FO).
Deviation [I, measured]: normalized inputs (``MAPPOConfig.obs_norm``). Before iteration 0 each seed runs
E episodes of N(0, 1) actions (env seeds and noise from SeedSequence([seed, STATS_STREAM])) and
freezes its per-agent observation mean and std (``MAPPO.set_obs_stats``). With the code's raw inputs our runs
diverged: on Reacher (seed 0, the code's settings, 2026-11-24) the arm learned to spin (|joint velocity| up to 50 rad/s),
V and the unconstrained mixer extrapolated there, and the time-out bootstraps fed it back (critic loss ~1e3 -> 1e8,
V_tot up to +5e3 with every reward < 0, by iteration 60-80; the monotonic mixer and lr 2e-5 diverged too). Scaling
only the velocities by 0.1 was stable; normalized inputs stable and faster (greedy -7.3 at iteration 180).

Exact resume: a checkpoint holds the learner (weights, Adam, α, its minibatch and sampling generators), the logs,
and the iteration; env seeds depend on (seed, iteration) only, evaluation uses no randomness of the training
streams. A run resumed from a checkpoint equals an uninterrupted one bit for bit (tests/test_moma_reacher.py).

Shapes: S seeds, N agents, E episodes per seed and iteration, C = S E env copies (seed-major), T episode length,
O padded obs dim, A padded action dim, n = E T buffer rows per seed, D state dim.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch

import envs
from common.algos.mappo import MAPPO, MAPPOConfig
from common.behavior.mappo_rollouts import (
    ENV_STREAM,
    EVAL_STREAM,
    env_seeds,
    evaluate_greedy,
    rollout,
    stats_rollout,
    to_batch,
)
from common.running.fields import Rules, check, opt
from common.running.runtime import load_run_checkpoint, save_run_checkpoint

__all__ = ["OnlineMAPPOConfig", "OnlineRun", "train", "progress_printer", "main"]


def _online_mappo_default() -> MAPPOConfig:
    # [code] train_rl.py: minibatch 256 (MOMA-PPO's model-based loop: 64); memory 0 is our quick deviation (§7);
    # obs_norm is ours (module docstring: raw Reacher obs diverge)
    return MAPPOConfig(minibatch_size=256, memory_len=0, obs_norm=True)


@dataclass
class OnlineMAPPOConfig:
    """Defaults = the official ``train_rl.py`` (FO 2-agent Reacher), except memory 0 and obs_norm (module
    docstring)."""

    # the env trained on ([code] reacher-dataset-v0_2x1_full)
    env: str = opt("mamujoco/reacher-2x1", choices=envs.names, hint="a registered env")
    obs_mode: str = "full"  # FO: both agents see the whole state ([code] 2x1_full)
    # env transitions per seed and update ([code] 2000 = 40 episodes of 50)
    steps_per_iteration: int = opt(2000, kind="int", ge=1)
    # PPO iterations ([code] at most 1e6 + 1 updates; profiles set fewer)
    iterations: int = opt(1_000_001, kind="int", ge=1)
    eval_every: int = opt(50, kind="int", ge=1)  # iterations between greedy evaluations ([code] every 50)
    # greedy episodes per seed and evaluation ([code] 2; ours: 10 for the convention)
    eval_episodes: int = opt(10, kind="int", ge=1)
    # the learner (common/algos/mappo.py)
    mappo: MAPPOConfig = opt(_online_mappo_default(), kind=MAPPOConfig, hint="or a dict of its fields")
    RULES: ClassVar[Rules] = (
        (
            lambda c: c.mappo.policy == "gaussian",
            "mappo.policy={c.mappo.policy!r} is not allowed; choose 'gaussian' (the online learner runs "
            "continuous-action envs)",
        ),
        (
            lambda c: c.mappo.memory_len == 0,
            "mappo.memory_len={c.mappo.memory_len!r} is not allowed; choose memory_len=0: histories are not "
            "kept by this online rollout yet",
        ),
    )

    def __post_init__(self) -> None:
        if isinstance(self.mappo, dict):  # read back from JSON / a checkpoint
            self.mappo = MAPPOConfig(**self.mappo)

    def validate(self) -> "OnlineMAPPOConfig":
        """The fields' declared rules (the learner's by its own ``validate()``) and ``RULES``
        (common.running.fields.check)."""
        return check(self)

    def episodes_per_iteration(self, episode_length: int) -> int:
        """E = steps_per_iteration / episode_length (whole episodes; an error if it does not divide)."""
        if self.steps_per_iteration % episode_length:
            raise ValueError(
                f"OnlineMAPPOConfig.steps_per_iteration={self.steps_per_iteration} must be a multiple "
                f"of the episode length {episode_length} (whole episodes per iteration)"
            )
        return self.steps_per_iteration // episode_length


# ---- the training run -------------------------------------------------------------------------------------


@dataclass
class OnlineRun:
    cfg: OnlineMAPPOConfig
    learner: MAPPO
    log: list[dict[str, Any]] = field(default_factory=list)  # per iteration: return [S], losses [S] ...
    # iteration, env_steps, return [S], theta2, convention
    evals: list[dict[str, Any]] = field(default_factory=list)
    times: dict[str, float] = field(
        default_factory=lambda: {"wall": 0.0, "env": 0.0, "update": 0.0, "eval": 0.0}
    )
    resumed_from: int | None = None  # iteration of the checkpoint this process started from

    @property
    def iteration(self) -> int:
        return self.learner.n_updates

    def final_eval(self) -> dict[str, Any]:
        return self.evals[-1]


def identity_of(
    cfg: OnlineMAPPOConfig, seeds: Sequence[int], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: config (iterations excluded: a finished run may be extended),
    seeds, and the caller's extra identity."""
    c = asdict(cfg)
    c.pop("iterations")
    return {"cfg": c, "seeds": [int(s) for s in seeds], **(extra or {})}


def train(
    cfg: OnlineMAPPOConfig,
    seeds: Sequence[int] = (0,),
    *,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 0,
    stop_at: int | None = None,
    device: str = "cpu",
    progress: Callable[[OnlineRun], None] | None = None,
    identity: dict[str, Any] | None = None,
) -> OnlineRun:
    """Train every seed for ``cfg.iterations`` PPO iterations (module docstring), batched as members.

    checkpoint / checkpoint_every: the resumable state's file and period in iterations (0: only at the end); an
    existing checkpoint of the same run (config but iterations, seeds, ``identity``) is resumed, another one is an
    error naming the file. ``stop_at``: return after that iteration (tests: a killed run). ``progress(run)`` after
    every iteration."""
    cfg.validate()
    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every={checkpoint_every} must be >= 0 (0: only at the end)")
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    spec = envs.make(cfg.env, obs_mode=cfg.obs_mode).spec
    S, T = len(seeds), spec.episode_length
    E = cfg.episodes_per_iteration(T)
    if E * T < cfg.mappo.minibatch_size:
        raise ValueError(
            f"steps_per_iteration={cfg.steps_per_iteration} gives fewer rows than one minibatch "
            f"({cfg.mappo.minibatch_size})"
        )
    lr = MAPPO(spec.obs_dims, spec.act_dims, S, cfg.mappo, seeds=seeds, device=device)
    run = OnlineRun(cfg, lr)
    ident = identity_of(cfg, seeds, {"env_options": spec.options, **(identity or {})})
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        sd = load_run_checkpoint(ckpt, ident)
        lr.load_state_dict(sd["learner"])
        run.log, run.evals, run.times = sd["log"], sd["evals"], sd["times"]
        run.resumed_from = lr.n_updates
    vec = envs.make_vec(cfg.env, S * E, obs_mode=cfg.obs_mode)
    vec_eval = envs.make_vec(cfg.env, S * cfg.eval_episodes, obs_mode=cfg.obs_mode)
    eval_seeds = np.concatenate([env_seeds(s, cfg.eval_episodes, EVAL_STREAM) for s in seeds])
    t0, wall0 = time.perf_counter(), run.times["wall"]
    # work done since the last save: a call that only loads a finished run keeps its recorded wall time
    unsaved = False

    def save() -> None:
        nonlocal unsaved
        run.times["wall"] = wall0 + time.perf_counter() - t0
        save_run_checkpoint(ckpt, ident, lr, log=run.log, evals=run.evals, times=run.times)
        unsaved = False

    def evaluate() -> None:
        nonlocal unsaved
        unsaved = True
        te = time.perf_counter()
        ev = evaluate_greedy(lr, vec_eval, eval_seeds)
        run.evals.append({"iteration": lr.n_updates, "env_steps": lr.n_updates * E * T, **ev})
        run.times["eval"] += time.perf_counter() - te

    if cfg.mappo.obs_norm and not lr.obs_stats_set:  # a fresh run (a checkpoint holds its statistics)
        lr.set_obs_stats(stats_rollout(vec, seeds))
    while True:
        it = lr.n_updates
        if (it % cfg.eval_every == 0 or it == cfg.iterations) and not any(
            e["iteration"] == it for e in run.evals
        ):
            evaluate()
        if it >= cfg.iterations or (stop_at is not None and it >= stop_at):
            break
        te, unsaved = time.perf_counter(), True
        reset = np.concatenate([env_seeds(s, E, ENV_STREAM, it) for s in seeds])
        ro = rollout(vec, lambda o: lr.act(o)[0], S, reset)
        tu = time.perf_counter()
        metrics = lr.update(to_batch(ro))
        run.times["env"] += tu - te
        run.times["update"] += time.perf_counter() - tu
        ret = (ro["rewards"] * ro["live"]).sum(-1).mean(1)  # [S]
        run.log.append(
            {
                "iteration": it,
                "return": ret.tolist(),
                **{k: v.cpu().numpy().tolist() for k, v in metrics.items()},
            }
        )
        if progress is not None:
            progress(run)
        done = lr.n_updates >= cfg.iterations
        if done:
            evaluate()
        if (checkpoint_every and lr.n_updates % checkpoint_every == 0) or done:
            save()
    if unsaved:
        run.times["wall"] = wall0 + time.perf_counter() - t0
    return run


def progress_printer(total: int, label: str, every: int | None = None) -> Callable[[OnlineRun], None]:
    """A progress callback: a tqdm bar on a terminal, else one log line every ``every`` iterations (default 5 %)
    with each seed's mean training return and the last evaluation."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=label, unit="it", disable=not sys.stderr.isatty(), leave=False)
    every = every or max(total // 20, 1)

    def tick(run: OnlineRun) -> None:
        if not bar.disable:
            bar.n = run.iteration
            bar.set_postfix_str("return " + " ".join(f"{r:.2f}" for r in run.log[-1]["return"]))
            bar.refresh()
        elif run.iteration % every == 0 or run.iteration == total:
            ev = run.evals[-1]
            spent = run.times["env"] + run.times["update"] + run.times["eval"]
            conv = f" conventions {ev['convention']}" if "convention" in ev else ""
            print(
                f"{label}: iteration {run.iteration}/{total}, train return "
                f"{[round(r, 3) for r in run.log[-1]['return']]}, eval@{ev['iteration']} "
                f"{[round(r, 3) for r in ev['return']]}{conv}, {spent:.0f} s "
                f"(env {run.times['env']:.0f}, update {run.times['update']:.0f}) since the start",
                file=sys.stderr,
                flush=True,
            )

    return tick


def main(argv: Sequence[str] | None = None) -> int:
    d = OnlineMAPPOConfig()
    p = argparse.ArgumentParser(
        prog="python -m common.behavior.mappo_online",
        description="Online MAPPO (MOMA-PPO's learner, seeds batched) on a vectorized env; "
        "checkpointed and resumable; prints each seed's greedy return and, on "
        "Reacher, its elbow convention.",
    )
    p.add_argument("--env", default=d.env, help=f"env name (default {d.env})")
    p.add_argument("--obs-mode", default=d.obs_mode, help=f"the env's obs_mode (default {d.obs_mode})")
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="training seeds (default 0 1 2 3)"
    )
    p.add_argument(
        "--iterations", type=int, default=100, help="PPO iterations (default 100; the code: 1e6 + 1)"
    )
    p.add_argument(
        "--steps-per-iteration",
        type=int,
        default=d.steps_per_iteration,
        help=f"env transitions per seed and update (default {d.steps_per_iteration})",
    )
    p.add_argument("--eval-every", type=int, default=d.eval_every, help=f"default {d.eval_every}")
    p.add_argument("--eval-episodes", type=int, default=d.eval_episodes, help=f"default {d.eval_episodes}")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (resumed when it exists)")
    p.add_argument(
        "--checkpoint-every", type=int, default=50, help="iterations between checkpoints (default 50)"
    )
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    a = p.parse_args(argv)
    cfg = OnlineMAPPOConfig(
        env=a.env,
        obs_mode=a.obs_mode,
        steps_per_iteration=a.steps_per_iteration,
        iterations=a.iterations,
        eval_every=a.eval_every,
        eval_episodes=a.eval_episodes,
    )
    try:
        cfg.validate()
        envs.make(cfg.env, obs_mode=cfg.obs_mode)
    except ValueError as e:
        p.error(str(e))
    torch.set_num_threads(1)
    run = train(
        cfg,
        a.seeds,
        checkpoint=a.checkpoint,
        checkpoint_every=a.checkpoint_every,
        device=a.device,
        progress=progress_printer(cfg.iterations, f"MAPPO {cfg.env}"),
    )
    ev = run.final_eval()
    print(
        f"iteration {run.iteration}: greedy return per seed {[round(r, 3) for r in ev['return']]}"
        + (
            f", θ₂ {[round(t, 2) for t in ev['theta2']]}, conventions {ev['convention']}"
            if "theta2" in ev
            else ""
        )
        + f"; wall {run.times['wall']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
