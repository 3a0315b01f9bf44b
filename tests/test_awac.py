"""Batched AWAC (common/algos/awac.py): the target, critic loss, advantage weights and actor loss on hand-computed
cases (fixed policy, fake critics, literal noise), the log-std clamp (and rlkit's sigmoid form), weight decay on
the policy only, the batched learner against each member trained alone, learning on a one-step bandit, OTC's
q1 / value (spec C11), checkpoint -> resume, validate(), the registry and the evaluation protocol."""

import math

import numpy as np
import pytest
import torch

import common.algos.awac  # noqa: F401  (registers "awac")
from common.algos import LEARNERS, build_learner
from common.algos.awac import AWAC, awac_actor_loss, awac_target, awac_weights
from common.algos.awac_config import AWACConfig
from common.algos.awac_policy import StateFreeGaussianActor, gaussian_log_prob
from common.running.evaluate import evaluate
from learner_checks import (
    assert_nan_guard,
    assert_resume_identical,
    assert_same_policy,
    team_data,
    toy_dataset,
)

F64 = torch.float64
C = math.log(2.0) - 0.5 * math.log(2.0 * math.pi)  # log N(x; mu, 0.5^2) at x = mu


def tiny(**kw):
    return AWACConfig(**{"hidden": (8, 8), "batch_size": 16, **kw})


def fixed_learner(**kw):
    """One member, O = A = 1, the policy fixed to N(0.2, 0.5^2) whatever the obs (zeroed mean-head weights)."""
    L = AWAC([1], [1], 1, tiny(hidden=(4,), **kw), dtype=F64)
    with torch.no_grad():
        L.actor.net.layers[-1].weight.zero_()
        L.actor.net.layers[-1].bias.fill_(0.2)
        L.actor.log_std_raw.fill_(math.log(0.5))
    return L


class LinearTwin(torch.nn.Module):
    """Q1 = 3 a + o, Q2 = a + 1 (sums over dims); records the actions it sees."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, o, a):
        self.seen.append(a.detach().clone())
        s = a.sum(-1, keepdim=True)
        return 3 * s + o.sum(-1, keepdim=True), s + 1

    def q1(self, o, a):
        return self(o, a)[0]


class ConstTwin(torch.nn.Module):
    """Q1(o, a) = q1, Q2(o, a) = q2 for the batch's rows, whatever the inputs."""

    def __init__(self, q1, q2):
        super().__init__()
        self.v1, self.v2 = torch.tensor(q1, dtype=F64), torch.tensor(q2, dtype=F64)

    def forward(self, o, a):
        return self.v1.view(1, -1, 1), self.v2.view(1, -1, 1)


def random_data(seed=0, t=200, n=1, o=3, a=2, dtype=F64):
    d = team_data(t, n, o, a, seed=seed, dtype=dtype)
    d["timeouts"][-1] = 1
    return d


# ---- named losses on hand-computed cases ------------------------------------------------------------------


