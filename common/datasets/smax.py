"""SMAX datasets of the StarCraft items, generated here from our own MAPPO behavior policies and cached with cards.

    python -m common.datasets.smax --map 3s_vs_3z --kind mixed --profile quick     # CAST-BCQ Table 1 / Figure 5
    python -m common.datasets.smax --map 5m_vs_6m --kind medium --profile quick    # OTC Figure 6(d)
    python -m common.datasets.smax --all --profile quick                           # every (map, kind) in NEEDED
    python -m common.datasets.smax --report --profile quick                        # runs/quick/datasets/smax.md

    ds = load("3s_vs_3z", "mixed", "quick")    # SmaxDataset: a common.datasets.dataset.Dataset plus the action masks
    ds.obs [T, N, O], ds.actions [T, N, 1] (the action index), ds.state [T, S], ds.avail_actions [T, N, K] bool,
    ds.next_avail_actions [T, N, K], ds.won [E], ds.episode_source [E], ds.terminals / ds.timeouts [T]

**Behavior** (common/behavior/smax_ppo.py): one MAPPO run per map (centralised V on SMAX's world state, shared
MLP actor over the available actions), seed ``--seed``, the profile's iterations; every ``eval_every`` iterations
a snapshot of its actor and its win rates on fixed evaluation episodes, greedy and sampled. Episodes are collected
by SAMPLING the snapshots' policies (over the available actions), so the levels below are SAMPLED win rates, W the
final evaluation's (the greedy ones are on the card too). The run checkpoints itself and resumes after a kill.
Collection runs ``collect_envs`` envs per batch; every episode is whole.

**Kinds** (each card repeats its rule):

    mixed   CAST-BCQ's "3000 non-expert or multi-source trajectories" (ICQ's SMAC data, unavailable): equal shares
            of episodes from the snapshots at the win-rate levels MIXED_LEVELS = 0, 0.5, 0.75, 1 x W (the first
            snapshot in training order whose sampled win rate reaches level x W; level 0 is the initial policy);
            episode j comes from level j mod 4 (the analogue of the spec's epsilon-mixtures, epsilon = 1, 0.5,
            0.25, 0, of a scripted policy that does not win 5m_vs_6m at all)
    medium  OTC's "1 x 10^4 episodes from medium policies" on 5m_vs_6m: the first snapshot whose sampled win rate
            reaches 0.5 x W (the OTC spec's rule [C23] reads the greedy win rate: we read the sampled one, the
            policy that generates the data); sampled actions
    (both)  where W = 0 (the final policy never wins: 5m_vs_6m at quick) a level reads the sampled return instead,
            R_0 + level x (R_final - R_0), R_0 the initial policy's [I]

**Files**: ``$OFFMARL_DATA/smax/<profile>/<map>/<kind>-v1.{npz,json}`` (a common.datasets.dataset.Dataset: obs, actions,
rewards (the team reward, every agent's column), next_obs, terminals (one side wiped out), timeouts (SMAC's
episode limit), state / next_state (SMAX's world state)), ``<kind>-v1.smax.npz`` beside it (avail_actions,
next_avail_actions, won, episode_source: arrays the Dataset format has no slot for; its sha256 is on the card and
checked on every load), and the behavior run ``mappo-seed<k>.pt``. A mismatched or corrupt file is an error naming
it and the command that regenerates it, never regenerated over silently. docs/smax.md#behavior-policies-and-datasets.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

import envs
from common.behavior.smax_ppo import (
    SmaxPPOConfig,
    SmaxRun,
    actor_from_snapshots,
    env_seeds,
    generator,
    make_policy,
    rollout,
    train,
)
from common.datasets.card import DatasetError, data_root, regenerate_hint, sha256_file
from common.datasets.dataset import Dataset
from common.running.records import atomic_write, atomic_write_text
from common.running.roots import add_root_options, chosen_root
from common.running.runtime import check_device
from envs.smax import MAPS

__all__ = ["KINDS", "MAPS", "NEEDED", "PROFILES", "SmaxProfile", "SmaxDataset", "MIXED_LEVELS", "MEDIUM_LEVEL",
           "behavior_run", "choose_snapshot", "collect", "build", "load", "dataset_base", "main"]

VERSION = 1  # bump when the generation changes: old files are then refused by their card
KINDS = ("mixed", "medium")
NEEDED: dict[str, tuple[str, ...]] = {  # what the papers train on: CAST-BCQ Table 1 / Figure 5, OTC Figure 6(d)
    "3s_vs_3z": ("mixed",), "2s3z": ("mixed",), "10m_vs_11m": ("mixed",), "MMM_no_medivac": ("mixed",),
    "5m_vs_6m": ("medium",),
}
MIXED_LEVELS = (0.0, 0.5, 0.75, 1.0)  # fractions of the final greedy win rate W
MEDIUM_LEVEL = 0.5
COLLECT_ENV, COLLECT_ACT = 0xC011, 0xC0AC  # random streams of the collection (with the seed, kind, batch)
EXTRA_KEYS = {"avail_actions": ("T", "N", "K"), "next_avail_actions": ("T", "N", "K"), "won": ("E",),
              "episode_source": ("E",)}
RULES = {
    "mixed": "multi-source (CAST-BCQ / ICQ): episode j sampled from the MAPPO snapshot of level j mod L, level l = the "
             "first evaluation snapshot (training order, the initial policy included) whose sampled win rate reaches "
             "MIXED_LEVELS[l] x the final sampled win rate; equal shares, whole episodes",
    "medium": "medium (OTC [C23]): every episode sampled from the first MAPPO evaluation snapshot whose sampled win "
              "rate reaches 0.5 x the final sampled win rate; whole episodes",
}
NO_WIN_RULE = ("the final policy never wins, so a level l reads the sampled return instead: the first snapshot whose "
               "sampled return reaches R_0 + l x (R_final - R_0)")


@dataclass(frozen=True)
class SmaxProfile:
    """Scale of one profile: the MAPPO run (iterations per map), the episodes per kind, the collection batch."""

    ppo: SmaxPPOConfig  # the behavior learner's config; iterations and eval_every are set per map from the fields below
    iterations: dict[str, int]  # PPO iterations per map (each = ppo.n_envs episodes)
    evals: int  # evaluations (and snapshots) per run after the initial one: eval_every = iterations // evals
    episodes: dict[str, int]  # episodes per kind
    collect_envs: int  # envs per collection batch (a multiple of len(MIXED_LEVELS))
    checkpoint_every: int  # iterations between checkpoints of the behavior run
    ppo_maps: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-map changes to ``ppo`` (e.g. n_envs)

    def ppo_for(self, map_name: str) -> SmaxPPOConfig:
        its = self.iterations[check_map(map_name)]
        return replace(self.ppo, iterations=its, eval_every=max(its // self.evals, 1), **self.ppo_maps.get(map_name, {}))


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
    "smoke": SmaxProfile(SmaxPPOConfig(hidden=(16, 16), n_envs=4, eval_episodes=4), {m: 2 for m in MAPS}, 2,
                         {"mixed": 8, "medium": 4}, 4, 1),
    "quick": SmaxProfile(SmaxPPOConfig(n_envs=64, eval_episodes=64), _QUICK_ITERS, 20,
                         {"mixed": 1000, "medium": 2500}, 64, 25, _QUICK_PPO_MAPS),
    # full: ~1e7 env steps per map (JaxMARL's TOTAL_TIMESTEPS) at ~80 steps per episode; the papers' dataset sizes
    "full": SmaxProfile(SmaxPPOConfig(n_envs=64, eval_episodes=64), {m: 2000 for m in MAPS}, 100,
                        {"mixed": 3000, "medium": 10_000}, 64, 50),
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


def _extras_path(base: Path) -> Path:
    return base.with_name(base.name + ".smax.npz")


def _per_map(prof: SmaxProfile) -> str:
    """' (map: field value, ...)' for the maps whose MAPPO config differs from the profile's, else ''."""
    parts = [f"{m}: " + ", ".join(f"{k} {v}" for k, v in ch.items()) for m, ch in prof.ppo_maps.items()]
    return f" ({'; '.join(parts)})" if parts else ""


