"""The behavior policies that define the MuJoCo datasets, as plain files: anyone rebuilds every dataset kind from
them in minutes (common.datasets.mujoco) instead of re-running SAC for hours.

A policy set of one robot = ``<task>.npz`` (float32 arrays only, read with ``allow_pickle=False``) + ``<task>.json``
(its card). Arrays are named ``<policy>/<parameter>`` with the parameters of a one-member
:class:`common.behavior.sac.Actor`; the policies are

    medium, expert      the medium and expert snapshots of the SAC run (the profile's snapshot rule, on the card)
    replay<step>        the replay series: the snapshot at the middle of every ``replay_segment`` steps of the run,
                        which acts for that segment when the replay kinds are rebuilt (common.datasets.mujoco.rollouts)

The card holds the task, profile, SAC config, every evaluation (steps and deterministic scores), the chosen snapshots,
the sha256 of each policy (over its parameter names and bytes, :func:`weights_sha`) and of the .npz, and the SAC run's
pieces (steps, CPU, wall time). Where they live (:func:`policy_path`): the committed set
``common/datasets/mujoco/committed/<profile>/<task>`` when there is one (written by maintainers with
``python -m common.datasets.mujoco --export-policies``), else the cache ``<cache>/mujoco/<profile>/policies/<task>``
(written after this machine's own SAC run).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from common.behavior.sac import Actor, SACConfig
from common.datasets.card import DatasetError
from common.datasets.mujoco.protocol import data_profile
from common.running.records import atomic_write, atomic_write_text

__all__ = ["PolicySet", "COMMITTED", "policy_path", "weights_sha", "save_policy_set", "load_policy_set"]

COMMITTED = Path(__file__).resolve().parent / "committed"  # committed sets: <profile>/<task>.{npz,json}
FORMAT = 1


def weights_sha(state: Mapping[str, Any]) -> str:
    """sha256 over a policy's parameters, sorted by name: the name's bytes then the float32 values' bytes."""
    h = hashlib.sha256()
    for k, v in sorted(state.items()):
        h.update(k.encode())
        h.update(
            np.ascontiguousarray(v.detach().cpu().numpy() if torch.is_tensor(v) else v, np.float32).tobytes()
        )
    return h.hexdigest()


def policy_path(task: str, profile: str, cache: Path) -> tuple[Path, str]:
    """(base path without extension, "committed" | "cache") of ``task``'s policy set: the committed one if present,
    else the cache's (``cache`` = ``<data root>/mujoco/<profile>``)."""
    committed = COMMITTED / data_profile(profile) / task  # quick uses full's data, hence full's policies
    if committed.with_suffix(".json").exists():
        return committed, "committed"
    return cache / "policies" / task, "cache"


@dataclass
class PolicySet:
    """One robot's behavior policies (``states[name]``: parameter name -> float32 array) and their card."""

    states: dict[str, dict[str, np.ndarray]]
    card: dict[str, Any]
    path: Path | None = None
    source: str = "memory"

    def actor(self, name: str) -> Actor:
        """A one-member actor holding policy ``name``'s weights."""
        if name not in self.states:
            raise KeyError(f"policy {name!r} is not in the set; it has {', '.join(sorted(self.states))}")
        cfg = self.card["sac"]
        a = Actor(1, int(self.card["obs_dim"]), int(self.card["act_dim"]), tuple(cfg["hidden"]))
        a.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.states[name].items()})
        return a

    def sac_config(self) -> SACConfig:
        cfg = dict(self.card["sac"])
        fields: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v)
            for k, v in cfg.items()
            if k in SACConfig.__dataclass_fields__
        }
        return SACConfig(**fields)

    def replay_series(self) -> list[tuple[int, int, str]]:
        """[(first step, stop step, policy name)] of the replay segments, in order, covering [0, sac steps)."""
        return [(int(a), int(b), str(n)) for a, b, n in self.card["replay_series"]]

    def shas(self) -> dict[str, str]:
        return dict(self.card["policy_sha256"])


