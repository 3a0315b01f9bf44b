"""MAPPO's forward side (a mixin of ``common.algos.mappo.MAPPO``, whose module docstring gives the math and the
decisions): the member layout (m = s * N + i), the ``obs_norm`` statistics, the input checks of observations and
memories, the policy distribution, its log-prob and V_tot, the layout of a rollout batch for ``update`` (``prepare``,
per-seed buffer lengths), acting (sampled and greedy actions, values, the evaluation policy), and the buffer's old
quantities before an update (``targets``: log-probs, values, GAE advantages and returns).

History hook. The learner takes an optional per-agent "memory" input that is prepended to the observation of the
actor and of V (not of the mixer):
- ``cfg.memory_len = L > 0`` (the code's MOMA-PPO and online experts: 10): the learner builds the paper's
  self-attention encoder (common/networks/history.py, ``SelfAttentionHistoryEncoder``, E = ``memory_dim`` = 128), one per
  agent and seed (member m = s * N + i, built after its actor, V and mixer), shared by the agent's actor and V,
  trained with the one Adam (lr 5e-5: ``ppo_general_lr`` overrides ``lr_memory`` [code]) and clipped per seed.
  ``memory`` / ``next_memory`` are the histories [S, *, N, L, O + A] (each agent's own (obs, action) pairs,
  oldest first, zero-padded: common.networks.history.DatasetHistories / shift_history) and ``policy()`` wraps ``greedy``
  in a history-keeping common.networks.history.HistoryPolicy;
- ``emb_dim = E > 0`` and no ``encoder``: ``memory`` / ``next_memory`` are precomputed embeddings [S, *, N, E],
  used as constants (no gradient);
- ``encoder``: an ``nn.Module`` with ``n_members = S * N`` whose every parameter carries that leading member axis,
  mapping ``memory`` [M, *, L, D] (e.g. the last L (obs, action) pairs) to [M, *, E]; its parameters are trained by
  the total loss, clipped with the rest of their seed and saved in ``state_dict`` (the code's ``lr_memory`` equals
  ``ppo_general_lr``). ``memory`` / ``next_memory`` are then [S, *, N, L, D].

Shapes: M members (= S * N), S seeds, N agents, B batch / minibatch, n buffer rows, E episodes, O obs dim, A action
dim, Oj joint obs dim, L history length, D history step dim.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.algos.ppo import gae_with_timeouts, masked_mean, mix_values, normalize_advantages, obs_moments
from common.networks.history import HistoryPolicy

if TYPE_CHECKING:
    from common.algos.mappo_config import MAPPOConfig

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
BATCH_KEYS = ("obs", "next_obs", "actions", "rewards", "masks", "zetas")


class MAPPOForward:
    """MAPPO's layout, forward pieces, batch layout and acting; reads the learner's networks, config and shapes."""

    # what the forward side reads of the learner (common.algos.mappo.MAPPO), typed for the checker
    if TYPE_CHECKING:
        cfg: MAPPOConfig
        actor: nn.Module  # GaussianActor or CategoricalActor
        critic: nn.Module
        mixer: nn.Module
        encoder: nn.Module | None
        discrete: bool
        obs_dims: tuple[int, ...]
        n_seeds: int
        n_agents: int
        n_members: int
        obs_dim: int
        act_dim: int
        emb_dim: int
        memory_len: int
        history_dim: int
        obs_mu: Tensor  # [S, N, O]
        obs_sd: Tensor  # [S, N, O]
        obs_stats_set: bool
        act_gens: list[torch.Generator]
        device: torch.device
        dtype: torch.dtype
        _joint_idx: Tensor  # [Oj]
        _act_mask_m: Tensor  # [M, 1, A]
        _logit_bias: Tensor  # [M, 1, K]

    # ---- layout -------------------------------------------------------------------------------
    def _to_members(self, x: Tensor) -> Tensor:
        """[S, B, N, ...] -> [M, B, ...], m = s * N + i."""
        S, B, N = x.shape[:3]
        return x.transpose(1, 2).reshape(S * N, B, *x.shape[3:])

    def _joint_obs(self, obs: Tensor) -> Tensor:
        """[S, B, N, O] padded -> [S, B, Oj], the agents' real entries concatenated in agent order."""
        S, B = obs.shape[:2]
        return obs.reshape(S, B, -1).index_select(-1, self._joint_idx)

    def _tensor(self, x: Any) -> Tensor:
        return torch.as_tensor(x, device=self.device, dtype=self.dtype)

    def set_obs_stats(self, obs: Any) -> None:
        """Freezes the ``obs_norm`` statistics: per seed and agent, mean and std of obs [S, n, N, O] over its n rows
        (common.algos.ppo.obs_moments). The caller's sample: online MAPPO's first random rollout, a dataset."""
        if not self.cfg.obs_norm:
            raise ValueError("set_obs_stats needs MAPPOConfig.obs_norm=True")
        x = self._tensor(obs)
        self._check_obs(x)
        self.obs_mu, self.obs_sd = obs_moments(x, self.obs_dims)
        self.obs_stats_set = True

    def _norm(self, obs: Tensor) -> Tensor:
        """obs [S, B, N, O] -> the network input: (obs - mu) / sigma with ``obs_norm``, else obs."""
        if not self.cfg.obs_norm:
            return obs
        if not self.obs_stats_set:
            raise RuntimeError("MAPPOConfig.obs_norm=True: call set_obs_stats(obs) before acting or updating")
        return (obs - self.obs_mu[:, None]) / self.obs_sd[:, None]

    def _check_obs(self, obs: Tensor, name: str = "obs") -> None:
        S, N, O = self.n_seeds, self.n_agents, self.obs_dim
        if obs.dim() != 4 or (obs.shape[0], obs.shape[2], obs.shape[3]) != (S, N, O):
            raise ValueError(f"{name} must be [S={S}, B, N={N}, O={O}], got {tuple(obs.shape)}")

    def _memory_members(self, memory: Tensor | None, B: int, name: str = "memory") -> Tensor | None:
        """memory [S, B, N, E] or [S, B, N, L, D] -> [M, B, ...] (None without a memory)."""
        if self.emb_dim == 0 and self.encoder is None:
            if memory is not None:
                raise ValueError(f"{name} given but the learner has no memory (emb_dim=0, no encoder)")
            return None
        if memory is None:
            raise KeyError(
                f"the learner has a memory input (emb_dim={self.emb_dim}, encoder="
                f"{type(self.encoder).__name__ if self.encoder is not None else None}): pass {name}"
            )
        m = self._tensor(memory)
        S, N = self.n_seeds, self.n_agents
        if m.shape[0] != S or m.shape[1] != B or m.shape[2] != N:
            raise ValueError(f"{name} must be [S={S}, B={B}, N={N}, ...], got {tuple(m.shape)}")
        if self.encoder is None and (m.dim() != 4 or m.shape[3] != self.emb_dim):
            raise ValueError(
                f"{name} must be precomputed embeddings [S, B, N, E={self.emb_dim}], got {tuple(m.shape)}"
            )
        return self._to_members(m)

    # ---- forward pieces -----------------------------------------------------------------------
    def _inputs(self, obs_m: Tensor, mem_m: Tensor | None) -> Tensor:
        """x [M, B, E + O] = [emb ⊕ obs] (obs alone without a memory)."""
        if mem_m is None:
            return obs_m
        emb = self.encoder(mem_m) if self.encoder is not None else mem_m  # [M, B, E]
        return torch.cat([emb, obs_m], dim=-1)

    def _dist(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Gaussian: (mean [M, B, A], log_std [M, B, A] clamped); categorical: (log-probs [M, B, K], None)."""
        if self.discrete:
            return F.log_softmax(self.actor(x) + self._logit_bias, dim=-1), None
        return self.actor(x)

    def _log_prob(self, dist: tuple[Tensor, Tensor | None], act_m: Tensor) -> Tensor:
        """log pi(a | x) [M, B]; act_m [M, B, A] (categorical: the index in [..., 0])."""
        first, log_std = dist
        if log_std is None:  # categorical
            return first.gather(-1, act_m[..., :1].long()).squeeze(-1)
        z = (act_m - first) * torch.exp(-log_std)
        return ((-0.5 * z.square() - log_std - _LOG_SQRT_2PI) * self._act_mask_m).sum(-1)

    def _values(self, x: Tensor, joint: Tensor) -> Tensor:
        """V_tot [S, B] from x [M, B, X] and the joint obs [S, B, Oj]."""
        S, N = self.n_seeds, self.n_agents
        v = self.critic(x).squeeze(-1)  # [M, B]
        v = v.view(S, N, -1).transpose(1, 2)  # [S, B, N]
        wb = self.mixer(joint)  # [S, B, N + 1]
        return mix_values(v, wb[..., :N], wb[..., N], monotonic=self.cfg.mixer == "monotonic")

    def _per_seed(self, y: Tensor) -> Tensor:
        """[M, B, ...] -> [S, B, N, ...]."""
        S, N = self.n_seeds, self.n_agents
        return y.view(S, N, *y.shape[1:]).transpose(1, 2)

    def prepare(self, batch: Mapping[str, Any]) -> dict[str, Tensor]:
        """Checks a rollout batch and lays it out for the update: member tensors [M, n, ...] (memory / next_memory
        only with a memory input), joint obs [S, n, Oj], seed tensors [S, n]."""
        missing = [k for k in BATCH_KEYS if k not in batch]
        if missing:
            raise KeyError(
                f"MAPPO batch lacks {missing}; it needs {list(BATCH_KEYS)} (+ memory / next_memory)"
            )
        obs, next_obs, act = (self._tensor(batch[k]) for k in ("obs", "next_obs", "actions"))
        self._check_obs(obs)
        S, n = obs.shape[:2]
        if next_obs.shape != obs.shape:
            raise ValueError(
                f"next_obs {tuple(next_obs.shape)} must have the shape of obs {tuple(obs.shape)}"
            )
        obs, next_obs = self._norm(obs), self._norm(next_obs)
        if act.shape != (S, n, self.n_agents, self.act_dim):
            raise ValueError(
                f"actions must be [S, n, N, A={self.act_dim}] = {(S, n, self.n_agents, self.act_dim)}, "
                f"got {tuple(act.shape)}"
            )
        rew = self._tensor(batch["rewards"])
        if rew.dim() == 3:  # per agent: agent 0's column ([code] rewards = batches[0]['rewards'])
            rew = rew[..., 0]
        seed_t = {
            "rewards": rew,
            "masks": self._tensor(batch["masks"]),
            "zetas": self._tensor(batch["zetas"]),
        }
        for k, v in seed_t.items():
            if v.shape != (S, n):
                raise ValueError(f"{k} must be [S, n] = {(S, n)}, got {tuple(v.shape)}")
        out = {
            "obs": self._to_members(obs),
            "next_obs": self._to_members(next_obs),
            "actions": self._to_members(act),
            "joint": self._joint_obs(obs),
            "next_joint": self._joint_obs(next_obs),
            **seed_t,
        }
        for key in ("memory", "next_memory"):  # [M, n, ...], absent without a memory input
            mem = self._memory_members(batch.get(key), n, key)
            if mem is not None:
                out[key] = mem
        return out

    def _lengths(self, lengths: Any, n: int) -> Tensor | None:
        """The batch's per-seed buffer lengths [S] (long), None when absent or all equal to n (the plain path)."""
        if lengths is None:
            return None
        out = torch.as_tensor(lengths, device=self.device).long().reshape(-1)
        if out.shape[0] != self.n_seeds or bool((out < 1).any()) or bool((out > n).any()):
            raise ValueError(
                f"lengths must give one buffer length in [1, n={n}] per seed (S={self.n_seeds}), "
                f"got {out.tolist()}"
            )
        return None if bool((out == n).all()) else out

    def _row_weights(self, lengths: Tensor, n: int) -> Tensor:
        """[S, n] 1 on each seed's own rows, 0 on the padding."""
        return (torch.arange(n, device=self.device)[None] < lengths[:, None]).to(self.dtype)

    # ---- acting -------------------------------------------------------------------------------
    def _act_inputs(self, obs: Any, memory: Any) -> tuple[Tensor, Tensor, bool]:
        is_np = isinstance(obs, np.ndarray)
        x = self._tensor(obs)
        self._check_obs(x)
        x = self._norm(x)
        return x, self._inputs(self._to_members(x), self._memory_members(memory, x.shape[1])), is_np

    def _out(self, y: Tensor, is_np: bool) -> np.ndarray | Tensor:
        return y.cpu().numpy() if is_np else y

    @torch.no_grad()
    def act(
        self,
        obs: np.ndarray | Tensor,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        memory: np.ndarray | Tensor | None = None,
        counts: Sequence[int] | None = None,
    ) -> tuple[np.ndarray | Tensor, np.ndarray | Tensor]:
        """Sampled actions for rollouts: obs [S, E, N, O] -> (actions [S, E, N, A], log_probs [S, E, N]), numpy in,
        numpy out. Gaussian a = mu + sigma eps (unbounded; padded dims 0); categorical: Gumbel-max, the index as a
        float in [..., 0]. ``generator``: one for all seeds, a sequence of S (one per seed), or None (the learner's
        per-seed sampling generators, saved in ``state_dict``). ``counts`` [S] (per-seed generators only): seed s
        draws noise for its first counts[s] rows alone, as a learner of that seed alone acting on those rows would;
        its other rows (padding) get a fixed finite draw and are not meant to be used. None: all E rows."""
        x, inp, is_np = self._act_inputs(obs, memory)
        S, E, N = x.shape[:3]
        gens = self.act_gens if generator is None else generator
        dist = self._dist(inp)
        shape = dist[0].shape[1:]  # [E, A] or [E, K]
        draw = torch.randn if not self.discrete else torch.rand
        if counts is not None and isinstance(gens, torch.Generator):
            raise ValueError(
                "counts needs per-seed generators (a sequence of S, or None for the learner's own)"
            )
        if isinstance(gens, torch.Generator):
            noise = draw((self.n_members, *shape), generator=gens, device=self.device, dtype=self.dtype)
        else:
            if len(gens) != S:
                raise ValueError(f"give one generator or {S} (one per seed), got {len(gens)}")
            if counts is None:
                noise = torch.cat(
                    [draw((N, *shape), generator=g, device=self.device, dtype=self.dtype) for g in gens]
                )
            else:
                if len(counts) != S or any(not 0 <= int(c) <= shape[0] for c in counts):
                    raise ValueError(
                        f"counts must give one row count in [0, E={shape[0]}] per seed (S={S}), "
                        f"got {list(counts)}"
                    )
                fill = 0.5 if self.discrete else 0.0  # padding rows: a finite draw (Gumbel of 0.5 / the mean)
                noise = torch.cat(
                    [
                        F.pad(
                            draw((N, int(c), *shape[1:]), generator=g, device=self.device, dtype=self.dtype),
                            (0, 0, 0, shape[0] - int(c)),
                            value=fill,
                        )
                        for g, c in zip(gens, counts)
                    ]
                )
        first, log_std = dist
        if log_std is None:  # categorical
            g = -torch.log(-torch.log(noise.clamp_(min=1e-20)))
            a = (first + g).argmax(-1, keepdim=True).to(self.dtype)  # [M, E, 1]
        else:
            a = (first + noise * log_std.exp()) * self._act_mask_m  # [M, E, A]
        logp = self._log_prob(dist, a)  # [M, E]
        return self._out(self._per_seed(a), is_np), self._out(self._per_seed(logp), is_np)

    @torch.no_grad()
    def greedy(
        self, obs: np.ndarray | Tensor, memory: np.ndarray | Tensor | None = None
    ) -> np.ndarray | Tensor:
        """Evaluation actions [S, E, N, A]: the Gaussian mean (the env clips) or the categorical argmax."""
        x, inp, is_np = self._act_inputs(obs, memory)
        dist = self._dist(inp)
        a = dist[0].argmax(-1, keepdim=True).to(self.dtype) if self.discrete else dist[0] * self._act_mask_m
        return self._out(self._per_seed(a), is_np)

    @torch.no_grad()
    def values(
        self, obs: np.ndarray | Tensor, memory: np.ndarray | Tensor | None = None
    ) -> np.ndarray | Tensor:
        """V_tot [S, E] of joint observations obs [S, E, N, O]."""
        x, inp, is_np = self._act_inputs(obs, memory)
        return self._out(self._values(inp, self._joint_obs(x)), is_np)

    def policy(self):
        """A callable for common.running.evaluate (greedy): obs [S, E, N, O] numpy -> actions numpy; with ``memory_len`` > 0
        a fresh common.networks.history.HistoryPolicy (zero histories at t = 0); a caller's own encoder needs its own."""
        if self.memory_len > 0:
            return HistoryPolicy(
                lambda obs, memory: self.greedy(obs, memory),
                self.memory_len,
                self.history_dim,
                device=self.device,
                dtype=self.dtype,
            )
        if self.emb_dim or self.encoder is not None:
            raise ValueError(
                "this learner reads a memory input: wrap greedy(obs, memory) in a history-keeping policy"
            )
        return lambda obs: self.greedy(obs)

    @torch.no_grad()
    def targets(self, data: Mapping[str, Tensor], lengths: Tensor | None = None) -> dict[str, Tensor]:
        """Old quantities of the whole buffer (parameters before the update): joint log-prob, V_tot(s), V_tot(s'),
        GAE advantages (normalised) and returns, all [S, n]. ``lengths`` [S]: seed s's buffer is its first
        lengths[s] rows (its row lengths[s] - 1 a time-out; advantages normalised over its rows, unbiased std)."""
        cfg = self.cfg
        x = self._inputs(data["obs"], data.get("memory"))
        nx = self._inputs(data["next_obs"], data.get("next_memory"))
        logp = self._per_seed(self._log_prob(self._dist(x), data["actions"]))  # [S, n, N]
        v, nv = self._values(x, data["joint"]), self._values(nx, data["next_joint"])  # [S, n]
        if lengths is None:
            adv, ret = gae_with_timeouts(
                data["rewards"], v, nv, data["masks"], data["zetas"], cfg.gamma, cfg.lam
            )
            return {
                "logp": logp,
                "values": v,
                "returns": ret,
                "advantages": normalize_advantages(adv, cfg.adv_eps),
                "raw_advantages": adv,
            }
        n = v.shape[1]
        w = self._row_weights(lengths, n)
        last = F.one_hot(lengths - 1, n).to(self.dtype)  # [S, n] each seed's last row
        # every seed's buffer ends at its own last row; padding cut off
        zetas = data["zetas"] * w * (1.0 - last)
        adv, ret = gae_with_timeouts(
            data["rewards"] * w, v * w, nv * w, data["masks"] * w, zetas, cfg.gamma, cfg.lam
        )
        mean = masked_mean(adv, w).unsqueeze(-1)
        # unbiased
        std = ((adv - mean).square() * w).sum(-1).div(lengths.to(self.dtype) - 1).sqrt().unsqueeze(-1)
        return {
            "logp": logp,
            "values": v,
            "returns": ret,
            "advantages": (adv - mean) / (std + cfg.adv_eps) * w,
            "raw_advantages": adv,
        }
