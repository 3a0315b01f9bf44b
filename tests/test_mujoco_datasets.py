"""MuJoCo datasets by D4RL's protocol (common/datasets/mujoco/) at the smoke profile: the kinds' rules, the exact
per-agent split, resume equality and the cache's errors."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from common.datasets import mujoco as mj
from common.datasets.card import DatasetError
from common.datasets.dataset import Dataset


@pytest.fixture(scope="module")
def hopper(tmp_path_factory):
    root = tmp_path_factory.mktemp("mujoco-data")
    kinds = ("random", "medium", "medium-replay", "full-replay", "expert", "mixed", "medium-expert")
    return root, {k: mj.load("hopper", k, "smoke", root=root, progress=False) for k in kinds}


def test_medium_is_the_first_snapshot_reaching_a_third_and_replay_ends_there(hopper):
    _, ds = hopper
    b = ds["medium"].card["behavior"]
    steps, scores = b["eval_steps"], b["eval_scores"]
    rand, expert = ds["random"].card["returns"]["mean"], scores[-1]
    target = rand + (expert - rand) / 3
    k = next((i for i in range(1, len(steps)) if scores[i] >= target), len(steps) - 1)
    assert b["medium"]["step"] == steps[k] and b["medium"]["target"] == pytest.approx(target)
    assert b["expert"]["step"] == steps[-1] == mj.PROFILES["smoke"].sac_steps
    assert b["snapshot_rule"]["name"] == mj.PROFILES["smoke"].snapshots == "final"
    mr, fr = ds["medium-replay"], ds["full-replay"]
    assert mr.size == b["medium"]["step"]  # the buffer until the medium snapshot ...
    assert fr.size == mj.PROFILES["smoke"].sac_steps  # ... and the whole buffer
    for key in ("obs", "actions", "rewards", "next_obs", "terminals"):
        assert np.array_equal(mr.arrays[key], fr.arrays[key][: mr.size]), key
    assert mr.timeouts[-1] or mr.terminals[-1]


def test_snapshot_rule_smoothed_reads_running_means_of_five_evaluations():
    """full's rule: the expert's level is the mean of the last 5 evaluations; the medium is the first snapshot whose
    running mean (over it and the 4 evaluations before it, after step 0) reaches random + 1/3 (level - random). A
    single lucky evaluation early in the run (900 at step 20) is not the medium, as it is under "final"."""
    steps = list(range(0, 130, 10))
    scores = [0.0, 30.0, 900.0, 30.0, 40.0, 50.0, 100.0, 500.0, 600.0, 600.0, 900.0, 900.0, 1000.0]
    s = mj.choose_snapshots(steps, scores, random_return=0.0, rule="smoothed")
    assert s["expert_index"] == 12 and s["expert_score"] == 1000.0
    assert s["expert_level"] == pytest.approx((600 + 600 + 900 + 900 + 1000) / 5)
    assert s["target"] == pytest.approx(800.0 / 3)
    # full windows from step 50: 210, 224 (900 in the window), 144, 258, then 370 at step 90 passes 266.7
    assert (s["step"], s["level"]) == (90, pytest.approx((50 + 100 + 500 + 600 + 600) / 5))
    # too short: the last
    assert mj.choose_snapshots(steps[:3], scores[:3], 0.0, rule="smoothed")["step"] == 20
    assert mj.choose_snapshots(steps, scores, 0.0, rule="final")["step"] == 20
    assert mj.PROFILES["full"].snapshots == "smoothed" and mj.PROFILES["smoke"].snapshots == "final"


def test_snapshot_rule_final_is_d4rls_and_best_takes_the_highest_expert_and_the_medium_nearest_a_third():
    steps = [0, 10, 20, 30, 40, 50]
    scores = [0.0, 90.0, 40.0, 300.0, 120.0, 150.0]
    f = mj.choose_snapshots(steps, scores, random_return=0.0, rule="final")
    # final: expert = the last evaluation (150), target 50, the first after step 0 reaching it: 90 at step 10
    assert (f["expert_index"], f["expert_score"], f["target"], f["index"], f["step"]) == (
        5,
        150.0,
        50.0,
        1,
        10,
    )
    b = mj.choose_snapshots(steps, scores, random_return=0.0, rule="best")
    # best: expert = the highest (300 at step 30), target 100, nearest among steps 10..30: 90 at step 10
    assert (b["expert_index"], b["expert_step"], b["target"], b["index"], b["score"]) == (
        3,
        30,
        100.0,
        1,
        90.0,
    )
    assert b["rule"] == "best" and f["rule"] == "final"
    # ties: the latest of equal maxima is the expert, the earliest of equally near snapshots the medium
    t = mj.choose_snapshots([0, 1, 2, 3, 4], [10.0, 40.0, 60.0, 70.0, 70.0], random_return=10.0, rule="best")
    assert t["expert_index"] == 4 and t["target"] == 30.0 and t["index"] == 1  # |40-30| = 10 < |60-30|
    t = mj.choose_snapshots([0, 1, 2, 3], [0.0, 20.0, 40.0, 90.0], random_return=0.0, rule="best")
    assert t["index"] == 1  # |20-30| = |40-30|: the earlier
    # the medium is never after the expert, even when a later snapshot is nearer the target
    t = mj.choose_snapshots([0, 1, 2, 3], [0.0, 300.0, 90.0, 100.0], random_return=0.0, rule="best")
    assert t["expert_index"] == 1 and t["index"] == 1  # 100 at step 3 is the nearest, but after the expert
    # a random-level start: the target sits below every later evaluation, medium = the nearest of them
    t = mj.choose_snapshots([0, 5, 10], [-50.0, 200.0, 600.0], random_return=-50.0, rule="best")
    assert t["index"] == 1 and t["target"] == pytest.approx(-50.0 + 650.0 / 3)
    # best: snapshots of the uniform start phase are never chosen (steps <= start_steps), here the 554 at 10
    w = [0, 5, 10, 15, 20, 25]
    t = mj.choose_snapshots(
        w, [67.0, 179.0, 554.0, 12.0, 136.0, 301.0], random_return=1.0, rule="best", start_steps=10
    )
    assert (t["expert_step"], t["step"], t["target"]) == (25, 20, 101.0)  # |136 - 101| < |12 - 101|
    assert mj.choose_snapshots(w, [0, 1, 2, 3, 4, 5], 0.0, rule="final", start_steps=10)["expert_step"] == 25
    # no snapshot after the start steps: every one after step 0 is a candidate
    assert (
        mj.choose_snapshots([0, 5, 10], [0.0, 9.0, 3.0], 0.0, rule="best", start_steps=10)["expert_step"] == 5
    )
    with pytest.raises(ValueError, match="allowed: final, smoothed, best"):
        mj.choose_snapshots(steps, scores, 0.0, rule="median")
    with pytest.raises(
        ValueError, match="snapshots='x' is not a snapshot rule; allowed: final, smoothed, best"
    ):
        mj.MujocoProfile(10, 10, 5, 1, 5, mj.SACConfig(), snapshots="x")


def test_full_takes_the_medium_at_a_third_of_d4rls_expert_when_our_sac_falls_short():
    """full's medium_reference "d4rl": the target is random + 1/3 (max(our expert level, D4RL's expert) - random),
    so a weak SAC run (HalfCheetah) still gives a medium at D4RL's protocol level; a strong one (Hopper) is unchanged."""
    steps = list(range(0, 130, 10))
    scores = [0.0, 30.0, 900.0, 30.0, 40.0, 50.0, 100.0, 500.0, 600.0, 600.0, 900.0, 900.0, 1000.0]
    own = mj.choose_snapshots(steps, scores, 0.0, rule="smoothed")
    weak = mj.choose_snapshots(steps, scores, 0.0, rule="smoothed", reference_expert=1500.0)
    strong = mj.choose_snapshots(steps, scores, 0.0, rule="smoothed", reference_expert=300.0)
    assert weak["target"] == pytest.approx(500.0) and weak["reference_expert"] == 1500.0
    # running means from step 90: 370, 540 (step 100) reaches 500; without the reference: step 90 (370 >= 266.7)
    assert (own["step"], weak["step"]) == (90, 100)
    assert {k: v for k, v in strong.items() if k != "reference_expert"} == own
    assert mj.PROFILES["full"].medium_reference == "d4rl" and mj.PROFILES["smoke"].medium_reference == "own"
    assert "D4RL's reference expert" in mj.rule_of("medium", "full")
    assert "D4RL" not in mj.rule_of("expert", "full") and "D4RL" not in mj.rule_of("medium", "smoke")
    with pytest.raises(ValueError, match="medium_reference='x' is not known; allowed: own, d4rl"):
        mj.MujocoProfile(10, 10, 5, 1, 5, mj.SACConfig(), medium_reference="x")


