"""OTC's sampler settings: ``OTCConfig`` (defaults = the paper where it gives them, else ours [I]) and the allowed
values of its options. The sampler's math is papers/otc/otc.py; the items' and profiles' settings are
papers/otc/config.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from common.running.fields import Needs, check, opt

__all__ = ["OTCConfig", "DISTANCES", "ALPHA_MODES", "DQ_NORMS", "CVAE_FORMS"]

DISTANCES = ("embedding", "q")  # d_e, d_q [P Sec. 3.3]
ALPHA_MODES = ("adaptive", "fixed")  # Eq. (4), or alpha^k = alpha^0 (Fig. 4 and 8 ablations) [P]
# d_e's model: the paper's CVAE D(a_i | s, s', z) [P Sec. 3.5], or a VAE of x = [s, a_i, s'] [I] (otc_cvae.py)
CVAE_FORMS = ("conditional", "joint")
DQ_NORMS = ("transition", "batch")  # E_{s'} V(s'): (Q1 - r) / gamma per row, or the minibatch mean [I]


_EMBEDDING = Needs("distance='embedding'", lambda c: c.distance == "embedding")
_Q = Needs("distance='q'", lambda c: c.distance == "q")


@dataclass
class OTCConfig:
    """OTC's sampler settings. Defaults = the paper (Table 3, Sec. 4.3) where it gives them, else ours [I]."""

    distance: str = opt("embedding", choices=DISTANCES)  # "embedding" (d_e) or "q" (d_q) [P Sec. 3.3]
    alpha0: float = opt(1.0, kind="num", ge=0)  # initial exponent alpha^0 [P Sec. 4.3]
    # "adaptive" (Eq. 4) or "fixed" (alpha^k = alpha0) [P Sec. 3.4, Fig. 4]
    alpha_mode: str = opt("adaptive", choices=ALPHA_MODES)
    big_batch: int = opt(512, kind="int", ge=1)  # |B|, uniform from B_i^k [P Table 3]
    # |D|, uniform from D_i^k (the newest online set) [P Table 3, Alg. 1 line 10]
    match_batch: int = opt(2000, kind="int", ge=1)
    # update batch drawn from B by Eq. (3), with replacement [P Table 3; I: replacement]
    batch_size: int = opt(128, kind="int", ge=1)
    latent: int = opt(10, kind="int", ge=1, needs=_EMBEDDING)  # CVAE embedding dim [P Table 3]
    # CVAE widths; None = the base learner's [I]
    cvae_hidden: Sequence[int] | None = opt(
        None, kind="int", ge=1, seq=True, none_ok=True, needs=_EMBEDDING, hint="None = the learner's"
    )
    cvae_kl_weight: float = opt(0.5, kind="num", ge=0, needs=_EMBEDDING)  # CVAE KL weight [I: BCQ's VAE]
    cvae_lr: float = opt(1e-3, kind="num", gt=0, needs=_EMBEDDING)  # CVAE Adam lr [I: BCQ's VAE]
    # "conditional" (the paper's CVAE) or "joint" (a VAE of [s, a_i, s']; papers/otc/otc_cvae.py) [P Sec. 3.5; I]
    cvae_form: str = opt("conditional", choices=CVAE_FORMS, needs=_EMBEDDING)
    # E_{s'} V: "transition" ((Q1 - r) / gamma) or "batch" (mean V) [I]
    dq_norm: str = opt("transition", choices=DQ_NORMS, needs=_Q)
    # (B, D) draws averaged into DD^k at the start of phase k [I]
    n_alpha_draws: int = opt(20, kind="int", ge=1)

    def __post_init__(self) -> None:
        if isinstance(self.cvae_hidden, (list, tuple)):
            self.cvae_hidden = tuple(self.cvae_hidden)

    def validate(self) -> "OTCConfig":
        """The fields' declared rules and the options' needs (unused options are an error, not a silence;
        common.running.fields.check)."""
        return check(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
