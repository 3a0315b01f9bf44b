"""MOMA-PPO's Reacher experts as a committed file: the two chosen experts' actors (and their observation
statistics), with what the datasets' cards say of the MAPPO run that made them, so that a fresh clone or a lost
cache rebuilds the Reacher datasets in seconds instead of re-training the experts (2 h 18 min of one core at quick),
as common/datasets/mujoco's committed SAC policies do for the MuJoCo data.

    python -m papers.moma_ppo.reacher --profile quick --export-committed   # maintainers, after the experts' run
    python -m papers.moma_ppo.reacher --profile quick                      # then builds from it where no run is

Files: ``papers/moma_ppo/committed/<profile>/reacher-experts.pt`` (the actors' tensors, seeds in the order ccw, cw)
and ``.json`` (the run's facts for the cards, the config, the tensors' sha256, the exporting CPU and commit). A
policy rebuilt from them acts exactly as ``select_seeds`` of the run does (same actors, statistics and seeds, so the
same sampling generators): the datasets built from either are equal (tests/test_moma_reacher.py).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import envs
from common.algos.mappo import MAPPO, MAPPOConfig
from common.running.atomic import atomic_write, atomic_write_text
from common.running.runtime import cpu_model, git_commit

__all__ = ["COMMITTED", "committed_base", "export_policy", "load_policy"]

COMMITTED = Path(__file__).resolve().parent / "committed"  # <profile>/reacher-experts.{pt,json}
FORMAT = 1


def committed_base(profile: str, committed_root: str | Path | None = None) -> Path:
    """Base path (no extension) of ``profile``'s committed Reacher experts."""
    return (Path(committed_root) if committed_root is not None else COMMITTED) / profile / "reacher-experts"


def _tensors(policy: MAPPO) -> dict[str, torch.Tensor]:
    out = {f"actor.{k}": v.detach().cpu().clone() for k, v in policy.actor.state_dict().items()}
    out["obs_mu"], out["obs_sd"] = policy.obs_mu.detach().cpu().clone(), policy.obs_sd.detach().cpu().clone()
    return out


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def export_policy(
    profile: str, policy: MAPPO, cfg, meta: dict[str, Any], committed_root: str | Path | None = None
) -> Path:
    """Write the experts ``policy`` (``select_seeds`` of the run, one seed per convention in the order ccw, cw), its
    online config ``cfg`` (OnlineMAPPOConfig) and ``meta`` (the run's facts the datasets' cards carry) as the
    committed set of ``profile``; returns its base path."""
    base = committed_base(profile, committed_root)
    buf = io.BytesIO()
    torch.save(_tensors(policy), buf)
    blob = buf.getvalue()
    card = {
        "format": FORMAT,
        "profile": profile,
        "env": cfg.env,
        "obs_mode": cfg.obs_mode,
        "mappo": asdict(cfg.mappo),
        "online_config": asdict(cfg),
        "seeds": [int(s) for s in policy.seeds],
        "obs_stats_set": bool(policy.obs_stats_set),
        "meta": meta,
        "tensors_sha256": _sha256(blob),
        "exported_on": {"cpu": cpu_model(), "commit": git_commit()},
    }
    base.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(base.with_suffix(".pt"), lambda f: f.write(blob))
    atomic_write_text(base.with_suffix(".json"), json.dumps(card, indent=1, sort_keys=True) + "\n")
    return base


def load_policy(
    profile: str, cfg, committed_root: str | Path | None = None, device: str = "cpu"
) -> tuple[MAPPO, dict[str, Any]] | None:
    """``profile``'s committed experts as (policy, meta), or None when there is no committed set. Refused with one
    error naming the file: experts trained with another online config than ``cfg`` (the profile's now), or tensors
    that do not match the recorded sha256."""
    base = committed_base(profile, committed_root)
    if not base.with_suffix(".json").exists():
        return None
    card = json.loads(base.with_suffix(".json").read_text())
    now = json.loads(json.dumps(asdict(cfg)))
    if card.get("online_config") != now:
        diff = sorted(k for k in now if (card.get("online_config") or {}).get(k) != now[k])
        raise ValueError(
            f"{base}.json holds experts trained with another config than profile {profile!r}'s now (fields "
            f"{diff}); re-export them from a run of the current config (--export-committed) or remove the files"
        )
    blob = base.with_suffix(".pt").read_bytes()
    if card.get("format") != FORMAT or _sha256(blob) != card["tensors_sha256"]:
        raise ValueError(
            f"{base}.pt does not match its card (format {card.get('format')!r}, sha256 recorded "
            f"{card.get('tensors_sha256')!r}); restore it from git: git checkout -- {base.parent}"
        )
    tensors = torch.load(io.BytesIO(blob), map_location=device, weights_only=True)
    spec = envs.make(card["env"], obs_mode=card["obs_mode"]).spec
    policy = MAPPO(
        spec.obs_dims,
        spec.act_dims,
        len(card["seeds"]),
        MAPPOConfig(**_tuples(card["mappo"])),
        seeds=card["seeds"],
        device=device,
    )
    policy.actor.load_state_dict(
        {k[len("actor.") :]: v for k, v in tensors.items() if k.startswith("actor.")}
    )
    policy.obs_mu, policy.obs_sd = tensors["obs_mu"], tensors["obs_sd"]
    policy.obs_stats_set = bool(card["obs_stats_set"])
    return policy, card["meta"]


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to the tuples a frozen config holds (e.g. ``hidden``)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
