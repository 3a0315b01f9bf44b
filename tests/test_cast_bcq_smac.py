"""CAST-BCQ's SMAX learners (papers/cast_bcq/smac*.py) and StarCraft items (table1.py / figure5.py on SMAX): every
new loss and target on a hand-computed case, the masked greedy action never unavailable (random masks), one batched
update of two seeds equal to the two seeds' separate updates, each method learning a one-step bandit, and with
jaxmarl a smoke run of table1.py end to end (one map, one method; the smoke dataset is built, ~40 s)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from common.networks.nets import EnsembleMLP
from papers.cast_bcq import config as C
from papers.cast_bcq import smac_losses as SL
from papers.cast_bcq.grid_losses import masked_argmax
from papers.cast_bcq.smac import SmaxLearner
from papers.cast_bcq.smac_config import METHODS, STOP, TRAIN_EPSILON, SmaxConfig

ROOT = Path(__file__).resolve().parent.parent
HAS_JAXMARL = importlib.util.find_spec("jaxmarl") is not None
needs_smax = pytest.mark.skipif(
    not HAS_JAXMARL,
    reason="jaxmarl is not installed: pip install -c constraints.txt -e '.[smax]' (bootstrap does)",
)
T_ = torch.tensor


# ---- hand-computed pieces -----------------------------------------------------------------------------------------


def test_filter_allowed_is_the_bcq_ratio_over_available_actions():
    logits = torch.log(T_([[0.5, 0.3, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1]]))
    avail = T_([[True, True, True, True], [False, True, True, False]])
    # row 0: ratios 1, 0.6, 0.2, 0.2 -> > 0.3: {0, 1}; row 1: over the available {1, 2}: ratios 1, 1 -> both
    assert SL.filter_allowed(logits, avail, 0.3).tolist() == [
        [True, True, False, False],
        [False, True, True, False],
    ]


def test_code_filter_is_over_all_actions_and_its_argmax_prefers_unavailable_to_filtered():
    """q_learner.py l. 99-105: G's softmax over all K actions, ratio + 1e-4 > 0.5; filtered-out actions score -1e8,
    unavailable ones -9999999 (> -1e8)."""
    logits = torch.log(T_([[0.5, 0.3, 0.1, 0.1], [0.4, 0.1999, 0.2, 0.2]]))
    # row 0: ratios 1, 0.6, 0.2, 0.2 -> {0, 1}; row 1: 1, 0.49975 (+ 1e-4 = 0.49985, out), 0.5 (+ 1e-4, in), 0.5
    assert SL.code_filter(logits, 0.5).tolist() == [[True, True, False, False], [True, False, True, True]]
    q = T_([[1.0, 2.0, 9.0, 0.0], [1.0, 2.0, 9.0, 0.0]])
    allowed = T_([[True, True, False, False], [True, False, False, False]]).bool()
    avail = T_([[True, True, True, True], [False, True, True, True]]).bool()
    # row 0: allowed {0, 1} -> 1; row 1: the only allowed action 0 is unavailable -> every score is -1e8 or
    # -9999999: action 0 (unavailable, -9999999) wins over the filtered available ones
    assert SL.code_bcq_argmax(q, allowed, avail).tolist() == [1, 0]


def test_bcq_target_and_terminal():
    q2t = T_([[10.0, 20.0, 30.0], [10.0, 20.0, 30.0]])
    y = SL.bcq_target(q2t, torch.tensor([2, 2]), r=T_([1.0, 1.0]), d=T_([0.0, 1.0]), gamma=0.5)
    assert torch.allclose(y, T_([16.0, 1.0]))


def test_mabcq_value_deviation_weight_as_the_code_and_its_gradient():
    # E_V = (3 - 1) / 0.5 = 4; last: (0 - 1) / 0.5 = -2
    q, r = T_([3.0, 3.0, 3.0, 0.0]), T_([1.0, 1.0, 1.0, 1.0])
    w = SL.vd_weight(q, r, y=T_([5.0, 10.0, 0.0, -1.0]), gamma=0.5, clip=0.8)
    # 1 + 1/4; 1 + 6/4 clipped; 1 - 4/4 clipped; 1 + (-1 + 2) / (-2) = 0.5 (the code divides by E_V, not |E_V|)
    assert torch.allclose(w, T_([1.25, 1.8, 0.2, 0.5]))
    assert torch.allclose(SL.mabcq_loss(T_([[1.0, 1.0]]), T_([[0.0, 3.0]]), T_([[1.0, 2.0]])), T_([4.5]))
    qg = T_([3.0]).requires_grad_()  # not detached: dw/dQ = -(y / E_V^2) / gamma = -(5 / 16) / 0.5 at E_V = 4
    SL.vd_weight(qg, T_([1.0]), T_([5.0]), 0.5, 0.8).sum().backward()
    assert torch.allclose(qg.grad, T_([-0.625]))


def test_icq_ma_qmix_k_and_target():
    raw = T_([1.0, -2.0, 3.0, 0.0, 2.0, -1.0])  # N = 2, E = 2: W_1 = [[1, -2], [3, 0]], w_final = [2, -1]
    assert torch.allclose(SL.qmix_k(raw, 2, 2), T_([0.4, 0.6]))  # |W_1| |w_f| = [2 + 2, 6 + 0] -> / 10
    q2 = T_([[1.0, 2.0, 5.0]])
    y = SL.icq_ma_target(
        q2, r=T_([[0.0, 0.0, 1.0]]), d=T_([[0.0, 0.0, 1.0]]), boot=T_([[1.0, 1.0, 0.0]]), gamma=1.0, alpha=1.0
    )
    # B softmax over all 3 rows (the code), terminal one included
    w = 3 * torch.softmax(T_([1.0, 2.0, 5.0]), 0)
    assert torch.allclose(y, T_([[w[0] * 1.0, w[1] * 2.0, 1.0]]), atol=1e-6)


def test_test_epsilon_follows_the_codes_schedules():
    assert SL.epsilon_at("i_bcq", 0) == 1.0 and SL.epsilon_at("mabcq", 1000) == pytest.approx(
        1.0 - 0.99 * 0.5
    )
    assert SL.epsilon_at("i_bcq", 2000) == pytest.approx(0.01) and SL.epsilon_at(
        "i_bcq", 10**6
    ) == pytest.approx(0.01)
    assert (
        SL.epsilon_at("cast_bcq", 400) == pytest.approx(0.5 - 0.499 * 0.2)
        and SL.epsilon_at("icq_ma", 0) == 0.0
    )
    ln = SmaxLearner(O, D, N, K, SmaxConfig(method="i_bcq", hidden=8, schedule_scale=10.0))
    ln.step = 100  # the quick profile's clock: 100 updates = the code's 1,000 iterations
    assert ln.test_epsilon() == pytest.approx(SL.epsilon_at("i_bcq", 1000))
    from common.running.profiles import get_profile
    from papers.cast_bcq.smac_items import smax_config

    smoke = smax_config(get_profile("smoke", C.PROFILE_OVERRIDES), "smax/3s_vs_3z", "icq_ma")
    assert smoke["cast_smax"]["schedule_scale"] * smoke["updates"] == C.SMAX_UPDATES
    for prof in ("quick", "full"):  # both train the code's 40,000 updates on the code's clock
        cell = smax_config(get_profile(prof, C.PROFILE_OVERRIDES), "smax/2s3z", "icq_ma")
        assert cell["updates"] == C.SMAX_UPDATES and "schedule_scale" not in cell["cast_smax"]


def test_floored_policy_is_the_codes_training_time_pi():
    """(1 - eps) softmax over all K + eps / K, unavailable zeroed, renormalized: logits log [0.5, 0.3, 0.2], eps 0.5,
    action 2 unavailable: [0.25 + 1/6, 0.15 + 1/6, 0] / (0.4 + 1/3)."""
    logits, avail = torch.log(T_([0.5, 0.3, 0.2])), T_([True, True, False]).bool()
    p = SL.floored_policy(logits, avail, 0.5)
    want = T_([0.25 + 1 / 6, 0.15 + 1 / 6, 0.0]) / (0.4 + 1 / 3)
    assert torch.allclose(p, want, atol=1e-6)
    assert torch.allclose(SL.floored_policy(logits, avail, 0.0), T_([0.625, 0.375, 0.0]), atol=1e-6)
    assert SL.epsilon_at("icq_ma", 1000, TRAIN_EPSILON) == pytest.approx(0.5 - 0.45 * 0.2)


def test_cast_credit_on_an_interaction_critic():
    """Q = [agent 0 takes 1] * [agent 1 takes 1] (K = 6, zeroed blocks); all take action 1. Agent 0's draws mask
    agent 1, then agent 2: credits 0 and 1 -> 0.5; agent 1 likewise 0.5; agent 2 never matters -> 0."""
    N, K, D = 3, 6, 2

    def q(x):  # [S, R, D + N*K] -> [S, R, 1]
        return (x[..., D + 1] * x[..., D + K + 1])[..., None]

    masks = torch.zeros(1, N, 2, N, dtype=torch.bool)
    masks[0, 0, 0, 1] = masks[0, 0, 1, 2] = True
    masks[0, 1, 0, 0] = masks[0, 1, 1, 2] = True
    masks[0, 2, 0, 0] = masks[0, 2, 1, 1] = True
    act = torch.ones(1, 4, N, dtype=torch.long)
    delta = SL.cast_credit(q, torch.zeros(1, 4, D), act, masks, K, "zero")
    assert torch.allclose(delta, T_([0.5, 0.5, 0.0]).expand(1, 4, N))
    # absent = the default action stop: with a linear critic Delta_i = c[i, a_i] - c[i, stop]
    c = torch.arange(N * K, dtype=torch.float32)
    lin = lambda x: (x[..., D:] @ c)[..., None]  # noqa: E731
    delta = SL.cast_credit(lin, torch.zeros(1, 4, D), act, masks, K, "default")
    assert torch.allclose(delta, (1.0 - STOP) * torch.ones(1, 4, N))


@pytest.mark.parametrize("absent", ["zero", "default"])
@pytest.mark.parametrize("N, C", [(4, 6), (3, 10), (9, 2)])
def test_factored_cast_credit_equals_built_inputs(absent, N, C):
    """The EnsembleMLP fast path (first layer factored over the action blocks; each distinct set of absent partners
    once per batch row where the draws repeat sets: 4 and 3 agents, not 9 with 2 draws) gives the built-input
    credits: float64, two seeds, random critic, a batch with repeated and varied actions, every draw size."""
    S, B, K, D = 2, 5, 7, 3
    torch.manual_seed(0)
    q = EnsembleMLP(S, D + N * K, 1, (8, 8)).double()
    state = torch.randn(S, B, D, dtype=torch.float64)
    act = torch.randint(0, K, (S, B, N))
    masks = SL.subteam_masks(torch.Generator().manual_seed(1), S, N, C, "cpu")
    fast = SL._factored_credit(q, state, act, masks, K, absent)
    built = SL._direct_credit(q, state, act, masks, K, absent)
    assert torch.allclose(fast, built, rtol=0, atol=1e-12)
    assert fast.abs().max() > 1e-3  # not trivially zero
    # the learner's path is the fast one
    assert torch.equal(SL.cast_credit(q, state, act, masks, K, absent), fast)


def test_subteam_masks_are_proper_nonempty_subsets_of_the_others():
    g = torch.Generator().manual_seed(0)
    m = SL.subteam_masks(g, 2, 4, 200, "cpu")  # [S, N, C, N]
    assert not m[:, torch.arange(4), :, torch.arange(4)].any()  # never the agent itself
    k = m.sum(-1)
    assert k.min() >= 1 and k.max() <= 3
    assert len({tuple(r) for r in m[0, 0].tolist()}) == 7  # every nonempty subset of the 3 others drawn


# ---- learners -----------------------------------------------------------------------------------------------------

N, K, O, D = 3, 7, 5, 6


def _data(T=200, seed=0, bandit=False):
    """Step tensors as Dataset.to_torch + extras_torch give them (random, or a one-step bandit: r = mean [a_i == 5],
    every step terminal, all actions available, uniform actions)."""
    g = np.random.default_rng(seed)
    act = g.integers(0, K, (T, N))
    avail = g.random((T, N, K)) < 0.6
    avail[np.arange(T)[:, None], np.arange(N), act] = True
    nav = g.random((T, N, K)) < 0.6
    nav[..., STOP] = True
    term = g.random(T) < 0.1
    rew = np.repeat(g.normal(size=(T, 1)), N, 1)
    obs = g.normal(size=(T, N, O))
    if bandit:
        avail[:] = nav[:] = True
        term[:] = True
        obs[:] = 1.0
        rew = np.repeat((act == 5).mean(1, keepdims=True), N, 1)
    f = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
    return {
        "obs": f(obs),
        "next_obs": f(g.normal(size=(T, N, O))),
        "actions": f(act[..., None]),
        "rewards": f(rew),
        "terminals": f(term),
        "timeouts": f(np.r_[np.zeros(T - 1), 1.0] * (1 - term)),
        "state": f(g.normal(size=(T, D))),
        "next_state": f(g.normal(size=(T, D))),
        "avail_actions": torch.as_tensor(avail),
        "next_avail_actions": torch.as_tensor(nav),
    }


def _learner(method, seeds, **kw):
    if method in ("icq_ma", "cast_bcq"):
        kw["critic_hidden"] = 16
    cfg = SmaxConfig(method=method, hidden=16, batch_size=32, **kw)
    return SmaxLearner(O, D, N, K, cfg, seeds=seeds)


@pytest.mark.parametrize("method", METHODS)
def test_masked_greedy_never_picks_an_unavailable_action(method):
    learner = _learner(method, [0, 1])
    tensors = learner.prepare_data(_data())
    for _ in range(5):
        learner.update(learner.sample_batch(tensors))
    g = np.random.default_rng(1)
    for trial in range(30):
        obs = g.normal(scale=1 + 10 * (trial % 3), size=(2, 9, N, O)).astype(np.float32)
        avail = g.random((2, 9, N, K)) < [0.05, 0.3, 0.9][trial % 3]
        avail[..., g.integers(0, K)] |= ~avail.any(-1)  # at least one available action (SMAX: stop when dead)
        for eps in (0.0, 0.5, 1.0):  # greedy, and the code's epsilon-greedy test actions
            a = learner.act(obs, avail, eps, torch.Generator().manual_seed(trial))
            assert a.shape == (2, 9, N)
            assert np.take_along_axis(avail, a[..., None], -1).all()


@pytest.mark.parametrize(
    "method,kw",
    [(m, {}) for m in METHODS]
    + [("cast_bcq", {"target": "policy", "absent": "default"}), ("cast_bcq", {"agent": "q"})],
)
def test_batched_seeds_equal_separate_runs(method, kw):
    """Per-seed init and random streams: seeds [3, 7] in one learner sample the same rows (and sub-teams) and take
    the same steps as two learners of one seed each."""
    data = _data()
    both, a, b = (_learner(method, s, **kw) for s in ([3, 7], [3], [7]))
    tb, ta, tbb = (x.prepare_data(data) for x in (both, a, b))
    for _ in range(3):
        bb, ba, bs = both.sample_batch(tb), a.sample_batch(ta), b.sample_batch(tbb)
        for k in bb:
            assert torch.equal(bb[k], torch.cat([ba[k], bs[k]])), k
        both.update(bb), a.update(ba), b.update(bs)
    for name, net in both.nets.items():
        for (pn, p), pa, pb in zip(
            net.named_parameters(), a.nets[name].parameters(), b.nets[name].parameters()
        ):
            assert torch.allclose(p, torch.cat([pa, pb]), atol=1e-5), (name, pn)


@pytest.mark.parametrize("method,kw", [(m, {}) for m in METHODS] + [("cast_bcq", {"agent": "q"})])
def test_stacked_runs_equal_the_runs_alone(method, kw):
    """Cells as members (smac_items.run_group): learners of seeds [3] and [7], one resumed from the other's
    checkpoint format, stacked (SmaxLearner.stack) and updated together take the steps each takes alone; the stack's
    split_state is each run's state_dict; epsilon-greedy test actions with per-seed generators are each run's own.
    I-BCQ and MABCQ (N members per seed in every net) bit for bit; ICQ-MA's mixer and CAST's joint critic (one member
    per seed) round with the member count (docs/scaling.md): 1e-5."""
    data = _data()
    alone = [_learner(method, [s], **kw) for s in (3, 7)]
    tensors = [x.prepare_data(data) for x in alone]
    for x, t in zip(alone, tensors):
        x.update(x.sample_batch(t))  # the stack starts from a trained state (moments, step, streams)
    parts = [_learner(method, [s], **kw) for s in (3, 7)]
    for part, x in zip(parts, alone):  # the stack resumes its runs from their checkpoints
        part.load_state_dict(x.state_dict())
    stack = SmaxLearner.stack(parts)
    st = stack.prepare_data(data)
    for _ in range(4):
        for x, t in zip(alone, tensors):
            x.update(x.sample_batch(t))
        stack.update(stack.sample_batch(st))
    exact = method in ("i_bcq", "mabcq")
    same = (
        (lambda a, b: torch.equal(a, b))
        if exact
        else (lambda a, b: torch.allclose(a, b, rtol=1e-5, atol=1e-6))
    )

    def assert_same(own, split, key=""):  # a run's state_dict alone against its split state from the stack
        if isinstance(own, dict):
            assert own.keys() == split.keys(), key
            for k, v in own.items():
                assert_same(v, split[k], f"{key}.{k}")
        elif isinstance(own, list):
            assert len(own) == len(split), key
            for i, (a, b) in enumerate(zip(own, split)):
                assert_same(a, b, f"{key}[{i}]")
        elif torch.is_tensor(own) and torch.is_floating_point(own):
            assert same(split, own), key
        elif torch.is_tensor(own):
            assert torch.equal(split, own), key  # generator states, counts
        else:
            assert split == own, key

    for x, state in zip(alone, stack.split_state()):
        assert_same(x.state_dict(), state)
    g = np.random.default_rng(0)
    obs = g.normal(size=(2, 6, N, O)).astype(np.float32)
    avail = g.random((2, 6, N, K)) < 0.5
    avail[..., 0] = True
    acts = stack.act(obs, avail, 0.5, [torch.Generator().manual_seed(s) for s in (11, 12)])
    for s, (x, gs) in enumerate(zip(alone, (11, 12))):
        assert np.array_equal(
            acts[s], x.act(obs[s : s + 1], avail[s : s + 1], 0.5, torch.Generator().manual_seed(gs))[0]
        )
    with pytest.raises(ValueError, match="differ from learner 0"):
        SmaxLearner.stack([alone[0], _learner(method, [5], **kw)])  # another update count
    with pytest.raises(ValueError, match="one per seed"):
        stack.act(obs, avail, 0.5, [torch.Generator()])


@pytest.mark.parametrize(
    "method,agent",
    [(m, "pi") for m in METHODS if m != "bc"] + [("cast_bcq", "q"), ("i_bcq", "huber")],
)
def test_each_method_learns_a_one_step_bandit(method, agent):
    """r = mean_i [a_i == 5], uniform data: every agent's greedy action becomes 5 (CAST with absent = stop, an
    action in the data; the zeroed block of the code is never in the data, its credit extrapolates)."""
    kw = {"absent": "default"} if method == "cast_bcq" else {}
    if method in ("icq_ma", "cast_bcq"):
        kw["critic_lr"] = 3e-3
    if agent == "q":
        kw["agent"] = "q"
    if agent == "huber":
        kw.update(td_loss="huber", polyak=0.005)
    torch.manual_seed(0)
    learner = _learner(method, [0], lr=3e-3, **kw)
    tensors = learner.prepare_data(_data(T=700, bandit=True))
    for _ in range(300):
        learner.update(learner.sample_batch(tensors))
    a = learner.act(np.ones((1, 1, N, O), np.float32), np.ones((1, 1, N, K), bool))
    assert (a == 5).all(), a


def test_bc_imitates_the_data_not_the_reward():
    """BC (our fair baseline) on the bandit's states where the data play action 2 in 80 % of the rows and the reward
    pays action 5: its greedy action is the data's mode, 2, for every agent (the value learners above pick 5); its
    only optimizer is the BC head's, and it has no target nets."""
    data = _data(T=700, bandit=True)
    g = np.random.default_rng(1)
    act = np.where(g.random((700, N)) < 0.8, 2, g.integers(0, K, (700, N)))
    data["actions"] = torch.as_tensor(act[..., None], dtype=torch.float32)
    data["rewards"] = torch.as_tensor(np.repeat((act == 5).mean(1, keepdims=True), N, 1), dtype=torch.float32)
    torch.manual_seed(0)
    learner = _learner("bc", [0], lr=3e-3)
    assert set(learner.opts) == {"bc"} and len(learner.targets) == 0
    tensors = learner.prepare_data(data)
    for _ in range(300):
        learner.update(learner.sample_batch(tensors))
    assert (learner.act(np.ones((1, 1, N, O), np.float32), np.ones((1, 1, N, K), bool)) == 2).all()
    assert learner.test_epsilon() == 0.0  # BC acts greedily at test


