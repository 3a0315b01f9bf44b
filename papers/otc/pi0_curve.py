"""OTC's offline stage on one dataset, with its learning curve: S(pi^0) every ``--eval-every`` updates up to the full
profile's offline length (BCQ 300,000), to choose where quick may stop training pi^0 (issue 65: "pi^0 trained to the
offline learner's converged level; show its curve").

    python papers/otc/pi0_curve.py --env mamujoco/hopper-3x1 --dataset medium-replay --seeds 0 1 2
    python papers/otc/pi0_curve.py --env mamujoco/hopper-3x1 --dataset medium --updates 100000 --eval-every 5000
    python papers/otc/pi0_curve.py --n-agents 4            # TD3+BC on 4-agent navigation (Figures 7-8's pi^0)
    python papers/otc/pi0_curve.py --env mamujoco/halfcheetah-2x3 --dataset medium --cache-for quick

``--cache-for P``: at the end the last pi^0 of each seed is stored as profile P's Table 1 pi^0 of that dataset (the
cache entry its tuning runs read), equal to what P's own offline stage trains (tests/test_otc_pi0_curve.py), so a
curve to the length P trains is P's offline stage, not a second run of it.

The cell is Table 1's uniform-sampling cell at ``--profile`` (papers/otc/mujoco_items.cell_config: Table 3's learner,
its data, ``eval_episodes``), so the curve is that of the pi^0 every Table 1 variant of a seed starts from; with
``--n-agents N`` it is Figures 7-8's: TD3+BC on N-agent cooperative navigation with the profile's uniform-random data
(papers/otc/nav_items.cell_config), scored by its raw return (the navigation data have no reference scores). The
seeds train as one stacked learner (each seed an update of its own, as alone); every evaluation plays each seed's
pi deterministically on its own evaluation episodes (papers/otc/deploy.evaluate_learners). Resumable: the seeds'
states and the rows so far are checkpointed in the data cache after every evaluation; a killed run goes on from
the last one. Writes results/<profile>/otc/pi0_curve/<task>_<dataset>_<learner>.{json,md,png}: every evaluation
(updates, per-seed returns and D4RL-normalized scores, wall seconds), the config, the commit and the CPU
(navigation_n<N>_td3bc.* with ``--n-agents``). Until it finishes, the curve so far is rewritten after every
evaluation as <name>_partial.{json,md,png} (marked partial; committed when a session ends first, since only git
outlives a session), and removed when the finished curve is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.algos import build_learner  # noqa: E402
from common.datasets.card import data_root  # noqa: E402
from common.datasets.returns import normalize  # noqa: E402
from common.running.atomic import atomic_torch_save, atomic_write_text  # noqa: E402
from common.running.profiles import PROFILE_NAMES, get_profile  # noqa: E402
from common.running.runtime import cpu_model, current_threads, git_commit  # noqa: E402
from papers.otc import config as C  # noqa: E402
from papers.otc import deploy as D  # noqa: E402
from papers.otc import mujoco_items as M  # noqa: E402

LEARNERS = ("bcq", "awac")  # Table 1's offline learners [P]
NAV_LEARNER = "td3bc"  # Figures 7-8's offline learner on navigation [P Sec. 4.7]


def curve_config(profile: str, env: str, dataset: str, learner: str, updates: int | None) -> dict[str, Any]:
    """Table 1's ``learner`` cell (uniform sampling) on (env, dataset) at ``profile``, ``offline_updates`` =
    ``updates`` (default: the profile's)."""
    if learner not in LEARNERS:
        raise ValueError(f"unknown offline learner {learner!r}; valid: {', '.join(LEARNERS)}")
    cfg = M.cell_config(get_profile(profile, C.PROFILE_OVERRIDES), env, dataset, learner)
    return _with_updates(cfg, updates)


def nav_curve_config(profile: str, n_agents: int, updates: int | None) -> dict[str, Any]:
    """Figures 7-8's TD3+BC cell (uniform sampling) on ``n_agents``-agent navigation at ``profile``,
    ``offline_updates`` = ``updates`` (default: the profile's)."""
    from papers.otc import nav_items as V

    return _with_updates(
        V.cell_config(get_profile(profile, C.PROFILE_OVERRIDES), n_agents, NAV_LEARNER), updates
    )


def _with_updates(cfg: dict[str, Any], updates: int | None) -> dict[str, Any]:
    if updates is not None:
        if int(updates) < 1:
            raise ValueError(f"--updates must be >= 1, got {updates}")
        cfg["offline_updates"] = int(updates)
    return cfg


def _key(cfg: dict[str, Any], data, seeds: Sequence[int], eval_every: int) -> str:
    cfg = {k: v for k, v in cfg.items() if k != "offline_updates"}  # a longer run continues a shorter one
    blob = {
        "cfg": cfg,
        "data": data.card.get("sha256"),
        "seeds": list(seeds),
        "eval_every": int(eval_every),
        "threads": current_threads(),
        "torch": torch.__version__,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _stack(cfg, data, seeds: Sequence[int], states: Sequence[dict] | None, device):
    name = str(cfg["learner"])
    own = [build_learner(name, data, dict(cfg[name]), s, device) for s in seeds]
    for lr, st in zip(own, states or []):
        lr.load_state_dict(st)
    return type(own[0]).stack(own) if len(own) > 1 else own[0]


def _progress(total: int, label: str):
    """The progress over ``total`` updates (common.running.progress.progress_bar)."""
    from common.running.progress import progress_bar

    return progress_bar(total, label)


def cache_pi0(
    cfg: dict[str, Any], data, learner, seeds: Sequence[int], profile: str, device, log=print
) -> list[Path]:
    """Store each seed's pi^0 at the curve's last update as the cached pi^0 of Table 1's cell at ``profile`` with as
    many offline updates (deploy_offline.offline_paths: the entry a tuning run reads before training its own), with
    S(pi^0) evaluated as that cell evaluates it: a curve to the length a profile trains is then that profile's
    offline stage. Entries already cached are kept. Refused where the cell's learner section or data differ."""
    name, total = str(cfg["learner"]), int(cfg["offline_updates"])
    ds = cfg["dataset"]
    cell = M.cell_config(get_profile(profile, C.PROFILE_OVERRIDES), ds["env"], ds["kind"], name)
    if cell[name] != cfg[name]:
        raise ValueError(
            f"--cache-for {profile}: its {name} section {cell[name]} differs from the curve's {cfg[name]}"
        )
    cell_data = D.load_dataset(cell["dataset"])
    if cell_data.card.get("sha256") != data.card.get("sha256"):
        raise ValueError(f"--cache-for {profile}: its data ({cell_data.id}) are not the curve's ({data.id})")
    if int(cell["offline_updates"]) != total:
        log(
            f"note: {profile}'s cells train {cell['offline_updates']:,} updates, not {total:,}: no cell reads these"
        )
    cell = {**cell, "offline_updates": total}
    states = learner.split_state() if len(seeds) > 1 else [learner.state_dict()]
    out = []
    for seed, state in zip(seeds, states):
        path = D.offline_paths(cell, cell_data, seed, device)[0]
        if not path.exists():
            one = build_learner(name, cell_data, dict(cell[name]), seed, device)
            one.load_state_dict(state)
            s0 = D.evaluate_learner(one, cell, seed)
            atomic_torch_save({"learner": one.state_dict(), "s0": s0, "updates": total}, path)
            log(f"cached pi^0 seed {seed} for {profile} ({total:,} updates, S(pi^0) {s0:.1f}): {path}")
        out.append(path)
    return out


def run_curve(
    cfg: dict[str, Any],
    seeds: Sequence[int],
    eval_every: int,
    device: str = "cpu",
    log=print,
    cache_for: Sequence[str] = (),
    on_eval: Callable[[dict[str, Any]], Any] | None = None,
) -> dict[str, Any]:
    """Train pi^0 of every seed to ``cfg["offline_updates"]``, evaluating every ``eval_every`` updates (and at the
    end); resumes from its checkpoint; then stores the last pi^0 as each ``cache_for`` profile's Table 1 pi^0
    (``cache_pi0``; not with ``--n-agents``); ``on_eval`` gets the curve so far (``curve_out``) after every
    checkpoint. -> ``curve_out``: {"rows": [...], "config": cfg, "seeds": [...], "total": updates, ...}."""
    if eval_every < 1:
        raise ValueError(f"--eval-every must be >= 1, got {eval_every}")
    data = D.load_dataset(cfg["dataset"])
    ckpt = data_root() / "otc" / "pi0_curve" / f"{_key(cfg, data, seeds, eval_every)}.pt"
    blob = torch.load(ckpt, map_location=device, weights_only=False) if ckpt.exists() else None
    learner = _stack(cfg, data, seeds, blob["states"] if blob else None, device)
    rows: list[dict[str, Any]] = list(blob["rows"]) if blob else []
    step, total = (int(blob["step"]) if blob else 0), int(cfg["offline_updates"])
    if blob:
        log(f"resumed at update {step} from {ckpt}")
    tensors = {k: v.to(device) for k, v in data.to_torch(device, keys=D.BATCH_KEYS).items()}
    if len(seeds) > 1:
        tensors = learner.stack_data([tensors] * len(seeds))
    t0 = time.perf_counter() - (rows[-1]["wall_s"] if rows else 0.0)
    label = f"pi^0 {cfg['learner']} x {len(seeds)} seeds"
    while step < total:  # the offline stage's own loop (deploy_offline.train_offline) between evaluations
        stop = min(total, (step // eval_every + 1) * eval_every)
        D.train_offline(learner, tensors, step, stop, _progress, label, lambda at: None)
        step = stop
        scores = D.evaluate_learners(learner, cfg, seeds)
        norm = [float(normalize(s, data.card)) for s in scores] if _has_refs(data) else None
        rows.append(
            {
                "updates": step,
                "scores": scores,
                "normalized": norm,
                "wall_s": round(time.perf_counter() - t0, 1),
            }
        )
        shown = scores if norm is None else norm
        per_seed = ", ".join(f"{x:.1f}" for x in shown)
        what = "return" if norm is None else "normalized"
        log(f"update {step}: {what} {np.mean(shown):.1f} ± {np.std(shown):.1f} ({per_seed})")
        states = learner.split_state() if len(seeds) > 1 else [learner.state_dict()]
        atomic_torch_save({"states": states, "rows": rows, "step": step}, ckpt)
        if on_eval is not None and step < total:
            on_eval(curve_out(cfg, data, rows, seeds, eval_every, device))
    for profile in cache_for:
        cache_pi0(cfg, data, learner, seeds, profile, device, log)
    return curve_out(cfg, data, rows, seeds, eval_every, device)


def curve_out(
    cfg: Mapping[str, Any], data, rows: Sequence[Mapping[str, Any]], seeds, eval_every: int, device
) -> dict[str, Any]:
    """What a curve's outputs hold: its rows so far, of ``total`` updates, and where they were made."""
    return {
        "rows": list(rows),
        "total": int(cfg["offline_updates"]),
        "config": cfg,
        "seeds": list(seeds),
        "eval_every": int(eval_every),
        "data": {"id": data.id, "sha256": data.card.get("sha256"), "size": len(data)},
        "commit": git_commit(),
        "cpu": cpu_model(),
        "threads": current_threads(),
        "device": str(device),
    }


def _has_refs(data) -> bool:
    refs = data.card.get("ref_scores") or {}
    return refs.get("random") is not None and refs.get("expert") is not None


def partial_base(base: Path) -> Path:
    """Where an unfinished curve's outputs go (``<name>_partial``.json/.md/.png), beside the finished ones."""
    return base.with_name(base.name + "_partial")


def write_outputs(out: dict[str, Any], base: Path) -> list[Path]:
    """``base``.json (everything), .md (the table) and .png (mean ± std of the D4RL-normalized score, or of the
    return where the data have no reference scores, vs updates). A curve short of its ``total`` says so in its
    table; the caller names it ``partial_base``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = out["rows"]
    raw = bool(rows) and rows[0]["normalized"] is None  # navigation: no reference scores, the return itself
    key, what = ("scores", "return") if raw else ("normalized", "D4RL-normalized")
    x = np.array([r["updates"] for r in rows])
    y = np.array([r[key] for r in rows])  # [evals, seeds]
    c = out["config"]
    ds = c["dataset"]
    opts = ", ".join(f"{k} {v}" for k, v in (ds.get("env_options") or {}).items())
    data = f"{ds['data_profile']} data" if "data_profile" in ds else f"{ds.get('size', '?'):,} rows; {opts}"
    title = f"pi^0 {c['learner']} on {ds['env']} {ds['kind']} ({data})"
    lines = [
        f"# {title}",
        "",
        f"{len(out['seeds'])} seeds {out['seeds']}, {c['eval_episodes']} deterministic evaluation episodes each; "
        f"commit {(out['commit'] or {}).get('commit', 'unknown')[:10]}; {out['cpu']}, {out['threads']} thread(s); "
        f"data {out['data']['id']} ({out['data']['size']} rows).",
        "",
        f"{c['learner']} section (the profile's overrides, and any --set variant): "
        f"{json.dumps(c.get(c['learner']) or {}, sort_keys=True)}.",
        "",
        *(
            [
                f"**Partial**: {rows[-1]['updates'] if rows else 0:,} of {out['total']:,} updates; the run resumes "
                "from its checkpoint in the data cache (on the machine that made it), and its finished curve "
                "replaces this one.",
                "",
            ]
            if rows and rows[-1]["updates"] < out.get("total", rows[-1]["updates"])
            else []
        ),
        f"| updates | {what} mean ± std | per seed | return per seed | wall |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['updates']:,} | {np.mean(r[key]):.1f} ± {np.std(r[key]):.1f} | "
            + ", ".join(f"{v:.1f}" for v in r[key])
            + " | "
            + ", ".join(f"{v:.0f}" for v in r["scores"])
            + f" | {r['wall_s'] / 60:.1f} min |"
        )
    base.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(base.with_suffix(".json"), json.dumps(out, indent=1, default=str) + "\n")
    atomic_write_text(base.with_suffix(".md"), "\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    if len(rows):
        m, s = y.mean(1), y.std(1)
        ax.plot(x, m, marker="o", ms=3)
        ax.fill_between(x, m - s, m + s, alpha=0.25)
    ax.set_xlabel("offline updates")
    ax.set_ylabel(f"{what} S(pi^0)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    tmp = base.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(base.with_suffix(".png"))
    return [base.with_suffix(s) for s in (".json", ".md", ".png")]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python papers/otc/pi0_curve.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="mamujoco/hopper-3x1", choices=sorted(C.TASK_OF))
    ap.add_argument("--dataset", default="medium-replay", choices=list(C.MUJOCO_DATASETS))
    ap.add_argument("--learner", default="bcq", choices=LEARNERS)
    ap.add_argument(
        "--n-agents",
        type=int,
        default=None,
        help="Figures 7-8's pi^0 instead: TD3+BC on this many agents' navigation (--env, --dataset, --learner unused)",
    )
    ap.add_argument(
        "--profile", default="full", choices=PROFILE_NAMES, help="config and data profile (default full)"
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--updates", type=int, default=None, help="offline updates (default: the profile's)")
    ap.add_argument("--eval-every", type=int, default=10_000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1, as the items' runs: "
        "Table 1's pi^0 equals the curve's only at equal threads)",
    )
    ap.add_argument(
        "--cache-for",
        nargs="+",
        default=[],
        choices=PROFILE_NAMES,
        help="store the last pi^0 as these profiles' Table 1 pi^0 (read where their cells train as many updates)",
    )
    ap.add_argument("--results", default="results", help="results root (default: results)")
    ap.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="FIELD=VALUE",
        help="a variant of the learner (its config fields, VALUE as JSON), e.g. `--set lam=1e9` (AWAC as weighted "
        "BC) or `--set mean_tanh=true log_std_param=sigmoid` (rlkit's policy form); named in the outputs' file name",
    )
    a = ap.parse_args(argv)
    if len(set(a.seeds)) != len(a.seeds):
        ap.error(f"--seeds repeats a seed: {a.seeds}")
    if a.threads < 1:
        ap.error(f"--threads must be >= 1, got {a.threads}")
    torch.set_num_threads(a.threads)
    if a.set and a.cache_for:
        ap.error("--cache-for stores Table 1's pi^0; a --set variant is not it")
    if a.n_agents is not None and (a.cache_for or a.set):
        if a.set:
            ap.error("--set varies Table 1's learner; it does not go with --n-agents")
        ap.error("--cache-for stores Table 1's pi^0; it does not go with --n-agents")
    if a.n_agents is not None:
        if a.n_agents < 1:
            ap.error(f"--n-agents must be >= 1, got {a.n_agents}")
        cfg, name = (
            nav_curve_config(a.profile, a.n_agents, a.updates),
            f"navigation_n{a.n_agents}_{NAV_LEARNER}",
        )
    else:
        cfg = curve_config(a.profile, a.env, a.dataset, a.learner, a.updates)
        name = f"{C.TASK_OF[a.env]}_{a.dataset}_{a.learner}"
        try:
            variant = C.learner_overrides(a.learner, a.set)
        except ValueError as e:
            ap.error(str(e))
        if variant:
            cfg[a.learner] = {**dict(cfg[a.learner]), **variant}
            name += "_" + "_".join(a.set)  # as typed: lam=1e9, not lam=1000000000.0
    base = Path(a.results) / a.profile / "otc" / "pi0_curve" / name
    out = run_curve(
        cfg,
        a.seeds,
        a.eval_every,
        a.device,
        cache_for=a.cache_for,
        on_eval=lambda part: write_outputs(part, partial_base(base)),
    )
    for p in write_outputs(out, base):
        print(f"wrote {p}")
    for suffix in (".json", ".md", ".png"):  # the finished curve replaces the partial one
        partial_base(base).with_suffix(suffix).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
