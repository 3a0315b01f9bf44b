"""Batched independent TD3 (MA-CQL, OMAR, MA-TD3+BC, MA-ICQ) against the per-member reference loop,
member independence, checkpoint -> resume, validate(), a learning check and act(); the options
actor_updates (OMAR Table 2) and critic_input="joint" (centralized critics, OMAR Table 5)."""

import math

import numpy as np
import pytest
import torch

from common.algos.itd3 import ITD3
from common.algos.itd3_config import ITD3Config
from common.algos.itd3_losses import with_next_actions
from common.algos.omar import search_action
from common.algos.reference import ReferenceAgent, joint_next_pi, member_modules
from learner_checks import assert_nan_guard, max_diff, team_data

S, N, O, A, B, T = 2, 2, 5, 2, 32, 200

METHODS = {
    "ma-cql": dict(critic_reg="cql", cql_alpha=1.0),
    "omar": dict(critic_reg="cql", cql_alpha=0.5, actor_reg="omar", omar_tau=0.7),
    "omar-mujoco-cem": dict(
        critic_reg="cql",
        cql_proposal="mujoco",
        actor_reg="omar",
        omar_tau=0.5,
        omar_sampler="cem",
        omar_iters=2,
        omar_n_samples=20,
    ),
    "ma-td3bc": dict(actor_reg="td3bc"),
    "ma-icq": dict(actor_reg="icq", icq_beta=0.5),
}


JOINT = dict(critic_input="joint")
U3 = dict(actor_updates=3)
REF_CASES = (
    [(m, {}) for m in METHODS]
    + [("ma-cql", U3), ("omar", U3), ("ma-td3bc", U3)]
    + [(m, JOINT) for m in METHODS]
    + [("omar", {**JOINT, **U3}), ("ma-icq", {**JOINT, **U3})]
)


def random_data(seed=0, dtype=torch.float64, t=T):
    d = team_data(t, N, O, A, seed=seed, dtype=dtype, p_timeout=0.1)
    d["timeouts"][-1] = 1
    return d


def learner(method, dtype=torch.float64, device="cpu", **kw):
    cfg = ITD3Config(batch_size=B, **{**METHODS[method], **kw})
    return ITD3([O] * N, [A] * N, S, cfg, seed=3, dtype=dtype, device=device)


def member_tensors(L, m):
    """Member m of all four networks as plain-module state dicts (reference layout)."""
    mods = member_modules(L, m)
    return [mods[k].state_dict() for k in ("actor", "critic", "actor_target", "critic_target")]


def ref_tensors(r):
    return [
        r.actor.state_dict(),
        r.critic.state_dict(),
        r.actor_target.state_dict(),
        r.critic_target.state_dict(),
    ]


@pytest.mark.parametrize(
    "method, kw",
    REF_CASES,
    ids=[f"{m}-{'-'.join(map(str, kw.values())) or 'default'}" for m, kw in REF_CASES],
)
def test_batched_equals_reference_loop(method, kw):
    """float64: 3 batched updates == 3 official-style per-member updates (with actor_updates=3: three
    actor steps on the critic's minibatch; joint: the seed's target joint action from all its agents'
    target actors, computed before any agent updates, as MATD3's update_all_targets order)."""
    _check_reference(method, kw, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run on the device machine)")
@pytest.mark.parametrize(
    "method, kw",
    [(m, {}) for m in METHODS] + [("omar", {**JOINT, **U3}), ("ma-icq", JOINT)],
    ids=lambda v: v if isinstance(v, str) else "-".join(map(str, v.values())) or "default",
)
def test_batched_equals_reference_loop_on_gpu(method, kw):
    """The same check with learner, batches, reference agents and noise on the GPU (--device cuda)."""
    _check_reference(method, kw, "cuda")


