"""The SAC behavior learner's update (common/behavior/sac.py): M members batched in one learner against a loop over
M one-member learners doing the same math, at rlkit's sizes (2 x 256, batch 256)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from common.bench.bound import step_bound
from common.bench.core import count_flops, interleaved_rates
from common.running.runtime import check_device

# e.g. HalfCheetah + Walker2d x 2 seeds (rlkit SAC: 2x256)
SAC_SIZE = dict(n_members=4, obs_dim=17, act_dim=6)


def filled(lr, obs_dim: int, act_dim: int, rng):
    """``lr`` (a SAC learner) with 2,000 random transitions per member in its buffer."""
    for _ in range(2000):
        lr.buffer.add(
            obs=rng.standard_normal((lr.M, obs_dim)),
            actions=rng.uniform(-1, 1, (lr.M, act_dim)),
            rewards=rng.standard_normal(lr.M),
            next_obs=rng.standard_normal((lr.M, obs_dim)),
            terminals=np.zeros(lr.M),
            timeouts=np.zeros(lr.M),
        )
    return lr


def compare_sac(
    n_members: int = 4,
    obs_dim: int = 17,
    act_dim: int = 6,
    n_updates: int = 20,
    reps: int = 3,
    device: str = "cpu",
    cfg=None,
) -> dict[str, float]:
    """SAC updates/s (one update = all members) of the batched learner against a loop over M one-member
    learners doing the same math (common/behavior/sac.py), medians over interleaved rounds; plus GFLOP/s."""
    from common.behavior.sac import SAC, Member, SACConfig

    cfg = replace(cfg or SACConfig(), device=device)
    dev = check_device(device)
    members = [Member("bench", s) for s in range(n_members)]
    rng = np.random.default_rng(0)

    def fill(lr: SAC) -> SAC:
        return filled(lr, obs_dim, act_dim, rng)

    batched = fill(SAC(members, obs_dim, act_dim, cfg, 2000))
    loop = [fill(SAC([m], obs_dim, act_dim, cfg, 2000)) for m in members]
    flops = count_flops(batched.update)
    r = interleaved_rates(
        {"batched": batched.update, "loop": lambda: [lr.update() for lr in loop]}, n_updates, reps, dev
    )
    b, lo = r["batched"], r["loop"]
    return {
        "members": float(n_members),
        "batched_updates_per_s": b,
        "loop_updates_per_s": lo,
        "ratio_vs_loop": b / lo,
        "member_updates_per_s": b * n_members,
        "gflop_per_update": flops / 1e9,
        "batched_gflops": b * flops / 1e9,
    }


def sac_bound(
    n_members: int = 1,
    obs_dim: int = 17,
    act_dim: int = 6,
    hidden: tuple[int, ...] | None = None,
    batch_size: int | None = None,
    reps: int = 7,
    device: str = "cpu",
) -> dict[str, float]:
    """The matmul bound (common/bench/bound.py) of the SAC update of ``n_members`` members at rlkit's sizes (2 x 256,
    batch 256; ``hidden`` / ``batch_size`` override them): how near the matmul peak any SAC step with these
    products can get, against where it is."""
    from common.behavior.sac import SAC, Member, SACConfig

    cfg = SACConfig(device=device)
    if hidden is not None:
        cfg = replace(cfg, hidden=tuple(hidden))
    if batch_size is not None:
        cfg = replace(cfg, batch_size=int(batch_size))
    lr = SAC([Member("bench", s) for s in range(n_members)], obs_dim, act_dim, cfg, 2000)
    return step_bound(filled(lr, obs_dim, act_dim, np.random.default_rng(0)).update, reps=reps, device=device)


def behavior_steps(
    task: str = "hopper", n_steps: int = 3_000, device: str = "cpu", cfg=None
) -> dict[str, float]:
    """The SAC behavior run's own step (common/behavior/sac_train.py: one environment step of the policy's action into
    the buffer, then one update), one member on ``task``, timed by the run's clocks over ``n_steps`` steps after
    ``learning_starts`` (actions from the policy from the first step: ``start_steps`` 0). Returns steps/s, the
    updates/s of the same steps, and the share of a step spent outside the update."""
    from common.behavior.sac import Member, SACConfig
    from common.behavior.sac_train import train_sac

    cfg = replace(cfg or SACConfig(), device=device, start_steps=0)
    warm = int(cfg.learning_starts)
    total = warm + int(n_steps)
    run = train_sac([Member(task, 0)], cfg, total, eval_every=total, eval_episodes=1)
    env = run.env_time * n_steps / total  # the env clock runs from step 1; the updates from learning_starts
    return {
        "steps_per_s": n_steps / (env + run.update_time),
        "updates_per_s": n_steps / run.update_time,
        "env_share": env / (env + run.update_time),
    }
