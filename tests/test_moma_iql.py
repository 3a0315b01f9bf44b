"""common/algos/iql.py (discrete IQL, MAIQL, BC): the named losses (common/algos/iql_losses.py, ``L``) on
hand-computed cases, the joint-action code, batched seeds equal separate runs, checkpoint -> resume, and the ICG
behaviors that are exact given the data."""

import math

import numpy as np
import pytest
import torch

from common.algos import iql_losses as L
from common.algos.iql import DiscreteIQL, IQLConfig
from common.running.evaluate import evaluate
from papers.moma_ppo.datasets import make_icg_dataset


def test_expectile_loss_hand_case():
    q, v = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5])
    # q >= v: weight tau = 0.7; q < v: 1 - tau = 0.3; both squared errors 0.25 -> (0.175 + 0.075) / 2
    assert L.expectile_loss(q, v, 0.7).item() == pytest.approx(0.125)
    assert L.expectile_loss(q, v, 0.5).item() == pytest.approx(0.125)  # tau 0.5: half the MSE, 0.5 * 0.25


def test_awr_weights_and_loss_hand_case():
    w = L.awr_weights(torch.tensor([1.0, 0.0, 5.0]), torch.tensor([0.5, 0.5, 0.0]), 3.0, 100.0)
    # exp(15) clipped at 100
    assert w.tolist() == pytest.approx([math.exp(1.5), math.exp(-1.5), 100.0], rel=1e-6)
    logp = torch.log(torch.tensor([0.5, 0.25]))
    assert L.awr_loss(logp, torch.tensor([2.0, 1.0])).item() == pytest.approx(
        (2 * math.log(2) + math.log(4)) / 2
    )
    assert L.awr_loss(logp, torch.ones(2)).item() == pytest.approx((math.log(2) + math.log(4)) / 2)  # BC


def test_twin_td_loss_hand_case():
    y = torch.tensor([1.0, 1.0])
    assert L.twin_td_loss(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]), y).item() == pytest.approx(0.5)
    # rows (1 + 1) and (1 + 1): mean 2
    assert L.twin_td_loss(
        torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 2.0]]), y
    ).tolist() == pytest.approx([2.0])


def test_joint_action_code_round_trip():
    a = torch.tensor([[0, 0], [0, 2], [1, 0], [1, 2]])
    idx = L.joint_index(a, (2, 3))
    assert idx.tolist() == [0, 2, 3, 5]  # agent 0 the most significant digit
    assert torch.equal(L.split_joint(idx, (2, 3)), a)


def test_config_rejects_unknown_and_unused_options():
    with pytest.raises(ValueError, match="method"):
        IQLConfig(method="cql").validate()
    with pytest.raises(ValueError, match="unused"):
        IQLConfig(method="bc", expectile=0.9).validate()
    with pytest.raises(ValueError, match="unused"):
        IQLConfig(method="iql", action_aware_mixer=False).validate()


@pytest.fixture(scope="module")
def icg():
    return {name: make_icg_dataset(name, 2_000) for name in ("favorable", "neutral", "unfavorable")}


@pytest.mark.parametrize("method", ["iql", "maiql", "bc"])
def test_batched_seeds_equal_separate_runs(icg, method):
    ds = icg["unfavorable"]
    cfg = IQLConfig(method=method, hidden=(16, 16), batch_size=32)
    both = DiscreteIQL(ds.obs_dims, ds.card["n_actions"], 2, cfg, seeds=[3, 5])
    alone = [DiscreteIQL(ds.obs_dims, ds.card["n_actions"], 1, cfg, seeds=[s]) for s in (3, 5)]
    data = both.prepare_data(ds.to_torch("cpu"))
    for _ in range(5):
        both.update(both.sample_batch(data))
        for a in alone:
            a.update(a.sample_batch(data))
    for name, net in both.nets.items():
        per = net.state_dict()
        k = 1 if name.endswith("mix") else both.n_units
        for s, a in enumerate(alone):
            for key, v in a.nets[name].state_dict().items():
                torch.testing.assert_close(per[key][s * k : (s + 1) * k], v, rtol=1e-5, atol=1e-6)


def test_checkpoint_resume_is_identical(icg):
    ds = icg["neutral"]
    cfg = IQLConfig(method="maiql", hidden=(16, 16), batch_size=32)
    a = DiscreteIQL(ds.obs_dims, ds.card["n_actions"], 1, cfg, seeds=[7])
    data = a.prepare_data(ds.to_torch("cpu"))
    for _ in range(3):
        a.update(a.sample_batch(data))
    b = DiscreteIQL(ds.obs_dims, ds.card["n_actions"], 1, cfg, seeds=[7])
    b.load_state_dict(a.state_dict())
    for _ in range(3):
        a.update(a.sample_batch(data))
        b.update(b.sample_batch(data))
    for name in a.nets:
        for key, v in a.nets[name].state_dict().items():
            torch.testing.assert_close(b.nets[name].state_dict()[key], v)


def _score(learner) -> np.ndarray:
    return evaluate(
        learner.policy(),
        "games/coordination",
        learner.n_seeds,
        3,
        [0] * learner.n_seeds,
        env_options={"episode_length": 1},
    ).mean


def test_icg_exact_outcomes(icg):
    """Spec §6 items 2 and 4: IBC on unfavorable plays (←, →) and never coordinates, on favorable (→, →); centralized
    IQL picks a coordinated joint action on every dataset; MAIQL's team AWR keeps unfavorable's argmaxes (0)."""
    out = {}
    for name, method, updates in (
        ("unfavorable", "bc", 300),
        ("favorable", "bc", 300),
        ("unfavorable", "iql", 600),
        ("unfavorable", "maiql", 300),
    ):
        ds = icg[name]
        cfg = IQLConfig(method=method, hidden=(32, 32))
        lr = DiscreteIQL(ds.obs_dims, ds.card["n_actions"], 3, cfg, seeds=[0, 1, 2])
        data = lr.prepare_data(ds.to_torch("cpu"))
        for _ in range(updates):
            lr.update(lr.sample_batch(data))
        out[(name, method)] = _score(lr)
        if (name, method) == ("unfavorable", "bc"):
            assert lr.act(np.ones((3, 1, 2, 1), np.float32))[:, 0, :, 0].tolist() == [[0.0, 1.0]] * 3
    assert out[("unfavorable", "bc")].tolist() == [0.0] * 3
    assert out[("favorable", "bc")].tolist() == [1.0] * 3
    assert out[("unfavorable", "iql")].tolist() == [1.0] * 3
    assert out[("unfavorable", "maiql")].tolist() == [0.0] * 3
