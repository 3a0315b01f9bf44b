"""OTC's sampler core (papers/otc/otc.py) against hand-computed numbers.

T1-T11 are the reproduction spec's cheap exact claims (Eq. 3 ranks and probabilities, the |B| = 512 numbers,
alpha = 0 is the uniform baseline, d_e and d_q on stub embeddings / stub Q, random tie-breaking, the adaptive
alpha of Eq. 4, the correction recovering the online dynamics, the improvement metric, the tabular Eq. 2).
Then: 1-D matching equals a brute force, the batched computation equals M per-member computations (CVAE step
included), the CVAE learns a tiny problem and resumes from its state, and the config's validate().
Every expected number below is written out by hand, never recomputed by the code under test.
"""

import json
import math

import numpy as np
import pytest
import torch

from common.datasets.sampling import sample_indices
from common.networks.nets import load_member, member_state
from papers.otc.otc import (
    AdaptiveAlpha,
    TransitionCVAE,
    embedding_match,
    embedding_similarity,
    prioritized_draw,
    q_match,
    q_similarity,
    rank_probabilities,
    ranks,
)
from papers.otc.otc_config import OTCConfig
from papers.otc.otc_metrics import improvement_percent, kl_modified_dynamics, near_zero_baseline

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- T1: Eq. (3) on four distances ----------------------------------------------------------------------------


def test_t1_ranks_and_probabilities_hand_values():
    d = torch.tensor([[0.3, 0.1, 0.4, 0.2]], dtype=F64)
    assert ranks(d).tolist() == [[3, 1, 4, 2]]
    torch.testing.assert_close(rank_probabilities(d, 1.0), torch.tensor([[0.16, 0.48, 0.12, 0.24]], dtype=F64))
    torch.testing.assert_close(rank_probabilities(d, 2.0),
                               torch.tensor([[16 / 205, 144 / 205, 9 / 205, 36 / 205]], dtype=F64))
    assert rank_probabilities(d, 0.0).tolist() == [[0.25, 0.25, 0.25, 0.25]]


def test_t1_invariant_under_increasing_maps_and_stable_ties():
    d = torch.tensor([[0.3, 0.1, 0.4, 0.2]], dtype=F64)
    for alpha in (0.5, 1.0, 2.0):
        p = rank_probabilities(d, alpha)
        for mapped in (3.0 * d, d + 7.0, d.exp(), d.pow(3)):
            assert torch.equal(rank_probabilities(mapped, alpha), p)
    # a decreasing map reverses the order: ranks [2, 4, 1, 3], P(alpha=1) = [1/2, 1/4, 1, 1/3] / (25/12)
    torch.testing.assert_close(rank_probabilities(-d, 1.0), torch.tensor([[0.24, 0.12, 0.48, 0.16]], dtype=F64))
    # equal distances keep their index order
    assert ranks(torch.tensor([[0.2, 0.1, 0.2, 0.2]])).tolist() == [[2, 1, 3, 4]]


def test_t1_alpha_per_member():
    d = torch.tensor([[0.3, 0.1, 0.4, 0.2], [0.3, 0.1, 0.4, 0.2], [0.3, 0.1, 0.4, 0.2]], dtype=F64)
    p = rank_probabilities(d, torch.tensor([1.0, 2.0, 0.0]))
    expected = torch.tensor([[0.16, 0.48, 0.12, 0.24], [16 / 205, 144 / 205, 9 / 205, 36 / 205],
                             [0.25, 0.25, 0.25, 0.25]], dtype=F64)
    torch.testing.assert_close(p, expected)


# ---- T2: |B| = 512 -----------------------------------------------------------------------------------------------


def test_t2_512_probabilities():
    d = torch.randperm(512, generator=gen(0)).to(F64).unsqueeze(0)  # rank(j) = d_j + 1
    top, last = int(d.argmin()), int(d.argmax())
    p1 = rank_probabilities(d, 1.0)[0]
    assert p1[top].item() == pytest.approx(0.146702498, abs=1e-8)  # 1 / H_512, H_512 = 6.816517
    assert p1[last].item() == pytest.approx(2.865283e-4, rel=1e-6)
    assert p1.sum().item() == pytest.approx(1.0, abs=1e-12)
    assert rank_probabilities(d, 2.0)[0, top].item() == pytest.approx(0.6086491, abs=1e-7)
    assert rank_probabilities(d, 0.5)[0, top].item() == pytest.approx(0.02282241, abs=1e-8)