def test_a_profile_with_the_best_rule_writes_its_snapshots_and_rule_on_the_cards(tmp_path, monkeypatch):
    from dataclasses import replace

    monkeypatch.setitem(mj.PROFILES, "smoke", replace(mj.PROFILES["smoke"], snapshots="best", version=7))
    med = mj.load("hopper", "medium", "smoke", root=tmp_path, progress=False)
    exp = mj.load("hopper", "expert", "smoke", root=tmp_path, progress=False)
    assert mj.dataset_base("hopper", "medium", "smoke", tmp_path).name == "medium-v7"
    assert med.card["version"] == 7 and (tmp_path / "mujoco" / "smoke" / "sac-hopper-seed0-v7.pt").exists()
    b = med.card["behavior"]
    start = mj.PROFILES["smoke"].sac.start_steps
    want = mj.choose_snapshots(
        b["eval_steps"], b["eval_scores"], b["our_ref_scores"]["random"], "best", start
    )
    assert b["medium"]["step"] == want["step"] and b["expert"]["step"] == want["expert_step"]
    after = [x for st, x in zip(b["eval_steps"], b["eval_scores"]) if st > start]
    assert b["expert"]["score"] == max(after) and b["snapshot_rule"]["name"] == "best"
    assert b["medium"]["step"] > start and b["expert"]["step"] > start
    assert exp.card["behavior"]["expert"] == b["expert"]
    assert "closest to" in med.card["protocol"]["rule"] and "highest" in exp.card["protocol"]["rule"]
    from common.datasets.report import report_text

    text = report_text("smoke", mj.PROFILES["smoke"], mj.built_cards("smoke", tmp_path))
    assert "Snapshot rule `best`" in text and " E" in text


