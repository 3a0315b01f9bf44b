"""MOMA-PPO's MAPPO learner (common/algos/mappo.py): GAE with time-outs (the spec's worked example, a terminal case
by hand, the reverse scan against a plain backward loop of the definitions), each loss on a hand-computed case (joint-ratio
surrogate, critic over batch means, entropy estimate and adaptive alpha, action penalty, mixer), the log_std clamp,
the minibatch count, per-seed gradient clipping, batched seeds = each seed alone, two learning checks (a 2-agent
coordination game with categorical policies, a continuous 2-agent bandit), the memory hook, checkpoint -> resume,
validate()."""

import io
import math
from dataclasses import asdict

import numpy as np
import pytest
import torch
from torch import nn

from common.algos.mappo import MAPPO, MAPPOConfig
from common.algos.mappo_config import mappo_adam
from common.algos.ppo import (
    action_bound_error,
    action_penalty,
    adaptive_alpha,
    clip_grad_norm_per_seed_,
    entropy_estimate,
    gae_with_timeouts,
    joint_ratio,
    mix_values,
    n_minibatches,
    normalize_advantages,
    obs_moments,
    ppo_actor_loss,
    ppo_critic_loss,
)
from common.networks.nets import EnsembleMLP

TINY = dict(hidden=(8, 8))


def gae_reference_loop(r, v, nv, m, z, gamma, lam):
    """Our plain reading of the definitions, one row at a time from the end of a buffer [n]:
    delta_t = r_t + gamma m_t V(s'_t) - V(s_t); A_t = delta_t + gamma lam m_t zeta_t A_{t+1};
    G_t = r_t + gamma m_t (zeta_t G_{t+1} + (1 - zeta_t) m_t V(s'_t)); past the end, A = 0 and G = m V(s')."""
    n = len(r)
    adv, ret = torch.zeros(n, dtype=r.dtype), torch.zeros(n, dtype=r.dtype)
    a_next, g_next = torch.zeros((), dtype=r.dtype), nv[-1] * m[-1]
    for t in range(n - 1, -1, -1):
        delta = r[t] + gamma * m[t] * nv[t] - v[t]
        adv[t] = delta + gamma * lam * m[t] * z[t] * a_next
        ret[t] = r[t] + gamma * m[t] * (z[t] * g_next + (1 - z[t]) * m[t] * nv[t])
        a_next, g_next = adv[t], ret[t]
    return adv, ret


# ---------------------------------------------------------------------------------------------- GAE


def test_gae_spec_example_and_appended_rollout_changes_nothing():
    """Spec §6 item 8: r = 1, V = V' = 0.5, m = 1, zeta = (1, 1, 0), gamma 0.99, lambda 0.98."""
    t = lambda *x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    adv, ret = gae_with_timeouts(
        t(1, 1, 1), t(0.5, 0.5, 0.5), t(0.5, 0.5, 0.5), t(1, 1, 1), t(1, 1, 0), 0.99, 0.98
    )
    torch.testing.assert_close(adv, t(2.8969306, 1.960349, 0.995), atol=1e-7, rtol=0)
    torch.testing.assert_close(ret, t(3.4552495, 2.48005, 1.495), atol=1e-7, rtol=0)
    # a second rollout after zeta = 0, and a second member (row) with other numbers
    r = t(1, 1, 1, 5, -2, 3)
    v, nv = t(0.5, 0.5, 0.5, 3, 1, 2), t(0.5, 0.5, 0.5, 0.2, 7, -1)
    m, z = t(1, 1, 1, 1, 0, 1), t(1, 1, 0, 1, 1, 1)
    rows = [torch.stack([x, x.flip(0)]) for x in (r, v, nv, m, z)]  # [2, 6]
    adv2, ret2 = gae_with_timeouts(*rows, 0.99, 0.98)
    torch.testing.assert_close(adv2[0, :3], adv, atol=1e-12, rtol=0)
    torch.testing.assert_close(ret2[0, :3], ret, atol=1e-12, rtol=0)
    # the appended rollout: row 4 is terminal (m = 0), row 5 ends the buffer (a time-out)
    torch.testing.assert_close(
        adv2[0, 3:], t(5 + 0.99 * 0.2 - 3 + 0.99 * 0.98 * (-2 - 1), -2 - 1, 3 + 0.99 * -1 - 2)
    )
    torch.testing.assert_close(ret2[0, 3:], t(5 + 0.99 * -2, -2, 3 + 0.99 * -1))


