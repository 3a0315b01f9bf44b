"""Continuous BCQ's configuration (common/algos/bcq.py, whose module docstring gives the paper, the equations and the
sources): the views and variants, the fields that may differ between the stacked runs of a group (``GROUP_FIELDS``),
``BCQConfig`` with a comment per field naming its source, its ``validate()``, and ``_values`` (a field's values:
one per member for a stacked ``GROUP_FIELDS`` tuple).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.running.validate import is_int

VIEWS = ("independent", "central")
VARIANTS = ("bcq", "mabcq")
GROUP_FIELDS = ("lmbda", "kl_weight")  # may differ between the stacked runs of a group (BCQ.GROUP_FIELDS)

@dataclass
class BCQConfig:
    """Defaults = I-BCQ of CAST-BCQ's code (agents/BCQ.py, baselines/run_BCQ.py), whose networks and constants
    are Fujimoto et al.'s BCQ; MABCQ (variant="mabcq") shares them (agents/MABCQ.py)."""

    hidden_vae: Sequence[int] = (750, 750)  # VAE encoder and decoder widths (code and BCQ paper: 750-750)
    hidden: Sequence[int] = (400, 300)  # perturbation actor xi and twin critic widths (code: 400-300)
    latent: int | None = None  # VAE latent size L; None = 2 * A (code: latent_dim = action_dim * 2)
    z_clip: float = 0.5  # decode samples z ~ N(0, 1) clipped to +-z_clip (code: clamp(-0.5, 0.5))
    phi: float = 0.05  # perturbation bound Phi (code: 0.05; CAST itself uses 0.001)
    lmbda: float | Sequence[float] = 0.75  # soft clipped double-Q weight lambda (code and BCQ paper: 0.75); bcq
    #                                       only; or one per member (a stack of runs, BCQ.GROUP_FIELDS)
    n_target: int = 10  # sampled next actions per TD target (code: repeat_interleave(next_state, 10))
    n_select: int = 100  # candidates per observation at action selection (code: repeat(100, 1))
    lr: float = 1e-3  # Adam lr of the VAE(s), xi and the critic (code: 1e-3 for all three)
    vae_lr: float | None = None  # Adam lr of the VAE(s) alone; None = lr (OTC: actor / critic 1e-4, VAE 1e-3)
    tau: float = 0.005  # Polyak rate of the critic and xi targets (code: 0.005)
    gamma: float = 0.99  # discount (code: 0.99)
    batch_size: int = 1024  # per-member minibatch (CAST-BCQ code: 1024; BCQ paper: 100)
    replace: bool = True  # rows drawn with replacement (code: np.random.randint)
    kl_weight: float | Sequence[float] = 0.5  # weight of the KL term of the VAE loss (code: 0.5); or one per member
    max_action: float = 1.0  # action bound (MaMuJoCo: 1)
    view: str = "independent"  # "independent" (I-BCQ, code) or "central" (centralized BCQ, CAST paper Sec. 4)
    variant: str = "bcq"  # "bcq" (BCQ) or "mabcq" (the CAST authors' MABCQ, agents/MABCQ.py)
    guard: bool = True  # mabcq only: weight_tn clipped to [0, 10], |E_V| >= 1e-6 (ours, a deviation; see module doc)
    drop_terminals: bool = False  # the code's quirk: rows with terminals = 1 are never sampled (diagnostic only)
    log_every: int = 100  # update() returns metrics (detached [M] tensors) every log_every updates
    check_finite_every: int = 1  # NaN guard period (one host sync per check)

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
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"BCQConfig.{name}={getattr(self, name)!r} {rule}")

        for name, allowed in (("view", VIEWS), ("variant", VARIANTS)):
            if getattr(self, name) not in allowed:
                fail(name, f"is not allowed; choose one of {list(allowed)}")
        for name in ("hidden_vae", "hidden"):
            v = getattr(self, name)
            if not isinstance(v, tuple) or not v or not all(is_int(h) and h >= 1 for h in v):
                fail(name, "must be a non-empty sequence of integers >= 1, e.g. (400, 300)")
        if self.latent is not None and not (is_int(self.latent) and self.latent >= 1):
            fail("latent", "must be None (= 2 * act_dim) or an integer >= 1")
        for name in ("n_target", "n_select", "batch_size", "log_every", "check_finite_every"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 1):
                fail(name, "must be an integer >= 1")
        for name in ("z_clip", "lr", "max_action"):
            if not getattr(self, name) > 0:
                fail(name, "must be > 0")
        if self.vae_lr is not None and not (isinstance(self.vae_lr, (int, float)) and self.vae_lr > 0):
            fail("vae_lr", "must be None (= lr) or a number > 0")
        per = " (or one such number per member)"
        for name in ("phi", "kl_weight"):
            if not all(_is_num(v) and v >= 0 for v in _values(self, name)):
                fail(name, "must be >= 0" + (per if name in GROUP_FIELDS else ""))
        for name, lo_open in (("lmbda", False), ("gamma", self.variant == "mabcq"), ("tau", True)):
            if not all(_is_num(v) and ((lo_open and 0.0 < v <= 1.0) or (not lo_open and 0.0 <= v <= 1.0))
                       for v in _values(self, name)):
                fail(name, f"must be in {'(0' if lo_open else '[0'}, 1]"
                     + (" (MABCQ divides by gamma)" if name == "gamma" and lo_open else "")
                     + (per if name in GROUP_FIELDS else ""))
        for name in ("replace", "guard", "drop_terminals"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                fail(name, "must be True or False")
        # unused options are an error, not a silence
        default = BCQConfig()
        unused = [("lmbda", self.variant == "mabcq", "variant='bcq' (MABCQ's target is Q1 only)"),
                  ("guard", self.variant == "bcq", "variant='mabcq'")]
        for name, is_unused, needs in unused:
            if is_unused and getattr(self, name) != getattr(default, name):
                fail(name, f"is set but unused: it needs {needs} (variant={self.variant!r})")
        return self


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _values(cfg: BCQConfig, name: str) -> tuple:
    """Config field ``name``'s values: a ``GROUP_FIELDS`` tuple (one per member) as it is, any other value alone."""
    v = getattr(cfg, name)
    return v if name in GROUP_FIELDS and isinstance(v, tuple) and v else (v,)