def _command(map_name: str, kind: str, profile: str, seed: int) -> str:
    extra = f" --seed {seed}" if seed else ""
    return f"python -m common.datasets.smax --map {map_name} --kind {kind} --profile {profile}{extra}"


# ---- behavior ------------------------------------------------------------------------------------------


def behavior_run(map_name: str, profile: str, *, root=None, seed: int = 0, device: str = "cpu",
                 progress: bool = True, stop_at: int | None = None) -> SmaxRun:
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
            print(f"MAPPO smax/{map_name} ({profile}): iteration {i}/{cfg.iterations}, "
                  f"{int(run.env_steps()[0]):,} env steps, sampled win rate {x['win_rate'][0]:.2f}, "
                  f"return {x['return'][0]:.2f}, {run.times['env'] + run.times['update']:.0f} s",
                  file=sys.stderr, flush=True)

    return train(f"smax/{map_name}", cfg, [seed], checkpoint=path, checkpoint_every=prof.checkpoint_every,
                 stop_at=stop_at, device=device, progress=tick, identity={"profile": profile, "version": VERSION})


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
    return {"level": level, "criterion": criterion, "target": target, "final_win_rate": final, "index": k,
            "iteration": e["iteration"], "env_steps": e["env_steps"][0], "sampled_win_rate": e["sampled_win_rate"][0],
            "greedy_win_rate": e["win_rate"][0], "sampled_return": e["sampled_return"][0],
            "actor_sha256": _weights_sha(run.snapshots[k][1])}


