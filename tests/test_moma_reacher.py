"""MOMA-PPO's Reacher data: the elbow-convention classifier, the expert-mix construction, the online MAPPO
trainer's exact resume, the profiles' data sizes and the experts' run identity, and the per-agent split of a smoke
build."""

import dataclasses

import numpy as np
import pytest
import torch

from common.algos.mappo import MAPPOConfig
from common.behavior.mappo_online import OnlineMAPPOConfig, train
from common.behavior.mappo_rollouts import classify_convention, elbow_angles, select_seeds, to_batch
from common.datasets.dataset import Dataset
from papers.moma_ppo import data_config as DC
from papers.moma_ppo.reacher import dataset_base, expert_mix
from papers.moma_ppo.reacher_experts import choose_experts, expert_config, run_path, train_experts


def _states(theta2):
    """Reacher states [..., 10] with elbow angle theta2 (other columns zero but cos θ1 = 1)."""
    th = np.asarray(theta2, dtype=np.float64)
    s = np.zeros(th.shape + (10,))
    s[..., 0], s[..., 1], s[..., 3] = 1.0, np.cos(th), np.sin(th)
    return s


def test_elbow_angle_is_atan2_of_the_state():
    th = np.array([-3.0, -1.0, 0.0, 0.5, 2.9])
    assert np.allclose(elbow_angles(_states(th)), th)
    with pytest.raises(ValueError, match="4 columns"):
        elbow_angles(np.zeros((3, 2)))


def test_convention_is_the_sign_of_the_mean_over_the_last_25_steps():
    T = 50
    a = np.full((2, T), -2.0)  # seed 0: first 25 steps far clockwise, last 25 at +0.3 -> ccw
    a[:, 25:] = 0.3
    b = np.full((2, T), 1.0)  # seed 1: last 25 steps mean -0.1 -> cw
    b[:, 25:] = np.linspace(-0.6, 0.4, 25)
    c = np.zeros((2, T))  # seed 2: exactly 0 -> ccw (θ₂ ≥ 0)
    theta = elbow_angles(_states(np.stack([a, b, c])))
    mean, conv = classify_convention(theta)
    assert np.allclose(mean, [0.3, -0.1, 0.0]) and conv == ["ccw", "cw", "ccw"]
    mean5, conv5 = classify_convention(theta, last=50)
    assert np.isclose(mean5[0], (-2.0 + 0.3) / 2) and conv5[0] == "cw"
    with pytest.raises(ValueError, match=r"\[S, E, T\]"):
        classify_convention(np.zeros((3, 50)))
    with pytest.raises(ValueError, match="last=60"):
        classify_convention(theta, last=60)


def test_choose_experts_one_per_convention_and_the_expert_level():
    ev = {
        "return": [-4.0, -4.5, -4.1, -9.0],
        "theta2": [0.5, 0.4, -0.7, -0.2],
        "convention": ["ccw", "ccw", "cw", "cw"],
    }
    ex = choose_experts(ev, [10, 11, 12, 13], require=True)
    assert ex["ccw"]["seed"] == 10 and ex["cw"]["seed"] == 12 and ex["ccw"]["expert_level"]
    bad = dict(ev, convention=["ccw"] * 4)
    with pytest.raises(RuntimeError, match="no seed bends its elbow cw"):
        choose_experts(bad, [10, 11, 12, 13], require=True)
    forced = choose_experts(bad, [10, 11, 12, 13], require=False)
    assert forced["cw"]["forced"] and forced["cw"]["seed"] == 12  # the unused seed leaning most clockwise
    with pytest.raises(RuntimeError, match="expert level"):
        choose_experts(dict(ev, **{"return": [-4.0, -4.5, -9.0, -9.5]}), [10, 11, 12, 13], require=True)


def _expert(offset: float, n_eps: int, T: int = 5) -> Dataset:
    n = n_eps * T
    t = np.zeros(n, bool)
    to = np.zeros(n, bool)
    to[T - 1 :: T] = True
    obs = (offset + np.arange(n, dtype=np.float32))[:, None, None] * np.ones((1, 1, 10), np.float32)
    return Dataset.from_arrays(
        "mujoco/reacher",
        "expert",
        obs,
        np.zeros((n, 1, 2)),
        obs[:, :, 0] * 0 - 1.0,
        obs + 1,
        t,
        to,
        return_mode="sum",
    )


