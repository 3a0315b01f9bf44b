"""Policies, critics and models built from the batched layers of :mod:`common.networks.nets`.

Every head holds all M members (seeds x agents) and maps ``[M, *, in]`` to ``[M, *, out]`` as the
layers do. Axis vocabulary: M members, B batch, K samples per state, O obs dim, A action dim,
L latent dim.

Architectures follow each paper's official code:
- OMAR (ling-pan/OMAR ``utils/networks.py``, docs/omar_official_code.md#hyperparameters): optional
  BatchNorm1d on the input, Linear-ReLU-Linear-ReLU-Linear, actor tanh output with last-layer weights
  U(+-3e-3) (bias keeps the default init); the twin critic shares one input BatchNorm between its two
  Q heads (``TwinCritic``).
- CAST-BCQ / BCQ (JinmingM/CAST-BCQ ``agents/CAST.py``): VAE encoder 750-750 on (obs, a) -> mean,
  log_std clamped [-4, 15]; decoder (obs, z) 750-750 -> tanh * max_action; latent 2 x act_dim; decode
  samples z ~ N(0, 1) clamped to +-z_clip (``VAE``).
- MOMA-PPO (PBarde/moma-ppo): world-model Gaussian heads with log_std clamped [-6, 2], 4 hidden x
  1024 (``common.networks.gaussian.GaussianEnsembleModel``); PPO Gaussian policy with state-dependent
  log_std, heads scaled x0.1 with zero bias, no squashing (``GaussianActor(squash=False, head_init_scale=0.1)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.networks.batchnorm import EnsembleBatchNorm1d
from common.networks.gaussian import LOG_SQRT_2PI, gaussian_log_prob, tanh_log_det_jacobian
from common.networks.nets import Activation, EnsembleLinear, EnsembleMLP

__all__ = [
    "DeterministicActor",
    "PerturbationActor",
    "GaussianActor",
    "CategoricalActor",
    "TwinCritic",
    "VAE",
]


# ----------------------------------------------------------------------------------------------
# Actors
# ----------------------------------------------------------------------------------------------


class DeterministicActor(nn.Module):
    """a = max_action * tanh(MLP(obs)) (TD3 / OMAR). forward(obs [M, *, O]) -> [M, *, A].

    OMAR passes ``input_norm=True, last_layer_init=3e-3``.
    """

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (64, 64),
        max_action: float = 1.0,
        input_norm: bool = False,
        last_layer_init: float | Callable[[EnsembleLinear], object] | None = None,
        activation: Activation = nn.ReLU,
    ):
        super().__init__()
        self.n_members = n_members
        self.max_action = float(max_action)
        self.net = EnsembleMLP(
            n_members,
            obs_dim,
            act_dim,
            hidden,
            activation=activation,
            input_norm=input_norm,
            output_activation=torch.tanh,
            last_layer_init=last_layer_init,
        )

    def forward(self, obs: Tensor) -> Tensor:
        a = self.net(obs)  # [M, *, A] in (-1, 1)
        return a if self.max_action == 1.0 else a * self.max_action


class PerturbationActor(nn.Module):
    """BCQ's perturbation model xi (Fujimoto et al., ICML 2019, Sec. 4; JinmingM/CAST-BCQ ``agents/BCQ.py``):
    xi(o, a) = clip(a + phi * max_action * tanh(MLP([o, a])), -max_action, max_action).

    forward(obs [M, *, O], act [M, *, A]) -> [M, *, A]; the output lies within phi * max_action of ``act``.
    BCQ uses phi = 0.05, CAST-BCQ's code 0.001, hidden (400, 300).
    """

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (400, 300),
        phi: float = 0.05,
        max_action: float = 1.0,
        activation: Activation = nn.ReLU,
    ):
        super().__init__()
        if not phi >= 0.0:
            raise ValueError(f"phi={phi!r} must be >= 0 (BCQ 0.05, CAST-BCQ 0.001)")
        self.n_members = n_members
        self.phi = float(phi)
        self.max_action = float(max_action)
        self.net = EnsembleMLP(
            n_members, obs_dim + act_dim, act_dim, hidden, activation=activation, output_activation=torch.tanh
        )

    def forward(self, obs: Tensor, act: Tensor) -> Tensor:
        delta = self.phi * self.max_action * self.net(torch.cat([obs, act], dim=-1))  # [M, *, A]
        return (act + delta).clamp(-self.max_action, self.max_action)


class GaussianActor(nn.Module):
    """Diagonal Gaussian policy with state-dependent log_std (one trunk, one head for mean|log_std).

    squash=True: SAC-style a = max_action * tanh(u), u ~ N(mean, std), log-prob with the tanh
    change-of-variables correction. squash=False: PPO-style unbounded a = u (MOMA-PPO's
    ``ppo_actor_squashing='none'``). log_std is clamped to ``log_std_bounds``.
    head_init_scale: if set, head weights *= scale and head bias = 0 (MOMA-PPO: 0.1).

    forward(obs [M, *, O]) -> (mean [M, *, A], log_std [M, *, A]), before squashing.
    """

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (256, 256),
        squash: bool = True,
        max_action: float = 1.0,
        log_std_bounds: tuple[float, float] = (-20.0, 2.0),
        head_init_scale: float | None = None,
        activation: Activation = nn.ReLU,
        input_norm: bool = False,
    ):
        super().__init__()
        if len(hidden) < 1:
            raise ValueError("GaussianActor needs at least one hidden layer")
        self.n_members = n_members
        self.act_dim = act_dim
        self.squash = squash
        self.max_action = float(max_action)
        self.log_std_min, self.log_std_max = (float(b) for b in log_std_bounds)
        self.trunk = EnsembleMLP(
            n_members,
            obs_dim,
            hidden[-1],
            hidden[:-1],
            activation=activation,
            input_norm=input_norm,
            output_activation=activation,
        )
        self.head = EnsembleLinear(n_members, hidden[-1], 2 * act_dim)  # [mean | log_std]
        if head_init_scale is not None:
            self.head.scale_(head_init_scale, 0.0)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        out = self.head(self.trunk(obs))  # [M, *, 2A]
        mean, log_std = out.chunk(2, dim=-1)  # [M, *, A] each
        return mean, log_std.clamp(self.log_std_min, self.log_std_max)

    def _squash(self, u: Tensor, logp: Tensor) -> tuple[Tensor, Tensor]:
        """u [M,*,A], logp(u) [M,*] -> action, logp(action)."""
        a = torch.tanh(u)
        logp = logp - tanh_log_det_jacobian(u)
        if self.max_action != 1.0:
            a = a * self.max_action
            logp = logp - self.act_dim * math.log(self.max_action)
        return a, logp

    def rsample(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Reparameterised sample: (action [M, *, A], log_prob [M, *])."""
        mean, log_std = self(obs)
        eps = torch.randn_like(mean)
        u = mean + eps * log_std.exp()  # [M, *, A]
        logp = (-0.5 * eps.square() - log_std - LOG_SQRT_2PI).sum(-1)  # [M, *]
        return self._squash(u, logp) if self.squash else (u, logp)

    def _log_prob(self, mean: Tensor, log_std: Tensor, action: Tensor) -> Tensor:
        if not self.squash:
            return gaussian_log_prob(mean, log_std, action)
        y = (action / self.max_action).clamp(-1.0 + 1e-6, 1.0 - 1e-6)
        u = torch.atanh(y)
        logp = gaussian_log_prob(mean, log_std, u) - tanh_log_det_jacobian(u)
        return logp - self.act_dim * math.log(self.max_action) if self.max_action != 1.0 else logp

    def log_prob(self, obs: Tensor, action: Tensor) -> Tensor:
        """log pi(action | obs) summed over action dims: [M, *]. Squashed actions are clipped to
        +-(1 - 1e-6) * max_action before atanh."""
        mean, log_std = self(obs)
        return self._log_prob(mean, log_std, action)

    def entropy(self, obs: Tensor) -> Tensor:
        """Entropy of the (pre-squash) Gaussian, summed over action dims: [M, *]. Exact for
        squash=False; for squash=True it is the base distribution's (no closed form after tanh)."""
        _, log_std = self(obs)
        return (0.5 + LOG_SQRT_2PI + log_std).sum(-1)

    def evaluate(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """(log_prob [M, *], entropy [M, *]) from one forward pass (PPO's ratio and bonus)."""
        mean, log_std = self(obs)
        return self._log_prob(mean, log_std, action), (0.5 + LOG_SQRT_2PI + log_std).sum(-1)

    def mode(self, obs: Tensor) -> Tensor:
        """Deterministic action: max_action * tanh(mean), or the mean if unsquashed. [M, *, A]."""
        mean, _ = self(obs)
        if not self.squash:
            return mean
        a = torch.tanh(mean)
        return a if self.max_action == 1.0 else a * self.max_action

    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        return self.mode(obs) if deterministic else self.rsample(obs)[0]


class CategoricalActor(nn.Module):
    """Categorical policy over n_actions for discrete games. forward(obs [M, *, O]) -> logits [M, *, n]."""

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        n_actions: int,
        hidden: Sequence[int] = (64, 64),
        activation: Activation = nn.ReLU,
        input_norm: bool = False,
    ):
        super().__init__()
        self.n_members = n_members
        self.n_actions = n_actions
        self.net = EnsembleMLP(
            n_members, obs_dim, n_actions, hidden, activation=activation, input_norm=input_norm
        )

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs)  # [M, *, n] logits

    def sample(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """(action [M, *] long, log_prob [M, *]) by the Gumbel-max trick."""
        logp_all = F.log_softmax(self(obs), dim=-1)  # [M, *, n]
        g = -torch.log(-torch.log(torch.rand_like(logp_all).clamp_(min=1e-20)))
        a = (logp_all + g).argmax(-1)  # [M, *]
        return a, logp_all.gather(-1, a.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, obs: Tensor, action: Tensor) -> Tensor:
        """action [M, *] long -> log pi [M, *]."""
        logp_all = F.log_softmax(self(obs), dim=-1)
        return logp_all.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self, obs: Tensor) -> Tensor:
        logp_all = F.log_softmax(self(obs), dim=-1)
        return -(logp_all.exp() * logp_all).sum(-1)  # [M, *]

    def evaluate(self, obs: Tensor, action: Tensor) -> tuple[Tensor, Tensor]:
        """(log_prob [M, *], entropy [M, *]) from one forward pass."""
        logp_all = F.log_softmax(self(obs), dim=-1)
        logp = logp_all.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)
        return logp, -(logp_all.exp() * logp_all).sum(-1)

    def probs(self, obs: Tensor) -> Tensor:
        return F.softmax(self(obs), dim=-1)  # [M, *, n]

    def mode(self, obs: Tensor) -> Tensor:
        return self(obs).argmax(-1)  # [M, *]

    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        return self.mode(obs) if deterministic else self.sample(obs)[0]


