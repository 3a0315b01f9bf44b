"""MOMA-PPO's 2-agent Reacher experts (steps 1 and 2 of papers/moma_ppo/reacher.py's protocol): MAPPO trained
online on the fully observed Reacher, the seeds batched as members (resumable from its checkpoint); one expert per
elbow convention chosen from the seeds' final greedy evaluation (``choose_experts``); each expert's sampled
transitions (``collect_expert``). reacher.py builds the datasets from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

import envs
from common.algos.mappo import MAPPOConfig
from common.behavior.mappo_online import OnlineMAPPOConfig, OnlineRun, progress_printer, train
from common.behavior.mappo_rollouts import CONVENTIONS, rollout, select_seeds
from common.datasets.card import data_root
from common.datasets.returns import normalize
from envs.mamujoco import REACHER_REF_SCORES
from papers.moma_ppo import data_config as DC

__all__ = [
    "VERSION",
    "choose_experts",
    "collect_expert",
    "collect_policy",
    "data_dir",
    "expert_config",
    "run_path",
    "train_experts",
]

# the experts' run identity (with the training fields and seeds): collection and mix sizes are not part of it, so a
# profile that changes them (and its data version, ReacherScale.version) reuses its trained experts
VERSION = DC.REACHER_VERSION
COLLECT_COPIES = 100  # env copies per expert stepped together while collecting


def data_dir(profile: str, root: str | Path | None = None) -> Path:
    """The folder of ``profile``'s Reacher files (the experts' run and the datasets) under the data root."""
    DC.reacher_scale(profile)
    return (Path(root) if root is not None else data_root()) / "moma_ppo" / "reacher" / profile


def run_path(profile: str, root: str | Path | None = None) -> Path:
    """The MAPPO experts' checkpoint of ``profile``."""
    return data_dir(profile, root) / "mappo-experts.pt"


def expert_config(profile: str) -> OnlineMAPPOConfig:
    s = DC.reacher_scale(profile)
    return OnlineMAPPOConfig(
        env=DC.REACHER_ENV,
        obs_mode="full",
        steps_per_iteration=s.steps_per_iteration,
        iterations=s.iterations,
        eval_every=s.eval_every,
        eval_episodes=s.eval_episodes,
        mappo=MAPPOConfig(minibatch_size=256, memory_len=0, hidden=s.hidden, obs_norm=True),
    )


def train_experts(
    profile: str, *, root=None, device: str = "cpu", progress: bool = True, stop_at: int | None = None
) -> OnlineRun:
    """The profile's MAPPO run: trained, resumed or loaded from its checkpoint."""
    s = DC.reacher_scale(profile)
    cfg = expert_config(profile)
    tick = progress_printer(cfg.iterations, f"Reacher MAPPO experts ({profile})") if progress else None
    return train(
        cfg,
        s.seeds,
        checkpoint=run_path(profile, root),
        checkpoint_every=s.checkpoint_every,
        stop_at=stop_at,
        device=device,
        progress=tick,
        identity={"profile": profile, "version": VERSION},
    )


def choose_experts(
    evaluation: dict[str, Any], seeds: Sequence[int], require: bool, level: float = DC.REACHER_EXPERT_LEVEL
) -> dict[str, dict[str, Any]]:
    """Per convention the seed with the best final greedy return (``evaluation``: returns, theta2, conventions per
    seed). ``require``: both conventions must be present and at the expert level (normalized ≥ ``level`` × 100),
    else an error says what was found. Without ``require`` a missing convention takes the unused seed whose mean θ₂
    leans furthest that way (``forced``: True)."""
    ret, theta, conv = (np.asarray(evaluation[k]) for k in ("return", "theta2", "convention"))
    norm = normalize(ret, REACHER_REF_SCORES)
    found = ", ".join(
        f"seed {s}: {c} (θ₂ {t:+.2f}, return {r:.3f}, {n:.0f} %)"
        for s, c, t, r, n in zip(seeds, conv, theta, ret, norm)
    )
    out: dict[str, dict[str, Any]] = {}
    for c in CONVENTIONS:
        cand = np.flatnonzero(conv == c)
        forced = len(cand) == 0
        if forced:
            if require:
                raise RuntimeError(
                    f"no seed bends its elbow {c}; found {found}. Train more seeds (add seeds to "
                    f"data_config.REACHER_SCALES) or more iterations"
                )
            used = {v["index"] for v in out.values()}
            cand = np.array([i for i in range(len(seeds)) if i not in used] or list(range(len(seeds))))
            k = int(cand[np.argmax(theta[cand] if c == "ccw" else -theta[cand])])
        else:
            k = int(cand[np.argmax(ret[cand])])
        at_level = bool(norm[k] >= 100.0 * level)
        if require and not at_level:
            raise RuntimeError(
                f"the best {c} seed ({seeds[k]}) scores {norm[k]:.1f} % < {100 * level:.0f} % (the "
                f"expert level); found {found}. Train longer (raise the profile's iterations: the run "
                f"resumes from its checkpoint)"
            )
        out[c] = {
            "index": k,
            "seed": int(seeds[k]),
            "greedy_return": float(ret[k]),
            "normalized": float(norm[k]),
            "theta2": float(theta[k]),
            "expert_level": at_level,
            "forced": forced,
        }
    return out


def collect_expert(
    run: OnlineRun, picks: Sequence[int], size: int, env_seed: int = DC.REACHER_COLLECT_ENV_SEED
) -> list[dict[str, np.ndarray]]:
    """``size`` transitions of each picked seed's sampled policy (spec §3 step 2): ``collect_policy`` of the run's
    picked seeds (``select_seeds``)."""
    return collect_policy(select_seeds(run.learner, picks), run.cfg, size, env_seed)


def collect_policy(
    sub, cfg: OnlineMAPPOConfig, size: int, env_seed: int = DC.REACHER_COLLECT_ENV_SEED
) -> list[dict[str, np.ndarray]]:
    """``size`` transitions of each seed of the MAPPO ``sub`` (the experts: ``select_seeds`` of the run, or the
    committed ones), all seeds batched: per seed the single-agent arrays obs / next_obs [size, D] (the Reacher
    state), actions [size, J] (joint, clipped), rewards [size], terminals / timeouts [size] (a time-out every
    episode_length steps and at the end)."""
    env = envs.make(cfg.env, obs_mode=cfg.obs_mode)
    T = env.spec.episode_length
    n_eps = -(-int(size) // T)
    K = min(COLLECT_COPIES, n_eps)
    P = sub.n_seeds
    vec = envs.make_vec(cfg.env, P * K, obs_mode=cfg.obs_mode)
    first = np.tile(env_seed + np.arange(K), P)  # every expert's copy k starts from seed 10101 + k
    parts = []
    for b in range(-(-n_eps // K)):
        ro = rollout(vec, lambda o: sub.act(o)[0], P, first if b == 0 else None, keep_state=True)
        parts.append(ro)
    out = []
    for p in range(P):
        cat = {
            k: np.concatenate([ro[k][p] for ro in parts]).reshape(-1, *parts[0][k].shape[3:])
            for k in parts[0]
        }
        if not cat["live"].all():
            raise RuntimeError("a Reacher episode ended before its time limit")
        arr = {
            "obs": cat["state"][:size],
            "next_obs": cat["next_state"][:size],
            "actions": env.join(np.clip(cat["actions"][:size], -1.0, 1.0)).astype(np.float32),
            "rewards": cat["rewards"][:size],
            "terminals": cat["terminated"][:size],
            "timeouts": cat["truncated"][:size].copy(),
        }
        arr["timeouts"][-1] = True
        out.append(arr)
    return out