def test_gae_terminal_mask_by_hand():
    """m = (1, 0, 1), zeta = (1, 1, 0): the terminal row 2 cuts both recursions and drops V(s'_2).
    delta = (0.995, 0.5, 0.995); A_1 = 0.995 + 0.99 * 0.98 * 0.5 = 1.4801; G_2 = 1; G_1 = 1 + 0.99 * 1 = 1.99."""
    t = lambda *x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    adv, ret = gae_with_timeouts(
        t(1, 1, 1), t(0.5, 0.5, 0.5), t(0.5, 0.5, 0.5), t(1, 0, 1), t(1, 1, 0), 0.99, 0.98
    )
    torch.testing.assert_close(adv, t(1.4801, 0.5, 0.995), atol=1e-12, rtol=0)
    torch.testing.assert_close(ret, t(1.99, 1.0, 1.495), atol=1e-12, rtol=0)


def test_gae_scan_equals_the_code_loop():
    g = torch.Generator().manual_seed(0)
    S, n = 3, 257
    r, v, nv = (torch.randn(S, n, generator=g, dtype=torch.float64) for _ in range(3))
    m = (torch.rand(S, n, generator=g) > 0.1).double()
    z = (torch.rand(S, n, generator=g) > 0.2).double()
    z[:, -1] = 1.0  # the buffer's end must act as a time-out even when zeta says "continue"
    adv, ret = gae_with_timeouts(r, v, nv, m, z, 0.99, 0.98)
    for s in range(S):
        ea, er = gae_reference_loop(r[s], v[s], nv[s], m[s], z[s], 0.99, 0.98)
        torch.testing.assert_close(adv[s], ea, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(ret[s], er, atol=1e-10, rtol=1e-10)


def test_normalize_advantages_by_hand():
    a = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])  # std (unbiased) 1, and 0
    out = normalize_advantages(a, 1e-3)
    torch.testing.assert_close(out, torch.tensor([[-1 / 1.001, 0.0, 1 / 1.001], [0.0, 0.0, 0.0]]))


# ---------------------------------------------------------------------------------------------- losses


def test_joint_ratio_and_clipped_surrogate_by_hand():
    """Per-agent log-probs sum to the joint one, and the JOINT ratio is clipped once:
    row 1: sum logpi - sum logpi_old = 0.1 + 0.2 = 0.3, rho = e^0.3 = 1.3498588 -> min(1.3498588, 1.2) * 1 = 1.2;
    row 2: -0.5, rho = e^-0.5 = 0.6065307, A = -2 -> min(-1.2130613, 0.8 * -2) = -1.6; L = -mean(1.2, -1.6) = 0.2."""
    logp = torch.tensor([[[0.1, 0.2], [-0.2, -0.3]]])  # [S=1, B=2, N=2]
    old = torch.zeros(1, 2, 2)
    ratio = joint_ratio(logp, old)
    torch.testing.assert_close(ratio, torch.tensor([[1.3498588, 0.6065307]]))
    loss = ppo_actor_loss(ratio, torch.tensor([[1.0, -2.0]]), 0.2)
    torch.testing.assert_close(loss, torch.tensor([0.2]))
    # clipping each agent's ratio instead would give rho_1 = 1.1051709 * 1.2 (not 1.2): a different loss
    per_agent = (logp - old).exp().clamp(0.8, 1.2).prod(-1)
    assert not torch.allclose(per_agent, ratio.clamp(0.8, 1.2))
    # the exponent is clamped at 10
    big = joint_ratio(torch.tensor([[[7.0, 8.0]]]), torch.tensor([[[1.0, 2.0]]]))
    torch.testing.assert_close(big, torch.tensor([[math.exp(10.0)]]))


def test_critic_loss_is_the_max_of_the_batch_means():
    """V_old = 0, V = (1, -1), G = (1, 0.2), clip 0.2 -> V_c = (0.2, -0.2):
    mean (V_c - G)^2 = (0.64 + 0.16) / 2 = 0.4, mean (V - G)^2 = (0 + 1.44) / 2 = 0.72 -> 0.72
    (the mean of an elementwise max would be (0.64 + 1.44) / 2 = 1.04)."""
    loss = ppo_critic_loss(torch.tensor([[1.0, -1.0]]), torch.zeros(1, 2), torch.tensor([[1.0, 0.2]]), 0.2)
    torch.testing.assert_close(loss, torch.tensor([0.72]))


