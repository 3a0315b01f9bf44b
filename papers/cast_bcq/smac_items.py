"""What CAST-BCQ's StarCraft items on SMAX (Table 1, Figure 5) share: the cell config, the job (offline training of
papers/cast_bcq/smac.py's learners, win-rate evaluations on SMAX with the code's epsilon-greedy test actions), the
grid, the claims.

SMAX SUBSTITUTE: the paper plays SMAC on StarCraft II against the built-in AI with ICQ's datasets; we play JaxMARL's
SMAX against its scripted heuristic enemy with our MAPPO-snapshot datasets (common.datasets.smax, kind "mixed"), so
absolute win rates are NOT comparable to the paper's; only the orderings (the claims, papers/cast_bcq/claims.py) are
compared. The MMM cell runs smax/MMM_no_medivac (no Medivac in SMAX): a labelled substitute whose claims are not
counted.

A cell config:
  dataset     {"env": "smax/<map>", "map", "kind": "mixed", "data_profile"} (common.datasets.smax.load)
  cast_smax   SmaxConfig fields (method, batch_size, widths, sub-team draws at smoke)
  method      the column key (i_bcq, mabcq, icq_ma, cast_bcq; bc: ours, the fair baseline)
  updates, eval_every, eval_episodes, ckpt_every
Score = the last evaluation's win rate as a fraction (the report shows %); the curve = every evaluation.
Cells as members (``--group N``, common/running/grouping.py): the seeds of one cell train as one stacked SmaxLearner
(``run_group``), with the records of the runs alone (docs/scaling.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

import envs
from common.running.evaluate import eval_seed
from common.running.experiment import Cell, Job
from common.running.offline import data_identity_of, dataset_of, run_metrics
from common.running.records import canonical_json, to_jsonable
from papers.cast_bcq import config as C
from papers.cast_bcq.claims_smax import SMAX_RUN_METHODS as METHODS
from papers.cast_bcq.claims_smax import SMAX_VARIANTS
from papers.cast_bcq.smac import LEARNER_NAME, SmaxLearner, smax_learner

ITEMS = ("table1", "figure5")  # identical runs: one item's run is copied, not re-run, by the other


def load_dataset(spec: Mapping[str, Any]):
    """The SMAX dataset a cell's spec names (built first when missing: common.datasets.smax)."""
    from common.datasets.smax import load

    return load(spec["map"], spec["kind"], spec["data_profile"], progress=False)


def dataset_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    return data_identity_of(load_dataset(spec))


