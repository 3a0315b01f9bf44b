import hashlib
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from common.running.cli import main
from common.running.cli_args import make_parser, results_root_of
from common.running.experiment import Cell, Job, as_job, prepare_data, run_cells
from common.running.records import (
    RecordWarning,
    append_record,
    compact_records,
    config_hash,
    load_records,
    pack_curve,
    plan_path,
    record_threads,
    records_path,
    unpack_curve,
)
from common.running.roots import REFERENCE_ROOT, checkpoints_root, runs_root
from common.running.runtime import cpu_model, current_threads

pytestmark = pytest.mark.filterwarnings("ignore:pkg_resources:UserWarning")

N_STEPS = 6
# Test-only control of the job (inline launcher only): crash once at a step; which steps each run started at.
CONTROL: dict = {"crash_at": None, "starts": []}

VOLATILE = {"started", "finished", "wall_time_s", "sacred_run_id"}


def det_job(cell, seed, ctx):
    """Deterministic, resumable toy job: score = 2 * seed + v; a checkpoint every 2 steps."""
    if cell.config.get("fail"):
        raise RuntimeError("boom")
    noise = float(torch.rand(()))  # proves seed_everything ran before the job
    state = ctx.load_checkpoint() or {"step": 0, "acc": 0.0}
    CONTROL["starts"].append((ctx.run_id, state["step"]))
    for step in range(state["step"], N_STEPS):
        state["acc"] += cell.config["v"] + step
        ctx.log(step, score=2 * seed + cell.config["v"] + step, normalized=float(step))
        if step % 2 == 1:
            ctx.save_checkpoint({"step": step + 1, "acc": state["acc"]}, step=step + 1)
        if CONTROL["crash_at"] == step:
            CONTROL["crash_at"] = None
            raise RuntimeError("simulated kill")
    score = float("nan") if cell.config.get("nan") else 2 * seed + cell.config["v"]
    return {"score": score, "normalized": score / 10, "acc": state["acc"], "noise": noise}


def _cells(v=(1, 2)):
    return [
        Cell("toy", "table1", {"env": "omar/spread", "dataset": "expert", "method": f"m{x}"}, {"v": x})
        for x in v
    ]


def _stable(recs):
    return sorted(
        ({k: v for k, v in r.items() if k not in VOLATILE} for r in recs),
        key=lambda r: (json.dumps(r["keys"]), r["seed"]),
    )


@pytest.fixture(autouse=True)
def _reset():
    CONTROL.update(crash_at=None, starts=[])


def test_records_schema_skip_force(tmp_path):
    s = run_cells(_cells(), det_job, "smoke", seeds=[0, 1], results_root=tmp_path)
    assert len(s.ran) == 4 and not s.failed and not s.skipped
    recs = load_records(tmp_path, "smoke", "toy", "table1")
    assert len(recs) == 4
    r = next(r for r in recs if r["keys"]["method"] == "m2" and r["seed"] == 1)
    for f in (
        "paper",
        "item",
        "keys",
        "method",
        "seed",
        "profile",
        "score",
        "normalized",
        "curve",
        "extra",
        "wall_time_s",
        "config",
        "config_hash",
        "git_commit",
        "sacred_run_id",
        "started",
        "finished",
        "hostname",
        "cpu",
        "versions",
        "run_id",
    ):
        assert f in r, f
    assert r["score"] == 4.0 and r["normalized"] == 0.4 and r["method"] == "m2" and r["profile"] == "smoke"
    assert r["run_id"] == "smoke/toy/table1/omar/spread/expert/m2/seed1"
    assert r["config"] == {"v": 2} and r["config_hash"] == config_hash({"v": 2})
    assert r["extra"]["acc"] == sum(2 + k for k in range(N_STEPS))
    assert [e["step"] for e in r["curve"]] == list(range(N_STEPS)) and r["curve"][0]["score"] == 4
    assert set(r["versions"]) == {"python", "torch", "numpy"}
    assert r["cpu"] == cpu_model() and r["cpu"]  # the CPU type beside every run: results differ across types
    # sacred run with config and metrics
    run_dir = tmp_path / "smoke" / "sacred" / str(r["sacred_run_id"])
    assert json.loads((run_dir / "config.json").read_text())["seed"] == 1
    assert json.loads((run_dir / "metrics.json").read_text())["score"]["values"][:2] == [4.0, 5.0]
    # checkpoints are removed after the record is written
    assert not list(checkpoints_root(tmp_path, "smoke").rglob("*.pt"))

    CONTROL["starts"] = []
    s2 = run_cells(_cells(), det_job, "smoke", seeds=[0, 1], results_root=tmp_path)
    assert len(s2.skipped) == 4 and not s2.ran and CONTROL["starts"] == []
    s3 = run_cells(_cells([2]), det_job, "smoke", seeds=[1], results_root=tmp_path, force=True)
    assert s3.ran == ["smoke/toy/table1/omar/spread/expert/m2/seed1"]
    recs2 = load_records(tmp_path, "smoke", "toy", "table1")
    assert len(recs2) == 4  # --force replaced the run's record (issue 62: it used to append a second one)
    assert recs2[:3] == [x for x in recs if x["run_id"] != r["run_id"]]  # the others untouched
    # same seed, same record (but for timestamps / run ids)
    assert _stable([recs2[-1]]) == _stable([r])
    # a changed config is not "finished"
    s4 = run_cells(
        _cells([1]) + [Cell("toy", "table1", _cells([1])[0].keys, {"v": 1, "lr": 3})],
        det_job,
        "smoke",
        seeds=[0],
        results_root=tmp_path,
    )
    assert len(s4.skipped) == 1 and len(s4.ran) == 1