@pytest.mark.parametrize("method", ["i_bcq", "mabcq"])
def test_test_filter_acts_through_the_bcq_filter(method):
    """``test_filter``: greedy test actions over avail & the filter. Near threshold 1 only BC's mode passes, so the
    action is BC's greedy one; without it (the code's selector) the action is Q's argmax over avail."""
    data = _data(T=300)
    learners = [_learner(method, [0], bcq_threshold=0.999, test_filter=tf) for tf in (True, False)]
    for ln in learners:
        t = ln.prepare_data(data)
        for _ in range(20):
            ln.update(ln.sample_batch(t))
    g = np.random.default_rng(2)
    obs = torch.as_tensor(g.normal(size=(1, 64, N, O)).astype(np.float32))
    avail = torch.as_tensor(g.random((1, 64, N, K)) < 0.7)
    avail[..., 4] = True
    filt, code = learners
    obs, avail = filt._members(obs), filt._members(avail)  # [seeds x agents, B, ...], the members' layout
    bc_mode = masked_argmax(filt.nets["bc"](obs), avail)
    allowed = SL.filter_allowed(filt.nets["bc"](obs), avail, 0.999)
    act = filt._greedy(obs, avail)
    assert allowed.gather(-1, act[..., None]).all()  # always a filtered action
    one = allowed.sum(-1) == 1  # only BC's mode passes: BC's greedy action
    assert one.float().mean() > 0.5 and torch.equal(act[one], bc_mode[one])
    assert torch.equal(code._greedy(obs, avail), masked_argmax(code.nets["q"](obs), avail))
    assert not torch.equal(filt._greedy(obs, avail), masked_argmax(filt.nets["q"](obs), avail))
    with pytest.raises(ValueError, match="test_filter"):
        SmaxConfig(method="icq_ma", test_filter=True).validate()


