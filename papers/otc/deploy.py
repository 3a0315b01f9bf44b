"""OTC's online-tuning job: an offline-trained joint policy pi^0, then K deployments of M steps, each followed
by L fine-tuning updates on the merged data with the cell's sampler; one record per (cell, seed).

Paper: Jiang & Lu, AAAI 2023, Algorithm 1 and Sec. 4.1-4.3 ([P]); our choices where it is silent are [I] with the
spec's ids (papers/otc/README.md lists them). One seed's agents are the learner's members (m = agent i); every
agent learns on its own dataset B_i^k = B_i^0 u D_i^1 u ... u D_i^k: the full state (obs_mode "otc"), its own
action column only, the shared reward.

    for k = 1..K:                                                                   [P Algorithm 1]
        D^k   <- deploy pi^{k-1} (deterministic, no exploration) for M = 1 % |B^0| env steps   [P Sec. 4.1, 4.6; I C6]
        B^k   <- B^{k-1} u D^k
        alpha <- Eq. (4) from DD^k (OTC, adaptive)                                    [P; I C13]
        L updates, each on a batch of the sampler:
            uniform   128 rows uniform from B^k                                       [P Sec. 4.1: the baselines]
            otc       B (512 uniform from B^k), D (min(2000, |D^k|) from D^k, no repeats), d(s', s'*) by d_e or
                      d_q, 128 rows of B drawn by Eq. (3) with alpha                  [P Sec. 3.4-3.5; I C7-C12]
            online    128 rows uniform from D^1 u ... u D^k                           [P Fig. 5; I C16]
            br        Balanced Replay (Lee et al. 2021) as a sampler: 128 rows of B^k by priority, priorities from
                      a density-ratio net per agent (papers/otc/balanced_replay.py)   [P Fig. 5; I C16]
        S(pi^k) <- mean return of ``eval_episodes`` deterministic episodes on seeds apart from training [I C3]

[I C5] pi^0 (and d_e's CVAE trained offline on B^0) is cached by (data, learner config, offline updates, seed,
threads, device) under ``$OFFMARL_DATA/otc/offline/``, so every variant of a seed tunes the same pi^0 and the
improvement is paired; its offline training checkpoints itself there and resumes after a kill.
[I C6] Deployment k of seed s uses env seed DEPLOY_SEED_OFFSET + 1000 s + k for every variant (common random
numbers); the last episode is cut at M steps (``timeouts``).

Record: ``score`` = the improvement (%) 100 (S(pi^K) - S(pi^0)) / |S(pi^0)| [P Table 1; I C1]; the curve holds
S(pi^k), k = 0..K (``score``), the deployment returns and, for OTC, alpha_i^k and DD_i^k; ``extra`` holds S(pi^0),
S(pi^K) and both D4RL-normalized, ``near_zero_s0`` (|S(pi^0)| < 1 % of the reference range [I C2]) and the data
identity. A run checkpoints after every deployment phase and resumes there.

Cells as members (``--group N``, common/running/grouping.py): runs whose pi^0 trains with one groupable learner (BCQ,
AWAC, TD3+BC: common.running.offline.GROUPABLE), its section and offline length (``offline_group_key``; datasets, seeds and samplers may
differ) form one task, ``tuning_run_group``: the pi^0 of theirs not cached yet train as ONE stacked learner
(``train_offline_stack``: each run's rows and random stream as alone, partial checkpoints and the cache entry per
pi^0 exactly as ``offline_learner`` writes them, S(pi^0) evaluated on the run's own learner), then every run tunes
from the cache; the seeds of one cell then tune as one stack too (papers/otc/tuning_stack.py: each run deploys,
and draws as alone, the networks of all runs called once per update and the evaluations in one rollout; samplers uniform, online and otc;
Balanced Replay tunes alone). Records equal the runs alone's, bit for bit (tests/test_otc_deploy.py: the offline
stage of I-BCQ, AWAC and TD3+BC; tests/test_otc_tuning_stack.py: the tuning).

Where the parts are: this module holds the tuning loop (``tuning_run``, its resume and record), the group's
dispatch (``tuning_run_group``) and ``job``; the cell's data, deployments and evaluation are in
papers/otc/deploy_env.py, the offline stage (pi^0 and d_e's CVAE, cached; their stacked training) in
papers/otc/deploy_offline.py, both re-exported here; the samplers in papers/otc/sampler.py.

Shapes: M members (agents of one seed), T rows, n rows drawn, O obs dim, A action dim, N agents.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from common.datasets.returns import normalize
from common.running.experiment import Job
from common.running.offline import data_identity_of, dataset_of
from papers.otc.deploy_env import (
    DEPLOY_SEED_OFFSET,
    dataset_identity,
    deploy,
    deploy_size,
    env_options_at,
    evaluate_learner,
    evaluate_learners,
    load_dataset,
)
from papers.otc.deploy_offline import (
    CVAE_STREAM,
    OFFLINE_VERSION,
    offline_cvae,
    offline_dir,
    offline_group_key,
    offline_key,
    offline_learner,
    offline_paths,
    offline_stage,
    pi0_carried,
    train_offline,
    train_offline_stack,
)
from papers.otc.otc_metrics import improvement_percent, near_zero_baseline
from papers.otc.sampler import BATCH_KEYS, Sampler, stream_generator

__all__ = [
    "tuning_run",
    "resume_state",
    "tuning_metrics",
    "tuning_run_group",
    "job",
    # re-exported: the cell's data, deployments and evaluation (papers/otc/deploy_env.py)
    "DEPLOY_SEED_OFFSET",
    "load_dataset",
    "dataset_identity",
    "deploy_size",
    "env_options_at",
    "evaluate_learner",
    "evaluate_learners",
    "deploy",
    # re-exported: the offline stage (papers/otc/deploy_offline.py)
    "CVAE_STREAM",
    "OFFLINE_VERSION",
    "offline_key",
    "offline_dir",
    "offline_paths",
    "train_offline",
    "offline_learner",
    "offline_cvae",
    "offline_stage",
    "offline_group_key",
    "train_offline_stack",
    # re-exported: the samplers (papers/otc/sampler.py)
    "BATCH_KEYS",
    "Sampler",
    "stream_generator",
]


# ---- helpers ----------------------------------------------------------------------------------------------------


def _cat(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: torch.cat([a[k], b[k]], dim=0) for k in BATCH_KEYS}


# ---- the job -----------------------------------------------------------------------------------------------------


def _normalized(v: float | None, card) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    try:
        return float(normalize(v, card))
    except ValueError:
        return None


def resume_state(ctx, learner, sampler, tensors0, s0: float, device):
    """A tuning run's (merged rows, newest deployment, last finished phase): from its checkpoint (the learner and the
    sampler restored in place), else the offline rows alone at phase 0, logging pi^0's score ``s0``."""
    saved = ctx.load_checkpoint()
    if saved is None:
        ctx.log(0, score=s0)
        return dict(tensors0), None, 0
    learner.load_state_dict(saved["learner"])
    sampler.load_state_dict(saved["sampler"])
    online = {k: v.to(device) for k, v in saved["online"].items()}
    return _cat(tensors0, online), {k: v.to(device) for k, v in saved["newest"].items()}, int(saved["k"])