# ----------------------------------------------------------------------------------------------
# Critics and models
# ----------------------------------------------------------------------------------------------


class TwinCritic(nn.Module):
    """Q1, Q2 on [obs, act] (TD3 / OMAR / BCQ), with optional input BatchNorm shared by both heads
    (OMAR's twin critic normalises the concatenated input once).

    forward(obs [M, *, O], act [M, *, A]) -> (q1 [M, *, 1], q2 [M, *, 1]).
    forward_many(obs [M, B, O], act [M, B, K, A]) -> (q1 [M, B, K], q2 [M, B, K]) for CQL / CEM
    samples: obs is repeated over K and all B*K rows go through the same forward (in train mode the
    BatchNorm statistics therefore include the K samples, as in the official code's repeat+cat).
    """

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (64, 64),
        input_norm: bool = False,
        activation: Activation = nn.ReLU,
    ):
        super().__init__()
        self.n_members = n_members
        in_dim = obs_dim + act_dim
        self.norm = EnsembleBatchNorm1d(n_members, in_dim) if input_norm else None
        self.head1 = EnsembleMLP(n_members, in_dim, 1, hidden, activation=activation)
        self.head2 = EnsembleMLP(n_members, in_dim, 1, hidden, activation=activation)

    def _input(self, obs: Tensor, act: Tensor) -> Tensor:
        x = torch.cat([obs, act], dim=-1)  # [M, *, O+A]
        return x if self.norm is None else self.norm(x)

    def forward(self, obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        x = self._input(obs, act)
        return self.head1(x), self.head2(x)

    def q1(self, obs: Tensor, act: Tensor) -> Tensor:
        """Q1 only (actor losses, CEM search): [M, *, 1]. Still updates BN stats in train mode."""
        return self.head1(self._input(obs, act))

    @staticmethod
    def _repeat_obs(obs: Tensor, act: Tensor) -> Tensor:
        if obs.dim() == act.dim():
            return obs
        k = act.shape[-2]
        return obs.unsqueeze(-2).expand(*obs.shape[:-1], k, obs.shape[-1])  # [M, B, K, O]

    def forward_many(self, obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        """obs [M, B, O] (or already [M, B, K, O]), act [M, B, K, A] -> (q1, q2) each [M, B, K]."""
        q1, q2 = self(self._repeat_obs(obs, act), act)
        return q1.squeeze(-1), q2.squeeze(-1)

    def q1_many(self, obs: Tensor, act: Tensor) -> Tensor:
        """obs [M, B, O], act [M, B, K, A] -> Q1 [M, B, K]."""
        return self.q1(self._repeat_obs(obs, act), act).squeeze(-1)


class VAE(nn.Module):
    """BCQ / CAST-BCQ conditional VAE on (obs, action), one per member.

    encoder (obs, a) -> hidden -> (mean, log_std clamped [-4, 15]) in R^L, L = 2 * act_dim default;
    decoder (obs, z) -> hidden -> max_action * tanh. decode without z samples z ~ N(0, 1) clamped
    to +-z_clip (BCQ: 0.5; CAST-BCQ's code: 0.05).

    forward(obs [M, *, O], act [M, *, A]) -> (recon [M, *, A], mean [M, *, L], std [M, *, L]).
    """

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        latent_dim: int | None = None,
        hidden: Sequence[int] = (750, 750),
        max_action: float = 1.0,
        z_clip: float = 0.5,
        log_std_bounds: tuple[float, float] = (-4.0, 15.0),
    ):
        super().__init__()
        self.n_members = n_members
        self.latent_dim = 2 * act_dim if latent_dim is None else latent_dim
        self.max_action = float(max_action)
        self.z_clip = float(z_clip)
        self.log_std_min, self.log_std_max = (float(b) for b in log_std_bounds)
        self.encoder = EnsembleMLP(n_members, obs_dim + act_dim, 2 * self.latent_dim, hidden)
        self.decoder = EnsembleMLP(
            n_members, obs_dim + self.latent_dim, act_dim, hidden, output_activation=torch.tanh
        )

    def encode(self, obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        """-> (mean [M, *, L], log_std [M, *, L] clamped)."""
        mean, log_std = self.encoder(torch.cat([obs, act], dim=-1)).chunk(2, dim=-1)
        return mean, log_std.clamp(self.log_std_min, self.log_std_max)

    def decode(self, obs: Tensor, z: Tensor | None = None) -> Tensor:
        """obs [M, *, O], z [M, *, L] or None (then z ~ N(0,1) clamped to +-z_clip) -> [M, *, A]."""
        if z is None:
            z = torch.randn(*obs.shape[:-1], self.latent_dim, device=obs.device, dtype=obs.dtype)
            z = z.clamp_(-self.z_clip, self.z_clip)
        a = self.decoder(torch.cat([obs, z], dim=-1))
        return a if self.max_action == 1.0 else a * self.max_action

    def forward(self, obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mean, log_std = self.encode(obs, act)
        std = log_std.exp()
        z = mean + std * torch.randn_like(std)  # [M, *, L]
        return self.decode(obs, z), mean, std

    def loss(self, obs: Tensor, act: Tensor, kl_weight: float = 0.5) -> Tensor:
        """Per-member BCQ VAE loss [M]: mean (recon - a)^2 + kl_weight * mean KL(N(mean, std) || N(0, 1)),
        means over the batch and the action / latent dims (BCQ's ``F.mse_loss`` and ``.mean()``).
        Sum over members before ``backward``."""
        mean, log_std = self.encode(obs, act)
        std = log_std.exp()
        recon = self.decode(obs, mean + std * torch.randn_like(std))
        m = self.n_members
        recon_loss = (recon - act).square().reshape(m, -1).mean(1)  # [M]
        kl = -0.5 * (1.0 + 2.0 * log_std - mean.square() - std.square())
        return recon_loss + kl_weight * kl.reshape(m, -1).mean(1)  # [M]
