"""The generation protocol of the SMAX datasets (common/datasets/smax.py, whose docstring states it): the kinds and
their rules, the profiles' scale, the cache paths, the MAPPO behavior run of a map, the choice of its snapshots by
sampled win rate, and the collection of whole episodes sampled from a mixture of snapshots.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

import envs
from common.behavior.smax_acting import env_seeds, generator, make_policy, rollout
from common.behavior.smax_ppo import SmaxPPOConfig
from common.behavior.smax_ppo_train import SmaxRun, train
from common.datasets.card import data_root
from envs.smax import MAPS

__all__ = [
    "KINDS",
    "NEEDED",
    "PROFILES",
    "SmaxProfile",
    "MIXED_LEVELS",
    "MEDIUM_LEVEL",
    "RULES",
    "NO_WIN_RULE",
    "VERSION",
    "check_profile",
    "check_map",
    "check_kind",
    "dataset_base",
    "regenerate_command",
    "behavior_run",
    "choose_snapshot",
    "collect",
]

VERSION = 1  # bump when the generation changes: old files are then refused by their card
KINDS = ("mixed", "medium")
# what the papers train on: CAST-BCQ Table 1 / Figure 5, OTC Figure 6(d)
NEEDED: dict[str, tuple[str, ...]] = {
    "3s_vs_3z": ("mixed",),
    "2s3z": ("mixed",),
    "10m_vs_11m": ("mixed",),
    "MMM_no_medivac": ("mixed",),
    "5m_vs_6m": ("medium",),
}
MIXED_LEVELS = (0.0, 0.5, 0.75, 1.0)  # fractions of the final greedy win rate W
MEDIUM_LEVEL = 0.5
COLLECT_ENV, COLLECT_ACT = 0xC011, 0xC0AC  # random streams of the collection (with the seed, kind, batch)
RULES = {
    "mixed": "multi-source (CAST-BCQ / ICQ): episode j sampled from the MAPPO snapshot of level j mod L, level l = the "
    "first evaluation snapshot (training order, the initial policy included) whose sampled win rate reaches "
    "MIXED_LEVELS[l] x the final sampled win rate; equal shares, whole episodes",
    "medium": "medium (OTC [C23]): every episode sampled from the first MAPPO evaluation snapshot whose sampled win "
    "rate reaches 0.5 x the final sampled win rate; whole episodes",
}
NO_WIN_RULE = (
    "the final policy never wins, so a level l reads the sampled return instead: the first snapshot whose "
    "sampled return reaches R_0 + l x (R_final - R_0)"
)


@dataclass(frozen=True)
class SmaxProfile:
    """Scale of one profile: the MAPPO run (iterations per map), the episodes per kind, the collection batch."""

    # the behavior learner's config; iterations and eval_every are set per map from the fields below
    ppo: SmaxPPOConfig
    iterations: dict[str, int]  # PPO iterations per map (each = ppo.n_envs episodes)
    evals: int  # evaluations (and snapshots) per run after the initial one: eval_every = iterations // evals
    episodes: dict[str, int]  # episodes per kind
    collect_envs: int  # envs per collection batch (a multiple of len(MIXED_LEVELS))
    checkpoint_every: int  # iterations between checkpoints of the behavior run
    # per-map changes to ``ppo`` (e.g. n_envs)
    ppo_maps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def ppo_for(self, map_name: str) -> SmaxPPOConfig:
        its = self.iterations[check_map(map_name)]
        return replace(
            self.ppo, iterations=its, eval_every=max(its // self.evals, 1), **self.ppo_maps.get(map_name, {})
        )


# quick: 3s_vs_3z measured (its sampled win rate reaches 1.0 at iteration 70 of 100); the other maps get as many
# iterations as fit in under an hour each at the measured cost per env step even if every episode ran to the map's
# limit (docs/smax.md#profiles-and-cost)
_QUICK_ITERS = {"3s_vs_3z": 100, "2s3z": 300, "5m_vs_6m": 750, "10m_vs_11m": 1000, "MMM_no_medivac": 300}
# 10m_vs_11m: 250 iterations left one won episode in 1,000 (data win rate 0.001); 1,000 end at 11 % sampled, 19 %
# greedy wins (measured).
# 5m_vs_6m: 64 episodes per iteration (~1,000 env steps: its episodes last ~15 steps) never won in 1,000 iterations;
# 256 per iteration (~4,000 steps, nearer JaxMARL's 16,384 per update) won 1-3 % within 250 (measured), so quick
# runs 750 of those (~2.9M env steps)
_QUICK_PPO_MAPS = {"5m_vs_6m": {"n_envs": 256}}
PROFILES: dict[str, SmaxProfile] = {
    "smoke": SmaxProfile(
        SmaxPPOConfig(hidden=(16, 16), n_envs=4, eval_episodes=4),
        {m: 2 for m in MAPS},
        2,
        {"mixed": 8, "medium": 4},
        4,
        1,
    ),
    "quick": SmaxProfile(
        SmaxPPOConfig(n_envs=64, eval_episodes=64),
        _QUICK_ITERS,
        20,
        {"mixed": 1000, "medium": 2500},
        64,
        25,
        _QUICK_PPO_MAPS,
    ),
    # full: ~1e7 env steps per map (JaxMARL's TOTAL_TIMESTEPS) at ~80 steps per episode; the papers' dataset sizes
    "full": SmaxProfile(
        SmaxPPOConfig(n_envs=64, eval_episodes=64),
        {m: 2000 for m in MAPS},
        100,
        {"mixed": 3000, "medium": 10_000},
        64,
        50,
    ),
}


def check_profile(profile: str) -> SmaxProfile:
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not known; allowed profiles: {', '.join(PROFILES)}")
    return PROFILES[profile]


def check_map(map_name: str) -> str:
    if map_name not in MAPS:
        raise ValueError(f"map={map_name!r} is not an SMAX map; allowed maps: {', '.join(MAPS)}")
    return map_name


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not an SMAX dataset kind; allowed kinds: {', '.join(KINDS)}")
    return kind


def _root(profile: str, root) -> Path:
    return (Path(root) if root is not None else data_root()) / "smax" / profile


def dataset_base(map_name: str, kind: str, profile: str, root=None) -> Path:
    """Base path (without .npz/.json) of a dataset."""
    check_profile(profile)
    return _root(profile, root) / check_map(map_name) / f"{check_kind(kind)}-v{VERSION}"


def regenerate_command(map_name: str, kind: str, profile: str, seed: int) -> str:
    extra = f" --seed {seed}" if seed else ""
    return f"python -m common.datasets.smax --map {map_name} --kind {kind} --profile {profile}{extra}"


# ---- behavior ------------------------------------------------------------------------------------------


def behavior_run(
    map_name: str,
    profile: str,
    *,
    root=None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    stop_at: int | None = None,
) -> SmaxRun:
    """The (finished) MAPPO run of ``map_name``: trained, resumed or loaded from its checkpoint
    ``<root>/smax/<profile>/<map>/mappo-seed<seed>.pt``. ``stop_at``: end after the checkpoint at that iteration."""
    prof = check_profile(profile)
    cfg = prof.ppo_for(map_name)
    path = _root(profile, root) / map_name / f"mappo-seed{seed}.pt"
    every = max(cfg.iterations // 20, 1)

    def tick(run: SmaxRun) -> None:
        x = run.log[-1]
        i = x["iteration"] + 1
        if progress and (i % every == 0 or i == cfg.iterations):
            print(
                f"MAPPO smax/{map_name} ({profile}): iteration {i}/{cfg.iterations}, "
                f"{int(run.env_steps()[0]):,} env steps, sampled win rate {x['win_rate'][0]:.2f}, "
                f"return {x['return'][0]:.2f}, {run.times['env'] + run.times['update']:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    return train(
        f"smax/{map_name}",
        cfg,
        [seed],
        checkpoint=path,
        checkpoint_every=prof.checkpoint_every,
        stop_at=stop_at,
        device=device,
        progress=tick,
        identity={"profile": profile, "version": VERSION},
    )


def choose_snapshot(run: SmaxRun, level: float) -> dict[str, Any]:
    """The first evaluation (training order, the initial policy included) whose sampled win rate reaches
    level x W, W = the final evaluation's sampled win rate (seed 0 of the run). Where the final policy never wins
    (W = 0: every level would be the initial policy, e.g. 5m_vs_6m at quick), the sampled return decides instead:
    the first evaluation whose return reaches R_0 + level x (R_final - R_0) [I]."""
    wins = [e["sampled_win_rate"][0] for e in run.evals]
    final = wins[-1]
    if final > 0:
        criterion, values, target = "sampled_win_rate", wins, level * final
    else:
        values = [e["sampled_return"][0] for e in run.evals]
        criterion, target = "sampled_return", values[0] + level * (values[-1] - values[0])
    k = next(i for i, v in enumerate(values) if v >= target - 1e-12)
    e = run.evals[k]
    return {
        "level": level,
        "criterion": criterion,
        "target": target,
        "final_win_rate": final,
        "index": k,
        "iteration": e["iteration"],
        "env_steps": e["env_steps"][0],
        "sampled_win_rate": e["sampled_win_rate"][0],
        "greedy_win_rate": e["win_rate"][0],
        "sampled_return": e["sampled_return"][0],
        "actor_sha256": _weights_sha(run.snapshots[k][1]),
    }


def _weights_sha(state: dict[str, torch.Tensor]) -> str:
    """sha256 of member 0's weights of an actor snapshot (the run's seed)."""
    h = hashlib.sha256()
    for k, v in sorted(state.items()):
        h.update(k.encode())
        h.update(v[0].detach().cpu().numpy().tobytes())
    return h.hexdigest()


# ---- collection ------------------------------------------------------------------------------------------


def collect(
    env_name: str,
    actor,
    agent_id: bool,
    n_episodes: int,
    copies: int,
    seed: int,
    key: int,
    progress: str | None = None,
) -> dict[str, np.ndarray]:
    """``n_episodes`` whole episodes sampled from the G members of ``actor`` (a mixture: episode j from member
    j mod G), ``copies`` envs per batch (a multiple of G). Env seeds and action noise of batch b come from
    (seed, key, b) alone. Returns the dataset's step arrays [T, ...] and per-episode ``won`` / ``episode_source``."""
    G = actor.n_members
    if copies % G:
        raise ValueError(f"copies={copies} must be a multiple of the {G} policies of the mixture")
    E = copies // G
    vec = envs.make_vec(env_name, copies)
    # episode order inside a batch: (k, g) for copy c = g E + k, so that episode j = b copies + k G + g has source g
    order = np.arange(copies).reshape(G, E).T.reshape(-1)
    cols: dict[str, list[np.ndarray]] = {}
    won, source, n, b = [], [], 0, 0
    report_every = max(-(-n_episodes // copies) // 10, 1)  # batches between progress lines (about 10 in all)
    while n < n_episodes:
        gens = [generator(seed, COLLECT_ACT, key, b, g) for g in range(G)]
        ro = rollout(vec, make_policy(actor, agent_id, gens), env_seeds(seed, copies, COLLECT_ENV, key, b))
        for c in order[: n_episodes - n]:
            L = int(ro["length"][c])
            N = ro["obs"].shape[2]
            ep = {
                "obs": ro["obs"][c, :L],
                "next_obs": ro["obs"][c, 1 : L + 1],
                "state": ro["state"][c, :L],
                "next_state": ro["state"][c, 1 : L + 1],
                "avail_actions": ro["avail"][c, :L],
                "next_avail_actions": ro["avail"][c, 1 : L + 1],
                "actions": ro["actions"][c, :L, :, None].astype(np.float32),
                "rewards": np.repeat(ro["reward"][c, :L, None], N, axis=1),
                "terminals": ro["terminated"][c, :L],
                "timeouts": ro["truncated"][c, :L],
            }
            for k, v in ep.items():  # copies: a view would keep the whole padded batch alive
                cols.setdefault(k, []).append(np.array(v, copy=True))
            won.append(bool(ro["won"][c]))
            source.append(c // E)
        n = len(won)
        b += 1
        if progress and (b % report_every == 0 or n >= n_episodes):
            print(f"{progress}: {n}/{n_episodes} episodes", file=sys.stderr, flush=True)
    out = {k: np.concatenate(v) for k, v in cols.items()}
    out["won"], out["episode_source"] = np.array(won, bool), np.array(source, np.int64)
    return out
