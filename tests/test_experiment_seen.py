"""The runner's view of the records (common.running.store.seen_records): a records file is read once, then only what
was appended, and a record appended by another process, or a file rewritten by --force, is seen at the next
question."""

import subprocess
import sys
from pathlib import Path

import pytest

from common.running import store
from common.running.experiment import Cell, RunEnv, run_cells, run_once
from common.running.profiles import get_profile
from common.running.records import append_record, load_records, records_path, replace_record

ROOT = Path(__file__).resolve().parent.parent


def _rec(seed: int, score: float = 1.0, **extra) -> dict:
    return {
        "run_id": f"smoke/toy/t1/m/seed{seed}",
        "paper": "toy",
        "item": "t1",
        "keys": {"method": "m"},
        "seed": seed,
        "profile": "smoke",
        "config_hash": "abc",
        "threads": 1,
        "score": score,
        "curve": [{"step": 1, "score": score}],
        **extra,
    }


def _append_from_another_process(path: Path, record: dict) -> None:
    code = (
        "import json, sys; from common.running.records import append_record\n"
        "append_record(sys.argv[1], json.loads(sys.argv[2]))"
    )
    import json

    subprocess.run([sys.executable, "-c", code, str(path), json.dumps(record)], check=True, cwd=ROOT)


@pytest.fixture()
def reads(monkeypatch):
    """The bytes each read of the view returned, in order."""
    out: list[int] = []
    real = open

    class Counted:
        def __init__(self, *a, **kw):
            self.f = real(*a, **kw)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def seek(self, n):
            self.f.seek(n)

        def read(self, *a):
            data = self.f.read(*a)
            out.append(len(data))
            return data

    monkeypatch.setattr(store, "open", Counted, raising=False)
    return out


def test_a_file_is_read_once_then_only_what_was_appended(tmp_path, reads):
    path = records_path(tmp_path, "smoke", "toy", "t1")
    for s in range(3):
        append_record(path, _rec(s))
    view = store.seen_records(tmp_path, "smoke")
    assert view.records("toy", "t1") == load_records(tmp_path, "smoke", "toy", "t1")
    assert reads == [path.stat().st_size]
    view.finished("toy", "t1")
    view.of_run("toy", "t1", next(iter(view.finished("toy", "t1"))))
    assert reads == [path.stat().st_size]  # unchanged: nothing read
    before = path.stat().st_size
    _append_from_another_process(path, _rec(3, score=2.0))
    # the other process's record is seen
    assert [r["seed"] for r in view.records("toy", "t1")] == [0, 1, 2, 3]
    assert reads[1] == path.stat().st_size - before + store._CHECK  # only the appended bytes (and a check)
    assert view.records("toy", "t1") == load_records(tmp_path, "smoke", "toy", "t1")


def test_a_rewritten_file_is_read_again_and_a_partial_line_waits(tmp_path):
    path = records_path(tmp_path, "smoke", "toy", "t1")
    for s in range(3):
        append_record(path, _rec(s))
    view = store.seen_records(tmp_path, "smoke")
    assert len(view.records("toy", "t1")) == 3
    replace_record(path, _rec(1, score=5.0))  # --force: the file rewritten, the run's record last
    assert view.records("toy", "t1") == load_records(tmp_path, "smoke", "toy", "t1")
    assert [r["score"] for r in view.records("toy", "t1")] == [1.0, 1.0, 5.0]
    with open(path, "ab") as f:  # a writer part-way through its line
        f.write(b'{"run_id": "half')
    assert len(view.records("toy", "t1")) == 3
    append_record(path, _rec(4))  # the killed writer's fragment is skipped, the next record read
    with pytest.warns(UserWarning, match="skipping corrupt record"):
        got = view.records("toy", "t1")
    assert [r["seed"] for r in got] == [0, 2, 1, 4]
    with pytest.warns(UserWarning, match="skipping corrupt record"):
        assert got == load_records(tmp_path, "smoke", "toy", "t1")


def _once(cell, seed, ctx):
    ctx.log(1, score=float(seed))
    return {"score": float(seed)}


def test_a_run_recorded_by_another_process_after_planning_is_not_recorded_twice(tmp_path):
    """``run_once`` (a Ray task) planned with no record of its run: another process records it meanwhile (an earlier
    attempt that died after its record), so the task does not run it again, however long its view has been open."""
    env = RunEnv(get_profile("smoke"), tmp_path)
    cell = Cell("toy", "t2", {"method": "m"}, {"x": 1})
    assert env.seen.of_run("toy", "t2", env.own_key(cell, 0)) == []  # planned: 0 records
    other = tmp_path / "other"
    run_cells([cell], _once, "smoke", seeds=[0], results_root=other)  # the same run, recorded elsewhere ...
    (rec,) = load_records(other, "smoke", "toy", "t2")
    _append_from_another_process(env.records_path(cell), rec)  # ... and appended here by another process
    assert run_once(cell, 0, _once, env, 0) == (env.run_id(cell, 0), "ran", None)
    assert len(load_records(tmp_path, "smoke", "toy", "t2")) == 1  # not recorded twice
    assert run_once(cell, 0, _once, env, 1)[1] == "ran"  # as many as planned (--force): it runs
    assert len(load_records(tmp_path, "smoke", "toy", "t2")) == 2


def test_run_env_takes_a_profile_not_its_name(tmp_path):
    with pytest.raises(TypeError, match="RunEnv.profile must be a Profile"):
        RunEnv("smoke", tmp_path)
