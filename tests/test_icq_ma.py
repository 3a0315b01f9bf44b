"""ICQ-MA (papers/cast_bcq/icq_ma.py): the fixed and the bug_compat target on a hand case (B = 2 rows + 1 terminal,
N = 2) with hand-set network outputs, the batch-softmax weights, the mixer's weights (>= 0, sum 1) and the actor's
log sigma range on hand cases, time-out rows left out of both losses, the batched learner (2 seeds x 2 agents)
against a per-seed loop written with plain modules for 3 updates, checkpoint -> resume, validate(), and the
registry builder with policy() shapes on a small synthetic Dataset with a state."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from common.algos import build_learner
from learner_checks import (
    assert_nan_guard,
    assert_resume_identical,
    assert_same_policy,
    max_diff,
    team_data,
    toy_dataset,
)
from papers.cast_bcq.icq_ma import ICQMA, MEMBER_KEYS
from papers.cast_bcq.icq_ma_config import ICQMAConfig
from papers.cast_bcq.icq_ma_losses import (
    batch_softmax_weights,
    icq_ma_actor_loss,
    icq_ma_critic_loss,
    icq_ma_target,
)
from papers.cast_bcq.icq_ma_nets import GaussianMeanActor, HyperMixer

S, N, O, A, SD, B, T = 2, 2, 5, 2, 6, 32, 200
TINY = dict(hidden_critic=(16, 16), hidden_actor=(16, 16, 16), mixer_embed=4, batch_size=B)
F64 = torch.float64


def random_data(seed=0, dtype=F64, t=T):
    d = team_data(t, N, O, A, seed=seed, dtype=dtype, state_dim=SD)
    d["timeouts"][19::20] = 1.0  # time-outs (no a'_data)
    d["terminals"][19::20] = 0.0
    return d


def learner(dtype=F64, n_seeds=S, seed=3, **kw):
    return ICQMA([O] * N, [A] * N, n_seeds, SD, ICQMAConfig(**{**TINY, **kw}), seed=seed, dtype=dtype)


# ---- hand cases: weights, target, losses ------------------------------------------------------------------


def test_batch_softmax_weights_by_hand():
    x = torch.tensor([0.0, math.log(3.0) * 100], dtype=F64)
    assert batch_softmax_weights(x, 100.0).tolist() == pytest.approx([0.5, 1.5], abs=1e-12)  # B softmax_B
    xm = torch.tensor([0.0, math.log(3.0) * 100, 99.0], dtype=F64)
    w = batch_softmax_weights(xm, 100.0, torch.tensor([1.0, 1.0, 0.0], dtype=F64))
    assert w.tolist() == pytest.approx([0.5, 1.5, 0.0], abs=1e-12)  # masked row: out of the softmax, weight 0
    assert batch_softmax_weights(xm, 1.0, torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]  # nothing counts
    x2 = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]], dtype=F64)  # [B=2, N=2], softmax over dim 0
    assert batch_softmax_weights(x2, 1.0, dim=0).tolist() == [
        pytest.approx([0.5, 1.0]),
        pytest.approx([1.5, 1.0]),
    ]


class _Fixed(nn.Module):
    """A critic (any input -> out [M, B, 1]) or a mixer (``weights`` -> out [S, B, N]) with hand-set outputs."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, x):
        return self.out

    def weights(self, state):
        return self.out


def _hand_case(bug_compat):
    """S = 1, N = 2, B = 3 (row 2 terminal, with a huge Q' that must not move the other rows' softmaxes)."""
    L = ICQMA(
        [1, 1],
        [1, 1],
        1,
        1,
        ICQMAConfig(hidden_critic=(2,), hidden_actor=(2,), mixer_embed=1, bug_compat=bug_compat),
        dtype=F64,
    )
    q_next = torch.tensor([[10.0, 30.0, 1e4], [20.0, -40.0, -1e4]], dtype=F64)  # [M, B]: agent 0, agent 1
    k_next = torch.tensor([[[0.25, 0.75], [0.6, 0.4], [0.5, 0.5]]], dtype=F64)  # [S, B, N]
    L.critic_target, L.mixer_target = _Fixed(q_next[..., None]), _Fixed(k_next)
    z = torch.zeros(2, 3, 1, dtype=F64)
    batch = {
        "next_obs": z,
        "next_actions": z,
        "next_state": torch.zeros(1, 3, 1, dtype=F64),
        "rewards": torch.tensor([[1.0, -2.0, 5.0]], dtype=F64),
        "terminals": torch.tensor([[0.0, 0.0, 1.0]], dtype=F64),
        "next_valid": torch.ones(1, 3, dtype=F64),
    }
    return L.target_value(batch)[0].tolist()


