"""MOMA-PPO's 2-agent Reacher data: online MAPPO experts, one per elbow convention, and the expert-mix dataset.

    python -m papers.moma_ppo.reacher --profile quick                 # train (resume) the experts, collect, build
    python -m papers.moma_ppo.reacher --profile quick --experts-only  # only train (or resume) the MAPPO experts
    python -m papers.moma_ppo.reacher --profile quick --export-committed  # maintainers: commit the chosen experts
    ds = reacher_dataset("expert-mix", "leader-only", "quick")         # per-agent view of a built dataset

Protocol (paper §5.3; spec §3 "Reacher expert-mix"; official ``train_rl.py``, ``generate_dataset_from_model.py``,
``utils/merge_dataset.py``):
1. MAPPO trained online on the fully observed 2-agent Reacher (common/behavior/mappo_online.py, the seeds batched
   as members). Each seed is classified by the sign of its mean elbow angle θ₂ over the last 25 steps of its final
   greedy evaluation episodes: "ccw" (θ₂ ≥ 0) or "cw" (θ₂ < 0). Per convention the seed with the best final greedy
   return is the expert; it must reach the expert level (normalized score ≥ REACHER_EXPERT_LEVEL with the paper's
   constants), except at smoke where the "experts" are a few iterations old and not experts (their cards say so).
2. Each expert collects ``collect`` transitions with sampled (stochastic) actions: env copy k first reset with seed
   10101 + k, then each copy continues its own RNG; actions clipped to [−1, 1]; episodes of 50 steps (a time-out at
   every 50th step, never a terminal).
3. expert-mix = the first ``mix`` transitions of the "ccw" expert, then the first ``mix`` of the "cw" expert
   [inferred: the code takes expert C (seed 2) then expert D (seed 1), whose conventions are not published]; a
   time-out at index mix − 1 (the joint) and at the end.
Steps 1 and 2 (the experts): papers/moma_ppo/reacher_experts.py. Where the experts' run is absent (a fresh clone, a
lost cache) and ``papers/moma_ppo/committed/<profile>/`` holds the experts (``--export-committed``), the data are
collected from those, without training: the same files (papers/moma_ppo/reacher_committed.py).

Files (``$OFFMARL_DATA/moma_ppo/reacher/<profile>/``): ``mappo-experts.pt`` (the MAPPO run's checkpoint; its
identity holds the training fields only), ``expert-ccw-v<N>``, ``expert-cw-v<N>``, ``expert-mix-v<N>`` (.npz + .json;
N = the profile's data version, ``ReacherScale.version``). They hold the single-agent layout
(env ``mujoco/reacher``: obs = the 10-dim Reacher-v5 state, the joint 2-dim action; like common.datasets.mujoco's
files); :func:`reacher_dataset` splits them per agent for an obs mode (full, independent, leader-only) in memory,
as common.datasets.mujoco.split does for Ant. Cards: ``ref_scores`` = the paper's constants (−11.144625,
−4.2370844: what Tables 2 and 4a normalize with, spec §8 Q16), ``behavior.our_ref_scores`` = our levels (random:
the untrained MAPPO's greedy return, mean over seeds; expert: the expert-mix mean episode return), ``convention``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from common.behavior.mappo_rollouts import CONVENTIONS, select_seeds
from common.datasets.dataset import Dataset
from common.datasets.mujoco import split
from common.datasets.returns import normalize
from envs.mamujoco import REACHER_REF_SCORES
from papers.moma_ppo import data_config as DC
from papers.moma_ppo.reacher_committed import export_policy, load_policy
from papers.moma_ppo.reacher_experts import (
    VERSION,
    choose_experts,
    collect_policy,
    data_dir,
    expert_config,
    run_path,
    train_experts,
)

__all__ = [
    "KINDS",
    "VERSION",
    "build",
    "experts_source",
    "export_committed",
    "expert_mix",
    "reacher_dataset",
    "dataset_base",
    "main",
]

SOURCE_ENV = "mujoco/reacher"  # the stored files' env: single-agent layout (state, joint action)
KINDS = ("expert", "expert-mix")
GENERATOR = {"name": "papers.moma_ppo.reacher", "version": VERSION}


def dataset_base(
    kind: str, profile: str, convention: str | None = None, root: str | Path | None = None
) -> Path:
    """Base path (no extension) of a stored Reacher dataset: kind "expert" needs a convention, "expert-mix" none."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not a Reacher dataset kind; allowed: {', '.join(KINDS)}")
    if (kind == "expert") != (convention is not None):
        raise ValueError(
            f"kind={kind!r} {'needs' if kind == 'expert' else 'takes no'} convention "
            f"(got {convention!r}; conventions: {', '.join(CONVENTIONS)})"
        )
    if convention is not None and convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r} is not allowed; allowed: {', '.join(CONVENTIONS)}")
    name = f"expert-{convention}" if kind == "expert" else kind
    return data_dir(profile, root) / f"{name}-v{DC.reacher_scale(profile).version}"


