"""Cells as members for CAST-BCQ's own learners (issue 26): CASTBCQ (papers/cast_bcq/cast_bcq.py) and ICQ-MA
(papers/cast_bcq/icq_ma.py) stack the learners of several runs into one (common.algos.state.StackableLearner), as
BCQ, I-BCQ and MABCQ do (tests/test_grouped_bcq.py).

Learner level: three runs (two seeds, two datasets of other lengths) trained alone and stacked draw the same rows
(exactly; with drop_terminals each its own non-terminal rows), the same sub-team draws (sampled laws) and end with the
same parameters, targets, Adam moments and generator states: bit for bit for CAST-BCQ, to float32 rounding for ICQ-MA
(its losses and first updates are bit-equal, but some gradient sums round otherwise with the member count: 1.3e-7
relative at most in its networks after 200 updates of this test's runs, measured); their policies choose the same
actions; a split state resumes its run alone, and split states stacked again continue exactly (a group's checkpoint
and resume: the same kernels on the same member counts).
Refusals: runs of another config, state width or agents.
Runner level: cast_bcq and icq_ma cells grouped through common.running.offline give the records of the runs alone (CAST-BCQ
exactly, ICQ-MA to float rounding).
"""

import numpy as np
import pytest
import torch

import papers.cast_bcq.cast_bcq  # noqa: F401 - registers cast_bcq
import papers.cast_bcq.icq_ma  # noqa: F401 - registers icq_ma
from common.running.experiment import Cell, run_cells
from common.running.offline import GROUPABLE, group_key_of, offline_job
from common.running.records import load_records
from papers.cast_bcq.cast_bcq import CASTBCQ, CASTConfig
from papers.cast_bcq.icq_ma import ICQMA, ICQMAConfig

O, A, SD = 4, 2, 5  # obs, action and state widths
RUNS = [(0, 1, 60), (1, 1, 60), (0, 2, 45)]
EXACT, F32_TOL = None, (1e-5, 1e-6)  # (rtol, atol): bit for bit, or float32 rounding (module docstring)  # (seed, dataset seed, dataset rows): seeds and datasets differ
TINY_CAST = {"hidden_vae": (16, 16), "hidden": (16, 16), "batch_size": 8, "n_select": 10, "n_target": 4}
TINY_ICQ = {"hidden_critic": (16, 16), "hidden_actor": (16, 16), "mixer_embed": 4, "batch_size": 8}
# case -> (learner class, agents, config fields): every path of CAST's credit (enumerated, sampled on the support,
# sampled draw by draw), its ablations' paths, drop_terminals, and ICQ-MA
CASES = {
    "cast_code_2_agents": (CASTBCQ, 2, {}),  # the code's exact two-player path (enumerated)
    "cast_code_3_agents": (CASTBCQ, 3, {"n_subteams": 6}),  # sampled, counted on the support (3 <= 6 entries)
    "cast_uniform_4_agents": (CASTBCQ, 4, {"subteam_dist": "uniform", "n_subteams": 3,
                                           "subteam_per_row": True}),  # sampled draw by draw, per row
    "cast_wo_cd_drop_terminals": (CASTBCQ, 3, {"ablation": "wo_cd", "drop_terminals": True}),
    "cast_hard_targets": (CASTBCQ, 2, {"target_update": "hard", "qi_weight": "none", "ablation": "wo_csaa"}),
    "icq_ma": (ICQMA, 3, {}, F32_TOL),
}  # (class, agents, fields[, tolerance: EXACT unless given])


def _tol(case):
    return CASES[case][3] if len(CASES[case]) > 3 else EXACT


def _tensors(seed, T, n):
    """Dataset.to_torch-like tensors of a tiny random dataset with a state."""
    g = torch.Generator().manual_seed(seed)
    return {"obs": torch.randn(T, n, O, generator=g), "actions": torch.rand(T, n, A, generator=g) * 2 - 1,
            "rewards": torch.randn(T, n, generator=g), "next_obs": torch.randn(T, n, O, generator=g),
            "terminals": (torch.rand(T, generator=g) < 0.15).float(), "timeouts": (torch.rand(T, generator=g) < 0.1)
            .float(), "state": torch.randn(T, SD, generator=g), "next_state": torch.randn(T, SD, generator=g)}


