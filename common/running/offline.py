"""The generic offline training job: one (cell, seed) -> {"score", "normalized", "curve", ...}.

    job = offline_job("itd3", load=my_paper.load_dataset)       # a common.running.experiment.Job
    common.running.cli.main(__doc__, build_cells, job, "mypaper", ITEM)

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
for common.running.evaluate: obs [S, E, N, O] numpy -> actions), ``state_dict()`` / ``load_state_dict(state)``.

Cells as members (``run_cells(..., group=n)``, ``--group n``; common/running/grouping.py): the runs of one group
(``group_key_of``: the same learner, env, update and evaluation schedule and learner config but for the
learner's per-member fields ``GROUPABLE[name]``) train as ONE stacked learner (``offline_run_group``): each
run's learner is built and resumed exactly as alone, then ``stack``ed (common.algos.members.StackableLearner):
its own dataset rows, random stream and per-member loss scalars (ITD3: CQL alpha / OMAR tau; IQL: expectile /
beta; MATD3+BC: alpha; BCQ: lambda / KL weight); the groupable learners are ``GROUPABLE``'s: itd3 (OMAR's),
iql_continuous and matd3bc (MOMA-PPO's baselines), bcq and mabcq (CAST-BCQ's BCQ, I-BCQ and MABCQ columns), awac
and td3bc (OTC's base learners: its offline stage, papers/otc/deploy.py), and
those a paper registers with ``common.algos.register_learner(..., group_fields=...)`` (CAST-BCQ's cast_bcq and
icq_ma); every other learner runs alone. Evaluation is one vectorised rollout of every run's
policy on its own evaluation seeds; checkpoints are each run's own, in the format of a run alone. The metrics of
every run are those of ``offline_run`` up to float rounding (kernels see other member counts):
tests/test_group_equals_alone.py.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from common.algos import GROUPABLE, build_learner, get_learner
from common.algos.awac import AWAC
from common.algos.bcq import BCQ
from common.algos.iql_continuous import ContinuousIQL
from common.algos.itd3 import ITD3
from common.algos.itd3bc import TD3BC
from common.algos.matd3bc import MATD3BC
from common.datasets.returns import normalize
from common.running.evaluate import eval_seed, evaluate
from common.running.experiment import Job
from common.running.records import canonical_json, to_jsonable

# generator seed offset of fixed_minibatches (apart from every other stream)
OFFICIAL_MINIBATCH_SEED = 4_000_000
# learners whose runs can train stacked (cells as members), with the config fields that may differ in a group: the
# built-in ones here, a paper's through common.algos.register_learner(..., group_fields=...) (one dict: common.algos')
GROUPABLE.update(
    {
        "itd3": ITD3.GROUP_FIELDS,
        "iql_continuous": ContinuousIQL.GROUP_FIELDS,
        "matd3bc": MATD3BC.GROUP_FIELDS,
        "bcq": BCQ.GROUP_FIELDS,
        "mabcq": BCQ.GROUP_FIELDS,
        "awac": AWAC.GROUP_FIELDS,
        "td3bc": TD3BC.GROUP_FIELDS,
    }
)
# cell-config keys that only name a cell (the row's method name): they never keep two runs apart
_NAME_KEYS = ("method",)


def data_identity_of(data) -> dict[str, Any]:
    """The fields by which a record names the dataset it trained on (common.running.experiment.same_data)."""
    out = {
        "data_sha256": data.card.get("sha256"),
        "dataset_size": data.size,
        "ref_scores": data.card.get("ref_scores"),
    }
    if data.card.get("identity"):  # datasets rebuilt from committed policies: protocol + policies' checksums
        out["data_identity"] = data.card["identity"]
    return out


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
    return Job(
        run=functools.partial(offline_run, learner=learner, load=load),
        data_spec=dataset_of,
        data_identity=functools.partial(identity_of, load=load),
        group_key=functools.partial(group_key_of, learner=learner),
        run_group=functools.partial(offline_run_group, learner=learner, load=load),
    )


def _learner_name(cfg: Mapping[str, Any], learner: str | None) -> str:
    if learner is not None:
        return learner
    if "learner" not in cfg:
        from common.algos import LEARNERS

        raise ValueError(
            "this job takes the learner from the cell config, which has no 'learner' key; "
            f"valid learners: {', '.join(sorted(LEARNERS))}"
        )
    return str(cfg["learner"])


def group_key_of(cfg: Mapping[str, Any], learner: str | None) -> str | None:
    """Runs with equal keys train as one stacked learner (``Job.group_key``); None: the run trains alone (its
    learner cannot stack). The key holds everything but what may differ between the members of a stack: the
    dataset (its env, options and return mode stay: one evaluation env), the learner's per-member fields
    (``GROUPABLE``) and the row's name; what only the built learners show (e.g. a batch size cut to a small
    dataset, a resumed step) splits a group again (``offline_run_group``)."""
    name = cfg.get("learner", learner) if learner is None else learner
    if name not in GROUPABLE or not isinstance(cfg.get(name), Mapping):
        return None
    ds = cfg["dataset"]
    shared = {k: v for k, v in cfg.items() if k not in ("dataset", name, *_NAME_KEYS)}
    section = {k: v for k, v in cfg[name].items() if k not in GROUPABLE[name]}
    return canonical_json(
        to_jsonable(
            {
                "learner": name,
                "env": ds.get("env"),
                "env_options": ds.get("env_options"),
                "return_mode": ds.get("return_mode"),
                "section": section,
                "shared": shared,
            }
        )
    )


def evaluate_policies(learner, cfg: Mapping[str, Any], seeds: Sequence[int]) -> list[float]:
    """Mean return of ``cfg["eval_episodes"]`` deterministic episodes on the cell's dataset env for each of the
    learner's seeds (one vectorised rollout; seed s plays its own evaluation episodes, ``eval_seed(s)``)."""
    ds = cfg["dataset"]
    r = evaluate(
        learner.policy(),
        ds["env"],
        len(seeds),
        cfg["eval_episodes"],
        [eval_seed(s) for s in seeds],
        return_mode=ds["return_mode"],
        env_options=ds["env_options"],
        max_steps=cfg.get("eval_max_steps"),
    )
    return [float(x) for x in r.mean]