def test_target_and_critic_loss_by_hand_timeouts_bootstrap():
    """Rows: plain, terminal, time-out. a' = 0.2 + 0.5 eps' = 0.7, -0.8, 0.2; min(3a' + o', a' + 1) = 1.7, -2.1, 0.4."""
    L = fixed_learner()
    d = dict(dtype=F64)
    tensors = {
        "obs": torch.zeros(3, 1, 1, **d),
        "actions": torch.zeros(3, 1, 1, **d),
        "rewards": torch.tensor([[1.0], [0.5], [2.0]], **d),
        "next_obs": torch.tensor([[[0.1]], [[0.3]], [[-0.2]]], **d),
        "terminals": torch.tensor([0.0, 1.0, 0.0], **d),
        "timeouts": torch.tensor([0.0, 0.0, 1.0], **d),
    }
    data = L.prepare_data(tensors)
    assert "timeouts" not in data  # only terminals stop the bootstrap (as BCQ)
    batch = L.batch_at(data, torch.tensor([[0, 1, 2]]))
    eps = torch.tensor([[[1.0], [-2.0], [0.0]]], dtype=F64)
    L.critic_target = fake = LinearTwin()
    y = L.target_value(batch, eps)
    assert fake.seen[0].flatten().tolist() == pytest.approx([0.7, -0.8, 0.2], abs=1e-12)
    assert y.tolist() == [[pytest.approx(1.0 + 0.99 * 1.7), 0.5, pytest.approx(2.0 + 0.99 * 0.4)]]
    L.critic = ConstTwin([2.0, 1.0, 2.0], [3.0, 0.0, 2.5])
    loss, q_data, _ = L.critic_loss(batch, eps)
    y0, y2 = 2.683, 2.396
    expected = ((2 - y0) ** 2 + (1 - 0.5) ** 2 + (2 - y2) ** 2) / 3 + (
        (3 - y0) ** 2 + (0 - 0.5) ** 2 + (2.5 - y2) ** 2
    ) / 3
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert q_data.tolist() == [[2.0, 0.0, 2.0]] and not q_data.requires_grad
    # the named target alone: min of the two heads, (1 - d)
    y = awac_target(
        torch.tensor([[1.0, 1.0]]),
        torch.tensor([[0.0, 1.0]]),
        torch.tensor([[4.0, 4.0]]),
        torch.tensor([[2.0, 9.0]]),
        0.5,
    )
    assert y.tolist() == [[2.0, 1.0]]


def test_weights_are_a_softmax_over_the_batch_per_member():
    adv = torch.tensor([[0.0, math.log(2.0), math.log(3.0)], [5.0, 5.0, 5.0]], requires_grad=True)
    w = awac_weights(adv, torch.zeros(2, 3), 1.0)
    assert w[0].tolist() == pytest.approx([1 / 6, 2 / 6, 3 / 6]) and w[1].tolist() == pytest.approx(
        [1 / 3] * 3
    )
    assert not w.requires_grad
    w = awac_weights(adv, torch.zeros(2, 3), 0.5)  # lambda 0.5 squares the ratios
    assert w[0].tolist() == pytest.approx([1 / 14, 4 / 14, 9 / 14])
    w = awac_weights(torch.tensor([[3.0, 1.0]]), torch.tensor([[1.0, 1.0]]), 1.0)  # A = Q(o, a) - Q(o, a~)
    assert w[0].tolist() == pytest.approx([math.e**2 / (math.e**2 + 1), 1 / (math.e**2 + 1)])
    assert awac_actor_loss(torch.tensor([[-1.0, -2.0]]), torch.tensor([[0.25, 0.75]])).tolist() == [1.75]


@pytest.mark.parametrize("lam", [1.0, 2.0])
def test_actor_loss_by_hand(lam):
    """pi = N(0.2, 0.5^2); data a = 0.2, 0.7, -0.3 (z = 0, 1, -1); a~ = 0.2 + 0.5 eps~ = 0.2, -0.3, 0.7;
    min(3a, a + 1) at o = 0: Q(o, a) = 0.6, 1.7, -0.9 and Q(o, a~) = 0.6, -0.9, 1.7 -> A = 0, 2.6, -2.6."""
    L = fixed_learner(lam=lam)
    L.critic = LinearTwin()
    batch = {
        "obs": torch.zeros(1, 3, 1, dtype=F64),
        "actions": torch.tensor([[[0.2], [0.7], [-0.3]]], dtype=F64),
    }
    eps = torch.tensor([[[0.0], [-1.0], [1.0]]], dtype=F64)
    loss, w, info = L.actor_loss(batch, eps)
    e = [math.exp(x / lam) for x in (0.0, 2.6, -2.6)]
    w_exp = [x / sum(e) for x in e]
    assert w[0].tolist() == pytest.approx(w_exp, abs=1e-12)
    logp = [C, C - 0.5, C - 0.5]
    assert loss.item() == pytest.approx(-sum(wi * lp for wi, lp in zip(w_exp, logp)), abs=1e-12)
    assert info["adv"].item() == pytest.approx(0.0, abs=1e-12)
    # given Q(o, a) (as update() passes critic_loss's), the same numbers
    loss2, _, _ = L.actor_loss(batch, eps, q_data=torch.tensor([[0.6, 1.7, -0.9]], dtype=F64))
    assert loss2.item() == pytest.approx(loss.item(), abs=1e-12)
    # the gradient reaches the policy only
    loss.sum().backward()
    assert L.actor.net.layers[-1].bias.grad is not None and L.actor.log_std_raw.grad is not None