def _learner(case, seed, n_seeds=1, obs=O, state_dim=SD, **over):
    cls, n, fields = CASES[case][:3]
    seeds = [seed + s for s in range(n_seeds)]
    if cls is CASTBCQ:
        return CASTBCQ([obs] * n, [A] * n, state_dim, n_seeds, CASTConfig(**{**TINY_CAST, **fields, **over}),
                       seeds=seeds)
    return ICQMA([obs] * n, [A] * n, n_seeds, state_dim, ICQMAConfig(**{**TINY_ICQ, **fields, **over}), seeds=seeds)


def _same(a, b, tol, key):
    if tol is EXACT:
        assert torch.equal(a, b), key
    else:
        torch.testing.assert_close(a, b, rtol=tol[0], atol=tol[1], msg=key)


def _assert_same_state(own, split, tol=None):
    """A run's state_dict alone against its split_state from the stack: bit for bit, or to ``tol``."""
    assert own.keys() == split.keys()
    assert own["cfg"] == split["cfg"] and own["seeds"] == split["seeds"] and own["step"] == split["step"]
    assert torch.equal(own["rng"], split["rng"])  # the run's training stream drew exactly what it draws alone
    for name, st in own.items():
        if name.endswith("_opt"):
            assert st["param_groups"] == split[name]["param_groups"]
            for p, slots in st["state"].items():
                for slot, v in slots.items():  # exp_avg, exp_avg_sq, step
                    _same(v, split[name]["state"][p][slot], EXACT if slot == "step" else tol, f"{name}.{p}.{slot}")
        elif isinstance(st, dict) and name != "cfg":
            assert st.keys() == split[name].keys()
            for key, v in st.items():
                _same(v, split[name][key], tol, f"{name}.{key}")


def _train(learner, data, n):
    for _ in range(n):
        learner.update(learner.sample_batch(data))


def _obs(n):
    return np.random.default_rng(0).standard_normal((3, 4, n, O)).astype(np.float32)


@pytest.mark.parametrize("case", sorted(CASES))
def test_stacked_learner_equals_learners_alone(case):
    cls, n, tol = CASES[case][0], CASES[case][1], _tol(case)
    alone = [_learner(case, RUNS[k][0]) for k in range(len(RUNS))]
    prepared = {d: alone[0].prepare_data(_tensors(d, rows, n)) for _, d, rows in RUNS}  # one per dataset
    for lr, (_, d, _) in zip(alone, RUNS):  # the stack resumes the runs from their checkpoints after an update
        _train(lr, prepared[d], 1)
    parts = [_learner(case, RUNS[k][0]) for k in range(len(RUNS))]
    for part, lr in zip(parts, alone):
        part.load_state_dict(lr.state_dict())
    stack = cls.stack(parts)
    data = stack.stack_data([prepared[d] for _, d, _ in RUNS])
    assert data["obs"].shape[0] == 105 and stack.seeds == [0, 1, 0] and stack.n_members == 3 * n
    for _ in range(4):
        batches = [lr.sample_batch(prepared[d]) for lr, (_, d, _) in zip(alone, RUNS)]
        big = stack.sample_batch(data)
        for k, b in enumerate(batches):  # the same rows of the same data, drawn from the run's own stream
            assert b.keys() == big.keys()
            for key, v in b.items():
                per = v.shape[0]  # members or seeds (ICQ-MA's per-seed keys)
                assert torch.equal(v, big[key][k * per:(k + 1) * per]), key
        if cls is CASTBCQ:  # the sub-team draws (sampled laws) come from each run's stream too
            credits = [lr.credit(b) for lr, b in zip(alone, batches)]
            assert torch.equal(torch.cat(credits), stack.credit(big))
        for lr, b in zip(alone, batches):
            lr.update(b)
        stack.update(big)
    split = stack.split_state()
    for lr, state in zip(alone, split):
        _assert_same_state(lr.state_dict(), state, tol)
    # the runs differ (the comparison can fail): another seed; another dataset
    for a, b in ((0, 1), (0, 2)):
        assert any(not torch.equal(v, split[b]["actor"][key]) for key, v in split[a]["actor"].items())
    obs = _obs(n)
    policy, own = stack.policy(), [lr.policy() for lr in alone]
    for _ in range(2):  # CAST: each run's decode z from its own action generator, call after call
        acts = policy(obs)
        for k, pol in enumerate(own):
            _same(torch.as_tensor(pol(obs[k:k + 1])), torch.as_tensor(acts[k:k + 1]), tol, "act")
    # a split state resumes its run alone: it continues exactly as the stack's part
    resumed = _learner(case, RUNS[2][0])
    resumed.load_state_dict(split[2])
    _train(resumed, prepared[2], 2)
    _train(stack, data, 2)
    _assert_same_state(resumed.state_dict(), stack.split_state()[2], tol)


