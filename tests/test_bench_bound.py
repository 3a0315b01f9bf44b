"""common/bench/bound.py's matmul bound (OMAR's and SAC's updates) at a tiny size: the replay holds every FLOP of the update (torch's counter
counts only matmuls here), in the recorded layouts; no timing assertions. And the hot paths --all --baseline times
in both trees (common/bench/baseline.py TREE_PATHS)."""

import pytest
import torch

from common.algos.itd3_config import ITD3Config
from common.bench.bound import bound_line, replay_args
from common.bench.core import REPO
from common.bench.itd3 import algo_cfg, matmul_bound
from common.bench.sac import sac_bound

TINY = dict(n_seeds=2, n_agents=2, obs_dim=4, act_dim=2)
TINY_CFG = ITD3Config(
    hidden=8, batch_size=16, cql_n_actions=3, omar_iters=2, omar_n_samples=4, omar_n_elites=2
)


def test_matmul_bound_replays_every_flop_of_the_update():
    r = matmul_bound(algo_cfg(TINY_CFG, "OMAR"), TINY, reps=1)
    # critic: TD target (target twin), Q(o, a), CQL's K actions, forward and backward; actor: search, Q1(o, pi(o))
    assert r["matmul_calls"] > 20
    assert r["matmul_gflop"] == pytest.approx(r["gflop_per_update"], rel=1e-12)
    for k in ("update_s", "matmul_s", "peak_gflops", "update_pct", "matmul_pct", "bound_pct"):
        assert r[k] > 0, k
    assert "matmuls alone" in bound_line(r)


def test_sac_bound_replays_every_flop_of_its_update():
    r = sac_bound(n_members=1, hidden=(8, 8), batch_size=16, reps=1)
    # 2 critics and 2 targets, the actor: forward and backward products; torch counts no other FLOP here
    assert r["matmul_calls"] > 10
    assert r["matmul_gflop"] == pytest.approx(r["gflop_per_update"], rel=1e-12)
    for k in ("update_s", "matmul_s", "peak_gflops", "update_pct", "matmul_pct", "bound_pct"):
        assert r[k] > 0, k  # no timing order: at this size, under load, the update can out-run its own bound


def test_replay_keeps_the_recorded_layout():
    t = torch.randn(3, 5, 7).transpose(1, 2)  # a transposed view, as autograd's weight-gradient products take
    (a,) = replay_args([(tuple(t.shape), t.stride())], torch.Generator().manual_seed(0), torch.device("cpu"))
    assert a.shape == t.shape and a.stride() == t.stride()


def test_tree_paths_name_worker_paths_and_their_sizes():
    from common.bench.baseline import TREE_PATHS
    from common.bench.worker import PATHS

    # --all --baseline compares SAC and OMAR (common's paths) and the papers' hot paths (their builder files)
    assert {tp.path for tp in TREE_PATHS if tp.builder is None} == set(PATHS)
    assert all((REPO / tp.builder).is_file() for tp in TREE_PATHS if tp.builder is not None)
    labels = [tp.label(False) for tp in TREE_PATHS]
    assert labels == [
        "SAC update, rlkit size, 1 member",
        "SAC update, rlkit size, 4 members",
        "OMAR update, MPE size, 15 members",
        "MOMA-PPO iteration, Reacher quick size, 6 members",
        "CAST-BCQ update, Hopper 3x1 quick size, 9 members",
    ]
    assert TREE_PATHS[2].label(True) == "OMAR update, tiny size, 4 members"
    assert TREE_PATHS[2].sized(True)["hidden"] == 8 and "hidden" not in TREE_PATHS[2].sized(False)


def test_cast_and_moma_bounds_replay_every_flop():
    """The paper benches' bounds (CAST-BCQ's update, MOMA-PPO's iteration) at their quick sizes, one round."""
    from papers.cast_bcq.bench import cast_bound
    from papers.moma_ppo.bench_bound import iteration_bound

    for r in (
        cast_bound("hopper-3x1", "quick", 1, reps=1),
        iteration_bound("reacher-2x1", "quick", 1, reps=1),
    ):
        assert r["matmul_gflop"] == pytest.approx(r["gflop_per_update"], rel=1e-9)
        assert r["matmul_calls"] > 50 and r["update_s"] > 0 and r["bound_pct"] > 0
    with pytest.raises(ValueError, match="unknown task 'x'"):
        iteration_bound("x")
