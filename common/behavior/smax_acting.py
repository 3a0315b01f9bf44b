"""Acting on SMAX for the behavior learner (common/behavior/smax_ppo.py): the random streams of a seed (one generator
per (seed, purpose, iteration, ...), nothing carried between iterations), the masked sampling policy of a batched
actor, and the rollout of whole episodes of a SmaxVecEnv. Shapes: G policy groups, E envs per group, C = G E
copies, N agents, O obs dim, Sd state dim, K actions, T the map's episode limit, R rows.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from common.algos.ppo import masked_log_softmax
from common.networks.nets import EnsembleMLP

__all__ = [
    "generator",
    "env_seeds",
    "masked_sample",
    "with_agent_id",
    "make_policy",
    "rollout",
    "ENV_STREAM",
    "ACT_STREAM",
    "PERM_STREAM",
    "EVAL_STREAM",
]

# spawn keys of the random streams (numpy SeedSequence([seed, stream, ...]))
ENV_STREAM, ACT_STREAM, PERM_STREAM, EVAL_STREAM = 0x5E1, 0xAC7, 0x7A1, 0xE7A


# ---- random streams: one per (seed, purpose, iteration, ...) --------------------------------------------


def generator(seed: int, *keys: int) -> torch.Generator:
    """A torch generator seeded by SeedSequence([seed, *keys]) alone (no state carried between iterations)."""
    state = np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state >> 1))


def env_seeds(seed: int, n: int, *keys: int) -> np.ndarray:
    """[n] env reset seeds in [0, 2**32) from SeedSequence([seed, *keys]) alone."""
    return np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(n, np.uint32).astype(np.int64)


# ---- acting ---------------------------------------------------------------------------------------------


def masked_sample(logits: Tensor, avail: Tensor, generators: Sequence[torch.Generator] | None) -> Tensor:
    """Actions [G, R] from logits [G, R, K] restricted to avail [G, R, K] (bool): Gumbel-max with group g's noise from
    generators[g] (the same draws whatever the other groups do), or the greedy argmax when ``generators`` is None.
    An unavailable action is never chosen: its log-probability is about -1e10, while float32 Gumbel draws lie in
    [-3.9, 16.7] and an available action's log-probability is finite (softmax over finite logits)."""
    logp = masked_log_softmax(logits, avail)
    if generators is None:
        return logp.argmax(-1)
    u = torch.stack([torch.rand(logp.shape[1:], generator=g, dtype=logp.dtype) for g in generators]).to(
        logp.device
    )
    return (logp - torch.log(-torch.log(u.clamp_(min=1e-20)))).argmax(-1)


def with_agent_id(obs: Tensor, agent_id: bool) -> Tensor:
    """[..., N, O] -> [..., N, O + N] with each agent's one-hot id appended (unchanged without ids)."""
    if not agent_id:
        return obs
    N = obs.shape[-2]
    eye = torch.eye(N, dtype=obs.dtype, device=obs.device).expand(*obs.shape[:-2], N, N)
    return torch.cat([obs, eye], dim=-1)


def make_policy(
    actor: EnsembleMLP,
    agent_id: bool,
    generators: Sequence[torch.Generator] | None,
    device: str | torch.device = "cpu",
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """policy(obs [C, N, O], avail [C, N, K]) -> actions [C, N] for C = G E copies, group-major (copy c is run by
    member c // E of ``actor``); sampled with ``generators`` (one per group) or greedy when None."""
    G = actor.n_members

    @torch.inference_mode()
    def policy(obs: np.ndarray, avail: np.ndarray) -> np.ndarray:
        C, N, _ = obs.shape
        # [G, E N, O + N]
        x = with_agent_id(torch.as_tensor(obs, device=device), agent_id).reshape(G, (C // G) * N, -1)
        mask = torch.as_tensor(avail, device=device).reshape(G, (C // G) * N, -1)  # [G, E N, K]
        return masked_sample(actor(x), mask, generators).reshape(C, N).cpu().numpy()

    return policy


def rollout(
    vec, policy: Callable[[np.ndarray, np.ndarray], np.ndarray], seeds: np.ndarray
) -> dict[str, np.ndarray]:
    """Whole episodes of every copy of ``vec`` (a SmaxVecEnv), reset with ``seeds`` [C], stepped until all ended.

    Returns numpy arrays padded to the episode limit T: obs [C, T+1, N, O], state [C, T+1, Sd], avail [C, T+1, N, K]
    (index t+1 = after step t), actions [C, T, N] int64, reward [C, T], live / terminated / truncated [C, T] bool
    (step t ran / ended the episode by a wipe-out / by the limit), won [C] bool, length [C] (steps run)."""
    spec = vec.spec
    C, N, T, K = vec.n, spec.n_agents, spec.episode_length, spec.n_actions[0]
    obs0 = vec.reset(seeds=seeds)
    out = {
        "obs": np.zeros((C, T + 1, N, obs0.shape[-1]), np.float32),
        "state": np.zeros((C, T + 1, spec.state_dim), np.float32),
        "avail": np.zeros((C, T + 1, N, K), bool),
        "actions": np.zeros((C, T, N), np.int64),
        "reward": np.zeros((C, T), np.float32),
        "live": np.zeros((C, T), bool),
        "terminated": np.zeros((C, T), bool),
        "truncated": np.zeros((C, T), bool),
        "won": np.zeros(C, bool),
    }
    out["obs"][:, 0], out["state"][:, 0], out["avail"][:, 0] = obs0, vec.state(), vec.avail_actions()
    for t in range(T):
        live = ~vec.done
        a = policy(out["obs"][:, t], out["avail"][:, t])  # [C, N]
        obs, rew, term, _ = vec.step(a)
        info = vec.info
        out["obs"][:, t + 1], out["state"][:, t + 1], out["avail"][:, t + 1] = (
            obs,
            vec.state(),
            info["avail_actions"],
        )
        out["actions"][:, t], out["reward"][:, t], out["live"][:, t] = a, rew[:, 0], live
        out["terminated"][:, t], out["truncated"][:, t] = term, info["truncated"]
        out["won"] |= info["won"]
        if vec.done.all():
            break
    out["length"] = out["live"].sum(1)
    return out
