"""CAST-BCQ's datasets: Figure 1's cliff-grid data, generated here; the MaMuJoCo data of Figure 4, Table 2 and
Figure 6 come from the shared D4RL-protocol datasets (common.datasets.mujoco) split per agent.

    ds = grid_dataset("uniform")          # Figure 1's data (generated once, then loaded with its checksum)
    python -m papers.cast_bcq.datasets --grid --start fixed      # make / show one, print its card summary

Figure 1's data (paper §2.3: "random behavior policies ... stored 100 trajectories"):
  - each agent draws forward / backward / stay uniformly and independently at every step (our reading of
    "random behavior policies"), 100 complete episodes, dataset seed 0; the shared reward per agent;
  - start "fixed" is the paper's literal setting: every episode starts at (1, 1). Uniform play from there
    falls off the grid within ~3 steps and reaches the goal in ~0.5 % of episodes, so ~58 % of such
    100-episode datasets hold no goal transition, and then no offline learner can find the goal;
  - start "uniform" (our documented variant, used for the Figure 1 claims): episodes start at a uniformly
    drawn non-goal cell (the env's ``start="uniform"``), ~6 goal episodes per 100;
  - evaluation always starts at (1, 1) (the env's default), whichever data the learner saw.
  The card records the number of goal and cliff episodes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

import envs
from common.behavior.collect import options_suffix
from common.datasets.card import data_root, dataset_id, dataset_path
from common.datasets.dataset import Dataset

GRID_ENV = "games/cliff_grid"
GRID_EPISODES = 100  # [P] §2.3 "stored 100 trajectories"
GRID_STARTS = ("fixed", "uniform")
GRID_VERSION = 1  # bump when the grid protocol changes: old files are then other paths
GRID_GENERATOR = {"name": "papers.cast_bcq.datasets.grid", "version": GRID_VERSION}


def _check_start(start: str) -> str:
    if start not in GRID_STARTS:
        raise ValueError(f"start={start!r} is not allowed; allowed: {', '.join(GRID_STARTS)}")
    return start


def grid_path(start: str, seed: int = 0, root: str | Path | None = None) -> Path:
    """Cache base path (no extension) of the grid dataset with episodes starting at ``start``."""
    p = dataset_path(dataset_id(GRID_ENV, "random", GRID_VERSION))
    if root is not None:
        p = Path(root) / p.relative_to(data_root())
    p = p.with_name(p.name + options_suffix({"start": _check_start(start)}))
    return p if seed == 0 else p.with_name(f"{p.name}-seed{seed}")


def make_grid_dataset(start: str, n_episodes: int = GRID_EPISODES, seed: int = 0) -> Dataset:
    """``n_episodes`` complete episodes of uniform-random play on the cliff grid (module docstring).
    Actions [T, 2, 1] hold the action index (0 forward, 1 backward, 2 stay) as a float."""
    _check_start(start)
    if int(n_episodes) < 1:
        raise ValueError(f"n_episodes={n_episodes!r} must be a positive integer")
    env = envs.make(GRID_ENV, start=start)
    rng = np.random.default_rng([int(seed), 11])
    episodes: list[dict[str, Any]] = []
    events = {"goal": 0, "cliff": 0, "timeout": 0}
    for e in range(int(n_episodes)):
        obs = env.reset(int(seed) if e == 0 else None)
        ep: dict[str, list] = {
            k: [] for k in ("obs", "actions", "rewards", "next_obs", "state", "next_state")
        }
        while True:
            s = env.state()
            a = rng.integers(0, 3, size=(2, 1)).astype(np.float32)  # [N, 1] action indices
            o2, r, term, trunc, info = env.step(a)
            for k, v in zip(ep, (obs, a, r, o2, s, env.state())):
                ep[k].append(np.asarray(v, np.float32))
            obs = o2
            if term or trunc:
                events["timeout" if not term else info["event"]] += 1
                break
        episodes.append({**{k: np.stack(v) for k, v in ep.items()}, "terminated": bool(term)})
    protocol = {
        "policy": "uniform random action per agent and step",
        "n_episodes": int(n_episodes),
        "start": start,
        "seed": int(seed),
        "env_options": {"start": start},
        "episode_events": events,
        "source": "CAST-BCQ §2.3 (papers/cast_bcq/datasets.py)",
    }
    ds = Dataset.from_episodes(
        GRID_ENV,
        "random",
        episodes,
        spec=env.spec,
        version=GRID_VERSION,
        protocol=protocol,
        return_mode="mean",
        generator=GRID_GENERATOR,
        regenerate_command=f"python -m papers.cast_bcq.datasets --grid --start {start} --regenerate",
    )
    return ds


def grid_dataset(
    start: str, seed: int = 0, root: str | Path | None = None, regenerate: bool = False
) -> Dataset:
    """Figure 1's dataset with episodes starting at ``start``: loaded from the cache (checksum verified) or
    generated and saved."""
    base = grid_path(start, seed, root)
    if not regenerate and base.with_name(base.name + ".npz").exists():
        return Dataset.load(base)
    ds = make_grid_dataset(start, seed=seed)
    ds.save(base)
    return Dataset.load(base)


def goal_episodes(ds: Dataset) -> int:
    """How many episodes of a grid dataset end at the goal."""
    return int(ds.card["protocol"]["episode_events"]["goal"])


def summary(ds: Dataset) -> str:
    p = ds.card["protocol"]
    ev = p["episode_events"]
    return (
        f"{ds.id} start={p['start']}: {ds.size} transitions, {p['n_episodes']} episodes "
        f"(goal {ev['goal']}, cliff {ev['cliff']}, time-out {ev['timeout']}), mean return "
        f"{ds.card['returns']['mean']:.2f}, sha256 {ds.card['sha256'][:12]}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="CAST-BCQ's datasets: make or show Figure 1's cliff-grid data. "
        "(The MaMuJoCo data: python -m common.datasets.mujoco --help.)"
    )
    ap.add_argument("--grid", action="store_true", required=True, help="the cliff-grid data of Figure 1")
    ap.add_argument(
        "--start",
        choices=GRID_STARTS,
        action="append",
        help="episode starts (repeatable; default both): fixed = the paper's (1, 1), uniform = ours",
    )
    ap.add_argument("--regenerate", action="store_true", help="make the dataset again even if it is cached")
    args = ap.parse_args(argv)
    for start in args.start or GRID_STARTS:
        print(summary(grid_dataset(start, regenerate=args.regenerate)))
    return 0


def mujoco_spec(env: str, kind: str, obs_mode: str, data_profile: str) -> dict[str, Any]:
    """The ``dataset`` spec of a MaMuJoCo cell: the shared single-agent dataset (task, kind) of the data profile
    ``data_profile`` (common.datasets.mujoco), split per agent on ``env`` with ``obs_mode``."""
    from common.datasets import mujoco as mj
    from papers.cast_bcq.config import TASK_OF

    if env not in TASK_OF:
        raise ValueError(f"no CAST-BCQ MaMuJoCo task for env {env!r}; valid: {', '.join(TASK_OF)}")
    mj.check_kind(kind)
    mj.check_profile(data_profile)
    return {
        "env": env,
        "env_options": {"obs_mode": obs_mode},
        "return_mode": "mean",
        "kind": kind,
        "task": TASK_OF[env],
        "data_profile": data_profile,
    }


def load_spec(spec: Mapping[str, Any]) -> Dataset:
    """The dataset a cell's ``dataset`` spec names (papers.cast_bcq.jobs): a grid set, or a MaMuJoCo split
    (built first, with its SAC behavior run, when the profile's files are missing)."""
    if spec["env"] == GRID_ENV:
        return grid_dataset(spec["data_start"], int(spec.get("data_seed", 0)))
    if "task" in spec:
        from common.datasets import mujoco as mj

        ds = mj.load(spec["task"], spec["kind"], spec["data_profile"], progress=False)
        return mj.split(ds, spec["env"], **spec["env_options"])
    raise ValueError(f"no CAST-BCQ dataset for env {spec['env']!r}")


if __name__ == "__main__":
    raise SystemExit(main())
