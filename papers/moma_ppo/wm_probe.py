"""MOMA-PPO world-model probe (Reacher, Ant): the trained ensemble's reward and penalty against the true simulator.

For ``--rows`` states of a cell's data, each of four action families (the dataset's own actions, uniform in
[-1, 1], +-0.5 and +-1 per joint) goes through the cell's world model (the cached ensemble, trained first if
missing) and through the true MuJoCo model set to the same state. ``--task reacher``: Table 4a's expert-mix data and
world model of ``--obs-mode``, Reacher-v5 set to the state. ``--task ant``: Table 4b's ``--dataset`` (default
full-replay, Figure 6's and the ablations') and world model of ``--obs-mode`` (full or partial), stepped by the
ground-truth simulator of the ablation (a) (papers/moma_ppo/simulator.py: Ant-v5 set to the state the joint
observation determines; its forward reward is within a few 1e-3 of a live step's). Printed per family: the true
reward, the elites' predicted reward before the penalty (r-bar, clipped to the data's range as in rollouts), their
mean absolute error, the penalty, eps_g and the share of rows over the rollout threshold l_eps. A world model that
predicts the control cost of large actions, or disagrees on them, keeps MAPPO from exploiting them; one that does
neither lets it (README, "Table 4a (quick)", "Table 4b (quick)").

    python papers/moma_ppo/wm_probe.py --profile quick --obs-mode full
    python papers/moma_ppo/wm_probe.py --profile quick --task ant --obs-mode partial --dataset full-replay
    python papers/moma_ppo/wm_probe.py --profile quick --obs-mode full --world-model '{"hidden": 1024}'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.running.cli_args import json_overrides  # noqa: E402
from common.running.profiles import get_profile  # noqa: E402
from common.running.runtime import check_device  # noqa: E402
from papers.moma_ppo import config as C  # noqa: E402
from papers.moma_ppo import data_config as DC  # noqa: E402
from papers.moma_ppo.worldmodel_data import WorldModelConfig  # noqa: E402

FAMILIES = ("dataset", "uniform", "half", "saturated")


def true_rewards(states: np.ndarray, joint_actions: np.ndarray) -> np.ndarray:
    """Reacher-v5's reward of one step from each 10-dim state (cos, sin of both joints, target x, y, both joint
    velocities, fingertip - target) under its joint action [B, 2] (clipped to the bounds, as our env does):
    the simulator set to (qpos, qvel) = ((theta0, theta1, target), (omega0, omega1, 0, 0)) and stepped once."""
    import gymnasium

    s = np.asarray(states, dtype=np.float64)
    a = np.clip(np.asarray(joint_actions, dtype=np.float64), -1.0, 1.0)
    if s.ndim != 2 or s.shape[1] != 10 or a.shape != (len(s), 2):
        raise ValueError(f"states [B, 10] and joint actions [B, 2] expected, got {s.shape} and {a.shape}")
    env = gymnasium.make("Reacher-v5").unwrapped  # what mamujoco/reacher-2x1 steps (envs/mamujoco.py)
    env.reset(seed=0)
    out = np.empty(len(s))
    for i in range(len(s)):  # a diagnostic, not a hot path: one MuJoCo step per row
        qpos = np.array([np.arctan2(s[i, 2], s[i, 0]), np.arctan2(s[i, 3], s[i, 1]), s[i, 4], s[i, 5]])
        env.set_state(qpos, np.array([s[i, 6], s[i, 7], 0.0, 0.0]))
        out[i] = env.step(a[i])[1]
    env.close()
    return out


def family_actions(name: str, data_actions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-agent actions [B, N, A] of one family (FAMILIES)."""
    shape = data_actions.shape
    if name == "dataset":
        return np.asarray(data_actions, dtype=np.float32)
    if name == "uniform":
        return rng.uniform(-1.0, 1.0, shape).astype(np.float32)
    if name == "half":
        return rng.choice([-0.5, 0.5], shape).astype(np.float32)
    if name == "saturated":
        return rng.choice([-1.0, 1.0], shape).astype(np.float32)
    raise ValueError(f"action family {name!r} is not known; allowed: {', '.join(FAMILIES)}")


def reacher_truth(data, idx: np.ndarray):
    """``true(a)`` -> Reacher-v5's reward of each probed row (``data.state`` holds the 10-dim state) under the
    per-agent actions a [B, N, A]."""
    from envs import make as make_env

    env, states = make_env(DC.REACHER_ENV, obs_mode="full"), np.asarray(data.state[idx])
    return lambda a: true_rewards(states, env.join(a))


def ant_truth(data, idx: np.ndarray, obs_mode: str):
    """``true(a)`` -> Ant-v5's reward of each probed row under the per-agent actions a [B, N, A], from the state
    that the row's joint observation determines (simulator.GroundTruthSimulator, both obs modes)."""
    from papers.moma_ppo.simulator import GroundTruthSimulator

    sim, obs = GroundTruthSimulator(DC.ANT_ENV, {"obs_mode": obs_mode}), torch.as_tensor(data.obs[idx])
    return lambda a: sim.sample(obs, torch.as_tensor(a))["rewards"][:, 0].double().numpy()


