"""Throughput of the batched offline learner (common/algos/itd3.py) against the per-agent loop.

    python -m common.bench [--quick] [--reps R] [--updates U] [--device cpu|cuda] [--sac | --members [--batch B]]

Everything is measured in one process on one thread (``torch.set_num_threads(1)``), the variants
interleaved (batched, batched without member chunking, per-member reference loop, repeat), and each
rate is the median over the repeats, so that a busy second core shifts all variants alike.

(a) MPE size, as OMAR's official MPE code: 3 agents x 5 seeds = 15 members, obs 18, act 2, hidden
    64, batch 1024. OMAR (CQL 10 uniform actions + softmax search 3 x 10), MA-CQL, MA-TD3+BC.
    Agent-updates/s = updates/s x members, against the official code's measured ~31-34
    agent-updates/s on one thread (docs/stack.md#benchmark-method-and-the-official-omar-update).
(b) MuJoCo size: 2 agents x 5 seeds, obs 6, act 3, hidden 256, batch 256, OMAR with CEM 2 x 20
    (5 elites) and CQL's three proposal groups x 10. FLOPs of one batched update are counted with
    ``torch.utils.flop_counter.FlopCounterMode``; GFLOP/s are set against this run's matmul peak
    (a [10240 x 256] @ [256 x 256] fp32 matmul).

``--device cuda`` runs the same three variants on the GPU (the learner, its batches, the loop's
agents and their noise all on it; clocks read after ``torch.cuda.synchronize()``); the matmul peak
is then the GPU's fp32 peak at that shape. The CI never needs a GPU: the default is the CPU.

(c) ``--members``: cells as members (common/grouping.py). R one-seed OMAR runs at particle-world size (3
    agents, obs 18, act 2, hidden 64; CQL 10 uniform actions, softmax search 3 x 10) for 15, 150 and 1,500
    members (R = 5, 50, 500): ONE stacked learner (``ITD3.stack``; each run samples its own minibatch from
    its own stream) against a loop that updates the R learners alone one after the other (what R separate
    jobs on one device do, without their process overheads). Updates/s count updates of all R runs;
    members/s = updates/s x members; GFLOP/s of the stacked update against the matmul peak. The batch is
    ``--batch`` (default 64 on the CPU, where 1,500 members at OMAR's 1,024 need some 20 GB for the CQL
    activations; 1,024 on cuda).

"batched (no chunk)" is the learner with ``common.nets.CHUNK_BYTES = 0``, i.e. one baddbmm over all
members whatever the activation size (the code before cache blocking).
On the GPU the learner never chunks (common/nets.py), so there "batched" and "no chunk" are the
same code.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from common import nets
from common.algos.itd3 import ITD3, ITD3Config
from common.algos.reference import ReferenceAgent, reference_loop
from common.runtime import DEVICES, check_device, set_threads

__all__ = ["matmul_peak_gflops", "compare", "mpe_suite", "mujoco_suite", "compare_members", "main"]

OFFICIAL_AGENT_UPDATES_PER_S = (31.0, 34.0)  # OMAR official MPE update, 1 thread (docs/stack.md, benchmark)

MPE = dict(n_seeds=5, n_agents=3, obs_dim=18, act_dim=2)
MPE_CFG = ITD3Config()  # OMAR MPE defaults: hidden 64, batch 1024, CQL 10, softmax 3 x 10
MUJOCO = dict(n_seeds=5, n_agents=2, obs_dim=6, act_dim=3)
MUJOCO_CFG = ITD3Config(hidden=256, batch_size=256, actor_lr=3e-4, critic_lr=3e-4, tau_target=0.005,
                        cql_proposal="mujoco", omar_sampler="cem", omar_iters=2, omar_n_samples=20,
                        omar_n_elites=5)

ALGOS: dict[str, dict[str, Any]] = {
    "OMAR": dict(critic_reg="cql", actor_reg="omar"),
    "MA-CQL": dict(critic_reg="cql", actor_reg="none"),
    "MA-TD3+BC": dict(critic_reg="none", actor_reg="td3bc"),
}


def algo_cfg(base: ITD3Config, algo: str) -> ITD3Config:
    """``base`` with algorithm ``algo``'s regularisers; settings the algorithm does not use (e.g. the
    OMAR search for MA-CQL) go back to their defaults, as ``ITD3Config.validate`` requires."""
    from common.algos import itd3

    kw = dict(ALGOS[algo])
    default = ITD3Config()
    unused = []
    if kw["critic_reg"] != "cql":
        unused += list(itd3._CQL_FIELDS)
    if kw["actor_reg"] != "omar":
        unused += list(itd3._OMAR_FIELDS)
    kw.update({f: getattr(default, f) for f in unused})
    return replace(base, **kw)


def _sync(device: torch.device) -> None:
    """Wait for the device's queued kernels before a clock is read (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_gflops(reps: int = 20, rows: int = 10240, width: int = 256, device: str = "cpu") -> float:
    """Median GFLOP/s of a [rows x width] @ [width x width] fp32 matmul (this machine's ceiling)."""
    dev = check_device(device)
    a, w = torch.randn(rows, width, device=dev), torch.randn(width, width, device=dev)
    out = torch.empty(rows, width, device=dev)
    inner = 1 if dev.type == "cpu" else 50  # one GPU matmul is microseconds: time a run of them
    torch.mm(a, w, out=out)
    ts = []
    for _ in range(reps):
        _sync(dev)
        t0 = time.perf_counter()
        for _ in range(inner):
            torch.mm(a, w, out=out)
        _sync(dev)
        ts.append((time.perf_counter() - t0) / inner)
    return 2.0 * rows * width * width / statistics.median(ts) / 1e9


