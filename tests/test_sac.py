"""SAC behavior learner (common/behavior/sac.py, sac_train.py): losses by hand, batched = separate, exact resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from common.behavior.sac import SAC, Member, SACConfig
from common.behavior.sac_train import train_sac

TINY = SACConfig(hidden=(8, 8), batch_size=16, start_steps=50, learning_starts=50)


def _fill(lr: SAC, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        lr.buffer.add(
            obs=rng.standard_normal((lr.M, lr.O)),
            actions=rng.uniform(-1, 1, (lr.M, lr.A)),
            rewards=rng.standard_normal(lr.M),
            next_obs=rng.standard_normal((lr.M, lr.O)),
            terminals=rng.random(lr.M) < 0.1,
            timeouts=np.zeros(lr.M),
        )


def _constant_nets(lr: SAC, mu: float, log_std: float, q: float, q_targ: float) -> None:
    """Every network outputs a constant: all weights 0, the output biases set."""
    with torch.no_grad():
        for mod in (lr.actor, lr.critic, lr.critic_targ):
            for p in mod.parameters():
                p.zero_()
        lr.actor.head.bias[..., 0] = mu  # [M, 1, 2A]: μ then log σ (A = 1)
        lr.actor.head.bias[..., 1] = log_std
        lr.critic.q1.layers[-1].bias.fill_(q)
        lr.critic.q2.layers[-1].bias.fill_(q + 1.0)  # min picks Q1
        lr.critic_targ.q1.layers[-1].bias.fill_(q_targ)
        lr.critic_targ.q2.layers[-1].bias.fill_(q_targ + 2.0)


def test_losses_against_a_hand_computed_case():
    cfg = SACConfig(hidden=(4,), gamma=0.9, init_alpha=0.5)
    lr = SAC([Member("t", 0)], 3, 1, cfg, capacity=4)
    mu, log_std, q, qt = 0.2, -0.5, 1.5, 2.0
    _constant_nets(lr, mu, log_std, q, qt)
    batch = {
        "obs": torch.zeros(1, 2, 3),
        "next_obs": torch.ones(1, 2, 3),
        "actions": torch.zeros(1, 2, 1),
        "rewards": torch.tensor([[1.0, -1.0]]),
        "terminals": torch.tensor([[0.0, 1.0]]),
        "timeouts": torch.zeros(1, 2),
    }
    e = [0.3, -1.2]  # noise at s (both rows) ...
    e2 = [0.7, 0.1]  # ... and at s'
    eps = torch.tensor([[[[e[0]], [e[1]]]], [[[e2[0]], [e2[1]]]]])  # [2, M=1, B=2, A=1]
    out = lr.losses(batch, eps)

    def logp(x):  # log N(u; μ, σ) − log(1 − tanh²u), u = μ + σ x
        u = mu + math.exp(log_std) * x
        return -0.5 * x * x - log_std - 0.5 * math.log(2 * math.pi) - math.log(1 - math.tanh(u) ** 2)

    alpha, H = 0.5, -1.0
    lp, lp2 = [logp(x) for x in e], [logp(x) for x in e2]
    y = [1.0 + 0.9 * (qt - alpha * lp2[0]), -1.0]  # the second row is terminal
    critic = sum((q - yi) ** 2 for yi in y) / 2 + sum((q + 1 - yi) ** 2 for yi in y) / 2
    actor = sum(alpha * x - q for x in lp) / 2
    alpha_loss = -math.log(alpha) * sum(x + H for x in lp) / 2
    assert out["critic_loss"].item() == pytest.approx(critic, rel=1e-5)
    assert out["actor_loss"].item() == pytest.approx(actor, rel=1e-5)
    assert out["alpha_loss"].item() == pytest.approx(alpha_loss, rel=1e-5)
    assert out["entropy"].item() == pytest.approx(-sum(lp) / 2, rel=1e-5)


def test_update_steps_each_loss_into_its_own_parameters_only():
    lr = SAC([Member("t", 0)], 3, 2, TINY, capacity=100)
    _fill(lr, 100)
    batch = lr.sample()
    eps = torch.randn(2, 1, TINY.batch_size, 2)
    critic_grads = torch.autograd.grad(lr.losses(batch, eps)["critic_loss"], list(lr.critic.parameters()))
    actor_grads = torch.autograd.grad(lr.losses(batch, eps)["actor_loss"], list(lr.actor.parameters()))
    lr.update(batch, eps)
    # the optimizer's groups: actor, critics, log α
    for group, grads in ((1, critic_grads), (0, actor_grads)):
        params = lr.opt.param_groups[group]["params"]
        assert len(params) == len(grads)
        for p, g in zip(params, grads):
            assert torch.allclose(p.grad, g, atol=1e-6)  # the actor loss put nothing into the critics' grads


def test_batched_members_equal_separate_learners():
    members = [Member("halfcheetah", 0), Member("walker2d", 3), Member("halfcheetah", 5)]
    both = SAC(members, 5, 2, TINY, capacity=200)
    alone = [SAC([m], 5, 2, TINY, capacity=200) for m in members]
    rng = np.random.default_rng(1)
    for _ in range(200):
        step = dict(
            obs=rng.standard_normal((3, 5)),
            actions=rng.uniform(-1, 1, (3, 2)),
            rewards=rng.standard_normal(3),
            next_obs=rng.standard_normal((3, 5)),
            terminals=rng.random(3) < 0.1,
            timeouts=np.zeros(3),
        )
        both.buffer.add(**step)
        for m, lr in enumerate(alone):
            lr.buffer.add(**{k: v[m : m + 1] for k, v in step.items()})
    for _ in range(10):
        both.update()
        for lr in alone:
            lr.update()
    for m, lr in enumerate(alone):
        for (k, p), q in zip(both.actor.state_dict().items(), lr.actor.state_dict().values()):
            assert torch.allclose(p[m], q[0], atol=1e-5), k
        for p, q in zip(both.critic.parameters(), lr.critic.parameters()):
            assert torch.allclose(p[m], q[0], atol=1e-5)
        assert torch.allclose(both.log_alpha[m], lr.log_alpha[0], atol=1e-6)
    obs = rng.standard_normal((3, 5))
    acts = both.act(obs)
    for m, lr in enumerate(alone):
        assert np.allclose(acts[m], lr.act(obs[m : m + 1])[0], atol=1e-5)  # sampled actions: same generators


def test_members_initialise_from_their_own_seed_and_differ_across_seeds():
    a = SAC([Member("hopper", 1)], 4, 2, TINY, 10)
    b = SAC([Member("hopper", 0), Member("hopper", 1)], 4, 2, TINY, 10)
    w = a.actor.trunk.layers[0].weight
    assert torch.equal(w[0], b.actor.trunk.layers[0].weight[1])
    assert not torch.equal(b.actor.trunk.layers[0].weight[0], b.actor.trunk.layers[0].weight[1])
    # rlkit init: hidden biases 0.1, output layers within ±3e-3
    assert torch.all(a.actor.trunk.layers[0].bias == 0.1)
    assert a.critic.q1.layers[-1].weight.abs().max() <= 3e-3


def test_bad_config_is_an_error_naming_the_value():
    with pytest.raises(ValueError, match="init='nope'"):
        SACConfig(init="nope").validate()
    with pytest.raises(ValueError, match="duplicate members"):
        SAC([Member("hopper", 0)] * 2, 4, 2, TINY, 10)


def test_train_resumes_from_a_checkpoint_bit_identically(tmp_path):
    kw = dict(eval_every=100, eval_episodes=1, checkpoint_every=100)
    members = [Member("hopper", 0)]
    whole = train_sac(members, TINY, 300, checkpoint=tmp_path / "a.pt", **kw)
    part = train_sac(members, TINY, 300, checkpoint=tmp_path / "b.pt", stop_at=200, **kw)  # "killed" at 200
    assert part.learner.env_steps == 200
    rest = train_sac(members, TINY, 300, checkpoint=tmp_path / "b.pt", **kw)
    assert rest.resumed_from == 200
    for k in whole.learner.buffer.np:
        assert np.array_equal(whole.learner.buffer.np[k], rest.learner.buffer.np[k]), k
    for p, q in zip(whole.learner.actor.parameters(), rest.learner.actor.parameters()):
        assert torch.equal(p, q)
    assert [s for s, _ in whole.evals] == [s for s, _ in rest.evals] == [0, 100, 200, 300]
    assert np.array_equal(whole.curve, rest.curve)
    # each process's piece of the run, with the CPU that made it (results are bit-identical on one CPU type only)
    assert [(p["start"], p["stop"]) for p in rest.pieces] == [(0, 200), (200, 300)]
    assert [(p["start"], p["stop"]) for p in whole.pieces] == [(0, 300)] and whole.pieces[0]["cpu"]
    # checkpoints written by time as well change nothing in the run
    timed = train_sac(members, TINY, 300, checkpoint=tmp_path / "c.pt", checkpoint_seconds=1e-9, **kw)
    for p, q in zip(whole.learner.actor.parameters(), timed.learner.actor.parameters()):
        assert torch.equal(p, q)
    # a checkpoint of different arguments is refused, naming the file
    with pytest.raises(ValueError, match="b.pt.*differs in"):
        train_sac(members, TINY, 400, checkpoint=tmp_path / "b.pt", **kw)
