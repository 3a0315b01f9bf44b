"""CAST-BCQ's benchmark (issue 22): the learner of papers/cast_bcq/cast_bcq.py, whose VAE dominates the cost.

    python -m papers.cast_bcq.bench [--quick] [--device cpu|cuda] [--reps R] [--updates U]

At the official code's sizes (VAE 750-750, critics 400-300, batch 1024) and the quick profile's (256-256, batch
256), HalfCheetah 2x3 and Hopper 3x1 shapes: seeds batched into one learner (members = seeds x agents) against a
loop over one-seed learners, updates/s, GFLOP/s and the fraction of the matmul peak (common.bench), for 1 and 3
seeds, on one thread, medians over interleaved rounds.
"""

from __future__ import annotations

import time

import torch

from common.bench import count_flops, interleaved_rates, matmul_peak_gflops, paper_bench_args
from common.bench.bound import bound_line, step_bound
from common.bench.suite import Ctx, Row
from common.running.runtime import check_device

CAST_SHAPES = {
    "halfcheetah-2x3": dict(obs_dims=(17, 17), act_dims=(3, 3), state_dim=17),
    "hopper-3x1": dict(obs_dims=(11, 11, 11), act_dims=(1, 1, 1), state_dim=11),
}
CAST_SIZES = {
    "code": dict(hidden_vae=(750, 750), hidden=(400, 300), batch_size=1024),
    "quick": dict(hidden_vae=(256, 256), hidden=(256, 256), batch_size=256),
}


def _cast_tensors(shape: dict, rows: int, device) -> dict:
    """Synthetic step tensors of CAST-BCQ's layout: ``rows`` steps in episodes of 100 (time-out at each end)."""
    g = torch.Generator().manual_seed(0)
    n, o, a, d = len(shape["obs_dims"]), max(shape["obs_dims"]), max(shape["act_dims"]), shape["state_dim"]
    t = {
        "obs": torch.randn(rows, n, o, generator=g),
        "next_obs": torch.randn(rows, n, o, generator=g),
        "actions": torch.rand(rows, n, a, generator=g) * 2 - 1,
        "rewards": torch.randn(rows, n, generator=g),
        "state": torch.randn(rows, d, generator=g),
        "next_state": torch.randn(rows, d, generator=g),
        "terminals": torch.zeros(rows),
        "timeouts": (torch.arange(rows) % 100 == 99).float(),
    }
    return {k: v.to(device) for k, v in t.items()}


def compare_cast(
    task: str = "halfcheetah-2x3",
    size: str = "code",
    n_seeds: int = 3,
    n_updates: int = 3,
    reps: int = 3,
    device: str = "cpu",
    cfg_overrides: dict | None = None,
) -> dict[str, float]:
    """CAST-BCQ updates/s (one update = every seed and agent) of one learner holding ``n_seeds`` seeds against
    a loop over ``n_seeds`` one-seed learners (medians over interleaved rounds), plus GFLOP/s of the batched one."""
    from papers.cast_bcq.cast_bcq import CASTBCQ, CASTConfig  # noqa: PLC0415

    dev = check_device(device)
    shape = CAST_SHAPES[task]
    cfg = CASTConfig(**{**CAST_SIZES[size], **(cfg_overrides or {})})
    data = _cast_tensors(shape, 20_000, dev)
    batched = CASTBCQ(
        shape["obs_dims"],
        shape["act_dims"],
        shape["state_dim"],
        n_seeds,
        cfg,
        seeds=list(range(n_seeds)),
        device=dev,
    )
    loop = [
        CASTBCQ(shape["obs_dims"], shape["act_dims"], shape["state_dim"], 1, cfg, seeds=[s], device=dev)
        for s in range(n_seeds)
    ]
    bt = batched.prepare_data(data)
    lt = [lr.prepare_data(data) for lr in loop]
    flops = count_flops(lambda: batched.update(batched.sample_batch(bt)))

    def step_loop() -> None:
        for lr, t in zip(loop, lt):
            lr.update(lr.sample_batch(t))

    r = interleaved_rates(
        {"batched": lambda: batched.update(batched.sample_batch(bt)), "loop": step_loop}, n_updates, reps, dev
    )
    b, lo = r["batched"], r["loop"]
    return {
        "seeds": float(n_seeds),
        "members": float(n_seeds * len(shape["obs_dims"])),
        "batched_updates_per_s": b,
        "loop_updates_per_s": lo,
        "ratio_vs_loop": b / lo,
        "gflop_per_update": flops / 1e9,
        "batched_gflops": b * flops / 1e9,
        "s_per_20k_updates": 20_000 / b,
    }