def test_kill_and_resume(tmp_path):
    CONTROL["crash_at"] = 4  # checkpoint written after step 3 holds step 4
    s = run_cells(_cells([1]), det_job, "smoke", seeds=[0], results_root=tmp_path)
    assert len(s.failed) == 1 and "simulated kill" in s.failed[0][1] and not s.ran
    assert load_records(tmp_path, "smoke", "toy", "table1") == []
    assert list(checkpoints_root(tmp_path, "smoke").rglob("*.pt"))
    CONTROL["starts"] = []
    s = run_cells(_cells([1]), det_job, "smoke", seeds=[0], results_root=tmp_path)
    assert s.ran and CONTROL["starts"] == [("smoke/toy/table1/omar/spread/expert/m1/seed0", 4)]
    resumed = load_records(tmp_path, "smoke", "toy", "table1")
    assert resumed[0]["resumed_from_step"] == 4
    # each segment's machine: here both on this CPU and thread count (a run in one piece has no segments)
    here = {"cpu": cpu_model(), "threads": current_threads(), "device": "cpu"}
    assert resumed[0]["segments"] == [{"from_step": 0, **here}, {"from_step": 4, **here}]

    other = tmp_path / "uninterrupted"
    run_cells(_cells([1]), det_job, "smoke", seeds=[0], results_root=other)
    plain = load_records(other, "smoke", "toy", "table1")
    for k in ("score", "normalized", "curve", "extra", "config_hash"):
        assert resumed[0][k] == plain[0][k], k
    assert "segments" not in plain[0]
    assert not list(checkpoints_root(tmp_path, "smoke").rglob("*.pt"))


def test_failures_and_nonfinite(tmp_path, caplog):
    cells = _cells([1]) + [
        Cell("toy", "table1", {"method": "bad"}, {"v": 0, "fail": True}),
        Cell("toy", "table1", {"method": "nan"}, {"v": 0, "nan": True}),
    ]
    s = run_cells(cells, det_job, "smoke", seeds=[0], results_root=tmp_path)
    assert [rid for rid, _ in s.failed] == ["smoke/toy/table1/bad/seed0"]
    assert "RuntimeError: boom" in s.failed[0][1] and "boom" in caplog.text
    assert s.nonfinite == ["smoke/toy/table1/nan/seed0"] and len(s.ran) == 2
    recs = {r["method"]: r for r in load_records(tmp_path, "smoke", "toy", "table1")}
    assert set(recs) == {"m1", "nan"}
    assert recs["nan"]["score"] is None and recs["nan"]["nonfinite"] == ["score", "normalized"]
    assert "FAILED smoke/toy/table1/bad/seed0" in str(s)


def test_prepare_data_loads_each_dataset_once_in_the_parent():
    """Before workers start, every dataset of the planned runs is loaded (made if missing) once, here."""
    calls = []

    job = Job(
        run=lambda cell, seed, ctx: {"score": 0.0},
        data_spec=lambda config: {"d": config["v"] % 2},
        data_identity=lambda spec: calls.append(spec) or {"data_sha256": str(spec)},
    )
    todo = [(c, s) for c in _cells([1, 2, 3]) for s in (0, 1)]
    prepare_data(todo, job)
    assert calls == [{"d": 1}, {"d": 0}]
    prepare_data(todo, det_job)  # a job without data identity: nothing to do


