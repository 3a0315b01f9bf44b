"""MAPPO's configuration (common/algos/mappo.py): the official code's MOMA-PPO defaults, each field cited, and its
checks (``validate``: a bad value is an error naming it and the allowed ones; an option set but unused is an error)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from common.running.fields import Needs, Rules, check, low_high, opt

__all__ = ["MAPPOConfig", "POLICIES", "MIXERS", "mappo_adam"]

POLICIES = ("gaussian", "categorical")
MIXERS = ("unconstrained", "monotonic")


_GAUSSIAN = Needs("policy='gaussian'", lambda c: c.policy == "gaussian")
_ENTROPY = Needs("alpha_lr > 0 (alpha_lr = 0 switches the entropy term off)", lambda c: c.alpha_lr > 0)
_MEMORY = Needs("memory_len > 0", lambda c: c.memory_len > 0)


@dataclass
class MAPPOConfig:
    """Defaults = the official code's MOMA-PPO defaults (``train_rl_model_based.py``; ``train_rl.py`` for the online
    Reacher experts differs only in ``minibatch_size`` = 256). docs/moma_ppo_official_code.md#ppo-learner."""

    # "gaussian" (MaMuJoCo) or "categorical" (ICG; [code] CategoricalPolicy for 'toy' tasks)
    policy: str = opt("gaussian", choices=POLICIES)
    # actor, V_i and mixer widths ([code] hidden_size 256, 2 layers)
    hidden: Sequence[int] = opt((256, 256), kind="int", ge=1, seq=True, hint="e.g. (256, 256)")
    # gaussian: mean/log_std head weights x0.1, bias 0 ([code] set_final_bias)
    head_init_scale: float | None = opt(
        0.1, kind="num", gt=0, none_ok=True, needs=_GAUSSIAN, hint="None = default init"
    )
    # gaussian: log_std clamp ([code] MIN/MAX_LOG_STD = -6, 0)
    log_std_bounds: tuple[float, float] = opt(
        (-6.0, 0.0), kind="num", seq=True, needs=_GAUSSIAN, hint="(low, high), low < high"
    )
    # "unconstrained" w ([code] MixerNetwork.mix) or "monotonic" |w| ([paper] §3.2 QMIX)
    mixer: str = opt("unconstrained", choices=MIXERS)
    # Adam lr of actor, V, mixer and encoder ([code] ppo_general_lr overrides lr_pi/lr_v/lr_memory)
    lr: float = opt(5e-5, kind="num", gt=0)
    # one norm per seed over all its parameters ([code] grad_clip_norm); None = off
    grad_clip: float | None = opt(1.0, kind="num", gt=0, none_ok=True, hint="None = no clipping")
    gamma: float = opt(0.99, kind="num", ge=0, le=1)  # discount ([code] discount_factor)
    lam: float = opt(0.98, kind="num", ge=0, le=1)  # GAE lambda ([code] ppo_lamda)
    epochs: int = opt(5, kind="int", ge=1)  # passes over the buffer per update ([code] ppo_epochs_per_update)
    # rows per minibatch, floor(n / size) per epoch ([code] batch_size; train_rl.py: 256)
    minibatch_size: int = opt(64, kind="int", ge=1)
    clip: float = opt(0.2, kind="num", gt=0)  # PPO ratio clip ([code] ppo_update_clip_param)
    # value clip around V_old ([code] the same ppo_update_clip_param)
    value_clip: float = opt(0.2, kind="num", ge=0)
    # weight of the critic loss ([code] ppo_critic_loss_coeff)
    critic_coef: float = opt(0.5, kind="num", ge=0)
    # step of the adaptive entropy weight; 0 = no entropy term ([code] ppo_entropy_bonus_coeff)
    alpha_lr: float = opt(0.001, kind="num", ge=0)
    # target of the joint (summed) entropy estimate ([code] ppo_entropy_target)
    entropy_target: float = opt(-2.0, kind="num", needs=_ENTROPY)
    # initial entropy weight ([code] entropy_alpha = 0)
    alpha0: float = opt(0.0, kind="num", ge=0, needs=_ENTROPY)
    # gaussian: weight of the mean-action bound penalty ([code] ppo_action_penalty_coeff)
    action_penalty: float = opt(1.0, kind="num", ge=0, needs=_GAUSSIAN)
    # the ratio's exponent is clamped at this ([code] torch.clamp(..., max=10.))
    ratio_log_max: float = opt(10.0, kind="num", gt=0)
    # advantage normalisation (A - mean) / (std + adv_eps) ([code] get_gae)
    adv_eps: float = opt(1e-3, kind="num", gt=0)
    # raise on a non-finite loss at the end of each update (one host sync per update)
    check_finite: bool = opt(True, kind="bool")
    # history length L of the built-in self-attention encoder, 0 = none ([code] memory_len 10)
    memory_len: int = opt(0, kind="int", ge=0, hint="0 = no history")
    # its embedding size E ([code] memory_out_size); used only with memory_len > 0
    memory_dim: int = opt(128, kind="int", ge=1, needs=_MEMORY)
    # inputs (o - mu) / sigma, per seed and agent, frozen by set_obs_stats() [I]; [code]: raw
    obs_norm: bool = opt(False, kind="bool")
    # opt-in speed [I] (issue 63): fused Adam and the minibatch losses through torch.compile (inductor; needs a C++
    # compiler). The same equations in other float rounding (not bit-equal to the eager learner), so a run that sets
    # it has another config hash and its records are kept apart; eager steps only (no CUDA graph)
    compiled: bool = opt(False, kind="bool")
    RULES: ClassVar[Rules] = (
        low_high("log_std_bounds"),
        (
            lambda c: c.memory_len == 0 or c.policy != "categorical",
            "memory_len={c.memory_len!r} is not allowed with policy='categorical'; choose 0 (the ICG runs "
            "without histories, [code] 'toy')",
        ),
    )

    def __post_init__(self) -> None:
        # configs read from JSON give lists: keep tuples so that asdict() compares equal across checkpoints
        if isinstance(self.hidden, (list, tuple)):
            self.hidden = tuple(self.hidden)
        if isinstance(self.log_std_bounds, (list, tuple)):
            self.log_std_bounds = cast("tuple[float, float]", tuple(float(b) for b in self.log_std_bounds))

    def validate(self) -> "MAPPOConfig":
        """The fields' declared rules, their needs and ``RULES`` (common.running.fields.check)."""
        return check(self)


