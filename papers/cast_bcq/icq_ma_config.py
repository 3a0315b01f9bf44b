"""ICQ-MA's configuration (papers/cast_bcq/icq_ma.py, whose module docstring gives the papers, the equations and the
official code): ``ICQMAConfig`` with a comment per field naming its source, and its ``validate()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from common.running.validate import is_int


@dataclass
class ICQMAConfig:
    """Defaults = the CAST-BCQ authors' ICQ-MA (agents/ICQMA.py, baselines/run_ICQ.py)."""

    hidden_critic: Sequence[int] = (400, 300)  # per-agent critic widths (code: twin 400-300, Q1 used)
    hidden_actor: Sequence[int] = (400, 300, 300)  # actor widths before the tanh mean (code: 400-300-300)
    mixer_embed: int = 32  # hypernetwork embedding E of the mixer (code: 32)
    log_std_min: float = -6.0  # log sigma = min + (max - min) * sigmoid(l) (code: -6)
    log_std_max: float = 0.0  # (code: 0)
    lr: float = 1e-3  # Adam lr of the critics + mixer and of the actors (code: 1e-3 for all)
    tau: float = 0.005  # Polyak rate of the critic and mixer targets (code: 0.005)
    gamma: float = 0.99  # discount (code: 0.99)
    batch_size: int = 1024  # rows per seed, shared by its agents (code: 1024, one batch for all agents)
    replace: bool = True  # rows drawn with replacement (code: np.random.randint)
    grad_clip: float = 20.0  # gradient-norm clip of each critic and of the mixer, each its own norm (code: 20)
    agent_temp: float = 100.0  # per-agent target weight clamp(B softmax_B(Q'_i / agent_temp), 0, 1) (code: 100)
    total_temp: float = 1000.0  # target weight B softmax_B(Q'_tot / total_temp) (code: 1000)
    actor_temp: float = 100.0  # actor weight B softmax_B(A_i / actor_temp) (code: 100)
    bug_compat: bool = False  # True: the code's target with r and gamma applied twice (quirk 12); False: fixed
    log_every: int = 100  # update() returns metrics (detached tensors) every log_every updates
    check_finite_every: int = 1  # NaN guard period (one host sync per check)

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        for name in ("hidden_critic", "hidden_actor"):
            v = getattr(self, name)
            if isinstance(v, (list, tuple)):
                setattr(self, name, tuple(v))

    def validate(self) -> "ICQMAConfig":
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"ICQMAConfig.{name}={getattr(self, name)!r} {rule}")

        for name in ("hidden_critic", "hidden_actor"):
            v = getattr(self, name)
            if not isinstance(v, tuple) or not v or not all(is_int(h) and h >= 1 for h in v):
                fail(name, "must be a non-empty sequence of integers >= 1, e.g. (400, 300)")
        for name in ("mixer_embed", "batch_size", "log_every", "check_finite_every"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 1):
                fail(name, "must be an integer >= 1")
        for name in ("lr", "grad_clip", "agent_temp", "total_temp", "actor_temp"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not v > 0:
                fail(name, "must be a number > 0")
        if not 0.0 <= self.gamma <= 1.0:
            fail("gamma", "must be in [0, 1]")
        if not 0.0 < self.tau <= 1.0:
            fail("tau", "must be in (0, 1]")
        if not self.log_std_min < self.log_std_max:
            fail("log_std_min", f"must be < log_std_max={self.log_std_max!r}")
        for name in ("replace", "bug_compat"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                fail(name, "must be True or False")
        return self