def test_process_launcher_matches_inline(tmp_path):
    run_cells(_cells(), det_job, "smoke", seeds=[0, 1], results_root=tmp_path / "a")
    s = run_cells(
        _cells(), det_job, "smoke", seeds=[0, 1], results_root=tmp_path / "b", launcher="process", jobs=2
    )
    assert len(s.ran) == 4 and not s.failed
    a = load_records(tmp_path / "a", "smoke", "toy", "table1")
    b = load_records(tmp_path / "b", "smoke", "toy", "table1")
    assert _stable(a) == _stable(b)


def test_config_hash():
    h = config_hash({"b": [1, 2.5], "a": {"y": None, "x": "s"}})
    assert h == config_hash({"a": {"x": "s", "y": None}, "b": (1, 2.5)})
    canon = '{"a":{"x":"s","y":null},"b":[1,2.5]}'
    assert h == hashlib.sha256(canon.encode()).hexdigest()[:12]
    assert config_hash({"a": 1}) != config_hash({"a": 2}) != config_hash({"a": 1, "b": 0})


def test_append_concurrent_and_corrupt_lines(tmp_path):
    path = tmp_path / "x.jsonl"
    code = (
        "import sys; from common.running.records import append_record as a\n"
        "for i in range(200): a(sys.argv[1], {'w': sys.argv[2], 'i': i, 'pad': 'x' * 3000})"
    )
    root = Path(__file__).resolve().parent.parent
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), w], cwd=root) for w in "ab"]
    assert all(p.wait(60) == 0 for p in procs)
    lines = path.read_text().splitlines()
    assert len(lines) == 400 and all(json.loads(line)["pad"] for line in lines)

    rp = records_path(tmp_path, "smoke", "toy", "t")
    append_record(rp, {"seed": 0})
    with open(rp, "a") as f:
        f.write('{"seed": 1, "trunc')  # a writer killed mid-line
    append_record(rp, {"seed": 2})
    with pytest.warns(UserWarning, match=r"t\.jsonl:2: skipping corrupt record"):
        recs = load_records(tmp_path, "smoke", "toy")
    assert [r["seed"] for r in recs] == [0, 2]
    with warnings.catch_warnings():  # a script reads a file several times: the warning is given once
        warnings.simplefilter("error")
        assert [r["seed"] for r in load_records(tmp_path, "smoke", "toy")] == [0, 2]
    # shown as a sentence, without the source line of the code that warned
    assert (
        warnings.formatwarning("x.jsonl:2: skipping", RecordWarning, "experiment.py", 9)
        == "warning: x.jsonl:2: skipping\n"
    )


def test_pack_curve_is_lossless_and_packs_only_uniform_points():
    curve = [
        {"step": 10, "score": 151.820263872544},
        {"step": 20, "score": -0.1},
        {"step": 30, "score": None},
    ]
    packed = pack_curve(curve)
    assert packed == {"step": [10, 20, 30], "score": [151.820263872544, -0.1, None]}
    assert unpack_curve(packed) == curve
    assert unpack_curve(json.loads(json.dumps(packed))) == curve  # through JSON: the same floats
    ragged = [{"step": 1, "score": 0.5}, {"step": 2, "loss": 3.0}]
    for unchanged in (ragged, [], None, [1, 2]):
        assert pack_curve(unchanged) == unchanged and unpack_curve(unchanged) == unchanged
    with pytest.raises(ValueError, match=r"equal-length.*'step': 2, 'score': 1"):
        unpack_curve({"step": [1, 2], "score": [0.5]})


