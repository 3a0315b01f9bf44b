"""BREMEN's configuration for OTC's online tuning (papers/otc/bremen.py, whose module docstring gives the papers, the
equations and the sources): ``BREMENConfig`` with a comment per field naming its source, and its ``validate()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from common.running.fields import Rules, check, low_high, opt


@dataclass
class BREMENConfig:
    """Defaults = OTC's BREMEN (Table 3 BREMEN column; spec C4, C21); [I] = ours where both are silent."""

    # policy, value net and each dynamics model (OTC Table 3; spec C21)
    hidden: Sequence[int] = opt((256, 256), kind="int", ge=1, seq=True, hint="e.g. (256, 256)")
    actor_lr: float = opt(1e-4, kind="num", gt=0)  # Adam lr of the policy, BC and PPO (OTC Table 3 actor lr)
    value_lr: float = opt(5e-4, kind="num", gt=0)  # Adam lr of the value net (OTC Table 3 critic lr)
    # Adam lr of the dynamics models [I: BREMEN / ME-TRPO's 1e-3]
    model_lr: float = opt(1e-3, kind="num", gt=0)
    batch_size: int = opt(128, kind="int", ge=1)  # model and BC minibatch per member (OTC Table 3)
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # discount (OTC Table 3)
    gae_lambda: float = opt(0.95, kind="num", ge=0, le=1)  # GAE lambda [I: the usual TRPO / PPO value]
    n_models: int = opt(5, kind="int", ge=1)  # dynamics models per member (spec C21; BREMEN)
    horizon: int = opt(25, kind="int", ge=1)  # imagined rollout length H (spec C21)
    # imagined rollouts R per member per update [I: cost, 1600 transitions per update]
    rollout_starts: int = opt(64, kind="int", ge=1)
    ppo_clip: float = opt(0.2, kind="num", gt=0)  # PPO clip epsilon (spec C21)
    # minibatches of one epoch over the R x H rollout transitions [I]
    ppo_minibatches: int = opt(4, kind="int", ge=1)
    # first updates that do BC instead of PPO (spec C4: BC 1e4)
    bc_updates: int = opt(10_000, kind="int", ge=0)
    # share of B^0's rows held out for model selection (spec C21: 10 %)
    holdout_fraction: float = opt(0.1, kind="num", ge=0, lt=1)
    # at most this many hold-out rows per seed [I: cost of each evaluation]
    holdout_max: int = opt(5_000, kind="int", ge=0)
    holdout_every: int = opt(500, kind="int", ge=1)  # hold-out evaluation period during the BC stage [I]
    # clamp of the policy's log-std [I: AWAC's range, spec C18]
    log_std_bounds: Sequence[float] = opt((-6.0, 0.0), kind="num", seq=True)
    # clip imagined next obs and rewards to B^0's range [I: OfflineRL's BREMEN]
    clip_to_data: bool = opt(True, kind="bool")
    # acting and the model's input clip the action to +-max_action (OTC MPE: 0.1)
    max_action: float = opt(1.0, kind="num", gt=0)
    # update() returns metrics (detached [M] tensors) every log_every updates
    log_every: int = opt(100, kind="int", ge=1)
    check_finite_every: int = opt(1, kind="int", ge=1)  # NaN guard period (one host sync per check)
    RULES: ClassVar[Rules] = (
        low_high("log_std_bounds"),
        (
            lambda c: c.ppo_minibatches <= c.rollout_starts * c.horizon,
            "ppo_minibatches={c.ppo_minibatches!r} must be <= rollout_starts x horizon = {c.rollout_starts} x "
            "{c.horizon}",
        ),
    )

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        for name in ("hidden", "log_std_bounds"):
            v = getattr(self, name)
            if isinstance(v, (list, tuple)):
                setattr(self, name, tuple(v))

    def validate(self) -> "BREMENConfig":
        """The fields' declared rules and ``RULES`` (common.running.fields.check)."""
        return check(self)
