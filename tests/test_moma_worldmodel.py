"""MOMA-PPO's world-model ensemble (papers/moma_ppo/worldmodel*.py): hand-computed losses and
uncertainties, the sampling options, the clipping box, batched == per-member training, elite
selection, checkpoints, and a small learning check. Tiny widths; the defaults stay the paper's."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.datasets.dataset import Dataset
from papers.moma_ppo.worldmodel import WorldModelEnsemble
from papers.moma_ppo.worldmodel_data import (
    JointLayout,
    WorldModelConfig,
    dataset_box,
    dataset_tensors,
    split_indices,
)
from papers.moma_ppo.worldmodel_nets import gaussian_nll, mask_bce, weights_sha256
from papers.moma_ppo.worldmodel_sample import aleatoric_norm, epistemic_general, epistemic_reward

OBS_DIMS, ACT_DIMS = (2, 3), (1, 2)  # heterogeneous agents: padding to O = 3, A = 2
TINY = dict(hidden=8, t_layers=1, r_layers=1, mask_layers=1)


def tiny_cfg(**kw) -> WorldModelConfig:
    return WorldModelConfig(**{**TINY, **kw})


def random_dataset(T=60, seed=0, obs_offset=0.0, kind="medium", env="test/wm") -> Dataset:
    """Random transitions with obs[:, 0, 0] = obs_offset + t (the row id, to trace minibatch rows)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(T, 2, 3)).astype(np.float32)
    nxt = rng.normal(size=(T, 2, 3)).astype(np.float32)
    obs[:, 0, 2] = nxt[:, 0, 2] = 0.0  # agent 0 has 2 obs dims
    obs[:, 0, 0] = obs_offset + np.arange(T)
    act = rng.uniform(-1.2, 1.2, size=(T, 2, 2)).astype(np.float32)
    act[:, 0, 1] = 0.0  # agent 0 has 1 action dim
    r = rng.normal(size=(T, 1)).astype(np.float32).repeat(2, axis=1)
    term = np.zeros(T, bool)
    term[::7] = True
    tout = np.zeros(T, bool)
    tout[-1] = True
    return Dataset.from_arrays(env, kind, obs, act, r, nxt, term, tout, obs_dims=OBS_DIMS, act_dims=ACT_DIMS)


def box_dataset() -> Dataset:
    """4 hand-written steps whose box is known: obs_low [[0, -1, 0], [-2, -3, -1]], obs_high
    [[3, 5, 0], [4, 1, 2]], rewards in [-1, 2]."""
    obs = np.zeros((4, 2, 3), np.float32)
    nxt = np.zeros((4, 2, 3), np.float32)
    obs[:, 0, :2] = [[0, 1], [2, -1], [1, 0], [0, 0]]
    nxt[:, 0, :2] = [[2, -1], [1, 0], [0, 0], [3, 5]]
    obs[:, 1] = [[-2, 0, 1], [0, 0, 0], [1, 1, 1], [0.5, -3, 2]]
    nxt[:, 1] = [[0, 0, 0], [1, 1, 1], [0.5, -3, 2], [4, 0, -1]]
    act = np.zeros((4, 2, 2), np.float32)
    r = np.array([0.5, -1.0, 2.0, 0.0], np.float32)[:, None].repeat(2, axis=1)
    return Dataset.from_arrays(
        "test/wm",
        "medium",
        obs,
        act,
        r,
        nxt,
        [0, 0, 0, 1],
        [0, 0, 0, 0],
        obs_dims=OBS_DIMS,
        act_dims=ACT_DIMS,
    )


@torch.no_grad()
def set_constant(
    wm: WorldModelEnsemble,
    member: int,
    mean_t=0.0,
    log_std_t=-6.0,
    mean_r=0.0,
    log_std_r=-6.0,
    mask_logit=0.0,
) -> None:
    """Member ``member`` (global index) predicts constants whatever its input: last layers' weights 0."""
    h = wm.heads
    for head, mean, ls in ((h.T, mean_t, log_std_t), (h.R, mean_r, log_std_r)):
        last, d = head.net.layers[-1], head.out_dim
        last.weight[member].zero_()
        last.bias[member, 0, :d] = torch.as_tensor(mean, dtype=torch.float32)
        last.bias[member, 0, d:] = torch.as_tensor(ls, dtype=torch.float32)
    h.mask.layers[-1].weight[member].zero_()
    h.mask.layers[-1].bias[member, 0] = torch.as_tensor(mask_logit, dtype=torch.float32)


