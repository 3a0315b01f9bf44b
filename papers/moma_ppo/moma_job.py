"""MOMA-PPO's run as a job (Tables 3, 4a, 4b, Figure 6 and the ablations): the cell's world-model ensemble (trained
once per dataset, world-model config and seed, and cached), or the ground-truth simulator; its MAPPO learner; the
training loop of Algorithm 1 (synthetic rollouts, then MAPPO updates) alone (``moma_run``) and with several runs
stacked as one learner (``moma_run_group``, ``--group``); greedy evaluations and the record's metrics.

Every record also carries ``score_last20pct`` in its extra: the mean of the last 20 % of the run's evaluations, the
default per-seed score of the authors' benchmarking tool (alfred ``benchmark.py``,
``performance_aggregation='mean_on_last_20_percents'``; papers/moma_ppo/README.md, IBC on neutral).
"""

from __future__ import annotations

import fcntl
import math
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from common.algos.mappo import MAPPO, MAPPOConfig
from common.datasets.card import data_root
from common.networks.history import DatasetHistories
from common.running.evaluate import eval_seed, evaluate
from common.running.offline import run_metrics
from common.running.records import atomic_torch_save, canonical_json, config_hash, to_jsonable
from papers.moma_ppo.cell_data import load_dataset
from papers.moma_ppo.moma_ppo import RolloutConfig, moma_iteration, start_generators
from papers.moma_ppo.simulator import GroundTruthSimulator
from papers.moma_ppo.worldmodel import WorldModelConfig, WorldModelEnsemble


def last_fraction(curve, fraction: float = 0.2) -> float | None:
    """Mean score of the last ``fraction`` of a run's evaluations (alfred's 'mean_on_last_20_percents':
    ``np.mean(data[int(0.8 * len(data)):])``)."""
    scores = [float(p["score"]) for p in curve if p.get("score") is not None]
    if not scores:
        return None
    return float(np.mean(scores[int((1.0 - fraction) * len(scores)):]))


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

