"""MOMA-PPO critic probe (Reacher, Ant): where MAPPO's value estimate grows along the synthetic rollouts.

Trains one seed of a Table 4a / 4b MOMA-PPO cell for ``--iterations`` iterations on the cell's world model (the
cached ensemble, trained first if missing), as ``jobs.moma_run`` does but without evaluations or records, and every
``--every`` iterations reads the synthetic batch before the update: per rollout step j = 0 .. k - 1 (j = 0: the
dataset's start states, j >= 1: the ensemble's predicted states) the mean V_tot(s_j) of the old parameters, the mean
V_tot(s'_j), the mean GAE return G_j and the largest |MAPPO input| of s'_j (normalized with ``obs_norm``, raw
otherwise), plus the batch's mean reward. A critic that stays bounded has V(s_j) of the order of the rewards' sum
(|r| / (1 - gamma) at most); one that diverges rises along j (V(s'_{k-1}), where the time-outs bootstrap, above
V(s_0)) and from one reading to the next while the reward does not (README, "Table 4b (quick)", "Why the critic
diverges"). ``--mappo`` overrides fields of the cell's MAPPOConfig (e.g. the code's raw inputs, widths, histories or
the monotonic mixer) to tell which setting the divergence needs, ``--world-model`` fields of its WorldModelConfig (an
ensemble of other settings is trained once and cached under its own name); ``--evaluate`` adds the greedy policy's
true return at every reading (synthetic reward up while the true return falls: the model is exploited);
``--simulator ground_truth`` rolls out in the true physics instead (MAPPO's share of a failure), and the two hybrids
take the next states from one of (world model, physics) and the reward from the other (which half is exploited);
``--out`` writes the readings as JSON, after every reading (``"complete": false`` until the last).

    python papers/moma_ppo/critic_probe.py --profile quick --task ant --obs-mode partial --dataset full-replay
    python papers/moma_ppo/critic_probe.py --profile quick --task ant --obs-mode partial --mappo '{"obs_norm": false}'
    python papers/moma_ppo/critic_probe.py --profile quick --task reacher --obs-mode full --world-model '{"hidden": 512}' \
        --iterations 300 --every 30 --evaluate
    python papers/moma_ppo/critic_probe.py --profile quick --task reacher --obs-mode full --simulator ground_truth \
        --iterations 300 --every 30 --evaluate
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common.algos.mappo_config import MAPPOConfig  # noqa: E402
from common.running.cli_args import json_overrides  # noqa: E402
from common.running.profiles import get_profile  # noqa: E402
from common.running.records import atomic_write_text  # noqa: E402
from common.running.runtime import check_device, git_commit  # noqa: E402
from papers.moma_ppo import config as C  # noqa: E402
from papers.moma_ppo import data_config as DC  # noqa: E402
from papers.moma_ppo.simulator import HYBRIDS  # noqa: E402
from papers.moma_ppo.worldmodel_data import WorldModelConfig  # noqa: E402


def rollout_steps(masks: torch.Tensor, zetas: torch.Tensor) -> torch.Tensor:
    """Each buffer row's step j within its rollout (rows rollout-major: a rollout ends at a row with mask 0 or
    zeta 0, the next row starts the next one at j = 0). masks, zetas [n] -> [n] long."""
    ends = ((masks < 0.5) | (zetas < 0.5)).tolist()
    out, j = [], 0
    for end in ends:
        out.append(j)
        j = 0 if end else j + 1
    return torch.tensor(out, dtype=torch.long)


def read_batch(policy, batch: Mapping[str, Any], k: int) -> dict[str, Any]:
    """Seed 0's per-step readings of one synthetic batch under ``policy``'s current (old) parameters."""
    with torch.no_grad():
        d = policy.prepare(batch)
        n = d["rewards"].shape[1]
        L = int(batch["lengths"][0])
        lengths = torch.as_tensor(batch["lengths"]).long()
        tg = policy.targets(d, None if bool((lengths == n).all()) else lengths)
        step = rollout_steps(d["masks"][0, :L], d["zetas"][0, :L])
        nv = policy.values(batch["next_obs"], batch.get("next_memory"))[0, :L]
        absmax = d["next_obs"].abs().amax(-1).amax(0)[:L]  # [M, n] (members = agents of seed 0) -> [L]

        def by_step(x: torch.Tensor) -> list[float | None]:
            return [
                round(float(x[step == j].mean()), 3) if bool((step == j).any()) else None for j in range(k)
            ]

        return {
            "V": by_step(tg["values"][0, :L]),
            "V_next": by_step(nv),
            "G": by_step(tg["returns"][0, :L]),
            "input_absmax": by_step(absmax),
            "reward": round(float(d["rewards"][0, :L].mean()), 4),
            "done_fraction": round(float((d["masks"][0, :L] < 0.5).float().mean()), 4),
            "rows": L,
        }


def probe(
    cfg: Mapping[str, Any],
    seed: int,
    iterations: int,
    every: int,
    progress=None,
    evaluate: bool = False,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Train seed ``seed`` of the MOMA-PPO cell ``cfg`` for ``iterations`` iterations; the readings at iteration 1
    and every ``every``-th (before that iteration's update). ``evaluate``: each reading also holds the greedy policy's
    return in the true environment (``jobs.eval_moma``: the cell's episodes and evaluation seed, as a record's
    evaluation) and its normalized score (the dataset card's reference scores, x 100). ``device``: where the
    ensemble (trained there if not cached) and MAPPO run, as a job's ``--device``."""
    from common.datasets.returns import normalize
    from papers.moma_ppo.jobs import (
        ProbeContext,
        eval_moma,
        load_dataset,
        moma_histories,
        moma_learner,
        moma_model,
    )
    from papers.moma_ppo.moma_ppo import RolloutConfig, generate_rollouts
    from papers.moma_ppo.simulator import HYBRIDS, GroundTruthSimulator, HybridModel

    ctx = ProbeContext(device)
    data = load_dataset(cfg["dataset"])
    hybrid = cfg.get("simulator") in HYBRIDS
    wm = moma_model({k: v for k, v in cfg.items() if k != "simulator"} if hybrid else cfg, data, ctx, None)
    if hybrid:  # one half from the ensemble, the other from the true physics (simulator.HybridModel)
        ds = cfg["dataset"]
        wm = HybridModel(wm, GroundTruthSimulator(ds["env"], ds["env_options"]), cfg["simulator"])
    obs_data = torch.as_tensor(data.obs, device=ctx.device)
    policy, gen, _ = moma_learner(cfg, data, seed, ctx, obs_data, None)
    hist = moma_histories(policy, data, obs_data, ctx.device)
    roll = RolloutConfig(**cfg["rollouts"]).validate()
    out = []
    for it in range(1, iterations + 1):
        batch = generate_rollouts(wm, policy, obs_data, roll, [gen], hist)["batch"]
        if it == 1 or it % every == 0:
            out.append({"iteration": it, **read_batch(policy, batch, roll.k)})
            if evaluate:
                ret = eval_moma(policy, cfg, [seed])[0]
                out[-1]["return"] = round(ret, 4)
                out[-1]["normalized"] = (
                    round(float(normalize(ret, data.card)), 2) if data.card.get("ref_scores") else None
                )
            if progress is not None:
                progress(out[-1])
        policy.update(batch)
    return out


