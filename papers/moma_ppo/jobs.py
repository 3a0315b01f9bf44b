"""MOMA-PPO's jobs for common.experiment: the Table 1 statistics job, the ICG cell configs, and the Table 3 job
(the baselines through common.offline's generic job; MOMA-PPO: world model, then synthetic rollouts + MAPPO).

A Table 3 baseline cell config (``icg_baseline_config``, common.offline's layout):
  dataset        papers.moma_ppo.datasets.icg_spec(name, plays)
  iql_discrete   IQLConfig fields (common/algos/iql.py): method iql / maiql / bc (+ hidden at quick and smoke)
  method         the column key (iql, maiql, ibc)
  updates, eval_every, eval_episodes (100: §6), ckpt_every
A MOMA-PPO cell config (``icg_moma_config``):
  dataset, method "moma_ppo"
  world_model    WorldModelConfig fields (the ICG's: no clipping, no penalty; toy sizes at quick / smoke)
  wm_seed        the world model's seed (one ensemble per dataset, shared by every seed [code])
  mappo          MAPPOConfig fields (categorical policies)
  rollouts       RolloutConfig fields (k = 1, 2000 transitions)
  iterations, eval_every, eval_episodes, ckpt_every
Every record also carries ``score_last20pct`` in its extra: the mean of the last 20 % of the run's evaluations,
the default per-seed score of the authors' benchmarking tool (alfred ``benchmark.py``,
``performance_aggregation='mean_on_last_20_percents'``; papers/moma_ppo/README.md, IBC on neutral).
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

import common.algos.iql  # noqa: F401 - registers the learner iql_discrete
from common.algos.mappo import MAPPO, MAPPOConfig
from common.datacard import data_root
from common.evaluate import eval_seed, evaluate
from common.experiment import Job
from common.offline import data_identity_of, dataset_of, identity_of, offline_run, score_readings
from common.profiles import Profile
from common.records import config_hash
from papers.moma_ppo import config as C
from papers.moma_ppo.datasets import icg_spec, load_spec, table1_stats
from papers.moma_ppo.moma_ppo import RolloutConfig, moma_iteration, start_generators
from papers.moma_ppo.worldmodel import WorldModelConfig, WorldModelEnsemble

BASELINE_LEARNER = common.algos.iql.LEARNER_NAME


def load_dataset(spec: Mapping[str, Any]):
    """The dataset a cell's ``dataset`` spec names, loaded (generated if missing)."""
    return load_spec(spec)


def last_fraction(curve, fraction: float = 0.2) -> float | None:
    """Mean score of the last ``fraction`` of a run's evaluations (alfred's 'mean_on_last_20_percents':
    ``np.mean(data[int(0.8 * len(data)):])``)."""
    scores = [float(p["score"]) for p in curve if p.get("score") is not None]
    if not scores:
        return None
    return float(np.mean(scores[int((1.0 - fraction) * len(scores)):]))


# ---- Table 1 ---------------------------------------------------------------------------------------------------
def table1_run(cell, seed: int, ctx) -> dict[str, Any]:
    """A Table 1 cell: one statistic of one dataset (no training; the seed does not enter)."""
    data = load_dataset(cell.config["dataset"])
    st = table1_stats(data)
    q = cell.config["quantity"]
    return {"score": st[q], "se": st[f"se_{q}"], "n_plays": st["n_plays"], **data_identity_of(data)}


table1_job = Job(run=table1_run, data_spec=dataset_of, data_identity=functools.partial(identity_of, load=load_dataset))


# ---- Table 3 configs -------------------------------------------------------------------------------------------
def _plays(profile: Profile) -> int:
    return int(profile.overrides.get("icg_plays", C.ICG_PLAYS))