def evaluate_policy(learner, cfg: Mapping[str, Any], seed: int) -> float:
    """Mean return of ``cfg["eval_episodes"]`` deterministic episodes on the cell's dataset env."""
    return evaluate_policies(learner, cfg, [seed])[0]


def offline_run(
    cell, seed: int, ctx, *, learner: str | None, load: Callable[[Mapping[str, Any]], Any]
) -> dict[str, Any]:
    """Train ``learner`` (None: the config's ``learner``) on the cell's dataset and return the record's
    metrics (module docstring)."""
    cfg = cell.config
    learner = _learner_name(cfg, learner)
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
            if ctx.checkpoint_due(step, int(cfg["ckpt_every"]), U):
                ctx.save_checkpoint({"learner": model.state_dict(), "step": step}, step=step)
    return run_metrics(ctx.curve, data)


def run_metrics(curve, data) -> dict[str, Any]:
    """The record's metrics of a run from its evaluation curve and dataset (module docstring)."""
    out: dict[str, Any] = {"score": curve[-1]["score"], "curve": list(curve), **data_identity_of(data)}
    out.update(score_readings(curve))
    for key in ("score", "score_best", "score_last10"):
        v = out[key]
        try:
            out[key.replace("score", "normalized")] = (
                normalize(v, data.card) if v is not None and math.isfinite(v) else None
            )
        except ValueError:  # no (or degenerate) reference scores
            out[key.replace("score", "normalized")] = None
    return out


