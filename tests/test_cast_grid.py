"""CAST-BCQ Figure 1 grid learners (papers/cast_bcq/grid*.py): the spec's exact claims (§6.1: value iteration,
the Q* table at (4, 4), the two-player credit), the BCQ filter and ICQ weights on hand cases, batched seeds =
seeds alone, checkpoint -> resume, validate(), the registry, and a small learning check of CAST."""

import copy

import numpy as np
import pytest
import torch

from common.algos import build_learner
from common.datasets.dataset import Dataset
from common.running.evaluate import evaluate
from envs.games import CliffGrid, make_cliff_grid
from papers.cast_bcq.grid import GridLearner
from papers.cast_bcq.grid_config import LEARNER_NAME, GridConfig
from papers.cast_bcq.grid_losses import (
    bcq_allowed,
    grid_credit,
    icq_policy_weights,
    icq_target_weights,
    masked_argmax,
    td_error_loss,
)
from papers.cast_bcq.grid_optimum import optimal_joint_q, optimal_value

FWD, BWD, STAY = CliffGrid.FORWARD, CliffGrid.BACKWARD, CliffGrid.STAY
METHODS = ("i_bcq", "i_icq", "cast")


def uniform_start_dataset(n_episodes=100, seed=0) -> Dataset:
    """Spec §4.1 (b): uniform-random actions per agent, episodes started uniformly over the 23 non-goal cells
    (set ``env.pos`` after reset), evaluation elsewhere from (1, 1)."""
    env = make_cliff_grid()
    rng = np.random.default_rng(seed)
    cells = [
        (x, y)
        for x in range(1, CliffGrid.WIDTH + 1)
        for y in range(1, CliffGrid.HEIGHT + 1)
        if (x, y) != CliffGrid.GOAL
    ]
    episodes = []
    for _ in range(n_episodes):
        env.reset()
        env.pos = cells[rng.integers(len(cells))]
        o = np.array([env.pos, env.pos], np.float32)  # [N, O]: both agents observe (x, y)
        rows = {k: [] for k in ("obs", "actions", "rewards", "next_obs", "state", "next_state")}
        while True:
            a = rng.integers(0, 3, size=2)
            o2, r, term, trunc, _ = env.step(a.reshape(2, 1))
            for k, v in zip(rows, (o, a[:, None].astype(np.float32), r, o2, o[0], o2[0]), strict=True):
                rows[k].append(v)
            o = o2
            if term or trunc:
                break
        ep = {k: np.stack(v) for k, v in rows.items()}
        ep["terminated"] = term
        episodes.append(ep)
    return Dataset.from_episodes("games/cliff_grid", "random", episodes, spec=env.spec, return_mode="mean")


@pytest.fixture(scope="module")
def data():
    return uniform_start_dataset()


def learner(method, seeds, dtype=torch.float64, **kw):
    return GridLearner(
        [2, 2], 3, len(seeds), GridConfig(method=method, **kw), seeds=seeds, state_dim=2, dtype=dtype
    )


def net_tensors(L):
    out = {f"{k}.{n}": t for k, net in L.nets.items() for n, t in net.state_dict().items()}
    out.update({f"target.{n}": t for n, t in L.target.state_dict().items()})
    return out


# ---- spec §6.1: exact claims ------------------------------------------------------------------


def test_optimal_values_gamma_1():
    V = optimal_value(1.0)
    assert (V[1, 1], V[4, 4], V[5, 4], V[3, 4]) == (6.0, 9.0, 10.0, 8.0)
    assert np.isnan(V[0]).all() and np.isnan(V[:, 0]).all() and np.isnan(V[6, 4])


def test_q_star_table_at_4_4():
    Q = optimal_joint_q(1.0)[4, 4]  # rows a1 = fwd/bwd/stay, columns a2 = fwd/bwd/stay
    np.testing.assert_array_equal(Q, [[-10, 9, 9], [-10, 7, 7], [-10, 8, 8]])


