"""CAST-BCQ's SMAX learners (papers/cast_bcq/smac.py): their config ``SmaxConfig`` (one for the four methods,
a source per field: [C] the official SMAC code's config, [I] ours) with its validation, and the code's constants
(the methods, SMAX's stop action, the epsilon schedules, QMIX's embedding width).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from common.running.fields import Needs, Rules, check, opt

__all__ = [
    "SmaxConfig",
    "LEARNER_NAME",
    "METHODS",
    "AGENTS",
    "STOP",
    "T_ENV_PER_UPDATE",
    "TEST_EPSILON",
    "TRAIN_EPSILON",
    "QMIX_EMBED",
]

LEARNER_NAME = "cast_smax"
METHODS = ("i_bcq", "mabcq", "icq_ma", "cast_bcq", "bc")  # bc: ours, the fair baseline (not in the paper)
AGENTS = ("pi", "q")  # cast_bcq: the code's policy regression, or the paper's Q_i with the BCQ filter
STOP = 4  # SMAX's stop action: no no-op exists; the only action of a dead unit (envs/smax.py)
T_ENV_PER_UPDATE = 100  # run.py l. 250: runner.t_env += 100 per iteration (the epsilon schedules' clock)
# test-time epsilon (start, finish, anneal t_env) of each method's action selector [C: config/algs/*.yaml]
TEST_EPSILON = {
    "i_bcq": (1.0, 0.01, 200_000),
    "mabcq": (1.0, 0.01, 200_000),
    "cast_bcq": (0.5, 0.001, 200_000),
    "icq_ma": (0.0, 0.0, 1),
    "bc": (0.0, 0.0, 1),
}  # icq_ma: multinomial selector, greedy at test (test_greedy); bc [I]: greedy, as a plain BC baseline acts
# the policy learners' training-time epsilon floor: BasicMAC.forward(test_mode=False) mixes (1 - eps) softmax + eps / K
# with its selector's epsilon (controllers/basic_controller.py l. 43-51; cast_smac.yaml / offpg_smac.yaml) [C]
TRAIN_EPSILON = {"cast_bcq": (0.5, 0.001, 200_000), "icq_ma": (0.5, 0.05, 500_000)}
QMIX_EMBED = 32  # offpg_smac.yaml mixing_embed_dim


# the options a method uses; any other stays at its default (unused options are an error, not a silence)
_FILTER = Needs(
    "method 'i_bcq' or 'mabcq', or method 'cast_bcq' with agent='q'",
    lambda c: c.method in ("i_bcq", "mabcq") or c.paper_cast,
)
_BCQ = Needs("method 'i_bcq' or 'mabcq'", lambda c: c.method in ("i_bcq", "mabcq"))
_MABCQ = Needs("method='mabcq'", lambda c: c.method == "mabcq")
_ICQ = Needs("method='icq_ma'", lambda c: c.method == "icq_ma")
_CRITIC = Needs("method 'icq_ma' or 'cast_bcq'", lambda c: c.method in ("icq_ma", "cast_bcq"))
_CAST = Needs("method='cast_bcq'", lambda c: c.method == "cast_bcq")


@dataclass
class SmaxConfig:
    """One config for the four SMAX learners; sources per field ([C] the SMAC code's config, [I] ours)."""

    # i_bcq | mabcq | icq_ma | cast_bcq (spec §1.5's columns) | bc (ours: masked NLL over the available actions)
    method: str = opt("cast_bcq", choices=METHODS)
    # agent nets' two hidden layers (SMAC's GRU-64 agent, here an MLP) [I]
    hidden: int = opt(64, kind="int", ge=1)
    # CAST's joint critic, ICQ-MA's per-agent critic (centralc / offpg 256) [C]
    critic_hidden: int = opt(256, kind="int", ge=1, needs=_CRITIC)
    lr: float = opt(5e-4, kind="num", gt=0)  # RMSprop lr of the agent nets (default.yaml lr) [C]
    # RMSprop lr of ICQ-MA's critic + mixer and CAST's critic (critic_lr) [C]
    critic_lr: float = opt(1e-4, kind="num", gt=0, needs=_CRITIC)
    # every optimizer's gradient norm, per seed (grad_norm_clip) [C]
    grad_clip: float = opt(20.0, kind="num", gt=0)
    batch_size: int = opt(256, kind="int", ge=1)  # time steps per seed per update [I] (the code: 32 episodes)
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # discount [C]
    # hard target copy every this many updates; None: 20 (I-BCQ / MABCQ), 600 [C]
    target_every: int | None = opt(None, kind="int", ge=1, none_ok=True)
    # a Polyak rate per update instead of the hard copies (our earlier form: 0.005) [I]
    polyak: float | None = opt(None, kind="num", gt=0, le=1, none_ok=True)
    # i_bcq / mabcq: "mse" (the code) or "huber" (delta 1, Fujimoto 2019b; our earlier I-BCQ)
    td_loss: str = opt("mse", choices=("mse", "huber"), needs=_BCQ)
    # None: 0.5 (the code's filter, all but cast_bcq agent "q"), 0.3 (Fujimoto)
    bcq_threshold: float | None = opt(None, kind="num", ge=0, lt=1, none_ok=True, needs=_FILTER)
    # mean logits^2 weight of the BC loss (q_learner.py l. 121) [C]
    bc_logit_reg: float = opt(1e-2, kind="num", ge=0, needs=_FILTER)
    # mabcq: value-deviation weight clipped to 1 +- vd_clip (mbcq_learner.py) [C]
    vd_clip: float = opt(0.8, kind="num", gt=0, needs=_MABCQ)
    # r x this: SMAC's return scale (max 20) from SMAX's (max ~2) [I, module docstring]
    reward_scale: float = opt(10.0, kind="num", gt=0)
    # icq_ma: critic target temperature (offpg_learner.py l. 127) [C]
    icq_alpha: float = opt(1000.0, kind="num", gt=0, needs=_ICQ)
    # icq_ma: policy advantage temperature (offpg_learner.py l. 85) [C]
    icq_beta: float = opt(0.1, kind="num", gt=0, needs=_ICQ)
    # cast_bcq: next joint action of the critic target, "data" (code SARSA) or "policy" (P Eq. 6)
    target: str = opt("data", choices=("data", "policy"), needs=_CAST)
    # cast_bcq: sub-team draws per agent (centralc.py mc_times = 10) [C]
    subteams: int = opt(10, kind="int", ge=1, needs=_CAST)
    # cast_bcq: masked blocks zeroed ("zero", code) or at the default action stop ("default")
    absent: str = opt("zero", choices=("zero", "default"), needs=_CAST)
    # cast_bcq: "pi" the code's pi(a|o) regression, "q" the paper's Q_i + BCQ filter (P Eq. 9)
    agent: str = opt("pi", choices=AGENTS, needs=_CAST)
    # i_bcq / mabcq: test actions through the BCQ filter too (Fujimoto's discrete BCQ); False: the code's selector
    test_filter: bool = opt(False, kind="bool", needs=_BCQ)
    # test actions epsilon-greedy on the code's schedule (TEST_EPSILON) [C]; False: greedy
    test_epsilon: bool = opt(True, kind="bool")
    # icq_ma / cast "pi": the code's epsilon floor on pi in training (TRAIN_EPSILON) [C]
    train_epsilon: bool = opt(True, kind="bool")
    # the epsilon schedules' clock: t_env = 100 x updates x this (1: the code's; a shorter profile lays the
    # code's 40,000-iteration schedules over its own updates with 40,000 / updates) [I]
    schedule_scale: float = opt(1.0, kind="num", gt=0)
    log_every: int = opt(100, kind="int", ge=1)  # update() returns metrics every log_every updates [I]
    RULES: ClassVar[Rules] = (
        (lambda c: c.polyak is None or c.target_every is None, "give polyak or target_every, not both"),
    )

    def validate(self) -> "SmaxConfig":
        """The fields' declared rules, the options' needs and ``RULES`` (common.running.fields.check)."""
        return check(self)

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
