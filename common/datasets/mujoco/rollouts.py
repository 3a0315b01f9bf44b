"""Rollouts that make the MuJoCo datasets from behavior policies (common.datasets.mujoco.policies).

``collect`` (random, medium, expert, mixed): ``n_envs`` envs step in parallel and the episodes that started first
are kept whole, in start order, until ``size`` transitions; the last one is cut (``timeouts[-1]``).

``replay`` (medium-replay, full-replay): the SAC run's replay buffer rebuilt from its policy series, as one env
stepping sequentially as SAC's training env did: uniform actions for the run's first ``start_steps`` transitions
(SAC's uniform start), then in each segment of the series actions sampled from that segment's snapshot (the
evaluation snapshot at its middle); episodes run on across segment boundaries and end at 1000 steps or when the
robot falls. This approximates the buffer, whose policy changed after every update; the dataset report sets the two
side by side (the buffer's statistics are on the policy card).

Episodes end at ``EPISODE_LENGTH`` (``timeouts``) or when the robot falls (``terminals``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from common.behavior.sac import Actor, SACConfig
from envs.gym_mujoco import EPISODE_LENGTH, make_task

__all__ = ["Sampler", "collect", "replay", "KEYS", "ProgressBar"]

N_COLLECT_ENVS = 10
KEYS = ("obs", "actions", "rewards", "next_obs", "terminals", "timeouts")


class Sampler:
    """Stochastic tanh-Gaussian actions of one actor (a one-member common.behavior.sac.Actor) for K observations,
    noise from its own generator. The forward pass runs in float32 numpy: at the batch of one env step (1 to 10
    rows) torch's per-call overhead is most of the time, and the rollouts are what a fresh clone spends its
    rebuild on."""

    def __init__(self, actor: Actor, cfg: SACConfig, seed):
        self.lo, self.hi = cfg.log_std_bounds
        self.rng = np.random.default_rng(seed)
        lins = [*actor.trunk.layers, actor.head]
        self.layers = [
            (
                lin.weight.detach()[0].cpu().numpy().astype(np.float32),
                lin.bias.detach()[0, 0].cpu().numpy().astype(np.float32),
            )
            for lin in lins
        ]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, np.float32)
        for w, b in self.layers[:-1]:
            x = np.maximum(x @ w + b, 0.0, dtype=np.float32)
        w, b = self.layers[-1]
        mu, log_std = np.split(x @ w + b, 2, axis=-1)
        eps = self.rng.standard_normal(mu.shape).astype(np.float32)
        return np.tanh(mu + eps * np.exp(np.clip(log_std, self.lo, self.hi)))


def _arrays(rows: list[tuple]) -> dict[str, np.ndarray]:
    out = {
        "obs": np.stack([r[0] for r in rows]).astype(np.float32),
        "actions": np.stack([r[1] for r in rows]).astype(np.float32),
        "rewards": np.array([r[2] for r in rows], np.float32),
        "next_obs": np.stack([r[3] for r in rows]).astype(np.float32),
        "terminals": np.array([r[4] for r in rows], bool),
        "timeouts": np.array([r[5] for r in rows], bool),
    }
    if not (out["terminals"][-1] or out["timeouts"][-1]):
        out["timeouts"][-1] = True  # cut by the dataset's size
    return out


def collect(
    task: str,
    size: int,
    seed: int,
    choose_action: Callable[[np.ndarray, np.ndarray], np.ndarray],
    n_envs: int = N_COLLECT_ENVS,
    n_combos: int = 1,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Roll ``n_envs`` envs until the episodes started first hold ``size`` transitions (see the module docstring).

    choose_action(obs [K, O], combo [K]) -> actions [K, A]; episode j runs with combo j % n_combos.
    Returns the arrays [T, ...] (the last episode cut to fit, ``timeouts[-1]``) and the combo of each kept episode.
    ``progress(n)`` is told the transitions covered so far."""
    envs_ = [make_task(task) for _ in range(n_envs)]
    obs = np.stack([e.reset(seed=1_000_000 + 1000 * seed + k)[0] for k, e in enumerate(envs_)])
    ep_of = np.arange(n_envs)  # episode index each env is running
    next_ep = n_envs
    steps: dict[int, list] = {k: [] for k in range(n_envs)}  # episode -> transitions
    done: dict[int, list] = {}
    prefix, covered = 0, 0  # episodes 0..prefix-1 complete, holding `covered` transitions
    while covered < size:
        act = np.clip(choose_action(obs, ep_of % n_combos), -1.0, 1.0)
        for k, env in enumerate(envs_):
            o2, r, term, _, _ = env.step(act[k])
            ep = int(ep_of[k])
            steps[ep].append((obs[k].copy(), act[k].copy(), r, o2, term))
            obs[k] = o2
            if term or len(steps[ep]) >= EPISODE_LENGTH:
                done[ep] = steps.pop(ep)
                ep_of[k] = next_ep
                steps[next_ep] = []
                next_ep += 1
                obs[k] = env.reset()[0]
        while prefix in done:
            covered += len(done[prefix])
            prefix += 1
            if progress is not None:
                progress(min(covered, size))
    for e in envs_:
        e.close()
    rows, combos = [], []
    for ep in range(prefix):
        tr = done[ep]
        n = len(tr)
        for t, (o, a, r, o2, term) in enumerate(tr):
            rows.append((o, a, r, o2, term, (t == n - 1) and not term))
        combos.append(ep % n_combos)
        if len(rows) >= size:
            break
    return _arrays(rows[:size]), np.array(combos, np.int64)


def replay(
    task: str,
    series: Sequence[tuple[int, int, Actor | None]],
    cfg: SACConfig,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """The replay rebuilt from a policy series (see the module docstring): ``series`` = [(start, stop, actor)]
    covering [0, T) in order (actor None: uniform actions), one env stepping through all of it.
    Transitions before ``cfg.start_steps`` take uniform actions whatever the series says."""
    env = make_task(task)
    rng = np.random.default_rng([seed, 7])
    n_act = int(env.action_space.shape[0])
    obs, _ = env.reset(seed=3_000_000 + 1000 * seed)
    ep_len, rows = 0, []
    for start, stop, actor in series:
        sampler = None if actor is None else Sampler(actor, cfg, [seed, 8, start])
        for t in range(start, stop):
            if sampler is None or t < cfg.start_steps:
                a = rng.uniform(-1.0, 1.0, n_act).astype(np.float32)
            else:
                a = np.clip(sampler(obs[None])[0], -1.0, 1.0)
            o2, r, term, _, _ = env.step(a)
            ep_len += 1
            tout = ep_len >= EPISODE_LENGTH and not term
            rows.append((obs, a, r, o2, term, tout))
            obs = o2
            if term or tout:
                obs, _ = env.reset()
                ep_len = 0
            if progress is not None and (t + 1) % 1000 == 0:
                progress(t + 1)
    env.close()
    return _arrays(rows)


class ProgressBar:
    """The collection's progress (common.running.progress.progress_bar: tqdm on a terminal, a line every 10 minutes
    in a log), told the number of transitions so far; nothing when ``on`` is false."""

    def __init__(self, desc: str, total: int, on: bool):
        from common.running.progress import progress_bar

        self.bar = progress_bar(total, desc, unit="step") if on else None
        self.shown = 0

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n - self.shown)
            self.shown = n
            if n >= self.bar.total:
                self.bar.close()
