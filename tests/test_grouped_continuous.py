"""Cells as members for MOMA-PPO's continuous baselines (issue 26): ``ContinuousIQL`` (centralized IQL, MAIQL, BC;
common/algos/iql_continuous.py) and ``MATD3BC`` (common/algos/matd3bc.py) stack the learners of several runs into
one (common.algos.state.StackableLearner), as OMAR's ITD3 does (tests/test_grouped_cells.py).

Learner level: three runs (two seeds, two datasets of other lengths, and where the learner has ``GROUP_FIELDS`` other
values of IQL's expectile / beta or TD3+BC's alpha) trained alone and stacked for a few updates draw the same rows
(exactly), and end with the same parameters, targets, Adam moments, generator states and split ``state_dict``s; a
split state resumes its run alone, and the runs' split states stacked again continue bit for bit; stacking refuses
runs of another non-group config. Equal means: bit for bit where every network has 2 or more members per run (IBC);
else to 1e-5 relative in float32 (1e-10 in float64): a one-member network (centralized IQL; the per-seed mixers)
runs ``baddbmm`` with a batch of 1 alone, which the CPU rounds otherwise than a stack's batched product, and in
float32 the attention key bias of the history encoder (zero gradient in exact math; rounding noise that Adam
normalises, which depends on the member count) is left out (docs/scaling.md). Runner level: a group of
``iql_continuous`` and ``matd3bc`` cells stacked through common.running.offline gives the records of the runs alone.
"""

import numpy as np
import pytest
import torch

from common.algos.iql_continuous import ContinuousIQL, ContinuousIQLConfig
from common.algos.matd3bc import MATD3BC, MATD3BCConfig
from common.running.offline import GROUPABLE, group_key_of

OBS_DIMS, ACT_DIMS = (3, 2), (2, 1)  # heterogeneous agents: padded obs / action entries
F64 = torch.float64
RUNS = [(0, 1, 70), (1, 1, 70), (0, 2, 50)]  # (seed, dataset seed, dataset rows): seeds and datasets differ


