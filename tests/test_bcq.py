"""Batched continuous BCQ / MABCQ (common/algos/bcq.py): each loss on a hand-computed case, the candidate
counts (10 per target, 100 at selection), the z clip and the perturbation bound, the batched learner against a
per-member loop written as the official per-agent ``BCQ.train``, MABCQ's weights and guard, drop_terminals,
checkpoint -> resume, validate(), the registry builders and both views' policies (central on MaMuJoCo's "otc"
obs, with the env's join / split_actions)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import envs
from common.algos import build_learner
from common.algos.bcq import BCQ
from common.algos.bcq_config import BCQConfig
from common.algos.bcq_losses import (
    bcq_actor_loss,
    candidate_target,
    join_slices,
    mabcq_actor_loss,
    mabcq_critic_loss,
    mabcq_weights,
    soft_clipped_q,
    split_slices,
    vae_loss,
)
from common.algos.itd3_losses import critic_td_loss
from common.datasets.dataset import Dataset
from common.networks.heads import VAE, PerturbationActor
from learner_checks import (
    assert_nan_guard,
    assert_resume_identical,
    assert_same_policy,
    max_diff,
    record_decodes,
    team_data,
    toy_dataset,
)

S, N, O, A, B, T, SD = 2, 2, 5, 2, 16, 200, 6
TINY = dict(hidden_vae=(16, 16), hidden=(16, 16), batch_size=B)
CASES = [("bcq", "independent"), ("mabcq", "independent"), ("bcq", "central")]


def random_data(seed=0, dtype=torch.float64, t=T):
    d = team_data(t, N, O, A, seed=seed, dtype=dtype, state_dim=SD)
    d["timeouts"][-1] = 1
    return d


def learner(variant="bcq", view="independent", dtype=torch.float64, n_seeds=S, n_agents=N, **kw):
    cfg = BCQConfig(**{**TINY, "variant": variant, "view": view, **kw})
    extra = {"state_dim": SD} if view == "central" else {}
    return BCQ([O] * n_agents, [A] * n_agents, n_seeds, cfg, seed=3, dtype=dtype, **extra)


# ---- named losses on hand-computed cases ------------------------------------------------------------------


def test_soft_clipped_q_by_hand():
    assert soft_clipped_q(torch.tensor(1.0), torch.tensor(3.0), 0.75).item() == pytest.approx(1.5)
    assert soft_clipped_q(torch.tensor(3.0), torch.tensor(1.0), 0.75).item() == pytest.approx(1.5)
    assert soft_clipped_q(torch.tensor(1.0), torch.tensor(3.0), 1.0).item() == pytest.approx(1.0)  # TD3's min


def test_candidate_target_by_hand():
    q = torch.arange(10.0).expand(1, 2, 10)  # [M, B, K]
    y = candidate_target(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 1.0]]), q, 0.5)
    assert y.tolist() == [[1.0 + 0.5 * 9.0, 2.0]]


def test_critic_and_actor_losses_by_hand():
    q1, q2, y = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 1.0]])
    assert critic_td_loss(q1, q2, y).tolist() == [pytest.approx((0 + 1) / 2 + (1 + 1) / 2)]
    assert bcq_actor_loss(torch.tensor([[1.0, 2.0, 3.0]])).tolist() == [-2.0]
    w = torch.tensor([[[1.0, 2.0], [0.5, 0.5]]])  # [M, B, L]
    assert mabcq_critic_loss(torch.tensor([[1.0, 3.0]]), torch.tensor([[2.0, 2.0]]), w).tolist() == [1.0]
    w = torch.tensor([[[1.0, 1.0], [2.0, 0.0]]])
    assert mabcq_actor_loss(torch.tensor([[1.0, 2.0]]), w).tolist() == [-(1 + 1 + 4 + 0) / 4]


def test_vae_loss_by_hand_and_equals_heads_vae_loss():
    vae = VAE(1, 1, 1, latent_dim=2, hidden=(3,)).double()
    mu, ls, b = [0.2, -0.4], [0.1, -0.3], 0.5
    with torch.no_grad():  # constant encoder (mean, log sigma) and decoder tanh(b), whatever the input
        vae.encoder.layers[-1].weight.zero_()
        vae.encoder.layers[-1].bias.copy_(torch.tensor(mu + ls, dtype=torch.float64))
        vae.decoder.layers[-1].weight.zero_()
        vae.decoder.layers[-1].bias.fill_(b)
    obs = torch.tensor([[[0.3], [-1.0]]], dtype=torch.float64)  # [1, 2, 1]
    act = torch.tensor([[[0.1], [-0.2]]], dtype=torch.float64)
    loss, mean = vae_loss(vae, obs, act, torch.randn(1, 2, 2, dtype=torch.float64), 0.5)
    recon = ((math.tanh(b) - 0.1) ** 2 + (math.tanh(b) + 0.2) ** 2) / 2
    kl = sum(-0.5 * (1 + 2 * s - m**2 - math.exp(2 * s)) for m, s in zip(mu, ls)) / 2
    assert loss.item() == pytest.approx(recon + 0.5 * kl, abs=1e-12)
    assert mean[0, 1].tolist() == pytest.approx(mu)
    # random weights: the same number as common.networks.heads.VAE.loss given the same noise
    torch.manual_seed(0)
    v = VAE(3, 4, 2, hidden=(8, 8)).double()
    o, a = torch.randn(3, 5, 4, dtype=torch.float64), torch.rand(3, 5, 2, dtype=torch.float64) * 2 - 1
    torch.manual_seed(7)
    ref = v.loss(o, a, kl_weight=0.5)
    torch.manual_seed(7)
    ours, _ = vae_loss(v, o, a, torch.randn(3, 5, v.latent_dim, dtype=torch.float64), 0.5)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


class _FakeTwin(torch.nn.Module):
    """q1 = sum(a) + sum(o), q2 = 1 - q1: min and max swap across candidates. Records the actions it sees."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, o, a):
        self.seen.append(a.detach().clone())
        s = a.sum(-1, keepdim=True) + o.sum(-1, keepdim=True)
        return s, 1.0 - s


