"""CAST-BCQ's Figure 1 grid learners (papers/cast_bcq/grid.py): their config ``GridConfig`` (one for the three
methods, defaults = the spec, a source per field) with its validation, and the option constants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.games import CliffGrid

__all__ = ["GridConfig", "LEARNER_NAME", "METHODS", "PARTNERS", "QI_WEIGHTS", "TD_LOSSES", "METHOD_TD_LOSS", "STAY"]

LEARNER_NAME = "cast_grid"
METHODS = ("i_bcq", "i_icq", "cast")
PARTNERS = ("policy", "data")
QI_WEIGHTS = ("none", "exp_clip")
TD_LOSSES = ("huber", "mse")
METHOD_TD_LOSS = {"i_bcq": "huber", "i_icq": "mse", "cast": "mse"}  # td_loss=None picks these
STAY = CliffGrid.STAY  # the grid's no-op, CAST's default action (spec §2.6)

# option groups: a field of a group must stay at its default unless one of its methods runs
_GROUPS = (
    (("bcq_threshold", "bc_logit_reg"), ("i_bcq", "cast")),
    (("icq_alpha", "icq_beta"), ("i_icq",)),
    (("partners", "qi_weight", "qi_weight_max", "default_action"), ("cast",)),
)


@dataclass
class GridConfig:
    """One config for the three grid learners; defaults = spec §2.6 / §3.5 (sources per field)."""

    method: str = "cast"  # [I] "i_bcq" | "i_icq" (spec §3.5) | "cast" (spec §2.6)
    hidden: int = 64  # width of both hidden layers of every net (spec §2.6/§3.5; Fujimoto 2019b: 256)
    lr: float = 1e-3  # Adam lr of every net (spec §2.6/§3.5; Fujimoto 2019b: 3e-4)
    batch_size: int = 64  # rows per minibatch (spec §2.6; Fujimoto 2019b: 64)
    replace: bool = True  # sample rows with replacement (Fujimoto 2019b's ReplayBuffer.sample: randint)
    gamma: float = 0.99  # discount (spec §1.1/§2.6; Fujimoto 2019b)
    tau_target: float = 0.005  # Polyak rate of the target Q nets (spec §2.6/§3.5; Fujimoto 2019b)
    td_loss: str | None = None  # None: the method's own, "huber" for i_bcq (spec §3.5, Fujimoto 2019b),
    #                             "mse" for i_icq (ICQ) and cast (P Eq. 6); or force "huber" / "mse"
    bcq_threshold: float = 0.3  # tau_bcq of the BCQ filter (spec §2.6/§3.5; Fujimoto 2019b); i_bcq, cast
    bc_logit_reg: float = 1e-2  # weight of mean logits^2 in the BC loss (Fujimoto 2019b code); i_bcq, cast
    icq_alpha: float = 1.0  # temperature of the critic's target weights B*softmax_B(Q'/alpha) (spec §3.5); i_icq
    icq_beta: float = 1.0  # temperature of the policy's advantage weights (spec §3.5); i_icq
    partners: str = "policy"  # cast: unmasked partner in Eq. 8, "policy" (paper, spec §2.6) or "data" (code)
    qi_weight: str = "none"  # cast: weight of the Q_i regression, "none" (P Eq. 9) or "exp_clip" (code use_adv)
    qi_weight_max: float = 10.0  # cast, qi_weight="exp_clip": w = clip(exp Delta, 0, qi_weight_max) (code: 10)
    default_action: int = STAY  # cast: default action a^d of Eq. 8 (spec §2.6: stay = 2)
    log_every: int = 100  # [I] update() returns metrics (detached tensors) every log_every updates
    check_finite_every: int = 1  # [I] NaN guard period (one host sync per check)

    def validate(self) -> "GridConfig":
        def choice(name: str, allowed: Sequence[Any]) -> None:
            v = getattr(self, name)
            if v not in allowed:
                raise ValueError(f"GridConfig.{name}={v!r} is not allowed; choose one of {list(allowed)}")

        choice("method", METHODS)
        choice("td_loss", (None, *TD_LOSSES))
        choice("partners", PARTNERS)
        choice("qi_weight", QI_WEIGHTS)
        choice("default_action", (0, 1, 2))
        for name in ("hidden", "batch_size", "log_every", "check_finite_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"GridConfig.{name}={v!r} must be an integer >= 1")
        for name in ("lr", "icq_alpha", "icq_beta", "qi_weight_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"GridConfig.{name}={getattr(self, name)!r} must be > 0")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"GridConfig.gamma={self.gamma!r} must be in [0, 1]")
        if not 0.0 < self.tau_target <= 1.0:
            raise ValueError(f"GridConfig.tau_target={self.tau_target!r} must be in (0, 1]")
        if not 0.0 <= self.bcq_threshold < 1.0:  # < 1: the most likely action must stay allowed
            raise ValueError(f"GridConfig.bcq_threshold={self.bcq_threshold!r} must be in [0, 1)")
        if not self.bc_logit_reg >= 0.0:
            raise ValueError(f"GridConfig.bc_logit_reg={self.bc_logit_reg!r} must be >= 0")
        default = GridConfig()
        for names, methods in _GROUPS:  # unused options are an error, not a silence
            for name in names:
                if self.method not in methods and getattr(self, name) != getattr(default, name):
                    raise ValueError(f"GridConfig.{name}={getattr(self, name)!r} is set but unused: it needs "
                                     f"method in {list(methods)} (method={self.method!r})")
        if self.qi_weight != "exp_clip" and self.qi_weight_max != default.qi_weight_max:
            raise ValueError(f"GridConfig.qi_weight_max={self.qi_weight_max!r} is set but unused: it needs "
                             f"qi_weight='exp_clip' (qi_weight={self.qi_weight!r})")
        return self

    @property
    def td_kind(self) -> str:
        return self.td_loss or METHOD_TD_LOSS[self.method]