def test_fixed_target_by_hand():
    """w_i = clamp(2 softmax(Q'_i / 100), 0, 1) over the 2 bootstrapping rows; Q'_tot = sum_i k'_i w_i Q'_i;
    y = r + 0.99 * 2 softmax(Q'_tot / 1000) Q'_tot; the terminal row: y = r."""
    w0 = [2 / (1 + math.exp(0.2)), min(1.0, 2 / (1 + math.exp(-0.2)))]  # agent 0: Q' = 10, 30 -> 0.9003, 1
    w1 = [min(1.0, 2 / (1 + math.exp(-0.6))), 2 / (1 + math.exp(0.6))]  # agent 1: Q' = 20, -40 -> 1, 0.7086
    assert w0[1] == 1.0 and w1[0] == 1.0 and 0.70 < w1[1] < 0.71  # the clamp acts on one weight per agent
    qt = [0.25 * w0[0] * 10 + 0.75 * w1[0] * 20, 0.6 * w0[1] * 30 + 0.4 * w1[1] * -40]
    e = [math.exp(q / 1000) for q in qt]
    y = _hand_case(False)
    assert y[0] == pytest.approx(1.0 + 0.99 * 2 * e[0] / sum(e) * qt[0], abs=1e-12)
    assert y[1] == pytest.approx(-2.0 + 0.99 * 2 * e[1] / sum(e) * qt[1], abs=1e-12)
    assert y[2] == 5.0


def test_bug_compat_target_counts_reward_and_gamma_twice():
    """u = sum_i k'_i (r + 0.99 w_i Q'_i) = r + 0.99 Q'_tot; y = r + 0.99 * 2 softmax(u / 1000) u."""
    w0 = [2 / (1 + math.exp(0.2)), 1.0]
    w1 = [1.0, 2 / (1 + math.exp(0.6))]
    qt = [0.25 * w0[0] * 10 + 0.75 * w1[0] * 20, 0.6 * w0[1] * 30 + 0.4 * w1[1] * -40]
    r = [1.0, -2.0]
    u = [r[b] + 0.99 * qt[b] for b in range(2)]
    e = [math.exp(v / 1000) for v in u]
    y = _hand_case(True)
    for b in range(2):
        assert y[b] == pytest.approx(r[b] + 0.99 * (2 * e[b] / sum(e)) * u[b], abs=1e-12)
    assert y[2] == 5.0
    assert all(abs(a - b) > 0.5 for a, b in zip(y[:2], _hand_case(False)[:2]))  # the two targets differ


def test_target_function_without_mask():
    r, d = torch.tensor([[1.0, 2.0]], dtype=F64), torch.zeros(1, 2, dtype=F64)
    q = torch.tensor([[[5.0, 5.0], [5.0, 5.0]]], dtype=F64)  # equal Q': every weight 1
    k = torch.full((1, 2, 2), 0.5, dtype=F64)
    y = icq_ma_target(r, d, q, k, 0.5)
    assert y.tolist() == [[1.0 + 0.5 * 5.0, 2.0 + 0.5 * 5.0]]
    yb = icq_ma_target(r, d, q, k, 0.5, total_temp=1e12, bug_compat=True)  # u differs per row: flat softmax
    assert yb.tolist() == [pytest.approx([1.0 + 0.5 * (1.0 + 2.5), 2.0 + 0.5 * (2.0 + 2.5)], abs=1e-9)]