def test_entropy_estimate_and_adaptive_alpha_steps():
    """rho = (1.5, 0.5), logpi = (-1, -2): -mean(rho logpi) = 1.25, -mean(clip(rho) logpi) = -mean(-1.2, -1.6) = 1.4
    -> H = 1.25. alpha steps: 0 -> max(0, 0.001 (-2 - 1.25)) = 0; H = -3: 0.001, 0.002; H = 0: 0.0; H = 5: 0."""
    h = entropy_estimate(torch.tensor([[1.5, 0.5]]), torch.tensor([[-1.0, -2.0]]), 0.2)
    torch.testing.assert_close(h, torch.tensor([1.25]))
    a = torch.zeros(1)
    expected = [0.0, 0.001, 0.002, 0.0, 0.0]
    for hv, ev in zip([1.25, -3.0, -3.0, 0.0, 5.0], expected):
        a = adaptive_alpha(a, torch.tensor([hv]), -2.0, 0.001)
        torch.testing.assert_close(a, torch.tensor([ev]), atol=1e-9, rtol=0)


def test_action_penalty_by_hand():
    """Mean actions agent 0 (1.5, 0.2), agent 1 (-2.0, [padded 3.0]); row 2: (0.9, -0.5), (1.1, [padded -4]).
    e = (1 - 1.5)^2 + (1 - 2)^2 = 1.25 and (1 - 1.1)^2 = 0.01 (padded dims masked out);
    rho = (1.5, 0.5): mean(rho e) = (1.875 + 0.005) / 2 = 0.94 > mean(clip(rho) e) = (1.5 + 0.008) / 2 = 0.754."""
    mu = torch.tensor([[[[1.5, 0.2], [-2.0, 3.0]], [[0.9, -0.5], [1.1, -4.0]]]])  # [S=1, B=2, N=2, A=2]
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    e = action_bound_error(mu, mask)
    torch.testing.assert_close(e, torch.tensor([[1.25, 0.01]]))
    torch.testing.assert_close(action_penalty(torch.tensor([[1.5, 0.5]]), e, 0.2), torch.tensor([0.94]))
    torch.testing.assert_close(action_bound_error(mu[..., :1, :, :], None)[0, 0], torch.tensor(0.25 + 1 + 4))


def test_mixer_unconstrained_and_monotonic():
    v, w, b = torch.tensor([2.0, 3.0]), torch.tensor([0.5, -1.0]), torch.tensor(0.25)
    torch.testing.assert_close(mix_values(v, w, b), torch.tensor(1.0 - 3.0 + 0.25))
    torch.testing.assert_close(mix_values(v, w, b, monotonic=True), torch.tensor(1.0 + 3.0 + 0.25))