def icg_baseline_config(profile: Profile, dataset: str, method: str) -> dict[str, Any]:
    """A Table 3 baseline cell (module docstring); ``method`` in config.BASELINE_METHOD."""
    if method not in C.BASELINE_METHOD:
        raise ValueError(f"unknown ICG baseline {method!r}; valid: {', '.join(C.BASELINE_METHOD)}")
    o = profile.overrides
    updates = int(o.get("icg_updates", C.BASELINE_UPDATES))
    every = min(updates, int(o.get("icg_eval_every", C.BASELINE_EVAL_EVERY)))
    section: dict[str, Any] = {"method": C.BASELINE_METHOD[method]}
    if "icg_width" in o:
        section["hidden"] = [int(o["icg_width"])] * 2
    return {"dataset": icg_spec(dataset, _plays(profile)), "method": method, BASELINE_LEARNER: section,
            "updates": updates, "eval_every": every, "eval_episodes": C.ICG_EVAL_EPISODES,
            "ckpt_every": max(every, updates // 5)}


def icg_moma_config(profile: Profile, dataset: str) -> dict[str, Any]:
    """A Table 3 MOMA-PPO cell (module docstring)."""
    o = profile.overrides
    wm = dict(C.WM_ICG)
    if "icg_wm_width" in o:
        wm.update(hidden=int(o["icg_wm_width"]), t_layers=int(o["icg_wm_layers"]), r_layers=int(o["icg_wm_layers"]),
                  mask_layers=min(2, int(o["icg_wm_layers"])))
    if "icg_wm_updates" in o:
        wm["n_updates"] = int(o["icg_wm_updates"])
    mappo = dict(C.MAPPO_ICG)
    if "icg_mappo_width" in o:
        mappo["hidden"] = [int(o["icg_mappo_width"])] * 2
    iters = int(o.get("icg_moma_iterations", C.MOMA_ITERATIONS))
    every = min(iters, int(o.get("icg_moma_eval_every", C.MOMA_EVAL_EVERY)))
    return {"dataset": icg_spec(dataset, _plays(profile)), "method": "moma_ppo", "world_model": wm,
            "wm_seed": C.WM_SEED, "mappo": mappo, "rollouts": dict(C.MOMA_ROLLOUT), "iterations": iters,
            "eval_every": every, "eval_episodes": C.ICG_EVAL_EPISODES, "ckpt_every": max(every, iters // 5)}


# ---- MOMA-PPO's run --------------------------------------------------------------------------------------------
def wm_cache_path(cfg: Mapping[str, Any], data) -> Path:
    """Where the trained ensemble of (dataset, world_model config, wm_seed) is cached: under the dataset cache root,
    named by the dataset's sha256 and the config's hash ([code] one pre-trained ensemble per task, loaded by every
    MOMA-PPO seed: load_wm_ensemble)."""
    key = config_hash({"world_model": dict(cfg["world_model"]), "wm_seed": int(cfg["wm_seed"])})
    return data_root() / "moma_ppo" / "world_models" / f"{data.card['sha256'][:16]}-{key}.pt"


def _world_model(cfg: Mapping[str, Any], data, ctx, saved: Mapping[str, Any] | None) -> WorldModelEnsemble:
    """The cell's ensemble: from the run's checkpoint, else from the cache, else trained on the dataset (seeded by
    wm_seed alone, so every MOMA-PPO seed of a dataset uses the same ensemble) and cached."""
    wm = WorldModelEnsemble.for_datasets(data, WorldModelConfig(**cfg["world_model"]), seeds=[int(cfg["wm_seed"])],
                                         device=ctx.device)
    path = wm_cache_path(cfg, data)
    if saved is not None:
        wm.load_state_dict(saved["world_model"])
    elif path.exists():
        wm.load_state_dict(torch.load(path, map_location=ctx.device, weights_only=False))  # sha256 checked on load
    else:
        with torch.random.fork_rng(devices=[]):
            wm.fit(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        torch.save(wm.state_dict(), tmp)
        os.replace(tmp, path)
    return wm


def moma_run(cell, seed: int, ctx) -> dict[str, Any]:
    """Train MOMA-PPO on the cell's ICG dataset and return the record's metrics (Algorithm 1; eval greedy)."""
    cfg = cell.config
    data = load_dataset(cfg["dataset"])
    saved = ctx.load_checkpoint()
    wm = _world_model(cfg, data, ctx, saved)
    policy = MAPPO(data.obs_dims, data.act_dims, 1, MAPPOConfig(**cfg["mappo"]), seeds=[seed],
                   n_actions=data.card.get("n_actions"), device=ctx.device)
    rollouts = RolloutConfig(**cfg["rollouts"]).validate()
    gens = start_generators([seed], ctx.device)
    step = 0
    if saved is not None:
        policy.load_state_dict(saved["mappo"])
        for g, st in zip(gens, saved["starts"]):
            g.set_state(st)
        step = int(saved["step"])
    obs_data = torch.as_tensor(data.obs, device=ctx.device)
    ds = cfg["dataset"]
    U, k = int(cfg["iterations"]), int(cfg["eval_every"])
    stats: dict[str, float] = {}
    with ctx.progress(U - step) as bar:
        while step < U:
            m = moma_iteration(wm, policy, obs_data, rollouts, gens)
            step += 1
            bar.update(1)
            if step % k == 0 or step == U:
                r = evaluate(policy.policy(), ds["env"], 1, cfg["eval_episodes"], [eval_seed(seed)],
                             return_mode=ds["return_mode"], env_options=ds["env_options"])
                ctx.log(step, score=float(r.mean[0]), rollout_len=m["rollout_len_mean"],
                        reward=float(m["rewards"][0]), value=float(m["value"][0]))
                stats = {"rollout_len_mean": m["rollout_len_mean"], "synthetic_reward": float(m["rewards"][0])}
            if step % cfg["ckpt_every"] == 0 and step < U:
                ctx.save_checkpoint({"mappo": policy.state_dict(), "world_model": wm.state_dict(),
                                     "starts": [g.get_state() for g in gens], "step": step}, step=step)
    out: dict[str, Any] = {"score": ctx.curve[-1]["score"], "curve": list(ctx.curve), **data_identity_of(data),
                           "world_model_sha256": wm.checksum(), "wm_elites": wm.elites[0].tolist(), **stats}
    out.update(score_readings(ctx.curve))
    out["score_last20pct"] = last_fraction(ctx.curve)
    return out


# ---- Table 3's job ---------------------------------------------------------------------------------------------
def table3_run(cell, seed: int, ctx) -> dict[str, Any]:
    """A Table 3 cell: MOMA-PPO (``moma_run``) or a baseline (common.offline's job on ``iql_discrete``)."""
    if cell.config["method"] == "moma_ppo":
        return moma_run(cell, seed, ctx)
    out = offline_run(cell, seed, ctx, learner=BASELINE_LEARNER, load=load_dataset)
    out["score_last20pct"] = last_fraction(out["curve"])
    return out


table3_job = Job(run=table3_run, data_spec=dataset_of, data_identity=functools.partial(identity_of, load=load_dataset))


def run_item(description: str, item: str, build_cells, job, argv=None, **main_kw):
    """common.cli.main for a MOMA-PPO item."""
    from common.cli import main as run_main

    return run_main(description, build_cells, job, "moma_ppo", item, paper_overrides=C.PROFILES, argv=argv,
                    **main_kw)

