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


def test_generator_state_from_another_device_type_reseeds_deterministically_with_a_warning():
    """A CUDA generator's state (16 bytes) cannot continue a CPU generator (5,056) nor the reverse: found on an
    H200 on 2026-11-27, when a GPU MAPPO checkpoint failed to resume on a CPU. ``restore_generator`` re-seeds from
    the given key instead, deterministically, and warns; a state of the same device type still continues."""
    from common.algos.state import restore_generator

    cuda_like = torch.zeros(16, dtype=torch.uint8)  # the size of a CUDA (Philox) generator's state
    a, b = torch.Generator(), torch.Generator()
    with pytest.warns(RuntimeWarning, match="another device type"):
        assert not restore_generator(a, cuda_like, 3, 7, 12)
    with pytest.warns(RuntimeWarning):
        restore_generator(b, cuda_like, 3, 7, 12)
    assert torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))  # same key, same stream
    with pytest.warns(RuntimeWarning):
        restore_generator(b, cuda_like, 3, 7, 13)  # another step: another stream
    assert not torch.equal(torch.rand(5, generator=a), torch.rand(5, generator=b))
    src = torch.Generator().manual_seed(11)
    torch.rand(3, generator=src)
    assert restore_generator(a, src.get_state(), 0)  # same type: the saved stream continues
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=src))


def test_mappo_checkpoint_with_gpu_generator_states_resumes_on_cpu():
    """A MAPPO checkpoint as a GPU run writes it (generator states of 16 bytes) loads into a CPU learner and trains:
    weights restored exactly, the generators re-seeded (the one warning per generator)."""
    from tests.test_mappo_graph import CFG, _batch

    cfg = MAPPOConfig(**CFG)
    src = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7], dtype=torch.float64)
    batch = _batch(src, 48, 0, 0)
    src.update(batch)
    state = src.state_dict()
    state["rng"] = [torch.zeros(16, dtype=torch.uint8) for _ in state["rng"]]
    state["act_rng"] = [torch.zeros(16, dtype=torch.uint8) for _ in state["act_rng"]]
    dst = MAPPO((3, 2), (2, 1), 2, cfg, seeds=[3, 7], dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match="another device type") as caught:
        dst.load_state_dict(state)
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 4  # 2 seeds x 2 streams
    for name in src.modules():
        for k, v in src.state_dict()[name].items():
            assert torch.equal(v, dst.state_dict()[name][k]), (name, k)
    assert torch.isfinite(dst.update(batch)["loss"]).all()


def test_discrete_iql_checkpoint_with_gpu_generator_states_resumes_on_cpu_warning_once_per_seed():
    """DiscreteIQL saves one generator per seed (``rngs``) beside the common ``rng``: a GPU checkpoint re-seeds each
    seed's generator once (load_learner_state(rng=False) leaves them to the learner; before, the first seed's was
    restored twice, warning twice)."""
    from common.algos.iql import DiscreteIQL, IQLConfig

    src = DiscreteIQL((3, 2), (2, 3), 2, IQLConfig(), seeds=[3, 7])
    state = src.state_dict()
    state["rng"] = torch.zeros(16, dtype=torch.uint8)
    state["rngs"] = [torch.zeros(16, dtype=torch.uint8) for _ in state["rngs"]]
    dst = DiscreteIQL((3, 2), (2, 3), 2, IQLConfig(), seeds=[3, 7])
    with pytest.warns(RuntimeWarning, match="another device type") as caught:
        dst.load_state_dict(state)
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 2  # one per seed
    assert not torch.equal(dst.gens[0].get_state(), dst.gens[1].get_state())


def test_derived_seed_is_numpys_seed_sequence():
    """MAPPO's per-seed streams and restore_generator's re-seed: SeedSequence(seed, spawn_key) -> 63 bits."""
    import numpy as np

    from common.algos.state import derived_seed

    want = int(np.random.SeedSequence(3, spawn_key=(7,)).generate_state(1, np.uint64)[0] >> 1)
    assert derived_seed(3, 7) == want and 0 <= want < 2**63
    assert derived_seed(3, 7) != derived_seed(3, 8) != derived_seed(4, 7)
