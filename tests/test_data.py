"""common.datasets.dataset and its layer (datacard, returns, sampling, datainfo): storage, checks, episodes,
views, member sampling, normalize, CLI.

The hand-built dataset (2 agents, obs dims (3, 2) padded to O=3, act dims (2, 1) padded to A=2):

    t   rewards [r0, r1]   end
    0   [ 1, 3]
    1   [ 2, 0]
    2   [ 0, 4]            timeout   -> episode 0: mean 2+1+2 = 5, sum 10, agent0 3
    3   [ 5, 1]
    4   [-1, 1]            terminal  -> episode 1: mean 3+0 = 3,   sum 6,  agent0 4
"""

import importlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from common.datasets import card as datacard
from common.datasets import returns, sampling
from common.datasets.builder import DatasetBuilder
from common.datasets.card import DatasetError
from common.datasets.dataset import Dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REWARDS = np.array([[1, 3], [2, 0], [0, 4], [5, 1], [-1, 1]], dtype=np.float32)
OBS_DIMS, ACT_DIMS = (3, 2), (2, 1)


def _obs(T, offset=0.0):
    """obs[t, i, j] = 100 t + 10 i + j + 1 + offset on real entries, 0 on padding."""
    t, i, j = np.meshgrid(np.arange(T), np.arange(2), np.arange(3), indexing="ij")
    o = (100 * t + 10 * i + j + 1 + offset).astype(np.float32)
    o[:, 1, 2] = 0.0
    return o


def make_ds(kind="medium", with_state=True, **kw):
    T = 5
    act = np.zeros((T, 2, 2), np.float32)
    act[:, 0, 0] = np.arange(T) * 0.1
    act[:, 0, 1] = -np.arange(T) * 0.1
    act[:, 1, 0] = 0.5
    state = np.arange(T * 4, dtype=np.float32).reshape(T, 4) if with_state else None
    return Dataset.from_arrays(
        "omar/spread",
        kind,
        _obs(T),
        act,
        REWARDS,
        _obs(T, 1000.0),
        terminals=[0, 0, 0, 0, 1],
        timeouts=[0, 0, 1, 0, 0],
        state=state,
        next_state=None if state is None else state + 1,
        obs_dims=OBS_DIMS,
        act_dims=ACT_DIMS,
        protocol="hand-built",
        **kw,
    )


def _rewrite(base, arrays=None, card_edit=None):
    """Rewrite a saved dataset's npz (and fix the card's sha) and/or edit its card."""
    npz, js = str(base) + ".npz", str(base) + ".json"
    card = json.loads(open(js).read())
    if arrays is not None:
        with open(npz, "wb") as f:
            np.savez(f, **arrays)
        card["sha256"] = datacard.sha256_file(npz)
    if card_edit:
        card_edit(card)
    open(js, "w").write(json.dumps(card))


# ---- storage ------------------------------------------------------------------------------------
def test_round_trip(tmp_path):
    ds = make_ds(ref_scores={"random": -10.0, "expert": 10.0})
    base = ds.save(tmp_path / "ds")
    assert (tmp_path / "ds.npz").exists() and (tmp_path / "ds.json").exists()
    back = Dataset.load(tmp_path / "ds.npz")
    assert set(back.arrays) == set(ds.arrays) == set(datacard.REQUIRED_KEYS) | {"state", "next_state"}
    for k, v in ds.arrays.items():
        assert back.arrays[k].dtype == v.dtype
        np.testing.assert_array_equal(back.arrays[k], v)
    assert back.card == ds.card
    assert back.card["sha256"] == datacard.sha256_file(str(base) + ".npz")
    assert back.id == "omar/spread/medium-v1" and back.size == 5 and back.n_episodes == 2
    assert back.card["libraries"]["numpy"] == np.__version__
    assert set(datacard.LIBRARIES) <= set(back.card["libraries"])


