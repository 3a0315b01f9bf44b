"""SMAX datasets (common/datasets/smax.py): the snapshot rule on hand-made evaluations, the command line's parser,
and with jaxmarl a smoke generation end to end on smax/3s_vs_3z (a 2-iteration MAPPO run, 8 mixed and 4 medium
episodes): the card's fields, the mixture's equal shares by source, masks that allow every stored action, the
episode ends and wins, a corrupt file raising an error that names it, the killed behavior run resuming, and the same
data again after the files are deleted. One vmapped batch size (4 copies) is compiled (~9 s).
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from common.datasets import smax as D
from common.datasets.card import DatasetError

HAS_JAXMARL = importlib.util.find_spec("jaxmarl") is not None
needs_smax = pytest.mark.skipif(
    not HAS_JAXMARL,
    reason="jaxmarl is not installed: pip install -c constraints.txt -e '.[smax]' (bootstrap does)",
)
MAP = "3s_vs_3z"


class _Run:
    """The fields of an SmaxRun that choose_snapshot reads: evaluations and actor snapshots (seed axis of 1)."""

    def __init__(self, wins, returns=None):
        import torch

        self.evals = [
            {
                "iteration": 5 * i,
                "env_steps": [100 * i],
                "sampled_win_rate": [w],
                "win_rate": [1.0 - w],
                "sampled_return": [r],
            }
            for i, (w, r) in enumerate(zip(wins, returns or [0.0] * len(wins)))
        ]
        self.snapshots = [(5 * i, {"w": torch.full((1, 2), float(i))}) for i in range(len(wins))]


def test_snapshot_rule_first_evaluation_reaching_the_level():
    """Sampled win rates, W = 0.8 (the final evaluation); targets 0, 0.4, 0.6, 0.8: the first evaluations reaching
    them are 0 (the initial policy), 2 (0.45, although 3 falls back to 0.3), 4 (0.7) and 6. The greedy win rates
    (here 1 - sampled) play no part."""
    run = _Run([0.0, 0.1, 0.45, 0.3, 0.7, 0.6, 0.8])
    picks = {lv: D.choose_snapshot(run, lv) for lv in D.MIXED_LEVELS}
    assert {lv: p["index"] for lv, p in picks.items()} == {0.0: 0, 0.5: 2, 0.75: 4, 1.0: 6}
    assert picks[0.5]["target"] == pytest.approx(0.4) and picks[0.5]["iteration"] == 10
    assert picks[0.5]["actor_sha256"] != picks[0.75]["actor_sha256"]
    assert {p["criterion"] for p in picks.values()} == {"sampled_win_rate"}


def test_snapshot_rule_reads_the_return_when_the_final_policy_never_wins():
    """W = 0 (5m_vs_6m at quick): levels on the sampled return, R_0 = 0.1, R_final = 0.5: targets 0.1, 0.3, 0.4,
    0.5 -> evaluations 0, 2 (0.35; 3 dips to 0.2), 4 (0.45 >= 0.4) and 5 (0.5)."""
    run = _Run([0.0] * 6, returns=[0.1, 0.25, 0.35, 0.2, 0.45, 0.5])
    picks = {lv: D.choose_snapshot(run, lv) for lv in D.MIXED_LEVELS}
    assert {lv: p["index"] for lv, p in picks.items()} == {0.0: 0, 0.5: 2, 0.75: 4, 1.0: 5}
    assert picks[0.5]["target"] == pytest.approx(0.3) and {p["criterion"] for p in picks.values()} == {
        "sampled_return"
    }


def test_command_line_rejects_bad_values_before_any_work(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as e:
        D.main(["--help"])
    assert e.value.code == 0 and "usage:" in capsys.readouterr().out
    for argv, message in (
        (["--map", "4m"], "invalid choice: '4m'"),
        ([], "nothing to do"),
        (["--map", MAP], "give --map and --kind together"),
        (["--kind", "expert"], "invalid choice"),
        (["--all", "--profile", "huge"], "invalid choice: 'huge'"),
        (["--all", "--device", "tpu"], "unknown device 'tpu'"),
        (["--behavior-only"], "--behavior-only needs --map"),
        (["--all", "--seed", "-1"], "--seed -1"),
    ):
        with pytest.raises(SystemExit) as e:
            D.main(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err, argv
    assert not (tmp_path / "data").exists()
    with pytest.raises(ValueError, match="allowed maps: 2s3z, 3s_vs_3z"):
        D.dataset_base("MMM", "mixed", "quick")
    with pytest.raises(ValueError, match="allowed kinds: mixed, medium"):
        D.dataset_base(MAP, "expert", "quick")


def test_profiles_are_consistent():
    for name, prof in D.PROFILES.items():
        for m in D.MAPS:
            cfg = prof.ppo_for(m).validate()
            assert cfg.iterations // cfg.eval_every >= min(prof.evals, cfg.iterations), (name, m)
        assert set(prof.iterations) == set(D.MAPS), name
        assert prof.collect_envs % len(D.MIXED_LEVELS) == 0, name
        assert prof.episodes["mixed"] % len(D.MIXED_LEVELS) == 0, name
    assert D.PROFILES["full"].episodes == {"mixed": 3000, "medium": 10_000}  # the papers' sizes


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The smoke mixed and medium datasets of 3s_vs_3z, built with a behavior run killed after iteration 1."""
    root = tmp_path_factory.mktemp("data")
    first = D.behavior_run(MAP, "smoke", root=root, progress=False, stop_at=1)
    assert first.learner.iteration == 1
    bases = {k: D.build(MAP, k, "smoke", root=root, progress=False) for k in D.KINDS}
    return root, bases


