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

The samplers are in papers/otc/sampler.py.
Shapes: M members (agents of one seed), T rows, n rows drawn, O obs dim, A action dim, N agents.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from common.algos import GROUPABLE, build_learner
from common.behavior.rollouts import collect
from common.datasets.card import data_root
from common.datasets.returns import normalize
from common.datasets.sampling import gather_members, sample_indices
from common.running.evaluate import eval_seed, evaluate
from common.running.experiment import Job
from common.running.offline import data_identity_of, dataset_of
from common.running.records import atomic_torch_save, canonical_json, to_jsonable
from common.running.runtime import current_threads
from papers.otc import bremen  # noqa: F401 - registers the learner "bremen" (Figure 6a, b)
from papers.otc import otc as O
from papers.otc.otc_metrics import improvement_percent, near_zero_baseline
from papers.otc.sampler import BATCH_KEYS, Sampler, stream_generator

DEPLOY_SEED_OFFSET = 2_000_000  # env seeds of the deployments (apart from evaluation, 1_000_000 + ...)
CVAE_STREAM = 0xCAE  # spawn key of the CVAE's generator (the sampler's: papers/otc/sampler.py)
OFFLINE_VERSION = 1  # bump when the offline stage changes: cached pi^0 of older versions are not reused


# ---- the cell's dataset ---------------------------------------------------------------------------------------

def load_dataset(spec: Mapping[str, Any]):
    """B^0 of a cell (papers/otc/datasets.py): the shared MuJoCo data split on the env with OTC's obs_mode, or the
    uniform-random data of the particle and navigation envs (built first when missing)."""
    from papers.otc.datasets import load_spec

    return load_spec(spec)


def dataset_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    return data_identity_of(load_dataset(spec))


def deploy_size(n_offline: int, fraction: float, minimum: int = 1) -> int:
    """M = round(fraction |B^0|), at least ``minimum`` [P: 1 %; I: the smoke floor]."""
    return max(int(minimum), int(round(float(fraction) * int(n_offline))))


# ---- helpers ----------------------------------------------------------------------------------------------------


def _cat(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: torch.cat([a[k], b[k]], dim=0) for k in BATCH_KEYS}


def env_options_at(cfg: Mapping[str, Any], what: str, k: int) -> dict[str, Any]:
    """The env options of deployment k (``what="deploy"``, k = 1..K) or of the evaluation of pi^k (``"eval"``,
    k = 0..K): the dataset's, with the cell's ``env_schedule`` {"key", "deploy": [K values], "eval": [K + 1]}
    applied (the non-stationary navigation's beta, OTC spec C22)."""
    opts = dict(cfg["dataset"]["env_options"])
    sched = cfg.get("env_schedule")
    if sched:
        opts[sched["key"]] = sched[what][k - 1 if what == "deploy" else k]
    return opts


def evaluate_learner(learner, cfg: Mapping[str, Any], seed: int, k: int = 0) -> float:
    """S(pi^k): mean return of ``eval_episodes`` deterministic episodes on env seeds eval_seed(seed) + e [I C3]."""
    return evaluate_learners(learner, cfg, [seed], k)[0]


def evaluate_learners(learner, cfg: Mapping[str, Any], seeds, k: int = 0) -> list[float]:
    """S(pi^k) of each seed of ``learner`` (a stack of runs: each run's seed), in one vectorised rollout."""
    ds = cfg["dataset"]
    r = evaluate(learner.policy(), ds["env"], len(seeds), int(cfg["eval_episodes"]), [eval_seed(s) for s in seeds],
                 return_mode=ds["return_mode"], env_options=env_options_at(cfg, "eval", k),
                 max_steps=cfg.get("eval_max_steps"))
    return [float(x) for x in r.mean]


def offline_key(cfg: Mapping[str, Any], data, seed: int, device, what: str, section: Mapping[str, Any]) -> str:
    """The cache key of an offline stage: everything its result depends on [I C5]."""
    blob = {"version": OFFLINE_VERSION, "what": what, "data": data.card.get("sha256"), "section": section,
            "updates": int(cfg["offline_updates"]) if what == "learner" else int(cfg["cvae_offline_updates"]),
            "eval": [cfg["eval_episodes"], cfg.get("eval_max_steps"), env_options_at(cfg, "eval", 0)],
            "seed": int(seed),
            "threads": current_threads(), "device": str(device), "torch": torch.__version__}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:24]


