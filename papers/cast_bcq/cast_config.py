"""CAST-BCQ's configuration (papers/cast_bcq/cast_bcq.py, whose module docstring gives the paper, the equations and
the sources; [P] the paper, [C] the official code, [I] our inference): the allowed option values (sub-team
distributions, Q_i weights, target updates, the central critic's form and partners, the ablations of Sec. 4.3),
``CASTConfig`` with a comment per field naming its source, and its ``validate()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from common.running.validate import is_int

SUBTEAM_DISTS = ("code", "uniform", "shapley")
QI_WEIGHTS = ("exp_clip", "none")
TARGET_UPDATES = ("polyak", "hard")
CENTRALS = ("per_agent", "joint")
PARTNERS = ("data", "policy")
ABLATIONS = (None, "wo_csaa", "wo_st", "wo_cd")


@dataclass
class CASTConfig:
    """Defaults = the official code's CAST (agents/CAST.py, run_CAST.py) with its data bugs fixed (spec §2.2-2.5).
    Sources: [C] code, [P] paper, [I] ours."""

    hidden_vae: Sequence[int] = (750, 750)  # [C] VAE encoder and decoder widths (quick profile: 256-256)
    hidden: Sequence[int] = (400, 300)  # [C] widths of xi, the individual and the central twin critics
    latent: int | None = None  # [C] VAE latent size; None = 2 * A (code: action_dim * 2)
    z_clip: float = 0.05  # [C] decode z ~ N(0, 1) clipped to +-z_clip (code: clamp(-0.05, 0.05); BCQ 0.5)
    phi: float = 0.001  # [C] perturbation bound Phi (code's CAST default; BCQ 0.05)
    lmbda: float = 0.9  # [C] soft clipped double-Q lambda of the central target and the credit (P Eq. 10)
    n_target: int = 10  # [C] sampled next actions per central TD target (repeat_interleave(next_state, 10))
    n_select: int = 100  # [C] candidates per observation at action selection (repeat(100, 1))
    n_subteams: int = 6  # [C] sub-team draws M for the sampled distributions (mc_times = 6)
    subteam_dist: str = "code"  # [C] "code" | "uniform" [P ST(i) with {}] | "shapley" [I exact] (spec §2.3)
    subteam_per_row: bool = False  # [C] False: one draw per m for the whole batch; True: per row [I]
    qi_weight: str = "exp_clip"  # [C] Q_i loss weight clip(exp Delta, 0, qi_weight_max) (use_adv); "none" [P Eq. 9]
    qi_weight_max: float = 10.0  # [C] the clip of exp Delta
    lr: float = 1e-3  # [C] Adam lr of the VAE, xi, Q_i and Q^c
    tau: float = 0.005  # [C] Polyak rate of the Q^c and xi targets
    target_update: str = "polyak"  # [C] "polyak" | "hard" (copy every update, P Alg. 1 line 13)
    gamma: float = 0.99  # [C] discount
    batch_size: int = 1024  # [C] rows per seed per update, shared by the seed's agents
    replace: bool = True  # [C] rows drawn with replacement (np.random.randint)
    kl_weight: float = 0.5  # [C] weight of the KL term of the VAE loss
    max_action: float = 1.0  # [C] action bound (MaMuJoCo: 1)
    central: str = "per_agent"  # [C] one central critic per agent; "joint" (P Eq. 6) is not implemented yet
    partners: str = "data"  # [C] unmasked partners keep dataset actions; "policy" (P Sec. 3.2) not implemented yet
    ablation: str | None = None  # [P names, I definitions] None | "wo_csaa" | "wo_st" | "wo_cd" (Figure 6)
    drop_terminals: bool = False  # [I] the code drops terminal rows (quirk 2); True only for a diagnostic cell
    log_every: int = 100  # [I] update() returns metrics (detached [M] tensors) every log_every updates
    check_finite_every: int = 1  # [I] NaN guard period (one host sync per check)

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        for name in ("hidden_vae", "hidden"):
            v = getattr(self, name)
            if isinstance(v, (list, tuple)):
                setattr(self, name, tuple(v))

    def validate(self) -> "CASTConfig":
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"CASTConfig.{name}={getattr(self, name)!r} {rule}")

        for name, allowed in (("subteam_dist", SUBTEAM_DISTS), ("qi_weight", QI_WEIGHTS),
                              ("target_update", TARGET_UPDATES), ("central", CENTRALS), ("partners", PARTNERS),
                              ("ablation", ABLATIONS)):
            if getattr(self, name) not in allowed:
                fail(name, f"is not allowed; choose one of {list(allowed)}")
        if self.central != "per_agent" or self.partners != "data":
            raise ValueError(f"CASTConfig.central={self.central!r}, partners={self.partners!r}: the paper's "
                             "joint-critic form is not implemented yet; use central='per_agent', partners='data' "
                             "(the official code's algorithm)")
        for name in ("hidden_vae", "hidden"):
            v = getattr(self, name)
            if not isinstance(v, tuple) or not v or not all(is_int(h) and h >= 1 for h in v):
                fail(name, "must be a non-empty sequence of integers >= 1, e.g. (400, 300)")
        if self.latent is not None and not (is_int(self.latent) and self.latent >= 1):
            fail("latent", "must be None (= 2 * act_dim) or an integer >= 1")
        for name in ("n_target", "n_select", "n_subteams", "batch_size", "log_every", "check_finite_every"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 1):
                fail(name, "must be an integer >= 1")
        for name in ("z_clip", "lr", "max_action", "qi_weight_max"):
            if not getattr(self, name) > 0:
                fail(name, "must be > 0")
        for name in ("phi", "kl_weight"):
            if not getattr(self, name) >= 0:
                fail(name, "must be >= 0")
        if not 0.0 <= self.lmbda <= 1.0:
            fail("lmbda", "must be in [0, 1]")
        if not 0.0 <= self.gamma <= 1.0:
            fail("gamma", "must be in [0, 1]")
        if not 0.0 < self.tau <= 1.0:
            fail("tau", "must be in (0, 1]")
        for name in ("subteam_per_row", "replace", "drop_terminals"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                fail(name, "must be True or False")
        # unused options are an error, not a silence
        default = CASTConfig()
        no_subteams = self.ablation in ("wo_csaa", "wo_st")
        unused = [
            ("subteam_dist", no_subteams, "ablation None or 'wo_cd' (wo_csaa / wo_st use no sub-teams)"),
            ("n_subteams", no_subteams or self.subteam_dist == "shapley",
             "a sampled sub-team distribution ('code' or 'uniform') and ablation None or 'wo_cd'"),
            ("subteam_per_row", no_subteams or self.subteam_dist == "shapley",
             "a sampled sub-team distribution ('code' or 'uniform') and ablation None or 'wo_cd'"),
            ("lmbda", self.ablation == "wo_cd", "ablation != 'wo_cd' (w/o CD uses head 1 only)"),
            ("qi_weight_max", self.qi_weight != "exp_clip", "qi_weight='exp_clip'"),
            ("tau", self.target_update != "polyak", "target_update='polyak'"),
        ]
        for name, is_unused, needs in unused:
            if is_unused and getattr(self, name) != getattr(default, name):
                fail(name, f"is set but unused: it needs {needs} (subteam_dist={self.subteam_dist!r}, "
                           f"ablation={self.ablation!r}, qi_weight={self.qi_weight!r}, "
                           f"target_update={self.target_update!r})")
        return self
