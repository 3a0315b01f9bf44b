"""ITD3's MOMA-PPO options (target smoothing, policy delay, grad_clip=None, summed BC, unbiased CEM std, OMAR + BC
actor, shared rows, the actor's default init) and the presets of ITD3+BC / ICQL / IOMAR: hand-computed cases,
validation, and stacked runs equal to runs alone bit for bit. The OMAR defaults stay as they were: tests/test_itd3.py,
tests/test_group_equals_alone.py and tests/test_omar_*.py run unchanged."""

import math

import pytest
import torch

from common.algos.itd3 import ITD3, ITD3Config
from common.algos.itd3_losses import bc_penalty, smoothed_target_action, td3_mixed_actor_loss
from common.algos.omar import cem_sigma, omar_actor_loss, search_action
from common.algos.td3bc import td3bc_actor_loss
from papers.moma_ppo.td3_presets import MOMA_PPO_METHODS, MOMA_PPO_TD3, moma_ppo_preset

S, N, O, A, B, T = 2, 2, 5, 3, 16, 120
F64 = torch.float64


def _data(seed=0, rows=T):
    g = torch.Generator().manual_seed(seed)
    return {
        "obs": torch.randn(rows, N, O, generator=g, dtype=F64),
        "actions": torch.rand(rows, N, A, generator=g, dtype=F64) * 2 - 1,
        "rewards": torch.randn(rows, N, generator=g, dtype=F64),
        "next_obs": torch.randn(rows, N, O, generator=g, dtype=F64),
        "terminals": (torch.rand(rows, generator=g) < 0.1).to(F64),
        "timeouts": (torch.arange(rows) % 40 == 39).to(F64),
    }


def _learner(method, seed=3, n_seeds=S, **kw):
    cfg = ITD3Config(**moma_ppo_preset(method, **{"batch_size": B, **kw}))
    return ITD3([O] * N, [A] * N, n_seeds, cfg, seed=seed, dtype=F64)


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------------------------------------
# presets and validation
# ---------------------------------------------------------------------------------------------


def test_presets_validate_and_hold_the_spec_values():
    for m in MOMA_PPO_METHODS:
        cfg = ITD3Config(**moma_ppo_preset(m)).validate()
        assert (cfg.hidden, cfg.actor_lr, cfg.critic_lr, cfg.batch_size, cfg.gamma, cfg.tau_target) == (
            256,
            3e-4,
            3e-4,
            256,
            0.99,
            0.005,
        )
        assert cfg.grad_clip is None and not cfg.input_norm and cfg.replace and cfg.shared_rows
        assert (cfg.target_noise, cfg.target_noise_clip, cfg.policy_delay) == (0.2, 0.5, 2)
    bc, cql, om = (ITD3Config(**moma_ppo_preset(m)) for m in ("itd3bc", "icql", "iomar"))
    assert (bc.actor_reg, bc.critic_reg, bc.td3bc_alpha, bc.bc_reduce) == ("td3bc", "none", 2.5, "sum")
    for c in (cql, om):
        assert (c.critic_reg, c.cql_proposal, c.cql_alpha, c.cql_temp, c.cql_n_actions) == (
            "cql",
            "mujoco",
            1,
            1,
            10,
        )
    assert (cql.actor_reg, cql.action_reg) == ("none", 0.0)
    assert (
        om.actor_reg,
        om.omar_tau,
        om.omar_sampler,
        om.omar_iters,
        om.omar_n_samples,
        om.omar_n_elites,
        om.omar_mu0,
        om.omar_sigma0,
        om.cem_std,
        om.omar_bc_alpha,
        om.action_reg,
    ) == ("omar", 0.9, "cem", 2, 20, 5, 0.0, 2.0, "unbiased", 0.0, 1e-3)
    assert moma_ppo_preset("icql", batch_size=64)["batch_size"] == 64 and MOMA_PPO_TD3["batch_size"] == 256
    with pytest.raises(
        ValueError, match=r"method='td3' is not allowed; choose one of \['itd3bc', 'icql', 'iomar'\]"
    ):
        moma_ppo_preset("td3")
    with pytest.raises(ValueError, match="policy_delay=0"):
        moma_ppo_preset("iomar", policy_delay=0)


