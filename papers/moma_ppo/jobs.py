"""MOMA-PPO's jobs for common.running.experiment: the Table 1 statistics job, the ICG cell configs, the Table 3 job, and the
Reacher (Table 4a) and Ant (Table 4b) cell configs and job (the baselines through common.running.offline's generic job;
MOMA-PPO: world model, then synthetic rollouts + MAPPO).

A Table 3 baseline cell config (``icg_baseline_config``, common.running.offline's layout):
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
A Table 4a baseline cell config (``reacher_baseline_config``, common.running.offline's layout, the learner named per cell):
  dataset        ``reacher_spec(obs_mode, profile)``: the expert-mix of papers/moma_ppo/reacher.py split per agent
  learner        iql_continuous (iql, maiql, ibc), matd3bc, or itd3 (itd3bc, icql, iomar): config.T4A_LEARNERS
  <learner>      its config fields (ContinuousIQLConfig / MATD3BCConfig / ITD3Config via moma_ppo_preset)
  method, updates, eval_every, eval_episodes (100: §6), ckpt_every
A Table 4a MOMA-PPO cell config (``reacher_moma_config``): as the ICG's, with the Reacher world model (the code's
MaMuJoCo settings: clipping to the dataset box, l_eps = 2, lambda_g 0.1, lambda_r 0.05), k = 10, Gaussian MAPPO with
normalized inputs (config.MAPPO_REACHER).
A Table 4b cell (``ant_baseline_config`` / ``ant_moma_config``): Table 4a's layouts on the Ant data (``ant_spec``:
common.datasets.mujoco's kind split per agent for obs_mode full / partial; IQL, MAIQL(-ft) and IBC on rewards x 1000 /
(max - min episode return), the code's scaling), the learners of config.T4B_LEARNERS, the profile's t4b_* scales;
the job is Table 4a's but for MAIQL-ft, whose cell adds a ``finetune`` section (maiql_ft.FineTuneConfig fields: the
fine-tuning updates after the ``updates`` offline ones) and runs ``maiql_ft.maiql_ft_run`` (offline MAIQL, then
online fine-tuning with rollouts in the ground-truth simulator), alone (never stacked by --group).
A Figure 6 / App. B.2 cell (``ant_moma_variant_config``): Table 4b's MOMA-PPO cell plus ``wm_sampling`` (overrides of
the WorldModelConfig fields only ``sample`` reads: WM_SAMPLING_FIELDS; the trained ensemble and its cache are Table
4b's), another rollout ``k``, or ``simulator: "ground_truth"`` (papers/moma_ppo/simulator.py, no world model).
Every record also carries ``score_last20pct`` in its extra: the mean of the last 20 % of the run's evaluations,
the default per-seed score of the authors' benchmarking tool (alfred ``benchmark.py``,
``performance_aggregation='mean_on_last_20_percents'``; papers/moma_ppo/README.md, IBC on neutral).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

import common.algos.iql  # noqa: F401 - registers the learner iql_discrete
import common.algos.iql_continuous  # noqa: F401 - registers iql_continuous (Table 4a's IQL, MAIQL, IBC)
import common.algos.matd3bc  # noqa: F401 - registers matd3bc (Table 4a's MATD3+BC); itd3 is built in
from common.algos.itd3_presets import moma_ppo_preset
from common.algos.mappo import MAPPO, MAPPOConfig
from common.datasets.card import data_root
from common.networks.history import DatasetHistories
from common.running.evaluate import eval_seed, evaluate
from common.running.experiment import Job
from common.running.offline import (
    data_identity_of,
    dataset_of,
    group_key_of,
    identity_of,
    offline_run,
    offline_run_group,
    run_metrics,
)
from common.running.profiles import Profile
from common.running.records import atomic_torch_save, canonical_json, config_hash, to_jsonable
from papers.moma_ppo import config as C
from papers.moma_ppo.datasets import icg_spec, load_spec, table1_stats
from papers.moma_ppo.maiql_ft import FineTuneConfig, maiql_ft_run
from papers.moma_ppo.moma_ppo import RolloutConfig, moma_iteration, start_generators
from papers.moma_ppo.simulator import GroundTruthSimulator
from papers.moma_ppo.worldmodel import WorldModelConfig, WorldModelEnsemble

BASELINE_LEARNER = common.algos.iql.LEARNER_NAME


REACHER_SOURCE = "papers.moma_ppo.reacher"
REACHER_BUILD_AT = ("smoke",)  # profiles at which a missing Reacher dataset is built by the item (seconds)


def reacher_spec(obs_mode: str, profile: str) -> dict[str, Any]:
    """The ``dataset`` spec of a Table 4a cell: the profile's expert-mix (papers/moma_ppo/reacher.py) split per agent
    for ``obs_mode`` (what evaluation needs: env, env_options, return_mode; and which data). return_mode "mean": the
    team reward is copied to both agents, so "sum" would count it twice (the paper's -11.14 / -4.24 are one copy)."""
    from papers.moma_ppo.reacher import VERSION

    if obs_mode not in C.REACHER_OBS_MODES:
        raise ValueError(f"obs_mode={obs_mode!r} is not allowed; allowed: {', '.join(C.REACHER_OBS_MODES)}")
    return {"env": C.REACHER_ENV, "env_options": {"obs_mode": obs_mode}, "return_mode": "mean",
            "kind": C.T4A_DATASET, "profile": profile, "source": REACHER_SOURCE, "version": VERSION}


def load_dataset(spec: Mapping[str, Any]):
    """The dataset a cell's ``dataset`` spec names: an ICG dataset (generated if missing), a Reacher or an Ant dataset
    (built if missing at smoke only; at quick / full a FileNotFoundError names the command that builds it)."""
    if spec.get("source") == ANT_SOURCE:
        return load_ant(spec)
    if spec.get("source") == REACHER_SOURCE:
        from papers.moma_ppo.reacher import reacher_dataset

        return reacher_dataset(spec["kind"], spec["env_options"]["obs_mode"], spec["profile"],
                               build_missing=spec["profile"] in REACHER_BUILD_AT)
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
        raise ValueError(f"wm_sampling fields {bad} are not allowed; allowed (read by sample only): "
                         f"{', '.join(WM_SAMPLING_FIELDS)}")
    if section.get("threshold") == "inf":
        section["threshold"] = math.inf
    return section


def _with_sampling(state: Mapping[str, Any], sampling: Mapping[str, Any]) -> dict[str, Any]:
    """A saved ensemble's state with the sampling-only fields of its cfg replaced by ``sampling`` (they never enter
    training, so one trained ensemble serves every sampling variant)."""
    return {**state, "cfg": {**state["cfg"], **sampling}}


def world_model(cfg: Mapping[str, Any], data, ctx, saved: Mapping[str, Any] | None) -> WorldModelEnsemble:
    """The cell's ensemble: from the run's checkpoint, else from the cache, else trained on the dataset (seeded by
    wm_seed alone, so every MOMA-PPO seed of a dataset uses the same ensemble) and cached. The cell's
    ``wm_sampling`` overrides apply to ``sample`` only (the cache is named by the ``world_model`` section)."""
    wcfg = WorldModelConfig(**{**cfg["world_model"], **wm_sampling_of(cfg)})
    wm = WorldModelEnsemble.for_datasets(data, wcfg, seeds=[int(cfg["wm_seed"])], device=ctx.device)
    sampling = {f: getattr(wcfg, f) for f in WM_SAMPLING_FIELDS}
    path = wm_cache_path(cfg, data)
    if saved is not None:
        wm.load_state_dict(_with_sampling(saved["world_model"], sampling))
        return wm
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:  # one trainer per ensemble; the others wait
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            _train_world_model(wm, data, path, ctx)
    wm.load_state_dict(_with_sampling(torch.load(path, map_location=ctx.device, weights_only=False), sampling))
    return wm  # loaded back from the cache (sha256 checked on load): a fresh and a cached run see the same ensemble


def _train_world_model(wm: WorldModelEnsemble, data, path: Path, ctx) -> None:
    """Train ``wm`` on ``data`` and store it at ``path`` (atomic). Resumable: the training state goes to
    ``<path>.partial`` every ``WM_SAVE_EVERY`` updates and a killed training resumes from it (bit for bit,
    WorldModelEnsemble.fit), so hours of a large ensemble on a CPU are never lost."""
    partial = path.with_name(path.name + ".partial")
    bar = ctx.progress(wm.cfg.n_updates, desc=f"world model {path.stem}") if hasattr(ctx, "progress") else None
    try:
        with torch.random.fork_rng(devices=[]):
            wm.fit(data, partial=partial, save_every=WM_SAVE_EVERY, on_updates=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    atomic_torch_save(wm.state_dict(), path)
    partial.unlink(missing_ok=True)


class ProbeContext:
    """The slice of a run context (common.running.experiment) that ``world_model`` / ``moma_model`` read, for scripts that
    build a cell's model outside a run (wm_probe.py, critic_probe.py): the device and a progress bar (a tqdm bar on a
    terminal, as a run's)."""

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = str(device)

    def progress(self, total: int, desc: str | None = None):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=bool(os.environ.get("CI")) or not sys.stderr.isatty(), leave=False)


WM_SAVE_EVERY = 500  # world-model updates between two writes of the resumable training state (4 x 256: ~1.5 min)


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


def moma_learner(cfg: Mapping[str, Any], data, seed: int, ctx, obs_data, saved: Mapping[str, Any] | None):
    """A run's MAPPO learner, start-state generator and progress (step, rollout lengths, largest |synthetic obs|),
    built from its seed and resumed from its checkpoint. With ``mappo.obs_norm`` the input statistics are frozen
    from the dataset's observations [I] (README)."""
    policy = MAPPO(data.obs_dims, data.act_dims, 1, MAPPOConfig(**cfg["mappo"]), seeds=[seed],
                   n_actions=data.card.get("n_actions"), device=ctx.device)
    gen = start_generators([seed], ctx.device)[0]
    if policy.cfg.obs_norm:  # frozen from the dataset (a checkpoint holds the same statistics)
        policy.set_obs_stats(obs_data[None])
    progress = {"step": 0, "lengths": [], "obs_absmax": 0.0}  # rollout length per iteration; largest |next obs|
    if saved is not None:
        policy.load_state_dict(saved["mappo"])
        gen.set_state(saved["starts"][0].cpu())
        progress = {"step": int(saved["step"]), "lengths": list(saved.get("lengths", [])),
                    "obs_absmax": float(saved.get("obs_absmax", 0.0))}
    return policy, gen, progress


def moma_histories(policy: MAPPO, data, obs_data, device) -> DatasetHistories | None:
    """With mappo.memory_len L > 0: the dataset's L-step histories of the start states ([code] memory 10)."""
    if policy.memory_len == 0:
        return None
    return DatasetHistories(obs_data, torch.as_tensor(data.actions, device=device), data.terminals, data.timeouts,
                            length=policy.memory_len)


def _iteration_stats(m: Mapping[str, Any], r: int) -> dict[str, float]:
    """Run r's (seed index r's) synthetic-batch readings of one MOMA-PPO iteration."""
    return {"rollout_len_mean": m["rollout_len_mean"][r], "synthetic_reward": float(m["rewards"][r]),
            "penalty_mean": m["penalty_mean"][r], "cut_fraction": m["cut_fraction"][r]}


def _moma_log(ctx, step: int, score: float, m: Mapping[str, Any], r: int) -> None:
    ctx.log(step, score=score, rollout_len=m["rollout_len_mean"][r], reward=float(m["rewards"][r]),
            value=float(m["value"][r]), penalty=m["penalty_mean"][r], cut=m["cut_fraction"][r])


def _moma_metrics(ctx, data, wm, stats: Mapping[str, float], progress: Mapping[str, Any]) -> dict[str, Any]:
    """The record's metrics of a finished MOMA-PPO run."""
    out: dict[str, Any] = run_metrics(ctx.curve, data)  # score, curve, readings, normalized ones (Reacher), identity
    model = ({"simulator": "ground_truth"} if isinstance(wm, GroundTruthSimulator)
             else {"world_model_sha256": wm.checksum(), "wm_elites": wm.elites[0].tolist()})
    lengths = progress["lengths"]
    out.update({**model, **stats,
                "rollout_len_run_mean": float(np.mean(lengths)) if lengths else None,
                "wm_obs_absmax": progress["obs_absmax"], "data_obs_absmax": float(np.abs(data.obs).max())})
    out["score_last20pct"] = last_fraction(ctx.curve)
    return out


def eval_moma(policy: MAPPO, cfg: Mapping[str, Any], seeds: Sequence[int]) -> list[float]:
    """Greedy evaluation of each seed of ``policy`` on its own episodes (eval_seed(seed))."""
    ds = cfg["dataset"]
    r = evaluate(policy.policy(), ds["env"], len(seeds), cfg["eval_episodes"], [eval_seed(s) for s in seeds],
                 return_mode=ds["return_mode"], env_options=ds["env_options"], max_steps=cfg.get("eval_max_steps"))
    return [float(x) for x in r.mean]


def moma_run(cell, seed: int, ctx) -> dict[str, Any]:
    """Train MOMA-PPO on the cell's dataset (ICG, Reacher or Ant) and return the record's metrics (Algorithm 1; eval
    greedy)."""
    cfg = cell.config
    data = load_dataset(cfg["dataset"])
    saved = ctx.load_checkpoint()
    wm = moma_model(cfg, data, ctx, saved)
    obs_data = torch.as_tensor(data.obs, device=ctx.device)  # [T, N, O] the start states
    policy, gen, progress = moma_learner(cfg, data, seed, ctx, obs_data, saved)
    hist = moma_histories(policy, data, obs_data, ctx.device)
    rollouts = RolloutConfig(**cfg["rollouts"]).validate()
    step, U, k = progress["step"], int(cfg["iterations"]), int(cfg["eval_every"])
    stats: dict[str, float] = {}
    with ctx.progress(U - step) as bar:
        while step < U:
            m = moma_iteration(wm, policy, obs_data, rollouts, [gen], hist)
            step += 1
            bar.update(1)
            if step % k == 0 or step == U:
                _moma_log(ctx, step, eval_moma(policy, cfg, [seed])[0], m, 0)
                stats = _iteration_stats(m, 0)
            progress["lengths"].append(m["rollout_len_mean"][0])
            progress["obs_absmax"] = max(progress["obs_absmax"], m["obs_absmax"][0])
            if step % cfg["ckpt_every"] == 0 and step < U:
                ctx.save_checkpoint({"mappo": policy.state_dict(), "world_model": wm.state_dict(),
                                     "starts": [gen.get_state()], "step": step, "lengths": progress["lengths"],
                                     "obs_absmax": progress["obs_absmax"]}, step=step)
    return _moma_metrics(ctx, data, wm, stats, progress)


def moma_group_key(cfg: Mapping[str, Any]) -> str | None:
    """Cells as members (common/running/grouping.py, ``--group``): MOMA-PPO runs whose cells differ at most in the dataset
    (its kind; env, env options and return mode stay: one evaluation env and one observation layout) train as one
    stacked MAPPO (``moma_run_group``), each on its own cell's data and ensemble. None (alone) for the ground-truth
    simulator (its MuJoCo steps are per row on the CPU: nothing to batch) and where two seeds' buffers (b to b + k
    rows: floor((b - c) / k) + 1 starts of up to k rows each after c < b rows) could hold different numbers of
    minibatches (they could not share Adam's step count): floor(b / B) != floor((b + k) / B)."""
    if cfg.get("method") != "moma_ppo" or cfg.get("simulator") is not None:
        return None
    roll, B = RolloutConfig(**cfg["rollouts"]), MAPPOConfig(**cfg["mappo"]).minibatch_size
    if roll.batch // B != (roll.batch + roll.k) // B:
        return None
    ds = cfg["dataset"]
    shared = {k: v for k, v in cfg.items() if k != "dataset"}
    return canonical_json(to_jsonable({"moma_ppo": shared, "env": ds.get("env"), "env_options": ds.get("env_options"),
                                       "return_mode": ds.get("return_mode")}))


def moma_run_group(runs: Sequence[tuple[Any, int, Any]]) -> list[dict[str, Any]]:
    """The runs ``[(cell, seed, ctx)]`` of one ``moma_group_key`` (seeds of one cell, or of cells that differ in
    their dataset): each run's learner, start generator and elite-choice stream built and resumed as ``moma_run``
    does, on its own cell's data and ensemble; those at one iteration count stacked (``MAPPO.stack``) and trained
    as one, each seed's rollouts drawn from its own streams and start table and stepped in its own cell's ensemble
    (``generate_rollouts(..., wm_gens=, wm_groups=)`` on ``WorldModelEnsemble.stack`` of the cells' ensembles when
    there are several); each run's evaluations, checkpoints (its own, in the format of a run alone) and metrics as
    ``moma_run``'s."""
    dev = runs[0][2].device
    cells: dict[str, dict[str, Any]] = {}  # one entry per distinct cell config: its data and ensemble
    for cell, _, ctx in runs:
        key = canonical_json(to_jsonable(cell.config))
        if key not in cells:
            data = load_dataset(cell.config["dataset"])
            wm = moma_model(cell.config, data, ctx, None)  # weights from the cache; each run's elite stream below
            obs_data = torch.as_tensor(data.obs, device=dev)
            cells[key] = {"data": data, "wm": wm, "fresh": wm.gen.get_state(), "obs": obs_data,
                          "group": len(cells)}
    cfg = runs[0][0].config
    parts = []
    for cell, seed, ctx in runs:
        c = cells[canonical_json(to_jsonable(cell.config))]
        saved = ctx.load_checkpoint()
        policy, gen, progress = moma_learner(cell.config, c["data"], seed, ctx, c["obs"], saved)
        wm_gen = torch.Generator(device=c["wm"].gen.device)
        wm_gen.set_state(c["fresh"] if saved is None else saved["world_model"]["rng"])  # as alone: cache or ckpt
        parts.append({"policy": policy, "gen": gen, "wm_gen": wm_gen, "progress": progress, "stats": {}, "cell": c,
                      "hist": moma_histories(policy, c["data"], c["obs"], dev)})
    several = len(cells) > 1
    wm = (WorldModelEnsemble.stack([c["wm"] for c in cells.values()]) if several
          else next(iter(cells.values()))["wm"])
    rollouts = RolloutConfig(**cfg["rollouts"]).validate()
    U, k = int(cfg["iterations"]), int(cfg["eval_every"])
    by_step: dict[int, list[int]] = {}
    for r, part in enumerate(parts):
        by_step.setdefault(part["progress"]["step"], []).append(r)
    for step, rs in by_step.items():
        stack = MAPPO.stack([parts[r]["policy"] for r in rs])
        seeds, ctxs = [runs[r][1] for r in rs], [runs[r][2] for r in rs]
        gens, wm_gens = [parts[r]["gen"] for r in rs], [parts[r]["wm_gen"] for r in rs]
        hist = None if parts[rs[0]]["hist"] is None else [parts[r]["hist"] for r in rs]
        if several:
            starts, groups = [parts[r]["cell"]["obs"] for r in rs], [parts[r]["cell"]["group"] for r in rs]
        else:
            starts, groups, hist = parts[rs[0]]["cell"]["obs"], None, None if hist is None else hist[0]
        with ctxs[0].progress(U - step, desc=f"stack of {len(rs)} runs") as bar:
            while step < U:
                m = moma_iteration(wm, stack, starts, rollouts, gens, hist, wm_gens=wm_gens, wm_groups=groups)
                step += 1
                bar.update(1)
                if step % k == 0 or step == U:
                    for i, (r, score) in enumerate(zip(rs, eval_moma(stack, cfg, seeds))):
                        _moma_log(ctxs[i], step, score, m, i)
                        parts[r]["stats"] = _iteration_stats(m, i)
                for i, r in enumerate(rs):
                    pg = parts[r]["progress"]
                    pg["lengths"].append(m["rollout_len_mean"][i])
                    pg["obs_absmax"] = max(pg["obs_absmax"], m["obs_absmax"][i])
                if step % cfg["ckpt_every"] == 0 and step < U:
                    for i, (r, state) in enumerate(zip(rs, stack.split_state())):
                        pg, own = parts[r]["progress"], parts[r]["cell"]["wm"]
                        ctxs[i].save_checkpoint({"mappo": state, "world_model": {**own.state_dict(),
                                                                                 "rng": wm_gens[i].get_state()},
                                                 "starts": [gens[i].get_state()], "step": step,
                                                 "lengths": pg["lengths"], "obs_absmax": pg["obs_absmax"]}, step=step)
    return [_moma_metrics(ctx, part["cell"]["data"], part["cell"]["wm"], part["stats"], part["progress"])
            for (_, _, ctx), part in zip(runs, parts)]


# ---- Table 3's job ---------------------------------------------------------------------------------------------
def table3_run(cell, seed: int, ctx) -> dict[str, Any]:
    """A Table 3 cell: MOMA-PPO (``moma_run``) or a baseline (common.running.offline's job on ``iql_discrete``)."""
    if cell.config["method"] == "moma_ppo":
        return moma_run(cell, seed, ctx)
    out = offline_run(cell, seed, ctx, learner=BASELINE_LEARNER, load=load_dataset)
    out["score_last20pct"] = last_fraction(out["curve"])
    return out


def _with_moma_groups(cfg: Mapping[str, Any], key=None) -> str | None:
    """A job's group key: ``moma_group_key`` for a MOMA-PPO cell, ``key`` (None: alone) for the others."""
    if cfg.get("method") == "moma_ppo":
        return moma_group_key(cfg)
    return key(cfg) if key is not None else None


def _run_moma_or(runs, run_group=None) -> list[dict[str, Any]]:
    """A job's run_group: ``moma_run_group`` for a MOMA-PPO group, ``run_group`` for the others (module level and
    partials only: the process and Ray launchers pickle the job)."""
    if runs[0][0].config.get("method") == "moma_ppo":
        return moma_run_group(runs)
    return run_group(runs)


# MOMA-PPO cells: each cell's seeds may train stacked (--group); the ICG baselines (iql_discrete) alone
table3_job = Job(run=table3_run, data_spec=dataset_of, data_identity=functools.partial(identity_of, load=load_dataset),
                 group_key=_with_moma_groups, run_group=moma_run_group)


# ---- Table 4a (Reacher expert-mix) and Table 4b (Ant) configs and jobs ------------------------------------------
def _opt(profile: Profile, prefix: str, key: str, default):
    """The profile's override ``<prefix>_<key>`` (prefix t4a: Table 4a, t4b: Table 4b), else ``default``."""
    return profile.overrides.get(f"{prefix}_{key}", default)


def _schedule(profile: Profile, prefix: str, steps: int, evals: int, episodes: int) -> dict[str, int]:
    every = max(1, steps // int(_opt(profile, prefix, "evals", evals)))
    out = {"eval_every": every, "eval_episodes": int(_opt(profile, prefix, "eval_episodes", episodes)),
           "ckpt_every": max(every, steps // 5)}
    if _opt(profile, prefix, "eval_max_steps", None) is not None:  # smoke only: 1,000-step Ant episodes cut short
        out["eval_max_steps"] = int(_opt(profile, prefix, "eval_max_steps", None))
    return out


def _t4a_schedule(profile: Profile, steps: int) -> dict[str, int]:
    return _schedule(profile, "t4a", steps, C.T4A_EVALS, C.T4A_EVAL_EPISODES)


def _baseline_section(profile: Profile, prefix: str, obs_mode: str, learner: str, base, memory: Mapping[str, int]
                      ) -> dict[str, Any]:
    """A baseline's learner section at ``profile``: the ITD3 family through moma_ppo_preset (no history encoder,
    itd3_presets.py), the IQL family / MATD3+BC with the profile's width and history length (FO row: memory
    ["full"], PO rows: memory["po"])."""
    width = _opt(profile, prefix, "width", None)
    if learner == "itd3":  # the code's TD3Learner: no history encoder here (itd3_presets.py)
        return moma_ppo_preset(base, **({"hidden": int(width)} if width is not None else {}))
    section = dict(base)
    if width is not None:
        section["hidden"] = [int(width)] * 2
    length = _opt(profile, prefix, "memory", memory)["full" if obs_mode == "full" else "po"]
    if int(length) != 10:
        section["memory_len"] = int(length)
    if int(length) > 0 and _opt(profile, prefix, "memory_dim", None) is not None:
        section["memory_dim"] = int(_opt(profile, prefix, "memory_dim", None))
    return section


def _check_method(table: str, method: str, learners: Mapping[str, Any]) -> None:
    if method not in learners:
        raise ValueError(f"unknown Table {table} baseline {method!r}; valid: {', '.join(learners)}")


def _check_baseline(table: str, method: str, obs_mode: str, learners: Mapping[str, Any],
                    rows_of: Mapping[str, Sequence[str]], obs_modes: Sequence[str]) -> tuple[str, Any]:
    """(learner, base) of a Table 4a / 4b baseline column, after checking that the row has the cell (IQL executes
    centrally: FO rows only). Call after checking the method (``_check_method``) and the obs_mode (the dataset spec)."""
    rows = rows_of.get(method, obs_modes)
    if obs_mode not in rows:
        raise ValueError(f"Table {table} has no {method!r} cell for obs_mode={obs_mode!r} (centralized execution needs "
                         f"the full state); valid: {', '.join(rows)}")
    return learners[method]


def _baseline_cell(profile: Profile, prefix: str, spec: Mapping[str, Any], obs_mode: str, method: str,
                   learner_base: tuple[str, Any], memory: Mapping[str, int], updates: int,
                   evals: int, episodes: int) -> dict[str, Any]:
    """A Table 4a / 4b baseline cell: the dataset spec, the learner's section and the profile's schedule."""
    learner, base = learner_base
    section = _baseline_section(profile, prefix, obs_mode, learner, base, memory)
    steps = int(_opt(profile, prefix, "updates", updates))
    return {"dataset": spec, "method": method, "learner": learner, learner: section, "updates": steps,
            **_schedule(profile, prefix, steps, evals, episodes)}


def reacher_baseline_config(profile: Profile, obs_mode: str, method: str) -> dict[str, Any]:
    """A Table 4a baseline cell (module docstring); ``method`` in config.T4A_LEARNERS, ``obs_mode`` in
    config.REACHER_OBS_MODES (IQL: "full" only)."""
    _check_method("4a", method, C.T4A_LEARNERS)
    spec = reacher_spec(obs_mode, profile.name)  # checks obs_mode
    lb = _check_baseline("4a", method, obs_mode, C.T4A_LEARNERS, C.T4A_ROWS_OF, C.REACHER_OBS_MODES)
    return _baseline_cell(profile, "t4a", spec, obs_mode, method, lb, C.T4A_MEMORY, C.T4A_UPDATES, C.T4A_EVALS,
                          C.T4A_EVAL_EPISODES)


def _moma_sections(profile: Profile, prefix: str, mappo_base: Mapping[str, Any], rollout_base: Mapping[str, int],
                   iterations: int) -> dict[str, Any]:
    """A MuJoCo MOMA-PPO cell's world_model / mappo / rollouts / iterations at ``profile`` (WorldModelConfig's
    defaults are the code's MaMuJoCo settings)."""
    wm: dict[str, Any] = {}
    if _opt(profile, prefix, "wm_width", None) is not None:
        wm["hidden"] = int(_opt(profile, prefix, "wm_width", None))
    if _opt(profile, prefix, "wm_layers", None) is not None:
        layers = int(_opt(profile, prefix, "wm_layers", None))
        wm.update(t_layers=layers, r_layers=layers, mask_layers=min(2, layers))
    if _opt(profile, prefix, "wm_updates", None) is not None:
        wm["n_updates"] = int(_opt(profile, prefix, "wm_updates", None))
    mappo = {**mappo_base, "memory_len": int(_opt(profile, prefix, "moma_memory", C.MOMA_MEMORY))}
    if _opt(profile, prefix, "mappo_width", None) is not None:
        mappo["hidden"] = [int(_opt(profile, prefix, "mappo_width", None))] * 2
    rollouts = {**rollout_base, "batch": int(_opt(profile, prefix, "moma_batch", rollout_base["batch"]))}
    return {"world_model": wm, "wm_seed": C.WM_SEED, "mappo": mappo, "rollouts": rollouts,
            "iterations": int(_opt(profile, prefix, "moma_iterations", iterations))}


def reacher_moma_config(profile: Profile, obs_mode: str) -> dict[str, Any]:
    """A Table 4a MOMA-PPO cell (module docstring): WorldModelConfig's defaults are the code's MaMuJoCo settings."""
    sec = _moma_sections(profile, "t4a", C.MAPPO_REACHER, C.MOMA_REACHER_ROLLOUT, C.MOMA_REACHER_ITERATIONS)
    return {"dataset": reacher_spec(obs_mode, profile.name), "method": "moma_ppo", **sec,
            **_t4a_schedule(profile, sec["iterations"])}


ANT_SOURCE = "common.datasets.mujoco"
ANT_BUILD_AT = ("smoke",)  # profiles at which a missing Ant dataset is built by the item (seconds)


def ant_spec(obs_mode: str, dataset: str, profile: str, reward_scale: bool = False) -> dict[str, Any]:
    """The ``dataset`` spec of a Table 4b cell: common.datasets.mujoco's Ant ``dataset`` (D4RL's protocol on Ant-v5)
    at ``profile``, split per agent for ``obs_mode``; ``reward_scale``: rewards x 1000 / (max - min episode return)
    ([code] for IQL, MAIQL(-ft) and BC on Ant, spec §3). The team return is every agent's copy of the reward
    (return_mode "mean"), the single-agent Ant return that D4RL's constants normalize."""
    from papers.moma_ppo.published import ANT_DATASETS

    if obs_mode not in C.ANT_OBS_MODES:
        raise ValueError(f"obs_mode={obs_mode!r} is not allowed; allowed: {', '.join(C.ANT_OBS_MODES)}")
    if dataset not in ANT_DATASETS:
        raise ValueError(f"dataset={dataset!r} is not an Ant dataset of Table 4b; allowed: {', '.join(ANT_DATASETS)}")
    spec = {"env": C.ANT_ENV, "env_options": {"obs_mode": obs_mode}, "return_mode": "mean", "kind": dataset,
            "profile": profile, "source": ANT_SOURCE, "task": "ant"}
    if reward_scale:
        spec["reward_scale"] = C.T4B_REWARD_SCALE
    return spec


def ant_missing(kinds, profile: str) -> str | None:
    """The command that builds the profile's missing Ant datasets among ``kinds`` (None when all are there, and at
    the profiles where the item builds them itself)."""
    from common.datasets.mujoco import dataset_base

    if profile in ANT_BUILD_AT:
        return None
    lack = [k for k in kinds if not dataset_base("ant", k, profile).with_name(
        dataset_base("ant", k, profile).name + ".json").exists()]
    if not lack:
        return None
    return (f"the Ant datasets {', '.join(lack)} (python -m common.datasets.mujoco --task ant "
            + " ".join(f"--kind {k}" for k in lack) + f" --profile {profile})")


def scale_rewards(data, scale: float):
    """``data`` with rewards x ``scale`` / (max - min episode return) ([code] IQL's locomotion normalization); the
    card names the factor and its sha256 is rehashed, so records of scaled and raw data never mix."""
    from common.datasets.dataset import Dataset

    returns = np.asarray(data.episode_returns, dtype=np.float64)
    span = float(returns.max() - returns.min())
    if not np.isfinite(span) or span <= 0:
        raise ValueError(f"{data.id}: cannot scale rewards, the episode returns span {span!r}")
    factor = float(scale) / span
    card = {**data.card, "reward_scale": {"rule": f"rewards x {scale:g} / (max - min episode return)",
                                          "factor": factor, "source_sha256": data.card["sha256"]}}
    card["sha256"] = hashlib.sha256(json.dumps([data.card["sha256"], "reward_scale", factor]).encode()).hexdigest()
    arrays = {**data.arrays, "rewards": (data.rewards * factor).astype(data.rewards.dtype),
              "episode_returns": returns * factor}
    return Dataset(arrays, card)


def load_ant(spec: Mapping[str, Any]):
    """The per-agent Ant dataset of a Table 4b spec (built if missing at smoke only; at quick / full a
    FileNotFoundError names the command that builds it)."""
    from common.datasets import mujoco

    kind, profile = spec["kind"], spec["profile"]
    base = mujoco.dataset_base("ant", kind, profile)
    if profile not in ANT_BUILD_AT and not base.with_name(base.name + ".json").exists():
        raise FileNotFoundError(f"needs {ant_missing([kind], profile)}")
    data = mujoco.split(mujoco.load("ant", kind, profile), C.ANT_ENV, **spec["env_options"])
    if spec.get("reward_scale") is not None:
        data = scale_rewards(data, float(spec["reward_scale"]))
    return data


def _t4b(profile: Profile, key: str, default):
    return _opt(profile, "t4b", key, default)


def _t4b_schedule(profile: Profile, steps: int) -> dict[str, int]:
    return _schedule(profile, "t4b", steps, C.T4B_EVALS, C.T4B_EVAL_EPISODES)


def ant_baseline_config(profile: Profile, obs_mode: str, dataset: str, method: str) -> dict[str, Any]:
    """A Table 4b baseline cell (Table 4a's layout on Ant); ``method`` in config.T4B_LEARNERS (IQL: FO rows only),
    ``obs_mode`` in config.ANT_OBS_MODES, ``dataset`` in published.ANT_DATASETS."""
    _check_method("4b", method, C.T4B_LEARNERS)
    spec = ant_spec(obs_mode, dataset, profile.name, reward_scale=method in C.T4B_REWARD_SCALED)  # checks both
    lb = _check_baseline("4b", method, obs_mode, C.T4B_LEARNERS, C.T4B_ROWS_OF, C.ANT_OBS_MODES)
    cfg = _baseline_cell(profile, "t4b", spec, obs_mode, method, lb, C.T4B_MEMORY, C.T4B_UPDATES, C.T4B_EVALS,
                         C.T4B_EVAL_EPISODES)
    if method == "maiql_ft":  # the fine-tuning phase (papers/moma_ppo/maiql_ft.py); evaluations as often as offline
        cfg["finetune"] = {"updates": int(_t4b(profile, "ft_updates", C.T4B_FT_UPDATES))}
        FineTuneConfig(**cfg["finetune"]).validate()
    return cfg


def ant_moma_config(profile: Profile, obs_mode: str, dataset: str) -> dict[str, Any]:
    """A Table 4b MOMA-PPO cell: Table 4a's on the Ant data (raw rewards, as the code's world model sees them)."""
    sec = _moma_sections(profile, "t4b", C.MAPPO_ANT, C.MOMA_ANT_ROLLOUT, C.MOMA_ANT_ITERATIONS)
    return {"dataset": ant_spec(obs_mode, dataset, profile.name), "method": "moma_ppo", **sec,
            **_t4b_schedule(profile, sec["iterations"])}


def ant_moma_variant_config(profile: Profile, obs_mode: str, dataset: str = C.F6_DATASET, *,
                            wm_sampling: Mapping[str, Any] | None = None, k: int | None = None,
                            simulator: str | None = None, mappo: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Figure 6 / App. B.2 cell: Table 4b's MOMA-PPO cell (``ant_moma_config``) with ``wm_sampling`` overrides of
    the world model's sampling (penalty weights, threshold "inf", clipping: WM_SAMPLING_FIELDS), another maximum
    rollout length ``k``, or ``simulator="ground_truth"`` (the true physics: no world model, no penalty, no cut).
    ``mappo`` overrides MAPPOConfig fields (our monotonic_mixer ablation). With no change it is exactly Table 4b's
    cell (same config hash), so its finished runs are reused."""
    cfg = ant_moma_config(profile, obs_mode, dataset)
    if mappo:
        cfg["mappo"] = {**cfg["mappo"], **mappo}
        MAPPOConfig(**cfg["mappo"]).validate()  # checks the fields now, not in the run
    if wm_sampling:
        cfg["wm_sampling"] = dict(wm_sampling)
        wm_sampling_of(cfg)  # checks the fields now, not in the run
    if k is not None:
        cfg["rollouts"] = {**cfg["rollouts"], "k": int(k)}
        RolloutConfig(**cfg["rollouts"]).validate()
    if simulator is not None:
        if simulator != "ground_truth" or wm_sampling:
            raise ValueError(f"simulator={simulator!r}: only 'ground_truth' is allowed, and without wm_sampling (the "
                             f"true physics has no penalty, threshold or clipping)")
        for key in ("world_model", "wm_seed"):
            del cfg[key]
        cfg["simulator"] = simulator
    return cfg


def table4a_run(cell, seed: int, ctx) -> dict[str, Any]:
    """A Table 4a cell: MOMA-PPO (``moma_run``) or a baseline (common.running.offline's job on the cell's learner)."""
    if cell.config["method"] == "moma_ppo":
        return moma_run(cell, seed, ctx)
    return offline_run(cell, seed, ctx, learner=None, load=load_dataset)


# baselines of one learner may train stacked (--group; common/running/grouping.py), and a MOMA-PPO cell's seeds
table4a_job = Job(run=table4a_run, data_spec=dataset_of, data_identity=functools.partial(identity_of, load=load_dataset),
                  group_key=functools.partial(_with_moma_groups, key=functools.partial(group_key_of, learner=None)),
                  run_group=functools.partial(_run_moma_or, run_group=functools.partial(offline_run_group, learner=None,
                                                                                          load=load_dataset)))


def table4b_run(cell, seed: int, ctx) -> dict[str, Any]:
    """A Table 4b cell: MAIQL-ft (offline MAIQL, then online fine-tuning in the true simulator: maiql_ft.py),
    otherwise as Table 4a's."""
    if cell.config["method"] == "maiql_ft":
        return maiql_ft_run(cell, seed, ctx, load=load_dataset)
    return table4a_run(cell, seed, ctx)


def table4b_group_key(cfg: Mapping[str, Any]) -> str | None:
    """Table 4a's baseline group key (baselines of one learner may stack, --group), None for MAIQL-ft (its online phase runs
    alone: common.running.offline's stacked loop has none)."""
    return None if cfg.get("method") == "maiql_ft" else group_key_of(cfg, learner=None)


table4b_job = Job(run=table4b_run, data_spec=dataset_of, data_identity=functools.partial(identity_of, load=load_dataset),
                  group_key=functools.partial(_with_moma_groups, key=table4b_group_key),
                  run_group=functools.partial(_run_moma_or, run_group=functools.partial(offline_run_group, learner=None,
                                                                                          load=load_dataset)))


def run_item(description: str, item: str, build_cells, job, argv=None, **main_kw):
    """common.running.cli.main for a MOMA-PPO item."""
    from common.running.cli import main as run_main

    return run_main(description, build_cells, job, "moma_ppo", item, paper_overrides=C.PROFILES, argv=argv,
                    **main_kw)

