"""OTC's BREMEN base learner (papers/otc/bremen.py): the model loss, BC loss and PPO-clip loss on hand cases, the
imagined rollouts against a hand-set model (Delta o = 0, r = 1), BC moving the mean to the data's actions, the
hold-out (never sampled during the BC stage, best-so-far restored at its end), the batched learner against each
seed alone, checkpoint -> resume, validate(), the registry and the acting protocol."""

import copy
import math

import numpy as np
import pytest
import torch

from common.algos import LEARNERS, build_learner
from common.datasets.dataset import Dataset
from papers.otc.bremen import BREMEN, bc_loss, ppo_losses
from papers.otc.bremen_config import BREMENConfig
from papers.otc.bremen_models import data_stats, model_loss

F64 = torch.float64


def tiny(**kw):
    return BREMENConfig(
        **{
            "hidden": (8, 8),
            "batch_size": 16,
            "n_models": 3,
            "horizon": 5,
            "rollout_starts": 8,
            "ppo_minibatches": 2,
            "bc_updates": 0,
            "log_every": 1,
            **kw,
        }
    )


def toy_tensors(t=64, n=2, o=3, a=2, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(t, n, o, generator=g, dtype=dtype)
    return {
        "obs": obs,
        "actions": (torch.rand(t, n, a, generator=g, dtype=dtype) * 2 - 1) * 0.1,
        "rewards": torch.randn(t, n, generator=g, dtype=dtype),
        "next_obs": obs + 0.1 * torch.randn(t, n, o, generator=g, dtype=dtype),
        "terminals": torch.zeros(t, dtype=dtype),
    }


def learner(cfg, seeds=(7,), data=None, n=2, o=3, a=2):
    data = toy_tensors(n=n, o=o, a=a) if data is None else data
    L = BREMEN(o, a, n, len(seeds), data_stats(data), data["obs"].shape[0], cfg, seeds=list(seeds), dtype=F64)
    L.attach(data)
    return L, data


def params(L, names=("actor", "value", "model", "model_best")):
    return {f"{n}.{k}": v.detach().clone() for n in names for k, v in getattr(L, n).state_dict().items()}


# ---- named losses on hand-computed cases ------------------------------------------------------------------


def test_model_loss_by_hand():
    pred = torch.tensor([[[1.0, 2.0], [0.0, 0.0]], [[3.0, 3.0], [3.0, 3.0]]])  # [K=2, B=2, D=2]
    target = torch.tensor([[[0.0, 0.0], [0.0, 4.0]], [[3.0, 3.0], [3.0, 1.0]]])
    torch.testing.assert_close(model_loss(pred, target), torch.tensor([(1 + 4 + 0 + 16) / 4, 4 / 4]))
    torch.testing.assert_close(bc_loss(torch.tensor([[-1.0, -3.0]])), torch.tensor([2.0]))


def test_ppo_clipped_surrogate_and_value_loss_by_hand():
    """rho = 1.5, A = +1 -> clipped at 1.2; rho = 0.5, A = -1 -> min(-0.5, -0.8) = -0.8; rho = 1, A = 2 -> 2."""
    logp_old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.0]])).requires_grad_(True)
    adv = torch.tensor([[1.0, -1.0, 2.0]])
    pl, vl = ppo_losses(
        logp, logp_old, adv, torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[0.0, 2.0, 5.0]]), 0.2
    )
    torch.testing.assert_close(pl, torch.tensor([-(1.2 - 0.8 + 2.0) / 3]))
    torch.testing.assert_close(vl, torch.tensor([(1.0 + 0.0 + 4.0) / 3]))
    pl.sum().backward()  # the clipped rows carry no gradient, the last one rho A / 3 = 2 / 3
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, 0.0, -2.0 / 3]]))


