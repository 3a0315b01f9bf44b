"""CAST-BCQ, continuous (papers/cast_bcq/cast_bcq.py): the sub-team laws and the counterfactual credit on the spec's
hand cases (§6.2: exact by enumeration and by Monte Carlo; two-player efficiency; masking), the network bounds and
candidate counts (§6.3), the time-out weights and drop_terminals, the batched learner against a per-member loop of
the same math, checkpoint -> resume, the ablations' credit, validate(), the registry builder and the policy."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.algos import build_learner
from common.algos.bcq_losses import soft_clipped_q
from common.networks.heads import TwinCritic
from learner_checks import (
    assert_nan_guard,
    assert_resume_identical,
    assert_same_policy,
    max_diff,
    record_decodes,
    team_data,
    toy_dataset,
)
from papers.cast_bcq.cast_bcq import CASTBCQ
from papers.cast_bcq.cast_config import CASTConfig
from papers.cast_bcq.cast_losses import (
    counterfactual_credit,
    sample_subteam_weights,
    subteam_support,
)

S, N, O, A, D, B, T = 2, 3, 11, 1, 11, 16, 120  # Hopper-3x1-like shapes: full-state obs, 1 action per agent
TINY = dict(hidden_vae=(16, 16), hidden=(16, 16), batch_size=B)


def random_data(seed=0, dtype=torch.float64, t=T, n=N, o=O, a=A, d=D):
    out = team_data(t, n, o, a, seed=seed, dtype=dtype, state_dim=d, p_terminal=0.0, shared_reward=True)
    out["terminals"][9::20] = 1  # falls
    out["timeouts"][19::20] = 1  # time limits
    return out


def learner(dtype=torch.float64, n_seeds=S, n_agents=N, o=O, a=A, d=D, **kw):
    return CASTBCQ(
        [o] * n_agents, [a] * n_agents, d, n_seeds, CASTConfig(**{**TINY, **kw}), seed=3, dtype=dtype
    )


class JointCritic(torch.nn.Module):
    """A central critic given as a function of the JOINT action: member m (agent agents[m]) sees x = [s, a_{-i}] and
    its own a_i; the joint [..., N, A] is rebuilt by inserting a_i at slot i. fn(s [..., D], joint [..., N, A]) ->
    (q1, q2) [...]. Records the inputs of every forward."""

    def __init__(self, fn, agents, n_agents, state_dim, act_dim):
        super().__init__()
        self.fn, self.agents, self.n, self.d, self.a = (
            fn,
            torch.as_tensor(agents),
            n_agents,
            state_dim,
            act_dim,
        )
        self.seen = []

    def joint(self, x, a):
        M, n, A = x.shape[0], self.n, self.a
        lead = x.shape[1:-1]
        oth = x[..., self.d :].reshape(*x.shape[:-1], n - 1, A)
        oth = torch.cat([oth, torch.zeros_like(oth[..., :1, :])], dim=-2)  # [M, .., N, A] (a dummy last slot)
        i = self.agents.view(M, *([1] * len(lead)), 1, 1)
        slots = torch.arange(n).view(*([1] * (len(lead) + 1)), n, 1)
        src = torch.where(slots < i, slots, (slots - 1).clamp(min=0)).expand(*oth.shape)
        return torch.where(slots == i, a.unsqueeze(-2), oth.gather(-2, src))  # [M, .., N, A]

    def forward(self, x, a):
        self.seen.append((x.detach().clone(), a.detach().clone()))
        q1, q2 = self.fn(x[..., : self.d], self.joint(x, a))
        return q1.unsqueeze(-1), q2.unsqueeze(-1)

    def forward_many(self, x, a):
        if x.dim() != a.dim():
            x = x.unsqueeze(-2).expand(*x.shape[:-1], a.shape[-2], x.shape[-1])
        q1, q2 = self(x, a)
        return q1.squeeze(-1), q2.squeeze(-1)

    def q1(self, x, a):
        return self(x, a)[0]

    def q1_many(self, x, a):
        return self.forward_many(x, a)[0]


def spec_q(s, j):
    """Spec §6.2: Q(a1, a2, a3) = a1 + 2 a2 + 3 a3 + 4 a1 a2 (scalar actions)."""
    a1, a2, a3 = j[..., 0, 0], j[..., 1, 0], j[..., 2, 0]
    return a1 + 2 * a2 + 3 * a3 + 4 * a1 * a2


def spec_twin(scale2=1.0):
    return lambda s, j: (spec_q(s, j), scale2 * spec_q(s, j))


def ones_batch(M, rows, n=3, d=D, dtype=torch.float64):
    """a = (1, 1, 1) for every member and row: state 0, partners' actions 1, own action 1."""
    return {
        "state": torch.zeros(M, rows, d, dtype=dtype),
        "others": torch.ones(M, rows, n - 1, dtype=dtype),
        "actions": torch.ones(M, rows, 1, dtype=dtype),
    }


