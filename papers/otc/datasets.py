"""OTC's datasets. MuJoCo (Table 1, Figures 3-5): the shared D4RL-protocol data (common.datasets.mujoco) split per
agent with obs_mode "otc". Cooperative navigation, predator-prey and the non-stationary navigation (Figures 6-8):
"collected by uniform random policies, containing 1 x 10^6 transitions" [P Sec. 4.4, 4.7], generated here once
per (env, options, size, seed), cached with a card and checksum:

    ds = random_dataset("otc/navigation", {"n_agents": 4}, 250_000)
    python -m papers.otc.datasets --env otc/navigation --n-agents 4 --size 250000     # make one, print its card

Uniform actions in the env's bounds, 25-step episodes, the last one cut (``common.behavior.collect``). The
non-stationary navigation draws its beta per episode when ``beta`` is None (the data's setting).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping, Sequence

from common.behavior.collect import options_suffix
from common.behavior.rollouts import collect
from common.datasets.card import dataset_id, dataset_path
from common.datasets.dataset import Dataset

VERSION = 1  # bump when the generation changes: old files are then other paths
RANDOM_ENVS = ("otc/navigation", "otc/predator_prey", "games/nonstationary_nav")


def random_path(env: str, env_options: Mapping[str, Any] | None, size: int, seed: int = 0) -> Path:
    base = dataset_path(dataset_id(env, "random", VERSION))
    return base.with_name(f"{base.name}{options_suffix(env_options)}-n{int(size)}-s{int(seed)}")


def random_dataset(env: str, env_options: Mapping[str, Any] | None, size: int, seed: int = 0) -> Dataset:
    """The uniform-random dataset of ``size`` transitions on ``env`` (generated and cached when missing)."""
    if env not in RANDOM_ENVS:
        raise ValueError(f"no OTC random dataset for env {env!r}; valid: {', '.join(RANDOM_ENVS)}")
    if int(size) < 1:
        raise ValueError(f"size {size!r}: give a positive number of transitions")
    path = random_path(env, env_options, size, seed)
    if path.with_name(path.name + ".npz").exists():
        return Dataset.load(path)
    cmd = f"python -m papers.otc.datasets --env {env} --size {int(size)} --seed {int(seed)}" + "".join(
        f" --option {k}={v}" for k, v in sorted((env_options or {}).items())
    )
    ds = collect(
        env,
        dict(env_options or {}),
        None,
        int(size),
        0.0,
        int(seed),
        kind="random",
        version=VERSION,
        policy_description="uniform joint random policy (OTC Sec. 4.4, 4.7)",
    )
    ds.card["regenerate_command"] = cmd
    ds.save(path)
    return Dataset.load(path)


def load_spec(spec: Mapping[str, Any]) -> Dataset:
    """B^0 of a cell's ``dataset`` spec: MuJoCo (``task`` given) split on the env, or a random dataset."""
    if "task" in spec:
        from common.datasets import mujoco as mj

        ds = mj.load(spec["task"], spec["kind"], spec["data_profile"], progress=False)
        return mj.split(ds, spec["env"], **spec["env_options"])
    return random_dataset(
        spec["env"],
        spec.get("data_options", spec["env_options"]),
        int(spec["size"]),
        int(spec.get("data_seed", 0)),
    )


def _option(text: str) -> tuple[str, Any]:
    k, sep, v = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"option {text!r}: write key=value, e.g. n_agents=4")
    for cast in (int, float):
        try:
            return k, cast(v)
        except ValueError:
            pass
    return k, None if v == "None" else v


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Make (or load) one of OTC's uniform-random datasets and print its card."
    )
    p.add_argument("--env", required=True, choices=RANDOM_ENVS)
    p.add_argument("--size", type=int, required=True, help="transitions (the paper: 1000000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="env option, e.g. n_agents=4 (repeatable)",
    )
    args = p.parse_args(argv)
    if args.size < 1:
        p.error(f"--size {args.size} must be a positive integer")
    ds = random_dataset(args.env, dict(args.option), args.size, args.seed)
    r = ds.card["returns"]
    print(
        f"{ds.id}: {ds.size} transitions, return {r['mean']:.3f} ± {r['std']:.3f}, sha256 {ds.card['sha256'][:16]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
