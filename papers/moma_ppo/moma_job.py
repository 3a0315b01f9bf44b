"""MOMA-PPO's run as a job (Tables 3, 4a, 4b, Figure 6 and the ablations): on the cell's model (common to the runs of a
dataset: papers/moma_ppo/cell_model.py), its MAPPO learner; the training loop of Algorithm 1 (synthetic rollouts, then
MAPPO updates) alone (``moma_run``) and with several runs stacked as one learner (``moma_run_group``, ``--group``);
greedy evaluations and the record's metrics.

Every record also carries ``score_last20pct`` in its extra: the mean of the last 20 % of the run's evaluations, the
default per-seed score of the authors' benchmarking tool (alfred ``benchmark.py``,
``performance_aggregation='mean_on_last_20_percents'``; papers/moma_ppo/README.md, IBC on neutral).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from common.algos.mappo import MAPPO, MAPPOConfig
from common.networks.history import DatasetHistories
from common.running.offline import evaluate_policies, run_metrics
from common.running.records import canonical_json, to_jsonable
from papers.moma_ppo.cell_data import load_dataset
from papers.moma_ppo.cell_model import check_checkpoint_model, model_checkpoint, moma_model
from papers.moma_ppo.moma_ppo import RolloutConfig, moma_iteration, start_generators
from papers.moma_ppo.simulator import GroundTruthSimulator
from papers.moma_ppo.worldmodel import WorldModelEnsemble


def last_fraction(curve, fraction: float = 0.2) -> float | None:
    """Mean score of the last ``fraction`` of a run's evaluations (alfred's 'mean_on_last_20_percents':
    ``np.mean(data[int(0.8 * len(data)):])``)."""
    scores = [float(p["score"]) for p in curve if p.get("score") is not None]
    if not scores:
        return None
    return float(np.mean(scores[int((1.0 - fraction) * len(scores)) :]))


def moma_learner(cfg: Mapping[str, Any], data, seed: int, ctx, obs_data, saved: Mapping[str, Any] | None):
    """A run's MAPPO learner, start-state generator and progress (step, rollout lengths, largest |synthetic obs|),
    built from its seed and resumed from its checkpoint. With ``mappo.obs_norm`` the input statistics are frozen
    from the dataset's observations [I] (README)."""
    policy = MAPPO(
        data.obs_dims,
        data.act_dims,
        1,
        MAPPOConfig(**cfg["mappo"]),
        seeds=[seed],
        n_actions=data.card.get("n_actions"),
        device=ctx.device,
    )
    gen = start_generators([seed], ctx.device)[0]
    if policy.cfg.obs_norm:  # frozen from the dataset (a checkpoint holds the same statistics)
        policy.set_obs_stats(obs_data[None])
    # rollout length per iteration; largest |next obs|
    progress = {"step": 0, "lengths": [], "obs_absmax": 0.0}
    if saved is not None:
        policy.load_state_dict(saved["mappo"])
        gen.set_state(saved["starts"][0].cpu())
        progress = {
            "step": int(saved["step"]),
            "lengths": list(saved.get("lengths", [])),
            "obs_absmax": float(saved.get("obs_absmax", 0.0)),
        }
    return policy, gen, progress


def moma_histories(policy: MAPPO, data, obs_data, device) -> DatasetHistories | None:
    """With mappo.memory_len L > 0: the dataset's L-step histories of the start states ([code] memory 10)."""
    if policy.memory_len == 0:
        return None
    return DatasetHistories(
        obs_data,
        torch.as_tensor(data.actions, device=device),
        data.terminals,
        data.timeouts,
        length=policy.memory_len,
    )


def _iteration_stats(m: Mapping[str, Any], r: int) -> dict[str, float]:
    """Run r's (seed index r's) synthetic-batch readings of one MOMA-PPO iteration."""
    return {
        "rollout_len_mean": m["rollout_len_mean"][r],
        "synthetic_reward": float(m["rewards"][r]),
        "penalty_mean": m["penalty_mean"][r],
        "cut_fraction": m["cut_fraction"][r],
        "action_sq": m["action_sq"][r],
    }


def _moma_log(ctx, step: int, score: float, m: Mapping[str, Any], r: int) -> None:
    ctx.log(
        step,
        score=score,
        rollout_len=m["rollout_len_mean"][r],
        reward=float(m["rewards"][r]),
        value=float(m["value"][r]),
        penalty=m["penalty_mean"][r],
        cut=m["cut_fraction"][r],
        action_sq=m["action_sq"][r],
    )