@pytest.mark.parametrize("variant", ["bcq", "mabcq"])
def test_target_mixes_lambda_and_maxes_over_exactly_10_candidates(variant):
    L = learner(variant)
    batch = L.sample_batch(L.prepare_data(random_data()))
    L.critic_target = fake = _FakeTwin()
    y = L.target_value(batch)
    (a,) = fake.seen
    assert a.shape == (L.n_members, B, 10, A)
    s = a.sum(-1) + batch["next_obs"].sum(-1, keepdim=True)  # [M, B, K] = fake Q1'
    q = s if variant == "mabcq" else 0.75 * torch.minimum(s, 1 - s) + 0.25 * torch.maximum(s, 1 - s)
    expected = batch["rewards"] + 0.99 * (1 - batch["terminals"]) * q.max(-1).values
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)
    assert batch["terminals"].sum() > 0  # the (1 - d) factor is exercised


def test_selection_is_the_argmax_of_q1_over_exactly_100_candidates():
    L = learner(dtype=torch.float32)
    seen = []

    class FakeCritic:
        def q1(self, o, a):
            seen.append(a.clone())
            return -(a[..., :1] - 0.3).square()

    L.critic = FakeCritic()
    obs = torch.randn(L.n_members, 3, O)
    out = L.select(obs, torch.Generator().manual_seed(0))
    (cand,) = seen
    assert cand.shape == (L.n_members, 3, 100, A)
    best = (-(cand[..., 0] - 0.3).square()).argmax(-1)  # [M, E]
    expected = cand.gather(2, best[..., None, None].expand(-1, -1, 1, A)).squeeze(2)
    assert torch.equal(out, expected)
    assert ((out[..., 0] - 0.3).abs()[..., None] <= (cand[..., 0] - 0.3).abs()).all()


def test_actor_loss_by_hand():
    """D(o) = tanh(0.3) and xi(o, a) = clip(a + phi tanh(0.5)) by zeroed last layers; Q1(o, a) = 3 a + o."""
    L = BCQ([1], [1], 1, BCQConfig(hidden_vae=(4, 4), hidden=(4, 4), batch_size=2), dtype=torch.float64)
    with torch.no_grad():
        L.vae.decoder.layers[-1].weight.zero_()
        L.vae.decoder.layers[-1].bias.fill_(0.3)
        L.actor.net.layers[-1].weight.zero_()
        L.actor.net.layers[-1].bias.fill_(0.5)

    class FakeCritic:
        def q1(self, o, a):
            return 3 * a + o

    L.critic = FakeCritic()
    obs = torch.tensor([[[0.1], [0.2]]], dtype=torch.float64)
    pi = math.tanh(0.3) + 0.05 * math.tanh(0.5)
    assert L.actor_loss({"obs": obs}).item() == pytest.approx(-(3 * pi + 0.15), abs=1e-12)
    w = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]], dtype=torch.float64)  # MABCQ's weight [M, B, L]
    expected = -((3 * pi + 0.1) * 3 + (3 * pi + 0.2) * 7) / 4
    assert L.actor_loss({"obs": obs}, w).item() == pytest.approx(expected, abs=1e-12)