def test_records_store_curves_packed_and_compaction_is_lossless(tmp_path):
    rp = records_path(tmp_path, "smoke", "toy", "t")
    curve = [{"step": s, "score": s / 3} for s in range(1, 50)]
    rp.parent.mkdir(parents=True)
    old = [{"seed": 0, "curve": curve}, {"seed": 1, "curve": [{"step": 1, "a": 1}, {"step": 2, "b": 2}]}]
    with open(rp, "w") as f:  # the older on-disk form: the curve as a list of points, default separators
        for r in old:
            f.write(json.dumps(r) + "\n")
        f.write('{"seed": 9, "trunc\n')  # a corrupt line: compaction keeps it verbatim
    append_record(rp, {"seed": 2, "curve": curve})
    assert json.loads(rp.read_text().splitlines()[-1])["curve"] == {
        "step": list(range(1, 50)),
        "score": [s / 3 for s in range(1, 50)],
    }
    with pytest.warns(UserWarning, match="skipping corrupt record"):
        before = load_records(tmp_path, "smoke", "toy")
    assert [r["curve"] for r in before] == [curve, old[1]["curve"], curve]
    size_before = rp.stat().st_size
    assert compact_records(rp) == (size_before, rp.stat().st_size)  # the same corrupt line: warned once above
    assert rp.stat().st_size < 0.7 * size_before
    assert '{"seed": 9, "trunc' in rp.read_text()
    assert load_records(tmp_path, "smoke", "toy") == before
    out = subprocess.run(
        [sys.executable, "-m", "common.running.records", "--compact", str(rp)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.returncode == 0 and f"{rp}:" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "common.running.records", "--compact", str(tmp_path / "nope.jsonl")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert bad.returncode != 0 and "nope.jsonl" in bad.stderr


def test_an_append_waiting_on_the_lock_lands_in_the_file_that_replaced_it(tmp_path):
    import fcntl
    import os
    import threading
    import time

    rp = tmp_path / "r.jsonl"
    append_record(rp, {"seed": 0})
    holder = open(rp, "a")
    fcntl.flock(holder, fcntl.LOCK_EX)  # as compact_records holds it while it rewrites
    t = threading.Thread(target=append_record, args=(rp, {"seed": 1}))
    t.start()
    time.sleep(0.3)  # the appender has opened the old file and waits for the lock
    tmp = tmp_path / "r.jsonl.new"
    tmp.write_text(rp.read_text())
    os.replace(tmp, rp)
    fcntl.flock(holder, fcntl.LOCK_UN)
    holder.close()
    t.join(10)
    assert [json.loads(line)["seed"] for line in rp.read_text().splitlines()] == [0, 1]


def test_cli(tmp_path, capsys):
    with pytest.raises(SystemExit):
        make_parser("x").parse_args(["--profile", "medium"])
    assert "smoke" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a bad --device stops before any run, naming the valid ones
        main(
            "toy table",
            lambda p: _cells([1]),
            det_job,
            "toy",
            "table1",
            argv=["--profile", "smoke", "--device", "tpu", "--results", str(tmp_path)],
        )
    assert "unknown device 'tpu'; valid devices: cpu, cuda" in capsys.readouterr().err
    assert not (tmp_path / "smoke").exists()
    args = make_parser("x").parse_args([])
    assert (args.profile, args.device, args.results, args.seeds, args.force, args.threads) == (
        "quick",
        "cpu",
        None,
        None,
        False,
        1,
    )
    assert results_root_of(args) == runs_root()  # this machine's runs, never the committed reference
    assert results_root_of(make_parser("x").parse_args(["--reference"])) == REFERENCE_ROOT
    s = main(
        "toy table",
        lambda p: _cells([1]),
        det_job,
        "toy",
        "table1",
        argv=["--profile", "smoke", "--seeds", "3", "--results", str(tmp_path), "--no-report"],
    )
    out = capsys.readouterr().out
    assert "profile=smoke" in out and str(tmp_path) in out and len(s.ran) == 1
    assert load_records(tmp_path, "smoke", "toy", "table1")[0]["seed"] == 3
    assert math.isfinite(load_records(tmp_path, "smoke", "toy", "table1")[0]["score"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "-1"], "seed -1 is out of range"),
        (["--seeds", "x"], "seed 'x' is not an integer"),
        (["--seeds"], "expected at least one argument"),
        (["--seeds", "2", "2"], "seed 2 is given twice"),
        (["--threads", "0"], "threads 0 must be a positive integer"),
        (["--threads"], "expected one argument"),
        (["--jobs", "0"], "jobs 0 must be a positive integer"),
        (["--profile"], "expected one argument"),
        (["--profile", "medium"], "invalid choice: 'medium'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--results"], "expected one argument"),
        (["--reference", "--results", "x"], "not allowed with argument"),
    ],
)
def test_bad_arguments_stop_before_any_side_effect(tmp_path, capsys, argv, message):
    """Issue 27, point 2: a bad value (``--seeds -1`` used to be merged into the tracked plan file before
    it was checked) or a missing one stops the script with a message naming it, and nothing is written."""
    root = tmp_path / "res"
    root.mkdir()
    (root / "smoke" / "toy").mkdir(parents=True)
    plan = root / "smoke" / "toy" / "table1.plan.json"
    plan.write_text('{"cells": []}')
    extra = [] if "--results" in argv or "--reference" in argv else ["--results", str(root)]
    with pytest.raises(SystemExit) as e:
        main(
            "toy table",
            lambda p: _cells([1]),
            det_job,
            "toy",
            "table1",
            argv=["--profile", "smoke", *argv, *extra],
        )
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert plan.read_text() == '{"cells": []}' and sorted(
        p.name for p in (root / "smoke" / "toy").iterdir()
    ) == ["table1.plan.json"]
    with pytest.raises(ValueError, match="seed -1 is out of range"):  # the library call checks too
        run_cells(_cells([1]), det_job, "smoke", seeds=[-1], results_root=root)
    assert plan.read_text() == '{"cells": []}'


