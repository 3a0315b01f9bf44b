"""Deployments and evaluation of OTC's Figure 6(d) on SMAX, moved out of papers/otc/smax_items.py (the job, whose
module docstring states the method and the decisions) and re-exported there: the size of a deployment, its env seeds
and exploration stream from (seed, k) alone (common random numbers across methods), the sequential online collection
of deployment k [P Sec. 4.6; I C23], and the greedy test evaluation of each seed's masked policy.

Shapes: E env copies, N agents, M episodes per agent, S seeds, T steps, K actions.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

import envs
from common.algos.cql_discrete import BATCH_KEYS, DiscreteCQL, epsilon_greedy
from common.running.evaluate import eval_seed

__all__ = ["deploy_episodes", "deploy_env_seeds", "sequential_deployment", "evaluate_smax"]

# spawn keys of a deployment's random streams (exploration, env seeds)
EXPLORE_STREAM, DEPLOY_SEEDS = (
    0xE5B,
    0xD5E,
)


def deploy_episodes(n_offline_episodes: int, fraction: float, minimum: int = 1) -> int:
    """M = round(fraction x offline episodes) per agent and deployment, at least ``minimum`` [I C23]."""
    return max(int(minimum), int(round(float(fraction) * int(n_offline_episodes))))


def _stream(seed: int, k: int, key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), int(k)], spawn_key=(int(key),))


def deploy_env_seeds(seed: int, k: int, n: int) -> list[int]:
    """Env seeds of deployment k's n episodes: from (seed, k) alone, the same for every method (common random
    numbers), disjoint in practice from the evaluation seeds (< 2^31 vs eval_seed's 10^6 + 1000 seed + e)."""
    s = _stream(seed, k, DEPLOY_SEEDS).generate_state(n, np.uint32) >> 1
    return [int(x) | (1 << 30) for x in s]  # >= 2^30: apart from eval_seed's small range


@torch.no_grad()
def sequential_deployment(
    learner: DiscreteCQL,
    env: str,
    seed: int,
    k: int,
    episodes: int,
    epsilon: float,
    reward_scale: float = 1.0,
) -> tuple[list[dict[str, Tensor]], dict[str, Any]]:
    """Deployment k [P Sec. 4.6; I C23]: for each agent j, ``episodes`` episodes of pi^{k-1} with agent j
    epsilon-greedy and the others greedy (all N x M episodes as one batch of SMAX copies, copy c = j M + e).
    -> (rows: for every agent j its own transitions of phase j, BATCH_KEYS [c_j, ...], rewards x ``reward_scale``;
    stats, with the raw SMAX returns)."""
    if learner.S != 1:
        raise ValueError(f"a deployment runs one seed's agents; this learner holds {learner.S} seeds")
    N, M = learner.n_agents, int(episodes)
    E = N * M
    dev = learner.device
    venv = envs.make_vec(env, E)
    obs = venv.reset(seeds=deploy_env_seeds(seed, k, E))  # [E, N, O]
    gen = torch.Generator(device=dev).manual_seed(int(_stream(seed, k, EXPLORE_STREAM).generate_state(1)[0]))
    explorer = (torch.arange(E, device=dev)[:, None] // M) == torch.arange(N, device=dev)[None, :]  # [E, N]
    steps: list[dict[str, np.ndarray]] = []
    ret, won = np.zeros(E), np.zeros(E, dtype=bool)
    done = np.zeros(E, dtype=bool)
    while not done.all():
        avail = venv.avail_actions()  # [E, N, K]
        av = torch.as_tensor(avail, device=dev)
        o = torch.as_tensor(obs, device=dev)
        greedy = learner.greedy(o.transpose(0, 1), av.transpose(0, 1)).transpose(0, 1)  # [E, N] (S = 1)
        a = epsilon_greedy(greedy, av, explorer, epsilon, gen).cpu().numpy()
        live = ~done
        nxt, rew, term, done = venv.step(a)
        info = venv.info
        steps.append(
            {
                "obs": obs,
                "actions": a,
                "rewards": rew * reward_scale,
                "next_obs": nxt,
                "terminals": term.astype(np.float32),
                "avail": avail,
                "next_avail": info["avail_actions"],
                "live": live,
            }
        )
        ret += np.where(live, rew[:, 0], 0.0)
        won |= info["won"]
        obs = nxt
    venv.close()
    stack = {
        key: np.stack([s[key] for s in steps], axis=1) for key in steps[0]
    }  # [E, T, ...] (episode-major)
    rows = []
    for j in range(N):
        sel = stack["live"][j * M : (j + 1) * M]  # [M, T] the live steps of phase j's episodes
        r = {}
        for key in BATCH_KEYS:
            v = stack[key][j * M : (j + 1) * M]
            v = v if key == "terminals" else v[:, :, j]  # agent j's column ([E, T] terminals have none)
            r[key] = torch.as_tensor(v[sel], device=dev)
        rows.append(r)
    stats = {
        "deploy_win_rate": float(won.mean()),
        "deploy_return": float(ret.mean()),
        "deploy_episodes": E,
        "deploy_env_steps": int(stack["live"].sum()),
        "online_rows": [int(r["obs"].shape[0]) for r in rows],
    }
    return rows, stats


@torch.no_grad()
def evaluate_smax(
    learner: DiscreteCQL, env: str, seeds: Sequence[int], episodes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(win rate [S], mean return [S]) of each seed's greedy masked policy over ``episodes`` SMAX test episodes on
    env seeds eval_seed(seed) + e (apart from training and deployments); one batched env for everything."""
    S, E = len(seeds), int(episodes)
    venv = envs.make_vec(env, S * E)
    obs = venv.reset(seeds=[eval_seed(s) + e for s in seeds for e in range(E)])
    N, K = obs.shape[1], venv.avail_actions().shape[-1]
    won, ret = np.zeros(S * E, dtype=bool), np.zeros(S * E)
    done = np.zeros(S * E, dtype=bool)
    while not done.all():
        a = learner.act(obs.reshape(S, E, N, -1), venv.avail_actions().reshape(S, E, N, K))
        live = ~done
        obs, rew, _, done = venv.step(a.reshape(S * E, N))
        ret += np.where(live, rew[:, 0], 0.0)
        won |= venv.info["won"]
    venv.close()
    return won.reshape(S, E).mean(axis=1), ret.reshape(S, E).mean(axis=1)
