"""Continuous BCQ's configuration (common/algos/bcq.py, whose module docstring gives the paper, the equations and the
sources): the views and variants, the fields that may differ between the stacked runs of a group (``GROUP_FIELDS``),
``BCQConfig`` with a comment per field naming its source and its rule (checked by ``validate()``,
common/running/fields.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from common.running.fields import Needs, Rules, check, opt

VIEWS = ("independent", "central")
VARIANTS = ("bcq", "mabcq")
GROUP_FIELDS = ("lmbda", "kl_weight")  # may differ between the stacked runs of a group (BCQ.GROUP_FIELDS)
_BCQ = Needs("variant='bcq' (MABCQ's target is Q1 only)", lambda c: c.variant == "bcq")
_MABCQ = Needs("variant='mabcq'", lambda c: c.variant == "mabcq")


@dataclass
class BCQConfig:
    """Defaults = I-BCQ of CAST-BCQ's code (agents/BCQ.py, baselines/run_BCQ.py), whose networks and constants
    are Fujimoto et al.'s BCQ; MABCQ (variant="mabcq") shares them (agents/MABCQ.py)."""

    # VAE encoder and decoder widths (code and BCQ paper: 750-750)
    hidden_vae: Sequence[int] = opt((750, 750), kind="int", ge=1, seq=True, hint="e.g. (750, 750)")
    # perturbation actor xi and twin critic widths (code: 400-300)
    hidden: Sequence[int] = opt((400, 300), kind="int", ge=1, seq=True, hint="e.g. (400, 300)")
    # VAE latent size L; None = 2 * A (code: latent_dim = action_dim * 2)
    latent: int | None = opt(None, kind="int", ge=1, none_ok=True, hint="None = 2 * act_dim")
    # decode samples z ~ N(0, 1) clipped to +-z_clip (code: clamp(-0.5, 0.5))
    z_clip: float = opt(0.5, kind="num", gt=0)
    phi: float = opt(0.05, kind="num", ge=0)  # perturbation bound Phi (code: 0.05; CAST itself uses 0.001)
    # soft clipped double-Q weight lambda (code and BCQ paper: 0.75); bcq only; or one per member (a stack of
    # runs, BCQ.GROUP_FIELDS)
    lmbda: float | Sequence[float] = opt(0.75, kind="num", ge=0, le=1, per_member=True, needs=_BCQ)
    # sampled next actions per TD target (code: repeat_interleave(next_state, 10))
    n_target: int = opt(10, kind="int", ge=1)
    # candidates per observation at action selection (code: repeat(100, 1))
    n_select: int = opt(100, kind="int", ge=1)
    # Adam lr of the VAE(s), xi and the critic (code: 1e-3 for all three)
    lr: float = opt(1e-3, kind="num", gt=0)
    # Adam lr of the VAE(s) alone; None = lr (OTC: actor / critic 1e-4, VAE 1e-3)
    vae_lr: float | None = opt(None, kind="num", gt=0, none_ok=True, hint="None = lr")
    tau: float = opt(0.005, kind="num", gt=0, le=1)  # Polyak rate of the critic and xi targets (code: 0.005)
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # discount (code: 0.99)
    # per-member minibatch (CAST-BCQ code: 1024; BCQ paper: 100)
    batch_size: int = opt(1024, kind="int", ge=1)
    replace: bool = opt(True, kind="bool")  # rows drawn with replacement (code: np.random.randint)
    # weight of the KL term of the VAE loss (code: 0.5); or one per member
    kl_weight: float | Sequence[float] = opt(0.5, kind="num", ge=0, per_member=True)
    max_action: float = opt(1.0, kind="num", gt=0)  # action bound (MaMuJoCo: 1)
    # "independent" (I-BCQ, code) or "central" (centralized BCQ, CAST paper Sec. 4)
    view: str = opt("independent", choices=VIEWS)
    # "bcq" (BCQ) or "mabcq" (the CAST authors' MABCQ, agents/MABCQ.py)
    variant: str = opt("bcq", choices=VARIANTS)
    # mabcq only: weight_tn clipped to [0, 10], |E_V| >= 1e-6 (ours, a deviation; see module doc)
    guard: bool = opt(True, kind="bool", needs=_MABCQ)
    # the code's quirk: rows with terminals = 1 are never sampled (diagnostic only)
    drop_terminals: bool = opt(False, kind="bool")
    # update() returns metrics (detached [M] tensors) every log_every updates
    log_every: int = opt(100, kind="int", ge=1)
    check_finite_every: int = opt(1, kind="int", ge=1)  # NaN guard period (one host sync per check)

    RULES: ClassVar[Rules] = (
        (
            lambda c: c.variant != "mabcq" or c.gamma > 0,
            "gamma={c.gamma!r} is not allowed with variant='mabcq'; choose a number in (0, 1] (MABCQ divides "
            "by gamma)",
        ),
    )

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        for name in ("hidden_vae", "hidden"):
            v = getattr(self, name)
            if isinstance(v, (list, tuple)):
                setattr(self, name, tuple(v))
        for name in GROUP_FIELDS:  # one value per member (a stack of runs): a tuple of floats
            v = getattr(self, name)
            if isinstance(v, (list, tuple, np.ndarray)):
                setattr(self, name, tuple(float(x) for x in v))

    def validate(self) -> "BCQConfig":
        """The fields' declared rules, their needs and ``RULES`` (common.running.fields.check)."""
        return check(self)
