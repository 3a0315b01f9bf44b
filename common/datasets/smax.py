"""SMAX datasets of the StarCraft items, generated here from our own MAPPO behavior policies and cached with cards.

    python -m common.datasets.smax --map 3s_vs_3z --kind mixed --profile quick     # CAST-BCQ Table 1 / Figure 5
    python -m common.datasets.smax --map 5m_vs_6m --kind medium --profile quick    # OTC Figure 6(d)
    python -m common.datasets.smax --all --profile quick                           # every (map, kind) in NEEDED
    python -m common.datasets.smax --report --profile quick                        # runs/quick/datasets/smax.md (common/datasets/smax_report.py)

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
The protocol's pieces are in common/datasets/smax_protocol.py, the container and its extras file in
common/datasets/smax_dataset.py.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Sequence, cast

import numpy as np
import torch

import envs
from common.behavior.smax_ppo import actor_from_snapshots
from common.datasets.dataset import Dataset
from common.datasets.smax_dataset import EXTRA_KEYS, SmaxDataset, extras_path, read_extras, write_extras
from common.datasets.smax_protocol import (
    KINDS,
    MEDIUM_LEVEL,
    MIXED_LEVELS,
    NEEDED,
    NO_WIN_RULE,
    PROFILES,
    RULES,
    VERSION,
    behavior_run,
    check_profile,
    choose_snapshot,
    collect,
    dataset_base,
    regenerate_command,
)
from common.datasets.smax_report import ROWS_NAME, merged_rows, read_rows, write_page
from common.running.roots import add_root_options, chosen_root
from common.running.runtime import check_device
from envs.smax import MAPS, SmaxEnv

__all__ = ["build", "load", "built_cards", "main"]


def _summary(arrays: dict[str, np.ndarray], returns: np.ndarray, sources: list[dict]) -> list[dict]:
    """Per source: episodes, the data's win rate and mean return (the sampled policy, not the greedy one)."""
    out = []
    for g, s in enumerate(sources):
        sel = arrays["episode_source"] == g
        out.append(
            {
                **s,
                "episodes": int(sel.sum()),
                "data_win_rate": float(arrays["won"][sel].mean()),
                "data_return_mean": float(returns[sel].mean()),
            }
        )
    return out