def constant_ensemble(cfg=None, box=None, n_members=7):
    """An ensemble of the test layout (Oj = 5, N = 2) whose members all predict 0 with sigma = e^-6."""
    cfg = cfg or tiny_cfg(n_members=n_members, clip_to_dataset=box is not None)
    if box is None:
        wm = WorldModelEnsemble(JointLayout(OBS_DIMS, ACT_DIMS), cfg, seeds=[0])
    else:
        wm = WorldModelEnsemble.for_datasets(box, cfg, seeds=[0])
    for m in range(wm.n_members):
        set_constant(wm, m)
    wm.set_elites([0, 1, 2, 3, 4])
    return wm


def any_batch(B=3):
    return torch.zeros(B, 2, 3), torch.zeros(B, 2, 2)


# ----------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------


def test_config_defaults_are_the_papers_and_codes():
    c = WorldModelConfig().validate()
    assert (c.n_members, c.n_elites, c.hidden, c.t_layers, c.r_layers, c.mask_layers) == (7, 5, 1024, 4, 4, 2)
    assert (c.log_std_min, c.log_std_max, c.lr, c.weight_decay, c.grad_clip) == (-6.0, 2.0, 3e-5, 0.0, 1.0)
    assert (c.batch_size, c.n_updates, c.valid_fraction, c.split_seed, c.action_eps) == (
        256,
        10_001,
        0.1,
        12345,
        1e-5,
    )
    assert (c.lambda_g, c.lambda_r, c.lambda_aleatoric, c.threshold, c.clip_to_dataset) == (
        0.1,
        0.05,
        0.0,
        2.0,
        True,
    )
    assert (c.reward_source, c.done_vote) == ("sampled_member", "agents_of_member")


@pytest.mark.parametrize(
    "kw, words",
    [
        (dict(reward_source="mean"), ["reward_source", "'mean'", "sampled_member", "ensemble_mean"]),
        (dict(done_vote="majority"), ["done_vote", "agents_of_member", "members"]),
        (dict(n_elites=8), ["n_elites=8", "n_members=7"]),
        (dict(n_elites=1), ["n_elites=1", ">= 2"]),
        (dict(threshold=0.0), ["threshold"]),
        (dict(valid_fraction=1.0), ["valid_fraction"]),
        (dict(lambda_g=-0.1), ["lambda_g"]),
        (dict(hidden=0), ["hidden"]),
        (dict(elite_eval_rows=0), ["elite_eval_rows"]),
    ],
)
def test_config_rejects_bad_values_naming_them(kw, words):
    with pytest.raises(ValueError) as e:
        WorldModelConfig(**kw).validate()
    for w in words:
        assert w in str(e.value)


def test_config_allows_infinite_threshold_for_the_no_l_eps_ablation():
    assert WorldModelConfig(threshold=math.inf).validate().threshold == math.inf


# ----------------------------------------------------------------------------------------------
# inputs, targets, split, box
# ----------------------------------------------------------------------------------------------


def test_inputs_strip_padding_and_clamp_actions():
    obs = np.zeros((2, 2, 3), np.float32)
    obs[0, 0, :2], obs[0, 1] = [1, 2], [3, 4, 5]
    nxt = np.zeros_like(obs)
    nxt[0, 0, :2], nxt[0, 1] = [6, 7], [8, 9, 10]
    act = np.zeros((2, 2, 2), np.float32)
    act[0, 0, 0], act[0, 1] = 1.0, [-1.7, 0.5]
    r = np.array([[0.5, 0.5], [1.0, 1.0]], np.float32)
    ds = Dataset.from_arrays(
        "test/wm", "medium", obs, act, r, nxt, [0, 1], [0, 0], obs_dims=OBS_DIMS, act_dims=ACT_DIMS
    )
    layout = JointLayout.from_dataset(ds)
    assert (layout.joint_obs_dim, layout.joint_act_dim, layout.in_dim) == (5, 3, 8)
    t = dataset_tensors(ds, layout)
    expected = torch.tensor([1, 2, 3, 4, 5, 0.99999, -0.99999, 0.5])
    torch.testing.assert_close(t["inputs"][0], expected, rtol=0, atol=1e-7)
    torch.testing.assert_close(t["next_obs"][0], torch.tensor([6.0, 7, 8, 9, 10]))
    torch.testing.assert_close(t["rewards"], torch.tensor([[0.5, 0.5], [1.0, 1.0]]))
    torch.testing.assert_close(t["masks"], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))  # 1 - terminal, per agent
    # the joint obs goes back per agent with the padding re-inserted
    torch.testing.assert_close(layout.pad_obs(t["next_obs"]), torch.from_numpy(nxt))


def test_discrete_actions_become_one_hot_blocks():
    layout = JointLayout((1, 1), (1, 1), n_actions=(2, 3))
    obs = torch.ones(2, 2, 1)
    act = torch.tensor([[[1.0], [0.0]], [[0.0], [2.0]]])  # [B, N, 1] indices
    torch.testing.assert_close(
        layout.inputs(obs, act), torch.tensor([[1.0, 1, 0, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0, 1]])
    )