def test_defaults_are_omar_behaviour():
    c = ITD3Config()
    assert (
        c.target_noise,
        c.policy_delay,
        c.grad_clip,
        c.bc_reduce,
        c.cem_std,
        c.omar_bc_alpha,
        c.actor_last_init,
        c.shared_rows,
        c.input_norm,
    ) == (0.0, 1, 0.5, "mean", "biased", 0.0, 3e-3, False, True)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(policy_delay=0), r"policy_delay=0 is not allowed; choose an integer >= 1"),
        (dict(policy_delay=1.5), r"policy_delay=1.5 is not allowed"),
        (dict(grad_clip=0.0), r"grad_clip=0.0 is not allowed; choose None or a number > 0"),
        (dict(actor_last_init=-1.0), r"actor_last_init=-1.0 is not allowed"),
        (dict(target_noise=-0.2), r"target_noise=-0.2 is not allowed; choose a number >= 0"),
        (
            dict(target_noise=0.2, target_noise_clip=0.0),
            r"target_noise_clip=0.0 is not allowed; choose a number",
        ),
        (
            dict(actor_reg="td3bc", bc_reduce="max"),
            r"bc_reduce='max' is not allowed; choose one of \['mean', 'sum'\]",
        ),
        (dict(actor_reg="omar", omar_sampler="cem", cem_std="n-1"), r"cem_std='n-1' is not allowed"),
        (dict(shared_rows=1), r"shared_rows=1 is not allowed; choose True or False"),
        # unused options are errors
        (dict(bc_reduce="sum"), r"bc_reduce='sum' is set but unused: it needs actor_reg='td3bc'"),
        (dict(actor_reg="omar", bc_reduce="sum"), r"bc_reduce='sum' is set but unused"),
        (
            dict(actor_reg="omar", cem_std="unbiased"),
            r"cem_std='unbiased' is set but unused: it needs .*omar_sampler='cem'",
        ),
        (dict(cem_std="unbiased"), r"cem_std='unbiased' is set but unused"),
        (dict(omar_bc_alpha=2.5), r"omar_bc_alpha=2.5 is set but unused: it needs actor_reg='omar'"),
        (dict(target_noise_clip=0.3), r"target_noise_clip=0.3 is set but unused: it needs target_noise > 0"),
        (dict(critic_input="joint", shared_rows=True), r"shared_rows=True is set but unused"),
        (dict(actor_reg="icq", target_noise=0.2), r"target_noise=0.2: actor_reg='icq'"),
    ],
)
def test_validate_errors_of_the_new_fields(kw, match):
    with pytest.raises(ValueError, match=match):
        ITD3Config(**kw).validate()


# ---------------------------------------------------------------------------------------------
# target policy smoothing
# ---------------------------------------------------------------------------------------------


def test_smoothed_target_action_hand_computed():
    a = torch.tensor([0.5, -0.9, 0.95, 0.0])
    eps = torch.tensor([0.3, -0.7, 0.2, 0.6])
    # 0.5+0.3; -0.9-0.5 -> -1; 0.95+0.2 -> 1; 0+0.5 (clipped noise)
    want = torch.tensor([0.8, -1.0, 1.0, 0.5])
    assert torch.allclose(smoothed_target_action(a, eps, 0.5), want)


def test_critic_target_uses_smoothed_noise_from_the_training_stream():
    L = _learner("itd3bc", target_noise=5.0)  # large std: the +-0.5 clip surely acts
    batch = L.sample_batch(L.prepare_data(_data()))
    state = L.gen.get_state()
    loss, info = L.critic_loss(batch)
    g = torch.Generator().manual_seed(0)
    g.set_state(state)
    M = S * N
    eps = torch.randn((M, B, A), generator=g, dtype=F64) * 5.0  # the draw right after the minibatch
    assert (eps.abs() > 0.5).any()
    with torch.no_grad():
        a_next = (L.actor_target(batch["next_obs"]) + eps.clamp(-0.5, 0.5)).clamp(-1.0, 1.0)
        q1t, q2t = L.critic_target(batch["next_obs"], a_next)
        y = batch["rewards"] + 0.99 * (1 - batch["terminals"]) * torch.min(q1t, q2t).squeeze(-1)
        q1, q2 = L.critic(batch["obs"], batch["actions"])
        want = ((q1.squeeze(-1) - y) ** 2 + (q2.squeeze(-1) - y) ** 2).mean(-1)  # [M]
    assert torch.allclose(loss.detach(), want, rtol=1e-12, atol=1e-12)
    # without smoothing the loss differs (the noise is used), and no draw is made
    L0 = _learner("itd3bc")
    L0.cfg.target_noise = 0.0
    before = L0.gen.get_state()
    L0.critic_loss(batch)
    assert torch.equal(before, L0.gen.get_state())
    assert not torch.allclose(L0.critic_loss(batch)[0], loss)


