"""The offline stage of OTC's online-tuning job (papers/otc/deploy.py, whose module docstring states the job), moved
out of deploy.py and re-exported there: pi^0 of the cell's learner and d_e's CVAE, trained on B^0 once and cached
under ``$OFFMARL_DATA/otc/offline/`` by everything they depend on (data, learner config, offline updates, seed,
threads, device), so that every variant of a seed tunes the same pi^0 and the improvement is paired [I C5]; the
training checkpoints itself there and resumes after a kill. Then its grouped form (cells as members, ``--group N``):
runs with one ``offline_group_key`` train their pi^0 as ONE stacked learner (``train_offline_stack``), each run's
partial checkpoints and cache entry written exactly as ``offline_learner`` writes them.

Shapes: M members (agents of one seed), T rows, O obs dim, A action dim.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from common.algos import GROUPABLE, build_learner
from common.datasets.card import data_root
from common.datasets.sampling import gather_members, sample_indices
from common.running.records import atomic_torch_save, canonical_json, to_jsonable
from common.running.runtime import current_threads
from papers.otc import bremen  # noqa: F401 - registers the learner "bremen" (Figure 6a, b)
from papers.otc import otc as O
from papers.otc.deploy_env import env_options_at, evaluate_learner
from papers.otc.sampler import BATCH_KEYS, stream_generator

__all__ = [
    "CVAE_STREAM",
    "OFFLINE_VERSION",
    "offline_key",
    "offline_dir",
    "offline_paths",
    "train_offline",
    "offline_learner",
    "pi0_carried",
    "offline_cvae",
    "offline_stage",
    "cvae_path",
    "offline_group_key",
    "train_offline_stack",
]

CVAE_STREAM = 0xCAE  # spawn key of the CVAE's generator (the sampler's: papers/otc/sampler.py)
OFFLINE_VERSION = 1  # bump when the offline stage changes: cached pi^0 of older versions are not reused


# ---- the cache ----------------------------------------------------------------------------------------------


def offline_key(
    cfg: Mapping[str, Any], data, seed: int, device, what: str, section: Mapping[str, Any]
) -> str:
    """The cache key of an offline stage: everything its result depends on [I C5]."""
    blob = {
        "version": OFFLINE_VERSION,
        "what": what,
        "data": data.card.get("sha256"),
        "section": section,
        "updates": int(cfg["offline_updates"]) if what == "learner" else int(cfg["cvae_offline_updates"]),
        "eval": [cfg["eval_episodes"], cfg.get("eval_max_steps"), env_options_at(cfg, "eval", 0)],
        "seed": int(seed),
        "threads": current_threads(),
        "device": str(device),
        "torch": torch.__version__,
    }
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
    train_offline(
        learner,
        tensors,
        step,
        total,
        progress,
        f"offline {name} seed {seed}",
        lambda at: atomic_torch_save({"learner": learner.state_dict(), "step": at}, part),
    )
    s0 = evaluate_learner(learner, cfg, seed)
    atomic_torch_save({"learner": learner.state_dict(), "s0": s0, "updates": total}, path)
    if part.exists():
        part.unlink()
    return learner, s0


def pi0_carried(cfg: Mapping[str, Any], data, seed: int, device) -> dict[str, Any] | None:
    """The card of a cached pi^0 imported from another session (papers/otc/pi0_carry.py: the data and CPU it was trained on,
    the exporting commit), or None for a pi^0 trained on this machine (or none cached)."""
    path = offline_paths(cfg, data, seed, device)[0]
    if not path.exists():
        return None
    carried = torch.load(path, map_location="cpu", weights_only=False).get("carried")
    return None if carried is None else dict(carried)


def _cvae_hidden(cfg: Mapping[str, Any], learner) -> tuple[int, ...]:
    ocfg = O.OTCConfig(**cfg["otc"])
    return tuple(ocfg.cvae_hidden) if ocfg.cvae_hidden is not None else tuple(learner.cfg.hidden)  # [I C10]


def cvae_path(cfg: Mapping[str, Any], data, learner, seed: int, device) -> Path:
    """The cache entry of the cell's d_e CVAE for ``seed`` (its key: everything the CVAE depends on) [I C5]."""
    shape = [learner.n_members, learner.obs_dim, learner.act_dim]
    section = {"otc": dict(cfg["otc"]), "hidden": list(_cvae_hidden(cfg, learner)), "shape": shape}
    return offline_dir() / f"cvae-{offline_key(cfg, data, seed, device, 'cvae', section)}.pt"