# ---- spec §6.2: sub-team laws and the credit -----------------------------------------------------------------

EXPECTED = {"code": (2.0, 3.0, 3.0), "uniform": (3.0, 4.0, 3.0), "shapley": (3.0, 4.0, 3.0)}  # agents 1, 2, 3


def test_subteam_support_laws():
    drop, p = subteam_support("code", 4)  # |D| ~ U{1, 2, 3}, then uniform within a size; {} never
    sizes = drop.sum(-1)
    assert drop.any(-1).all() and len(p) == 7
    for k, n_k in ((1, 3), (2, 3), (3, 1)):
        assert p[sizes == k].sum().item() == pytest.approx(1 / 3) and torch.allclose(
            p[sizes == k], p[sizes == k][0]
        )
        assert int((sizes == k).sum()) == n_k
    drop2, p2 = subteam_support("code", 2)  # N = 2: both sub-teams, 1/2 each (the exact two-player path)
    assert drop2.tolist() == [[False], [True]] and p2.tolist() == [0.5, 0.5]
    _, pu = subteam_support("uniform", 4)
    assert pu.tolist() == [1 / 8] * 8
    drop_s, ps = subteam_support("shapley", 3)  # present partners T: |T|! (N-1-|T|)! / N!
    for row, pr in zip(drop_s.tolist(), ps.tolist()):
        t = 2 - sum(row)
        assert pr == pytest.approx(math.factorial(t) * math.factorial(2 - t) / 6)
    assert subteam_support("code", 1)[0].shape == (1, 0)
    for dist in ("code", "uniform", "shapley"):
        for n in (1, 2, 3, 5):
            assert subteam_support(dist, n)[1].sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize("dist", ["code", "uniform", "shapley"])
def test_spec_6_2_credit_exact_by_enumerating_the_support(dist):
    """Q = a1 + 2 a2 + 3 a3 + 4 a1 a2 at a = (1, 1, 1), default 0: Delta_1 = 2.0 (code), 3.0 (uniform), 3.0
    (Shapley); agent 2 gets 3.0 / 4.0 / 4.0 and agent 3 always 3."""
    drop, p = subteam_support(dist, 3)
    critic = JointCritic(spec_twin(), [0, 1, 2], 3, D, 1)
    b = ones_batch(3, 1)
    delta = counterfactual_credit(critic, b["state"], b["others"], b["actions"], drop, p.view(1, 1, -1), 0.9)
    assert delta[:, 0].tolist() == pytest.approx(EXPECTED[dist], abs=1e-12)


@pytest.mark.parametrize("dist", ["code", "uniform"])
def test_spec_6_2_credit_monte_carlo(dist):
    """M = 6 draws per batch, 20k batches (one draw per m for the batch), and rows drawn per row by the
    learner itself (40k rows): the mean credit of agent 1 is within 0.02 of the exact value."""
    drop, p = subteam_support(dist, 3)
    g = torch.Generator().manual_seed(0)
    M = 20_000
    idx = sample_subteam_weights(p.double(), 6, (M, 1), g)  # [M, 1, 6]
    w = F.one_hot(idx, len(p)).double().mean(2)
    b = ones_batch(M, 1)
    critic = JointCritic(spec_twin(), torch.zeros(M, dtype=torch.long), 3, D, 1)
    delta = counterfactual_credit(critic, b["state"], b["others"], b["actions"], drop, w, 0.9)
    assert abs(delta.mean().item() - EXPECTED[dist][0]) < 0.02
    assert delta.std().item() > 0.1  # draws vary across batches
    # the learner, per row; n_subteams=3 < the support of "uniform" (4): the draw-by-draw path
    kw = dict(subteam_dist=dist, subteam_per_row=True, **({} if dist == "code" else {"n_subteams": 3}))
    L = learner(n_seeds=1, **kw)
    assert L.on_support == (dist == "code") and not L.enumerate
    L.central_critic = JointCritic(spec_twin(), L.agents, 3, D, 1)
    delta = L.credit(ones_batch(3, 40_000))  # [3, 40000]
    for i in range(3):
        assert abs(delta[i].mean().item() - EXPECTED[dist][i]) < 0.02, (dist, i)
    assert torch.unique(delta[0]).numel() > 1  # per row


