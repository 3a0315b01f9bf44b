"""The independent TD3 learner's configuration (common/algos/itd3.py, whose module docstring gives the equations and
the sources): the allowed option values, the option groups (a field of a group must stay at its default unless the
group is in use), ``ITD3Config`` with a comment per field naming its source, and its ``validate()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.algos.itd3_losses import BC_REDUCES
from common.algos.omar import CEM_STDS, SAMPLERS, SIGMA_RULES

CRITIC_REGS = ("none", "cql")
ACTOR_REGS = ("none", "td3bc", "omar", "icq")
CRITIC_INPUTS = ("local", "joint")
CQL_PROPOSALS = ("uniform", "mujoco")
CQL_SLOTS = ("own", "all")

# option groups: a field of a group must stay at its default unless the group is in use
CQL_FIELDS = ("cql_alpha", "cql_n_actions", "cql_temp", "cql_proposal", "cql_noise", "cql_slots")
OMAR_FIELDS = ("omar_tau", "omar_sampler", "omar_iters", "omar_n_samples", "omar_n_elites",
                "omar_mu0", "omar_sigma0", "omar_sigma_rule", "cem_std", "omar_bc_alpha")


@dataclass
class ITD3Config:
    """Defaults = OMAR's official MPE code (ling-pan/OMAR main.py argparse / MATD3 defaults)."""

    hidden: int = 64  # width of both hidden layers (OMAR MPE 64; HalfCheetah 256)
    actor_lr: float = 0.01  # Adam lr of the actors (OMAR MPE 0.01; HalfCheetah 3e-4)
    critic_lr: float = 0.01  # Adam lr of the critics (same as actor in OMAR)
    batch_size: int = 1024  # per-member minibatch (OMAR MPE 1024; HalfCheetah 256)
    replace: bool = False  # sample with replacement? OMAR's buffer samples without (np.random.choice)
    gamma: float = 0.95  # discount (OMAR: 0.95 everywhere in effect, docs/omar_official_code.md#hyperparameters)
    tau_target: float = 0.01  # Polyak rate of the target networks (OMAR MPE 0.01; HalfCheetah 0.005)
    grad_clip: float | None = 0.5  # per-member gradient-norm clip of each network (OMAR: 0.5); None = none
    #                                 (MOMA-PPO's TD3Learner clips nothing)
    input_norm: bool = True  # BatchNorm1d on the network inputs (OMAR's MLPNetwork.in_fn; MOMA-PPO: False)
    actor_last_init: float | None = 3e-3  # actor's last layer U(+-x) (OMAR 3e-3); None = torch's default init
    #                                       (MOMA-PPO's TD3Actor)
    target_noise: float = 0.0  # std of TD3's target policy smoothing noise; 0 = off (OMAR); MOMA-PPO
    #                            td3_policy_noise 0.2 (Fujimoto et al. 2018, Eq. 14)
    target_noise_clip: float = 0.5  # the noise is clipped to +-this (MOMA-PPO td3_noise_clip 0.5; TD3's 0.5)
    policy_delay: int = 1  # actor steps and target updates every this many critic updates (OMAR 1; MOMA-PPO
    #                        td3_policy_freq 2: actor and all targets move on updates 2, 4, ...)
    shared_rows: bool = False  # one minibatch of rows per seed shared by its agents (MOMA-PPO's independent
    #                            learner samples one index set for all agents); False = one per member (OMAR)
    max_action: float = 1.0  # action bound; actions are max_action * tanh (OMAR: 1)
    action_reg: float = 1e-3  # weight of mean pi(o)^2 in the "none"/"omar" actor losses (OMAR code)
    critic_reg: str = "none"  # "none" (TD3) or "cql" (MA-CQL / OMAR critic, Eq. 1)
    cql_alpha: float | Sequence[float] = 1.0  # CQL weight; a float or one per member (OMAR table per dataset)
    cql_n_actions: int = 10  # K sampled actions per group (OMAR num_sampled_actions = 10)
    cql_temp: float = 1.0  # logsumexp temperature T (OMAR lse_temp = 1.0)
    cql_proposal: str = "uniform"  # "uniform" (OMAR MPE) or "mujoco" (OMAR HalfCheetah's 3 groups)
    cql_noise: float = 0.2  # std of the policy-centred proposals of "mujoco" (OMAR cql_sample_noise_level)
    cql_slots: str = "own"  # joint critic only: "own" samples agent i's slot, a_-i from the data (default,
    #                         as the actor step); "all" samples the whole joint action uniformly (a
    #                         diagnostic of Table 5; "uniform" proposals only). OMAR is silent here.
    actor_reg: str = "none"  # "none" (MA-CQL/ITD3), "omar" (Eq. 2), "td3bc" (MA-TD3+BC), "icq" (MA-ICQ)
    td3bc_alpha: float | Sequence[float] = 2.5  # TD3+BC alpha (Fujimoto & Gu 2021: 2.5); float or per member
    bc_reduce: str = "mean"  # BC term of "td3bc" (and of "omar" with omar_bc_alpha > 0): "mean" over batch and
    #                          action dims (TD3+BC's F.mse_loss) or "sum" over dims, mean over batch (MOMA-PPO)
    omar_tau: float | Sequence[float] = 0.9  # OMAR's tau = code's omar_coe, weight of imitation; float or per member
    omar_sampler: str = "softmax"  # search_action sampler: softmax (OMAR MPE), cem (HalfCheetah), random
    omar_iters: int = 3  # search iterations (OMAR MPE 3; HalfCheetah 2)
    omar_n_samples: int = 10  # samples per iteration (OMAR MPE 10; HalfCheetah 20)
    omar_n_elites: int = 5  # elites of the "cem" sampler (OMAR HalfCheetah 5; unused by softmax)
    omar_mu0: float = 0.0  # initial sampling mean (OMAR 0)
    omar_sigma0: float = 2.0  # initial sampling std (OMAR 2.0)
    omar_sigma_rule: str = "code"  # "code" (RMS around the new mean) or "paper" (Eq. 3 as printed)
    cem_std: str = "biased"  # "cem" sampler's new sigma: the elites' "biased" std (OMAR) or "unbiased" + 1e-6
    #                          (MOMA-PPO's copy of the search)
    omar_bc_alpha: float = 0.0  # MOMA-PPO's td3_bc_coeff beside OMAR: > 0 adds lambda = alpha / mean|Q1| to the Q
    #                             term and a BC term (bc_reduce); 0 = OMAR's Eq. 2 (MOMA-PPO's IOMAR [inferred])
    icq_beta: float = 1.0  # temperature of ICQ's batch-softmax advantage weights (ICQ's alpha)
    actor_updates: int = 1  # actor gradient steps per update() on the critic's minibatch (OMAR Table 2: 1/5/20)
    critic_input: str = "local"  # "local" Q_i(o_i, a_i) (OMAR Sec. 5, independent TD3) or "joint"
    #                              Q_i(s, a_1..a_N) (MATD3's centralized critics, OMAR Table 5)
    log_every: int = 100  # update() returns metrics (detached [M] tensors) every log_every updates
    check_finite_every: int = 1  # NaN guard period (one host sync per check)

    def validate(self) -> "ITD3Config":
        def choice(name: str, allowed: Sequence[str]) -> None:
            v = getattr(self, name)
            if v not in allowed:
                raise ValueError(f"ITD3Config.{name}={v!r} is not allowed; choose one of {list(allowed)}")

        choice("critic_reg", CRITIC_REGS)
        choice("actor_reg", ACTOR_REGS)
        choice("cql_proposal", CQL_PROPOSALS)
        choice("omar_sampler", SAMPLERS)
        choice("omar_sigma_rule", SIGMA_RULES)
        choice("critic_input", CRITIC_INPUTS)
        choice("cql_slots", CQL_SLOTS)
        choice("bc_reduce", BC_REDUCES)
        choice("cem_std", CEM_STDS)
        if self.cql_slots == "all" and (self.critic_input != "joint" or self.cql_proposal != "uniform"):
            raise ValueError(f"ITD3Config.cql_slots='all' needs critic_input='joint' and cql_proposal='uniform', "
                             f"got critic_input={self.critic_input!r}, cql_proposal={self.cql_proposal!r}")
        for name in ("hidden", "batch_size", "cql_n_actions", "omar_iters", "omar_n_samples",
                     "omar_n_elites", "log_every", "check_finite_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ITD3Config.{name}={getattr(self, name)!r} must be >= 1")
        for name, hint in (("actor_updates", "OMAR Table 2: 1, 5, 20"), ("policy_delay", "OMAR 1, MOMA-PPO 2")):
            u = getattr(self, name)
            if isinstance(u, bool) or not isinstance(u, (int, np.integer)) or u < 1:
                raise ValueError(f"ITD3Config.{name}={u!r} is not allowed; choose an integer >= 1 ({hint})")
        for name in ("grad_clip", "actor_last_init"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise ValueError(f"ITD3Config.{name}={v!r} is not allowed; choose None or a number > 0")
        for name in ("target_noise", "omar_bc_alpha"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < math.inf:
                raise ValueError(f"ITD3Config.{name}={v!r} must be a finite number >= 0 (0 = off)")
        if not self.target_noise_clip > 0:
            raise ValueError(f"ITD3Config.target_noise_clip={self.target_noise_clip!r} must be > 0")
        if not isinstance(self.shared_rows, (bool, np.bool_)):
            raise ValueError(f"ITD3Config.shared_rows={self.shared_rows!r} must be True or False")
        for name in ("actor_lr", "critic_lr", "cql_temp", "cql_noise", "omar_sigma0", "icq_beta", "max_action"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ITD3Config.{name}={getattr(self, name)!r} must be > 0")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"ITD3Config.gamma={self.gamma!r} must be in [0, 1]")
        if not 0.0 < self.tau_target <= 1.0:
            raise ValueError(f"ITD3Config.tau_target={self.tau_target!r} must be in (0, 1]")
        for name, lo, hi in (("omar_tau", 0.0, 1.0), ("cql_alpha", 0.0, math.inf), ("td3bc_alpha", 0.0, math.inf)):
            vals = np.atleast_1d(np.asarray(getattr(self, name), dtype=np.float64))
            if vals.ndim != 1 or vals.size == 0 or not np.all((vals >= lo) & (vals <= hi)):
                raise ValueError(f"ITD3Config.{name}={getattr(self, name)!r}: every value must be in [{lo}, {hi}]")
        # unused options are an error, not a silence
        default = ITD3Config()
        groups = [(CQL_FIELDS, self.critic_reg == "cql", "critic_reg='cql'"),
                  (OMAR_FIELDS, self.actor_reg == "omar", "actor_reg='omar'"),
                  (("td3bc_alpha",), self.actor_reg == "td3bc", "actor_reg='td3bc'"),
                  (("icq_beta",), self.actor_reg == "icq", "actor_reg='icq'"),
                  (("bc_reduce",), self.actor_reg == "td3bc" or (self.actor_reg == "omar" and self.omar_bc_alpha > 0),
                   "actor_reg='td3bc', or actor_reg='omar' with omar_bc_alpha > 0"),
                  (("cem_std",), self.actor_reg == "omar" and self.omar_sampler == "cem",
                   "actor_reg='omar' and omar_sampler='cem'"),
                  (("target_noise_clip",), self.target_noise > 0, "target_noise > 0"),
                  (("shared_rows",), self.critic_input == "local", "critic_input='local' (joint critics share "
                                                                   "rows per seed already)")]
        for names, used, needs in groups:
            for name in names:
                if not used and _differs(getattr(self, name), getattr(default, name)):
                    raise ValueError(f"ITD3Config.{name}={getattr(self, name)!r} is set but unused: it needs {needs} "
                                     f"(critic_reg={self.critic_reg!r}, actor_reg={self.actor_reg!r})")
        if self.cql_proposal == "mujoco" and self.critic_reg == "cql" and self.max_action != 1.0:
            raise ValueError("cql_proposal='mujoco' assumes max_action=1 (uniform log density log 0.5^d, as the code)")
        if self.actor_reg == "icq" and self.critic_reg == "cql":
            raise ValueError("actor_reg='icq' uses ICQ's own SARSA-style critic; set critic_reg='none'")
        if self.actor_reg == "icq" and self.target_noise > 0:
            raise ValueError(f"ITD3Config.target_noise={self.target_noise!r}: actor_reg='icq' targets the dataset's a' "
                             "(no target policy to smooth); set target_noise=0")
        return self


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple, np.ndarray)) or isinstance(b, (list, tuple, np.ndarray)):
        return not np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    return a != b
