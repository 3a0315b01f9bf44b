"""MOMA-PPO's synthetic rollouts with histories (papers/moma_ppo/moma_ppo.py, MAPPO with memory_len > 0): a start's
history is the dataset's, each model step moves it on by (obs, clipped action), and the batch carries memory /
next_memory for MAPPO."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from common.networks.history import HISTORY_ACT_CLIP, DatasetHistories
from papers.moma_ppo.moma_ppo import RolloutConfig, generate_rollouts, moma_iteration, start_generators


class _MemoryStub:
    """One seed, memory_len 2; action 2.0 everywhere (so the histories must clip it); records the memories it got."""

    n_seeds, memory_len = 1, 2

    def __init__(self):
        self.seen = []

    def act(self, obs, memory=None):
        self.seen.append(memory.clone())
        return torch.full((*obs.shape[:-1], 1), 2.0), torch.zeros(obs.shape[:-1])


class _PlusOneWM:
    """next obs = obs + 1; reward 0; never terminal, never uncertain."""

    cfg = SimpleNamespace(threshold=2.0)

    def sample(self, obs, actions):
        B, N = obs.shape[:2]
        z = torch.zeros(B)
        return {
            "next_obs": obs + 1.0,
            "rewards": torch.zeros(B, N),
            "masks": torch.ones(B, N),
            "penalty": z,
            "eps_g_raw": z,
            "eps_g": z,
        }


def _data(T=6):
    """Two agents, obs dim 1: obs[t, i] = 10 t + i; actions[t, i] = -(t + 1) / 10 (inside the clip); one episode of
    3 steps (time-out at row 2), then another of 3."""
    obs = torch.tensor([[[10.0 * t + i] for i in range(2)] for t in range(T)])  # [T, 2, 1]
    act = torch.tensor([[[-(t + 1) / 10.0] for _ in range(2)] for t in range(T)])  # [T, 2, 1]
    to = np.zeros(T, bool)
    to[2] = to[-1] = True
    return obs, act, DatasetHistories(obs, act, np.zeros(T, bool), to, length=2)


def test_histories_start_from_the_dataset_and_move_on_with_each_model_step():
    obs, act, hist = _data()
    pol = _MemoryStub()
    out = generate_rollouts(
        _PlusOneWM(), pol, obs, RolloutConfig(k=3, batch=3).validate(), start_generators([0]), histories=hist
    )
    b = out["batch"]
    n_starts = b["obs"].shape[1] // 3
    assert b["memory"].shape == (1, 3 * n_starts, 2, 2, 2) and b["next_memory"].shape == b["memory"].shape
    for r in range(n_starts):
        o0 = b["obs"][0, 3 * r, 0, 0].item()
        t = int(o0 // 10)  # the start row: obs of agent 0 is 10 t
        start = 3 * (t // 3)  # its episode's first row
        for i in range(2):
            # hand-made dataset history of row t, agent i: rows t-2, t-1 where inside the episode, else zeros
            want = [[10.0 * u + i, -(u + 1) / 10.0] if u >= start else [0.0, 0.0] for u in (t - 2, t - 1)]
            assert torch.allclose(b["memory"][0, 3 * r, i], torch.tensor(want))
        for j in range(3):  # model step j: obs = 10 t + i + j, action 2.0 clipped to 1 - 1e-5 in the history
            row = 3 * r + j
            step = torch.stack([b["obs"][0, row, :, 0], torch.full((2,), HISTORY_ACT_CLIP)], -1)  # [N, 2]
            assert torch.equal(b["next_memory"][0, row, :, 0], b["memory"][0, row, :, 1])
            assert torch.allclose(b["next_memory"][0, row, :, 1], step)
            if j < 2:
                assert torch.equal(b["memory"][0, row + 1], b["next_memory"][0, row])
    assert torch.equal(pol.seen[0][0], b["memory"][0, 0::3][: pol.seen[0].shape[1]])  # what the policy read


def test_histories_are_required_exactly_with_a_memory():
    obs, act, hist = _data()
    cfg, gens = RolloutConfig(k=2, batch=2).validate(), start_generators([0])
    with pytest.raises(ValueError, match="memory_len is 2: give the dataset's histories"):
        generate_rollouts(_PlusOneWM(), _MemoryStub(), obs, cfg, gens)
    no_mem = SimpleNamespace(n_seeds=1, memory_len=0, act=lambda o: (torch.zeros(*o.shape[:-1], 1), None))
    with pytest.raises(ValueError, match="memory_len is 0"):
        generate_rollouts(_PlusOneWM(), no_mem, obs, cfg, gens, histories=hist)
    short = DatasetHistories(obs, act, np.zeros(6, bool), np.ones(6, bool), length=3)
    with pytest.raises(ValueError, match="length 3 over 6 rows do not match the policy's memory_len 2"):
        generate_rollouts(_PlusOneWM(), _MemoryStub(), obs, cfg, gens, histories=short)


def test_mappo_with_a_memory_trains_on_synthetic_histories():
    """A real MAPPO with the self-attention encoder (memory_len 2) takes one update on the synthetic batch: finite
    losses, and the encoder's parameters move."""
    from common.algos.mappo import MAPPO, MAPPOConfig

    obs, act, hist = _data()
    pol = MAPPO(
        [1, 1],
        [1, 1],
        1,
        MAPPOConfig(hidden=(8,), memory_len=2, memory_dim=4, minibatch_size=6, epochs=1),
        seeds=[0],
    )
    before = [p.detach().clone() for p in pol.encoder.parameters()]
    m = moma_iteration(
        _PlusOneWM(), pol, obs, RolloutConfig(k=3, batch=6).validate(), start_generators([0]), histories=hist
    )
    assert all(bool(torch.isfinite(v).all()) for v in m.values() if isinstance(v, torch.Tensor))
    assert any(not torch.equal(a, b) for a, b in zip(before, pol.encoder.parameters()))