def _weights_sha(state: dict[str, torch.Tensor]) -> str:
    """sha256 of member 0's weights of an actor snapshot (the run's seed)."""
    h = hashlib.sha256()
    for k, v in sorted(state.items()):
        h.update(k.encode())
        h.update(v[0].detach().cpu().numpy().tobytes())
    return h.hexdigest()


# ---- collection ------------------------------------------------------------------------------------------


def collect(env_name: str, actor, agent_id: bool, n_episodes: int, copies: int, seed: int, key: int,
            progress: str | None = None) -> dict[str, np.ndarray]:
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
            ep = {"obs": ro["obs"][c, :L], "next_obs": ro["obs"][c, 1:L + 1], "state": ro["state"][c, :L],
                  "next_state": ro["state"][c, 1:L + 1], "avail_actions": ro["avail"][c, :L],
                  "next_avail_actions": ro["avail"][c, 1:L + 1],
                  "actions": ro["actions"][c, :L, :, None].astype(np.float32),
                  "rewards": np.repeat(ro["reward"][c, :L, None], N, axis=1),
                  "terminals": ro["terminated"][c, :L], "timeouts": ro["truncated"][c, :L]}
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


# ---- the dataset ------------------------------------------------------------------------------------------


class SmaxDataset(Dataset):
    """A :class:`common.datasets.dataset.Dataset` with SMAX's extra arrays: ``avail_actions`` / ``next_avail_actions`` [T, N, K]
    bool (the masks at s and s'), ``won`` [E] bool (the episode's win), ``episode_source`` [E] (the index of its
    behavior snapshot in ``card["behavior"]["sources"]``)."""

    def __init__(self, arrays, card, extras: dict[str, np.ndarray]):
        super().__init__(arrays, card)
        self.extras = dict(extras)
        _check_extras(self.extras, self.card, "<in memory>")

    avail_actions = property(lambda self: self.extras["avail_actions"])  # [T, N, K]
    next_avail_actions = property(lambda self: self.extras["next_avail_actions"])  # [T, N, K]
    won = property(lambda self: self.extras["won"])  # [E]
    episode_source = property(lambda self: self.extras["episode_source"])  # [E]

    @property
    def win_rate(self) -> float:
        return float(self.won.mean())

    def extras_torch(self, device="cpu") -> dict[str, torch.Tensor]:
        """avail_actions / next_avail_actions as bool tensors [T, N, K] on ``device`` (for gather with the rows)."""
        return {k: torch.from_numpy(self.extras[k]).to(device) for k in ("avail_actions", "next_avail_actions")}