def test_split_is_the_codes_shuffle():
    train, valid = split_indices(20, 0.1, 12345)
    assert valid.tolist() == [17, 0]  # np.random.default_rng(12345).shuffle(arange(20))[:2]
    assert sorted(train.tolist() + valid.tolist()) == list(range(20))
    assert split_indices(25, 0.1)[1].shape == (2,)  # int(0.1 * 25)


def test_dataset_box_spans_obs_and_next_obs_per_agent():
    box = dataset_box(box_dataset())
    np.testing.assert_array_equal(box["obs_low"], [[0, -1, 0], [-2, -3, -1]])
    np.testing.assert_array_equal(box["obs_high"], [[3, 5, 0], [4, 1, 2]])
    np.testing.assert_array_equal(box["rew_low"], [-1, -1])
    np.testing.assert_array_equal(box["rew_high"], [2, 2])


# ----------------------------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------------------------


def test_gaussian_nll_hand_computed():
    mean = torch.tensor([[[0.0, 1.0]]])
    log_std = torch.tensor([[[0.0, math.log(2.0)]]])
    target = torch.tensor([[[1.0, 5.0]]])
    # dim 0: 0 + 0.5 * 1^2 = 0.5; dim 1: log 2 + 0.5 * (4 / 2)^2 = 2.6931472; mean 1.5965736 (no 0.5 log 2 pi)
    torch.testing.assert_close(gaussian_nll(mean, log_std, target), torch.tensor([1.5965736]))
    ref = F.gaussian_nll_loss(mean, target, (2 * log_std).exp(), reduction="mean")  # the same (no constant)
    torch.testing.assert_close(gaussian_nll(mean, log_std, target), ref.reshape(1))


def test_mask_bce_hand_computed():
    logits = torch.tensor([[[0.0, math.log(3.0)]]])  # p = 0.5, 0.75
    target = torch.tensor([[[1.0, 0.0]]])
    # (-log 0.5 - log 0.25) / 2 = (0.6931472 + 1.3862944) / 2
    torch.testing.assert_close(mask_bce(logits, target), torch.tensor([1.0397208]))


# ----------------------------------------------------------------------------------------------
# uncertainties (spec item 7)
# ----------------------------------------------------------------------------------------------


def test_uncertainty_functions_hand_computed():
    E = 5
    mean_t = torch.zeros(E, 1, 3)
    mean_r = torch.zeros(E, 1, 1)
    mean_t[4, 0, 1] = 1.0  # one component {0, 0, 0, 0, 1}: unbiased variance 0.2, the only entry
    torch.testing.assert_close(epistemic_general(mean_t, mean_r), torch.tensor([0.2]))
    mean_t[4, 0, 2] = 1.0  # a second, perfectly correlated component: ||[[.2, .2], [.2, .2]]||_F = 0.4
    torch.testing.assert_close(epistemic_general(mean_t, mean_r), torch.tensor([0.4]))
    r = torch.tensor([0.0, 0, 0, 0, 1]).view(E, 1, 1)
    torch.testing.assert_close(epistemic_reward(r), torch.tensor([0.2]))  # unbiased (biased: 0.16)
    log_std_t = torch.full((E, 1, 3), -20.0)
    log_std_r = torch.full((E, 1, 1), -20.0)
    log_std_t[2] = math.log(2.0)  # member 2: sigma^2 = 4 on 3 dims, 1 on the reward -> sqrt(3 * 16 + 1) = 7
    log_std_r[2] = 0.0
    torch.testing.assert_close(aleatoric_norm(log_std_t, log_std_r), torch.tensor([7.0]))


def test_epistemic_general_equals_the_explicit_covariance_norm():
    g = torch.Generator().manual_seed(0)
    mean_t, mean_r = torch.randn(5, 4, 6, generator=g), torch.randn(5, 4, 2, generator=g)
    x = torch.cat([mean_t, mean_r], -1)
    ref = torch.stack([torch.linalg.matrix_norm(torch.cov(x[:, b].T), "fro") for b in range(4)])
    torch.testing.assert_close(epistemic_general(mean_t, mean_r), ref)


