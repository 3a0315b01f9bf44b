"""The offline training job of OMAR's items: one (cell, seed) -> {"score", "normalized", "curve"}.

``offline_job(cell, seed, ctx)`` reads ``cell.config`` (built by :func:`offline_config`):
  dataset   the dataset spec of papers.omar.datasets (env, options, sizes, behavior run) + "kind"
  method    ma_cql | omar | ma_td3bc | ma_icq (all on ITD3 with decentralized critics)
  itd3      ITD3Config fields (MPE/HalfCheetah TaskConfig sizes, per-dataset tau/alpha of config.py)
  updates   gradient steps (the code's count, scaled by the profile)
  eval_every, eval_episodes, ckpt_every
Evaluation: deterministic policy, env seeds ``eval_seed(seed)`` + episode (apart from training),
return by config.RETURN_MODE; the score is the last evaluation's mean raw return, and the record's extra
also holds the best evaluation over training and the mean of the last 10 (score_best, score_last10, and
their normalized_* values; :func:`score_readings`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch

from common.algos.itd3 import ITD3, ITD3Config
from common.data import normalize
from common.evaluate import eval_seed, evaluate
from common.profiles import Profile
from papers.omar import config as C
from papers.omar.datasets import dataset_spec, load_spec

METHODS = ("ma_cql", "omar", "ma_td3bc", "ma_icq")
# The items whose runs are exactly offline_job(cell, seed): a run with the same config and seed in
# one of them is copied rather than re-run (common.experiment.run_cells(reuse_from=...)), e.g. the
# MA-CQL reference of Figures 3-4 is Table 3's MA-CQL run. Figure 1 is not here: its job differs.
OFFLINE_JOB_ITEMS = ("table1", "table2", "table3", "table4", "table5", "table6", "figure2", "figure3", "figure4",
                     "diagnose_table5")
BASE_ENV = {"omar/spread1d": "omar/spread"}  # spread1d has no table of its own: spread's tau/alpha/updates


def itd3_fields(method: str, env: str, kind: str) -> dict[str, Any]:
    """ITD3Config fields of a method on (env, dataset kind) from config.py."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {METHODS}")
    base = BASE_ENV.get(env, env)
    task = C.task_config(base)
    tau, alpha = C.tau_alpha(base, kind)
    f: dict[str, Any] = dict(hidden=task.hidden, actor_lr=task.lr, critic_lr=task.lr, batch_size=task.batch,
                             gamma=task.gamma, tau_target=task.target_tau)
    if method in ("ma_cql", "omar"):
        f.update(critic_reg="cql", cql_alpha=alpha, cql_proposal=task.cql_proposal)
    if method == "omar":
        f.update(actor_reg="omar", omar_tau=tau, omar_sampler=task.sampler, omar_iters=task.omar_iters,
                 omar_n_samples=task.omar_samples, omar_n_elites=task.omar_elites)
    elif method == "ma_td3bc":
        f.update(actor_reg="td3bc")
    elif method == "ma_icq":
        f.update(actor_reg="icq")
    return f