def test_count_weights_equal_draw_by_draw():
    """Count weights on the support (the learner's path when the support is small) == the mean over the draws."""
    torch.manual_seed(0)
    critic = TwinCritic(4, D + 2 * 2, 2, (8,)).double()
    drop, p = subteam_support("code", 3)
    idx = sample_subteam_weights(p.double(), 6, (4, 5), torch.Generator().manual_seed(1))  # [M, R=B, n]
    st, oth, own = torch.randn(4, 5, D).double(), torch.randn(4, 5, 4).double(), torch.randn(4, 5, 2).double()
    counts = counterfactual_credit(critic, st, oth, own, drop, F.one_hot(idx, 3).double().mean(2), 0.9)
    sixth = torch.full((4, 5, 6), 1 / 6, dtype=torch.float64)
    draws = counterfactual_credit(critic, st, oth, own, drop[idx], sixth, 0.9)
    torch.testing.assert_close(counts, draws, rtol=0, atol=1e-12)


def test_two_agent_code_path_is_efficient_for_random_twin_critics():
    """N = 2 ("code": both sub-teams enumerated): Delta_1 + Delta_2 = Q_lambda(s, a) - Q_lambda(s, 0) exactly, for
    a random twin critic of the joint action, lambda = 0.9 (the credit is the exact two-player Shapley value)."""
    Ad, Dd = 3, 5
    L = learner(n_seeds=2, n_agents=2, o=7, a=Ad, d=Dd)
    assert L.enumerate
    torch.manual_seed(0)
    net = TwinCritic(1, Dd, 2 * Ad, (32, 32)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)  # bigger weights: the two heads cross often, so min and max swap across inputs

    def fn(s, j):
        shape = s.shape[:-1]
        q1, q2 = net(s.reshape(1, -1, Dd), j.reshape(1, -1, 2 * Ad))
        return q1.reshape(shape), q2.reshape(shape)

    L.central_critic = JointCritic(fn, L.agents, 2, Dd, Ad)
    data = L.prepare_data(random_data(n=2, o=7, a=Ad, d=Dd))
    batch = L.sample_batch(data)
    delta = L.credit(batch).view(2, 2, -1)  # [S, N, B]
    s = batch["state"][::2]  # [S, B, D]
    joint = torch.stack([batch["actions"][::2], batch["actions"][1::2]], dim=-2)  # [S, B, 2, A]
    q1, q2 = fn(s, joint)
    z1, z2 = fn(s, torch.zeros_like(joint))
    lhs = soft_clipped_q(q1, q2, 0.9) - soft_clipped_q(z1, z2, 0.9)
    torch.testing.assert_close(delta.sum(1), lhs, rtol=0, atol=1e-12)
    assert ((q1 > q2) != (q1 > q2)[0, 0]).any()  # min and max do swap: lambda matters