def test_sample_uncertainties_count_the_reward_once_per_agent_and_are_clamped():
    wm = constant_ensemble()
    o, a = any_batch()
    set_constant(wm, 4, mean_t=[0, 1, 0, 0, 0])  # one next-obs component differs
    out = wm.sample(o, a, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out["eps_g"], torch.full((3,), 0.2))
    torch.testing.assert_close(out["eps_r"], torch.zeros(3))
    set_constant(wm, 4, mean_r=[1.0, 1.0])  # the team reward: N = 2 perfectly correlated components
    out = wm.sample(o, a, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out["eps_g"], torch.full((3,), 0.4))
    torch.testing.assert_close(out["eps_r"], torch.full((3,), 0.2))
    set_constant(wm, 4, mean_r=[10.0, 10.0])  # x10: eps_g 40, eps_r 20, both clamped at l_eps = 2
    set_constant(wm, 2, log_std_t=0.0, log_std_r=0.0)  # sigma = 1 on 7 dims: aleatoric sqrt(7) -> 2
    out = wm.sample(o, a, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out["eps_g_raw"], torch.full((3,), 40.0))
    torch.testing.assert_close(out["eps_r_raw"], torch.full((3,), 20.0))
    torch.testing.assert_close(out["aleatoric_raw"], torch.full((3,), 2.6457513))
    for k in ("eps_g", "eps_r", "aleatoric"):
        torch.testing.assert_close(out[k], torch.full((3,), 2.0))
    torch.testing.assert_close(out["penalty"], torch.full((3,), 0.1 * 2 + 0.05 * 2))  # lambda_aleatoric = 0


# ----------------------------------------------------------------------------------------------
# sampling options, clipping, penalty
# ----------------------------------------------------------------------------------------------


def test_elite_choice_is_uniform_over_the_elites_only():
    wm = constant_ensemble()
    for m in range(7):
        set_constant(wm, m, mean_r=[float(m), float(m)])
    wm.set_elites([1, 2, 4, 5, 6])
    out = wm.sample(*any_batch(3000), torch.Generator().manual_seed(1))
    counts = torch.bincount(out["member"], minlength=7)
    assert counts[0] == counts[3] == 0
    assert all(abs(int(counts[m]) - 600) < 100 for m in (1, 2, 4, 5, 6))  # 600 +- 4.5 sd
    # the chosen member's reward
    torch.testing.assert_close(out["rewards_clipped"][:, 0], out["member"].float())


def test_reward_source_and_done_vote_options():
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    probs = {
        0: (0.9, 0.3),
        1: (0.8, 0.8),
        2: (0.2, 0.4),
        3: (0.2, 0.4),
        4: (0.2, 0.4),
        5: (0.9, 0.9),
        6: (0.9, 0.9),
    }
    layout = JointLayout(OBS_DIMS, ACT_DIMS)
    outs = {}
    for rs in ("sampled_member", "ensemble_mean"):
        for dv in ("agents_of_member", "members"):
            cfg = tiny_cfg(clip_to_dataset=False, reward_source=rs, done_vote=dv, lambda_g=0.0, lambda_r=0.0)
            wm = WorldModelEnsemble(layout, cfg)
            for m in range(7):  # member m: rewards (m, m + 2), agent-mean m + 1
                set_constant(wm, m, mean_r=[float(m), m + 2.0], mask_logit=[logit(p) for p in probs[m]])
            wm.set_elites([0, 1, 2, 3, 4])
            outs[rs, dv] = wm.sample(*any_batch(200), torch.Generator().manual_seed(2))
    o = outs["sampled_member", "agents_of_member"]
    member = o["member"].float()
    assert set(o["member"].tolist()) == {0, 1, 2, 3, 4}
    torch.testing.assert_close(o["rewards"], (member + 1)[:, None].expand(200, 2))  # no clip, penalty 0
    # member 0: mean(0.9, 0.3) = 0.6 -> 1 (a per-agent round would give (1, 0)); member 1 -> 1; others 0.3 -> 0
    torch.testing.assert_close(o["masks"], (member <= 1).float()[:, None].expand(200, 2))
    torch.testing.assert_close(
        outs["ensemble_mean", "agents_of_member"]["rewards"], torch.full((200, 2), 3.0)
    )
    # votes 1,1,0,0,0
    torch.testing.assert_close(outs["sampled_member", "members"]["masks"], torch.zeros(200, 2))
    # the elites' votes decide, whichever member is drawn: with members 0, 1, 5 voting 1 the mask is 1
    wm.set_elites([0, 1, 5, 2, 3])
    torch.testing.assert_close(wm.sample(*any_batch(50))["masks"], torch.ones(50, 2))


