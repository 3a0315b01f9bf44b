"""MOMA-PPO Table 2: normalized score distributions of the MuJoCo datasets (Reacher expert-mix, Ant random / medium /
full-replay / expert) and the normalization returns.

    python papers/moma_ppo/table2.py --profile smoke      # or quick / full; --help
    python papers/moma_ppo/table2.py --env mamujoco/ant-4x2   # the Ant rows only (no Reacher experts needed)

Cells: (env, dataset) x quantity. min, mean, median, max = the per-episode returns of the dataset normalized with the
paper's constants, in % (common.datasets.returns.normalize): Reacher S_random = −11.144625, S_expert = −4.2370844 (the
official code's constants); Ant D4RL's −325.6 / 3879.7. expert_return and random_return = those constants (raw, as
the paper prints them; the Ant pair on the random row only, as printed once for the four rows); every record also
carries our own levels (``our_ref_scores`` from the card) in its extra. One dataset per cell, so one "seed" (0).

Data: the Reacher expert-mix of papers/moma_ppo/reacher.py and the Ant datasets of common.datasets.mujoco (D4RL's
protocol on Ant-v5), both at the run's profile. At smoke a missing dataset is built (seconds); at quick and full the
script stops and names the commands that build them (the item shows "needs ...").
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from common.datasets.dataset import Dataset
from common.datasets.returns import normalize
from common.running.cli import grid_filters
from common.running.experiment import Cell, Job
from common.running.offline import data_identity_of, dataset_of, identity_of
from envs.mamujoco import REACHER_REF_SCORES
from papers.moma_ppo import data_config as DC
from papers.moma_ppo.jobs import run_item
from papers.moma_ppo.published import ANT_DATASETS, ENV_ANT, ENV_REACHER, T2_QUANTITIES

ITEM = Path(__file__).stem
STATS = T2_QUANTITIES[:4]  # min, mean, median, max (%)
CONSTANTS = T2_QUANTITIES[4:]  # expert_return, random_return (raw)
REFS = {ENV_REACHER: REACHER_REF_SCORES, ENV_ANT: DC.ANT_D4RL_REF_SCORES}  # the paper's constants
BUILD_AT = ("smoke",)  # profiles at which a missing dataset is built by this script


def rows() -> list[tuple[str, str]]:
    """(env, dataset) in the paper's order."""
    return [(ENV_REACHER, "expert-mix"), *((ENV_ANT, d) for d in ANT_DATASETS)]


def quantities(env: str, dataset: str) -> tuple[str, ...]:
    """The printed quantities of a row: the four statistics, and the constants on Reacher and on Ant random."""
    return T2_QUANTITIES if env == ENV_REACHER or dataset == "random" else STATS


def data_spec(env: str, dataset: str, profile: str) -> dict[str, Any]:
    return {
        "env": env,
        "dataset": dataset,
        "profile": profile,
        "source": "papers.moma_ppo.reacher" if env == ENV_REACHER else "common.datasets.mujoco",
    }


def build_cells(profile) -> list[Cell]:
    return [
        Cell(
            "moma_ppo",
            ITEM,
            {"env": e, "dataset": d, "quantity": q},
            {"dataset": data_spec(e, d, profile.name), "quantity": q},
        )
        for e, d in rows()
        for q in quantities(e, d)
    ]


# ---- data ------------------------------------------------------------------------------------------------------
def _ant_base(kind: str, profile: str):
    from common.datasets.mujoco import dataset_base

    return dataset_base("ant", kind, profile)


