"""MuJoCo datasets by D4RL's protocol, generated here once and shared by every paper through the cache.

    python -m common.datasets.mujoco --task hopper --kind medium --profile quick     # one dataset (and its SAC run)
    python -m common.datasets.mujoco --all --profile quick                          # every (task, kind) below
    python -m common.datasets.mujoco --report --profile quick                        # runs/quick/datasets/mujoco.md

    ds = load("hopper", "medium", "quick")                   # single-agent Dataset, N = 1 (D4RL's layout)
    ma = split(ds, "mamujoco/hopper-3x1", obs_mode="otc")     # per-agent view, state = the single-agent obs

**Behavior.** One SAC run per robot (``common.behavior.sac``, rlkit's SAC as D4RL; HalfCheetah and Walker2d,
both 17/6-dimensional, train as two members of one batched learner) with the profile's steps, evaluated every
``eval_every`` steps by the deterministic return; the actor of every evaluation is kept. The run checkpoints
itself and resumes after a kill.

**Kinds** (D4RL v2's definitions; each card repeats its rule):

    random         uniform actions in [−1, 1] (D4RL's released script, ``env.action_space.sample()``; its paper says
                   "a randomly initialized policy": the two disagree, we follow the script, as the issue asks)
    medium         the first evaluation snapshot (after step 0) whose deterministic return reaches
                   random + ⅓ (expert − random) (random = the random data's mean episode return, expert = the
                   expert snapshot's evaluation), actions sampled from its stochastic policy
    medium-replay  every transition of the SAC replay buffer before the medium snapshot was taken
    full-replay    every transition of the SAC replay buffer (the whole run)
    expert         the final policy, sampled actions
    medium-expert  medium then expert, concatenated
    mixed          CAST-BCQ's uncoordinated data: episode j gives agent i of the robot's MaMuJoCo split the level
                   ℓ_i ∈ {medium, expert} of combination j mod 2^N (round robin over MM, ME, EM, EE, ...); the agent
                   executes its slice of that level's sampled joint action, both computed from the full state

**Snapshot rules** (``MujocoProfile.snapshots``). ``"final"`` (full and smoke) is the rule above, D4RL's: the expert
is the final policy of a long run. ``"best"`` (quick) is ours, for a run of 100k steps whose evaluations still swing
by hundreds (Hopper at quick: 1,054 at 25k steps, 41 at 35k, 1,065 at 45k). Among the snapshots taken after SAC's
uniform start steps (10k: policies the run acted with and trained on their own transitions), the expert is the one
with the highest deterministic return (the latest among equals), and the medium the one not after the expert whose
return is closest to random + ⅓ (expert − random) (the earliest among equals), so that one lucky or unlucky
evaluation decides neither (with "final" the quick Hopper expert scored 190.9, below its 259.6 medium; Walker2d's
best evaluation, 554, is its 10k snapshot, which never acted). Both are written on every card.

Collected kinds (random, medium, expert, mixed) step 10 envs in parallel and keep whole episodes in the order they
started until ``size`` transitions; the last one is cut (``timeouts[-1]``). Episodes end at 1000 steps
(``timeouts``) or when the robot falls (``terminals``).

**Files**: ``$OFFMARL_DATA/mujoco/<profile>/<task>/<kind>-v1.{npz,json}`` (mixed: ``mixed-<split>-v1``), the
SAC run beside them (``sac-<group>.pt``). Cards carry the D4RL reference returns and ours, the behavior
policies' hashes and scores, the protocol, the profile and sha256; a mismatched or corrupt file is an error
naming it (``common.data``), never regenerated over silently.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from common.behavior.sac import SAC, Member, SACConfig, _Actor
from common.behavior.sac_train import SACRun, train_sac
from common.data import Dataset
from common.runtime import check_device
from common.datacard import DatasetError, data_root
from common.roots import add_root_options, chosen_root
from envs.gym_mujoco import D4RL_REF_SCORES, EPISODE_LENGTH, MULTI_AGENT, TASKS, check_task, make_task, task_dims

__all__ = ["KINDS", "PROFILES", "MujocoProfile", "build", "load", "split", "behavior_run", "dataset_base",
           "GROUPS", "main"]

VERSION = 1  # bump when the generation changes: old files are then refused by their card (a profile may bump its own)
KINDS = ("random", "medium", "medium-replay", "full-replay", "expert", "medium-expert", "mixed")
GROUPS = (("halfcheetah", "walker2d"), ("hopper",), ("ant",))  # SAC members trained together
N_COLLECT_ENVS = 10
CHECKPOINT_SECONDS = 600.0  # a long SAC run also checkpoints every 10 minutes (besides every checkpoint_every steps)
MEDIUM_FRACTION = 1.0 / 3.0

# what each paper trains on (the list); `--all` builds these
NEEDED: dict[str, tuple[str, ...]] = {
    "halfcheetah": ("random", "medium", "medium-replay", "full-replay", "expert", "medium-expert", "mixed"),
    "hopper": ("random", "medium", "medium-replay", "expert", "mixed"),
    "walker2d": ("random", "medium", "medium-replay", "expert", "mixed"),
    "ant": ("random", "medium", "full-replay", "expert"),
}


@dataclass(frozen=True)
class MujocoProfile:
    """Scale of one profile. full = D4RL's (1M SAC steps, 1M transitions). ``snapshots``: which evaluation snapshots
    are the medium and expert policies (``SNAPSHOT_RULES``); ``version``: the generation of this profile's files."""

    sac_steps: int
    size: int  # transitions of each collected kind
    eval_every: int
    eval_episodes: int
    checkpoint_every: int
    sac: SACConfig
    snapshots: str = "final"
    version: int = VERSION

    def __post_init__(self) -> None:
        if self.snapshots not in SNAPSHOT_RULES:
            raise ValueError(f"snapshots={self.snapshots!r} is not a snapshot rule; allowed: "
                             f"{', '.join(SNAPSHOT_RULES)}")