def _cell(args) -> dict[str, Any]:
    from papers.moma_ppo.jobs import ant_moma_config, reacher_moma_config

    prof = get_profile(args.profile, C.PROFILES)
    cfg = (
        reacher_moma_config(prof, args.obs_mode)
        if args.task == "reacher"
        else ant_moma_config(prof, args.obs_mode, args.dataset)
    )
    cfg["mappo"] = {**cfg["mappo"], **args.mappo}
    cfg["world_model"] = {**cfg["world_model"], **args.world_model}  # its own cache entry when it differs
    if args.simulator is not None:
        cfg["simulator"] = args.simulator  # jobs.moma_model: the true physics instead of the ensemble
    return cfg


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"


def _parser() -> argparse.ArgumentParser:
    """The probe's options (``--help``; the module docstring is its epilog)."""
    from papers.moma_ppo.published import ANT_DATASETS

    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument(
        "--profile", choices=("smoke", "quick", "full"), default="quick", help="scale (default quick)"
    )
    p.add_argument(
        "--task", choices=("reacher", "ant"), default="ant", help="Table 4a (reacher) or 4b (ant, default)"
    )
    modes = sorted(set(DC.REACHER_OBS_MODES) | set(DC.ANT_OBS_MODES))
    p.add_argument(
        "--obs-mode",
        choices=modes,
        default="partial",
        help="observation function (reacher: full, independent, leader-only; ant: full, partial; "
        "default partial)",
    )
    p.add_argument(
        "--dataset",
        choices=ANT_DATASETS,
        default=C.F6_DATASET,
        help=f"Ant dataset (default {C.F6_DATASET}; ignored for reacher)",
    )
    p.add_argument("--seed", type=int, default=0, help="MAPPO seed (default 0)")
    p.add_argument("--iterations", type=int, default=150, help="MOMA-PPO iterations (default 150)")
    p.add_argument("--every", type=int, default=10, help="read the batch every N iterations (default 10)")
    p.add_argument(
        "--mappo",
        type=json_overrides(MAPPOConfig, "--mappo"),
        default={},
        metavar="JSON",
        help='MAPPOConfig overrides, e.g. \'{"obs_norm": false, "hidden": [256, 256]}\' (default none)',
    )
    p.add_argument(
        "--world-model",
        type=json_overrides(WorldModelConfig, "--world-model"),
        default={},
        metavar="JSON",
        help="WorldModelConfig overrides, e.g. the code's heads '{\"hidden\": 1024}' (default none: the "
        "profile's; an ensemble of other settings is trained once and cached under its own name)",
    )
    p.add_argument(
        "--simulator",
        choices=("ground_truth", *HYBRIDS),
        default=None,
        help="ground_truth: roll out in the true MuJoCo physics instead of the world model (App. B.2's "
        "ablation; simulator.GroundTruthSimulator: Ant and Reacher), to tell the model's share of a "
        "failure from MAPPO's; wm_dynamics_true_reward / true_dynamics_wm_reward: one half from the "
        "world model, the other from the physics (simulator.HybridModel), to tell which half is "
        "exploited (default: the cell's world model)",
    )
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="also evaluate the greedy policy in the true environment at every reading (the cell's "
        "episodes: real return next to the synthetic reward, i.e. model exploitation)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device of the ensemble and MAPPO: cpu, cuda, cuda:N (default cpu; the code's 4 x 1024 "
        "ensemble needs a GPU: ~6 h of one CPU core)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="write the readings (and the cell config) as JSON here"
    )
    return p


