"""Cells as members for OTC's base learners (issue 26): AWAC (common/algos/awac.py) and independent TD3+BC
(common/algos/itd3bc.py) stack the learners of several runs into one (common.algos.state.StackableLearner), so that
OTC's offline stage trains a group's pi^0 as one batched learner (papers/otc/deploy.py ``train_offline_stack``;
its records against the runs alone: tests/test_otc_deploy.py).

Three runs (two seeds, two datasets of other lengths; TD3+BC: each with its own dataset's normalization statistics)
trained alone and stacked draw the same rows and noise and end with the same parameters, targets, Adam moments and
generator states, bit for bit; their policies act alike, OTC's q1 / value too; a split state resumes its run alone.
Refusals: another config field or agent widths.
"""

import numpy as np
import pytest
import torch

from common.algos.awac import AWAC, AWACConfig
from common.algos.itd3bc import TD3BC, TD3BCConfig

O, A, N = 4, 2, 2
RUNS = [(0, 1, 60), (1, 1, 60), (0, 2, 45)]  # (seed, dataset seed, dataset rows)


def _tensors(seed, T):
    g = torch.Generator().manual_seed(seed)
    return {"obs": torch.randn(T, N, O, generator=g) * (1 + seed), "actions": torch.rand(T, N, A, generator=g) * 2 - 1,
            "rewards": torch.randn(T, N, generator=g), "next_obs": torch.randn(T, N, O, generator=g),
            "terminals": (torch.rand(T, generator=g) < 0.15).float()}


def _learner(kind, seed, data_seed=1, n_seeds=1, obs=O, **over):
    seeds = [seed + s for s in range(n_seeds)]
    if kind == "awac":
        return AWAC([obs] * N, [A] * N, n_seeds, AWACConfig(**{"hidden": (16, 16), "batch_size": 8, **over}),
                    seeds=seeds)
    t = _tensors(data_seed, 60)["obs"].double()  # the run's dataset statistics (TD3BC.from_dataset's)
    return TD3BC([obs] * N, [A] * N, n_seeds, TD3BCConfig(**{"hidden": (16, 16), "batch_size": 8, **over}),
                 seeds=seeds, obs_mean=t.mean(0)[:, :obs] if obs == O else None,
                 obs_std=t.std(0, unbiased=False)[:, :obs] if obs == O else None)


def _assert_same_state(own, split):
    assert own.keys() == split.keys()
    assert own["cfg"] == split["cfg"] and own["seeds"] == split["seeds"] and own["step"] == split["step"]
    assert torch.equal(own["rng"], split["rng"])
    for name, st in own.items():
        if name.endswith("_opt"):
            assert st["param_groups"] == split[name]["param_groups"]
            for p, slots in st["state"].items():
                for slot, v in slots.items():
                    assert torch.equal(v, split[name]["state"][p][slot]), f"{name}.{p}.{slot}"
        elif isinstance(st, dict) and name != "cfg":
            assert st.keys() == split[name].keys()
            for key, v in st.items():
                assert torch.equal(v, split[name][key]), f"{name}.{key}"
        elif torch.is_tensor(st):  # TD3BC's obs_mean / obs_scale
            assert torch.equal(st, split[name]), name


def _train(learner, data, n):
    for _ in range(n):
        learner.update(learner.sample_batch(data))


@pytest.mark.parametrize("kind", ["awac", "td3bc"])
def test_stacked_learner_equals_learners_alone(kind):
    alone = [_learner(kind, seed, d) for seed, d, _ in RUNS]
    prepared = {d: alone[0].prepare_data(_tensors(d, rows)) for _, d, rows in RUNS}
    for lr, (_, d, _) in zip(alone, RUNS):  # the stack resumes the runs from their checkpoints after an update
        _train(lr, prepared[d], 1)
    parts = [_learner(kind, seed, d) for seed, d, _ in RUNS]
    for part, lr in zip(parts, alone):
        part.load_state_dict(lr.state_dict())
    cls = type(alone[0])
    stack = cls.stack(parts)
    data = stack.stack_data([prepared[d] for _, d, _ in RUNS])
    assert data["obs"].shape[0] == 105 and stack.seeds == [0, 1, 0]
    for _ in range(5):  # TD3BC: policy delay 2, so actor steps too
        batches = [lr.sample_batch(prepared[d]) for lr, (_, d, _) in zip(alone, RUNS)]
        big = stack.sample_batch(data)
        for k, b in enumerate(batches):
            for key, v in b.items():
                assert torch.equal(v, big[key][k * N:(k + 1) * N]), key
        for lr, b in zip(alone, batches):
            lr.update(b)
        stack.update(big)
    split = stack.split_state()
    for lr, state in zip(alone, split):
        _assert_same_state(lr.state_dict(), state)
    for a, b in ((0, 1), (0, 2)):  # the runs differ (the comparison can fail)
        assert any(not torch.equal(v, split[b]["actor"][key]) for key, v in split[a]["actor"].items())
    obs = np.random.default_rng(0).standard_normal((3, 4, N, O)).astype(np.float32)
    acts = stack.policy()(obs)
    for k, lr in enumerate(alone):
        assert np.array_equal(lr.policy()(obs[k:k + 1]), acts[k:k + 1])
    x = big["obs"], big["actions"]  # OTC's d_q reads q1 and value (AWAC's value draws from each run's stream)
    q_big, v_big = stack.q1(*x), stack.value(x[0])
    for k, lr in enumerate(alone):
        rows = slice(k * N, (k + 1) * N)
        assert torch.equal(lr.q1(x[0][rows], x[1][rows]), q_big[rows])
        assert torch.equal(lr.value(x[0][rows]), v_big[rows])
    resumed = _learner(kind, RUNS[2][0], RUNS[2][1])
    resumed.load_state_dict(stack.split_state()[2])
    _train(resumed, prepared[2], 2)
    _train(stack, data, 2)
    _assert_same_state(resumed.state_dict(), stack.split_state()[2])


@pytest.mark.parametrize("kind", ["awac", "td3bc"])
def test_stack_refuses_runs_that_cannot_stack(kind):
    for other in ({"batch_size": 16}, {"gamma": 0.95}):
        with pytest.raises(ValueError, match=r"learners \[1\] differ from learner 0 in a config field other than \[\]"):
            type(_learner(kind, 0)).stack([_learner(kind, 0), _learner(kind, 1, **other)])
    with pytest.raises(ValueError, match=r"learners \[1\] differ"):
        type(_learner(kind, 0)).stack([_learner(kind, 0), _learner(kind, 1, obs=O + 1)])
