"""CAST-BCQ's Figure 1 grid learners (papers/cast_bcq/grid.py): their config ``GridConfig`` (one for the three
methods, defaults = the spec, a source per field) with its validation, and the option constants.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.running.fields import Needs, check, opt
from envs.games import CliffGrid

__all__ = [
    "GridConfig",
    "LEARNER_NAME",
    "METHODS",
    "PARTNERS",
    "QI_WEIGHTS",
    "TD_LOSSES",
    "METHOD_TD_LOSS",
    "STAY",
]

LEARNER_NAME = "cast_grid"
METHODS = ("i_bcq", "i_icq", "cast")
PARTNERS = ("policy", "data")
QI_WEIGHTS = ("none", "exp_clip")
TD_LOSSES = ("huber", "mse")
METHOD_TD_LOSS = {"i_bcq": "huber", "i_icq": "mse", "cast": "mse"}  # td_loss=None picks these
STAY = CliffGrid.STAY  # the grid's no-op, CAST's default action (spec §2.6)

# option groups: a field of a group must stay at its default unless one of its methods runs
_BCQ = Needs("method in ['i_bcq', 'cast']", lambda c: c.method in ("i_bcq", "cast"))
_ICQ = Needs("method='i_icq'", lambda c: c.method == "i_icq")
_CAST = Needs("method='cast'", lambda c: c.method == "cast")
_EXP_CLIP = Needs(
    "method='cast' with qi_weight='exp_clip'", lambda c: c.method == "cast" and c.qi_weight == "exp_clip"
)


@dataclass
class GridConfig:
    """One config for the three grid learners; defaults = spec §2.6 / §3.5 (sources per field)."""

    method: str = opt("cast", choices=METHODS)  # [I] "i_bcq" | "i_icq" (spec §3.5) | "cast" (spec §2.6)
    # width of both hidden layers of every net (spec §2.6/§3.5; Fujimoto 2019b: 256)
    hidden: int = opt(64, kind="int", ge=1)
    lr: float = opt(1e-3, kind="num", gt=0)  # Adam lr of every net (spec §2.6/§3.5; Fujimoto 2019b: 3e-4)
    batch_size: int = opt(64, kind="int", ge=1)  # rows per minibatch (spec §2.6; Fujimoto 2019b: 64)
    # sample rows with replacement (Fujimoto 2019b's ReplayBuffer.sample: randint)
    replace: bool = opt(True, kind="bool")
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # discount (spec §1.1/§2.6; Fujimoto 2019b)
    # Polyak rate of the target Q nets (spec §2.6/§3.5; Fujimoto 2019b)
    tau_target: float = opt(0.005, kind="num", gt=0, le=1)
    # None: the method's own, "huber" for i_bcq (spec §3.5, Fujimoto 2019b), "mse" for i_icq (ICQ) and cast
    # (P Eq. 6); or force "huber" / "mse"
    td_loss: str | None = opt(None, choices=(None, *TD_LOSSES))
    # tau_bcq of the BCQ filter (spec §2.6/§3.5; Fujimoto 2019b); i_bcq, cast (< 1: the most likely action
    # must stay allowed)
    bcq_threshold: float = opt(0.3, kind="num", ge=0, lt=1, needs=_BCQ)
    # weight of mean logits^2 in the BC loss (Fujimoto 2019b code); i_bcq, cast
    bc_logit_reg: float = opt(1e-2, kind="num", ge=0, needs=_BCQ)
    # temperature of the critic's target weights B*softmax_B(Q'/alpha) (spec §3.5); i_icq
    icq_alpha: float = opt(1.0, kind="num", gt=0, needs=_ICQ)
    # temperature of the policy's advantage weights (spec §3.5); i_icq
    icq_beta: float = opt(1.0, kind="num", gt=0, needs=_ICQ)
    # cast: unmasked partner in Eq. 8, "policy" (paper, spec §2.6) or "data" (code)
    partners: str = opt("policy", choices=PARTNERS, needs=_CAST)
    # cast: weight of the Q_i regression, "none" (P Eq. 9) or "exp_clip" (code use_adv)
    qi_weight: str = opt("none", choices=QI_WEIGHTS, needs=_CAST)
    # cast, qi_weight="exp_clip": w = clip(exp Delta, 0, qi_weight_max) (code: 10)
    qi_weight_max: float = opt(10.0, kind="num", gt=0, needs=_EXP_CLIP)
    # cast: default action a^d of Eq. 8 (spec §2.6: stay = 2)
    default_action: int = opt(STAY, kind="int", choices=(0, 1, 2), needs=_CAST)
    # [I] update() returns metrics (detached tensors) every log_every updates
    log_every: int = opt(100, kind="int", ge=1)
    check_finite_every: int = opt(1, kind="int", ge=1)  # [I] NaN guard period (one host sync per check)

    def validate(self) -> "GridConfig":
        """The fields' declared rules and the options' needs (common.running.fields.check)."""
        return check(self)

    @property
    def td_kind(self) -> str:
        return self.td_loss or METHOD_TD_LOSS[self.method]
