"""common/bench.py at a tiny size (rates positive, no timing assertions), and the member chunking it
measures (common/networks/chunking.py CHUNK_BYTES) equal to the plain batched path."""

import pytest
import torch

from common import bench
from common.algos.itd3_config import ITD3Config
from common.networks import chunking, heads
from common.running.runtime import check_device

TINY = dict(n_seeds=2, n_agents=2, obs_dim=4, act_dim=2)
TINY_CFG = ITD3Config(
    hidden=8, batch_size=16, cql_n_actions=3, omar_iters=2, omar_n_samples=4, omar_n_elites=2
)


def _positive(r):
    for k in (
        "batched_updates_per_s",
        "unchunked_updates_per_s",
        "loop_updates_per_s",
        "ratio_vs_loop",
        "batched_agent_updates_per_s",
        "gflop_per_update",
        "batched_gflops",
    ):
        assert r[k] > 0, k


def test_bench_functions_tiny():
    assert bench.matmul_peak_gflops(reps=2, rows=64, width=16) > 0
    res = bench.mpe_suite(size=TINY, cfg=TINY_CFG, n_updates=1, reps=1)
    assert set(res) == set(bench.ALGOS)
    for r in res.values():
        _positive(r)
    mj = bench.mujoco_suite(
        size=TINY,
        cfg=ITD3Config(
            hidden=8,
            batch_size=16,
            cql_proposal="mujoco",
            cql_n_actions=3,
            omar_sampler="cem",
            omar_iters=2,
            omar_n_samples=4,
            omar_n_elites=2,
        ),
        n_updates=1,
        reps=1,
    )
    _positive(mj)


def test_device_is_checked_with_a_clear_error(capsys):
    with pytest.raises(ValueError, match=r"unknown device 'tpu'; valid devices: cpu, cuda"):
        check_device("tpu")
    assert check_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch.cuda.is_available\\(\\) is False"):
            bench.compare(bench.algo_cfg(TINY_CFG, "OMAR"), **TINY, n_updates=1, reps=1, device="cuda")
        with pytest.raises(SystemExit):
            bench.main(["--quick", "--device", "cuda"])
        assert "is False on this machine" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (run on the device machine)")
def test_bench_on_gpu_tiny():
    _positive(bench.compare(bench.algo_cfg(TINY_CFG, "OMAR"), **TINY, n_updates=1, reps=1, device="cuda"))


def test_member_chunks():
    assert chunking.member_chunks(15, 10240, 64, 4, 2 << 20) == [1] * 15
    assert chunking.member_chunks(15, 1024, 64, 4, 2 << 20) == [8, 7]
    assert chunking.member_chunks(15, 256, 64, 4, 2 << 20) == [15]
    assert chunking.member_chunks(15, 10240, 64, 4, 0) == [15]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_chunked_equals_unchunked_twin_critic(dtype):
    """forward_many / q1 through chunked BN + heads == one baddbmm per layer: outputs, gradients and
    BN running statistics."""
    M, B, K, O, A = 4, 32, 5, 6, 2
    torch.manual_seed(0)
    crit = [heads.TwinCritic(M, O, A, hidden=(16, 16), input_norm=True).to(dtype) for _ in range(2)]
    crit[1].load_state_dict(crit[0].state_dict())
    obs = torch.randn(M, B, O, dtype=dtype)
    act = torch.rand(M, B, K, A, dtype=dtype) * 2 - 1
    outs = []
    for c, chunk in zip(crit, (0, 1024), strict=True):  # 1 KB: every member its own chunk
        old = chunking.set_chunk_bytes(chunk)
        try:
            q1, q2 = c.forward_many(obs, act)
            p = c.q1(obs, act[:, :, 0])
            (q1.square().sum() + q2.sum() + p.sum()).backward()
        finally:
            chunking.set_chunk_bytes(old)
        outs.append((q1, q2, p, [t.grad for t in c.parameters()], list(c.buffers())))
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    (a1, a2, ap, ag, ab), (b1, b2, bp, bg, bb) = outs
    for x, y in [(a1, b1), (a2, b2), (ap, bp), *zip(ag, bg), *zip(ab, bb)]:
        assert torch.allclose(x.double(), y.double(), atol=tol, rtol=tol)