def test_default_path_under_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path))
    assert datacard.data_root() == tmp_path
    assert datacard.dataset_path("omar/spread/medium-v1") == tmp_path / "omar" / "spread" / "medium-v1"
    parsed = datacard.parse_dataset_id("mamujoco/halfcheetah-2x3/medium-replay-v2")
    assert parsed == ("mamujoco/halfcheetah-2x3", "medium-replay", 2)
    make_ds().save()
    assert (tmp_path / "omar/spread/medium-v1.npz").exists()
    assert Dataset.load("omar/spread/medium-v1").size == 5  # an id resolves under the root


def test_default_root_is_the_user_cache(tmp_path, monkeypatch):
    """Without $OFFMARL_DATA the root is $XDG_CACHE_HOME/offmarl-repro, else ~/.cache/offmarl-repro: outside the
    repository, absolute from any working directory."""
    monkeypatch.delenv("OFFMARL_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datacard.data_root() == tmp_path / "xdg" / "offmarl-repro"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: relative paths are invalid
    assert datacard.data_root() == Path.home() / ".cache" / "offmarl-repro"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datacard.data_root() == tmp_path / "home" / ".cache" / "offmarl-repro"
    assert not datacard.data_root().is_relative_to(Path(ROOT))
    assert (
        datacard.dataset_path("omar/spread/medium-v1")
        == tmp_path / "home" / ".cache" / "offmarl-repro" / "omar" / "spread" / "medium-v1"
    )
    monkeypatch.setenv("OFFMARL_DATA", "~/offmarl-data")
    assert datacard.data_root() == tmp_path / "home" / "offmarl-data"
    monkeypatch.setenv("OFFMARL_DATA", "rel")  # an explicit relative root is made absolute once, here
    assert datacard.data_root() == tmp_path / "rel"


def test_tests_use_their_own_cache():
    """The suite's cache is a temporary folder of its own (tests/conftest.py), never the user's."""
    root = datacard.data_root()
    assert str(root) == os.environ["OFFMARL_TEST_DATA"]
    users = Path.home() / ".cache" / "offmarl-repro"
    assert root != users and not root.is_relative_to(Path(ROOT))


def test_checkpoints_live_in_the_cache(tmp_path, monkeypatch):
    from common.running.roots import REFERENCE_ROOT, checkpoints_root

    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "cache"))
    assert (
        checkpoints_root(REFERENCE_ROOT, "full") == tmp_path / "cache" / "checkpoints" / "reference" / "full"
    )
    a, b = (
        checkpoints_root(tmp_path / "a" / "runs", "quick"),
        checkpoints_root(tmp_path / "b" / "runs", "quick"),
    )
    assert a != b and a.parent.parent == tmp_path / "cache" / "checkpoints" and a.name == "quick"
    assert a.parent.name.startswith("runs-")


def test_checksum_mismatch(tmp_path):
    base = make_ds().save(tmp_path / "ds")
    npz = str(base) + ".npz"
    raw = bytearray(open(npz, "rb").read())
    raw[len(raw) // 2] ^= 0xFF
    open(npz, "wb").write(bytes(raw))
    with pytest.raises(DatasetError, match="checksum mismatch") as e:
        Dataset.load(base)
    card = json.loads(open(str(base) + ".json").read())
    assert card["sha256"] in str(e.value) and datacard.sha256_file(npz) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="missing.*nope.json") as e:
        Dataset.load(tmp_path / "nope")
    assert str(e.value).endswith(
        "to regenerate it, re-run the script that needs it (paper scripts generate missing datasets)"
    )  # no file to delete, no card to read
    base = make_ds().save(tmp_path / "ds")
    os.unlink(str(base) + ".npz")
    with pytest.raises(DatasetError, match=r"missing.*ds\.npz") as e:
        Dataset.load(base)
    assert f"rm {base}.json)" in str(e.value)  # the half left behind


REGEN = "python -m papers.omar.datasets --generate --profile quick --env omar/spread --env-options '{}'"


