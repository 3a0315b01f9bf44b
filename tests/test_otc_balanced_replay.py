"""Balanced Replay as OTC's baseline sampler (papers/otc/balanced_replay.py) against hand-computed numbers.

T13 of the reproduction spec (the loss is 0 at w = 1 and its minimiser is p_on / p_off), a hand-computed loss and
priority, the sum-tree sampler against its exact probabilities, the initial online share f, priority updates
(only the used rows change, the tree stays consistent, clamping), one batched update = M separate ones, exact
resume from a checkpoint, and the config's validate(). Expected numbers are written out by hand.
"""

import io
import math

import pytest
import torch

from common.networks.nets import load_member, member_state
from papers.otc.balanced_replay import (
    BalancedReplay,
    BalancedReplayConfig,
    _pick,
    br_loss,
    priority_from_density,
)

F64 = torch.float64
O, A = 3, 2


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_cfg(**kw) -> BalancedReplayConfig:
    return BalancedReplayConfig(**{"hidden": (16, 16), "density_batch": 32, "block": 8, **kw})


def assert_tree_consistent(br: BalancedReplay) -> None:
    """Every inner level equals the float64 sums of its children recomputed from scratch."""
    k, m = br.cfg.block, br.n_members
    for child, parent in zip(br.levels[:-1], br.levels[1:]):
        sums = child.double().reshape(m, -1, k).sum(-1)  # [M, len(child) / K]
        torch.testing.assert_close(parent[:, : sums.shape[1]], sums, rtol=1e-12, atol=0)
        assert not parent[:, sums.shape[1] :].any()  # padding stays empty
    torch.testing.assert_close(br.total(), br.priorities.double().sum(-1), rtol=1e-12, atol=0)
    assert not br.levels[0][:, br.size :].any()  # rows beyond size have no mass


# ---- T13 and the loss -------------------------------------------------------------------------------------------


def test_t13_loss_is_zero_at_w_one():
    loss = br_loss(torch.ones(3, 7, dtype=F64), torch.ones(3, 5, dtype=F64))
    assert loss.shape == (3,)
    assert loss.abs().max() < 1e-9  # only the 1e-10 inside the logs remains