def _moma_metrics(ctx, data, wm, stats: Mapping[str, float], progress: Mapping[str, Any]) -> dict[str, Any]:
    """The record's metrics of a finished MOMA-PPO run."""
    # score, curve, readings, normalized ones (Reacher), identity
    out: dict[str, Any] = run_metrics(ctx.curve, data)
    model = (
        {"simulator": "ground_truth"}
        if isinstance(wm, GroundTruthSimulator)
        else {
            "world_model_sha256": wm.checksum(),
            "wm_elites": wm.elites[0].tolist(),
            # where the cached ensemble trained (cell_model.trained_on; None: cached before it was recorded)
            "world_model_trained_on": getattr(wm, "trained_on", None),
        }
    )
    lengths = progress["lengths"]
    out.update(
        {
            **model,
            **stats,
            "rollout_len_run_mean": float(np.mean(lengths)) if lengths else None,
            "wm_obs_absmax": progress["obs_absmax"],
            "data_obs_absmax": float(np.abs(data.obs).max()),
        }
    )
    out["score_last20pct"] = last_fraction(ctx.curve)
    return out


# greedy evaluation of each seed of a policy on its own episodes (eval_seed(seed)): the offline runner's
eval_moma = evaluate_policies


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
            if ctx.checkpoint_due(step, cfg["ckpt_every"], U):
                ctx.save_checkpoint(
                    {
                        "mappo": policy.state_dict(),
                        "world_model": model_checkpoint(wm),
                        "starts": [gen.get_state()],
                        "step": step,
                        "lengths": progress["lengths"],
                        "obs_absmax": progress["obs_absmax"],
                    },
                    step=step,
                )
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
    return canonical_json(
        to_jsonable(
            {
                "moma_ppo": shared,
                "env": ds.get("env"),
                "env_options": ds.get("env_options"),
                "return_mode": ds.get("return_mode"),
            }
        )
    )


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
            # weights from the cache; each run's elite stream below
            wm = moma_model(cell.config, data, ctx, None)
            obs_data = torch.as_tensor(data.obs, device=dev)
            cells[key] = {
                "data": data,
                "wm": wm,
                "fresh": wm.gen.get_state(),
                "obs": obs_data,
                "group": len(cells),
            }
    cfg = runs[0][0].config
    parts = []
    for cell, seed, ctx in runs:
        c = cells[canonical_json(to_jsonable(cell.config))]
        saved = ctx.load_checkpoint()
        policy, gen, progress = moma_learner(cell.config, c["data"], seed, ctx, c["obs"], saved)
        wm_gen = torch.Generator(device=c["wm"].gen.device)
        # as alone: cache or ckpt
        if saved is not None:
            check_checkpoint_model(saved["world_model"], c["wm"])
        wm_gen.set_state(c["fresh"] if saved is None else saved["world_model"]["rng"])
        parts.append(
            {
                "policy": policy,
                "gen": gen,
                "wm_gen": wm_gen,
                "progress": progress,
                "stats": {},
                "cell": c,
                "hist": moma_histories(policy, c["data"], c["obs"], dev),
            }
        )
    several = len(cells) > 1
    wm = (
        WorldModelEnsemble.stack([c["wm"] for c in cells.values()])
        if several
        else next(iter(cells.values()))["wm"]
    )
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
                if ctxs[0].checkpoint_due(step, cfg["ckpt_every"], U):
                    for i, (r, state) in enumerate(zip(rs, stack.split_state())):
                        pg, own = parts[r]["progress"], parts[r]["cell"]["wm"]
                        ctxs[i].save_checkpoint(
                            {
                                "mappo": state,
                                "world_model": {**model_checkpoint(own), "rng": wm_gens[i].get_state()},
                                "starts": [gens[i].get_state()],
                                "step": step,
                                "lengths": pg["lengths"],
                                "obs_absmax": pg["obs_absmax"],
                            },
                            step=step,
                        )
    return [
        _moma_metrics(ctx, part["cell"]["data"], part["cell"]["wm"], part["stats"], part["progress"])
        for (_, _, ctx), part in zip(runs, parts)
    ]