def test_reward_scale_multiplies_the_team_reward_and_nothing_else():
    """r = mean_i r_i x reward_scale (SMAC's return scale from SMAX's); rewards / 8 with reward_scale x 8 (exact in
    binary floating point) trains the bit-identical learner, so the scale acts only through r."""
    data = _data()
    small = {**data, "rewards": data["rewards"] / 8}
    a, b = _learner("i_bcq", [0]), _learner("i_bcq", [0], reward_scale=80.0)
    ta, tb = a.prepare_data(data), b.prepare_data(small)
    assert torch.equal(ta["r"], data["rewards"].mean(-1) * 10.0)
    assert torch.equal(ta["r"], tb["r"])
    for _ in range(5):
        a.update(a.sample_batch(ta)), b.update(b.sample_batch(tb))
    assert all(torch.equal(x, y) for x, y in zip(a.nets["q"].parameters(), b.nets["q"].parameters()))
    with pytest.raises(ValueError, match="reward_scale"):
        SmaxConfig(reward_scale=0.0).validate()


def test_config_rejects_unknown_and_unused_options():
    with pytest.raises(ValueError, match="method"):
        SmaxConfig(method="qmix").validate()
    with pytest.raises(ValueError, match="subteams=3 is set but unused: it needs method='cast_bcq'"):
        SmaxConfig(method="i_bcq", subteams=3).validate()
    with pytest.raises(ValueError, match="agent='q' is set but unused: it needs method='cast_bcq'"):
        SmaxConfig(method="i_bcq", agent="q").validate()
    with pytest.raises(
        ValueError,
        match=r"bcq_threshold=0.3 is set but unused: it needs method 'i_bcq' or "
        r"'mabcq', or method 'cast_bcq' with agent='q'",
    ):
        SmaxConfig(method="cast_bcq", bcq_threshold=0.3).validate()
    with pytest.raises(ValueError, match="agent"):
        SmaxConfig(agent="policy").validate()
    SmaxConfig(method="cast_bcq", agent="q", bcq_threshold=0.3).validate()
    with pytest.raises(ValueError, match="td_loss"):
        SmaxConfig(method="i_bcq", td_loss="l1").validate()
    with pytest.raises(ValueError, match="polyak or target_every"):
        SmaxConfig(polyak=0.005, target_every=10).validate()