def _setup(cfg: ITD3Config, n_seeds: int, n_agents: int, obs_dim: int, act_dim: int, n_batches: int,
           size: int, seed: int = 0, device: torch.device = torch.device("cpu")):
    g = torch.Generator().manual_seed(seed)
    N, O, A = n_agents, obs_dim, act_dim
    data = {"obs": torch.randn(size, N, O, generator=g), "actions": torch.rand(size, N, A, generator=g) * 2 - 1,
            "rewards": torch.randn(size, N, generator=g), "next_obs": torch.randn(size, N, O, generator=g),
            "terminals": torch.zeros(size), "timeouts": (torch.arange(size) % 25 == 24).float()}
    learner = ITD3([O] * N, [A] * N, n_seeds, cfg, seed=seed, device=device)
    d = learner.prepare_data(data)
    batches = [learner.sample_batch(d) for _ in range(n_batches)]
    agents = [ReferenceAgent.fresh(O, A, cfg) for _ in range(learner.n_members)]
    for a in agents:  # Module.to keeps the Parameter objects, so the optimisers built in fresh() still hold them
        for net in (a.actor, a.critic, a.actor_target, a.critic_target):
            net.to(device)
    per_member = [[{k: v[m] for k, v in b.items()} for m in range(learner.n_members)] for b in batches]
    if device.type != "cpu":  # the loop's noise is drawn on the device, as the learner's
        g = torch.Generator(device=device).manual_seed(seed)
    return learner, batches, agents, per_member, g


def interleaved_rates(variants: dict[str, Callable[[], object]], n_calls: int, reps: int, device) -> dict[str, float]:
    """Calls per second of each variant (a paper's benchmark): one warm-up call each, then ``reps`` interleaved
    rounds of ``n_calls`` calls, clocks read after a device sync; the median round per variant."""
    def timed(fn) -> float:
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(n_calls):
            fn()
        _sync(device)
        return n_calls / (time.perf_counter() - t0)

    for fn in variants.values():
        fn()
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for k, fn in variants.items():
            rates[k].append(timed(fn))
    return {k: statistics.median(v) for k, v in rates.items()}


def paper_bench_args(prog: str, description: str, quick_help: str, argv: list[str] | None,
                     extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The command line of a paper's benchmark (``--quick --reps --updates --device``, and the paper's own options
    added by ``extra``), checked (positive counts, a known device), with one torch thread set."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    if extra is not None:
        extra(p)
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--reps", type=int, default=None, help="interleaved rounds (median taken)")
    p.add_argument("--updates", type=int, default=None, help="updates or iterations per round")
    p.add_argument("--device", default="cpu", help=f"where it runs: {' | '.join(DEVICES)} (default cpu)")
    args = p.parse_args(argv)
    for name in ("reps", "updates"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} {getattr(args, name)}: give a positive integer")
    try:
        check_device(args.device)
    except ValueError as e:
        p.error(str(e))
    set_threads(1)
    return args