def test_t13_minimiser_is_the_density_ratio():
    # rows drawn exactly in proportion: p_off = [0.5, 0.3, 0.2] (10 rows), p_on = [0.2, 0.3, 0.5] (10 rows), so the
    # row means of br_loss are the expectations over the two discrete distributions
    x_off = torch.tensor([0] * 5 + [1] * 3 + [2] * 2)
    x_on = torch.tensor([0] * 2 + [1] * 3 + [2] * 5)
    theta = torch.zeros(3, dtype=F64, requires_grad=True)  # w = exp(theta), tabular over 3 states

    def expected_loss() -> torch.Tensor:
        w = theta.exp()
        return br_loss(w[x_off].unsqueeze(0), w[x_on].unsqueeze(0)).sum()

    opt = torch.optim.LBFGS(
        [theta],
        lr=1.0,
        max_iter=200,
        tolerance_grad=1e-14,
        tolerance_change=1e-16,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = expected_loss()
        loss.backward()
        return loss

    opt.step(closure)
    torch.testing.assert_close(
        theta.detach().exp(), torch.tensor([0.4, 1.0, 2.5], dtype=F64), rtol=0, atol=1e-3
    )
    # closed form: the gradient in w vanishes exactly at w = p_on / p_off, and not at w = 1
    for w0, zero in (([0.4, 1.0, 2.5], True), ([1.0, 1.0, 1.0], False)):
        w = torch.tensor(w0, dtype=F64, requires_grad=True)
        (g,) = torch.autograd.grad(br_loss(w[x_off].unsqueeze(0), w[x_on].unsqueeze(0)).sum(), w)
        assert (g.abs().max() < 1e-8) == zero


def test_loss_hand_values_two_members():
    w_off = torch.tensor([[1.0, 3.0], [0.0, 1.0]], dtype=F64)
    w_on = torch.tensor([[1.0, 0.5], [3.0, 0.0]], dtype=F64)
    # member 0: off (0 + log 2) / 2, on (0 + log(2/3)) / 2 -> (log 2 + log 1.5) / 2 = log(3) / 2
    # member 1: off (-log 2 + 0) / 2, on (log 1.5 + log(1e-10)) / 2 -> (10 log 10 - log 3) / 2
    expected = torch.tensor([math.log(3) / 2, (10 * math.log(10) - math.log(3)) / 2], dtype=F64)
    torch.testing.assert_close(br_loss(w_off, w_on), expected, rtol=1e-9, atol=1e-9)


def test_priority_from_density_hand_values_and_clamp():
    w = torch.tensor([[32.0, 1.0, 0.0, 1e20], [243.0, 1.0, 1e-5, 1.0]], dtype=F64)
    w_off = torch.tensor([[1.0, 32.0], [1.0, 1.0]], dtype=F64)
    # T = 5: w^{1/5} = [2, 1, 0, 1e4] and [3, 1, 0.1, 1]; normalisers (1 + 2) / 2 = 1.5 and 1
    expected = torch.tensor([[4 / 3, 2 / 3, 1e-3, 1e3], [3.0, 1.0, 0.1, 1.0]], dtype=F64)
    torch.testing.assert_close(priority_from_density(w, w_off, 5.0, 1e-3, 1e3), expected, rtol=1e-9, atol=0)


# ---- the sampler ------------------------------------------------------------------------------------------------


def test_pick_never_selects_an_empty_child():
    children = torch.tensor([[[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]], dtype=F64)[:, :1]  # [1, 1, 4]
    for u, k, rest in (
        (0.0, 0, 0.0),
        (0.999, 0, 0.999),
        (1.0, 1, 0.0),
        (2.5, 1, 1.5),
        (3.0, 1, 2.0),
        (9.0, 1, 8.0),
    ):
        got_k, got_rest = _pick(children, torch.tensor([[u]], dtype=F64))
        # u >= the sum (rounding) -> the last child with mass
        assert (int(got_k), float(got_rest)) == (
            k,
            rest,
        )


@pytest.mark.parametrize("block,stratified", [(8, False), (32, True)])
def test_sampler_frequencies_match_probabilities(block, stratified):
    m, n_off = 2, 1000
    br = BalancedReplay(m, O, A, n_off, 3000, small_cfg(block=block, stratified=stratified))
    br.add_online(237)  # size 1237: not a multiple of 8 or 32; several tree levels for block 8
    assert br.size == 1237 and br.size % block != 0
    g = gen(0)
    p = torch.empty(m, br.size).uniform_(-1.5, 1.5, generator=g).exp()  # non-uniform over all blocks
    p[:, 400:420] = 1e-3  # a run of nearly empty rows
    p[1, 1236] = 40.0  # heavy last row of member 1
    br.set_priorities(torch.arange(br.size).expand(m, -1), p)
    assert_tree_consistent(br)
    probs = br.probabilities()
    torch.testing.assert_close(probs, p.double() / p.double().sum(-1, keepdim=True), rtol=1e-6, atol=0)
    n = 200_000
    idx = br.sample(n, gen(1))
    assert idx.shape == (m, n) and idx.dtype == torch.int64
    assert int(idx.min()) >= 0 and int(idx.max()) < br.size  # rows beyond size are never drawn
    counts = torch.zeros(m, br.size, dtype=F64).scatter_add_(1, idx, torch.ones(m, n, dtype=F64))
    expected = n * probs
    tiny = torch.zeros(br.size, dtype=torch.bool)
    tiny[400:420] = True
    assert counts[:, tiny].sum(-1).max() <= 20  # expected ~ 2.5 draws per member
    chi2 = ((counts - expected)[:, ~tiny] ** 2 / expected[:, ~tiny]).sum(-1)  # [M]
    df = int((~tiny).sum()) - 1
    assert chi2.max() < df + 6 * math.sqrt(2 * df), chi2  # a wrong descent gives chi2 >> df
    torch.testing.assert_close(counts[1, 1236] / n, probs[1, 1236], rtol=0.05, atol=0)
    if stratified:  # draw i lies in the i-th 1/n slice of the total: rows ascend, counts within 2 of n P(j)
        idx = br.sample(1000, gen(2))
        assert bool((idx[:, 1:] >= idx[:, :-1]).all())
        counts = torch.zeros(m, br.size, dtype=F64).scatter_add_(1, idx, torch.ones(m, 1000, dtype=F64))
        assert (counts - 1000 * probs).abs().max() < 2


def test_initial_online_max_priority_and_share():
    br = BalancedReplay(2, O, A, 3000, 5000, small_cfg())
    assert torch.equal(br.priorities, torch.ones(2, 3000))  # offline rows start at 1
    br.add_online(1000)  # |D^1| = 1000: max_p = 3000 * 0.5 / (0.5 * 1000) = 3
    assert br.max_priority.tolist() == [3.0, 3.0]
    assert torch.equal(br.priorities[:, 3000:], torch.full((2, 1000), 3.0))
    pr = br.priorities.double()
    assert (pr[:, 3000:].sum(-1) / pr.sum(-1)).tolist() == [0.5, 0.5]  # exactly f
    assert br.total().tolist() == [6000.0, 6000.0]
    torch.testing.assert_close(br.probabilities()[:, 3000:].sum(-1), torch.full((2,), 0.5, dtype=F64))
    # later sets enter at max(initial max, every priority assigned since): 7.5 for member 0, still 3 for member 1
    br.set_priorities(torch.tensor([[5], [6]]), torch.tensor([[7.5], [2.0]]))
    br.add_online(10)
    assert br.priorities[0, 4000:].tolist() == [7.5] * 10 and br.priorities[1, 4000:].tolist() == [3.0] * 10
    assert_tree_consistent(br)
    # a priority assigned before the first deployment counts too: max_p = max(3, 50)
    br = BalancedReplay(1, O, A, 3000, 5000, small_cfg())
    br.set_priorities(torch.tensor([[0]]), torch.tensor([[50.0]]))
    br.add_online(1000)
    assert br.max_priority.tolist() == [50.0] and br.priorities[0, 3000:].unique().tolist() == [50.0]
    # f = 0.2: max_p = 3000 * 0.2 / (0.8 * 1000) = 0.75, online share 750 / 3750 = 0.2
    br = BalancedReplay(1, O, A, 3000, 5000, small_cfg(init_online_fraction=0.2))
    br.add_online(1000)
    pr = br.priorities.double()
    assert br.max_priority.tolist() == [0.75] and (pr[:, 3000:].sum(-1) / pr.sum(-1)).tolist() == [0.2]


def _net_reads_first_obs(br: BalancedReplay) -> None:
    """Sets every member's net to w(s, a) = relu(s_0) (one path of unit weights)."""
    with torch.no_grad():
        for layer in br.net.layers:
            layer.weight.zero_()
            layer.bias.zero_()
            layer.weight[:, 0, 0] = 1.0


def test_update_priorities_changes_exactly_the_used_rows():
    br = BalancedReplay(2, O, A, 200, 400, small_cfg())
    br.add_online(70)  # size 270, max_p = 200 / 70
    _net_reads_first_obs(br)
    before = br.priorities.clone()
    idx = torch.tensor([[5, 7, 5, 250], [0, 1, 2, 3]])
    s0 = torch.tensor([[32.0, 1e20, 32.0, 0.0], [243.0, 1.0, 1e-5, 1.0]])  # s_0 of the used rows
    obs = torch.zeros(2, 4, O)
    obs[..., 0] = s0
    off_obs = torch.zeros(2, 6, O)
    off_obs[0, :, 0] = torch.tensor([1.0, 32.0] * 3)  # mean_off w^{1/5} = 1.5
    off_obs[1, :, 0] = 1.0  # mean_off w^{1/5} = 1
    p = br.update_priorities(idx, obs, torch.zeros(2, 4, A), off_obs, torch.zeros(2, 6, A))
    expected = torch.tensor([[4 / 3, 1e3, 4 / 3, 1e-3], [3.0, 1.0, 0.1, 1.0]])  # clamped to [1e-3, 1e3]
    torch.testing.assert_close(p, expected, rtol=1e-5, atol=0)
    after = br.priorities
    for mem in range(2):
        used = torch.zeros(br.size, dtype=torch.bool)
        used[idx[mem]] = True
        assert torch.equal(after[mem, ~used], before[mem, ~used])  # every other row untouched
        torch.testing.assert_close(after[mem, idx[mem]], expected[mem], rtol=1e-5, atol=0)
    torch.testing.assert_close(br.max_priority, torch.tensor([1e3, 3.0], dtype=F64), rtol=1e-6, atol=0)
    assert_tree_consistent(br)
    torch.testing.assert_close(br.probabilities(), after.double() / after.double().sum(-1, keepdim=True))
    br.set_priorities(torch.tensor([[3, 3], [9, 9]]), torch.tensor([[2.0, 5.0], [6.0, 4.0]]))
    assert br.priorities[:, [3, 9]].tolist() == [[5.0, 1.0], [1.0, 4.0]]  # the last occurrence wins
    assert_tree_consistent(br)
    with pytest.raises(IndexError, match="size=270"):
        br.set_priorities(torch.tensor([[270], [0]]), torch.ones(2, 1))
    with pytest.raises(ValueError, match="finite and > 0"):
        br.set_priorities(torch.tensor([[1], [0]]), torch.tensor([[0.0], [1.0]]))


# ---- the density net ----------------------------------------------------------------------------------------------


def test_density_net_init_and_seeding():
    torch.manual_seed(123)
    ref = torch.rand(3)
    torch.manual_seed(123)
    br = BalancedReplay(2, O, A, 10, 20, small_cfg(), seed=4)
    assert torch.equal(torch.rand(3), ref)  # built under fork_rng: the global stream is untouched
    assert torch.equal(br.net.layers[-1].bias, torch.ones(2, 1, 1))
    w = br.density(torch.randn(2, 50, O), torch.randn(2, 50, A))
    assert w.shape == (2, 50) and (w - 1).abs().max() < 0.1  # w starts near 1
    same = BalancedReplay(2, O, A, 10, 20, small_cfg(), seed=4)
    other = BalancedReplay(2, O, A, 10, 20, small_cfg(), seed=5)
    assert torch.equal(same.net.layers[0].weight, br.net.layers[0].weight)
    assert not torch.equal(other.net.layers[0].weight, br.net.layers[0].weight)


def test_density_indices_cover_the_two_parts():
    br = BalancedReplay(2, O, A, 100, 300, small_cfg())
    with pytest.raises(RuntimeError, match="add_online"):
        br.density_indices(gen(0))
    br.add_online(50)
    off, on = br.density_indices(gen(0))
    assert off.shape == on.shape == (2, 32)
    assert 0 <= int(off.min()) and int(off.max()) < 100 and 100 <= int(on.min()) and int(on.max()) < 150
    with pytest.raises(ValueError, match="capacity=300"):
        br.add_online(151)


def _batch(m: int, r: int, seed: int) -> dict:
    g = gen(seed)
    return {"obs": torch.randn(m, r, O, generator=g), "actions": torch.rand(m, r, A, generator=g) * 2 - 1}


def test_batched_update_equals_separate_members():
    cfg = small_cfg(hidden=(32, 32))
    big = BalancedReplay(3, O, A, 100, 300, cfg, seed=0)
    singles = [BalancedReplay(1, O, A, 100, 300, cfg, seed=10 + i) for i in range(3)]
    for i, one in enumerate(singles):
        load_member(one.net, 0, member_state(big.net, i))
    for step in range(3):
        off, on = _batch(3, 64, 2 * step), _batch(3, 64, 2 * step + 1)
        loss = big.update_density(off, on)
        sep = torch.cat(
            [
                one.update_density(
                    {k: v[i : i + 1] for k, v in off.items()}, {k: v[i : i + 1] for k, v in on.items()}
                )
                for i, one in enumerate(singles)
            ]
        )
        torch.testing.assert_close(loss, sep, rtol=0, atol=1e-6)
    for i, one in enumerate(singles):
        for name, t in member_state(big.net, i).items():
            torch.testing.assert_close(t, one.net.state_dict()[name][0], rtol=0, atol=1e-6)
    for br in (big, *singles):
        br.add_online(40)
    idx, rows, off = torch.randint(0, 140, (3, 16), generator=gen(7)), _batch(3, 16, 8), _batch(3, 32, 9)
    big.update_priorities(idx, rows["obs"], rows["actions"], off["obs"], off["actions"])
    for i, one in enumerate(singles):
        one.update_priorities(
            idx[i : i + 1],
            rows["obs"][i : i + 1],
            rows["actions"][i : i + 1],
            off["obs"][i : i + 1],
            off["actions"][i : i + 1],
        )
        torch.testing.assert_close(big.priorities[i], one.priorities[0], rtol=1e-6, atol=0)


def test_state_dict_round_trip_resumes_exactly():
    cfg = small_cfg()
    br = BalancedReplay(2, O, A, 100, 300, cfg, seed=1)
    br.add_online(60)
    g = gen(3)
    for step in range(3):
        idx = br.sample(16, g)
        rows, off, on = _batch(2, 16, 10 * step), _batch(2, 32, 10 * step + 1), _batch(2, 32, 10 * step + 2)
        br.update_priorities(idx, rows["obs"], rows["actions"], off["obs"], off["actions"])
        br.update_density(off, on)
    buf = io.BytesIO()
    torch.save(br.state_dict(), buf)  # serialisable as plain tensors and containers
    g_state = g.get_state()
    idx1 = br.sample(64, g)
    loss1 = br.update_density(_batch(2, 32, 100), _batch(2, 32, 101))
    other = BalancedReplay(2, O, A, 100, 300, cfg, seed=9)
    buf.seek(0)
    other.load_state_dict(torch.load(buf))
    g.set_state(g_state)
    assert torch.equal(other.sample(64, g), idx1)
    assert torch.equal(other.update_density(_batch(2, 32, 100), _batch(2, 32, 101)), loss1)
    assert other.size == br.size and torch.equal(other.max_priority, br.max_priority)
    with pytest.raises(ValueError, match="differs"):
        BalancedReplay(2, O, A, 100, 300, small_cfg(temperature=2.0)).load_state_dict(br.state_dict())


def test_config_validate_names_the_bad_value():
    assert BalancedReplayConfig().validate().hidden == (256, 256)
    bad = [
        ({"temperature": 0.0}, "temperature=0.0"),
        ({"block": 1}, "block=1"),
        ({"init_online_fraction": 1.0}, "init_online_fraction=1.0"),
        ({"hidden": ()}, "hidden=()"),
        ({"p_min": 2e3}, "p_min=2000.0"),
        ({"density_batch": 0}, "density_batch=0"),
        ({"stratified": "yes"}, "stratified='yes'"),
        ({"lr": float("nan")}, "lr=nan"),
    ]
    for kw, msg in bad:
        with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            BalancedReplayConfig(**kw).validate()
    with pytest.raises(ValueError, match="block=1"):
        BalancedReplay(1, O, A, 10, 20, BalancedReplayConfig(block=1))
