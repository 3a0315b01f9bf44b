"""Continuous BCQ's acting (a mixin of ``common.algos.bcq.BCQ``, whose module docstring gives the equations): the
perturbed VAE candidates xi(o, D(o, z)) and their noise, the action selection (argmax of Q1 over n_select
candidates), ``act`` and ``policy`` for evaluation (the central view acts on agent 0's obs row and splits the joint
action), the action-selection seeds and generators, apart from the training streams (CASTBCQ borrows ``_mask``,
``_randn``, ``_candidates``, ``select``, ``act`` and ``policy``), and the value of BCQ's policy (``q1``, ``value``:
OTC's d_q).
Shapes: M members, S seeds, E episodes, N agents, K candidates, O obs dim, A action dim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from common.algos.bcq_config import BCQConfig
    from common.algos.streams import MemberStreams
    from common.networks.heads import VAE, PerturbationActor, TwinCritic

ACT_STREAM = 0xB0C  # spawn key of the action-selection generator (apart from the training stream)


class BCQActing:
    """BCQ's action selection and acting; reads the learner's networks, config, shapes and ``act_seeds``."""

    if TYPE_CHECKING:  # what acting reads of the learner (common.algos.bcq.BCQ), typed for the checker
        cfg: BCQConfig
        actor: PerturbationActor
        critic: TwinCritic
        central: bool
        state_dim: int | None
        obs_dim: int
        latent_dim: int
        n_seeds: int
        n_agents: int
        n_members: int
        device: torch.device
        dtype: torch.dtype
        split_actions: Callable[[np.ndarray], np.ndarray]
        act_dim: int
        act_mask: Tensor | None  # [M, 1, A]: 0 on padded action dims (None: none padded)
        vae: VAE
        streams: MemberStreams

    # ---- the candidates: xi(o, D(o, z)) -------------------------------------------------------------
    def _mask(self, a: Tensor) -> Tensor:
        if self.act_mask is None:
            return a
        return a * self.act_mask.view(self.n_members, *([1] * (a.dim() - 2)), self.act_dim)

    def _randn(
        self,
        shape: Sequence[int],
        generator: torch.Generator | list[torch.Generator] | None = None,
        clip: float | None = None,
    ) -> Tensor:
        """N(0, I) of ``shape`` [M, ...] from the training streams (each run its own), or from ``generator`` (one,
        or one per run: ``_act_generator``), clipped to +-clip (CASTBCQ borrows this method)."""
        z = self.streams.draw(torch.randn, tuple(shape), generator, dtype=self.dtype, device=self.device)
        return z if clip is None else z.clamp_(-clip, clip)

    def _candidates(self, actor: PerturbationActor, obs: Tensor, z: Tensor) -> Tensor:
        """xi(o, D(o, z)): obs [M, *, O], z [M, *, L] (clipped) -> [M, *, A]; the decoder gets no gradient."""
        with torch.no_grad():
            a = self._mask(self.vae.decode(obs, z))  # [M, *, A]
        return self._mask(actor(obs, a))

    # ---- acting -------------------------------------------------------------------------------
    @torch.no_grad()
    def select(self, obs: Tensor, generator: torch.Generator | list[torch.Generator]) -> Tensor:
        """BCQ's action selection: obs [M, E, O] -> [M, E, A], the argmax of Q1 over n_select candidates
        xi(o, D(o)) per obs (z from ``generator``; a stack of runs: from each run's entry of a list)."""
        M, E, O = obs.shape
        K = self.cfg.n_select
        o_k = obs.unsqueeze(2).expand(M, E, K, O)  # [M, E, K, O]
        z = self._randn((M, E, K, self.latent_dim), generator=generator, clip=self.cfg.z_clip)
        cand = self._candidates(self.actor, o_k, z)  # [M, E, K, A]
        best = self.critic.q1(o_k, cand).squeeze(-1).argmax(dim=-1)  # [M, E]
        return cand.gather(2, best[:, :, None, None].expand(M, E, 1, cand.shape[-1])).squeeze(2)

    @overload
    def act(
        self, obs: np.ndarray, generator: torch.Generator | list[torch.Generator] | None = None
    ) -> np.ndarray: ...
    @overload
    def act(
        self, obs: Tensor, generator: torch.Generator | list[torch.Generator] | None = None
    ) -> Tensor: ...

    def act(
        self, obs: np.ndarray | Tensor, generator: torch.Generator | list[torch.Generator] | None = None
    ) -> np.ndarray | Tensor:
        """obs [S, E, N, O] -> actions [S, E, N, A] (numpy in, numpy out). ``generator`` draws the decode z
        (None: a fresh one seeded with ``act_seed``; a stack: one per run, ``_act_generator``); the training stream
        is untouched. "central" reads agent 0's obs row and splits the chosen joint action with ``split_actions``."""
        is_np = isinstance(obs, np.ndarray)
        x = torch.as_tensor(obs, dtype=self.dtype, device=self.device)
        S, E, N, Ow = x.shape
        if (S, N) != (self.n_seeds, self.n_agents):
            raise ValueError(f"obs must be [S={self.n_seeds}, E, N={self.n_agents}, O], got {tuple(x.shape)}")
        if self.central:
            xm = self._central_obs(x)  # [S, E, O]
        else:
            if Ow != self.obs_dim:
                raise ValueError(f"obs must be [S, E, N, O={self.obs_dim}], got {tuple(x.shape)}")
            xm = x.permute(0, 2, 1, 3).reshape(self.n_members, E, Ow)  # [M, E, O], m = s * N + i
        if generator is None:
            generator = _act_generator(self)
        with torch.inference_mode():
            a = self.select(xm, generator)  # [M, E, A]
        if self.central:
            split = np.asarray(self.split_actions(a.cpu().numpy()))  # [S, E, N, A]
            return split if is_np else torch.as_tensor(split, device=self.device)
        out = a.reshape(S, self.n_agents, E, -1).permute(0, 2, 1, 3)  # [S, E, N, A]
        return out.cpu().numpy() if is_np else out

    def _central_obs(self, x: Tensor) -> Tensor:
        """Agent 0's obs row [S, E, O] of x [S, E, N, O_env]; trained on the state, every agent's row must be it."""
        if x.shape[-1] < self.obs_dim:
            raise ValueError(f"central BCQ needs obs rows of >= {self.obs_dim} entries, got {tuple(x.shape)}")
        if self.state_dim is not None and not torch.equal(x, x[:, :, :1].expand_as(x)):
            raise ValueError(
                "central BCQ was trained on the state and acts on agent 0's obs row: evaluate it on an "
                "env whose obs_mode gives every agent the full state in natural order (MaMuJoCo: 'otc'); "
                "here the agents' obs rows differ"
            )
        return x[:, :, 0, : self.obs_dim]

    def policy(self) -> Callable[[np.ndarray], np.ndarray]:
        """A callable for common.running.evaluate: obs [S, E, N, O] numpy -> actions [S, E, N, A] numpy. Its decode z
        come from a generator seeded with ``act_seed`` at this call, advanced step by step (a stack of runs: each
        run's from its own, seeded with its ``act_seed`` alone)."""
        g = _act_generator(self)
        return lambda obs: self.act(obs, generator=g)

    # ---- OTC's d_q (OTC spec C11) ----------------------------------------------------------------
    @torch.no_grad()
    def q1(self, obs: Tensor, act: Tensor) -> Tensor:
        """Q1(o, a) of the current critic: obs [M, *, O], act [M, *, A] -> [M, *]."""
        return self.critic.q1(obs, self._mask(act)).squeeze(-1)

    def value_noise(self, obs: Tensor, n: int = 10, generator: torch.Generator | None = None) -> Tensor:
        """The latent draws z [M, *, n, L] of ``value(obs)`` (clipped to +-z_clip), from ``generator`` (default: the
        training generator): drawn apart so that a caller can evaluate V on some rows only, with the draws of
        those rows (OTC's d_q computes V(s'*) on the matched rows only)."""
        return self._randn(
            (*obs.shape[:-1], int(n), self.latent_dim), generator=generator, clip=self.cfg.z_clip
        )

    @torch.no_grad()
    def value(
        self, obs: Tensor, n: int = 10, generator: torch.Generator | None = None, noise: Tensor | None = None
    ) -> Tensor:
        """V(o) = mean_{k<n} Q1(o, xi(o, D(o, z_k))), the critic's value under BCQ's action distribution (the n
        perturbed VAE candidates of its TD target; OTC spec C11): obs [M, *, O] -> [M, *]. z = ``noise``
        [M, *, n, L] (``value_noise``), else drawn from ``generator`` (default: the training generator)."""
        z = self.value_noise(obs, n, generator) if noise is None else noise
        o_k = obs.unsqueeze(-2).expand(*obs.shape[:-1], z.shape[-2], obs.shape[-1])  # [M, *, n, O]
        return self.critic.q1(o_k, self._candidates(self.actor, o_k, z)).squeeze(-1).mean(-1)


def act_seed(seeds: Sequence[int], stream: int = ACT_STREAM) -> int:
    """The action-selection seed of a learner of ``seeds``: SeedSequence(seeds, spawn_key=(stream,)), apart from the
    training streams."""
    return int(
        np.random.SeedSequence(list(seeds), spawn_key=(int(stream),)).generate_state(1, np.uint64)[0] >> 1
    )


def _act_generator(learner: Any) -> list[torch.Generator]:
    """Fresh action-selection generators, one per run of the learner, each seeded with its run's ``act_seeds``
    entry, so that a run draws the z it draws alone. A function, not a method: CASTBCQ borrows BCQ's ``act`` and
    ``policy``."""
    return [torch.Generator(device=learner.device).manual_seed(s) for s in learner.act_seeds]
