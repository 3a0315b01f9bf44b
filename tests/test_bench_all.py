"""The honest benchmark (issue 63): the peak is a median of >= 30 readings with its spread, ``--all --quick`` runs
every paper's entry and writes the page with machine, versions, load and a row per hot path (each ratio measured in
that run), ``--baseline REV`` times a hot path of this tree against REV's in worker processes and removes its git
worktree, and the command line's option checks. No timing assertions: rates only positive."""

import subprocess

import pytest

from common import bench
from common.bench import suite
from common.bench.baseline import compare_trees, worktree
from common.bench.core import REPO, Peak, machine_info, machine_slug


def test_peak_is_a_median_of_many_readings_with_its_spread():
    p = Peak("cpu", rows=64, width=16).read(5)
    s = p.spread()
    assert s["n"] == 5 and s["min"] <= s["q1"] <= s["median"] <= s["q3"] <= s["max"]
    assert s["median"] == p.median > 0
    assert "of 5 readings (min" in p.describe() and "IQR" in p.describe()
    assert bench.MIN_PEAK_READINGS >= 30
    assert bench.matmul_peak_gflops(reps=2, rows=64, width=16) > 0  # reads max(2, 30) times
    assert not hasattr(bench, "OFFICIAL_AGENT_UPDATES_PER_S")  # no anchor from another day in a printed ratio


def test_machine_page_names_and_render():
    info = machine_info("cpu")
    for k in ("cpu", "python", "torch", "numpy", "date", "commit", "load"):
        assert info[k], k
    assert (
        machine_slug({"gpu": "", "cpu": "AMD EPYC 7B13 64-Core Processor"})
        == "amd-epyc-7b13-64-core-processor"
    )
    assert machine_slug({"gpu": "NVIDIA H100 80GB HBM3", "cpu": "x"}) == "nvidia-h100-80gb-hbm3"
    peak = Peak("cpu", rows=64, width=16).read(3)
    rows = [
        suite.Row("a path", 12.5, "updates/s", 5.0, 1.5, "a loop"),
        suite.Row("b path", 3.0, "updates/s", None, 1.2, "plain BCQ"),
    ]
    res = {
        "before": info,
        "after": info,
        "peak": peak,
        "rows": rows,
        "failed": {"x": "ValueError: no"},
        "wall_s": 1.0,
        "quick": False,
    }
    page = suite.render(res, "python -m common.bench --all")
    assert "| hot path" in page and "| against (same run)" in page
    assert f"{100 * 5.0 / peak.median:.0f} %" in page and "1.50×" in page and "| –" in page
    assert "**x failed**: ValueError: no" in page and info["load"] in page and "tiny sizes" not in page


def test_all_quick_runs_every_entry_and_writes_the_page(tmp_path, capsys):
    res = bench.main(["--all", "--quick", "--out", str(tmp_path)])
    assert not res["failed"], res["failed"]
    paths = [r.path for r in res["rows"]]
    for name in (
        "OMAR update",
        "MA-CQL update",
        "MA-TD3+BC update",
        "SAC update",
        "SAC behavior step",
        "members as cells",
        "MOMA-PPO world-model",
        "MOMA-PPO iteration",
        "MOMA-PPO iteration (Reacher, tiny size, 2 seeds), compiled step",
        "CAST-BCQ update",
        "OTC update bcq_otc_de",
        "OTC update bcq_otc_dq",
    ):
        assert any(p.startswith(name) for p in paths), name
    for r in res["rows"]:
        assert r.rate > 0 and r.ratio > 0 and r.against, r
    assert len(res["peak"].readings) >= 3 + len(suite.ENTRIES) + 3
    page = (tmp_path / f"{machine_slug(res['before'])}-quick.md").read_text()
    assert page == open(res["page"]).read()
    assert "tiny sizes" in page and "load average" in page and "torch" in page and "readings (min" in page


def test_baseline_times_both_trees_and_removes_its_worktree():
    size = dict(members=1, obs_dim=5, act_dim=3, hidden=[16, 16], batch_size=32)
    peaks = []
    r = compare_trees("sac", "HEAD", size, n_calls=1, reps=2, between=lambda: peaks.append(1))
    assert r["new_per_s"] > 0 and r["old_per_s"] > 0 and len(peaks) == 2
    assert r["ratio"] == pytest.approx(r["new_per_s"] / r["old_per_s"])
    assert r["new_gflop_per_call"] > 0
    listed = subprocess.run(["git", "worktree", "list"], cwd=REPO, capture_output=True, text=True).stdout
    assert "bench-baseline-" not in listed
    with pytest.raises(ValueError, match="is not a commit"):
        with worktree("no-such-rev-63"):
            pass
    with pytest.raises(ValueError, match="unknown hot path 'nope'"):
        compare_trees("nope", "HEAD", size, 1, 1)
    with pytest.raises(ValueError, match="is not a file"):
        compare_trees("nope", "HEAD", size, 1, 1, builder="papers/nope/bench_step.py")


def test_a_papers_hot_path_is_built_in_both_trees_by_the_current_trees_builder():
    """CAST-BCQ's update (papers/cast_bcq/bench_step.py) at tiny sizes, HEAD against HEAD: each worker loads the
    builder file and imports its own tree's modules (the worker checks where ``common`` came from)."""
    from common.bench.baseline import TREE_PATHS

    tp = next(t for t in TREE_PATHS if t.path == "cast-bcq")
    r = compare_trees(tp.path, "HEAD", tp.sized(True), n_calls=1, reps=1, builder=tp.builder)
    assert r["new_per_s"] > 0 and r["old_per_s"] > 0
    assert r["new_gflop_per_call"] == r["old_gflop_per_call"] > 0  # the same step in both trees


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--baseline", "HEAD"], "--baseline HEAD is an option of --sac or --all"),
        (["--out", "x"], "--out x is an option of --all"),
        (["--all", "--reps", "2"], "--all sets its own rounds"),
        (["--all", "--sac"], "give one of --all, --sac, --members"),
    ],
)
def test_bench_options_are_checked(argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.main(argv)
    assert message in capsys.readouterr().err


def test_device_check_script_names_every_gpu_only_test():
    """scripts/device_check.sh is valid bash, runs every test that skips without CUDA (a new GPU test left out of it
    fails here), and the node ids it names exist."""
    import re

    script = (REPO / "scripts" / "device_check.sh").read_text()
    assert subprocess.run(["bash", "-n", str(REPO / "scripts" / "device_check.sh")]).returncode == 0
    named = re.findall(r"tests/(test_\w+\.py)(?:::(\w+))?", script)
    for f, fn in named:
        text = (REPO / "tests" / f).read_text()
        assert "cuda.is_available()" in text, f
        assert not fn or f"def {fn}(" in text, (f, fn)
    files = {f for f, _ in named}
    for path in sorted((REPO / "tests").glob("test_*.py")):
        if re.search(r"skipif\(\s*not torch\.cuda\.is_available\(\)", path.read_text()):
            assert path.name in files, (
                f"{path.name} has GPU-only tests that scripts/device_check.sh does not run"
            )
    for piece in (
        "common.bench --all --device",
        "torch.cuda.is_available()",
        "papers/otc/table2.py",
        "papers.cast_bcq.bench",
        "papers.moma_ppo.bench",
        "DEADLINE",
    ):
        assert piece in script, piece