def test_expert_mix_takes_the_first_half_of_each_expert_with_timeouts_at_the_joint():
    first, second = _expert(0.0, 4), _expert(1000.0, 4)
    arr = expert_mix(first, second, 7)  # 7 is not a multiple of the episode length: the joint cuts an episode
    assert arr["obs"].shape == (14, 10) and arr["actions"].shape == (14, 2) and arr["rewards"].shape == (14,)
    assert np.array_equal(arr["obs"][:7, 0], np.arange(7)) and np.array_equal(
        arr["obs"][7:, 0], 1000 + np.arange(7)
    )
    assert np.flatnonzero(arr["timeouts"]).tolist() == [4, 6, 11, 13] and not arr["terminals"].any()
    with pytest.raises(ValueError, match="fewer than mix=30"):
        expert_mix(first, second, 30)


def test_to_batch_keeps_live_rows_episode_major_and_ends_in_a_timeout():
    S, E, T = 2, 2, 3
    ro = {
        "obs": np.arange(S * E * T, dtype=np.float32).reshape(S, E, T, 1, 1),
        "live": np.ones((S, E, T), bool),
        "terminated": np.zeros((S, E, T), bool),
    }
    ro["next_obs"], ro["actions"], ro["rewards"] = ro["obs"] + 1, ro["obs"], ro["obs"][..., 0, 0]
    ro["truncated"] = np.zeros((S, E, T), bool)
    ro["truncated"][:, :, -1] = True
    ro["live"][1, 1, 2] = False  # seed 1 has one row fewer: every seed is cut to 5 rows
    ro["terminated"][1, 1, 1] = True
    b = to_batch(ro)
    assert b["obs"].shape == (2, 5, 1, 1) and b["obs"][0, :, 0, 0].tolist() == [0, 1, 2, 3, 4]
    assert b["zetas"][0].tolist() == [1, 1, 0, 1, 0] and b["masks"][1].tolist() == [1, 1, 1, 1, 0]


def _cfg(iterations):
    return OnlineMAPPOConfig(
        iterations=iterations,
        steps_per_iteration=150,
        eval_every=2,
        eval_episodes=2,
        mappo=MAPPOConfig(minibatch_size=64, hidden=(16, 16), obs_norm=True),
    )


def test_online_mappo_resume_is_bitwise_exact(tmp_path):
    """2 iterations, a checkpoint, a new process's 2 more == 4 straight (weights, Adam, α, logs, evaluations)."""
    ck = tmp_path / "run.pt"
    part = train(_cfg(4), [3, 5], checkpoint=ck, checkpoint_every=2, stop_at=2)
    assert part.iteration == 2 and ck.exists()
    resumed = train(_cfg(4), [3, 5], checkpoint=ck, checkpoint_every=2)
    straight = train(_cfg(4), [3, 5])
    assert resumed.resumed_from == 2 and resumed.iteration == straight.iteration == 4
    a, b = resumed.learner.state_dict(), straight.learner.state_dict()
    for name in ("actor", "critic", "mixer"):
        for k in a[name]:
            assert torch.equal(a[name][k], b[name][k]), (name, k)
    assert torch.equal(a["alpha"], b["alpha"])
    assert (
        all(torch.equal(x, y) for x, y in zip(a["obs_stats"][:2], b["obs_stats"][:2])) and a["obs_stats"][2]
    )
    assert all(torch.equal(x, y) for x, y in zip(a["rng"] + a["act_rng"], b["rng"] + b["act_rng"]))
    assert resumed.log == straight.log and resumed.evals == straight.evals
    assert set(straight.evals[-1]) >= {"return", "theta2", "convention"}


def test_stats_rollout_is_each_seeds_own_and_select_seeds_keeps_the_statistics():
    """The obs_norm sample of a seed depends on that seed alone (trained beside another or alone: equal), and the
    chosen experts keep their seeds' statistics."""
    both = train(_cfg(1), [3, 5]).learner
    alone = train(_cfg(1), [5]).learner
    assert torch.equal(both.obs_mu[1:], alone.obs_mu) and torch.equal(both.obs_sd[1:], alone.obs_sd)
    assert not torch.equal(both.obs_mu[0], both.obs_mu[1])
    picked = select_seeds(both, [1])
    assert picked.obs_stats_set and torch.equal(picked.obs_sd, alone.obs_sd)
    obs = np.random.default_rng(0).normal(size=(1, 3, 2, both.obs_dim)).astype(np.float32)
    assert np.array_equal(picked.greedy(obs), both.greedy(np.concatenate([obs, obs]))[1:])


