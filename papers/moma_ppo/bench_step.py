"""MOMA-PPO's iteration as a hot path of ``python -m common.bench --all --baseline REV`` (common/bench/baseline.py):
``step(device, size)`` builds one batched iteration (papers.moma_ppo.bench's: k = 10-step rollouts from 2,000
synthetic start rows through a 7-member world model, then one MAPPO update of every seed) and returns it as a
callable. The benchmark worker loads THIS file in the current tree and in the older commit's, where its imports
resolve to that tree's modules; so it uses only API both trees have (papers.moma_ppo.bench.iteration_setup and
SHAPES, MAPPO, moma_iteration, start_generators: unchanged since issue 23).

size: task (papers.moma_ppo.bench.SHAPES), size ("quick", "code" or "tiny"), n_seeds, and optionally batch and k (the
rollouts' start rows and length; default 2,000 and 10, the benchmark's); other keys are labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def step(device: torch.device, size: dict[str, Any]) -> Callable[[], object]:
    from common.algos.mappo import MAPPO  # noqa: PLC0415
    from papers.moma_ppo.bench import SHAPES, iteration_setup  # noqa: PLC0415
    from papers.moma_ppo.moma_ppo import moma_iteration, start_generators  # noqa: PLC0415

    shape, seeds = SHAPES[size["task"]], list(range(int(size["n_seeds"])))
    rollouts = {k: int(size[k]) for k in ("batch", "k") if k in size}
    wm, cfg, obs, hist, roll = iteration_setup(size["task"], size["size"], device, **rollouts)
    policy = MAPPO(shape["obs_dims"], shape["act_dims"], len(seeds), cfg, seeds=seeds, device=device)
    gens = start_generators(seeds, device)
    wm_gens = [torch.Generator(device=wm.gen.device).manual_seed(s) for s in seeds]
    return lambda: moma_iteration(wm, policy, obs, roll, gens, hist, wm_gens=wm_gens)
