"""MOMA-PPO's Iterated Coordination Game datasets (Table 1), generated here and cached with a card.

    ds = icg_dataset("unfavorable")                     # generated once, then loaded with its checksum
    python -m papers.moma_ppo.datasets                  # make / show the three, print Table 1's statistics

Protocol (paper §5.2 and Table 1; spec §2-§3): each play draws a^1 ~ Bern(P^1) and a^2 ~ Bern(P^2) independently
(1 = right, →), and both agents receive 1 if the actions are equal, else 0. One play is one episode
(``games/coordination`` with ``episode_length=1``) and is marked terminal [I]: Q(→,→) = Q(←,←) = 1 and
Q(→,←) = Q(←,→) = 0 as §5.2 states (a time-out would bootstrap on the constant state). 10,000 plays [I] (the size
is not published), dataset seed 0, one dataset per kind shared by every seed of every method. The card records
the behavior probabilities, the empirical P(a^i = →) and the dataset's mean score.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

import envs
from common.datasets.card import data_root, dataset_id, dataset_path
from common.datasets.dataset import Dataset
from papers.moma_ppo.config import ICG_BEHAVIOR, ICG_DATA_SEED, ICG_ENV, ICG_PLAYS

# the card's kind; the ICG dataset's name (favorable, neutral, unfavorable) is in its protocol
ICG_KIND = "custom"
ICG_VERSION = 1  # bump when the protocol changes: old files are then other paths
ICG_GENERATOR = {"name": "papers.moma_ppo.datasets.icg", "version": ICG_VERSION}


def _check(name: str) -> str:
    if name not in ICG_BEHAVIOR:
        raise ValueError(f"ICG dataset {name!r} is not allowed; allowed: {', '.join(ICG_BEHAVIOR)}")
    return name


def icg_path(
    name: str, n_plays: int = ICG_PLAYS, seed: int = ICG_DATA_SEED, root: str | Path | None = None
) -> Path:
    """Cache base path (no extension) of ICG dataset ``name`` with ``n_plays`` plays."""
    p = dataset_path(dataset_id(ICG_ENV, ICG_KIND, ICG_VERSION))
    if root is not None:
        p = Path(root) / p.relative_to(data_root())
    return p.with_name(f"{p.name}-icg-{_check(name)}-n{int(n_plays)}-seed{int(seed)}")


def make_icg_dataset(name: str, n_plays: int = ICG_PLAYS, seed: int = ICG_DATA_SEED) -> Dataset:
    """``n_plays`` one-play episodes of the behavior policies of Table 1's row ``name`` (module docstring).
    Arrays: obs / next_obs [T, 2, 1] = 1, actions [T, 2, 1] (0 = ←, 1 = →, as floats), rewards [T, 2],
    terminals all True, state / next_state [T, 1] = 1."""
    p1, p2 = ICG_BEHAVIOR[_check(name)]
    if int(n_plays) < 1:
        raise ValueError(f"n_plays={n_plays!r} must be a positive integer")
    env = envs.make(ICG_ENV, episode_length=1)
    T = int(n_plays)
    rng = np.random.default_rng([int(seed), 0x1C6])
    a = (rng.random((T, 2)) < np.array([p1, p2])).astype(np.float32)  # [T, N] 1 = right
    r = (a[:, 0] == a[:, 1]).astype(np.float32)  # [T]
    ones = np.ones((T, 2, 1), np.float32)
    protocol = {
        "dataset": name,
        "p_right": [p1, p2],
        "n_plays": T,
        "seed": int(seed),
        "policy": "a^i ~ Bern(P^i) independently per play (1 = right)",
        "episode": "one play, terminal",
        "empirical_p_right": [float(a[:, 0].mean()), float(a[:, 1].mean())],
        "avg_score": float(r.mean()),
        "source": "MOMA-PPO §5.2, Table 1 (papers/moma_ppo/datasets.py)",
    }
    return Dataset.from_arrays(
        ICG_ENV,
        ICG_KIND,
        ones,
        a[:, :, None],
        np.stack([r, r], 1),
        ones,
        np.ones(T, bool),
        np.zeros(T, bool),
        state=np.ones((T, 1), np.float32),
        next_state=np.ones((T, 1), np.float32),
        spec=env.spec,
        version=ICG_VERSION,
        protocol=protocol,
        return_mode="mean",
        generator=ICG_GENERATOR,
        notes=f"Iterated Coordination Game, {name} behavior (P(→) = {p1}, {p2})",
        regenerate_command=f"python -m papers.moma_ppo.datasets --dataset {name} --plays {T} --regenerate",
    )


def icg_dataset(
    name: str,
    n_plays: int = ICG_PLAYS,
    seed: int = ICG_DATA_SEED,
    root: str | Path | None = None,
    regenerate: bool = False,
) -> Dataset:
    """ICG dataset ``name``: loaded from the cache (checksum verified) or generated and saved."""
    base = icg_path(name, n_plays, seed, root)
    if not regenerate and base.with_name(base.name + ".npz").exists():
        return Dataset.load(base)
    make_icg_dataset(name, n_plays, seed).save(base)
    return Dataset.load(base)


def icg_spec(name: str, n_plays: int) -> dict[str, Any]:
    """The ``dataset`` spec of an ICG cell (what evaluation needs: env, env_options, return_mode; and the data)."""
    return {
        "env": ICG_ENV,
        "env_options": {"episode_length": 1},
        "return_mode": "mean",
        "kind": ICG_KIND,
        "icg": _check(name),
        "n_plays": int(n_plays),
        "data_seed": ICG_DATA_SEED,
    }


def load_spec(spec: Mapping[str, Any]) -> Dataset:
    """The dataset a cell's ``dataset`` spec names."""
    if spec.get("env") != ICG_ENV or "icg" not in spec:
        raise ValueError(f"no MOMA-PPO dataset for spec {dict(spec)!r}; ICG specs come from icg_spec()")
    return icg_dataset(spec["icg"], int(spec["n_plays"]), int(spec.get("data_seed", ICG_DATA_SEED)))


