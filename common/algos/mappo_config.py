"""MAPPO's configuration (common/algos/mappo.py): the official code's MOMA-PPO defaults, each field cited, and its
checks (``validate``: a bad value is an error naming it and the allowed ones; an option set but unused is an error)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from common.running.validate import is_int, is_num

__all__ = ["MAPPOConfig", "POLICIES", "MIXERS"]

POLICIES = ("gaussian", "categorical")
MIXERS = ("unconstrained", "monotonic")


@dataclass
class MAPPOConfig:
    """Defaults = the official code's MOMA-PPO defaults (``train_rl_model_based.py``; ``train_rl.py`` for the online
    Reacher experts differs only in ``minibatch_size`` = 256). docs/moma_ppo_official_code.md#ppo-learner."""

    policy: str = "gaussian"  # "gaussian" (MaMuJoCo) or "categorical" (ICG; [code] CategoricalPolicy for 'toy' tasks)
    hidden: Sequence[int] = (256, 256)  # actor, V_i and mixer widths ([code] hidden_size 256, 2 layers)
    head_init_scale: float | None = 0.1  # gaussian: mean/log_std head weights x0.1, bias 0 ([code] set_final_bias)
    log_std_bounds: tuple[float, float] = (-6.0, 0.0)  # gaussian: log_std clamp ([code] MIN/MAX_LOG_STD = -6, 0)
    mixer: str = "unconstrained"  # "unconstrained" w ([code] MixerNetwork.mix) or "monotonic" |w| ([paper] §3.2 QMIX)
    lr: float = 5e-5  # Adam lr of actor, V, mixer and encoder ([code] ppo_general_lr overrides lr_pi/lr_v/lr_memory)
    grad_clip: float | None = 1.0  # one norm per seed over all its parameters ([code] grad_clip_norm); None = off
    gamma: float = 0.99  # discount ([code] discount_factor)
    lam: float = 0.98  # GAE lambda ([code] ppo_lamda)
    epochs: int = 5  # passes over the buffer per update ([code] ppo_epochs_per_update)
    minibatch_size: int = 64  # rows per minibatch, floor(n / size) per epoch ([code] batch_size; train_rl.py: 256)
    clip: float = 0.2  # PPO ratio clip ([code] ppo_update_clip_param)
    value_clip: float = 0.2  # value clip around V_old ([code] the same ppo_update_clip_param)
    critic_coef: float = 0.5  # weight of the critic loss ([code] ppo_critic_loss_coeff)
    alpha_lr: float = 0.001  # step of the adaptive entropy weight; 0 = no entropy term ([code] ppo_entropy_bonus_coeff)
    entropy_target: float = -2.0  # target of the joint (summed) entropy estimate ([code] ppo_entropy_target)
    alpha0: float = 0.0  # initial entropy weight ([code] entropy_alpha = 0)
    action_penalty: float = 1.0  # gaussian: weight of the mean-action bound penalty ([code] ppo_action_penalty_coeff)
    ratio_log_max: float = 10.0  # the ratio's exponent is clamped at this ([code] torch.clamp(..., max=10.))
    adv_eps: float = 1e-3  # advantage normalisation (A - mean) / (std + adv_eps) ([code] get_gae)
    check_finite: bool = True  # raise on a non-finite loss at the end of each update (one host sync per update)
    memory_len: int = 0  # history length L of the built-in self-attention encoder, 0 = none ([code] memory_len 10)
    memory_dim: int = 128  # its embedding size E ([code] memory_out_size); used only with memory_len > 0
    obs_norm: bool = False  # inputs (o - mu) / sigma, per seed and agent, frozen by set_obs_stats() [I]; [code]: raw

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        if isinstance(self.hidden, (list, tuple)):
            self.hidden = tuple(self.hidden)
        if isinstance(self.log_std_bounds, (list, tuple)):
            self.log_std_bounds = cast("tuple[float, float]", tuple(float(b) for b in self.log_std_bounds))

    def validate(self) -> "MAPPOConfig":
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"MAPPOConfig.{name}={getattr(self, name)!r} {rule}")

        for name, allowed in (("policy", POLICIES), ("mixer", MIXERS)):
            if getattr(self, name) not in allowed:
                fail(name, f"is not allowed; choose one of {list(allowed)}")
        if not isinstance(self.hidden, tuple) or not self.hidden or not all(is_int(h) and h >= 1 for h in self.hidden):
            fail("hidden", "must be a non-empty sequence of integers >= 1, e.g. (256, 256)")
        b = self.log_std_bounds
        if not (isinstance(b, tuple) and len(b) == 2 and all(is_num(v) for v in b) and b[0] < b[1]):
            fail("log_std_bounds", "must be two numbers (low, high) with low < high, e.g. (-6.0, 0.0)")
        if self.head_init_scale is not None and not (is_num(self.head_init_scale) and self.head_init_scale > 0):
            fail("head_init_scale", "must be None (default init) or a number > 0")
        if self.grad_clip is not None and not (is_num(self.grad_clip) and self.grad_clip > 0):
            fail("grad_clip", "must be None (no clipping) or a number > 0")
        for name in ("epochs", "minibatch_size"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= 1):
                fail(name, "must be an integer >= 1")
        for name in ("lr", "clip", "ratio_log_max", "adv_eps"):
            if not (is_num(getattr(self, name)) and getattr(self, name) > 0):
                fail(name, "must be a number > 0")
        for name in ("value_clip", "critic_coef", "alpha_lr", "alpha0", "action_penalty"):
            if not (is_num(getattr(self, name)) and getattr(self, name) >= 0):
                fail(name, "must be a number >= 0")
        for name in ("gamma", "lam"):
            if not (is_num(getattr(self, name)) and 0.0 <= getattr(self, name) <= 1.0):
                fail(name, "must be in [0, 1]")
        if not is_num(self.entropy_target):
            fail("entropy_target", "must be a number")
        for name in ("check_finite", "obs_norm"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                fail(name, "must be True or False")
        for name in ("memory_len", "memory_dim"):
            if not (is_int(getattr(self, name)) and getattr(self, name) >= (0 if name == "memory_len" else 1)):
                fail(name, "must be an integer >= " + ("0 (0 = no history)" if name == "memory_len" else "1"))
        if self.memory_len > 0 and self.policy == "categorical":
            fail("memory_len", "must be 0 with policy='categorical' (the ICG runs without histories, [code] 'toy')")
        # unused options are an error, not a silence
        default = MAPPOConfig()
        unused = [(name, self.policy == "categorical", "policy='gaussian'")
                  for name in ("head_init_scale", "log_std_bounds", "action_penalty")]
        unused += [(name, self.alpha_lr == 0, "alpha_lr > 0 (alpha_lr = 0 switches the entropy term off)")
                   for name in ("entropy_target", "alpha0")]
        unused += [("memory_dim", self.memory_len == 0, "memory_len > 0")]
        for name, is_unused, needs in unused:
            if is_unused and getattr(self, name) != getattr(default, name):
                fail(name, f"is set but unused: it needs {needs}")
        return self