def _dataset(
    kind: str,
    arrays: dict[str, np.ndarray],
    profile: str,
    behavior: dict[str, Any],
    protocol: dict,
    notes: str,
) -> Dataset:
    return Dataset.from_arrays(
        SOURCE_ENV,
        kind,
        arrays["obs"][:, None],
        arrays["actions"][:, None],
        arrays["rewards"][:, None],
        arrays["next_obs"][:, None],
        arrays["terminals"],
        arrays["timeouts"],
        version=DC.reacher_scale(profile).version,
        protocol={**protocol, "profile": profile, "env": DC.REACHER_ENV, "episode_length": 50},
        ref_scores=REACHER_REF_SCORES,
        return_mode="sum",
        behavior=behavior,
        generator=GENERATOR,
        notes=notes,
        regenerate_command=f"python -m papers.moma_ppo.reacher --profile {profile}",
    )


def expert_mix(first: Dataset, second: Dataset, mix: int) -> dict[str, np.ndarray]:
    """The first ``mix`` transitions of ``first`` then of ``second`` (single-agent arrays), with time-outs at index
    mix − 1 (the joint) and at the end."""
    for d in (first, second):
        if d.size < mix:
            raise ValueError(f"{d.id} has {d.size} transitions, fewer than mix={mix}")
    arr = {
        k: np.concatenate([first.arrays[k][:mix], second.arrays[k][:mix]])
        for k in ("obs", "actions", "rewards", "next_obs", "terminals", "timeouts")
    }
    arr = {k: (v[:, 0] if k in ("obs", "actions", "rewards", "next_obs") else v) for k, v in arr.items()}
    arr["timeouts"][mix - 1] = True
    arr["timeouts"][-1] = True
    return arr


def experts_source(
    profile: str,
    *,
    root=None,
    device: str = "cpu",
    progress: bool = True,
    require: bool | None = None,
    committed_root: str | Path | None = None,
) -> tuple[Any, dict[str, Any], str]:
    """The experts the data are collected from, as (policy: a MAPPO of one seed per convention in the order of
    CONVENTIONS, meta: what the cards say of the run, where: "run" | "committed"). The run when its checkpoint
    exists or no committed set does (trained or resumed first); else the committed set
    (papers/moma_ppo/reacher_committed.py), which makes the same data without training."""
    if not run_path(profile, root).exists():
        committed = load_policy(profile, expert_config(profile), committed_root, device)
        if committed is not None:
            return committed[0], committed[1], "committed"
    s = DC.reacher_scale(profile)
    require = s.require_experts if require is None else require
    run = train_experts(profile, root=root, device=device, progress=progress)
    final, start = run.evals[-1], run.evals[0]
    experts = choose_experts(final, run.learner.seeds, require)
    meta = {
        "iterations": run.iteration,
        "our_random": float(np.mean(start["return"])),
        "experts": experts,
        "behavior": {
            "mappo": {
                "config": asdict(expert_config(profile)),
                "seeds": list(run.learner.seeds),
                "iterations": run.iteration,
                "wall_time_s": run.times["wall"],
                "deviation": "memory 0 (no history encoder; the code: 10); "
                "normalized inputs (obs_norm; the code: raw, which diverged here)",
            },
            "final_eval": {k: final[k] for k in ("iteration", "return", "theta2", "convention")},
            "initial_eval": {k: start[k] for k in ("iteration", "return")},
            "experts": experts,
        },
    }
    return select_seeds(run.learner, [experts[c]["index"] for c in CONVENTIONS]), meta, "run"