def test_t2_empirical_counts_of_a_128_draw():
    # 10^4 independent updates (one per member row), 128 draws each, from the alpha = 1 probabilities of 512
    n_rep = 10_000
    d = torch.randperm(512, generator=gen(1)).float().expand(n_rep, 512)
    probs = rank_probabilities(d, 1.0)
    idx = prioritized_draw(probs, 128, gen(2))
    assert idx.shape == (n_rep, 128) and idx.dtype == torch.int64
    top, second = int(d[0].argmin()), int(d[0].argsort()[1])
    # expected counts 128 / H_512 = 18.7779 and 9.3890; per-row std sqrt(128 p (1 - p)) = 4.00 and 2.94,
    # so the std of the mean over 10^4 rows is 0.040 and 0.029: 5-sigma tolerances 0.2 and 0.15
    assert (idx == top).sum(1).double().mean().item() == pytest.approx(18.7779, abs=0.2)
    assert (idx == second).sum(1).double().mean().item() == pytest.approx(9.3890, abs=0.15)


# ---- T3: alpha = 0 is the uniform baseline -----------------------------------------------------------------------


def test_t3_two_stage_marginal_exact():
    # B^k of N = 4 rows, |B| = 3 drawn uniformly with replacement: enumerate all 64 minibatches as members
    n, b = 4, 3
    tuples = torch.cartesian_prod(*[torch.arange(n)] * b)  # [64, 3]
    d = tuples.to(F64) * 0.1  # a similarity that depends on the row: row e has d = e / 10

    def marginal(alpha):
        p = rank_probabilities(d, alpha)  # [64, 3]
        return torch.stack([(p * (tuples == e)).sum() / n**b for e in range(n)])

    assert marginal(0.0).tolist() == pytest.approx([0.25, 0.25, 0.25, 0.25], abs=1e-15)
    # the same computation at alpha = 1 is far from uniform (so the check above can fail)
    m1 = marginal(1.0).tolist()
    assert m1[0] > 0.35 and m1[3] < 0.16 and m1 == sorted(m1, reverse=True)


def test_t3_two_stage_draw_chi_square():
    n_rows, n_rep = 40, 2000
    g = gen(3)

    def counts(alpha):
        rows = sample_indices(g, n_rows, n_rep, 16)  # stage 1: B, [n_rep, 16] uniform from B^k
        d = rows.to(F64) + torch.rand(rows.shape, generator=g, dtype=F64)  # similarity tied to the row
        pick = prioritized_draw(rank_probabilities(d, alpha), 8, g)  # stage 2: [n_rep, 8] into B
        return torch.bincount(rows.gather(1, pick).reshape(-1), minlength=n_rows).double()

    def chi2(c):
        e = c.sum() / n_rows
        return ((c - e) ** 2 / e).sum().item()

    assert chi2(counts(0.0)) < 72.05  # chi-square 0.999 quantile, 39 degrees of freedom
    assert chi2(counts(1.0)) > 1000.0  # the prioritized draw is detectably non-uniform


# ---- T4: d_e matching on stub embeddings -------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_bytes", [None, 1])
def test_t4_embedding_match_hand_values(chunk_bytes):
    mu_b = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]]], dtype=F64)
    mu_d = torch.tensor([[[0.0, 0.1], [1.0, 1.0]]], dtype=F64)
    idx, dist = embedding_match(mu_b, mu_d, gen(0), chunk_bytes=chunk_bytes)
    assert idx.tolist() == [[0, 1, 1]]
    torch.testing.assert_close(dist, torch.tensor([[0.1, 1.0, 8.0]], dtype=F64))
    assert ranks(dist).tolist() == [[1, 2, 3]]
    torch.testing.assert_close(rank_probabilities(dist, 1.0), torch.tensor([[6 / 11, 3 / 11, 2 / 11]], dtype=F64))