def table1_stats(ds: Dataset) -> dict[str, float]:
    """Table 1's columns of a dataset: empirical P(a^1 = →), P(a^2 = →) and the average score; and their SEs."""
    a, r = ds.actions[:, :, 0], ds.rewards[:, 0]
    n = len(r)
    p1, p2, s = float(a[:, 0].mean()), float(a[:, 1].mean()), float(r.mean())
    return {
        "p_right_agent1": p1,
        "p_right_agent2": p2,
        "avg_score": s,
        "n_plays": n,
        "se_p_right_agent1": float(np.sqrt(p1 * (1 - p1) / n)),
        "se_p_right_agent2": float(np.sqrt(p2 * (1 - p2) / n)),
        "se_avg_score": float(np.sqrt(s * (1 - s) / n)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="MOMA-PPO's Iterated Coordination Game datasets (Table 1).")
    ap.add_argument(
        "--dataset", choices=list(ICG_BEHAVIOR), action="append", help="repeatable; default all three"
    )
    ap.add_argument("--plays", type=int, default=ICG_PLAYS, help=f"plays per dataset (default {ICG_PLAYS})")
    ap.add_argument("--regenerate", action="store_true", help="make the dataset again even if it is cached")
    args = ap.parse_args(argv)
    for name in args.dataset or list(ICG_BEHAVIOR):
        ds = icg_dataset(name, args.plays, regenerate=args.regenerate)
        st = table1_stats(ds)
        print(
            f"{name:12s} P(a1=→) {st['p_right_agent1']:.4f}  P(a2=→) {st['p_right_agent2']:.4f}  avg score "
            f"{st['avg_score']:.4f}  ({st['n_plays']} plays, sha256 {ds.card['sha256'][:12]})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
