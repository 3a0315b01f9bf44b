"""common/algos/iql_continuous.py (continuous IQL, MAIQL, IBC with tanh-Gaussian policies and history encoders): the
log-likelihood and greedy action by hand, each method's losses on a hand-computed case (networks with set constant
outputs, the formulas evaluated in the test), one update changes parameters and is deterministic under a seed,
batched seeds equal separate runs, greedy actions in [-1, 1], checkpoint -> resume, the registry and an evaluation
through the history-keeping policy."""

import math

import numpy as np
import pytest
import torch

from common.algos import build_learner
from common.algos.iql_continuous import (
    ContinuousIQL,
    ContinuousIQLConfig,
    squashed_mean,
    tanh_gaussian_log_prob,
)
from common.datasets.dataset import Dataset
from common.networks.history import HistoryPolicy
from common.running.evaluate import evaluate
from learner_checks import const_mlp

EPS = 1e-5
F64 = torch.float64  # the hand cases run in float64: near |a| = 1 float32 rounds log(1 - a^2 + 1e-5) by ~1e-2


def logp_hand(a, mu, ls):
    """The code's tanh-Gaussian log-density of one action entry, by hand."""
    ac = min(max(a, -1 + EPS), 1 - EPS)
    u = math.atanh(ac)
    return -0.5 * (2 * ls + ((u - mu) / math.exp(ls)) ** 2 + math.log(2 * math.pi)) - math.log(
        1 - ac**2 + EPS
    )


def test_tanh_gaussian_log_prob_by_hand():
    # near |a| = 1 float32 rounds 1 - a^2 to ~0.3 %: compare the formula in float64
    f64 = dict(dtype=torch.float64)
    mean, log_std = torch.tensor([[0.2, -0.1]], **f64), torch.tensor([[-1.0, -0.5]], **f64)
    a = torch.tensor([[0.5, 1.0]], **f64)  # 1.0 is clamped to 1 - 1e-5 before atanh
    want = logp_hand(0.5, 0.2, -1.0) + logp_hand(1.0, -0.1, -0.5)
    assert tanh_gaussian_log_prob(mean, log_std, a).item() == pytest.approx(want, rel=1e-5)
    masked = tanh_gaussian_log_prob(mean, log_std, a, mask=torch.tensor([1.0, 0.0], **f64))
    assert masked.item() == pytest.approx(logp_hand(0.5, 0.2, -1.0), rel=1e-6)
    assert torch.isfinite(
        tanh_gaussian_log_prob(mean.float(), log_std.float(), torch.tensor([[-7.0, 7.0]]))
    ).all()


def test_squashed_mean():
    out = squashed_mean(torch.tensor([0.3, 40.0, -40.0]))
    assert out.tolist() == pytest.approx([math.tanh(0.3), 1 - EPS, -1 + EPS])


def test_config_rejects_bad_and_unused_options():
    with pytest.raises(ValueError, match="method"):
        ContinuousIQLConfig(method="cql").validate()
    with pytest.raises(ValueError, match="central_obs"):
        ContinuousIQLConfig(method="iql", central_obs="state").validate()
    with pytest.raises(ValueError, match="unused"):
        ContinuousIQLConfig(method="maiql", central_obs="agent0").validate()
    with pytest.raises(ValueError, match="unused"):
        ContinuousIQLConfig(memory_len=0, memory_dim=64).validate()
    with pytest.raises(ValueError, match="memory_len"):
        ContinuousIQLConfig(memory_len=-1).validate()
    with pytest.raises(ValueError, match="log_std_bounds"):
        ContinuousIQLConfig(log_std_bounds=(0.0, -6.0)).validate()


# ---------------------------------------------------------------------------------------------- hand cases


def const_actor(actor, mean, log_std):
    with torch.no_grad():
        for layer in actor.trunk.layers:
            layer.weight.zero_()
            layer.bias.zero_()
        actor.head.weight.zero_()
        actor.head.bias.copy_(torch.tensor(np.concatenate([mean, log_std], 1), dtype=F64)[:, None, :])


def sync_targets(learner):
    for k in learner.targets:
        learner.targets[k].load_state_dict(learner.nets[k].state_dict())


ACTS = [[[0.5], [-0.3]], [[1.0], [0.0]], [[-0.9], [0.7]]]  # [B, N, A=1]
REW, MASK = [1.0, 0.0, -1.0], [1.0, 0.0, 1.0]