def test_embedding_match_equals_brute_force_and_chunks_agree():
    g = gen(4)
    mu_b, mu_d = torch.randn(3, 50, 10, generator=g), torch.randn(3, 70, 10, generator=g)
    brute = (mu_b[:, :, None, :] - mu_d[:, None, :, :]).abs().sum(-1)  # [3, 50, 70]
    idx, dist = embedding_match(mu_b, mu_d, gen(5))
    assert torch.equal(idx, brute.argmin(-1))
    torch.testing.assert_close(dist, brute.min(-1).values, rtol=1e-5, atol=1e-5)
    idx_c, dist_c = embedding_match(mu_b, mu_d, gen(5), chunk_bytes=3 * 70 * 4 * 7)  # chunks of 7 rows
    assert torch.equal(idx_c, idx) and torch.equal(dist_c, dist)


# ---- T5: d_q on a stub Q -----------------------------------------------------------------------------------------


def _t5_inputs():
    # gamma 0.5, Q(s, a) = s + a, V(s') = 2 s', rewards 0, no terminals
    s_b, a_b, sp_b = torch.tensor([[1.0, 2.0, 0.0]]), torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[1.0, 3.0, 0.5]])
    s_d, a_d, sp_d = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.1, 0.1]]), torch.tensor([[1.2, 2.0]])
    z_b, z_d = torch.zeros(1, 3), torch.zeros(1, 2)
    return dict(q_b=(s_b + a_b).double(), q_d=(s_d + a_d).double(), v_next_b=(2 * sp_b).double(),
                v_next_d=(2 * sp_d).double(), rewards_b=z_b.double(), rewards_d=z_d.double(),
                terminals_b=z_b.double(), terminals_d=z_d.double(), gamma=0.5)


def test_t5_q_distance_transition_norm():
    idx, d = q_similarity(**_t5_inputs(), generator=gen(0))
    assert idx.tolist() == [[0, 1, 0]]
    # deviations: B [1, 1.5, 0.5], D [1.090909, 0.952381] -> d = [0.090909, 0.547619, 0.590909]
    torch.testing.assert_close(d, torch.tensor([[0.0909090909, 0.5476190476, 0.5909090909]], dtype=F64))
    assert ranks(d).tolist() == [[1, 2, 3]]
    torch.testing.assert_close(rank_probabilities(d, 1.0), torch.tensor([[6 / 11, 3 / 11, 2 / 11]], dtype=F64))


def test_t5_q_distance_batch_norm():
    idx, d = q_similarity(**_t5_inputs(), generator=gen(0), norm="batch")
    assert idx.tolist() == [[0, 1, 0]]
    # mean V: B 3, D 3.2; deviations B [2/3, 2, 1/3], D [0.75, 1.25]
    torch.testing.assert_close(d, torch.tensor([[0.0833333333, 0.75, 0.4166666667]], dtype=F64))
    assert ranks(d).tolist() == [[1, 3, 2]]


def test_t5_guards_terminal_and_near_zero_normalizer():
    x = _t5_inputs()
    x["terminals_b"] = torch.tensor([[0.0, 1.0, 0.0]], dtype=F64)  # row 1 ends: deviation 0
    x["rewards_b"] = torch.tensor([[0.0, 0.0, 1.0]], dtype=F64)  # row 2: E V = (1 - 1) / 0.5 = 0 -> floor
    _, d = q_similarity(**x, generator=gen(0))
    floor = 1e-6 + 1e-3 * (4.0 / 3.0)  # 1e-6 + 1e-3 * mean_B |Q1|, Q1 = [1, 2, 1]
    expected = [1.0 / 11.0, 0.952381 - 0.0, 1.0 / floor - 1.090909]  # |0 - dev_D| for the terminal row
    torch.testing.assert_close(d, torch.tensor([expected], dtype=F64), rtol=1e-6, atol=1e-5)
    assert torch.isfinite(d).all()
    # "batch": the mean runs over the non-terminal rows, (2 + 1) / 2 = 1.5 -> dev_B = [4/3, 0, 2/3]
    x["rewards_b"] = torch.zeros(1, 3, dtype=F64)
    _, d = q_similarity(**x, generator=gen(0), norm="batch")
    torch.testing.assert_close(d, torch.tensor([[0.5833333333, 1.25, 0.0833333333]], dtype=F64))


