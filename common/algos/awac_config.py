"""Batched AWAC's configuration (common/algos/awac.py, whose module docstring gives the paper, the equations and the
sources): the views, ``AWACConfig`` with a comment per field naming its source, and its ``validate()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from common.algos.awac_policy import LOG_STD_PARAMS
from common.running.validate import is_int, is_num

VIEWS = ("independent",)


@dataclass
class AWACConfig:
    """Defaults = OTC's AWAC (Table 3 AWAC column; spec C18), rlkit's AWAC where OTC is silent."""

    hidden: Sequence[int] = (256, 256)  # actor and twin-critic widths (OTC Table 3; rlkit awac1: Q 256-256, pi 4x256)
    actor_lr: float = 1e-4  # Adam lr of the policy (OTC Table 3; rlkit awac1: 3e-4)
    critic_lr: float = 5e-4  # Adam lr of Q1 and Q2 (OTC Table 3; rlkit awac1: 3e-4)
    policy_weight_decay: float = 1e-4  # Adam weight_decay of the policy only (rlkit awac1; spec C18)
    lam: float = 1.0  # temperature lambda of softmax_B(A / lambda) (spec C18; rlkit beta = 1, its MuJoCo sweep: 2)
    tau: float = 0.005  # Polyak rate of the critic target (spec C18; rlkit awac1 soft_target_tau 5e-3)
    gamma: float = 0.99  # discount (OTC Table 3; rlkit 0.99)
    batch_size: int = 128  # per-member minibatch (OTC Table 3: 128; rlkit awac1: 1024)
    replace: bool = True  # rows drawn with replacement (rlkit's replay buffer: np.random.randint)
    log_std_bounds: Sequence[float] = (-6.0, 0.0)  # range of log sigma (spec C18; rlkit min/max_log_std -6, 0)
    log_std_param: str = "clamp"  # "clamp" (spec C18: a learned [A] vector clamped) or "sigmoid" (rlkit "values")
    log_std_init: float = -3.0  # initial log sigma (rlkit: sigmoid(0) -> the middle of [-6, 0])
    mean_tanh: bool = False  # mean = max_action * tanh(MLP) as rlkit's GaussianPolicy; False = spec "unsquashed"
    max_action: float = 1.0  # action bound: acting clips the mean to +-max_action (MaMuJoCo 1; OTC nav 0.1)
    view: str = "independent"  # "independent" only: member m = agent i of seed s on its own obs and action
    log_every: int = 100  # update() returns metrics (detached [M] tensors) every log_every updates
    check_finite_every: int = 1  # NaN guard period (one host sync per check)

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        for name in ("hidden", "log_std_bounds"):
            v = getattr(self, name)
            if isinstance(v, (list, tuple)):
                setattr(self, name, tuple(v))

    def validate(self) -> "AWACConfig":
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"AWACConfig.{name}={getattr(self, name)!r} {rule}")

        for name, allowed in (("view", VIEWS), ("log_std_param", LOG_STD_PARAMS)):
            if getattr(self, name) not in allowed:
                fail(name, f"is not allowed; choose one of {list(allowed)}")
        v = self.hidden
        if not isinstance(v, tuple) or not v or not all(is_int(h) and h >= 1 for h in v):
            fail("hidden", "must be a non-empty sequence of integers >= 1, e.g. (256, 256)")
        for name in ("batch_size", "log_every", "check_finite_every"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 1):
                fail(name, "must be an integer >= 1")
        for name in ("actor_lr", "critic_lr", "lam", "max_action"):
            if not (is_num(getattr(self, name)) and getattr(self, name) > 0):
                fail(name, "must be a number > 0")
        if not (is_num(self.policy_weight_decay) and self.policy_weight_decay >= 0):
            fail("policy_weight_decay", "must be a number >= 0")
        if not (is_num(self.gamma) and 0.0 <= self.gamma <= 1.0):
            fail("gamma", "must be in [0, 1]")
        if not (is_num(self.tau) and 0.0 < self.tau <= 1.0):
            fail("tau", "must be in (0, 1]")
        b = self.log_std_bounds
        if not (isinstance(b, tuple) and len(b) == 2 and all(is_num(x) for x in b) and b[0] < b[1]):
            fail("log_std_bounds", "must be two numbers (low, high) with low < high, e.g. (-6.0, 0.0)")
        lo, hi = b
        init = self.log_std_init
        if self.log_std_param == "sigmoid" and not (is_num(init) and lo < init < hi):
            fail("log_std_init", f"must lie strictly inside log_std_bounds {b} with log_std_param='sigmoid'")
        if self.log_std_param == "clamp" and not (is_num(init) and lo <= init <= hi):
            fail("log_std_init", f"must lie inside log_std_bounds {b}")
        for name in ("replace", "mean_tanh"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                fail(name, "must be True or False")
        return self