@needs_smax
def test_smoke_mixed_dataset_end_to_end(built):
    root, bases = built
    ds = D.load(MAP, "mixed", "smoke", root=root, progress=False)
    c = ds.card
    assert c["id"] == f"smax/{MAP}/mixed-v1" and c["n_episodes"] == 8 and c["n_actions"] == [8, 8, 8]
    assert (
        c["regenerate_command"] == f"python -m common.datasets.smax --map {MAP} --kind mixed --profile smoke"
    )
    # a 2-iteration smoke run may never win
    no_win = c["behavior"]["sources"][0]["criterion"] == "sampled_return"
    assert c["protocol"]["rule"] == D.RULES["mixed"] + ("; " + D.NO_WIN_RULE if no_win else "")
    assert c["protocol"]["levels"] == list(D.MIXED_LEVELS)
    assert c["smax"]["win_rate"] == pytest.approx(ds.won.mean()) and set(c["returns"]) >= {
        "mean",
        "std",
        "quantiles",
    }
    b = c["behavior"]
    assert b["iterations"] == 2 and len(b["evals"]) == 3 and b["env_steps"] > 0
    assert [s["level"] for s in b["sources"]] == list(D.MIXED_LEVELS)
    for s in b["sources"]:
        assert len(s["actor_sha256"]) == 64 and s["episodes"] == 2 and 0 <= s["data_win_rate"] <= 1
        assert s[s["criterion"]] >= s["target"] - 1e-12
    assert b["sources"][0]["iteration"] == 0  # level 0 = the initial policy
    # equal shares: episode j comes from source j mod 4
    np.testing.assert_array_equal(ds.episode_source, np.arange(8) % 4)
    # every stored action is available; the masks at s' are those of the next row inside an episode
    a = ds.actions[..., 0].astype(int)
    assert np.take_along_axis(ds.avail_actions, a[..., None], -1).all()
    ends = ds.terminals | ds.timeouts
    np.testing.assert_array_equal(ds.next_avail_actions[:-1][~ends[:-1]], ds.avail_actions[1:][~ends[:-1]])
    np.testing.assert_array_equal(ds.next_obs[:-1][~ends[:-1]], ds.obs[1:][~ends[:-1]])
    np.testing.assert_array_equal(ds.next_state[:-1][~ends[:-1]], ds.state[1:][~ends[:-1]])
    # a win ends by a terminal step whose reward holds the win bonus of 1; a time-out is no win
    starts, stops = ds.episode_bounds()
    for e, (s0, s1) in enumerate(zip(starts, stops)):
        assert s1 - s0 <= 150
        if ds.won[e]:
            assert ds.terminals[s1 - 1] and ds.rewards[s1 - 1, 0] >= 1.0
        if ds.timeouts[s1 - 1]:
            assert not ds.won[e] and s1 - s0 == 150
    np.testing.assert_array_equal(ds.rewards, ds.rewards[:, :1].repeat(3, 1))  # the team reward
    assert ds.state.shape[1] == 72 and ds.obs.shape[1:] == (3, 75)


@needs_smax
def test_smoke_medium_dataset_uses_the_half_level_snapshot(built):
    root, _ = built
    ds = D.load(MAP, "medium", "smoke", root=root, progress=False)
    src = ds.card["behavior"]["sources"]
    assert len(src) == 1 and src[0]["level"] == D.MEDIUM_LEVEL and ds.n_episodes == 4
    assert (ds.episode_source == 0).all()
    evals = ds.card["behavior"]["evals"]  # iteration, env steps, sampled win, greedy win, sampled return
    wins, rets = [e[2] for e in evals], [e[4] for e in evals]
    if wins[-1] > 0:
        want = next(i for i, w in enumerate(wins) if w >= 0.5 * wins[-1] - 1e-12)
    else:  # the smoke run never wins: the return decides
        want = next(i for i, r in enumerate(rets) if r >= rets[0] + 0.5 * (rets[-1] - rets[0]) - 1e-12)
    assert src[0]["index"] == want


