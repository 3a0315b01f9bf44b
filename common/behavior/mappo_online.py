"""Online MAPPO on vectorized multi-agent envs: the behavior learner of MOMA-PPO's Reacher experts.

    python -m common.behavior.mappo_online --iterations 1500 --seeds 0 1 2 3 --checkpoint runs/reacher.pt
    run = train(OnlineMAPPOConfig(iterations=20), seeds=[0, 1], checkpoint="ckpt.pt")   # resumable
    mean_theta, conv = classify_convention(elbow_angles(states))                       # spec §3, step 1

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
from typing import Any, Callable, Sequence

import numpy as np
import torch

import envs
from common.algos.mappo import MAPPO, MAPPOConfig
from common.running.records import atomic_torch_save
from common.running.runtime import load_run_checkpoint

__all__ = ["OnlineMAPPOConfig", "OnlineRun", "train", "rollout", "evaluate_greedy", "elbow_angles",
           "classify_convention", "CONVENTIONS", "select_seeds", "env_seeds", "main"]

# spawn keys of the random streams (numpy SeedSequence([seed, stream, ...]))
ENV_STREAM, EVAL_STREAM, STATS_STREAM = 0x5E1, 0xE7A, 0x57A
CONVENTIONS = ("ccw", "cw")  # elbow bent counter-clockwise (mean θ₂ ≥ 0) / clockwise (mean θ₂ < 0)
CONVENTION_STEPS = 25  # θ₂ averaged over the last 25 steps of each evaluation episode (spec §3)
REACHER_COS2, REACHER_SIN2 = 1, 3  # state columns of cos θ₂, sin θ₂ (Reacher-v5 obs: cos θ0, cos θ1, sin θ0, ...)


def _online_mappo_default() -> MAPPOConfig:
    # [code] train_rl.py: minibatch 256 (MOMA-PPO's model-based loop: 64); memory 0 is our quick deviation (§7);
    # obs_norm is ours (module docstring: raw Reacher obs diverge)
    return MAPPOConfig(minibatch_size=256, memory_len=0, obs_norm=True)


@dataclass
class OnlineMAPPOConfig:
    """Defaults = the official ``train_rl.py`` (FO 2-agent Reacher), except memory 0 and obs_norm (module
    docstring)."""

    env: str = "mamujoco/reacher-2x1"  # the env trained on ([code] reacher-dataset-v0_2x1_full)
    obs_mode: str = "full"  # FO: both agents see the whole state ([code] 2x1_full)
    steps_per_iteration: int = 2000  # env transitions per seed and update ([code] 2000 = 40 episodes of 50)
    iterations: int = 1_000_001  # PPO iterations ([code] at most 1e6 + 1 updates; profiles set fewer)
    eval_every: int = 50  # iterations between greedy evaluations ([code] eval every 50 iterations)
    eval_episodes: int = 10  # greedy episodes per seed and evaluation ([code] 2; ours: 10 for the convention)
    mappo: MAPPOConfig = field(default_factory=_online_mappo_default)  # the learner (common/algos/mappo.py)

    def __post_init__(self) -> None:
        if isinstance(self.mappo, dict):  # read back from JSON / a checkpoint
            self.mappo = MAPPOConfig(**self.mappo)

    def validate(self) -> "OnlineMAPPOConfig":
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"OnlineMAPPOConfig.{name}={getattr(self, name)!r} {rule}")

        if not isinstance(self.env, str) or self.env not in envs.names():
            fail("env", f"is not a registered env; allowed: {', '.join(n for n in envs.names() if '/' in n)}")
        for name in ("steps_per_iteration", "iterations", "eval_every", "eval_episodes"):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
                fail(name, "must be an integer >= 1")
        if not isinstance(self.mappo, MAPPOConfig):
            fail("mappo", "must be a MAPPOConfig (or a dict of its fields)")
        self.mappo.validate()
        if self.mappo.policy != "gaussian":
            fail("mappo", "must have policy='gaussian' (the online learner runs continuous-action envs)")
        if self.mappo.memory_len != 0:
            fail("mappo", "must have memory_len=0: histories are not kept by this online rollout yet")
        return self

    def episodes_per_iteration(self, episode_length: int) -> int:
        """E = steps_per_iteration / episode_length (whole episodes; an error if it does not divide)."""
        if self.steps_per_iteration % episode_length:
            raise ValueError(f"OnlineMAPPOConfig.steps_per_iteration={self.steps_per_iteration} must be a multiple "
                             f"of the episode length {episode_length} (whole episodes per iteration)")
        return self.steps_per_iteration // episode_length


def env_seeds(seed: int, n: int, *keys: int) -> np.ndarray:
    """[n] env reset seeds in [0, 2**31) from SeedSequence([seed, *keys]) alone."""
    return (np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(n, np.uint32) >> 1).astype(np.int64)


# ---- the convention classifier ----------------------------------------------------------------------------


def elbow_angles(states: np.ndarray) -> np.ndarray:
    """θ₂ = atan2(sin θ₂, cos θ₂) of Reacher states [..., D >= 4] (v5 layout: cos θ₁, cos θ₂, sin θ₁, sin θ₂, ...)
    -> [...] in (−π, π]."""
    s = np.asarray(states, dtype=np.float64)
    if s.shape[-1] < 4:
        raise ValueError(f"Reacher states need at least 4 columns (cos θ1, cos θ2, sin θ1, sin θ2), got {s.shape}")
    return np.arctan2(s[..., REACHER_SIN2], s[..., REACHER_COS2])


def classify_convention(theta2: np.ndarray, last: int = CONVENTION_STEPS) -> tuple[np.ndarray, list[str]]:
    """Elbow angles θ₂ [S, E, T] (S policies, E greedy episodes, T steps) -> (mean θ₂ over each policy's episodes'
    last ``last`` steps [S], conventions [S]: "ccw" where the mean is ≥ 0, else "cw")."""
    th = np.asarray(theta2, dtype=np.float64)
    if th.ndim != 3:
        raise ValueError(f"theta2 must be [S, E, T] (policies, episodes, steps), got shape {th.shape}")
    if not (isinstance(last, (int, np.integer)) and 1 <= last <= th.shape[2]):
        raise ValueError(f"last={last!r} must be an integer in [1, T={th.shape[2]}]")
    mean = th[:, :, -last:].mean(axis=(1, 2))
    return mean, [CONVENTIONS[0] if m >= 0 else CONVENTIONS[1] for m in mean]


# ---- rollouts ---------------------------------------------------------------------------------------------


def rollout(vec, act: Callable[[np.ndarray], np.ndarray], S: int, reset_seeds: np.ndarray | None,
            keep_state: bool = False) -> dict[str, np.ndarray]:
    """One whole episode on each of the C = S E copies of ``vec`` (seed-major: copy c runs seed c // E).

    ``act(obs [S, E, N, O]) -> actions [S, E, N, A]`` (unclipped; the env clips). ``reset_seeds`` [C] (None: each
    copy continues its own RNG). Returns obs / next_obs [S, E, T, N, O], actions [S, E, T, N, A], rewards [S, E, T]
    (the team reward), terminated / truncated / live [S, E, T] bool (live: the copy's episode was running at step
    t; an ended copy is frozen by the VecEnv), and with ``keep_state`` state / next_state [S, E, T, D]."""
    spec = vec.spec
    C, N, T = vec.n, spec.n_agents, spec.episode_length
    if C % S:
        raise ValueError(f"the vec env has {C} copies, not a multiple of S={S} seeds")
    E = C // S
    obs = vec.reset(seeds=reset_seeds) if reset_seeds is not None else vec.reset(None)  # [C, N, O]
    O, A = spec.obs_dim, spec.act_dim
    out = {"obs": np.zeros((T, C, N, O), np.float32), "next_obs": np.zeros((T, C, N, O), np.float32),
           "actions": np.zeros((T, C, N, A), np.float32), "rewards": np.zeros((T, C), np.float32),
           "terminated": np.zeros((T, C), bool), "truncated": np.zeros((T, C), bool), "live": np.zeros((T, C), bool)}
    if keep_state:
        out["state"] = np.zeros((T, C, spec.state_dim), np.float32)
        out["next_state"] = np.zeros((T, C, spec.state_dim), np.float32)
        state = vec.state()
    for t in range(T):
        live = ~vec.done
        a = np.asarray(act(obs.reshape(S, E, N, O)), dtype=np.float32).reshape(C, N, A)
        nobs, rew, term, done = vec.step(a)
        out["obs"][t], out["next_obs"][t], out["actions"][t] = obs, nobs, a
        out["rewards"][t], out["terminated"][t], out["live"][t] = rew[:, 0], term, live
        out["truncated"][t] = done & ~term & live
        if keep_state:
            nstate = vec.state()
            out["state"][t], out["next_state"][t] = state, nstate
            state = nstate
        obs = nobs
        if done.all():
            break
    # [T, C, ...] -> [S, E, T, ...]
    return {k: np.moveaxis(v, 0, 1).reshape(S, E, T, *v.shape[2:]) for k, v in out.items()}


def to_batch(ro: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A rollout [S, E, T, ...] -> the MAPPO batch [S, n, ...] of each seed's live rows, episode-major (contiguous
    episodes, as the GAE recursion needs). Seeds with more live rows are cut to the fewest (spec of
    common.algos.mappo: the cut episode ends in a time-out); masks = 1 − terminated, zetas = 1 − truncated."""
    S, E, T = ro["live"].shape
    flat = {k: v.reshape(S, E * T, *v.shape[3:]) for k, v in ro.items()}
    live = flat["live"]
    n = int(live.sum(1).min())
    if n == 0:
        raise ValueError("a seed's rollout has no live step")
    order = np.argsort(~live, axis=1, kind="stable")[:, :n]  # [S, n] each seed's live rows, in order
    ar = np.arange(S)[:, None]
    b = {k: flat[k][ar, order] for k in ("obs", "next_obs", "actions", "rewards")}
    b["masks"] = 1.0 - flat["terminated"][ar, order].astype(np.float32)
    z = 1.0 - flat["truncated"][ar, order].astype(np.float32)
    z[:, -1] = 0.0  # the end of the buffer is a time-out (a cut episode bootstraps)
    b["zetas"] = z
    return b


def select_seeds(learner: MAPPO, picks: Sequence[int]) -> MAPPO:
    """A MAPPO holding seeds ``picks`` (indices into ``learner.seeds``) of ``learner``: actor / critic members
    s * N + i and mixer member s copied (e.g. the chosen experts, to collect data in one batched rollout)."""
    S, N = learner.n_seeds, learner.n_agents
    picks = [int(p) for p in picks]
    if not picks or any(not 0 <= p < S for p in picks):
        raise ValueError(f"picks {picks} must be seed indices in [0, {S})")
    if learner.encoder is not None:
        raise ValueError("select_seeds copies actor, critic and mixer; this learner also has an encoder")
    members = torch.tensor([p * N + i for p in picks for i in range(N)])
    out = MAPPO(learner.obs_dims, learner.act_dims, len(picks), learner.cfg, seeds=[learner.seeds[p] for p in picks],
                device=learner.device, dtype=learner.dtype)
    if learner.cfg.obs_norm:
        out.obs_mu, out.obs_sd = learner.obs_mu[picks].clone(), learner.obs_sd[picks].clone()
        out.obs_stats_set = learner.obs_stats_set
    for name in ("actor", "critic", "mixer"):
        idx = torch.tensor(picks) if name == "mixer" else members
        src = getattr(learner, name).state_dict()
        getattr(out, name).load_state_dict({k: v.index_select(0, idx.to(v.device)) for k, v in src.items()})
    return out


def stats_rollout(vec, seeds: Sequence[int]) -> np.ndarray:
    """Observations [S, n, N, O] of one episode per copy of ``vec`` (S E copies, seed-major) under N(0, 1) actions,
    env seeds and noise from SeedSequence([seed, STATS_STREAM]) alone: the sample of ``MAPPO.set_obs_stats``."""
    S, spec = len(seeds), vec.spec
    E = vec.n // S
    rngs = [np.random.default_rng(np.random.SeedSequence([int(s), STATS_STREAM])) for s in seeds]
    reset = np.concatenate([env_seeds(s, E, STATS_STREAM) for s in seeds])

    def act(obs: np.ndarray) -> np.ndarray:
        return np.stack([g.standard_normal((E, spec.n_agents, spec.act_dim)) for g in rngs]).astype(np.float32)

    return to_batch(rollout(vec, act, S, reset))["obs"]


def evaluate_greedy(learner: MAPPO, vec, reset_seeds: np.ndarray) -> dict[str, Any]:
    """Greedy episodes of every seed (``vec`` has S E copies; ``reset_seeds`` [S E]): per seed the mean episode
    return [S], and for Reacher the mean elbow angle over the last 25 steps and the convention."""
    S = learner.n_seeds
    ro = rollout(vec, lambda o: learner.greedy(o), S, reset_seeds, keep_state=True)
    ret = (ro["rewards"] * ro["live"]).sum(-1)  # [S, E]
    out: dict[str, Any] = {"return": ret.mean(1).tolist(), "return_std": ret.std(1).tolist()}
    if vec.spec.name.startswith("mamujoco/reacher"):
        theta, conv = classify_convention(elbow_angles(ro["next_state"]))
        out.update(theta2=theta.tolist(), convention=conv)
    return out


# ---- the training run -------------------------------------------------------------------------------------


@dataclass
class OnlineRun:
    cfg: OnlineMAPPOConfig
    learner: MAPPO
    log: list[dict[str, Any]] = field(default_factory=list)  # per iteration: return [S], losses [S] ...
    evals: list[dict[str, Any]] = field(default_factory=list)  # iteration, env_steps, return [S], theta2, convention
    times: dict[str, float] = field(default_factory=lambda: {"wall": 0.0, "env": 0.0, "update": 0.0, "eval": 0.0})
    resumed_from: int | None = None  # iteration of the checkpoint this process started from

    @property
    def iteration(self) -> int:
        return self.learner.n_updates

    def final_eval(self) -> dict[str, Any]:
        return self.evals[-1]



def identity_of(cfg: OnlineMAPPOConfig, seeds: Sequence[int], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: config (iterations excluded: a finished run may be extended),
    seeds, and the caller's extra identity."""
    c = asdict(cfg)
    c.pop("iterations")
    return {"cfg": c, "seeds": [int(s) for s in seeds], **(extra or {})}


def train(cfg: OnlineMAPPOConfig, seeds: Sequence[int] = (0,), *, checkpoint: str | os.PathLike | None = None,
          checkpoint_every: int = 0, stop_at: int | None = None, device: str = "cpu",
          progress: Callable[[OnlineRun], None] | None = None, identity: dict[str, Any] | None = None) -> OnlineRun:
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
        raise ValueError(f"steps_per_iteration={cfg.steps_per_iteration} gives fewer rows than one minibatch "
                         f"({cfg.mappo.minibatch_size})")
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

    def save() -> None:
        run.times["wall"] = wall0 + time.perf_counter() - t0
        if ckpt is not None:
            atomic_torch_save({"identity": ident, "learner": lr.state_dict(), "log": run.log, "evals": run.evals,
                          "times": run.times}, ckpt)

    def evaluate() -> None:
        te = time.perf_counter()
        ev = evaluate_greedy(lr, vec_eval, eval_seeds)
        run.evals.append({"iteration": lr.n_updates, "env_steps": lr.n_updates * E * T, **ev})
        run.times["eval"] += time.perf_counter() - te

    if cfg.mappo.obs_norm and not lr.obs_stats_set:  # a fresh run (a checkpoint holds its statistics)
        lr.set_obs_stats(stats_rollout(vec, seeds))
    while True:
        it = lr.n_updates
        if (it % cfg.eval_every == 0 or it == cfg.iterations) and not any(e["iteration"] == it for e in run.evals):
            evaluate()
        if it >= cfg.iterations or (stop_at is not None and it >= stop_at):
            break
        te = time.perf_counter()
        reset = np.concatenate([env_seeds(s, E, ENV_STREAM, it) for s in seeds])
        ro = rollout(vec, lambda o: lr.act(o)[0], S, reset)
        tu = time.perf_counter()
        metrics = lr.update(to_batch(ro))
        run.times["env"] += tu - te
        run.times["update"] += time.perf_counter() - tu
        ret = (ro["rewards"] * ro["live"]).sum(-1).mean(1)  # [S]
        run.log.append({"iteration": it, "return": ret.tolist(),
                        **{k: v.cpu().numpy().tolist() for k, v in metrics.items()}})
        if progress is not None:
            progress(run)
        done = lr.n_updates >= cfg.iterations
        if done:
            evaluate()
        if (checkpoint_every and lr.n_updates % checkpoint_every == 0) or done:
            save()
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
            print(f"{label}: iteration {run.iteration}/{total}, train return "
                  f"{[round(r, 3) for r in run.log[-1]['return']]}, eval@{ev['iteration']} "
                  f"{[round(r, 3) for r in ev['return']]}{conv}, {spent:.0f} s "
                  f"(env {run.times['env']:.0f}, update {run.times['update']:.0f}) since the start", file=sys.stderr,
                  flush=True)

    return tick


def main(argv: Sequence[str] | None = None) -> int:
    d = OnlineMAPPOConfig()
    p = argparse.ArgumentParser(prog="python -m common.behavior.mappo_online",
                                description="Online MAPPO (MOMA-PPO's learner, seeds batched) on a vectorized env; "
                                            "checkpointed and resumable; prints each seed's greedy return and, on "
                                            "Reacher, its elbow convention.")
    p.add_argument("--env", default=d.env, help=f"env name (default {d.env})")
    p.add_argument("--obs-mode", default=d.obs_mode, help=f"the env's obs_mode (default {d.obs_mode})")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="training seeds (default 0 1 2 3)")
    p.add_argument("--iterations", type=int, default=100, help="PPO iterations (default 100; the code: 1e6 + 1)")
    p.add_argument("--steps-per-iteration", type=int, default=d.steps_per_iteration,
                   help=f"env transitions per seed and update (default {d.steps_per_iteration})")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help=f"default {d.eval_every}")
    p.add_argument("--eval-episodes", type=int, default=d.eval_episodes, help=f"default {d.eval_episodes}")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (resumed when it exists)")
    p.add_argument("--checkpoint-every", type=int, default=50, help="iterations between checkpoints (default 50)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    a = p.parse_args(argv)
    cfg = OnlineMAPPOConfig(env=a.env, obs_mode=a.obs_mode, steps_per_iteration=a.steps_per_iteration,
                            iterations=a.iterations, eval_every=a.eval_every, eval_episodes=a.eval_episodes)
    try:
        cfg.validate()
        envs.make(cfg.env, obs_mode=cfg.obs_mode)
    except ValueError as e:
        p.error(str(e))
    torch.set_num_threads(1)
    run = train(cfg, a.seeds, checkpoint=a.checkpoint, checkpoint_every=a.checkpoint_every, device=a.device,
                progress=progress_printer(cfg.iterations, f"MAPPO {cfg.env}"))
    ev = run.final_eval()
    print(f"iteration {run.iteration}: greedy return per seed {[round(r, 3) for r in ev['return']]}"
          + (f", θ₂ {[round(t, 2) for t in ev['theta2']]}, conventions {ev['convention']}" if "theta2" in ev else "")
          + f"; wall {run.times['wall']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