def test_critic_losses_by_hand():
    """Known Q1, Q2 and y: BCQ's MSE + MSE; MABCQ's w-weighted Q1 error with w from the VAEs' means."""
    y = torch.tensor([[1.0, 2.0]], dtype=torch.float64)

    class FakeCritic:
        def __call__(self, o, a):
            return torch.tensor([[[2.0], [2.0]]]), torch.tensor([[[1.0], [0.0]]])

        def q1(self, o, a):
            return torch.tensor([[[2.0], [4.0]]], dtype=torch.float64)

    batch = {
        "obs": torch.zeros(1, 2, 1, dtype=torch.float64),
        "actions": torch.zeros(1, 2, 1, dtype=torch.float64),
        "rewards": torch.tensor([[0.0, 1.0]], dtype=torch.float64),
    }
    for variant in ("bcq", "mabcq"):
        L = BCQ([1], [1], 1, BCQConfig(hidden_vae=(4,), hidden=(4,), variant=variant), dtype=torch.float64)
        L.critic, L.target_value = FakeCritic(), (lambda b: y)
        if variant == "bcq":
            loss, w, _ = L.critic_loss(batch)
            assert w is None and loss.item() == pytest.approx((1 + 0) / 2 + (0 + 4) / 2)
        else:  # gamma 0.99: E_V = (2 - 0) / .99, (4 - 1) / .99; y = 1, 2 -> weight_vd
            mu, mu1 = torch.tensor([[[1.0, 2.0], [3.0, 1.0]]]), torch.tensor([[[2.0, 1.0], [1.0, 1.0]]])
            ev = [2 / 0.99, 3 / 0.99]
            vd = [min(max(1 + (yy - e) / e, 0.2), 1.8) for yy, e in zip([1.0, 2.0], ev)]
            w_exp = [[vd[0] * 0.5, vd[0] * 2.0], [vd[1] * 3.0, vd[1] * 1.0]]
            loss, w, _ = L.critic_loss(batch, mu.double(), mu1.double())
            assert w[0].tolist() == [pytest.approx(r) for r in w_exp]
            expected = (sum(w_exp[0]) * 1.0 + sum(w_exp[1]) * 4.0) / 4
            assert loss.item() == pytest.approx(expected)


def test_mabcq_weights_by_hand_and_guard():
    d = dict(dtype=torch.float64)
    mu_g = torch.tensor([[[2, -1], [1, 0], [0.5, 3], [1, 1], [1, 1]]], **d)  # [1, 5, 2]
    mu_g1 = torch.tensor([[[1, 4], [0, 0], [0.5, 3], [1, 1], [1, 1]]], **d)
    q1 = torch.tensor([[3, 1, 1 - 2e-9, 3, 3]], **d)
    r = torch.tensor([[1, 1, 1, 1, 1]], **d)
    y = torch.tensor([[5, 0, -1.5e-6, -100, 100]], **d)
    g = mabcq_weights(mu_g, mu_g1, q1, r, y, 0.5, guard=True)[0]
    # row 0: tn (2, -0.25) -> guard (2, 0); E_V = 4, vd = 1 + (5 - 4) / 4 = 1.25
    assert g[0].tolist() == pytest.approx([2.5, 0.0])
    # row 1: tn (1/0, 0/0) -> (10, 0); E_V = 0 -> 1e-6, vd = 1 + (0 - 1e-6) / 1e-6 = 0 -> clip 0.2
    assert g[1].tolist() == pytest.approx([2.0, 0.0])
    # row 2: E_V = -4e-9 -> -1e-6 (sign kept): vd = 1 + (-1.5e-6 + 1e-6) / -1e-6 = 1.5 (sign lost: 0.2)
    assert g[2].tolist() == pytest.approx([1.5, 1.5], abs=1e-6)
    assert g[3].tolist() == pytest.approx([0.2, 0.2]) and g[4].tolist() == pytest.approx([1.8, 1.8])
    raw = mabcq_weights(mu_g, mu_g1, q1, r, y, 0.5, guard=False)[0]
    assert raw[0].tolist() == pytest.approx([2.5, -0.3125])  # the code's unbounded ratio
    assert torch.isnan(raw[1]).all()  # the code divides 0 by 0 here
    assert raw[2].tolist() == pytest.approx([1.8, 1.8])  # 1 + 374 clipped
    assert not raw.requires_grad and not g.requires_grad


