"""The conditional VAE of OTC's d_e (Jiang & Lu, AAAI 2023, Sec. 3.5): the embedding mu(s, a_i, s') whose l1
nearest neighbour is Eq. (1)'s match and whose distance is the transition similarity (papers/otc/otc.py). "[P]" the
paper, "[I]" ours (papers/otc/README.md lists them).

Shapes: M members, R rows, O obs dim, A action dim, L latent dim.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from common.algos.bcq_losses import vae_loss
from common.networks.heads import VAE
from common.networks.nets import adam
from papers.otc.otc_config import OTCConfig

__all__ = ["TransitionCVAE"]


class TransitionCVAE:
    """The conditional VAE of d_e, one per member [P OTC Sec. 3.5]: E(mu, sigma | s, a_i, s'), D(a_i | s, s', z);
    the embedding is the mean mu(s, a_i, s') in R^L, L = 10 [P Table 3].

    Built as ``common.networks.heads.VAE(M, obs_dim=2 O, act_dim=A, latent_dim=L, hidden)`` with obs = [s, s'], which is
    exactly this model (encoder on [s, s', a], decoder on [s, s', z] -> max_action * tanh). [I] Loss and
    optimizer as BCQ's VAE (``common.algos.bcq_losses.vae_loss``: MSE + kl_weight * KL, both means; Adam 1e-3), the
    closest model the paper uses; the member losses are summed before ``backward``, so one step equals M
    separate per-member steps. The caller passes the generator of the noise (a stream of the CVAE's own [I],
    so that the learner's stream does not depend on it).
    """

    def __init__(
        self,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (64, 64),
        latent: int = 10,
        kl_weight: float = 0.5,
        lr: float = 1e-3,
        max_action: float = 1.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        self.n_members, self.obs_dim, self.act_dim = int(n_members), int(obs_dim), int(act_dim)
        self.latent, self.kl_weight, self.lr = int(latent), float(kl_weight), float(lr)
        self.hidden, self.max_action = tuple(int(h) for h in hidden), float(max_action)
        self.vae = VAE(
            self.n_members,
            2 * self.obs_dim,
            self.act_dim,
            latent_dim=self.latent,
            hidden=tuple(hidden),
            max_action=max_action,
        ).to(device=device, dtype=dtype)
        self.opt = adam(self.vae.parameters(), lr=self.lr)

    @classmethod
    def from_config(
        cls,
        cfg: OTCConfig,
        n_members: int,
        obs_dim: int,
        act_dim: int,
        learner_hidden: Sequence[int],
        **kwargs,
    ) -> "TransitionCVAE":
        """The CVAE of an ``OTCConfig`` (hidden = cfg.cvae_hidden, or the learner's when None)."""
        hidden = cfg.cvae_hidden if cfg.cvae_hidden is not None else tuple(learner_hidden)
        return cls(
            n_members,
            obs_dim,
            act_dim,
            hidden=hidden,
            latent=cfg.latent,
            kl_weight=cfg.cvae_kl_weight,
            lr=cfg.cvae_lr,
            **kwargs,
        )

    @torch.no_grad()
    def embed(self, obs: Tensor, next_obs: Tensor, act: Tensor) -> Tensor:
        """mu(s, a_i, s') [P OTC Sec. 3.5]: obs, next_obs [M, R, O], act [M, R, A] -> mu [M, R, L] (no grad)."""
        return self.vae.encode(torch.cat([obs, next_obs], dim=-1), act)[0]

    def loss(self, obs: Tensor, next_obs: Tensor, act: Tensor, eps: Tensor) -> Tensor:
        """Per-member CVAE loss [M] with the reparameterization noise eps [M, R, L] ~ N(0, I) passed in
        [I: BCQ's VAE loss on obs = [s, s']]."""
        return vae_loss(self.vae, torch.cat([obs, next_obs], dim=-1), act, eps, self.kl_weight)[0]

    def update(
        self,
        obs: Tensor,
        next_obs: Tensor,
        act: Tensor,
        generator: torch.Generator | None = None,
        eps: Tensor | None = None,
    ) -> Tensor:
        """One Adam step on a batch (obs, next_obs [M, R, O], act [M, R, A]); the noise comes from ``generator``
        ([M, R, L] normals) or is given as ``eps``. -> the loss before the step, [M], detached.
        [I] One step per fine-tuning update on that update's uniform B minibatch, so that the embedding follows
        the merged data B^k."""
        if (generator is None) == (eps is None):
            raise ValueError("TransitionCVAE.update needs exactly one of generator and eps")
        if eps is None:
            m, r = act.shape[:2]
            eps = torch.randn((m, r, self.latent), generator=generator, device=act.device, dtype=act.dtype)
        loss = self.loss(obs, next_obs, act, eps)  # [M]
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt.step()
        return loss.detach()

    def state_dict(self) -> dict[str, Any]:
        return {"vae": self.vae.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Copies the state in: Adam's ``load_state_dict`` keeps the given moment tensors when their dtype and
        device already match, so an in-memory state would otherwise stay shared with its source."""
        self.vae.load_state_dict(state["vae"])
        self.opt.load_state_dict(copy.deepcopy(state["opt"]))
