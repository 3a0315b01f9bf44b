"""CAST-BCQ's SMAX learners (papers/cast_bcq/smac.py): their config ``SmaxConfig`` (one for the four methods,
a source per field: [C] the official SMAC code's config, [I] ours) with its validation, and the code's constants
(the methods, SMAX's stop action, the epsilon schedules, QMIX's embedding width).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["SmaxConfig", "LEARNER_NAME", "METHODS", "AGENTS", "STOP", "T_ENV_PER_UPDATE", "TEST_EPSILON",
           "TRAIN_EPSILON", "QMIX_EMBED"]

LEARNER_NAME = "cast_smax"
METHODS = ("i_bcq", "mabcq", "icq_ma", "cast_bcq")
AGENTS = ("pi", "q")  # cast_bcq: the code's policy regression, or the paper's Q_i with the BCQ filter
STOP = 4  # SMAX's stop action: no no-op exists; the only action of a dead unit (envs/smax.py)
T_ENV_PER_UPDATE = 100  # run.py l. 250: runner.t_env += 100 per iteration (the epsilon schedules' clock)
# test-time epsilon (start, finish, anneal t_env) of each method's action selector [C: config/algs/*.yaml]
TEST_EPSILON = {"i_bcq": (1.0, 0.01, 200_000), "mabcq": (1.0, 0.01, 200_000), "cast_bcq": (0.5, 0.001, 200_000),
                "icq_ma": (0.0, 0.0, 1)}  # icq_ma: multinomial selector, greedy at test (test_greedy)
# the policy learners' training-time epsilon floor: BasicMAC.forward(test_mode=False) mixes (1 - eps) softmax + eps / K
# with its selector's epsilon (controllers/basic_controller.py l. 43-51; cast_smac.yaml / offpg_smac.yaml) [C]
TRAIN_EPSILON = {"cast_bcq": (0.5, 0.001, 200_000), "icq_ma": (0.5, 0.05, 500_000)}
QMIX_EMBED = 32  # offpg_smac.yaml mixing_embed_dim


@dataclass
class SmaxConfig:
    """One config for the four SMAX learners; sources per field ([C] the SMAC code's config, [I] ours)."""

    method: str = "cast_bcq"  # i_bcq | mabcq | icq_ma | cast_bcq (spec §1.5's columns)
    hidden: int = 64  # agent nets' two hidden layers (SMAC's GRU-64 agent, here an MLP) [I]
    critic_hidden: int = 256  # CAST's joint critic, ICQ-MA's per-agent critic (centralc / offpg 256) [C]
    lr: float = 5e-4  # RMSprop lr of the agent nets (default.yaml lr) [C]
    critic_lr: float = 1e-4  # RMSprop lr of ICQ-MA's critic + mixer and CAST's critic (critic_lr) [C]
    grad_clip: float = 20.0  # every optimizer's gradient norm, per seed (grad_norm_clip) [C]
    batch_size: int = 256  # time steps per seed per update [I] (the code: 32 episodes)
    gamma: float = 0.99  # discount [C]
    target_every: int | None = None  # hard target copy every this many updates; None: 20 (I-BCQ / MABCQ), 600 [C]
    polyak: float | None = None  # a Polyak rate per update instead of the hard copies (our earlier form: 0.005) [I]
    td_loss: str = "mse"  # i_bcq / mabcq: "mse" (the code) or "huber" (delta 1, Fujimoto 2019b; our earlier I-BCQ)
    bcq_threshold: float | None = None  # None: 0.5 (the code's filter, all but cast_bcq agent "q"), 0.3 (Fujimoto)
    bc_logit_reg: float = 1e-2  # mean logits^2 weight of the BC loss (q_learner.py l. 121) [C]
    vd_clip: float = 0.8  # mabcq: value-deviation weight clipped to 1 +- vd_clip (mbcq_learner.py) [C]
    reward_scale: float = 10.0  # r x this: SMAC's return scale (max 20) from SMAX's (max ~2) [I, module docstring]
    icq_alpha: float = 1000.0  # icq_ma: critic target temperature (offpg_learner.py l. 127) [C]
    icq_beta: float = 0.1  # icq_ma: policy advantage temperature (offpg_learner.py l. 85) [C]
    target: str = "data"  # cast_bcq: next joint action of the critic target, "data" (code SARSA) or "policy" (P Eq. 6)
    subteams: int = 10  # cast_bcq: sub-team draws per agent (centralc.py mc_times = 10) [C]
    absent: str = "zero"  # cast_bcq: masked blocks zeroed ("zero", code) or at the default action stop ("default")
    agent: str = "pi"  # cast_bcq: "pi" the code's pi(a|o) regression, "q" the paper's Q_i + BCQ filter (P Eq. 9)
    test_epsilon: bool = True  # test actions epsilon-greedy on the code's schedule (TEST_EPSILON) [C]; False: greedy
    train_epsilon: bool = True  # icq_ma / cast "pi": the code's epsilon floor on pi in training (TRAIN_EPSILON) [C]
    schedule_scale: float = 1.0  # the epsilon schedules' clock: t_env = 100 x updates x this (1: the code's; a
    #   shorter profile lays the code's 40,000-iteration schedules over its own updates with 40,000 / updates) [I]
    log_every: int = 100  # update() returns metrics every log_every updates [I]

    def validate(self) -> "SmaxConfig":
        for name, allowed in (("method", METHODS), ("target", ("data", "policy")), ("absent", ("zero", "default")),
                              ("agent", AGENTS), ("td_loss", ("mse", "huber"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"SmaxConfig.{name}={getattr(self, name)!r} is not allowed; "
                                 f"choose one of {list(allowed)}")
        for name in ("hidden", "critic_hidden", "batch_size", "subteams", "log_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"SmaxConfig.{name}={v!r} must be an integer >= 1")
        if self.target_every is not None and (isinstance(self.target_every, bool) or self.target_every < 1):
            raise ValueError(f"SmaxConfig.target_every={self.target_every!r} must be an integer >= 1 or None")
        for name in ("lr", "critic_lr", "grad_clip", "icq_alpha", "icq_beta", "vd_clip", "reward_scale", "schedule_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SmaxConfig.{name}={getattr(self, name)!r} must be > 0")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"SmaxConfig.gamma={self.gamma!r} must be in [0, 1]")
        if self.polyak is not None and not 0.0 < self.polyak <= 1.0:
            raise ValueError(f"SmaxConfig.polyak={self.polyak!r} must be in (0, 1] or None")
        if self.polyak is not None and self.target_every is not None:
            raise ValueError("SmaxConfig: give polyak or target_every, not both")
        if self.bcq_threshold is not None and not 0.0 <= self.bcq_threshold < 1.0:
            raise ValueError(f"SmaxConfig.bcq_threshold={self.bcq_threshold!r} must be in [0, 1) or None")
        own = {"i_bcq": ("bcq_threshold", "bc_logit_reg", "td_loss"),
               "mabcq": ("bcq_threshold", "bc_logit_reg", "vd_clip", "td_loss"),
               "icq_ma": ("icq_alpha", "icq_beta", "critic_hidden", "critic_lr"),
               "cast_bcq": ("target", "subteams", "absent", "critic_hidden", "critic_lr", "agent")
               + (("bcq_threshold", "bc_logit_reg") if self.agent == "q" else ())}
        default = SmaxConfig()
        unused = [f.name for f in fields(self) if f.name in {n for v in own.values() for n in v} | {"agent"}
                  and f.name not in own[self.method] and getattr(self, f.name) != getattr(default, f.name)]
        if unused:
            raise ValueError(f"SmaxConfig fields {unused} are not used by method {self.method!r}"
                             + (f" with agent {self.agent!r}" if self.method == "cast_bcq" else ""))
        return self

    @property
    def threshold(self) -> float:
        if self.bcq_threshold is not None:
            return float(self.bcq_threshold)
        return 0.3 if self.paper_cast else 0.5

    @property
    def paper_cast(self) -> bool:
        """CAST in the paper's form (Q_i regressed, a BC head, acting through the filter over avail)."""
        return self.method == "cast_bcq" and self.agent == "q"

    @property
    def target_period(self) -> int:
        if self.target_every is not None:
            return int(self.target_every)
        return 20 if self.method in ("i_bcq", "mabcq") else 600

