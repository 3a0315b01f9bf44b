"""The generic offline training job: one (cell, seed) -> {"score", "normalized", "curve", ...}.

    job = offline_job("itd3", load=my_paper.load_dataset)       # a common.experiment.Job
    common.cli.main(__doc__, build_cells, job, "mypaper", ITEM)

The job loads the cell's dataset, builds the learner named by the job from the registry
(common.algos.LEARNERS), resumes from the run's checkpoint if there is one, takes ``updates`` gradient
steps with a deterministic evaluation every ``eval_every`` and a checkpoint every ``ckpt_every``, and
returns the record's metrics. A cell config for it holds:

    dataset         the dataset spec ``load(spec)`` understands; it must carry ``env``, ``env_options``
                    and ``return_mode`` (what evaluation needs) and ``kind``
    <learner name>  the learner's own section, e.g. "itd3": ITD3Config fields
    learner         (only for a job made with ``offline_job(None, load)``) the learner's name: one job then
                    trains cells of several learners (e.g. CAST-BCQ's Table 2 columns)
    method          the row's method name (any; it names the row, the learner section says what runs)
    updates, eval_every, eval_episodes, ckpt_every
    official_minibatches (optional, > 0): cycle that many fixed minibatches (see ``fixed_minibatches``)
    eval_max_steps (optional): cut evaluation episodes after that many steps (smoke only)

Evaluation: deterministic policy, env seeds ``eval_seed(seed)`` + episode (apart from training), return by
the dataset's ``return_mode``; the score is the last evaluation's mean raw return, and the record's extra
also holds the best evaluation over training and the mean of the last 10 (``score_best``,
``score_last10``, and their ``normalized_*`` values; ``score_readings``), and the data identity
(``data_identity_of``) by which the runner refuses to mix dataset generations.

Learner protocol (what a registered learner provides): ``prepare_data(tensors) -> tensors``,
``sample_batch(tensors, generator=None) -> batch``, ``update(batch) -> metrics``, ``policy()`` (a callable
for common.evaluate: obs [S, E, N, O] numpy -> actions), ``state_dict()`` / ``load_state_dict(state)``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping

import numpy as np
import torch

from common.algos import build_learner, get_learner
from common.evaluate import eval_seed, evaluate
from common.experiment import Job
from common.returns import normalize

OFFICIAL_MINIBATCH_SEED = 4_000_000  # generator seed offset of fixed_minibatches (apart from every other stream)


def data_identity_of(data) -> dict[str, Any]:
    """The fields by which a record names the dataset it trained on (common.experiment.same_data)."""
    return {"data_sha256": data.card.get("sha256"), "dataset_size": data.size,
            "ref_scores": data.card.get("ref_scores")}


def dataset_of(config: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The dataset spec a cell trains on (``Job.data_spec`` of the offline job)."""
    return config.get("dataset")


def identity_of(spec: Mapping[str, Any], load: Callable[[Mapping[str, Any]], Any]) -> dict[str, Any]:
    """``data_identity_of`` the dataset ``spec`` names, loaded (or generated) now (``Job.data_identity``)."""
    return data_identity_of(load(spec))


def offline_job(learner: str | None, load: Callable[[Mapping[str, Any]], Any]) -> Job:
    """The offline job of learner ``learner`` (a name in common.algos.LEARNERS; None: each cell config's
    ``learner`` names it) on datasets read by ``load(spec) -> Dataset`` (a module-level function, so that
    workers can unpickle the job)."""
    if learner is not None:
        get_learner(learner)  # an unknown name fails here, naming the valid ones
    return Job(run=functools.partial(offline_run, learner=learner, load=load), data_spec=dataset_of,
               data_identity=functools.partial(identity_of, load=load))