def test_data_stats_by_hand():
    d = {
        "obs": torch.tensor([[[0.0]], [[2.0]]]),
        "actions": torch.tensor([[[1.0]], [[1.0]]]),
        "rewards": torch.tensor([[1.0], [3.0]]),
        "next_obs": torch.tensor([[[1.0]], [[5.0]]]),
    }
    s = data_stats(d, rows=1)  # two chunks of one row
    torch.testing.assert_close(s["x_mean"], torch.tensor([[1.0, 1.0]], dtype=F64))
    # constant action: std 0 -> 1
    torch.testing.assert_close(s["x_std"], torch.tensor([[1.0, 1.0]], dtype=F64))
    torch.testing.assert_close(s["y_mean"], torch.tensor([[2.0, 2.0]], dtype=F64))  # Delta o in {1, 3}
    torch.testing.assert_close(s["y_std"], torch.tensor([[1.0, 1.0]], dtype=F64))
    assert s["obs_lo"].item() == 0.0 and s["obs_hi"].item() == 5.0 and s["r_lo"].item() == 1.0


# ---- the learner's pieces ---------------------------------------------------------------------------------


def test_model_step_loss_is_the_normalized_mse():
    L, data = learner(tiny())
    batch = L.sample_batch(data)
    b = L.buffers
    y = (
        torch.cat([batch["next_obs"] - batch["obs"], batch["rewards"][..., None]], -1) - b.y_mean[:, None]
    ) / b.y_std[:, None]
    x = (torch.cat([batch["obs"], batch["actions"]], -1) - b.x_mean[:, None]) / b.x_std[:, None]
    ref = torch.stack(
        [
            torch.stack(
                [(L.model.member_module(m * 3 + e)(x[m]) - y[m]).square().mean() for e in range(3)]
            ).mean()
            for m in range(2)
        ]
    )
    torch.testing.assert_close(L.model_step(batch), ref.detach())


def constant_model(L, reward=1.0):
    """Every model predicts Delta o = 0 and r = ``reward`` (zero last layer, outputs de-normalized by 0 + 1 x),
    the value net is 0 everywhere."""
    with torch.no_grad():
        for net in (L.model, L.value):
            net.layers[-1].weight.zero_()
            net.layers[-1].bias.zero_()
        L.buffers.y_mean.zero_()
        L.buffers.y_mean[:, -1] = reward
        L.buffers.y_std.fill_(1.0)
        L.buffers.r_hi.fill_(10.0)


def test_imagined_rollouts_follow_the_model_and_give_hand_returns():
    cfg = tiny(horizon=4, gamma=0.9, gae_lambda=0.5)
    L, data = learner(cfg)
    constant_model(L)
    noise = L.draw_noise()
    start = data["obs"][noise["start"], L.agents[:, None]]  # [M, R, O]
    roll = L.imagine(start, noise["eps"], noise["model"])
    assert roll["obs"].shape == (2, 8, 4, 3) and roll["actions"].shape == (2, 8, 4, 2)
    torch.testing.assert_close(roll["obs"], start[:, :, None].expand_as(roll["obs"]))  # Delta o = 0: o stays
    torch.testing.assert_close(roll["rewards"], torch.ones(2, 8, 4, dtype=F64))
    mean, log_std = L.actor(start)
    a0 = mean + log_std.exp() * noise["eps"][:, 0]
    torch.testing.assert_close(roll["actions"][:, :, 0], a0)  # a_t = mu + sigma eps_t
    adv, ret = L.advantages(roll)
    # V = 0: G_t = sum_{k < H - t} gamma^k; A_t = sum_{k < H - t} (gamma lambda)^k
    g = torch.tensor([sum(0.9**k for k in range(4 - t)) for t in range(4)], dtype=F64)
    a = torch.tensor([sum(0.45**k for k in range(4 - t)) for t in range(4)], dtype=F64)
    torch.testing.assert_close(ret, g.expand_as(ret))
    torch.testing.assert_close(adv, a.expand_as(adv))
    # rollout starts are uniform over the attached data B^k (here B^0 and 936 online rows)
    L.attach({k: torch.cat([v, v.new_zeros(936, *v.shape[1:])]) for k, v in data.items()})
    starts = L.draw_noise()["start"]
    assert starts.max() < 1000 and (starts >= 64).float().mean() > 0.8