def test_critic_and_actor_losses_by_hand():
    qt, y = torch.tensor([[1.0, 3.0, 10.0]]), torch.tensor([[2.0, 1.0, 0.0]])
    assert icq_ma_critic_loss(qt, y).tolist() == [pytest.approx((1 + 4 + 100) / 3)]
    assert icq_ma_critic_loss(qt, y, torch.tensor([[1.0, 1.0, 0.0]])).tolist() == [pytest.approx((1 + 4) / 2)]
    logp, k = torch.tensor([[-1.0, -2.0]], dtype=F64), torch.tensor([[0.25, 0.5]], dtype=F64)
    adv = torch.tensor([[0.0, 100 * math.log(3.0)]], dtype=F64)  # weights 0.5, 1.5
    loss = icq_ma_actor_loss(logp, k, adv, 100.0)
    assert loss.item() == pytest.approx(-(0.25 * 0.5 * -1.0 + 0.5 * 1.5 * -2.0) / 2, abs=1e-12)
    logp3, k3 = torch.cat([logp, logp[:, :1]], 1), torch.cat([k, k[:, :1]], 1)
    adv3 = torch.cat([adv, torch.tensor([[1e3]], dtype=F64)], 1)
    masked = icq_ma_actor_loss(logp3, k3, adv3, 100.0, torch.tensor([[1.0, 1.0, 0.0]], dtype=F64))
    assert masked.item() == pytest.approx(loss.item(), abs=1e-12)


# ---- networks -------------------------------------------------------------------------------------------


def test_mixer_weights_nonnegative_sum_to_one_and_hand_case():
    torch.manual_seed(0)
    mix = HyperMixer(3, 4, 5, embed=8).double()
    st = torch.randn(3, 50, 4, dtype=F64) * 3
    k = mix.weights(st)
    assert k.shape == (3, 50, 5) and (k >= 0).all()
    torch.testing.assert_close(k.sum(-1), torch.ones(3, 50, dtype=F64), rtol=0, atol=1e-12)
    assert (mix.hyper_w1.weight < 0).any()  # negative hypernetwork outputs occur and are made |.|
    q = torch.randn(3, 50, 5, dtype=F64)
    torch.testing.assert_close(mix(q, st), (k * q).sum(-1))
    # hand case: zero hyper weights, biases b1 = [1, -2, 3, 0] (W1 = |[[1, -2], [3, 0]]|), bf = [-1, 2]
    m2 = HyperMixer(1, 1, 2, embed=2).double()
    with torch.no_grad():
        m2.hyper_w1.weight.zero_()
        m2.hyper_wf.weight.zero_()
        m2.hyper_w1.bias.copy_(torch.tensor([[[1.0, -2.0, 3.0, 0.0]]]))
        m2.hyper_wf.bias.copy_(torch.tensor([[[-1.0, 2.0]]]))
    assert m2.weights(torch.zeros(1, 1, 1, dtype=F64)).flatten().tolist() == [5 / 8, 3 / 8]  # (1+4, 3+0) / 8


def test_log_std_within_bounds_and_log_prob_by_hand():
    actor = GaussianMeanActor(2, 3, 4, hidden=(8,)).double()
    assert actor.log_std().flatten().tolist() == [-3.0] * 8  # init: l = 0
    with torch.no_grad():
        actor.log_std_logit.copy_(torch.tensor([-1e4, -2.0, 2.0, 1e4] * 2, dtype=F64).view(2, 1, 4))
    ls = actor.log_std()
    assert ls.min().item() == -6.0 and ls.max().item() == 0.0 and ((ls >= -6) & (ls <= 0)).all()
    for _ in range(3):
        with torch.no_grad():
            actor.log_std_logit.normal_(0, 50)
        assert ((actor.log_std() >= -6) & (actor.log_std() <= 0)).all()
    with torch.no_grad():  # mean = tanh(b) whatever the obs, log sigma = -6 + 6 sigmoid(l)
        actor.net.layers[-1].weight.zero_()
        actor.net.layers[-1].bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=F64).expand(2, 1, 4))
        actor.log_std_logit.copy_(torch.tensor([0.0, 1.0, -1.0, 0.5], dtype=F64).expand(2, 1, 4))
    obs, act = torch.randn(2, 5, 3, dtype=F64), torch.rand(2, 5, 4, dtype=F64) * 2 - 1
    mean = torch.tanh(torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=F64))
    std = torch.exp(-6 + 6 * torch.sigmoid(torch.tensor([0.0, 1.0, -1.0, 0.5], dtype=F64)))
    ref = torch.distributions.Normal(mean, std).log_prob(act)  # [2, 5, 4]
    torch.testing.assert_close(actor.log_prob(obs, act), ref.sum(-1), rtol=0, atol=1e-10)
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0], dtype=F64).view(1, 1, 4)
    torch.testing.assert_close(actor.log_prob(obs, act, mask), (ref * mask).sum(-1), rtol=0, atol=1e-10)


