"""MATD3 behavior learner and the OMAR dataset protocol (common/behavior)."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch

import envs
from common.behavior import (
    MATD3,
    MATD3Config,
    collect,
    generate_protocol,
    load_or_generate,
    medium_replay_from_buffer,
    train,
)
from common.behavior.matd3_train import _env_seed
from common.datasets.card import DatasetError
from common.running.evaluate import eval_seed, evaluate

collect_mod = importlib.import_module("common.behavior.collect")
cache_mod = importlib.import_module("common.behavior.protocol_cache")
run_mod = importlib.import_module("common.behavior.protocol_run")
SMALL = dict(
    hidden=(16, 16),
    batch_size=32,
    buffer_size=1000,
    learning_starts=60,
    start_steps=30,
    train_freq=2,
    eval_every=0,
)


def _fill(learner: MATD3, n: int, rng: np.random.Generator, seed_slots=None) -> None:
    spec, S = learner.spec, learner.S
    for _ in range(n):
        one = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
        step = dict(
            obs=one(spec.n_agents, spec.obs_dim),
            actions=np.tanh(one(spec.n_agents, spec.act_dim)),
            rewards=one(spec.n_agents),
            next_obs=one(spec.n_agents, spec.obs_dim),
            terminals=np.float32(rng.random() < 0.1),
            timeouts=np.float32(0),
            state=one(spec.state_dim),
            next_state=one(spec.state_dim),
        )
        learner.buffer.add(**{k: np.broadcast_to(v, (S, *np.shape(v))) for k, v in step.items()})


def test_config_validate_rejects_bad_values():
    with pytest.raises(ValueError, match="tau"):
        MATD3Config(tau=0.0).validate()
    assert MATD3Config.preset("mamujoco/halfcheetah-2x3").hidden == (256, 256)
    assert MATD3Config.preset("omar/spread").hidden == (64, 64)


def test_update_shapes_act_bounds_and_checkpoint():
    spec = envs.make("otc/navigation", n_agents=2).spec  # action bound 0.1
    cfg = MATD3Config(**{**SMALL, "policy_delay": 2})
    lr = MATD3(spec, cfg, [0, 1])
    _fill(lr, 100, np.random.default_rng(0))
    m1 = lr.update()
    m2 = lr.update()
    assert m1["critic_loss"].shape == () and m1["q1"].shape == (4,) and "actor_loss" not in m1
    assert "actor_loss" in m2
    obs = np.random.default_rng(1).standard_normal((2, 5, 2, spec.obs_dim)).astype(np.float32)
    a = lr.act(obs, noise_std=1.0)
    assert a.shape == (2, 5, 2, spec.act_dim) and np.abs(a).max() <= 0.1 + 1e-7
    # checkpoint -> resume gives identical parameters after further updates
    sd = {k: v for k, v in lr.state_dict().items()}
    other = MATD3(spec, cfg, [0, 1])
    other.load_state_dict(sd)
    for _ in range(3):
        lr.update()
        other.update()
    for p, q in zip(lr.critic.parameters(), other.critic.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_seed_slot_is_independent_of_the_other_seeds():
    """Seed 5 trained next to seed 3 (batched, M = 2·N) equals seed 5 trained alone: same buffer rows,
    same parameters after env steps, exploration and 2 x policy_delay updates."""
    cfg = MATD3Config(**SMALL)
    both = train("omar/spread", {}, cfg, [3, 5], 100).learner
    alone = train("omar/spread", {}, cfg, [5], 100).learner
    assert both.n_updates == alone.n_updates >= 4
    np.testing.assert_array_equal(both.buffer.np["obs"][1, :100], alone.buffer.np["obs"][0, :100])
    N = both.N
    for name, p in both.actor.state_dict().items():
        torch.testing.assert_close(p[N:], alone.actor.state_dict()[name], rtol=1e-5, atol=1e-6)
    for name, p in both.critic.state_dict().items():
        torch.testing.assert_close(p[N:], alone.critic.state_dict()[name], rtol=1e-5, atol=1e-6)


def test_actor_loss_of_agent_i_ignores_the_other_actors():
    """MADDPG/MATD3: agent i's actor loss uses the batch actions of the other agents, so changing
    actor j != i leaves actor i's gradient unchanged; and agent i's gradient is non-zero."""
    spec = envs.make("omar/spread").spec
    lr = MATD3(spec, MATD3Config(**SMALL), [0])
    _fill(lr, 64, np.random.default_rng(2))
    _, b = lr.sample()

    def grads():
        lr.actor.zero_grad()
        lr.actor_loss(b).backward()
        return [p.grad[0].clone() for p in lr.actor.parameters()]  # member 0 = agent 0

    g0 = grads()
    with torch.no_grad():
        for p in lr.actor.parameters():
            p[1:].add_(0.5)  # change agents 1 and 2
    g1 = grads()
    for x, y in zip(g0, g1):
        torch.testing.assert_close(x, y)
    assert sum(float(x.abs().sum()) for x in g0) > 0


def test_state_critic_reads_the_global_state_and_matches_a_hand_computed_td_loss():
    """critic_input="state": Q_i(s, a_1..a_N) over env.state(), not the joint observations. The loss
    equals the TD3 loss built by hand from the batch's state/next_state, and it changes when only the
    state changes (and not when only the observations of the critic's input change)."""
    spec = envs.make("omar/spread").spec
    cfg = MATD3Config(**{**SMALL, "critic_input": "state", "target_noise": 0.0})
    lr = MATD3(spec, cfg, [0])
    _fill(lr, 64, np.random.default_rng(4))
    _, b = lr.sample()
    assert b["state"].shape == (spec.n_agents, SMALL["batch_size"], spec.state_dim)
    loss, _ = lr.critic_loss(b)
    M, B = lr.M, cfg.batch_size
    with torch.no_grad():
        a2 = lr._joint_target_actions(b["next_obs"]).reshape(M, B, -1)
        q1t, q2t = lr.critic_targ(b["next_state"], a2)
        r = torch.stack([b["rewards"][i, :, i] for i in range(M)])
        y = r + cfg.gamma * (1 - b["terminals"]) * torch.min(q1t, q2t).squeeze(-1)
        q1, q2 = lr.critic(b["state"], b["actions"].reshape(M, B, -1))
        hand = ((q1.squeeze(-1) - y) ** 2).mean(1).sum() + ((q2.squeeze(-1) - y) ** 2).mean(1).sum()
    torch.testing.assert_close(loss.detach(), hand)
    b2 = dict(b, state=b["state"] + 1.0)
    assert not torch.allclose(lr.critic_loss(b2)[0], loss)
    with pytest.raises(ValueError, match="critic_input"):
        MATD3Config(critic_input="joint").validate()


def test_collect_valid_dataset_and_replays_exactly():
    env_name = "omar/spread"

    def policy(obs):  # move towards the first landmark
        return np.clip(obs[..., 4:6], -1, 1)

    ds = collect(env_name, {}, policy, 130, noise_std=0.1, seed=7, kind="medium")
    assert ds.obs.shape == (130, 3, 18) and ds.actions.shape == (130, 3, 2) and ds.rewards.shape == (130, 3)
    assert ds.state.shape == (130, 54) and ds.n_episodes == 6
    ends = np.flatnonzero(ds.timeouts)
    np.testing.assert_array_equal(ends, [24, 49, 74, 99, 124, 129])
    assert not ds.terminals.any()
    assert ds.card["protocol"]["noise_std"] == 0.1 and ds.card["protocol"]["seed"] == 7
    assert ds.card["behavior"]["score"] == pytest.approx(ds.episode_returns.mean())
    # replay with the same seed and actions: same obs, same per-agent rewards
    env = envs.make(env_name)
    o = env.reset(7)
    for t in range(75):
        if t % 25 == 0 and t:
            o = env.reset(None)
        np.testing.assert_allclose(o, ds.obs[t], atol=1e-6)
        np.testing.assert_allclose(env.state(), ds.state[t], atol=1e-6)
        o, r, *_ = env.step(ds.actions[t])
        np.testing.assert_allclose(r, ds.rewards[t], atol=1e-5)
        np.testing.assert_allclose(o, ds.next_obs[t], atol=1e-6)


def test_reobserve_gives_the_dataset_collected_under_the_other_observations():
    """HalfCheetah 2x3, uniform actions, same seed: collected with full-state observations ("otc") and
    re-observed into OMAR's 6-dim ones equals collecting under "omar" directly (same transitions)."""
    from common.behavior.rollouts import reobserve

    name = "mamujoco/halfcheetah-2x3"
    full = collect(name, {"obs_mode": "otc"}, None, 1200, 0.0, seed=4, kind="random")
    direct = collect(name, {}, None, 1200, 0.0, seed=4, kind="random")
    assert full.obs.shape == (1200, 2, 17) and direct.obs.shape == (1200, 2, 6)
    re = reobserve(full, name, {})
    assert re.obs_dims == (6, 6) and re.card["protocol"]["env_options"] == {}
    for k in ("obs", "next_obs", "actions", "rewards", "state", "timeouts"):
        np.testing.assert_allclose(getattr(re, k), getattr(direct, k), atol=1e-6, err_msg=k)
    np.testing.assert_allclose(re.episode_returns, direct.episode_returns, rtol=1e-6)
    with pytest.raises(ValueError, match="split_obs"):
        reobserve(collect("omar/spread", {}, None, 30, 0.0, seed=0), "omar/spread", {})


def test_collect_stops_at_the_episode_that_reaches_n_when_copies_finish_together():
    """Two env copies with equal episode lengths finish in the same step; the step that passes n keeps only the
    first copy's episode, cut to n (it used to append both and fail: 'episode cut below one step')."""
    ds = collect("omar/spread1d", {"n_agents": 1}, None, 60, 0.0, seed=0, kind="random", n_envs=2)
    assert ds.obs.shape[0] == 60 and ds.n_episodes == 3
    assert ds.timeouts[-1] and ds.timeouts[:-1].sum() + ds.terminals.sum() == 2
    alone = collect("omar/spread1d", {"n_agents": 1}, None, 50, 0.0, seed=0, kind="random", n_envs=2)
    np.testing.assert_array_equal(ds.obs[:50], alone.obs)  # the episodes before the cut are unchanged


def test_random_dataset_return_matches_evaluate_on_a_random_policy():
    ds = collect("omar/spread", {}, None, 40 * 25, noise_std=0.0, seed=3, kind="random", n_envs=4)
    assert ds.n_episodes == 40
    rng = np.random.default_rng(0)
    ev = evaluate(lambda o: rng.uniform(-1, 1, (*o.shape[:-1], 2)), "omar/spread", 1, 40, 123)
    se = np.sqrt(ds.episode_returns.var() / 40 + ev.returns.var() / 40)
    assert abs(ds.episode_returns.mean() - ev.mean[0]) < 4 * se


@pytest.fixture(scope="module")
def protocol():
    cfg = MATD3Config(eval_every=500, learning_starts=500, start_steps=500, eval_episodes=10)
    sizes = {"random": 100, "medium-replay": None, "medium": 100, "expert": 100}
    (out,) = generate_protocol("omar/spread1d", {"n_agents": 1}, sizes, 0.31, 4000, seeds=(0,), cfg=cfg)
    return out, sizes


def test_matd3_learns_spread1d(protocol):
    """The trained policy is far better than uniform random actions (which a broken learner is not)."""
    out, _ = protocol
    beh = out["expert"].card["behavior"]
    rng = np.random.default_rng(0)
    uniform = evaluate(
        lambda o: rng.uniform(-1, 1, (*o.shape[:-1], 1)),
        "omar/spread1d",
        1,
        10,
        eval_seed(0),
        env_options={"n_agents": 1},
    ).mean[0]
    assert beh["expert_eval_score"] > uniform + 60, (beh["curve"], uniform)
    assert out["expert"].card["returns"]["mean"] > out["random"].card["returns"]["mean"] + 40


def test_generate_protocol_cards_and_medium_replay_prefix(protocol):
    out, _ = protocol
    assert list(out) == ["random", "medium-replay", "medium", "expert"]
    refs = {k: d.card["ref_scores"] for k, d in out.items()}
    assert all(r == refs["random"] for r in refs.values())
    assert refs["random"]["random"] == pytest.approx(out["random"].episode_returns.mean())
    assert refs["random"]["expert"] == pytest.approx(out["expert"].episode_returns.mean())
    beh = out["medium"].card["behavior"]
    assert 500 < beh["medium_step"] <= beh["train_steps"]  # after learning_starts: a learned policy
    assert beh["medium_eval_score"] >= beh["medium_threshold"]
    mr = out["medium-replay"]
    assert mr.size == beh["medium_step"] and mr.timeouts[-1]
    # the medium-replay data is the training run's first transitions: its first obs is the first reset
    first = envs.make("omar/spread1d", n_agents=1).reset(_env_seed(0, 0))
    np.testing.assert_array_equal(mr.obs[0], first)
    np.testing.assert_array_equal(mr.obs[1:25], mr.next_obs[:24])
    assert np.flatnonzero(mr.timeouts)[0] == 24
    for d in out.values():
        d.verify()


def test_medium_replay_regroups_env_copies_and_refuses_a_wrapped_buffer():
    cfg = MATD3Config(**{**SMALL, "n_envs": 2, "buffer_size": 200})
    lr = train("omar/spread", {}, cfg, [0], 100).learner
    mr = medium_replay_from_buffer(lr, 100, 0)
    assert mr.size == 100 and mr.n_episodes == 4  # 2 copies x 2 episodes of 25 steps
    np.testing.assert_array_equal(mr.obs[1:25], mr.next_obs[:24])  # contiguous episodes
    np.testing.assert_array_equal(mr.obs[0], lr.buffer.np["obs"][0, 0])
    np.testing.assert_array_equal(mr.obs[50], lr.buffer.np["obs"][0, 1])
    small = train("omar/spread", {}, MATD3Config(**{**SMALL, "buffer_size": 64}), [0], 100).learner
    with pytest.raises(ValueError, match="wrapped"):
        medium_replay_from_buffer(small, 50, 0)


def test_load_or_generate_loads_verified_cache(protocol, tmp_path, monkeypatch):
    out, sizes = protocol
    opts = {"n_agents": 1}
    for k, d in out.items():
        d.save(cache_mod.generated_dataset_path("omar/spread1d", k, 1, 0, tmp_path, opts))

    def boom(*a, **k):
        raise AssertionError("should load, not generate")

    monkeypatch.setattr(cache_mod, "generate_protocol", boom)
    got = load_or_generate("omar/spread1d", opts, sizes, root=tmp_path)
    np.testing.assert_array_equal(got["expert"].obs, out["expert"].obs)
    with pytest.raises(DatasetError, match="requested"):
        load_or_generate("omar/spread1d", {"n_agents": 1}, {**sizes, "random": 50}, root=tmp_path)
    p = cache_mod.generated_dataset_path("omar/spread1d", "medium", 1, 0, tmp_path, opts)
    raw = bytearray(p.with_name(p.name + ".npz").read_bytes())
    raw[-100] ^= 0xFF
    p.with_name(p.name + ".npz").write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="checksum"):
        load_or_generate("omar/spread1d", opts, sizes, root=tmp_path)


