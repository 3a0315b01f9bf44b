"""OTC's sampler core (papers/otc/otc.py, papers/otc/otc_alpha.py) against hand-computed numbers: Eq. (3), Eq. (4),
the metric and Eq. (2); the distances d_e and d_q (T4-T6) and the CVAE are in tests/test_otc_distances.py.

T1-T3, T7, T8, T10, T11 are the reproduction spec's cheap exact claims (Eq. 3 ranks and probabilities, the
|B| = 512 numbers, alpha = 0 is the uniform baseline, the adaptive alpha of Eq. 4, the correction recovering the
online dynamics, the improvement metric, the tabular Eq. 2). Then the config's validate().
Every expected number below is written out by hand, never recomputed by the code under test.
"""

import json
import math

import numpy as np
import pytest
import torch

from common.datasets.sampling import sample_indices
from papers.otc.otc import (
    AdaptiveAlpha,
    embedding_match,
    prioritized_draw,
    rank_probabilities,
    ranks,
)
from papers.otc.otc_config import OTCConfig
from papers.otc.otc_metrics import (
    improvement_of_last,
    improvement_percent,
    kl_modified_dynamics,
    near_zero_baseline,
)

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- T1: Eq. (3) on four distances ----------------------------------------------------------------------------


def test_t1_ranks_and_probabilities_hand_values():
    d = torch.tensor([[0.3, 0.1, 0.4, 0.2]], dtype=F64)
    assert ranks(d).tolist() == [[3, 1, 4, 2]]
    torch.testing.assert_close(
        rank_probabilities(d, 1.0), torch.tensor([[0.16, 0.48, 0.12, 0.24]], dtype=F64)
    )
    torch.testing.assert_close(
        rank_probabilities(d, 2.0), torch.tensor([[16 / 205, 144 / 205, 9 / 205, 36 / 205]], dtype=F64)
    )
    assert rank_probabilities(d, 0.0).tolist() == [[0.25, 0.25, 0.25, 0.25]]


def test_t1_invariant_under_increasing_maps_and_stable_ties():
    d = torch.tensor([[0.3, 0.1, 0.4, 0.2]], dtype=F64)
    for alpha in (0.5, 1.0, 2.0):
        p = rank_probabilities(d, alpha)
        for mapped in (3.0 * d, d + 7.0, d.exp(), d.pow(3)):
            assert torch.equal(rank_probabilities(mapped, alpha), p)
    # a decreasing map reverses the order: ranks [2, 4, 1, 3], P(alpha=1) = [1/2, 1/4, 1, 1/3] / (25/12)
    torch.testing.assert_close(
        rank_probabilities(-d, 1.0), torch.tensor([[0.24, 0.12, 0.48, 0.16]], dtype=F64)
    )
    # equal distances keep their index order
    assert ranks(torch.tensor([[0.2, 0.1, 0.2, 0.2]])).tolist() == [[2, 1, 3, 4]]


def test_t1_alpha_per_member():
    d = torch.tensor([[0.3, 0.1, 0.4, 0.2], [0.3, 0.1, 0.4, 0.2], [0.3, 0.1, 0.4, 0.2]], dtype=F64)
    p = rank_probabilities(d, torch.tensor([1.0, 2.0, 0.0]))
    expected = torch.tensor(
        [[0.16, 0.48, 0.12, 0.24], [16 / 205, 144 / 205, 9 / 205, 36 / 205], [0.25, 0.25, 0.25, 0.25]],
        dtype=F64,
    )
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
    # 0.5 * 0.6 / 0.5, 0.5 * 0.8 / 0.4
    np.testing.assert_allclose(back.alpha.tolist(), [0.6, 1.0], rtol=1e-12)
    with pytest.raises(ValueError, match="mode"):
        AdaptiveAlpha(2, alpha0=0.5, mode="fixed").load_state_dict(ada.state_dict())


# ---- T8: the correction finds the online dynamics ----------------------------------------------------------------


def test_t8_correction_prefers_offline_rows_with_the_online_dynamics():
    g = gen(0)
    s, a = torch.rand(1, 512, 2, generator=g) * 2 - 1, torch.rand(1, 512, 2, generator=g) * 2 - 1
    beta = torch.where(torch.arange(512) < 256, 0.2, -0.2).view(1, -1, 1)  # first half: the online beta
    s_d, a_d = torch.rand(1, 2000, 2, generator=g) * 2 - 1, torch.rand(1, 2000, 2, generator=g) * 2 - 1
    # stub [s, a, s']
    mu_b, mu_d = (
        torch.cat([s, a, s + beta * a], -1),
        torch.cat([s_d, a_d, s_d + 0.2 * a_d], -1),
    )
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
    np.testing.assert_allclose(
        improvement_percent(np.array([-200.0, 100.0]), np.array([-150.0, 80.0])), [25.0, -20.0]
    )
    # HalfCheetah's D4RL range is -280.178953 .. 12135.0: 1 % is 124.15
    assert near_zero_baseline(-2.0, -280.178953, 12135.0)
    assert not near_zero_baseline(130.0, -280.178953, 12135.0)
    assert near_zero_baseline(np.array([100.0, -200.0]), -280.178953, 12135.0).tolist() == [True, False]


def test_t10_improvement_of_the_last_deployments_mean_reads_the_records_curve():
    """Table 1's other reading: the improvement of the mean S over the last k deployments over S(pi^0) = the
    curve's point 0; None without k + 1 points (a claim line has no curve)."""
    from common.running.record import Record

    curve = [{"step": k, "score": s} for k, s in enumerate([-200.0, -190.0, -160.0, -140.0, -150.0])]
    rec = Record(curve=curve, score=25.0)
    assert improvement_of_last(3)(rec) == pytest.approx(100 * (-150.0 + 200.0) / 200.0)  # mean -150 over -200
    assert improvement_of_last(1)(rec) == pytest.approx(25.0)  # = the table's own reading
    assert improvement_of_last(5)(rec) is None and improvement_of_last(3)(Record()) is None


@pytest.mark.parametrize(
    "name,f,p_tilde,kl_after",
    [
        ("const", lambda d: np.ones_like(d), [0.5, 0.3, 0.2], 0.274887),
        ("exp", lambda d: np.exp(-d), [0.390725, 0.345741, 0.263534], 0.143704),
        ("inv", lambda d: 1.0 / (1.0 + d), None, 0.186369),
        ("inv2", lambda d: 1.0 / (1.0 + d) ** 2, None, 0.126897),
        ("indicator", lambda d: (d == 0).astype(float), [0.344828, 0.310345, 0.344828], 0.066666),
    ],
)
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


# ---- config ------------------------------------------------------------------------------------------------------


def test_config_defaults_and_validate():
    cfg = OTCConfig().validate()
    assert (cfg.big_batch, cfg.match_batch, cfg.batch_size, cfg.latent, cfg.alpha0) == (
        512,
        2000,
        128,
        10,
        1.0,
    )
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
