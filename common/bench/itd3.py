"""The offline learner's hot paths (common/algos/itd3.py): (a) OMAR, MA-CQL and MA-TD3+BC at MPE size and (b) OMAR
at MuJoCo size, the batched learner against the per-member reference loop of the same math
(common/algos/reference.py); (c) cells as members (common/running/grouping.py): R one-seed OMAR runs stacked into one
learner against a loop over the R learners; (d) ``matmul_bound``: how near the matmul peak the update can get with
its matmuls' kernels at their shapes (the update against a replay of its matmuls alone, issue 63). Sizes and method:
common/bench/__init__.py."""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from typing import Any

import torch

from common.algos.itd3 import ITD3, ITD3Config
from common.algos.reference import ReferenceAgent, reference_loop
from common.bench.bound import step_bound
from common.bench.core import count_flops, device_sync
from common.networks import chunking
from common.running.fields import unused_to_defaults
from common.running.runtime import check_device

MPE: dict[str, Any] = dict(n_seeds=5, n_agents=3, obs_dim=18, act_dim=2)
MPE_CFG = ITD3Config()  # OMAR MPE defaults: hidden 64, batch 1024, CQL 10, softmax 3 x 10
MUJOCO: dict[str, Any] = dict(n_seeds=5, n_agents=2, obs_dim=6, act_dim=3)
MUJOCO_CFG = ITD3Config(
    hidden=256,
    batch_size=256,
    actor_lr=3e-4,
    critic_lr=3e-4,
    tau_target=0.005,
    cql_proposal="mujoco",
    omar_sampler="cem",
    omar_iters=2,
    omar_n_samples=20,
    omar_n_elites=5,
)

ALGOS: dict[str, dict[str, Any]] = {
    "OMAR": dict(critic_reg="cql", actor_reg="omar"),
    "MA-CQL": dict(critic_reg="cql", actor_reg="none"),
    "MA-TD3+BC": dict(critic_reg="none", actor_reg="td3bc"),
}


def algo_cfg(base: ITD3Config, algo: str) -> ITD3Config:
    """``base`` with algorithm ``algo``'s regularisers; settings the algorithm does not use (e.g. the
    OMAR search for MA-CQL) go back to their defaults, as ``ITD3Config.validate`` requires."""
    return unused_to_defaults(replace(base, **ALGOS[algo]))


def _setup(
    cfg: ITD3Config,
    n_seeds: int,
    n_agents: int,
    obs_dim: int,
    act_dim: int,
    n_batches: int,
    size: int,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
):
    g = torch.Generator().manual_seed(seed)
    N, O, A = n_agents, obs_dim, act_dim
    data = _random_data(size, N, O, A, g)  # g goes on: the reference loop's noise continues its stream
    learner = ITD3([O] * N, [A] * N, n_seeds, cfg, seed=seed, device=device)
    d = learner.prepare_data(data)
    batches = [learner.sample_batch(d) for _ in range(n_batches)]
    agents = [ReferenceAgent.fresh(O, A, cfg) for _ in range(learner.n_members)]
    # Module.to keeps the Parameter objects, so the optimisers built in fresh() still hold them
    for a in agents:
        for net in (a.actor, a.critic, a.actor_target, a.critic_target):
            net.to(device)
    per_member = [[{k: v[m] for k, v in b.items()} for m in range(learner.n_members)] for b in batches]
    if device.type != "cpu":  # the loop's noise is drawn on the device, as the learner's
        g = torch.Generator(device=device).manual_seed(seed)
    return learner, batches, agents, per_member, g


def compare(
    cfg: ITD3Config,
    n_seeds: int,
    n_agents: int,
    obs_dim: int,
    act_dim: int,
    n_updates: int = 5,
    reps: int = 3,
    size: int | None = None,
    unchunked: bool = True,
    loop: bool = True,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, float]:
    """Updates/s (one update = all members) of the batched learner, optionally of the same learner
    with member chunking off, and of the per-member reference loop; medians over ``reps``
    interleaved rounds of ``n_updates`` updates each. Also GFLOP/s of the batched update."""
    size = size or max(4 * cfg.batch_size, 2000)
    dev = check_device(device)
    learner, batches, agents, per_member, g = _setup(
        cfg, n_seeds, n_agents, obs_dim, act_dim, n_updates, size, seed, dev
    )
    M = learner.n_members
    flops = count_flops(lambda: learner.update(batches[0]))
    learner.update(batches[0])  # warm-up
    if loop:
        reference_loop(agents, per_member[0], g)

    def batched(chunk_bytes: int) -> float:
        old = chunking.set_chunk_bytes(chunk_bytes)
        try:
            device_sync(dev)
            t0 = time.perf_counter()
            for b in batches:
                learner.update(b)
            device_sync(dev)
            return n_updates / (time.perf_counter() - t0)
        finally:
            chunking.set_chunk_bytes(old)

    def looped() -> float:
        device_sync(dev)
        t0 = time.perf_counter()
        for b in per_member:
            reference_loop(agents, b, g)
        device_sync(dev)
        return n_updates / (time.perf_counter() - t0)

    rates: dict[str, list[float]] = {"batched": [], "unchunked": [], "loop": []}
    default = chunking.CHUNK_BYTES
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


def mpe_suite(
    quick: bool = False,
    algos: tuple[str, ...] = tuple(ALGOS),
    size: dict | None = None,
    cfg: ITD3Config | None = None,
    **kw,
) -> dict[str, dict[str, float]]:
    """(a): each algorithm at MPE size (or ``size`` / ``cfg`` overrides, for tests)."""
    kw.setdefault("n_updates", 2 if quick else 6)
    kw.setdefault("reps", 2 if quick else 5)
    base = cfg or MPE_CFG
    return {a: compare(algo_cfg(base, a), **(size or MPE), **kw) for a in algos}


