"""OTC's transition similarities (papers/otc/otc.py: d_e on embeddings, d_q on Q values; d_e's CVAE in
papers/otc/otc_cvae.py) against hand-computed numbers, split from tests/test_otc_core.py (Eq. (3)'s ranks and draw,
Eq. (4)'s alpha, the metric and Eq. (2)).

T4-T6 are the reproduction spec's cheap exact claims on the distances (d_e on stub embeddings, d_q on a stub Q,
random tie-breaking). Then: the 1-D and chunked matchings equal a brute force, the batched computation equals M
per-member computations (CVAE step included), and the CVAE learns a tiny problem and resumes from its state.
Every expected number below is written out by hand, never recomputed by the code under test.
"""

import pytest
import torch

from common.networks.nets import load_member, member_state
from papers.otc.otc import (
    TransitionCVAE,
    embedding_match,
    embedding_similarity,
    l1_distances,
    q_match,
    q_similarity,
    rank_probabilities,
    ranks,
)
from papers.otc.otc_config import OTCConfig

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---- T4: d_e matching on stub embeddings -------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_bytes", [None, 1])
def test_t4_embedding_match_hand_values(chunk_bytes):
    mu_b = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]]], dtype=F64)
    mu_d = torch.tensor([[[0.0, 0.1], [1.0, 1.0]]], dtype=F64)
    idx, dist = embedding_match(mu_b, mu_d, gen(0), chunk_bytes=chunk_bytes)
    assert idx.tolist() == [[0, 1, 1]]
    torch.testing.assert_close(dist, torch.tensor([[0.1, 1.0, 8.0]], dtype=F64))
    assert ranks(dist).tolist() == [[1, 2, 3]]
    torch.testing.assert_close(
        rank_probabilities(dist, 1.0), torch.tensor([[6 / 11, 3 / 11, 2 / 11]], dtype=F64)
    )


def test_embedding_match_equals_brute_force_and_chunks_agree():
    g = gen(4)
    mu_b, mu_d = torch.randn(3, 50, 10, generator=g), torch.randn(3, 70, 10, generator=g)
    brute = (mu_b[:, :, None, :] - mu_d[:, None, :, :]).abs().sum(-1)  # [3, 50, 70]
    idx, dist = embedding_match(mu_b, mu_d, gen(5))
    assert torch.equal(idx, brute.argmin(-1))
    torch.testing.assert_close(dist, brute.min(-1).values, rtol=1e-5, atol=1e-5)
    idx_c, dist_c = embedding_match(mu_b, mu_d, gen(5), chunk_bytes=3 * 70 * 4 * 7)  # chunks of 7 rows
    assert torch.equal(idx_c, idx) and torch.equal(dist_c, dist)


@pytest.mark.parametrize("latent", [1, 3, 10, 17])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_l1_distances_equal_cdist_bit_for_bit(latent, dtype):
    """d_e's l1 block (one latent dimension at a time, for speed) holds torch.cdist(p=1)'s values exactly, so the
    ranks, Eq. (3)'s probabilities and the draws are those of the cdist form it replaced; a NaN stays NaN."""
    g = gen(latent)
    x = torch.randn(2, 33, latent, generator=g, dtype=dtype) * 7
    y = torch.randn(2, 129, latent, generator=g, dtype=dtype) * 7
    y[1, 5, 0] = float("nan")
    got = l1_distances(x, y.transpose(1, 2).contiguous())
    want = torch.cdist(x, y, p=1.0)
    assert got.dtype == dtype and torch.equal(got.isnan(), want.isnan()) and bool(got[1, :, 5].isnan().all())
    assert torch.equal(torch.nan_to_num(got), torch.nan_to_num(want))


# ---- T5: d_q on a stub Q -----------------------------------------------------------------------------------------


def _t5_inputs():
    # gamma 0.5, Q(s, a) = s + a, V(s') = 2 s', rewards 0, no terminals
    s_b, a_b, sp_b = (
        torch.tensor([[1.0, 2.0, 0.0]]),
        torch.tensor([[0.0, 0.0, 1.0]]),
        torch.tensor([[1.0, 3.0, 0.5]]),
    )
    s_d, a_d, sp_d = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.1, 0.1]]), torch.tensor([[1.2, 2.0]])
    z_b, z_d = torch.zeros(1, 3), torch.zeros(1, 2)
    return dict(
        q_b=(s_b + a_b).double(),
        q_d=(s_d + a_d).double(),
        v_next_b=(2 * sp_b).double(),
        v_next_d=(2 * sp_d).double(),
        rewards_b=z_b.double(),
        rewards_d=z_d.double(),
        terminals_b=z_b.double(),
        terminals_d=z_d.double(),
        gamma=0.5,
    )


def test_t5_q_distance_transition_norm():
    idx, d = q_similarity(**_t5_inputs(), generator=gen(0))
    assert idx.tolist() == [[0, 1, 0]]
    # deviations: B [1, 1.5, 0.5], D [1.090909, 0.952381] -> d = [0.090909, 0.547619, 0.590909]
    torch.testing.assert_close(d, torch.tensor([[0.0909090909, 0.5476190476, 0.5909090909]], dtype=F64))
    assert ranks(d).tolist() == [[1, 2, 3]]
    torch.testing.assert_close(
        rank_probabilities(d, 1.0), torch.tensor([[6 / 11, 3 / 11, 2 / 11]], dtype=F64)
    )


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
    q_b = torch.randint(-2, 13, (4, 200), generator=g).double() + 0.5 * torch.randint(
        0, 2, (4, 200), generator=g
    )
    idx, gap = q_match(q_b, q_d, g)
    brute = (q_b[:, :, None] - q_d[:, None, :]).abs()  # [4, 200, 30]
    assert torch.equal(gap, brute.min(-1).values)
    assert brute.gather(-1, idx[..., None]).squeeze(-1).eq(gap).all()  # the pick is in the tie set
    # continuous values: the unique argmin
    q_d, q_b = torch.randn(4, 300, generator=g), torch.randn(4, 100, generator=g) * 2
    idx, gap = q_match(q_b, q_d, g)
    brute = (q_b[:, :, None] - q_d[:, None, :]).abs()
    assert torch.equal(idx, brute.argmin(-1)) and torch.equal(gap, brute.min(-1).values)


