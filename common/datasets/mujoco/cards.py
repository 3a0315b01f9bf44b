"""The MuJoCo datasets as ``Dataset`` objects and their cards (common.datasets.mujoco builds them).

``make_dataset`` wraps rollout arrays in a single-agent ``Dataset`` whose card names the protocol, the D4RL
reference returns, the behavior (``behavior_of`` a policy set, with the SAC buffer's ``buffer_returns``) and the
data's ``identity_of``: its protocol and the checksums of what made it. ``split`` gives a dataset's per-agent view
on a MaMuJoCo env.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from common.behavior.sac_train import SACRun
from common.datasets.card import DatasetError
from common.datasets.dataset import Dataset
from common.datasets.mujoco.policies import PolicySet
from common.datasets.mujoco.protocol import check_profile, rule_of
from common.datasets.returns import return_stats
from envs.gym_mujoco import D4RL_REF_SCORES, EPISODE_LENGTH, TASKS

if TYPE_CHECKING:
    from envs.mamujoco import MaMuJoCoEnv

__all__ = ["identity_of", "make_dataset", "buffer_returns", "behavior_of", "split"]


def identity_of(task: str, kind: str, profile: str, seed: int, sources: Any) -> str:
    """A dataset's identity: its protocol (task, kind, the profile's data version, size and snapshot rule, the rule's
    text, the collection seed) and the checksums of what made it (policies or source datasets). Two builds with one
    identity are the same data as far as physics allows (bit-identical on one CPU type); records compare it."""
    prof = check_profile(profile)
    spec = {
        "task": task,
        "kind": kind,
        "version": prof.version,
        "size": prof.size,
        "sac_steps": prof.sac_steps,
        "snapshots": prof.snapshots,
        "replay_segment": prof.replay_segment,
        "rule": rule_of(kind, profile),
        "seed": seed,
        "sources": sources,
        "gym": TASKS[task],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def make_dataset(
    task: str,
    kind: str,
    profile: str,
    arrays: dict[str, np.ndarray],
    protocol: str,
    behavior: dict[str, Any],
    *,
    seed: int,
    policies: dict[str, str] | None = None,
    notes: str = "",
) -> Dataset:
    refs = D4RL_REF_SCORES[task]
    cmd = f"python -m common.datasets.mujoco --task {task} --kind {kind} --profile {profile}"
    ds = Dataset.from_arrays(
        f"mujoco/{task}",
        kind,
        arrays["obs"][:, None],
        arrays["actions"][:, None],
        arrays["rewards"][:, None],
        arrays["next_obs"][:, None],
        arrays["terminals"],
        arrays["timeouts"],
        version=check_profile(profile).version,
        protocol={
            "rule": protocol,
            "profile": profile,
            "gym_env": TASKS[task][0],
            "gym_kwargs": TASKS[task][1],
            "episode_length": EPISODE_LENGTH,
            "policies_sha256": policies or {},
        },
        ref_scores=refs,
        return_mode="sum",
        behavior=behavior,
        generator={"name": "common.datasets.mujoco", "version": check_profile(profile).version},
        notes=notes,
        regenerate_command=cmd,
    )
    return ds.with_card(identity=identity_of(task, kind, profile, seed, policies or {"policy": "uniform"}))


def buffer_returns(run: SACRun, m: int, medium_step: int) -> dict[str, Any]:
    """Statistics of the true SAC buffer's episodes (until the medium snapshot, and all), for the report."""
    b = run.learner.buffer
    out = {}
    for kind, stop in (("medium-replay", medium_step), ("full-replay", b.n_added)):
        rows = b.rows(m, 0, stop)
        ends = np.flatnonzero((rows["terminals"] > 0.5) | (rows["timeouts"] > 0.5))
        rets = [float(x.sum()) for x in np.split(rows["rewards"].astype(np.float64), ends + 1)[: len(ends)]]
        out[kind] = {"size": int(stop), "episodes": len(rets), **return_stats(np.array(rets))}
    return out


def behavior_of(ps: PolicySet, seed: int) -> dict[str, Any]:
    """The card's ``behavior`` field from a policy set."""
    c, ch = ps.card, ps.card["chosen"]
    # level, expert_level: cards since the "smoothed" rule
    med = {
        k: ch[k]
        for k in (
            "index",
            "step",
            "score",
            "level",
            "target",
            "expert_score",
            "expert_level",
            "random_return",
            "reference_expert",
        )
        if k in ch
    }
    return {
        "sac": {**c["sac"], "seed": seed, "members": [c["member"]]},
        "eval_steps": c["eval_steps"],
        "eval_scores": c["eval_scores"],
        "medium": med | {"actor_sha256": ps.shas()["medium"]},
        "expert": {
            "step": int(ch["expert_step"]),
            "score": ch["expert_score"],
            "actor_sha256": ps.shas()["expert"],
        },
        "snapshot_rule": c["snapshot_rule"],
        "our_ref_scores": {
            "random": med["random_return"],
            "expert": med.get("expert_level", med["expert_score"]),
        },
        "sac_wall_time_s": c["sac_wall_time_s"],
        "sac_pieces": c["sac_pieces"],
        "policies": {
            "source": ps.source,
            "file": f"{ps.path.name}.npz" if ps.path else None,
            "npz_sha256": c.get("npz_sha256"),
        },
        "buffer_returns": c.get("buffer_returns"),
    }


def split(ds: Dataset, env_name: str, **options) -> Dataset:
    """Per-agent view of a single-agent MuJoCo dataset on a MaMuJoCo env (``envs.make(env_name, **options)``):
    obs/actions split by the env's map, the reward copied to every agent, state = the single-agent obs."""
    import envs

    env = cast("MaMuJoCoEnv", envs.make(env_name, **options))  # a MaMuJoCo env (its split maps)
    if ds.n_agents != 1:
        raise DatasetError(f"{ds.id} is not a single-agent dataset (n_agents={ds.n_agents})")
    s, s2 = ds.obs[:, 0], ds.next_obs[:, 0]
    obs, act = env.split(s, ds.actions[:, 0])
    n = env.spec.n_agents
    out = Dataset.from_arrays(
        env_name,
        ds.card["kind"],
        obs,
        act,
        np.repeat(ds.rewards, n, axis=1),
        env.split_obs(s2),
        ds.terminals,
        ds.timeouts,
        state=s,
        next_state=s2,
        spec=env.spec,
        version=ds.card["version"],
        protocol={
            "split_of": ds.id,
            "sha256": ds.card["sha256"],
            "options": options,
            **(ds.card["protocol"] or {}),
        },
        ref_scores=ds.card["ref_scores"],
        return_mode="mean",
        behavior=ds.card["behavior"],
        generator=ds.card["generator"],
        notes=ds.card.get("notes", ""),
        regenerate_command=ds.card.get("regenerate_command"),
    )
    # A split lives in memory only; its checksum and identity (what records name, common.running.offline.data_identity_of)
    # are the source file's with the env and options of the split, hashed.
    for key in ("sha256", "identity"):
        if ds.card.get(key):
            out.card[key] = hashlib.sha256(
                json.dumps([ds.card[key], env_name, options], sort_keys=True, default=str).encode()
            ).hexdigest()
    return out