def _check_reference(method, kw, device):
    L = learner(method, device=device, **kw)
    M = L.n_members
    refs = [ReferenceAgent.from_learner(L, m) for m in range(M)]
    data = L.prepare_data(random_data())
    for _ in range(3):
        batch = L.sample_batch(data)
        per_member = [{k: v[m] for k, v in batch.items()} for m in range(M)]
        if L.joint and L.cfg.actor_reg != "icq":
            for s in range(S):
                seed_refs = refs[s * N : (s + 1) * N]
                jn = joint_next_pi(seed_refs, [per_member[s * N + j]["next_obs"] for j in range(N)])
                for j in range(N):
                    per_member[s * N + j]["joint_next_pi"] = jn
        rng = L.gen.get_state()  # the reference replays the same noise (drawn at [M, ...], row m kept)
        L.update(batch)
        for m, r in enumerate(refs):
            g = torch.Generator(device=device)
            g.set_state(rng)
            r.update(per_member[m], g, member=m, n_members=M)
    for m, r in enumerate(refs):  # parameters, BN running stats and targets
        assert max_diff(member_tensors(L, m), ref_tensors(r)) < 1e-9, (method, kw, m)
    # the learner actually moved
    assert (
        max_diff(member_tensors(L, 0), ref_tensors(ReferenceAgent.from_learner(learner(method, **kw), 0)))
        > 1e-3
    )


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