# ---------------------------------------------------------------------------------------------
# policy delay, grad_clip=None
# ---------------------------------------------------------------------------------------------


def test_policy_delay_moves_actor_and_targets_on_every_second_update_only():
    L = _learner("itd3bc", log_every=1)
    data = L.prepare_data(_data())
    nets = ("actor", "critic", "actor_target", "critic_target")
    snap = {k: _params(getattr(L, k)) for k in nets}
    out1 = L.update(L.sample_batch(data))  # update 1: critic only
    after1 = {k: _params(getattr(L, k)) for k in nets}
    assert not _same(snap["critic"], after1["critic"])
    for k in ("actor", "actor_target", "critic_target"):
        assert _same(snap[k], after1[k]), k
    assert torch.equal(out1["actor_loss"], torch.zeros(S * N, dtype=F64))  # no actor step yet
    out2 = L.update(L.sample_batch(data))  # update 2: critic, actor, all targets
    after2 = {k: _params(getattr(L, k)) for k in nets}
    for k in nets:
        assert not _same(after1[k], after2[k]), k
    assert (out2["actor_loss"] != 0).all() and out2["actor_grad_norm"].shape == (S * N,)
    # targets: tau-step toward the sources of update 2
    for t, s0, s in zip(after2["critic_target"], after1["critic_target"], after2["critic"]):
        assert torch.allclose(t, 0.995 * s0 + 0.005 * s, rtol=1e-12, atol=1e-14)
    out3 = L.update(L.sample_batch(data))  # update 3: critic only; the actor metrics are update 2's
    after3 = {k: _params(getattr(L, k)) for k in nets}
    assert not _same(after2["critic"], after3["critic"])
    for k in ("actor", "actor_target", "critic_target"):
        assert _same(after2[k], after3[k]), k
    assert torch.equal(out3["actor_loss"], out2["actor_loss"])


def test_policy_delay_one_updates_targets_every_update():
    L = _learner("itd3bc", policy_delay=1)
    t0 = _params(L.actor_target)
    L.update(L.sample_batch(L.prepare_data(_data())))
    assert not _same(t0, _params(L.actor_target))


def test_grad_clip_none_equals_an_unreachable_clip():
    data = _data()
    runs = []
    for clip in (None, 1e12):
        L = _learner("iomar", grad_clip=clip, log_every=2)
        d = L.prepare_data(data)
        for _ in range(4):
            out = L.update(L.sample_batch(d))
        runs.append((L, out))
    (a, oa), (b, ob) = runs
    for k in ITD3._NETS:
        assert _same(_params(getattr(a, k)), _params(getattr(b, k))), k
    assert torch.equal(oa["critic_grad_norm"], ob["critic_grad_norm"])
    assert torch.equal(oa["actor_grad_norm"], ob["actor_grad_norm"])


def test_shared_rows_one_row_set_per_seed_and_default_init():
    L = _learner("icql")
    d = _data()
    d["obs"][:, :, 0] = torch.arange(T, dtype=F64)[:, None]  # the row index, read back from the batch
    rows = L.sample_batch(L.prepare_data(d))["obs"][..., 0].view(S, N, B)
    assert torch.equal(rows[:, 0], rows[:, 1]) and not torch.equal(rows[0, 0], rows[1, 0])
    # the actor's last layer keeps torch's default init (U(+-1/sqrt(256)), wider than OMAR's 3e-3)
    last = [p for n, p in L.actor.named_parameters() if "weight" in n][-1]
    assert last.abs().max() > 3e-3