# ---- network bounds ---------------------------------------------------------------------------------------


def test_decode_z_within_clip_and_xi_within_phi(monkeypatch):
    L = learner("bcq", dtype=torch.float32)
    batch = L.sample_batch(L.prepare_data(random_data(dtype=torch.float32)))
    zs, decoded = record_decodes(monkeypatch, L.vae)
    L.target_value(batch)
    L.act(np.random.default_rng(0).normal(size=(S, 4, N, O)).astype(np.float32))
    z = torch.cat([t.flatten() for t in zs])
    assert len(zs) == 2 and z.abs().max().item() == 0.5  # some draws were clipped, none beyond
    cand = L._candidates(L.actor, batch["obs"], torch.zeros(L.n_members, B, L.latent_dim))
    assert ((cand - decoded[-1]).abs() <= 0.05 + 1e-6).all() and (cand.abs() <= 1).all()


def test_perturbation_actor_bounds():
    torch.manual_seed(0)
    xi = PerturbationActor(3, 4, 2, hidden=(8, 8), phi=0.05)
    with torch.no_grad():
        xi.net.layers[-1].weight.mul_(100.0)  # saturate tanh: |delta| = phi
    a = torch.rand(3, 50, 2) * 2 - 1
    a[:, :10] = 1.0
    a[:, 10:20] = -1.0
    out = xi(torch.randn(3, 50, 4), a)
    assert ((out - a).abs() <= 0.05 + 1e-6).all() and (out.abs() <= 1.0).all()
    assert (out[:, :20].abs() == 1.0).any() and ((out - a).abs() > 0.049).float().mean() > 0.5


# ---- the batched learner against a per-member loop ----------------------------------------------------------