def test_gaussian_log_prob_by_hand_and_padded_dims():
    mean, log_std = torch.tensor([[[0.0, 1.0]]]), torch.tensor([[[math.log(0.5), 0.0]]])
    x = torch.tensor([[[0.5, 3.0]]])
    lp0, lp1 = -0.5 - math.log(0.5) - 0.5 * math.log(2 * math.pi), -2.0 - 0.5 * math.log(2 * math.pi)
    assert gaussian_log_prob(mean, log_std, x).item() == pytest.approx(lp0 + lp1)
    assert gaussian_log_prob(mean, log_std, x, torch.tensor([1.0, 0.0])).item() == pytest.approx(lp0)


# ---- the policy head ---------------------------------------------------------------------------------------


def test_log_std_is_clamped_to_bounds():
    actor = StateFreeGaussianActor(1, 2, 3, hidden=(4,)).double()
    assert actor.log_std().tolist() == [[-3.0, -3.0, -3.0]]  # rlkit's start: the middle of [-6, 0]
    with torch.no_grad():
        actor.log_std_raw.copy_(torch.tensor([[-10.0, -3.0, 3.0]]))
    assert actor.log_std().tolist() == [[-6.0, -3.0, 0.0]]
    obs, act = torch.zeros(1, 1, 2, dtype=F64), torch.zeros(1, 1, 3, dtype=F64)
    mean, log_std = actor(obs)
    assert log_std.shape == (1, 1, 3) and log_std.flatten().tolist() == [-6.0, -3.0, 0.0]
    x = mean + torch.tensor([1e-3, 0.0, 2.0], dtype=F64)  # z = 1e-3 / e^-6, 0, 2
    lp = gaussian_log_prob(mean, log_std, x).item()
    z0 = 1e-3 / math.exp(-6.0)
    assert lp == pytest.approx(-0.5 * z0**2 + 6.0 + 3.0 - 2.0 - 3 * 0.5 * math.log(2 * math.pi), abs=1e-9)
    # beyond a bound the clamp passes no gradient; inside it does
    gaussian_log_prob(*actor(obs), act).sum().backward()
    g = actor.log_std_raw.grad[0]
    assert g[0].item() == 0.0 and g[2].item() == 0.0 and g[1].item() != 0.0
    # the learner's samples use the clamped sigma
    L = fixed_learner()
    with torch.no_grad():
        L.actor.log_std_raw.fill_(5.0)
    a = L.sample(torch.zeros(1, 1, 1, dtype=F64), torch.ones(1, 1, 1, dtype=F64))
    assert a.item() == pytest.approx(0.2 + 1.0)  # sigma = e^0


def test_rlkit_forms_sigmoid_log_std_and_tanh_mean():
    actor = StateFreeGaussianActor(
        2, 2, 2, hidden=(4,), log_std_param="sigmoid", mean_tanh=True, max_action=0.1
    )
    assert torch.equal(actor.log_std_raw, torch.zeros(2, 2))  # rlkit: logits 0 -> log sigma -3
    assert actor.log_std().flatten().tolist() == pytest.approx([-3.0] * 4)
    with torch.no_grad():
        actor.log_std_raw.copy_(torch.tensor([[-50.0, 50.0], [0.0, math.log(2.0)]]))
        actor.net.layers[-1].weight.mul_(1e4)
    ls = actor.log_std().tolist()
    assert ls[0] == pytest.approx([-6.0, 0.0]) and ls[1] == pytest.approx([-3.0, -6.0 + 6.0 * 2 / 3])
    mean = actor.mean(torch.randn(2, 50, 2) * 10)
    assert mean.abs().max() <= 0.1 and mean.abs().max() > 0.09
    off = StateFreeGaussianActor(1, 2, 2, hidden=(4,), log_std_init=-1.0, log_std_param="sigmoid")
    assert off.log_std().tolist() == [pytest.approx([-1.0, -1.0])]