def test_credit_on_q_star_gamma_1():
    q = torch.as_tensor(optimal_joint_q(1.0)[4, 4])
    a1 = torch.tensor([FWD, BWD, STAY])
    np.testing.assert_allclose(grid_credit(q, a1, FWD, agent=0), [0.5, -0.5, 0.0], atol=1e-6)
    for partner in (BWD, STAY):
        np.testing.assert_allclose(grid_credit(q, a1, partner, agent=0), [1.0, -1.0, 0.0], atol=1e-6)
    d1, d2 = float(grid_credit(q, FWD, FWD, agent=0)), float(grid_credit(q, FWD, FWD, agent=1))
    assert d1 == pytest.approx(0.5, abs=1e-6) and d2 == pytest.approx(-18.5, abs=1e-6)
    assert d1 + d2 == pytest.approx(float(q[FWD, FWD] - q[STAY, STAY]), abs=1e-6)  # efficiency: -18
    # agent 1's credit reads the table transposed: its own action is the column
    assert float(grid_credit(q, FWD, BWD, agent=1)) == pytest.approx(0.5 * ((-10 - 7) + (-10 - 8)))  # -17.5
    # batched over agents with a tensor ``agent`` (the learner's call) = the per-agent calls
    qq = q.expand(2, 3, 3, 3)  # [N, B, K, K]
    own = torch.tensor([[FWD, BWD, STAY], [FWD, FWD, BWD]])
    partner = torch.tensor([[FWD, FWD, BWD], [STAY, BWD, FWD]])
    both = grid_credit(qq, own, partner, torch.arange(2).view(2, 1))
    for i in range(2):
        torch.testing.assert_close(both[i], grid_credit(q, own[i], partner[i], agent=i))


def test_gamma_099_numbers():
    # exactly 10 g^4 - (1 + g + g^2 + g^3)
    assert optimal_value(0.99)[1, 1] == pytest.approx(5.6656, abs=1e-4)
    q = torch.as_tensor(optimal_joint_q(0.99)[4, 4])
    delta = grid_credit(q, torch.tensor([FWD, BWD, STAY]), FWD, agent=0)
    np.testing.assert_allclose(delta, [0.5445, -0.5391, 0.0], atol=1e-4)


# ---- hand cases: BCQ filter, ICQ weights ------------------------------------------------------


def test_bcq_filter_hand_case():
    p = torch.tensor(
        [
            [0.5, 0.3, 0.2],  # ratios 1, 0.6, 0.4 -> all allowed
            [0.7, 0.2, 0.1],  # 1, 0.286, 0.143 -> only fwd
            [0.14, 0.36, 0.5],
        ]
    )  # 0.28, 0.72, 1 -> bwd and stay
    allowed = bcq_allowed(p.log(), 0.3)
    assert allowed.tolist() == [[True, True, True], [True, False, False], [False, True, True]]
    q = torch.tensor([[1.0, 5.0, 2.0], [1.0, 5.0, 2.0], [9.0, 5.0, 2.0]])
    assert masked_argmax(q, allowed).tolist() == [1, 0, 1]