def missing(profile: str, envs=(ENV_REACHER, ENV_ANT)) -> list[str]:
    """What the rows of ``envs`` lack at ``profile``, as the commands that build it."""
    from papers.moma_ppo.reacher import dataset_base

    out = []
    base = dataset_base("expert-mix", profile)
    if ENV_REACHER in envs and not base.with_name(base.name + ".json").exists():
        out.append(
            f"the Reacher experts and expert-mix (python -m papers.moma_ppo.reacher --profile {profile})"
        )
    kinds = [
        k
        for k in ANT_DATASETS
        if ENV_ANT in envs
        and not _ant_base(k, profile).with_name(_ant_base(k, profile).name + ".json").exists()
    ]
    if kinds:
        out.append(
            f"the Ant datasets {', '.join(kinds)} (python -m common.datasets.mujoco --task ant "
            + " ".join(f"--kind {k}" for k in kinds)
            + f" --profile {profile})"
        )
    return out


def load_dataset(spec: Mapping[str, Any]) -> Dataset:
    """The stored single-agent dataset a cell names (built first at smoke when missing)."""
    profile, build = spec["profile"], spec["profile"] in BUILD_AT
    if spec["env"] == ENV_REACHER:
        from papers.moma_ppo.reacher import load_source

        return load_source(spec["dataset"], profile, build_missing=build)
    if spec["env"] == ENV_ANT:
        from common.datasets import mujoco

        base = _ant_base(spec["dataset"], profile)
        if not build and not base.with_name(base.name + ".json").exists():
            raise FileNotFoundError(
                f"the Ant {spec['dataset']} dataset of profile {profile!r} is not built; run: "
                f"python -m common.datasets.mujoco --task ant --kind {spec['dataset']} "
                f"--profile {profile}"
            )
        return mujoco.load("ant", spec["dataset"], profile)
    raise ValueError(f"no Table 2 dataset for env {spec['env']!r}; allowed: {ENV_REACHER}, {ENV_ANT}")


def table2_stats(returns: np.ndarray, refs: Mapping[str, float]) -> dict[str, float]:
    """min, mean, median, max (%) of the per-episode returns [E] normalized with ``refs`` (random, expert), and the
    two constants as expert_return / random_return."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"returns must be a non-empty vector of episode returns, got shape {r.shape}")
    n = normalize(r, refs)
    return {
        "min": float(n.min()),
        "mean": float(n.mean()),
        "median": float(np.median(n)),
        "max": float(n.max()),
        "expert_return": float(refs["expert"]),
        "random_return": float(refs["random"]),
    }


def table2_run(cell, seed: int, ctx) -> dict[str, Any]:
    """A Table 2 cell: one statistic of one dataset (no training; the seed does not enter)."""
    spec = cell.config["dataset"]
    data = load_dataset(spec)
    st = table2_stats(data.episode_returns, REFS[spec["env"]])
    v = st[cell.config["quantity"]]
    ours = (data.card.get("behavior") or {}).get("our_ref_scores")
    return {
        "score": v,
        "normalized": v,
        "n_episodes": int(data.n_episodes),
        "episode_return_mean": float(np.mean(data.episode_returns)),
        "our_ref_scores": ours,
        "paper_ref_scores": REFS[spec["env"]],
        **data_identity_of(data),
    }


table2_job = Job(
    run=table2_run, data_spec=dataset_of, data_identity=functools.partial(identity_of, load=load_dataset)
)


def _profile_and_envs(argv) -> tuple[str, tuple[str, ...]]:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--profile", default="quick")
    p.add_argument("--env", action="append")
    a = p.parse_known_args(argv)[0]
    return a.profile, tuple(a.env or (ENV_REACHER, ENV_ANT))


def main(argv=None):
    profile, envs = _profile_and_envs(argv)

    def needs() -> str | None:
        if profile in BUILD_AT or profile not in DC.REACHER_SCALES:
            return None
        lack = missing(profile, envs)
        return "; ".join(lack) if lack else None

    return run_item(
        __doc__.splitlines()[0],
        ITEM,
        build_cells,
        table2_job,
        argv=argv,
        default_seeds={p: [0] for p in ("smoke", "quick", "full")},
        needs=needs,
        **grid_filters({"env": [ENV_REACHER, ENV_ANT]}, ITEM),
    )


if __name__ == "__main__":
    main()