# ---- optimisers ------------------------------------------------------------------------------------------


def test_weight_decay_on_the_policy_only():
    L = AWAC([3], [2], 1, tiny(), dtype=F64)
    (ga,), (gc,) = L.actor_opt.param_groups, L.critic_opt.param_groups
    assert ga["weight_decay"] == 1e-4 and gc["weight_decay"] == 0
    assert {id(p) for p in ga["params"]} == {id(p) for p in L.actor.parameters()}  # log sigma included
    assert any(p is L.actor.log_std_raw for p in ga["params"])
    assert {id(p) for p in gc["params"]} == {id(p) for p in L.critic.parameters()}
    # behaviour: a huge decay shrinks the policy's weights and leaves the critic's update untouched
    data = L.prepare_data(random_data())
    runs = {}
    for wd in (0.0, 10.0):
        M = AWAC([3], [2], 1, tiny(policy_weight_decay=wd), dtype=F64)
        g = torch.Generator().manual_seed(1)
        batch = M.sample_batch(data, generator=g)
        before = M.actor.net.layers[0].weight.detach().clone()
        M.update(batch, M.draw_noise(16, generator=g))
        runs[wd] = (M, (M.actor.net.layers[0].weight.abs() < before.abs()).double().mean().item())
    (m0, shrunk0), (m1, shrunk1) = runs[0.0], runs[10.0]
    assert shrunk1 > 0.95 and shrunk0 < 0.8
    for net in ("critic", "critic_target"):
        for a, b in zip(getattr(m0, net).parameters(), getattr(m1, net).parameters()):
            assert torch.equal(a, b)


# ---- the batched learner against each member alone ---------------------------------------------------------


def test_batched_equals_each_member_trained_alone():
    """float64: 3 updates of M = 2 members (seeds 7, 8) in one learner == 2 one-member learners with the same
    seeds, each given its own rows of the same minibatches and noise."""
    cfg = tiny(actor_lr=1e-2, critic_lr=1e-2)
    big = AWAC([3], [2], 2, cfg, seeds=[7, 8], dtype=F64)
    solo = [AWAC([3], [2], 1, cfg, seeds=[s], dtype=F64) for s in (7, 8)]
    nets = ("actor", "critic", "critic_target")

    def member(L, m):
        return {f"{n}.{k}": v[m].clone() for n in nets for k, v in getattr(L, n).state_dict().items()}

    for m in range(2):  # seed s's members are built from seeds[s] alone
        assert all(torch.equal(v, member(solo[m], 0)[k]) for k, v in member(big, m).items())
    init = member(big, 0)
    data = big.prepare_data(random_data())
    for _ in range(3):
        batch = big.sample_batch(data)
        noise = big.draw_noise(cfg.batch_size)
        big.update(batch, noise)
        for m, L in enumerate(solo):
            L.update({k: v[m : m + 1] for k, v in batch.items()}, {k: v[m : m + 1] for k, v in noise.items()})
    for m, L in enumerate(solo):
        got, ref = member(big, m), member(L, 0)
        assert max((got[k] - ref[k]).abs().max().item() for k in got) < 1e-12
        for opt in ("actor_opt", "critic_opt"):
            sb, sl = getattr(big, opt).state_dict()["state"], getattr(L, opt).state_dict()["state"]
            assert all(
                torch.allclose(sb[i]["exp_avg_sq"][m], sl[i]["exp_avg_sq"][0], rtol=0, atol=1e-15) for i in sb
            )
    assert max((member(big, 0)[k] - init[k]).abs().max().item() for k in init) > 1e-2  # it moved