def mujoco_suite(
    quick: bool = False, size: dict | None = None, cfg: ITD3Config | None = None, **kw
) -> dict[str, float]:
    """(b): OMAR at MuJoCo size, with GFLOP/s."""
    kw.setdefault("n_updates", 1 if quick else 5)
    kw.setdefault("reps", 2 if quick else 5)
    return compare(algo_cfg(cfg or MUJOCO_CFG, "OMAR"), **(size or MUJOCO), **kw)


MEMBER_COUNTS = (15, 150, 1500)  # (c): members of the stacked learner = runs x 3 agents
MEMBERS_SIZE = dict(n_agents=3, obs_dim=18, act_dim=2)  # particle-world sizes (omar/spread)


def _random_data(
    size: int, n_agents: int, obs_dim: int, act_dim: int, g: torch.Generator, device="cpu"
) -> dict[str, torch.Tensor]:
    """Synthetic step tensors drawn from ``g`` (CPU): obs / next_obs ~ N(0, 1) [size, N, O], actions ~ U(-1, 1)
    [size, N, A], rewards ~ N(0, 1) [size, N], no terminals, a timeout every 25 steps; moved to ``device``."""
    N, O, A = n_agents, obs_dim, act_dim
    data = {
        "obs": torch.randn(size, N, O, generator=g),
        "actions": torch.rand(size, N, A, generator=g) * 2 - 1,
        "rewards": torch.randn(size, N, generator=g),
        "next_obs": torch.randn(size, N, O, generator=g),
        "terminals": torch.zeros(size),
        "timeouts": (torch.arange(size) % 25 == 24).float(),
    }
    return {k: v.to(device) for k, v in data.items()}


def compare_members(
    n_members: int,
    cfg: ITD3Config,
    n_agents: int = 3,
    obs_dim: int = 18,
    act_dim: int = 2,
    n_updates: int = 2,
    reps: int = 2,
    size: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, float]:
    """(c): updates/s (one update = every run) of R = n_members / n_agents one-seed runs stacked into one learner
    and of the loop over the R learners alone, medians over ``reps`` interleaved rounds of ``n_updates``
    updates, minibatch sampling included in both; members/s and GFLOP/s of the stacked update. The runs share
    one dataset (stored once in the stack); each draws its own minibatches."""
    if n_members % n_agents:
        raise ValueError(f"{n_members} members are not whole runs of {n_agents} agents")
    dev = check_device(device)
    R = n_members // n_agents
    data = _random_data(
        size or max(4 * cfg.batch_size, 2000),
        n_agents,
        obs_dim,
        act_dim,
        torch.Generator().manual_seed(seed),
        dev,
    )
    runs = [
        ITD3([obs_dim] * n_agents, [act_dim] * n_agents, 1, cfg, seeds=[seed + r], device=dev)
        for r in range(R)
    ]
    prepared = runs[0].prepare_data(data)
    stack = ITD3.stack(runs)  # copies: the runs below keep training on their own
    tensors = stack.stack_data([prepared] * R)

    def stacked_update() -> None:
        stack.update(stack.sample_batch(tensors))

    def loop_update() -> None:
        for lr in runs:
            lr.update(lr.sample_batch(prepared))

    flops = count_flops(stacked_update)
    loop_update()  # warm-up (the stack's was counted above)

    def timed(fn) -> float:
        device_sync(dev)
        t0 = time.perf_counter()
        for _ in range(n_updates):
            fn()
        device_sync(dev)
        return n_updates / (time.perf_counter() - t0)

    rates: dict[str, list[float]] = {"stacked": [], "loop": []}
    for _ in range(reps):
        rates["stacked"].append(timed(stacked_update))
        rates["loop"].append(timed(loop_update))
    st, lo = statistics.median(rates["stacked"]), statistics.median(rates["loop"])
    return {
        "members": float(n_members),
        "runs": float(R),
        "stacked_updates_per_s": st,
        "loop_updates_per_s": lo,
        "ratio_vs_loop": st / lo,
        "stacked_members_per_s": st * n_members,
        "loop_members_per_s": lo * n_members,
        "gflop_per_update": flops / 1e9,
        "stacked_gflops": st * flops / 1e9,
    }


def members_suite(batch: int, counts=MEMBER_COUNTS, device: str = "cpu", **kw) -> dict[int, dict[str, float]]:
    """(c) for each member count of ``counts``: OMAR at particle-world size with minibatch ``batch``."""
    cfg = replace(algo_cfg(MPE_CFG, "OMAR"), batch_size=batch)
    return {m: compare_members(m, cfg, **MEMBERS_SIZE, device=device, **kw) for m in counts}


def matmul_bound(
    cfg: ITD3Config | None = None, size: dict | None = None, reps: int = 7, seed: int = 0, device: str = "cpu"
) -> dict[str, float]:
    """How near the matmul peak an ITD3 update can get with these kernels at these shapes (OMAR at MPE size by
    default): :func:`common.bench.bound.step_bound` of one update (minibatch sampling included)."""
    cfg = cfg or algo_cfg(MPE_CFG, "OMAR")
    size = size or MPE
    dev = check_device(device)
    N, O, A = size["n_agents"], size["obs_dim"], size["act_dim"]
    learner = ITD3([O] * N, [A] * N, size["n_seeds"], cfg, seed=seed, device=dev)
    data = learner.prepare_data(
        _random_data(max(4 * cfg.batch_size, 2000), N, O, A, torch.Generator().manual_seed(seed), dev)
    )
    return step_bound(lambda: learner.update(learner.sample_batch(data)), reps=reps, seed=seed, device=device)