def test_threads_are_set_recorded_and_part_of_a_runs_identity(tmp_path):
    """Issue 27, point 1: the script sets the thread count it records (default 1, whatever torch's default);
    a run under another count is a different run (not skipped as done) and never reused as this one."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        main(
            "toy table",
            lambda p: _cells([1]),
            det_job,
            "toy",
            "table1",
            argv=["--profile", "smoke", "--seeds", "0", "--results", str(tmp_path), "--no-report"],
        )
        (r1,) = load_records(tmp_path, "smoke", "toy", "table1")
        assert r1["threads"] == 1 and torch.get_num_threads() == 1
        s = main(
            "toy table",
            lambda p: _cells([1]),
            det_job,
            "toy",
            "table1",
            argv=["--profile", "smoke", "--seeds", "0", "--results", str(tmp_path), "--no-report"],
        )
        assert len(s.skipped) == 1 and not s.ran
        s = main(
            "toy table",
            lambda p: _cells([1]),
            det_job,
            "toy",
            "table1",
            argv=[
                "--profile",
                "smoke",
                "--seeds",
                "0",
                "--results",
                str(tmp_path),
                "--no-report",
                "--threads",
                "2",
            ],
        )
        assert len(s.ran) == 1 and not s.reused
        assert sorted(r["threads"] for r in load_records(tmp_path, "smoke", "toy", "table1")) == [1, 2]
        legacy = dict(r1)
        del legacy["threads"]  # records older than the field count as one thread
        assert record_threads(legacy) == 1
        last = json.loads(plan_path(tmp_path, "smoke", "toy", "table1").read_text())["last_run"]
        assert last["threads"] == 2 and last["runs"] == 1 and last["wall_s"] >= 0
    finally:
        torch.set_num_threads(before)


def test_item_default_seeds_apply_per_profile_and_yield_to_the_flag(tmp_path):
    """``default_seeds`` replaces the profile's seeds for the named profile only; --seeds wins."""

    def run(res, *extra):
        main(
            "toy table",
            lambda p: _cells([1]),
            det_job,
            "toy",
            "table1",
            default_seeds={"smoke": (5, 6)},
            argv=["--profile", "smoke", "--results", str(res), "--no-report", *extra],
        )
        return sorted(r["seed"] for r in load_records(res, "smoke", "toy", "table1"))

    assert run(tmp_path / "a") == [5, 6]
    assert run(tmp_path / "b", "--seeds", "2") == [2]


def test_a_filtered_run_plans_the_whole_grid(tmp_path, capsys):
    """main's ``select`` runs part of the grid; the plan (the report's "done k/m") keeps the whole
    grid, so the item reads as partial until the rest runs. run_cells refuses cells outside the plan."""

    def select(cells, args):
        return [c for c in cells if c.config["v"] == 1]

    s = main(
        "toy table",
        lambda p: _cells([1, 2, 3]),
        det_job,
        "toy",
        "table1",
        select=select,
        argv=["--profile", "smoke", "--seeds", "0", "--results", str(tmp_path), "--no-report"],
    )
    assert "cells=1 of 3" in capsys.readouterr().out and len(s.ran) == 1
    plan = json.loads((tmp_path / "smoke" / "toy" / "table1.plan.json").read_text())["cells"]
    assert sorted(e["keys"]["method"] for e in plan) == ["m1", "m2", "m3"]
    from common.reporting.report import write_item_report

    assert "partial" in write_item_report(tmp_path, "smoke", "toy", "table1").read_text()
    with pytest.raises(ValueError, match="plan_cells must hold every cell"):
        run_cells(_cells([4]), det_job, "smoke", seeds=[0], results_root=tmp_path, plan_cells=_cells([1]))


