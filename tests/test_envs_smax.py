"""smax/* : SMAC's maps on JaxMARL's SMAX behind envs.make (API, masks, win/loss/time-out, batching, seeds).

Most tests use smax/3s_vs_3z, the smallest map: every (map, options) pair costs one jit compile of reset and
step (~4 s each on 2 busy cores), so the file compiles two: 3s_vs_3z as made (single and vmapped) and 3s_vs_3z
with a walking (non-shooting) enemy.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import envs
from env_checks import check_determinism, check_parallel_api, check_spec_and_episode

HAS_JAXMARL = importlib.util.find_spec("jaxmarl") is not None
needs_smax = pytest.mark.skipif(
    not HAS_JAXMARL,
    reason="jaxmarl is not installed: pip install -c constraints.txt -e '.[smax]' (bootstrap does)",
)

MAPS = ["smax/2s3z", "smax/3s_vs_3z", "smax/5m_vs_6m", "smax/10m_vs_11m", "smax/MMM_no_medivac"]
STOP = 4  # SMAX actions: 0 N, 1 E, 2 S, 3 W, 4 stop, 5 + i attack enemy i

# map -> (N allies, n enemies, obs dim, state dim, SMAC episode limit)
SHAPES = {
    "smax/2s3z": (5, 5, 127, 120, 120),
    "smax/3s_vs_3z": (3, 3, 75, 72, 150),
    "smax/5m_vs_6m": (5, 6, 140, 132, 70),
    "smax/10m_vs_11m": (10, 11, 270, 252, 150),
    "smax/MMM_no_medivac": (9, 9, 13 * 17 + 10, 12 * 18, 150),
}


def focus_fire(avail: np.ndarray) -> np.ndarray:
    """[N, 1]: every ally attacks the lowest-index enemy it can hit, else holds position (stop)."""
    acts = []
    for m in avail:
        targets = np.flatnonzero(m[5:])
        acts.append(5 + targets[0] if len(targets) else STOP)
    return np.array(acts, dtype=np.int64)[:, None]


def masked_random(avail: np.ndarray, rng) -> np.ndarray:
    return np.array([rng.choice(np.flatnonzero(m)) for m in avail], dtype=np.int64)[:, None]


def play(env, seed, policy):
    """One episode; returns rewards [T], the last terminated, truncated, info and the masks seen."""
    env.reset(seed)
    rewards, masks, term, trunc = [], [env.avail_actions()], False, False
    while not (term or trunc):
        _, r, term, trunc, info = env.step(policy(env.avail_actions()))
        rewards.append(r[0])
        masks.append(info["avail_actions"])
        np.testing.assert_array_equal(r, r[0])  # the team reward
    return np.array(rewards), term, trunc, info, masks


def test_names_listed_and_import_envs_does_not_import_jax():
    assert set(MAPS) <= set(envs.names())
    code = (
        "import sys, envs; names = envs.names(); opts = envs.options('smax/MMM_no_medivac'); "
        "assert 'jax' not in sys.modules and 'jaxmarl' not in sys.modules, 'jax imported'; print(opts)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'max_steps': 150" in out
    assert envs.options("smax/5m_vs_6m") == {"max_steps": 70, "enemy_shoots": True, "attack_mode": "closest"}


@needs_smax
@pytest.mark.parametrize("name", MAPS)
def test_spec_and_card(name):  # builds the env without compiling anything
    env = envs.make(name)
    N, n_enemies, O, S, limit = SHAPES[name]
    s = env.spec
    assert s.name == name and s.n_agents == N and s.discrete and s.shared_reward
    assert s.obs_dims == (O,) * N and s.act_dims == (1,) * N and s.state_dim == S
    assert s.n_actions == (5 + n_enemies,) * N and s.episode_length == limit
    assert env.card["smac_episode_limit"] == limit and env.card["n_enemies"] == n_enemies
    if name == "smax/MMM_no_medivac":
        assert env.card["smac_map"] == "MMM" and "SUBSTITUTE" in env.card["substitute"]
        assert sorted(env.card["unit_types"]) == sorted([0] * 14 + [1] * 4)  # 7 marines + 2 marauders a side
    else:
        assert env.card["substitute"] is None


@needs_smax
def test_episode_api_masks_and_seeds():
    env = envs.make("smax/3s_vs_3z")
    ep = check_spec_and_episode(env)
    assert 1 <= len(ep["rewards"]) <= 150 and np.all(ep["rewards"] >= 0) and ep["rewards"].sum() <= 2.0 + 1e-5
    obs = env.reset(0)
    m = env.avail_actions()
    assert obs.shape == (3, 75) and env.state().shape == (72,) and m.shape == (3, 8) and m.dtype == bool
    assert m[:, :5].all() and not m[:, 5:].any()  # at the start every enemy is out of range
    check_determinism(lambda: envs.make("smax/3s_vs_3z"), seed=3)
    check_parallel_api(envs.make("smax/3s_vs_3z"), num_cycles=40)
    pz = envs.make("smax/3s_vs_3z").as_pettingzoo()
    _, infos = pz.reset(seed=1)
    np.testing.assert_array_equal(infos["ally_2"]["action_mask"], [1, 1, 1, 1, 1, 0, 0, 0])


@needs_smax
def test_seeds_give_identical_episodes_and_none_continues():
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    a, b = envs.make("smax/3s_vs_3z"), envs.make("smax/3s_vs_3z")
    r1, g1 = [], rng()
    r2, g2 = [], rng()
    for env, rs, g in ((a, r1, g1), (b, r2, g2)):
        rs.append(env.reset(11))
        for _ in range(30):
            o, r, term, trunc, _ = env.step(masked_random(env.avail_actions(), g))
            rs.append(np.r_[o.ravel(), r, env.state()])
            if term or trunc:
                break
    np.testing.assert_array_equal(
        np.concatenate([x.ravel() for x in r1]), np.concatenate([x.ravel() for x in r2])
    )
    assert not np.array_equal(a.reset(12), a.reset(11)) and not np.array_equal(a.reset(None), a.reset(11))


@needs_smax
def test_losing_episode_and_dead_units_can_only_stop():
    # allies stand still and never shoot: the zealots kill every stalker
    rewards, term, trunc, info, masks = play(envs.make("smax/3s_vs_3z"), 0, lambda m: np.full((3, 1), STOP))
    assert term and not trunc and not info["won"]
    assert len(rewards) < 150 and np.all(rewards == 0)  # no enemy damaged, no win bonus
    final = masks[-1]
    np.testing.assert_array_equal(final, np.tile([0, 0, 0, 0, 1, 0, 0, 0], (3, 1)).astype(bool))


@needs_smax
def test_focus_fire_wins_against_a_walking_enemy_and_timeout_truncates():
    env = envs.make("smax/3s_vs_3z", enemy_shoots=False)
    rewards, term, trunc, info, _ = play(env, 0, focus_fire)
    # (zealots may push a stalker into a wall)
    assert term and not trunc and info["won"] and env.alive().any()
    # damage rewards sum to 1 (every enemy's health, normalised, over the enemy count) plus the win bonus 1
    np.testing.assert_allclose(rewards.sum(), 2.0, atol=1e-4)
    assert rewards[-1] >= 1.0 and np.all(rewards[:-1] < 1.0)
    # nobody shoots: the episode runs to SMAC's limit and is truncated, not terminated
    rewards, term, trunc, info, _ = play(env, 1, lambda m: np.full((3, 1), STOP))
    assert trunc and not term and not info["won"] and len(rewards) == 150 and env.t == 150
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.full((3, 1), STOP))


@needs_smax
def test_vectorised_stepping_equals_single_stepping():
    E, seed = 3, 20
    venv = envs.make_vec("smax/3s_vs_3z", E)
    assert type(venv).__name__ == "SmaxVecEnv" and venv.n == E
    singles = [envs.make("smax/3s_vs_3z") for _ in range(E)]
    obs = venv.reset(seed)
    np.testing.assert_array_equal(obs, np.stack([s.reset(seed + k) for k, s in enumerate(singles)]))
    rng, done_single = np.random.default_rng(5), np.zeros(E, bool)
    returns_v, returns_s = np.zeros(E), np.zeros(E)
    while not venv.done.all():
        acts = np.stack([masked_random(m, rng) for m in venv.avail_actions()])  # [E, N, 1]
        obs, rew, term, done = venv.step(acts)
        returns_v += rew[:, 0]
        for k, s in enumerate(singles):
            if done_single[k]:
                assert rew[k].sum() == 0 and done[k]  # frozen copy
                continue
            o, r, t, tr, info = s.step(acts[k])
            returns_s[k] += r[0]
            np.testing.assert_allclose(obs[k], o, atol=1e-6)
            np.testing.assert_allclose(rew[k], r, atol=1e-6)
            np.testing.assert_allclose(venv.state()[k], s.state(), atol=1e-6)
            np.testing.assert_array_equal(venv.info["avail_actions"][k], info["avail_actions"])
            assert (term[k], done[k], venv.info["won"][k], venv.info["truncated"][k]) == (
                t,
                t or tr,
                info["won"],
                tr,
            )
            done_single[k] = t or tr
    assert done_single.all() and venv.t.max() <= 150
    np.testing.assert_allclose(returns_v, returns_s, atol=1e-5)
    with pytest.raises(ValueError, match="integers in 0..7"):
        venv.step(np.full((E, 3, 1), 8))


@pytest.mark.parametrize(  # options are checked before jax is imported: runs without the extra too
    "opts, words",
    [
        (dict(max_steps=0), "max_steps=0"),
        (dict(enemy_shoots=1), "enemy_shoots=1"),
        (dict(attack_mode="weakest"), "allowed: closest, random"),
        (dict(map="8m"), "valid options"),
    ],
)
def test_bad_options_raise(opts, words):
    with pytest.raises(ValueError, match=words):
        envs.make("smax/2s3z", **opts)


def test_user_cache_follows_the_packages_cache_root(monkeypatch, tmp_path):
    """envs/ imports nothing of ours, so smax_core restates common.running.roots.cache_root's rule: held equal."""
    from common.running.roots import cache_root
    from envs.smax_core import user_cache

    cases = [
        {"OFFMARL_DATA": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "xdg")},
        {"OFFMARL_DATA": None, "XDG_CACHE_HOME": str(tmp_path / "xdg")},
        {
            "OFFMARL_DATA": None,
            "XDG_CACHE_HOME": "relative/xdg",
        },  # not absolute: ignored, as the XDG spec says
        {"OFFMARL_DATA": None, "XDG_CACHE_HOME": None},
    ]
    for case in cases:
        for k, v in case.items():
            monkeypatch.delenv(k, raising=False) if v is None else monkeypatch.setenv(k, v)
        assert user_cache() == str(cache_root()), case