def _corrupt(npz):
    raw = bytearray(open(npz, "rb").read())
    raw[len(raw) // 2] ^= 0xFF
    open(npz, "wb").write(bytes(raw))


def test_error_says_how_to_regenerate(tmp_path):
    """A broken dataset's error names both files and both checksums, and ends with what to run: the
    card's regenerate_command after deleting the files, or (no command) re-running the script."""
    assert make_ds().card["regenerate_command"] is None
    base = make_ds(regenerate_command=REGEN).save(tmp_path / "my data" / "ds")
    npz, js = f"{base}.npz", f"{base}.json"
    assert Dataset.load(base).card["regenerate_command"] == REGEN
    good = datacard.sha256_file(npz)
    _corrupt(npz)
    with pytest.raises(DatasetError) as e:
        Dataset.load(base)
    msg = str(e.value)
    assert (
        f"{npz}: checksum mismatch" in msg
        and f"card {js} says {good}" in msg
        and datacard.sha256_file(npz) in msg
    )
    rm = f"rm {shlex.quote(npz)} {shlex.quote(js)}"
    assert msg.endswith(f"to regenerate it, delete its files ({rm}), then run: {REGEN}")
    rm = msg.split("(rm ")[1].split("), then")[0]
    assert shlex.split(rm) == [npz, js]  # a shell-ready deletion, even with a space in the path

    base = make_ds().save(tmp_path / "ds2")
    _corrupt(f"{base}.npz")
    with pytest.raises(DatasetError, match="checksum mismatch") as e:
        Dataset.load(base)
    assert str(e.value).endswith(
        f"to regenerate it, delete its files (rm {base}.npz {base}.json), then re-run the "
        "script that needs it (paper scripts generate missing datasets; its card "
        "records no regenerate_command)"
    )
    _rewrite(base, card_edit=lambda c: c.update(format_version=99, regenerate_command=REGEN))
    with pytest.raises(DatasetError, match=f"format_version 99.*then run: {REGEN}$"):
        Dataset.read_card(base)


def test_load_or_generate_records_the_command(tmp_path, monkeypatch):
    """The paper's command goes into every generated card; a corrupt file's error quotes it; deleting the
    files as told makes the next call generate again."""
    cache = importlib.import_module("common.behavior.protocol_cache")
    sizes = {"random": 5, "expert": 5}
    calls = []

    def fake_protocol(env, env_options, sizes, **kw):  # stands in for the MATD3 behavior run
        calls.append(env)
        prot = {"sizes": dict(sizes), "env_options": {}}
        return [{k: make_ds(kind=k).with_card(protocol=prot) for k in sizes}]

    monkeypatch.setattr(cache, "generate_protocol", fake_protocol)
    out = cache.load_or_generate("omar/spread", None, sizes, root=tmp_path, regenerate_command=REGEN)
    base = tmp_path / "omar" / "spread" / "random-v1"
    assert (
        out["random"].card["regenerate_command"] == REGEN
        and Dataset.read_card(base)["regenerate_command"] == REGEN
    )
    _corrupt(f"{base}.npz")
    with pytest.raises(
        DatasetError, match=f"checksum mismatch.*rm {base}.npz {base}.json\\), then run: {REGEN}$"
    ):
        cache.load_or_generate("omar/spread", None, sizes, root=tmp_path, regenerate_command=REGEN)
    os.unlink(f"{base}.npz")
    os.unlink(f"{base}.json")
    cache.load_or_generate("omar/spread", None, sizes, root=tmp_path, regenerate_command=REGEN)
    assert len(calls) == 2
    assert cache.load_or_generate("omar/spread", None, sizes, root=tmp_path)["random"].size == 5


def test_missing_key(tmp_path):
    ds = make_ds()
    base = ds.save(tmp_path / "ds")
    _rewrite(base, {k: v for k, v in ds.arrays.items() if k != "rewards"})
    with pytest.raises(DatasetError, match=r"missing arrays \['rewards'\]"):
        Dataset.load(base)


def test_wrong_shape_and_dtype(tmp_path):
    ds = make_ds()
    base = ds.save(tmp_path / "ds")
    _rewrite(base, {**ds.arrays, "obs": ds.obs[:4]})
    with pytest.raises(DatasetError, match=r"'obs' has shape \(4, 2, 3\), card expects \(5, 2, 3\)"):
        Dataset.load(base)
    _rewrite(base, {**ds.arrays, "obs": ds.obs.astype(np.float64)})
    with pytest.raises(DatasetError, match="'obs' has dtype float64, expected float32"):
        Dataset.load(base)


def test_card_array_disagreement(tmp_path):
    base = make_ds().save(tmp_path / "ds")

    def more_agents(c):
        c.update(n_agents=3, obs_dims=[3, 2, 1], act_dims=[2, 1, 1])

    _rewrite(base, card_edit=more_agents)
    with pytest.raises(DatasetError, match=r"card expects \(5, 3, 3\) \(T=5, N=3, O=3\)"):
        Dataset.load(base)
    _rewrite(base, card_edit=lambda c: c.update(n_agents=2, obs_dims=[3, 2], act_dims=[2, 1], size=7))
    with pytest.raises(DatasetError, match="T=7"):
        Dataset.load(base)
    _rewrite(base, card_edit=lambda c: c.update(size=5, n_episodes=3))
    with pytest.raises(DatasetError, match="E=3"):
        Dataset.load(base)


def test_unknown_version_and_generator(tmp_path):
    base = make_ds(generator={"name": "collect", "version": 2}).save(tmp_path / "ds")
    with pytest.raises(
        DatasetError, match=r"unknown generator 'collect' version 2; supported: collect \[1\]"
    ):
        Dataset.load(base, generators={"collect": [1]})
    assert Dataset.load(base, generators={"collect": [1, 2]}).size == 5
    _rewrite(base, card_edit=lambda c: c.update(format_version=99))
    with pytest.raises(DatasetError, match=r"format_version 99.*\[1\]"):
        Dataset.load(base)


def test_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset kind 'bogus'.*medium-replay.*full-replay"):
        make_ds(kind="bogus")
    base = make_ds().save(tmp_path / "ds")
    _rewrite(base, card_edit=lambda c: c.update(kind="bogus", id="omar/spread/bogus-v1"))
    with pytest.raises(DatasetError, match="unknown dataset kind 'bogus'"):
        Dataset.load(base)
    with pytest.raises(ValueError, match="allowed kinds"):
        datacard.parse_dataset_id("omar/spread/bogus-v1")


def test_atomic_write_keeps_previous(tmp_path, monkeypatch):
    base = make_ds().save(tmp_path / "ds")
    before = {p: open(tmp_path / p, "rb").read() for p in ("ds.npz", "ds.json")}

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 partial")  # some bytes, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        make_ds(kind="expert").save(base)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["ds.json", "ds.npz"]  # no temp files left
    assert {p: open(tmp_path / p, "rb").read() for p in before} == before
    assert Dataset.load(base).card["kind"] == "medium"


# ---- construction and episodes --------------------------------------------------------------------
def test_episode_returns_hand_computed():
    ds = make_ds()
    np.testing.assert_array_equal(ds.episode_starts(), [0, 3])
    np.testing.assert_array_equal(ds.episode_ids(), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(ds.episode_returns, [5.0, 3.0])  # default "mean"
    np.testing.assert_array_equal(ds.compute_returns("sum"), [10.0, 6.0])
    np.testing.assert_array_equal(ds.compute_returns("agent0"), [3.0, 4.0])
    np.testing.assert_array_equal(ds.compute_returns(lambda r: r[:, 1].max()), [4.0, 1.0])
    assert make_ds(return_mode="agent0").card["return_mode"] == "agent0"
    np.testing.assert_array_equal(make_ds(return_mode="sum").episode_returns, [10.0, 6.0])
    r = ds.card["returns"]
    assert (r["mean"], r["std"], r["min"], r["max"]) == (4.0, 1.0, 3.0, 5.0)
    assert r["quantiles"]["0.5"] == 4.0 and r["quantiles"]["0.25"] == 3.5
    eps = list(ds.episodes())
    assert [len(e["obs"]) for e in eps] == [3, 2]
    np.testing.assert_array_equal(eps[1]["rewards"], REWARDS[3:])
    assert eps[0]["timeouts"][-1] and eps[1]["terminals"][-1]
    with pytest.raises(ValueError, match="unknown return mode 'max'"):
        make_ds(return_mode="max")


def test_from_arrays_rejects_bad_input():
    ds = make_ds()
    a = {k: ds.arrays[k] for k in ("obs", "actions", "rewards", "next_obs")}
    with pytest.raises(ValueError, match="last transition must end an episode"):
        Dataset.from_arrays(
            "e", "medium", **a, terminals=[0] * 5, timeouts=[0] * 5, obs_dims=OBS_DIMS, act_dims=ACT_DIMS
        )
    bad = ds.obs.copy()
    bad[0, 1, 2] = 1.0
    with pytest.raises(ValueError, match="non-zero entries in padded columns"):
        Dataset.from_arrays(
            "e",
            "medium",
            **{**a, "obs": bad},
            terminals=[0, 0, 0, 0, 1],
            timeouts=[0] * 5,
            obs_dims=OBS_DIMS,
            act_dims=ACT_DIMS,
        )
    with pytest.raises(ValueError, match="actions has 4 steps"):
        Dataset.from_arrays(
            "e",
            "medium",
            **{**a, "actions": ds.actions[:4]},
            terminals=[0, 0, 0, 0, 1],
            timeouts=[0] * 5,
            obs_dims=OBS_DIMS,
            act_dims=ACT_DIMS,
        )


def test_from_episodes_builder_and_concat():
    ds = make_ds()
    eps = [dict(e) for e in ds.episodes()]
    again = Dataset.from_episodes("omar/spread", "medium", eps, obs_dims=OBS_DIMS, act_dims=ACT_DIMS)
    for k in datacard.STEP_KEYS:
        np.testing.assert_array_equal(again.arrays[k], ds.arrays[k])
    # two envs stepped together; env 1 runs episode 1 then idles (inactive) while env 0 runs episode 0
    b = DatasetBuilder(n_envs=2)
    keys = ("obs", "actions", "rewards", "next_obs", "state", "next_state")
    for t in range(3):
        t1 = min(t + 3, 4)
        step = {k: np.stack([ds.arrays[k][t], ds.arrays[k][t1]]) for k in keys}
        b.add(**step, terminated=[False, t1 == 4], truncated=[t == 2, False], active=[True, t < 2])
    built = b.build("omar/spread", "medium", obs_dims=OBS_DIMS, act_dims=ACT_DIMS)
    # episodes in the order they finished: env 1's (steps 3-4) first
    order = [3, 4, 0, 1, 2]
    for k in datacard.STEP_KEYS:
        np.testing.assert_array_equal(built.arrays[k], ds.arrays[k][order])
    np.testing.assert_array_equal(built.episode_returns, [3.0, 5.0])
    cat = Dataset.concat([ds, make_ds(kind="expert")], kind="medium-expert")
    assert cat.id == "omar/spread/medium-expert-v1" and cat.size == 10
    np.testing.assert_array_equal(cat.episode_returns, [5.0, 3.0, 5.0, 3.0])
    assert cat.card["protocol"] == {"concat": ["omar/spread/medium-v1", "omar/spread/expert-v1"]}


def test_spec_supplies_dims_and_refs():
    from envs.base import EnvSpec

    spec = EnvSpec(
        "toy",
        ("a", "b"),
        OBS_DIMS,
        ACT_DIMS,
        state_dim=4,
        episode_length=3,
        ref_scores={"random": 0.0, "expert": 8.0},
    )
    ds = make_ds()
    a = {k: ds.arrays[k] for k in ("obs", "actions", "rewards", "next_obs", "terminals", "timeouts")}
    d2 = Dataset.from_arrays("toy", "random", **a, spec=spec)
    assert d2.obs_dims == OBS_DIMS and d2.act_dims == ACT_DIMS
    np.testing.assert_array_equal(d2.obs_mask(), spec.obs_mask())
    assert returns.normalize(4.0, d2) == 50.0


# ---- views ----------------------------------------------------------------------------------------
def test_agent_and_joint_views():
    ds = make_ds()
    v1 = ds.agent_view(1)
    assert v1["obs"].shape == (5, 2) and v1["actions"].shape == (5, 1) and v1["rewards"].shape == (5,)
    np.testing.assert_array_equal(v1["obs"][3], [311, 312])
    np.testing.assert_array_equal(v1["next_obs"][0], [1011, 1012])
    np.testing.assert_array_equal(v1["actions"][:, 0], 0.5)
    np.testing.assert_array_equal(v1["rewards"], REWARDS[:, 1])
    v0 = ds.agent_view(0)
    assert v0["obs"].shape == (5, 3) and v0["actions"].shape == (5, 2)
    np.testing.assert_allclose(v0["actions"][2], [0.2, -0.2])
    with pytest.raises(IndexError):
        ds.agent_view(2)
    j = ds.joint_view()
    assert j["obs"].shape == (5, 6) and j["actions"].shape == (5, 4) and j["state"].shape == (5, 4)
    np.testing.assert_array_equal(j["obs"][1], [101, 102, 103, 111, 112, 0])
    u = ds.joint_view(unpadded=True)
    assert u["obs"].shape == (5, 5) and u["actions"].shape == (5, 3)
    np.testing.assert_array_equal(u["obs"][1], [101, 102, 103, 111, 112])
    np.testing.assert_allclose(u["actions"][1], [0.1, -0.1, 0.5])
    t = ds.to_torch("cpu")
    assert t["obs"].shape == (5, 2, 3) and t["terminals"].dtype == torch.float32
    assert t["terminals"].tolist() == [0, 0, 0, 0, 1] and t["timeouts"].tolist() == [0, 0, 1, 0, 0]


# ---- sampling -------------------------------------------------------------------------------------
def _rng(backend, seed):
    return np.random.default_rng(seed) if backend == "numpy" else torch.Generator().manual_seed(seed)


def _np(x):
    return x.numpy() if isinstance(x, torch.Tensor) else x


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("replace", [True, False])
@pytest.mark.parametrize("T,B", [(1000, 64), (50, 40)])  # sparse and dense without-replacement paths
def test_sample_indices_properties(backend, replace, T, B):
    M = 6
    idx = _np(sampling.sample_indices(_rng(backend, 0), T, M, B, replace))
    assert idx.shape == (M, B) and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() < T
    assert len({tuple(r) for r in idx}) == M  # members draw independently
    if not replace:
        assert all(len(set(r)) == B for r in idx)
    np.testing.assert_array_equal(idx, _np(sampling.sample_indices(_rng(backend, 0), T, M, B, replace)))
    assert not np.array_equal(idx, _np(sampling.sample_indices(_rng(backend, 1), T, M, B, replace)))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_sample_without_replacement_is_uniform(backend):
    # T=20, B=5: every index has probability 1/4 per row; 4000 rows -> 1000 expected hits each
    idx = _np(sampling.sample_indices(_rng(backend, 3), 20, 4000, 5, replace=False))
    assert all(len(set(r)) == 5 for r in idx[:200])
    counts = np.bincount(idx.ravel(), minlength=20)
    assert np.all(np.abs(counts - 1000) < 150), counts  # ~5 sigma
    with pytest.raises(ValueError, match="batch_size 21 > dataset size 20"):
        sampling.sample_indices(_rng(backend, 0), 20, 2, 21, replace=False)


def test_gather_and_member_gather():
    ds = make_ds()
    t = ds.to_torch()
    # [M=6, B=4], members = 3 seeds x 2 agents
    idx = ds.sample_indices(torch.Generator().manual_seed(0), 6, 4)
    g = sampling.gather(t, idx)
    assert (
        g["obs"].shape == (6, 4, 2, 3) and g["rewards"].shape == (6, 4, 2) and g["terminals"].shape == (6, 4)
    )
    agents = sampling.member_agents(3, 2)
    assert agents.tolist() == [0, 1, 0, 1, 0, 1]
    gm = sampling.gather_members(t, idx, agents)
    assert gm["obs"].shape == (6, 4, 3) and gm["actions"].shape == (6, 4, 2) and gm["rewards"].shape == (6, 4)
    assert gm["state"].shape == (6, 4, 4) and gm["terminals"].shape == (6, 4)
    for m in range(6):
        i = int(agents[m])
        for b in range(4):
            s = int(idx[m, b])
            assert torch.equal(gm["obs"][m, b], t["obs"][s, i])
            assert torch.equal(gm["next_obs"][m, b], t["next_obs"][s, i])
            assert gm["rewards"][m, b] == t["rewards"][s, i]
            assert torch.equal(g["obs"][m, b], t["obs"][s])
    # numpy arrays work the same way
    gn = sampling.gather_members({"obs": ds.obs}, idx.numpy(), agents.numpy())
    np.testing.assert_array_equal(gn["obs"], gm["obs"].numpy())
    # torch's flat index_select path equals the advanced index on every key, contiguous or not
    loose = {"obs": t["obs"].transpose(0, 1).contiguous().transpose(0, 1), "state": t["state"]}
    assert not loose["obs"].is_contiguous()
    for k, v in sampling.gather_members(loose, idx, agents).items():
        ref = t[k][idx, agents[:, None]] if k == "obs" else t[k][idx]
        assert v.shape == ref.shape and torch.equal(v, ref), k
    for bad in (idx - idx.max() - 1, idx + len(ds.obs)):  # negative or past the end: an error, never a wrap
        with pytest.raises(IndexError):
            sampling.gather_members(t, bad, agents)


# ---- normalize and CLI ----------------------------------------------------------------------------
def test_normalize():
    refs = {"random": 10.0, "expert": 30.0}
    assert returns.normalize(25.0, refs) == 75.0
    assert returns.normalize(10.0, {"ref_scores": refs}) == 0.0
    np.testing.assert_allclose(returns.normalize(np.array([30.0, 0.0]), refs), [100.0, -50.0])
    assert returns.normalize(-5.0, make_ds(ref_scores={"random": -10.0, "expert": 10.0})) == 25.0
    with pytest.raises(ValueError, match="reference scores missing"):
        returns.normalize(1.0, make_ds())
    with pytest.raises(ValueError, match="reference scores missing"):
        returns.normalize(1.0, {"random": 1.0})
    with pytest.raises(ValueError, match="equal"):
        returns.normalize(1.0, {"random": 1.0, "expert": 1.0})


def test_cli(tmp_path):
    base = make_ds(ref_scores={"random": 0.0, "expert": 8.0}).save(tmp_path / "ds")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    out = subprocess.run(
        [sys.executable, "-m", "common.datasets.info", "info", str(base) + ".npz"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "id: omar/spread/medium-v1" in out.stdout and "size: 5" in out.stdout
    assert "mean 4  std 1  min 3  max 5" in out.stdout and "normalized mean 50.00" in out.stdout
    assert "checksum OK" in out.stdout
    h = subprocess.run(
        [sys.executable, "-m", "common.datasets.info", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert h.returncode == 0 and "info" in h.stdout
    open(str(base) + ".npz", "ab").write(b"x")
    bad = subprocess.run(
        [sys.executable, "-m", "common.datasets.info", "info", str(base)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "checksum mismatch" in bad.stderr