def _check_extras(extras: dict[str, np.ndarray], card: dict, where: str) -> None:
    dims = {"T": card["size"], "N": card["n_agents"], "K": max(card["n_actions"]), "E": card["n_episodes"]}
    for k, axes in EXTRA_KEYS.items():
        if k not in extras:
            raise DatasetError(f"{where}: missing array {k!r} (needs {list(EXTRA_KEYS)})")
        want = tuple(dims[a] for a in axes)
        if extras[k].shape != want:
            raise DatasetError(f"{where}: array {k!r} has shape {extras[k].shape}, the card expects {want}")


def _write_extras(path: Path, extras: dict[str, np.ndarray]) -> str:
    """Write the extras .npz atomically; returns its sha256."""
    atomic_write(path, lambda f: np.savez(f, **extras))
    digest = sha256_file(path)
    return digest


def _read_extras(base: Path, card: dict) -> dict[str, np.ndarray]:
    path = _extras_path(base)
    info = card.get("smax") or {}
    try:
        if not path.exists():
            raise DatasetError(f"dataset file missing: {path}")
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != info.get("sha256"):
            raise DatasetError(f"{path}: checksum mismatch: the file's sha256 is {digest}, its card "
                               f"{base.name}.json says {info.get('sha256')}; the file is corrupt or belongs to "
                               "another card")
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                extras = {k: z[k] for k in z.files}
        except Exception as e:  # a corrupt zip
            raise DatasetError(f"{path}: cannot read arrays ({type(e).__name__}: {e})") from None
        _check_extras(extras, card, str(path))
    except DatasetError as e:
        raise DatasetError(f"{e}; {regenerate_hint(base)}") from None
    return extras


def _summary(arrays: dict[str, np.ndarray], returns: np.ndarray, sources: list[dict]) -> list[dict]:
    """Per source: episodes, the data's win rate and mean return (the sampled policy, not the greedy one)."""
    out = []
    for g, s in enumerate(sources):
        sel = arrays["episode_source"] == g
        out.append({**s, "episodes": int(sel.sum()), "data_win_rate": float(arrays["won"][sel].mean()),
                    "data_return_mean": float(returns[sel].mean())})
    return out