def test_load_or_generate_kinds_reads_only_those_arrays_but_checks_every_card(
    protocol, tmp_path, monkeypatch
):
    out, sizes = protocol
    opts = {"n_agents": 1}
    for k, d in out.items():
        d.save(cache_mod.generated_dataset_path("omar/spread1d", k, 1, 0, tmp_path, opts))
    monkeypatch.setattr(
        cache_mod, "generate_protocol", lambda *a, **k: pytest.fail("should load, not generate")
    )

    def path(kind, ext):
        p = cache_mod.generated_dataset_path("omar/spread1d", kind, 1, 0, tmp_path, opts)
        return p.with_name(p.name + ext)

    got = load_or_generate("omar/spread1d", opts, sizes, root=tmp_path, kinds=("expert",))
    assert list(got) == ["expert"]
    np.testing.assert_array_equal(got["expert"].obs, out["expert"].obs)
    # another kind's arrays are not read: a corrupt medium file does not stop loading expert ...
    raw = bytearray(path("medium", ".npz").read_bytes())
    raw[-100] ^= 0xFF
    path("medium", ".npz").write_bytes(bytes(raw))
    assert list(load_or_generate("omar/spread1d", opts, sizes, root=tmp_path, kinds=("expert",))) == [
        "expert"
    ]
    # ... but loading medium itself verifies its checksum
    with pytest.raises(DatasetError, match="checksum"):
        load_or_generate("omar/spread1d", opts, sizes, root=tmp_path, kinds=("medium",))
    # every card is still checked: a random card with other ref_scores is refused when loading expert
    card = json.loads(path("random", ".json").read_text())
    card["ref_scores"] = {"random": -1.0, "expert": 1.0}
    path("random", ".json").write_text(json.dumps(card))
    with pytest.raises(DatasetError, match="ref_scores"):
        load_or_generate("omar/spread1d", opts, sizes, root=tmp_path, kinds=("expert",))
    with pytest.raises(ValueError, match="bogus"):
        load_or_generate("omar/spread1d", opts, sizes, root=tmp_path, kinds=("bogus",))


