"""Why OTC's pi^0 scores what it scores on one Table 1 dataset: the behaviour at the first steps of the data's
episodes (where every evaluation starts) beside pi^0's actions on the same states, and pi^0's own first steps from
the reset state. It trains nothing: it reads the cached pi^0 of Table 1's cell (run table1.py first).

    python papers/otc/pi0_probe.py --env mamujoco/halfcheetah-2x3 --dataset medium-replay --seed 0
    python papers/otc/pi0_probe.py --env mamujoco/hopper-3x1 --dataset medium-replay --steps 8 --out probe.json

Per step k of an episode (k = 0: the reset state), over the data's episodes: the rows, the behaviour's mean |a|, its
sign agreement (|mean a| / mean |a| per action dimension, averaged: 1 = every episode pushes the same way, near 0 =
the episodes cancel), the state's speed (mean |qvel|, the velocity part of MuJoCo's observation) and pi^0's mean
|a| on those states (BCQ's selected action). Then pi^0 played from one reset state for ``--steps`` steps: its |a|
and the speed it reaches. A policy that regresses onto disagreeing first actions outputs small ones, and if the data
hold no slow states beyond their first step, a pi^0 that starts slowly stays in states the data do not cover.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.algos import build_learner  # noqa: E402
from common.running.atomic import atomic_write_text  # noqa: E402
from common.running.profiles import PROFILE_NAMES, get_profile  # noqa: E402
from papers.otc import config as C  # noqa: E402
from papers.otc import mujoco_items as M  # noqa: E402
from papers.otc.deploy_env import load_dataset  # noqa: E402
from papers.otc.deploy_offline import offline_paths  # noqa: E402

# where the velocities start in Gymnasium's MuJoCo observation (qpos without the x position, then qvel)
QVEL_FROM = {"halfcheetah": 8, "walker2d": 8, "hopper": 5}


def start_profile(
    obs: np.ndarray, act: np.ndarray, starts: np.ndarray, ends: np.ndarray, qvel_from: int, steps: int
):
    """Per step k < ``steps`` of the episodes [starts[e], ends[e]) (rows with k < the episode's length): rows, the
    behaviour's mean |a|, its sign agreement and the state's mean |qvel|. ``obs`` [T, O], ``act`` [T, A]."""
    out = []
    for k in range(steps):
        rows = (starts + k)[starts + k < ends]
        if rows.size == 0:
            break
        a = act[rows]
        mean_abs = np.abs(a).mean(0)
        agree = np.where(mean_abs > 0, np.abs(a.mean(0)) / np.where(mean_abs > 0, mean_abs, 1.0), 0.0)
        out.append(
            {
                "step": k,
                "rows": int(rows.size),
                "abs_a": float(np.abs(a).mean()),
                "sign_agreement": float(agree.mean()),
                "speed": float(np.abs(obs[rows, qvel_from:]).mean()),
            }
        )
    return out


def slow_rows(obs: np.ndarray, qvel_from: int, edges: Sequence[float] = (0.2, 0.5, 1.0)) -> dict[str, int]:
    """How many of the data's states have mean |qvel| below each edge."""
    speed = np.abs(obs[:, qvel_from:]).mean(1)
    return {f"<{e}": int((speed < e).sum()) for e in edges}


def probe(profile: str, env: str, dataset: str, seed: int, steps: int) -> dict[str, Any]:
    """The probe's numbers for the cached pi^0 of Table 1's BCQ cell (``env``, ``dataset``, ``seed``) at ``profile``."""
    cfg = M.cell_config(get_profile(profile, C.PROFILE_OVERRIDES), env, dataset, "bcq")
    data, dev = load_dataset(cfg["dataset"]), torch.device("cpu")
    path = offline_paths(cfg, data, seed, dev)[0]
    if not path.exists():
        raise SystemExit(
            f"no cached pi^0 for {env} {dataset} seed {seed} at {profile} ({path}); run "
            f"`python papers/otc/table1.py --profile {profile} --env {env} --dataset {dataset} --method bcq` first"
        )
    learner = build_learner("bcq", data, dict(cfg["bcq"]), seed, dev)
    blob = torch.load(path, map_location=dev, weights_only=False)
    learner.load_state_dict(blob["learner"])
    t = data.to_torch(dev, keys=("obs", "actions"))
    obs, act = t["obs"], t["actions"]  # [T, N, O], [T, N, A_i]
    starts, ends = data.episode_bounds()
    qv = QVEL_FROM[C.TASK_OF[env]]
    joint_act = act.reshape(act.shape[0], -1).numpy()
    rows = start_profile(obs[:, 0].numpy(), joint_act, starts, ends, qv, steps)
    gen = torch.Generator().manual_seed(seed)
    for r in rows:
        idx = torch.as_tensor((starts + r["step"])[starts + r["step"] < ends])
        with torch.no_grad():
            sel = learner.select(obs[idx].permute(1, 0, 2), gen)  # members = agents
        r["pi0_abs_a"] = float(sel.abs().mean())
    import envs

    venv = envs.make_vec(cfg["dataset"]["env"], 1, **cfg["dataset"]["env_options"])
    o, pol, played = venv.reset(seeds=[10_000 + seed]), learner.policy(), []
    for k in range(steps):
        a = np.asarray(pol(o.reshape(1, 1, *o.shape[1:])))
        played.append(
            {"step": k, "speed": float(np.abs(o[0, 0, qv:]).mean()), "pi0_abs_a": float(np.abs(a).mean())}
        )
        o, _, _, _ = venv.step(a.reshape(1, o.shape[1], -1))
    return {
        "env": env,
        "dataset": dataset,
        "profile": profile,
        "seed": seed,
        "s0": blob.get("s0"),
        "episodes": int(len(starts)),
        "data_abs_a": float(np.abs(joint_act).mean()),
        "slow_rows": slow_rows(obs[:, 0].numpy(), qv),
        "first_steps": rows,
        "played_from_reset": played,
    }


def render(p: dict[str, Any]) -> str:
    head = (
        f"pi^0 (BCQ, seed {p['seed']}, {p['profile']}) on {p['env']} {p['dataset']}: S(pi^0) {p['s0']}; "
        f"{p['episodes']} episodes; behaviour mean |a| {p['data_abs_a']:.3f} over all rows; "
        f"rows with mean |qvel| {', '.join(f'{k}: {v}' for k, v in p['slow_rows'].items())}"
    )
    lines = [head, "step | rows | behaviour |a| | sign agreement | speed | pi^0 |a| on these states"]
    lines += [
        f"{r['step']:4d} | {r['rows']:4d} | {r['abs_a']:.3f} | {r['sign_agreement']:.2f} | {r['speed']:.3f} | "
        f"{r['pi0_abs_a']:.3f}"
        for r in p["first_steps"]
    ]
    lines += ["pi^0 played from a reset state: step | speed | pi^0 |a|"]
    lines += [f"{r['step']:4d} | {r['speed']:.3f} | {r['pi0_abs_a']:.3f}" for r in p["played_from_reset"]]
    return "\n".join(lines)


def probe_parser(script: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of a probe of one Table 1 cell (this one, cvae_probe.py): --env, --dataset, --profile, --seed."""
    ap = argparse.ArgumentParser(prog=f"python papers/otc/{script}", description=(doc or "").split("\n\n")[0])
    ap.add_argument("--env", default="mamujoco/halfcheetah-2x3", choices=sorted(C.TASK_OF))
    ap.add_argument("--dataset", default="medium-replay", choices=list(C.MUJOCO_DATASETS))
    ap.add_argument(
        "--profile", default="quick", choices=PROFILE_NAMES, help="Table 1's profile (default quick)"
    )
    ap.add_argument("--seed", type=int, default=0)
    return ap


def emit(p: dict[str, Any], render_fn: Any, out: Path | None) -> None:
    """Prints a probe's numbers as ``render_fn`` lays them out and, given ``out``, writes them there as JSON."""
    print(render_fn(p))
    if out is not None:
        atomic_write_text(out, json.dumps(p, indent=1) + "\n")
        print(f"wrote {out}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = probe_parser("pi0_probe.py", __doc__)
    ap.add_argument("--steps", type=int, default=6, help="first steps of an episode to read (default 6)")
    ap.add_argument("--out", type=Path, default=None, help="also write the numbers as JSON here")
    a = ap.parse_args(argv)
    if a.steps < 1:
        ap.error(f"--steps must be >= 1, got {a.steps}")
    torch.set_num_threads(1)
    emit(probe(a.profile, a.env, a.dataset, a.seed, a.steps), render, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