@needs_smax
def test_resumed_behavior_run_and_regeneration_give_the_same_data(built, tmp_path):
    """The fixture's run was killed after iteration 1 and resumed; an uninterrupted run in another root, and the
    dataset regenerated from it, are identical (same seed, same command, same data)."""
    root, bases = built
    old = D.load(MAP, "mixed", "smoke", root=root, progress=False)
    fresh = D.load(MAP, "mixed", "smoke", root=tmp_path, progress=False)
    for k in old.arrays:
        np.testing.assert_array_equal(old.arrays[k], fresh.arrays[k], err_msg=k)
    for k in old.extras:
        np.testing.assert_array_equal(old.extras[k], fresh.extras[k], err_msg=k)
    assert old.card["behavior"]["sources"] == fresh.card["behavior"]["sources"]


@needs_smax
def test_corrupt_files_raise_errors_naming_them(built, tmp_path):
    import shutil

    root, bases = built
    base = bases["mixed"]
    copy = tmp_path / "smax" / "smoke" / MAP
    copy.mkdir(parents=True)
    for suffix in (".npz", ".json", ".smax.npz"):
        shutil.copy(base.with_name(base.name + suffix), copy / (base.name + suffix))
    extras = copy / (base.name + ".smax.npz")
    raw = bytearray(extras.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    extras.write_bytes(bytes(raw))
    with pytest.raises(
        DatasetError,
        match=r"mixed-v1\.smax\.npz: checksum mismatch.*python -m common.datasets.smax "
        r"--map 3s_vs_3z --kind mixed --profile smoke",
    ):
        D.load(MAP, "mixed", "smoke", root=tmp_path, progress=False)
    main = copy / (base.name + ".npz")
    raw = bytearray(main.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    main.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"mixed-v1\.npz: checksum mismatch"):
        D.build(MAP, "mixed", "smoke", root=tmp_path, progress=False)  # never rebuilt over silently
    assert main.read_bytes() == bytes(raw)


@needs_smax
def test_report_lists_the_built_datasets(built, tmp_path):
    root, _ = built
    assert D.main(["--report", "--profile", "smoke", "--root", str(root), "--results", str(tmp_path)]) == 0
    text = (tmp_path / "smoke" / "datasets" / "smax.md").read_text()
    assert f"| {MAP} | mixed | 8 |" in text and f"| {MAP} | medium | 4 |" in text
    base = D.dataset_base(MAP, "mixed", "smoke", root)
    card = json.loads(base.with_name(base.name + ".json").read_text())
    assert card["smax"]["file"] == "mixed-v1.smax.npz"


@needs_smax
def test_mixture_episode_j_is_played_by_policy_j_mod_g():
    """Two hand-set policies, 'always stop' (action 4, available to every unit, dead or alive) and 'move north'
    (action 0, whenever available): in 8 collected episodes, those of source 0 (even j) hold only stops and those
    of source 1 only north moves or a dead unit's stop."""
    import torch

    from common.behavior.smax_ppo import SmaxPPOConfig, actor_from_snapshots

    cfg = SmaxPPOConfig(hidden=(4,))
    shapes = {
        "layers.0.weight": (1, 78, 4),
        "layers.0.bias": (1, 1, 4),
        "layers.1.weight": (1, 4, 8),
        "layers.1.bias": (1, 1, 8),
    }
    snaps = []
    for action in (4, 0):
        st = {k: torch.zeros(v) for k, v in shapes.items()}
        st["layers.1.bias"][..., action] = 100.0
        snaps.append((st, 0))
    actor = actor_from_snapshots(cfg, 78, 8, snaps)
    out = D.collect(f"smax/{MAP}", actor, True, 8, 4, seed=3, key=9)
    np.testing.assert_array_equal(out["episode_source"], np.arange(8) % 2)
    ends = np.flatnonzero(out["terminals"] | out["timeouts"]) + 1
    for j, (a, b) in enumerate(zip(np.r_[0, ends[:-1]], ends)):
        acts = out["actions"][a:b, :, 0]
        if j % 2 == 0:
            assert (acts == 4).all()
        else:
            north = out["avail_actions"][a:b, :, 0]
            np.testing.assert_array_equal(acts, np.where(north, 0, 4))