def offline_stage(
    cfg: Mapping[str, Any], data, tensors, seed: int, device, progress
) -> tuple[Any, float, Any, Any, dict[str, float]]:
    """The whole offline stage of a run: (pi^0, S(pi^0), d_e's CVAE and its generator (None, None for the other
    samplers), the seconds of each part trained here, {"pi0": s, "cvae": s}, a part taken from the cache absent):
    what a record keeps as ``offline_s``, so that the cost model tells the stage its variants share from the
    tuning (common.running.cost_model)."""
    times: dict[str, float] = {}
    t0, cached = time.perf_counter(), offline_paths(cfg, data, seed, device)[0].exists()
    learner, s0 = offline_learner(cfg, data, tensors, seed, device, progress)
    if not cached:
        times["pi0"] = round(time.perf_counter() - t0, 3)
    cvae = gen = None
    if str(cfg["sampler"]) == "otc" and cfg["otc"].get("distance", "embedding") == "embedding":
        t0, cached = time.perf_counter(), cvae_path(cfg, data, learner, seed, device).exists()
        cvae, gen = offline_cvae(cfg, data, tensors, learner, seed, device, progress)
        if not cached:
            times["cvae"] = round(time.perf_counter() - t0, 3)
    return learner, s0, cvae, gen, times


def offline_cvae(
    cfg: Mapping[str, Any], data, tensors, learner, seed: int, device, progress
) -> tuple[Any, Any]:
    """d_e's conditional VAE trained on B^0 (``cvae_offline_updates`` steps on uniform |B| batches), cached; and
    its generator (its own stream, so pi^0 never depends on it) [I C5, C10]."""
    ocfg = O.OTCConfig(**cfg["otc"])
    hidden = _cvae_hidden(cfg, learner)
    n, o, a = learner.n_members, learner.obs_dim, learner.act_dim
    cvae = O.TransitionCVAE(
        n,
        o,
        a,
        hidden=hidden,
        latent=ocfg.latent,
        kl_weight=ocfg.cvae_kl_weight,
        lr=ocfg.cvae_lr,
        device=device,
        form=ocfg.cvae_form,
    )
    gen = stream_generator(seed, CVAE_STREAM, device)
    path = cvae_path(cfg, data, learner, seed, device)
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


# ---- cells as members: the offline stage of a group as one stacked learner ---------------------------------------


def offline_group_key(cfg: Mapping[str, Any]) -> str | None:
    """``Job.group_key``: runs with equal keys may train their pi^0 as one stacked learner: the same groupable learner
    (common.running.offline.GROUPABLE), learner section, offline length and env; the dataset (kind, size, seed), the sampler
    and the tuning settings may differ. None (the run's task is its own): a learner that cannot stack."""
    name = str(cfg.get("learner"))
    if name not in GROUPABLE or not isinstance(cfg.get(name), Mapping):
        return None
    ds = cfg["dataset"]
    return canonical_json(
        to_jsonable(
            {
                "learner": name,
                "section": cfg[name],
                "offline_updates": cfg["offline_updates"],
                "env": ds["env"],
                "env_options": ds.get("env_options"),
            }
        )
    )


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
        parts: dict[
            int, dict[str, Tensor]
        ] = {}  # id(dataset) -> its tensors: runs on one dataset store them once
        for _, data, _, device in runs:
            parts.setdefault(
                id(data), {k: v.to(device) for k, v in data.to_torch(device, keys=BATCH_KEYS).items()}
            )
        tensors = stack.stack_data([parts[id(data)] for _, data, _, _ in runs])
        parts.clear()
        total = int(runs[0][0]["offline_updates"])

        def save_parts(at: int, runs=runs, stack=stack) -> None:
            for (cfg, data, seed, device), state in zip(runs, stack.split_state()):
                atomic_torch_save({"learner": state, "step": at}, offline_paths(cfg, data, seed, device)[1])

        train_offline(
            stack,
            tensors,
            step,
            total,
            progress,
            f"offline {runs[0][0]['learner']}: stack of {len(runs)}",
            save_parts,
        )
        for (cfg, data, seed, device), state in zip(runs, stack.split_state()):
            name = str(cfg["learner"])
            own = build_learner(name, data, dict(cfg[name]), seed, device)
            own.load_state_dict(state)
            path, part = offline_paths(cfg, data, seed, device)
            atomic_torch_save(
                {"learner": state, "s0": evaluate_learner(own, cfg, seed), "updates": total}, path
            )
            if part.exists():
                part.unlink()