class RefMember:
    """Member m of a BCQ learner as the official per-agent ``BCQ.train`` (MABCQ: ``MABCQ.train``): plain modules
    in the [B, .] layout, next states repeated with repeat_interleave, own Adam optimisers. Noise: drawn with the
    batched learner's shapes from a generator in its state, row m kept."""

    def __init__(self, L: BCQ, m: int):
        self.cfg, self.m, self.M, self.L = L.cfg, m, L.n_members, L.latent_dim
        mm = lambda net: net.member_module(m)  # noqa: E731
        self.enc, self.dec = mm(L.vae.encoder), mm(L.vae.decoder)
        vae = [*self.enc.parameters(), *self.dec.parameters()]
        if L.mabcq:
            self.enc1, self.dec1 = mm(L.vae1.encoder), mm(L.vae1.decoder)
            vae += [*self.enc1.parameters(), *self.dec1.parameters()]
        self.actor, self.actor_t = mm(L.actor.net), mm(L.actor_target.net)
        self.q1, self.q2 = mm(L.critic.head1), mm(L.critic.head2)
        self.q1_t, self.q2_t = mm(L.critic_target.head1), mm(L.critic_target.head2)
        lr = self.cfg.lr
        self.vae_opt = torch.optim.Adam(vae, lr=lr)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.critic_opt = torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()], lr=lr)

    def vae_fwd(self, enc, dec, o, a, eps):
        mean, log_std = enc(torch.cat([o, a], 1)).chunk(2, -1)
        std = log_std.clamp(-4, 15).exp()
        recon = dec(torch.cat([o, mean + std * eps], 1))
        kl = -0.5 * (1 + torch.log(std.pow(2)) - mean.pow(2) - std.pow(2))
        return F.mse_loss(recon, a) + 0.5 * kl.mean(), mean

    def perturb(self, actor, o, z):
        a = self.dec(torch.cat([o, z.clamp(-0.5, 0.5)], 1))
        return (a + 0.05 * actor(torch.cat([o, a], 1))).clamp(-1, 1)

    def update(self, b, gen_state):
        g = torch.Generator().manual_seed(0)
        g.set_state(gen_state)
        M, m, Bn, L, K, gamma = self.M, self.m, b["obs"].shape[0], self.L, 10, 0.99
        draw = lambda *s: torch.randn(s, generator=g, dtype=b["obs"].dtype)[m]  # noqa: E731
        eps = draw(M, Bn, L)
        eps1 = draw(M, Bn, L) if self.cfg.variant == "mabcq" else None
        z_t, z_a = draw(M, Bn, K, L).reshape(Bn * K, L), draw(M, Bn, L)
        o, a, r, o2 = b["obs"], b["actions"], b["rewards"][:, None], b["next_obs"]
        not_done = 1 - b["terminals"][:, None]
        # VAE(s)
        vloss, mean = self.vae_fwd(self.enc, self.dec, o, a, eps)
        if eps1 is not None:
            vloss1, mean1 = self.vae_fwd(self.enc1, self.dec1, torch.cat([o, o2], 1), a, eps1)
            vloss = vloss + vloss1
        self.vae_opt.zero_grad()
        vloss.backward()
        self.vae_opt.step()
        if eps1 is not None:  # MABCQ's second pass (agents/MABCQ.py): the stepped VAEs' latent means
            with torch.no_grad():
                mean = self.enc(torch.cat([o, a], 1)).chunk(2, -1)[0]
                mean1 = self.enc1(torch.cat([o, o2, a], 1)).chunk(2, -1)[0]
        # critic
        with torch.no_grad():
            o2k = torch.repeat_interleave(o2, K, 0)
            a2k = self.perturb(self.actor_t, o2k, z_t)
            tq1, tq2 = self.q1_t(torch.cat([o2k, a2k], 1)), self.q2_t(torch.cat([o2k, a2k], 1))
            if eps1 is None:
                tq = 0.75 * torch.min(tq1, tq2) + 0.25 * torch.max(tq1, tq2)
            else:
                tq = tq1
            y = r + not_done * gamma * tq.reshape(Bn, -1).max(1)[0].reshape(-1, 1)
        cq1 = self.q1(torch.cat([o, a], 1))
        if eps1 is None:
            closs = F.mse_loss(cq1, y) + F.mse_loss(self.q2(torch.cat([o, a], 1)), y)
            w = 1.0
        else:
            tn = (mean / mean1).detach().clamp(0, 10)
            ev = (cq1.detach() - r) / gamma
            ev = torch.where(ev < 0, -1.0, 1.0) * ev.abs().clamp(min=1e-6)
            w = (1 + (y - ev) / ev).clamp(0.2, 1.8) * tn  # [B, L]
            closs = (w * (cq1 - y) ** 2).mean()
        self.critic_opt.zero_grad()
        closs.backward()
        self.critic_opt.step()
        # actor
        with torch.no_grad():
            sampled = self.dec(torch.cat([o, z_a.clamp(-0.5, 0.5)], 1))
        pert = (sampled + 0.05 * self.actor(torch.cat([o, sampled], 1))).clamp(-1, 1)
        aloss = -(w * self.q1(torch.cat([o, pert], 1))).mean()
        self.actor_opt.zero_grad()
        aloss.backward()
        self.actor_opt.step()
        with torch.no_grad():
            for net, tgt in ((self.q1, self.q1_t), (self.q2, self.q2_t), (self.actor, self.actor_t)):
                for p, tp in zip(net.parameters(), tgt.parameters()):
                    tp.copy_(0.005 * p + 0.995 * tp)

    def tensors(self):
        names = ["enc", "dec", "actor", "actor_t", "q1", "q2", "q1_t", "q2_t"] + (
            ["enc1", "dec1"] if self.cfg.variant == "mabcq" else []
        )
        return [getattr(self, n).state_dict() for n in names]


def learner_tensors(L, m):
    nets = [
        L.vae.encoder,
        L.vae.decoder,
        L.actor.net,
        L.actor_target.net,
        L.critic.head1,
        L.critic.head2,
        L.critic_target.head1,
        L.critic_target.head2,
    ] + ([L.vae1.encoder, L.vae1.decoder] if L.mabcq else [])
    return [n.member_module(m).state_dict() for n in nets]


