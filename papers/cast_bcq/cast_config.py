"""CAST-BCQ's configuration (papers/cast_bcq/cast_bcq.py, whose module docstring gives the paper, the equations and
the sources; [P] the paper, [C] the official code, [I] our inference): the allowed option values (sub-team
distributions, Q_i weights, target updates, the central critic's form and partners, the ablations of Sec. 4.3),
``CASTConfig`` with a comment per field naming its source, and its ``validate()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from common.running.fields import Needs, Rules, check, opt

SUBTEAM_DISTS = ("code", "uniform", "shapley")
QI_WEIGHTS = ("exp_clip", "none")
TARGET_UPDATES = ("polyak", "hard")
CENTRALS = ("per_agent", "joint")
PARTNERS = ("data", "policy")
ABLATIONS = (None, "wo_csaa", "wo_st", "wo_cd")


_SUBTEAMS = Needs(
    "ablation None or 'wo_cd' (wo_csaa / wo_st use no sub-teams)",
    lambda c: c.ablation not in ("wo_csaa", "wo_st"),
)
_SAMPLED = Needs(
    "a sampled sub-team distribution ('code' or 'uniform') and ablation None or 'wo_cd'",
    lambda c: c.ablation not in ("wo_csaa", "wo_st") and c.subteam_dist != "shapley",
)
_CD = Needs("ablation != 'wo_cd' (w/o CD uses head 1 only)", lambda c: c.ablation != "wo_cd")
_EXP_CLIP = Needs("qi_weight='exp_clip'", lambda c: c.qi_weight == "exp_clip")
_POLYAK = Needs("target_update='polyak'", lambda c: c.target_update == "polyak")


@dataclass
class CASTConfig:
    """Defaults = the official code's CAST (agents/CAST.py, run_CAST.py) with its data bugs fixed (spec §2.2-2.5).
    Sources: [C] code, [P] paper, [I] ours."""

    # [C] VAE encoder and decoder widths (quick profile: 256-256)
    hidden_vae: Sequence[int] = opt((750, 750), kind="int", ge=1, seq=True, hint="e.g. (400, 300)")
    # [C] widths of xi, the individual and the central twin critics
    hidden: Sequence[int] = opt((400, 300), kind="int", ge=1, seq=True, hint="e.g. (400, 300)")
    # [C] VAE latent size; None = 2 * A (code: action_dim * 2)
    latent: int | None = opt(None, kind="int", ge=1, none_ok=True, hint="None = 2 * act_dim")
    # [C] decode z ~ N(0, 1) clipped to +-z_clip (code: clamp(-0.05, 0.05); BCQ 0.5)
    z_clip: float = opt(0.05, kind="num", gt=0)
    phi: float = opt(0.001, kind="num", ge=0)  # [C] perturbation bound Phi (code's CAST default; BCQ 0.05)
    # [C] soft clipped double-Q lambda of the central target and the credit (P Eq. 10)
    lmbda: float = opt(0.9, kind="num", ge=0, le=1, needs=_CD)
    # [C] sampled next actions per central TD target (repeat_interleave(next_state, 10))
    n_target: int = opt(10, kind="int", ge=1)
    # [C] candidates per observation at action selection (repeat(100, 1))
    n_select: int = opt(100, kind="int", ge=1)
    # [C] sub-team draws M for the sampled distributions (mc_times = 6)
    n_subteams: int = opt(6, kind="int", ge=1, needs=_SAMPLED)
    # [C] "code" | "uniform" [P ST(i) with {}] | "shapley" [I exact] (spec §2.3)
    subteam_dist: str = opt("code", choices=SUBTEAM_DISTS, needs=_SUBTEAMS)
    # [C] False: one draw per m for the whole batch; True: per row [I]
    subteam_per_row: bool = opt(False, kind="bool", needs=_SAMPLED)
    # [C] Q_i loss weight clip(exp Delta, 0, qi_weight_max) (use_adv); "none" [P Eq. 9]
    qi_weight: str = opt("exp_clip", choices=QI_WEIGHTS)
    qi_weight_max: float = opt(10.0, kind="num", gt=0, needs=_EXP_CLIP)  # [C] the clip of exp Delta
    lr: float = opt(1e-3, kind="num", gt=0)  # [C] Adam lr of the VAE, xi, Q_i and Q^c
    # [C] Polyak rate of the Q^c and xi targets
    tau: float = opt(0.005, kind="num", gt=0, le=1, needs=_POLYAK)
    # [C] "polyak" | "hard" (copy every update, P Alg. 1 line 13)
    target_update: str = opt("polyak", choices=TARGET_UPDATES)
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # [C] discount
    batch_size: int = opt(1024, kind="int", ge=1)  # [C] rows per seed per update, shared by the seed's agents
    replace: bool = opt(True, kind="bool")  # [C] rows drawn with replacement (np.random.randint)
    kl_weight: float = opt(0.5, kind="num", ge=0)  # [C] weight of the KL term of the VAE loss
    max_action: float = opt(1.0, kind="num", gt=0)  # [C] action bound (MaMuJoCo: 1)
    # [C] one central critic per agent; "joint" (P Eq. 6) is not implemented yet
    central: str = opt("per_agent", choices=CENTRALS)
    # [C] unmasked partners keep dataset actions; "policy" (P Sec. 3.2) not implemented yet
    partners: str = opt("data", choices=PARTNERS)
    # [P names, I definitions] None | "wo_csaa" | "wo_st" | "wo_cd" (Figure 6)
    ablation: str | None = opt(None, choices=ABLATIONS)
    # [I] the code drops terminal rows (quirk 2); True only for a diagnostic cell
    drop_terminals: bool = opt(False, kind="bool")
    # [I] update() returns metrics (detached [M] tensors) every log_every updates
    log_every: int = opt(100, kind="int", ge=1)
    check_finite_every: int = opt(1, kind="int", ge=1)  # [I] NaN guard period (one host sync per check)
    RULES: ClassVar[Rules] = (
        (
            lambda c: c.central == "per_agent" and c.partners == "data",
            "central={c.central!r}, partners={c.partners!r}: the paper's joint-critic form is not implemented "
            "yet; use central='per_agent', partners='data' (the official code's algorithm)",
        ),
    )

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        for name in ("hidden_vae", "hidden"):
            v = getattr(self, name)
            if isinstance(v, (list, tuple)):
                setattr(self, name, tuple(v))

    def validate(self) -> "CASTConfig":
        """The fields' declared rules, the options' needs (unused options are an error, not a silence) and
        ``RULES`` (common.running.fields.check)."""
        return check(self)