@pytest.mark.parametrize(
    "method, kw", [("omar", {}), ("ma-icq", {}), ("omar", {**JOINT, **U3}), ("ma-icq", JOINT)]
)
def test_checkpoint_resume_identical(method, kw, tmp_path):
    L = learner(method, dtype=torch.float32, **kw)
    data = L.prepare_data(random_data(dtype=torch.float32))
    for _ in range(2):
        L.update(L.sample_batch(data))
    torch.save(L.state_dict(), tmp_path / "ckpt.pt")
    for _ in range(3):
        L.update(L.sample_batch(data))
    R = learner(method, dtype=torch.float32, **kw)
    R.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=False))
    for _ in range(3):
        R.update(R.sample_batch(data))
    assert R.step == L.step == 5
    for m in range(L.n_members):
        assert max_diff(member_tensors(L, m), member_tensors(R, m)) == 0.0
    sa, sb = L.actor_opt.state_dict()["state"], R.actor_opt.state_dict()["state"]
    assert all(torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"]) for k in sa)
    # a checkpoint of another configuration is refused
    other = learner("omar", dtype=torch.float32, omar_tau=0.1, **kw)
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
        (dict(critic_input="foo"), r"critic_input='foo'.*\['local', 'joint'\]"),
        (dict(actor_updates=0), r"actor_updates=0 .*integer >= 1"),
        (dict(actor_updates=2.5), r"actor_updates=2.5 .*integer >= 1"),
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
    assert_nan_guard(learner("ma-td3bc", dtype=torch.float32), random_data(dtype=torch.float32))


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
    data = {
        "obs": o,
        "actions": a,
        "rewards": -((a[..., 0] - 0.5) ** 2),
        "next_obs": o,
        "terminals": torch.ones(t),
        "timeouts": torch.zeros(t),
    }
    extra = {
        "ma-cql": dict(cql_alpha=0.1),
        "omar": dict(cql_alpha=0.1, omar_tau=0.5),
        "ma-icq": dict(icq_beta=0.01),
    }.get(method, {})
    cfg = ITD3Config(
        hidden=32,
        batch_size=128,
        input_norm=False,
        actor_lr=3e-4,
        critic_lr=3e-3,
        log_every=10**9,
        **{**METHODS[method], **extra},
    )
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


# ---- actor_updates (OMAR Table 2) and critic_input="joint" (OMAR Table 5) ---------------------------


def test_actor_updates_take_more_actor_steps_on_one_critic_step():
    """actor_updates=3 vs 1 from the same start and batch: identical critic step (critic parameters
    and target), different actor; the generator advances by the CQL draws only (MA-CQL)."""
    out = []
    for u in (1, 3):
        L = learner("ma-cql", actor_updates=u)
        L.update(L.sample_batch(L.prepare_data(random_data())))
        out.append(L)
    a, b = out
    for name in ("critic", "critic_target"):
        pa, pb = dict(getattr(a, name).named_parameters()), dict(getattr(b, name).named_parameters())
        assert all(torch.equal(pa[k], pb[k]) for k in pa), name
    assert torch.equal(a.gen.get_state(), b.gen.get_state())
    with torch.no_grad():
        assert (
            max(float((p - q).abs().max()) for p, q in zip(a.actor.parameters(), b.actor.parameters())) > 1e-4
        )


def _slot(joint_a, i, own):
    """joint_a [B, N*A] with agent i's A-slot replaced by own [B, A] or [B, K, A] (cat of parts)."""
    parts = list(joint_a.split(A, dim=-1))
    if own.dim() == 3:
        parts = [p.unsqueeze(1).expand(-1, own.shape[1], -1) for p in parts]
    parts[i] = own
    return torch.cat(parts, dim=-1)


def _q_rows(net, s, a, q1_only=False):
    """Plain critic on s [B, F] and a [B, K, G] (one forward over B*K rows) -> [B, K] (or a pair)."""
    Bk, K = a.shape[:2]
    x = torch.cat([s.unsqueeze(1).expand(Bk, K, s.shape[-1]), a], dim=-1).reshape(Bk * K, -1)
    if q1_only:
        return net.Q1(x).view(Bk, K)
    q1, q2 = net(x)
    return q1.view(Bk, K), q2.view(Bk, K)


@pytest.mark.parametrize("method", ["ma-cql", "omar", "ma-td3bc", "ma-icq"])
def test_joint_first_update_losses_by_hand(method):
    """S=2 seeds, N=2 agents, float64: the first update's critic and actor losses of every member (s, i)
    equal a hand computation with plain per-member modules: Q_i(s, a_1..a_N) with s and a assembled from
    the seed's members' own columns, TD target from all the seed's target actors (ICQ: dataset a'),
    CQL's uniform actions (replayed generator draws) and OMAR's search in agent i's slot only, actor on
    Q_i(s, pi_i(o_i), a_{-i}). The actor loss uses the critic after its step (as update() does)."""
    L = learner(method, critic_input="joint", log_every=1)
    cfg, M, K = L.cfg, L.n_members, L.cfg.cql_n_actions
    batch = L.sample_batch(L.prepare_data(random_data()))
    before = [member_modules(L, m) for m in range(M)]
    state = L.gen.get_state()
    out = L.update(batch)
    after = [member_modules(L, m) for m in range(M)]
    g = torch.Generator()
    g.set_state(state)
    u = torch.rand((M, B, K, A), generator=g, dtype=torch.float64) if cfg.critic_reg == "cql" else None

    def seed_cat(key, s):
        return torch.cat([batch[key][s * N + j] for j in range(N)], dim=-1)  # [B, N*F]

    # ---- critic loss
    for s in range(S):
        st, st_next, ja = seed_cat("obs", s), seed_cat("next_obs", s), seed_cat("actions", s)
        with torch.no_grad():
            if method == "ma-icq":
                a_next = seed_cat("next_actions", s)
            else:
                a_next = torch.cat(
                    [before[s * N + j]["actor_target"](batch["next_obs"][s * N + j]) for j in range(N)],
                    dim=-1,
                )
        for i in range(N):
            m = s * N + i
            assert torch.equal(batch["joint_obs"][m], st) and torch.equal(batch["joint_actions"][m], ja)
            mods = before[m]
            with torch.no_grad():
                t1, t2 = mods["critic_target"](torch.cat([st_next, a_next], dim=-1))
                y = batch["rewards"][m] + cfg.gamma * (1 - batch["terminals"][m]) * torch.min(t1, t2)[:, 0]
                q1, q2 = (q[:, 0] for q in mods["critic"](torch.cat([st, ja], dim=-1)))
                err = (q1 - y) ** 2 + (q2 - y) ** 2
                if method == "ma-icq":
                    w = batch["next_valid"][m]
                    loss = (w * err).sum() / w.sum()
                else:
                    loss = err.mean()
                if cfg.critic_reg == "cql":
                    r1, r2 = _q_rows(mods["critic"], st, _slot(ja, i, u[m] * 2 - 1))  # [B, K]
                    lp = -A * math.log(2.0)
                    cql = sum((torch.logsumexp(r - lp, dim=1) - q).mean() for r, q in ((r1, q1), (r2, q2)))
                    loss = loss + cfg.cql_alpha * cql
            assert abs(float(out["critic_loss"][m]) - float(loss)) < 1e-9, (method, m)

    # ---- actor loss (actor before the update, critic after its step)
    with torch.no_grad():
        pis = torch.stack([before[m]["actor"](batch["obs"][m]) for m in range(M)])  # [M, B, A]
        if method == "omar":

            def q_fn(acts):  # [M, B, K, A] -> [M, B, K], agent i's slot only
                return torch.stack(
                    [
                        _q_rows(
                            after[m]["critic"],
                            batch["joint_obs"][m],
                            _slot(batch["joint_actions"][m], m % N, acts[m]),
                            q1_only=True,
                        )
                        for m in range(M)
                    ]
                )

            a_hat = search_action(
                q_fn,
                pis,
                sampler=cfg.omar_sampler,
                iters=cfg.omar_iters,
                n_samples=cfg.omar_n_samples,
                mu0=cfg.omar_mu0,
                sigma0=cfg.omar_sigma0,
                generator=g,
            )
        for m in range(M):
            i, pi, act = m % N, pis[m], batch["actions"][m]
            st, ja, Q1 = batch["joint_obs"][m], batch["joint_actions"][m], after[m]["critic"].Q1
            q_pi = Q1(torch.cat([st, _slot(ja, i, pi)], dim=-1))[:, 0]
            if method == "ma-cql":
                loss = -q_pi.mean() + 1e-3 * (pi**2).mean()
            elif method == "omar":
                tau = cfg.omar_tau
                loss = tau * ((pi - a_hat[m]) ** 2).mean() - (1 - tau) * q_pi.mean() + 1e-3 * (pi**2).mean()
            elif method == "ma-td3bc":
                loss = -cfg.td3bc_alpha / q_pi.abs().mean() * q_pi.mean() + ((pi - act) ** 2).mean()
            else:
                q_data = Q1(torch.cat([st, ja], dim=-1))[:, 0]
                w = B * torch.softmax((q_data - q_pi) / cfg.icq_beta, dim=0)
                loss = (w * ((pi - act) ** 2).mean(dim=1)).mean()
            assert abs(float(out["actor_loss"][m]) - float(loss)) < 1e-9, (method, m)


def test_joint_batches_share_rows_per_seed():
    """Joint mode: the members of a seed read the same rows, different seeds different rows; the
    joint tensors are the data rows of all agents in order; per-agent columns stay per member."""
    d = random_data()
    d["obs"][:, :, 0] = torch.arange(T, dtype=torch.float64)[:, None] + 0.25 * torch.arange(N)[None, :]
    for kw, shared in ((JOINT, True), ({}, False)):
        L = learner("ma-icq", **kw)
        data = L.prepare_data(d)
        batch = L.sample_batch(data)
        rows = (batch["obs"][:, :, 0] - 0.25 * L.agents[:, None]).round().long()  # [M, B]
        assert all(len(set(r.tolist())) == B for r in rows)  # without replacement
        for s in range(S):
            for i in range(1, N):
                assert torch.equal(rows[s * N], rows[s * N + i]) == shared
        assert not torch.equal(rows[0], rows[N])
        for m in range(L.n_members):
            i, r = m % N, rows[m]
            assert torch.equal(batch["rewards"][m], data["rewards"][r, i])
            assert torch.equal(batch["actions"][m], data["actions"][r, i])
            if shared:
                assert torch.equal(batch["joint_obs"][m], data["obs"][r].reshape(B, N * O))
                assert torch.equal(batch["joint_next_obs"][m], data["next_obs"][r].reshape(B, N * O))
                assert torch.equal(batch["joint_actions"][m], data["actions"][r].reshape(B, N * A))
                assert torch.equal(batch["joint_next_actions"][m], data["next_actions"][r].reshape(B, N * A))
            else:
                assert "joint_obs" not in batch


def _coordination_data(t=512, seed=1):
    """2 agents, 1-step episodes, dataset actions a ~ U(-1, 1)^2 independent, shared reward
    r_i = -(a_1 - a_2)^2: a local critic cannot explain the part of r due to a_{-i}."""
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(t, 2, 1, generator=g) * 2 - 1
    o = torch.randn(t, 2, 1, generator=g)
    r = -((a[:, 0, 0] - a[:, 1, 0]) ** 2)  # [t]
    return {
        "obs": o,
        "actions": a,
        "rewards": r[:, None].expand(t, 2).clone(),
        "next_obs": o,
        "terminals": torch.ones(t),
        "timeouts": torch.zeros(t),
    }


def test_joint_critic_explains_other_agents_action():
    """r_i = -(a_1 - a_2)^2 with independent dataset actions: the centralized critic Q_i(s, a_1, a_2)
    fits r (TD loss drops > 10x), the decentralized Q_i(o_i, a_i) cannot (irreducible variance from
    a_{-i}); both train (finite, the joint loss decreases)."""
    data = _coordination_data()
    td = {}
    for mode in ("local", "joint"):
        cfg = ITD3Config(
            hidden=32,
            batch_size=128,
            input_norm=False,
            actor_lr=3e-4,
            critic_lr=3e-3,
            actor_reg="td3bc",
            critic_input=mode,
            log_every=1,
        )
        L = ITD3([1, 1], [1, 1], 1, cfg, seed=0)
        d = L.prepare_data(data)
        hist = torch.stack([L.update(L.sample_batch(d))["td"] for _ in range(300)])  # [300, M]
        td[mode] = (hist[:20].mean(), hist[-30:].mean())
    assert td["joint"][1] < 0.1 * td["joint"][0], td
    assert td["joint"][1] < 0.25 * td["local"][1], td


def test_joint_act_and_policy_unchanged():
    """Joint mode keeps decentralized actors: act() is member (s, i)'s actor on o_i alone."""
    L = learner("omar", dtype=torch.float32, critic_input="joint")
    L.update(L.sample_batch(L.prepare_data(random_data(dtype=torch.float32))))
    assert L.critic.head1.member_module(0)[0].in_features == N * O + N * A
    obs = np.random.default_rng(0).normal(size=(S, 4, N, O)).astype(np.float32)
    a = L.policy()(obs)
    assert a.shape == (S, 4, N, A)
    with torch.no_grad():
        ref = L.actor.net.member_module(1 * N + 1).eval()(torch.from_numpy(obs[1, :, 1]))
    np.testing.assert_allclose(a[1, :, 1], ref.numpy(), atol=1e-6)


def test_joint_cql_all_slots_penalty_by_hand():
    """cql_slots="all" (a Table 5 diagnostic): the CQL term of member (s, i) is
    logsumexp_k Q(s, a^k) - log-density - Q(s, a_data) for each twin, with a^k uniform over the WHOLE
    joint action (every slot, from replayed generator draws), against a hand computation; "own" keeps
    a_-i at the data; "all" is refused without a joint critic or with the mujoco proposals."""
    L = learner("ma-cql", critic_input="joint", cql_slots="all", log_every=1)
    M, K = L.n_members, L.cfg.cql_n_actions
    batch = L.sample_batch(L.prepare_data(random_data()))
    before = [member_modules(L, m) for m in range(M)]
    state = L.gen.get_state()
    with torch.no_grad():
        x = L._critic_obs(batch)
        q1_d, q2_d = (q.squeeze(-1) for q in L.critic(x, batch["joint_actions"]))
        pen = L.cql_term(batch, q1_d, q2_d)  # [M]
    g = torch.Generator()
    g.set_state(state)
    u = torch.rand((M, B, K, N * A), generator=g, dtype=torch.float64)
    logp = -N * A * math.log(2.0)
    for m in range(M):
        a = (2 * u[m] - 1).reshape(B * K, N * A)  # every slot sampled
        assert (a.view(B, K, N, A)[:, 1:] != a.view(B, K, N, A)[:, :1]).any(dim=1).all()
        with torch.no_grad():
            crit = before[m]["critic"].train()  # input BN on batch statistics, as the learner's CQL term
            st = x[m].repeat_interleave(K, dim=0)
            q1, q2 = crit(torch.cat([st, a], dim=-1))
            data1, data2 = crit(torch.cat([x[m], batch["joint_actions"][m]], dim=-1))
        hand = sum(
            (torch.logsumexp(q.view(B, K) - logp, dim=1) - d[:, 0]).mean()
            for q, d in ((q1, data1), (q2, data2))
        )
        assert abs(float(pen[m]) - float(hand)) < 1e-8, m
    for bad in (
        dict(critic_input="local", cql_slots="all"),
        dict(critic_input="joint", cql_slots="all", cql_proposal="mujoco"),
        dict(critic_input="joint", cql_slots="every"),
    ):
        with pytest.raises(ValueError, match="cql_slots"):
            ITD3Config(critic_reg="cql", **bad).validate()


def test_checkpoint_from_before_a_new_config_field_loads_with_its_default():
    """A checkpoint written before a config field existed (here cql_slots) resumes when the field is
    at its default, and is refused when the learner sets it otherwise."""
    L = learner("ma-cql", critic_input="joint")
    L.update(L.sample_batch(L.prepare_data(random_data())))
    state = L.state_dict()
    del state["cfg"]["cql_slots"]
    L2 = learner("ma-cql", critic_input="joint")
    L2.load_state_dict(state)
    assert L2.step == 1
    with pytest.raises(ValueError, match=r"\['cql_slots'\]"):
        learner("ma-cql", critic_input="joint", cql_slots="all").load_state_dict(state)


# ---- OMAR's job: the official loop's fixed minibatches, and the readings of a curve ---------------------------
def test_official_minibatches_cycle_the_same_batches_and_repeat_on_resume():
    from common.running.offline import fixed_minibatches as official_minibatches

    L = learner("omar", dtype=torch.float32)
    data = L.prepare_data(random_data(dtype=torch.float32))
    assert official_minibatches(L, data, seed=0, n=0) is None  # default: a fresh draw every update
    a = official_minibatches(L, data, seed=0, n=10)
    b = official_minibatches(L, data, seed=0, n=10)  # a resumed run rebuilds the same ones
    c = official_minibatches(L, data, seed=1, n=10)
    assert len(a) == 10
    for x, y in zip(a, b):
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert not torch.equal(a[0]["obs"], a[1]["obs"])  # ten different minibatches ...
    assert not torch.equal(a[0]["obs"], c[0]["obs"])  # ... that depend on the run's seed
    # the learner's own stream is untouched, so fresh draws are as without the option
    g_before = L.gen.get_state()
    official_minibatches(L, data, seed=0, n=10)
    assert torch.equal(L.gen.get_state(), g_before)


def test_official_minibatches_option_only_enters_the_config_when_set():
    from common.running.profiles import get_profile
    from papers.omar.config import PROFILE_OVERRIDES
    from papers.omar.jobs import offline_config

    p = get_profile("smoke", PROFILE_OVERRIDES)
    plain = offline_config(p, "omar/spread", "expert", "ma_cql")
    assert "official_minibatches" not in plain  # existing configs (and hashes) are unchanged
    assert (
        offline_config(p, "omar/spread", "expert", "ma_cql", official_minibatches=10)["official_minibatches"]
        == 10
    )
    for bad in (-1, True, 2.5):
        with pytest.raises(ValueError, match="official_minibatches="):
            offline_config(p, "omar/spread", "expert", "ma_cql", official_minibatches=bad)


def test_score_readings_by_hand():
    from common.running.offline import score_readings

    curve = [{"step": 10 * i, "score": s} for i, s in enumerate([1.0, 5.0, 2.0] + [3.0] * 9 + [0.0])]
    r = score_readings(curve)
    assert r["score_best"] == 5.0
    assert r["score_last10"] == pytest.approx((3.0 * 9 + 0.0) / 10)  # the last 10 of 13 evaluations
    assert score_readings([{"step": 1, "score": 2.0}]) == {"score_best": 2.0, "score_last10": 2.0}