@pytest.mark.parametrize("variant, view", CASES)
def test_batched_equals_reference_loop(variant, view):
    """float64: 3 batched updates of M = 2 seeds x 2 agents (central: 2 seeds) == 3 per-member official-style
    updates."""
    L = learner(variant, view)
    assert L.n_members == (S if view == "central" else S * N)
    refs = [RefMember(L, m) for m in range(L.n_members)]
    data = L.prepare_data(random_data())
    for _ in range(3):
        batch = L.sample_batch(data)
        state = L.gen.get_state()
        L.update(batch)
        for m, r in enumerate(refs):
            r.update({k: v[m] for k, v in batch.items()}, state)
    for m, r in enumerate(refs):
        assert max_diff(learner_tensors(L, m), r.tensors()) < 1e-9, (variant, view, m)
    fresh = learner(variant, view)
    assert max_diff(learner_tensors(L, 0), learner_tensors(fresh, 0)) > 1e-3  # it moved


def test_independent_batches_differ_per_member_central_reads_state_and_joint_action():
    data = random_data()
    Li = learner("bcq", "independent")
    b = Li.sample_batch(Li.prepare_data(data))
    assert b["obs"].shape == (S * N, B, O) and not torch.equal(b["obs"][0], b["obs"][1])
    Lc = learner("bcq", "central")
    prep = Lc.prepare_data(data)
    assert torch.equal(prep["obs"][:, 0], data["state"]) and torch.equal(
        prep["next_obs"][:, 0], data["next_state"]
    )
    # consecutive slices by default
    assert torch.equal(prep["actions"][:, 0], data["actions"].reshape(T, N * A))
    torch.testing.assert_close(prep["rewards"][:, 0], data["rewards"].mean(-1))
    bc = Lc.sample_batch(prep)
    assert bc["obs"].shape == (S, B, SD) and bc["actions"].shape == (S, B, N * A)


def test_seed_init_does_not_depend_on_other_seeds():
    cfg = BCQConfig(**TINY, variant="mabcq")
    a = BCQ([O] * N, [A] * N, 2, cfg, seeds=[7, 8])
    b = BCQ([O] * N, [A] * N, 1, cfg, seeds=[8])
    for i in range(N):
        assert max_diff(learner_tensors(a, N + i), learner_tensors(b, i)) == 0.0
    assert max_diff(learner_tensors(a, 0), learner_tensors(b, 0)) > 0


# ---- data options, checkpoints, config ---------------------------------------------------------------------


def test_drop_terminals_never_samples_a_terminal_row():
    data = random_data(dtype=torch.float32)
    data["obs"][:, :, 0] = torch.arange(T, dtype=torch.float32)[:, None]  # the row index
    term_rows = set(torch.nonzero(data["terminals"]).flatten().tolist())
    assert term_rows
    for drop in (False, True):
        L = learner(dtype=torch.float32, drop_terminals=drop, batch_size=64)
        prep = L.prepare_data(data)
        batches = [L.sample_batch(prep) for _ in range(20)]
        terms = torch.cat([b["terminals"].flatten() for b in batches])
        rows = set(torch.cat([b["obs"][..., 0].flatten() for b in batches]).long().tolist())
        if drop:
            assert terms.sum() == 0 and not rows & term_rows
        else:
            assert terms.sum() > 0 and rows & term_rows
    with pytest.raises(KeyError, match="prepare_data"):
        learner(dtype=torch.float32, drop_terminals=True).sample_batch(
            learner(dtype=torch.float32).prepare_data(data)
        )


@pytest.mark.parametrize("variant, view", [("bcq", "independent"), ("mabcq", "central")])
def test_checkpoint_resume_identical(variant, view, tmp_path):
    def make():
        return learner(variant, view, dtype=torch.float32)

    L, R, sl = assert_resume_identical(make, random_data(dtype=torch.float32), tmp_path, make()._modules())
    obs = np.repeat(
        np.random.default_rng(1).normal(size=(S, 3, 1, SD if view == "central" else O)), N, axis=2
    )
    assert_same_policy(L, R, obs)
    with pytest.raises(ValueError, match="lr"):
        learner(variant, view, dtype=torch.float32, lr=2e-3).load_state_dict(sl)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(view="joint"), r"view='joint' is not allowed; choose one of \['independent', 'central'\]"),
        (dict(variant="cql"), r"variant='cql' is not allowed; choose one of \['bcq', 'mabcq'\]"),
        (dict(hidden=(0, 3)), r"hidden=\(0, 3\) is not allowed; choose a non-empty sequence"),
        (dict(hidden_vae=64), r"hidden_vae=64 is not allowed"),
        (dict(latent=0), r"latent=0"),
        (dict(n_target=0), r"n_target=0 is not allowed; choose an integer >= 1"),
        (dict(n_select=2.5), r"n_select=2.5"),
        (dict(batch_size=0), r"batch_size=0"),
        (dict(z_clip=0.0), r"z_clip=0.0 is not allowed; choose a number > 0"),
        (dict(phi=-0.1), r"phi=-0.1 is not allowed; choose a number >= 0"),
        (dict(lmbda=1.5), r"lmbda=1.5 is not allowed; choose a number in \[0, 1\]"),
        (dict(gamma=1.5), r"gamma=1.5"),
        (dict(tau=0.0), r"tau=0.0 is not allowed; choose a number in \(0, 1\]"),
        (dict(variant="mabcq", gamma=0.0), r"gamma=0.0 .*MABCQ divides by gamma"),
        (dict(drop_terminals="yes"), r"drop_terminals='yes' is not allowed; choose True or False"),
        (dict(variant="mabcq", lmbda=0.9), r"lmbda=0.9 is set but unused: it needs variant='bcq'"),
        (dict(guard=False), r"guard=False is set but unused: it needs variant='mabcq'"),
    ],
)
def test_validate_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        BCQConfig(**kw).validate()


