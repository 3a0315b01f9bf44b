"""MOMA-PPO's world-model ensemble: training, elite selection and the synthetic transition ``sample``.

Paper: Barde, Foerster, Nowrouzezahrai, Zhang, "A Model-Based Solution to the Offline Multi-Agent
Reinforcement Learning Coordination Problem", AAMAS 2024, §3.1 (the ensemble) and §3.2 (its use in
the rollouts). Official code consulted (PBarde/moma-ppo at c276efc, paths under
``moma-ppo/offline_marl/offline_marl/``; summarized in docs/moma_ppo_official_code.md#world-model-ensemble,
docs/moma_ppo_official_code.md#sampling and docs/moma_ppo_official_code.md#moma-ppo-rollouts-and-penalty):
``train_worldmodel.py``, ``multi_agent/worldmodel.py``, ``multi_agent/worldmodel_ensemble.py``,
``single_agent/world_models.py``, ``utils/networks.py``, ``train_rl_model_based.py`` (``clip_to_dataset``,
``correct_rewards``), and ``dzsc/dzsc/ma_d4rl/multiagent_env_and_dataset.py`` (``get_split_idx``).

Model (one member m; x = [o_1, .., o_N (padding stripped), a] the joint observation and the joint action)
  T head   N(mu_T(x), sigma_T(x)^2) over the next joint observation (absolute, not a delta), 4 x 1024 ReLU
  R head   N(mu_R(x), sigma_R(x)^2) over one reward per agent (N outputs), 4 x 1024 ReLU
  mask     Bern(sigmoid(l(x))) "not terminal" per agent (N outputs), 2 x 1024 ReLU
  log sigma clamped to [-6, 2]
Loss (per member, weights 1, 1, 1; [code] multi_agent/worldmodel.py ``update``)
  L = NLL_T + NLL_R + BCE,   NLL = mean_{b, j} [log sigma_j + 0.5 ((y_j - mu_j) / sigma_j)^2]   (no constant)
  Adam lr 3e-5, gradient-norm clip 1.0 per member, an independent minibatch of 256 per member.
Elites (lowest validation error; [paper] §3.1 "keep the best N = 5 based on their average validation
accuracy across the next states and rewards")
  score_m = 0.5 (mean_b ||T_sample - s'|| + mean_b ||R_sample - r||),  T_sample = mu_T + sigma_T * eps
Sampling (on the E elites, for a batch of joint (o, a); [code] multi_agent/worldmodel_ensemble.py ``sample``)
  eps_g     = || Cov_e[(mu_T^e, mu_R^e)] ||_F          unbiased (E - 1) covariance across elites   ([paper] §3.1)
  eps_r     = Var_e[ mean_i mu_R,i^e ]                 unbiased                                      ([paper] §3.1)
  aleatoric = max_e sqrt(sum_j sigma_{e,j}^4) over the T and R dims = max_e ||Sigma_e||_F          (MOPO)
  each clamped at l_eps (2.0); e* ~ U{elites} per transition; s' = mu_T^{e*}; r = mean_i mu_R,i^{e*};
  mask = round(mean_i p_i^{e*}); s' clipped per agent and per dim to the dataset's [min, max] over
  obs U next_obs, r to [r_min, r_max]; then r~ = r - (l_al * aleatoric + l_g * eps_g + l_r * eps_r).

Elite selection, code vs ours. The code evaluates every 5 updates (and after the first): each member
draws 50 train and 50 validation minibatches of 256 rows with replacement, and ``top_wms`` becomes the
5 members with the lowest mean of (T_dist_valid, R_dist_valid) "as of the last evaluation"; the saved
model is the last one, saved right after that evaluation. Earlier evaluations never influence training
(they only overwrite ``top_wms``), so only the last one matters, and it scores the weights that are saved
(with ``max_training_step`` = 1e4 + 1 the last evaluation follows update 1e4, and the 1e4+1-th update is
never saved: [code] train_worldmodel.py saves only inside its evaluation block). We select once, after
training, on the whole validation split (or its first ``elite_eval_rows`` rows), every member on the
same rows: the same estimator as the code's with less noise, hence the same elites of the final model
up to the code's sampling noise, at a fraction of the cost (the code evaluates 2000 times).

Batching. Every network holds M = G * K members, K = ``n_members`` per ensemble and G ensembles
("groups": one per seed, or one per dataset of the same layout) stacked on the member axis; member
m = g * K + k. One ``update`` steps all members at once (tests prove it equals K separate updates).
Shapes: M members, G groups, K members per group, E elites per group, B batch, N agents, O padded obs
dim, A padded action dim, Oj = sum_i O_i joint obs dim, I model input dim, T dataset steps.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.algos.state import copy_members, restore_generator
from common.networks.heads import GaussianEnsembleModel
from common.networks.nets import EnsembleMLP, clip_grad_norm_
from common.running.records import atomic_torch_save

__all__ = [
    "WorldModelConfig",
    "JointLayout",
    "WMData",
    "WMHeads",
    "WorldModelEnsemble",
    "REWARD_SOURCES",
    "DONE_VOTES",
    "split_indices",
    "dataset_tensors",
    "dataset_box",
    "gaussian_nll",
    "mask_bce",
    "sample_l2_error",
    "epistemic_general",
    "epistemic_reward",
    "aleatoric_norm",
    "reward_penalty",
    "weights_sha256",
]

REWARD_SOURCES = ("sampled_member", "ensemble_mean")
DONE_VOTES = ("agents_of_member", "members")


# ----------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------


@dataclass
class WorldModelConfig:
    """Defaults = the official code where the paper is silent (docs/moma_ppo_official_code.md#world-model-ensemble)."""

    n_members: int = 7  # N_m trained: [paper] §3.1 "we train N_m = 7 models"; [code] train_worldmodel.py n_wm_trained
    n_elites: int = 5  # N kept: [paper] §3.1 "keep the best N = 5"; [code] train_worldmodel.py n_wm_used
    hidden: int = 1024  # width of every hidden layer: [code] train_worldmodel.py hidden_size
    t_layers: int = 4  # hidden layers of the T head: [code] four_layers_wm=True -> utils/networks.py MLPNetwork4Layers
    r_layers: int = 4  # hidden layers of the R head: [code] same Gaussian class as T
    mask_layers: int = 2  # hidden layers of the mask head: [code] single_agent/world_models.py Binary -> MLPNetwork
    log_std_min: float = -6.0  # [code] single_agent/world_models.py MIN_LOG_STD
    log_std_max: float = 2.0  # [code] single_agent/world_models.py MAX_LOG_STD
    lr: float = 3e-5  # Adam learning rate: [code] train_worldmodel.py lr
    weight_decay: float = 0.0  # Adam weight decay: [code] train_worldmodel.py weight_decay
    grad_clip: float = 1.0  # gradient-norm clip over one member's T, R and mask heads: [code] grad_clip_norm
    batch_size: int = 256  # rows per member per update, uniform with replacement: [code] train_worldmodel.py batch_size
    n_updates: int = 10_001  # [code] train_worldmodel.py max_training_step = int(1e4 + 1) (a comment says 1e6 + 1)
    valid_fraction: float = 0.1  # validation share: [code] dzsc/.../multiagent_env_and_dataset.py get_split_idx
    split_seed: int = 12345  # np.random.default_rng seed of the split shuffle: [code] get_split_idx
    action_eps: float = 1e-5  # actions clamped to +-(1 - eps): [code] single_agent/actors.py epsilon, transform_actions
    elite_eval_rows: int | None = None  # [inferred] validation rows scored for elites (None = all; else the first n
    #                                     of the shuffled split); the code samples 50 x 256 rows per member
    eval_chunk: int = 2048  # [inferred] rows per forward when scoring (memory only, no effect on the result)
    lambda_g: float = 0.1  # weight of eps_g in the penalty: [code] train_rl_model_based.py reward_penalty_ensemble_std
    lambda_r: float = 0.05  # weight of eps_r: [code] train_rl_model_based.py reward_penalty_ensemble_reward_only_std
    lambda_aleatoric: float = 0.0  # MOPO's weight: [code] reward_penalty_gaussian_std (Figure 6 uses 1 or 5)
    threshold: float = 2.0  # l_eps, clamp of the 3 uncertainties: [code] ensemble_cov_norm_threshold; [paper] §3.1
    clip_to_dataset: bool = True  # clip s' and r to the dataset box: [code] clip_wm_to_dataset; [paper] §3.1
    reward_source: str = "sampled_member"  # [code] "sampled_member": the chosen elite's reward;
    #                                        [paper] §3.1 "ensemble_mean": "the mean predicted reward across the
    #                                        ensemble"
    done_vote: str = "agents_of_member"  # [code] "agents_of_member": round(mean over agents of the chosen elite's p);
    #                                      [paper] §3.1 "members": "a majority vote between the members of the
    #                                      ensemble" (each elite votes round(mean_i p_i); ties -> 0)

    def validate(self) -> "WorldModelConfig":
        name = type(self).__name__

        def choice(field_name: str, allowed: Sequence[str]) -> None:
            v = getattr(self, field_name)
            if v not in allowed:
                raise ValueError(f"{name}.{field_name}={v!r} is not allowed; choose one of {list(allowed)}")

        choice("reward_source", REWARD_SOURCES)
        choice("done_vote", DONE_VOTES)
        for f in ("n_members", "n_elites", "hidden", "t_layers", "r_layers", "mask_layers", "batch_size", "eval_chunk"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}.{f}={v!r} must be an integer >= 1")
        if isinstance(self.n_updates, bool) or not isinstance(self.n_updates, (int, np.integer)) or self.n_updates < 0:
            raise ValueError(f"{name}.n_updates={self.n_updates!r} must be an integer >= 0")
        if self.n_elites < 2:
            raise ValueError(f"{name}.n_elites={self.n_elites!r} must be >= 2 "
                             "(the unbiased covariance divides by E - 1)")
        if self.n_elites > self.n_members:
            raise ValueError(f"{name}.n_elites={self.n_elites!r} must be <= n_members={self.n_members!r}")
        if not self.log_std_min < self.log_std_max:
            raise ValueError(f"{name}.log_std_min={self.log_std_min!r} must be < log_std_max={self.log_std_max!r}")
        for f in ("lr", "grad_clip", "threshold"):  # threshold may be math.inf (the "no l_eps" ablation)
            if not getattr(self, f) > 0:
                raise ValueError(f"{name}.{f}={getattr(self, f)!r} must be > 0")
        for f in ("weight_decay", "lambda_g", "lambda_r", "lambda_aleatoric"):
            v = getattr(self, f)
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"{name}.{f}={v!r} must be a finite number >= 0")
        if not 0.0 < self.valid_fraction < 1.0:
            raise ValueError(f"{name}.valid_fraction={self.valid_fraction!r} must be in (0, 1)")
        if not 0.0 <= self.action_eps < 1.0:
            raise ValueError(f"{name}.action_eps={self.action_eps!r} must be in [0, 1)")
        r = self.elite_eval_rows
        if r is not None and (isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1):
            raise ValueError(f"{name}.elite_eval_rows={r!r} must be None (the whole split) or an integer >= 1")
        if not isinstance(self.clip_to_dataset, bool):
            raise ValueError(f"{name}.clip_to_dataset={self.clip_to_dataset!r} must be True or False")
        return self


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
            raise ValueError(f"obs_dims {self.obs_dims}, act_dims {self.act_dims} and n_actions {self.n_actions} "
                             "need one entry per agent")
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
        return torch.arange(width, device=device)[None, :] < torch.tensor(dims, device=device)[:, None]  # [N, W]

    def joint_obs(self, obs: Tensor) -> Tensor:
        """obs [..., N, O] (zero-padded) -> [..., Oj], agent-major."""
        self._check(obs, self.obs_pad, "obs")
        return obs[..., self._mask(self.obs_dims, self.obs_pad, obs.device)]

    def pad_obs(self, joint: Tensor) -> Tensor:
        """Inverse of :meth:`joint_obs`: [..., Oj] -> [..., N, O] with zeros in the padded columns."""
        if joint.shape[-1] != self.joint_obs_dim:
            raise ValueError(f"joint obs must have {self.joint_obs_dim} columns, got shape {tuple(joint.shape)}")
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
        return {"inputs": self.inputs[idx], "next_obs": self.next_obs[idx], "rewards": self.rewards[idx],
                "masks": self.masks[idx]}


