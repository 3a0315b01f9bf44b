"""The model a MOMA-PPO cell rolls out in: its world-model ensemble, trained once per (dataset, ``world_model``
section, wm_seed), resumable while it trains and cached under the data root for every run and seed of that dataset,
with the cell's sampling-only overrides (``wm_sampling``: Figure 6 and the ablations) applied on load; or the
ground-truth simulator (App. B.2's ablation). ``ProbeContext`` builds one outside a run (the probes)."""

from __future__ import annotations

import fcntl
import json
import math
from pathlib import Path
from typing import Any, Mapping

import torch

from common.algos.state import restore_generator
from common.datasets.card import data_root
from common.running.atomic import atomic_torch_save, atomic_write_text
from common.running.records import config_hash
from common.running.runtime import cpu_model, current_threads
from papers.moma_ppo.simulator import GroundTruthSimulator
from papers.moma_ppo.worldmodel import WorldModelConfig, WorldModelEnsemble

__all__ = [
    "ProbeContext",
    "WM_SAMPLING_FIELDS",
    "check_checkpoint_model",
    "model_checkpoint",
    "moma_model",
    "wm_cache_path",
    "trained_on",
    "wm_sampling_of",
    "world_model",
]


def wm_cache_path(cfg: Mapping[str, Any], data) -> Path:
    """Where the trained ensemble of (dataset, world_model config, wm_seed) is cached: under the dataset cache root,
    named by the dataset's sha256 and the config's hash ([code] one pre-trained ensemble per task, loaded by every
    MOMA-PPO seed: load_wm_ensemble)."""
    key = config_hash({"world_model": dict(cfg["world_model"]), "wm_seed": int(cfg["wm_seed"])})
    return data_root() / "moma_ppo" / "world_models" / f"{data.card['sha256'][:16]}-{key}.pt"


# WorldModelConfig fields that only ``sample`` reads (the penalty weights, the adaptive threshold l_eps, the clipping
# to the dataset box): Figure 6 and the ablations vary them in a cell's ``wm_sampling`` section on the ensemble that
# Table 4b trained (same ``world_model`` section, same cache file). threshold "inf" = no adaptive rollouts.
WM_SAMPLING_FIELDS = ("lambda_g", "lambda_r", "lambda_aleatoric", "threshold", "clip_to_dataset")


