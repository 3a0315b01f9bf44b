"""Batched independent TD3 (MA-CQL, OMAR, MA-TD3+BC, MA-ICQ) against the per-member reference loop,
member independence, checkpoint -> resume, validate(), a learning check and act()."""

import numpy as np
import pytest
import torch

from common.algos.itd3 import ITD3, ITD3Config, ReferenceAgent, member_modules, with_next_actions

S, N, O, A, B, T = 2, 2, 5, 2, 32, 200

METHODS = {
    "ma-cql": dict(critic_reg="cql", cql_alpha=1.0),
    "omar": dict(critic_reg="cql", cql_alpha=0.5, actor_reg="omar", omar_tau=0.7),
    "omar-mujoco-cem": dict(critic_reg="cql", cql_proposal="mujoco", actor_reg="omar", omar_tau=0.5,
                            omar_sampler="cem", omar_iters=2, omar_n_samples=20),
    "ma-td3bc": dict(actor_reg="td3bc"),
    "ma-icq": dict(actor_reg="icq", icq_beta=0.5),
}


def random_data(seed=0, dtype=torch.float64, t=T):
    g = torch.Generator().manual_seed(seed)
    d = {
        "obs": torch.randn(t, N, O, generator=g, dtype=dtype),
        "actions": torch.rand(t, N, A, generator=g, dtype=dtype) * 2 - 1,
        "rewards": torch.randn(t, N, generator=g, dtype=dtype),
        "next_obs": torch.randn(t, N, O, generator=g, dtype=dtype),
        "terminals": (torch.rand(t, generator=g) < 0.1).to(dtype),
        "timeouts": (torch.rand(t, generator=g) < 0.1).to(dtype),
    }
    d["timeouts"][-1] = 1
    return d


def learner(method, dtype=torch.float64, **kw):
    cfg = ITD3Config(batch_size=B, **{**METHODS[method], **kw})
    return ITD3([O] * N, [A] * N, S, cfg, seed=3, dtype=dtype)


def member_tensors(L, m):
    """Member m of all four networks as plain-module state dicts (reference layout)."""
    mods = member_modules(L, m)
    return [mods[k].state_dict() for k in ("actor", "critic", "actor_target", "critic_target")]


def ref_tensors(r):
    return [r.actor.state_dict(), r.critic.state_dict(), r.actor_target.state_dict(), r.critic_target.state_dict()]


def max_diff(sd1, sd2):
    err = 0.0
    for a, b in zip(sd1, sd2, strict=True):
        assert list(a) == list(b)
        for k in a:
            err = max(err, (a[k].double() - b[k].double()).abs().max().item())
    return err


@pytest.mark.parametrize("method", list(METHODS))
def test_batched_equals_reference_loop(method):
    L = learner(method)
    M = L.n_members
    refs = [ReferenceAgent.from_learner(L, m) for m in range(M)]
    data = L.prepare_data(random_data())
    for _ in range(3):
        batch = L.sample_batch(data)
        rng = L.gen.get_state()  # the reference replays the same noise (drawn at [M, ...], row m kept)
        L.update(batch)
        for m, r in enumerate(refs):
            g = torch.Generator()
            g.set_state(rng)
            r.update({k: v[m] for k, v in batch.items()}, g, member=m, n_members=M)
    for m, r in enumerate(refs):  # parameters, BN running stats and targets
        assert max_diff(member_tensors(L, m), ref_tensors(r)) < 1e-9, (method, m)
    # the learner actually moved
    assert max_diff(member_tensors(L, 0), ref_tensors(ReferenceAgent.from_learner(learner(method), 0))) > 1e-3


def test_members_are_independent():
    """Changing member 1's data leaves member 0 unchanged (no shared statistics or gradients)."""
    out = []
    for perturb in (False, True):
        L = learner("omar", dtype=torch.float32)
        data = L.prepare_data(random_data(dtype=torch.float32))
        for step in range(3):
            batch = L.sample_batch(data)
            if perturb:
                batch = {k: v.clone() for k, v in batch.items()}
                batch["obs"][1] += 3.0 + step
                batch["rewards"][1] *= -5.0
            L.update(batch)
        out.append(L)
    a, b = out
    assert max_diff(member_tensors(a, 0), member_tensors(b, 0)) == 0.0
    assert max_diff(member_tensors(a, 1), member_tensors(b, 1)) > 1e-4


