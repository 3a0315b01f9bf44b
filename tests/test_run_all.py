"""``./run_all.sh``'s first run (issue 62), cheaply: its plan, its progress events, --force replacing records,
failures said once, a stop that says how to resume, each committed smoke reference against the code's grid, and
``--jobs J``'s items side by side (common.running.item_schedule: which may run together, which first).

Item runs are faked (a venv python that answers for papers/*) or replaced by toy jobs; planning is real (every
item script's own ``main`` under ``common.running.cli.planning``: a few seconds for all 31)."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from common.running import cli
from common.running.experiment import Cell, run_cells
from common.running.item_schedule import Schedule, data_env, item_envs, measured_per_run, simulate
from common.running.progress import (
    LogLines,
    RunFailure,
    failures_text,
    progress_bar,
    progress_every,
    read_progress,
    report_progress,
)
from common.running.records import append_record, canonical_json, is_claim, load_records, replace_record
from common.running.roots import REFERENCE_ROOT
from common.running.run_all import Item, Stop, parse_args, plan_items, print_plan, stopped_message

ROOT = Path(__file__).resolve().parent.parent
ITEMS = sorted(
    str(p.relative_to(ROOT))
    for pat in ("table*.py", "figure*.py", "ablations*.py")
    for p in (ROOT / "papers").glob(f"*/{pat}")
)
# Cells of the code's smoke grid that a committed smoke reference lacks, and why (issue 62, point 5): none since
# MOMA-PPO's Table 4b, Figure 6 and ablations smoke references were regenerated together on one data generation.
MISSING_IN_SMOKE_REFERENCE: dict[tuple[str, str], set[str]] = {}


@pytest.fixture(scope="module")
def smoke_plans():
    return plan_items(
        [str(ROOT / f) for f in ITEMS], ["--profile", "smoke", "--results", "/nonexistent/offmarl"]
    )


def test_every_item_plans_without_running(smoke_plans):
    assert [f"{p.plan.paper}/{p.plan.item}" for p in smoke_plans] == [
        f"{Path(f).parent.name}/{Path(f).stem}" for f in ITEMS
    ]
    for it in smoke_plans:
        p = it.plan
        assert p.needs or (p.cells == p.grid == len(p.grid_keys) > 0 and p.runs == p.cells * len(p.seeds)), p
        assert p.done == 0 and p.todo == p.runs  # nothing recorded in an empty results root
    assert "OFFMARL_PLAN_ONLY" not in os.environ


def test_smoke_references_hold_the_codes_grid(smoke_plans):
    """Each committed smoke reference (results/smoke/<paper>/<item>.jsonl) has a record for every (cell, seed) of the
    code's smoke grid and no cell outside it, but for the cells marked in MISSING_IN_SMOKE_REFERENCE."""
    problems = []
    for it in smoke_plans:
        p = it.plan
        if p.needs:
            continue
        recs = [r for r in load_records(REFERENCE_ROOT, "smoke", p.paper, p.item) if not is_claim(r)]
        have = {(canonical_json(r["keys"]), r["seed"]) for r in recs}
        missing_ok = MISSING_IN_SMOKE_REFERENCE.get((p.paper, p.item), set())
        want = {(k, s) for k in p.grid_keys if k not in missing_ok for s in p.seeds}
        if want - have:
            problems.append(f"{p.paper}/{p.item}: no record for {sorted(want - have)[:4]}")
        extra = {k for k, _ in have} - set(p.grid_keys)
        if extra:
            problems.append(f"{p.paper}/{p.item}: cells outside the code's grid {sorted(extra)[:4]}")
        still = {k for k, _ in have} & missing_ok
        if still:
            problems.append(f"{p.paper}/{p.item}: {sorted(still)} recorded now: drop the mark")
    assert not problems, "\n".join(problems)