# ---- T6: ties are split uniformly --------------------------------------------------------------------------------


def test_t6_q_ties_split_evenly():
    n = 10_000
    q_b = torch.ones(1, n, dtype=F64)
    idx, gap = q_match(q_b, torch.tensor([[0.5, 1.5, 3.0]], dtype=F64), gen(6))  # 0.5 and 1.5 both at 0.5
    assert gap.eq(0.5).all()
    c0 = int((idx == 0).sum())
    assert int((idx == 1).sum()) == n - c0
    assert abs(c0 - 5000) < 250  # binomial std 50: 5 sigma
    # ties among equal values and across both sides: [0.5, 1.5, 1.5] -> one third each (std 47)
    idx, _ = q_match(q_b, torch.tensor([[1.5, 0.5, 9.0, 1.5]], dtype=F64), gen(7))
    counts = torch.bincount(idx[0], minlength=4).tolist()
    assert counts[2] == 0 and all(abs(c - n / 3) < 240 for c in (counts[0], counts[1], counts[3]))


def test_t6_ties_split_over_repeated_calls_and_stream_does_not_depend_on_data():
    g = gen(8)
    picks = [int(q_match(torch.ones(1, 1), torch.tensor([[0.5, 1.5]]), g)[0]) for _ in range(400)]
    assert abs(sum(picks) - 200) < 50  # binomial(400, 1/2), std 10
    # a call with a tie and a call without one move the generator alike
    g1, g2 = gen(9), gen(9)
    q_match(torch.ones(1, 5), torch.tensor([[0.5, 1.5]]), g1)
    q_match(torch.ones(1, 5), torch.tensor([[0.9, 1.5]]), g2)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_t6_embedding_ties_split_evenly():
    n = 10_000
    mu_b = torch.zeros(1, n, 2)
    mu_d = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]]])
    idx, dist = embedding_match(mu_b, mu_d, gen(10))
    assert dist.eq(1.0).all() and not (idx == 2).any()
    assert abs(int((idx == 0).sum()) - 5000) < 250
    idx_c, _ = embedding_match(mu_b, mu_d, gen(10), chunk_bytes=4 * 3 * 1000)  # chunks of 1000 rows
    assert torch.equal(idx_c, idx)


def test_q_match_equals_brute_force():
    g = gen(11)
    # many exact ties: integer Q values, B rows also outside D's range
    q_d = torch.randint(0, 10, (4, 30), generator=g).double()
    q_b = torch.randint(-2, 13, (4, 200), generator=g).double() + 0.5 * torch.randint(0, 2, (4, 200), generator=g)
    idx, gap = q_match(q_b, q_d, g)
    brute = (q_b[:, :, None] - q_d[:, None, :]).abs()  # [4, 200, 30]
    assert torch.equal(gap, brute.min(-1).values)
    assert brute.gather(-1, idx[..., None]).squeeze(-1).eq(gap).all()  # the pick is in the tie set
    # continuous values: the unique argmin
    q_d, q_b = torch.randn(4, 300, generator=g), torch.randn(4, 100, generator=g) * 2
    idx, gap = q_match(q_b, q_d, g)
    brute = (q_b[:, :, None] - q_d[:, None, :]).abs()
    assert torch.equal(idx, brute.argmin(-1)) and torch.equal(gap, brute.min(-1).values)


# ---- T7: adaptive alpha (Eq. 4) ----------------------------------------------------------------------------------


