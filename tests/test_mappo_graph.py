"""MAPPO's minibatch step over static buffers and its CUDA graph (common/algos/mappo_graph.py).

On any machine: ``step_mode="buffers"`` (the graph's code path, static buffers, no capture) equals the eager update
bit for bit - with ragged per-seed lengths, the history encoder, buffers that grow between updates and a checkpoint
resumed in between; the bad-argument errors; a checkpoint that carries capturable Adam (as a GPU run in graph mode
writes it) resumes on a CPU as the plain one. On a GPU (skipped elsewhere; run on the device machine): the captured
graph against the eager learner, one capture per shape, the replays counted, re-capture after a checkpoint load."""

import io

import pytest
import torch

from common.algos.mappo import MAPPO, MAPPOConfig
from common.algos.mappo_graph import WARMUP, MinibatchGraph
from tests.test_mappo import rollout_batch

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CFG = dict(
    hidden=(8, 8),
    minibatch_size=16,
    epochs=2,
    grad_clip=0.05,  # clipping active at these sizes
    entropy_target=10.0,
)  # above any estimate here: alpha rises every step


def _ragged(batch, lengths):
    """The batch with per-seed lengths (padding rows zeroed, as MOMA-PPO's synthetic batches)."""
    out = {k: v.clone() for k, v in batch.items()}
    n = out["obs"].shape[1]
    for s, c in enumerate(lengths):
        for v in out.values():
            v[s, c:n] = 0
    out["lengths"] = torch.tensor(lengths)
    return out


def _pair(memory_len=0, device="cpu", dtype=torch.float64):
    cfg = MAPPOConfig(**CFG, memory_len=memory_len, **({"memory_dim": 4} if memory_len else {}))
    a = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7], device=device, dtype=dtype, cuda_graph=False)
    b = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7], device=device, dtype=dtype, cuda_graph=False)
    return a, b


def _batch(learner, n, seed, memory_len):
    mem = (memory_len, learner.obs_dim + learner.act_dim) if memory_len else False
    b = rollout_batch(learner, n, seed=seed, memory=mem)
    return {k: v.to(learner.device) for k, v in b.items()}


def _same(a, b, exact=True):
    sa, sb = a.state_dict(), b.state_dict()
    for name in a.modules():
        for p in sa[name]:
            if exact:
                assert torch.equal(sa[name][p], sb[name][p]), (name, p)
            else:
                torch.testing.assert_close(sa[name][p], sb[name][p], atol=1e-5, rtol=1e-4, msg=f"{name}.{p}")
    if exact:
        assert torch.equal(a.alpha, b.alpha)
    assert (a.n_steps, a.n_updates) == (b.n_steps, b.n_updates)


@pytest.mark.parametrize("memory_len", [0, 3])
def test_buffer_step_equals_eager_bit_for_bit(memory_len):
    """Updates of 48, then 40 (ragged: 40 / 33), then 64 rows (the buffers grow): the same metrics, parameters,
    alpha and counts as the eager learner, exactly."""
    eager, buf = _pair(memory_len)
    buf.step_mode = "buffers"
    for it, (n, lengths) in enumerate([(48, None), (40, [40, 33]), (64, None)]):
        batch = _batch(eager, n, it, memory_len)
        if lengths is not None:
            batch = _ragged(batch, lengths)
        out_e, out_b = eager.update(batch), buf.update(batch)
        assert out_e.keys() == out_b.keys()
        for k in out_e:
            assert torch.equal(out_e[k], out_b[k]), (it, k)
        _same(eager, buf)
        assert (buf.alpha > 0).all()
    assert isinstance(buf._graph, MinibatchGraph) and buf._graph.capacity == 64 and eager._graph is None


def test_buffer_step_resumes_from_a_checkpoint():
    """A checkpoint written mid-run and loaded into a fresh buffer-mode learner continues as the eager learner."""
    eager, buf = _pair()
    buf.step_mode = "buffers"
    for L in (eager, buf):
        L.update(_batch(L, 48, 0, 0))
    blob = io.BytesIO()
    torch.save(buf.state_dict(), blob)
    blob.seek(0)
    fresh = MAPPO((3, 2), (2, 1), 2, MAPPOConfig(**CFG), seeds=[0, 1], dtype=torch.float64)
    fresh.step_mode = "buffers"
    fresh.load_state_dict(torch.load(blob, weights_only=False))
    batch = _batch(eager, 48, 1, 0)
    out_e, out_f = eager.update(batch), fresh.update(batch)
    assert all(torch.equal(out_e[k], out_f[k]) for k in out_e)
    _same(eager, fresh)