def export_committed(profile: str, *, root=None, device: str = "cpu", committed_root=None) -> Path:
    """Maintainers: the profile's experts (from its run) as the committed set; returns its base path."""
    if not run_path(profile, root).exists():
        raise FileNotFoundError(
            f"no experts' run for profile {profile!r} at {run_path(profile, root)}: train it first "
            f"(python -m papers.moma_ppo.reacher --profile {profile} --experts-only)"
        )
    policy, meta, _ = experts_source(profile, root=root, device=device, progress=False)
    return export_policy(profile, policy, expert_config(profile), meta, committed_root)


def build(
    profile: str,
    *,
    root=None,
    device: str = "cpu",
    progress: bool = True,
    require: bool | None = None,
    committed_root: str | Path | None = None,
) -> dict[str, Path]:
    """Collect and build the three files (those missing) from the experts (``experts_source``: the run, trained or
    resumed first, or the committed set). Returns {"ccw": base, "cw": base, "expert-mix": base}."""
    s = DC.reacher_scale(profile)
    bases = {c: dataset_base("expert", profile, c, root) for c in CONVENTIONS}
    bases["expert-mix"] = dataset_base("expert-mix", profile, root=root)
    if all(b.with_name(b.name + ".json").exists() for b in bases.values()):
        for b in bases.values():
            Dataset.load(b)  # verifies checksums and cards
        return bases
    policy, meta, where = experts_source(
        profile, root=root, device=device, progress=progress, require=require, committed_root=committed_root
    )
    experts, common_behavior, our_random = meta["experts"], meta["behavior"], meta["our_random"]
    smoke_note = (
        ""
        if s.require_experts
        else (
            f"{profile.upper()} PROFILE: these 'experts' are MAPPO policies after {meta['iterations']} iterations, "
            "NOT experts (plumbing only); "
        )
    )
    single: dict[str, Dataset] = {}
    for c in CONVENTIONS:
        if bases[c].with_name(bases[c].name + ".json").exists():
            single[c] = Dataset.load(bases[c])
    if len(single) < len(CONVENTIONS):
        if progress:
            print(
                f"Reacher ({profile}): collecting {s.collect} transitions from each expert "
                f"(seeds {[experts[c]['seed'] for c in CONVENTIONS]}, from the {where})",
                file=sys.stderr,
                flush=True,
            )
        arrays = collect_policy(policy, expert_config(profile), s.collect)
        for c, arr in zip(CONVENTIONS, arrays):
            e = experts[c]
            protocol = {
                "rule": "sampled actions of one MAPPO expert (spec §3 step 2): env copy k first reset with "
                f"seed {DC.REACHER_COLLECT_ENV_SEED} + k, then continuing; actions clipped to [-1, 1]; "
                "50-step episodes ending in time-outs",
                "convention": c,
            }
            ds = _dataset(
                "expert",
                arr,
                profile,
                {
                    **common_behavior,
                    "expert": e,
                    "our_ref_scores": {"random": our_random, "expert": e["greedy_return"]},
                },
                protocol,
                f"{smoke_note}Reacher expert, elbow {c} (seed {e['seed']}, greedy "
                f"{e['greedy_return']:.3f}, {e['normalized']:.0f} %)",
            )
            ds = ds.with_card(convention=c)
            ds.save(bases[c])
            single[c] = Dataset.load(bases[c])
    arr = expert_mix(single["ccw"], single["cw"], s.mix)
    mean_return = float(np.mean(_episode_returns(arr)))
    protocol = {
        "rule": f"the first {s.mix} transitions of the ccw expert, then the first {s.mix} of the cw expert; "
        "time-outs at the joint and at the end (spec §3 step 3)",
        "order": list(CONVENTIONS),
        "sources": {c: single[c].card["sha256"] for c in CONVENTIONS},
    }
    ds = _dataset(
        "expert-mix",
        arr,
        profile,
        {**common_behavior, "our_ref_scores": {"random": our_random, "expert": mean_return}},
        protocol,
        f"{smoke_note}Reacher expert-mix: first {s.mix} transitions of each convention's expert",
    )
    ds = ds.with_card(convention=list(CONVENTIONS))
    ds.save(bases["expert-mix"])
    Dataset.load(bases["expert-mix"])
    return bases