def offline_config(profile: Profile, env: str, kind: str, method: str, env_options: Mapping[str, Any] | None = None,
                   official_minibatches: int = 0, **itd3_overrides: Any) -> dict[str, Any]:
    """A cell config: dataset spec, ITD3 fields (+ overrides such as actor_lr), update/eval counts;
    ``official_minibatches`` > 0 adds the official loop's fixed-minibatch quirk (:func:`official_minibatches`;
    only then is the key in the config, so every other config, and its hash, is as before)."""
    if isinstance(official_minibatches, bool) or not isinstance(official_minibatches, int) or official_minibatches < 0:
        raise ValueError(f"official_minibatches={official_minibatches!r} is not allowed; give 0 (fresh minibatches "
                         f"every update) or the number of fixed minibatches to cycle (10 in OMAR's code)")
    base = BASE_ENV.get(env, env)
    family = "mujoco" if base == C.ENV_CHEETAH else "mpe"
    paper_updates = C.UPDATES[base][kind]
    if family == "mujoco" and profile.overrides.get("mujoco_update_scale"):
        paper_updates = round(paper_updates * float(profile.overrides["mujoco_update_scale"]) / profile.update_scale)
    updates = int(profile.overrides.get("updates", profile.n_updates(paper_updates)))
    eval_every = min(updates, profile.eval_interval(C.EVAL_EVERY[family]))
    max_evals = profile.overrides.get("max_evals")
    if max_evals:  # cap the number of evaluations (each is eval_episodes full episodes)
        eval_every = max(eval_every, -(-updates // int(max_evals)))
    if env_options is None:
        env_options = C.env_options(env)
    task = C.task_config(base)
    return {
        "dataset": {**dataset_spec(env, profile, env_options), "kind": kind},
        "method": method,
        "itd3": {**itd3_fields(method, env, kind),
                 **({"batch_size": int(profile.overrides["batch_size"])} if "batch_size" in profile.overrides else {}),
                 **itd3_overrides},
        "updates": updates,
        "eval_every": eval_every,
        "eval_episodes": profile.n_eval_episodes(task.eval_episodes),
        "ckpt_every": max(eval_every, updates // 10),
        **({"official_minibatches": official_minibatches} if official_minibatches else {}),
        # smoke only: evaluation episodes cut after this many steps (absent from quick/full configs)
        **({"eval_max_steps": int(profile.overrides["eval_max_steps"])} if "eval_max_steps" in profile.overrides
           else {}),
    }


def _evaluate(learner: ITD3, cfg: Mapping[str, Any], seed: int) -> float:
    ds = cfg["dataset"]
    r = evaluate(learner.policy(), ds["env"], 1, cfg["eval_episodes"], [eval_seed(seed)],
                 return_mode=ds["return_mode"], env_options=ds["env_options"], max_steps=cfg.get("eval_max_steps"))
    return float(r.mean[0])


def data_identity_of(data) -> dict[str, Any]:
    """The fields by which a record names the dataset it trained on (common.experiment.same_data)."""
    return {"data_sha256": data.card.get("sha256"), "dataset_size": data.size,
            "ref_scores": data.card.get("ref_scores")}


def dataset_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``data_identity_of`` the dataset ``spec`` (with its ``kind``) names, loaded (or generated) now."""
    return data_identity_of(load_spec(spec, spec["kind"]))


def offline_job(cell, seed: int, ctx) -> dict[str, Any]:
    cfg = cell.config
    data = load_spec(cfg["dataset"], cfg["dataset"]["kind"])
    fields = dict(cfg["itd3"])
    fields["batch_size"] = min(int(fields["batch_size"]), data.size)  # sampling is without replacement
    learner = ITD3(data.obs_dims, data.act_dims, 1, ITD3Config(**fields), seeds=[seed], device=ctx.device)
    tensors = learner.prepare_data(data.to_torch(ctx.device))
    step = 0
    saved = ctx.load_checkpoint()
    if saved is not None:
        learner.load_state_dict(saved["learner"])
        step = int(saved["step"])
    U, k = int(cfg["updates"]), int(cfg["eval_every"])
    fixed = official_minibatches(learner, tensors, seed, int(cfg.get("official_minibatches", 0)))
    with ctx.progress(U - step) as bar:
        while step < U:
            learner.update(fixed[step % len(fixed)] if fixed else learner.sample_batch(tensors))
            step += 1
            bar.update(1)
            if step % k == 0 or step == U:
                ctx.log(step, score=_evaluate(learner, cfg, seed))
            if step % cfg["ckpt_every"] == 0 and step < U:
                ctx.save_checkpoint({"learner": learner.state_dict(), "step": step}, step=step)
    score = ctx.curve[-1]["score"]
    out: dict[str, Any] = {"score": score, "curve": list(ctx.curve), **data_identity_of(data)}
    out.update(score_readings(ctx.curve))
    for k in ("score", "score_best", "score_last10"):
        v = out[k]
        try:
            out[k.replace("score", "normalized")] = normalize(v, data.card) if v is not None and math.isfinite(v) else None
        except ValueError:  # no (or degenerate) reference scores
            out[k.replace("score", "normalized")] = None
    return out


def official_minibatches(learner: ITD3, tensors, seed: int, n: int) -> list | None:
    """The official loop's minibatch quirk, opt-in (cell config ``official_minibatches: n``, n = 10 in OMAR's
    code): ``main.py`` re-seeds ``np.random`` with seed + 100 at every evaluation (every 1,000 loop steps =
    10 update rounds), so each agent draws the same ``n`` minibatches, cycled, for the whole run. Here the
    ``n`` per-member minibatches come from a generator seeded by the run's seed alone, so a resumed run
    cycles the same ones. ``n = 0`` (the default, absent from the config): a fresh draw every update."""
    if n <= 0:
        return None
    g = torch.Generator(device=tensors["obs"].device).manual_seed(OFFICIAL_MINIBATCH_SEED + int(seed))
    return [learner.sample_batch(tensors, generator=g) for _ in range(n)]


OFFICIAL_MINIBATCH_SEED = 4_000_000  # generator seed offset of official_minibatches (apart from every other stream)


def score_readings(curve) -> dict[str, float]:
    """Other readings of a run's evaluation curve than the last evaluation (the record's ``score``): the best
    evaluation over training and the mean of the last 10 evaluations. The official code computes an
    evaluation return every 1,000 steps but never logs it (main.py), so which reading the paper printed is
    unknown; the records keep all three (in ``extra``) so every table can be re-read either way."""
    scores = [float(p["score"]) for p in curve if p.get("score") is not None]
    if not scores:
        return {"score_best": None, "score_last10": None}
    return {"score_best": max(scores), "score_last10": float(np.mean(scores[-10:]))}


# the dataset a cell trains on, and its identity now: run_cells refuses to mix dataset generations
offline_job.data_spec = lambda config: config.get("dataset")
offline_job.data_identity = dataset_identity


def _filter_options(parser) -> None:
    """--env / --dataset / --method: run part of an item's grid (each repeatable)."""
    g = parser.add_argument_group("grid filters (default: the whole grid)")
    g.add_argument("--env", action="append", choices=[*C.ENVS_MPE, C.ENV_CHEETAH], help="only this task")
    g.add_argument("--dataset", action="append", choices=C.DATASETS, help="only this dataset kind")
    g.add_argument("--method", action="append", choices=METHODS, help="only this method")


def agents_filter(item: str) -> dict:
    """``--n-agents N`` (repeatable) for Figures 1-2: keyword arguments (configure_parser, select) of
    common.experiment.main that run only the grid's cells with those n_agents (e.g. start n = 2
    while the datasets of the other n are still being generated). An n outside the profile's grid
    is an error; the plan still records the whole grid (main's ``select``)."""

    def configure(parser) -> None:
        g = parser.add_argument_group("grid filters (default: the whole grid)")
        g.add_argument("--n-agents", type=int, action="append", metavar="N",
                       help="only the cells with this number of agents (repeatable)")

    def select(cells, args):
        if not args.n_agents:
            return list(cells)
        have = sorted({c.keys["n_agents"] for c in cells})
        bad = sorted(set(args.n_agents) - set(have))
        if bad:
            raise SystemExit(f"{item}: --n-agents {bad} not in the {args.profile} grid; valid: {have}")
        return [c for c in cells if c.keys["n_agents"] in args.n_agents]

    return {"configure_parser": configure, "select": select}


def _select(cells, args):
    """The cells that pass ``--env / --dataset / --method`` (a key the grid lacks filters nothing)."""
    out = []
    for c in cells:
        k = c.keys
        if (args.env and "env" in k and k["env"] not in args.env
                or args.dataset and "dataset" in k and k["dataset"] not in args.dataset
                or args.method and "method" in k and k["method"] not in args.method):
            continue
        out.append(c)
    if cells and not out:
        grid = {k: sorted({str(c.keys[k]) for c in cells if k in c.keys}) for k in ("env", "dataset", "method")}
        raise SystemExit("no cell of the grid passes --env/--dataset/--method; the grid has "
                         + "; ".join(f"{k}: {', '.join(v)}" for k, v in grid.items() if v))
    return out


def run_item(description: str, item: str, build_cells, job_fn, argv=None, **main_kw):
    """common.experiment.main for an OMAR item whose grid has env / dataset / method keys, with
    the grid filters above. ``build_cells(profile)`` returns the whole grid."""
    from common.experiment import main as run_main

    if job_fn is offline_job:
        main_kw.setdefault("reuse_from", OFFLINE_JOB_ITEMS)
    return run_main(description, build_cells, job_fn, "omar", item, paper_overrides=C.PROFILE_OVERRIDES, argv=argv,
                    configure_parser=_filter_options, select=_select, **main_kw)
