"""Rollouts into offline datasets, the pieces of the D4RL-style protocol (common/behavior/collect.py): ``collect``
(a policy plus Gaussian noise, or uniform actions, for exactly n transitions), ``medium_replay_from_buffer`` (the
behavior learner's replay-buffer prefix) and ``reobserve`` (the same transitions in another observation layout).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

import numpy as np

import envs
from common.behavior.matd3 import MATD3
from common.datasets.card import DatasetError
from common.datasets.dataset import Dataset

__all__ = ["collect", "medium_replay_from_buffer", "reobserve", "plain_json", "GENERATOR"]

# in every card: the protocol module that made it
GENERATOR = {"name": "common.behavior.collect", "version": 1}


def collect(
    env_name: str,
    env_options: dict | None,
    policy_fn: Callable[[np.ndarray], np.ndarray] | None,
    n_transitions: int,
    noise_std: float,
    seed: int,
    *,
    kind: str = "custom",
    return_mode: str = "mean",
    n_envs: int = 1,
    version: int = 1,
    policy_description: str | None = None,
    behavior: dict | None = None,
    ref_scores: Mapping[str, float] | None = None,
) -> Dataset:
    """Roll out ``policy_fn`` (obs [n_envs, N, O] -> actions [n_envs, N, A], deterministic) plus
    Gaussian noise of std ``noise_std · max_action`` (clipped to the bounds) for exactly
    ``n_transitions`` transitions. ``policy_fn=None`` draws uniform actions in the bounds (no noise).

    Env copy k starts with ``reset(seed + k)`` and continues its own RNG with ``reset(None)``; the
    noise comes from ``np.random.default_rng([seed, 2])``. Episodes enter the dataset in the order
    they finish; the last is cut to hit n_transitions (``timeouts[-1] = True``); unfinished episodes
    of the other copies are dropped. state / next_state come from ``env.state()``."""
    if n_transitions < 1:
        raise ValueError(f"n_transitions must be >= 1, got {n_transitions}")
    if noise_std < 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    venv = envs.make_vec(env_name, n_envs, **(env_options or {}))
    spec = venv.spec
    if spec.discrete:
        raise ValueError(f"collect() handles continuous actions; {env_name} is discrete")
    lo, hi = float(spec.act_low), float(spec.act_high)
    mask = spec.act_mask()
    rng = np.random.default_rng([int(seed), 2])
    E, N = n_envs, spec.n_agents
    keys = ("obs", "actions", "rewards", "next_obs", "state", "next_state")
    cur: list[dict[str, list]] = [{k: [] for k in keys} for _ in range(E)]
    episodes: list[dict[str, Any]] = []
    n_done = 0
    obs = np.stack([e.reset(int(seed) + k) for k, e in enumerate(venv.envs)])  # [E, N, O]
    state = np.stack([e.state() for e in venv.envs])  # [E, S]
    while n_done < n_transitions:
        if policy_fn is None:
            act = rng.uniform(lo, hi, size=(E, N, spec.act_dim))
        else:
            act = np.asarray(policy_fn(obs), dtype=np.float64).reshape(E, N, spec.act_dim)
            if noise_std > 0:
                act = act + rng.normal(0.0, noise_std * hi, size=act.shape)
        act = (np.clip(act, lo, hi) * mask).astype(np.float32)
        for k, env in enumerate(venv.envs):
            o2, r, term, trunc, _ = env.step(act[k])
            s2 = env.state()
            c = cur[k]
            for key, v in zip(keys, (obs[k], act[k], r, o2, state[k], s2)):
                c[key].append(np.array(v, dtype=np.float32))
            if term or trunc:
                ep: dict[str, Any] = {key: np.stack(v) for key, v in c.items()}  # arrays, and the flag below
                ep["terminated"] = bool(term)
                episodes.append(ep)
                n_done += len(ep["obs"])
                # enough: copies finishing in this same step are dropped (unfinished)
                if n_done >= n_transitions:
                    break
                cur[k] = {key: [] for key in keys}
                o2 = env.reset(None)
                s2 = env.state()
            obs[k], state[k] = o2, s2
    extra = n_done - n_transitions
    if extra:  # cut the last finished episode
        last = episodes[-1]
        L = len(last["obs"]) - extra
        if L <= 0:  # cannot happen: collection stops at the episode that reaches n
            raise AssertionError("episode cut below one step")
        episodes[-1] = {k: (v[:L] if isinstance(v, np.ndarray) else False) for k, v in last.items()}
    desc = policy_description or ("uniform random actions" if policy_fn is None else "given policy")
    protocol = {
        "policy": desc,
        "noise_std": 0.0 if policy_fn is None else float(noise_std),
        "noise": "Gaussian N(0, (noise_std*max_action)^2) per action dim, clipped to the bounds",
        "seed": int(seed),
        "n_envs": int(n_envs),
        "env_options": plain_json(env_options or {}),
        "episodes": "complete; the last may be cut (timeouts[-1] = True)",
    }
    ds = Dataset.from_episodes(
        env_name,
        kind,
        episodes,
        spec=spec,
        version=version,
        protocol=protocol,
        return_mode=return_mode,
        behavior=behavior,
        generator=GENERATOR,
        ref_scores=ref_scores,
    )
    ds.card["behavior"] = {**(behavior or {}), "score": ds.card["returns"]["mean"]}
    return ds


def medium_replay_from_buffer(
    learner: MATD3,
    n_transitions: int,
    seed_index: int = 0,
    *,
    env_name: str | None = None,
    kind: str = "medium-replay",
    return_mode: str = "mean",
    version: int = 1,
    behavior: dict | None = None,
    protocol: dict | None = None,
) -> Dataset:
    """Every transition of seed slot ``seed_index``'s replay buffer among the first ``n_transitions``
    the learner added (rounded down to whole env steps), as a Dataset. With n_envs copies per seed
    the interleaved rows are regrouped copy by copy, so episodes are contiguous; each copy's
    unfinished trailing episode is kept and cut (timeouts = True). Raises if the buffer wrapped."""
    E = learner.cfg.n_envs
    n = (int(n_transitions) // E) * E
    if n < 1:
        raise ValueError(f"medium-replay needs at least one env step ({E} transitions), got {n_transitions}")
    p = learner.buffer.prefix(n, seed_index)
    T = n // E

    def regroup(v):  # [T*E, ...] -> copy-major [E*T, ...]
        return v.reshape(T, E, *v.shape[1:]).swapaxes(0, 1).reshape(n, *v.shape[1:])

    a = {k: regroup(v) for k, v in p.items()}
    term = a["terminals"] > 0.5
    tout = a["timeouts"] > 0.5
    for k in range(E):  # each copy's last step ends an episode (cut if unfinished)
        if not term[(k + 1) * T - 1]:
            tout[(k + 1) * T - 1] = True
    spec = learner.spec
    prot = {
        "rule": "every replay-buffer transition until the policy first reached the medium level",
        "n_transitions_per_seed": n,
        "seed": learner.seeds[seed_index],
        **(protocol or {}),
    }
    return Dataset.from_arrays(
        env_name or spec.name,
        kind,
        a["obs"],
        a["actions"],
        a["rewards"],
        a["next_obs"],
        term,
        tout,
        state=a.get("state"),
        next_state=a.get("next_state"),
        spec=spec,
        version=version,
        protocol=prot,
        return_mode=return_mode,
        behavior=behavior,
        generator=GENERATOR,
    )


def reobserve(ds: Dataset, env_name: str, env_options: Mapping[str, Any] | None) -> Dataset:
    """The same transitions seen through another observation layout: obs / next_obs re-derived from
    the stored state / next_state by ``envs.make(env_name, **env_options).split_obs`` (MaMuJoCo, whose
    per-agent observations are index sets of the state). Card (protocol, behavior, returns) kept."""
    if ds.state is None:
        raise DatasetError(f"{ds.card.get('id')}: reobserve needs state / next_state, the dataset has none")
    env = envs.make(env_name, **dict(env_options or {}))
    if not hasattr(env, "split_obs"):
        raise ValueError(f"{env_name} cannot re-derive observations from the state (no split_obs)")
    out = Dataset.from_arrays(
        env_name,
        ds.card["kind"],
        env.split_obs(ds.state),
        ds.actions,
        ds.rewards,
        env.split_obs(ds.next_state),
        ds.terminals,
        ds.timeouts,
        state=ds.state,
        next_state=ds.next_state,
        spec=env.spec,
        version=ds.card.get("version", 1),
        return_mode=ds.card.get("return_mode", "mean"),
        generator=GENERATOR,
    )
    for k in ("protocol", "behavior", "ref_scores", "notes"):
        if k in ds.card:
            out.card[k] = ds.card[k]
    out.card["protocol"] = {
        **(ds.card.get("protocol") or {}),
        "env_options": plain_json(dict(env_options or {})),
    }
    return out


def plain_json(x):
    """``x`` as plain JSON types (what a card stores); objects JSON cannot hold become their ``repr``."""
    return json.loads(json.dumps(x, default=repr))
