"""Where a MOMA-PPO iteration's rollouts spend their time (issue 23's GPU goal), on the benchmark's synthetic setup.

    python -m papers.moma_ppo.rollout_profile [--device cuda] [--task reacher-2x1] [--size code] [--n-seeds 3]

Builds what ``papers.moma_ppo.bench`` times (a 7-member ensemble, one MAPPO of S seeds, 2,000 synthetic transitions
of k = 10), warms up with one iteration, then (1) clocks each piece of ``generate_rollouts`` - the policy's ``act``,
the ensemble's ``sample``, the histories of the starts and the history shift - with a device sync around every
call, over 3 rollouts, and (2) runs one rollout under torch.profiler and prints its top operators by device time
and by host time and the number of kernel launches. A diagnostic (not a paper item); its output is quoted in
papers/moma_ppo/README.md, "Cost and the benchmark"."""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch

from common.bench import device_sync
from common.running.runtime import check_device


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m papers.moma_ppo.rollout_profile", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    p.add_argument("--task", default="reacher-2x1", choices=("reacher-2x1", "ant-4x2-po"))
    p.add_argument("--size", default="code", choices=("tiny", "quick", "code"))
    p.add_argument("--n-seeds", type=int, default=3)
    p.add_argument("--batch", type=int, default=2_000)
    p.add_argument("--top", type=int, default=18, help="operators listed per table")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    import papers.moma_ppo.moma_ppo as mm
    from common.algos.mappo import MAPPO
    from papers.moma_ppo import bench as mb

    dev = check_device(a.device)
    shape = mb.SHAPES[a.task]
    wm, cfg, obs, hist, roll = mb.iteration_setup(a.task, a.size, dev, a.batch)
    seeds = list(range(a.n_seeds))
    pol = MAPPO(shape["obs_dims"], shape["act_dims"], len(seeds), cfg, seeds=seeds, device=dev)
    gens = mm.start_generators(seeds, dev)
    wm_gens = [torch.Generator(device=wm.gen.device).manual_seed(s) for s in seeds]

    def run() -> None:
        mm.generate_rollouts(wm, pol, obs, roll, gens, hist, wm_gens)

    out = mm.generate_rollouts(wm, pol, obs, roll, gens, hist, wm_gens)
    pol.update(out["batch"])  # warm (and capture the minibatch graph on a GPU)
    clock: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)

    def timed(name, fn):
        def wrapper(*args, **kw):
            device_sync(dev)
            t0 = time.perf_counter()
            r = fn(*args, **kw)
            device_sync(dev)
            clock[name] += time.perf_counter() - t0
            calls[name] += 1
            return r

        return wrapper

    orig = (pol.act, wm.sample, mm.shift_history, mm.history_step)
    pol.act, wm.sample = timed("policy.act", pol.act), timed("wm.sample", wm.sample)
    mm.shift_history, mm.history_step = (
        timed("shift_history", mm.shift_history),
        timed("history_step", mm.history_step),
    )
    if hist is not None:
        hist.histories = timed("histories(starts)", hist.histories)
    reps = 3
    device_sync(dev)
    t0 = time.perf_counter()
    for _ in range(reps):
        run()
    device_sync(dev)
    total = (time.perf_counter() - t0) / reps
    pol.act, wm.sample, mm.shift_history, mm.history_step = orig
    if hist is not None:
        del hist.histories
    print(f"{a.task} {a.size} S={a.n_seeds} on {dev}: one rollout (synced pieces) {total * 1e3:.1f} ms")
    for k in sorted(clock, key=clock.get, reverse=True):
        print(f"  {k:<20} {clock[k] / reps * 1e3:8.1f} ms per rollout, {calls[k] / reps:5.1f} calls")
    print(f"  {'rest':<20} {(total - sum(clock.values()) / reps) * 1e3:8.1f} ms")
    device_sync(dev)
    t0 = time.perf_counter()
    run()
    device_sync(dev)
    print(f"one rollout unsynced: {(time.perf_counter() - t0) * 1e3:.1f} ms")
    acts = [torch.profiler.ProfilerActivity.CPU]
    if dev.type == "cuda":
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=acts) as prof:
        run()
        device_sync(dev)
    ka = prof.key_averages()
    if dev.type == "cuda":
        print(ka.table(sort_by="self_cuda_time_total", row_limit=a.top, max_name_column_width=48))
        launches = sum(
            e.count for e in ka if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC")
        )
        syncs = sum(e.count for e in ka if "Synchronize" in e.key or e.key == "cudaMemcpyAsync")
        print(f"kernel launches {launches}, memcpy/sync calls {syncs}")
    print(ka.table(sort_by="cpu_time_total", row_limit=a.top, max_name_column_width=48))


if __name__ == "__main__":
    main()