def test_grad_clip_is_one_norm_per_seed_over_agents_and_mixer():
    """Seed 0: agent grads (3, 0) and (0, 0), mixer 4 -> norm 5 -> scaled by 1/5; seed 1: norm 0.5 -> unchanged."""
    S, N = 2, 2
    pa = torch.zeros(S * N, 2, requires_grad=True)  # agent members m = s * N + i
    pm = torch.zeros(S, 1, requires_grad=True)  # one mixer per seed
    pa.grad = torch.tensor([[3.0, 0.0], [0.0, 0.0], [0.3, 0.0], [0.0, 0.0]])
    pm.grad = torch.tensor([[4.0], [0.4]])
    norms = clip_grad_norm_per_seed_([pa, pm], 1.0, S)
    torch.testing.assert_close(norms, torch.tensor([5.0, 0.5]))
    torch.testing.assert_close(
        pa.grad, torch.tensor([[0.6, 0.0], [0.0, 0.0], [0.3, 0.0], [0.0, 0.0]]), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(pm.grad, torch.tensor([[0.8], [0.4]]), atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------- the learner


def rollout_batch(learner, n, seed=0, reward=None, memory=False):
    """A random buffer whose actions come from the learner's own policy (so ratios start at 1)."""
    g = torch.Generator().manual_seed(seed)
    S, N, O = learner.n_seeds, learner.n_agents, learner.obs_dim
    dt = learner.dtype
    obs = torch.randn(S, n, N, O, generator=g, dtype=dt)
    for i, d in enumerate(learner.obs_dims):
        obs[:, :, i, d:] = 0.0  # padding
    next_obs = torch.randn(S, n, N, O, generator=g, dtype=dt)
    mem = {}
    if memory:
        shape = (S, n, N, *memory)
        mem = {
            "memory": torch.randn(*shape, generator=g, dtype=dt),
            "next_memory": torch.randn(*shape, generator=g, dtype=dt),
        }
    dev = torch.device(learner.device)
    if dev.type == "cpu":
        actions, _ = learner.act(obs, generator=g, memory=mem.get("memory"))
    else:  # a GPU learner samples with a generator of its device; the buffer stays on the CPU
        ga = torch.Generator(device=dev).manual_seed(seed)
        m = mem.get("memory")
        actions, _ = learner.act(obs.to(dev), generator=ga, memory=None if m is None else m.to(dev))
        actions = actions.cpu()
    rewards = torch.randn(S, n, generator=g, dtype=dt) if reward is None else reward(actions)
    masks = (torch.rand(S, n, generator=g) > 0.05).to(dt)
    zetas = (torch.rand(S, n, generator=g) > 0.1).to(dt)
    return {
        "obs": obs,
        "next_obs": next_obs,
        "actions": actions,
        "rewards": rewards,
        "masks": masks,
        "zetas": zetas,
        **mem,
    }


def test_log_std_clamp_and_head_init():
    L = MAPPO((3, 3), (2, 2), 1, MAPPOConfig(**TINY))
    head = L.actor.head
    assert torch.equal(head.bias, torch.zeros_like(head.bias))
    assert head.weight.abs().max() <= 0.1 / math.sqrt(8) + 1e-7  # nn.Linear bound 1/sqrt(8), scaled x0.1
    x = torch.randn(2, 5, 3)
    with torch.no_grad():
        head.bias[..., 2:] = 5.0  # the log_std half
        assert torch.equal(L.actor(x)[1], torch.zeros(2, 5, 2))
        head.bias[..., 2:] = -10.0
        assert torch.equal(L.actor(x)[1], torch.full((2, 5, 2), -6.0))


def test_minibatch_count_remainder_dropped():
    assert n_minibatches(2000, 64) == 31 and n_minibatches(2000, 256) == 7 and n_minibatches(150, 64) == 2
    with pytest.raises(ValueError, match="no minibatch of 64"):
        n_minibatches(63, 64)
    L = MAPPO((3, 3), (2, 2), 2, MAPPOConfig(**TINY, epochs=3))
    L.update(rollout_batch(L, 150))  # 2 minibatches of 64 per epoch, 22 rows dropped
    assert L.n_steps == 6 and L.n_updates == 1
    assert all(st["step"] == 6 for st in L.opt.state_dict()["state"].values())
    with pytest.raises(ValueError, match="no minibatch"):
        L.update(rollout_batch(L, 40))


def test_alpha_rises_by_its_rule_every_minibatch_on_a_low_entropy_policy():
    """log_std pinned at -6: the joint entropy estimate is about -4 * 5.1 << -2, so alpha grows every minibatch by
    0.001 (-2 - H_j) and never touches 0: after the update alpha = 0.001 * steps * (-2 - mean_j H_j)."""
    L = MAPPO((3, 3), (2, 2), 2, MAPPOConfig(**TINY, epochs=2, minibatch_size=32), dtype=torch.float64)
    with torch.no_grad():
        L.actor.head.bias[..., 2:] = -10.0
    out = L.update(rollout_batch(L, 100))
    steps = 2 * 3
    assert (out["entropy"] < -15).all()
    torch.testing.assert_close(out["alpha"], 0.001 * steps * (-2.0 - out["entropy"]), atol=1e-12, rtol=1e-9)
    assert (out["entropy_bonus"] > 0).all()  # -alpha H with H < 0
    # the code's order: alpha steps first, then the same minibatch's bonus uses the new alpha (one step here)
    L1 = MAPPO((3, 3), (2, 2), 1, MAPPOConfig(**TINY, epochs=1, minibatch_size=64), dtype=torch.float64)
    with torch.no_grad():
        L1.actor.head.bias[..., 2:] = -10.0
    o1 = L1.update(rollout_batch(L1, 64))
    torch.testing.assert_close(o1["alpha"], 0.001 * (-2.0 - o1["entropy"]), atol=1e-15, rtol=1e-12)
    torch.testing.assert_close(o1["entropy_bonus"], -o1["alpha"] * o1["entropy"], atol=1e-15, rtol=1e-12)


def test_categorical_padded_actions_never_sampled():
    L = MAPPO((1, 1), (1, 1), 2, MAPPOConfig(policy="categorical", **TINY), n_actions=(2, 3))
    a, lp = L.act(torch.ones(2, 500, 2, 1))
    assert set(a[..., 0, 0].unique().tolist()) <= {0.0, 1.0} and set(a[..., 1, 0].unique().tolist()) == {
        0.0,
        1.0,
        2.0,
    }
    assert (lp <= 0).all() and lp.shape == (2, 500, 2)


def _params(learner, s, n_agents):
    """Seed s's tensors of a learner (actor, V: members s*N..s*N+N-1; mixer: member s)."""
    out = {}
    for name, mod in learner.modules().items():
        k = 1 if name == "mixer" else n_agents
        for pn, p in mod.state_dict().items():
            out[f"{name}.{pn}"] = p[s * k : (s + 1) * k]
    return out


@pytest.mark.parametrize("policy", ["gaussian", "categorical"])
def test_batched_seeds_equal_each_seed_alone(policy):
    """Two seeds trained together (one batched learner) equal each seed trained alone: the same init, minibatch
    order, gradients, per-seed clip and Adam steps (heterogeneous agents: obs dims 3 and 2)."""
    kw = dict(n_actions=(2, 3)) if policy == "categorical" else {}
    act_dims = (1, 1) if policy == "categorical" else (2, 1)
    cfg = MAPPOConfig(policy=policy, **TINY, epochs=2, minibatch_size=16, grad_clip=0.05)  # clipping active
    both = MAPPO((3, 2), act_dims, 2, cfg, seeds=[3, 7], dtype=torch.float64, **kw)
    alone = [MAPPO((3, 2), act_dims, 1, cfg, seeds=[sd], dtype=torch.float64, **kw) for sd in (3, 7)]
    for it in range(2):
        batch = rollout_batch(both, 40, seed=it)
        out = both.update(batch)
        outs = [a.update({k: v[s : s + 1] for k, v in batch.items()}) for s, a in enumerate(alone)]
        for s in range(2):
            for key in ("loss", "alpha", "grad_norm"):
                torch.testing.assert_close(out[key][s : s + 1], outs[s][key], atol=1e-12, rtol=1e-10)
    assert (out["grad_norm"] > 0.05).all()
    for s, a in enumerate(alone):
        mine, ref = _params(both, s, 2), _params(a, 0, 2)
        for k in ref:
            torch.testing.assert_close(mine[k], ref[k], atol=1e-12, rtol=1e-10, msg=k)
    # acting with the per-seed generators: the same samples as alone
    obs = torch.randn(2, 4, 2, 3, dtype=torch.float64)
    act_b, lp_b = both.act(obs)
    for s, a in enumerate(alone):
        act_a, lp_a = a.act(obs[s : s + 1])
        torch.testing.assert_close(act_b[s : s + 1], act_a)
        torch.testing.assert_close(lp_b[s : s + 1], lp_a)


def test_learns_the_coordination_game_with_categorical_policies():
    """One-step 2-agent game, reward 1 iff the actions match (MOMA-PPO's ICG, terminal plays): both seeds converge
    to one coordinated joint action (greedy play scores 1, sampled play almost surely coordinated)."""
    S, n = 2, 128
    L = MAPPO(
        (1, 1),
        (1, 1),
        S,
        MAPPOConfig(policy="categorical", hidden=(16, 16), lr=3e-3),
        seeds=[0, 1],
        n_actions=(2, 2),
    )
    obs = torch.ones(S, n, 2, 1)
    zero = torch.zeros(S, n)
    for _ in range(12):
        a, _ = L.act(obs)
        r = (a[..., 0, 0] == a[..., 1, 0]).float()
        L.update({"obs": obs, "next_obs": obs, "actions": a, "rewards": r, "masks": zero, "zetas": zero})
    with torch.no_grad():
        p = L._dist(L._to_members(obs[:, :1]))[0].exp().view(S, 2, -1)  # [S, N, K]
    p_match = (p[:, 0] * p[:, 1]).sum(-1)
    assert (p_match > 0.95).all(), p_match
    g = L.greedy(obs[:, :1])  # [S, 1, N, 1]
    assert torch.equal(g[:, 0, 0], g[:, 0, 1])
    torch.testing.assert_close(L.alpha, torch.zeros(S))  # categorical entropy >= 0 > -2


def test_learns_a_continuous_bandit_and_the_penalty_holds_means_in_bounds():
    """r = -(a_1 - 0.5)^2 - (a_2 + 1.5)^2 (terminal): agent 1's mean goes to 0.5; agent 2's target lies outside
    [-1, 1], where the action penalty pulls its mean back: it ends between -1.5 and -1, not at -1.5 + noise."""
    S, n = 2, 256
    L = MAPPO((1, 1), (1, 1), S, MAPPOConfig(hidden=(16, 16), lr=1e-2, action_penalty=5.0), seeds=[0, 1])
    obs = torch.ones(S, n, 2, 1)
    zero = torch.zeros(S, n)
    for _ in range(25):
        a, _ = L.act(obs)
        r = -(a[..., 0, 0] - 0.5).square() - (a[..., 1, 0] + 1.5).square()
        L.update({"obs": obs, "next_obs": obs, "actions": a, "rewards": r, "masks": zero, "zetas": zero})
    mu = L.greedy(obs[:, :1])[:, 0, :, 0]  # [S, N]
    assert ((mu[:, 0] - 0.5).abs() < 0.15).all(), mu
    assert ((mu[:, 1] < -0.9) & (mu[:, 1] > -1.45)).all(), mu


def test_precomputed_embeddings_and_encoder_hook():
    # precomputed embeddings: prepended to the obs, required, constant
    L = MAPPO((3, 3), (2, 2), 1, MAPPOConfig(**TINY, minibatch_size=16), emb_dim=4)
    assert L.actor.trunk.layers[0].in_features == 4 + 3
    batch = rollout_batch(L, 32, memory=(4,))
    L.update(batch)
    with pytest.raises(KeyError, match="pass memory"):
        L.update({k: v for k, v in batch.items() if k != "memory"})

    # a trainable encoder (here: an MLP over the flattened history of L = 3 steps of D = 5)
    class FlatEncoder(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.n_members = m
            self.net = EnsembleMLP(m, 15, 4, (8,))

        def forward(self, h):  # [M, B, 3, 5] -> [M, B, 4]
            return self.net(h.flatten(-2))

    torch.manual_seed(0)
    enc = FlatEncoder(2 * 2)
    L = MAPPO((3, 3), (2, 2), 2, MAPPOConfig(**TINY, minibatch_size=16), emb_dim=4, encoder=enc)
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    L.update(rollout_batch(L, 32, memory=(3, 5)))
    assert all(not torch.equal(before[k], v) for k, v in enc.state_dict().items())  # trained by the PPO loss
    assert "encoder" in L.state_dict()
    with pytest.raises(ValueError, match="n_members"):
        MAPPO((3, 3), (2, 2), 1, MAPPOConfig(**TINY), emb_dim=4, encoder=enc)


def test_checkpoint_resume_identical():
    cfg = MAPPOConfig(**TINY, minibatch_size=16, epochs=2)
    A = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[1, 2])
    A.update(rollout_batch(A, 40, seed=0))
    A.act(torch.randn(2, 3, 2, 3))  # moves the sampling streams
    buf = io.BytesIO()
    torch.save(A.state_dict(), buf)
    buf.seek(0)
    B = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[5, 6])  # other init: everything comes from the checkpoint
    B.load_state_dict(torch.load(buf, weights_only=False))
    assert B.seeds == [1, 2]
    batch = rollout_batch(A, 40, seed=1)
    out_a, out_b = A.update(batch), B.update(batch)
    for k in out_a:
        assert torch.equal(out_a[k], out_b[k]), k
    sa, sb = A.state_dict(), B.state_dict()
    for name in ("actor", "critic", "mixer"):
        assert all(torch.equal(sa[name][p], sb[name][p]) for p in sa[name]), name
    assert torch.equal(sa["alpha"], sb["alpha"])
    assert (sa["n_steps"], sa["n_updates"]) == (sb["n_steps"], sb["n_updates"])
    obs = torch.randn(2, 3, 2, 3)
    assert all(torch.equal(x, y) for x, y in zip(A.act(obs), B.act(obs)))
    with pytest.raises(ValueError, match=r"differs .* \['clip'\]"):
        MAPPO((3, 2), (2, 1), 2, MAPPOConfig(**TINY, minibatch_size=16, epochs=2, clip=0.3)).load_state_dict(
            A.state_dict()
        )


def test_obs_moments_by_hand():
    """Mean and population std per seed and agent; the padding gets (0, 1); a constant feature gets the floor."""
    obs = torch.zeros(1, 2, 2, 2)
    obs[0, :, 0, 0] = torch.tensor([1.0, 3.0])  # mean 2, std 1
    obs[0, :, 0, 1] = 5.0  # constant: std floored
    # mean 0, std 2; agent 1's column 1 is padding (obs_dims 2, 1)
    obs[0, :, 1, 0] = torch.tensor([-2.0, 2.0])
    mu, sd = obs_moments(obs, (2, 1), floor=0.5)
    torch.testing.assert_close(mu, torch.tensor([[[2.0, 5.0], [0.0, 0.0]]]))
    torch.testing.assert_close(sd, torch.tensor([[[1.0, 0.5], [2.0, 1.0]]]))
    with pytest.raises(ValueError, match="at least 2 rows"):
        obs_moments(obs[:, :1], (2, 1))
    with pytest.raises(ValueError, match=r"obs_dims \[3, 1\]"):
        obs_moments(obs, (3, 1))


def test_obs_norm_equals_a_raw_learner_on_normalized_obs():
    """obs_norm=True with frozen statistics (mu, sigma) acts, values and updates exactly as the same learner without
    it fed (o - mu) / sigma; acting before set_obs_stats is an error; the statistics are in the checkpoint."""
    raw = MAPPO(
        (3, 2), (2, 1), 2, MAPPOConfig(**TINY, minibatch_size=16, epochs=2), seeds=[1, 2], dtype=torch.float64
    )
    cfg = MAPPOConfig(**TINY, minibatch_size=16, epochs=2, obs_norm=True)
    nrm = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[1, 2], dtype=torch.float64)
    batch = rollout_batch(raw, 40, seed=0)
    with pytest.raises(RuntimeError, match="call set_obs_stats"):
        nrm.greedy(batch["obs"][:, :3])
    sample = 3.0 + 5.0 * rollout_batch(raw, 30, seed=9)["obs"]  # off-centre, wide: normalization matters
    nrm.set_obs_stats(sample)
    mu, sd = obs_moments(sample, (3, 2))
    assert torch.equal(nrm.obs_mu, mu) and torch.equal(nrm.obs_sd, sd) and sd[:, 1, 2].eq(1).all()

    def scaled(o):
        return (o - mu[:, None]) / sd[:, None]

    obs = batch["obs"][:, :5]
    torch.testing.assert_close(nrm.greedy(obs), raw.greedy(scaled(obs)))
    torch.testing.assert_close(nrm.values(obs), raw.values(scaled(obs)))
    out_n = nrm.update(batch)
    out_r = raw.update({**batch, "obs": scaled(batch["obs"]), "next_obs": scaled(batch["next_obs"])})
    for key in ("loss", "critic_loss", "grad_norm"):
        torch.testing.assert_close(out_n[key], out_r[key])
    B = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[1, 2], dtype=torch.float64)
    B.load_state_dict(nrm.state_dict())
    assert B.obs_stats_set and torch.equal(B.obs_sd, nrm.obs_sd)
    torch.testing.assert_close(B.greedy(obs), nrm.greedy(obs))
    with pytest.raises(ValueError, match="obs_norm=True"):
        raw.set_obs_stats(sample)