def tuning_run(cell, seed: int, ctx) -> dict[str, Any]:
    """Offline pi^0 (cached), then K deployments with L updates each (module docstring). Config keys: dataset,
    learner, <learner>, method, sampler, otc (OTC only), offline_updates, cvae_offline_updates (d_e),
    deployments, deploy_fraction, min_deploy, tune_updates, eval_episodes, eval_max_steps (optional)."""
    cfg = cell.config
    device = ctx.device
    data = load_dataset(cfg["dataset"])
    tensors0 = {k: v.to(device) for k, v in data.to_torch(device, keys=BATCH_KEYS).items()}
    learner, s0, cvae, cvae_gen, offline_s = offline_stage(cfg, data, tensors0, seed, device, ctx.progress)
    kind = str(cfg["sampler"])
    n0 = data.size
    m_steps = deploy_size(n0, cfg["deploy_fraction"], cfg.get("min_deploy", 1))
    K, L = int(cfg["deployments"]), int(cfg["tune_updates"])
    sizes = {"n_offline": n0, "capacity": n0 + K * m_steps}
    sampler = Sampler(kind, learner, {**cfg, **sizes}, seed, device, cvae, cvae_gen)
    merged, newest, k0 = resume_state(ctx, learner, sampler, tensors0, s0, device)
    for k in range(k0 + 1, K + 1):
        d_k = deploy(learner, cfg, seed, k, m_steps)
        newest = {key: v.to(device) for key, v in d_k.to_torch(device, keys=BATCH_KEYS).items()}
        merged = _cat(merged, newest)
        if hasattr(learner, "attach"):
            learner.attach(merged)
        info = sampler.start_phase(merged, newest)
        with ctx.progress(L, f"deployment {k}/{K}") as bar:
            for _ in range(L):
                learner.update(sampler.batch(merged, newest, n0))
                bar.update(1)
        ctx.log(
            k,
            score=evaluate_learner(learner, cfg, seed, k),
            deploy_return=float(d_k.card["returns"]["mean"]),
            online_rows=int(merged["obs"].shape[0] - n0),
            **info,
        )
        # every phase, the last too: a run that finished inside a group whose other runs are still going
        # resumes at its end if the group is killed (its record is written when the whole group ends)
        ctx.save_checkpoint(
            {
                "k": k,
                "learner": learner.state_dict(),
                "sampler": sampler.state_dict(),
                "online": {key: v[n0:].cpu() for key, v in merged.items()},
                "newest": {key: v.cpu() for key, v in newest.items()},
            },
            step=k,
        )
    return tuning_metrics(ctx, data, s0, m_steps, offline_s, pi0_carried(cfg, data, seed, device))


