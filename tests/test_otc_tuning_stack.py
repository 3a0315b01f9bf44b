"""OTC's online tuning of one cell's seeds as one stacked learner (papers/otc/tuning_stack.py, ``--group``): every
record equals the run alone's bit for bit, each cell's seeds went through one stack (Balanced Replay alone), and a grouped run
killed between two deployments resumes from its own checkpoint to the same record."""

from __future__ import annotations

import pytest
import torch

from common.running.experiment import run_cells
from common.running.profiles import get_profile
from common.running.records import load_records
from papers.otc import config as C
from papers.otc import deploy as D
from papers.otc import deploy_offline as DO
from papers.otc import mujoco_items as M
from papers.otc import otc as O
from papers.otc import tuning_stack as TS

HOP = "mamujoco/hopper-3x1"
METHODS = ("bcq", "bcq_online", "bcq_otc_dq", "bcq_otc_de", "bcq_br", "awac_otc_dq")


def _run(tmp_path, tag, cells, group, monkeypatch):
    monkeypatch.setattr(DO, "offline_dir", lambda: tmp_path / tag / "offline")
    summary = run_cells(cells, D.job, "smoke", seeds=(0, 1), results_root=tmp_path / tag, group=group)
    assert summary.ok, summary
    return {
        (r["keys"]["method"], r["seed"]): r for r in load_records(tmp_path / tag, "smoke", "otc", "stacked")
    }


def test_a_cells_seeds_tune_as_one_stack_with_the_records_of_the_runs_alone(tmp_path, monkeypatch):
    smoke = get_profile("smoke", C.PROFILE_OVERRIDES)
    cells = M.cells("stacked", smoke, [(HOP, "random", m) for m in METHODS])
    assert [TS.stackable(c.config) for c in cells] == [m != "bcq_br" for m in METHODS]
    real, stacks = TS.tuning_run_stack, []

    def counted(runs, kit):
        stacks.append(sorted((cell.keys["method"], seed) for cell, seed, _ in runs))
        return real(runs, kit)

    monkeypatch.setattr(TS, "tuning_run_stack", counted)
    alone = _run(tmp_path, "alone", cells, 1, monkeypatch)
    assert stacks == []
    grouped = _run(tmp_path, "grouped", cells, 12, monkeypatch)
    assert sorted(stacks) == sorted([(m, 0), (m, 1)] for m in METHODS if m != "bcq_br")  # one stack per cell
    assert len(alone) == len(grouped) == 2 * len(METHODS)
    for key, a in alone.items():  # bit for bit (I-BCQ and AWAC stacks are; docs/scaling.md)
        g = grouped[key]
        assert g["curve"] == a["curve"] and g["score"] == a["score"], key
        assert _untimed(g["extra"]) == _untimed(a["extra"]), key
        assert g["extra"]["offline_s"].keys() <= {"pi0", "cvae"}, key  # times, not compared
    # the runs differ: the test can fail
    assert len({r["extra"]["s_final"] for r in grouped.values()}) > len(METHODS)


def _untimed(extra):
    """A record's metrics without the offline stage's seconds (a time: it differs between any two runs)."""
    return {k: v for k, v in extra.items() if k != "offline_s"}


def test_a_killed_stack_resumes_from_its_runs_checkpoints(tmp_path, monkeypatch):
    smoke = get_profile("smoke", C.PROFILE_OVERRIDES)
    cells = M.cells("stacked", smoke, [(HOP, "random", "bcq_otc_de")])
    whole = _run(tmp_path, "whole", cells, 2, monkeypatch)
    real = D.deploy

    def dies_at_the_second_deployment(learner, cfg, seed, k, n):
        if k == 2:
            raise RuntimeError("killed")
        return real(learner, cfg, seed, k, n)

    monkeypatch.setattr(D, "deploy", dies_at_the_second_deployment)
    monkeypatch.setattr(DO, "offline_dir", lambda: tmp_path / "cut" / "offline")
    with pytest.raises(Exception):
        summary = run_cells(cells, D.job, "smoke", seeds=(0, 1), results_root=tmp_path / "cut", group=2)
        assert summary.ok  # a failed group is retried alone, which dies too: not ok
    monkeypatch.setattr(D, "deploy", real)
    again = _run(tmp_path, "cut", cells, 2, monkeypatch)
    for key, w in whole.items():
        a = again[key]
        assert a["resumed_from_step"] == 1, key
        assert a["curve"] == w["curve"] and a["score"] == w["score"], key


def test_stacked_cvae_splits_back_to_the_runs_cvaes():
    cv = [O.TransitionCVAE(2, 3, 1, hidden=(8, 8)) for _ in range(2)]
    g = torch.Generator().manual_seed(0)
    for c in cv:  # give each an Adam state
        x = torch.randn(2, 5, 3, generator=g)
        c.update(x, x + 1, torch.rand(2, 5, 1, generator=g), generator=g)
    before = [c.state_dict() for c in cv]
    st = TS.StackedCVAE(cv)
    st.split()
    for b, c in zip(before, cv):
        after = c.state_dict()
        assert all(torch.equal(v, after["vae"][k]) for k, v in b["vae"].items())
        for p, slots in b["opt"]["state"].items():
            assert all(
                torch.equal(torch.as_tensor(v), torch.as_tensor(after["opt"]["state"][p][n]))
                for n, v in slots.items()
            )
    with pytest.raises(ValueError, match=r"one form, got \['conditional', 'joint'\]"):
        TS.StackedCVAE([cv[0], O.TransitionCVAE(2, 3, 1, hidden=(8, 8), form="joint")])


def test_a_run_that_finished_in_a_failed_group_resumes_at_its_end(tmp_path, monkeypatch):
    """A group tunes its stacks one after another; a run of a finished stack keeps its last phase's checkpoint, so a
    group that dies in a later stack does not redo that run's last deployment when its runs are retried."""
    smoke = get_profile("smoke", C.PROFILE_OVERRIDES)
    cells = M.cells("stacked", smoke, [(HOP, "random", "bcq_otc_dq"), (HOP, "random", "bcq")])
    whole = _run(tmp_path, "whole", cells[:1], 2, monkeypatch)
    real = D.deploy

    def uniform_dies(learner, cfg, seed, k, n):
        if cfg["method"] == "bcq":
            raise RuntimeError("killed")
        return real(learner, cfg, seed, k, n)

    monkeypatch.setattr(D, "deploy", uniform_dies)
    monkeypatch.setattr(DO, "offline_dir", lambda: tmp_path / "cut" / "offline")
    try:  # the group dies in its second stack; its runs are retried alone, and bcq's die again
        ok = run_cells(cells, D.job, "smoke", seeds=(0, 1), results_root=tmp_path / "cut", group=4).ok
    except Exception:  # noqa: BLE001 - the runner may re-raise the failure
        ok = False
    assert not ok
    recs = {
        (r["keys"]["method"], r["seed"]): r for r in load_records(tmp_path / "cut", "smoke", "otc", "stacked")
    }
    assert set(recs) == {("bcq_otc_dq", 0), ("bcq_otc_dq", 1)}
    K = cells[0].config["deployments"]
    for key, w in whole.items():
        a = recs[key]
        assert a["resumed_from_step"] == K, key  # from its last phase's checkpoint: nothing redone
        assert a["curve"] == w["curve"] and a["score"] == w["score"], key