def offline_dir() -> Path:
    return data_root() / "otc" / "offline"


# ---- the offline stage: pi^0 and d_e's CVAE, cached [I C5] -------------------------------------------------------

def offline_paths(cfg: Mapping[str, Any], data, seed: int, device) -> tuple[Path, Path]:
    """(the cache entry, the partial checkpoint) of the cell's pi^0 for ``seed`` [I C5]."""
    name = str(cfg["learner"])
    key = offline_key(cfg, data, seed, device, "learner", {"learner": name, **dict(cfg[name])})
    return offline_dir() / f"{name}-{key}.pt", offline_dir() / f"{name}-{key}.partial.pt"


def train_offline(learner, tensors, step: int, total: int, progress, label: str, save_partial) -> None:
    """Updates ``learner`` (one run's, or a stack of runs) from update ``step`` to ``total`` on ``tensors``, with a
    progress bar; ``save_partial(step)`` every tenth of ``total`` before the end (the resumable checkpoint)."""
    every = max(1, total // 10)
    with progress(total - step, label) as bar:
        while step < total:
            learner.update(learner.sample_batch(tensors))
            step += 1
            bar.update(1)
            if step % every == 0 and step < total:
                save_partial(step)


def offline_learner(cfg: Mapping[str, Any], data, tensors, seed: int, device, progress) -> tuple[Any, float]:
    """pi^0 of the cell's learner for ``seed`` and S(pi^0), from the cache or trained (and cached) now."""
    name = str(cfg["learner"])
    section = dict(cfg[name])
    path, part = offline_paths(cfg, data, seed, device)
    learner = build_learner(name, data, section, seed, device)
    if path.exists():
        blob = torch.load(path, map_location=device, weights_only=False)
        learner.load_state_dict(blob["learner"])
        return learner, float(blob["s0"])
    step, total = 0, int(cfg["offline_updates"])
    if part.exists():
        blob = torch.load(part, map_location=device, weights_only=False)
        learner.load_state_dict(blob["learner"])
        step = int(blob["step"])
    if hasattr(learner, "attach"):  # a learner that draws its own rows (BREMEN's rollout starts) sees B^0
        learner.attach(tensors)
    train_offline(learner, tensors, step, total, progress, f"offline {name} seed {seed}",
                  lambda at: atomic_torch_save({"learner": learner.state_dict(), "step": at}, part))
    s0 = evaluate_learner(learner, cfg, seed)
    atomic_torch_save({"learner": learner.state_dict(), "s0": s0, "updates": total}, path)
    if part.exists():
        part.unlink()
    return learner, s0


def offline_cvae(cfg: Mapping[str, Any], data, tensors, learner, seed: int, device, progress) -> tuple[Any, Any]:
    """d_e's conditional VAE trained on B^0 (``cvae_offline_updates`` steps on uniform |B| batches), cached; and
    its generator (its own stream, so pi^0 never depends on it) [I C5, C10]."""
    ocfg = O.OTCConfig(**cfg["otc"])
    hidden = ocfg.cvae_hidden if ocfg.cvae_hidden is not None else tuple(learner.cfg.hidden)  # [I C10]
    n, o, a = learner.n_members, learner.obs_dim, learner.act_dim
    cvae = O.TransitionCVAE(n, o, a, hidden=hidden, latent=ocfg.latent, kl_weight=ocfg.cvae_kl_weight,
                            lr=ocfg.cvae_lr, device=device)
    gen = stream_generator(seed, CVAE_STREAM, device)
    section = {"otc": {k: v for k, v in cfg["otc"].items()}, "hidden": list(hidden), "shape": [n, o, a]}
    key = offline_key(cfg, data, seed, device, "cvae", section)
    path = offline_dir() / f"cvae-{key}.pt"
    if path.exists():
        blob = torch.load(path, map_location=device, weights_only=False)
        cvae.load_state_dict(blob["cvae"])
        gen.set_state(blob["gen"].cpu())
        return cvae, gen
    agents = learner.agents
    with progress(int(cfg["cvae_offline_updates"]), f"offline CVAE seed {seed}") as bar:
        for _ in range(int(cfg["cvae_offline_updates"])):
            idx = sample_indices(gen, tensors["obs"].shape[0], n, ocfg.big_batch)
            b = gather_members({k: tensors[k] for k in ("obs", "next_obs", "actions")}, idx, agents)
            cvae.update(b["obs"], b["next_obs"], b["actions"], generator=gen)
            bar.update(1)
    atomic_torch_save({"cvae": cvae.state_dict(), "gen": gen.get_state()}, path)
    return cvae, gen


# ---- deployments -------------------------------------------------------------------------------------------------

def deploy(learner, cfg: Mapping[str, Any], seed: int, k: int, n_steps: int):
    """D^k: ``n_steps`` transitions of pi^{k-1} acting deterministically (no exploration [P Sec. 4.6]) on the
    cell's env from env seed DEPLOY_SEED_OFFSET + 1000 seed + k [I C6]; the last episode is cut."""
    ds = cfg["dataset"]
    act = learner.policy()  # obs [1, E, N, O] -> [1, E, N, A]
    return collect(ds["env"], env_options_at(cfg, "deploy", k), lambda obs: act(obs[None])[0], int(n_steps), 0.0,
                   DEPLOY_SEED_OFFSET + 1000 * int(seed) + int(k), kind="custom", return_mode=ds["return_mode"],
                   policy_description=f"pi^{k - 1} of the tuned learner, deterministic")



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
    learner, s0 = offline_learner(cfg, data, tensors0, seed, device, ctx.progress)
    kind = str(cfg["sampler"])
    cvae = cvae_gen = None
    if kind == "otc" and cfg["otc"].get("distance", "embedding") == "embedding":
        cvae, cvae_gen = offline_cvae(cfg, data, tensors0, learner, seed, device, ctx.progress)
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
        ctx.log(k, score=evaluate_learner(learner, cfg, seed, k), deploy_return=float(d_k.card["returns"]["mean"]),
                online_rows=int(merged["obs"].shape[0] - n0), **info)
        if k < K:
            ctx.save_checkpoint({"k": k, "learner": learner.state_dict(), "sampler": sampler.state_dict(),
                                 "online": {key: v[n0:].cpu() for key, v in merged.items()},
                                 "newest": {key: v.cpu() for key, v in newest.items()}}, step=k)
    return tuning_metrics(ctx, data, s0, m_steps)


def tuning_metrics(ctx, data, s0: float, m_steps: int) -> dict[str, Any]:
    """The record's metrics of a finished tuning run (its curve holds S(pi^0) .. S(pi^K))."""
    s_k = float(ctx.curve[-1]["score"])
    out: dict[str, Any] = {
        "score": improvement_percent(s0, s_k), "curve": list(ctx.curve), "s0": s0, "s_final": s_k,
        "normalized_s0": _normalized(s0, data.card), "normalized_s_final": _normalized(s_k, data.card),
        "deploy_steps": m_steps, **data_identity_of(data),
    }
    refs = data.card.get("ref_scores") or {}
    if "random" in refs and "expert" in refs:
        out["near_zero_s0"] = bool(near_zero_baseline(s0, refs["random"], refs["expert"]))
    return out


# ---- cells as members: the offline stage of a group as one stacked learner ---------------------------------------

def offline_group_key(cfg: Mapping[str, Any]) -> str | None:
    """``Job.group_key``: runs with equal keys may train their pi^0 as one stacked learner: the same groupable learner
    (common.running.offline.GROUPABLE), learner section, offline length and env; the dataset (kind, size, seed), the sampler
    and the tuning settings may differ. None (the run's task is its own): a learner that cannot stack."""
    name = str(cfg.get("learner"))
    if name not in GROUPABLE or not isinstance(cfg.get(name), Mapping):
        return None
    ds = cfg["dataset"]
    return canonical_json(to_jsonable({"learner": name, "section": cfg[name], "offline_updates": cfg["offline_updates"],
                                       "env": ds["env"], "env_options": ds.get("env_options")}))


def train_offline_stack(todo: list[tuple[Mapping[str, Any], Any, int, Any]], progress) -> None:
    """Train the pi^0 of ``todo`` = [(cell config, dataset, seed, device)] (distinct, not cached, one group key) as
    stacked learners and cache each exactly as ``offline_learner`` does: each resumes from its partial checkpoint;
    those at one step with one ``stack_signature`` form one stack; partial checkpoints every tenth of the updates;
    S(pi^0) on the run's own learner, rebuilt from its split state."""
    built = []
    for cfg, data, seed, device in todo:
        name = str(cfg["learner"])
        learner = build_learner(name, data, dict(cfg[name]), seed, device)
        part = offline_paths(cfg, data, seed, device)[1]
        step = 0
        if part.exists():
            blob = torch.load(part, map_location=device, weights_only=False)
            learner.load_state_dict(blob["learner"])
            step = int(blob["step"])
        built.append((learner, step))
    stacks: dict[tuple[int, str], list[int]] = {}
    for k, (learner, step) in enumerate(built):
        stacks.setdefault((step, learner.stack_signature()), []).append(k)
    for (step, _), members in stacks.items():
        runs = [todo[k] for k in members]
        stack = type(built[members[0]][0]).stack([built[k][0] for k in members])
        for k in members:
            built[k] = None  # the stack holds these learners' state
        parts: dict[int, dict[str, Tensor]] = {}  # id(dataset) -> its tensors: runs on one dataset store them once
        for _, data, _, device in runs:
            parts.setdefault(id(data), {k: v.to(device) for k, v in data.to_torch(device, keys=BATCH_KEYS).items()})
        tensors = stack.stack_data([parts[id(data)] for _, data, _, _ in runs])
        parts.clear()
        total = int(runs[0][0]["offline_updates"])

        def save_parts(at: int, runs=runs, stack=stack) -> None:
            for (cfg, data, seed, device), state in zip(runs, stack.split_state()):
                atomic_torch_save({"learner": state, "step": at}, offline_paths(cfg, data, seed, device)[1])

        train_offline(stack, tensors, step, total, progress, f"offline {runs[0][0]['learner']}: stack of {len(runs)}",
                      save_parts)
        for (cfg, data, seed, device), state in zip(runs, stack.split_state()):
            name = str(cfg["learner"])
            own = build_learner(name, data, dict(cfg[name]), seed, device)
            own.load_state_dict(state)
            path, part = offline_paths(cfg, data, seed, device)
            atomic_torch_save({"learner": state, "s0": evaluate_learner(own, cfg, seed), "updates": total}, path)
            if part.exists():
                part.unlink()


def tuning_run_group(runs) -> list[dict[str, Any]]:
    """``Job.run_group``: the runs [(cell, seed, ctx)] of one group (equal ``offline_group_key``): their pi^0 not
    cached yet train as stacked learners (``train_offline_stack``; a pi^0 shared by several runs, e.g. the samplers
    of one seed, once); then the seeds of one cell tune as one stack (``tuning_stack.tuning_run_stack``: sampler
    uniform, online or otc) and every other run as alone (``tuning_run``, which finds its pi^0 cached)."""
    todo: dict[Path, tuple[Mapping[str, Any], Any, int, Any]] = {}
    for cell, seed, ctx in runs:
        data = load_dataset(cell.config["dataset"])
        path = offline_paths(cell.config, data, seed, ctx.device)[0]
        if path not in todo and not path.exists():
            todo[path] = (cell.config, data, seed, ctx.device)
    if len(todo) > 1:
        train_offline_stack(list(todo.values()), runs[0][2].progress)
    todo.clear()
    from papers.otc.tuning_stack import stackable, tune_key, tuning_run_stack

    stacks: dict[str, list[int]] = {}  # one cell's seeds tune as one stack (papers/otc/tuning_stack.py)
    for i, (cell, _, _) in enumerate(runs):
        if stackable(cell.config):
            stacks.setdefault(tune_key(cell.config), []).append(i)
    out: list[dict[str, Any] | None] = [None] * len(runs)
    for members in stacks.values():
        if len(members) > 1:
            for i, metrics in zip(members, tuning_run_stack([runs[i] for i in members], sys.modules[__name__])):
                out[i] = metrics
    return [tuning_run(*run) if o is None else o for run, o in zip(runs, out)]


job = Job(run=tuning_run, data_spec=dataset_of, data_identity=dataset_identity, group_key=offline_group_key,
          run_group=tuning_run_group)