def test_icq_weights_hand_case():
    q_next = torch.tensor([[1.0, 2.0, 3.0]])
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(
        icq_target_weights(q_next, torch.ones(1, 3), 1.0)[0], 3 * e / e.sum(), rtol=1e-6
    )
    # only rows with a next dataset action enter the softmax; the others get 0
    w = icq_target_weights(q_next, torch.tensor([[1.0, 0.0, 1.0]]), 1.0)[0]
    np.testing.assert_allclose(w, [2 * e[0] / (e[0] + e[2]), 0.0, 2 * e[2] / (e[0] + e[2])], rtol=1e-6)
    np.testing.assert_allclose(
        icq_target_weights(q_next, torch.ones(1, 3), 2.0)[0],
        3 * np.exp([0.5, 1.0, 1.5]) / np.exp([0.5, 1.0, 1.5]).sum(),
        rtol=1e-6,
    )
    assert icq_target_weights(q_next, torch.zeros(1, 3), 1.0).tolist() == [[0.0, 0.0, 0.0]]
    # policy: B * softmax_B((Q - V) / beta)
    adv = np.array([0.0, 1.0, -1.0, 2.0])
    w = icq_policy_weights(torch.tensor([[1.0, 3.0, 0.0, 2.5]]), torch.tensor([[1.0, 2.0, 1.0, 0.5]]), 0.5)[0]
    np.testing.assert_allclose(w, 4 * np.exp(adv / 0.5) / np.exp(adv / 0.5).sum(), rtol=1e-6)
    # TD loss: rows with weight 0 (time-outs) drop out of the mean
    q, y = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[0.0, 10.0, 1.0]])
    assert float(td_error_loss(q, y, "mse", torch.tensor([[1.0, 0.0, 1.0]]))) == pytest.approx((1 + 4) / 2)
    assert float(td_error_loss(q, y, "huber")) == pytest.approx((0.5 + 7.5 + 1.5) / 3)


def test_icq_time_out_rows_have_weight_0(data):
    L = learner("i_icq", [0])
    raw = data.to_torch()
    term = data.terminals
    tout = data.timeouts | ((np.arange(data.size) % 7 == 3) & ~term)  # cut some episodes by a time-out
    raw["timeouts"] = torch.as_tensor(tout, dtype=raw["timeouts"].dtype)
    assert term.any() and (tout & ~data.timeouts).any()
    t = L.prepare_data(raw)
    np.testing.assert_array_equal(t["next_valid"].numpy(), ~tout)
    np.testing.assert_array_equal(t["has_next"].numpy(), ~(tout | term))
    # the update ignores whatever a time-out row's reward says
    batch = L.sample_batch(t)
    assert bool((batch["next_valid"] == 0).any())
    other = {k: v.clone() for k, v in batch.items()}
    other["rewards"] = torch.where(batch["next_valid"] == 0, 1e3, batch["rewards"])
    L2 = copy.deepcopy(L)
    L.update(batch)
    L2.update(other)
    for k, v in net_tensors(L).items():
        torch.testing.assert_close(v, net_tensors(L2)[k], rtol=0, atol=0)
    L3 = copy.deepcopy(L2)  # a non-time-out row's reward does change it
    other["rewards"] = torch.where(batch["next_valid"] == 1, batch["rewards"] + 1.0, batch["rewards"])
    L2.update(other)
    L3.update(batch)
    assert not torch.equal(L2.nets["q"].layers[0].weight, L3.nets["q"].layers[0].weight)


# ---- batching, resume, config, registry -------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_two_seeds_batched_equal_each_seed_alone(method, data):
    """float64: a learner of seeds (3, 4) fed the two single-seed learners' minibatches (stacked on the
    member / seed axis) equals each seed alone after 3 updates, member for member."""
    kw = {"partners": "data", "qi_weight": "exp_clip"} if method == "cast" else {}
    both, alone = learner(method, [3, 4], **kw), [learner(method, [3], **kw), learner(method, [4], **kw)]
    t = both.prepare_data(data.to_torch())
    for _ in range(3):
        batches = [L.sample_batch(t) for L in alone]
        for L, b in zip(alone, batches, strict=True):
            L.update(b)
        both.update({k: torch.cat([b[k] for b in batches]) for k in batches[0]})
    ref = [net_tensors(L) for L in alone]
    for name, v in net_tensors(both).items():
        n = v.shape[0] // 2  # leading member axis: seed 3's members, then seed 4's
        torch.testing.assert_close(v[:n], ref[0][name], rtol=0, atol=1e-12)
        torch.testing.assert_close(v[n:], ref[1][name], rtol=0, atol=1e-12)
    assert not torch.equal(
        both.nets["bc" if method != "i_icq" else "pi"].layers[0].weight[0],
        both.nets["bc" if method != "i_icq" else "pi"].layers[0].weight[-1],
    )