# ---------------------------------------------------------------------------------------------
# the actor losses
# ---------------------------------------------------------------------------------------------

Q = torch.tensor([[1.0, -3.0]])  # [M=1, B=2]: mean -1, mean|Q| 2 -> lambda = 2.5 / 2 = 1.25
PI = torch.tensor([[[0.5, 0.0], [0.2, -0.4]]])  # [1, 2, 2]
ACT = torch.tensor([[[0.0, 0.5], [0.2, 0.1]]])  # pi - a: (0.5, -0.5), (0, -0.5)
A_HAT = torch.tensor([[[1.0, 0.0], [0.2, 0.0]]])  # pi - a_hat: (-0.5, 0), (0, -0.4)


def test_summed_bc_hand_computed():
    assert torch.allclose(bc_penalty(PI, ACT, "sum"), torch.tensor([0.375]))  # (0.5 + 0.25) / 2
    assert torch.allclose(bc_penalty(PI, ACT, "mean"), torch.tensor([0.1875]))  # 0.75 / 4
    got = td3_mixed_actor_loss(Q, PI, ACT, None, tau=0.0, bc_alpha=2.5, action_reg=0.0, bc_reduce="sum")
    assert torch.allclose(got, torch.tensor([1.25 + 0.375]))
    assert torch.allclose(td3bc_actor_loss(Q, PI, ACT, 2.5), torch.tensor([1.25 + 0.1875]))  # the OMAR form


def test_itd3bc_learner_actor_loss_is_lambda_q_plus_summed_bc():
    L = _learner("itd3bc")
    batch = L.sample_batch(L.prepare_data(_data()))
    loss, _ = L.actor_loss(batch)
    with torch.no_grad():
        pi = L.actor(batch["obs"])
        q = L.critic.q1(batch["obs"], pi).squeeze(-1)
        want = -2.5 / q.abs().mean(-1) * q.mean(-1) + (pi - batch["actions"]).square().sum(-1).mean(-1)
    assert torch.allclose(loss.detach(), want, rtol=1e-12, atol=1e-12)


def test_iomar_actor_loss_hand_computed():
    # 0.1 * (-mean Q) + 0.9 * MSE(pi, a_hat) + 1e-3 * mean pi^2 = 0.1 + 0.9 * 0.1025 + 1e-3 * 0.1125
    want = 0.1 + 0.9 * 0.1025 + 1e-3 * 0.1125
    got = td3_mixed_actor_loss(Q, PI, ACT, A_HAT, tau=0.9, bc_alpha=0.0, action_reg=1e-3)
    assert torch.allclose(got, torch.tensor([want]))
    assert torch.allclose(omar_actor_loss(Q, PI, A_HAT, 0.9, 1e-3), torch.tensor([want]))
    # the code's default td3_bc_coeff 2.5 beside OMAR: (1 - tau) * 1.25 * 1 + sum BC 0.375 + the OMAR terms
    got = td3_mixed_actor_loss(Q, PI, ACT, A_HAT, tau=0.9, bc_alpha=2.5, action_reg=1e-3, bc_reduce="sum")
    assert torch.allclose(got, torch.tensor([0.1 * 1.25 + 0.375 + 0.9 * 0.1025 + 1e-3 * 0.1125]))