# ---- time-out rows, batches -----------------------------------------------------------------------------------


def test_time_out_rows_have_weight_zero_in_both_losses():
    """A time-out row (next_valid = 0) changes neither loss, whatever its reward and a'_data: both losses equal
    those of the same batch without that row. A valid row's reward does change them."""
    data = random_data()
    L = learner()
    prep = L.prepare_data(data)
    assert prep["next_valid"][19].item() == 0.0 and prep["next_actions"][19].abs().sum().item() == 0.0
    assert prep["next_valid"].sum().item() == T - T // 20
    batch = L.sample_batch(prep)
    j = 5
    for k in ("rewards", "next_valid", "terminals"):
        batch[k][:, j] = torch.tensor(
            [0.3, 1.0, 0.0][("rewards", "next_valid", "terminals").index(k)], dtype=F64
        )
    keep = [b for b in range(B) if b != j]
    rest = {k: v[:, keep] for k, v in batch.items()}
    ref_c, ref_a = L.critic_loss(rest)[0], L.actor_loss(rest)
    batch["next_valid"][:, j] = 0.0  # row j becomes a time-out
    for r in (0.3, 1e3):
        batch["rewards"][:, j] = r
        batch["next_actions"][:, j] = r
        torch.testing.assert_close(L.critic_loss(batch)[0], ref_c, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(L.actor_loss(batch), ref_a, rtol=1e-12, atol=1e-12)
    batch["next_valid"][:, j] = 1.0
    assert not torch.allclose(L.critic_loss(batch)[0], ref_c)
    assert not torch.allclose(L.actor_loss(batch), ref_a)


def test_one_row_set_per_seed_shared_by_its_agents():
    data = random_data()
    data["obs"][:, :, 0] = torch.arange(T, dtype=F64)[:, None]  # the row index, in both agents' obs
    data["state"][:, 0] = torch.arange(T, dtype=F64)
    L = learner()
    b = L.sample_batch(L.prepare_data(data))
    rows = b["obs"][..., 0]  # [M, B]
    assert (
        torch.equal(rows[0], rows[1]) and torch.equal(rows[2], rows[3]) and not torch.equal(rows[0], rows[2])
    )
    assert torch.equal(b["state"][:, :, 0], rows[::N])
    torch.testing.assert_close(b["rewards"][0], data["rewards"][rows[0].long()].mean(-1))  # team reward
    assert (
        b["obs"].shape == (S * N, B, O) and b["state"].shape == (S, B, SD) and b["next_valid"].shape == (S, B)
    )


# ---- the batched learner against a per-seed loop ---------------------------------------------------------------


def _bsoft(x, temp, rows):
    """n softmax_n(x / temp) over the rows set in ``rows`` (by index selection), 0 elsewhere."""
    out = torch.zeros_like(x)
    idx = torch.nonzero(rows).squeeze(1)
    out[idx] = len(idx) * F.softmax(x[idx] / temp, dim=0)
    return out


class RefSeed:
    """Seed s of an ICQMA learner as the code's per-seed loop: plain modules per agent in the [B, .] layout, a
    QMIX-style mixer with bmm, one Adam over the critics + mixer (clipped together at 20) and one over the
    actors; torch.distributions.Normal for log pi."""

    def __init__(self, L: ICQMA, s: int):
        self.cfg, self.s, self.N, self.E = L.cfg, s, L.n_agents, L.cfg.mixer_embed
        ms = [s * self.N + i for i in range(self.N)]
        self.q = [L.critic.member_module(m) for m in ms]
        self.qt = [L.critic_target.member_module(m) for m in ms]
        self.pi = [L.actor.net.member_module(m) for m in ms]
        self.logit = [nn.Parameter(L.actor.log_std_logit[m, 0].detach().clone()) for m in ms]
        self.w1, self.wf = L.mixer.hyper_w1.member_module(s), L.mixer.hyper_wf.member_module(s)
        self.w1t, self.wft = (
            L.mixer_target.hyper_w1.member_module(s),
            L.mixer_target.hyper_wf.member_module(s),
        )
        self.critic_params = [p for net in [*self.q, self.w1, self.wf] for p in net.parameters()]
        self.copt = torch.optim.Adam(self.critic_params, lr=self.cfg.lr)
        self.aopt = torch.optim.Adam(
            [*(p for net in self.pi for p in net.parameters()), *self.logit], lr=self.cfg.lr
        )

    def k(self, w1, wf, st):
        Bn = st.shape[0]
        k = torch.bmm(w1(st).abs().view(Bn, self.N, self.E), wf(st).abs().view(Bn, self.E, 1)).squeeze(-1)
        return k / k.sum(1, keepdim=True)  # [B, N]

    def update(self, b):
        cfg, N, g = self.cfg, self.N, self.cfg.gamma
        o, a, o2, a2 = (b[k] for k in ("obs", "actions", "next_obs", "next_actions"))  # [N, B, .]
        # [B(, SD)]
        r, d, v, st, st2 = (b[k] for k in ("rewards", "terminals", "next_valid", "state", "next_state"))
        boot, valid = (v * (1 - d)) > 0.5, v > 0.5
        with torch.no_grad():
            qn = [self.qt[i](torch.cat([o2[i], a2[i]], 1)).squeeze(-1) for i in range(N)]
            w = [_bsoft(qn[i], cfg.agent_temp, boot).clamp(0, 1) for i in range(N)]
            kn = self.k(self.w1t, self.wft, st2)
            if cfg.bug_compat:
                u = sum(kn[:, i] * (r + g * (1 - d) * w[i] * qn[i]) for i in range(N))
            else:
                u = sum(kn[:, i] * w[i] * qn[i] for i in range(N))
            y = r + g * (1 - d) * _bsoft(u, cfg.total_temp, boot) * u
        q = [self.q[i](torch.cat([o[i], a[i]], 1)).squeeze(-1) for i in range(N)]
        k = self.k(self.w1, self.wf, st)
        q_tot = sum(k[:, i] * q[i] for i in range(N))
        closs = ((q_tot - y) ** 2 * v).sum() / v.sum().clamp(min=1)
        self.copt.zero_grad()
        closs.backward()
        torch.nn.utils.clip_grad_norm_(self.critic_params, cfg.grad_clip)
        self.copt.step()
        aloss = 0.0
        with torch.no_grad():
            k = self.k(self.w1, self.wf, st)
        for i in range(N):
            with torch.no_grad():
                adv = (
                    r
                    + g * (1 - d) * self.q[i](torch.cat([o2[i], a2[i]], 1)).squeeze(-1)
                    - self.q[i](torch.cat([o[i], a[i]], 1)).squeeze(-1)
                )
                wa = _bsoft(adv, cfg.actor_temp, valid)
            std = torch.exp(-6 + 6 * torch.sigmoid(self.logit[i]))
            logp = torch.distributions.Normal(self.pi[i](o[i]), std).log_prob(a[i]).sum(-1)
            aloss = aloss - (k[:, i] * wa * logp * v).sum() / v.sum().clamp(min=1)
        self.aopt.zero_grad()
        aloss.backward()
        self.aopt.step()
        with torch.no_grad():
            for net, tgt in [*zip(self.q, self.qt), (self.w1, self.w1t), (self.wf, self.wft)]:
                for p, tp in zip(net.parameters(), tgt.parameters()):
                    tp.copy_(cfg.tau * p + (1 - cfg.tau) * tp)

    def tensors(self):
        return [
            n.state_dict() for n in [*self.q, *self.qt, *self.pi, self.w1, self.wf, self.w1t, self.wft]
        ] + [{"logit": torch.stack([p.detach() for p in self.logit])}]


def learner_tensors(L, s):
    ms = [s * L.n_agents + i for i in range(L.n_agents)]
    nets = [
        *(L.critic.member_module(m) for m in ms),
        *(L.critic_target.member_module(m) for m in ms),
        *(L.actor.net.member_module(m) for m in ms),
    ]
    mix = [L.mixer.hyper_w1, L.mixer.hyper_wf, L.mixer_target.hyper_w1, L.mixer_target.hyper_wf]
    return (
        [n.state_dict() for n in nets]
        + [m.member_module(s).state_dict() for m in mix]
        + [{"logit": L.actor.log_std_logit[ms, 0].detach()}]
    )


@pytest.mark.parametrize("bug_compat", [False, True])
def test_batched_equals_per_seed_reference_loop(bug_compat):
    """float64: 3 batched updates of 2 seeds x 2 agents == 3 updates of a per-seed, per-agent loop."""
    L = learner(bug_compat=bug_compat)
    refs = [RefSeed(L, s) for s in range(S)]
    data = L.prepare_data(random_data())
    n_timeout = n_terminal = 0
    for _ in range(3):
        batch = L.sample_batch(data)
        n_timeout += int((batch["next_valid"] == 0).sum())
        n_terminal += int(batch["terminals"].sum())
        L.update(batch)
        for s, ref in enumerate(refs):
            sl = slice(s * N, (s + 1) * N)
            ref.update({k: v[sl] if k in MEMBER_KEYS else v[s] for k, v in batch.items()})
    assert n_timeout > 0 and n_terminal > 0  # both masks are exercised
    for s, ref in enumerate(refs):
        assert max_diff(learner_tensors(L, s), ref.tensors()) < 1e-9, (bug_compat, s)
    assert max_diff(learner_tensors(L, 0), learner_tensors(learner(), 0)) > 1e-3  # it moved


def test_seed_init_does_not_depend_on_other_seeds():
    cfg = ICQMAConfig(**TINY)
    a = ICQMA([O] * N, [A] * N, 2, SD, cfg, seeds=[7, 8])
    b = ICQMA([O] * N, [A] * N, 1, SD, cfg, seeds=[8])
    assert max_diff(learner_tensors(a, 1), learner_tensors(b, 0)) == 0.0
    assert max_diff(learner_tensors(a, 0), learner_tensors(b, 0)) > 0


def test_clip_is_one_norm_per_critic_and_one_for_the_mixer():
    """As the code's optimizers (one per critic, one for the mixer, each clip_grad_norm_ at grad_clip): after the
    clip every agent's critic gradient and every seed's mixer gradient has norm grad_clip; the returned norm is the
    seed's joint norm before clipping."""
    L = learner(grad_clip=1e-3)
    batch = L.sample_batch(L.prepare_data(random_data()))
    L.critic_opt.zero_grad()
    L.critic_loss(batch)[0].sum().backward()
    M = L.n_members
    crit_norm = lambda: sum(p.grad.reshape(M, -1).square().sum(1) for p in L.critic.parameters()).sqrt()  # noqa: E731
    mix_norm = lambda: sum(p.grad.reshape(S, -1).square().sum(1) for p in L.mixer.parameters()).sqrt()  # noqa: E731
    crit0, mix0 = crit_norm(), mix_norm()  # [M], [S] before
    norms = L.clip_critic_grads()
    assert (crit0 > 1e-3).all() and (mix0 > 1e-3).all()
    # torch's rule: g * max_norm / (norm + 1e-6), so a clipped norm is max_norm * norm / (norm + 1e-6)
    assert torch.allclose(crit_norm(), 1e-3 * crit0 / (crit0 + 1e-6), rtol=1e-12)
    assert torch.allclose(mix_norm(), 1e-3 * mix0 / (mix0 + 1e-6), rtol=1e-12)
    assert torch.allclose(norms, (crit0.square().view(S, -1).sum(1) + mix0.square()).sqrt(), rtol=1e-12)


# ---- checkpoints, config, acting, the registry ----------------------------------------------------------------


def test_checkpoint_resume_identical(tmp_path):
    L, R, sl = assert_resume_identical(
        lambda: learner(dtype=torch.float32),
        random_data(dtype=torch.float32),
        tmp_path,
        (*ICQMA._NETS, *ICQMA._OPTS),
        # other init, overwritten by the checkpoint
        make_resumed=lambda: learner(dtype=torch.float32, seed=11),
        moment="exp_avg_sq",
    )
    assert R.seeds == L.seeds
    assert_same_policy(L, R, np.random.default_rng(1).normal(size=(S, 3, N, O)))
    with pytest.raises(ValueError, match="bug_compat"):
        learner(dtype=torch.float32, bug_compat=True).load_state_dict(sl)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(hidden_critic=(0, 3)), r"hidden_critic=\(0, 3\) is not allowed; choose a non-empty sequence"),
        (dict(hidden_actor=64), r"hidden_actor=64 is not allowed"),
        (dict(mixer_embed=0), r"mixer_embed=0 is not allowed; choose an integer >= 1"),
        (dict(batch_size=2.5), r"batch_size=2.5"),
        (dict(lr=0.0), r"lr=0.0 is not allowed; choose a number > 0"),
        (dict(total_temp=-1.0), r"total_temp=-1.0 is not allowed; choose a number > 0"),
        (dict(gamma=1.5), r"gamma=1.5 is not allowed; choose a number in \[0, 1\]"),
        (dict(tau=0.0), r"tau=0.0 is not allowed; choose a number in \(0, 1\]"),
        (dict(log_std_min=0.0), r"log_std_min=0.0 must be < log_std_max=0.0"),
        (dict(bug_compat="yes"), r"bug_compat='yes' is not allowed; choose True or False"),
    ],
)
def test_validate_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        ICQMAConfig(**kw).validate()
    with pytest.raises(TypeError):
        ICQMAConfig(alpha=1.0)  # unknown options are an error


