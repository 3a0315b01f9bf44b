"""Rollouts of the online MAPPO behavior learner (common/behavior/mappo_online.py): whole episodes of every seed's
env copies, the MAPPO batch of their live rows, the observation-statistics sample, greedy evaluation with Reacher's
elbow convention (the classifier of MOMA-PPO's two expert conventions), the env seeds of a random stream, and a
learner of chosen seeds. Shapes: S seeds, E episodes per seed, C = S E env copies (seed-major), T episode length,
N agents, O padded obs dim, A padded action dim, n buffer rows per seed, D state dim.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from common.algos.mappo import MAPPO

__all__ = [
    "rollout",
    "to_batch",
    "select_seeds",
    "stats_rollout",
    "evaluate_greedy",
    "elbow_angles",
    "classify_convention",
    "env_seeds",
    "CONVENTIONS",
    "ENV_STREAM",
    "EVAL_STREAM",
    "STATS_STREAM",
]

# spawn keys of the random streams (numpy SeedSequence([seed, stream, ...]))
ENV_STREAM, EVAL_STREAM, STATS_STREAM = 0x5E1, 0xE7A, 0x57A
CONVENTIONS = ("ccw", "cw")  # elbow bent counter-clockwise (mean θ₂ ≥ 0) / clockwise (mean θ₂ < 0)
CONVENTION_STEPS = 25  # θ₂ averaged over the last 25 steps of each evaluation episode (spec §3)
# state columns of cos θ₂, sin θ₂ (Reacher-v5 obs: cos θ0, cos θ1, sin θ0, ...)
REACHER_COS2, REACHER_SIN2 = 1, 3


def env_seeds(seed: int, n: int, *keys: int) -> np.ndarray:
    """[n] env reset seeds in [0, 2**31) from SeedSequence([seed, *keys]) alone."""
    return (np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(n, np.uint32) >> 1).astype(
        np.int64
    )


# ---- the convention classifier ----------------------------------------------------------------------------


def elbow_angles(states: np.ndarray) -> np.ndarray:
    """θ₂ = atan2(sin θ₂, cos θ₂) of Reacher states [..., D >= 4] (v5 layout: cos θ₁, cos θ₂, sin θ₁, sin θ₂, ...)
    -> [...] in (−π, π]."""
    s = np.asarray(states, dtype=np.float64)
    if s.shape[-1] < 4:
        raise ValueError(
            f"Reacher states need at least 4 columns (cos θ1, cos θ2, sin θ1, sin θ2), got {s.shape}"
        )
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


def rollout(
    vec,
    act: Callable[[np.ndarray], np.ndarray | torch.Tensor],
    S: int,
    reset_seeds: np.ndarray | None,
    keep_state: bool = False,
) -> dict[str, np.ndarray]:
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
    out = {
        "obs": np.zeros((T, C, N, O), np.float32),
        "next_obs": np.zeros((T, C, N, O), np.float32),
        "actions": np.zeros((T, C, N, A), np.float32),
        "rewards": np.zeros((T, C), np.float32),
        "terminated": np.zeros((T, C), bool),
        "truncated": np.zeros((T, C), bool),
        "live": np.zeros((T, C), bool),
    }
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
    out = MAPPO(
        learner.obs_dims,
        learner.act_dims,
        len(picks),
        learner.cfg,
        seeds=[learner.seeds[p] for p in picks],
        device=learner.device,
        dtype=learner.dtype,
    )
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
        return np.stack([g.standard_normal((E, spec.n_agents, spec.act_dim)) for g in rngs]).astype(
            np.float32
        )

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