def build(
    map_name: str,
    kind: str,
    profile: str,
    *,
    root=None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Make the dataset (and its behavior run) unless its files exist and verify; returns its base path."""
    base = dataset_base(map_name, kind, profile, root)
    if base.with_name(base.name + ".json").exists():
        _load(base)  # verifies both files: a bad one raises DatasetError naming it
        return base
    prof = check_profile(profile)
    levels = MIXED_LEVELS if kind == "mixed" else (MEDIUM_LEVEL,)
    n_eps = prof.episodes[kind]
    if n_eps % len(levels) or prof.collect_envs % len(levels):
        raise ValueError(
            f"{n_eps} episodes in batches of {prof.collect_envs} envs do not split into "
            f"{len(levels)} equal shares"
        )
    run = behavior_run(map_name, profile, root=root, seed=seed, device=device, progress=progress)
    sources = [choose_snapshot(run, lv) for lv in levels]
    if run.evals[-1]["sampled_win_rate"][0] == 0 and progress:
        print(
            f"note: the final MAPPO policy of smax/{map_name} ({profile}) wins no evaluation episode: the levels are "
            "read on the sampled return instead (choose_snapshot)",
            file=sys.stderr,
            flush=True,
        )
    lr = run.learner
    actor = actor_from_snapshots(
        lr.cfg, lr.actor_in, lr.K, [(run.snapshots[s["index"]][1], 0) for s in sources]
    )
    env_name = f"smax/{map_name}"
    arrays = collect(
        env_name,
        actor,
        lr.cfg.agent_id,
        n_eps,
        prof.collect_envs,
        seed,
        KINDS.index(kind),
        progress=f"collect {env_name} {kind} ({profile})" if progress else None,
    )
    env = cast(SmaxEnv, envs.make(env_name))  # an smax/<map> name: its card is SmaxEnv's
    behavior = {
        "learner": f"common.behavior.smax_ppo ({lr.cfg.critic.upper()}), shared MLP actor over available actions",
        "ppo": asdict(lr.cfg),
        "seed": seed,
        "iterations": lr.iteration,
        "env_steps": int(run.env_steps()[0]),
        "train_wall_time_s": run.times["wall"],
        "evals": [
            [
                e["iteration"],
                e["env_steps"][0],
                e["sampled_win_rate"][0],
                e["win_rate"][0],
                e["sampled_return"][0],
            ]
            for e in run.evals
        ],
        "evals_columns": ["iteration", "env_steps", "sampled_win_rate", "greedy_win_rate", "sampled_return"],
        "sources": sources,
        "actions": "sampled from each snapshot's categorical over the available actions",
    }
    ds = Dataset.from_arrays(
        env_name,
        kind,
        arrays["obs"],
        arrays["actions"],
        arrays["rewards"],
        arrays["next_obs"],
        arrays["terminals"],
        arrays["timeouts"],
        state=arrays["state"],
        next_state=arrays["next_state"],
        spec=env.spec,
        version=VERSION,
        protocol={
            "rule": RULES[kind]
            + ("" if sources[0]["criterion"] == "sampled_win_rate" else "; " + NO_WIN_RULE),
            "profile": profile,
            "levels": list(levels),
            "episodes": n_eps,
            "env_options": env.spec.options,
            "collect_envs": prof.collect_envs,
            "env": env.card,
        },
        return_mode="agent0",
        behavior=behavior,
        generator={"name": "common.datasets.smax", "version": VERSION},
        notes="SMAX (JaxMARL) substitute for SMAC: win rates are not comparable to SC2's"
        + (f"; {env.card['substitute']}" if env.card["substitute"] else ""),
        regenerate_command=regenerate_command(map_name, kind, profile, seed),
    )
    extras = {k: arrays[k] for k in EXTRA_KEYS}
    behavior["sources"] = _summary(arrays, ds.episode_returns, sources)
    digest = write_extras(extras_path(base), extras)  # first: the card, written last, names its checksum
    ds = ds.with_card(
        behavior=behavior,
        smax={
            "file": extras_path(base).name,
            "sha256": digest,
            "win_rate": float(arrays["won"].mean()),
            "episodes_won": int(arrays["won"].sum()),
            "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in extras.items()},
        },
    )
    return ds.save(base)


def _load(base: Path) -> SmaxDataset:
    ds = Dataset.load(base)  # the main file: sha256, shapes, dtypes
    return SmaxDataset(ds.arrays, ds.card, read_extras(base, ds.card))


def load(
    map_name: str,
    kind: str,
    profile: str,
    *,
    root=None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> SmaxDataset:
    """The dataset, built first when its files are missing (see :func:`build`)."""
    return _load(build(map_name, kind, profile, root=root, seed=seed, device=device, progress=progress))


# ---- report and command line --------------------------------------------------------------------------------


def built_cards(profile: str, root=None) -> dict[tuple[str, str], dict]:
    """{(map, kind): card} of every dataset of ``profile`` present under the data root."""
    return Dataset.present_cards({(m, k): dataset_base(m, k, profile, root) for m in MAPS for k in KINDS})


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m common.datasets.smax",
        description="Build SMAX datasets (MAPPO behavior policies, sampled episodes with action masks, cached with "
        "checksums and cards), or write their report. Kinds: "
        + "; ".join(f"{k}: {v}" for k, v in RULES.items()),
    )
    p.add_argument("--map", action="append", choices=list(MAPS), help="SMAX map (repeatable)")
    p.add_argument("--kind", action="append", choices=list(KINDS), help="dataset kind (repeatable)")
    p.add_argument(
        "--all",
        action="store_true",
        help="every (map, kind) the papers need: "
        + "; ".join(f"{m}: {', '.join(k)}" for m, k in NEEDED.items()),
    )
    p.add_argument("--profile", default="quick", choices=list(PROFILES), help="scale (default quick)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the behavior run and the collection (default 0)"
    )
    p.add_argument("--device", default="cpu", help="where MAPPO trains: cpu | cuda (default cpu)")
    p.add_argument(
        "--root",
        default=None,
        help="data root (default: $OFFMARL_DATA, else $XDG_CACHE_HOME/offmarl-repro, else ~/.cache/offmarl-repro)",
    )
    p.add_argument(
        "--behavior-only", action="store_true", help="only train (or resume) the MAPPO runs of --map"
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="write <results>/<profile>/datasets/smax.md: this machine's cards replace their rows in smax_cards.json "
        "beside it, the other rows are kept",
    )
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
            last = run.evals[-1]  # not `e`: the except clause above deletes that name
            print(
                f"MAPPO smax/{m} ({a.profile}): {run.learner.iteration} iterations, {int(run.env_steps()[0]):,} env "
                f"steps, {run.times['wall']:.0f} s; final win rate sampled {last['sampled_win_rate'][0]:.2f}, greedy "
                f"{last['win_rate'][0]:.2f}",
                flush=True,
            )
    for m, kind in pairs:
        base = build(m, kind, a.profile, root=a.root, seed=a.seed, device=a.device)
        c = Dataset.read_card(base)
        print(
            f"smax/{m} {kind}: {c['n_episodes']} episodes, {c['size']:,} transitions, win rate "
            f"{c['smax']['win_rate']:.3f}, return {c['returns']['mean']:.2f} ± {c['returns']['std']:.2f} "
            f"-> {base}.npz",
            flush=True,
        )
    if a.report:
        path = chosen_root(a) / a.profile / "datasets" / "smax.md"
        rows = merged_rows(read_rows(path.with_name(ROWS_NAME)), built_cards(a.profile, a.root))
        write_page(path, a.profile, rows)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