class RefMember:
    """Member m as rlkit's ``AWACTrainer.train_from_torch`` (alpha 0, awr_min_q, normalize_over_batch, vf_K 1):
    plain torch modules in the [B, .] layout, torch.distributions.Normal, one Adam per network (the policy's with
    weight decay), all losses from the parameters before the steps, then qf1, qf2, policy steps, soft update."""

    def __init__(self, L: AWAC, m: int):
        c = L.cfg
        self.mu = L.actor.net.member_module(m)
        self.log_std_raw = torch.nn.Parameter(L.actor.log_std_raw[m].detach().clone())
        self.q1, self.q2 = L.critic.head1.member_module(m), L.critic.head2.member_module(m)
        self.q1_t, self.q2_t = L.critic_target.head1.member_module(m), L.critic_target.head2.member_module(m)
        self.pi_opt = torch.optim.Adam(
            [*self.mu.parameters(), self.log_std_raw], lr=c.actor_lr, weight_decay=c.policy_weight_decay
        )
        self.q1_opt = torch.optim.Adam(self.q1.parameters(), lr=c.critic_lr)
        self.q2_opt = torch.optim.Adam(self.q2.parameters(), lr=c.critic_lr)
        self.c = c

    def update(self, b, eps_next, eps_pi):
        o, a, r, o2 = b["obs"], b["actions"], b["rewards"][:, None], b["next_obs"]
        d = b["terminals"][:, None]
        std = self.log_std_raw.clamp(-6.0, 0.0).exp()
        dist = torch.distributions.Normal(self.mu(o), std)
        new_obs_actions = dist.mean + std * eps_pi
        q1_pred, q2_pred = self.q1(torch.cat([o, a], 1)), self.q2(torch.cat([o, a], 1))
        new_next = self.mu(o2) + std * eps_next
        x2 = torch.cat([o2, new_next], 1)
        q_target = r + (1.0 - d) * self.c.gamma * torch.min(self.q1_t(x2), self.q2_t(x2))
        qf1_loss = torch.nn.functional.mse_loss(q1_pred, q_target.detach())
        qf2_loss = torch.nn.functional.mse_loss(q2_pred, q_target.detach())
        xn = torch.cat([o, new_obs_actions], 1)
        v_pi = torch.min(self.q1(xn), self.q2(xn))
        score = torch.min(q1_pred, q2_pred) - v_pi
        weights = torch.softmax(score / self.c.lam, dim=0)[:, 0]
        policy_logpp = dist.log_prob(a).sum(-1)
        policy_loss = (-policy_logpp * len(weights) * weights.detach()).mean()
        for opt, loss in ((self.q1_opt, qf1_loss), (self.q2_opt, qf2_loss), (self.pi_opt, policy_loss)):
            opt.zero_grad()
            loss.backward(retain_graph=True)
            opt.step()
        with torch.no_grad():
            for net, tgt in ((self.q1, self.q1_t), (self.q2, self.q2_t)):
                for p, tp in zip(net.parameters(), tgt.parameters()):
                    tp.copy_(self.c.tau * p + (1 - self.c.tau) * tp)

    def tensors(self):
        return [n.state_dict() for n in (self.mu, self.q1, self.q2, self.q1_t, self.q2_t)] + [
            {"log_std": self.log_std_raw.detach()}
        ]