def test_target_updates_hard_copies_or_polyak():
    """Hard copies every target_every updates (the code's), or a Polyak step per update (our earlier form)."""
    data = _data()
    for kw, moved in (({"target_every": 3}, [False, False, True]), ({"polyak": 0.5}, [True, True, True])):
        ln = _learner("i_bcq", [0], **kw)
        t = ln.prepare_data(data)
        before = [p.clone() for p in ln.targets["q"].parameters()]
        for u in range(3):
            ln.update(ln.sample_batch(t))
            changed = any(not torch.equal(a, b) for a, b in zip(before, ln.targets["q"].parameters()))
            assert changed == moved[u], (kw, u)
            if "target_every" in kw and u == 2:
                assert all(
                    torch.equal(a, b) for a, b in zip(ln.targets["q"].parameters(), ln.nets["q"].parameters())
                )


def test_needs_smax_says_what_is_missing(monkeypatch):
    import importlib.util as u

    real = u.find_spec
    monkeypatch.setattr(u, "find_spec", lambda name, *a: None if name == "jaxmarl" else real(name, *a))
    assert C.needs_smax() == "SMAX (pip install -e '.[smax]')"


# ---- the item end to end ------------------------------------------------------------------------------------------


@needs_smax
def test_table1_smoke_end_to_end(tmp_path):
    res = tmp_path / "runs"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }
    p = subprocess.run(
        [
            sys.executable,
            "papers/cast_bcq/table1.py",
            "--profile",
            "smoke",
            "--results",
            str(res),
            "--env",
            "smax/3s_vs_3z",
            "--method",
            "cast_bcq",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    recs = [json.loads(x) for x in (res / "smoke" / "cast_bcq" / "table1.jsonl").read_text().splitlines()]
    assert sorted(r["seed"] for r in recs) == [0, 1]
    for r in recs:
        assert r["keys"] == {"env": "smax/3s_vs_3z", "method": "cast_bcq"}
        assert 0.0 <= r["score"] <= 1.0 and len(r["curve"]["step"]) == 2
        assert r["config"]["cast_smax"]["method"] == "cast_bcq"
    md = (res / "smoke" / "cast_bcq" / "table1.md").read_text()
    assert "smax/3s_vs_3z" in md
    # a partial grid of the counted maps: no verdict
    assert "not checked — 11 of its 12 cells incomplete" in p.stdout
    # cells as members: the two seeds as one stacked learner (smac_items.run_group) give the same records
    res2 = tmp_path / "grouped"
    p = subprocess.run(
        [
            sys.executable,
            "papers/cast_bcq/table1.py",
            "--profile",
            "smoke",
            "--results",
            str(res2),
            "--env",
            "smax/3s_vs_3z",
            "--method",
            "cast_bcq",
            "--group",
            "2",
            "--no-report",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert "2 runs planned in 1 batched group(s)" in p.stdout
    grouped = {
        r["seed"]: r
        for r in map(json.loads, (res2 / "smoke" / "cast_bcq" / "table1.jsonl").read_text().splitlines())
    }
    # win rates: fractions of a few episodes, so float rounding of the joint critic cannot move them
    for r in recs:
        assert grouped[r["seed"]]["curve"] == r["curve"] and grouped[r["seed"]]["score"] == r["score"]


@pytest.mark.parametrize("method", ["icq_ma", "cast_bcq"])
def test_checkpoint_resume_gives_identical_parameters(method):
    data = _data()
    a, b = _learner(method, [0, 1]), _learner(method, [0, 1])
    ta, tb = a.prepare_data(data), b.prepare_data(data)
    for _ in range(2):
        a.update(a.sample_batch(ta))
    buf = io.BytesIO()  # through bytes, as a checkpoint file (the optimizers' state would else share tensors)
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf, weights_only=False))
    for _ in range(2):
        a.update(a.sample_batch(ta)), b.update(b.sample_batch(tb))
    for name in a.nets:
        for pa, pb in zip(a.nets[name].parameters(), b.nets[name].parameters()):
            assert torch.equal(pa, pb), name


@pytest.mark.parametrize("script", ["smax_bcq_forms.py", "smax_official_bcq.py"])
def test_smax_diagnosis_scripts_help(script):
    p = subprocess.run(
        [sys.executable, f"scripts/{script}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert p.returncode == 0 and "usage" in p.stdout, p.stderr[-2000:]


@needs_smax
def test_smax_bcq_forms_runs_records_and_resumes(tmp_path):
    """scripts/smax_bcq_forms.py at smoke: one form, one seed; the record carries the data's sha256 and the CPU, the
    .md its row; a rerun trains nothing and adds no line; --render rewrites the .md from the records alone."""
    cmd = [
        sys.executable,
        "scripts/smax_bcq_forms.py",
        "--map",
        "3s_vs_3z",
        "--profile",
        "smoke",
        "--seeds",
        "0",
    ]
    cmd += ["--forms", "thr0.99+filtered-test", "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for _ in range(2):
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        assert p.returncode == 0, p.stderr[-2000:]
    (rec,) = map(json.loads, (tmp_path / "smax_ibcq_forms_3s_vs_3z.jsonl").read_text().splitlines())
    assert rec["config"]["test_filter"] is True and rec["config"]["bcq_threshold"] == 0.99
    assert len(rec["data_sha256"]) == 64 and rec["cpu"] and 0.0 <= rec["win"] <= 1.0
    md = tmp_path / "smax_ibcq_forms_3s_vs_3z.md"
    assert f"| thr0.99+filtered-test | s0: {100 * rec['win']:.0f} % |" in md.read_text()
    md.unlink()
    p = subprocess.run([*cmd, "--render"], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0 and rec["data_sha256"][:12] in md.read_text()


def test_smax_bcq_forms_refuses_a_form_its_method_lacks():
    """CAST-BCQ takes the forms code, paper-q and bc only; I-BCQ not paper-q: one clear error, before any data."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for method, form in (("cast_bcq", "huber"), ("i_bcq", "paper-q")):
        cmd = [
            sys.executable,
            "scripts/smax_bcq_forms.py",
            "--method",
            method,
            "--forms",
            form,
            "--profile",
            "smoke",
        ]
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
        assert p.returncode == 2 and f"--forms {form} not for --method {method}; valid:" in p.stderr, p.stderr


@needs_smax
def test_smax_official_bcq_needs_the_official_checkout(tmp_path):
    p = subprocess.run(
        [
            sys.executable,
            "scripts/smax_official_bcq.py",
            "--smac-repo",
            str(tmp_path / "nowhere"),
            "--iterations",
            "2",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert p.returncode != 0 and "nowhere" in (p.stdout + p.stderr)


@pytest.mark.parametrize("coop, want", [(0.0, "undecided"), (0.3, True)])
def test_t1_ibcq_mabcq_low_is_undecided_where_the_cooperative_methods_win_nothing(coop, want):
    """0 <= 1/2 x 0 would pass vacuously: where ICQ-MA or CAST-BCQ win nothing the claim is left undecided."""
    from common.reporting.claims import Evidence
    from papers.cast_bcq.claims import CLAIMS

    recs = [
        {"keys": {"env": e, "method": m}, "seed": s, "score": (coop if m in ("icq_ma", "cast_bcq") else 0.0)}
        for e in C.SMAX_MAPS
        for m in METHODS
        for s in (0, 1)
    ]
    verdict, why = next(c for c in CLAIMS if c.id == "t1_ibcq_mabcq_low").check(Evidence(recs))
    assert verdict == want and type(verdict) is type(want)
    assert ("undecided" in why) == (want == "undecided")


def test_table1_paper_form_column_is_cast_with_q_agents_and_the_others_unchanged():
    """cast_bcq_paper (Table 1's variant column) is the cast_bcq learner with agent "q" (the paper's Eq. 9 form:
    filter at 0.3); every other column's learner fields carry no agent and keep their own method."""
    from common.running.profiles import get_profile
    from papers.cast_bcq.claims_smax import SMAX_METHODS, SMAX_RUN_METHODS
    from papers.cast_bcq.smac_items import smax_config

    prof = get_profile("quick", C.PROFILE_OVERRIDES)
    paper = smax_config(prof, "smax/2s3z", "cast_bcq_paper")
    code = smax_config(prof, "smax/2s3z", "cast_bcq")
    fields = paper["cast_smax"]
    assert paper["method"] == "cast_bcq_paper" and fields["method"] == "cast_bcq" and fields["agent"] == "q"
    cfg = SmaxConfig(**fields).validate()
    assert cfg.paper_cast and cfg.threshold == 0.3 and not SmaxConfig(**code["cast_smax"]).paper_cast
    assert {k: v for k, v in fields.items() if k != "agent"} == code["cast_smax"]
    assert "cast_bcq_paper" in SMAX_RUN_METHODS and "cast_bcq_paper" not in SMAX_METHODS  # no claim reads it
    for m in SMAX_METHODS + ("bc",):
        f = smax_config(prof, "smax/3s_vs_3z", m)["cast_smax"]
        assert f["method"] == m and "agent" not in f
    with pytest.raises(ValueError, match="cast_bcq_paper"):
        smax_config(prof, "smax/3s_vs_3z", "cast_bcq_pape")