def _tensors(seed, T, dtype=torch.float32):
    """Dataset.to_torch-like tensors of a tiny random dataset with episode ends (terminals and time-outs)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(T, 2, 3))
    obs[:, 1, 2] = 0.0
    act = rng.uniform(-1, 1, size=(T, 2, 2))
    act[:, 1, 1] = 0.0
    term, tout = np.zeros(T), np.zeros(T)
    term[T // 3], tout[T // 5], tout[T // 2], tout[-1] = 1, 1, 1, 1
    t = {"obs": obs, "next_obs": np.roll(obs, -1, 0), "actions": act, "rewards": rng.normal(size=(T, 2)),
         "terminals": term, "timeouts": tout}
    return {k: torch.tensor(v, dtype=dtype) for k, v in t.items()}


def _iql(method, memory_len=0, **kw):
    mem = {"memory_len": memory_len, **({"memory_dim": 8} if memory_len else {})}
    return ContinuousIQLConfig(method=method, **{"hidden": (16, 16), "batch_size": 8, **mem, **kw})


def _td3(memory_len=0, **kw):
    return MATD3BCConfig(hidden=(16, 16), batch_size=8, memory_len=memory_len,
                         **({"memory_dim": 8} if memory_len else {}), **kw)


EXACT, F32_TOL, F64_TOL = None, (1e-5, 1e-6), (1e-10, 1e-12)  # (rtol, atol) of the comparisons (module docstring)
# case -> (learner class, config of run k, dtype, tolerance); the group fields differ between the runs where set
CASES = {
    "bc": (ContinuousIQL, lambda k: _iql("bc"), torch.float32, EXACT),  # 2 members per run in every network
    "iql": (ContinuousIQL, lambda k: _iql("iql", expectile=(0.7, 0.9, 0.7)[k], beta=(3.0, 3.0, 1.0)[k]),
            torch.float32, F32_TOL),
    "iql_agent0": (ContinuousIQL, lambda k: _iql("iql", central_obs="agent0"), torch.float32, F32_TOL),
    "maiql": (ContinuousIQL, lambda k: _iql("maiql", expectile=(0.7, 0.9, 0.5)[k], beta=(3.0, 10.0, 3.0)[k]),
              torch.float32, F32_TOL),
    "maiql_independent_awr": (ContinuousIQL, lambda k: _iql("maiql", independent_awr=True, beta=(3.0, 0.5, 3.0)[k]),
                              torch.float32, F32_TOL),
    "matd3bc": (MATD3BC, lambda k: _td3(alpha=(2.5, 1.0, 4.0)[k]), torch.float32, F32_TOL),
    "matd3bc_grad_clip": (MATD3BC, lambda k: _td3(grad_clip=0.5), torch.float32, F32_TOL),
    "iql_histories_f64": (ContinuousIQL, lambda k: _iql("iql", 3, beta=(3.0, 3.0, 2.0)[k]), F64, F64_TOL),
    "maiql_histories_f64": (ContinuousIQL, lambda k: _iql("maiql", 3, expectile=(0.7, 0.8, 0.7)[k]), F64, F64_TOL),
    "matd3bc_histories_f64": (MATD3BC, lambda k: _td3(3, alpha=(2.5, 2.5, 1.0)[k]), F64, F64_TOL),
    "maiql_histories_f32": (ContinuousIQL, lambda k: _iql("maiql", 3, expectile=(0.7, 0.8, 0.7)[k]), torch.float32,
                            F32_TOL),
    "matd3bc_histories_f32": (MATD3BC, lambda k: _td3(3, alpha=(2.5, 2.5, 1.0)[k]), torch.float32, F32_TOL),
}
KEY_BIAS = ".wk.bias"  # the attention key bias: zero gradient in exact math (module docstring)


def _same(a, b, tol, key=""):
    if tol is EXACT:
        assert torch.equal(a, b), key
    elif KEY_BIAS not in key or a.dtype == F64:
        torch.testing.assert_close(a, b, rtol=tol[0], atol=tol[1], msg=key)


def _assert_same_state(own, split, tol):
    """A run's state_dict alone against its split_state from the stack."""
    assert own.keys() == split.keys()
    assert own["cfg"] == split["cfg"] and own["seeds"] == split["seeds"] and own["step"] == split["step"]
    for key in ("rng", "rngs", "noise_rngs"):
        if key in own:
            assert all(torch.equal(a, b) for a, b in zip(*(s if isinstance(s, list) else [s]
                                                            for s in (own[key], split[key])))), key
    for name in ("nets", "targets"):
        assert own[name].keys() == split[name].keys()
        for key, v in own[name].items():
            _same(v, split[name][key], tol, f"{name}.{key}")
    assert own["opts"].keys() == split["opts"].keys()
    for g, st in own["opts"].items():
        assert st["param_groups"] == split["opts"][g]["param_groups"]
        assert st["state"].keys() == split["opts"][g]["state"].keys()
        for p, slots in st["state"].items():
            for slot, v in slots.items():  # exp_avg, exp_avg_sq, step
                _same(v, split["opts"][g]["state"][p][slot], EXACT if slot == "step" else tol, f"opts.{g}.{p}.{slot}")
    for key, v in own.get("last_actor", {}).items():
        _same(v, split["last_actor"][key], tol, f"last_actor.{key}")


def _train(learner, data, n):
    for _ in range(n):
        learner.update(learner.sample_batch(data))