def test_t7_adaptive_alpha_trajectory():
    dd = [[0.5, 0.4], [0.75, 0.2], [0.6, 0.8], [0.6, 0.8], [0.9, 0.8]]
    ada = AdaptiveAlpha(2, alpha0=1.0, mode="adaptive")
    got = [ada.step(x).tolist() for x in dd]
    expected = [[1.0, 1.0], [1.5, 0.5], [1.2, 2.0], [1.2, 2.0], [1.8, 2.0]]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert ada.k == 5
    fixed = AdaptiveAlpha(2, alpha0=1.0, mode="fixed")
    assert [fixed.step(x).tolist() for x in dd] == [[1.0, 1.0]] * 5
    assert [e.tolist() for e in fixed.estimates] == dd


def test_t7_zero_previous_estimate_keeps_alpha():
    ada = AdaptiveAlpha(1, alpha0=1.0)
    assert [ada.step(x).item() for x in (0.0, 0.5, 1.0)] == [1.0, 1.0, 2.0]


def test_t7_state_dict_round_trip_through_json():
    ada = AdaptiveAlpha(2, alpha0=0.5)
    for x in ([0.5, 0.4], [0.75, 0.2]):
        ada.step(x)
    back = AdaptiveAlpha(2, alpha0=0.5)
    back.load_state_dict(json.loads(json.dumps(ada.state_dict())))
    assert back.step([0.6, 0.8]).tolist() == ada.step([0.6, 0.8]).tolist()
    np.testing.assert_allclose(back.alpha.tolist(), [0.6, 1.0], rtol=1e-12)  # 0.5 * 0.6 / 0.5, 0.5 * 0.8 / 0.4
    with pytest.raises(ValueError, match="mode"):
        AdaptiveAlpha(2, alpha0=0.5, mode="fixed").load_state_dict(ada.state_dict())


# ---- T8: the correction finds the online dynamics ----------------------------------------------------------------


def test_t8_correction_prefers_offline_rows_with_the_online_dynamics():
    g = gen(0)
    s, a = torch.rand(1, 512, 2, generator=g) * 2 - 1, torch.rand(1, 512, 2, generator=g) * 2 - 1
    beta = torch.where(torch.arange(512) < 256, 0.2, -0.2).view(1, -1, 1)  # first half: the online beta
    s_d, a_d = torch.rand(1, 2000, 2, generator=g) * 2 - 1, torch.rand(1, 2000, 2, generator=g) * 2 - 1
    mu_b, mu_d = torch.cat([s, a, s + beta * a], -1), torch.cat([s_d, a_d, s_d + 0.2 * a_d], -1)  # stub [s, a, s']
    _, d = embedding_match(mu_b, mu_d, g)
    mass = [rank_probabilities(d, alpha)[0, :256].sum().item() for alpha in (0.0, 0.5, 1.0, 2.0)]
    assert mass[0] == pytest.approx(0.5, abs=1e-6)
    assert mass[2] >= 0.75
    assert mass[0] < mass[1] < mass[2] < mass[3]


# ---- T10: the metric; T11: Eq. (2) -------------------------------------------------------------------------------


def test_t10_improvement_percent_and_flag():
    assert improvement_percent(-200.0, -150.0) == pytest.approx(25.0)
    assert improvement_percent(100.0, 125.0) == pytest.approx(25.0)
    assert improvement_percent(100.0, 80.0) == pytest.approx(-20.0)
    np.testing.assert_allclose(improvement_percent(np.array([-200.0, 100.0]), np.array([-150.0, 80.0])), [25.0, -20.0])
    # HalfCheetah's D4RL range is -280.178953 .. 12135.0: 1 % is 124.15
    assert near_zero_baseline(-2.0, -280.178953, 12135.0)
    assert not near_zero_baseline(130.0, -280.178953, 12135.0)
    assert near_zero_baseline(np.array([100.0, -200.0]), -280.178953, 12135.0).tolist() == [True, False]