def _show(r: Mapping[str, Any]) -> None:
    """One reading as a table: per rollout step j, V(s_j), V(s'_j), the return G_j and the largest absolute input
    of s'_j."""
    from tabulate import tabulate

    head = {
        "it": r["iteration"],
        "reward": r["reward"],
        "done": r["done_fraction"],
        **({"return": r["return"], "normalized": r["normalized"]} if "return" in r else {}),
    }
    rows = [
        {
            **(head if j == 0 else {}),
            "j": j,
            "V(s_j)": r["V"][j],
            "V(s'_j)": r["V_next"][j],
            "G_j": r["G"][j],
            "max|input s'_j|": r["input_absmax"][j],
        }
        for j in range(len(r["V"]))
    ]
    print(tabulate(rows, headers="keys", floatfmt=".3f"), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    allowed = DC.REACHER_OBS_MODES if args.task == "reacher" else DC.ANT_OBS_MODES
    if args.obs_mode not in allowed:
        p.error(f"--obs-mode {args.obs_mode} is not one of {args.task}'s: {', '.join(allowed)}")
    try:
        check_device(args.device)
    except ValueError as e:
        p.error(f"--device: {e}")
    if args.simulator == "ground_truth" and args.world_model:
        p.error(
            f"--world-model {json.dumps(args.world_model)} has no effect with --simulator {args.simulator}"
        )
    for name in ("iterations", "every"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    torch.set_num_threads(1)
    cfg = _cell(args)
    print(
        f"MOMA-PPO {args.task} {args.obs_mode} ({args.profile}), seed {args.seed}: mappo {cfg['mappo']}, "
        f"world model {cfg.get('world_model')}, rollouts {cfg['rollouts']}",
        flush=True,
    )

    t0 = time.time()
    so_far: list[dict[str, Any]] = []

    def write(readings: list[dict[str, Any]], complete: bool) -> None:
        """The readings so far, atomically: a probe killed mid-way keeps every reading it took."""
        if args.out is None:
            return
        atomic_write_text(
            args.out,
            json.dumps(
                {
                    "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "config": cfg,
                    "git": git_commit(),
                    "machine": platform.processor() or platform.machine(),
                    "device": _device_name(args.device),
                    "complete": complete,
                    "wall_s": round(time.time() - t0, 1),
                    "readings": readings,
                },
                indent=1,
            ),
        )

    def progress(r: Mapping[str, Any]) -> None:
        _show(r)
        so_far.append(dict(r))
        write(so_far, complete=False)

    readings = probe(
        cfg,
        args.seed,
        args.iterations,
        args.every,
        progress=progress,
        evaluate=args.evaluate,
        device=args.device,
    )
    write(readings, complete=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
