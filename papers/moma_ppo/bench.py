"""MOMA-PPO's benchmark (issue 23): its two hot paths, batched against a loop, in one run.

    python -m papers.moma_ppo.bench [--quick] [--device cpu|cuda] [--reps R] [--updates U]

(a) World-model update (papers/moma_ppo/worldmodel.py): one Adam step of the K = 7 members of an ensemble held as
    ONE module (members on the leading axis, one batched product per layer) against a loop over 7 one-member
    ensembles, each on its own minibatch of 256 rows. The code's sizes: 4 hidden layers of 1,024 (T and R heads), a
    2-layer mask head; the quick profile's: width 256.
(b) MOMA-PPO iteration (papers/moma_ppo/moma_ppo.py ``moma_iteration``): one synthetic batch of 2,000 transitions
    (rollouts of at most k = 10 steps in the ensemble's elites) and one MAPPO update on it (5 epochs of minibatches of
    64), S seeds batched as MAPPO's members (one policy of S seeds, one world model shared by the seeds, each seed
    drawing its starts, noise and elite choices from its own streams, as the runs of a ``--group`` do:
    jobs.moma_run_group) against a loop over S one-seed policies. The code's sizes: MAPPO 2 x 256 with a 10-step
    history encoder; quick's: 2 x 128, no history. On a GPU MAPPO captures its minibatch step in a CUDA graph
    (common/algos/mappo_graph.py), both variants alike; a third variant, the batched policy with the eager step
    (``cuda_graph=False``), gives the ``graph/eager`` column (nan on a CPU, where there is no graph).
Shapes: 2-agent Reacher (obs 8 and 6, one action each) and 4-agent Ant under partial observability (obs 15, 4, 4, 4;
two actions each). The data are synthetic (random rows in a box): the cost of an update or an iteration does not
depend on the numbers, only on the shapes (the rollouts run their k steps: nothing is cut, the box is wide and the
mask head's output bias is set so that terminals are never predicted, as a trained Reacher model never predicts
them; the rows each iteration collects are printed).

Everything runs on one thread, the variants interleaved round by round and each rate the median over the rounds
(common.bench's method); GFLOP/s of the batched variant are counted with torch's FlopCounterMode. ``s per 100k`` is
the time of the code's 100,001 MOMA-PPO iterations on Reacher at that rate (the issue's GPU goal: one Reacher cell,
3 seeds, in 2 hours). With ``compiled`` (a CPU) the batched policy also runs with MAPPOConfig.compiled.
``roll s`` and ``upd s`` split one batched iteration into its rollouts and its MAPPO update (seconds, median over the
rounds, each half clocked after a device sync).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from common.bench import count_flops, device_sync, interleaved_rates, matmul_peak_gflops, paper_bench_args
from common.bench.suite import Ctx, Row
from common.running.runtime import check_device
from papers.moma_ppo.bench_data import MAPPO_SIZES, ROWS, SHAPES, WM_SIZES, synthetic, wm_data, world_model

__all__ = [
    "SHAPES",
    "WM_SIZES",
    "MAPPO_SIZES",
    "compare_world_model",
    "compare_iteration",
    "iteration_setup",
    "bench_rows",
    "main",
]


def compare_world_model(
    task: str = "reacher-2x1", size: str = "code", n_updates: int = 3, reps: int = 3, device: str = "cpu"
) -> dict[str, float]:
    """World-model updates/s (one update = all 7 members) of the 7-member ensemble against a loop over 7 one-member
    ensembles, and GFLOP/s of the batched one."""
    dev = check_device(device)
    shape, arrays = SHAPES[task], synthetic(SHAPES[task], ROWS, "cpu")
    batched = world_model(shape, size, 7, dev)
    data = wm_data(batched, arrays, dev)
    loop = [world_model(shape, size, 1, dev, seed=s) for s in range(7)]
    flops = count_flops(lambda: batched.update(batched.sample_batch(data)))

    def step_loop() -> None:
        for wm in loop:
            wm.update(wm.sample_batch(data))

    r = interleaved_rates(
        {"batched": lambda: batched.update(batched.sample_batch(data)), "loop": step_loop},
        n_updates,
        reps,
        dev,
    )
    return {
        "members": 7.0,
        "batched_updates_per_s": r["batched"],
        "loop_updates_per_s": r["loop"],
        "ratio_vs_loop": r["batched"] / r["loop"],
        "gflop_per_update": flops / 1e9,
        "batched_gflops": r["batched"] * flops / 1e9,
    }


def iteration_setup(task: str, size: str, device, batch: int = 2_000, k: int = 10):
    """What a MOMA-PPO iteration of the benchmark runs on: (world model, MAPPO config, start observations [T, N, O]
    on ``device``, the dataset's histories or None, rollout config). Shared with papers.moma_ppo.rollout_profile."""
    from common.algos.mappo import MAPPOConfig  # noqa: PLC0415
    from common.networks.history import DatasetHistories  # noqa: PLC0415
    from papers.moma_ppo.moma_ppo import RolloutConfig  # noqa: PLC0415

    shape, arrays = SHAPES[task], synthetic(SHAPES[task], ROWS, "cpu")
    wm = world_model(shape, size, 7, device)
    cfg = MAPPOConfig(**MAPPO_SIZES[size])
    obs = torch.as_tensor(arrays["obs"], device=device)
    hist = None
    if cfg.memory_len > 0:
        hist = DatasetHistories(
            obs,
            torch.as_tensor(arrays["actions"], device=device),
            arrays["terminals"],
            arrays["timeouts"],
            length=cfg.memory_len,
        )
    return wm, cfg, obs, hist, RolloutConfig(k=k, batch=batch).validate()


def compare_iteration(
    task: str = "reacher-2x1",
    size: str = "code",
    n_seeds: int = 3,
    n_updates: int = 1,
    reps: int = 3,
    device: str = "cpu",
    batch: int = 2_000,
    k: int = 10,
    compiled: bool = False,
) -> dict[str, float]:
    """MOMA-PPO iterations/s (one iteration = every seed: rollouts + MAPPO update) of one policy of ``n_seeds`` seeds
    against a loop over ``n_seeds`` one-seed policies (both on one shared 7-member world model), and GFLOP/s of the
    batched one. ``compiled`` (a CPU): also the batched policy with MAPPOConfig.compiled (``compiled_vs_eager``)."""
    from common.algos.mappo import MAPPO  # noqa: PLC0415
    from papers.moma_ppo.moma_ppo import generate_rollouts, moma_iteration, start_generators  # noqa: PLC0415

    dev = check_device(device)
    shape = SHAPES[task]
    wm, cfg, obs, hist, roll = iteration_setup(task, size, dev, batch, k)

    def policy(seeds, cuda_graph=None, c=cfg):
        dims = (shape["obs_dims"], shape["act_dims"])
        p = MAPPO(*dims, len(seeds), c, seeds=seeds, device=dev, cuda_graph=cuda_graph)
        return p, start_generators(seeds, dev)

    # on cuda: the minibatch step in a CUDA graph (MAPPO's default)
    batched, gens = policy(list(range(n_seeds)))
    on_gpu = batched.step_mode == "graph"
    eager, eager_gens = policy(list(range(n_seeds)), cuda_graph=False) if on_gpu else (None, None)
    fast_cfg = dataclasses.replace(cfg, compiled=True)
    fast, fast_gens = policy(list(range(n_seeds)), c=fast_cfg) if compiled and not on_gpu else (None, None)
    # as a group's runs
    wm_gens = [torch.Generator(device=wm.gen.device).manual_seed(s) for s in range(n_seeds)]
    loop = [policy([s]) for s in range(n_seeds)]
    rows: list[int] = []
    lens: list[float] = []

    def step_batched() -> None:
        out = moma_iteration(wm, batched, obs, roll, gens, hist, wm_gens=wm_gens)
        rows.extend(out["rows"])
        lens.extend(out["rollout_len_mean"])

    def step_loop() -> None:
        for p, g in loop:
            moma_iteration(wm, p, obs, roll, g, hist)

    def step_eager() -> None:
        moma_iteration(wm, eager, obs, roll, eager_gens, hist, wm_gens=wm_gens)

    def step_compiled() -> None:
        moma_iteration(wm, fast, obs, roll, fast_gens, hist, wm_gens=wm_gens)

    flops = count_flops(step_batched)
    variants = {"batched": step_batched, "loop": step_loop, **({"eager": step_eager} if on_gpu else {})}
    if fast is not None:
        step_compiled()  # torch.compile's first call compiles: not a timed round
        variants["compiled"] = step_compiled
    r = interleaved_rates(variants, n_updates, reps, dev)
    # the batched iteration's two halves, each clocked after a device sync
    split = {"rollout": [], "update": []}
    for _ in range(reps):
        device_sync(dev)
        t0 = time.perf_counter()
        roll_out = generate_rollouts(wm, batched, obs, roll, gens, hist, wm_gens)
        device_sync(dev)
        t1 = time.perf_counter()
        batched.update(roll_out["batch"])
        device_sync(dev)
        split["rollout"].append(t1 - t0)
        split["update"].append(time.perf_counter() - t1)
    return {
        "seeds": float(n_seeds),
        "members": float(n_seeds * len(shape["obs_dims"])),
        "batched_iters_per_s": r["batched"],
        "loop_iters_per_s": r["loop"],
        "ratio_vs_loop": r["batched"] / r["loop"],
        "eager_iters_per_s": r.get("eager", float("nan")),
        "graph_vs_eager": r["batched"] / r["eager"] if on_gpu else float("nan"),
        "compiled_iters_per_s": r.get("compiled", float("nan")),
        "compiled_vs_eager": r["compiled"] / r["batched"] if fast is not None else float("nan"),
        "gflop_per_iter": flops / 1e9,
        "batched_gflops": r["batched"] * flops / 1e9,
        "rows_per_seed": float(np.mean(rows)),
        "rollout_len_mean": float(np.mean(lens)),
        "s_per_100k_iters": 100_001 / r["batched"],
        "rollout_s": float(np.median(split["rollout"])),
        "update_s": float(np.median(split["update"])),
    }


def main(argv: list[str] | None = None) -> dict:
    def options(p) -> None:
        p.add_argument(
            "--part",
            choices=("all", "world-model", "iteration"),
            default="all",
            help="time both hot paths (default) or one",
        )
        p.add_argument(
            "--tasks",
            nargs="+",
            choices=tuple(SHAPES),
            default=None,
            help="shapes to time (default: all; --quick: reacher-2x1)",
        )
        p.add_argument(
            "--sizes",
            nargs="+",
            choices=("quick", "code"),
            default=None,
            help="network sizes to time (default: quick code; --quick: quick)",
        )
        p.add_argument(
            "--n-seeds",
            nargs="+",
            type=int,
            choices=(1, 3),
            default=None,
            help="seeds per iteration row (default: 1 3; --quick: 1)",
        )

    args = paper_bench_args(
        "python -m papers.moma_ppo.bench",
        __doc__.split("\n\n")[0],
        "Reacher, the quick sizes, one seed, one round (< 1 min on a CPU)",
        argv,
        options,
    )
    t0 = time.perf_counter()
    peak = matmul_peak_gflops(reps=5 if args.quick else 20, device=args.device)
    gpu = None if args.device == "cpu" else torch.cuda.get_device_name(args.device)
    where = "1 CPU thread" if gpu is None else f"{args.device} ({gpu})"
    reps = args.reps or (1 if args.quick else 3)
    tasks = tuple(args.tasks or (("reacher-2x1",) if args.quick else SHAPES))
    sizes = tuple(args.sizes or (("quick",) if args.quick else ("quick", "code")))
    n_seeds = tuple(args.n_seeds or ((1,) if args.quick else (1, 3)))
    out: dict[str, Any] = {"device": args.device, "peak_gflops": peak, "world_model": {}, "iteration": {}}
    print(f"{where}; matmul peak fp32: {peak:.1f} GFLOP/s; medians over {reps} interleaved round(s)")
    if args.part in ("all", "world-model"):
        print("(a) world-model update, 7 members: one ensemble module vs a loop over 7 one-member ensembles")
        print(
            f"{'task':<12} {'size':<6} {'batched u/s':>11} {'loop u/s':>9} {'b/loop':>7} {'GF/upd':>7} "
            f"{'GFLOP/s':>8} {'%peak':>6}"
        )
    for task in tasks if args.part in ("all", "world-model") else ():
        for size in sizes:
            r = compare_world_model(task, size, args.updates or (1 if args.quick else 3), reps, args.device)
            out["world_model"][f"{task}/{size}"] = r
            print(
                f"{task:<12} {size:<6} {r['batched_updates_per_s']:>11.2f} {r['loop_updates_per_s']:>9.2f} "
                f"{r['ratio_vs_loop']:>6.2f}x {r['gflop_per_update']:>7.2f} {r['batched_gflops']:>8.1f} "
                f"{100 * r['batched_gflops'] / peak:>5.0f}%",
                flush=True,
            )
    if args.part == "world-model":
        print(f"[{time.perf_counter() - t0:.1f} s]")
        return out
    print(
        "(b) MOMA-PPO iteration (2,000 synthetic transitions, k = 10, + one MAPPO update): S seeds in one policy vs "
        "a loop over S one-seed policies"
    )
    print(
        f"{'task':<12} {'size':<6} {'S':>2} {'M':>3} {'batched it/s':>12} {'loop it/s':>9} {'b/loop':>7} "
        f"{'GF/it':>6} {'GFLOP/s':>8} {'%peak':>6} {'rows':>6} {'100k it':>8} {'graph/eager':>11} "
        f"{'roll s':>7} {'upd s':>7}"
    )
    for task in tasks:
        for size in sizes:
            for n in n_seeds:
                r = compare_iteration(task, size, n, 1, reps, args.device)
                out["iteration"][f"{task}/{size}/{n}"] = r
                print(
                    f"{task:<12} {size:<6} {n:>2} {int(r['members']):>3} {r['batched_iters_per_s']:>12.3f} "
                    f"{r['loop_iters_per_s']:>9.3f} {r['ratio_vs_loop']:>6.2f}x {r['gflop_per_iter']:>6.1f} "
                    f"{r['batched_gflops']:>8.1f} {100 * r['batched_gflops'] / peak:>5.0f}% "
                    f"{r['rows_per_seed']:>6.0f} {r['s_per_100k_iters'] / 3600:>6.1f} h "
                    f"{r['graph_vs_eager']:>10.2f}x {r['rollout_s']:>7.3f} {r['update_s']:>7.3f}",
                    flush=True,
                )
    print(f"[{time.perf_counter() - t0:.1f} s]")
    return out


if __name__ == "__main__":
    main()


# ---- python -m common.bench --all (a plugin of common/bench/suite.py) ----


def bench_rows(ctx: Ctx) -> list[Row]:
    """MOMA-PPO (papers/moma_ppo/bench.py): world-model update (7 members) and one iteration (3 seeds), quick sizes."""
    size = "tiny" if ctx.quick else "quick"
    wm = compare_world_model("reacher-2x1", size, n_updates=ctx.n(2), reps=ctx.n(2), device=ctx.device)
    it = compare_iteration(
        "reacher-2x1",
        size,
        n_seeds=2 if ctx.quick else 3,
        n_updates=1,
        reps=ctx.n(2),
        device=ctx.device,
        compiled=ctx.device == "cpu",
        **(dict(batch=60, k=3) if ctx.quick else {}),
    )
    s = int(it["seeds"])
    compiled = [
        Row(
            f"MOMA-PPO iteration (Reacher, {size} size, {s} seeds), compiled step (opt-in MAPPOConfig.compiled)",
            it["compiled_iters_per_s"],
            "iterations/s",
            it["compiled_iters_per_s"] * it["gflop_per_iter"],
            it["compiled_vs_eager"],
            "the eager step (the row above; other float rounding)",
        )
    ]
    return [
        Row(
            f"MOMA-PPO world-model update, {size} size, 7 members",
            wm["batched_updates_per_s"],
            "updates/s",
            wm["batched_gflops"],
            wm["ratio_vs_loop"],
            "loop over 7 one-member ensembles",
        ),
        Row(
            f"MOMA-PPO iteration (Reacher, {size} size, {s} seeds)",
            it["batched_iters_per_s"],
            "iterations/s",
            it["batched_gflops"],
            it["ratio_vs_loop"],
            f"loop over {s} one-seed policies",
        ),
        *(compiled if ctx.device == "cpu" else []),
    ]
