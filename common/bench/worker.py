"""A timing worker for ``python -m common.bench --baseline REV`` (common/bench/baseline.py): run as
``python -c <this file's text>`` in the root of a tree (the current one, or a ``git worktree`` of an older commit),
it builds one hot path from THAT tree's modules and times it on request, so that two trees run the same script,
each in its own process, their rounds interleaved by the parent (each waits on its pipe while the other runs).

Protocol, one JSON object a line: the parent sends {"path": name, "device": d, "size": {...}} (and "file": a paper's
step builder, ``plugin_step``, for a path not in PATHS); the worker replies
{"flops": F} (FLOPs of one call, torch's FlopCounterMode) after one warm-up call; then for each {"calls": n} it
replies {"seconds": s} (n calls, clocks after a device sync); {"quit": true} ends it. Replies carry the prefix
``@@bench `` so that whatever the tree's modules print is not read as one.

Only public API that the trees share is used (SAC(members, O, A, cfg, capacity), its buffer's add and update();
ITD3(obs_dims, act_dims, n_seeds, cfg, seed=, device=), prepare_data, sample_batch, update): a hot path whose API
changed between the trees fails with that tree's error, said by the parent.
"""

import dataclasses
import json
import sys
import time
from typing import Any

import numpy as np
import torch

PREFIX = "@@bench "


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def sac_step(dev, size):
    """One SAC update of ``members`` members at obs ``obs_dim``, act ``act_dim`` on a 2,000-row buffer of random
    transitions (rlkit's sizes unless ``hidden`` / ``batch_size`` are given)."""
    from common.behavior.sac import SAC, Member, SACConfig

    M, O, A = size["members"], size["obs_dim"], size["act_dim"]
    over: dict[str, Any] = {
        k: (tuple(v) if k == "hidden" else v) for k, v in size.items() if k in ("hidden", "batch_size")
    }
    cfg = dataclasses.replace(SACConfig(), device=str(dev), **over)
    lr = SAC([Member("bench", s) for s in range(M)], O, A, cfg, 2000)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        lr.buffer.add(
            obs=rng.standard_normal((M, O)),
            actions=rng.uniform(-1, 1, (M, A)),
            rewards=rng.standard_normal(M),
            next_obs=rng.standard_normal((M, O)),
            terminals=np.zeros(M),
            timeouts=np.zeros(M),
        )
    return lr.update


def omar_step(dev, size):
    """One OMAR update (ITD3 with CQL and the OMAR actor term; MPE defaults unless ``hidden`` / ``batch_size``) of
    ``n_seeds`` x ``n_agents`` members on random data, minibatch sampling included."""
    from common.algos.itd3 import ITD3, ITD3Config

    N, O, A = size["n_agents"], size["obs_dim"], size["act_dim"]
    over = {k: v for k, v in size.items() if k in ("hidden", "batch_size", "cql_n_actions", "omar_n_samples")}
    cfg = dataclasses.replace(ITD3Config(), critic_reg="cql", actor_reg="omar", **over)
    T = max(4 * cfg.batch_size, 2000)
    g = torch.Generator().manual_seed(0)
    data = {
        "obs": torch.randn(T, N, O, generator=g),
        "actions": torch.rand(T, N, A, generator=g) * 2 - 1,
        "rewards": torch.randn(T, N, generator=g),
        "next_obs": torch.randn(T, N, O, generator=g),
        "terminals": torch.zeros(T),
        "timeouts": (torch.arange(T) % 25 == 24).float(),
    }
    lr = ITD3([O] * N, [A] * N, size["n_seeds"], cfg, seed=0, device=dev)
    d = lr.prepare_data(data)
    return lambda: lr.update(lr.sample_batch(d))


PATHS = {"sac": sac_step, "omar-mpe": omar_step}


def plugin_step(file, dev, size):
    """A paper's hot path (``papers/<paper>/bench_step.py``: ``step(device, size)``), loaded from ``file``: the
    current tree's builder, whose imports resolve to the modules of the tree this worker runs in."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_bench_step_plugin", file)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load a step builder from {file!r}: not a Python file")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.step(dev, size)


def _reply(obj):
    sys.stdout.write(PREFIX + json.dumps(obj) + "\n")
    sys.stdout.flush()


def serve():
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(1)
    req = json.loads(sys.stdin.readline())
    dev = torch.device(req["device"])
    if req.get("file"):
        step = plugin_step(req["file"], dev, req["size"])
    else:
        step = PATHS[req["path"]](dev, req["size"])
    with FlopCounterMode(display=False) as fc:
        step()
    step()  # warm-up
    import common

    _reply({"flops": int(fc.get_total_flops()), "root": common.__path__[0]})
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            break
        _sync(dev)
        t0 = time.perf_counter()
        for _ in range(req["calls"]):
            step()
        _sync(dev)
        _reply({"seconds": time.perf_counter() - t0})


if __name__ == "__main__":
    serve()
