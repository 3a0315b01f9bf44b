"""The Ray launcher (common/running/launchers.py, ``--launcher ray``) end to end on a local two-node Ray cluster: a
smoke item runs through it while two worker processes are killed (one just after its run's first
checkpoint, one just after its run's record was appended), and every record is present exactly once,
resumed where it was killed, and equal (scores, curves) to the same item run inline; then again with the
item's runs grouped (``--group 4``: a Ray task per group). Plus the checks
that need no cluster: a missing ray and a bad address fail before anything is written.

ray is the package's ``ray`` extra, which ``./run_tests.sh`` installs, so CI runs all of this."""

from __future__ import annotations

import os
import re

import pytest

from common.running import launchers
from common.running.experiment import Cell, run_cells
from common.running.records import load_records, plan_path
from common.running.roots import checkpoints_root

ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[ray]' (./run_tests.sh does)")

# OMAR Table 3 at smoke, 2 cells x 2 seeds: data made in ~10 s, runs of ~0.5 s with checkpoints every 5 updates
ITEM_ARGS = [
    "--profile",
    "smoke",
    "--env",
    "omar/spread",
    "--dataset",
    "random",
    "--method",
    "omar",
    "--method",
    "ma_td3bc",
    "--seeds",
    "0",
    "1",
    "--no-report",
]


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster: the head node and one worker node (a raylet each), one CPU each."""
    from ray.cluster_utils import Cluster

    small = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
    c = Cluster(initialize_head=True, connect=False, head_node_args={**small, "include_dashboard": False})
    try:
        c.add_node(**small)
        c.wait_for_nodes()
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


CHILD = "OFFMARL_RAY_TEST_CHILD"  # set in the fresh pytest process that runs the cluster test


def test_ray_cluster_run_survives_killed_workers():
    """The cluster test below, run in a fresh pytest process: the driver then starts from a clean interpreter,
    as a user's script does (measured: ~30 s alone, but ~200 s inside the whole suite's long-lived process)."""
    import subprocess
    import sys

    if os.environ.get(CHILD):
        pytest.skip("this is the child process: it runs the cluster test itself")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_cluster_run_in_a_fresh_process",
        ],
        env={**os.environ, CHILD: "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0 and re.search(r"(^|\s)1 passed", p.stdout), p.stdout[-4000:] + p.stderr[-2000:]


@pytest.mark.skipif(
    not os.environ.get(CHILD), reason="run by test_ray_cluster_run_survives_killed_workers in a fresh process"
)
def test_cluster_run_in_a_fresh_process(cluster, tmp_path, monkeypatch, capsys):
    from papers.omar import table3

    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CI", "1")
    inline_root = tmp_path / "inline"
    inline = table3.main([*ITEM_ARGS, "--results", str(inline_root)])
    assert inline.ok and len(inline.ran) == 4

    faults = tmp_path / "faults"
    faults.mkdir()
    monkeypatch.setenv(launchers.FAULT_ENV, str(faults))  # forwarded to the tasks by the launcher
    monkeypatch.setenv("OFFMARL_RESULTS", str(tmp_path / "runs"))  # the default results root
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray_args = [*ITEM_ARGS, "--launcher", "ray", "--address", cluster.address]
    summary = table3.main(ray_args)
    assert not ray.is_initialized()  # the launcher disconnects what it connected
    assert summary.ok and sorted(summary.ran) == sorted(inline.ran) and not summary.skipped, str(summary)

    # both fault points fired, each once, in a worker process (not here)
    pids = {p.name: int(p.read_text()) for p in faults.iterdir()}
    assert set(pids) == {"checkpoint", "record"} and os.getpid() not in pids.values()

    want = {r["run_id"]: r for r in load_records(inline_root, "smoke", "omar", "table3")}
    got = load_records(tmp_path / "runs", "smoke", "omar", "table3")
    assert sorted(r["run_id"] for r in got) == sorted(want)  # each run once: none lost, none twice
    for r in got:
        w = want[r["run_id"]]
        assert (r["score"], r["normalized"], r["curve"]) == (w["score"], w["normalized"], w["curve"]), r[
            "run_id"
        ]
        assert r["extra"]["data_sha256"] == w["extra"]["data_sha256"] and r["threads"] == w["threads"] == 1
    resumed = [r for r in got if r["resumed_from_step"] is not None]
    assert len(resumed) == 1 and resumed[0]["resumed_from_step"] == resumed[0]["config"]["ckpt_every"]
    assert all(w["resumed_from_step"] is None for w in want.values())
    assert not list(checkpoints_root(tmp_path / "runs", "smoke").rglob("*.pt"))  # none left behind

    capsys.readouterr()
    again = table3.main(ray_args)  # a finished (cell, seed) is skipped: nothing runs, nothing is appended
    assert not again.ran and len(again.skipped) == 4
    assert "ran 0, skipped 4" in capsys.readouterr().out
    assert len(load_records(tmp_path / "runs", "smoke", "omar", "table3")) == 4

    # the 4 runs grouped (--group 4: two Ray tasks, one per method, since the methods' learners differ), killed
    # after a group's first checkpoint (each run resumes from its own, where it has one) and after a group's
    # records; each record once, equal to the runs alone (grouping is bit-exact on the CPU)
    faults2 = tmp_path / "faults2"
    faults2.mkdir()
    monkeypatch.setenv(launchers.FAULT_ENV, str(faults2))
    grouped = table3.main([*ray_args, "--group", "4", "--results", str(tmp_path / "grouped")])
    assert grouped.ok and sorted(grouped.ran) == sorted(inline.ran) and grouped.groups == [2, 2], str(grouped)
    assert {p.name for p in faults2.iterdir()} == {"checkpoint", "record"}
    got = load_records(tmp_path / "grouped", "smoke", "omar", "table3")
    assert sorted(r["run_id"] for r in got) == sorted(want)
    for r in got:
        w = want[r["run_id"]]
        assert (r["score"], r["normalized"], r["curve"]) == (w["score"], w["normalized"], w["curve"]), r[
            "run_id"
        ]
    # the kill came at one run's first checkpoint: the retry resumes that run, its partner restarts
    assert sum(r["resumed_from_step"] is not None for r in got) == 1
    assert not list(checkpoints_root(tmp_path / "grouped", "smoke").rglob("*.pt"))


def _never(cell, seed, ctx):  # pragma: no cover - nothing may run in the tests below
    raise AssertionError("ran")


def _tiny(cell, seed, ctx):
    ctx.log(1, score=float(seed))
    return {"score": float(seed)}


CELLS = [Cell("t", "ray", {"method": "m"}, {"x": 1})]


def test_a_retry_never_records_twice(tmp_path):
    """``run_once`` (what a Ray task runs): a run with more records than the driver counted when it planned
    was recorded by an earlier attempt, so it is not run again and its leftover checkpoint goes; with as
    many records as counted (``--force``) it runs."""
    from common.running.experiment import RunEnv, run_once
    from common.running.profiles import get_profile

    env = RunEnv(get_profile("smoke"), tmp_path)
    cell = CELLS[0]
    assert run_once(cell, 3, _tiny, env, 0)[1] == "ran"
    ckpt = env.checkpoint_path(cell, 3)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(b"left by an attempt killed after its record")
    assert run_once(cell, 3, _tiny, env, 0) == (cell.run_id("smoke", 3), "ran", None)
    assert len(load_records(tmp_path, "smoke", "t", "ray")) == 1 and not ckpt.exists()
    assert run_once(cell, 3, _tiny, env, 1)[1] == "ran"  # forced: runs again
    assert len(load_records(tmp_path, "smoke", "t", "ray")) == 2


def test_missing_ray_names_the_extra_before_any_side_effect(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a)
    )
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[ray\]'"):
        run_cells(CELLS, _never, "smoke", seeds=[0], results_root=tmp_path, launcher="ray")
    assert not plan_path(tmp_path, "smoke", "t", "ray").exists()


@pytest.mark.parametrize(
    "address, message",
    [
        ("ray://10.0.0.5:10001", "Ray Client addresses"),
        ("10.0.0.5", "is not a Ray address"),
        ("head:99999", "is not a Ray address"),
        ("", "is not a Ray address"),
        ("auto ", None),
        ("[::1]:6379", None),
    ],
)
def test_addresses(address, message):
    if message is None:
        assert launchers.check_address(address) == address.strip()
    else:
        with pytest.raises(ValueError, match=message):
            launchers.check_address(address)


def test_bad_address_or_device_fails_before_any_side_effect(tmp_path, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "nohost")
    with pytest.raises(ValueError, match=r"\$RAY_ADDRESS 'nohost' is not a Ray address"):
        run_cells(CELLS, _never, "smoke", seeds=[0], results_root=tmp_path, launcher="ray")
    with pytest.raises(ValueError, match="Ray assigns each task its GPU"):
        run_cells(
            CELLS,
            _never,
            "smoke",
            seeds=[0],
            results_root=tmp_path,
            launcher="ray",
            address="local",
            device="cuda:1",
        )
    with pytest.raises(RuntimeError, match="no Ray cluster answers at 127.0.0.1:1"):  # not minutes of retries
        run_cells(
            CELLS, _never, "smoke", seeds=[0], results_root=tmp_path, launcher="ray", address="127.0.0.1:1"
        )
    with pytest.raises(ValueError, match="is for launcher='ray'"):
        run_cells(
            CELLS, _never, "smoke", seeds=[0], results_root=tmp_path, launcher="inline", address="local"
        )
    assert not plan_path(tmp_path, "smoke", "t", "ray").exists()
