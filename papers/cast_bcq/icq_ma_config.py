"""ICQ-MA's configuration (papers/cast_bcq/icq_ma.py, whose module docstring gives the papers, the equations and the
official code): ``ICQMAConfig`` with a comment per field naming its source, and its ``validate()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from common.running.fields import Rules, check, opt, ordered


@dataclass
class ICQMAConfig:
    """Defaults = the CAST-BCQ authors' ICQ-MA (agents/ICQMA.py, baselines/run_ICQ.py)."""

    # per-agent critic widths (code: twin 400-300, Q1 used)
    hidden_critic: Sequence[int] = opt((400, 300), kind="int", ge=1, seq=True, hint="e.g. (400, 300)")
    # actor widths before the tanh mean (code: 400-300-300)
    hidden_actor: Sequence[int] = opt((400, 300, 300), kind="int", ge=1, seq=True, hint="e.g. (400, 300)")
    mixer_embed: int = opt(32, kind="int", ge=1)  # hypernetwork embedding E of the mixer (code: 32)
    log_std_min: float = opt(-6.0, kind="num")  # log sigma = min + (max - min) * sigmoid(l) (code: -6)
    log_std_max: float = opt(0.0, kind="num")  # (code: 0)
    # Adam lr of the critics + mixer and of the actors (code: 1e-3 for all)
    lr: float = opt(1e-3, kind="num", gt=0)
    # Polyak rate of the critic and mixer targets (code: 0.005)
    tau: float = opt(0.005, kind="num", gt=0, le=1)
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # discount (code: 0.99)
    # rows per seed, shared by its agents (code: 1024, one batch for all agents)
    batch_size: int = opt(1024, kind="int", ge=1)
    replace: bool = opt(True, kind="bool")  # rows drawn with replacement (code: np.random.randint)
    # gradient-norm clip of each critic and of the mixer, each its own norm (code: 20)
    grad_clip: float = opt(20.0, kind="num", gt=0)
    # per-agent target weight clamp(B softmax_B(Q'_i / agent_temp), 0, 1) (code: 100)
    agent_temp: float = opt(100.0, kind="num", gt=0)
    # target weight B softmax_B(Q'_tot / total_temp) (code: 1000)
    total_temp: float = opt(1000.0, kind="num", gt=0)
    # actor weight B softmax_B(A_i / actor_temp) (code: 100)
    actor_temp: float = opt(100.0, kind="real", gt=0)
    # False: the code's actor as it runs, its [B] x [B, 1] broadcast cancelling the advantage weight (a k-weighted
    # behavior cloning, the same loss as actor_temp = inf, which a record's JSON cannot hold; parity-tested)
    actor_weighted: bool = opt(True, kind="bool")
    # True: the code's target with r and gamma applied twice (quirk 12); False: fixed
    bug_compat: bool = opt(False, kind="bool")
    # update() returns metrics (detached tensors) every log_every updates
    log_every: int = opt(100, kind="int", ge=1)
    check_finite_every: int = opt(1, kind="int", ge=1)  # NaN guard period (one host sync per check)
    RULES: ClassVar[Rules] = (ordered("log_std_min", "log_std_max"),)

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        for name in ("hidden_critic", "hidden_actor"):
            v = getattr(self, name)
            if isinstance(v, (list, tuple)):
                setattr(self, name, tuple(v))

    def validate(self) -> "ICQMAConfig":
        """The fields' declared rules and ``RULES`` (common.running.fields.check)."""
        return check(self)