def test_imagination_uses_the_drawn_ensemble_member_and_clips_to_the_data():
    L, data = learner(tiny())
    constant_model(L)
    with torch.no_grad():  # model e of every member predicts r = e (its normalized output = e)
        L.model.layers[-1].bias.view(2, 3, -1)[:, :, -1] = torch.arange(3, dtype=F64) - 1.0
        L.buffers.r_lo.fill_(0.5)
        L.buffers.r_hi.fill_(1.5)
    obs = data["obs"][:4].transpose(0, 1)  # [M, 4, O]
    for which, want in (
        ([0, 2], [0.5, 1.5]),
        ([1, 0], [1.0, 0.5]),
        ([2, 1], [1.5, 1.0]),
    ):  # r = e, in [0.5, 1.5]
        _, r = L.predict(obs, torch.zeros(2, 4, 2, dtype=F64), torch.tensor(which))
        torch.testing.assert_close(r, torch.tensor(want, dtype=F64)[:, None].expand(2, 4))
    # the chosen model's full prediction equals that member's own network (normalized in, de-normalized out)
    L2, _ = learner(tiny(), data=data)
    act = torch.rand(2, 4, 2, dtype=F64) * 0.1
    o2, r = L2.predict(obs, act, torch.tensor([2, 1]))
    b = L2.buffers
    for m, e in ((0, 2), (1, 1)):
        y = L2.model.member_module(m * 3 + e)((torch.cat([obs[m], act[m]], -1) - b.x_mean[m]) / b.x_std[m])
        y = y * b.y_std[m] + b.y_mean[m]
        torch.testing.assert_close(
            o2[m], torch.maximum(torch.minimum(obs[m] + y[:, :3], b.obs_hi[m]), b.obs_lo[m])
        )
        torch.testing.assert_close(r[m], y[:, 3].clamp(b.r_lo[m], b.r_hi[m]))


def test_bc_moves_the_mean_to_the_data_actions():
    data = toy_tensors(t=64)
    data["actions"][:] = torch.tensor([0.05, -0.08], dtype=F64)
    L, _ = learner(tiny(bc_updates=200, actor_lr=1e-2, holdout_fraction=0.0), data=data)
    gap0 = (L.actor.mean(data["obs"].transpose(0, 1)) - data["actions"].transpose(0, 1)).abs().mean()
    for _ in range(200):
        out = L.update(L.sample_batch(data))
        assert "bc_loss" in out and "actor_loss" not in out
    gap = (L.actor.mean(data["obs"].transpose(0, 1)) - data["actions"].transpose(0, 1)).abs().mean()
    assert gap < 0.1 * gap0
    assert "actor_loss" in L.update(L.sample_batch(data))  # then PPO


def test_holdout_rows_are_never_sampled_in_the_bc_stage_and_the_best_models_come_back():
    data = toy_tensors(t=100)
    data["obs"][:, :, 0] = torch.arange(100, dtype=F64)[:, None]  # obs[..., 0] = the row id
    L, _ = learner(tiny(bc_updates=4, holdout_every=2, holdout_fraction=0.2, model_lr=0.05), data=data)
    held = set(L.holdout[0].tolist())
    assert len(held) == 20 and set(L.train_rows[0].tolist()) == set(range(100)) - held
    seen = set()
    for _ in range(4):
        batch = L.sample_batch(data)
        seen |= set(batch["obs"][..., 0].long().flatten().tolist())
        best_before = L.buffers.best_loss.clone()
        L.update(batch)
    assert not seen & held
    assert torch.isfinite(L.buffers.best_loss).all() and (L.buffers.best_loss <= best_before).all()
    # at the end of the BC stage every model holds its best-so-far parameters, scored as recorded
    assert all(torch.equal(p, q) for p, q in zip(L.model.parameters(), L.model_best.parameters()))
    torch.testing.assert_close(L.holdout_loss(), L.buffers.best_loss)
    after = set()  # the PPO stage samples every row of B^k uniformly again
    for _ in range(10):
        after |= set(L.sample_batch(data)["obs"][..., 0].long().flatten().tolist())
    assert after & held


