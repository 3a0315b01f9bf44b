"""BREMEN's configuration for OTC's online tuning (papers/otc/bremen.py, whose module docstring gives the papers, the
equations and the sources): ``BREMENConfig`` with a comment per field naming its source, and its ``validate()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from common.running.validate import is_int, is_num


@dataclass
class BREMENConfig:
    """Defaults = OTC's BREMEN (Table 3 BREMEN column; spec C4, C21); [I] = ours where both are silent."""

    hidden: Sequence[int] = (256, 256)  # policy, value net and each dynamics model (OTC Table 3; spec C21)
    actor_lr: float = 1e-4  # Adam lr of the policy, BC and PPO (OTC Table 3 actor lr)
    value_lr: float = 5e-4  # Adam lr of the value net (OTC Table 3 critic lr)
    model_lr: float = 1e-3  # Adam lr of the dynamics models [I: BREMEN / ME-TRPO's 1e-3]
    batch_size: int = 128  # model and BC minibatch per member (OTC Table 3)
    gamma: float = 0.99  # discount (OTC Table 3)
    gae_lambda: float = 0.95  # GAE lambda [I: the usual TRPO / PPO value]
    n_models: int = 5  # dynamics models per member (spec C21; BREMEN)
    horizon: int = 25  # imagined rollout length H (spec C21)
    rollout_starts: int = 64  # imagined rollouts R per member per update [I: cost, 1600 transitions per update]
    ppo_clip: float = 0.2  # PPO clip epsilon (spec C21)
    ppo_minibatches: int = 4  # minibatches of one epoch over the R x H rollout transitions [I]
    bc_updates: int = 10_000  # first updates that do BC instead of PPO (spec C4: BC 1e4)
    holdout_fraction: float = 0.1  # share of B^0's rows held out for model selection (spec C21: 10 %)
    holdout_max: int = 5_000  # at most this many hold-out rows per seed [I: cost of each evaluation]
    holdout_every: int = 500  # hold-out evaluation period during the BC stage [I]
    log_std_bounds: Sequence[float] = (-6.0, 0.0)  # clamp of the policy's log-std [I: AWAC's range, spec C18]
    clip_to_data: bool = True  # clip imagined next obs and rewards to B^0's range [I: OfflineRL's BREMEN]
    max_action: float = 1.0  # acting and the model's input clip the action to +-max_action (OTC MPE: 0.1)
    log_every: int = 100  # update() returns metrics (detached [M] tensors) every log_every updates
    check_finite_every: int = 1  # NaN guard period (one host sync per check)

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        for name in ("hidden", "log_std_bounds"):
            v = getattr(self, name)
            if isinstance(v, (list, tuple)):
                setattr(self, name, tuple(v))

    def validate(self) -> "BREMENConfig":
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"BREMENConfig.{name}={getattr(self, name)!r} {rule}")

        v = self.hidden
        if not isinstance(v, tuple) or not v or not all(is_int(h) and h >= 1 for h in v):
            fail("hidden", "must be a non-empty sequence of integers >= 1, e.g. (256, 256)")
        for name in ("batch_size", "n_models", "horizon", "rollout_starts", "ppo_minibatches", "holdout_every",
                     "log_every", "check_finite_every"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 1):
                fail(name, "must be an integer >= 1")
        for name in ("bc_updates", "holdout_max"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 0):
                fail(name, "must be an integer >= 0")
        if self.ppo_minibatches > self.rollout_starts * self.horizon:
            fail("ppo_minibatches", f"must be <= rollout_starts x horizon = {self.rollout_starts * self.horizon}")
        for name in ("actor_lr", "value_lr", "model_lr", "ppo_clip", "max_action"):
            if not (is_num(getattr(self, name)) and getattr(self, name) > 0):
                fail(name, "must be a number > 0")
        for name in ("gamma", "gae_lambda"):
            if not (is_num(getattr(self, name)) and 0.0 <= getattr(self, name) <= 1.0):
                fail(name, "must be in [0, 1]")
        if not (is_num(self.holdout_fraction) and 0.0 <= self.holdout_fraction < 1.0):
            fail("holdout_fraction", "must be in [0, 1)")
        b = self.log_std_bounds
        if not (isinstance(b, tuple) and len(b) == 2 and all(is_num(x) for x in b) and b[0] < b[1]):
            fail("log_std_bounds", "must be two numbers (low, high) with low < high, e.g. (-6.0, 0.0)")
        if not isinstance(self.clip_to_data, (bool, np.bool_)):
            fail("clip_to_data", "must be True or False")
        return self