def evaluate_policy(learner, cfg: Mapping[str, Any], seed: int) -> float:
    """Mean return of ``cfg["eval_episodes"]`` deterministic episodes on the cell's dataset env."""
    ds = cfg["dataset"]
    r = evaluate(learner.policy(), ds["env"], 1, cfg["eval_episodes"], [eval_seed(seed)],
                 return_mode=ds["return_mode"], env_options=ds["env_options"], max_steps=cfg.get("eval_max_steps"))
    return float(r.mean[0])


def offline_run(cell, seed: int, ctx, *, learner: str | None, load: Callable[[Mapping[str, Any]], Any]
                ) -> dict[str, Any]:
    """Train ``learner`` (None: the config's ``learner``) on the cell's dataset and return the record's
    metrics (module docstring)."""
    cfg = cell.config
    if learner is None:
        if "learner" not in cfg:
            from common.algos import LEARNERS

            raise ValueError("this job takes the learner from the cell config, which has no 'learner' key; "
                             f"valid learners: {', '.join(sorted(LEARNERS))}")
        learner = str(cfg["learner"])
    data = load(cfg["dataset"])
    model = build_learner(learner, data, cfg[learner], seed, ctx.device)
    tensors = model.prepare_data(data.to_torch(ctx.device))
    step = 0
    saved = ctx.load_checkpoint()
    if saved is not None:
        model.load_state_dict(saved["learner"])
        step = int(saved["step"])
    U, k = int(cfg["updates"]), int(cfg["eval_every"])
    fixed = fixed_minibatches(model, tensors, seed, int(cfg.get("official_minibatches", 0)))
    with ctx.progress(U - step) as bar:
        while step < U:
            model.update(fixed[step % len(fixed)] if fixed else model.sample_batch(tensors))
            step += 1
            bar.update(1)
            if step % k == 0 or step == U:
                ctx.log(step, score=evaluate_policy(model, cfg, seed))
            if step % cfg["ckpt_every"] == 0 and step < U:
                ctx.save_checkpoint({"learner": model.state_dict(), "step": step}, step=step)
    out: dict[str, Any] = {"score": ctx.curve[-1]["score"], "curve": list(ctx.curve), **data_identity_of(data)}
    out.update(score_readings(ctx.curve))
    for key in ("score", "score_best", "score_last10"):
        v = out[key]
        try:
            out[key.replace("score", "normalized")] = (normalize(v, data.card) if v is not None and math.isfinite(v)
                                                       else None)
        except ValueError:  # no (or degenerate) reference scores
            out[key.replace("score", "normalized")] = None
    return out


def fixed_minibatches(learner, tensors, seed: int, n: int) -> list | None:
    """A loop quirk of OMAR's official code, opt-in (cell config ``official_minibatches: n``, n = 10 there):
    ``main.py`` re-seeds ``np.random`` with seed + 100 at every evaluation (every 1,000 loop steps = 10
    update rounds), so each agent draws the same ``n`` minibatches, cycled, for the whole run. Here the
    ``n`` per-member minibatches come from a generator seeded by the run's seed alone, so a resumed run
    cycles the same ones. ``n = 0`` (the default, absent from the config): a fresh draw every update."""
    if n <= 0:
        return None
    g = torch.Generator(device=tensors["obs"].device).manual_seed(OFFICIAL_MINIBATCH_SEED + int(seed))
    return [learner.sample_batch(tensors, generator=g) for _ in range(n)]


def score_readings(curve) -> dict[str, float | None]:
    """Other readings of a run's evaluation curve than the last evaluation (the record's ``score``): the best
    evaluation over training and the mean of the last 10 evaluations. OMAR's official code computes an
    evaluation return every 1,000 steps but never logs it (main.py), so which reading a paper printed can
    be unknown; the records keep all three (in ``extra``) so every table can be re-read either way."""
    scores = [float(p["score"]) for p in curve if p.get("score") is not None]
    if not scores:
        return {"score_best": None, "score_last10": None}
    return {"score_best": max(scores), "score_last10": float(np.mean(scores[-10:]))}