def build(map_name: str, kind: str, profile: str, *, root=None, seed: int = 0, device: str = "cpu",
          progress: bool = True) -> Path:
    """Make the dataset (and its behavior run) unless its files exist and verify; returns its base path."""
    base = dataset_base(map_name, kind, profile, root)
    if base.with_name(base.name + ".json").exists():
        _load(base)  # verifies both files: a bad one raises DatasetError naming it
        return base
    prof = check_profile(profile)
    levels = MIXED_LEVELS if kind == "mixed" else (MEDIUM_LEVEL,)
    n_eps = prof.episodes[kind]
    if n_eps % len(levels) or prof.collect_envs % len(levels):
        raise ValueError(f"{n_eps} episodes in batches of {prof.collect_envs} envs do not split into "
                         f"{len(levels)} equal shares")
    run = behavior_run(map_name, profile, root=root, seed=seed, device=device, progress=progress)
    sources = [choose_snapshot(run, lv) for lv in levels]
    if run.evals[-1]["sampled_win_rate"][0] == 0 and progress:
        print(f"note: the final MAPPO policy of smax/{map_name} ({profile}) wins no evaluation episode: the levels are "
              "read on the sampled return instead (choose_snapshot)", file=sys.stderr, flush=True)
    lr = run.learner
    actor = actor_from_snapshots(lr.cfg, lr.actor_in, lr.K, [(run.snapshots[s["index"]][1], 0) for s in sources])
    env_name = f"smax/{map_name}"
    arrays = collect(env_name, actor, lr.cfg.agent_id, n_eps, prof.collect_envs, seed, KINDS.index(kind),
                     progress=f"collect {env_name} {kind} ({profile})" if progress else None)
    env = envs.make(env_name)
    behavior = {
        "learner": f"common.behavior.smax_ppo ({lr.cfg.critic.upper()}), shared MLP actor over available actions",
        "ppo": asdict(lr.cfg), "seed": seed, "iterations": lr.iteration, "env_steps": int(run.env_steps()[0]),
        "train_wall_time_s": run.times["wall"],
        "evals": [[e["iteration"], e["env_steps"][0], e["sampled_win_rate"][0], e["win_rate"][0],
                   e["sampled_return"][0]] for e in run.evals],
        "evals_columns": ["iteration", "env_steps", "sampled_win_rate", "greedy_win_rate", "sampled_return"],
        "sources": sources,
        "actions": "sampled from each snapshot's categorical over the available actions",
    }
    ds = Dataset.from_arrays(
        env_name, kind, arrays["obs"], arrays["actions"], arrays["rewards"], arrays["next_obs"], arrays["terminals"],
        arrays["timeouts"], state=arrays["state"], next_state=arrays["next_state"], spec=env.spec, version=VERSION,
        protocol={"rule": RULES[kind] + ("" if sources[0]["criterion"] == "sampled_win_rate" else "; " + NO_WIN_RULE),
                  "profile": profile, "levels": list(levels), "episodes": n_eps,
                  "env_options": env.spec.options, "collect_envs": prof.collect_envs, "env": env.card},
        return_mode="agent0", behavior=behavior, generator={"name": "common.datasets.smax", "version": VERSION},
        notes="SMAX (JaxMARL) substitute for SMAC: win rates are not comparable to SC2's" + (
            f"; {env.card['substitute']}" if env.card["substitute"] else ""),
        regenerate_command=_command(map_name, kind, profile, seed))
    extras = {k: arrays[k] for k in EXTRA_KEYS}
    behavior["sources"] = _summary(arrays, ds.episode_returns, sources)
    digest = _write_extras(_extras_path(base), extras)  # first: the card, written last, names its checksum
    ds = ds.with_card(behavior=behavior, smax={
        "file": _extras_path(base).name, "sha256": digest, "win_rate": float(arrays["won"].mean()),
        "episodes_won": int(arrays["won"].sum()),
        "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in extras.items()}})
    return ds.save(base)


def _load(base: Path) -> SmaxDataset:
    ds = Dataset.load(base)  # the main file: sha256, shapes, dtypes
    return SmaxDataset(ds.arrays, ds.card, _read_extras(base, ds.card))


def load(map_name: str, kind: str, profile: str, *, root=None, seed: int = 0, device: str = "cpu",
         progress: bool = True) -> SmaxDataset:
    """The dataset, built first when its files are missing (see :func:`build`)."""
    return _load(build(map_name, kind, profile, root=root, seed=seed, device=device, progress=progress))


# ---- report and command line --------------------------------------------------------------------------------


def report_text(profile: str, cards: dict[tuple[str, str], dict]) -> str:
    prof = check_profile(profile)
    lines = [f"# SMAX datasets ({profile})", "",
             f"Generated by `python -m common.datasets.smax --all --profile {profile}` (rules in "
             f"common/datasets/smax.py and on every card). MAPPO behavior: {prof.ppo.n_envs} episodes per iteration"
             f"{_per_map(prof)}, "
             f"iterations per map {prof.iterations}; episodes per kind {prof.episodes}. SMAX is a substitute for SMAC: "
             "win rates are not comparable to SC2's (docs/smax.md).", ""]
    if not cards:
        return "\n".join(lines + ["No SMAX dataset of this profile has been built on this machine yet.", ""])
    lines += ["| map | kind | episodes | transitions | win rate | return mean ± std | min / max | MAPPO env steps "
              "| final sampled win | sources (level: iteration, sampled win, data win) |", "|" + "---|" * 10]
    for (m, kind), c in sorted(cards.items()):
        r, b = c["returns"], c["behavior"]
        src = "; ".join(f"{s['level']:g}: it {s['iteration']}, {s['sampled_win_rate']:.2f}, {s['data_win_rate']:.2f}"
                        for s in b["sources"])
        lines.append(f"| {m} | {kind} | {c['n_episodes']} | {c['size']:,} | {c['smax']['win_rate']:.3f} | "
                     f"{r['mean']:.2f} ± {r['std']:.2f} | {r['min']:.2f} / {r['max']:.2f} | {b['env_steps']:,} | "
                     f"{b['sources'][0]['final_win_rate']:.2f} | {src} |")
    return "\n".join(lines + [""])


def built_cards(profile: str, root=None) -> dict[tuple[str, str], dict]:
    out = {}
    for m in MAPS:
        for kind in KINDS:
            base = dataset_base(m, kind, profile, root)
            if base.with_name(base.name + ".json").exists():
                out[(m, kind)] = Dataset.read_card(base)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m common.datasets.smax",
        description="Build SMAX datasets (MAPPO behavior policies, sampled episodes with action masks, cached with "
                    "checksums and cards), or write their report. Kinds: "
                    + "; ".join(f"{k}: {v}" for k, v in RULES.items()))
    p.add_argument("--map", action="append", choices=list(MAPS), help="SMAX map (repeatable)")
    p.add_argument("--kind", action="append", choices=list(KINDS), help="dataset kind (repeatable)")
    p.add_argument("--all", action="store_true", help="every (map, kind) the papers need: "
                   + "; ".join(f"{m}: {', '.join(k)}" for m, k in NEEDED.items()))
    p.add_argument("--profile", default="quick", choices=list(PROFILES), help="scale (default quick)")
    p.add_argument("--seed", type=int, default=0, help="seed of the behavior run and the collection (default 0)")
    p.add_argument("--device", default="cpu", help="where MAPPO trains: cpu | cuda (default cpu)")
    p.add_argument("--root", default=None, help="data root (default: $OFFMARL_DATA, else $XDG_CACHE_HOME/offmarl-repro, else ~/.cache/offmarl-repro)")
    p.add_argument("--behavior-only", action="store_true", help="only train (or resume) the MAPPO runs of --map")
    p.add_argument("--report", action="store_true", help="write <results>/<profile>/datasets/smax.md from the cards")
    add_root_options(p, "--report")
    a = p.parse_args(argv)
    if not 0 <= a.seed < 2**31:
        p.error(f"--seed {a.seed} must be in [0, 2**31)")
    try:
        check_device(a.device)
    except ValueError as e:
        p.error(str(e))
    if a.behavior_only and not a.map:
        p.error("--behavior-only needs --map")
    if a.all:
        pairs = [(m, k) for m, kinds in NEEDED.items() for k in kinds]
    elif (a.map or a.kind) and not a.behavior_only:
        if not (a.map and a.kind):
            p.error("give --map and --kind together (or --all)")
        pairs = [(m, k) for m in a.map for k in a.kind]
    else:
        pairs = []
    if not pairs and not a.report and not a.behavior_only:
        p.error("nothing to do: give --map/--kind, --all, --behavior-only or --report")
    torch.set_num_threads(1)
    if a.behavior_only:
        for m in a.map:
            run = behavior_run(m, a.profile, root=a.root, seed=a.seed, device=a.device)
            e = run.evals[-1]
            print(f"MAPPO smax/{m} ({a.profile}): {run.learner.iteration} iterations, {int(run.env_steps()[0]):,} env "
                  f"steps, {run.times['wall']:.0f} s; final win rate sampled {e['sampled_win_rate'][0]:.2f}, greedy "
                  f"{e['win_rate'][0]:.2f}", flush=True)
    for m, kind in pairs:
        base = build(m, kind, a.profile, root=a.root, seed=a.seed, device=a.device)
        c = Dataset.read_card(base)
        print(f"smax/{m} {kind}: {c['n_episodes']} episodes, {c['size']:,} transitions, win rate "
              f"{c['smax']['win_rate']:.3f}, return {c['returns']['mean']:.2f} ± {c['returns']['std']:.2f} "
              f"-> {base}.npz", flush=True)
    if a.report:
        path = chosen_root(a) / a.profile / "datasets" / "smax.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, report_text(a.profile, built_cards(a.profile, a.root)))
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