# ----------------------------------------------------------------------------------------------
# named losses and the ensemble statistics
# ----------------------------------------------------------------------------------------------


def gaussian_nll(mean: Tensor, log_std: Tensor, target: Tensor) -> Tensor:
    """NLL = mean_{b, j} [log sigma_j + 0.5 z_j^2], z = (y - mu) / sigma, no 0.5 log 2 pi constant
    ([code] single_agent/world_models.py ``Gaussian.gaussian_log_prob``, reduction='mean',
    constant=False; its "var" is sigma and its clamp at -6 is a no-op). [M, B, D] -> [M]."""
    z = (target - mean) * torch.exp(-log_std)
    return (log_std + 0.5 * z.square()).flatten(1).mean(1)


def mask_bce(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy of the "not terminal" Bernoulli, mean over the batch and the agents
    ([code] multi_agent/worldmodel.py ``binary_cross_entropy(sigmoid(l), masks).mean()``; computed from
    the logits, equal wherever torch's log clamp at -100 is inactive). [M, B, N] -> [M]."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).mean(1)


def sample_l2_error(mean: Tensor, log_std: Tensor, target: Tensor, noise: Tensor) -> Tensor:
    """Elite score term: ||mu + sigma * noise - y||_2 over the output dims, per row, of a Gaussian
    SAMPLE ([code] multi_agent/worldmodel.py ``mean_l2_distance(T_samples, ...)``). [M, B, D] -> [M, B]."""
    return torch.linalg.vector_norm(mean + log_std.exp() * noise - target, dim=-1)


def epistemic_general(mean_t: Tensor, mean_r: Tensor) -> Tensor:
    """eps_g = ||Cov||_F of the unbiased covariance across the E elites (axis 0) of the vector
    x = [mu_T, mu_R] ([paper] §3.1; [code] worldmodel_ensemble.py ``batch_cov``, ``batch_frobenius_norm``).
    With D the deviations [E, D] of one transition, ||D^T D||_F = ||D D^T||_F, so we form the E x E Gram
    matrix instead of the D x D covariance. mean_t [E, *, Oj], mean_r [E, *, N] -> [*]."""
    x = torch.cat([mean_t, mean_r], dim=-1)  # [E, *, D]
    dev = x - x.mean(0, keepdim=True)
    gram = torch.einsum("e...d,f...d->...ef", dev, dev)  # [*, E, E]
    return torch.linalg.vector_norm(gram, dim=(-2, -1)) / (x.shape[0] - 1)


def epistemic_reward(mean_r: Tensor) -> Tensor:
    """eps_r = unbiased variance across the elites (axis 0) of the agent-mean reward ([paper] §3.1;
    [code] worldmodel_ensemble.py ``torch.var(mean_rewards, unbiased=True)``). [E, *, N] -> [*]."""
    return mean_r.mean(-1).var(dim=0, unbiased=True)


def aleatoric_norm(log_std_t: Tensor, log_std_r: Tensor) -> Tensor:
    """MOPO's penalty signal max_e ||Sigma_e||_F = max_e sqrt(sum_j sigma_{e,j}^4) over the T and R dims
    ([code] worldmodel_ensemble.py ``model_max_cov_norm``). [E, *, Oj], [E, *, N] -> [*]."""
    var = torch.cat([log_std_t, log_std_r], dim=-1).mul(2.0).exp()  # sigma^2 [E, *, D]
    return torch.linalg.vector_norm(var, dim=-1).amax(0)


def reward_penalty(eps_g: Tensor, eps_r: Tensor, aleatoric: Tensor, cfg: WorldModelConfig) -> Tensor:
    """lambda_aleatoric * aleatoric + lambda_g * eps_g + lambda_r * eps_r, on the clamped signals
    ([code] train_rl_model_based.py ``correct_rewards``; [paper] §3.2)."""
    return cfg.lambda_aleatoric * aleatoric + cfg.lambda_g * eps_g + cfg.lambda_r * eps_r


def weights_sha256(model_state: Mapping[str, Tensor]) -> str:
    """sha256 over (name, dtype, shape, raw bytes) of every tensor, names sorted: equal weights give
    equal digests whatever torch's pickle format does."""
    h = hashlib.sha256()
    for name in sorted(model_state):
        t = model_state[name].detach().to("cpu").contiguous()
        h.update(f"{name}|{str(t.dtype)}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# networks
# ----------------------------------------------------------------------------------------------


def _members_forward(mlp: EnsembleMLP, idx: Tensor, x: Tensor) -> Tensor:
    """``mlp`` (ReLU hidden layers, no input norm) restricted to the members ``idx`` [K']:
    x [K', B, I] -> [K', B, O]."""
    h = x
    last = len(mlp.layers) - 1
    for i, layer in enumerate(mlp.layers):
        h = torch.baddbmm(layer.bias.index_select(0, idx), h, layer.weight.index_select(0, idx))
        if i < last:
            h = torch.relu(h)
    return h


class WMHeads(nn.Module):
    """The T, R and mask heads of M members; forward(x [M, *, I]) ->
    (mu_T, log_sigma_T [M, *, Oj], mu_R, log_sigma_R [M, *, N], mask logits [M, *, N])."""

    def __init__(self, n_members: int, in_dim: int, obs_dim: int, n_agents: int, cfg: WorldModelConfig):
        super().__init__()
        self.n_members = n_members
        bounds = (cfg.log_std_min, cfg.log_std_max)
        self.T = GaussianEnsembleModel(n_members, in_dim, obs_dim, cfg.hidden, cfg.t_layers, log_std_bounds=bounds)
        self.R = GaussianEnsembleModel(n_members, in_dim, n_agents, cfg.hidden, cfg.r_layers, log_std_bounds=bounds)
        self.mask = EnsembleMLP(n_members, in_dim, n_agents, (cfg.hidden,) * cfg.mask_layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        mean_t, log_std_t = self.T(x)
        mean_r, log_std_r = self.R(x)
        return mean_t, log_std_t, mean_r, log_std_r, self.mask(x)

    def forward_members(self, idx: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """The same outputs for the members ``idx`` [K'] only, x [K', B, I] (elites, one group)."""
        out = []
        for head in (self.T, self.R):
            mean, log_std = _members_forward(head.net, idx, x).chunk(2, dim=-1)
            out += [mean, log_std.clamp(head.log_std_min, head.log_std_max)]
        return (*out, _members_forward(self.mask, idx, x))


# ----------------------------------------------------------------------------------------------
# the ensemble
# ----------------------------------------------------------------------------------------------

_BOX_KEYS = ("obs_low", "obs_high", "rew_low", "rew_high")


class WorldModelEnsemble:
    """G ensembles of K = ``cfg.n_members`` world models on one member axis (M = G * K).

    ``WorldModelEnsemble(layout, cfg, seeds=(0,))`` or ``WorldModelEnsemble.for_datasets(datasets, cfg,
    seeds)``. Group g's networks are initialised from ``seeds[g]`` alone (seed before building), so a
    group equals the ensemble built alone with that seed. Training minibatches come from one
    torch.Generator (``self.gen``); elite selection uses its own generator, so it never moves the
    training stream. Typical use::

        wm = WorldModelEnsemble.for_datasets(dataset, cfg, seeds=[0])
        wm.fit(dataset)                      # split, cfg.n_updates updates, elites on the validation split
        out = wm.sample(obs, actions, gen)   # obs [B, N, O], actions [B, N, A] (Dataset layout)
        record["world_model_sha256"] = wm.checksum()
    """

    def __init__(self, layout: JointLayout, cfg: WorldModelConfig | None = None, seeds: Sequence[int] = (0,),
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        self.cfg = cfg = (cfg or WorldModelConfig()).validate()
        if layout.action_eps != cfg.action_eps:
            layout = JointLayout(layout.obs_dims, layout.act_dims, layout.n_actions, cfg.action_eps)
        self.layout = layout
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise ValueError("seeds must name at least one group")
        self.n_groups = G = len(self.seeds)
        self.n_per_group = K = cfg.n_members
        self.n_members = M = G * K
        self.device, self.dtype = torch.device(device), dtype
        dims = (layout.in_dim, layout.joint_obs_dim, layout.n_agents)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seeds[0])
            self.heads = WMHeads(M, *dims, cfg)  # with one group: already the lone ensemble of seeds[0]
            for g, s in enumerate(self.seeds if G > 1 else []):  # member (g, k) from seeds[g] only
                torch.manual_seed(s)
                copy_members(self.heads, WMHeads(K, *dims, cfg), g * K)
        self.heads.to(device=self.device, dtype=dtype).train()
        self.optim = torch.optim.Adam(self.heads.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(_derived_seed(self.seeds, 0))
        self.step = 0
        # elites [G, E]: member index within the group, -1 until selected
        self.elites = torch.full((G, cfg.n_elites), -1, dtype=torch.long, device=self.device)
        self.elite_scores = torch.full((M,), math.nan, dtype=dtype, device=self.device)  # [M]
        n, o = layout.n_agents, layout.obs_pad  # box: +-inf until set (clipping by an unset box raises)
        self.box = {
            "obs_low": torch.full((G, n, o), -math.inf, dtype=dtype, device=self.device),
            "obs_high": torch.full((G, n, o), math.inf, dtype=dtype, device=self.device),
            "rew_low": torch.full((G, n), -math.inf, dtype=dtype, device=self.device),
            "rew_high": torch.full((G, n), math.inf, dtype=dtype, device=self.device),
        }

    @classmethod
    def for_datasets(cls, datasets, cfg: WorldModelConfig | None = None, seeds: Sequence[int] | None = None,
                     **kw) -> "WorldModelEnsemble":
        """One group per dataset (or one dataset shared by all ``seeds``); the layout comes from the
        datasets' cards (all must agree) and the clipping box from each dataset."""
        cfg = (cfg or WorldModelConfig()).validate()
        ds = _dataset_list(datasets, seeds)
        seeds = list(range(len(ds))) if seeds is None else list(seeds)
        layout = JointLayout.from_dataset(ds[0], cfg.action_eps)
        for d in ds[1:]:
            if JointLayout.from_dataset(d, cfg.action_eps) != layout:
                raise ValueError(f"datasets {ds[0].id} and {d.id} have different layouts: one ensemble group "
                                 "needs the same obs_dims, act_dims and n_actions")
        wm = cls(layout, cfg, seeds, **kw)
        wm.set_box(ds)
        return wm

    # ---- data ---------------------------------------------------------------------------------
    def set_box(self, datasets) -> None:
        """The clipping box of each group from its dataset (:func:`dataset_box`)."""
        ds = _dataset_list(datasets, self.seeds)
        for g, d in enumerate(ds):
            if JointLayout.from_dataset(d, self.cfg.action_eps) != self.layout:
                raise ValueError(f"dataset {d.id} does not have this ensemble's layout {self.layout}")
            for k, v in dataset_box(d).items():
                self.box[k][g] = torch.as_tensor(v, dtype=self.dtype, device=self.device)

    def prepare_data(self, datasets) -> WMData:
        """Model rows of each group's dataset (or one shared dataset) and the code's train/valid split."""
        ds = _dataset_list(datasets, self.seeds)
        parts, train, valid, offset = [], [], [], 0
        for d in ds:
            if JointLayout.from_dataset(d, self.cfg.action_eps) != self.layout:
                raise ValueError(f"dataset {d.id} does not have this ensemble's layout {self.layout}")
            t = dataset_tensors(d, self.layout, self.device, self.dtype)
            tr, va = split_indices(len(d), self.cfg.valid_fraction, self.cfg.split_seed)
            if len(tr) == 0 or len(va) == 0:
                raise ValueError(f"dataset {d.id} ({len(d)} rows) is too small for a validation split of "
                                 f"{self.cfg.valid_fraction}")
            train.append(torch.as_tensor(tr + offset, device=self.device))
            valid.append(torch.as_tensor(va + offset, device=self.device))
            parts.append(t)
            offset += len(d)
        cat = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return WMData(**cat, train=train, valid=valid)

    def sample_batch(self, data: WMData, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """An independent minibatch per member, uniform with replacement from its group's train rows
        ([code] worldmodel_ensemble.py ``update``: one ``dataset.sample`` per member): inputs [M, B, I],
        next_obs [M, B, Oj], rewards / masks [M, B, N]."""
        g = self.gen if generator is None else generator
        K, B = self.n_per_group, self.cfg.batch_size
        rows = torch.cat([tr[torch.randint(len(tr), (K, B), generator=g, device=g.device).to(tr.device)]
                          for tr in data.train])  # [M, B]
        return data.rows(rows)

    # ---- update -------------------------------------------------------------------------------
    def losses(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Per-member losses [M]: nll_t, nll_r, bce and loss = nll_t + nll_r + bce ([paper] §3.1; [code]
        multi_agent/worldmodel.py ``update``, loss_weights 1, 1, 1)."""
        mean_t, log_std_t, mean_r, log_std_r, logits = self.heads(batch["inputs"])  # [M, B, Oj], ..., [M, B, N]
        nll_t = gaussian_nll(mean_t, log_std_t, batch["next_obs"])
        nll_r = gaussian_nll(mean_r, log_std_r, batch["rewards"])
        bce = mask_bce(logits, batch["masks"])
        return {"loss": nll_t + nll_r + bce, "nll_t": nll_t, "nll_r": nll_r, "bce": bce}

    def update(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """One Adam step of every member on its own rows of ``batch`` ([M, B, ...]); the summed loss gives
        each member its own gradient, clipped per member. Returns detached [M] metrics (no host sync)."""
        self.heads.train()
        out = self.losses(batch)
        self.optim.zero_grad(set_to_none=True)
        out["loss"].sum().backward()
        grad_norm = clip_grad_norm_(self.heads.parameters(), self.cfg.grad_clip, self.n_members)
        self.optim.step()
        self.step += 1
        return {**{k: v.detach() for k, v in out.items()}, "grad_norm": grad_norm}

    def train(self, data: WMData, n_updates: int | None = None, log_every: int = 100) -> list[dict[str, Any]]:
        """``n_updates`` (default cfg.n_updates) updates; returns the metrics of every ``log_every``-th
        update and of the last one ({"step": int, name: [M] tensor})."""
        n = self.cfg.n_updates if n_updates is None else int(n_updates)
        history = []
        for i in range(n):
            m = self.update(self.sample_batch(data))
            if (i + 1) % log_every == 0 or i == n - 1:
                history.append({"step": self.step, **m})
        return history

    def fit(self, datasets, log_every: int = 100, partial: str | os.PathLike | None = None,
            save_every: int = 500, on_updates: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
        """Split, train cfg.n_updates updates, then select the elites on the validation split.

        ``partial``: a file that makes the training resumable. The full state (:meth:`state_dict`: weights,
        Adam, the minibatch generator, the step) is written there atomically every ``save_every`` updates,
        and a fit that finds the file resumes from it; the resumed ensemble equals the uninterrupted one
        bit for bit (the split is a fixed permutation and every minibatch comes from ``self.gen``). The
        caller removes the file once the finished ensemble is stored. A file from another configuration,
        layout or seed set is an error (:meth:`load_state_dict`). ``on_updates(n)`` is called after
        every chunk of updates with the number of updates just done (a progress bar's ``update``);
        ``history`` holds the metrics of this call's updates only."""
        if save_every < 1:
            raise ValueError(f"save_every={save_every!r} must be >= 1")
        data = self.prepare_data(datasets)
        path = None if partial is None else Path(partial)
        if path is not None and path.exists():
            self.load_state_dict(torch.load(path, map_location=self.device, weights_only=False))
            if on_updates is not None and self.step:
                on_updates(self.step)
        total, history = self.cfg.n_updates, []
        while self.step < total:
            n = min(total - self.step, save_every if path is not None else total - self.step)
            history += self.train(data, n_updates=n, log_every=log_every)
            if path is not None and self.step < total:
                atomic_torch_save(self.state_dict(), path)
            if on_updates is not None:
                on_updates(n)
        self.select_elites(data)
        return history

    # ---- elites -------------------------------------------------------------------------------
    @torch.no_grad()
    def validation_scores(self, data: WMData, generator: torch.Generator | None = None) -> Tensor:
        """score [M] = 0.5 (mean_b ||T_sample - s'|| + mean_b ||R_sample - r||) over group g's
        validation rows (the first ``cfg.elite_eval_rows`` of them if set), the same rows for its K
        members ([code] worldmodel_ensemble.py ``evaluate``: mean of T_dist_valid and R_dist_valid)."""
        gen = generator if generator is not None else self._eval_generator()
        K, C = self.n_per_group, self.cfg.eval_chunk
        scores = []
        for g, va in enumerate(data.valid):
            if self.cfg.elite_eval_rows is not None:
                va = va[: self.cfg.elite_eval_rows]
            idx = torch.arange(g * K, (g + 1) * K, device=self.device)
            t_sum = torch.zeros(K, dtype=self.dtype, device=self.device)
            r_sum = torch.zeros_like(t_sum)
            for c in range(0, len(va), C):
                rows = data.rows(va[c:c + C])  # [C, F]
                x = rows["inputs"].unsqueeze(0).expand(K, -1, -1)  # [K, C, I]
                mean_t, log_std_t, mean_r, log_std_r, _ = self.heads.forward_members(idx, x)
                noise_t = _randn(mean_t.shape, gen, mean_t)
                noise_r = _randn(mean_r.shape, gen, mean_r)
                t_sum += sample_l2_error(mean_t, log_std_t, rows["next_obs"], noise_t).sum(1)
                r_sum += sample_l2_error(mean_r, log_std_r, rows["rewards"], noise_r).sum(1)
            scores.append(0.5 * (t_sum + r_sum) / len(va))
        return torch.cat(scores)

    def select_elites(self, data: WMData, generator: torch.Generator | None = None) -> Tensor:
        """Keep the cfg.n_elites members of each group with the lowest validation score ([paper] §3.1;
        [code] ``top_wms`` = argsort of the scores). Returns elites [G, E] (member index in the group)."""
        scores = self.validation_scores(data, generator)
        self.elite_scores = scores
        order = torch.argsort(scores.view(self.n_groups, self.n_per_group), dim=1, stable=True)
        self.set_elites(order[:, : self.cfg.n_elites])
        return self.elites

    def set_elites(self, elites) -> None:
        """Elites [G, E] (or [E] for one group), each a member index in 0..K-1, distinct per group."""
        e = torch.as_tensor(elites, dtype=torch.long, device=self.device).reshape(self.n_groups, -1)
        if e.shape[1] != self.cfg.n_elites:
            raise ValueError(f"need {self.cfg.n_elites} elites per group, got {tuple(e.shape)}")
        if bool((e < 0).any() or (e >= self.n_per_group).any()):
            raise ValueError(f"elites must lie in 0..{self.n_per_group - 1}, got {e.tolist()}")
        if any(len(set(row)) != len(row) for row in e.tolist()):
            raise ValueError(f"elites must be distinct within a group, got {e.tolist()}")
        self.elites = e.clone()

    # ---- sampling -----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, obs: Tensor, actions: Tensor, generator: torch.Generator | None = None,
               choice: Tensor | None = None, groups: Tensor | None = None) -> dict[str, Tensor]:
        """One synthetic step for a batch of joint (o, a) on the elites ([paper] §3.1; [code]
        worldmodel_ensemble.py ``sample`` + train_rl_model_based.py ``clip_to_dataset``, ``correct_rewards``).

        obs [G, B, N, O] and actions [G, B, N, A] in the Dataset layout (padded; discrete: the index in
        [..., 0]); with one group the G axis may be left out (and is then left out of the outputs).
        ``generator`` draws the elite of each transition (default: the ensemble's own); ``choice`` [G, B] (long, in
        [0, n_elites)) gives the elite slots instead, drawn by the caller (several runs' streams side by side:
        moma_ppo.generate_rollouts with ``wm_gens``), and nothing is drawn. ``groups`` [G'] (long): block g' of
        obs [G', B, N, O] goes through group groups[g'] (its elites and box; blocks may share a group: the runs of a
        stack, each on its cell's ensemble); the outputs then lead with G'. Default: block g = group g.

        Returns (tensors, [G,] B leading):
          next_obs [B, N, O]      the chosen elite's mean next joint obs, split per agent, re-padded, clipped
          rewards [B, N]          penalized reward r~ (the same for every agent), after clipping
          rewards_clipped [B, N]  r-bar after clipping, before the penalty
          masks [B, N]            1 = not terminal (the same for every agent)
          penalty [B]             lambda_al * aleatoric + lambda_g * eps_g + lambda_r * eps_r (clamped signals)
          eps_g, eps_r, aleatoric [B]              clamped at cfg.threshold (what the penalty uses)
          eps_g_raw, eps_r_raw, aleatoric_raw [B]  unclamped (for the caller's adaptive rollout cut)
          member [B] long         the chosen elite's member index in its group
        """
        cfg, G, E = self.cfg, self.n_groups, self.cfg.n_elites
        elites, box = self.elites, self.box
        if groups is not None:  # one block per entry of groups, each on its group's elites and box
            groups = torch.as_tensor(groups, device=self.device).long().reshape(-1)
            if bool((groups < 0).any()) or bool((groups >= G).any()):
                raise ValueError(f"groups must name groups in [0, {G}), got {groups.tolist()}")
            elites, box = elites[groups], {k: v[groups] for k, v in box.items()}
            gid, G = groups, int(groups.shape[0])
        else:
            gid = torch.arange(G, device=self.device)
        if bool((self.elites < 0).any()):
            raise RuntimeError("no elites yet: call select_elites (or fit, or set_elites) before sample")
        if cfg.clip_to_dataset and not all(bool(torch.isfinite(v).all()) for v in box.values()):
            raise RuntimeError("clip_to_dataset=True but the dataset box is not set: call set_box(datasets)")
        squeeze = obs.dim() == 3
        if squeeze:
            if G != 1:
                raise ValueError(f"this ensemble has {G} groups: obs must be [G, B, N, O], got {tuple(obs.shape)}")
            obs, actions = obs.unsqueeze(0), actions.unsqueeze(0)
        if obs.dim() != 4 or obs.shape[0] != G or actions.shape[:2] != obs.shape[:2]:
            raise ValueError(f"obs [G={G}, B, N, O] and actions [G, B, N, A] expected, got {tuple(obs.shape)} "
                             f"and {tuple(actions.shape)}")
        self.heads.eval()
        x = self.layout.inputs(obs.to(self.device, self.dtype), actions.to(self.device, self.dtype))  # [G, B, I]
        B = x.shape[1]
        idx = (gid[:, None] * self.n_per_group + elites).reshape(-1)  # [G*E]
        xe = x.unsqueeze(1).expand(G, E, B, x.shape[-1]).reshape(G * E, B, -1)  # [G*E, B, I]
        outs = self.heads.forward_members(idx, xe)
        # [E, G, B, F] each: elites first, as the statistics reduce axis 0
        mean_t, log_std_t, mean_r, log_std_r, logits = (o.reshape(G, E, B, -1).transpose(0, 1) for o in outs)

        eps_g_raw = epistemic_general(mean_t, mean_r)  # [G, B]
        eps_r_raw = epistemic_reward(mean_r)  # [G, B]
        alea_raw = aleatoric_norm(log_std_t, log_std_r)  # [G, B]
        eps_g, eps_r, alea = (v.clamp_max(cfg.threshold) for v in (eps_g_raw, eps_r_raw, alea_raw))

        if choice is None:
            gen = self.gen if generator is None else generator
            choice = torch.randint(E, (G, B), generator=gen, device=gen.device).to(self.device)  # [G, B] elite slot
        else:
            if generator is not None:
                raise ValueError("give the elite slots (choice) or a generator to draw them, not both")
            choice = choice.to(self.device).long().reshape(G, B) if choice.numel() == G * B else choice
            if choice.shape != (G, B) or bool((choice < 0).any()) or bool((choice >= E).any()):
                raise ValueError(f"choice must be [G={G}, B={B}] elite slots in [0, {E}), got shape "
                                 f"{tuple(choice.shape)}")
        pick = choice[None, :, :, None]  # [1, G, B, 1]

        def chosen(v: Tensor) -> Tensor:  # [E, G, B, F] -> [G, B, F]
            return v.gather(0, pick.expand(1, G, B, v.shape[-1])).squeeze(0)

        next_obs = self.layout.pad_obs(chosen(mean_t))  # [G, B, N, O]
        r_member = mean_r.mean(-1)  # [E, G, B] agent-mean reward of each elite
        if cfg.reward_source == "sampled_member":
            r_bar = r_member.gather(0, choice[None]).squeeze(0)  # [G, B]
        else:  # "ensemble_mean"
            r_bar = r_member.mean(0)
        p = torch.sigmoid(logits)  # [E, G, B, N]
        if cfg.done_vote == "agents_of_member":
            mask = torch.round(chosen(p).mean(-1))  # [G, B]
        else:  # "members": each elite votes round(mean_i p_i), the majority wins (ties -> 0, torch.round)
            mask = torch.round(torch.round(p.mean(-1)).mean(0))
        n = self.layout.n_agents
        rewards = r_bar[..., None].expand(G, B, n)  # [G, B, N]
        if cfg.clip_to_dataset:
            next_obs = torch.clamp(next_obs, box["obs_low"][:, None], box["obs_high"][:, None])
            rewards = torch.clamp(rewards, box["rew_low"][:, None], box["rew_high"][:, None])
        penalty = reward_penalty(eps_g, eps_r, alea, cfg)  # [G, B]
        out = {
            "next_obs": next_obs,
            "rewards": rewards - penalty[..., None],
            "rewards_clipped": rewards.contiguous(),
            "masks": mask[..., None].expand(G, B, n).contiguous(),
            "penalty": penalty,
            "eps_g": eps_g, "eps_r": eps_r, "aleatoric": alea,
            "eps_g_raw": eps_g_raw, "eps_r_raw": eps_r_raw, "aleatoric_raw": alea_raw,
            "member": elites.gather(1, choice),
        }
        return {k: v.squeeze(0) for k, v in out.items()} if squeeze else out

    # ---- cells as members ---------------------------------------------------------------------
    @classmethod
    def stack(cls, ensembles: Sequence["WorldModelEnsemble"]) -> "WorldModelEnsemble":
        """One ensemble whose groups are those of ``ensembles`` side by side (e.g. the trained ensembles of
        several MOMA-PPO cells), for ``sample`` only: heads, elites, elite scores and boxes copied in (no optimizer
        state, no training stream). Config, layout, dtype and device must agree."""
        first = ensembles[0]
        bad = [k for k, e in enumerate(ensembles) if (asdict(e.cfg), e.layout, e.dtype, e.device)
               != (asdict(first.cfg), first.layout, first.dtype, first.device)]
        if bad:
            raise ValueError(f"WorldModelEnsemble.stack: ensembles {bad} differ from ensemble 0 in config, layout, "
                             "dtype or device")
        big = cls(first.layout, first.cfg, [s for e in ensembles for s in e.seeds], device=first.device,
                  dtype=first.dtype)
        with torch.no_grad():
            for name, v in big.heads.state_dict().items():
                v.copy_(torch.cat([e.heads.state_dict()[name] for e in ensembles]))
        big.elites = torch.cat([e.elites for e in ensembles]).clone()
        big.elite_scores = torch.cat([e.elite_scores for e in ensembles]).clone()
        big.box = {k: torch.cat([e.box[k] for e in ensembles]).clone() for k in _BOX_KEYS}
        return big

    # ---- checkpoints --------------------------------------------------------------------------
    def model_state(self) -> dict[str, Tensor]:
        """Everything ``sample`` depends on: the heads' weights, the elites and the clipping box."""
        state = {f"heads.{k}": v for k, v in self.heads.state_dict().items()}
        state["elites"] = self.elites
        state.update({f"box.{k}": v for k, v in self.box.items()})
        return state

    def checksum(self) -> str:
        """sha256 of :meth:`model_state` (:func:`weights_sha256`): names the ensemble in records."""
        return weights_sha256(self.model_state())

    def state_dict(self) -> dict[str, Any]:
        return {
            "cfg": asdict(self.cfg), "layout": asdict(self.layout), "seeds": list(self.seeds), "step": self.step,
            "model": {k: v.detach().clone() for k, v in self.model_state().items()},
            "elite_scores": self.elite_scores.detach().clone(),
            "optim": self.optim.state_dict(), "rng": self.gen.get_state(), "sha256": self.checksum(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = {**asdict(WorldModelConfig()), **state["cfg"]}
        if saved != asdict(self.cfg):
            diff = sorted(f.name for f in fields(WorldModelConfig) if saved.get(f.name) != getattr(self.cfg, f.name))
            raise ValueError(f"checkpoint config differs from this ensemble's in {diff}")
        layout = JointLayout(**state["layout"])
        if layout != self.layout or list(state["seeds"]) != self.seeds:
            raise ValueError(f"checkpoint layout {layout} / seeds {state['seeds']} differ from this ensemble's "
                             f"{self.layout} / {self.seeds}")
        model = state["model"]
        if "sha256" in state and weights_sha256(model) != state["sha256"]:
            raise ValueError("checkpoint weights do not match their sha256: the file is corrupt")
        self.heads.load_state_dict({k[len("heads."):]: v for k, v in model.items() if k.startswith("heads.")})
        if bool((model["elites"] >= 0).all()):
            self.set_elites(model["elites"])
        else:
            self.elites.fill_(-1)
        for k in _BOX_KEYS:
            self.box[k] = model[f"box.{k}"].to(device=self.device, dtype=self.dtype).clone()
        self.elite_scores = state["elite_scores"].to(device=self.device, dtype=self.dtype).clone()
        self.optim.load_state_dict(state["optim"])
        restore_generator(self.gen, state["rng"], int(self.seeds[0]), len(self.seeds), int(state["step"]))
        self.step = int(state["step"])

    # ---- helpers ------------------------------------------------------------------------------
    def _eval_generator(self) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(_derived_seed(self.seeds, 1))
        return g


def _dataset_list(datasets, seeds: Sequence[int] | None) -> list:
    """A list of datasets, one per group; a single dataset is shared by all groups."""
    if isinstance(datasets, (list, tuple)):
        ds = list(datasets)
        if seeds is not None and len(ds) != len(seeds):
            raise ValueError(f"{len(ds)} datasets for {len(seeds)} groups (seeds {list(seeds)})")
        return ds
    return [datasets] * (1 if seeds is None else len(seeds))


def _derived_seed(seeds: Sequence[int], stream: int) -> int:
    """A 63-bit torch seed for one named stream (0: training batches, 1: elite scoring) of these seeds."""
    return int(np.random.SeedSequence([*seeds, stream]).generate_state(1, np.uint64)[0] >> 1)


def _randn(shape, generator: torch.Generator, like: Tensor) -> Tensor:
    return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)