def _count_flops(fn: Callable[[], object]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return int(fc.get_total_flops())


def compare(cfg: ITD3Config, n_seeds: int, n_agents: int, obs_dim: int, act_dim: int, n_updates: int = 5,
            reps: int = 3, size: int | None = None, unchunked: bool = True, loop: bool = True,
            seed: int = 0, device: str = "cpu") -> dict[str, float]:
    """Updates/s (one update = all members) of the batched learner, optionally of the same learner
    with member chunking off, and of the per-member reference loop; medians over ``reps``
    interleaved rounds of ``n_updates`` updates each. Also GFLOP/s of the batched update."""
    size = size or max(4 * cfg.batch_size, 2000)
    dev = check_device(device)
    learner, batches, agents, per_member, g = _setup(cfg, n_seeds, n_agents, obs_dim, act_dim, n_updates, size, seed,
                                                     dev)
    M = learner.n_members
    flops = _count_flops(lambda: learner.update(batches[0]))
    learner.update(batches[0])  # warm-up
    if loop:
        reference_loop(agents, per_member[0], g)

    def batched(chunk_bytes: int) -> float:
        old = nets.set_chunk_bytes(chunk_bytes)
        try:
            _sync(dev)
            t0 = time.perf_counter()
            for b in batches:
                learner.update(b)
            _sync(dev)
            return n_updates / (time.perf_counter() - t0)
        finally:
            nets.set_chunk_bytes(old)

    def looped() -> float:
        _sync(dev)
        t0 = time.perf_counter()
        for b in per_member:
            reference_loop(agents, b, g)
        _sync(dev)
        return n_updates / (time.perf_counter() - t0)

    rates: dict[str, list[float]] = {"batched": [], "unchunked": [], "loop": []}
    default = nets.CHUNK_BYTES
    for _ in range(reps):
        rates["batched"].append(batched(default))
        if unchunked:
            rates["unchunked"].append(batched(0))
        if loop:
            rates["loop"].append(looped())
    out = {"members": float(M), "gflop_per_update": flops / 1e9}
    for k, v in rates.items():
        if v:
            out[f"{k}_updates_per_s"] = statistics.median(v)
    out["batched_agent_updates_per_s"] = out["batched_updates_per_s"] * M
    out["batched_gflops"] = out["batched_updates_per_s"] * flops / 1e9
    if loop:
        out["loop_agent_updates_per_s"] = out["loop_updates_per_s"] * M
        out["ratio_vs_loop"] = out["batched_updates_per_s"] / out["loop_updates_per_s"]
    if unchunked:
        out["ratio_vs_unchunked"] = out["batched_updates_per_s"] / out["unchunked_updates_per_s"]
        if loop:
            out["unchunked_ratio_vs_loop"] = out["unchunked_updates_per_s"] / out["loop_updates_per_s"]
    return out


def mpe_suite(quick: bool = False, algos: tuple[str, ...] = tuple(ALGOS), size: dict | None = None,
              cfg: ITD3Config | None = None, **kw) -> dict[str, dict[str, float]]:
    """(a): each algorithm at MPE size (or ``size`` / ``cfg`` overrides, for tests)."""
    kw.setdefault("n_updates", 2 if quick else 6)
    kw.setdefault("reps", 2 if quick else 5)
    base = cfg or MPE_CFG
    return {a: compare(algo_cfg(base, a), **(size or MPE), **kw) for a in algos}


def mujoco_suite(quick: bool = False, size: dict | None = None, cfg: ITD3Config | None = None,
                 **kw) -> dict[str, float]:
    """(b): OMAR at MuJoCo size, with GFLOP/s."""
    kw.setdefault("n_updates", 1 if quick else 5)
    kw.setdefault("reps", 2 if quick else 5)
    return compare(algo_cfg(cfg or MUJOCO_CFG, "OMAR"), **(size or MUJOCO), **kw)


SAC_SIZE = dict(n_members=4, obs_dim=17, act_dim=6)  # e.g. HalfCheetah + Walker2d x 2 seeds (rlkit SAC: 2x256)


def compare_sac(n_members: int = 4, obs_dim: int = 17, act_dim: int = 6, n_updates: int = 20, reps: int = 3,
                device: str = "cpu", cfg=None) -> dict[str, float]:
    """SAC updates/s (one update = all members) of the batched learner against a loop over M one-member
    learners doing the same math (common/behavior/sac.py), medians over interleaved rounds; plus GFLOP/s."""
    import numpy as np

    from common.behavior.sac import SAC, Member, SACConfig

    cfg = replace(cfg or SACConfig(), device=device)
    dev = check_device(device)
    members = [Member("bench", s) for s in range(n_members)]
    rng = np.random.default_rng(0)

    def fill(lr: SAC) -> SAC:
        for _ in range(2000):
            lr.buffer.add(obs=rng.standard_normal((lr.M, obs_dim)), actions=rng.uniform(-1, 1, (lr.M, act_dim)),
                          rewards=rng.standard_normal(lr.M), next_obs=rng.standard_normal((lr.M, obs_dim)),
                          terminals=np.zeros(lr.M), timeouts=np.zeros(lr.M))
        return lr

    batched = fill(SAC(members, obs_dim, act_dim, cfg, 2000))
    loop = [fill(SAC([m], obs_dim, act_dim, cfg, 2000)) for m in members]
    flops = _count_flops(batched.update)
    r = interleaved_rates({"batched": batched.update, "loop": lambda: [lr.update() for lr in loop]}, n_updates, reps,
                          dev)
    b, lo = r["batched"], r["loop"]
    return {"members": float(n_members), "batched_updates_per_s": b, "loop_updates_per_s": lo,
            "ratio_vs_loop": b / lo, "member_updates_per_s": b * n_members,
            "gflop_per_update": flops / 1e9, "batched_gflops": b * flops / 1e9}


MEMBER_COUNTS = (15, 150, 1500)  # (c): members of the stacked learner = runs x 3 agents
MEMBERS_SIZE = dict(n_agents=3, obs_dim=18, act_dim=2)  # particle-world sizes (omar/spread)


def _random_data(size: int, n_agents: int, obs_dim: int, act_dim: int, seed: int, device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    N, O, A = n_agents, obs_dim, act_dim
    data = {"obs": torch.randn(size, N, O, generator=g), "actions": torch.rand(size, N, A, generator=g) * 2 - 1,
            "rewards": torch.randn(size, N, generator=g), "next_obs": torch.randn(size, N, O, generator=g),
            "terminals": torch.zeros(size), "timeouts": (torch.arange(size) % 25 == 24).float()}
    return {k: v.to(device) for k, v in data.items()}


def compare_members(n_members: int, cfg: ITD3Config, n_agents: int = 3, obs_dim: int = 18, act_dim: int = 2,
                    n_updates: int = 2, reps: int = 2, size: int | None = None, seed: int = 0,
                    device: str = "cpu") -> dict[str, float]:
    """(c): updates/s (one update = every run) of R = n_members / n_agents one-seed runs stacked into one learner
    and of the loop over the R learners alone, medians over ``reps`` interleaved rounds of ``n_updates``
    updates, minibatch sampling included in both; members/s and GFLOP/s of the stacked update. The runs share
    one dataset (stored once in the stack); each draws its own minibatches."""
    if n_members % n_agents:
        raise ValueError(f"{n_members} members are not whole runs of {n_agents} agents")
    dev = check_device(device)
    R = n_members // n_agents
    data = _random_data(size or max(4 * cfg.batch_size, 2000), n_agents, obs_dim, act_dim, seed, dev)
    runs = [ITD3([obs_dim] * n_agents, [act_dim] * n_agents, 1, cfg, seeds=[seed + r], device=dev) for r in range(R)]
    prepared = runs[0].prepare_data(data)
    stack = ITD3.stack(runs)  # copies: the runs below keep training on their own
    tensors = stack.stack_data([prepared] * R)

    def stacked_update() -> None:
        stack.update(stack.sample_batch(tensors))

    def loop_update() -> None:
        for lr in runs:
            lr.update(lr.sample_batch(prepared))

    flops = _count_flops(stacked_update)
    loop_update()  # warm-up (the stack's was counted above)

    def timed(fn) -> float:
        _sync(dev)
        t0 = time.perf_counter()
        for _ in range(n_updates):
            fn()
        _sync(dev)
        return n_updates / (time.perf_counter() - t0)

    rates: dict[str, list[float]] = {"stacked": [], "loop": []}
    for _ in range(reps):
        rates["stacked"].append(timed(stacked_update))
        rates["loop"].append(timed(loop_update))
    st, lo = statistics.median(rates["stacked"]), statistics.median(rates["loop"])
    return {"members": float(n_members), "runs": float(R), "stacked_updates_per_s": st, "loop_updates_per_s": lo,
            "ratio_vs_loop": st / lo, "stacked_members_per_s": st * n_members, "loop_members_per_s": lo * n_members,
            "gflop_per_update": flops / 1e9, "stacked_gflops": st * flops / 1e9}


def members_suite(batch: int, counts=MEMBER_COUNTS, device: str = "cpu", **kw) -> dict[int, dict[str, float]]:
    """(c) for each member count of ``counts``: OMAR at particle-world size with minibatch ``batch``."""
    cfg = replace(algo_cfg(MPE_CFG, "OMAR"), batch_size=batch)
    return {m: compare_members(m, cfg, **MEMBERS_SIZE, device=device, **kw) for m in counts}


def _row(name: str, r: dict[str, float], peak: float | None = None) -> str:
    s = (f"{name:<10} {int(r['members']):>3} {r['batched_updates_per_s']:>8.2f} "
         f"{r.get('unchunked_updates_per_s', float('nan')):>8.2f} {r.get('loop_updates_per_s', float('nan')):>8.2f} "
         f"{r.get('ratio_vs_loop', float('nan')):>6.2f}x {r.get('unchunked_ratio_vs_loop', float('nan')):>6.2f}x "
         f"{r['batched_agent_updates_per_s']:>8.1f} {r['gflop_per_update']:>7.2f} {r['batched_gflops']:>7.1f}")
    if peak:
        s += f" {100 * r['batched_gflops'] / peak:>5.0f}%"
    return s


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m common.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few updates and repeats (< 30 s)")
    p.add_argument("--reps", type=int, default=None, help="interleaved rounds (median taken)")
    p.add_argument("--updates", type=int, default=None, help="updates per round")
    p.add_argument("--device", default="cpu", help=f"where all variants run: {' | '.join(DEVICES)} (default cpu)")
    p.add_argument("--sac", action="store_true",
                   help="only the SAC behavior learner: batched members against a per-member loop (issue 21)")
    p.add_argument("--members", action="store_true",
                   help="only cells as members: OMAR runs stacked into one learner against a loop over them, "
                        f"for {', '.join(map(str, MEMBER_COUNTS))} members (issue 26)")
    p.add_argument("--batch", type=int, default=None,
                   help="minibatch of --members (default 64 on the CPU, 1024 on cuda)")
    args = p.parse_args(argv)
    if args.sac and args.members:
        p.error("give --sac or --members, not both")
    if args.batch is not None and not args.members:
        p.error(f"--batch {args.batch} is an option of --members")
    for name in ("reps", "updates", "batch"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} {getattr(args, name)}: give a positive integer")
    try:
        check_device(args.device)
    except ValueError as e:
        p.error(str(e))
    set_threads(1)  # the benchmark's claim is per thread
    kw = {k: v for k, v in (("reps", args.reps), ("n_updates", args.updates)) if v is not None}
    kw["device"] = args.device
    t0 = time.perf_counter()
    peak = matmul_peak_gflops(reps=5 if args.quick else 20, device=args.device)
    where = "1 CPU thread" if args.device == "cpu" else f"{args.device} ({torch.cuda.get_device_name(args.device)})"
    if args.sac:
        out = {}
        print(f"{where}; matmul peak fp32: {peak:.1f} GFLOP/s; SAC 2x256, batch 256, obs 17, act 6; medians")
        print(f"{'M':>3} {'batched u/s':>11} {'loop u/s':>9} {'b/loop':>7} {'member-u/s':>10} {'GF/upd':>7} "
              f"{'GFLOP/s':>8} {'%peak':>6}")
        for m in ((1, 4) if args.quick else (1, 2, 4, 8)):
            r = compare_sac(m, 17, 6, n_updates=args.updates or (5 if args.quick else 20),
                            reps=args.reps or (2 if args.quick else 3), device=args.device)
            out[m] = r
            print(f"{m:>3} {r['batched_updates_per_s']:>11.1f} {r['loop_updates_per_s']:>9.1f} "
                  f"{r['ratio_vs_loop']:>6.2f}x {r['member_updates_per_s']:>10.1f} {r['gflop_per_update']:>7.3f} "
                  f"{r['batched_gflops']:>8.1f} {100 * r['batched_gflops'] / peak:>5.0f}%")
        print(f"[{time.perf_counter() - t0:.1f} s]")
        return {"device": args.device, "peak_gflops": peak, "sac": out}
    if args.members:
        return _members_main(args, peak, where, t0)
    mpe = mpe_suite(args.quick, **kw)
    mj = mujoco_suite(args.quick, **kw)
    # measured again after the runs; the higher one
    peak = max(peak, matmul_peak_gflops(reps=5 if args.quick else 20, device=args.device))
    head = (f"{'algo':<10} {'M':>3} {'batched':>8} {'nochunk':>8} {'loop':>8} {'b/loop':>7} {'nc/loop':>7} "
            f"{'agent-u/s':>8} {'GF/upd':>7} {'GFLOP/s':>7}")
    print(f"{where}; matmul peak [10240x256]@[256x256] fp32: {peak:.1f} GFLOP/s; updates/s are medians")
    print("(a) MPE size: 3 agents x 5 seeds, obs 18, act 2, hidden 64, batch 1024 "
          f"(official OMAR, 1 CPU thread: ~{OFFICIAL_AGENT_UPDATES_PER_S[0]:.0f}-{OFFICIAL_AGENT_UPDATES_PER_S[1]:.0f} "
          "agent-updates/s)")
    print(head + "   %peak")
    for name, r in mpe.items():
        print(_row(name, r, peak))
    o = mpe["OMAR"]["batched_agent_updates_per_s"]
    print(f"OMAR batched agent-updates/s vs official: {o / OFFICIAL_AGENT_UPDATES_PER_S[1]:.2f}-"
          f"{o / OFFICIAL_AGENT_UPDATES_PER_S[0]:.2f}x")
    print("(b) MuJoCo size: 2 agents x 5 seeds, obs 6, act 3, hidden 256, batch 256, OMAR CEM 2x20/5, CQL 3x10")
    print(head + "   %peak")
    print(_row("OMAR", mj, peak))
    print(f"[{time.perf_counter() - t0:.1f} s]")
    return {"device": args.device, "peak_gflops": peak, "mpe": mpe, "mujoco": mj}


def _members_main(args: argparse.Namespace, peak: float, where: str, t0: float) -> dict[str, Any]:
    batch = args.batch or (64 if args.device == "cpu" else 1024)
    counts = MEMBER_COUNTS[:2] if args.quick else MEMBER_COUNTS
    print(f"{where}; matmul peak fp32: {peak:.1f} GFLOP/s; OMAR runs of 3 agents, obs 18, act 2, hidden 64, "
          f"batch {batch}; one stacked learner vs a loop over the runs; updates of all runs/s, medians")
    print(f"{'M':>5} {'runs':>5} {'stacked u/s':>11} {'loop u/s':>9} {'st/loop':>7} {'stacked member-u/s':>18} "
          f"{'loop member-u/s':>15} {'GF/upd':>7} {'GFLOP/s':>8} {'%peak':>6}")
    out = {}
    for m in counts:
        r = members_suite(batch, (m,), args.device, n_updates=args.updates or (1 if args.quick else 2),
                          reps=args.reps or (1 if args.quick else 2))[m]
        out[m] = r
        print(f"{m:>5} {int(r['runs']):>5} {r['stacked_updates_per_s']:>11.3f} {r['loop_updates_per_s']:>9.3f} "
              f"{r['ratio_vs_loop']:>6.2f}x {r['stacked_members_per_s']:>18.1f} {r['loop_members_per_s']:>15.1f} "
              f"{r['gflop_per_update']:>7.2f} {r['stacked_gflops']:>8.1f} {100 * r['stacked_gflops'] / peak:>5.1f}%",
              flush=True)
    print(f"[{time.perf_counter() - t0:.1f} s]")
    return {"device": args.device, "peak_gflops": peak, "batch": batch, "members": out}


if __name__ == "__main__":
    main()
