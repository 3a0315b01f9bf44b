"""The prey options of omar/tag and omar/world (envs/particles.py, envs/particle_prey.py) and the prey trainer (papers/omar/prey.py):
export -> numpy forward equals the torch actor, checksum checks, prey="scripted" unchanged, learn_prey as a 4th
agent (PettingZoo API included), the committed v2 assets, and a test-sized run of the trainer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import envs
import envs.particle_prey as particle_prey
from common.datasets.card import sha256_file
from common.networks.heads import DeterministicActor
from env_checks import check_determinism, check_parallel_api, check_spec_and_episode, rollout
from envs.particle_prey import PREY_DIR, NumpyActor, flee_action, load_prey
from papers.omar.prey import export_prey, main

OBS = {"omar/tag": (16, 14), "omar/world": (24, 22)}  # (predator obs, prey obs)


def _actor(n_members, width, input_norm, seed=0):
    """A tiny freshly initialised actor; with input_norm its BatchNorm gets non-trivial running statistics."""
    torch.manual_seed(seed)
    actor = DeterministicActor(n_members, width, 2, (8, 8), input_norm=input_norm)
    if input_norm:
        with torch.no_grad():
            actor(torch.randn(n_members, 64, width) * 3 + 1)  # train-mode forward: updates running stats
            actor.net.norm.weight.uniform_(0.5, 1.5)
            actor.net.norm.bias.uniform_(-0.2, 0.2)
    return actor.eval()


def _torch_actions(actor, member, obs, width):
    x = torch.zeros(actor.n_members, obs.shape[0], width)
    x[member, :, : obs.shape[1]] = torch.from_numpy(obs)
    with torch.no_grad():
        return actor(x)[member].numpy()


# ---- export / load ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["omar/tag", "omar/world"])
@pytest.mark.parametrize("input_norm, n_members, member", [(False, 4, 3), (True, 2, 1)])
def test_exported_prey_equals_torch_actor(tmp_path, name, input_norm, n_members, member):
    width, obs_dim = OBS[name]
    actor = _actor(n_members, width, input_norm)
    export_prey(actor, member, name, "v2", tmp_path)
    prey = load_prey(name, "v2", root=tmp_path)
    assert isinstance(prey, NumpyActor) and prey.obs_dim == obs_dim and prey.in_dim == width
    obs = np.random.default_rng(1).normal(size=(32, obs_dim)).astype(np.float32)
    ours = prey(obs)
    np.testing.assert_allclose(ours, _torch_actions(actor, member, obs, width), atol=1e-5)
    np.testing.assert_array_equal(prey(obs), ours)  # deterministic
    # one obs at a time, as the env calls it
    np.testing.assert_allclose(prey(obs[3]), ours[3], rtol=0, atol=1e-12)
    fname = f"{particle_prey.PREY_KEYS[name]}-v2.npz"
    assert json.loads((tmp_path / "manifest.json").read_text())[fname]["sha256"] == sha256_file(
        tmp_path / fname
    )


def test_checksum_mismatch_and_missing_files_are_clear_errors(tmp_path):
    path = export_prey(_actor(4, 16, False), 3, "omar/tag", "v2", tmp_path)
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match=r"checksum mismatch for prey weights .*tag-v2\.npz"):
        load_prey("omar/tag", "v2", root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"world-v2\.npz"):
        load_prey("omar/world", "v2", root=tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ValueError, match=r"no entry for tag-v2\.npz"):
        load_prey("omar/tag", "v2", root=tmp_path)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"manifest\.json is missing.*tag-v2\.npz"):
        load_prey("omar/tag", "v2", root=tmp_path)


@pytest.mark.parametrize("name", ["omar/tag", "omar/world"])
def test_env_runs_the_frozen_prey(tmp_path, monkeypatch, name):
    width, obs_dim = OBS[name]
    actor = _actor(4, width, False, seed=5)
    export_prey(actor, 3, name, "v2", tmp_path)
    monkeypatch.setattr(particle_prey, "PREY_DIR", tmp_path)
    env = envs.make(name, prey="v2")
    assert env.spec.n_agents == 3 and env.spec.options["prey"] == "v2"
    env.reset(2)
    for _ in range(5):
        prey_obs = env.scenario.observation(env.prey, env.world).astype(np.float32)  # before the step
        _, _, _, _, info = env.step(np.zeros((3, 2)))
        expected = np.clip(_torch_actions(actor, 3, prey_obs[None], width)[0], -1, 1)
        np.testing.assert_allclose(info["prey_action"], expected, atol=1e-5)
    check_determinism(lambda: envs.make(name, prey="v2"))


def test_scripted_prey_is_the_default_and_unchanged():
    for name, pos_at, pred_at in [("omar/tag", 2, 8), ("omar/world", 2, 14)]:
        a, b = rollout(envs.make(name), seed=4), rollout(envs.make(name, prey="scripted"), seed=4)
        for k in ("obs", "rewards", "state"):
            np.testing.assert_array_equal(a[k], b[k])
        env = envs.make(name, prey="scripted")
        env.reset(0)
        prey_obs = env.scenario.observation(env.prey, env.world).astype(np.float32)
        _, _, _, _, info = env.step(np.zeros((3, 2)))
        np.testing.assert_array_equal(
            info["prey_action"],
            flee_action(prey_obs[pos_at : pos_at + 2], prey_obs[pred_at : pred_at + 6], True),
        )


@pytest.mark.parametrize(
    "opts, match",
    [
        # v1: mpe2's physics, dropped
        ({"prey": "v1"}, r"prey='v1' is not allowed; prey must be one of 'scripted', 'v2'"),
        ({"prey": None}, "prey=None"),
        ({"learn_prey": 1}, "learn_prey=1"),
        ({"learn_prey": True, "prey": "v2"}, "learn_prey=True"),
        ({"learn_prey": True, "prey_policy": lambda o: np.zeros(2)}, "learn_prey=True"),
        ({"prey": "v2", "prey_policy": lambda o: np.zeros(2)}, "not both"),
    ],
)
def test_bad_prey_options(opts, match):
    for name in ("omar/tag", "omar/world"):
        with pytest.raises(ValueError, match=match):
            envs.make(name, **opts)


# ---- learn_prey --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["omar/tag", "omar/world"])
def test_learn_prey_exposes_the_prey_as_a_fourth_agent(name):
    width, obs_dim = OBS[name]
    env = envs.make(name, learn_prey=True)
    spec = env.spec
    assert spec.agent_ids == ("adversary_0", "adversary_1", "adversary_2", "agent_0")
    assert spec.obs_dims == (width, width, width, obs_dim) and spec.act_dims == (2,) * 4
    assert not spec.shared_reward and spec.options["learn_prey"] is True
    obs = env.reset(3)
    prey = env.world.agents[3]
    np.testing.assert_array_equal(
        obs[3, :obs_dim], env.scenario.observation(prey, env.world).astype(np.float32)
    )
    assert np.all(obs[3, obs_dim:] == 0) and prey.action_callback is None
    pos0 = prey.state.p_pos.copy()
    act = np.zeros((4, 2))
    act[3] = [1.0, -0.5]
    env.step(act)
    _, r, _, _, info = env.step(act)
    # OMAR's force a * 4 * 4 (sensitivity x accel) gives speed 1.6 |a| > 1.3 in each step, capped at the prey's
    # max_speed 1.3 along a; the position moves with the new velocity: 2 steps x 0.1 x 1.3 along a
    a = np.array([1.0, -0.5])
    np.testing.assert_allclose(prey.state.p_pos - pos0, 0.26 * a / np.linalg.norm(a), atol=1e-12)
    np.testing.assert_array_equal(info["prey_action"], act[3])
    assert r[3] == np.float32(info["prey_reward"])
    assert info["prey_reward"] == env.scenario.reward(prey, env.world)
    assert r[0] == r[1] == r[2] == np.float32(env.scenario.reward(env.world.agents[0], env.world))
    check_spec_and_episode(envs.make(name, learn_prey=True), expect_len=25)
    check_determinism(lambda: envs.make(name, learn_prey=True))
    check_parallel_api(envs.make(name, learn_prey=True))


# ---- the committed assets and the trainer -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["omar/tag", "omar/world"])
def test_committed_v2_prey_loads_and_matches_its_manifest(name):
    fname = f"{particle_prey.PREY_KEYS[name]}-v2.npz"
    manifest = json.loads((PREY_DIR / "manifest.json").read_text())
    assert manifest[fname]["sha256"] == sha256_file(PREY_DIR / fname)
    card = json.loads((PREY_DIR / manifest[fname]["card"]).read_text())
    assert card["sha256"] == manifest[fname]["sha256"] and card["env"] == name and card["version"] == "v2"
    assert card["training"]["steps"] > 0 and card["escape"]["stats"]
    prey = load_prey(name, "v2")
    assert prey.obs_dim == OBS[name][1]
    a = rollout(envs.make(name, prey="v2"), seed=0)
    b = rollout(envs.make(name, prey="v2"), seed=0)
    np.testing.assert_array_equal(a["state"], b["state"])
    assert np.all(np.isfinite(a["state"]))


def test_trainer_smoke(tmp_path, capsys):
    main(
        [
            "--env",
            "omar/tag",
            "--steps",
            "60",
            "--out",
            str(tmp_path),
            "--eval-episodes",
            "2",
            "--batch-size",
            "16",
        ]
    )
    card = json.loads((tmp_path / "tag-v2.json").read_text())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["tag-v2.npz"] == {
        "sha256": card["sha256"],
        "bytes": (tmp_path / "tag-v2.npz").stat().st_size,
        "card": "tag-v2.json",
    }
    assert card["training"]["steps"] == 60 and card["training"]["n_updates"] > 0
    assert card["training"]["matd3_config"]["batch_size"] == 16
    keys = {
        f"predators={p}, prey={q}" for p in ("random", "co-trained") for q in ("v2", "scripted", "random")
    }
    assert set(card["escape"]["stats"]) == keys
    assert all(s["episodes"] == 2 for s in card["escape"]["stats"].values())
    load_prey("omar/tag", "v2", root=tmp_path)
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--steps" in capsys.readouterr().out