def test_identical_runs_are_copied_from_the_named_items_not_rerun(tmp_path):
    """reuse_from: a (config, seed) that already ran in another item (or under other keys of this
    item) is filed from that record, with reused_from naming it; other configs, no reuse_from and
    --force all run the job."""
    run_cells(_cells((1,)), det_job, "smoke", seeds=[0], results_root=tmp_path)  # toy/table1, v=1
    donor = load_records(tmp_path, "smoke", "toy", "table1")[0]
    assert CONTROL["starts"] == [(donor["run_id"], 0)]

    cells = [Cell("toy", "figure3", {"tau": t, "method": "m1"}, {"v": 1}) for t in (0.5, 1.0)]
    cells.append(Cell("toy", "figure3", {"tau": 0.0, "method": "m2"}, {"v": 2}))
    s = run_cells(cells, det_job, "smoke", seeds=[0, 1], results_root=tmp_path, reuse_from=("table1",))
    started = [rid for rid, _ in CONTROL["starts"][1:]]
    # seed 0 of v=1 came from table1 twice; seed 1 of v=1 ran once (tau 0.5), then tau 1.0 copied it
    assert started == [
        "smoke/toy/figure3/0.5/m1/seed1",
        "smoke/toy/figure3/0.0/m2/seed0",
        "smoke/toy/figure3/0.0/m2/seed1",
    ]
    assert sorted(s.reused) == [
        "smoke/toy/figure3/0.5/m1/seed0",
        "smoke/toy/figure3/1.0/m1/seed0",
        "smoke/toy/figure3/1.0/m1/seed1",
    ]
    recs = {r["run_id"]: r for r in load_records(tmp_path, "smoke", "toy", "figure3")}
    assert len(recs) == 6
    copy = recs["smoke/toy/figure3/0.5/m1/seed0"]
    assert copy["reused_from"] == donor["run_id"] and copy["item"] == "figure3"
    assert copy["keys"] == {"tau": 0.5, "method": "m1"}
    for k in ("score", "normalized", "curve", "extra", "config_hash", "git_commit", "started"):
        assert copy[k] == donor[k], k
    assert recs["smoke/toy/figure3/1.0/m1/seed1"]["reused_from"] == "smoke/toy/figure3/0.5/m1/seed1"
    assert "reused_from" not in recs["smoke/toy/figure3/0.5/m1/seed1"]
    # a copy is what the job would have computed
    own = {
        k: v
        for k, v in recs["smoke/toy/figure3/0.5/m1/seed1"].items()
        if k not in VOLATILE | {"run_id", "keys"}
    }
    twin = {
        k: v
        for k, v in recs["smoke/toy/figure3/1.0/m1/seed1"].items()
        if k not in VOLATILE | {"run_id", "keys", "reused_from", "reused_at"}
    }
    assert own == twin

    n = len(CONTROL["starts"])
    cell = [Cell("toy", "figure4", {"method": "m1"}, {"v": 1})]
    run_cells(cell, det_job, "smoke", seeds=[0], results_root=tmp_path)  # no reuse_from: runs
    assert len(CONTROL["starts"]) == n + 1
    run_cells(cell, det_job, "smoke", seeds=[0], results_root=tmp_path, reuse_from=("table1",), force=True)
    assert len(CONTROL["starts"]) == n + 2  # --force re-runs
    assert all("reused_from" not in r for r in load_records(tmp_path, "smoke", "toy", "figure4"))


def test_a_run_finished_meanwhile_is_skipped_not_copied(tmp_path):
    """With reuse_from, run_one re-checks its own item just before running: a (cell, seed) that another
    process finished after this one planned its runs is skipped (no second record)."""
    from common.running.experiment import RunEnv, run_one
    from common.running.profiles import get_profile

    cell = _cells((1,))[0]
    env = RunEnv(get_profile("smoke"), tmp_path, reuse_from=())
    assert env.own_key(cell, 0) not in env.seen.finished("toy", "table1")  # planned: not finished yet
    run_cells([cell], det_job, "smoke", seeds=[0], results_root=tmp_path)
    n = len(CONTROL["starts"])
    rid, status, _ = run_one(cell, 0, det_job, env)
    assert status == "skipped" and len(CONTROL["starts"]) == n
    assert len(load_records(tmp_path, "smoke", "toy", "table1")) == 1