def test_update_equals_an_rlkit_style_reference_per_member():
    cfg = tiny(actor_lr=1e-2, critic_lr=1e-2, tau=0.1, lam=0.5)
    L = AWAC([3], [2], 2, cfg, seeds=[3, 4], dtype=F64)
    refs = [RefMember(L, m) for m in range(2)]
    data = L.prepare_data(random_data())
    for _ in range(3):
        batch, noise = L.sample_batch(data), L.draw_noise(cfg.batch_size)
        assert batch["terminals"].sum() > 0
        L.update(batch, noise)
        for m, ref in enumerate(refs):
            ref.update({k: v[m] for k, v in batch.items()}, noise["next"][m], noise["pi"][m])
    for m, ref in enumerate(refs):
        ours = [
            n.member_module(m).state_dict()
            for n in (
                L.actor.net,
                L.critic.head1,
                L.critic.head2,
                L.critic_target.head1,
                L.critic_target.head2,
            )
        ]
        ours.append({"log_std": L.actor.log_std_raw[m].detach()})
        for a, b in zip(ours, ref.tensors(), strict=True):
            assert a.keys() == b.keys()
            assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-10, m


def test_polyak_step_moves_the_critic_target_by_tau():
    L = AWAC([3], [2], 1, tiny(tau=0.25), dtype=F64)
    data = L.prepare_data(random_data())
    L.update(L.sample_batch(data))  # the target now lags the critic
    old = [p.detach().clone() for p in L.critic_target.parameters()]
    L.update(L.sample_batch(data))
    for o, t, c in zip(old, L.critic_target.parameters(), L.critic.parameters()):
        torch.testing.assert_close(t, 0.75 * o + 0.25 * c, rtol=0, atol=1e-12)
    assert not hasattr(L, "actor_target")  # AWAC has no target policy: a' ~ the current pi


def test_each_member_reads_its_own_agent_column_and_rows():
    data = random_data(n=2)
    L = AWAC([3, 3], [2, 2], 2, tiny(), seeds=[0, 1], dtype=F64)
    prep = L.prepare_data(data)
    idx = torch.arange(16).repeat(4, 1) + torch.arange(4)[:, None] * 10  # [M, B]
    b = L.batch_at(prep, idx)
    for m in range(4):  # m = s * N + i
        i = m % 2
        assert torch.equal(b["obs"][m], data["obs"][idx[m], i])
        assert torch.equal(b["actions"][m], data["actions"][idx[m], i])
        assert torch.equal(b["rewards"][m], data["rewards"][idx[m], i])
    s = L.sample_batch(prep)
    assert s["obs"].shape == (4, 16, 3) and not torch.equal(s["obs"][0], s["obs"][1])


# ---- learning sanity ---------------------------------------------------------------------------------------


def bandit_data(t=300):
    """One-step bandit (every row terminal), constant obs; dataset actions -0.8, 0, 0.6 equally often with
    rewards 0, 5, 10. Behaviour cloning's mean is ~ -0.07; AWAC's fixed point (lambda 1) is
    sum a e^r / sum e^r ~ 0.596."""
    g = torch.Generator().manual_seed(0)
    k = torch.randint(0, 3, (t,), generator=g)
    return {
        "obs": torch.zeros(t, 1, 1),
        "actions": torch.tensor([-0.8, 0.0, 0.6])[k][:, None, None],
        "rewards": torch.tensor([0.0, 5.0, 10.0])[k][:, None],
        "next_obs": torch.zeros(t, 1, 1),
        "terminals": torch.ones(t),
        "timeouts": torch.zeros(t),
    }


def test_learns_to_prefer_the_best_dataset_action_on_a_bandit():
    acts = torch.tensor([-0.8, 0.0, 0.6]).view(1, 3, 1)
    means = {}
    for lam in (1.0, 100.0):  # lambda -> infinity is behaviour cloning
        L = AWAC(
            [1],
            [1],
            1,
            AWACConfig(hidden=(16, 16), batch_size=64, actor_lr=3e-3, critic_lr=1e-2, lam=lam),
            seed=0,
        )
        data = L.prepare_data(bandit_data())
        for _ in range(200):
            L.update(L.sample_batch(data))
        means[lam] = L.act(np.zeros((1, 1, 1, 1), np.float32)).item()
        q = L.q1(torch.zeros(1, 3, 1), acts).flatten().tolist()
        assert q == pytest.approx([0.0, 5.0, 10.0], abs=0.5)  # Q = r: terminal rows never bootstrap
    assert means[1.0] == pytest.approx(0.596, abs=0.05)
    assert means[100.0] == pytest.approx(-0.05, abs=0.1)