# ---- batched = per member ----------------------------------------------------------------------------------------


def test_batched_equals_per_member():
    m = 3
    g = gen(12)
    d = torch.rand(m, 64, generator=g, dtype=F64)
    alpha = torch.tensor([0.5, 1.0, 2.0])
    p = rank_probabilities(d, alpha)
    for i in range(m):
        assert torch.equal(p[i : i + 1], rank_probabilities(d[i : i + 1], float(alpha[i])))
    mu_b, mu_d = torch.randn(m, 40, 10, generator=g), torch.randn(m, 90, 10, generator=g)
    idx, dist = embedding_match(mu_b, mu_d, gen(0))
    qi = {
        k: torch.randn(m, n, generator=g, dtype=F64)
        for k, n in (
            ("q_b", 40),
            ("q_d", 90),
            ("v_next_b", 40),
            ("v_next_d", 90),
            ("rewards_b", 40),
            ("rewards_d", 90),
        )
    }
    qi["terminals_b"] = (torch.rand(m, 40, generator=g) < 0.2).double()
    qi["terminals_d"] = (torch.rand(m, 90, generator=g) < 0.2).double()
    for norm in ("transition", "batch"):
        q_idx, q_d = q_similarity(**qi, gamma=0.99, generator=gen(0), norm=norm)
        for i in range(m):
            one = {k: v[i : i + 1] for k, v in qi.items()}
            oi, od = q_similarity(**one, gamma=0.99, generator=gen(0), norm=norm)
            assert torch.equal(oi, q_idx[i : i + 1]) and torch.equal(od, q_d[i : i + 1])
    for i in range(m):
        ei, ed = embedding_match(mu_b[i : i + 1], mu_d[i : i + 1], gen(0))
        assert torch.equal(ei, idx[i : i + 1])
        torch.testing.assert_close(ed, dist[i : i + 1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("form", ["conditional", "joint"])
def test_cvae_batched_step_equals_per_member_steps(form):
    m, o, a, r = 3, 4, 2, 32
    torch.manual_seed(0)
    big = TransitionCVAE(m, o, a, hidden=(16, 16), dtype=F64, form=form)
    singles = []
    for i in range(m):
        one = TransitionCVAE(1, o, a, hidden=(16, 16), dtype=F64, form=form)
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


def test_joint_form_loss_is_the_vae_of_the_whole_transition():
    """``joint``: mean (D(mu + sigma eps) - [s, a, s'])^2 + kl_weight * mean KL, by hand; a bad form is one clear
    error naming the allowed ones."""
    torch.manual_seed(3)
    cvae = TransitionCVAE(2, 3, 2, hidden=(8, 8), latent=4, kl_weight=0.25, dtype=F64, form="joint")
    g = gen(19)
    s, nxt, act = (t.to(F64) for t in _toy_batch(g, 2, 9))
    eps = torch.randn(2, 9, 4, generator=g, dtype=F64)
    x = torch.cat([s, act, nxt], dim=-1)
    mean, log_std = cvae.vae.encoder(x).chunk(2, dim=-1)
    log_std = log_std.clamp(-4.0, 15.0)
    recon = cvae.vae.decoder(mean + log_std.exp() * eps)
    kl = -0.5 * (1.0 + 2.0 * log_std - mean.square() - (2.0 * log_std).exp())
    ref = (recon - x).square().mean((1, 2)) + 0.25 * kl.mean((1, 2))
    torch.testing.assert_close(cvae.loss(s, nxt, act, eps), ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cvae.embed(s, nxt, act), mean.detach(), rtol=0, atol=0)
    assert (
        TransitionCVAE.from_config(
            OTCConfig(cvae_form="joint"), n_members=1, obs_dim=3, act_dim=2, learner_hidden=(8,)
        ).form
        == "joint"
    )
    with pytest.raises(ValueError, match="unknown CVAE form 'marginal'; allowed: conditional, joint"):
        TransitionCVAE(1, 3, 2, form="marginal")


def test_conditional_form_collapses_where_the_joint_form_keeps_the_transition():
    """The finding the forms exist for (papers/otc/README.md): where a_i follows from (s, s') (here s' = s + [a, 0])
    the paper's decoder D(a_i | s, s', z) needs no z and KL 0.5 pulls mu onto the prior, while the joint VAE's z must
    carry the transition, so its mu keeps spreading and orders rows by their distance."""
    from papers.otc.cvae_probe import embedding_stats

    stats = {}
    for form in ("conditional", "joint"):
        torch.manual_seed(4)
        cvae = TransitionCVAE(1, 3, 2, hidden=(32, 32), latent=4, form=form)
        g, noise = gen(20), gen(21)
        for _ in range(600):
            cvae.update(*_toy_batch(g, 1, 128), generator=noise)
        stats[form] = embedding_stats(cvae, *_toy_batch(gen(22), 1, 700), n_b=200, n_pairs=500)[0]
    cond, joint = stats["conditional"], stats["joint"]
    assert cond["mu_std"] < 0.1 * joint["mu_std"], (cond, joint)
    assert joint["rank_corr_raw"] > 0.5 > cond["rank_corr_raw"], (cond, joint)