def test_quick_and_full_data_are_the_protocols_sizes_in_their_own_file_generation(tmp_path):
    """The protocol's data (spec §3): each expert collects 1,000,000 sampled transitions, expert-mix = the first
    500,000 of each. quick keeps them (data version 3: its 500k / 2 × 250k files were -v2, never read as these)."""
    quick, full, smoke = (DC.reacher_scale(p) for p in ("quick", "full", "smoke"))
    assert (quick.collect, quick.mix) == (full.collect, full.mix) == (1_000_000, 500_000)
    assert quick.iterations == 600 and full.iterations == 10_000
    assert dataset_base("expert-mix", "quick", root=tmp_path).name == "expert-mix-v3"
    assert dataset_base("expert", "quick", "cw", root=tmp_path).name == "expert-cw-v3"
    assert smoke.version == DC.REACHER_VERSION == 2 and smoke.mix < smoke.collect <= 2_000


def test_experts_run_identity_holds_the_training_fields_only(tmp_path, monkeypatch):
    """Changing a profile's collection / mix sizes or its data version resumes the same experts' checkpoint (the
    trained experts are reused); changing a training field is refused as another run."""
    part = train_experts("smoke", root=tmp_path, progress=False, stop_at=10)
    assert part.iteration == 10 and run_path("smoke", tmp_path).exists()
    s = DC.reacher_scale("smoke")
    monkeypatch.setitem(
        DC.REACHER_SCALES, "smoke", dataclasses.replace(s, collect=4_000, mix=3_000, version=s.version + 1)
    )
    again = train_experts("smoke", root=tmp_path, progress=False, stop_at=10)
    assert again.resumed_from == 10 and again.evals == part.evals
    monkeypatch.setitem(DC.REACHER_SCALES, "smoke", dataclasses.replace(s, steps_per_iteration=1_000))
    with pytest.raises(ValueError, match="different run"):
        train_experts("smoke", root=tmp_path, progress=False, stop_at=10)


def test_online_mappo_config_rejects_bad_values():
    with pytest.raises(ValueError, match="steps_per_iteration=0"):
        OnlineMAPPOConfig(steps_per_iteration=0).validate()
    with pytest.raises(ValueError, match="env=.mamujoco/nope. is not allowed; choose one of"):
        OnlineMAPPOConfig(env="mamujoco/nope").validate()
    with pytest.raises(ValueError, match="memory_len=0"):
        OnlineMAPPOConfig(mappo=MAPPOConfig(memory_len=10)).validate()
    with pytest.raises(ValueError, match="multiple of the episode length 50"):
        OnlineMAPPOConfig(steps_per_iteration=120).episodes_per_iteration(50)


def test_committed_experts_rebuild_the_runs_datasets_without_the_run(tmp_path):
    """The experts exported from a run (papers/moma_ppo/reacher_committed.py) rebuild the same three datasets, card
    for card, where the run's checkpoint is gone; experts of another training config and a tampered tensor file are
    refused naming the file; exporting without a run says how to make one."""
    from papers.moma_ppo.reacher import build, export_committed
    from papers.moma_ppo.reacher_committed import load_policy

    data, committed = tmp_path / "data", tmp_path / "committed"
    cfg = expert_config("smoke")
    assert load_policy("smoke", cfg, committed) is None
    with pytest.raises(FileNotFoundError, match="--experts-only"):
        export_committed("smoke", root=data, committed_root=committed)
    train_experts("smoke", root=data, progress=False)
    before = {k: Dataset.read_card(b) for k, b in build("smoke", root=data, progress=False).items()}
    base = export_committed("smoke", root=data, committed_root=committed)
    for p in data.rglob("*"):
        if p.is_file():
            p.unlink()
    after = {
        k: Dataset.read_card(b)
        for k, b in build("smoke", root=data, progress=False, committed_root=committed).items()
    }
    assert not run_path("smoke", data).exists()  # built from the committed set, not a new run
    for k in before:
        assert {f: v for f, v in after[k].items() if f != "created"} == {
            f: v for f, v in before[k].items() if f != "created"
        }
    with pytest.raises(
        ValueError, match=r"another config than profile 'smoke'.s now \(fields \['iterations'\]\)"
    ):
        load_policy("smoke", dataclasses.replace(cfg, iterations=cfg.iterations + 1), committed)
    blob = bytearray(base.with_suffix(".pt").read_bytes())
    blob[-1] ^= 1
    base.with_suffix(".pt").write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="reacher-experts.pt does not match its card"):
        load_policy("smoke", cfg, committed)
