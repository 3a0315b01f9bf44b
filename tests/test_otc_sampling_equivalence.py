"""OTC's fast similarity (issue 65) gives the sampling probabilities of the direct computation on a fixed buffer.

The sampler (papers/otc/sampler.py) computes d_e as the distance alone (``otc.embedding_distance``: no match index,
no tie pass) and d_q with V(s') of the D rows only at the matched rows (``sampler.matched_values``). The reference
here is the direct computation, as the sampler did it before: ``embedding_match`` on every (B, D) pair, and V on
every D row, then ``q_similarity``. Both start from the same generator state, so they draw the same noise; the test
compares the distances, the Eq. (3) probabilities and the random stream afterwards.
"""

from __future__ import annotations

import pytest
import torch

from common.algos.awac import AWAC, AWACConfig
from common.algos.bcq import BCQ, BCQConfig
from papers.otc import otc as O
from papers.otc.sampler import Sampler, matched_values

F64 = torch.float64


def _buffer(t=300, n=2, o=4, a=2, seed=0, terminal_every=0):
    g = torch.Generator().manual_seed(seed)
    merged = {
        "obs": torch.randn(t, n, o, generator=g, dtype=F64),
        "actions": torch.rand(t, n, a, generator=g, dtype=F64) * 2 - 1,
        "rewards": torch.randn(t, n, generator=g, dtype=F64),
        "next_obs": torch.randn(t, n, o, generator=g, dtype=F64),
        "terminals": torch.zeros(t, dtype=F64),
    }
    if terminal_every:
        merged["terminals"][::terminal_every] = 1.0
    return merged, {k: v[t - 120 :] for k, v in merged.items()}


def _learner(kind):
    if kind == "bcq":
        return BCQ(
            [4, 4], [2, 2], 2, BCQConfig(hidden=(16, 16), hidden_vae=(16, 16)), seeds=[0, 1], dtype=F64
        )
    return AWAC([4, 4], [2, 2], 2, AWACConfig(hidden=(16, 16)), seeds=[0, 1], dtype=F64)


def _sampler(learner, distance, norm="transition", cvae=None):
    cfg = {
        "otc": {
            "distance": distance,
            "big_batch": 64,
            "match_batch": 100,
            "batch_size": 32,
            "n_alpha_draws": 2,
        }
    }
    if distance == "q":
        cfg["otc"]["dq_norm"] = norm
    return Sampler("otc", learner, cfg, 3, "cpu", cvae, torch.Generator().manual_seed(9) if cvae else None)


def _direct_dq(s: Sampler, bb, bd):
    """d_q as computed before the speed-up: V on every B and D row, then q_similarity."""
    lr = s.learner
    q_b, q_d = lr.q1(bb["obs"], bb["actions"]), lr.q1(bd["obs"], bd["actions"])
    v_b, v_d = lr.value(bb["next_obs"], generator=s.gen), lr.value(bd["next_obs"], generator=s.gen)
    return O.q_similarity(
        q_b,
        q_d,
        v_b,
        v_d,
        bb["rewards"],
        bd["rewards"],
        bb["terminals"],
        bd["terminals"],
        s.gamma,
        s.gen,
        s.ocfg.dq_norm,
    )[1]


@pytest.mark.parametrize(
    "kind,norm,terminal_every",
    [("bcq", "transition", 0), ("bcq", "transition", 7), ("awac", "transition", 5), ("bcq", "batch", 7)],
)
def test_dq_probabilities_equal_the_direct_computation(kind, norm, terminal_every):
    merged, newest = _buffer(terminal_every=terminal_every)
    s = _sampler(_learner(kind), "q", norm)
    bb, bd = s._pair(merged, newest)
    state = s.gen.get_state()
    fast = s.similarity(bb, bd)
    after_fast = torch.rand(4, generator=s.gen)
    s.gen.set_state(state)
    direct = _direct_dq(s, bb, bd)
    assert torch.equal(torch.rand(4, generator=s.gen), after_fast)  # the same draws, in the same order
    assert float(direct.abs().max()) > 0 and fast.shape == (4, 64)
    torch.testing.assert_close(fast, direct, rtol=1e-12, atol=1e-12)  # only the value's row count differs
    alpha = torch.tensor([1.0, 0.5, 2.0, 1.0], dtype=F64)
    assert torch.equal(O.rank_probabilities(fast, alpha), O.rank_probabilities(direct, alpha))


def test_matched_values_are_the_values_of_every_row_at_the_match():
    merged, newest = _buffer()
    lr = _learner("bcq")
    nxt = newest["next_obs"][:100].transpose(0, 1).repeat(2, 1, 1)  # [M = 4, D = 100, O]
    z = lr.value_noise(nxt, generator=torch.Generator().manual_seed(1))  # [M, D, n, L]
    idx = torch.randint(0, 100, (4, 30), generator=torch.Generator().manual_seed(2))
    every = lr.value(nxt, noise=z)  # [M, D]
    got = matched_values(lr, nxt, z, idx, "transition")["v_next_dm"]
    torch.testing.assert_close(got, every.gather(-1, idx), rtol=1e-12, atol=1e-12)
    assert set(matched_values(lr, nxt, z, idx, "batch")) == {"v_next_d"}
    b, d = every[:, :30], every  # [M, B], [M, D] stand-ins for q, V, rewards and terminals
    # idx, q_b, q_d, v_next_b, rewards_b/_d, terminals_b/_d, gamma
    rows = (
        idx,
        b,
        d,
        b,
        b,
        d,
        0 * b,
        0 * d,
        0.99,
    )
    with pytest.raises(ValueError, match="exactly one of v_next_d"):
        O.q_deviation_distance(*rows)
    with pytest.raises(ValueError, match="needs norm='transition'"):
        O.q_deviation_distance(*rows, "batch", v_next_dm=b)
    torch.testing.assert_close(
        O.q_deviation_distance(*rows, v_next_dm=got),
        O.q_deviation_distance(*rows, v_next_d=every),
        rtol=1e-12,
        atol=1e-12,
    )


def test_de_distance_equals_the_match_distance_and_keeps_the_stream():
    merged, newest = _buffer()
    lr = _learner("bcq")
    cvae = O.TransitionCVAE(4, 4, 2, hidden=(16, 16), dtype=F64)
    s = _sampler(lr, "embedding", cvae=cvae)
    bb, bd = s._pair(merged, newest)
    state = s.gen.get_state()
    fast = s.similarity(bb, bd)
    after_fast = torch.rand(4, generator=s.gen)
    s.gen.set_state(state)
    _, direct = O.embedding_similarity(cvae, bb, bd, s.gen)
    assert torch.equal(torch.rand(4, generator=s.gen), after_fast)
    assert torch.equal(fast, direct) and float(direct.max()) > 0
    mu_b, mu_d = torch.randn(2, 50, 3, dtype=F64), torch.randn(2, 40, 3, dtype=F64)
    chunked = O.embedding_distance(mu_b, mu_d, torch.Generator(), chunk_bytes=2 * 40 * 8 * 7)  # 7-row chunks
    assert torch.equal(chunked, torch.cdist(mu_b, mu_d, p=1.0).amin(-1))
    ties = torch.zeros(1, 5, 3, dtype=F64)  # every distance 0: the distance needs no tie-break
    assert torch.equal(O.embedding_distance(ties, ties, torch.Generator()), torch.zeros(1, 5, dtype=F64))