def test_act_numpy_layout_and_greedy():
    L = MAPPO((3, 2), (2, 1), 2, MAPPOConfig(**TINY))
    obs = np.random.default_rng(0).normal(size=(2, 5, 2, 3)).astype(np.float32)
    a, lp = L.act(obs)
    assert isinstance(a, np.ndarray) and a.shape == (2, 5, 2, 2) and lp.shape == (2, 5, 2)
    assert (a[:, :, 1, 1] == 0).all()  # agent 1's padded action dim
    g = L.greedy(obs)
    assert (g[:, :, 1, 1] == 0).all() and np.abs(g).max() < 1.0  # x0.1 heads: mean near 0 at init
    assert L.values(obs).shape == (2, 5)
    assert np.array_equal(L.policy()(obs), g)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(mixer="qmix"), r"mixer='qmix' is not allowed; choose one of \['unconstrained', 'monotonic'\]"),
        (dict(policy="beta"), r"policy='beta' is not allowed; choose one of \['gaussian', 'categorical'\]"),
        (dict(lr=0.0), "lr=0.0 is not allowed; choose a number > 0"),
        (dict(gamma=1.5), r"gamma=1.5 is not allowed; choose a number in \[0, 1\]"),
        (dict(minibatch_size=0), "minibatch_size=0 is not allowed; choose an integer >= 1"),
        (dict(log_std_bounds=(0.0, -6.0)), "low < high"),
        (dict(grad_clip=-1.0), "grad_clip=-1.0 is not allowed; choose None"),
        (dict(policy="categorical", action_penalty=2.0), "action_penalty=2.0 is set but unused"),
        (dict(alpha_lr=0.0, entropy_target=-1.0), "entropy_target=-1.0 is set but unused"),
    ],
)
def test_validate_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        MAPPOConfig(**kw).validate()