SNAPSHOT_RULES = {
    "final": ("the first evaluation snapshot after step 0 whose deterministic return reaches random + 1/3 (expert - "
              "random)", "the final SAC policy"),
    "best": ("the evaluation snapshot after SAC's uniform start steps, not after the expert's, whose deterministic "
             "return is closest to random + 1/3 (expert - random) (the earliest among equals)",
             "the evaluation snapshot after SAC's uniform start steps with the highest deterministic return (the "
             "latest among equals)"),
}


PROFILES: dict[str, MujocoProfile] = {
    "smoke": MujocoProfile(1500, 3000, 500, 1, 500,
                           SACConfig(hidden=(32, 32), batch_size=64, start_steps=300, learning_starts=300)),
    # quick v2 (2026-11-25): the "best" snapshot rule and 10 evaluation episodes (v1: "final", 5 episodes)
    "quick": MujocoProfile(100_000, 100_000, 5_000, 10, 10_000, SACConfig(), snapshots="best", version=2),
    "full": MujocoProfile(1_000_000, 1_000_000, 10_000, 10, 50_000, SACConfig()),
}


def check_profile(profile: str) -> MujocoProfile:
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not known; allowed profiles: {', '.join(PROFILES)}")
    return PROFILES[profile]


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not a MuJoCo dataset kind; allowed kinds: {', '.join(KINDS)}")
    return kind


def group_of(task: str) -> tuple[str, ...]:
    return next(g for g in GROUPS if check_task(task) in g)


def _root(profile: str, root: str | Path | None) -> Path:
    return (Path(root) if root is not None else data_root()) / "mujoco" / profile


def dataset_base(task: str, kind: str, profile: str, root: str | Path | None = None) -> Path:
    """Base path (without .npz/.json) of a dataset."""
    check_kind(kind)
    name = f"mixed-{MULTI_AGENT[task].split('-')[-1]}" if kind == "mixed" else kind
    return _root(profile, root) / check_task(task) / f"{name}-v{check_profile(profile).version}"


def _run_path(task: str, profile: str, root, seed: int) -> Path:
    version = check_profile(profile).version
    return _root(profile, root) / f"sac-{'+'.join(group_of(task))}-seed{seed}{'' if version == 1 else f'-v{version}'}.pt"


# ---- behavior --------------------------------------------------------------------------------------


