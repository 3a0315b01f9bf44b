"""The matmul bound of a MOMA-PPO iteration (issue 63: the 50 %-of-peak target): how near the matmul peak any
iteration with the same products (the world model's rollouts and MAPPO's minibatch steps, at their shapes) can get,
against where ours is (common/bench/bound.py).

    python -m papers.moma_ppo.bench_bound [--task reacher-2x1] [--size quick] [--n-seeds 3] [--reps 3]

One iteration = papers.moma_ppo.bench's: k = 10-step rollouts from 2,000 synthetic start rows through a 7-member
world model, then one MAPPO update of every seed (one policy of S seeds), on one CPU thread.
"""

from __future__ import annotations

import argparse

from common.bench.bound import bound_line, step_bound
from common.bench.core import check_bench_args
from common.running.runtime import check_device
from papers.moma_ppo.bench import SHAPES


def iteration_bound(
    task: str = "reacher-2x1", size: str = "quick", n_seeds: int = 3, reps: int = 3, device: str = "cpu"
) -> dict[str, float]:
    """:func:`common.bench.bound.step_bound` of one batched MOMA-PPO iteration of ``n_seeds`` seeds at ``size``."""
    from papers.moma_ppo.bench_step import step  # noqa: PLC0415  (the iteration --all --baseline times)

    if task not in SHAPES:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(SHAPES)}")
    iteration = step(check_device(device), {"task": task, "size": size, "n_seeds": n_seeds})
    return step_bound(iteration, reps, 0, device)


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(
        prog="python -m papers.moma_ppo.bench_bound", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--task", choices=tuple(SHAPES), default="reacher-2x1", help="shapes (default reacher-2x1)"
    )
    p.add_argument("--size", choices=("quick", "code"), default="quick", help="network sizes (default quick)")
    p.add_argument("--n-seeds", type=int, default=3, help="seeds in the policy (default 3)")
    p.add_argument("--reps", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    a = p.parse_args(argv)
    if a.n_seeds < 1:
        p.error(f"--n-seeds {a.n_seeds}: give a positive integer")
    check_bench_args(p, a, ("reps",))  # a positive --reps, a known device, then ONE torch thread
    r = iteration_bound(a.task, a.size, a.n_seeds, a.reps, a.device)
    print(f"MOMA-PPO iteration, {a.task} {a.size}, {a.n_seeds} seeds: {bound_line(r)}")
    return r


if __name__ == "__main__":
    main()