@needs_smax
def test_compiled_steps_are_kept_in_a_folder_per_jax_version_and_cpu_type(tmp_path):
    """Without $JAX_COMPILATION_CACHE_DIR the folder is <user cache>/jax/<key of jax version and CPU type>; with it,
    the user's folder; the min compile time is 0 unless the user set it (no compile here: jax is configured only)."""
    code = (
        "import jax; from envs.smax_core import persistent_compilation_cache as p; f = p();"
        "print(f, jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    out = []
    for extra in ({}, {"JAX_COMPILATION_CACHE_DIR": str(tmp_path / "mine")}):
        p = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "OFFMARL_DATA": str(tmp_path / "data"), **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, p.stderr[-2000:]
        out.append(p.stdout.split())
    (folder, configured, min_s), (mine, mine_configured, _) = out
    assert folder == configured and float(min_s) == 0.0
    assert folder.startswith(str(tmp_path / "data" / "jax") + "/") and len(folder.rsplit("/", 1)[1]) == 12
    assert mine == mine_configured == str(tmp_path / "mine")


@needs_smax
def test_the_suites_compiled_steps_are_on_disk():
    """This run's SMAX compiles went to the folder tests/conftest.py shares (the other tests above made envs)."""
    from envs.smax_core import persistent_compilation_cache

    envs.make("smax/3s_vs_3z").reset(0)
    folder = persistent_compilation_cache()
    assert folder == os.environ["JAX_COMPILATION_CACHE_DIR"] and os.listdir(folder)