def test_config_defaults_and_json_lists():
    c = ICQMAConfig()
    assert (
        c.hidden_critic,
        c.hidden_actor,
        c.mixer_embed,
        c.lr,
        c.tau,
        c.gamma,
        c.batch_size,
        c.grad_clip,
    ) == ((400, 300), (400, 300, 300), 32, 1e-3, 0.005, 0.99, 1024, 20.0)
    assert (c.agent_temp, c.total_temp, c.actor_temp, c.bug_compat) == (100.0, 1000.0, 100.0, False)
    assert ICQMAConfig(hidden_actor=[400, 300, 300]) == c


def test_nan_guard_names_loss_and_step():
    def poison(batch):
        batch["next_valid"][0, 0] = 1.0

    assert_nan_guard(learner(dtype=torch.float32), random_data(dtype=torch.float32), poison=poison)


def _toy_dataset(with_state=True, obs_dims=(5, 4), act_dims=(2, 1)):
    return toy_dataset(obs_dims, act_dims, state_dim=7 if with_state else 0, ends=20, timeouts=True)


def test_build_learner_on_a_dataset_and_policy_shapes():
    data = _toy_dataset()
    section = dict(hidden_critic=[8, 8], hidden_actor=[8, 8, 8], batch_size=8)
    L = build_learner("icq_ma", data, section, 5, "cpu")
    assert isinstance(L, ICQMA) and L.seeds == [5] and L.state_dim == 7 and L.n_members == 2
    prep = L.prepare_data(data.to_torch())
    state = L.gen.get_state()
    L.update(L.sample_batch(prep))
    assert not torch.equal(L.gen.get_state(), state)
    E = 3
    obs = np.random.default_rng(1).normal(size=(1, E, 2, 5)).astype(np.float32)
    state = L.gen.get_state()
    act = L.policy()(obs)
    assert act.shape == (1, E, 2, 2) and act.dtype == np.float32 and np.all(np.abs(act) < 1)
    assert np.all(act[:, :, 1, 1] == 0) and np.all(act[:, :, 0] != 0)  # agent 1 has 1 action dim
    assert torch.equal(L.gen.get_state(), state)  # acting draws nothing from the training stream
    mean, _ = L.actor(torch.from_numpy(obs).permute(0, 2, 1, 3).reshape(2, E, 5))  # the mean action
    np.testing.assert_allclose(act[0, :, 0], mean[0].detach().numpy(), rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="obs must be"):
        L.act(obs[:, :, :1])
    with pytest.raises(ValueError, match="has no state"):
        build_learner("icq_ma", _toy_dataset(with_state=False), section, 5, "cpu")
    with pytest.raises(KeyError, match="state"):
        L.prepare_data({k: v for k, v in data.to_torch().items() if k not in ("state", "next_state")})