def tuning_metrics(
    ctx,
    data,
    s0: float,
    m_steps: int,
    offline_s: Mapping[str, float],
    carried: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record's metrics of a finished tuning run (its curve holds S(pi^0) .. S(pi^K)); ``offline_s``: the
    seconds of the offline parts this run trained ({"pi0": s, "cvae": s}; a part from the cache absent:
    ``offline_stage``); ``carried``: pi^0's card where it came from another session (``pi0_carried``), kept as
    ``pi0_carried``."""
    s_k = float(ctx.curve[-1]["score"])
    out: dict[str, Any] = {
        "score": improvement_percent(s0, s_k),
        "curve": list(ctx.curve),
        "s0": s0,
        "s_final": s_k,
        "normalized_s0": _normalized(s0, data.card),
        "normalized_s_final": _normalized(s_k, data.card),
        # the data's own mean return: t1_pi0_reasonable's yardstick where no published offline level exists
        "normalized_data_mean": _normalized((data.card.get("returns") or {}).get("mean"), data.card),
        "deploy_steps": m_steps,
        "offline_s": dict(offline_s),
        **data_identity_of(data),
    }
    if carried is not None:
        out["pi0_carried"] = dict(carried)
    refs = data.card.get("ref_scores") or {}
    if "random" in refs and "expert" in refs:
        out["near_zero_s0"] = bool(near_zero_baseline(s0, refs["random"], refs["expert"]))
    return out


def tuning_run_group(runs) -> list[dict[str, Any]]:
    """``Job.run_group``: the runs [(cell, seed, ctx)] of one group (equal ``offline_group_key``): their pi^0 not
    cached yet train as stacked learners (``train_offline_stack``; a pi^0 shared by several runs, e.g. the samplers
    of one seed, once); then the seeds of one cell tune as one stack (``tuning_stack.tuning_run_stack``: sampler
    uniform, online or otc) and every other run as alone (``tuning_run``, which finds its pi^0 cached)."""
    todo: dict[Path, tuple[Mapping[str, Any], Any, int, Any]] = {}
    first: dict[Path, int] = {}  # the first run to use each pi^0 trained here: its record names the stage
    for i, (cell, seed, ctx) in enumerate(runs):
        data = load_dataset(cell.config["dataset"])
        path = offline_paths(cell.config, data, seed, ctx.device)[0]
        if path not in todo and not path.exists():
            todo[path], first[path] = (cell.config, data, seed, ctx.device), i
    stack_s = 0.0
    if len(todo) > 1:
        t0 = time.perf_counter()
        train_offline_stack(list(todo.values()), runs[0][2].progress)
        stack_s = (time.perf_counter() - t0) / len(todo)  # each stacked pi^0's share
    else:
        first.clear()  # one pi^0 to train: its run trains it alone (offline_stage times it)
    todo.clear()
    from papers.otc.tuning_stack import stackable, tune_key, tuning_run_stack

    stacks: dict[str, list[int]] = {}  # one cell's seeds tune as one stack (papers/otc/tuning_stack.py)
    for i, (cell, _, _) in enumerate(runs):
        if stackable(cell.config):
            stacks.setdefault(tune_key(cell.config), []).append(i)
    out: list[dict[str, Any] | None] = [None] * len(runs)
    for members in stacks.values():
        if len(members) > 1:
            for i, metrics in zip(
                members, tuning_run_stack([runs[i] for i in members], sys.modules[__name__])
            ):
                out[i] = metrics
    done = [tuning_run(*run) if o is None else o for run, o in zip(runs, out)]
    # the stacked pi^0 in the record of the first run that uses it (the cost model's split)
    for i in first.values():
        done[i]["offline_s"] = {**done[i]["offline_s"], "pi0": round(stack_s, 3)}
    return done


job = Job(
    run=tuning_run,
    data_spec=dataset_of,
    data_identity=dataset_identity,
    group_key=offline_group_key,
    run_group=tuning_run_group,
)