def probe(wm, data, rows: int, seed: int = 0, truth=reacher_truth) -> list[dict[str, float]]:
    """One dict per action family (module docstring) on ``rows`` random rows of ``data``; ``truth(data, idx)``
    returns the true-reward function of those rows (``reacher_truth``, or ``ant_truth`` with its obs mode bound)."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(data.size, min(int(rows), data.size), replace=False))
    dev = getattr(wm, "device", "cpu")
    obs, true_of = torch.as_tensor(data.obs[idx], device=dev), truth(data, idx)
    out = []
    for name in FAMILIES:
        a = family_actions(name, data.actions[idx], rng)
        with torch.no_grad():
            s = wm.sample(
                obs, torch.as_tensor(a, device=dev), generator=torch.Generator(dev).manual_seed(seed)
            )
            s = {k: v.cpu() for k, v in s.items()}
        pred = s["rewards_clipped"][:, 0].double().numpy()
        true = true_of(a)
        out.append(
            {
                "actions": name,
                "mean |a|": float(np.abs(a).mean()),
                "true r": float(true.mean()),
                "predicted r": float(pred.mean()),
                "MAE": float(np.abs(pred - true).mean()),
                "penalty": float(s["penalty"].mean()),
                "eps_g": float(s["eps_g_raw"].mean()),
                "share eps_g > l_eps": float((s["eps_g_raw"] > wm.cfg.threshold).double().mean()),
            }
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    import functools

    from tabulate import tabulate

    from papers.moma_ppo.jobs import (
        ProbeContext,
        ant_moma_config,
        load_dataset,
        reacher_moma_config,
        world_model,
    )
    from papers.moma_ppo.published import ANT_DATASETS

    p = argparse.ArgumentParser(
        prog="python papers/moma_ppo/wm_probe.py", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--profile", choices=("smoke", "quick", "full"), default="quick", help="scale (default quick)"
    )
    p.add_argument(
        "--task",
        choices=("reacher", "ant"),
        default="reacher",
        help="reacher: Table 4a's world model; ant: Table 4b's (default reacher)",
    )
    modes = sorted(set(DC.REACHER_OBS_MODES) | set(DC.ANT_OBS_MODES))
    p.add_argument(
        "--obs-mode",
        choices=modes,
        default="full",
        help=f"the world model's observation function: Reacher {', '.join(DC.REACHER_OBS_MODES)}; Ant "
        f"{', '.join(DC.ANT_OBS_MODES)} (default full)",
    )
    p.add_argument(
        "--dataset",
        choices=ANT_DATASETS,
        default=C.F6_DATASET,
        help=f"Ant dataset (default {C.F6_DATASET}; Reacher always probes its expert-mix)",
    )
    p.add_argument("--rows", type=int, default=4000, help="dataset states probed (default 4000)")
    p.add_argument("--seed", type=int, default=0, help="row and action draws (default 0)")
    p.add_argument(
        "--world-model",
        type=json_overrides(WorldModelConfig, "--world-model"),
        default={},
        metavar="JSON",
        help="WorldModelConfig overrides of the cell's, e.g. the code's heads at quick '{\"hidden\": 1024}' "
        "(default none; an ensemble of other settings is trained once and cached under its own name)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device of the ensemble: cpu, cuda, cuda:N (default cpu; training the code's 4 x 1024 "
        "heads takes ~6 h of one CPU core)",
    )
    p.add_argument(
        "--more-updates",
        type=int,
        default=0,
        metavar="N",
        help="train the cached ensemble N more updates first, then re-select its elites, in memory only "
        "(the cache is not changed): is the profile's world model under-trained? (default 0)",
    )
    args = p.parse_args(argv)
    if args.rows < 1:
        p.error(f"--rows must be >= 1, got {args.rows}")
    try:
        check_device(args.device)
    except ValueError as e:
        p.error(f"--device: {e}")
    if args.more_updates < 0:
        p.error(f"--more-updates must be >= 0, got {args.more_updates}")
    allowed = DC.REACHER_OBS_MODES if args.task == "reacher" else DC.ANT_OBS_MODES
    if args.obs_mode not in allowed:
        p.error(f"--obs-mode {args.obs_mode} is not one of {args.task}'s: {', '.join(allowed)}")
    torch.set_num_threads(1)
    prof = get_profile(args.profile, C.PROFILES)
    if args.task == "reacher":
        cfg, truth, what = reacher_moma_config(prof, args.obs_mode), reacher_truth, f"Reacher {args.obs_mode}"
    else:
        cfg, what = ant_moma_config(prof, args.obs_mode, args.dataset), f"Ant {args.obs_mode} {args.dataset}"
        truth = functools.partial(ant_truth, obs_mode=args.obs_mode)
    cfg["world_model"] = {**cfg["world_model"], **args.world_model}
    # the cell's data, built if missing at smoke only (else the error names how)
    data = load_dataset(cfg["dataset"])

    # the cell's cached ensemble (trained and cached if missing)
    wm = world_model(cfg, data, ProbeContext(args.device), None)
    if args.more_updates:
        wm_data = wm.prepare_data(data)
        before = wm.validation_scores(wm_data)
        wm.train(wm_data, n_updates=args.more_updates)
        wm.select_elites(wm_data)
        print(
            f"trained {args.more_updates} more updates (to step {wm.step}, in memory): validation scores "
            f"{[round(float(v), 4) for v in before]} -> {[round(float(v), 4) for v in wm.elite_scores]}"
        )
    rows = probe(wm, data, args.rows, args.seed, truth)
    print(
        f"{what} world model ({args.profile}, step {wm.step}; elites {wm.elites.tolist()[0]}, l_eps "
        f"{wm.cfg.threshold}, lambda_g {wm.cfg.lambda_g}, lambda_r {wm.cfg.lambda_r}); data mean |a| "
        f"{float(np.abs(data.actions).mean()):.3f}, max {float(np.abs(data.actions).max()):.3f}"
    )
    print(tabulate(rows, headers="keys", floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