def offline_run_group(
    runs: Sequence[tuple[Any, int, Any]], *, learner: str | None, load: Callable[[Mapping[str, Any]], Any]
) -> list[dict[str, Any]]:
    """Train the runs ``[(cell, seed, ctx)]`` of one group (equal ``group_key_of``) as stacked learners and
    return each run's metrics, in order (module docstring). Each run's learner is built and resumed from its
    checkpoint as ``offline_run`` does; those that cannot stack together (``stack_signature``: e.g. a batch
    size cut to a small dataset, another resumed step) form stacks of their own."""
    name = _learner_name(runs[0][0].config, learner)
    datasets: dict[str, tuple[Any, Any]] = {}  # dataset spec -> (Dataset, prepared tensors): loaded once each
    # per run: (learner, its dataset's card, prepared tensors, loop step); None once stacked
    built: list[Any] = []
    for cell, seed, ctx in runs:
        spec = canonical_json(to_jsonable(cell.config["dataset"]))
        data, tensors = datasets.get(spec, (None, None))
        if data is None:
            data = load(cell.config["dataset"])
        model = build_learner(name, data, cell.config[name], seed, ctx.device)
        if tensors is None:  # prepared once per dataset (the learners differ only in per-member fields)
            tensors = model.prepare_data(data.to_torch(ctx.device))
            datasets[spec] = (data, tensors)
        saved = ctx.load_checkpoint()
        if saved is not None:
            model.load_state_dict(saved["learner"])
        built.append((model, _Card(data), tensors, 0 if saved is None else int(saved["step"])))
    datasets.clear()  # the arrays: only the prepared tensors are needed from here
    stacks: dict[tuple[int, str], list[int]] = {}
    for k, (model, _, _, step) in enumerate(built):
        stacks.setdefault((step, model.stack_signature()), []).append(k)
    out: list[dict[str, Any]] = [{}] * len(runs)
    for (step, _), members in stacks.items():
        part = [(runs[k], built[k]) for k in members]
        for k in members:
            built[k] = None  # the stack will hold these runs' state
        for k, metrics in zip(members, _train_stack(part, step)):
            out[k] = metrics
    return out


class _Card:
    """What a run's metrics need of its dataset (``run_metrics``): its card and size, not its arrays."""

    def __init__(self, data):
        self.card, self.size = data.card, data.size


def _train_stack(part: list, step: int) -> list[dict[str, Any]]:
    """``offline_run``'s loop on one stack: ``part`` = [((cell, seed, ctx), (learner, card, tensors, step))],
    all resumed at loop step ``step``; emptied once stacked, so that only the stack holds the runs' state."""
    runs, cards = [run for run, _ in part], [b[1] for _, b in part]
    stack = type(part[0][1][0]).stack([b[0] for _, b in part])
    tensors = stack.stack_data([b[2] for _, b in part])
    part.clear()
    cfg, seeds, ctxs = runs[0][0].config, [seed for _, seed, _ in runs], [ctx for _, _, ctx in runs]
    U, k = int(cfg["updates"]), int(cfg["eval_every"])
    fixed = fixed_minibatches(stack, tensors, seeds, int(cfg.get("official_minibatches", 0)))
    with ctxs[0].progress(U - step, desc=f"stack of {len(runs)} runs") as bar:
        while step < U:
            stack.update(fixed[step % len(fixed)] if fixed else stack.sample_batch(tensors))
            step += 1
            bar.update(1)
            if step % k == 0 or step == U:
                for ctx, score in zip(ctxs, evaluate_policies(stack, cfg, seeds)):
                    ctx.log(step, score=score)
            if ctxs[0].checkpoint_due(step, int(cfg["ckpt_every"]), U):  # the stack's runs save together
                for ctx, state in zip(ctxs, stack.split_state()):
                    ctx.save_checkpoint({"learner": state, "step": step}, step=step)
    return [run_metrics(ctx.curve, card) for ctx, card in zip(ctxs, cards)]


def fixed_minibatches(learner, tensors, seed: int | Sequence[int], n: int) -> list | None:
    """A loop quirk of OMAR's official code, opt-in (cell config ``official_minibatches: n``, n = 10 there):
    ``main.py`` re-seeds ``np.random`` with seed + 100 at every evaluation (every 1,000 loop steps = 10
    update rounds), so each agent draws the same ``n`` minibatches, cycled, for the whole run. Here the
    ``n`` per-member minibatches come from a generator seeded by the run's seed alone, so a resumed run
    cycles the same ones. ``n = 0`` (the default, absent from the config): a fresh draw every update."""
    if n <= 0:
        return None
    dev = tensors["obs"].device
    g: torch.Generator | list[torch.Generator]
    if isinstance(seed, (int, np.integer)):
        g = torch.Generator(device=dev).manual_seed(OFFICIAL_MINIBATCH_SEED + seed)
    else:  # a stack of runs: each run's own generator, as alone (a list: one per stacked learner)
        g = [torch.Generator(device=dev).manual_seed(OFFICIAL_MINIBATCH_SEED + int(s)) for s in seed]
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