def save_policy_set(ps: PolicySet, base: Path) -> PolicySet:
    """Write ``ps`` as ``base.npz`` + ``base.json`` (atomically; the card gets the .npz's sha256)."""
    arrays = {
        f"{name}/{k}": np.ascontiguousarray(v, np.float32)
        for name, st in ps.states.items()
        for k, v in st.items()
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]  # numpy stub: ** vs allow_pickle
    data = buf.getvalue()
    card = {
        **ps.card,
        "format": FORMAT,
        "npz_sha256": hashlib.sha256(data).hexdigest(),
        "policy_sha256": {name: weights_sha(st) for name, st in sorted(ps.states.items())},
    }
    atomic_write(base.with_suffix(".npz"), lambda f: f.write(data))
    atomic_write_text(base.with_suffix(".json"), json.dumps(card, indent=1, sort_keys=True) + "\n")
    return PolicySet(ps.states, card, base, ps.source)


def load_policy_set(base: Path, source: str = "cache") -> PolicySet:
    """Read and verify a policy set: the .npz's sha256 and every policy's against the card; an error names the file
    and how to rebuild it."""
    npz, js = base.with_suffix(".npz"), base.with_suffix(".json")
    fix = (
        "restore it from git (git checkout -- common/datasets/mujoco/committed)"
        if source == "committed"
        else f"delete {npz} and {js} to re-export them from the SAC run"
    )
    try:
        card = json.loads(js.read_text())
        data = npz.read_bytes()
    except (OSError, ValueError) as e:
        raise DatasetError(f"policy set {base}: cannot read it ({e}); {fix}") from e
    if hashlib.sha256(data).hexdigest() != card.get("npz_sha256"):
        raise DatasetError(f"policy set {npz}: sha256 differs from its card's; the file is corrupt: {fix}")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        states: dict[str, dict[str, np.ndarray]] = {}
        for key in z.files:
            name, param = key.split("/", 1)
            states.setdefault(name, {})[param] = z[key]
    for name, sha in card["policy_sha256"].items():
        if name not in states or weights_sha(states[name]) != sha:
            raise DatasetError(f"policy set {npz}: policy {name!r} differs from its card's sha256: {fix}")
    return PolicySet(states, card, base, source)


def from_run(run, m: int, task: str, profile: str, chosen: Mapping[str, Any], segment: int) -> PolicySet:
    """The policy set of member ``m`` of a finished SAC run (common.behavior.sac_train.SACRun): its medium and expert
    snapshots (``chosen``: common.datasets.mujoco.choose_snapshots) and the replay series at the middle of every
    ``segment`` steps (the nearest snapshot not past the end)."""
    lr = run.learner
    steps = run.steps
    snap = {s: w for s, w in run.snapshots}

    def member(w: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return {k: v[m : m + 1].detach().cpu().numpy().astype(np.float32) for k, v in w.items()}

    states = {"medium": member(snap[steps[chosen["index"]]]), "expert": member(snap[chosen["expert_step"]])}
    series = []
    for start in range(0, lr.env_steps, segment):
        stop = min(start + segment, lr.env_steps)
        want = min(start + segment // 2, lr.env_steps)
        at = min(steps, key=lambda s: (abs(s - want), s))  # the evaluation snapshot nearest the middle
        name = f"replay{at:07d}"
        states.setdefault(name, member(snap[at]))
        series.append((start, stop, name))
    card = {
        "task": task,
        "profile": profile,
        "obs_dim": lr.O,
        "act_dim": lr.A,
        "member": lr.members[m].key(),
        "sac": lr.cfg.to_dict() | {"steps": lr.env_steps},
        "eval_steps": list(map(int, steps)),
        "eval_scores": [float(x) for x in run.curve[:, m]],
        "chosen": dict(chosen),
        "replay_segment": int(segment),
        "replay_series": series,
        "sac_pieces": list(run.pieces),
        "sac_wall_time_s": float(run.wall_time),
    }
    return PolicySet(states, card)
