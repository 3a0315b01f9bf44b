"""common/algos/matd3bc.py (MATD3+BC on a Q mixer, the spec's inferred design): target smoothing and the actor loss
by hand, a full update's critic and actor losses on networks with set constant outputs, the policy delay, one update
changes parameters and is deterministic under a seed, batched seeds equal separate runs, greedy actions in [-1, 1]
through the history-keeping policy, checkpoint -> resume, the registry."""

import math

import numpy as np
import pytest
import torch

from common.algos import build_learner
from common.algos.matd3bc import MATD3BC, MATD3BCConfig, matd3bc_actor_loss, target_actions
from common.datasets.dataset import Dataset
from common.networks.history import HistoryPolicy
from learner_checks import const_mlp

F64 = torch.float64


def test_target_actions_by_hand():
    out = target_actions(torch.tensor([0.9, -0.2, -0.8]), torch.tensor([0.7, -0.1, -0.6]), 0.5)
    assert out.tolist() == pytest.approx([1.0, -0.3, -1.0])  # noise clipped to +-0.5, then actions to [-1, 1]


def test_actor_loss_by_hand():
    q_tot = torch.tensor([[[1.0, 3.0], [-2.0, -2.0]]])  # [S=1, N=2 variants, B=2]
    pi = torch.tensor([[[[0.5, 0.5], [0.2, 0.9]], [[0.0, 0.0], [-0.2, 0.3]]]])  # [S, B, N, A=2]
    a = torch.tensor([[[[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])  # agent 1 drives one entry
    loss, lam = matd3bc_actor_loss(q_tot, pi, a, 2.5, mask)
    assert lam[0].tolist() == pytest.approx([1.25, 1.25])  # 2.5 / mean|Q_tot| = 2.5 / 2 for both variants
    bc0, bc1 = (0.5 + 1.0) / 2, (0.04 + 0.04) / 2
    assert loss.item() == pytest.approx(-1.25 * 2.0 + bc0 - 1.25 * -2.0 + bc1)


ACTS = [[[0.5], [-0.3]], [[1.0], [0.0]], [[-0.9], [0.7]]]  # [B, N, A=1]
REW, MASK = [1.0, 0.0, -1.0], [1.0, 0.0, 1.0]


def hand_batch(L, memory_len):
    rng = np.random.default_rng(0)
    B = len(ACTS)
    batch = {
        "obs": torch.tensor(rng.normal(size=(1, B, 2, 2))),
        "next_obs": torch.tensor(rng.normal(size=(1, B, 2, 2))),
        "actions": torch.tensor([ACTS], dtype=F64),
        "rewards": torch.tensor([REW], dtype=F64),
        "masks": torch.tensor([MASK], dtype=F64),
    }
    if memory_len:
        shape = (1, B, 2, memory_len, L.history_dim)
        batch["memory"] = torch.tensor(rng.normal(size=shape))
        batch["next_memory"] = torch.tensor(rng.normal(size=shape))
    return batch


@pytest.mark.parametrize("memory_len", [0, 2])
def test_critic_and_actor_losses_by_hand(memory_len):
    mem = {"memory_dim": 4, "lr_memory": 1e-12} if memory_len else {}
    # lr ~0: outputs fixed
    cfg = MATD3BCConfig(hidden=(4, 4), batch_size=3, lr=1e-12, memory_len=memory_len, **mem)
    L = MATD3BC((2, 2), (1, 1), 1, cfg, seeds=[0], dtype=F64)
    const_mlp(L.nets["q1"], [[1.0], [3.0]])
    const_mlp(L.nets["q2"], [[2.0], [0.5]])
    const_mlp(L.nets["qmix"], [[0.3, 0.7, 0.1]])
    const_mlp(L.nets["actor"].net, [[0.2], [-0.4]])  # pi = tanh(0.2), tanh(-0.4)
    L.targets.load_state_dict(L.nets.state_dict())
    batch = hand_batch(L, memory_len)
    out = L.update(batch)
    q1_tot, q2_tot = 0.3 * 1.0 + 0.7 * 3.0 + 0.1, 0.3 * 2.0 + 0.7 * 0.5 + 0.1
    y = [r + 0.99 * m * min(q1_tot, q2_tot) for r, m in zip(REW, MASK)]  # targets read the same constants
    want_q = np.mean([(v - q1_tot) ** 2 + (v - q2_tot) ** 2 for v in y])
    assert out["loss_q"].item() == pytest.approx(want_q, rel=1e-9)
    assert out["loss_actor"].item() == 0.0  # policy delay: no actor step on the first update
    out = L.update(batch)
    # Q_tot^(i) = the mixed Q1 constants = q1_tot for both variants, lambda = 2.5 / q1_tot = 1
    bc = [np.mean([(math.tanh(p) - a[i][0]) ** 2 for a in ACTS]) for i, p in enumerate((0.2, -0.4))]
    assert out["lmbda"].item() == pytest.approx(2.5 / q1_tot)
    assert out["loss_actor"].item() == pytest.approx(2 * -(2.5 / q1_tot) * q1_tot + sum(bc), rel=1e-9)


def toy_tensors(T=64, seed=0, dtype=torch.float32):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(T, 2, 3))
    obs[:, 1, 2] = 0.0
    act = rng.uniform(-1, 1, size=(T, 2, 2))
    act[:, 1, 1] = 0.0
    term, tout = np.zeros(T), np.zeros(T)
    term[20], tout[9], tout[40], tout[-1] = 1, 1, 1, 1
    out = {
        "obs": obs,
        "next_obs": np.roll(obs, -1, 0),
        "actions": act,
        "rewards": rng.normal(size=(T, 2)),
        "terminals": term,
        "timeouts": tout,
    }
    return {k: torch.tensor(v, dtype=dtype) for k, v in out.items()}


def small(memory_len=3, **kw):
    return MATD3BCConfig(
        hidden=(16, 16),
        batch_size=16,
        memory_len=memory_len,
        **({"memory_dim": 8} if memory_len else {}),
        **kw,
    )


def test_policy_delay_and_targets():
    L = MATD3BC((3, 2), (2, 1), 1, small(), seeds=[1])
    data = L.prepare_data(toy_tensors())
    actor0 = {k: v.clone() for k, v in L.nets["actor"].state_dict().items()}
    target0 = {k: v.clone() for k, v in L.targets.state_dict().items()}
    critic0 = L.nets["q1"].state_dict()["layers.0.weight"].clone()
    L.update(L.sample_batch(data))
    assert all(torch.equal(v, L.nets["actor"].state_dict()[k]) for k, v in actor0.items())
    assert all(torch.equal(v, L.targets.state_dict()[k]) for k, v in target0.items())
    assert not torch.equal(critic0, L.nets["q1"].state_dict()["layers.0.weight"])
    L.update(L.sample_batch(data))
    assert all(not torch.equal(v, L.nets["actor"].state_dict()[k]) for k, v in actor0.items())
    assert not torch.equal(
        target0["actor.net.layers.0.weight"], L.targets.state_dict()["actor.net.layers.0.weight"]
    )


def test_update_changes_params_and_is_deterministic():
    runs = []
    for _ in range(2):
        L = MATD3BC((3, 2), (2, 1), 2, small(grad_clip=1.0), seeds=[4, 9])
        init = {k: v.clone() for k, v in L.nets.state_dict().items()}
        data = L.prepare_data(toy_tensors())
        for _ in range(4):
            out = L.update(L.sample_batch(data))
        assert set(out) == {"loss_q", "q", "loss_actor", "lmbda"} and out["loss_q"].shape == (2,)
        runs.append(L.nets.state_dict())
        changed = {k.split(".")[0] for k, v in runs[-1].items() if not torch.equal(v, init[k])}
        assert changed == {"actor", "q1", "q2", "qmix", "enc"}
    for k, v in runs[0].items():
        assert torch.equal(v, runs[1][k]), k


def test_batched_seeds_equal_separate_runs():
    # float64: the attention key bias has a zero gradient in exact math; its float32 rounding noise, normalised by
    # Adam, depends on the member count
    tens = toy_tensors(dtype=F64)
    both = MATD3BC((3, 2), (2, 1), 2, small(), seeds=[3, 5], dtype=F64)
    alone = [MATD3BC((3, 2), (2, 1), 1, small(), seeds=[s], dtype=F64) for s in (3, 5)]
    data = both.prepare_data(tens)
    for _ in range(4):
        both.update(both.sample_batch(data))
        for a in alone:
            a.update(a.sample_batch(data))
    for name, net in both.nets.items():
        k = 1 if name.endswith("mix") else 2
        for s, a in enumerate(alone):
            for key, v in a.nets[name].state_dict().items():
                torch.testing.assert_close(
                    net.state_dict()[key][s * k : (s + 1) * k], v, rtol=1e-9, atol=1e-10
                )


def test_greedy_actions_in_bounds_with_histories():
    L = MATD3BC((3, 2), (2, 1), 2, small(), seeds=[0, 1])
    with torch.no_grad():
        for p in L.nets["actor"].parameters():
            p.mul_(50.0)
    obs = np.random.default_rng(0).normal(size=(2, 5, 2, 3)).astype(np.float32) * 10
    obs[..., 1, 2] = 0
    pol = L.policy()
    assert isinstance(pol, HistoryPolicy)
    for _ in range(3):
        a = pol(obs)
        assert a.shape == (2, 5, 2, 2) and np.abs(a).max() <= 1.0 and np.all(a[..., 1, 1] == 0)
    assert pol.memory.shape == (2, 5, 2, 3, 5)


def test_checkpoint_resume_is_identical():
    data_t = toy_tensors()
    a = MATD3BC((3, 2), (2, 1), 1, small(), seeds=[2])
    data = a.prepare_data(data_t)
    for _ in range(3):
        a.update(a.sample_batch(data))
    b = MATD3BC((3, 2), (2, 1), 1, small(), seeds=[2])
    b.load_state_dict(a.state_dict())
    for L in (a, b):
        for _ in range(3):
            L.update(L.sample_batch(data))
    for k, v in a.nets.state_dict().items():
        assert torch.equal(v, b.nets.state_dict()[k]), k
    with pytest.raises(ValueError, match="grad_clip"):
        MATD3BCConfig(grad_clip=0.0).validate()
    with pytest.raises(ValueError, match="unused"):
        MATD3BCConfig(memory_len=0, lr_memory=1e-3).validate()


def test_registry_builds_the_learner():
    rng = np.random.default_rng(0)
    T = 30
    obs = rng.normal(size=(T, 2, 5)).astype(np.float32)
    tout = np.zeros(T, bool)
    tout[-1] = True
    data = Dataset.from_arrays(
        "mamujoco/reacher-2x1",
        "custom",
        obs,
        rng.uniform(-1, 1, (T, 2, 1)),
        rng.normal(size=(T, 2)),
        obs,
        np.zeros(T, bool),
        tout,
    )
    L = build_learner("matd3bc", data, {"hidden": (8, 8), "batch_size": 8, "memory_len": 0}, 3, "cpu")
    L.update(L.sample_batch(L.prepare_data(data.to_torch("cpu"))))
    assert isinstance(L, MATD3BC) and L.seeds == [3]