@pytest.mark.parametrize("case", ["cast_code_3_agents", "icq_ma"])
def test_group_checkpoint_resumes_stacked_exactly(case):
    """A group killed after a checkpoint resumes grouped: the runs' split states, loaded and stacked again, continue
    bit for bit as the uninterrupted stack; a run of two seeds stacks beside a run of one."""
    cls, n = CASES[case][:2]
    prepared = [_learner(case, 0).prepare_data(_tensors(d, T, n)) for d, T in ((1, 40), (2, 30))]
    stack = cls.stack([_learner(case, 0, n_seeds=2), _learner(case, 5)])
    assert stack.seeds == [0, 1, 5]
    _train(stack, stack.stack_data(prepared), 3)
    again = [_learner(case, 0, n_seeds=2), _learner(case, 5)]
    for lr, state in zip(again, stack.split_state()):
        lr.load_state_dict(state)
        _assert_same_state(lr.state_dict(), state)
    again = cls.stack(again)
    for s in (stack, again):
        _train(s, s.stack_data(prepared), 2)
    for a, b in zip(stack.split_state(), again.split_state()):
        _assert_same_state(a, b)
    obs = _obs(n)  # 3 seeds: the first run's two and the second's one
    assert np.array_equal(stack.policy()(obs), again.policy()(obs))


@pytest.mark.parametrize("cls_case", ["cast_code_2_agents", "icq_ma"])
def test_stack_refuses_runs_that_cannot_stack(cls_case):
    cls = CASES[cls_case][0]
    other_fields = ({"lr": 3e-4}, {"batch_size": 16}) + (({"ablation": "wo_cd"}, {"lmbda": 0.75}, {"phi": 0.05})
                                                          if cls is CASTBCQ else ({"bug_compat": True},))
    for other in other_fields:
        with pytest.raises(ValueError, match=r"learners \[1\] differ from learner 0 in a config field other than \[\]"):
            cls.stack([_learner(cls_case, 0), _learner(cls_case, 1, **other)])
    with pytest.raises(ValueError, match=r"learners \[1\] differ"):  # another state width
        cls.stack([_learner(cls_case, 0), _learner(cls_case, 1, state_dim=SD + 1)])
    with pytest.raises(ValueError, match=r"learners \[1\] differ"):  # other agents' widths
        cls.stack([_learner(cls_case, 0), _learner(cls_case, 1, obs=O + 1)])
    with pytest.raises(ValueError, match="one data dict per learner of a stack"):
        _learner(cls_case, 0).stack_data([_tensors(0, 20, CASES[cls_case][1])])


# ---------------------------------------------------------------------------------------------
# runner level: stacked groups through common.running.offline
# ---------------------------------------------------------------------------------------------