def check_learner_args(
    cfg: MAPPOConfig, act_dims: Sequence[int], n_actions: Sequence[int] | None, emb_dim: int, encoder: Any
) -> tuple[tuple[int, ...] | None, int]:
    """The MAPPO constructor's arguments beside its config (ValueError naming the bad one): ``n_actions`` (choices
    per agent, >= 1) with policy="categorical" only, whose act_dims are all 1; ``emb_dim`` >= 0, >= 1 with an
    ``encoder``; neither with memory_len > 0 (the config's history encoder). Returns (n_actions as a tuple or None,
    the embedding width: memory_dim with memory_len > 0, else ``emb_dim``)."""
    if cfg.policy == "categorical":
        if n_actions is None or len(n_actions) != len(act_dims) or any(int(k) < 1 for k in n_actions):
            raise ValueError(
                f"policy='categorical' needs n_actions (choices per agent, >= 1), got {n_actions!r}"
            )
        if any(a != 1 for a in act_dims):
            raise ValueError(
                f"policy='categorical' takes one action entry per agent (act_dims all 1), got {tuple(act_dims)}"
            )
    elif n_actions is not None:
        raise ValueError("n_actions is for policy='categorical' only (policy='gaussian')")
    emb = int(emb_dim)
    if emb < 0 or (encoder is not None and emb < 1):
        raise ValueError(
            f"emb_dim={emb_dim!r} must be >= 0, and >= 1 (the encoder's output size) with an encoder"
        )
    L = int(cfg.memory_len)
    if L > 0:
        if encoder is not None or emb:
            raise ValueError(
                f"MAPPOConfig.memory_len={L} builds the self-attention encoder: pass no encoder and "
                f"emb_dim=0 (got encoder={type(encoder).__name__ if encoder is not None else None}, "
                f"emb_dim={emb_dim!r}), or set memory_len=0 to use your own"
            )
        emb = int(cfg.memory_dim)
    return (None if n_actions is None else tuple(int(k) for k in n_actions)), emb


def mappo_adam(params: Iterable[Any], cfg: MAPPOConfig, step_mode: str) -> Any:
    """The learner's one Adam (lr ``cfg.lr``): every learner's ``common.networks.nets.adam`` (foreach: one multi-tensor
    call per Adam op, bit for bit the per-tensor Adam, tests/test_mappo.py) or, with ``compiled``, ``fused``. Refuses ``compiled`` beside a
    CUDA graph (the compiled step is an eager one) and where no C++ compiler is on PATH (inductor's CPU backend would
    fail at the first update instead)."""
    import torch  # noqa: PLC0415 - the config module itself needs no torch

    if not cfg.compiled:
        from common.networks.nets import adam  # noqa: PLC0415 - torch-free at import, as above

        return adam(params, lr=cfg.lr)
    if step_mode != "eager":
        raise ValueError(
            f"MAPPOConfig.compiled=True compiles the eager step; this learner's step is {step_mode!r}: pass "
            "cuda_graph=False, or set compiled=False to keep the CUDA graph"
        )
    if not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "c++")):
        raise RuntimeError(
            "MAPPOConfig.compiled=True needs a C++ compiler on PATH for torch.compile's CPU backend (g++ or c++, "
            "or $CXX); install one or set compiled=False"
        )
    return torch.optim.Adam(params, lr=cfg.lr, fused=True)