@pytest.mark.parametrize("per_row", [False, True])
def test_masking_zeroes_exactly_the_dropped_agents_action_columns(per_row):
    """N = 3 agents with A = 2 action dims each: in every masked input x_i, agent j's 2 columns are 0 iff j is in D,
    else agent j's dataset action; the state is untouched; the second half of the stack evaluates a_i = 0."""
    Ad = 2
    kw = dict(subteam_per_row=True, subteam_dist="uniform", n_subteams=3) if per_row else {}
    L = learner(n_seeds=2, a=Ad, **kw)
    assert L.on_support != per_row  # per_row here: the draw-by-draw path (support 4 > 3 draws)
    L.central_critic = rec = JointCritic(spec_twin(), L.agents, N, D, Ad)
    data = random_data(a=Ad)
    data["actions"] = data["actions"] * 0.5 + 0.6  # no dataset action is 0
    batch = L.sample_batch(L.prepare_data(data))
    L.credit(batch)
    ((x, a),) = rec.seen  # [M, B, 2K, X], [M, B, 2K, A]
    K = x.shape[2] // 2
    assert torch.equal(x[:, :, :K], x[:, :, K:]) and (a[:, :, K:] == 0).all()
    assert torch.equal(a[:, :, :K], batch["actions"].unsqueeze(2).expand(-1, -1, K, -1))
    assert torch.equal(x[..., :D], batch["state"].unsqueeze(2).expand(-1, -1, 2 * K, -1))
    blocks = x[:, :, :K, D:].reshape(*x.shape[:2], K, N - 1, Ad)  # [M, B, K, N-1, A]
    dataset = batch["others"].reshape(*x.shape[:2], 1, N - 1, Ad).expand_as(blocks)
    dropped = (blocks == 0).all(-1)  # [M, B, K, N-1]
    assert torch.equal(blocks[~dropped], dataset[~dropped])
    if not per_row:  # the support itself, in order
        assert torch.equal(dropped, L.subteam_drop.expand_as(dropped))
        assert dropped.any(-1).all()  # "code": D = {} never
    else:
        assert dropped.any() and (~dropped).any()
    # the partners' order: member (s, i)'s blocks are agents j != i in agent order
    for m in range(L.n_members):
        i = int(L.agents[m])
        others = [j for j in range(N) if j != i]
        expect = torch.cat([batch["actions"][(m // N) * N + j] for j in others], dim=-1)
        assert torch.equal(batch["others"][m], expect)


# ---- spec §6.3: networks, candidate counts, targets ------------------------------------------------------------


def test_soft_clipped_q_at_lambda_0_9():
    assert CASTConfig().lmbda == 0.9
    assert soft_clipped_q(torch.tensor(1.0), torch.tensor(3.0), 0.9).item() == pytest.approx(1.2)
    assert soft_clipped_q(torch.tensor(3.0), torch.tensor(1.0), 0.9).item() == pytest.approx(1.2)


@pytest.mark.parametrize("ablation", [None, "wo_cd"])
def test_target_maxes_over_exactly_10_candidates_with_data_partners(ablation):
    L = learner(ablation=ablation)
    batch = L.sample_batch(L.prepare_data(random_data()))
    fake = JointCritic(
        lambda s, j: (j.sum((-1, -2)) + s.sum(-1), 1 - j.sum((-1, -2)) - s.sum(-1)), L.agents, N, D, A
    )
    L.central_target = fake
    y = L.target_value(batch)
    ((x, a),) = fake.seen
    assert a.shape == (L.n_members, B, 10, A)
    torch.testing.assert_close(x[..., D:], batch["next_others"].unsqueeze(2).expand(-1, -1, 10, -1))
    torch.testing.assert_close(x[..., :D], batch["next_state"].unsqueeze(2).expand(-1, -1, 10, -1))
    q1 = a.sum(-1) + batch["next_others"].sum(-1, keepdim=True) + batch["next_state"].sum(-1, keepdim=True)
    q = q1 if ablation == "wo_cd" else 0.9 * torch.minimum(q1, 1 - q1) + 0.1 * torch.maximum(q1, 1 - q1)
    expected = batch["rewards"] + 0.99 * (1 - batch["terminals"]) * q.max(-1).values
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)
    assert batch["terminals"].sum() > 0


def test_selection_is_the_argmax_of_individual_q1_over_exactly_100_candidates():
    L = learner(dtype=torch.float32)
    seen = []

    class FakeCritic:
        def q1(self, o, a):
            seen.append(a.clone())
            return -(a[..., :1] - 0.3).square()

    L.critic = FakeCritic()
    obs = np.random.default_rng(0).normal(size=(S, 3, N, O)).astype(np.float32)
    out = L.act(obs)
    (cand,) = seen
    assert cand.shape == (L.n_members, 3, 100, A) and out.shape == (S, 3, N, A)
    best = (cand[..., 0] - 0.3).abs().min(-1).values  # [M, E]
    got = torch.from_numpy(out).permute(0, 2, 1, 3).reshape(L.n_members, 3)
    torch.testing.assert_close((got - 0.3).abs(), best)


def test_decode_z_within_0_05_and_xi_within_0_001(monkeypatch):
    L = learner(dtype=torch.float32)
    batch = L.sample_batch(L.prepare_data(random_data(dtype=torch.float32)))
    orig = L.vae.decode
    zs, decoded = record_decodes(monkeypatch, L.vae)
    L.target_value(batch)
    L.actor_loss(batch)
    L.act(np.random.default_rng(0).normal(size=(S, 4, N, O)).astype(np.float32))
    z = torch.cat([t.flatten() for t in zs])
    assert len(zs) == 3 and z.abs().max().item() == pytest.approx(0.05)  # some draws clipped, none beyond
    with torch.no_grad():
        # saturate tanh: |xi(o, a) - a| = Phi wherever a is not clipped
        L.actor.net.layers[-1].weight.mul_(1e3)
        z0 = torch.zeros(L.n_members, B, L.latent_dim)
        cand, dec = L._candidates(L.actor, batch["obs"], z0), orig(batch["obs"], z0)
    dev = (cand - dec).abs()
    assert (dev <= 0.001 + 1e-6).all() and (cand.abs() <= 1).all() and (dev > 0.00099).float().mean() > 0.5


# ---- data: time-outs and terminals -----------------------------------------------------------------------------


def test_timeout_rows_get_weight_0_in_the_central_td_loss():
    L = learner()
    data = L.prepare_data(random_data())
    tout = random_data()["timeouts"].bool()
    assert (data["next_valid"][tout] == 0).all() and (data["next_valid"][~tout] == 1).all()
    term = data["terminals"].bool()
    assert (data["next_actions"][term] == 0).all()
    batch = L.sample_batch(data)
    while not (batch["next_valid"] == 0).any():
        batch = L.sample_batch(data)
    valid = batch["next_valid"]
    y = torch.randn(L.n_members, B, dtype=torch.float64)
    L.target_value = lambda b: y
    loss, _ = L.central_loss(batch)
    x = torch.cat([batch["state"], batch["others"]], -1)
    q1, q2 = (q.squeeze(-1) for q in L.central_critic(x, batch["actions"]))
    manual = (valid * ((q1 - y) ** 2 + (q2 - y) ** 2)).sum(-1) / valid.sum(-1)
    torch.testing.assert_close(loss, manual.detach(), rtol=0, atol=1e-12)
    y2 = torch.where(valid == 0, y + 1e6, y)  # any target on a time-out row: the same loss
    L.target_value = lambda b: y2
    torch.testing.assert_close(L.central_loss(batch)[0], loss, rtol=0, atol=1e-12)


def test_drop_terminals_false_keeps_d_1_rows_true_drops_them():
    data = random_data()
    for drop in (False, True):
        L = learner(drop_terminals=drop, batch_size=64)
        prep = L.prepare_data(data)
        d = torch.cat([L.sample_batch(prep)["terminals"].flatten() for _ in range(5)])
        assert (d.sum() > 0) != drop


# ---- the batched learner against a per-member loop ----------------------------------------------------------------


class RefMember:
    """Member m of a CASTBCQ learner as plain per-member modules and the spec §2.2 math in the [B, .] layout (the
    code's per-agent ``train`` then ``train_Qi``): next states repeated with repeat_interleave, the credit draw by
    draw, own Adam optimisers. Noise: drawn with the batched learner's shapes from a generator in its state, member
    m's slice kept."""

    def __init__(self, L: CASTBCQ, m: int):
        self.cfg, self.m, self.M, self.Ld, self.N = L.cfg, m, L.n_members, L.latent_dim, L.n_agents
        mm = lambda net: net.member_module(m)  # noqa: E731
        self.enc, self.dec = mm(L.vae.encoder), mm(L.vae.decoder)
        self.actor, self.actor_t = mm(L.actor.net), mm(L.actor_target.net)
        self.q1, self.q2 = mm(L.critic.head1), mm(L.critic.head2)
        self.c1, self.c2 = mm(L.central_critic.head1), mm(L.central_critic.head2)
        self.c1_t, self.c2_t = mm(L.central_target.head1), mm(L.central_target.head2)
        lr = self.cfg.lr
        self.vae_opt = torch.optim.Adam([*self.enc.parameters(), *self.dec.parameters()], lr=lr)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.critic_opt = torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()], lr=lr)
        self.central_opt = torch.optim.Adam([*self.c1.parameters(), *self.c2.parameters()], lr=lr)

    def perturb(self, actor, o, z):
        a = self.dec(torch.cat([o, z.clamp(-0.05, 0.05)], 1))
        return (a + 0.001 * actor(torch.cat([o, a], 1))).clamp(-1, 1)

    def qmix(self, h1, h2, x):
        if self.cfg.ablation == "wo_cd":
            return h1(x)
        q1, q2 = h1(x), h2(x)
        return 0.9 * torch.min(q1, q2) + 0.1 * torch.max(q1, q2)

    def update(self, b, gen_state):
        cfg, M, m, N = self.cfg, self.M, self.m, self.N
        g = torch.Generator().manual_seed(0)
        g.set_state(gen_state)
        Bn, L, K, gamma = b["obs"].shape[0], self.Ld, 10, 0.99
        draw = lambda *s: torch.randn(s, generator=g, dtype=b["obs"].dtype)[m]  # noqa: E731
        eps, z_t = draw(M, Bn, L), draw(M, Bn, K, L).reshape(Bn * K, L)
        no_st = cfg.ablation in ("wo_csaa", "wo_st")
        drop, p = subteam_support(cfg.subteam_dist, N)
        sampled = not no_st and not (cfg.subteam_dist == "shapley" or (cfg.subteam_dist == "code" and N <= 2))
        if sampled:
            R = Bn if cfg.subteam_per_row else 1
            idx = torch.multinomial(
                p.to(b["obs"].dtype).expand(M * R, len(p)), cfg.n_subteams, True, generator=g
            ).view(M, R, -1)[m]  # [R, n]
        z_a = draw(M, Bn, L)
        o, a, r, o2 = b["obs"], b["actions"], b["rewards"][:, None], b["next_obs"]
        x, x2 = torch.cat([b["state"], b["others"]], 1), torch.cat([b["next_state"], b["next_others"]], 1)
        # VAE
        mean, log_std = self.enc(torch.cat([o, a], 1)).chunk(2, -1)
        std = log_std.clamp(-4, 15).exp()
        recon = self.dec(torch.cat([o, mean + std * eps], 1))
        kl = -0.5 * (1 + torch.log(std.pow(2)) - mean.pow(2) - std.pow(2))
        vloss = F.mse_loss(recon, a) + 0.5 * kl.mean()
        self.vae_opt.zero_grad()
        vloss.backward()
        self.vae_opt.step()
        # central critic (SARSA partners, time-out rows weight 0)
        with torch.no_grad():
            o2k = torch.repeat_interleave(o2, K, 0)
            a2k = self.perturb(self.actor_t, o2k, z_t)
            xa = torch.cat([torch.repeat_interleave(x2, K, 0), a2k], 1)
            tq = self.qmix(self.c1_t, self.c2_t, xa)
            y = r + (1 - b["terminals"][:, None]) * gamma * tq.reshape(Bn, -1).max(1)[0].reshape(-1, 1)
        v = b["next_valid"][:, None]
        err = (self.c1(torch.cat([x, a], 1)) - y) ** 2
        if cfg.ablation != "wo_cd":
            err = err + (self.c2(torch.cat([x, a], 1)) - y) ** 2
        closs = (v * err).sum() / v.sum().clamp(min=1)
        self.central_opt.zero_grad()
        closs.backward()
        self.central_opt.step()
        # credit, draw by draw, from the updated central critic
        with torch.no_grad():
            Ad = a.shape[1]
            zero = torch.zeros_like(a)

            def marginal(keep):  # keep [R or B, N-1] bool
                xk = torch.cat([b["state"], b["others"] * keep.to(a.dtype).repeat_interleave(Ad, 1)], 1)
                q = self.qmix(self.c1, self.c2, torch.cat([xk, a], 1))
                if cfg.ablation == "wo_csaa":
                    return q
                return q - self.qmix(self.c1, self.c2, torch.cat([xk, zero], 1))

            if no_st:
                delta = marginal(torch.ones(1, N - 1, dtype=torch.bool))
            elif sampled:
                delta = sum(marginal(~drop[idx[:, k]]) for k in range(cfg.n_subteams)) / cfg.n_subteams
            else:
                delta = sum(pk * marginal(~dk[None]) for dk, pk in zip(drop, p.tolist()))
        w = delta.exp().clamp(0, 10) if cfg.qi_weight == "exp_clip" else 1.0
        qloss = (w * (self.q1(torch.cat([o, a], 1)) - delta) ** 2).mean() + (
            w * (self.q2(torch.cat([o, a], 1)) - delta) ** 2
        ).mean()
        self.critic_opt.zero_grad()
        qloss.backward()
        self.critic_opt.step()
        # actor on the individual critic
        with torch.no_grad():
            sampled_a = self.dec(torch.cat([o, z_a.clamp(-0.05, 0.05)], 1))
        pert = (sampled_a + 0.001 * self.actor(torch.cat([o, sampled_a], 1))).clamp(-1, 1)
        aloss = -self.q1(torch.cat([o, pert], 1)).mean()
        self.actor_opt.zero_grad()
        aloss.backward()
        self.actor_opt.step()
        tau = 0.005 if cfg.target_update == "polyak" else 1.0
        with torch.no_grad():
            for net, tgt in ((self.c1, self.c1_t), (self.c2, self.c2_t), (self.actor, self.actor_t)):
                for p_, tp in zip(net.parameters(), tgt.parameters()):
                    tp.copy_(p_ if tau == 1.0 else tau * p_ + (1 - tau) * tp)

    def tensors(self):
        names = ["enc", "dec", "actor", "actor_t", "q1", "q2", "c1", "c2", "c1_t", "c2_t"]
        return [getattr(self, n).state_dict() for n in names]


def learner_tensors(L, m):
    nets = [
        L.vae.encoder,
        L.vae.decoder,
        L.actor.net,
        L.actor_target.net,
        L.critic.head1,
        L.critic.head2,
        L.central_critic.head1,
        L.central_critic.head2,
        L.central_target.head1,
        L.central_target.head2,
    ]
    return [n.member_module(m).state_dict() for n in nets]


@pytest.mark.parametrize(
    "kw",
    [
        {},  # the code: N = 3 sub-teams sampled once per batch, on the support with count weights
        # draw by draw, per row
        dict(subteam_dist="uniform", n_subteams=2, subteam_per_row=True, qi_weight="none"),
        dict(subteam_dist="shapley", ablation="wo_cd", target_update="hard"),
        dict(ablation="wo_csaa"),
        dict(ablation="wo_st"),
    ],
    ids=["code", "uniform-per-row", "shapley-wo_cd-hard", "wo_csaa", "wo_st"],
)
def test_batched_equals_reference_loop(kw):
    """float64: 3 batched updates of M = 2 seeds x 3 agents (Hopper 3x1 shapes) == 3 per-member updates."""
    L = learner(**kw)
    refs = [RefMember(L, m) for m in range(L.n_members)]
    data = L.prepare_data(random_data())
    for _ in range(3):
        batch = L.sample_batch(data)
        state = L.gen.get_state()
        L.update(batch)
        for m, r in enumerate(refs):
            r.update({k: v[m] for k, v in batch.items()}, state)
    for m, r in enumerate(refs):
        assert max_diff(learner_tensors(L, m), r.tensors()) < 1e-9, (kw, m)
    fresh = learner(**kw)
    assert max_diff(learner_tensors(L, 0), learner_tensors(fresh, 0)) > 1e-4  # it moved


def test_one_row_set_per_seed_shared_by_its_agents():
    L = learner()
    data = random_data()
    data["state"][:, 0] = torch.arange(T, dtype=torch.float64)  # the row index
    b = L.sample_batch(L.prepare_data(data))
    rows = b["state"][..., 0]  # [M, B]
    for s in range(S):
        assert all(torch.equal(rows[s * N], rows[s * N + i]) for i in range(N))
    assert not torch.equal(rows[0], rows[N])
    assert torch.equal(b["rewards"], data["rewards"][rows.long(), 0])


# ---- checkpoints, ablations, config ------------------------------------------------------------------------------


def test_checkpoint_resume_identical(tmp_path):
    L, R, sl = assert_resume_identical(
        lambda: learner(dtype=torch.float32), random_data(dtype=torch.float32), tmp_path, CASTBCQ._MODULES
    )
    assert_same_policy(L, R, np.random.default_rng(1).normal(size=(S, 3, N, O)))
    with pytest.raises(ValueError, match="lr"):
        learner(dtype=torch.float32, lr=2e-3).load_state_dict(sl)


@pytest.mark.parametrize(
    "ablation, dist, expected",
    [
        (None, "shapley", (3.3, 4.4, 3.3)),  # Q_lambda = 0.9 Q + 0.1 (2Q) = 1.1 Q: 1.1 x the Shapley values
        ("wo_cd", "shapley", (3.0, 4.0, 3.0)),  # head 1 only: Q
        (
            "wo_st",
            "code",
            (5.5, 6.6, 3.3),
        ),  # 1.1 [Q(a) - Q(a_i = 0)]: 1.1 (10 - 5), 1.1 (10 - 4), 1.1 (10 - 7)
        ("wo_csaa", "code", (11.0, 11.0, 11.0)),  # 1.1 Q(1, 1, 1), no baseline
    ],
)
def test_ablations_change_the_credit_as_defined(ablation, dist, expected):
    """Hand case of spec §6.2 with twin heads Q1 = Q, Q2 = 2 Q (both >= 0 here, so min = Q and max = 2Q)."""
    L = learner(n_seeds=1, ablation=ablation, **({"subteam_dist": dist} if dist != "code" else {}))
    L.central_critic = JointCritic(spec_twin(2.0), L.agents, 3, D, 1)
    assert L.credit(ones_batch(3, 2))[:, 0].tolist() == pytest.approx(expected, abs=1e-12)
    # and each ablation trains: w/o CD leaves the central critic's head 2 untouched
    L = learner(ablation=ablation, **({"subteam_dist": dist} if dist != "code" else {}))
    head2 = [p.detach().clone() for p in L.central_critic.head2.parameters()]
    data = L.prepare_data(random_data())
    for _ in range(2):
        L.update(L.sample_batch(data))
    moved = any(not torch.equal(a, b) for a, b in zip(head2, L.central_critic.head2.parameters()))
    assert moved == (ablation != "wo_cd")


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(central="joint"), r"joint-critic form is not implemented yet"),
        (dict(partners="policy"), r"not implemented yet"),
        (dict(central="mixed"), r"central='mixed' is not allowed; choose one of \['per_agent', 'joint'\]"),
        (
            dict(subteam_dist="exact"),
            r"subteam_dist='exact' is not allowed; choose one of \['code', 'uniform', 'shapley'\]",
        ),
        (
            dict(ablation="wo_vae"),
            r"ablation='wo_vae' is not allowed; choose one of \[None, 'wo_csaa', 'wo_st', 'wo_cd'\]",
        ),
        (dict(qi_weight="exp"), r"qi_weight='exp' is not allowed"),
        (dict(target_update="soft"), r"target_update='soft' is not allowed"),
        (
            dict(hidden=(0, 3)),
            r"hidden=\(0, 3\) is not allowed; choose a non-empty sequence, each an integer",
        ),
        (dict(hidden_vae=64), r"hidden_vae=64 is not allowed"),
        (dict(n_subteams=0), r"n_subteams=0 is not allowed; choose an integer >= 1"),
        (dict(lmbda=1.5), r"lmbda=1.5 is not allowed; choose a number in \[0, 1\]"),
        (dict(tau=0.0), r"tau=0.0 is not allowed; choose a number in \(0, 1\]"),
        (dict(z_clip=0.0), r"z_clip=0.0 is not allowed; choose a number > 0"),
        (dict(subteam_per_row="yes"), r"subteam_per_row='yes' is not allowed; choose True or False"),
        (dict(ablation="wo_cd", lmbda=0.75), r"lmbda=0.75 is set but unused"),
        (dict(subteam_dist="shapley", n_subteams=10), r"n_subteams=10 is set but unused"),
        (dict(ablation="wo_st", subteam_dist="uniform"), r"subteam_dist='uniform' is set but unused"),
        (dict(ablation="wo_csaa", subteam_per_row=True), r"subteam_per_row=True is set but unused"),
        (dict(qi_weight="none", qi_weight_max=5.0), r"qi_weight_max=5.0 is set but unused"),
        (dict(target_update="hard", tau=0.01), r"tau=0.01 is set but unused"),
    ],
)
def test_validate_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        CASTConfig(**kw).validate()