@pytest.mark.parametrize("case", sorted(CASES))
def test_stacked_learner_equals_learners_alone(case):
    cls, cfg, dtype, tol = CASES[case]
    tensors = {d: _tensors(d, rows, dtype) for _, d, rows in RUNS}

    def learner(k):
        return cls(OBS_DIMS, ACT_DIMS, 1, cfg(k), seeds=[RUNS[k][0]], dtype=dtype)

    alone = [learner(k) for k in range(len(RUNS))]
    prepared = {d: alone[0].prepare_data(t) for d, t in tensors.items()}  # one dict per dataset: stored once
    for lr, (_, d, _) in zip(alone, RUNS):  # the stack resumes the runs from their checkpoints after an update
        _train(lr, prepared[d], 1)
    parts = [learner(k) for k in range(len(RUNS))]
    for part, lr in zip(parts, alone):
        part.load_state_dict(lr.state_dict())
    stack = cls.stack(parts)
    data = stack.stack_data([prepared[d] for _, d, _ in RUNS])
    assert data["obs"].shape[0] == 120  # datasets 1 and 2, not 1 twice
    assert stack.n_seeds == 3 and stack.seeds == [0, 1, 0]
    for _ in range(4):  # MATD3BC: two actor steps (policy_freq 2)
        batches = [lr.sample_batch(prepared[d]) for lr, (_, d, _) in zip(alone, RUNS)]
        big = stack.sample_batch(data)
        for k, b in enumerate(batches):  # the same rows of the same data, drawn from the run's own stream
            assert b.keys() == big.keys()
            for key in b:
                _same(b[key], big[key][k:k + 1], EXACT, key)
        for lr, b in zip(alone, batches):
            lr.update(b)
        stack.update(big)
    split = stack.split_state()
    for lr, state in zip(alone, split):
        _assert_same_state(lr.state_dict(), state, tol)
    # the runs differ from each other (the comparison can fail): another seed, dataset or group field
    for a, b in ((0, 1), (0, 2)):
        assert any(not torch.equal(v, split[b]["nets"][key]) for key, v in split[a]["nets"].items())
    obs = np.random.default_rng(0).standard_normal((3, 4, 2, 3)).astype(np.float32)
    obs[:, :, 1, 2] = 0.0
    if stack.memory_len == 0:
        acts = stack.act(obs)
        for k, lr in enumerate(alone):
            _same(torch.as_tensor(lr.act(obs[k:k + 1])), torch.as_tensor(acts[k:k + 1]), tol, "act")
    # a split state resumes its run alone: it continues exactly as the stack's part
    resumed = learner(2)
    resumed.load_state_dict(split[2])
    _train(resumed, prepared[2], 2)
    _train(stack, data, 2)
    _assert_same_state(resumed.state_dict(), stack.split_state()[2], tol)


def test_split_states_stack_again_and_continue_exactly():
    """A group killed after a checkpoint resumes grouped: the runs' split states, loaded and stacked again, continue
    exactly as the uninterrupted stack (the same kernels on the same member counts)."""
    cfg = [_iql("maiql", 2, expectile=e) for e in (0.7, 0.9)]
    tensors = [_tensors(d, 40) for d in (1, 2)]
    fresh = [ContinuousIQL(OBS_DIMS, ACT_DIMS, 1, c, seeds=[s]) for c, s in zip(cfg, (0, 1))]
    prepared = [fresh[0].prepare_data(t) for t in tensors]
    stack = ContinuousIQL.stack(fresh)
    _train(stack, stack.stack_data(prepared), 3)
    again = [ContinuousIQL(OBS_DIMS, ACT_DIMS, 1, c, seeds=[s]) for c, s in zip(cfg, (0, 1))]
    for lr, state in zip(again, stack.split_state()):
        lr.load_state_dict(state)
        _assert_same_state(lr.state_dict(), state, EXACT)  # the round trip keeps every bit
    again = ContinuousIQL.stack(again)
    for s in (stack, again):
        _train(s, s.stack_data(prepared), 2)
    for a, b in zip(stack.split_state(), again.split_state()):
        _assert_same_state(a, b, EXACT)


def test_runs_of_several_seeds_and_fixed_minibatch_generators():
    """A run may hold several seeds (its seeds stay consecutive in the stack); ``sample_batch(generator=[one per
    run])`` (common.running.offline.fixed_minibatches) draws each run's rows from its own generator, as alone."""
    cfg = _td3(alpha=1.0)
    tensors = [_tensors(d, n) for d, n in ((1, 40), (2, 30))]
    alone = [MATD3BC(OBS_DIMS, ACT_DIMS, 2, cfg, seeds=[0, 1]), MATD3BC(OBS_DIMS, ACT_DIMS, 1, _td3(), seeds=[5])]
    prepared = [alone[0].prepare_data(t) for t in tensors]
    stack = MATD3BC.stack([MATD3BC(OBS_DIMS, ACT_DIMS, 2, cfg, seeds=[0, 1]),
                           MATD3BC(OBS_DIMS, ACT_DIMS, 1, _td3(), seeds=[5])])
    data = stack.stack_data(prepared)
    assert stack.seeds == [0, 1, 5] and stack.alpha.view(-1).tolist() == [1.0, 1.0, 2.5]
    fixed = stack.sample_batch(data, generator=[torch.Generator().manual_seed(k) for k in (7, 8)])
    for k, (lr, rows) in enumerate(zip(alone, (slice(0, 2), slice(2, 3)))):
        own = lr.sample_batch(prepared[k], generator=torch.Generator().manual_seed(7 + k))
        assert all(torch.equal(v, fixed[key][rows]) for key, v in own.items())
    for _ in range(2):
        for lr, d in zip(alone, prepared):
            lr.update(lr.sample_batch(d))
        stack.update(stack.sample_batch(data))
    for lr, state in zip(alone, stack.split_state()):
        _assert_same_state(lr.state_dict(), state, F32_TOL)