def test_collected_kinds_have_the_profile_size_and_whole_episodes(hopper):
    _, ds = hopper
    n = mj.PROFILES["smoke"].size
    for kind in ("random", "medium", "expert", "mixed"):
        d = ds[kind]
        assert d.size == n and d.card["ref_scores"] == {"random": -20.272305, "expert": 3234.3}
        ends = np.flatnonzero(d.terminals | d.timeouts)
        lengths = np.diff(np.r_[-1, ends])
        assert np.all(lengths[:-1] <= 1000) and ends[-1] == n - 1
        assert np.all(np.abs(d.actions) <= 1.0)
    me = ds["medium-expert"]
    assert me.size == 2 * n
    assert np.array_equal(me.obs[:n], ds["medium"].obs) and np.array_equal(me.obs[n:], ds["expert"].obs)


def test_mixed_plays_every_combination_equally_often(hopper):
    _, ds = hopper
    b = ds["mixed"].card["behavior"]
    counts = b["episodes_per_combination"]
    assert list(counts) == ["MMM", "MME", "MEM", "MEE", "EMM", "EME", "EEM", "EEE"]
    assert max(counts.values()) - min(counts.values()) <= 1
    assert sum(counts.values()) == ds["mixed"].n_episodes


def test_split_is_exact_and_replays_in_the_multi_agent_env(hopper):
    _, ds = hopper
    d = ds["random"]
    ma = mj.split(d, "mamujoco/hopper-3x1", obs_mode="cast_bcq")
    env = envs.make("mamujoco/hopper-3x1", obs_mode="cast_bcq")
    assert np.array_equal(env.join(ma.actions), d.actions[:, 0])
    assert np.array_equal(ma.state, d.obs[:, 0]) and np.array_equal(
        ma.rewards, np.repeat(d.rewards, 3, axis=1)
    )
    # episode 0 was collected from env seed 1_000_000: the multi-agent env replays it step for step
    obs = env.reset(seed=1_000_000)
    assert np.allclose(obs, ma.obs[0], atol=1e-6)
    t = 0
    while True:
        obs, rew, term, trunc, _ = env.step(ma.actions[t])
        assert np.allclose(obs, ma.next_obs[t], atol=1e-5) and np.allclose(rew, ma.rewards[t], atol=1e-5)
        assert bool(term) == bool(ma.terminals[t])
        if ma.terminals[t] or ma.timeouts[t]:
            break
        t += 1