# ---- OTC's q1 and value (spec C11) ---------------------------------------------------------------------------


def test_q1_and_value_mean_of_q1_over_10_policy_samples():
    L = fixed_learner()
    L.critic = fake = LinearTwin()
    obs = torch.tensor([[[0.1], [0.4]]], dtype=F64)  # [M, B, O]
    assert L.q1(obs, torch.tensor([[[1.0], [-1.0]]], dtype=F64)).tolist() == [[3.1, -2.6]]
    v = L.value(obs, generator=torch.Generator().manual_seed(3))
    (a,) = fake.seen[1:]
    assert a.shape == (1, 2, 10, 1) and v.shape == (1, 2)
    eps = torch.randn((1, 2, 10, 1), generator=torch.Generator().manual_seed(3), dtype=F64)
    expected = (3 * (0.2 + 0.5 * eps[..., 0]) + obs).mean(-1)  # Q1 = 3 a + o
    torch.testing.assert_close(v, expected, rtol=0, atol=1e-12)
    state = L.gen.get_state()
    L.value(obs, n=4)  # default: the training stream
    assert not torch.equal(L.gen.get_state(), state) and fake.seen[-1].shape == (1, 2, 4, 1)


# ---- checkpoints, config, NaN guard ------------------------------------------------------------------------


def test_checkpoint_resume_identical(tmp_path):
    L, R, sl = assert_resume_identical(
        lambda: AWAC([3, 3], [2, 2], 2, tiny()),
        random_data(n=2, dtype=torch.float32),
        tmp_path,
        AWAC._MODULES,
    )
    assert_same_policy(L, R, np.random.default_rng(1).normal(size=(2, 3, 2, 3)))
    with pytest.raises(ValueError, match="actor_lr"):
        AWAC([3, 3], [2, 2], 2, tiny(actor_lr=2e-3)).load_state_dict(sl)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(view="central"), r"view='central' is not allowed; choose one of \['independent'\]"),
        (
            dict(log_std_param="tanh"),
            r"log_std_param='tanh' is not allowed; choose one of \['clamp', 'sigmoid'\]",
        ),
        (dict(hidden=(0, 3)), r"hidden=\(0, 3\) is not allowed; choose "),
        (dict(hidden=256), r"hidden=256 is not allowed; choose "),
        (dict(batch_size=0), r"batch_size=0 is not allowed; choose an integer >= 1"),
        (dict(lam=0.0), r"lam=0.0 is not allowed; choose a number > 0"),
        (dict(actor_lr=-1e-4), r"actor_lr=-0.0001 is not allowed; choose "),
        (dict(policy_weight_decay=-1.0), r"policy_weight_decay=-1.0 is not allowed; choose a number >= 0"),
        (dict(gamma=1.5), r"gamma=1.5 is not allowed; choose a number in \[0, 1\]"),
        (dict(tau=0.0), r"tau=0.0 is not allowed; choose a number in \(0, 1\]"),
        (dict(log_std_bounds=(0.0, -6.0)), r"log_std_bounds=\(0.0, -6.0\) is not allowed; choose two"),
        (dict(log_std_init=1.0), r"log_std_init=1.0 must lie inside log_std_bounds"),
        (dict(log_std_param="sigmoid", log_std_init=0.0), r"log_std_init=0.0 must lie strictly inside"),
        (dict(mean_tanh="yes"), r"mean_tanh='yes' is not allowed; choose True or False"),
    ],
)
def test_validate_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        AWACConfig(**kw).validate()


def test_config_defaults_are_otcs_and_json_lists_equal_tuples():
    c = AWACConfig()
    assert (c.hidden, c.actor_lr, c.critic_lr, c.batch_size, c.gamma) == ((256, 256), 1e-4, 5e-4, 128, 0.99)
    assert (c.lam, c.tau, c.policy_weight_decay, c.log_std_bounds) == (1.0, 0.005, 1e-4, (-6.0, 0.0))
    assert AWACConfig(hidden=[256, 256], log_std_bounds=[-6.0, 0.0]) == c


