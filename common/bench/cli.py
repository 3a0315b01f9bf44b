"""The command line of ``python -m common.bench`` (usage: common/bench/__init__.py)."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Any

from common.bench import itd3 as I
from common.bench.bound import bound_line
from common.bench.core import Peak, check_bench_args, where
from common.bench.sac import compare_sac, sac_bound
from common.running.runtime import DEVICES

DESCRIPTION = (
    "Throughput of the package's hot paths on this machine, each as a ratio with what it is compared with in "
    "the same run and as a share of the matmul peak read in that run (the docstring of common/bench/ "
    "says what each entry measures)."
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m common.bench", description=DESCRIPTION)
    p.add_argument(
        "--quick",
        action="store_true",
        help="few updates and repeats (< 30 s); with --all: tiny sizes, a plumbing check (seconds)",
    )
    p.add_argument("--reps", type=int, default=None, help="interleaved rounds (median taken)")
    p.add_argument("--updates", type=int, default=None, help="updates per round")
    p.add_argument(
        "--device", default="cpu", help=f"where all variants run: {' | '.join(DEVICES)} (default cpu)"
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="every paper's hot paths (OMAR/ITD3, SAC, members as cells, MOMA-PPO, CAST-BCQ, OTC), each "
        "with its same-run ratio; writes results/bench/<machine>.md (issue 63)",
    )
    p.add_argument(
        "--sac",
        action="store_true",
        help="only the SAC behavior learner: batched members against a per-member loop (issue 21), and its "
        "matmul bound at 1 and 4 members (how near the peak any step with its products can get)",
    )
    p.add_argument(
        "--members",
        action="store_true",
        help="only cells as members: OMAR runs stacked into one learner against a loop over them, "
        f"for {', '.join(map(str, I.MEMBER_COUNTS))} members (issue 26)",
    )
    p.add_argument(
        "--batch", type=int, default=None, help="minibatch of --members (default 64 on the CPU, 1024 on cuda)"
    )
    p.add_argument(
        "--baseline",
        metavar="REV",
        default=None,
        help="with --sac or --all: the SAC update (--all: and OMAR's update, MOMA-PPO's iteration and CAST-BCQ's "
        "update) of this tree against commit REV's, in one run (a git worktree of REV, one worker process per tree, "
        "rounds interleaved); new/old",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder of --all's page <machine>.md (default results/bench)",
    )
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = _parser()
    args = p.parse_args(argv)
    if sum((args.sac, args.members, args.all)) > 1:
        p.error("give one of --all, --sac, --members")
    if args.batch is not None and not args.members:
        p.error(f"--batch {args.batch} is an option of --members")
    if args.baseline is not None and not (args.sac or args.all):
        p.error(f"--baseline {args.baseline} is an option of --sac or --all")
    if args.out is not None and not args.all:
        p.error(f"--out {args.out} is an option of --all")
    if args.all and (args.reps is not None or args.updates is not None):
        p.error("--all sets its own rounds and updates per hot path; --reps and --updates are for the others")
    check_bench_args(p, args, ("reps", "updates", "batch"))
    if args.all:
        return _all_main(args, argv)
    t0 = time.perf_counter()
    peak = Peak(args.device).read(15)
    if args.sac:
        return _sac_main(args, peak, t0)
    if args.members:
        return _members_main(args, peak, t0)
    return _itd3_main(args, peak, t0)


def _all_main(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    from common.bench import suite

    ctx = suite.Ctx(quick=args.quick, device=args.device, baseline=args.baseline)
    res = suite.run_suite(ctx, log=lambda s: print(s, flush=True))
    command = "python -m common.bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    path = suite.write_page(res, command, args.out)
    print(suite.render(res, command))
    print(f"written: {path}")
    return {**res, "page": str(path)}


def _sac_main(args: argparse.Namespace, peak: Peak, t0: float) -> dict[str, Any]:
    out: dict[Any, Any] = {}
    print(f"{where(args.device)}; SAC 2x256, batch 256, obs 17, act 6; medians of interleaved rounds")
    print(
        f"{'M':>3} {'batched u/s':>11} {'loop u/s':>9} {'b/loop':>7} {'member-u/s':>10} {'GF/upd':>7} "
        f"{'GFLOP/s':>8}"
    )
    for m in (1, 4) if args.quick else (1, 2, 4, 8):
        r = compare_sac(
            m,
            17,
            6,
            n_updates=args.updates or (5 if args.quick else 20),
            reps=args.reps or (2 if args.quick else 3),
            device=args.device,
        )
        out[m] = r
        peak.read(3)
        print(
            f"{m:>3} {r['batched_updates_per_s']:>11.1f} {r['loop_updates_per_s']:>9.1f} "
            f"{r['ratio_vs_loop']:>6.2f}x {r['member_updates_per_s']:>10.1f} {r['gflop_per_update']:>7.3f} "
            f"{r['batched_gflops']:>8.1f}",
            flush=True,
        )
    if args.baseline:
        from common.bench.baseline import compare_trees

        print(f"this tree against commit {args.baseline} (one worker process per tree, rounds interleaved):")
        for m in (1, 4):
            r = compare_trees(
                "sac",
                args.baseline,
                dict(members=m, obs_dim=17, act_dim=6),
                n_calls=args.updates or (5 if args.quick else 10),
                reps=args.reps or (3 if args.quick else 6),
                device=args.device,
                between=lambda: peak.read(1),
            )
            out[f"baseline/{m}"] = r
            print(
                f"{m:>3} members: new {r['new_per_s']:.1f} u/s, old {r['old_per_s']:.1f} u/s, new/old "
                f"{r['ratio']:.2f}x (GF/upd new {r['new_gflop_per_call']:.3f}, old {r['old_gflop_per_call']:.3f})",
                flush=True,
            )
    for m in (1, 4):  # how near the peak any SAC step with these products can get (common/bench/bound.py)
        r = sac_bound(m, reps=args.reps or (2 if args.quick else 7), device=args.device)
        out[f"bound/{m}"] = r
        print(f"matmul bound, {m} member(s): {bound_line(r)}", flush=True)
    peak.read(15)
    print(
        f"{peak.describe()}; %peak of batched M = "
        + ", ".join(
            f"{m}: {100 * r['batched_gflops'] / peak.median:.0f}%"
            for m, r in out.items()
            if isinstance(m, int)
        )
    )
    print(f"[{time.perf_counter() - t0:.1f} s]")
    return {"device": args.device, "peak_gflops": peak.median, "peak": peak.spread(), "sac": out}


def _row(name: str, r: dict[str, float], peak: float | None = None) -> str:
    s = (
        f"{name:<10} {int(r['members']):>3} {r['batched_updates_per_s']:>8.2f} "
        f"{r.get('unchunked_updates_per_s', float('nan')):>8.2f} {r.get('loop_updates_per_s', float('nan')):>8.2f} "
        f"{r.get('ratio_vs_loop', float('nan')):>6.2f}x {r.get('unchunked_ratio_vs_loop', float('nan')):>6.2f}x "
        f"{r['batched_agent_updates_per_s']:>8.1f} {r['gflop_per_update']:>7.2f} {r['batched_gflops']:>7.1f}"
    )
    if peak:
        s += f" {100 * r['batched_gflops'] / peak:>5.0f}%"
    return s


def _itd3_main(args: argparse.Namespace, peak: Peak, t0: float) -> dict[str, Any]:
    kw = {k: v for k, v in (("reps", args.reps), ("n_updates", args.updates)) if v is not None}
    kw["device"] = args.device
    mpe = I.mpe_suite(args.quick, **kw)
    peak.read(5)
    mj = I.mujoco_suite(args.quick, **kw)
    peak.read(10)  # the median of all readings, before, between and after
    head = (
        f"{'algo':<10} {'M':>3} {'batched':>8} {'nochunk':>8} {'loop':>8} {'b/loop':>7} {'nc/loop':>7} "
        f"{'agent-u/s':>8} {'GF/upd':>7} {'GFLOP/s':>7}"
    )
    print(f"{where(args.device)}; {peak.describe()}; updates/s are medians of interleaved rounds")
    print(
        "(a) MPE size: 3 agents x 5 seeds, obs 18, act 2, hidden 64, batch 1024 (the official OMAR code is not "
        "run here: its dated one-thread rates are in docs/stack.md)"
    )
    print(head + "   %peak")
    for name, r in mpe.items():
        print(_row(name, r, peak.median))
    print(
        "(b) MuJoCo size: 2 agents x 5 seeds, obs 6, act 3, hidden 256, batch 256, OMAR CEM 2x20/5, CQL 3x10"
    )
    print(head + "   %peak")
    print(_row("OMAR", mj, peak.median))
    print(f"[{time.perf_counter() - t0:.1f} s]")
    return {
        "device": args.device,
        "peak_gflops": peak.median,
        "peak": peak.spread(),
        "mpe": mpe,
        "mujoco": mj,
    }


def _members_main(args: argparse.Namespace, peak: Peak, t0: float) -> dict[str, Any]:
    batch = args.batch or (64 if args.device == "cpu" else 1024)
    counts = I.MEMBER_COUNTS[:2] if args.quick else I.MEMBER_COUNTS
    print(
        f"{where(args.device)}; OMAR runs of 3 agents, obs 18, act 2, hidden 64, batch {batch}; one stacked "
        "learner vs a loop over the runs; updates of all runs/s, medians"
    )
    print(
        f"{'M':>5} {'runs':>5} {'stacked u/s':>11} {'loop u/s':>9} {'st/loop':>7} {'stacked member-u/s':>18} "
        f"{'loop member-u/s':>15} {'GF/upd':>7} {'GFLOP/s':>8}"
    )
    out = {}
    for m in counts:
        r = I.members_suite(
            batch,
            (m,),
            args.device,
            n_updates=args.updates or (1 if args.quick else 2),
            reps=args.reps or (1 if args.quick else 2),
        )[m]
        out[m] = r
        peak.read(3)
        print(
            f"{m:>5} {int(r['runs']):>5} {r['stacked_updates_per_s']:>11.3f} {r['loop_updates_per_s']:>9.3f} "
            f"{r['ratio_vs_loop']:>6.2f}x {r['stacked_members_per_s']:>18.1f} {r['loop_members_per_s']:>15.1f} "
            f"{r['gflop_per_update']:>7.2f} {r['stacked_gflops']:>8.1f}",
            flush=True,
        )
    peak.read(12)
    print(
        f"{peak.describe()}; %peak of stacked M = "
        + ", ".join(f"{m}: {100 * r['stacked_gflops'] / peak.median:.1f}%" for m, r in out.items())
    )
    print(f"[{time.perf_counter() - t0:.1f} s]")
    return {
        "device": args.device,
        "peak_gflops": peak.median,
        "peak": peak.spread(),
        "batch": batch,
        "members": out,
    }