def test_a_split_is_named_by_its_source_and_options(hopper):
    """A split is never saved: records name it by the source file's checksum and the split's env and options,
    so two splits of one file with different obs modes are different data to the runner."""
    _, ds = hopper
    a = mj.split(ds["random"], "mamujoco/hopper-3x1", obs_mode="cast_bcq")
    b = mj.split(ds["random"], "mamujoco/hopper-3x1", obs_mode="cast_bcq")
    c = mj.split(ds["random"], "mamujoco/hopper-3x1", obs_mode="own_public")
    d = mj.split(ds["medium"], "mamujoco/hopper-3x1", obs_mode="cast_bcq")
    assert a.card["sha256"] == b.card["sha256"] and len(a.card["sha256"]) == 64
    assert len({a.card["sha256"], c.card["sha256"], d.card["sha256"], ds["random"].card["sha256"]}) == 4
    assert tuple(c.obs_dims) == (7, 7, 7) and tuple(a.obs_dims) == (11, 11, 11)


def test_a_killed_generation_resumes_to_the_same_dataset(hopper, tmp_path):
    root, ds = hopper
    # killed after a checkpoint
    mj.behavior_run("hopper", "smoke", root=tmp_path, progress=False, stop_at=1000)
    again = mj.load("hopper", "medium", "smoke", root=tmp_path, progress=False)
    assert again.card["sha256"] == ds["medium"].card["sha256"]
    replay = mj.load("hopper", "full-replay", "smoke", root=tmp_path, progress=False)
    assert replay.card["sha256"] == ds["full-replay"].card["sha256"]


def test_a_corrupt_cache_file_is_an_error_naming_it(hopper, tmp_path):
    root, _ = hopper
    src = mj.dataset_base("hopper", "random", "smoke", root)
    dst = mj.dataset_base("hopper", "random", "smoke", tmp_path)
    dst.parent.mkdir(parents=True)
    for ext in (".npz", ".json"):
        data = bytearray(src.with_name(src.name + ext).read_bytes())
        if ext == ".npz":
            data[-100] ^= 0xFF
        dst.with_name(dst.name + ext).write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="random-v1"):
        mj.load("hopper", "random", "smoke", root=tmp_path, progress=False)


def test_bad_names_are_errors_listing_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed kinds: random, medium"):
        mj.dataset_base("hopper", "medium-random", "smoke")
    with pytest.raises(ValueError, match="allowed tasks: halfcheetah"):
        mj.dataset_base("swimmer", "medium", "smoke")
    with pytest.raises(ValueError, match="allowed profiles"):
        mj.build("hopper", "medium", "huge")


def test_card_records_the_protocol_and_behavior(hopper):
    _, ds = hopper
    c = ds["medium"].card
    assert c["protocol"]["gym_env"] == "Hopper-v5" and "1/3" in c["protocol"]["rule"]
    assert len(c["behavior"]["medium"]["actor_sha256"]) == 64
    assert c["regenerate_command"].startswith("python -m common.datasets.mujoco --task hopper --kind medium")
    assert Dataset.read_card(mj.dataset_base("hopper", "medium", "smoke", hopper[0]))["sha256"] == c["sha256"]


def test_report_lists_every_built_dataset_beside_d4rl(hopper, tmp_path):
    from common.datasets.report import report_text

    root, ds = hopper
    text = report_text("smoke", mj.PROFILES["smoke"], mj.built_cards("smoke", root))
    for kind in ds:
        assert f"| hopper | {kind} " in text
    assert "| 2187 " in text  # D4RL v2 hopper-medium: 2,187 episodes (TFDS catalog)
    assert "MMM" in text and "SAC behavior runs" in text
    # the replay kinds beside the SAC buffer they approximate, and each path's cost
    replay = text.split("rebuilt from the policy series vs the SAC run's buffer")[1].split("##")[0]
    assert "| hopper | full-replay " in replay and "| hopper | medium-replay " in replay
    assert "Cost of each path" in text and "| hopper | medium " in text.split("Cost of each path")[1]


def test_every_kind_rebuilds_from_the_committed_policies_without_sac(hopper, tmp_path, monkeypatch):
    """A fresh clone's path: the policy set committed, an empty cache; every kind is rebuilt from the policies alone
    (no SAC run), with the same identity and, on this CPU type, the same bytes and statistics."""
    from common.datasets.mujoco import policies

    root, ds = hopper
    committed = tmp_path / "committed"
    src = root / "mujoco" / "smoke" / "policies" / "hopper"
    (committed / "smoke").mkdir(parents=True)
    for ext in (".npz", ".json"):
        (committed / "smoke" / f"hopper{ext}").write_bytes(src.with_suffix(ext).read_bytes())
    monkeypatch.setattr(policies, "COMMITTED", committed)
    fresh = tmp_path / "fresh"
    for kind, old in ds.items():
        new = mj.load("hopper", kind, "smoke", root=fresh, progress=False)
        assert new.card["identity"] == old.card["identity"], kind
        assert new.card["sha256"] == old.card["sha256"], kind  # bit-identical on one CPU type
        r_new, r_old = new.card["returns"]["mean"], old.card["returns"]["mean"]
        assert abs(r_new - r_old) <= 0.01 * abs(r_old), kind
        if kind not in ("random", "medium-expert"):
            assert new.card["behavior"]["policies"]["source"] == "committed", kind
    assert not list((fresh / "mujoco" / "smoke").glob("sac-*.pt"))  # no SAC run was needed
    assert not (fresh / "mujoco" / "smoke" / "policies").exists()


