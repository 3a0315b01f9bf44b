"""The conditional VAE of OTC's d_e (Jiang & Lu, AAAI 2023, Sec. 3.5): the embedding mu(s, a_i, s') whose l1
nearest neighbour is Eq. (1)'s match and whose distance is the transition similarity (papers/otc/otc.py). "[P]" the
paper, "[I]" ours (papers/otc/README.md lists them).

Two forms of the model (``CVAE_FORMS``): ``conditional``, the paper's (Sec. 3.5: decoder D(a_i | s, s', z)), whose
z the decoder need not use where a_i follows from (s, s'), so that its encoder may collapse onto the prior
(papers/otc/cvae_probe.py measures it); and ``joint`` [I], a plain VAE of the whole transition x = [s, a_i, s']
(encoder x -> (mu, sigma), decoder z -> x, linear output), the "VAE (Kingma and Welling 2013) [that encodes] the
state-action pair and next state" of Sec. 3.3 with one embedding for both, as Sec. 3.5 takes: its z must carry x.

Shapes: M members, R rows, O obs dim, A action dim, L latent dim.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from common.algos.bcq_losses import vae_loss
from common.networks.heads import VAE
from common.networks.nets import EnsembleMLP, adam
from papers.otc.otc_config import CVAE_FORMS, OTCConfig

__all__ = ["JointVAE", "TransitionCVAE"]


class JointVAE(nn.Module):
    """A VAE of the whole input x [M, *, X], one per member [I, the ``joint`` form]: encoder x -> hidden -> (mean,
    log_std clamped [-4, 15] as BCQ's VAE), decoder z -> hidden -> x (linear output: states are unbounded)."""

    def __init__(
        self,
        n_members: int,
        in_dim: int,
        latent_dim: int,
        hidden: Sequence[int],
        log_std_bounds: tuple[float, float] = (-4.0, 15.0),
    ):
        super().__init__()
        self.n_members, self.latent_dim = int(n_members), int(latent_dim)
        self.log_std_min, self.log_std_max = (float(b) for b in log_std_bounds)
        self.encoder = EnsembleMLP(n_members, in_dim, 2 * self.latent_dim, hidden)
        self.decoder = EnsembleMLP(n_members, self.latent_dim, in_dim, hidden)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """-> (mean [M, *, L], log_std [M, *, L] clamped)."""
        mean, log_std = self.encoder(x).chunk(2, dim=-1)
        return mean, log_std.clamp(self.log_std_min, self.log_std_max)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)


class TransitionCVAE:
    """The conditional VAE of d_e, one per member [P OTC Sec. 3.5]: E(mu, sigma | s, a_i, s'), D(a_i | s, s', z);
    the embedding is the mean mu(s, a_i, s') in R^L, L = 10 [P Table 3]. ``form="joint"``: the same embedding from a
    VAE of x = [s, a_i, s'] that reconstructs all of x (``JointVAE``; module docstring) [I].

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
        form: str = "conditional",
    ):
        if form not in CVAE_FORMS:
            raise ValueError(f"unknown CVAE form {form!r}; allowed: {', '.join(CVAE_FORMS)}")
        self.n_members, self.obs_dim, self.act_dim = int(n_members), int(obs_dim), int(act_dim)
        self.latent, self.kl_weight, self.lr = int(latent), float(kl_weight), float(lr)
        self.hidden, self.max_action, self.form = tuple(int(h) for h in hidden), float(max_action), form
        vae: nn.Module
        if form == "joint":
            vae = JointVAE(self.n_members, 2 * self.obs_dim + self.act_dim, self.latent, self.hidden)
        else:
            vae = VAE(
                self.n_members,
                2 * self.obs_dim,
                self.act_dim,
                latent_dim=self.latent,
                hidden=tuple(hidden),
                max_action=max_action,
            )
        self.vae = vae.to(device=device, dtype=dtype)
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
            form=cfg.cvae_form,
            **kwargs,
        )

    def encode(self, obs: Tensor, next_obs: Tensor, act: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, log_std) [M, R, L] of the encoder on obs, next_obs [M, R, O], act [M, R, A] (with grad)."""
        if self.form == "joint":
            return self.vae.encode(torch.cat([obs, act, next_obs], dim=-1))
        return self.vae.encode(torch.cat([obs, next_obs], dim=-1), act)

    def reconstruction(self, obs: Tensor, next_obs: Tensor, act: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """(the decoder's output at z [M, R, L], its target): a_i for ``conditional`` (the decoder also sees s, s'),
        x = [s, a_i, s'] for ``joint``."""
        if self.form == "joint":
            return self.vae.decode(z), torch.cat([obs, act, next_obs], dim=-1)
        return self.vae.decode(torch.cat([obs, next_obs], dim=-1), z), act

    @torch.no_grad()
    def embed(self, obs: Tensor, next_obs: Tensor, act: Tensor) -> Tensor:
        """mu(s, a_i, s') [P OTC Sec. 3.5]: obs, next_obs [M, R, O], act [M, R, A] -> mu [M, R, L] (no grad)."""
        return self.encode(obs, next_obs, act)[0]

    def loss(self, obs: Tensor, next_obs: Tensor, act: Tensor, eps: Tensor) -> Tensor:
        """Per-member CVAE loss [M] with the reparameterization noise eps [M, R, L] ~ N(0, I) passed in
        [I: BCQ's VAE loss on obs = [s, s']; ``joint``: the same loss with x's reconstruction]."""
        if self.form == "conditional":
            return vae_loss(self.vae, torch.cat([obs, next_obs], dim=-1), act, eps, self.kl_weight)[0]
        mean, log_std = self.encode(obs, next_obs, act)
        std = log_std.exp()
        recon, target = self.reconstruction(obs, next_obs, act, mean + std * eps)
        m = mean.shape[0]
        kl = -0.5 * (1.0 + 2.0 * log_std - mean.square() - std.square())
        return (recon - target).square().reshape(m, -1).mean(1) + self.kl_weight * kl.reshape(m, -1).mean(1)

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