def test_clipping_keeps_next_obs_and_rewards_in_the_dataset_box():
    wm = constant_ensemble(box=box_dataset())
    o, a = any_batch(4)
    for m in range(7):
        set_constant(wm, m, mean_t=[100.0] * 5, mean_r=[100.0, 100.0])
    out = wm.sample(o, a)
    torch.testing.assert_close(out["next_obs"], torch.tensor([[3.0, 5, 0], [4, 1, 2]]).expand(4, 2, 3))
    torch.testing.assert_close(out["rewards"], torch.full((4, 2), 2.0))
    for m in range(7):
        set_constant(wm, m, mean_t=[-100.0] * 5, mean_r=[-100.0, -100.0])
    out = wm.sample(o, a)
    torch.testing.assert_close(out["next_obs"], torch.tensor([[0.0, -1, 0], [-2, -3, -1]]).expand(4, 2, 3))
    torch.testing.assert_close(out["rewards"], torch.full((4, 2), -1.0))
    # random predictions: every synthetic next obs lies in the per-agent box, every reward in [r_min, r_max]
    g = torch.Generator().manual_seed(3)
    for m in range(7):
        set_constant(
            wm, m, mean_t=10 * torch.randn(5, generator=g), mean_r=10 * torch.randn(1, generator=g).repeat(2)
        )
    out = wm.sample(*any_batch(500), g)
    box = {k: torch.as_tensor(v) for k, v in dataset_box(box_dataset()).items()}
    assert bool(((out["next_obs"] >= box["obs_low"]) & (out["next_obs"] <= box["obs_high"])).all())
    assert bool(((out["rewards_clipped"] >= -1.0) & (out["rewards_clipped"] <= 2.0)).all())
    # without clipping the prediction passes through, padding re-inserted
    wm.cfg.clip_to_dataset = False
    set_constant(wm, 0, mean_t=[100.0] * 5, mean_r=[100.0, 100.0])
    wm.set_elites([0, 0 + 1, 2, 3, 4])
    out = wm.sample(o, a, torch.Generator().manual_seed(0))
    picked = out["member"] == 0
    assert bool(picked.any())
    torch.testing.assert_close(out["next_obs"][picked][0], torch.tensor([[100.0, 100, 0], [100, 100, 100]]))


def test_penalty_is_applied_after_clipping():
    wm = constant_ensemble(box=box_dataset())
    o, a = any_batch(4)
    for m in range(7):
        set_constant(wm, m, mean_t=[100.0] * 5, mean_r=[100.0, 100.0])
    set_constant(wm, 4, mean_t=[101.0] + [100.0] * 4, mean_r=[100.0, 100.0])  # eps_g 0.2 (before clipping)
    out = wm.sample(o, a)
    torch.testing.assert_close(out["eps_g"], torch.full((4,), 0.2))
    torch.testing.assert_close(out["rewards"], torch.full((4, 2), 2.0 - 0.1 * 0.2))  # clip to 2, then - 0.02
    for m in range(7):
        set_constant(wm, m, mean_r=[-100.0, -100.0])
    set_constant(wm, 4, mean_t=[1.0, 0, 0, 0, 0], mean_r=[-100.0, -100.0])
    out = wm.sample(o, a)
    torch.testing.assert_close(out["rewards"], torch.full((4, 2), -1.02))  # below r_min = -1, as the code
    assert bool((out["rewards_clipped"] == -1.0).all())


def test_sample_refuses_without_elites_or_box():
    wm = WorldModelEnsemble(JointLayout(OBS_DIMS, ACT_DIMS), tiny_cfg())
    with pytest.raises(RuntimeError, match="elites"):
        wm.sample(*any_batch())
    wm.set_elites([0, 1, 2, 3, 4])
    with pytest.raises(RuntimeError, match="box"):
        wm.sample(*any_batch())  # clip_to_dataset=True by default, box never set
    with pytest.raises(ValueError, match="distinct"):
        wm.set_elites([0, 0, 1, 2, 3])


# ----------------------------------------------------------------------------------------------
# batched == per member (spec item 11), groups
# ----------------------------------------------------------------------------------------------


