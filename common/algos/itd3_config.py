"""The independent TD3 learner's configuration (common/algos/itd3.py, whose module docstring gives the equations and
the sources): the allowed option values, the option groups (a field of a group must stay at its default unless the
group is in use), ``ITD3Config`` with a comment per field naming its source, and its ``validate()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from common.algos.itd3_losses import BC_REDUCES
from common.algos.omar import CEM_STDS, SAMPLERS, SIGMA_RULES
from common.running.fields import Needs, Rules, check, opt

CRITIC_REGS = ("none", "cql")
ACTOR_REGS = ("none", "td3bc", "omar", "icq")
CRITIC_INPUTS = ("local", "joint")
CQL_PROPOSALS = ("uniform", "mujoco")
CQL_SLOTS = ("own", "all")

# the options a field is used under: set away from its default while its option is off, a field is an error
_CQL = Needs("critic_reg='cql'", lambda c: c.critic_reg == "cql")
_OMAR = Needs("actor_reg='omar'", lambda c: c.actor_reg == "omar")
_CEM = Needs(
    "actor_reg='omar' and omar_sampler='cem'", lambda c: c.actor_reg == "omar" and c.omar_sampler == "cem"
)
_TD3BC = Needs("actor_reg='td3bc'", lambda c: c.actor_reg == "td3bc")
_ICQ = Needs("actor_reg='icq'", lambda c: c.actor_reg == "icq")
_BC = Needs(
    "actor_reg='td3bc', or actor_reg='omar' with omar_bc_alpha > 0",
    lambda c: c.actor_reg == "td3bc" or (c.actor_reg == "omar" and c.omar_bc_alpha > 0),
)
_NOISE = Needs("target_noise > 0", lambda c: c.target_noise > 0)
_LOCAL = Needs(
    "critic_input='local' (joint critics share rows per seed already)", lambda c: c.critic_input == "local"
)


@dataclass
class ITD3Config:
    """Defaults = OMAR's official MPE code (ling-pan/OMAR main.py argparse / MATD3 defaults)."""

    hidden: int = opt(64, kind="int", ge=1)  # width of both hidden layers (OMAR MPE 64; HalfCheetah 256)
    actor_lr: float = opt(0.01, kind="num", gt=0)  # Adam lr of the actors (OMAR MPE 0.01; HalfCheetah 3e-4)
    critic_lr: float = opt(0.01, kind="num", gt=0)  # Adam lr of the critics (same as actor in OMAR)
    batch_size: int = opt(1024, kind="int", ge=1)  # per-member minibatch (OMAR MPE 1024; HalfCheetah 256)
    # sample with replacement? OMAR's buffer samples without (np.random.choice)
    replace: bool = opt(False, kind="bool")
    # discount (OMAR: 0.95 everywhere in effect, docs/omar_official_code.md#hyperparameters)
    gamma: float = opt(0.95, kind="num", ge=0, le=1)
    # Polyak rate of the target networks (OMAR MPE 0.01; HalfCheetah 0.005)
    tau_target: float = opt(0.01, kind="num", gt=0, le=1)
    # per-member gradient-norm clip of each network (OMAR: 0.5); None = none (MOMA-PPO's TD3Learner clips
    # nothing)
    grad_clip: float | None = opt(0.5, kind="num", gt=0, none_ok=True)
    # BatchNorm1d on the network inputs (OMAR's MLPNetwork.in_fn; MOMA-PPO: False)
    input_norm: bool = opt(True, kind="bool")
    # actor's last layer U(+-x) (OMAR 3e-3); None = torch's default init (MOMA-PPO's TD3Actor)
    actor_last_init: float | None = opt(3e-3, kind="num", gt=0, none_ok=True)
    # std of TD3's target policy smoothing noise; 0 = off (OMAR); MOMA-PPO td3_policy_noise 0.2 (Fujimoto et
    # al. 2018, Eq. 14)
    target_noise: float = opt(0.0, kind="num", ge=0)
    # the noise is clipped to +-this (MOMA-PPO td3_noise_clip 0.5; TD3's 0.5)
    target_noise_clip: float = opt(0.5, kind="num", gt=0, needs=_NOISE)
    # actor steps and target updates every this many critic updates (OMAR 1; MOMA-PPO td3_policy_freq 2: actor
    # and all targets move on updates 2, 4, ...)
    policy_delay: int = opt(1, kind="int", ge=1, hint="OMAR 1, MOMA-PPO 2")
    # one minibatch of rows per seed shared by its agents (MOMA-PPO's independent learner samples one index
    # set for all agents); False = one per member (OMAR)
    shared_rows: bool = opt(False, kind="bool", needs=_LOCAL)
    max_action: float = opt(1.0, kind="num", gt=0)  # action bound; actions are max_action * tanh (OMAR: 1)
    # weight of mean pi(o)^2 in the "none"/"omar" actor losses (OMAR code)
    action_reg: float = opt(1e-3, kind="num", ge=0)
    critic_reg: str = opt("none", choices=CRITIC_REGS)  # "none" (TD3) or "cql" (MA-CQL / OMAR critic, Eq. 1)
    # CQL weight; a float or one per member (OMAR table per dataset)
    cql_alpha: float | Sequence[float] = opt(1.0, kind="num", ge=0, per_member=True, needs=_CQL)
    # K sampled actions per group (OMAR num_sampled_actions = 10)
    cql_n_actions: int = opt(10, kind="int", ge=1, needs=_CQL)
    cql_temp: float = opt(1.0, kind="num", gt=0, needs=_CQL)  # logsumexp temperature T (OMAR lse_temp = 1.0)
    # "uniform" (OMAR MPE) or "mujoco" (OMAR HalfCheetah's 3 groups)
    cql_proposal: str = opt("uniform", choices=CQL_PROPOSALS, needs=_CQL)
    # std of the policy-centred proposals of "mujoco" (OMAR cql_sample_noise_level)
    cql_noise: float = opt(0.2, kind="num", gt=0, needs=_CQL)
    # joint critic only: "own" samples agent i's slot, a_-i from the data (default, as the actor step); "all"
    # samples the whole joint action uniformly (a diagnostic of Table 5; "uniform" proposals only). OMAR is
    # silent here.
    cql_slots: str = opt("own", choices=CQL_SLOTS, needs=_CQL)
    # "none" (MA-CQL/ITD3), "omar" (Eq. 2), "td3bc" (MA-TD3+BC), "icq" (MA-ICQ)
    actor_reg: str = opt("none", choices=ACTOR_REGS)
    # TD3+BC alpha (Fujimoto & Gu 2021: 2.5); float or per member
    td3bc_alpha: float | Sequence[float] = opt(2.5, kind="num", ge=0, per_member=True, needs=_TD3BC)
    # BC term of "td3bc" (and of "omar" with omar_bc_alpha > 0): "mean" over batch and action dims (TD3+BC's
    # F.mse_loss) or "sum" over dims, mean over batch (MOMA-PPO)
    bc_reduce: str = opt("mean", choices=BC_REDUCES, needs=_BC)
    # OMAR's tau = code's omar_coe, weight of imitation; float or per member
    omar_tau: float | Sequence[float] = opt(0.9, kind="num", ge=0, le=1, per_member=True, needs=_OMAR)
    # search_action sampler: softmax (OMAR MPE), cem (HalfCheetah), random
    omar_sampler: str = opt("softmax", choices=SAMPLERS, needs=_OMAR)
    omar_iters: int = opt(3, kind="int", ge=1, needs=_OMAR)  # search iterations (OMAR MPE 3; HalfCheetah 2)
    # samples per iteration (OMAR MPE 10; HalfCheetah 20)
    omar_n_samples: int = opt(10, kind="int", ge=1, needs=_OMAR)
    # elites of the "cem" sampler (OMAR HalfCheetah 5; unused by softmax)
    omar_n_elites: int = opt(5, kind="int", ge=1, needs=_OMAR)
    omar_mu0: float = opt(0.0, kind="num", needs=_OMAR)  # initial sampling mean (OMAR 0)
    omar_sigma0: float = opt(2.0, kind="num", gt=0, needs=_OMAR)  # initial sampling std (OMAR 2.0)
    # "code" (RMS around the new mean) or "paper" (Eq. 3 as printed)
    omar_sigma_rule: str = opt("code", choices=SIGMA_RULES, needs=_OMAR)
    # "cem" sampler's new sigma: the elites' "biased" std (OMAR) or "unbiased" + 1e-6 (MOMA-PPO's copy of the
    # search)
    cem_std: str = opt("biased", choices=CEM_STDS, needs=_CEM)
    # MOMA-PPO's td3_bc_coeff beside OMAR: > 0 adds lambda = alpha / mean|Q1| to the Q term and a BC term
    # (bc_reduce); 0 = OMAR's Eq. 2 (MOMA-PPO's IOMAR [inferred])
    omar_bc_alpha: float = opt(0.0, kind="num", ge=0, needs=_OMAR)
    # temperature of ICQ's batch-softmax advantage weights (ICQ's alpha)
    icq_beta: float = opt(1.0, kind="num", gt=0, needs=_ICQ)
    # actor gradient steps per update() on the critic's minibatch (OMAR Table 2: 1/5/20)
    actor_updates: int = opt(1, kind="int", ge=1, hint="OMAR Table 2: 1, 5, 20")
    # "local" Q_i(o_i, a_i) (OMAR Sec. 5, independent TD3) or "joint" Q_i(s, a_1..a_N) (MATD3's centralized
    # critics, OMAR Table 5)
    critic_input: str = opt("local", choices=CRITIC_INPUTS)
    # update() returns metrics (detached [M] tensors) every log_every updates
    log_every: int = opt(100, kind="int", ge=1)
    check_finite_every: int = opt(1, kind="int", ge=1)  # NaN guard period (one host sync per check)

    RULES: ClassVar[Rules] = (
        (
            lambda c: c.cql_slots != "all" or (c.critic_input == "joint" and c.cql_proposal == "uniform"),
            "cql_slots='all' needs critic_input='joint' and cql_proposal='uniform', got "
            "critic_input={c.critic_input!r}, cql_proposal={c.cql_proposal!r}",
        ),
        (
            lambda c: not (c.cql_proposal == "mujoco" and c.critic_reg == "cql" and c.max_action != 1.0),
            "cql_proposal='mujoco' assumes max_action=1 (uniform log density log 0.5^d, as the code), got "
            "max_action={c.max_action!r}",
        ),
        (
            lambda c: not (c.actor_reg == "icq" and c.critic_reg == "cql"),
            "actor_reg='icq' uses ICQ's own SARSA-style critic; set critic_reg='none'",
        ),
        (
            lambda c: not (c.actor_reg == "icq" and c.target_noise > 0),
            "target_noise={c.target_noise!r}: actor_reg='icq' targets the dataset's a' (no target policy to "
            "smooth); set target_noise=0",
        ),
    )

    def validate(self) -> "ITD3Config":
        """The fields' declared rules, the options' needs and ``RULES`` (common.running.fields.check)."""
        return check(self)
