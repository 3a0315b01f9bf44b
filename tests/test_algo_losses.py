"""Losses of the shared offline learners and OMAR's sampler against hand-computed cases."""

import math

import pytest
import torch

from common.algos.cql import cql_penalty, uniform_log_density
from common.algos.omar import omar_actor_loss, search_action
from common.algos.td3bc import td3bc_actor_loss


def test_cql_penalty_hand_computed():
    # one member, two states, two sampled actions each; uniform proposal on [-1, 1]^2: log p = log 0.25
    q_s = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]])
    q_d = torch.tensor([[1.5, -0.5]])
    logp = uniform_log_density(2)
    assert logp == pytest.approx(math.log(0.25))
    # state 1: log(e^{1 - log .25} + e^{2 - log .25}) = log(4e + 4e^2); state 2: log(8)
    s1 = math.log(4 * math.e + 4 * math.e**2)
    s2 = math.log(8.0)
    expected = (s1 + s2) / 2 - (1.5 - 0.5) / 2
    got = cql_penalty(q_s, logp, q_d)
    assert got.shape == (1,)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # temperature T: T * logsumexp(x / T)
    got_t = cql_penalty(q_s, 0.0, q_d, temperature=2.0)
    e1 = 2 * math.log(math.exp(0.5) + math.exp(1.0))
    e2 = 2 * math.log(2.0)
    assert got_t.item() == pytest.approx((e1 + e2) / 2 - 0.5, rel=1e-6)


def test_td3bc_actor_loss_hand_computed():
    q_pi = torch.tensor([[2.0, -4.0]])  # mean |Q| = 3 -> lambda = 2.5 / 3
    pi = torch.tensor([[[0.5], [0.0]]])
    a = torch.tensor([[[0.0], [1.0]]])
    expected = -(2.5 / 3) * (-1.0) + (0.25 + 1.0) / 2
    assert td3bc_actor_loss(q_pi, pi, a).item() == pytest.approx(expected, rel=1e-6)


def test_omar_actor_loss_hand_computed():
    q_pi = torch.tensor([[1.0, 3.0]])
    pi = torch.tensor([[[0.2, 0.0], [0.0, -0.4]]])
    a_hat = torch.tensor([[[0.0, 0.0], [0.0, 0.0]]])
    tau = 0.7
    imit = (0.04 + 0.16) / 4
    expected = tau * imit - 0.3 * 2.0 + 1e-3 * imit
    assert omar_actor_loss(q_pi, pi, a_hat, tau).item() == pytest.approx(expected, rel=1e-6)


def two_peaks(a):
    """Q over a 1-D action: global peak 1.0 at +0.8, local peak 0.5 at -0.6."""
    return torch.exp(-((a - 0.8) ** 2) / 0.08) + 0.5 * torch.exp(-((a + 0.6) ** 2) / 0.08)


@pytest.mark.parametrize("sampler", ["softmax", "cem"])
def test_sampler_escapes_local_optimum(sampler):
    torch.manual_seed(0)
    M, B = 3, 64

    def q_fn(acts):  # [M, B, K]  (scale: beta * Q spreads the softmax)
        return two_peaks(acts[..., 0]) * 10.0

    pi0 = torch.full((M, B, 1), -0.6)
    # gradient ascent from the wrong basin stays at the local peak
    a = pi0.clone().requires_grad_(True)
    opt = torch.optim.SGD([a], lr=1e-3)
    for _ in range(200):
        opt.zero_grad()
        (-q_fn(a.unsqueeze(2)).sum()).backward()
        opt.step()
    assert torch.all((a.detach() + 0.6).abs() < 0.05)
    # the zeroth-order search finds the global peak for (almost) every state
    g = torch.Generator().manual_seed(1)
    a_hat = search_action(q_fn, pi0, sampler=sampler, iters=3, n_samples=10, generator=g)
    assert a_hat.shape == (M, B, 1)
    # in the global basin and better than anything the local peak offers (its value is 0.5 * 10)
    in_basin = ((a_hat - 0.8).abs() < 0.3).float().mean().item()
    beats_local = (q_fn(a_hat.unsqueeze(2)) > 5.0).float().mean().item()
    assert in_basin > 0.95 and beats_local > 0.95, (in_basin, beats_local)
    # never worse than pi under Q (pi itself is a candidate)
    assert torch.all(q_fn(a_hat.unsqueeze(2)) >= q_fn(pi0.unsqueeze(2)) - 1e-6)


def test_sampler_rejects_bad_options():
    pi = torch.zeros(1, 2, 1)
    with pytest.raises(ValueError, match="unknown sampler 'grid'"):
        search_action(lambda a: a[..., 0], pi, sampler="grid")
    with pytest.raises(ValueError, match="sigma_rule"):
        search_action(lambda a: a[..., 0], pi, sigma_rule="x")