def test_batched_equals_each_seed_trained_alone():
    """float64: 3 updates (BC, hold-out selection, then PPO) of 2 seeds x 2 agents in one learner == 2 one-seed
    learners, each given its members' rows of the same batches and noise."""
    cfg = tiny(bc_updates=1, holdout_every=1, actor_lr=1e-2, value_lr=1e-2, model_lr=1e-2)
    big, data = learner(cfg, seeds=(7, 8))
    solo = [learner(cfg, seeds=(s,), data=data)[0] for s in (7, 8)]
    assert torch.equal(big.holdout, torch.cat([L.holdout for L in solo]))
    init = params(big)
    for L, sl in zip(solo, (slice(0, 2), slice(2, 4))):  # seed s's members are built from seeds[s] alone
        assert all(
            torch.equal(v[sl if "model" not in k else slice(sl.start * 3, sl.stop * 3)], params(L)[k])
            for k, v in init.items()
        )
    for _ in range(3):
        batch = big.sample_batch(data)
        noise = big.draw_noise()
        big.update(batch, noise)
        for L, sl in zip(solo, (slice(0, 2), slice(2, 4))):
            L.update({k: v[sl] for k, v in batch.items()}, {k: v[sl] for k, v in noise.items()})
    got = params(big)
    for L, sl in zip(solo, (slice(0, 2), slice(2, 4))):
        ref = params(L)
        for k, v in got.items():
            rows = slice(sl.start * 3, sl.stop * 3) if k.startswith("model") else sl
            assert (v[rows] - ref[k]).abs().max().item() < 1e-12, k
    assert max((got[k] - init[k]).abs().max().item() for k in init) > 1e-3  # it moved


def test_checkpoint_resume_gives_identical_updates():
    cfg = tiny(bc_updates=2, holdout_every=1)
    L, data = learner(cfg)
    for _ in range(3):
        L.update(L.sample_batch(data))
    state = copy.deepcopy(L.state_dict())  # Adam's load_state_dict shares tensors: keep a private copy
    for _ in range(3):
        L.update(L.sample_batch(data))
    R, _ = learner(cfg, data=data)
    R.load_state_dict(state)
    for _ in range(3):
        R.update(R.sample_batch(data))
    assert R.step == L.step == 6
    a, b = (
        params(L, ("actor", "value", "model", "model_best", "buffers")),
        params(R, ("actor", "value", "model", "model_best", "buffers")),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(L.gen.get_state(), R.gen.get_state())
    other, _ = learner(tiny(bc_updates=2, holdout_every=1, horizon=6), data=data)
    with pytest.raises(ValueError, match="horizon"):
        other.load_state_dict(state)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"horizon": 0}, r"horizon=0 is not allowed; choose an integer >= 1"),
        ({"ppo_clip": -0.1}, r"ppo_clip=-0.1 is not allowed; choose a number > 0"),
        ({"gamma": 1.5}, r"gamma=1.5 is not allowed; choose a number in \[0, 1\]"),
        ({"holdout_fraction": 1.0}, r"holdout_fraction=1.0 is not allowed; choose a number in \[0, 1\)"),
        ({"hidden": ()}, r"hidden=\(\) is not allowed; choose a non-empty"),
        ({"bc_updates": 1.5}, r"bc_updates=1.5 is not allowed; choose an integer >= 0"),
        (
            {"ppo_minibatches": 99, "rollout_starts": 2, "horizon": 3},
            r"ppo_minibatches=99 must be <= rollout_starts",
        ),
    ],
)
def test_validate_names_the_bad_value(kw, match):
    with pytest.raises(ValueError, match=match):
        BREMENConfig(**kw).validate()


def test_config_defaults_are_the_spec_and_json_lists_equal_tuples():
    c = BREMENConfig().validate()
    assert (c.hidden, c.actor_lr, c.value_lr, c.batch_size, c.gamma) == ((256, 256), 1e-4, 5e-4, 128, 0.99)
    assert (c.n_models, c.horizon, c.ppo_clip, c.bc_updates, c.holdout_fraction) == (5, 25, 0.2, 10_000, 0.1)
    assert BREMENConfig(hidden=[256, 256], log_std_bounds=[-6.0, 0.0]) == c


