"""OTC's sampler settings: ``OTCConfig`` (defaults = the paper where it gives them, else ours [I]) and the allowed
values of its options. The sampler's math is papers/otc/otc.py; the items' and profiles' settings are
papers/otc/config.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["OTCConfig", "DISTANCES", "ALPHA_MODES", "DQ_NORMS"]

DISTANCES = ("embedding", "q")  # d_e, d_q [P Sec. 3.3]
ALPHA_MODES = ("adaptive", "fixed")  # Eq. (4), or alpha^k = alpha^0 (Fig. 4 and 8 ablations) [P]
DQ_NORMS = ("transition", "batch")  # E_{s'} V(s'): (Q1 - r) / gamma per row, or the minibatch mean [I]


@dataclass
class OTCConfig:
    """OTC's sampler settings. Defaults = the paper (Table 3, Sec. 4.3) where it gives them, else ours [I]."""

    distance: str = "embedding"  # "embedding" (d_e) or "q" (d_q) [P Sec. 3.3]
    alpha0: float = 1.0  # initial exponent alpha^0 [P Sec. 4.3]
    alpha_mode: str = "adaptive"  # "adaptive" (Eq. 4) or "fixed" (alpha^k = alpha0) [P Sec. 3.4, Fig. 4]
    big_batch: int = 512  # |B|, uniform from B_i^k [P Table 3]
    match_batch: int = 2000  # |D|, uniform from D_i^k (the newest online set) [P Table 3, Alg. 1 line 10]
    batch_size: int = 128  # update batch drawn from B by Eq. (3), with replacement [P Table 3; I: replacement]
    latent: int = 10  # CVAE embedding dim [P Table 3]
    cvae_hidden: Sequence[int] | None = None  # CVAE widths; None = the base learner's [I]
    cvae_kl_weight: float = 0.5  # CVAE KL weight [I: BCQ's VAE]
    cvae_lr: float = 1e-3  # CVAE Adam lr [I: BCQ's VAE]
    dq_norm: str = "transition"  # E_{s'} V: "transition" ((Q1 - r) / gamma) or "batch" (mean V) [I]
    n_alpha_draws: int = 20  # (B, D) draws averaged into DD^k at the start of phase k [I]

    def __post_init__(self) -> None:
        if isinstance(self.cvae_hidden, (list, tuple)):
            self.cvae_hidden = tuple(self.cvae_hidden)

    def validate(self) -> "OTCConfig":
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"OTCConfig.{name}={getattr(self, name)!r} {rule}")

        for name, allowed in (("distance", DISTANCES), ("alpha_mode", ALPHA_MODES), ("dq_norm", DQ_NORMS)):
            if getattr(self, name) not in allowed:
                fail(name, f"is not allowed; choose one of {list(allowed)}")
        for name in ("big_batch", "match_batch", "batch_size", "latent", "n_alpha_draws"):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
                fail(name, "must be an integer >= 1")
        if not (math.isfinite(self.alpha0) and self.alpha0 >= 0):
            fail("alpha0", "must be a finite number >= 0")
        if not self.cvae_lr > 0:
            fail("cvae_lr", "must be > 0")
        if not self.cvae_kl_weight >= 0:
            fail("cvae_kl_weight", "must be >= 0")
        h = self.cvae_hidden
        if h is not None and not (isinstance(h, tuple) and h and all(isinstance(x, int) and x >= 1 for x in h)):
            fail("cvae_hidden", "must be None (= the learner's) or a non-empty sequence of integers >= 1")
        # unused options are an error, not a silence
        default = OTCConfig()
        unused = {"embedding": ("dq_norm",), "q": ("latent", "cvae_hidden", "cvae_kl_weight", "cvae_lr")}
        for name in unused[self.distance]:
            if getattr(self, name) != getattr(default, name):
                other = "q" if self.distance == "embedding" else "embedding"
                fail(name, f"is set but unused: it needs distance={other!r} (distance={self.distance!r})")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