# ---- a killed behavior run resumes from its checkpoint ----------------------------------------------------------
CKPT_CFG = dict(**{**SMALL, "eval_every": 100}, eval_episodes=2)
CKPT_SIZES = {"random": 50, "medium-replay": None, "medium": 50, "expert": 50}


class _Killed(Exception):
    pass


def _protocol(tmp_path, name="run.behavior.pt", **kw):
    cfg = MATD3Config(**CKPT_CFG)
    (out,) = generate_protocol(
        "omar/spread1d",
        {"n_agents": 1},
        CKPT_SIZES,
        0.31,
        300,
        seeds=(0,),
        cfg=cfg,
        require_improvement=False,
        checkpoint=tmp_path / name,
        checkpoint_every_s=0.0,
        **kw,
    )
    return out


def _same_sets(a, b):
    assert list(a) == list(b)
    for k in a:
        for f in ("obs", "actions", "rewards", "next_obs", "terminals", "timeouts"):
            np.testing.assert_array_equal(getattr(a[k], f), getattr(b[k], f), err_msg=f"{k}.{f}")


@pytest.fixture(scope="module")
def uninterrupted():
    cfg = MATD3Config(**CKPT_CFG)
    (out,) = generate_protocol(
        "omar/spread1d",
        {"n_agents": 1},
        CKPT_SIZES,
        0.31,
        300,
        seeds=(0,),
        cfg=cfg,
        require_improvement=False,
    )
    return out