@pytest.mark.parametrize("bc_alpha", [0.0, 2.5])
def test_iomar_learner_actor_loss_replays_the_unbiased_cem(bc_alpha):
    kw = dict(omar_bc_alpha=bc_alpha, bc_reduce="sum") if bc_alpha else {}
    L = _learner("iomar", **kw)
    batch = L.sample_batch(L.prepare_data(_data()))
    state = L.gen.get_state()
    loss, _ = L.actor_loss(batch)
    g = torch.Generator().manual_seed(0)
    g.set_state(state)
    with torch.no_grad():
        obs = batch["obs"]
        pi = L.actor(obs)
        q = L.critic.q1(obs, pi).squeeze(-1)
        a_hat = search_action(
            lambda a: L.critic.q1_many(obs, a),
            pi,
            sampler="cem",
            iters=2,
            n_samples=20,
            n_elites=5,
            mu0=0.0,
            sigma0=2.0,
            generator=g,
            cem_std="unbiased",
        )
        mse, reg = (pi - a_hat).square().mean((-2, -1)), 1e-3 * pi.square().mean((-2, -1))
        if bc_alpha:
            want = -0.1 * (2.5 / q.abs().mean(-1)) * q.mean(-1) + (pi - batch["actions"]).square().sum(
                -1
            ).mean(-1)
        else:
            want = -0.1 * q.mean(-1)
        want = want + 0.9 * mse + reg
    assert torch.allclose(loss.detach(), want, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the CEM's unbiased std
# ---------------------------------------------------------------------------------------------


def test_cem_sigma_hand_computed():
    elites = torch.tensor([0.0, 1.0, 2.0]).view(1, 1, 3, 1)  # mean 1, squared deviations 1 + 0 + 1 = 2
    assert torch.allclose(
        cem_sigma(elites, "unbiased"), torch.tensor(1.0 + 1e-6).view(1, 1, 1, 1), rtol=0, atol=1e-12
    )
    assert torch.allclose(cem_sigma(elites, "biased"), torch.tensor(math.sqrt(2 / 3)).view(1, 1, 1, 1))


@pytest.mark.parametrize("cem_std", ["unbiased", "biased"])
def test_cem_second_iteration_samples_from_the_elites_std(cem_std):
    target = torch.tensor([0.3, -0.2], dtype=F64)
    seen = []

    def q_fn(a):  # [1, 1, K, 2] -> [1, 1, K]
        seen.append(a.clone())
        return -(a - target).square().sum(-1)

    pi = torch.zeros(1, 1, 2, dtype=F64)
    g = torch.Generator().manual_seed(5)
    a_hat = search_action(
        q_fn,
        pi,
        sampler="cem",
        iters=2,
        n_samples=6,
        n_elites=3,
        mu0=0.0,
        sigma0=2.0,
        generator=g,
        cem_std=cem_std,
    )
    r = torch.Generator().manual_seed(5)
    s1 = (2.0 * torch.randn((1, 1, 6, 2), generator=r, dtype=F64)).clamp(-1, 1)
    assert torch.equal(seen[0], s1)
    elites = s1[0, 0][(-(s1[0, 0] - target).square().sum(-1)).topk(3).indices]  # [3, 2]
    mu = elites.mean(0)
    if cem_std == "unbiased":
        sigma = ((elites - mu).square().sum(0) / 2).sqrt() + 1e-6
    else:
        sigma = ((elites - mu).square().sum(0) / 3).sqrt()
    s2 = (mu + sigma * torch.randn((1, 1, 6, 2), generator=r, dtype=F64)).clamp(-1, 1)
    pool = seen[1][0, 0]  # [6 new + 3 elites, 2]
    assert torch.allclose(pool[:6], s2[0, 0], rtol=1e-12, atol=1e-12)
    assert torch.allclose(pool[6:].sort(0).values, elites.sort(0).values)
    cand = torch.cat([pool, pi[0]])
    best = cand[(-(cand - target).square().sum(-1)).argmax()]
    assert torch.allclose(a_hat[0, 0], best)


# ---------------------------------------------------------------------------------------------
# stacked runs (cells as members) equal runs alone, with the new draws and shared rows
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", MOMA_PPO_METHODS)
def test_stacked_moma_runs_equal_runs_alone(method):
    runs = [(0, 0), (1, 0), (2, 1)]  # (seed, dataset seed)
    data = {d: _data(d) for d in {d for _, d in runs}}

    def make(seed):
        return _learner(method, seed=seed, n_seeds=1, batch_size=8)

    alone = [make(s) for s, _ in runs]
    prepared = {d: alone[0].prepare_data(x) for d, x in data.items()}
    stack = ITD3.stack([make(s) for s, _ in runs])
    tensors = stack.stack_data([prepared[d] for _, d in runs])
    for _ in range(3):
        for lr, (_, d) in zip(alone, runs):
            lr.update(lr.sample_batch(prepared[d]))
        stack.update(stack.sample_batch(tensors))
    for lr, state in zip(alone, stack.split_state()):
        own = lr.state_dict()
        assert torch.equal(own["rng"], state["rng"])
        for name in ITD3._NETS:
            for key, v in own[name].items():
                assert torch.equal(v, state[name][key]), (name, key)