def test_learner_argument_errors():
    with pytest.raises(ValueError, match="needs n_actions"):
        MAPPO((1, 1), (1, 1), 1, MAPPOConfig(policy="categorical", **TINY))
    with pytest.raises(ValueError, match="categorical' only"):
        MAPPO((1, 1), (1, 1), 1, MAPPOConfig(**TINY), n_actions=(2, 2))
    L = MAPPO((3, 3), (2, 2), 2, MAPPOConfig(**TINY))
    with pytest.raises(ValueError, match="obs must be"):
        L.act(torch.zeros(1, 4, 2, 3))
    batch = rollout_batch(L, 70)
    with pytest.raises(KeyError, match="zetas"):
        L.update({k: v for k, v in batch.items() if k != "zetas"})


def test_config_from_json_lists_equals_tuples():
    assert MAPPOConfig(hidden=[8, 8], log_std_bounds=[-6, 0]) == MAPPOConfig(hidden=(8, 8))


def test_foreach_adam_equals_the_per_tensor_loop_bit_for_bit():
    """MAPPO's Adam runs foreach (issue 63: fewer small ops); its updates equal the per-tensor Adam's exactly."""
    cfg = MAPPOConfig(**TINY, epochs=2, minibatch_size=16, grad_clip=0.05)
    fast = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7])
    slow = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7])
    assert fast.opt.param_groups[0]["foreach"] is True
    slow.opt = torch.optim.Adam(slow.parameters(), lr=cfg.lr, foreach=False)
    for it in range(3):
        batch = rollout_batch(fast, 40, seed=it)
        fast.update(batch), slow.update(batch)
    for p, q in zip(fast.parameters(), slow.parameters()):
        assert torch.equal(p, q)
    init = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7]).parameters()
    # the updates moved every tensor
    assert all(not torch.equal(p, q) for p, q in zip(fast.parameters(), init))