def test_defaults_are_the_codes_and_lists_equal_tuples():
    c = CASTConfig()
    assert (c.hidden_vae, c.hidden, c.z_clip, c.phi, c.lmbda, c.n_target, c.n_select, c.n_subteams) == (
        (750, 750),
        (400, 300),
        0.05,
        0.001,
        0.9,
        10,
        100,
        6,
    )
    assert (
        c.lr,
        c.tau,
        c.gamma,
        c.batch_size,
        c.kl_weight,
        c.qi_weight,
        c.qi_weight_max,
        c.drop_terminals,
    ) == (1e-3, 0.005, 0.99, 1024, 0.5, "exp_clip", 10.0, False)
    assert CASTConfig(hidden=[400, 300], hidden_vae=[750, 750]) == c
    with pytest.raises(ValueError, match="enumerates both sub-teams for N = 2"):  # unused for two agents
        learner(n_agents=2, subteam_per_row=True)


# ---- the registry builder and the policy ----------------------------------------------------------------------------


def _toy_dataset(with_state=True, obs_dims=(5, 4, 5), act_dims=(2, 1, 2)):
    return toy_dataset(obs_dims, act_dims, state_dim=6 if with_state else 0, ends=20, timeouts=True)


def test_build_learner_on_a_dataset_and_policy_shapes():
    data = _toy_dataset()
    section = dict(hidden_vae=[8, 8], hidden=[8, 8], batch_size=8)
    L = build_learner("cast_bcq", data, section, 5, "cpu")
    assert isinstance(L, CASTBCQ) and L.seeds == [5] and L.n_members == 3 and L.central_obs_dim == 6 + 2 * 2
    L.update(L.sample_batch(L.prepare_data(data.to_torch())))
    E = 4
    obs = np.random.default_rng(1).normal(size=(1, E, 3, 5)).astype(np.float32)
    state = L.gen.get_state()
    act = L.policy()(obs)
    assert act.shape == (1, E, 3, 2) and np.all(np.abs(act) <= 1)
    assert np.all(act[:, :, 1, 1] == 0) and np.all(act[:, :, 0] != 0)  # agent 1 has 1 action dim
    assert np.array_equal(act, L.policy()(obs)) and torch.equal(L.gen.get_state(), state)
    with pytest.raises(ValueError, match="state"):
        build_learner("cast_bcq", _toy_dataset(with_state=False), section, 5, "cpu")
    with pytest.raises(ValueError, match="not implemented yet"):
        build_learner("cast_bcq", data, {**section, "central": "joint"}, 5, "cpu")


def test_nan_guard_names_loss_and_step():
    assert_nan_guard(learner(dtype=torch.float32), random_data(dtype=torch.float32), "central_loss")