def test_config_from_json_lists_equals_tuples():
    assert BCQConfig(hidden=[400, 300]) == BCQConfig()


def test_nan_guard_names_loss_and_step():
    assert_nan_guard(learner(dtype=torch.float32), random_data(dtype=torch.float32))


# ---- acting, the registry, the central view on MaMuJoCo ------------------------------------------------------


def test_act_layout_determinism_and_training_stream_untouched():
    L = learner(dtype=torch.float32)
    data = L.prepare_data(random_data(dtype=torch.float32))
    L.update(L.sample_batch(data))
    obs = np.random.default_rng(0).normal(size=(S, 4, N, O)).astype(np.float32)
    state = L.gen.get_state()
    p1, p2 = L.policy(), L.policy()
    a1, a2 = p1(obs), p2(obs)
    assert a1.shape == (S, 4, N, A) and a1.dtype == np.float32 and np.array_equal(a1, a2)
    assert torch.equal(L.gen.get_state(), state)
    assert not np.array_equal(p1(obs), a1)  # the policy's own stream advances step by step
    xm = torch.from_numpy(obs).permute(0, 2, 1, 3).reshape(S * N, 4, O)  # member m = s * N + i
    ref = L.select(xm, torch.Generator().manual_seed(L.act_seed)).reshape(S, N, 4, A).permute(0, 2, 1, 3)
    np.testing.assert_array_equal(a1, ref.numpy())
    with pytest.raises(ValueError, match="obs must be"):
        L.act(obs[:, :, :1])


def _toy_dataset(with_state=True):
    return toy_dataset(state_dim=5 if with_state else 0)


@pytest.mark.parametrize("name", ["bcq", "mabcq"])
@pytest.mark.parametrize("view", ["independent", "central"])
def test_build_learner_on_a_dataset_and_policy_shapes(name, view):
    data = _toy_dataset()
    section = dict(hidden_vae=[8, 8], hidden=[8, 8], batch_size=8, view=view)
    L = build_learner(name, data, section, 5, "cpu")
    assert isinstance(L, BCQ) and L.cfg.variant == name and L.seeds == [5]
    L.update(L.sample_batch(L.prepare_data(data.to_torch())))
    E = 3
    obs = np.repeat(np.random.default_rng(1).normal(size=(1, E, 1, 5)).astype(np.float32), 2, axis=2)
    act = L.policy()(obs)
    assert act.shape == (1, E, 2, 2) and np.all(np.abs(act) <= 1)
    assert np.all(act[:, :, 1, 1] == 0) and np.all(act[:, :, 0] != 0)  # agent 1 has 1 action dim
    if view == "central":
        assert L.n_members == 1 and L.obs_dim == 5 and L.act_dim == 3
        with pytest.raises(ValueError, match="otc"):  # trained on the state: agents' rows must be the state
            L.policy()(obs + np.arange(2, dtype=np.float32)[None, None, :, None])
    else:
        assert L.n_members == 2 and L.act_mask is not None
    with pytest.raises(ValueError, match="variant"):
        build_learner(name, data, {**section, "variant": "mabcq" if name == "bcq" else "bcq"}, 5, "cpu")