def hand_batch(learner, memory_len, acts=ACTS):
    rng = np.random.default_rng(0)
    B, N, O = len(acts), learner.n_agents, learner.obs_dim
    batch = {
        "obs": torch.tensor(rng.normal(size=(1, B, N, O))),
        "next_obs": torch.tensor(rng.normal(size=(1, B, N, O))),
        "actions": torch.tensor([acts], dtype=torch.float64),
        "rewards": torch.tensor([REW], dtype=torch.float64),
        "masks": torch.tensor([MASK], dtype=torch.float64),
    }
    if memory_len:
        shape = (1, B, learner.n_units, memory_len, learner.history_dim)
        batch["memory"] = torch.tensor(rng.normal(size=shape))
        batch["next_memory"] = torch.tensor(rng.normal(size=shape))
    return batch


def tiny(method, memory_len, **kw):
    mem = {"memory_len": memory_len, **({"memory_dim": 4, "lr_memory": 1e-12} if memory_len else {})}
    # lr 1e-12: the V and pi steps leave every output unchanged (to ~1e-12), so each loss reads the set constants
    return ContinuousIQLConfig(method=method, hidden=(4, 4), batch_size=3, lr=1e-12, **mem, **kw)


@pytest.mark.parametrize("memory_len", [0, 2])
def test_centralized_iql_losses_by_hand(memory_len):
    L = ContinuousIQL((2, 2), (1, 1), 1, tiny("iql", memory_len), seeds=[0], dtype=F64)
    const_mlp(L.nets["q1"], [[1.0]])
    const_mlp(L.nets["q2"], [[2.0]])
    const_mlp(L.nets["v"], [[0.5]])
    const_actor(L.nets["pi"], [[0.2, -0.1]], [[-1.0, -0.5]])  # the joint action's two entries
    sync_targets(L)
    out = L.update(hand_batch(L, memory_len))
    assert out["loss_v"].item() == pytest.approx(0.7 * 0.5**2, rel=1e-9)  # q' = min(1, 2) > v = 0.5
    w = math.exp(3 * (1.0 - 0.5))
    logp = [logp_hand(a[0][0], 0.2, -1.0) + logp_hand(a[1][0], -0.1, -0.5) for a in ACTS]
    assert out["loss_pi"].item() == pytest.approx(-w * np.mean(logp), rel=1e-9)
    y = [r + 0.99 * m * 0.5 for r, m in zip(REW, MASK)]
    assert out["loss_q"].item() == pytest.approx(np.mean([(v - 1) ** 2 + (v - 2) ** 2 for v in y]), rel=1e-9)


@pytest.mark.parametrize("memory_len", [0, 2])
def test_maiql_losses_by_hand(memory_len):
    L = ContinuousIQL((2, 2), (1, 1), 1, tiny("maiql", memory_len), seeds=[0], dtype=F64)
    const_mlp(L.nets["q1"], [[1.0], [3.0]])  # agents 0 and 1
    const_mlp(L.nets["q2"], [[2.0], [0.5]])
    const_mlp(L.nets["v"], [[0.5], [-0.2]])
    const_mlp(L.nets["qmix"], [[0.3, 0.7, 0.1]])  # w_1, w_2, b
    const_mlp(L.nets["vmix"], [[1.2, -0.4, 0.05]])
    const_actor(L.nets["pi"], [[0.2], [-0.1]], [[-1.0], [-0.5]])
    sync_targets(L)
    out = L.update(hand_batch(L, memory_len))
    q_tot_t = 0.3 * 1.0 + 0.7 * 0.5 + 0.1  # target Q mixed over min(Q1, Q2) per agent
    v_tot = 1.2 * 0.5 - 0.4 * -0.2 + 0.05
    assert out["loss_v"].item() == pytest.approx(0.7 * (q_tot_t - v_tot) ** 2, rel=1e-9)
    w = math.exp(3 * (q_tot_t - v_tot))  # the team weight
    logp = [logp_hand(a[0][0], 0.2, -1.0) + logp_hand(a[1][0], -0.1, -0.5) for a in ACTS]
    assert out["loss_pi"].item() == pytest.approx(-w * np.mean(logp), rel=1e-9)
    q1_tot, q2_tot = 0.3 * 1.0 + 0.7 * 3.0 + 0.1, 0.3 * 2.0 + 0.7 * 0.5 + 0.1
    y = [r + 0.99 * m * v_tot for r, m in zip(REW, MASK)]
    assert out["loss_q"].item() == pytest.approx(
        np.mean([(v - q1_tot) ** 2 + (v - q2_tot) ** 2 for v in y]), rel=1e-9
    )