def test_policy_sets_are_plain_arrays_checked_by_checksum(hopper, tmp_path):
    from common.datasets.card import DatasetError
    from common.datasets.mujoco.policies import load_policy_set

    root, ds = hopper
    base = root / "mujoco" / "smoke" / "policies" / "hopper"
    ps = load_policy_set(base)
    with np.load(base.with_suffix(".npz"), allow_pickle=False) as z:  # no pickled object in the file
        assert all(z[k].dtype == np.float32 for k in z.files)
    assert (
        set(ps.shas()) >= {"medium", "expert"}
        and ps.shas()["medium"] == ds["medium"].card["behavior"]["medium"]["actor_sha256"]
    )
    series = ps.replay_series()
    assert series[0][0] == 0 and series[-1][1] == mj.PROFILES["smoke"].sac_steps
    assert all(a[1] == b[0] for a, b in zip(series, series[1:]))  # contiguous segments
    assert ps.card["buffer_returns"]["full-replay"]["size"] == mj.PROFILES["smoke"].sac_steps
    bad = tmp_path / "hopper"
    data = bytearray(base.with_suffix(".npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.with_suffix(".npz").write_bytes(bytes(data))
    bad.with_suffix(".json").write_bytes(base.with_suffix(".json").read_bytes())
    with pytest.raises(DatasetError, match="hopper.npz.*corrupt"):
        load_policy_set(bad)


def test_report_writes_the_sac_curves_png(hopper, tmp_path):
    from common.datasets.report import write_report

    root, _ = hopper
    path = write_report("smoke", mj.PROFILES["smoke"], mj.built_cards("smoke", root), results=tmp_path)
    png = path.with_name("mujoco-sac.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "](mujoco-sac.png)" in path.read_text()


def test_quick_trains_on_full_datasets():
    assert mj.dataset_base("hopper", "medium", "quick") == mj.dataset_base("hopper", "medium", "full")
    assert mj.check_profile("quick") is mj.PROFILES["full"] and mj.data_profile("quick") == "full"
    with pytest.raises(ValueError, match="allowed profiles: smoke, full, quick"):
        mj.check_profile("huge")


def test_export_policies_takes_tasks_without_kinds(monkeypatch, capsys):
    """`--export-policies --task hopper` (the maintainers' command of the docs) exports that robot's set; it was
    refused with "give --task and --kind together" until 2026-11-28."""
    from common.datasets.mujoco import cli

    seen = []
    monkeypatch.setattr(
        cli, "export_policies", lambda task, profile, root=None: seen.append((task, profile)) or task
    )
    assert cli.main(["--export-policies", "--task", "hopper", "--profile", "smoke"]) == 0
    assert seen == [("hopper", "smoke")] and capsys.readouterr().out.strip() == "hopper"


def test_quick_uses_full_committed_policies_without_a_sac_run(tmp_path, monkeypatch):
    """quick trains on full's datasets (protocol.ALIASES), so a quick build on a bare machine must take full's
    committed policy set, not train a SAC run of its own (it did: policy_path looked under committed/quick/)."""
    from common.datasets.mujoco.policies import COMMITTED, policy_path

    def no_sac(*args, **kwargs):
        raise AssertionError("a SAC run was started although the committed policies exist")

    monkeypatch.setattr(mj, "behavior_run", no_sac)
    cache = tmp_path / "mujoco" / "full"
    for task in ("halfcheetah", "walker2d", "hopper", "ant"):
        assert policy_path(task, "quick", cache) == (COMMITTED / "full" / task, "committed")
        assert policy_path(task, "quick", cache) == policy_path(task, "full", cache)
        assert mj.has_policies(task, "quick", root=tmp_path)
    ps = mj.policy_set("halfcheetah", "quick", root=tmp_path, progress=False)
    assert ps.source == "committed" and ps.path == COMMITTED / "full" / "halfcheetah"
    assert not list(tmp_path.rglob("sac-*.pt"))