def _episode_returns(arr: dict[str, np.ndarray]) -> np.ndarray:
    ends = np.flatnonzero(arr["terminals"] | arr["timeouts"]) + 1
    return np.add.reduceat(arr["rewards"].astype(np.float64), np.concatenate([[0], ends[:-1]]))


def load_source(
    kind: str,
    profile: str,
    convention: str | None = None,
    root=None,
    build_missing: bool = False,
    device: str = "cpu",
) -> Dataset:
    """The stored single-agent dataset (built first when missing and ``build_missing``)."""
    base = dataset_base(kind, profile, convention, root)
    if not base.with_name(base.name + ".json").exists():
        if not build_missing:
            raise FileNotFoundError(
                f"the Reacher {kind} dataset of profile {profile!r} is not built ({base}.npz); "
                f"run: python -m papers.moma_ppo.reacher --profile {profile}"
            )
        build(profile, root=root, device=device)
    return Dataset.load(base)


def reacher_dataset(
    kind: str,
    obs_mode: str,
    profile: str,
    convention: str | None = None,
    root=None,
    build_missing: bool = False,
) -> Dataset:
    """Per-agent view of a stored Reacher dataset on ``mamujoco/reacher-2x1`` with ``obs_mode`` (full, independent,
    leader-only): obs / actions split per agent, the reward copied to both, state = the 10-dim Reacher state."""
    if obs_mode not in DC.REACHER_OBS_MODES:
        raise ValueError(f"obs_mode={obs_mode!r} is not allowed; allowed: {', '.join(DC.REACHER_OBS_MODES)}")
    src = load_source(kind, profile, convention, root, build_missing)
    return split(src, DC.REACHER_ENV, obs_mode=obs_mode).with_card(convention=src.card.get("convention"))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m papers.moma_ppo.reacher",
        description="MOMA-PPO's Reacher: train (or resume) the online MAPPO experts, keep one "
        "per elbow convention, collect their data and build expert-mix.",
    )
    p.add_argument(
        "--profile", default="quick", choices=list(DC.REACHER_SCALES), help="scale (default quick)"
    )
    p.add_argument("--experts-only", action="store_true", help="only train (or resume) the MAPPO experts")
    p.add_argument(
        "--export-committed",
        action="store_true",
        help="maintainers: write the profile's chosen experts (from its run) to "
        "papers/moma_ppo/committed/<profile>/, from which the data then rebuild without the run",
    )
    p.add_argument(
        "--below-expert-ok",
        action="store_true",
        help="build the data even if a convention's best seed is below the expert level",
    )
    p.add_argument("--device", default="cpu", help="torch device of the MAPPO learner (default cpu)")
    p.add_argument(
        "--root",
        default=None,
        help="data root (default: $OFFMARL_DATA, else $XDG_CACHE_HOME/offmarl-repro, else ~/.cache/offmarl-repro)",
    )
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    if a.export_committed:
        print(
            f"Reacher experts ({a.profile}) committed: {export_committed(a.profile, root=a.root, device=a.device)}.pt"
        )
        return 0
    if a.experts_only:
        run = train_experts(a.profile, root=a.root, device=a.device)
        ev = run.evals[-1]
        pct = [round(float(x)) for x in normalize(np.array(ev["return"]), REACHER_REF_SCORES)]
        print(
            f"Reacher experts ({a.profile}): iteration {run.iteration}, greedy return per seed "
            f"{[round(r, 3) for r in ev['return']]} ({pct} %), "
            f"θ₂ {[round(t, 2) for t in ev['theta2']]}, conventions {ev['convention']}; "
            f"checkpoint {run_path(a.profile, a.root)}"
        )
        return 0
    require = False if a.below_expert_ok else None
    bases = build(a.profile, root=a.root, device=a.device, require=require)
    for name, base in bases.items():
        card = Dataset.read_card(base)
        r = card["returns"]
        print(
            f"{name:10s} {card['size']} transitions, {card['n_episodes']} episodes, return {r['mean']:.3f} "
            f"(min {r['min']:.3f}, max {r['max']:.3f}), {normalize(r['mean'], REACHER_REF_SCORES):.1f} % -> "
            f"{base}.npz"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