@pytest.mark.parametrize("memory_len", [0, 2])
def test_ibc_loss_by_hand_with_a_padded_action(memory_len):
    acts = [[[0.5, 0.1], [-0.3, 0.0]], [[1.0, -0.6], [0.0, 0.0]]]  # agent 1 has one action entry (padded 0)
    L = ContinuousIQL((2, 2), (2, 1), 1, tiny("bc", memory_len), seeds=[0], dtype=F64)
    # agent 1's 2nd entry: padding
    const_actor(L.nets["pi"], [[0.2, 0.3], [-0.1, 5.0]], [[-1.0, -0.7], [-0.5, 0.0]])
    out = L.update(hand_batch(L, memory_len, acts))
    a0 = -np.mean([logp_hand(a[0][0], 0.2, -1.0) + logp_hand(a[0][1], 0.3, -0.7) for a in acts])
    a1 = -np.mean([logp_hand(a[1][0], -0.1, -0.5) for a in acts])
    assert out["loss_pi"].item() == pytest.approx(a0 + a1, rel=1e-9)  # the seed's sum over its agents


# ---------------------------------------------------------------------------------------------- learner


def toy_tensors(T=64, seed=0):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(T, 2, 3)).astype(np.float32)
    obs[:, 1, 2] = 0.0  # agent 1 sees 2 entries
    act = rng.uniform(-1, 1, size=(T, 2, 2)).astype(np.float32)
    act[:, 1, 1] = 0.0  # agent 1 drives 1 entry
    term, tout = np.zeros(T, np.float32), np.zeros(T, np.float32)
    term[20], tout[9], tout[40], tout[-1] = 1, 1, 1, 1
    return {
        "obs": torch.tensor(obs),
        "next_obs": torch.tensor(np.roll(obs, -1, 0)),
        "actions": torch.tensor(act),
        "rewards": torch.tensor(rng.normal(size=(T, 2)).astype(np.float32)),
        "terminals": torch.tensor(term),
        "timeouts": torch.tensor(tout),
    }


def small(method, memory_len=3, **kw):
    mem = {"memory_len": memory_len, **({"memory_dim": 8} if memory_len else {})}
    return ContinuousIQLConfig(method=method, hidden=(16, 16), batch_size=16, **mem, **kw)


@pytest.mark.parametrize("method", ["iql", "maiql", "bc"])
def test_update_changes_params_and_is_deterministic(method):
    tens = toy_tensors()
    runs = []
    for _ in range(2):
        L = ContinuousIQL((3, 2), (2, 1), 2, small(method), seeds=[4, 9])
        init = {k: v.clone() for k, v in L.nets.state_dict().items()}
        data = L.prepare_data(tens)
        for _ in range(3):
            L.update(L.sample_batch(data))
        runs.append(L.nets.state_dict())
        changed = [k for k, v in runs[-1].items() if not torch.equal(v, init[k])]
        assert any(k.startswith("enc.") for k in changed) and any(k.startswith("pi.") for k in changed)
        if method != "bc":
            assert {k.split(".")[0] for k in changed} >= {"q1", "q2", "v", "pi", "enc"}
    for k, v in runs[0].items():
        assert torch.equal(v, runs[1][k]), k


@pytest.mark.parametrize("method", ["iql", "maiql"])
def test_batched_seeds_equal_separate_runs(method):
    # float64: the key bias of self-attention has a zero gradient in exact math (softmax ignores a shift shared by
    # all keys); in float32 its rounding noise, normalised by Adam, differs with the member count by ~1e-5
    tens = {k: v.double() for k, v in toy_tensors().items()}
    cfg = small(method)
    both = ContinuousIQL((3, 2), (2, 1), 2, cfg, seeds=[3, 5], dtype=F64)
    alone = [ContinuousIQL((3, 2), (2, 1), 1, cfg, seeds=[s], dtype=F64) for s in (3, 5)]
    data = both.prepare_data(tens)
    for _ in range(3):
        both.update(both.sample_batch(data))
        for a in alone:
            a.update(a.sample_batch(data))
    for name, net in both.nets.items():
        k = 1 if name.endswith("mix") else both.n_units
        for s, a in enumerate(alone):
            for key, v in a.nets[name].state_dict().items():
                torch.testing.assert_close(
                    net.state_dict()[key][s * k : (s + 1) * k], v, rtol=1e-9, atol=1e-10
                )