def test_compiled_step_is_the_eager_update_in_other_rounding():
    """``compiled`` (issue 63, opt-in): fused Adam and torch.compile'd losses. The same equations: after 3 updates
    every parameter is within float rounding of the eager learner's (and not equal to its start), with its own
    config, so records made with it are kept apart. Beside a CUDA graph it is refused (one clear error)."""
    import dataclasses

    cfg = MAPPOConfig(**TINY, epochs=2, minibatch_size=16, grad_clip=0.05)
    fast_cfg = dataclasses.replace(cfg, compiled=True).validate()
    eager = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7])
    fast = MAPPO((3, 2), (2, 1), 2, fast_cfg, seeds=[3, 7])
    assert fast.opt.param_groups[0]["fused"] is True and fast.step_losses is not fast.losses
    for it in range(3):
        batch = rollout_batch(eager, 40, seed=it)
        a, b = eager.update(batch), fast.update(batch)
        assert torch.allclose(a["loss"], b["loss"], rtol=1e-4, atol=1e-6)
    init = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7]).parameters()
    for p, q, p0 in zip(eager.parameters(), fast.parameters(), init):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6) and not torch.equal(q, p0)
    assert asdict(fast_cfg) != asdict(cfg)
    with pytest.raises(
        ValueError, match="compiled=True compiles the eager step; this learner's step is 'buffers'"
    ):
        mappo_adam(eager.parameters(), fast_cfg, "buffers")
