"""A long run checkpoints at least every ``CHECKPOINT_WALL_S`` seconds besides its config's ``ckpt_every`` steps
(``RunContext.checkpoint_due``), so a kill loses minutes, not a whole checkpoint interval; resuming from such a
checkpoint, between two of ``ckpt_every``'s, ends with the uninterrupted run's record, alone and grouped (an offline
learner and MOMA-PPO)."""

from __future__ import annotations

import json

import pytest

from common.running import runs as R
from common.running.experiment import RunContext, run_cells
from common.running.profiles import get_profile
from common.running.records import load_records
from common.running.roots import checkpoints_root
from common.running.runtime import cpu_model
from papers.moma_ppo import config as MOMA
from papers.omar import config as OMAR
from papers.omar import table3
from papers.omar.jobs import offline_job as omar_job

PROFILE = get_profile("smoke", OMAR.PROFILE_OVERRIDES)
SEEDS = (0, 1)
WHEN = {"started", "finished", "wall_time_s", "sacred_run_id", "git_commit", "resumed_from_step", "segments"}


class _Killed(KeyboardInterrupt):
    """Stands for a kill: the runner lets it through (no fallback, no record)."""


def _cells():
    return table3.build_cells(PROFILE, envs=("omar/spread",), datasets=("random",), methods=("omar",))


def _records(root):
    recs = load_records(root, "smoke", "omar", "table3")
    return {(json.dumps(r["keys"], sort_keys=True), r["seed"]): r for r in recs}


def test_checkpoint_due_by_steps_or_by_the_clock(tmp_path, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(R.time, "monotonic", lambda: now[0])
    ctx = RunContext(0, PROFILE, "cpu", tmp_path / "c.pt", "run")
    assert ctx.checkpoint_due(10, 10, 100) and not ctx.checkpoint_due(11, 10, 100)
    assert not ctx.checkpoint_due(100, 10, 100)  # never at the last step: the record follows
    now[0] += R.CHECKPOINT_WALL_S
    assert ctx.checkpoint_due(11, 10, 100) and not ctx.checkpoint_due(100, 10, 100)
    ctx.save_checkpoint({"x": 1}, step=11)  # the clock restarts at a save
    assert not ctx.checkpoint_due(12, 10, 100)


@pytest.mark.parametrize("group", [1, 2])
def test_a_run_killed_between_two_step_checkpoints_resumes_to_the_same_record(tmp_path, monkeypatch, group):
    cells = _cells()
    every = int(cells[0].config["ckpt_every"])
    assert every > 3  # step 3 is not one of ckpt_every's
    whole = tmp_path / "whole"
    assert run_cells(cells, omar_job, PROFILE, seeds=SEEDS, results_root=whole, group=group).ok
    root = tmp_path / "cut"
    with monkeypatch.context() as mp:
        mp.setattr(R, "CHECKPOINT_WALL_S", 0.0)  # the clock says "due" at every step
        save, saved = RunContext.save_checkpoint, []

        def save_then_die(self, obj, step=None):
            save(self, obj, step)
            saved.append(step)
            if len(saved) == 3 * group:  # alone: seed 0 saved steps 1-3; grouped: both seeds did
                raise _Killed

        mp.setattr(RunContext, "save_checkpoint", save_then_die)
        with pytest.raises(_Killed):
            run_cells(cells, omar_job, PROFILE, seeds=SEEDS, results_root=root, group=group)
    assert not _records(root) and len(list(checkpoints_root(root, "smoke").rglob("*.pt"))) == group
    assert run_cells(cells, omar_job, PROFILE, seeds=SEEDS, results_root=root, group=group).ok
    resumed, reference = _records(root), _records(whole)
    assert resumed.keys() == reference.keys() and len(resumed) == len(SEEDS)
    for key, r in resumed.items():
        assert r["resumed_from_step"] == (3 if group == 2 or r["seed"] == 0 else None), key
        # a resumed run, alone or grouped, names the machine of each segment (common.running.runs.RunContext)
        if r["resumed_from_step"] is not None:
            assert [(s["from_step"], s["cpu"]) for s in r["segments"]] == [
                (0, cpu_model()),
                (3, cpu_model()),
            ], key
        else:
            assert "segments" not in r, key
        diff = {f for f in set(r) | set(reference[key]) if r.get(f) != reference[key].get(f)}
        assert diff <= WHEN, (key, diff)


@pytest.mark.parametrize("group", [1, 2])
def test_a_moma_run_checkpoints_by_the_clock_and_names_its_world_model(tmp_path, monkeypatch, group):
    """MOMA-PPO (ICG smoke, 3 iterations, ``ckpt_every`` set past them) checkpoints by the clock too, alone and
    grouped; its checkpoint names the cached ensemble (sha256 and sampling stream, not a copy of the weights: 650 MB
    a seed for Ant), and a run killed after iteration 1 resumes to the uninterrupted run's record."""
    import torch

    from papers.moma_ppo import table3 as moma_table3
    from papers.moma_ppo.jobs import table3_job

    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    profile = get_profile("smoke", MOMA.PROFILES)
    cells = [
        c
        for c in moma_table3.build_cells(profile)
        if c.keys == {"dataset": "unfavorable", "method": "moma_ppo"}
    ]
    assert len(cells) == 1 and cells[0].config["iterations"] == 3
    cells[0].config["ckpt_every"] = 100  # no step checkpoint: every one below is the clock's

    def recs(root):
        return {
            (json.dumps(r["keys"], sort_keys=True), r["seed"]): r
            for r in load_records(root, "smoke", "moma_ppo", "table3")
            if r.get("seed") is not None
        }

    whole = tmp_path / "whole"
    assert run_cells(cells, table3_job, profile, seeds=SEEDS, results_root=whole, group=group).ok
    assert not list(checkpoints_root(whole, "smoke").rglob("*.pt"))  # no clock checkpoint in a fast run
    root = tmp_path / "cut"
    with monkeypatch.context() as mp:
        mp.setattr(R, "CHECKPOINT_WALL_S", 0.0)
        save, saved = RunContext.save_checkpoint, []

        def save_then_die(self, obj, step=None):
            save(self, obj, step)
            saved.append(obj)
            if len(saved) == group:  # iteration 1 saved (both seeds of the group)
                raise _Killed

        mp.setattr(RunContext, "save_checkpoint", save_then_die)
        with pytest.raises(_Killed):
            run_cells(cells, table3_job, profile, seeds=SEEDS, results_root=root, group=group)
    assert [s["step"] for s in saved] == [1] * group
    assert all(sorted(s["world_model"]) == ["rng", "sha256"] for s in saved)
    files = list(checkpoints_root(root, "smoke").rglob("*.pt"))
    assert len(files) == group and all(
        sorted(torch.load(f, weights_only=False)["user"]["world_model"]) == ["rng", "sha256"] for f in files
    )
    assert run_cells(cells, table3_job, profile, seeds=SEEDS, results_root=root, group=group).ok
    resumed, reference = recs(root), recs(whole)
    assert resumed.keys() == reference.keys() and len(resumed) == len(SEEDS)
    for key, r in resumed.items():
        assert r["resumed_from_step"] == (1 if group == 2 or r["seed"] == 0 else None), key
        assert r["extra"]["world_model_sha256"] == saved[0]["world_model"]["sha256"]
        diff = {f for f in set(r) | set(reference[key]) if r.get(f) != reference[key].get(f)}
        assert diff <= WHEN, (key, diff)