def test_nan_guard_names_loss_and_step():
    assert_nan_guard(AWAC([3], [2], 1, tiny(), dtype=torch.float32), random_data(dtype=torch.float32))


# ---- the registry and the evaluation protocol ----------------------------------------------------------------


def test_registry_builds_awac_and_policy_follows_the_evaluate_protocol():
    assert "awac" in LEARNERS  # common/algos/__init__.py's lazy builder (delegates to build_awac)
    data = toy_dataset()
    L = build_learner("awac", data, dict(hidden=[8, 8], batch_size=8, max_action=0.5), 5, "cpu")
    assert isinstance(L, AWAC) and L.seeds == [5] and L.n_members == 2 and L.cfg.hidden == (8, 8)
    prep = L.prepare_data(data.to_torch())
    L.update(L.sample_batch(prep))
    with torch.no_grad():
        # some means beyond 0.5
        L.actor.net.layers[-1].bias.copy_(torch.tensor([[[2.0, 0.1]], [[-0.3, 7.0]]]))
    E = 3
    obs = np.random.default_rng(1).normal(size=(1, E, 2, 5)).astype(np.float32)
    state = L.gen.get_state()
    act = L.policy()(obs)
    assert act.shape == (1, E, 2, 2) and act.dtype == np.float32 and np.array_equal(act, L.policy()(obs))
    # acting is deterministic and leaves the training stream alone
    assert torch.equal(L.gen.get_state(), state)
    xm = torch.from_numpy(obs).permute(0, 2, 1, 3).reshape(2, E, 5)  # member m = s * N + i
    ref = L.actor.mean(xm).detach().clamp(-0.5, 0.5)
    np.testing.assert_array_equal(act[0, :, 0], ref[0].numpy())
    np.testing.assert_array_equal(act[0, :, 1, 0], ref[1, :, 0].numpy())
    assert np.all(act[0, :, 1, 1] == 0)  # agent 1 has one action dim: the padded one stays 0
    assert np.all(act[0, :, 0, 0] == 0.5)  # the clip engaged
    # sampled actions and log pi leave the padded dim out too
    a = L.sample(xm, torch.ones(2, E, 2))
    assert torch.all(a[1, :, 1] == 0) and torch.all(a[0] != 0)
    junk = torch.zeros(2, E, 2)
    junk[1, :, 1] = 5.0  # a value in agent 1's padded dim changes nothing
    mean, log_std = L.actor(xm)
    lp = L.log_prob(xm, junk).detach()
    real = gaussian_log_prob(mean[1, :, :1], log_std[1, :, :1], junk[1, :, :1]).detach()
    torch.testing.assert_close(lp[1], real, rtol=0, atol=1e-6)
    torch.testing.assert_close(
        lp[0], gaussian_log_prob(mean[0], log_std[0], junk[0]).detach(), rtol=0, atol=1e-6
    )
    with pytest.raises(ValueError, match="obs must be"):
        L.act(obs[:, :, :1])


def test_policy_runs_in_common_evaluate_within_the_env_bounds():
    """OTC navigation (3 agents, obs 14, act 2 in +-0.1): the clipped mean stays within the env's bounds."""
    L = AWAC([14] * 3, [2] * 3, 2, tiny(max_action=0.1), seeds=[0, 1])
    with torch.no_grad():
        L.actor.net.layers[-1].bias.fill_(3.0)
    seen = []

    def policy(obs):
        a = L.policy()(obs)
        seen.append(a)
        return a

    r = evaluate(policy, "otc/navigation", 2, 2, [0, 1])
    assert r.returns.shape == (2, 2) and np.isfinite(r.returns).all()
    a = np.stack(seen)
    assert a.shape[1:] == (2, 2, 3, 2) and np.all(a == 0.1)
