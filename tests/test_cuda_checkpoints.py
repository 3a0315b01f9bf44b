"""Checkpoints loaded onto a GPU (``torch.load(map_location="cuda")``, as jobs and the world-model cache do): the
random generators' states come back as CUDA tensors and must still restore (``Generator.set_state`` takes a CPU
ByteTensor only). Found on an H200 on 2026-11-26, when the cached 4 x 1024 Reacher ensemble failed to load with
"RNG state must be a torch.ByteTensor". Needs a GPU: skipped on CPU-only machines (CI), run on the device machine."""

import io

import pytest
import torch

from common.algos.mappo import MAPPO
from common.algos.mappo_config import MAPPOConfig
from papers.moma_ppo.worldmodel import WorldModelEnsemble

from tests.test_moma_worldmodel import random_dataset, tiny_cfg

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _reload(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, map_location="cuda", weights_only=False)


@cuda
def test_world_model_saved_then_loaded_onto_cuda_restores_its_generator():
    cfg = tiny_cfg(n_members=3, n_elites=2, batch_size=8)
    ds = random_dataset()
    wm = WorldModelEnsemble.for_datasets(ds, cfg, seeds=[5], device="cuda")
    data = wm.prepare_data(ds)
    wm.train(data, n_updates=3)
    wm.select_elites(data)
    state = _reload(wm.state_dict())
    assert state["rng"].device.type == "cuda"  # what map_location does to the generator's state
    fresh = WorldModelEnsemble(wm.layout, cfg, seeds=[5], device="cuda")
    fresh.load_state_dict(state)
    assert fresh.checksum() == wm.checksum()
    wm.train(data, n_updates=2)  # resume: the same minibatches from the restored generator
    fresh.train(data, n_updates=2)
    assert fresh.checksum() == wm.checksum()


@cuda
def test_mappo_saved_then_loaded_onto_cuda_restores_its_generators():
    cfg = MAPPOConfig(hidden=(8, 8))
    a = MAPPO((3, 3), (2, 2), 2, cfg, device="cuda")
    b = MAPPO((3, 3), (2, 2), 2, cfg, seed=7, device="cuda")
    b.load_state_dict(_reload(a.state_dict()))
    ga = [g.get_state() for g in a.gens] + [g.get_state() for g in a.act_gens]
    gb = [g.get_state() for g in b.gens] + [g.get_state() for g in b.act_gens]
    assert all(torch.equal(x, y) for x, y in zip(ga, gb))