def wm_sampling_of(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's ``wm_sampling`` overrides as WorldModelConfig values ({} when absent); "inf" -> math.inf (records
    are JSON without infinities); an unknown field is an error naming the allowed ones."""
    section = dict(cfg.get("wm_sampling") or {})
    bad = sorted(set(section) - set(WM_SAMPLING_FIELDS))
    if bad:
        raise ValueError(
            f"wm_sampling fields {bad} are not allowed; allowed (read by sample only): "
            f"{', '.join(WM_SAMPLING_FIELDS)}"
        )
    if section.get("threshold") == "inf":
        section["threshold"] = math.inf
    return section


def _with_sampling(state: Mapping[str, Any], sampling: Mapping[str, Any]) -> dict[str, Any]:
    """A saved ensemble's state with the sampling-only fields of its cfg replaced by ``sampling`` (they never enter
    training, so one trained ensemble serves every sampling variant)."""
    return {**state, "cfg": {**state["cfg"], **sampling}}


def world_model(cfg: Mapping[str, Any], data, ctx, saved: Mapping[str, Any] | None) -> WorldModelEnsemble:
    """The cell's ensemble: from the cache, else trained on the dataset (seeded by wm_seed alone, so every MOMA-PPO
    seed of a dataset uses the same ensemble) and cached; a resumed run continues its checkpoint's sampling stream on
    it (``model_checkpoint``; a checkpoint from before 2026-11-30 holds the weights too: loaded from it). The cell's
    ``wm_sampling`` overrides apply to ``sample`` only (the cache is named by the ``world_model`` section)."""
    wcfg = WorldModelConfig(**{**cfg["world_model"], **wm_sampling_of(cfg)})
    wm = WorldModelEnsemble.for_datasets(data, wcfg, seeds=[int(cfg["wm_seed"])], device=ctx.device)
    sampling = {f: getattr(wcfg, f) for f in WM_SAMPLING_FIELDS}
    path = wm_cache_path(cfg, data)
    # a checkpoint from before 2026-11-30 holds the weights
    if saved is not None and "model" in saved["world_model"]:
        wm.load_state_dict(_with_sampling(saved["world_model"], sampling))
        wm.trained_on = trained_on(path)
        return wm
    if saved is not None and not path.exists():
        raise FileNotFoundError(
            f"the checkpoint names world model {saved['world_model'].get('sha256', '?')[:12]}, cached at {path}, "
            f"which is gone: remove the run's checkpoint to train the ensemble and the run again"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:  # one trainer per ensemble; the others wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            _train_world_model(wm, data, path, ctx)
    wm.load_state_dict(
        _with_sampling(torch.load(path, map_location=ctx.device, weights_only=False), sampling)
    )
    # loaded back from the cache (sha256 checked on load): a fresh and a cached run see the same ensemble
    wm.trained_on = trained_on(path)
    # a run's checkpoint names the cached ensemble (model_checkpoint): its sampling stream continues
    if saved is not None:
        check_checkpoint_model(saved["world_model"], wm)
        restore_generator(wm.gen, saved["world_model"]["rng"], int(wm.seeds[0]), len(wm.seeds), wm.step)
    return wm


def model_checkpoint(wm) -> dict[str, Any]:
    """What a MOMA-PPO run's checkpoint keeps of its model: for the cached ensemble (whose weights MOMA-PPO never
    changes) its sha256 and its sampling stream, so a checkpoint is kilobytes, not a copy of the ensemble (650 MB a
    seed for Ant's 4 x 1024); the simulator's own state otherwise."""
    if not isinstance(wm, WorldModelEnsemble):
        return wm.state_dict()
    return {"sha256": wm.checksum(), "rng": wm.gen.get_state()}


def check_checkpoint_model(state: Mapping[str, Any], wm) -> None:
    """A run resumes only on the ensemble its checkpoint was written on (the sha256 both formats keep)."""
    want = state.get("sha256")
    if want is not None and isinstance(wm, WorldModelEnsemble) and want != wm.checksum():
        raise ValueError(
            f"the checkpoint was written on world model {want[:12]}, the cache holds {wm.checksum()[:12]}: "
            f"remove the checkpoint (or restore that ensemble) to run this cell"
        )


def _segments_path(path: Path) -> Path:
    """The JSON beside a cached ensemble (or its ``.partial``) naming where each stretch of its updates ran."""
    return path.with_name(path.name + ".json")


def trained_on(path: Path) -> list[dict[str, Any]] | None:
    """Where the cached ensemble at ``path`` was trained: ``[{"from_update", "cpu", "threads"}, ...]``, one entry per
    stretch of updates (a training resumed on another machine has two; ``cpu`` None: a stretch trained before the
    field existed, machine unknown); None for an ensemble cached without it. Records carry it as
    ``world_model_trained_on``: results are identical on one CPU type, not across types."""
    side = _segments_path(path)
    return json.loads(side.read_text())["segments"] if side.exists() else None


def _wm_bar(ctx, total: int, path: Path, start: int):
    """The progress bar of a world model's training over ``total`` updates from update ``start`` (None without one)."""
    if not hasattr(ctx, "progress"):
        return None
    return ctx.progress(total, desc=f"world model {path.stem}" + (f" from update {start:,}" if start else ""))


def _train_world_model(wm: WorldModelEnsemble, data, path: Path, ctx) -> None:
    """Train ``wm`` on ``data`` and store it at ``path`` (atomic). Resumable: the training state goes to
    ``<path>.partial`` every ``WM_SAVE_EVERY`` updates and a killed training resumes from it (bit for bit,
    WorldModelEnsemble.fit), so hours of a large ensemble on a CPU are never lost."""
    partial = path.with_name(path.name + ".partial")
    resumed = partial.exists()
    # the bar counts this process's updates (its ETA from their rate): a resumed training's starts at the first call
    bars = [] if resumed else [_wm_bar(ctx, wm.cfg.n_updates, path, 0)]
    earlier = (trained_on(partial) or [{"from_update": 0, "cpu": None, "threads": None}]) if resumed else []
    segments: list[dict[str, Any]] = []

    def on_updates(n: int) -> None:
        # fit calls this right after loading the partial (n = its step) and after each chunk, the chunk's state
        # just written to the partial: the segments written beside it describe that state
        if not segments:
            here = {
                "from_update": wm.step if resumed else 0,
                "cpu": cpu_model(),
                "threads": current_threads(),
            }
            segments.extend([*earlier, here])
        atomic_write_text(_segments_path(partial), json.dumps({"segments": segments}))
        if not bars:  # the restored step: the bar covers the updates left
            bars.append(_wm_bar(ctx, wm.cfg.n_updates - n, path, n))
        elif bars[0] is not None:
            bars[0].update(n)

    try:
        with torch.random.fork_rng(devices=[]):
            wm.fit(data, partial=partial, save_every=wm_save_every(wm.cfg.hidden), on_updates=on_updates)
    finally:
        if bars and bars[0] is not None:
            bars[0].close()
    atomic_torch_save(wm.state_dict(), path)
    atomic_write_text(_segments_path(path), json.dumps({"segments": segments}))
    partial.unlink(missing_ok=True)
    _segments_path(partial).unlink(missing_ok=True)


class ProbeContext:
    """The slice of a run context (common.running.experiment) that ``world_model`` / ``moma_model`` read, for scripts that
    build a cell's model outside a run (wm_probe.py, critic_probe.py): the device and a progress bar (as a run's:
    common.running.progress.progress_bar)."""

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = str(device)

    def progress(self, total: int, desc: str | None = None):
        from common.running.progress import progress_bar

        return progress_bar(total, desc or "world model")


# world-model updates between two writes of the resumable training state, about every 10 minutes of one CPU thread
# or less (measured per update: 4 x 256 0.19 s, 4 x 512 0.62 s, 4 x 1024 2.1 s; README "Cost and the benchmark")
WM_SAVE_EVERY = 500


def wm_save_every(hidden: int) -> int:
    """Updates between two writes of the training state for heads ``hidden`` wide: 500 up to 512 (<= 5.2 min),
    250 above (the code's 1024: 8.75 min; a write of its state with Adam's moments is ~250 MB)."""
    return WM_SAVE_EVERY if hidden <= 512 else WM_SAVE_EVERY // 2


def moma_model(cfg: Mapping[str, Any], data, ctx, saved: Mapping[str, Any] | None):
    """The cell's model: the ground-truth simulator (App. B.2 ablation) or the world-model ensemble."""
    if cfg.get("simulator") == "ground_truth":  # the App. B.2 ablation: the true physics instead of the model
        wm = GroundTruthSimulator(cfg["dataset"]["env"], cfg["dataset"]["env_options"], ctx.device)
        if saved is not None:
            wm.load_state_dict(saved["world_model"])
        return wm
    if cfg.get("simulator") is not None:
        raise ValueError(f"simulator={cfg['simulator']!r} is not allowed; allowed: 'ground_truth' (or none)")
    return world_model(cfg, data, ctx, saved)