@pytest.mark.parametrize("name,f,p_tilde,kl_after", [
    ("const", lambda d: np.ones_like(d), [0.5, 0.3, 0.2], 0.274887),
    ("exp", lambda d: np.exp(-d), [0.390725, 0.345741, 0.263534], 0.143704),
    ("inv", lambda d: 1.0 / (1.0 + d), None, 0.186369),
    ("inv2", lambda d: 1.0 / (1.0 + d) ** 2, None, 0.126897),
    ("indicator", lambda d: (d == 0).astype(float), [0.344828, 0.310345, 0.344828], 0.066666),
])
def test_t11_eq2_tabular(name, f, p_tilde, kl_after):
    p_b, p_d = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.3, 0.5])
    d = np.abs(np.arange(3)[:, None] - np.arange(3)[None, :]).astype(float)
    out = kl_modified_dynamics(p_b, p_d, f, d)
    assert out.kl_before == pytest.approx(0.274887, abs=1e-6)
    assert out.kl_after == pytest.approx(kl_after, abs=1e-6)
    assert out.kl_eq2 == pytest.approx(out.kl_after, abs=1e-12)  # Eq. (2) is an identity
    assert out.p_tilde.sum() == pytest.approx(1.0)
    if p_tilde is not None:
        np.testing.assert_allclose(out.p_tilde, p_tilde, atol=1e-6)
    if name != "const":
        assert out.kl_after < out.kl_before


# ---- batched = per member ----------------------------------------------------------------------------------------


def test_batched_equals_per_member():
    m = 3
    g = gen(12)
    d = torch.rand(m, 64, generator=g, dtype=F64)
    alpha = torch.tensor([0.5, 1.0, 2.0])
    p = rank_probabilities(d, alpha)
    for i in range(m):
        assert torch.equal(p[i:i + 1], rank_probabilities(d[i:i + 1], float(alpha[i])))
    mu_b, mu_d = torch.randn(m, 40, 10, generator=g), torch.randn(m, 90, 10, generator=g)
    idx, dist = embedding_match(mu_b, mu_d, gen(0))
    qi = {k: torch.randn(m, n, generator=g, dtype=F64) for k, n in (("q_b", 40), ("q_d", 90), ("v_next_b", 40),
                                                                   ("v_next_d", 90), ("rewards_b", 40),
                                                                   ("rewards_d", 90))}
    qi["terminals_b"] = (torch.rand(m, 40, generator=g) < 0.2).double()
    qi["terminals_d"] = (torch.rand(m, 90, generator=g) < 0.2).double()
    for norm in ("transition", "batch"):
        q_idx, q_d = q_similarity(**qi, gamma=0.99, generator=gen(0), norm=norm)
        for i in range(m):
            one = {k: v[i:i + 1] for k, v in qi.items()}
            oi, od = q_similarity(**one, gamma=0.99, generator=gen(0), norm=norm)
            assert torch.equal(oi, q_idx[i:i + 1]) and torch.equal(od, q_d[i:i + 1])
    for i in range(m):
        ei, ed = embedding_match(mu_b[i:i + 1], mu_d[i:i + 1], gen(0))
        assert torch.equal(ei, idx[i:i + 1])
        torch.testing.assert_close(ed, dist[i:i + 1], rtol=1e-6, atol=1e-6)


def test_cvae_batched_step_equals_per_member_steps():
    m, o, a, r = 3, 4, 2, 32
    torch.manual_seed(0)
    big = TransitionCVAE(m, o, a, hidden=(16, 16), dtype=F64)
    singles = []
    for i in range(m):
        one = TransitionCVAE(1, o, a, hidden=(16, 16), dtype=F64)
        load_member(one.vae, 0, member_state(big.vae, i))
        singles.append(one)
    g = gen(13)
    for _ in range(3):
        obs, nxt = torch.randn(m, r, o, generator=g, dtype=F64), torch.randn(m, r, o, generator=g, dtype=F64)
        act = torch.rand(m, r, a, generator=g, dtype=F64) * 2 - 1
        eps = torch.randn(m, r, 10, generator=g, dtype=F64)
        loss = big.update(obs, nxt, act, eps=eps)
        for i, one in enumerate(singles):
            sl = slice(i, i + 1)
            li = one.update(obs[sl], nxt[sl], act[sl], eps=eps[sl])
            torch.testing.assert_close(li, loss[sl], rtol=1e-12, atol=1e-12)
    for i, one in enumerate(singles):
        mine, ref = member_state(one.vae, 0), member_state(big.vae, i)
        for k in ref:
            torch.testing.assert_close(mine[k], ref[k], rtol=1e-10, atol=1e-12)