def test_sac_bench_compares_batched_members_with_the_loop():
    from common.behavior.sac import SACConfig
    from common.bench import compare_sac

    r = compare_sac(2, 5, 3, n_updates=2, reps=1, cfg=SACConfig(hidden=(16, 16), batch_size=32))
    assert r["members"] == 2 and r["batched_updates_per_s"] > 0 and r["loop_updates_per_s"] > 0
    assert r["ratio_vs_loop"] == pytest.approx(r["batched_updates_per_s"] / r["loop_updates_per_s"])
    assert r["gflop_per_update"] > 0


def test_members_bench_compares_stacked_runs_with_the_loop(capsys):
    """(c) --members at a tiny size: 2 runs of 3 agents stacked vs the loop over them; and its option checks."""
    cfg = bench.algo_cfg(TINY_CFG, "OMAR")
    r = bench.compare_members(6, cfg, n_agents=3, obs_dim=4, act_dim=2, n_updates=1, reps=1)
    assert r["members"] == 6 and r["runs"] == 2
    for k in (
        "stacked_updates_per_s",
        "loop_updates_per_s",
        "stacked_members_per_s",
        "gflop_per_update",
        "stacked_gflops",
    ):
        assert r[k] > 0, k
    assert r["stacked_members_per_s"] == pytest.approx(6 * r["stacked_updates_per_s"])
    with pytest.raises(ValueError, match="7 members are not whole runs of 3 agents"):
        bench.compare_members(7, cfg)
    for argv, msg in (
        (["--batch", "32"], "--batch 32 is an option of --members"),
        (["--members", "--sac"], "give one of --all, --sac, --members"),
        (["--members", "--batch", "0"], "--batch 0: give a positive integer"),
    ):
        with pytest.raises(SystemExit):
            bench.main(argv)
        assert msg in capsys.readouterr().err


def test_moma_ppo_bench_tiny():
    """papers.moma_ppo.bench at a tiny size (histories on): rates positive, FLOPs counted, the rollouts fill the
    batch (no timing assertions)."""
    from papers.moma_ppo import bench as mb

    wm = mb.compare_world_model("ant-4x2-po", "tiny", n_updates=1, reps=1)
    it = mb.compare_iteration("reacher-2x1", "tiny", n_seeds=2, n_updates=1, reps=1, batch=60, k=3)
    for r, keys in (
        (wm, ("batched_updates_per_s", "loop_updates_per_s", "gflop_per_update")),
        (
            it,
            (
                "batched_iters_per_s",
                "loop_iters_per_s",
                "gflop_per_iter",
                "s_per_100k_iters",
                "rollout_s",
                "update_s",
            ),
        ),
    ):
        for k in keys:
            assert r[k] > 0, k
    # [code] floor(b / k) + 1 = 21 starts of k = 3 steps
    assert it["members"] == 4 and it["rows_per_seed"] == 63
    # every rollout runs its k steps, as real iterations do (no terminals)
    assert it["rollout_len_mean"] == 3.0


def test_moma_ppo_rollout_profile_tiny(capsys):
    """The rollout profiler (papers.moma_ppo.rollout_profile) at a tiny size: every piece clocked, the rollouts run
    their k = 10 steps (10 policy and ensemble calls each, as real iterations)."""
    from papers.moma_ppo import rollout_profile

    rollout_profile.main(["--size", "tiny", "--n-seeds", "2", "--batch", "60", "--top", "3"])
    out = capsys.readouterr().out
    for piece in ("wm.sample", "policy.act", "shift_history", "history_step", "histories(starts)"):
        assert piece in out, piece
    assert "10.0 calls" in out and "one rollout unsynced" in out