def test_checkpointing_does_not_change_the_run_and_a_kill_in_collection_resumes_bit_equal(
    uninterrupted, tmp_path, monkeypatch
):
    _same_sets(_protocol(tmp_path, "a.pt"), uninterrupted)  # writing checkpoints touches no random stream
    real, calls = collect_mod.collect, []

    def dies_on_medium(*a, kind=None, **k):
        calls.append(kind)
        if kind == "medium":
            raise _Killed
        return real(*a, kind=kind, **k)

    monkeypatch.setattr(collect_mod, "collect", dies_on_medium)
    with pytest.raises(_Killed):
        _protocol(tmp_path, "b.pt")
    monkeypatch.setattr(collect_mod, "collect", real)
    assert (tmp_path / "b.pt").exists()
    monkeypatch.setattr(run_mod, "train", lambda *a, **k: pytest.fail("training was complete: no train call"))
    again = _protocol(tmp_path, "b.pt")
    _same_sets(again, uninterrupted)  # the trained learner and its snapshots were restored exactly
    assert "resumed_at" not in again["expert"].card["behavior"]


def test_a_kill_in_training_resumes_from_the_last_checkpoint(uninterrupted, tmp_path):
    def dies_at_200(msg):
        if "step 200:" in msg:
            raise _Killed  # after the snapshot, before the checkpoint of step 200: the step-100 one is kept

    with pytest.raises(_Killed):
        _protocol(tmp_path, log=dies_at_200)
    state = torch.load(tmp_path / "run.behavior.pt", weights_only=False)
    assert state["learner"]["env_steps"] == 100 and [s["step"] for s in state["snaps"]] == [0, 100]
    msgs = []
    out = _protocol(tmp_path, log=msgs.append)
    beh = out["expert"].card["behavior"]
    assert any("resumed from" in m and "step 100 of 300" in m for m in msgs), msgs
    assert beh["resumed_at"] == [100] and beh["train_steps"] == 300
    assert beh["curve"]["steps"] == [0, 100, 200, 300]
    # the step-0 and step-100 snapshots are the uninterrupted run's: the random dataset is bit-equal
    np.testing.assert_array_equal(out["random"].obs, uninterrupted["random"].obs)
    np.testing.assert_array_equal(out["medium-replay"].obs[:100], uninterrupted["medium-replay"].obs[:100])
    for d in out.values():
        d.verify()


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    with pytest.raises(_Killed):
        _protocol(tmp_path, log=lambda m: (_ for _ in ()).throw(_Killed) if "step 100:" in m else None)
    cfg = MATD3Config(**{**CKPT_CFG, "hidden": (8, 8)})
    with pytest.raises(ValueError, match="different run"):
        generate_protocol(
            "omar/spread1d",
            {"n_agents": 1},
            CKPT_SIZES,
            0.31,
            300,
            seeds=(0,),
            cfg=cfg,
            require_improvement=False,
            checkpoint=tmp_path / "run.behavior.pt",
        )