def test_capturable_checkpoint_resumes_on_cpu_as_plain_adam():
    """A state whose Adam says capturable=True (what a GPU run in graph mode saves) loads into a CPU learner as plain
    Adam (capturable Adam does not step on a CPU) and continues exactly as the unmodified state does."""
    a, b = _pair()
    a.update(_batch(a, 48, 0, 0))
    state = a.state_dict()
    for g in state["opt"]["param_groups"]:
        g["capturable"] = True
    b.load_state_dict(state)
    assert all(g["capturable"] is False for g in b.opt.param_groups)
    c = MAPPO((3, 2), (2, 1), 2, MAPPOConfig(**CFG), seeds=[3, 7], dtype=torch.float64)
    c.load_state_dict(a.state_dict())
    batch = _batch(a, 48, 1, 0)
    out_b, out_c = b.update(batch), c.update(batch)
    assert all(torch.equal(out_b[k], out_c[k]) for k in out_b)


def test_bad_modes_are_refused():
    with pytest.raises(ValueError, match="cuda_graph=True needs a cuda device.*'cpu'"):
        MAPPO((3, 2), (2, 1), 1, MAPPOConfig(**CFG), cuda_graph=True)
    L = MAPPO((3, 2), (2, 1), 1, MAPPOConfig(**CFG))
    assert L.step_mode == "eager"  # the default off a GPU
    L.step_mode = "compiled"
    with pytest.raises(
        ValueError, match=r"step_mode='compiled'; allowed: 'eager', 'graph' \(cuda\), 'buffers'"
    ):
        L.update(_batch(L, 32, 0, 0))
    with pytest.raises(ValueError, match="needs a cuda learner"):
        MinibatchGraph(L, capture=True)


# ---------------------------------------------------------------------------------------------- GPU


@cuda
@pytest.mark.parametrize("memory_len", [0, 3])
def test_cuda_graph_equals_eager_on_the_gpu(memory_len):
    """float32 on the GPU: the graphed learner against the eager one over three updates (one with ragged lengths,
    one with more rows: a second capture). Tolerance: capturable Adam's device-side bias correction rounds
    differently from the plain one."""
    cfg = MAPPOConfig(**CFG, memory_len=memory_len, **({"memory_dim": 4} if memory_len else {}))
    eager = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7], device="cuda", cuda_graph=False)
    graph = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7], device="cuda")
    assert graph.step_mode == "graph"  # the default on a GPU
    for it, (n, lengths) in enumerate([(48, None), (40, [40, 33]), (64, None)]):
        batch = {k: v.float() for k, v in _batch(eager, n, it, memory_len).items()}
        if lengths is not None:
            batch = _ragged(batch, lengths)
        out_e, out_g = eager.update(batch), graph.update(batch)
        for k in out_e:
            torch.testing.assert_close(out_g[k], out_e[k], atol=1e-5, rtol=1e-4, msg=f"update {it}: {k}")
    _same(eager, graph, exact=False)
    g = graph._graph
    steps = graph.n_steps
    assert g.captures == 2  # the first shape, then the grown buffers (64 rows > 48)
    assert g.replays == steps - 2 * WARMUP


@cuda
def test_cuda_graph_recaptures_after_a_checkpoint_load_and_resumes_on_cpu():
    cfg = MAPPOConfig(**CFG)
    graph = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7], device="cuda")
    batch = {k: v.float() for k, v in _batch(graph, 48, 0, 0).items()}
    graph.update(batch)
    state = graph.state_dict()
    assert any(g["capturable"] for g in state["opt"]["param_groups"])
    graph.load_state_dict(state)
    assert graph._graph is None
    graph.update(batch)
    assert graph._graph.captures == 1
    blob = io.BytesIO()
    torch.save(graph.state_dict(), blob)
    blob.seek(0)
    cpu = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7])
    cpu.load_state_dict(torch.load(blob, map_location="cpu", weights_only=False))
    out = cpu.update({k: v.cpu() for k, v in batch.items()})
    assert torch.isfinite(out["loss"]).all()