def test_plan_counts_finished_runs_and_predicts_from_measured_times(tmp_path, capsys):
    res = tmp_path / "res"
    base = res / "smoke" / "omar"
    base.mkdir(parents=True)
    items = plan_items([str(ROOT / "papers/omar/table1.py")], ["--profile", "smoke", "--results", str(res)])
    assert (items[0].plan.runs, items[0].plan.done) == (6, 0)
    assert not list(res.rglob("*.json*"))  # planning writes nothing
    # one finished run on record: 5 left; with --force, all 6
    ref = load_records(REFERENCE_ROOT, "smoke", "omar", "table1")  # a run as this code makes it
    append_record(base / "table1.jsonl", next(r for r in ref if r["seed"] == 0))
    again = plan_items([str(ROOT / "papers/omar/table1.py")], ["--profile", "smoke", "--results", str(res)])
    assert again[0].plan.done == 1 and again[0].plan.todo == 5
    forced = plan_items(
        [str(ROOT / "papers/omar/table1.py")], ["--profile", "smoke", "--results", str(res), "--force"]
    )
    assert forced[0].plan.todo == 6
    # prediction: the last invocation's wall time over the runs it ran
    (base / "table1.plan.json").write_text(
        json.dumps({"cells": [], "last_run": {"wall_s": 60.0, "runs": 6, "finished": "2026-01-02T00:00"}})
    )
    assert measured_per_run(res, "smoke", "omar", "table1") == (10.0, "2026-01-02")
    it = again[0]
    it.per_run_s, it.basis = 10.0, "here 2026-01-02"
    print_plan([it], parse_args(["--profile", "smoke"]), tmp_path / "logs")
    out = capsys.readouterr().out
    assert "1 items, 3 cells, 6 runs (5 to run, 1 finished before)" in out
    assert (
        "3 cells x 2 seeds = 6 runs, 5 to run  ~50 s (here 2026-01-02)" in out
        and "predicted time: 50 s" in out
    )


def test_driver_checks_arguments_before_importing_torch():
    code = (
        "import sys\nfrom common.running.run_all import parse_args\ntry:\n    parse_args(['--device', 'tpu'])\n"
        "except SystemExit as e:\n    print('exit', e.code, 'torch' in sys.modules)\n"
    )
    t0 = time.time()
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "exit 2 False" and "unknown device 'tpu'" in p.stderr, p.stdout + p.stderr
    assert time.time() - t0 < 15