def smax_config(profile, env: str, method: str) -> dict[str, Any]:
    """The cell config of column ``method`` on map ``env`` (config.SMAX_MAPS) at ``profile``."""
    if method not in METHODS:
        raise ValueError(f"unknown SMAX method {method!r}; valid: {', '.join(METHODS)}")
    if env not in C.SMAX_MAPS:
        raise ValueError(f"unknown SMAX map {env!r}; valid: {', '.join(C.SMAX_MAPS)}")
    settings = profile.paper
    updates = settings.smax_updates
    eval_every = max(1, updates // settings.smax_evals)
    # a variant column (claims_smax.SMAX_VARIANTS) is its learner's method with a few fields set
    fields: dict[str, Any] = {
        "method": method,
        **SMAX_VARIANTS.get(method, {}),
        "batch_size": settings.smax_batch,
        "reward_scale": C.SMAX_REWARD_SCALE,
    }
    learner_method = fields["method"]
    if updates != C.SMAX_UPDATES:  # the code's epsilon schedules laid over this profile's updates (smac.py)
        fields["schedule_scale"] = C.SMAX_UPDATES / updates
    if settings.smax_width is not None:
        fields["hidden"] = settings.smax_width
        if learner_method in ("icq_ma", "cast_bcq"):
            fields["critic_hidden"] = settings.smax_width
    if learner_method == "cast_bcq" and settings.smax_subteams is not None:
        fields["subteams"] = settings.smax_subteams
    return {
        "dataset": {
            "env": env,
            "map": env.split("/", 1)[1],
            "kind": "mixed",
            "data_profile": profile.name,
            "env_options": {},
            "return_mode": "mean",
        },
        "learner": LEARNER_NAME,
        LEARNER_NAME: fields,
        "method": method,
        "updates": updates,
        "eval_every": eval_every,
        "eval_episodes": settings.smax_eval_episodes,
        "ckpt_every": max(eval_every, updates // 10),
    }


def cells(item: str, profile, methods: Sequence[str] = METHODS) -> list[Cell]:
    return [
        Cell("cast_bcq", item, {"env": e, "method": m}, smax_config(profile, e, m))
        for e in C.SMAX_MAPS
        for m in methods
    ]


@torch.no_grad()
def win_rates(learner: SmaxLearner, env: str, seeds: Sequence[int], episodes: int) -> np.ndarray:
    """Win rate [S] (fraction) of each seed's masked test policy over ``episodes`` SMAX test episodes, env seeds
    eval_seed(seed) + e (apart from training); one batched env for all seeds and episodes. Test actions are the
    code's epsilon-greedy ones at the learner's update count (``SmaxLearner.test_epsilon``), each seed's random
    draws from its own generator seeded by (eval_seed(seed), update count): a seed's win rate does not depend on the
    seeds beside it (a stack of runs, ``run_group``)."""
    S, E = len(seeds), int(episodes)
    eps = learner.test_epsilon()
    gen = [
        torch.Generator(device=learner.device).manual_seed(eval_seed(s) * 1_000_003 + learner.step)
        for s in seeds
    ]
    venv = envs.make_vec(env, S * E)
    obs = venv.reset(seeds=[eval_seed(s) + e for s in seeds for e in range(E)])
    N, K = obs.shape[1], venv.avail_actions().shape[-1]
    won = np.zeros(S * E, dtype=bool)
    done = np.zeros(S * E, dtype=bool)
    while not done.all():
        a = learner.act(obs.reshape(S, E, N, -1), venv.avail_actions().reshape(S, E, N, K), eps, gen)
        obs, _, _, done = venv.step(a.reshape(S * E, N))
        won |= venv.info["won"]
    venv.close()
    return won.reshape(S, E).mean(axis=1)


def run(cell, seed: int, ctx) -> dict[str, Any]:
    """One (cell, seed): train offline, evaluate the win rate every ``eval_every`` updates (module docstring)."""
    cfg = cell.config
    data = load_dataset(cfg["dataset"])
    learner = smax_learner(data, cfg[LEARNER_NAME], [seed], ctx.device)
    tensors = learner.prepare_data({**data.to_torch(ctx.device), **data.extras_torch(ctx.device)})
    step = 0
    saved = ctx.load_checkpoint()
    if saved is not None:
        learner.load_state_dict(saved["learner"])
        step = int(saved["step"])
    U, k = int(cfg["updates"]), int(cfg["eval_every"])
    with ctx.progress(U - step) as bar:
        while step < U:
            learner.update(learner.sample_batch(tensors))
            step += 1
            bar.update(1)
            if step % k == 0 or step == U:
                ctx.log(
                    step,
                    score=float(win_rates(learner, cfg["dataset"]["env"], [seed], cfg["eval_episodes"])[0]),
                )
            if ctx.checkpoint_due(step, int(cfg["ckpt_every"]), U):
                ctx.save_checkpoint({"learner": learner.state_dict(), "step": step}, step=step)
    out = run_metrics(ctx.curve, data)
    out["data_win_rate"] = data.win_rate
    return out


def group_key(config: Mapping[str, Any]) -> str:
    """Cells as members (common/running/grouping.py, ``--group``): the seeds of one cell (map, method, dataset, learner
    config and schedule all equal) train as one stacked SmaxLearner."""
    return canonical_json(to_jsonable(config))


def run_group(runs: Sequence[tuple[Any, int, Any]]) -> list[dict[str, Any]]:
    """The runs ``[(cell, seed, ctx)]`` of one ``group_key``: each learner built and resumed as ``run`` does, those
    at one update count stacked (``SmaxLearner.stack``) and trained as one; each run's evaluations, checkpoints
    (its own, in the format of a run alone) and metrics as ``run``'s."""
    cfg = runs[0][0].config
    data = load_dataset(cfg["dataset"])
    dev = runs[0][2].device
    learners, by_step = [], {}
    for k, (_, seed, ctx) in enumerate(runs):
        learner = smax_learner(data, cfg[LEARNER_NAME], [seed], dev)
        saved = ctx.load_checkpoint()
        if saved is not None:
            learner.load_state_dict(saved["learner"])
        learners.append(learner)
        by_step.setdefault(0 if saved is None else int(saved["step"]), []).append(k)
    tensors = learners[0].prepare_data({**data.to_torch(dev), **data.extras_torch(dev)})
    U, every = int(cfg["updates"]), int(cfg["eval_every"])
    for step, ks in by_step.items():
        stack = SmaxLearner.stack([learners[k] for k in ks])
        seeds, ctxs = [runs[k][1] for k in ks], [runs[k][2] for k in ks]
        with ctxs[0].progress(U - step, desc=f"stack of {len(ks)} runs") as bar:
            while step < U:
                stack.update(stack.sample_batch(tensors))
                step += 1
                bar.update(1)
                if step % every == 0 or step == U:
                    for ctx, score in zip(
                        ctxs, win_rates(stack, cfg["dataset"]["env"], seeds, cfg["eval_episodes"])
                    ):
                        ctx.log(step, score=float(score))
                if ctxs[0].checkpoint_due(step, int(cfg["ckpt_every"]), U):  # the stack's runs save together
                    for ctx, state in zip(ctxs, stack.split_state()):
                        ctx.save_checkpoint({"learner": state, "step": step}, step=step)
    outs = []
    for _, _, ctx in runs:
        out = run_metrics(ctx.curve, data)
        out["data_win_rate"] = data.win_rate
        outs.append(out)
    return outs


JOB = Job(
    run=run, data_spec=dataset_of, data_identity=dataset_identity, group_key=group_key, run_group=run_group
)


def finish(item: str):
    """The item's ``finish(records, results, profile)``: curves (Figure 5) and the claims on a complete grid."""

    def _finish(records, results: Path, profile: str) -> None:
        from common.reporting.claims import Evidence, check_claims
        from common.reporting.plotting import plot_curves
        from common.running.profiles import get_profile
        from papers.cast_bcq.claims import CLAIMS

        if item == "figure5":
            for env in C.SMAX_MAPS:
                recs = records.select(env=env)
                if recs:
                    sub = " (SUBSTITUTE for MMM)" if env in C.SMAX_SUBSTITUTES else ""
                    png = plot_curves(
                        recs,
                        results / profile / "cast_bcq" / f"{item}_{env.split('/')[1]}.png",
                        ["method"],
                        "score",
                        f"Fig. 5 on SMAX{sub}: {env.split('/')[1]} (win rate)",
                    )
                    print(f"[cast_bcq/{item}] wrote {png}", flush=True)
        # claims_smax.smax_grid: each cell with every seed
        n_seeds = get_profile(profile, C.PROFILE_OVERRIDES).n_seeds
        check_claims(results, "cast_bcq", item, CLAIMS, Evidence(records, profile), n_seeds)

    return _finish


def entry(doc: str, item: str) -> tuple[Callable, Callable]:
    """A StarCraft item script's ``build_cells(profile)`` (``cells``) and ``main(argv)``: common.running.cli.main with
    the grid filters --env / --method, runs shared with the other item, the curves and verdicts of ``finish(item)``."""

    def build_cells(profile) -> list[Cell]:
        return cells(item, profile)

    def main(argv=None):
        from common.reporting.figures import item_after
        from common.running.cli import grid_filters
        from papers.cast_bcq.jobs import run_item

        return run_item(
            doc.splitlines()[0],
            item,
            build_cells,
            JOB,
            argv=argv,
            needs=C.needs_smax,
            reuse_from=ITEMS,
            after=item_after("cast_bcq", item, finish(item)),
            **grid_filters({"env": list(C.SMAX_MAPS), "method": list(METHODS)}, item),
        )

    return build_cells, main