def test_batched_update_equals_each_member_trained_alone():
    cfg = WorldModelConfig(
        n_members=3,
        n_elites=2,
        hidden=8,
        t_layers=2,
        r_layers=2,
        mask_layers=1,
        lr=1e-2,
        grad_clip=0.5,
        batch_size=16,
    )
    ds = random_dataset()
    wm = WorldModelEnsemble.for_datasets(ds, cfg, seeds=[7])
    data = wm.prepare_data(ds)
    x = data.inputs[:5].unsqueeze(0).expand(3, -1, -1)
    for a, b in zip(wm.heads(x), wm.heads.forward_members(torch.arange(3), x)):
        torch.testing.assert_close(a, b)
    h = wm.heads
    refs = [(h.T.net.member_module(m), h.R.net.member_module(m), h.mask.member_module(m)) for m in range(3)]
    opts = [torch.optim.Adam([p for mod in r for p in mod.parameters()], lr=1e-2) for r in refs]
    clipped = False
    for _ in range(3):
        batch = wm.sample_batch(data)
        assert not torch.equal(batch["inputs"][0], batch["inputs"][1])  # an independent minibatch per member
        norms = wm.update(batch)["grad_norm"]
        clipped |= bool((norms > 0.5).any())
        for m, ((t, r, mk), opt) in enumerate(zip(refs, opts)):
            x = batch["inputs"][m]
            loss = 0.0
            for net, target in ((t, batch["next_obs"][m]), (r, batch["rewards"][m])):
                mean, log_std = net(x).chunk(2, -1)
                var = (2 * log_std.clamp(-6.0, 2.0)).exp()
                loss = loss + F.gaussian_nll_loss(mean, target, var, reduction="mean")
            loss = loss + F.binary_cross_entropy_with_logits(mk(x), batch["masks"][m])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for mod in (t, r, mk) for p in mod.parameters()], 0.5)
            opt.step()
    assert clipped  # the per-member clip was exercised
    for m, mods in enumerate(refs):
        got = (h.T.net.member_module(m), h.R.net.member_module(m), h.mask.member_module(m))
        for ref_mod, got_mod in zip(mods, got):
            for (k, p_ref), p_got in zip(ref_mod.state_dict().items(), got_mod.state_dict().values()):
                torch.testing.assert_close(p_got, p_ref, rtol=1e-5, atol=1e-6, msg=f"member {m} {k}")


def test_heads_skip_member_chunking_with_bitwise_the_same_weights():
    """The world model's nets opt out of the CPU member chunking (common/networks/chunking.py; a cost at the code's
    width, worldmodel_nets.py) and train to bitwise the same weights as with it forced on in small chunks; the
    optimizer is torch's fused Adam on the CPU."""
    from common.networks import chunking

    cfg = WorldModelConfig(
        n_members=4, n_elites=2, hidden=32, t_layers=2, r_layers=2, mask_layers=1, batch_size=64
    )
    ds = random_dataset()
    a, b = (WorldModelEnsemble.for_datasets(ds, cfg, seeds=[3]) for _ in range(2))
    assert all(not n.chunked for n in (a.heads.T.net, a.heads.R.net, a.heads.mask))
    assert a.optim.defaults["fused"] is True
    for n in (b.heads.T.net, b.heads.R.net, b.heads.mask):
        n.chunked = True
    data = a.prepare_data(ds)
    old = chunking.set_chunk_bytes(64 * 32 * 4)  # one member per chunk at these shapes
    try:
        assert chunking.member_chunks(4, 64, 32) == [1, 1, 1, 1]
        for _ in range(3):
            a.update(a.sample_batch(data))
            b.update(b.sample_batch(data))
    finally:
        chunking.set_chunk_bytes(old)
    for x, y in zip(a.heads.state_dict().values(), b.heads.state_dict().values()):
        assert torch.equal(x, y)


def test_groups_stack_ensembles_that_equal_lone_ones_and_keep_their_own_rows():
    cfg = tiny_cfg(n_members=3, n_elites=2, batch_size=64)
    layout = JointLayout(OBS_DIMS, ACT_DIMS)
    both = WorldModelEnsemble(layout, cfg, seeds=[3, 4])
    for g, s in enumerate((3, 4)):
        alone = WorldModelEnsemble(layout, cfg, seeds=[s])
        for k, v in alone.heads.state_dict().items():
            torch.testing.assert_close(both.heads.state_dict()[k][3 * g : 3 * g + 3], v)
    d0, d1 = random_dataset(T=50, seed=0), random_dataset(T=80, seed=1, obs_offset=1000.0)
    both.set_box([d0, d1])
    data = both.prepare_data([d0, d1])
    rows = both.sample_batch(data)["inputs"][..., 0]  # [M, B]: the row ids written into obs[:, 0, 0]
    train0 = set(split_indices(50)[0].tolist())
    train1 = {1000 + i for i in split_indices(80)[0].tolist()}
    assert set(rows[:3].long().flatten().tolist()) <= train0  # validation rows never train
    assert set(rows[3:].long().flatten().tolist()) <= train1
    both.set_elites([[0, 1], [2, 0]])
    out = both.sample(torch.zeros(2, 5, 2, 3), torch.zeros(2, 5, 2, 2))
    assert out["next_obs"].shape == (2, 5, 2, 3) and out["eps_g"].shape == (2, 5)
    assert set(out["member"][1].tolist()) <= {2, 0}


# ----------------------------------------------------------------------------------------------
# elites
# ----------------------------------------------------------------------------------------------