def _fake_env(tmp_path, cases: str) -> dict:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "python"
    fake.write_text(f'#!/bin/sh\ncase "$1" in\n{cases}esac\nexec {sys.executable} "$@"\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "OFFMARL_PY"}
    env.update(OFFMARL_VENV=str(venv), OFFMARL_NO_INSTALL="1", OFFMARL_DATA=str(tmp_path / "data"))
    return env


def test_device_cuda_is_passed_through_or_refused_clearly(tmp_path):
    import torch

    log = tmp_path / "argv.txt"
    env = _fake_env(tmp_path, f'  papers/*) echo "$@" >> {log}; exit 0;;\n')
    p = subprocess.run(
        [
            "bash",
            "run_all.sh",
            "--profile",
            "smoke",
            "--item",
            "omar/table1",
            "--device",
            "cuda",
            "--results",
            str(tmp_path / "runs"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    if torch.cuda.is_available():
        assert p.returncode == 0 and "--device cuda" in log.read_text(), p.stdout + p.stderr
    else:
        assert p.returncode == 2 and "torch.cuda.is_available() is False" in p.stderr, p.stdout + p.stderr
        assert not log.exists()


def test_sigterm_stops_the_running_items_and_says_how_to_resume(tmp_path):
    env = _fake_env(tmp_path, "  papers/*) exec sleep 60;;\n")
    cmd = [
        "bash",
        "run_all.sh",
        "--profile",
        "smoke",
        "--jobs",
        "2",
        "--item",
        "omar/table1",
        "--item",
        "omar/table2",
        "--item",
        "otc/figure7",
        "--results",
        str(tmp_path / "runs"),
    ]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in p.stdout:  # the plan first, then two items start (omar/table2 waits for omar/table1)
        lines.append(line)
        if line.startswith("(planned in"):
            break
    time.sleep(1.5)
    p.send_signal(signal.SIGTERM)
    out = "".join(lines) + p.stdout.read()
    assert p.wait(timeout=60) == 128 + signal.SIGTERM, out
    assert "run_all.sh plan: profile smoke, 3 items, 8 cells, 16 runs (16 to run" in out
    assert "up to 2 items at a time" in out
    assert "stopped by SIGTERM" in out and "finished items (0/3): none" in out
    assert (
        "stopped in: omar/table1 (0/6 of its runs recorded), otc/figure7 (0/4 of its runs recorded); not started: "
        "omar/table2"
    ) in out
    assert (
        "The same command resumes" in out
        and "./run_all.sh --profile smoke --jobs 2 --item omar/table1" in out
    )
    ps = subprocess.run(["pgrep", "-f", "sleep 60"], capture_output=True, text=True).stdout.split()
    children = [
        x
        for x in ps
        if Path(f"/proc/{x}/environ").exists()
        and str(tmp_path).encode() in Path(f"/proc/{x}/environ").read_bytes()
    ]
    assert not children  # the items' processes were stopped with it


def test_stopped_message_lists_what_finished(capsys):
    a = parse_args(["--command", "./run_all.sh --profile quick"])
    done = Item(
        "papers/omar/table1.py", cli.ItemPlan("omar", "table1", runs=6), events=[{}] * 6, state="done"
    )
    cut = Item(
        "papers/omar/table2.py", cli.ItemPlan("omar", "table2", runs=6), events=[{}] * 2, state="stopped"
    )
    also = Item("papers/otc/table1.py", cli.ItemPlan("otc", "table1", runs=4), state="stopped")
    rest = Item("papers/omar/table3.py", cli.ItemPlan("omar", "table3", runs=6))
    assert stopped_message(Stop(signal.SIGINT), [done, cut, rest, also], a, 5.0) == 130
    out = capsys.readouterr().out
    assert "stopped by SIGINT after 5 s" in out and "finished items (1/4): omar/table1\n" in out
    assert (
        "stopped in: omar/table2 (2/6 of its runs recorded), otc/table1 (0/4 of its runs recorded); not started: "
        "omar/table3\n"
    ) in out
    assert "8 runs recorded in this invocation" in out and out.rstrip().endswith(
        "./run_all.sh --profile quick"
    )


def _items(spec: str) -> list[SimpleNamespace]:
    """Toy items from ``"paper/item:seconds:env,env ..."`` (no env: unknown), in the listed order."""
    out = []
    for word in spec.split():
        name, secs, envs = word.split(":")
        paper, item = name.split("/")
        out.append(
            SimpleNamespace(
                name=name,
                plan=SimpleNamespace(paper=paper, item=item),
                predicted_s=float(secs),
                envs=frozenset(envs.split(",")) if envs else None,
            )
        )
    return out


def _names(ready) -> list[tuple[str, int]]:
    return [(it.name, k) for it, k in ready]


def test_schedule_keeps_a_papers_order_and_apart_the_items_on_one_environment():
    a1, a2, b1, c1, c2 = _items("a/t1:10:x a/t2:50:y b/t1:30:x c/t1:5:z c/t2:5:w")
    s = Schedule([a1, a2, b1, c1, c2], 2)
    # the most work left first: paper a (60 s) then b (30 s); b/t1 shares x with a/t1, so c/t1 starts beside it
    assert _names(s.ready()) == [("a/t1", 1), ("c/t1", 1)]
    for it, k in s.ready():
        s.start(it, k)
    assert s.ready() == []  # full
    s.finish(c1)
    assert _names(s.ready()) == [("c/t2", 1)]  # not a/t2 (a/t1 runs), not b/t1 (x in use)
    s.start(c2)
    s.finish(a1)
    assert _names(s.ready()) == [("a/t2", 1)]  # a's rest (50 s) before b's (30 s)
    s.start(a2)
    s.finish(c2)
    assert _names(s.ready()) == [("b/t1", 1)]  # x free now
    s.start(b1)
    assert s.waiting == [] and s.ready() == []


def test_schedule_runs_an_unknown_item_alone_and_gives_a_last_paper_every_slot():
    u, a1, b1, b2 = _items("u/t1:99: a/t1:10:x b/t1:10:y b/t2:10:z")
    s = Schedule([u, a1, b1, b2], 3)
    assert _names(s.ready()) == [("u/t1", 3)]  # nothing else may start beside it: it gets every slot
    s.start(u, 3)
    assert s.ready() == []
    s.finish(u)
    assert _names(s.ready()) == [("b/t1", 1), ("a/t1", 1)]
    s.start(b1)
    s.start(a1)
    s.finish(a1)
    assert s.ready() == []  # b/t2 waits for b/t1
    s.finish(b1)
    assert _names(s.ready()) == [("b/t2", 3)]  # one paper left: its item gets the three slots
    one = Schedule(_items("b/t1:1:y a/t1:50:x"), 1)
    assert _names(one.ready()) == [("b/t1", 1)]  # one slot: the listed order
    with pytest.raises(ValueError, match="slots 0"):
        Schedule([], 0)


def test_simulated_wall_time_of_the_schedule():
    items = _items("a/t1:10:x a/t2:50:y b/t1:30:x c/t1:5:z c/t2:5:w")
    assert simulate(items, 1) == 100.0
    # a/t1 + c/t1 at 0; c/t2 at 5; a/t2 at 10 (to 60), b/t1 at 10 (to 40): 60 s
    assert simulate(items, 2) == 60.0
    assert simulate(_items("a/t1:10:x a/t2:20:x"), 2) == 30.0  # one paper: nothing side by side


def test_item_envs_come_from_records_and_grid_with_a_robots_sac_group(tmp_path):
    assert (
        data_env("mamujoco/walker2d-2x3")
        == data_env("mamujoco/halfcheetah-6x1")
        == "mamujoco/halfcheetah+walker2d"
    )
    assert data_env("mamujoco/hopper-3x1") == "mamujoco/hopper" and data_env("smax/2s3z") == "smax/2s3z"
    base = tmp_path / "quick" / "p"
    base.mkdir(parents=True)
    recs = [
        {"keys": {"m": "a"}, "config": {"dataset": {"env": "mamujoco/walker2d-2x3", "kind": "medium"}}},
        {"keys": {"claim": "c"}, "config": {}},
        {"keys": {"m": "b"}, "config": {"dataset": "not a dict"}},
    ]
    (base / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs) + '{"dataset": corrupt\n')
    plan = cli.ItemPlan(
        "p", "t", grid_keys=[canonical_json({"env": "smax/3m", "m": "a"}), canonical_json({"m": "b"})]
    )
    assert item_envs([tmp_path], plan) == {"mamujoco/halfcheetah+walker2d", "smax/3m"}
    assert (
        item_envs([tmp_path / "none"], cli.ItemPlan("p", "t", grid_keys=[canonical_json({"m": "a"})])) is None
    )


def test_every_smoke_item_has_known_environments(smoke_plans):
    """The committed smoke reference names each item's datasets: no item has to run alone (rule 3), and the items
    of two papers that build one MuJoCo SAC group's data are kept apart."""
    envs = {f"{it.plan.paper}/{it.plan.item}": item_envs([REFERENCE_ROOT], it.plan) for it in smoke_plans}
    assert all(envs.values()), [k for k, v in envs.items() if not v]
    assert "mamujoco/halfcheetah+walker2d" in envs["cast_bcq/figure4"] & envs["otc/table2"]


def test_items_of_two_papers_run_side_by_side_but_never_on_one_environment(tmp_path):
    """Through run_all.sh with fake items that log their start and end: with --jobs 2, items of two papers overlap,
    while a paper's items, and CAST-BCQ's and OTC's MuJoCo items (one SAC group's data), never do."""
    log = tmp_path / "times.txt"
    env = _fake_env(
        tmp_path,
        f'  papers/*) echo "$1 start $(date +%s.%N)" >> {log}; sleep 1; '
        f'echo "$1 end $(date +%s.%N)" >> {log}; exit 0;;\n',
    )
    items = ["omar/table1", "omar/table2", "cast_bcq/figure4", "otc/table1", "otc/figure7"]
    cmd = ["bash", "run_all.sh", "--profile", "smoke", "--jobs", "2", "--results", str(tmp_path / "runs")]
    p = subprocess.run(
        cmd + [x for i in items for x in ("--item", i)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    span: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        script, what, t = line.split()
        span.setdefault(f"{Path(script).parent.name}/{Path(script).stem}", []).append(float(t))
    assert sorted(span) == sorted(items) and all(len(v) == 2 for v in span.values())

    def overlap(x, y):
        return span[x][0] < span[y][1] and span[y][0] < span[x][1]

    assert not overlap("omar/table1", "omar/table2") and not overlap("otc/table1", "otc/figure7")
    assert span["omar/table1"][1] <= span["omar/table2"][0]  # the listed order within a paper
    assert not overlap("cast_bcq/figure4", "otc/table1")
    assert any(overlap(x, y) for x in items for y in items if x.split("/")[0] != y.split("/")[0])
    assert "ran     papers/otc/figure7.py" in p.stdout and "=== report" in p.stdout


def test_progress_events_round_trip(tmp_path, monkeypatch):
    path = tmp_path / "progress.jsonl"
    monkeypatch.setenv("OFFMARL_PROGRESS", str(path))
    report_progress(
        [("smoke/omar/table1/a/seed0", "ran", None), ("smoke/omar/table1/b/seed0", "failed", "E: x")]
    )
    with open(path, "a") as f:
        f.write('{"run_id": "half')  # a line being written: read next time
    events, off = read_progress(path)
    assert [e["status"] for e in events] == ["ran", "failed"] and events[1]["reason"] == "E: x"
    assert read_progress(path, off) == ([], off)


def test_a_runs_progress_in_a_log_is_a_line_every_period_and_one_at_the_end(monkeypatch, capsys):
    import io

    now = [0.0]
    out = io.StringIO()
    with LogLines(40_000, "smoke/x/seed0", every=600, clock=lambda: now[0], stream=out) as bar:
        for _ in range(4):
            now[0] += 300.0  # 1,000 updates every 300 s: a line after the second and the fourth
            bar.update(1_000)
    lines = out.getvalue().splitlines()
    assert lines == [
        "smoke/x/seed0: 2,000/40,000 (5 %), 10.0 min elapsed, ETA 3.2 h",
        "smoke/x/seed0: 4,000/40,000 (10 %), 20.0 min elapsed, ETA 3.0 h",
        "smoke/x/seed0: 4,000/40,000 (10 %), 20.0 min elapsed, ETA 3.0 h",  # the end's
    ]
    quiet = io.StringIO()
    with LogLines(10, "short", every=600, clock=lambda: 0.0, stream=quiet) as bar:
        bar.update(10)
    assert quiet.getvalue() == ""  # a run of seconds writes nothing
    now[0], ended = 0.0, io.StringIO()
    with LogLines(10, "deployment 3/10", every=600, clock=lambda: now[0], stream=ended) as bar:
        now[0] = 61.0
        bar.update(10)
    assert (
        ended.getvalue() == "deployment 3/10: 10/10 (100 %), 61 s elapsed, ETA 0 s\n"
    )  # a tenth of the period
    monkeypatch.delenv("CI", raising=False)
    for raw, every in (("", 600.0), ("30", 30.0), ("0", 0.0)):
        monkeypatch.setenv("OFFMARL_PROGRESS_EVERY", raw)
        assert progress_every() == every
    for bad in ("ten", "-5", "inf", "nan"):
        monkeypatch.setenv("OFFMARL_PROGRESS_EVERY", bad)
        with pytest.raises(ValueError, match=f"OFFMARL_PROGRESS_EVERY='{bad}' is not allowed"):
            progress_every()
    monkeypatch.setenv("OFFMARL_PROGRESS_EVERY", "30")
    assert isinstance(progress_bar(5, "x"), LogLines)  # pytest's stderr is not a terminal
    monkeypatch.setenv("CI", "1")
    assert not isinstance(progress_bar(5, "x"), LogLines)


def test_force_replaces_the_runs_record_atomically(tmp_path):
    path = tmp_path / "t.jsonl"
    rec = {
        "paper": "p",
        "item": "t",
        "keys": {"m": "a"},
        "seed": 0,
        "profile": "smoke",
        "score": 1.0,
        "threads": 1,
    }
    append_record(path, rec)
    append_record(path, {**rec, "keys": {"m": "b"}})
    append_record(path, {**rec, "keys": {"claim": "c"}, "seed": None})
    with open(path, "a") as f:
        f.write("{corrupt\n")
    before = path.read_text().splitlines()
    assert replace_record(path, {**rec, "score": 2.0}) == 1
    after = path.read_text().splitlines()
    assert after[:3] == before[1:] and json.loads(after[3])["score"] == 2.0 and len(after) == 4
    assert replace_record(path, {**rec, "threads": 2}) == 0  # another thread count: another run, appended
    assert len(path.read_text().splitlines()) == 5
    assert not [p for p in tmp_path.iterdir() if p.name != "t.jsonl"]  # no temporary left


def _same_failure(cell, seed, ctx):
    raise ValueError("dataset d1 is corrupt; to regenerate it, run: make-d1")


def test_a_failure_shared_by_all_runs_is_said_once(tmp_path, caplog):
    cells = [Cell("toy", "t", {"m": f"m{k}"}, {"v": k}) for k in range(4)]
    s = run_cells(cells, _same_failure, "smoke", seeds=[0, 1], results_root=tmp_path)
    assert len(s.failed) == 8
    text = str(s)
    assert (
        text.count("dataset d1 is corrupt") == 1 and "FAILED 8 runs with the same error: ValueError" in text
    )
    assert caplog.text.count("Traceback (most recent call last)") == 1
    assert caplog.text.count("failed: ValueError: dataset d1 is corrupt") == 1  # the first run's line
    assert caplog.text.count("failed with the same error as run smoke/toy/t/m0/seed0") == 7
    assert "Failed after" not in caplog.text  # Sacred's own line per failed run
    reason = s.failed[0][1]
    assert pickle.loads(pickle.dumps(reason)).traceback == reason.traceback != ""  # travels from a worker
    assert failures_text([("r1", RunFailure("E: a")), ("r2", "E: b")]) == "FAILED r1: E: a\nFAILED r2: E: b"


def test_plan_only_prints_the_plan_and_runs_nothing(tmp_path, capsys):
    from common.running.run_all import main

    res = tmp_path / "res"
    assert (
        main(
            ["--plan", "--profile", "smoke", "--results", str(res), "--", str(ROOT / "papers/omar/table1.py")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "1 items, 3 cells, 6 runs (6 to run, 0 finished before)" in out and "planned in" in out
    assert not list(res.rglob("*.jsonl")) and not (res / "smoke" / "logs").exists()  # nothing ran, no log