def behavior_run(task: str, profile: str, *, root=None, seed: int = 0, device: str = "cpu",
                 progress: bool = True, stop_at: int | None = None) -> tuple[SACRun, int]:
    """The (finished) SAC run of ``task``'s group: trained, resumed or loaded from its checkpoint. Returns the
    run and the member index of ``task``. ``stop_at``: end early after the checkpoint at that step (tests)."""
    prof = check_profile(profile)
    group = group_of(task)
    members = [Member(t, seed) for t in group]
    cfg = replace(prof.sac, device=device)
    path = _run_path(task, profile, root, seed)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=prof.sac_steps, desc=f"SAC {'+'.join(group)} ({profile})", unit="step",
                   disable=not sys.stderr.isatty(), leave=False)

    def tick(step: int, total: int) -> None:
        if bar is not None and not bar.disable:
            bar.n = step
            bar.refresh()
        elif progress and step % max(total // 20, 1000) == 0:  # a log line every 5 % when not on a terminal
            print(f"SAC {'+'.join(group)} ({profile}): {step}/{total} steps", file=sys.stderr, flush=True)

    # the device is not part of the run's identity: a run may resume on another device
    run = train_sac(members, cfg, prof.sac_steps, eval_every=prof.eval_every, eval_episodes=prof.eval_episodes,
                    checkpoint=path, checkpoint_every=prof.checkpoint_every,
                    checkpoint_seconds=CHECKPOINT_SECONDS, progress=tick, stop_at=stop_at,
                    identity={"profile": profile, "version": prof.version})
    if bar is not None:
        bar.close()
    return run, group.index(task)


def _member_actor(run: SACRun, snapshot: dict[str, torch.Tensor], m: int) -> _Actor:
    """A 1-member actor holding member m's weights of an actor snapshot."""
    lr = run.learner
    one = _Actor(1, lr.O, lr.A, lr.cfg.hidden)
    one.load_state_dict({k: v[m:m + 1].clone() for k, v in snapshot.items()})
    return one


def _weights_sha(actor: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(actor.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def choose_snapshots(steps: Sequence[int], scores: Sequence[float], random_return: float,
                     rule: str = "final", start_steps: int = 0) -> dict[str, Any]:
    """The medium and expert evaluation snapshots (indices into ``steps``) of one member's evaluations ``scores``
    (``SNAPSHOT_RULES``). "final": expert = the last evaluation; medium = the first after step 0 reaching
    random + MEDIUM_FRACTION·(expert − random) (the last one if none reaches). "best": only snapshots taken after
    SAC's ``start_steps`` uniform-action steps (policies the run has acted with; all after step 0 if none is);
    expert = the highest of them (the latest among equals); medium = the one not after the expert's closest to that
    target (the earliest among equals; the expert's own when it is the first candidate)."""
    if rule not in SNAPSHOT_RULES:
        raise ValueError(f"rule={rule!r} is not a snapshot rule; allowed: {', '.join(SNAPSHOT_RULES)}")
    scores = [float(x) for x in scores]
    if len(scores) != len(steps) or len(scores) < 2:
        raise ValueError(f"need >= 2 evaluations with one step each, got {len(scores)} scores and {len(steps)} steps")
    if rule == "final":
        e = len(scores) - 1
    else:
        cand = [i for i in range(1, len(steps)) if steps[i] > start_steps] or list(range(1, len(steps)))
        e = max(cand, key=lambda i: (scores[i], i))
    expert = scores[e]
    target = random_return + MEDIUM_FRACTION * (expert - random_return)
    if rule == "final":
        k = next((i for i in range(1, len(steps)) if scores[i] >= target), len(steps) - 1)
    else:
        k = min((i for i in cand if i <= e), key=lambda i: (abs(scores[i] - target), i))
    return {"index": k, "step": int(steps[k]), "score": scores[k], "target": float(target),
            "expert_index": e, "expert_step": int(steps[e]), "expert_score": expert,
            "random_return": float(random_return), "rule": rule}


def choose_medium(run: SACRun, m: int, random_return: float, rule: str = "final") -> dict[str, Any]:
    """``choose_snapshots`` on member m of a SAC run."""
    return choose_snapshots(run.steps, run.curve[:, m], random_return, rule, run.learner.cfg.start_steps)


# ---- collection ------------------------------------------------------------------------------------


class _Sampler:
    """Stochastic tanh-Gaussian actions of one actor for K envs, noise from its own generator."""

    def __init__(self, actor: _Actor, cfg: SACConfig, seed: int):
        self.actor, self.lo, self.hi = actor, *cfg.log_std_bounds
        self.rng = np.random.default_rng(seed)

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        mu, log_std = self.actor(torch.as_tensor(obs, dtype=torch.float32)[None])
        eps = torch.from_numpy(self.rng.standard_normal(mu.shape[1:]).astype(np.float32))[None]
        return torch.tanh(mu + eps * log_std.clamp(self.lo, self.hi).exp())[0].numpy()


def collect(task: str, size: int, seed: int, choose_action, n_envs: int = N_COLLECT_ENVS,
            n_combos: int = 1) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Roll ``n_envs`` envs until the episodes started first hold ``size`` transitions (see the module docstring).

    choose_action(obs [K, O], combo [K]) -> actions [K, A]; episode j runs with combo j % n_combos.
    Returns the arrays [T, ...] (the last episode cut to fit, ``timeouts[-1]``) and the combo of each kept episode."""
    envs_ = [make_task(task) for _ in range(n_envs)]
    obs = np.stack([e.reset(seed=1_000_000 + 1000 * seed + k)[0] for k, e in enumerate(envs_)])
    ep_of = np.arange(n_envs)  # episode index each env is running
    next_ep = n_envs
    steps: dict[int, list] = {k: [] for k in range(n_envs)}  # episode -> transitions
    done: dict[int, list] = {}
    prefix, covered = 0, 0  # episodes 0..prefix-1 complete, holding `covered` transitions
    while covered < size:
        act = np.clip(choose_action(obs, ep_of % n_combos), -1.0, 1.0)
        for k, env in enumerate(envs_):
            o2, r, term, _, _ = env.step(act[k])
            ep = int(ep_of[k])
            steps[ep].append((obs[k].copy(), act[k].copy(), r, o2, term))
            obs[k] = o2
            if term or len(steps[ep]) >= EPISODE_LENGTH:
                done[ep] = steps.pop(ep)
                ep_of[k] = next_ep
                steps[next_ep] = []
                next_ep += 1
                obs[k] = env.reset()[0]
        while prefix in done:
            covered += len(done[prefix])
            prefix += 1
    for e in envs_:
        e.close()
    rows, combos = [], []
    for ep in range(prefix):
        tr = done[ep]
        n = len(tr)
        for t, (o, a, r, o2, term) in enumerate(tr):
            rows.append((o, a, r, o2, term, (t == n - 1) and not term))
        combos.append(ep % n_combos)
        if len(rows) >= size:
            break
    rows = rows[:size]
    arrays = {
        "obs": np.stack([r[0] for r in rows]).astype(np.float32),
        "actions": np.stack([r[1] for r in rows]).astype(np.float32),
        "rewards": np.array([r[2] for r in rows], np.float32),
        "next_obs": np.stack([r[3] for r in rows]).astype(np.float32),
        "terminals": np.array([r[4] for r in rows], bool),
        "timeouts": np.array([r[5] for r in rows], bool),
    }
    if not (arrays["terminals"][-1] or arrays["timeouts"][-1]):
        arrays["timeouts"][-1] = True  # cut by the dataset's size
    return arrays, np.array(combos, np.int64)


def _from_buffer(run: SACRun, m: int, stop: int) -> dict[str, np.ndarray]:
    b = run.learner.buffer.rows(m, 0, stop)
    out = {k: b[k] for k in ("obs", "actions", "rewards", "next_obs")}
    out["terminals"] = b["terminals"] > 0.5
    out["timeouts"] = b["timeouts"] > 0.5
    if not (out["terminals"][-1] or out["timeouts"][-1]):
        out["timeouts"][-1] = True  # the buffer is cut mid-episode
    return out


def _dataset(task: str, kind: str, profile: str, arrays: dict[str, np.ndarray], protocol: str,
             behavior: dict[str, Any], notes: str = "") -> Dataset:
    refs = D4RL_REF_SCORES[task]
    cmd = f"python -m common.datasets.mujoco --task {task} --kind {kind} --profile {profile}"
    return Dataset.from_arrays(
        f"mujoco/{task}", kind, arrays["obs"][:, None], arrays["actions"][:, None], arrays["rewards"][:, None],
        arrays["next_obs"][:, None], arrays["terminals"], arrays["timeouts"], version=check_profile(profile).version,
        protocol={"rule": protocol, "profile": profile, "gym_env": TASKS[task][0], "gym_kwargs": TASKS[task][1],
                  "episode_length": EPISODE_LENGTH},
        ref_scores=refs, return_mode="sum", behavior=behavior,
        generator={"name": "common.datasets.mujoco", "version": check_profile(profile).version}, notes=notes, regenerate_command=cmd)


RULES = {
    "random": "uniform actions in [-1, 1] (D4RL's collect script), whole episodes in start order, last cut",
    "medium": "actions sampled from the first SAC evaluation snapshot after step 0 whose deterministic return "
              "reaches random + 1/3 (expert - random), whole episodes in start order, last cut",
    "medium-replay": "every SAC replay-buffer transition before the medium snapshot's step",
    "full-replay": "every SAC replay-buffer transition of the whole run",
    "expert": "actions sampled from the final SAC policy, whole episodes in start order, last cut",
    "medium-expert": "the medium data then the expert data, concatenated (D4RL)",
    "mixed": "uncoordinated (CAST-BCQ): episode j gives agent i of the MaMuJoCo split the level (medium|expert) of "
             "combination j mod 2^N; the agent executes its slice of that level's sampled joint action",
}


def rule_of(kind: str, profile: str) -> str:
    """The card's rule of ``kind`` at ``profile``: RULES, with the medium and expert snapshots of the profile's
    snapshot rule (RULES' own wording at "final")."""
    snaps = check_profile(profile).snapshots
    if snaps == "final" or kind not in ("medium", "expert"):
        return RULES[check_kind(kind)]
    medium, expert = SNAPSHOT_RULES[snaps]
    return f"actions sampled from {medium if kind == 'medium' else expert}, whole episodes in start order, last cut"


def build(task: str, kind: str, profile: str, *, root=None, device: str = "cpu", seed: int = 0,
          progress: bool = True) -> Path:
    """Make the dataset (and what it needs) unless its files exist and verify; returns its base path."""
    base = dataset_base(task, kind, profile, root)
    if base.with_name(base.name + ".json").exists():
        Dataset.load(base)  # verifies the checksum and the card: a bad file raises DatasetError naming it
        return base
    prof = check_profile(profile)
    if kind == "random":
        rng, n_act = np.random.default_rng([seed, 0]), task_dims(task)[1]
        arrays, _ = collect(task, prof.size, seed, lambda o, c: rng.uniform(-1.0, 1.0, (len(o), n_act)))
        ds = _dataset(task, kind, profile, arrays, rule_of(kind, profile), {"policy": "uniform"})
        return ds.save(base)
    if kind == "medium-expert":
        med, exp = (load(task, k, profile, root=root, device=device, progress=progress) for k in ("medium", "expert"))
        ds = Dataset.concat([med, exp], "medium-expert")
        ds = ds.with_card(protocol={**med.card["protocol"], "rule": rule_of(kind, profile)},
                          behavior={"medium": med.card["behavior"], "expert": exp.card["behavior"],
                                    "sources": [med.card["sha256"], exp.card["sha256"]]})
        return ds.save(base)
    run, m = behavior_run(task, profile, root=root, seed=seed, device=device, progress=progress)
    rand = load(task, "random", profile, root=root, device=device, progress=progress)
    chosen = choose_medium(run, m, float(rand.card["returns"]["mean"]), prof.snapshots)
    exp_step, exp_weights = run.snapshots[chosen["expert_index"]]
    assert exp_step == chosen["expert_step"], (exp_step, chosen)
    med = {k: chosen[k] for k in ("index", "step", "score", "target", "expert_score", "random_return")}
    med_actor = _member_actor(run, run.snapshots[med["index"]][1], m)
    exp_actor = _member_actor(run, exp_weights, m)
    lr = run.learner
    behavior = {
        "sac": lr.cfg.to_dict() | {"steps": lr.env_steps, "seed": seed, "members": [x.key() for x in lr.members]},
        "eval_steps": run.steps, "eval_scores": [float(x) for x in run.curve[:, m]],
        "medium": med | {"actor_sha256": _weights_sha(med_actor)},
        "expert": {"step": int(exp_step), "score": med["expert_score"], "actor_sha256": _weights_sha(exp_actor)},
        "snapshot_rule": {"name": prof.snapshots, "medium": SNAPSHOT_RULES[prof.snapshots][0],
                          "expert": SNAPSHOT_RULES[prof.snapshots][1]},
        "our_ref_scores": {"random": med["random_return"], "expert": med["expert_score"]},
        "sac_wall_time_s": run.wall_time,
    }
    if kind in ("medium-replay", "full-replay"):
        stop = med["step"] if kind == "medium-replay" else lr.buffer.n_added
        ds = _dataset(task, kind, profile, _from_buffer(run, m, stop), rule_of(kind, profile), behavior)
        return ds.save(base)
    if kind in ("medium", "expert"):
        sampler = _Sampler(med_actor if kind == "medium" else exp_actor, lr.cfg, seed=[seed, KINDS.index(kind)])
        arrays, _ = collect(task, prof.size, seed + 1, lambda o, c: sampler(o))
        return _dataset(task, kind, profile, arrays, rule_of(kind, profile), behavior).save(base)
    # mixed
    env_name = MULTI_AGENT[task]
    import envs

    ma = envs.make(env_name)
    n = ma.spec.n_agents
    combos = np.array(list(itertools.product((0, 1), repeat=n)))  # [C, N]: 0 medium, 1 expert
    dim_agent = np.zeros(lr.A, np.int64)
    for i, ix in enumerate(ma.act_index):
        dim_agent[ix] = i
    expert_dims = combos[:, dim_agent].astype(bool)  # [C, A]
    s_med = _Sampler(med_actor, lr.cfg, seed=[seed, 10])
    s_exp = _Sampler(exp_actor, lr.cfg, seed=[seed, 11])
    arrays, kept = collect(task, prof.size, seed + 2,
                           lambda o, c: np.where(expert_dims[c], s_exp(o), s_med(o)), n_combos=len(combos))
    counts = np.bincount(kept, minlength=len(combos))
    names = ["".join("E" if x else "M" for x in row) for row in combos]
    behavior = behavior | {"split": env_name, "combinations": names,
                           "episodes_per_combination": dict(zip(names, counts.tolist())),
                           "combination_of_episode": "j mod 2^N in start order (round robin)"}
    return _dataset(task, kind, profile, arrays, rule_of(kind, profile), behavior).save(base)


def load(task: str, kind: str, profile: str, *, root=None, device: str = "cpu", progress: bool = True) -> Dataset:
    """The dataset, built first when its files are missing (see :func:`build`)."""
    return Dataset.load(build(task, kind, profile, root=root, device=device, progress=progress))


def split(ds: Dataset, env_name: str, **options) -> Dataset:
    """Per-agent view of a single-agent MuJoCo dataset on a MaMuJoCo env (``envs.make(env_name, **options)``):
    obs/actions split by the env's map, the reward copied to every agent, state = the single-agent obs."""
    import envs

    env = envs.make(env_name, **options)
    if ds.n_agents != 1:
        raise DatasetError(f"{ds.id} is not a single-agent dataset (n_agents={ds.n_agents})")
    s, s2 = ds.obs[:, 0], ds.next_obs[:, 0]
    obs, act = env.split(s, ds.actions[:, 0])
    n = env.spec.n_agents
    out = Dataset.from_arrays(
        env_name, ds.card["kind"], obs, act, np.repeat(ds.rewards, n, axis=1), env.split_obs(s2),
        ds.terminals, ds.timeouts, state=s, next_state=s2, spec=env.spec, version=ds.card["version"],
        protocol={"split_of": ds.id, "sha256": ds.card["sha256"], "options": options, **(ds.card["protocol"] or {})},
        ref_scores=ds.card["ref_scores"], return_mode="mean", behavior=ds.card["behavior"],
        generator=ds.card["generator"], notes=ds.card.get("notes", ""),
        regenerate_command=ds.card.get("regenerate_command"))
    # A split lives in memory only; its identity (what records name, common.offline.data_identity_of) is the
    # source file's checksum with the env and options of the split, hashed.
    out.card["sha256"] = hashlib.sha256(json.dumps([ds.card["sha256"], env_name, options], sort_keys=True,
                                                   default=str).encode()).hexdigest()
    return out


# ---- command line ----------------------------------------------------------------------------------


def built_cards(profile: str, root=None) -> dict[tuple[str, str], dict]:
    """{(task, kind): card} of every dataset of ``profile`` present under the data root."""
    out = {}
    for task in TASKS:
        for kind in KINDS:
            base = dataset_base(task, kind, profile, root)
            if base.with_name(base.name + ".json").exists():
                out[(task, kind)] = Dataset.read_card(base)
    return out


def all_pairs() -> list[tuple[str, str]]:
    return [(t, k) for t, kinds in NEEDED.items() for k in kinds]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m common.datasets.mujoco",
        description="Build MuJoCo datasets by D4RL's protocol (SAC behavior, cached with checksums and cards), "
                    "or write their report.")
    p.add_argument("--task", action="append", choices=list(TASKS), help="robot (repeatable)")
    p.add_argument("--kind", action="append", choices=list(KINDS), help="dataset kind (repeatable)")
    p.add_argument("--all", action="store_true", help="every (task, kind) the papers need: "
                   + "; ".join(f"{t}: {', '.join(k)}" for t, k in NEEDED.items()))
    p.add_argument("--profile", default="quick", choices=list(PROFILES), help="scale (default quick)")
    p.add_argument("--device", default="cpu", help="where SAC trains: cpu | cuda (default cpu)")
    p.add_argument("--root", default=None, help="data root (default: $OFFMARL_DATA, else $XDG_CACHE_HOME/offmarl-repro, else ~/.cache/offmarl-repro)")
    p.add_argument("--sac-only", action="store_true",
                   help="only train (or resume) the SAC behavior runs of the tasks' groups; no dataset")
    p.add_argument("--report", action="store_true", help="write <results>/<profile>/datasets/mujoco.md from the cards")
    add_root_options(p, "--report")
    a = p.parse_args(argv)
    try:
        check_device(a.device)
    except ValueError as e:
        p.error(str(e))
    torch.set_num_threads(1)
    if a.all:
        pairs = all_pairs()
    elif (a.task or a.kind) and not a.sac_only:
        if not (a.task and a.kind):
            p.error("give --task and --kind together (or --all)")
        pairs = [(t, k) for t in a.task for k in a.kind]
    else:
        pairs = []
    if a.sac_only:
        if not a.task:
            p.error("--sac-only needs --task")
        for group in dict.fromkeys(group_of(t) for t in a.task):
            run, _ = behavior_run(group[0], a.profile, root=a.root, device=a.device)
            print(f"SAC {'+'.join(group)} ({a.profile}): {run.learner.env_steps} steps, {run.wall_time:.0f} s "
                  f"(update {run.update_time:.0f} s, env {run.env_time:.0f} s, eval {run.eval_time:.0f} s); "
                  f"final eval {dict(zip(group, run.curve[-1].round(1).tolist()))}", flush=True)
        return 0
    for task, kind in pairs:
        base = build(task, kind, a.profile, root=a.root, device=a.device)
        card = Dataset.read_card(base)
        print(f"{task} {kind}: {card['size']} transitions, {card['n_episodes']} episodes, "
              f"return {card['returns']['mean']:.1f} ± {card['returns']['std']:.1f} -> {base}.npz", flush=True)
    if a.report:
        from common.datasets.report import write_report

        print(write_report(a.profile, check_profile(a.profile), built_cards(a.profile, a.root), results=chosen_root(a)))
    if not pairs and not a.report:
        p.error("nothing to do: give --task/--kind, --all or --report")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
