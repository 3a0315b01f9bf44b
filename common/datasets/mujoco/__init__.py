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

**Snapshot rules** (``MujocoProfile.snapshots``). ``"final"`` (smoke) is the rule above read on single evaluations.
``"smoothed"`` (full) is the same rule read on running means of 5 evaluations (50k steps): the expert is the final
policy and its level the mean of the run's last 5 evaluations; the medium is the first snapshot whose running mean
reaches random + ⅓ (expert − random). One deterministic episode per evaluation swings by hundreds (the full Hopper
run: 1,035 at 20k steps, 376 at 50k, 1,032 at 60k), so on single evaluations the full Hopper medium would be its
20k snapshot (a policy that stands, and a 20k-transition medium-replay against D4RL's 402k); on the running means it
is the 480k snapshot. full also takes the medium's third of D4RL's reference expert return where that is higher
than the run's expert (``MujocoProfile.medium_reference`` "d4rl"): full HalfCheetah's SAC reaches ~56 normalized
after 1M steps (D4RL's expert data: ~88), and a third of it (~19 normalized) would be far under D4RL's medium data
(~41); a third of D4RL's expert puts the medium at D4RL's protocol level (>= 33.3 normalized). ``"best"`` (the former quick data of 100k steps; kept for their cards) takes, among the
snapshots after SAC's uniform start steps, the highest as the expert and the one not after it closest to the
target as the medium. The rule, the chosen steps and their scores are written on every card.

Collected kinds (random, medium, expert, mixed) step 10 envs in parallel and keep whole episodes in the order they
started until ``size`` transitions; the last one is cut (``timeouts[-1]``). Episodes end at 1000 steps
(``timeouts``) or when the robot falls (``terminals``).

**Files**: ``$OFFMARL_DATA/mujoco/<profile>/<task>/<kind>-v1.{npz,json}`` (mixed: ``mixed-<split>-v1``), the
SAC run beside them (``sac-<group>.pt``). Cards carry the D4RL reference returns and ours, the behavior
policies' hashes and scores, the protocol, the profile and sha256; a mismatched or corrupt file is an error
naming it (``common.datasets.dataset``), never regenerated over silently.
"""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from common.behavior.sac import Member, SACConfig  # noqa: F401 (SACConfig re-exported: profiles are built from it)
from common.behavior.sac_train import SACRun, train_sac
from common.datasets.card import data_root
from common.datasets.dataset import Dataset
from common.datasets.mujoco.cards import behavior_of, buffer_returns, identity_of, make_dataset, split
from common.datasets.mujoco.policies import PolicySet, from_run, load_policy_set, policy_path, save_policy_set
from common.datasets.mujoco.protocol import (  # noqa: F401
    ALIASES,
    CHECKPOINT_SECONDS,
    GROUPS,
    KINDS,
    MEDIUM_FRACTION,
    MEDIUM_REFERENCES,
    NEEDED,
    PROFILES,
    RULES,
    SNAPSHOT_RULES,
    VERSION,
    MujocoProfile,
    check_kind,
    check_profile,
    choose_snapshots,
    data_profile,
    group_of,
    rule_of,
)
from common.datasets.mujoco.rollouts import ProgressBar, Sampler, collect, replay
from common.running.runtime import cpu_model
from envs.gym_mujoco import D4RL_REF_SCORES, MULTI_AGENT, TASKS, check_task, task_dims

if TYPE_CHECKING:
    from envs.mamujoco import MaMuJoCoEnv

__all__ = [
    "KINDS",
    "PROFILES",
    "ALIASES",
    "MujocoProfile",
    "build",
    "load",
    "split",
    "behavior_run",
    "policy_set",
    "has_policies",
    "dataset_base",
    "data_profile",
    "check_profile",
    "GROUPS",
    "built_cards",
    "all_pairs",
]


def _root(profile: str, root: str | Path | None) -> Path:
    return (Path(root) if root is not None else data_root()) / "mujoco" / data_profile(profile)


def dataset_base(task: str, kind: str, profile: str, root: str | Path | None = None) -> Path:
    """Base path (without .npz/.json) of a dataset."""
    check_kind(kind)
    name = f"mixed-{MULTI_AGENT[task].split('-')[-1]}" if kind == "mixed" else kind
    return _root(profile, root) / check_task(task) / f"{name}-v{check_profile(profile).version}"


def _run_path(task: str, profile: str, root, seed: int) -> Path:
    version = check_profile(profile).version
    return (
        _root(profile, root)
        / f"sac-{'+'.join(group_of(task))}-seed{seed}{'' if version == 1 else f'-v{version}'}.pt"
    )


# ---- behavior --------------------------------------------------------------------------------------


def behavior_run(
    task: str,
    profile: str,
    *,
    root=None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    stop_at: int | None = None,
) -> tuple[SACRun, int]:
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

        bar = tqdm(
            total=prof.sac_steps,
            desc=f"SAC {'+'.join(group)} ({profile})",
            unit="step",
            disable=not sys.stderr.isatty(),
            leave=False,
        )

    def tick(step: int, total: int) -> None:
        if bar is not None and not bar.disable:
            bar.n = step
            bar.refresh()
        elif progress and step % max(total // 20, 1000) == 0:  # a log line every 5 % when not on a terminal
            print(f"SAC {'+'.join(group)} ({profile}): {step}/{total} steps", file=sys.stderr, flush=True)

    # the device is not part of the run's identity: a run may resume on another device
    run = train_sac(
        members,
        cfg,
        prof.sac_steps,
        eval_every=prof.eval_every,
        eval_episodes=prof.eval_episodes,
        checkpoint=path,
        checkpoint_every=prof.checkpoint_every,
        checkpoint_seconds=CHECKPOINT_SECONDS,
        progress=tick,
        stop_at=stop_at,
        identity={"profile": data_profile(profile), "version": prof.version},
    )
    if bar is not None:
        bar.close()
    return run, group.index(task)


def choose_medium(
    run: SACRun, m: int, random_return: float, rule: str = "final", reference_expert: float | None = None
) -> dict[str, Any]:
    """``choose_snapshots`` on member m of a SAC run."""
    return choose_snapshots(
        run.steps, run.curve[:, m], random_return, rule, run.learner.cfg.start_steps, reference_expert
    )


def has_policies(task: str, profile: str, root=None) -> bool:
    """Whether ``task``'s policy set exists (committed or in the cache): its datasets then need no SAC run."""
    return policy_path(task, profile, _root(profile, root))[0].with_suffix(".json").exists()


def policy_set(
    task: str, profile: str, *, root=None, device: str = "cpu", seed: int = 0, progress: bool = True
) -> PolicySet:
    """``task``'s behavior policies (common.datasets.mujoco.policies): the committed set if there is one, else the cache's,
    else exported from this machine's SAC run (trained, resumed or loaded) into the cache."""
    prof = check_profile(profile)
    base, source = policy_path(task, profile, _root(profile, root))
    if base.with_suffix(".json").exists():
        return load_policy_set(base, source)
    run, m = behavior_run(task, profile, root=root, seed=seed, device=device, progress=progress)
    rand = load(task, "random", profile, root=root, device=device, progress=progress)
    ref = float(D4RL_REF_SCORES[task]["expert"]) if prof.medium_reference == "d4rl" else None
    chosen = choose_medium(run, m, float(rand.card["returns"]["mean"]), prof.snapshots, ref)
    ps = from_run(run, m, task, profile, chosen, prof.replay_segment)
    ps.card["snapshot_rule"] = {
        "name": prof.snapshots,
        "medium": SNAPSHOT_RULES[prof.snapshots][0] + MEDIUM_REFERENCES[prof.medium_reference],
        "expert": SNAPSHOT_RULES[prof.snapshots][1],
    }
    ps.card["buffer_returns"] = buffer_returns(run, m, chosen["step"])
    ps.source = "cache"
    return save_policy_set(ps, base)


def build(
    task: str,
    kind: str,
    profile: str,
    *,
    root=None,
    device: str = "cpu",
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Make the dataset (and what it needs) unless its files exist and verify; returns its base path. The card
    records how long the rollouts took (``build_s``: this kind alone, its sources and SAC excluded)."""
    base = dataset_base(task, kind, profile, root)
    if base.with_name(base.name + ".json").exists():
        Dataset.load(base)  # verifies the checksum and the card: a bad file raises DatasetError naming it
        return base
    if kind != "random":  # what this kind needs first, so that its own time is its own
        policy_set(task, profile, root=root, device=device, seed=seed, progress=progress)
    if kind == "medium-expert":
        for k in ("medium", "expert"):
            build(task, k, profile, root=root, device=device, seed=seed, progress=progress)
    t0 = time.perf_counter()
    ds = _make(task, kind, profile, root=root, device=device, seed=seed, progress=progress)
    return ds.with_card(build_s=round(time.perf_counter() - t0, 1), built_on=cpu_model()).save(base)


def _make(task: str, kind: str, profile: str, *, root, device: str, seed: int, progress: bool) -> Dataset:
    """The dataset ``kind`` of ``task`` (not saved); its policies or sources exist already (``build``)."""
    prof = check_profile(profile)
    bar = ProgressBar(
        f"{task} {kind} ({profile})", prof.sac_steps if kind.endswith("replay") else prof.size, progress
    )
    if kind == "random":
        rng, n_act = np.random.default_rng([seed, 0]), task_dims(task)[1]
        arrays, _ = collect(
            task, prof.size, seed, lambda o, c: rng.uniform(-1.0, 1.0, (len(o), n_act)), progress=bar
        )
        ds = make_dataset(
            task, kind, profile, arrays, rule_of(kind, profile), {"policy": "uniform"}, seed=seed
        )
        return ds
    if kind == "medium-expert":
        med, exp = (
            load(task, k, profile, root=root, device=device, progress=progress) for k in ("medium", "expert")
        )
        ds = Dataset.concat([med, exp], "medium-expert")
        ds = ds.with_card(
            protocol={**med.card["protocol"], "rule": rule_of(kind, profile)},
            behavior={
                "medium": med.card["behavior"],
                "expert": exp.card["behavior"],
                "sources": [med.card["sha256"], exp.card["sha256"]],
            },
            identity=identity_of(task, kind, profile, seed, [med.card["identity"], exp.card["identity"]]),
        )
        return ds
    ps = policy_set(task, profile, root=root, device=device, seed=seed, progress=progress)
    cfg, behavior = ps.sac_config(), behavior_of(ps, seed)
    if kind in ("medium-replay", "full-replay"):
        stop = int(ps.card["chosen"]["step"]) if kind == "medium-replay" else int(ps.card["sac"]["steps"])
        series = [(a, min(b, stop), ps.actor(n)) for a, b, n in ps.replay_series() if a < stop]
        arrays = replay(task, series, cfg, seed, progress=bar)
        used = sorted({n for a, b, n in ps.replay_series() if a < stop})
        ds = make_dataset(
            task,
            kind,
            profile,
            arrays,
            rule_of(kind, profile),
            behavior,
            seed=seed,
            policies={n: ps.shas()[n] for n in used},
        )
        return ds
    if kind in ("medium", "expert"):
        sampler = Sampler(ps.actor(kind), cfg, seed=[seed, KINDS.index(kind)])
        arrays, _ = collect(task, prof.size, seed + 1, lambda o, c: sampler(o), progress=bar)
        return make_dataset(
            task,
            kind,
            profile,
            arrays,
            rule_of(kind, profile),
            behavior,
            seed=seed,
            policies={kind: ps.shas()[kind]},
        )
    # mixed
    env_name = MULTI_AGENT[task]
    import envs

    ma = cast("MaMuJoCoEnv", envs.make(env_name))  # MULTI_AGENT's names are MaMuJoCo envs
    n = ma.spec.n_agents
    combos = np.array(list(itertools.product((0, 1), repeat=n)))  # [C, N]: 0 medium, 1 expert
    dim_agent = np.zeros(int(ps.card["act_dim"]), np.int64)
    for i, ix in enumerate(ma.act_index):
        dim_agent[ix] = i
    expert_dims = combos[:, dim_agent].astype(bool)  # [C, A]
    s_med = Sampler(ps.actor("medium"), cfg, seed=[seed, 10])
    s_exp = Sampler(ps.actor("expert"), cfg, seed=[seed, 11])
    arrays, kept = collect(
        task,
        prof.size,
        seed + 2,
        lambda o, c: np.where(expert_dims[c], s_exp(o), s_med(o)),
        n_combos=len(combos),
        progress=bar,
    )
    counts = np.bincount(kept, minlength=len(combos))
    names = ["".join("E" if x else "M" for x in row) for row in combos]
    behavior = behavior | {
        "split": env_name,
        "combinations": names,
        "episodes_per_combination": dict(zip(names, counts.tolist())),
        "combination_of_episode": "j mod 2^N in start order (round robin)",
    }
    return make_dataset(
        task,
        kind,
        profile,
        arrays,
        rule_of(kind, profile),
        behavior,
        seed=seed,
        policies={k: ps.shas()[k] for k in ("medium", "expert")},
    )


def load(
    task: str, kind: str, profile: str, *, root=None, device: str = "cpu", progress: bool = True
) -> Dataset:
    """The dataset, built first when its files are missing (see :func:`build`)."""
    return Dataset.load(build(task, kind, profile, root=root, device=device, progress=progress))


def built_cards(profile: str, root=None) -> dict[tuple[str, str], dict]:
    """{(task, kind): card} of every dataset of ``profile`` present under the data root."""
    return Dataset.present_cards({(t, k): dataset_base(t, k, profile, root) for t in TASKS for k in KINDS})


def all_pairs() -> list[tuple[str, str]]:
    return [(t, k) for t, kinds in NEEDED.items() for k in kinds]