def test_elite_selection_keeps_the_lowest_validation_errors():
    T = 200
    obs = np.random.default_rng(0).normal(size=(T, 2, 3)).astype(np.float32)
    obs[:, 0, 2] = 0.0
    nxt = np.zeros_like(obs)  # the targets are constant: s' = 0, r = 1
    act = np.zeros((T, 2, 2), np.float32)
    r = np.ones((T, 2), np.float32)
    ds = Dataset.from_arrays(
        "test/wm",
        "medium",
        obs,
        act,
        r,
        nxt,
        np.zeros(T),
        np.r_[np.zeros(T - 1), 1],
        obs_dims=OBS_DIMS,
        act_dims=ACT_DIMS,
    )
    wm = WorldModelEnsemble.for_datasets(ds, tiny_cfg(), seeds=[0, 1])  # two groups on the same data
    quality = [[0.3, 0.0, 0.6, 0.1, 0.5, 0.2, 0.4], [0.2, 0.4, 0.0, 0.6, 0.3, 0.5, 0.1]]
    for g in range(2):
        for k, q in enumerate(quality[g]):  # member error q in every output dim
            set_constant(wm, 7 * g + k, mean_t=[q] * 5, mean_r=[1.0 + q] * 2)
    # group 0's member 1 has exact means but sigma = 1: the code scores Gaussian SAMPLES, so its error is
    # about 0.5 (E||N(0, I_5)|| + E||N(0, I_2)||) = 1.69 and it is no elite (a score of the means would pick it)
    set_constant(wm, 1, mean_t=[0.0] * 5, log_std_t=0.0, mean_r=[1.0] * 2, log_std_r=0.0)
    elites = wm.select_elites(wm.prepare_data(ds))
    assert elites.tolist() == [[3, 5, 0, 6, 4], [2, 6, 0, 4, 1]]
    assert float(wm.elite_scores[1]) > 1.3
    # score = 0.5 (q sqrt(5) + q sqrt(2)) up to the e^-6 sampling noise
    torch.testing.assert_close(wm.elite_scores[2], torch.tensor(1.0950845), rtol=0, atol=0.01)
    train_state = wm.gen.get_state()
    wm.select_elites(wm.prepare_data(ds))
    assert torch.equal(wm.gen.get_state(), train_state)  # scoring never moves the training stream


# ----------------------------------------------------------------------------------------------
# checkpoints and learning
# ----------------------------------------------------------------------------------------------


def test_state_dict_roundtrip_resume_and_checksum():
    cfg = tiny_cfg(n_members=3, n_elites=2, batch_size=8)
    ds = random_dataset()
    wm = WorldModelEnsemble.for_datasets(ds, cfg, seeds=[5])
    data = wm.prepare_data(ds)
    wm.train(data, n_updates=3)
    wm.select_elites(data)
    buf = io.BytesIO()
    torch.save(wm.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf)
    fresh = WorldModelEnsemble(wm.layout, cfg, seeds=[5])
    assert fresh.checksum() != wm.checksum()
    fresh.load_state_dict(state)
    digest = wm.checksum()
    assert fresh.checksum() == digest == state["sha256"] and len(digest) == 64
    o, a = torch.from_numpy(ds.obs[:9]), torch.from_numpy(ds.actions[:9])
    s1, s2 = (
        wm.sample(o, a, torch.Generator().manual_seed(9)),
        fresh.sample(o, a, torch.Generator().manual_seed(9)),
    )
    for k in s1:
        torch.testing.assert_close(s1[k], s2[k])
    wm.train(data, n_updates=2)  # resume: the same batches and Adam moments
    fresh.train(data, n_updates=2)
    assert fresh.checksum() == wm.checksum()
    with torch.no_grad():
        fresh.heads.R.net.layers[0].weight[0, 0, 0] += 1e-3
    assert fresh.checksum() != wm.checksum()
    bad = {**state, "sha256": "0" * 64}
    with pytest.raises(ValueError, match="sha256"):
        fresh.load_state_dict(bad)
    other = WorldModelEnsemble(wm.layout, tiny_cfg(n_members=3, n_elites=2, batch_size=8, lr=1e-3), seeds=[5])
    with pytest.raises(ValueError, match="lr"):
        other.load_state_dict(state)
    assert weights_sha256({"a": torch.zeros(2)}) != weights_sha256({"a": torch.zeros(3)})


class _Killed(Exception):
    pass