def test_seed_init_does_not_depend_on_other_seeds():
    cfg = ITD3Config(batch_size=B)
    a = ITD3([O] * N, [A] * N, 2, cfg, seeds=[7, 8])
    b = ITD3([O] * N, [A] * N, 1, cfg, seeds=[8])
    for i in range(N):
        assert max_diff(member_tensors(a, N + i), member_tensors(b, i)) == 0.0
    assert max_diff(member_tensors(a, 0), member_tensors(b, 0)) > 0


@pytest.mark.parametrize("method", ["omar", "ma-icq"])
def test_checkpoint_resume_identical(method, tmp_path):
    L = learner(method, dtype=torch.float32)
    data = L.prepare_data(random_data(dtype=torch.float32))
    for _ in range(2):
        L.update(L.sample_batch(data))
    torch.save(L.state_dict(), tmp_path / "ckpt.pt")
    for _ in range(3):
        L.update(L.sample_batch(data))
    R = learner(method, dtype=torch.float32)
    R.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=False))
    for _ in range(3):
        R.update(R.sample_batch(data))
    assert R.step == L.step == 5
    for m in range(L.n_members):
        assert max_diff(member_tensors(L, m), member_tensors(R, m)) == 0.0
    sa, sb = L.actor_opt.state_dict()["state"], R.actor_opt.state_dict()["state"]
    assert all(torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"]) for k in sa)
    # a checkpoint of another configuration is refused
    other = learner("omar", dtype=torch.float32, omar_tau=0.1)
    if method == "omar":
        with pytest.raises(ValueError, match="omar_tau"):
            other.load_state_dict(L.state_dict())


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(critic_reg="bcq"), r"critic_reg='bcq'.*\['none', 'cql'\]"),
        (dict(actor_reg="awac"), r"actor_reg='awac'.*'td3bc', 'omar', 'icq'"),
        (dict(critic_reg="cql", cql_proposal="gauss"), r"cql_proposal='gauss'.*'uniform', 'mujoco'"),
        (dict(actor_reg="omar", omar_sampler="grid"), r"omar_sampler='grid'"),
        (dict(actor_reg="omar", omar_sigma_rule="x"), r"omar_sigma_rule='x'"),
        (dict(cql_alpha=5.0), r"cql_alpha=5.0 is set but unused.*critic_reg='cql'"),
        (dict(omar_tau=0.5), r"omar_tau=0.5 is set but unused"),
        (dict(td3bc_alpha=1.0), r"td3bc_alpha=1.0 is set but unused"),
        (dict(actor_reg="omar", omar_tau=1.5), r"omar_tau=1.5"),
        (dict(batch_size=0), r"batch_size=0"),
        (dict(gamma=1.5), r"gamma=1.5"),
        (dict(actor_reg="icq", critic_reg="cql"), r"icq"),
    ],
)
def test_validate_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        ITD3Config(**kw).validate()


def test_per_member_tau_and_length_check():
    taus = [0.0, 0.3, 0.6, 1.0]
    L = ITD3([O] * N, [A] * N, S, ITD3Config(batch_size=B, critic_reg="cql", actor_reg="omar", omar_tau=taus))
    assert torch.allclose(L.omar_tau, torch.tensor(taus))
    L.update(L.sample_batch(L.prepare_data(random_data(dtype=torch.float32))))
    with pytest.raises(ValueError, match="4 entries"):
        ITD3([O] * N, [A] * N, S, ITD3Config(actor_reg="omar", omar_tau=[0.1, 0.2]))


def test_nan_guard_names_loss_and_step():
    L = learner("ma-td3bc", dtype=torch.float32)
    batch = L.sample_batch(L.prepare_data(random_data(dtype=torch.float32)))
    L.update(batch)
    batch["rewards"][0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="critic_loss is not finite at update 2"):
        L.update(batch)


def test_icq_next_actions():
    d = random_data(t=6)
    d["terminals"][:] = torch.tensor([0, 1, 0, 0, 0, 0.0], dtype=torch.float64)
    d["timeouts"][:] = torch.tensor([0, 0, 0, 1, 0, 1.0], dtype=torch.float64)
    out = with_next_actions(d)
    assert torch.equal(out["next_actions"][0], d["actions"][1])
    assert torch.equal(out["next_actions"][2], d["actions"][3])
    assert torch.equal(out["next_actions"][4], d["actions"][5])
    assert out["next_actions"][[1, 3, 5]].abs().sum() == 0
    assert out["next_valid"].tolist() == [1, 1, 1, 0, 1, 0]