def test_load_or_generate_deletes_the_behavior_checkpoint_once_the_set_is_saved(tmp_path, monkeypatch):
    seen = {}
    real = collect_mod.generate_protocol

    def spy(*a, checkpoint=None, **k):
        seen["ckpt"] = checkpoint
        out = real(*a, checkpoint=checkpoint, checkpoint_every_s=0.0, **k)
        assert checkpoint.exists()
        return out

    monkeypatch.setattr(cache_mod, "generate_protocol", spy)
    got = load_or_generate(
        "omar/spread1d",
        {"n_agents": 1},
        CKPT_SIZES,
        root=tmp_path,
        cfg=MATD3Config(**CKPT_CFG),
        train_steps=300,
        require_improvement=False,
    )
    assert seen["ckpt"].name.endswith(".behavior.pt") and "expert" in seen["ckpt"].name
    assert not seen["ckpt"].exists() and set(got) == set(CKPT_SIZES)


def test_buffer_checkpoint_stores_only_the_filled_rows_and_restores_them():
    lr = MATD3(envs.make_vec("omar/spread", 1).spec, MATD3Config(**SMALL), [0, 1])
    _fill(lr, 37, np.random.default_rng(0))
    sd = lr.buffer.state_dict()
    assert {a.shape[1] for a in sd["arrays"].values()} == {37}
    other = MATD3(envs.make_vec("omar/spread", 1).spec, MATD3Config(**SMALL), [0, 1])
    _fill(other, 50, np.random.default_rng(1))  # stale rows beyond 37 must not survive the load
    other.buffer.load_state_dict(sd)
    for k, v in lr.buffer.np.items():
        np.testing.assert_array_equal(other.buffer.np[k], v, err_msg=k)
    assert other.buffer.size == 37
    small = MATD3(envs.make_vec("omar/spread", 1).spec, MATD3Config(**{**SMALL, "buffer_size": 20}), [0, 1])
    with pytest.raises(ValueError, match="does not fit"):
        small.buffer.load_state_dict(sd)