def test_fit_killed_mid_training_resumes_from_its_partial_file_bit_for_bit(tmp_path):
    """fit(partial=...) writes the training state every save_every updates; a fit killed after two chunks
    and a new fit on the same file end with the uninterrupted ensemble's weights, Adam state and elites."""
    cfg = tiny_cfg(n_members=3, n_elites=2, batch_size=8, n_updates=7)
    ds = random_dataset()
    whole = WorldModelEnsemble.for_datasets(ds, cfg, seeds=[5])
    whole.fit(ds)
    partial = tmp_path / "wm.pt.partial"
    chunks = []

    def kill_after_two(n):
        chunks.append(n)
        if len(chunks) == 2:
            raise _Killed

    first = WorldModelEnsemble.for_datasets(ds, cfg, seeds=[5])
    with pytest.raises(_Killed):
        first.fit(ds, partial=partial, save_every=3, on_updates=kill_after_two)
    assert chunks == [3, 3] and torch.load(partial, weights_only=False)["step"] == 6
    assert oct(partial.stat().st_mode & 0o777) == "0o644"
    seen = []
    resumed = WorldModelEnsemble.for_datasets(ds, cfg, seeds=[5])
    resumed.fit(ds, partial=partial, save_every=3, on_updates=seen.append)
    assert seen == [6, 1]  # the progress it found, then the one update left
    assert resumed.step == whole.step == 7
    assert resumed.checksum() == whole.checksum()
    assert torch.equal(resumed.elites, whole.elites)
    for a, b in zip(resumed.optim.state_dict()["state"].values(), whole.optim.state_dict()["state"].values()):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    other = WorldModelEnsemble.for_datasets(
        ds, tiny_cfg(n_members=3, n_elites=2, batch_size=8, n_updates=7, lr=1e-3), seeds=[5]
    )
    with pytest.raises(ValueError, match="lr"):  # a partial file of another configuration is refused
        other.fit(ds, partial=partial)
    with pytest.raises(ValueError, match="save_every=0"):
        other.fit(ds, partial=partial, save_every=0)


def test_ensemble_fits_a_small_linear_system():
    """s' = W [o; a] and r = mean(o) are deterministic: the validation error of Gaussian samples falls
    from about the noise of the untrained sigma (~1 per dim) to a fraction of it."""
    rng = np.random.default_rng(0)
    T = 800
    obs = rng.uniform(-1, 1, size=(T, 2, 3)).astype(np.float32)
    obs[:, 0, 2] = 0.0
    act = rng.uniform(-1, 1, size=(T, 2, 2)).astype(np.float32)
    act[:, 0, 1] = 0.0
    x = np.concatenate([obs[:, 0, :2], obs[:, 1], act[:, 0, :1], act[:, 1]], axis=1)  # [T, 8]
    W = rng.normal(scale=0.5, size=(8, 5)).astype(np.float32)
    s = x @ W
    nxt = np.zeros_like(obs)
    nxt[:, 0, :2], nxt[:, 1] = s[:, :2], s[:, 2:]
    r = x[:, :5].mean(1, keepdims=True).repeat(2, axis=1)
    term = np.zeros(T, bool)
    term[::50] = True  # 2 % terminal: the mask head must learn "mostly not terminal"
    ds = Dataset.from_arrays(
        "test/wm",
        "medium",
        obs,
        act,
        r,
        nxt,
        term,
        np.r_[np.zeros(T - 1), 1],
        obs_dims=OBS_DIMS,
        act_dims=ACT_DIMS,
    )
    cfg = WorldModelConfig(
        n_members=3,
        n_elites=2,
        hidden=32,
        t_layers=2,
        r_layers=2,
        mask_layers=1,
        lr=3e-3,
        batch_size=64,
        n_updates=400,
    )
    wm = WorldModelEnsemble.for_datasets(ds, cfg, seeds=[0])
    data = wm.prepare_data(ds)
    before = wm.validation_scores(data)
    history = wm.train(data, log_every=100)
    after = wm.validation_scores(data)
    assert bool((after < 0.25 * before).all()), (before, after)
    assert bool((history[-1]["loss"] < history[0]["loss"] - 1.0).all())
    assert bool((history[-1]["bce"] < 0.3).all())  # from log 2 = 0.69; the entropy of Bern(0.02) is 0.098
    wm.select_elites(data)
    out = wm.sample(
        torch.from_numpy(obs[:100]), torch.from_numpy(act[:100]), torch.Generator().manual_seed(0)
    )
    err = (out["next_obs"] - torch.from_numpy(nxt[:100])).norm(dim=(-2, -1)).mean()
    assert float(err) < 0.3 * float(np.linalg.norm(s, axis=1).mean())
    assert float(out["masks"].mean()) > 0.9


def test_the_training_state_is_written_about_every_ten_minutes():
    from papers.moma_ppo.cell_model import wm_save_every

    # 4 x 256: 0.19 s per update, 4 x 512: 0.62 s, the code's 4 x 1024: 2.1 s (one CPU thread, README)
    assert [wm_save_every(h) for h in (32, 256, 512, 1024)] == [500, 500, 500, 250]