@pytest.mark.parametrize("method", METHODS)
def test_checkpoint_resume(method, data):
    L = learner(method, [5, 6], dtype=torch.float32)
    t = L.prepare_data(data.to_torch())
    for _ in range(3):
        L.update(L.sample_batch(t))
    saved = copy.deepcopy(L.state_dict())
    for _ in range(2):
        L.update(L.sample_batch(t))
    R = learner(method, [5, 6], dtype=torch.float32)
    R.load_state_dict(saved)
    for _ in range(2):
        R.update(R.sample_batch(t))
    assert R.step == L.step == 5
    for k, v in net_tensors(L).items():
        assert torch.equal(v, net_tensors(R)[k]), k
    for k, opt in L.opts.items():
        for p, q in zip(opt.param_groups[0]["params"], R.opts[k].param_groups[0]["params"], strict=True):
            assert torch.equal(opt.state[p]["exp_avg_sq"], R.opts[k].state[q]["exp_avg_sq"])
    with pytest.raises(ValueError, match="config differs"):
        learner(method, [5, 6], dtype=torch.float32, batch_size=32).load_state_dict(saved)


def test_validate():
    with pytest.raises(ValueError, match="method='cql'.*'i_bcq'"):
        GridConfig(method="cql").validate()
    with pytest.raises(ValueError, match="icq_alpha.*unused"):
        GridConfig(method="cast", icq_alpha=2.0).validate()
    with pytest.raises(ValueError, match="partners.*unused"):
        GridConfig(method="i_bcq", partners="data").validate()
    with pytest.raises(ValueError, match="qi_weight_max.*unused"):
        GridConfig(method="cast", qi_weight_max=5.0).validate()
    with pytest.raises(ValueError, match="partners='team'"):
        GridConfig(partners="team").validate()
    with pytest.raises(ValueError, match="bcq_threshold"):
        GridConfig(bcq_threshold=1.0).validate()
    assert GridConfig().td_kind == "mse" and GridConfig(method="i_bcq").td_kind == "huber"
    with pytest.raises(ValueError, match="state"):
        GridLearner([2, 2], 3, 1, GridConfig(method="cast"))


@pytest.mark.parametrize("method", METHODS)
def test_registry_build_and_policy(method, data):
    L = build_learner(LEARNER_NAME, data, {"method": method}, 7, "cpu")
    assert L.seeds == [7] and L.cfg.method == method
    # [1, 3, 2, 2]
    obs = np.tile(np.array([[1, 1], [4, 4], [6, 1]], np.float32)[None, :, None, :], (1, 1, 2, 1))
    a = L.policy()(obs)
    assert a.shape == (1, 3, 2, 1) and a.dtype == np.float32 and set(np.unique(a)) <= {0.0, 1.0, 2.0}
    r = evaluate(L.policy(), "games/cliff_grid", 1, 1, [0], return_mode="mean")
    assert r.returns.shape == (1, 1)


# ---- end to end ------------------------------------------------------------------------------


def test_cast_learns_to_reach_the_goal(data):
    """Spec §1.1 f1_cast_reaches_goal on dataset (b) (uniform starts; it holds goal episodes): CAST's greedy
    decentralized policy from (1, 1) reaches the goal (return > 0; the optimum is 6) in >= 2 of 3 seeds
    after 2,000 updates with the spec's settings."""
    assert (data.rewards[:, 0] == CliffGrid.R_GOAL).sum() >= 1
    L = GridLearner(data.obs_dims, 3, 3, GridConfig(method="cast"), seeds=[0, 1, 2], state_dim=2)
    t = L.prepare_data(data.to_torch())
    for _ in range(2000):
        L.update(L.sample_batch(t))
    returns = evaluate(L.policy(), "games/cliff_grid", 3, 1, [0, 0, 0], return_mode="mean").returns[:, 0]
    assert (returns > 0).sum() >= 2, returns
    assert returns.max() <= 6.0