def test_central_without_state_uses_agent0_obs():
    data = _toy_dataset(with_state=False)
    L = build_learner("bcq", data, dict(hidden_vae=[8], hidden=[8], batch_size=8, view="central"), 0, "cpu")
    prep = L.prepare_data(data.to_torch())
    assert L.state_dim is None and torch.equal(prep["obs"][:, 0], torch.from_numpy(data.obs[:, 0, :5]))
    obs = np.random.default_rng(1).normal(size=(1, 2, 2, 5)).astype(np.float32)  # rows may differ
    assert L.policy()(obs).shape == (1, 2, 2, 2)


def test_join_and_split_slices_are_inverse():
    a = np.random.default_rng(0).uniform(-1, 1, (4, 3, 2)).astype(np.float32)
    a[:, 1, 1] = 0.0
    j = join_slices(a, (2, 1, 2))
    assert (
        j.shape == (4, 5)
        and np.array_equal(j[:, 2], a[:, 1, 0])
        and np.array_equal(split_slices(j, (2, 1, 2)), a)
    )


@pytest.mark.parametrize("env_name", ["mamujoco/walker2d-2x3", "mamujoco/hopper-3x1"])
def test_mamujoco_state_equals_otc_agent0_obs(env_name):
    env = envs.make(env_name, obs_mode="otc")
    rng = np.random.default_rng(0)
    o = env.reset(3)
    for _ in range(6):
        assert np.array_equal(o[0, : env.spec.state_dim], env.state())
        assert all(np.array_equal(o[i], o[0]) for i in range(env.spec.n_agents))
        o, _, term, trunc, _ = env.step(
            rng.uniform(-1, 1, (env.spec.n_agents, env.spec.act_dim)).astype(np.float32)
        )
        if term or trunc:
            o = env.reset(4)


def test_central_bcq_on_walker2d_uses_the_envs_join_and_split():
    """A tiny Walker2d rollout (obs_mode otc) as a dataset: the central learner trains on state and the natural
    joint action env.join(a) (Walker2d's per-agent order is (foot, leg, thigh): plain concatenation differs), and
    its policy on the otc obs returns per-agent actions whose env.join is the chosen joint action."""
    env = envs.make("mamujoco/walker2d-2x3", obs_mode="otc")
    rng = np.random.default_rng(0)
    keys = ("obs", "actions", "rewards", "next_obs", "state", "next_state", "terminals", "timeouts")
    rec = {k: [] for k in keys}
    o = env.reset(0)
    for t in range(12):
        s = env.state()
        a = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
        o2, r, term, trunc, _ = env.step(a)
        for k, v in zip(keys, (o, a, r, o2, s, env.state(), term, trunc or t == 11)):
            rec[k].append(v)
        o = env.reset(1) if term or trunc else o2
    arr = {k: np.stack(v) for k, v in rec.items()}
    data = Dataset.from_arrays(
        "mamujoco/walker2d-2x3",
        "random",
        arr["obs"],
        arr["actions"],
        arr["rewards"],
        arr["next_obs"],
        arr["terminals"],
        arr["timeouts"],
        state=arr["state"],
        next_state=arr["next_state"],
        spec=env.spec,
    )
    L = build_learner("bcq", data, dict(hidden_vae=[8], hidden=[8], batch_size=4, view="central"), 0, "cpu")
    prep = L.prepare_data(data.to_torch())
    joint = prep["actions"][:, 0].numpy()
    np.testing.assert_array_equal(joint, env.join(data.actions))
    assert not np.array_equal(joint, join_slices(data.actions, (3, 3)))  # Walker2d's (foot, leg, thigh) order
    np.testing.assert_array_equal(joint[:, [2, 1, 0]], data.actions[:, 0])  # agent 0 = global dims 2, 1, 0
    assert torch.equal(prep["obs"][:, 0], torch.from_numpy(data.state))
    L.update(L.sample_batch(prep))
    obs = data.obs[None, :3]  # [1, E=3, 2, 17], the otc obs
    out = L.act(obs)
    chosen = L.select(torch.from_numpy(obs[:, :, 0]), torch.Generator().manual_seed(L.act_seed))
    assert out.shape == (1, 3, 2, 3)
    np.testing.assert_array_equal(env.join(out), chosen.numpy())
    with pytest.raises(ValueError, match="otc"):  # cast_bcq obs (each agent's own joints first) are refused
        L.act(envs.make("mamujoco/walker2d-2x3", obs_mode="cast_bcq").split_obs(data.state)[None, :3])