@pytest.mark.parametrize("method", ["ma-td3bc", "ma-cql", "omar", "ma-icq"])
def test_learns_bandit(method):
    """1-step episodes, r = -(a - 0.5)^2 whatever the obs, dataset actions ~ U(-1, 1): the policy
    must move from its init (~0) to the best seen action (~0.5). input_norm=False: with OMAR's
    train-mode BatchNorm on the critic input, Q1(o, pi(o)) is blind to a shift of the whole batch of
    actions (test_bn_critic_is_blind_to_a_common_action_shift). Small lrs: with a reward that ignores
    the obs the actor is a near-scalar and lr 0.01 overshoots into tanh saturation."""
    t = 512
    g = torch.Generator().manual_seed(1)
    a = torch.rand(t, 1, 1, generator=g) * 2 - 1
    o = torch.randn(t, 1, 1, generator=g)
    data = {"obs": o, "actions": a, "rewards": -(a[..., 0] - 0.5) ** 2,
            "next_obs": o, "terminals": torch.ones(t), "timeouts": torch.zeros(t)}
    extra = {"ma-cql": dict(cql_alpha=0.1), "omar": dict(cql_alpha=0.1, omar_tau=0.5),
             "ma-icq": dict(icq_beta=0.01)}.get(method, {})
    cfg = ITD3Config(hidden=32, batch_size=128, input_norm=False, actor_lr=3e-4, critic_lr=3e-3,
                     log_every=10**9, **{**METHODS[method], **extra})
    L = ITD3([1], [1], 2, cfg, seed=0)
    obs = np.random.default_rng(0).normal(size=(2, 3, 1, 1)).astype(np.float32)
    assert np.all(np.abs(L.act(obs) - 0.5) > 0.3)
    d = L.prepare_data(data)
    for _ in range(400):
        L.update(L.sample_batch(d))
    act = L.act(obs)
    assert np.all(np.abs(act - 0.5) < 0.15), (method, act.ravel())


def test_bn_critic_is_blind_to_a_common_action_shift():
    """OMAR's code keeps the critic's input BatchNorm in train mode in the actor step: adding the same
    c to every pi(o) of the batch leaves Q1 unchanged, so the Q term never moves the mean action."""
    L = learner("ma-cql", dtype=torch.float64)
    obs = torch.randn(L.n_members, B, O, dtype=torch.float64)
    pi = torch.rand(L.n_members, B, A, dtype=torch.float64) - 0.5
    c = torch.zeros(L.n_members, 1, A, dtype=torch.float64, requires_grad=True)
    L.critic.q1(obs, pi + c).sum().backward()
    assert c.grad.abs().max() < 1e-8
    shifted = L.critic.q1(obs, pi + 0.3)
    assert torch.allclose(shifted, L.critic.q1(obs, pi), atol=1e-6)


def test_act_shapes_and_determinism():
    L = learner("omar", dtype=torch.float32)
    data = L.prepare_data(random_data(dtype=torch.float32))
    L.update(L.sample_batch(data))
    obs = np.random.default_rng(0).normal(size=(S, 4, N, O)).astype(np.float32)
    state = L.gen.get_state()
    a1, a2 = L.act(obs), L.act(obs)
    assert a1.shape == (S, 4, N, A) and a1.dtype == np.float32
    assert np.array_equal(a1, a2) and np.all(np.abs(a1) <= 1.0)
    assert torch.equal(L.gen.get_state(), state) and L.actor.training  # acting leaves training untouched
    # member m = s * N + i acts for seed s, agent i (eval-mode BN)
    s, i = 1, 0
    with torch.no_grad():
        ref = L.actor.net.member_module(s * N + i).eval()(torch.from_numpy(obs[s, :, i]))
    np.testing.assert_allclose(a1[s, :, i], ref.numpy(), atol=1e-6)
    # a torch tensor comes back as a tensor; wrong shapes and stochastic acting are refused
    assert isinstance(L.act(torch.from_numpy(obs)), torch.Tensor)
    with pytest.raises(ValueError, match="obs must be"):
        L.act(obs[:, :, :1])
    with pytest.raises(ValueError, match="deterministic"):
        L.act(obs, deterministic=False)


def test_heterogeneous_action_dims_are_masked():
    L = ITD3([O, O - 1], [A, A - 1], 1, ITD3Config(batch_size=B, critic_reg="cql", actor_reg="omar"))
    d = random_data(dtype=torch.float32)
    d["actions"][:, 1, A - 1] = 0
    L.update(L.sample_batch(L.prepare_data(d)))
    act = L.act(np.random.default_rng(0).normal(size=(1, 3, 2, O)).astype(np.float32))
    assert np.all(act[:, :, 1, A - 1] == 0) and np.all(act[:, :, 0, A - 1] != 0)
    assert L.log_p_uniform.view(-1).tolist() == pytest.approx([-A * np.log(2), -(A - 1) * np.log(2)])
