"""Independent TD3+BC (common/algos/itd3bc.py): the smoothed target by hand, the policy delay, state
normalization, batched = separate, checkpoint -> resume identical."""

import copy

import numpy as np
import pytest
import torch

from common.algos.itd3bc import TD3BC, TD3BCConfig, smoothed_target_action

SMALL = dict(hidden=(8, 8), batch_size=5)


def _data(T=30, N=2, O=3, A=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "obs": torch.randn(T, N, O, generator=g) * 3 + 1,
        "next_obs": torch.randn(T, N, O, generator=g),
        "actions": torch.rand(T, N, A, generator=g) * 2 - 1,
        "rewards": torch.randn(T, N, generator=g),
        "terminals": (torch.rand(T, generator=g) < 0.2).float(),
    }


def test_smoothed_target_action_by_hand():
    pi = torch.tensor([[0.9, -0.2, 0.0]])
    eps = torch.tensor([[3.0, 1.0, -10.0]])  # noise 0.2 * eps * max_a, clipped to +-0.5 max_a
    out = smoothed_target_action(pi, eps, 0.2, 0.5, 1.0)
    assert torch.allclose(out, torch.tensor([[1.0, 0.0, -0.5]]))  # 0.9 + 0.5 -> clip 1; -0.2 + 0.2; 0 - 0.5
    assert torch.allclose(
        smoothed_target_action(pi * 0.1, eps, 0.2, 0.5, 0.1), torch.tensor([[0.1, 0.0, -0.05]])
    )


def test_target_value_by_hand():
    lr = TD3BC([3], [2], 1, TD3BCConfig(**SMALL, normalize_obs=False))
    b = {k: v[:5, 0][None] for k, v in _data(N=1).items() if k != "terminals"}
    b["terminals"] = torch.tensor([[0.0, 1.0, 0.0, 0.0, 1.0]])
    eps = torch.zeros(1, 5, 2)
    with torch.no_grad():
        a2 = lr.actor_target(b["next_obs"]).clamp(-1, 1)
        q1, q2 = lr.critic_target(b["next_obs"], a2)
        want = b["rewards"] + 0.99 * (1 - b["terminals"]) * torch.minimum(q1, q2).squeeze(-1)
    assert torch.allclose(lr.target_value(b, eps), want)


def test_policy_delay_and_normalization():
    d = _data()
    lr = TD3BC.from_dataset(
        type("D", (), {"obs": d["obs"].numpy(), "obs_dims": [3, 3], "act_dims": [2, 2]})(),
        TD3BCConfig(**SMALL),
    )
    assert torch.allclose(lr.obs_mean[0, 0], d["obs"][:, 0].double().mean(0).float(), atol=1e-5)
    x = torch.stack([d["obs"][:, 0], d["obs"][:, 1]])  # [M=2, T, O]
    z = lr.norm(x)
    assert torch.allclose(z.mean(1), torch.zeros(2, 3), atol=1e-4)  # each agent's own statistics
    actor0 = [p.clone() for p in lr.actor.parameters()]
    lr.update(lr.sample_batch(d))
    assert all(torch.equal(a, b) for a, b in zip(actor0, lr.actor.parameters()))  # no actor step at update 1
    lr.update(lr.sample_batch(d))
    assert not all(torch.equal(a, b) for a, b in zip(actor0, lr.actor.parameters()))  # policy_delay 2


def test_batched_equals_separate():
    d = _data()
    cfg = TD3BCConfig(**SMALL, policy_delay=1)
    mean, std = np.full((2, 3), 0.5), np.full((2, 3), 2.0)
    big = TD3BC([3, 3], [2, 2], 2, cfg, seeds=[4, 7], obs_mean=mean, obs_std=std)
    small = [TD3BC([3, 3], [2, 2], 1, cfg, seeds=[s], obs_mean=mean, obs_std=std) for s in (4, 7)]
    for _ in range(3):
        b = big.sample_batch(d)
        eps = torch.randn(b["actions"].shape)
        big.update(b, eps)
        for s, lr in enumerate(small):
            lr.update({k: v[2 * s : 2 * s + 2] for k, v in b.items()}, eps[2 * s : 2 * s + 2])
    x = d["obs"][:4].permute(1, 0, 2).repeat(2, 1, 1)  # [M=4, 4, O]
    with torch.no_grad():
        a_big = big.actor(big.norm(x))
        a_small = torch.cat([lr.actor(lr.norm(x[2 * s : 2 * s + 2])) for s, lr in enumerate(small)])
    assert torch.allclose(a_big, a_small, atol=1e-6)


def test_resume_is_identical():
    d = _data()
    a = TD3BC(
        [3, 3], [2, 2], 1, TD3BCConfig(**SMALL), seeds=[1], obs_mean=np.zeros((2, 3)), obs_std=np.ones((2, 3))
    )
    for _ in range(3):
        a.update(a.sample_batch(d))
    b = TD3BC([3, 3], [2, 2], 1, TD3BCConfig(**SMALL), seeds=[1])
    b.load_state_dict(copy.deepcopy(a.state_dict()))  # as a checkpoint file would
    for _ in range(3):
        a.update(a.sample_batch(d))
        b.update(b.sample_batch(d))
    assert all(torch.equal(x, y) for x, y in zip(a.actor.parameters(), b.actor.parameters()))
    obs = np.random.default_rng(0).normal(size=(1, 4, 2, 3)).astype(np.float32)
    assert np.array_equal(a.act(obs), b.act(obs)) and a.act(obs).shape == (1, 4, 2, 2)


def test_config_errors_name_the_value():
    with pytest.raises(ValueError, match="policy_delay=0"):
        TD3BCConfig(policy_delay=0).validate()
    with pytest.raises(ValueError, match="tau=0"):
        TD3BCConfig(tau=0).validate()