def test_stack_refuses_runs_of_another_config():
    mk = lambda cfg, seed=0: ContinuousIQL(OBS_DIMS, ACT_DIMS, 1, cfg, seeds=[seed])  # noqa: E731
    ContinuousIQL.stack([mk(_iql("maiql", expectile=0.7)), mk(_iql("maiql", expectile=0.9), 1)])  # a group field
    for other in (_iql("maiql", lr=1e-3), _iql("maiql", batch_size=16), _iql("iql"), _iql("maiql", 2)):
        with pytest.raises(ValueError, match=r"learners \[1\] differ from learner 0 .*'expectile', 'beta'"):
            ContinuousIQL.stack([mk(_iql("maiql")), mk(other, 1)])
    with pytest.raises(ValueError, match=r"learners \[1\] differ .*\['alpha'\]"):
        MATD3BC.stack([MATD3BC(OBS_DIMS, ACT_DIMS, 1, _td3(), seeds=[0]),
                       MATD3BC(OBS_DIMS, ACT_DIMS, 1, _td3(policy_noise=0.1), seeds=[1])])
    with pytest.raises(ValueError, match=r"learners \[1\] differ"):  # other agents
        MATD3BC.stack([MATD3BC(OBS_DIMS, ACT_DIMS, 1, _td3(), seeds=[0]),
                       MATD3BC((3, 3), ACT_DIMS, 1, _td3(), seeds=[1])])
    with pytest.raises(ValueError, match="one data dict per learner of a stack"):
        mk(_iql("bc")).stack_data([_tensors(0, 20)])


def test_group_fields_per_member_in_the_config():
    """A group field may hold one value per member (what a stack of runs with other values builds); it must be
    one value per seed, and only where the method uses it."""
    two = ContinuousIQL(OBS_DIMS, ACT_DIMS, 2, _iql("maiql", expectile=[0.7, 0.7, 0.9, 0.9]), seeds=[0, 1])
    assert two.cfg.expectile == (0.7, 0.7, 0.9, 0.9) and two.expectile.view(-1).tolist() == pytest.approx([0.7, 0.9])
    assert ContinuousIQL(OBS_DIMS, ACT_DIMS, 1, _iql("maiql"), seeds=[0]).expectile == 0.7  # a number stays one
    with pytest.raises(ValueError, match=r"expectile=\(0.7, 0.9\): give one number, or one per member \(2\) equal"):
        ContinuousIQL(OBS_DIMS, ACT_DIMS, 1, _iql("maiql", expectile=(0.7, 0.9)), seeds=[0])
    with pytest.raises(ValueError, match="one per member"):
        ContinuousIQL(OBS_DIMS, ACT_DIMS, 1, _iql("iql", beta=(1.0, 2.0, 3.0)), seeds=[0])
    with pytest.raises(ValueError, match=r"expectile=\(0.7, 1.5\) must be in \[0, 1\]"):
        _iql("maiql", expectile=[0.7, 1.5]).validate()
    with pytest.raises(ValueError, match="beta=.* is set but unused by method 'bc'"):
        _iql("bc", beta=(3.0, 3.0)).validate()
    with pytest.raises(ValueError, match="lr=.* must be a finite number > 0"):  # only group fields take lists
        _iql("maiql", lr=(3e-4, 3e-4)).validate()
    with pytest.raises(ValueError, match=r"alpha=\(2.5, -1.0\) must be a finite number > 0 \(or one per member\)"):
        _td3(alpha=[2.5, -1.0]).validate()
    assert MATD3BC(OBS_DIMS, ACT_DIMS, 2, _td3(alpha=[1.0, 1.0, 3.0, 3.0]), seeds=[0, 1]).alpha.shape == (2, 1)