def test_git_commit_records_what_a_dirty_tree_changed(tmp_path):
    import subprocess

    from common.running.runtime import git_commit

    def git(*a):
        subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 1\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.jsonl").write_text("{}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = git_commit(tmp_path)
    assert clean["dirty"] is False and "changed" not in clean and len(clean["commit"]) == 40
    (tmp_path / "untracked.py").write_text("ignored\n")  # untracked files do not make a tree dirty
    assert git_commit(tmp_path)["dirty"] is False
    (tmp_path / "results" / "r.jsonl").write_text("{}\n{}\n")  # records appended by runs are not code
    assert git_commit(tmp_path)["dirty"] is False
    (tmp_path / "b.py").write_text("y = 2\n")
    d1 = git_commit(tmp_path)
    assert d1["dirty"] is True and d1["changed"] == ["b.py"] and d1["commit"] == clean["commit"]
    (tmp_path / "b.py").write_text("y = 3\n")
    d2 = git_commit(tmp_path)
    assert d2["changed"] == ["b.py"] and d2["diff_sha256"] != d1["diff_sha256"]  # another diff, another hash
    (tmp_path / "b.py").write_text("y = 2\n")
    assert git_commit(tmp_path)["diff_sha256"] == d1["diff_sha256"]
    assert git_commit(tmp_path / "no-such-dir") is None


def test_git_commit_outside_a_repo_reads_the_declared_commit(tmp_path, monkeypatch):
    """A tree copied without .git (a lent GPU machine) records the commit its sender declares, marked declared."""
    from common.running.runtime import git_commit

    monkeypatch.delenv("OFFMARL_GIT_COMMIT", raising=False)
    assert git_commit(tmp_path) is None
    monkeypatch.setenv("OFFMARL_GIT_COMMIT", "ab" * 20)
    assert git_commit(tmp_path) == {"commit": "ab" * 20, "dirty": False, "declared": True}
    monkeypatch.setenv("OFFMARL_GIT_COMMIT", "8ed93a6")
    with pytest.raises(ValueError, match="'8ed93a6' is not a commit.*40 hex"):
        git_commit(tmp_path)


# ---- data identity: runs on two generations of one dataset are never mixed -----------------------
DATA: dict = {}  # dataset name -> its identity "in the cache now" (test-only)


def _data_run(cell, seed, ctx):
    """Toy job on a named toy dataset; returns the dataset's identity as a real job does."""
    return {"score": float(seed), **DATA[cell.config["dataset"]["name"]]}


def _data_spec(config):
    return config.get("dataset")


def _data_identity(spec):
    return DATA[spec["name"]]


data_job = Job(run=_data_run, data_spec=_data_spec, data_identity=_data_identity)


def _ident(sha, size=100, random=1.0, expert=2.0):
    return {"data_sha256": sha, "dataset_size": size, "ref_scores": {"random": random, "expert": expert}}


def _data_cells(item="table1", methods=("a", "b"), name="d1"):
    return [
        Cell("toy", item, {"dataset": name, "method": m}, {"dataset": {"name": name}, "m": m})
        for m in methods
    ]


def test_same_data_by_sha_else_size_and_reference_scores():
    from common.running.experiment import same_data

    assert same_data(_ident("x"), _ident("x", size=5)) is True  # the sha decides when both have it
    assert same_data(_ident("x"), _ident("y")) is False
    legacy = {"dataset_size": 100, "ref_scores": {"random": 1.0, "expert": 2.0}}  # written before the sha
    assert same_data(legacy, _ident("y")) is True
    assert same_data(legacy, _ident("y", expert=2.5)) is False
    assert same_data(legacy, _ident("y", size=99)) is False
    assert same_data({"other": 1}, _ident("y")) is None and same_data(None, _ident("y")) is None
    # the identity (protocol + policies' checksums) decides when both carry it: a rebuild on another CPU type has
    # other bytes but the same identity; a different identity is different data whatever the bytes
    assert same_data({**_ident("x"), "data_identity": "i"}, {**_ident("y"), "data_identity": "i"}) is True
    assert same_data({**_ident("x"), "data_identity": "i"}, {**_ident("x"), "data_identity": "j"}) is False
    # a record without it: the sha
    assert same_data({**_ident("x"), "data_identity": "i"}, _ident("y")) is False


