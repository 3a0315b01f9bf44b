"""papers/otc/cvae_probe.py's statistics on CVAEs built by hand: a fresh (random) encoder gives one mu per row and
nonzero distances; an encoder whose output layer is zero (the collapse the probe looks for) gives one mu for every
row, DD = 0 at every row, a decoder blind to z, and no rank correlation."""

import math

import torch

from papers.otc.cvae_probe import embedding_stats
from papers.otc.otc import TransitionCVAE


def _rows(m=2, r=700, o=5, a=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(m, r, o, generator=g),
        torch.randn(m, r, o, generator=g),
        torch.rand(m, r, a, generator=g),
    )


def test_fresh_encoder_separates_rows():
    torch.manual_seed(0)
    cvae = TransitionCVAE(2, 5, 2, hidden=(16, 16), latent=3)
    stats = embedding_stats(cvae, *_rows(), n_b=100, n_pairs=500)
    assert len(stats) == 2
    for s in stats:
        assert s["distinct_mu"] == s["rows"] == 700
        assert s["dd"] > 0 and s["dd_zero_share"] == 0.0 and s["mu_std"] > 0
        assert s["kl"] > 0 and s["recon_mu"] != s["recon_z0"]
        assert -1.0 <= s["rank_corr_raw"] <= 1.0


def test_collapsed_encoder_is_reported_as_collapsed():
    torch.manual_seed(0)
    cvae = TransitionCVAE(2, 5, 2, hidden=(16, 16), latent=3)
    with torch.no_grad():
        last = cvae.vae.encoder.layers[-1]
        last.weight.zero_()
        last.bias.zero_()  # mu = 0 and log sigma = 0 for every input: the prior
    s = embedding_stats(cvae, *_rows(), n_b=100, n_pairs=500)[0]
    assert s["distinct_mu"] == 1 and s["mu_std"] == 0.0 and s["kl"] == 0.0
    assert s["dd"] == 0.0 and s["dd_zero_share"] == 1.0
    assert s["recon_mu"] == s["recon_z0"]  # z = mu = 0: the same decoder input
    assert math.isnan(s["rank_corr_raw"])