def cast_bound(
    task: str = "hopper-3x1", size: str = "code", n_seeds: int = 3, reps: int = 3, device: str = "cpu"
) -> dict[str, float]:
    """The matmul bound (common/bench/bound.py) of one batched CAST-BCQ update of ``n_seeds`` seeds at ``size``: how
    near the matmul peak any update with these products (these widths, batch and kernels) can get."""
    from papers.cast_bcq.cast_bcq import CASTBCQ, CASTConfig  # noqa: PLC0415

    dev = check_device(device)
    shape = CAST_SHAPES[task]
    lr = CASTBCQ(
        shape["obs_dims"],
        shape["act_dims"],
        shape["state_dim"],
        n_seeds,
        CASTConfig(**CAST_SIZES[size]),
        seeds=list(range(n_seeds)),
        device=dev,
    )
    t = lr.prepare_data(_cast_tensors(shape, 20_000, dev))
    return step_bound(lambda: lr.update(lr.sample_batch(t)), reps=reps, device=device)


def main(argv: list[str] | None = None) -> dict:
    args = paper_bench_args(
        "python -m papers.cast_bcq.bench",
        __doc__.split("\n\n")[0],
        "one seed, few updates (< 30 s on a CPU)",
        argv,
    )
    t0 = time.perf_counter()
    peak = matmul_peak_gflops(reps=5 if args.quick else 20, device=args.device)
    where = (
        "1 CPU thread"
        if args.device == "cpu"
        else f"{args.device} ({torch.cuda.get_device_name(args.device)})"
    )
    out = {}
    print(
        f"{where}; matmul peak fp32: {peak:.1f} GFLOP/s; CAST-BCQ, one update = every seed and agent; medians"
    )
    print(
        f"{'task':<16} {'size':<6} {'S':>2} {'M':>3} {'batched u/s':>11} {'loop u/s':>9} {'b/loop':>7} "
        f"{'GF/upd':>7} {'GFLOP/s':>8} {'%peak':>6} {'20k upd':>8}"
    )
    for task in CAST_SHAPES:
        for size in ("quick",) if args.quick and args.device == "cpu" else tuple(CAST_SIZES):
            for n in (1,) if args.quick else (1, 3):
                r = compare_cast(
                    task,
                    size,
                    n,
                    n_updates=args.updates or (1 if args.quick else 3),
                    reps=args.reps or (1 if args.quick else 3),
                    device=args.device,
                )
                out[f"{task}/{size}/{n}"] = r
                print(
                    f"{task:<16} {size:<6} {n:>2} {int(r['members']):>3} {r['batched_updates_per_s']:>11.2f} "
                    f"{r['loop_updates_per_s']:>9.2f} {r['ratio_vs_loop']:>6.2f}x {r['gflop_per_update']:>7.1f} "
                    f"{r['batched_gflops']:>8.1f} {100 * r['batched_gflops'] / peak:>5.0f}% "
                    f"{r['s_per_20k_updates'] / 60:>6.1f} min"
                )
    if not args.quick:  # what any update with these products could reach (issue 63: the 70 % target)
        for size in CAST_SIZES:
            r = cast_bound("hopper-3x1", size, 3, reps=args.reps or 3, device=args.device)
            out[f"bound/hopper-3x1/{size}/3"] = r
            print(f"matmul bound, hopper-3x1 {size} 3 seeds: {bound_line(r)}", flush=True)
    print(f"[{time.perf_counter() - t0:.1f} s]")
    return {"device": args.device, "peak_gflops": peak, "cast": out}


if __name__ == "__main__":
    main()


# ---- python -m common.bench --all (a plugin of common/bench/suite.py) ----


def bench_rows(ctx: Ctx) -> list[Row]:
    """CAST-BCQ (papers/cast_bcq/bench.py) at the official code's sizes (VAE 750-750, batch 1024), 3 seeds."""
    over = dict(hidden_vae=(16, 16), hidden=(16, 16), batch_size=32) if ctx.quick else None
    r = compare_cast(
        "halfcheetah-2x3",
        "quick" if ctx.quick else "code",
        3,
        n_updates=1,
        reps=ctx.n(2),
        device=ctx.device,
        cfg_overrides=over,
    )
    return [
        Row(
            f"CAST-BCQ update, {'tiny' if ctx.quick else 'code'} size, HalfCheetah 2x3, 3 seeds",
            r["batched_updates_per_s"],
            "updates/s",
            r["batched_gflops"],
            r["ratio_vs_loop"],
            "loop over 3 one-seed learners",
        )
    ]