def test_a_regenerated_dataset_is_not_mixed_with_runs_on_the_old_one(tmp_path):
    from common.running.experiment import DatasetMismatchError

    DATA.update(d1=_ident("old"), d2=_ident("two"))
    run_cells(_data_cells(methods=("a",)), data_job, "smoke", seeds=[0], results_root=tmp_path)
    run_cells(_data_cells(methods=("a",), name="d2"), data_job, "smoke", seeds=[0], results_root=tmp_path)
    assert load_records(tmp_path, "smoke", "toy", "table1")[0]["extra"]["data_sha256"] == "old"
    # same data: more seeds and methods join
    s = run_cells(_data_cells(), data_job, "smoke", seeds=[0, 1], results_root=tmp_path)
    assert len(s.ran) == 3 and len(s.skipped) == 1
    # d1 regenerated: a new seed or method on it is refused, naming the runs and both identities
    DATA["d1"] = _ident("new", expert=2.5)
    with pytest.raises(DatasetMismatchError) as e:
        run_cells(_data_cells(methods=("c",)), data_job, "smoke", seeds=[0], results_root=tmp_path)
    msg = str(e.value)
    assert "toy/table1, dataset " in msg and "4 recorded run(s)" in msg
    assert (
        "sha256 old" in msg and "sha256 new" in msg and "random/expert refs 1/2.5" in msg and "--force" in msg
    )
    assert len(load_records(tmp_path, "smoke", "toy", "table1")) == 5  # nothing ran, nothing lost
    # runs on the other dataset, and fully recorded grids (nothing to run), are unaffected
    assert run_cells(
        _data_cells(methods=("c",), name="d2"), data_job, "smoke", seeds=[0], results_root=tmp_path
    ).ran
    assert len(run_cells(_data_cells(), data_job, "smoke", seeds=[0, 1], results_root=tmp_path).skipped) == 4
    # --force on part of the d1 runs is still refused (the rest stay on the old data) ...
    with pytest.raises(DatasetMismatchError):
        run_cells(
            _data_cells(methods=("a",)), data_job, "smoke", seeds=[0, 1], results_root=tmp_path, force=True
        )
    # ... --force on all of them re-runs them on the new data, after which new runs join freely
    s = run_cells(_data_cells(), data_job, "smoke", seeds=[0, 1], results_root=tmp_path, force=True)
    assert len(s.ran) == 4
    assert run_cells(_data_cells(methods=("c",)), data_job, "smoke", seeds=[0], results_root=tmp_path).ran


def test_reuse_needs_the_same_data(tmp_path):
    DATA.update(d1=_ident("old"))
    run_cells(_data_cells(methods=("a",)), data_job, "smoke", seeds=[0], results_root=tmp_path)
    other = [Cell("toy", "figure3", {"tau": 0.5}, _data_cells(methods=("a",))[0].config)]
    s = run_cells(other, data_job, "smoke", seeds=[0], results_root=tmp_path, reuse_from=("table1",))
    assert s.reused == s.ran == ["smoke/toy/figure3/0.5/seed0"]
    DATA["d1"] = _ident("new")
    other = [Cell("toy", "figure4", {"tau": 0.5}, _data_cells(methods=("a",))[0].config)]
    s = run_cells(other, data_job, "smoke", seeds=[0], results_root=tmp_path, reuse_from=("table1",))
    assert s.ran and not s.reused  # the table1 run trained on the old data: run, not copied
    assert load_records(tmp_path, "smoke", "toy", "figure4")[0]["extra"]["data_sha256"] == "new"


def test_job_protocol_is_explicit():
    """A Job names what the runner needs; a plain function is a Job without a dataset; half a data protocol,
    or a job that is no callable, is an error that says what to give."""
    j = as_job(det_job)
    assert j.run is det_job and j.data_spec is None and as_job(j) is j
    with pytest.raises(TypeError, match="both data_spec and data_identity"):
        Job(run=det_job, data_spec=_data_spec)
    with pytest.raises(TypeError, match="function"):
        as_job(42)