def load_toy(spec):
    """A small dataset of random 2-agent transitions with a state, a pure function of the spec (evaluated on
    MaMuJoCo HalfCheetah 2x3's own + public observation, obs_mode "own_public")."""
    from common.datasets.dataset import Dataset

    rng = np.random.default_rng(spec["seed"])
    T, N, Ow, Aw = spec["size"], 2, 11, 3
    obs = rng.normal(size=(T, N, Ow)).astype(np.float32)
    ends = np.zeros(T)
    ends[29::30] = ends[-1] = 1
    state = rng.normal(size=(T, 17)).astype(np.float32)
    return Dataset.from_arrays(spec["env"], spec["kind"], obs, rng.uniform(-1, 1, (T, N, Aw)).astype(np.float32),
                               rng.normal(size=(T, N)).astype(np.float32), obs + 0.1, terminals=np.zeros(T),
                               timeouts=ends, obs_dims=[Ow] * N, act_dims=[Aw] * N, state=state,
                               next_state=state + 0.1, protocol="random arrays (test)",
                               ref_scores={"random": -280.0, "expert": 12135.0})


SECTIONS = [("cast_bcq", "medium", 0, TINY_CAST), ("cast_bcq", "expert", 1, TINY_CAST),
            ("icq_ma", "medium", 0, TINY_ICQ), ("icq_ma", "expert", 1, TINY_ICQ)]


def _cells(sections):
    out = []
    for k, (learner, kind, seed, section) in enumerate(sections):
        data = {"env": "mamujoco/halfcheetah-2x3", "env_options": {"obs_mode": "own_public"}, "return_mode": "mean",
                "kind": kind, "size": 150, "seed": seed}
        out.append(Cell("toy", "grouped_cast", {"cell": str(k)},
                        {"dataset": data, "learner": learner, "method": f"m{k}", learner: section, "updates": 4,
                         "eval_every": 2, "eval_episodes": 1, "ckpt_every": 2, "eval_max_steps": 5}))
    return out


def _records(root):
    return {(r["keys"]["cell"], r["seed"]): r for r in load_records(root, "smoke", "toy", "grouped_cast")}


def test_group_keys():
    assert GROUPABLE["cast_bcq"] == CASTBCQ.GROUP_FIELDS == () and GROUPABLE["icq_ma"] == ICQMA.GROUP_FIELDS == ()
    keys = [group_key_of(c.config, None) for c in _cells(SECTIONS)]
    assert None not in keys and len(set(keys)) == 2 and keys[0] == keys[1] and keys[2] == keys[3]
    ablation = _cells([("cast_bcq", "medium", 0, {**TINY_CAST, "ablation": "wo_st"})])[0]
    assert group_key_of(ablation.config, None) not in keys  # another config field splits the group


def test_grouped_cells_give_the_records_of_the_runs_alone(tmp_path):
    job, cells, recs = offline_job(None, load=load_toy), _cells(SECTIONS), {}
    for tag, group in (("alone", 1), ("grouped", 4)):
        root = tmp_path / tag
        summary = run_cells(cells, job, "smoke", seeds=(0, 1), results_root=root, group=group)
        assert summary.ok and len(summary.ran) == 8 and summary.groups == ([4, 4] if group > 1 else [])
        recs[tag] = _records(root)
    alone, grouped = recs["alone"], recs["grouped"]
    assert alone.keys() == grouped.keys() and len(alone) == 8
    for key, a in alone.items():
        g = grouped[key]
        assert [p["step"] for p in g["curve"]] == [p["step"] for p in a["curve"]] == [2, 4]
        exact = key[0] in ("0", "1")  # CAST-BCQ bit for bit, ICQ-MA to float rounding
        for p, q in zip(g["curve"], a["curve"]):
            assert p["score"] == (q["score"] if exact else pytest.approx(q["score"], rel=1e-5, abs=1e-6)), key
        assert g["extra"]["data_sha256"] == a["extra"]["data_sha256"]
    assert len({r["score"] for r in grouped.values()}) > 4  # the runs differ (the comparison can fail)