# ---- the CVAE learns, embeds, resumes ----------------------------------------------------------------------------


def _toy_batch(g, m, r, o=3, a=2):
    s = torch.randn(m, r, o, generator=g)
    act = torch.rand(m, r, a, generator=g) * 1.6 - 0.8
    nxt = s + torch.nn.functional.pad(act, (0, o - a))  # s' = s + [a, 0]: a is recoverable from (s, s')
    return s, nxt, act


def test_cvae_train_step_lowers_the_loss_and_shapes():
    torch.manual_seed(1)
    cvae = TransitionCVAE.from_config(OTCConfig(), n_members=2, obs_dim=3, act_dim=2, learner_hidden=(32, 32))
    assert cvae.latent == 10 and cvae.kl_weight == 0.5 and cvae.lr == 1e-3
    g, noise = gen(14), gen(15)
    losses = []
    for _ in range(300):
        loss = cvae.update(*_toy_batch(g, 2, 64), generator=noise)
        assert loss.shape == (2,)
        losses.append(loss)
    first, last = torch.stack(losses[:5]).mean(0), torch.stack(losses[-20:]).mean(0)
    assert (last < 0.5 * first).all(), (first, last)
    s, nxt, act = _toy_batch(g, 2, 7)
    mu = cvae.embed(s, nxt, act)
    assert mu.shape == (2, 7, 10) and not mu.requires_grad
    batch_b = {"obs": s, "next_obs": nxt, "actions": act}
    s2, n2, a2 = _toy_batch(g, 2, 11)
    idx, dist = embedding_similarity(cvae, batch_b, {"obs": s2, "next_obs": n2, "actions": a2}, gen(0))
    assert idx.shape == (2, 7) and dist.shape == (2, 7) and int(idx.max()) < 11
    ref_idx, ref_dist = embedding_match(mu, cvae.embed(s2, n2, a2), gen(0))
    assert torch.equal(idx, ref_idx)
    torch.testing.assert_close(dist, ref_dist)
    with pytest.raises(ValueError, match="exactly one"):
        cvae.update(s, nxt, act)


def test_cvae_checkpoint_resume_is_identical():
    torch.manual_seed(2)
    a = TransitionCVAE(2, 3, 2, hidden=(16, 16))
    g = gen(16)
    a.update(*_toy_batch(g, 2, 32), generator=gen(17))
    torch.manual_seed(99)
    b = TransitionCVAE(2, 3, 2, hidden=(16, 16))
    b.load_state_dict(a.state_dict())
    batch = _toy_batch(g, 2, 32)
    la, lb = a.update(*batch, generator=gen(18)), b.update(*batch, generator=gen(18))
    assert torch.equal(la, lb)
    for (ka, va), (kb, vb) in zip(a.vae.state_dict().items(), b.vae.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


# ---- config ------------------------------------------------------------------------------------------------------


def test_config_defaults_and_validate():
    cfg = OTCConfig().validate()
    assert (cfg.big_batch, cfg.match_batch, cfg.batch_size, cfg.latent, cfg.alpha0) == (512, 2000, 128, 10, 1.0)
    OTCConfig(distance="q", dq_norm="batch").validate()
    with pytest.raises(ValueError, match="distance"):
        OTCConfig(distance="l2").validate()
    with pytest.raises(ValueError, match="unused"):
        OTCConfig(distance="embedding", dq_norm="batch").validate()
    with pytest.raises(ValueError, match="unused"):
        OTCConfig(distance="q", latent=5).validate()
    with pytest.raises(ValueError, match="alpha0"):
        OTCConfig(alpha0=-1.0).validate()
    with pytest.raises(ValueError, match="batch_size"):
        OTCConfig(batch_size=0).validate()
    assert math.isclose(OTCConfig(cvae_hidden=[8, 8]).validate().cvae_hidden[0], 8)