@pytest.mark.parametrize(
    "method,central_obs", [("iql", "joint"), ("iql", "agent0"), ("maiql", "joint"), ("bc", "joint")]
)
def test_greedy_actions_in_bounds_and_history_policy(method, central_obs):
    extra = {"central_obs": central_obs} if method == "iql" else {}
    L = ContinuousIQL((3, 2), (2, 1), 2, small(method, **extra), seeds=[0, 1])
    with torch.no_grad():
        for p in L.nets["pi"].parameters():
            p.mul_(50.0)  # saturate tanh
    obs = np.random.default_rng(0).normal(size=(2, 5, 2, 3)).astype(np.float32) * 10
    obs[..., 1, 2] = 0
    pol = L.policy()
    assert isinstance(pol, HistoryPolicy)
    for _ in range(4):
        a = pol(obs)
        assert a.shape == (2, 5, 2, 2) and np.abs(a).max() <= 1.0
        assert np.all(a[..., 1, 1] == 0)  # agent 1's padded action entry
    assert pol.memory.shape == (2, 5, L.n_units, 3, L.history_dim)
    L0 = ContinuousIQL((3, 2), (2, 1), 1, small(method, memory_len=0, **extra), seeds=[0])
    assert not isinstance(L0.policy(), HistoryPolicy) and np.abs(L0.policy()(obs[:1])).max() <= 1.0


def test_checkpoint_resume_is_identical():
    tens = toy_tensors()
    cfg = small("maiql")
    a = ContinuousIQL((3, 2), (2, 1), 1, cfg, seeds=[2])
    data = a.prepare_data(tens)
    for _ in range(2):
        a.update(a.sample_batch(data))
    b = ContinuousIQL((3, 2), (2, 1), 1, cfg, seeds=[2])
    b.load_state_dict(a.state_dict())
    for L in (a, b):
        for _ in range(2):
            L.update(L.sample_batch(data))
    for k, v in a.nets.state_dict().items():
        assert torch.equal(v, b.nets.state_dict()[k]), k


def test_histories_in_batches_follow_the_dataset():
    tens = toy_tensors()
    L = ContinuousIQL((3, 2), (2, 1), 1, small("maiql"), seeds=[0])
    data = L.prepare_data(tens)
    b = L.sample_batch(data)
    assert b["memory"].shape == (1, 16, 2, 3, 5) and b["next_memory"].shape == (1, 16, 2, 3, 5)
    # the last step of the s' history is the transition's own (obs, clipped action)
    own = torch.cat([b["obs"], b["actions"].clamp(-1 + EPS, 1 - EPS)], -1)  # [1, B, N, 5]
    torch.testing.assert_close(b["next_memory"][:, :, :, -1], own)
    C = ContinuousIQL((3, 2), (2, 1), 1, small("iql"), seeds=[0])
    bc = C.sample_batch(C.prepare_data(tens))
    assert bc["memory"].shape == (1, 16, 1, 3, 5 + 3)  # joint obs (3 + 2) ⊕ joint action (2 + 1)


def test_registry_builds_and_evaluates_with_histories():
    rng = np.random.default_rng(0)
    T = 40
    obs = rng.normal(size=(T, 2, 8)).astype(np.float32)
    obs[:, 1, 6:] = 0.0
    tout = np.zeros(T, bool)
    tout[19] = tout[-1] = True
    data = Dataset.from_arrays(
        "mamujoco/reacher-2x1",
        "custom",
        obs,
        rng.uniform(-1, 1, (T, 2, 1)),
        rng.normal(size=(T, 2)),
        obs,
        np.zeros(T, bool),
        tout,
        obs_dims=(8, 6),
        act_dims=(1, 1),
    )
    L = build_learner(
        "iql_continuous",
        data,
        {"method": "maiql", "hidden": (8, 8), "batch_size": 8, "memory_len": 2, "memory_dim": 4},
        7,
        "cpu",
    )
    tensors = L.prepare_data(data.to_torch("cpu"))
    L.update(L.sample_batch(tensors))
    r = evaluate(
        L.policy(), "mamujoco/reacher-2x1", 1, 2, 100, env_options={"obs_mode": "leader-only"}, max_steps=4
    )
    assert r.returns.shape == (1, 2) and np.isfinite(r.returns).all()
    with pytest.raises(ValueError, match="discrete"):
        data.card["n_actions"] = [2, 2]
        build_learner("iql_continuous", data, {}, 0, "cpu")