# ---------------------------------------------------------------------------------------------
# runner level: stacked groups through common.running.offline
# ---------------------------------------------------------------------------------------------


def load_toy(spec):
    """A small dataset of random omar/spread transitions, a pure function of the spec."""
    from common.datasets.dataset import Dataset

    rng = np.random.default_rng(spec["seed"])
    T, N = spec["size"], 3
    obs = rng.normal(size=(T, N, 18)).astype(np.float32)
    ends = np.zeros(T)
    ends[24::25] = ends[-1] = 1
    return Dataset.from_arrays(spec["env"], spec["kind"], obs, rng.uniform(-1, 1, (T, N, 2)).astype(np.float32),
                               rng.normal(size=(T, N)).astype(np.float32), obs + 0.1, terminals=np.zeros(T),
                               timeouts=ends, obs_dims=[18] * N, act_dims=[2] * N, protocol="random arrays (test)",
                               ref_scores={"random": -200.0, "expert": -100.0})


def _cells(learner, sections):
    from common.running.experiment import Cell

    out = []
    for k, (kind, seed, section) in enumerate(sections):
        data = {"env": "omar/spread", "env_options": {}, "return_mode": "mean", "kind": kind, "size": 120,
                "seed": seed}
        out.append(Cell("toy", "grouped", {"cell": str(k)},
                        {"dataset": data, "method": learner, learner: section, "updates": 4, "eval_every": 2,
                         "eval_episodes": 1, "ckpt_every": 2, "eval_max_steps": 5}))
    return out


SECTIONS = {  # per cell: (dataset kind, dataset seed, learner section); the group fields differ
    "iql_continuous": [("random", 0, {"method": "maiql", "hidden": (8, 8), "batch_size": 8, "memory_len": 2,
                                      "memory_dim": 4, "expectile": e}) for e in (0.7, 0.9)]
    + [("expert", 1, {"method": "maiql", "hidden": (8, 8), "batch_size": 8, "memory_len": 2, "memory_dim": 4})],
    "matd3bc": [("random", 0, {"hidden": (8, 8), "batch_size": 8, "memory_len": 0, "alpha": a}) for a in (2.5, 1.0)]
    + [("expert", 1, {"hidden": (8, 8), "batch_size": 8, "memory_len": 0})],
}


@pytest.mark.parametrize("learner", sorted(SECTIONS))
def test_grouped_cells_give_the_records_of_the_runs_alone(learner, tmp_path):
    from common.running.experiment import run_cells
    from common.running.offline import offline_job

    assert learner in GROUPABLE
    cells = _cells(learner, SECTIONS[learner])
    keys = {group_key_of(c.config, learner) for c in cells}
    assert len(keys) == 1 and None not in keys  # another dataset and group field: one group
    other = _cells(learner, [("random", 0, {**SECTIONS[learner][0][2], "hidden": (4, 4)})])[0]
    assert group_key_of(other.config, learner) not in keys
    job = offline_job(learner, load=load_toy)
    recs = {}
    for tag, group in (("alone", 1), ("grouped", 8)):
        summary = run_cells(cells, job, "smoke", seeds=(0, 1), results_root=tmp_path / tag, group=group)
        assert summary.ok and len(summary.ran) == 6 and summary.groups == ([6] if group > 1 else [])
        from common.running.records import load_records

        recs[tag] = {(r["keys"]["cell"], r["seed"]): r for r in load_records(tmp_path / tag, "smoke", "toy", "grouped")}
    assert recs["alone"].keys() == recs["grouped"].keys() and len(recs["alone"]) == 6
    for key, a in recs["alone"].items():
        g = recs["grouped"][key]
        assert [p["step"] for p in g["curve"]] == [p["step"] for p in a["curve"]] == [2, 4]
        for p, q in zip(g["curve"], a["curve"]):
            assert p["score"] == pytest.approx(q["score"], rel=1e-5, abs=1e-6), key
        assert g["extra"]["data_sha256"] == a["extra"]["data_sha256"]
    scores = {k: r["score"] for k, r in recs["grouped"].items()}
    assert len(set(scores.values())) > 1  # the runs differ (the comparison can fail)