def test_registry_builds_bremen_and_acts_with_the_clipped_mean():
    assert LEARNERS["bremen"].__module__ == "papers.otc.bremen"
    rng = np.random.default_rng(0)
    t, n = 40, 3
    obs = rng.normal(size=(t, n, 4))
    timeouts = np.zeros(t, bool)
    timeouts[-1] = True
    data = Dataset.from_arrays(
        "toy",
        "random",
        obs,
        rng.uniform(-0.1, 0.1, (t, n, 2)),
        rng.normal(size=(t, n)),
        obs + 0.01,
        np.zeros(t, bool),
        timeouts,
        obs_dims=(4,) * n,
        act_dims=(2,) * n,
    )
    L = build_learner(
        "bremen",
        data,
        dict(hidden=[8], batch_size=8, rollout_starts=4, horizon=3, bc_updates=1, max_action=0.1),
        5,
        "cpu",
    )
    assert isinstance(L, BREMEN) and L.seeds == [5] and L.n_members == 3 and L.cfg.hidden == (8,)
    assert L.agents.tolist() == [0, 1, 2] and L.holdout.shape == (1, 4)
    # the policy starts at the data's action spread
    torch.testing.assert_close(
        L.actor.log_std().exp(), torch.from_numpy(data.arrays["actions"].std(0)).float(), rtol=1e-4, atol=0
    )
    L.attach(data.to_torch())
    for _ in range(2):
        L.update(L.sample_batch(data.to_torch()))
    with torch.no_grad():
        L.actor.net.layers[-1].bias.copy_(torch.tensor([[[2.0, 0.05]], [[-0.3, 0.0]], [[0.0, 0.0]]]))
    o = rng.normal(size=(1, 5, n, 4)).astype(np.float32)
    state = L.gen.get_state()
    act = L.policy()(o)
    assert act.shape == (1, 5, n, 2) and act.dtype == np.float32
    assert torch.equal(L.gen.get_state(), state)  # acting leaves the training stream alone
    assert np.all(np.abs(act) <= 0.1) and np.all(act[0, :, 0, 0] == 0.1) and np.all(act[0, :, 1, 0] == -0.1)
    with pytest.raises(ValueError, match="obs must be"):
        L.act(o[:, :, :2])
    with pytest.raises(RuntimeError, match="attach"):
        build_learner("bremen", data, dict(hidden=[8], bc_updates=0), 5, "cpu").update(
            L.sample_batch(data.to_torch())
        )


def test_learns_a_reward_the_model_sees():
    """One agent, obs 1, act 1: r = -(a - 0.05)^2 / 0.01 and o' = o in the data (random actions in +-0.1). After the
    BC stage and some PPO iterations on the fitted models, the policy mean moves toward 0.05."""
    g = torch.Generator().manual_seed(0)
    t = 512
    obs = torch.randn(t, 1, 1, generator=g, dtype=F64)
    act = (torch.rand(t, 1, 1, generator=g, dtype=F64) * 2 - 1) * 0.1
    data = {
        "obs": obs,
        "actions": act,
        "rewards": -((act[..., 0] - 0.05) ** 2) / 0.01,
        "next_obs": obs.clone(),
        "terminals": torch.zeros(t, dtype=F64),
    }
    cfg = tiny(
        hidden=(32, 32),
        bc_updates=200,
        holdout_every=50,
        model_lr=3e-3,
        actor_lr=3e-3,
        value_lr=3e-3,
        batch_size=64,
        rollout_starts=32,
        max_action=0.1,
        gamma=0.9,
    )
    L, _ = learner(cfg, data=data, n=1, o=1, a=1)
    for _ in range(200):
        L.update(L.sample_batch(data))
    m0 = L.actor.mean(obs.transpose(0, 1)).mean().item()
    for _ in range(150):
        L.update(L.sample_batch(data))
    m1 = L.actor.mean(obs.transpose(0, 1)).mean().item()
    assert abs(m0) < 0.03 and 0.03 < m1 < 0.07 and not math.isnan(m1)  # 0.05 is the best action
