"""MOMA-PPO's world model, its configuration and its data: the config (``WorldModelConfig``), the map from the
Dataset's padded per-agent arrays to the model's joint vectors (``JointLayout``), the model's rows of a dataset
with the official code's train/validation split, and the per-agent clipping box of a dataset.

Paper and official code as in papers/moma_ppo/worldmodel.py (the ensemble that uses these). Shapes: N agents,
O padded obs dim, A padded action dim, Oj = sum_i O_i joint obs dim, I model input dim, T dataset steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from common.running.fields import Rules, check, opt, ordered

__all__ = [
    "WorldModelConfig",
    "JointLayout",
    "WMData",
    "REWARD_SOURCES",
    "DONE_VOTES",
    "split_indices",
    "dataset_tensors",
    "dataset_box",
]

REWARD_SOURCES = ("sampled_member", "ensemble_mean")
DONE_VOTES = ("agents_of_member", "members")


# ----------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------


@dataclass
class WorldModelConfig:
    """Defaults = the official code where the paper is silent (docs/moma_ppo_official_code.md#world-model-ensemble)."""

    # N_m trained: [paper] §3.1 "we train N_m = 7 models"; [code] train_worldmodel.py n_wm_trained
    n_members: int = opt(7, kind="int", ge=1)
    # N kept: [paper] §3.1 "keep the best N = 5"; [code] train_worldmodel.py n_wm_used
    n_elites: int = opt(5, kind="int", ge=2, hint="the unbiased covariance divides by N - 1")
    # width of every hidden layer: [code] train_worldmodel.py hidden_size
    hidden: int = opt(1024, kind="int", ge=1)
    # hidden layers of the T head: [code] four_layers_wm=True -> utils/networks.py MLPNetwork4Layers
    t_layers: int = opt(4, kind="int", ge=1)
    r_layers: int = opt(4, kind="int", ge=1)  # hidden layers of the R head: [code] same Gaussian class as T
    # hidden layers of the mask head: [code] single_agent/world_models.py Binary -> MLPNetwork
    mask_layers: int = opt(2, kind="int", ge=1)
    log_std_min: float = opt(-6.0, kind="num")  # [code] single_agent/world_models.py MIN_LOG_STD
    log_std_max: float = opt(2.0, kind="num")  # [code] single_agent/world_models.py MAX_LOG_STD
    lr: float = opt(3e-5, kind="num", gt=0)  # Adam learning rate: [code] train_worldmodel.py lr
    # Adam weight decay: [code] train_worldmodel.py weight_decay
    weight_decay: float = opt(0.0, kind="num", ge=0)
    # gradient-norm clip over one member's T, R and mask heads: [code] grad_clip_norm
    grad_clip: float = opt(1.0, kind="num", gt=0)
    # rows per member per update, uniform with replacement: [code] train_worldmodel.py batch_size
    batch_size: int = opt(256, kind="int", ge=1)
    # [code] train_worldmodel.py max_training_step = int(1e4 + 1) (a comment says 1e6 + 1)
    n_updates: int = opt(10_001, kind="int", ge=0)
    # validation share: [code] dzsc/.../multiagent_env_and_dataset.py get_split_idx
    valid_fraction: float = opt(0.1, kind="num", gt=0, lt=1)
    # np.random.default_rng seed of the split shuffle: [code] get_split_idx
    split_seed: int = opt(12345, kind="int", ge=0)
    # actions clamped to +-(1 - eps): [code] single_agent/actors.py epsilon, transform_actions
    action_eps: float = opt(1e-5, kind="num", ge=0, lt=1)
    # [inferred] validation rows scored for elites (None = all; else the first n of the shuffled split); the
    # code
    # samples 50 x 256 rows per member
    elite_eval_rows: int | None = opt(None, kind="int", ge=1, none_ok=True, hint="None = the whole split")
    # [inferred] rows per forward when scoring (memory only, no effect on the result)
    eval_chunk: int = opt(2048, kind="int", ge=1)
    # weight of eps_g in the penalty: [code] train_rl_model_based.py reward_penalty_ensemble_std
    lambda_g: float = opt(0.1, kind="num", ge=0)
    # weight of eps_r: [code] train_rl_model_based.py reward_penalty_ensemble_reward_only_std
    lambda_r: float = opt(0.05, kind="num", ge=0)
    # MOPO's weight: [code] reward_penalty_gaussian_std (Figure 6 uses 1 or 5)
    lambda_aleatoric: float = opt(0.0, kind="num", ge=0)
    # l_eps, clamp of the 3 uncertainties: [code] ensemble_cov_norm_threshold; [paper] §3.1; inf = no clamp
    # (the
    # "no l_eps" ablation)
    threshold: float = opt(2.0, kind="real", gt=0)
    # clip s' and r to the dataset box: [code] clip_wm_to_dataset; [paper] §3.1
    clip_to_dataset: bool = opt(True, kind="bool")
    # [code] "sampled_member": the chosen elite's reward; [paper] §3.1 "ensemble_mean": "the mean predicted
    # reward
    # across the ensemble"
    reward_source: str = opt("sampled_member", choices=REWARD_SOURCES)
    # [code] "agents_of_member": round(mean over agents of the chosen elite's p); [paper] §3.1 "members": "a
    # majority
    # vote between the members of the ensemble" (each elite votes round(mean_i p_i); ties -> 0)
    done_vote: str = opt("agents_of_member", choices=DONE_VOTES)
    RULES: ClassVar[Rules] = (
        ordered("n_elites", "n_members", strict=False),
        ordered("log_std_min", "log_std_max"),
    )

    def validate(self) -> "WorldModelConfig":
        """The fields' declared rules and ``RULES`` (common.running.fields.check)."""
        return check(self)


# ----------------------------------------------------------------------------------------------
# inputs and targets
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JointLayout:
    """How per-agent padded arrays (the Dataset layout) map to the model's joint vectors.

    joint obs = the agents' real observation columns concatenated, agent-major (padding stripped with
    ``obs_dims``): [paper] §3.1 conditions on "the current global state"; [code] multi_agent/worldmodel.py
    builds it as the concatenation of the agents' observations (``ml.join_batches``), which we follow.
    joint action = the agents' real action columns clamped to +-(1 - action_eps) ([code]
    ``transform_actions``), or, for discrete agents (``n_actions``), one one-hot block per agent.
    """

    obs_dims: tuple[int, ...]
    act_dims: tuple[int, ...]
    n_actions: tuple[int, ...] | None = None
    action_eps: float = 1e-5

    def __post_init__(self):
        object.__setattr__(self, "obs_dims", tuple(int(d) for d in self.obs_dims))
        object.__setattr__(self, "act_dims", tuple(int(d) for d in self.act_dims))
        if self.n_actions is not None:
            object.__setattr__(self, "n_actions", tuple(int(n) for n in self.n_actions))
        n = len(self.obs_dims)
        if n < 1 or len(self.act_dims) != n or (self.n_actions is not None and len(self.n_actions) != n):
            raise ValueError(
                f"obs_dims {self.obs_dims}, act_dims {self.act_dims} and n_actions {self.n_actions} "
                "need one entry per agent"
            )
        if min(self.obs_dims) < 1 or min(self.act_dims) < 1:
            raise ValueError(f"obs_dims {self.obs_dims} and act_dims {self.act_dims} must be >= 1")

    @classmethod
    def from_dataset(cls, dataset, action_eps: float = 1e-5) -> "JointLayout":
        """The layout of a :class:`common.datasets.dataset.Dataset` (its card's obs_dims, act_dims, n_actions)."""
        n_act = dataset.card.get("n_actions")
        return cls(dataset.obs_dims, dataset.act_dims, None if n_act is None else tuple(n_act), action_eps)

    @property
    def n_agents(self) -> int:  # N
        return len(self.obs_dims)

    @property
    def obs_pad(self) -> int:  # O
        return max(self.obs_dims)

    @property
    def act_pad(self) -> int:  # A
        return max(self.act_dims)

    @property
    def joint_obs_dim(self) -> int:  # Oj
        return sum(self.obs_dims)

    @property
    def joint_act_dim(self) -> int:
        return sum(self.n_actions) if self.n_actions is not None else sum(self.act_dims)

    @property
    def in_dim(self) -> int:  # I
        return self.joint_obs_dim + self.joint_act_dim

    def _mask(self, dims: Sequence[int], width: int, device) -> Tensor:
        # [N, W]
        return torch.arange(width, device=device)[None, :] < torch.tensor(dims, device=device)[:, None]

    def joint_obs(self, obs: Tensor) -> Tensor:
        """obs [..., N, O] (zero-padded) -> [..., Oj], agent-major."""
        self._check(obs, self.obs_pad, "obs")
        return obs[..., self._mask(self.obs_dims, self.obs_pad, obs.device)]

    def pad_obs(self, joint: Tensor) -> Tensor:
        """Inverse of :meth:`joint_obs`: [..., Oj] -> [..., N, O] with zeros in the padded columns."""
        if joint.shape[-1] != self.joint_obs_dim:
            raise ValueError(
                f"joint obs must have {self.joint_obs_dim} columns, got shape {tuple(joint.shape)}"
            )
        out = joint.new_zeros(*joint.shape[:-1], self.n_agents, self.obs_pad)
        out[..., self._mask(self.obs_dims, self.obs_pad, joint.device)] = joint
        return out

    def joint_action(self, actions: Tensor) -> Tensor:
        """actions [..., N, A] -> [..., sum A_i] clamped to +-(1 - eps); discrete: the index in
        ``actions[..., 0]`` -> one-hot blocks [..., sum n_i]."""
        self._check(actions, self.act_pad, "actions")
        if self.n_actions is None:
            a = actions[..., self._mask(self.act_dims, self.act_pad, actions.device)]
            return a.clamp(-1.0 + self.action_eps, 1.0 - self.action_eps)
        idx = actions[..., 0].round().long()  # [..., N]
        blocks = [F.one_hot(idx[..., i], n).to(actions.dtype) for i, n in enumerate(self.n_actions)]
        return torch.cat(blocks, dim=-1)

    def inputs(self, obs: Tensor, actions: Tensor) -> Tensor:
        """The model input x = [joint obs, joint action]: [..., I]."""
        return torch.cat([self.joint_obs(obs), self.joint_action(actions).to(obs.dtype)], dim=-1)

    def _check(self, x: Tensor, width: int, what: str) -> None:
        if x.dim() < 2 or x.shape[-2] != self.n_agents or x.shape[-1] != width:
            raise ValueError(f"{what} must be [..., N={self.n_agents}, {width}], got shape {tuple(x.shape)}")


def dataset_tensors(dataset, layout: JointLayout, device="cpu", dtype=torch.float32) -> dict[str, Tensor]:
    """The model's rows of a Dataset: inputs [T, I], next_obs [T, Oj] (absolute next joint obs),
    rewards [T, N] (one per agent, as stored), masks [T, N] = 1 - terminal (time-outs are not terminal;
    [code] the D4RL-style ``masks``)."""
    t = dataset.to_torch(device)
    obs, act = t["obs"].to(dtype), t["actions"].to(dtype)  # [T, N, O], [T, N, A]
    n = layout.n_agents
    return {
        "inputs": layout.inputs(obs, act),  # [T, I]
        "next_obs": layout.joint_obs(t["next_obs"].to(dtype)),  # [T, Oj]
        "rewards": t["rewards"].to(dtype),  # [T, N]
        "masks": (1.0 - t["terminals"].to(dtype))[:, None].expand(-1, n).contiguous(),  # [T, N]
    }


def split_indices(n: int, valid_fraction: float = 0.1, seed: int = 12345) -> tuple[np.ndarray, np.ndarray]:
    """(train [n - n_v], valid [n_v]) int64 row indices, n_v = int(valid_fraction * n): arange(n)
    shuffled by ``np.random.default_rng(seed)``, the first n_v rows validate ([code]
    dzsc/dzsc/ma_d4rl/multiagent_env_and_dataset.py ``get_split_idx``)."""
    n_valid = int(valid_fraction * n)
    idx = np.arange(n)
    np.random.default_rng(seed).shuffle(idx)
    return idx[n_valid:].astype(np.int64), idx[:n_valid].astype(np.int64)


def dataset_box(dataset) -> dict[str, np.ndarray]:
    """The clipping box of a Dataset ([code] train_rl_model_based.py ``clip_to_dataset``), per agent:
    obs_low / obs_high [N, O] = min / max over obs U next_obs (padded columns stay 0);
    rew_low / rew_high [N] = min / max of that agent's rewards. Computed on the whole dataset (the
    code clips with the dataset MOMA-PPO samples from, not the world model's train split)."""
    obs, nxt, r = dataset.obs, dataset.next_obs, dataset.rewards
    return {
        "obs_low": np.minimum(obs.min(0), nxt.min(0)).astype(np.float32),
        "obs_high": np.maximum(obs.max(0), nxt.max(0)).astype(np.float32),
        "rew_low": r.min(0).astype(np.float32),
        "rew_high": r.max(0).astype(np.float32),
    }


@dataclass
class WMData:
    """Training and validation rows of G groups, concatenated: inputs [T, I], next_obs [T, Oj],
    rewards [T, N], masks [T, N]; ``train[g]`` / ``valid[g]`` are group g's row indices [T_g] into them."""

    inputs: Tensor
    next_obs: Tensor
    rewards: Tensor
    masks: Tensor
    train: list[Tensor] = field(default_factory=list)
    valid: list[Tensor] = field(default_factory=list)

    def rows(self, idx: Tensor) -> dict[str, Tensor]:
        """The four tensors at row indices ``idx`` (any shape [*]) -> [*, F]."""
        return {
            "inputs": self.inputs[idx],
            "next_obs": self.next_obs[idx],
            "rewards": self.rewards[idx],
            "masks": self.masks[idx],
        }
