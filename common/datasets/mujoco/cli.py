"""The command line of the MuJoCo datasets (common.datasets.mujoco).

python -m common.datasets.mujoco --all                          # every (task, kind) the papers need, full profile
python -m common.datasets.mujoco --task hopper --sac-only      # only the SAC behavior run (resumable)
python -m common.datasets.mujoco --export-policies             # maintainers: commit the policy sets
python -m common.datasets.mujoco --report --reference          # results/full/datasets/mujoco.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Sequence

import torch

from common.datasets.dataset import Dataset
from common.datasets.mujoco import (
    ALIASES,
    KINDS,
    NEEDED,
    PROFILES,
    all_pairs,
    behavior_run,
    build,
    built_cards,
    check_profile,
    data_profile,
    group_of,
    has_policies,
    policy_set,
)
from common.datasets.mujoco.policies import COMMITTED, load_policy_set
from common.running.roots import add_root_options, chosen_root
from common.running.runtime import check_device, worker_init
from envs.gym_mujoco import TASKS

__all__ = ["main", "export_policies"]


def export_policies(task: str, profile: str, root=None) -> str:
    """Copy ``task``'s policy set (made from this machine's SAC run, exporting it first) to the committed folder."""
    ps = policy_set(task, profile, root=root)
    assert ps.path is not None, "policy_set returns a set read from or written to its file"
    if ps.source == "committed":
        return f"{task}: the committed set is already in use ({ps.path}.npz)"
    dest = COMMITTED / data_profile(profile) / task
    dest.parent.mkdir(parents=True, exist_ok=True)
    for ext in (".npz", ".json"):
        shutil.copyfile(ps.path.with_suffix(ext), dest.with_suffix(ext))
    load_policy_set(dest, "committed")  # verifies the copy
    return f"{task}: {dest}.npz ({dest.with_suffix('.npz').stat().st_size / 1e6:.1f} MB)"


def _build_task(job: tuple, echo: bool = False) -> list[str]:
    """Build the kinds of one robot in order (a worker of ``--jobs``); one line per dataset."""
    task, kinds, profile, root, device = job
    torch.set_num_threads(1)
    lines = []
    for kind in kinds:
        t0 = time.perf_counter()
        base = build(task, kind, profile, root=root, device=device)
        card = Dataset.read_card(base)
        lines.append(
            f"{task} {kind}: {card['size']} transitions, {card['n_episodes']} episodes, "
            f"return {card['returns']['mean']:.1f} ± {card['returns']['std']:.1f} -> {base}.npz "
            f"({time.perf_counter() - t0:.0f} s)"
        )
        if echo:
            print(lines[-1], flush=True)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m common.datasets.mujoco",
        description="Build MuJoCo datasets by D4RL's protocol (SAC behavior, cached with checksums and cards), "
        "or write their report.",
    )
    p.add_argument("--task", action="append", choices=list(TASKS), help="robot (repeatable)")
    p.add_argument("--kind", action="append", choices=list(KINDS), help="dataset kind (repeatable)")
    p.add_argument(
        "--all",
        action="store_true",
        help="every (task, kind) the papers need: "
        + "; ".join(f"{t}: {', '.join(k)}" for t, k in NEEDED.items()),
    )
    p.add_argument(
        "--profile",
        default="full",
        choices=[*PROFILES, *ALIASES],
        help="scale (default full; quick uses full's datasets)",
    )
    p.add_argument("--device", default="cpu", help="where SAC trains: cpu | cuda (default cpu)")
    p.add_argument(
        "--root",
        default=None,
        help="data root (default: $OFFMARL_DATA, else $XDG_CACHE_HOME/offmarl-repro, else ~/.cache/offmarl-repro)",
    )
    p.add_argument(
        "--sac-only",
        action="store_true",
        help="only train (or resume) the SAC behavior runs of the tasks' groups; no dataset",
    )
    p.add_argument(
        "--export-policies",
        action="store_true",
        help="maintainers: copy the tasks' policy sets from the cache to the committed "
        "common/datasets/mujoco/committed/<profile>/ (after their SAC runs)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="robots built at once, one process each (default: the number of cores); SAC runs that "
        "are still needed always run one at a time",
    )
    p.add_argument(
        "--report", action="store_true", help="write <results>/<profile>/datasets/mujoco.md from the cards"
    )
    add_root_options(p, "--report")
    a = p.parse_args(argv)
    try:
        check_device(a.device)
    except ValueError as e:
        p.error(str(e))
    if a.jobs < 1:
        p.error(f"--jobs {a.jobs} must be a positive integer")
    torch.set_num_threads(1)
    if a.all:
        pairs = all_pairs()
    elif (a.task or a.kind) and not (a.sac_only or a.export_policies):
        if not (a.task and a.kind):
            p.error("give --task and --kind together (or --all)")
        pairs = [(t, k) for t in a.task for k in a.kind]
    else:
        pairs = []
    if a.export_policies:
        for task in a.task or list(TASKS):
            print(export_policies(task, a.profile, root=a.root), flush=True)
        return 0
    if a.sac_only:
        if not a.task:
            p.error("--sac-only needs --task")
        for group in dict.fromkeys(group_of(t) for t in a.task):
            run, _ = behavior_run(group[0], a.profile, root=a.root, device=a.device)
            print(
                f"SAC {'+'.join(group)} ({a.profile}): {run.learner.env_steps} steps, {run.wall_time:.0f} s "
                f"(update {run.update_time:.0f} s, env {run.env_time:.0f} s, eval {run.eval_time:.0f} s); "
                f"final eval {dict(zip(group, run.curve[-1].round(1).tolist()))}",
                flush=True,
            )
        return 0
    tasks = list(dict.fromkeys(t for t, _ in pairs))
    ready = all(has_policies(t, a.profile, a.root) for t in tasks)
    if a.jobs > 1 and len(tasks) > 1 and ready:  # rollouts only: one robot per process
        with ProcessPoolExecutor(
            max_workers=min(a.jobs, len(tasks)),
            mp_context=get_context("spawn"),
            initializer=worker_init,  # a worker ends with this driver; its thread count as before
            initargs=(None, os.getpid()),
        ) as pool:
            for lines in pool.map(
                _build_task,
                [(t, [k for u, k in pairs if u == t], a.profile, a.root, a.device) for t in tasks],
            ):
                print("\n".join(lines), flush=True)
    else:
        if a.jobs > 1 and len(tasks) > 1:
            print(
                "SAC runs are still needed (no policy set for some robot): building one robot at a time",
                flush=True,
            )
        for t in tasks:
            _build_task((t, [k for u, k in pairs if u == t], a.profile, a.root, a.device), echo=True)
    if a.report:
        from common.datasets.report import write_report

        print(
            write_report(
                a.profile, check_profile(a.profile), built_cards(a.profile, a.root), results=chosen_root(a)
            )
        )
    if not pairs and not a.report:
        p.error("nothing to do: give --task/--kind, --all or --report")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
