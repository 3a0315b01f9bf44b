"""Batched AWAC's configuration (common/algos/awac.py, whose module docstring gives the paper, the equations and the
sources): the views, ``AWACConfig`` with a comment per field naming its source, and its ``validate()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from common.algos.awac_policy import LOG_STD_PARAMS
from common.running.fields import Rules, check, low_high, opt

VIEWS = ("independent",)


@dataclass
class AWACConfig:
    """Defaults = OTC's AWAC (Table 3 AWAC column; spec C18), rlkit's AWAC where OTC is silent."""

    # actor and twin-critic widths (OTC Table 3; rlkit awac1: Q 256-256, pi 4x256)
    hidden: Sequence[int] = opt((256, 256), kind="int", ge=1, seq=True, hint="e.g. (256, 256)")
    actor_lr: float = opt(1e-4, kind="num", gt=0)  # Adam lr of the policy (OTC Table 3; rlkit awac1: 3e-4)
    critic_lr: float = opt(5e-4, kind="num", gt=0)  # Adam lr of Q1 and Q2 (OTC Table 3; rlkit awac1: 3e-4)
    # Adam weight_decay of the policy only (rlkit awac1; spec C18)
    policy_weight_decay: float = opt(1e-4, kind="num", ge=0)
    # temperature lambda of softmax_B(A / lambda) (spec C18; rlkit beta = 1, its MuJoCo sweep: 2, which OTC's cells take:
    # papers/otc/config.py)
    lam: float = opt(1.0, kind="num", gt=0)
    # Polyak rate of the critic target (spec C18; rlkit awac1 soft_target_tau 5e-3)
    tau: float = opt(0.005, kind="num", gt=0, le=1)
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # discount (OTC Table 3; rlkit 0.99)
    batch_size: int = opt(128, kind="int", ge=1)  # per-member minibatch (OTC Table 3: 128; rlkit awac1: 1024)
    # rows drawn with replacement (rlkit's replay buffer: np.random.randint)
    replace: bool = opt(True, kind="bool")
    # range of log sigma (spec C18; rlkit min/max_log_std -6, 0)
    log_std_bounds: Sequence[float] = opt((-6.0, 0.0), kind="num", seq=True, hint="(low, high), low < high")
    # "clamp" (spec C18: a learned [A] vector clamped) or "sigmoid" (rlkit "values")
    log_std_param: str = opt("clamp", choices=LOG_STD_PARAMS)
    # initial log sigma (rlkit: sigmoid(0) -> the middle of [-6, 0])
    log_std_init: float = opt(-3.0, kind="num")
    # mean = max_action * tanh(MLP) as rlkit's GaussianPolicy; False = spec "unsquashed"
    mean_tanh: bool = opt(False, kind="bool")
    # action bound: acting clips the mean to +-max_action (MaMuJoCo 1; OTC nav 0.1)
    max_action: float = opt(1.0, kind="num", gt=0)
    # "independent" only: member m = agent i of seed s on its own obs and action
    view: str = opt("independent", choices=VIEWS)
    # update() returns metrics (detached [M] tensors) every log_every updates
    log_every: int = opt(100, kind="int", ge=1)
    check_finite_every: int = opt(1, kind="int", ge=1)  # NaN guard period (one host sync per check)
    RULES: ClassVar[Rules] = (
        low_high("log_std_bounds"),
        (
            lambda c: (
                c.log_std_param != "sigmoid" or c.log_std_bounds[0] < c.log_std_init < c.log_std_bounds[1]
            ),
            "log_std_init={c.log_std_init!r} must lie strictly inside log_std_bounds {c.log_std_bounds} with "
            "log_std_param='sigmoid'",
        ),
        (
            lambda c: (
                c.log_std_param != "clamp" or c.log_std_bounds[0] <= c.log_std_init <= c.log_std_bounds[1]
            ),
            "log_std_init={c.log_std_init!r} must lie inside log_std_bounds {c.log_std_bounds}",
        ),
    )

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        for name in ("hidden", "log_std_bounds"):
            v = getattr(self, name)
            if isinstance(v, (list, tuple)):
                setattr(self, name, tuple(v))

    def validate(self) -> "AWACConfig":
        """The fields' declared rules, their needs and ``RULES`` (common.running.fields.check)."""
        return check(self)
