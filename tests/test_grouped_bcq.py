"""Cells as members for continuous BCQ (issue 26): centralized BCQ, I-BCQ and MABCQ (common/algos/bcq.py) stack the
learners of several runs into one (common.algos.state.StackableLearner), as OMAR's ITD3 and MOMA-PPO's learners do
(tests/test_grouped_cells.py, tests/test_grouped_continuous.py).

Learner level: three runs (two seeds, two datasets of other lengths, other lambda / KL weight where the variant reads
them) trained alone and stacked draw the same rows (exactly; with drop_terminals each its own non-terminal rows) and
end with the same parameters, targets, Adam moments and generator states; their policies, each drawing its decode z
from its own action generator, choose the same actions; a split state resumes its run alone, and the runs' split
states stacked again continue exactly (a group's checkpoint and resume). Equal means bit for bit for I-BCQ and MABCQ
(two members per run in every network) and to 1e-5 relative in float32 for centralized BCQ (one member per run: alone,
``baddbmm`` runs a batch of 1, which the CPU rounds otherwise than a stack's batched product; docs/scaling.md).
Refusals: runs of another non-group config, state width or agents; per-member values of the wrong length or range.
Runner level: bcq and mabcq cells grouped through common.running.offline give the records of the runs alone, and a group
killed after its checkpoint resumes, grouped, to the records of the uninterrupted group.
"""

import numpy as np
import pytest
import torch

from common.algos.bcq import BCQ, BCQConfig
from common.running.experiment import Cell, RunContext, run_cells
from common.running.offline import GROUPABLE, group_key_of, offline_job
from common.running.records import load_records
from common.running.roots import checkpoints_root

OBS_DIMS, ACT_DIMS, SD = (4, 3), (2, 1), 5  # heterogeneous agents (padded obs / action entries); state width
RUNS = [(0, 1, 60), (1, 1, 60), (0, 2, 45)]  # (seed, dataset seed, dataset rows): seeds and datasets differ
EXACT, F32_TOL = None, (1e-5, 1e-6)  # (rtol, atol) of the comparisons (module docstring)
# case -> (config fields of run k, tolerance); the group fields differ between the runs where the variant reads them
CASES = {
    "i_bcq": (lambda k: dict(lmbda=(0.75, 0.6, 0.9)[k], kl_weight=(0.5, 0.5, 0.2)[k]), EXACT),
    "i_bcq_drop_terminals": (lambda k: dict(drop_terminals=True, lmbda=(0.75, 0.75, 0.5)[k]), EXACT),
    "mabcq": (lambda k: dict(variant="mabcq", kl_weight=(0.5, 1.0, 0.5)[k]), EXACT),
    "central": (lambda k: dict(view="central", lmbda=(0.75, 0.6, 0.9)[k], kl_weight=(0.5, 0.5, 0.2)[k]), F32_TOL),
}


def _tensors(seed, T):
    """Dataset.to_torch-like tensors of a tiny random dataset (with a state for the central view)."""
    g = torch.Generator().manual_seed(seed)
    t = {"obs": torch.randn(T, 2, 4, generator=g), "actions": torch.rand(T, 2, 2, generator=g) * 2 - 1,
         "rewards": torch.randn(T, 2, generator=g), "next_obs": torch.randn(T, 2, 4, generator=g),
         "terminals": (torch.rand(T, generator=g) < 0.15).float(), "timeouts": torch.zeros(T),
         "state": torch.randn(T, SD, generator=g), "next_state": torch.randn(T, SD, generator=g)}
    for k in ("obs", "next_obs"):
        t[k][:, 1, 3] = 0.0
    t["actions"][:, 1, 1] = 0.0
    return t


def _learner(fields, seed, n_seeds=1, **kw):
    cfg = BCQConfig(**{"hidden_vae": (16, 16), "hidden": (16, 16), "batch_size": 8, **fields})
    maps = {"state_dim": SD} if cfg.view == "central" else {}
    return BCQ(kw.pop("obs_dims", OBS_DIMS), ACT_DIMS, n_seeds, cfg, seeds=[seed + s for s in range(n_seeds)],
               **maps, **kw)


def _same(a, b, tol, key=""):
    if tol is EXACT:
        assert torch.equal(a, b), key
    else:
        torch.testing.assert_close(a, b, rtol=tol[0], atol=tol[1], msg=key)


def _assert_same_state(own, split, tol):
    """A run's state_dict alone against its split_state from the stack."""
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


def _obs(central):
    """Evaluation obs [3, 4, 2, O]; the central view reads agent 0's row, which holds the state (every row equal)."""
    rng = np.random.default_rng(0)
    if central:
        return rng.standard_normal((3, 4, 1, SD)).astype(np.float32).repeat(2, axis=2)
    obs = rng.standard_normal((3, 4, 2, 4)).astype(np.float32)
    obs[:, :, 1, 3] = 0.0
    return obs


@pytest.mark.parametrize("case", sorted(CASES))
def test_stacked_learner_equals_learners_alone(case):
    fields, tol = CASES[case]
    alone = [_learner(fields(k), RUNS[k][0]) for k in range(len(RUNS))]
    prepared = {d: alone[0].prepare_data(_tensors(d, rows)) for _, d, rows in RUNS}  # one per dataset: stored once
    for lr, (_, d, _) in zip(alone, RUNS):  # the stack resumes the runs from their checkpoints after an update
        _train(lr, prepared[d], 1)
    parts = [_learner(fields(k), RUNS[k][0]) for k in range(len(RUNS))]
    for part, lr in zip(parts, alone):
        part.load_state_dict(lr.state_dict())
    stack = BCQ.stack(parts)
    data = stack.stack_data([prepared[d] for _, d, _ in RUNS])
    assert data["obs"].shape[0] == 105 and stack.seeds == [0, 1, 0]  # datasets 1 and 2, not 1 twice
    per = stack.n_members // len(RUNS)
    for _ in range(4):
        batches = [lr.sample_batch(prepared[d]) for lr, (_, d, _) in zip(alone, RUNS)]
        big = stack.sample_batch(data)
        for k, b in enumerate(batches):  # the same rows of the same data, drawn from the run's own stream
            assert b.keys() == big.keys()
            for key in b:
                _same(b[key], big[key][k * per:(k + 1) * per], EXACT, key)
        for lr, b in zip(alone, batches):
            lr.update(b)
        stack.update(big)
    split = stack.split_state()
    for lr, state in zip(alone, split):
        _assert_same_state(lr.state_dict(), state, tol)
    # the runs differ (the comparison can fail): another seed; another dataset and group field
    for a, b in ((0, 1), (0, 2)):
        assert any(not torch.equal(v, split[b]["critic"][key]) for key, v in split[a]["critic"].items())
    # each run's policy draws its z from its own action generator, call after call, as alone
    obs = _obs(stack.central)
    policy, own = stack.policy(), [lr.policy() for lr in alone]
    for _ in range(2):
        acts = policy(obs)
        for k, pol in enumerate(own):
            _same(torch.as_tensor(pol(obs[k:k + 1])), torch.as_tensor(acts[k:k + 1]), tol, "act")
    # a split state resumes its run alone: it continues exactly as the stack's part
    resumed = _learner(fields(2), RUNS[2][0])
    resumed.load_state_dict(split[2])
    _train(resumed, prepared[2], 2)
    _train(stack, data, 2)
    _assert_same_state(resumed.state_dict(), stack.split_state()[2], tol)


def test_group_fields_reach_their_runs():
    """Run 0 with run 1's lambda, or run 2's KL weight, ends elsewhere than run 0: a stack that gave a run another
    run's value would fail the comparison above."""
    data = _learner({}, 0).prepare_data(_tensors(1, 60))
    ends = []
    for fields in ({}, {"lmbda": 0.6}, {"kl_weight": 0.2}):
        lr = _learner(fields, 0)
        _train(lr, data, 3)
        ends.append(lr.state_dict())
    assert not torch.equal(ends[0]["critic"]["head1.layers.0.weight"], ends[1]["critic"]["head1.layers.0.weight"])
    assert not torch.equal(ends[0]["vae"]["encoder.layers.0.weight"], ends[2]["vae"]["encoder.layers.0.weight"])


@pytest.mark.parametrize("case", ["mabcq", "central", "i_bcq_drop_terminals"])
def test_group_checkpoint_resumes_stacked_exactly(case):
    """A group killed after a checkpoint resumes grouped: the runs' split states, loaded and stacked again, continue
    bit for bit as the uninterrupted stack (the same kernels on the same member counts)."""
    fields, _ = CASES[case]
    prepared = [_learner(fields(0), 0).prepare_data(_tensors(d, n)) for _, d, n in RUNS[1:]]
    stack = BCQ.stack([_learner(fields(k), RUNS[k][0]) for k in (1, 2)])
    _train(stack, stack.stack_data(prepared), 3)
    again = [_learner(fields(k), RUNS[k][0]) for k in (1, 2)]
    for lr, state in zip(again, stack.split_state()):
        lr.load_state_dict(state)
        _assert_same_state(lr.state_dict(), state, EXACT)  # the round trip keeps every bit
    again = BCQ.stack(again)
    for s in (stack, again):
        _train(s, s.stack_data(prepared), 2)
    for a, b in zip(stack.split_state(), again.split_state()):
        _assert_same_state(a, b, EXACT)
    obs = _obs(stack.central)[:2]
    assert np.array_equal(stack.policy()(obs), again.policy()(obs))


def test_runs_of_several_seeds_and_fixed_minibatch_generators():
    """A run may hold several seeds; ``sample_batch(generator=[one per run])`` (common.running.offline.fixed_minibatches)
    draws each run's rows from its own generator, as alone (drop_terminals: from its own non-terminal rows)."""
    fields = {"drop_terminals": True}
    prepared = [_learner(fields, 0).prepare_data(_tensors(d, n)) for d, n in ((1, 40), (2, 30))]
    alone = [_learner(fields, 0, n_seeds=2), _learner({**fields, "lmbda": 0.5}, 5)]
    stack = BCQ.stack([_learner(fields, 0, n_seeds=2), _learner({**fields, "lmbda": 0.5}, 5)])
    data = stack.stack_data(prepared)
    assert stack.seeds == [0, 1, 5] and stack.lmbda.view(-1).tolist() == [0.75] * 4 + [0.5] * 2
    fixed = stack.sample_batch(data, generator=[torch.Generator().manual_seed(k) for k in (7, 8)])
    assert not bool(fixed["terminals"].any())
    for k, (lr, rows) in enumerate(zip(alone, (slice(0, 4), slice(4, 6)))):
        own = lr.sample_batch(prepared[k], generator=torch.Generator().manual_seed(7 + k))
        assert all(torch.equal(v, fixed[key][rows]) for key, v in own.items())
    for _ in range(2):
        for lr, d in zip(alone, prepared):
            lr.update(lr.sample_batch(d))
        stack.update(stack.sample_batch(data))
    for lr, state in zip(alone, stack.split_state()):
        _assert_same_state(lr.state_dict(), state, EXACT)


def test_stack_refuses_runs_that_cannot_stack():
    BCQ.stack([_learner({"lmbda": 0.5}, 0), _learner({"kl_weight": 1.0}, 1)])  # group fields may differ
    for other in ({"phi": 0.01}, {"batch_size": 16}, {"view": "central"}, {"variant": "mabcq"},
                  {"drop_terminals": True}, {"vae_lr": 1e-4}):
        with pytest.raises(ValueError, match=r"learners \[1\] differ from learner 0 .*\['lmbda', 'kl_weight'\]"):
            BCQ.stack([_learner({}, 0), _learner(other, 1)])
    with pytest.raises(ValueError, match=r"learners \[1\] differ"):  # other agents
        BCQ.stack([_learner({}, 0), _learner({}, 1, obs_dims=(4, 4))])
    central = {"view": "central"}
    other_state = BCQ(OBS_DIMS, ACT_DIMS, 1, BCQConfig(hidden_vae=(16, 16), hidden=(16, 16), batch_size=8, **central),
                      seeds=[1], state_dim=SD + 1)
    with pytest.raises(ValueError, match=r"learners \[1\] differ"):  # another state width
        BCQ.stack([_learner(central, 0), other_state])
    with pytest.raises(ValueError, match="one data dict per learner of a stack"):
        _learner({}, 0).stack_data([_tensors(0, 20)])


def test_group_fields_per_member_in_the_config():
    """A group field may hold one value per member (what a stack of runs with other values builds), only where the
    variant reads it; other fields take one number."""
    two = _learner({"lmbda": [0.7, 0.7, 0.9, 0.9], "kl_weight": (0.5,) * 4}, 0, n_seeds=2)
    assert two.cfg.lmbda == (0.7, 0.7, 0.9, 0.9) and two.lmbda.shape == (4, 1, 1) and two.kl_weight.shape == (4,)
    assert two.one_minus_lmbda.view(-1).tolist() == pytest.approx([0.3, 0.3, 0.1, 0.1])
    assert _learner({}, 0).lmbda == 0.75 and _learner({}, 0).one_minus_lmbda is None  # a number stays one
    with pytest.raises(ValueError, match=r"lmbda=\(0.7, 0.9, 0.9\): give one number, or one per member \(2\)"):
        _learner({"lmbda": (0.7, 0.9, 0.9)}, 0)
    for fields, match in (({"lmbda": [0.7, 1.5]}, r"lmbda=\(0.7, 1.5\) must be in \[0, 1\] \(or one such number"),
                          ({"kl_weight": [0.5, -1.0]}, r"kl_weight=\(0.5, -1.0\) must be >= 0 \(or one such number"),
                          ({"variant": "mabcq", "lmbda": [0.75, 0.5]}, r"lmbda=.* is set but unused"),
                          ({"phi": [0.05, 0.05]}, r"phi=\[0.05, 0.05\] must be >= 0$")):
        with pytest.raises(ValueError, match=match):
            BCQConfig(**fields).validate()


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
                               rng.normal(size=(T, N)).astype(np.float32), obs + 0.1, terminals=ends,
                               timeouts=ends, obs_dims=[18] * N, act_dims=[2] * N, protocol="random arrays (test)",
                               ref_scores={"random": -200.0, "expert": -100.0})


TINY = {"hidden_vae": (8, 8), "hidden": (8, 8), "batch_size": 8, "n_select": 10}
# per cell: (learner, dataset kind, dataset seed, section); a CAST-BCQ-like job: the learner is the cell's "learner"
SECTIONS = [("bcq", "random", 0, {**TINY, "lmbda": 0.75}), ("bcq", "expert", 1, {**TINY, "lmbda": 0.5}),
            ("bcq", "random", 0, {**TINY, "view": "central", "kl_weight": 0.2}),
            ("bcq", "expert", 1, {**TINY, "view": "central"}),
            ("mabcq", "random", 0, TINY), ("mabcq", "expert", 1, {**TINY, "kl_weight": 1.0})]


def _cells(sections):
    out = []
    for k, (learner, kind, seed, section) in enumerate(sections):
        data = {"env": "omar/spread", "env_options": {}, "return_mode": "mean", "kind": kind, "size": 121,
                "seed": seed}
        out.append(Cell("toy", "grouped", {"cell": str(k)},
                        {"dataset": data, "learner": learner, "method": f"m{k}", learner: section, "updates": 4,
                         "eval_every": 2, "eval_episodes": 1, "ckpt_every": 2, "eval_max_steps": 5}))
    return out


def _records(root):
    return {(r["keys"]["cell"], r["seed"]): r for r in load_records(root, "smoke", "toy", "grouped")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The cells' records alone and grouped (three groups of 4 runs: I-BCQ, centralized BCQ, MABCQ)."""
    job, cells, recs = offline_job(None, load=load_toy), _cells(SECTIONS), {}
    for tag, group in (("alone", 1), ("grouped", 8)):
        root = tmp_path_factory.mktemp(tag)
        summary = run_cells(cells, job, "smoke", seeds=(0, 1), results_root=root, group=group)
        assert summary.ok and len(summary.ran) == 12 and summary.groups == ([4, 4, 4] if group > 1 else [])
        recs[tag] = _records(root)
    return recs


def test_group_keys():
    assert GROUPABLE["bcq"] == GROUPABLE["mabcq"] == BCQ.GROUP_FIELDS == ("lmbda", "kl_weight")
    keys = [group_key_of(c.config, None) for c in _cells(SECTIONS)]
    assert None not in keys and len(set(keys)) == 3 and keys[0] == keys[1] and keys[2] == keys[3] and keys[4] == keys[5]
    phi = _cells([("bcq", "random", 0, {**TINY, "phi": 0.001})])[0]
    assert group_key_of(phi.config, None) not in keys  # a field that is not per member splits the group


def test_grouped_cells_give_the_records_of_the_runs_alone(runs):
    alone, grouped = runs["alone"], runs["grouped"]
    assert alone.keys() == grouped.keys() and len(alone) == 12
    for key, a in alone.items():
        g = grouped[key]
        exact = int(key[0]) not in (2, 3)  # I-BCQ and MABCQ bit for bit; centralized BCQ to float rounding
        assert [p["step"] for p in g["curve"]] == [p["step"] for p in a["curve"]] == [2, 4]
        for p, q in zip(g["curve"], a["curve"]):
            assert p["score"] == (q["score"] if exact else pytest.approx(q["score"], rel=1e-5, abs=1e-6)), key
        assert g["extra"]["data_sha256"] == a["extra"]["data_sha256"]
    assert len({r["score"] for r in grouped.values()}) > 6  # the runs differ (the comparison can fail)


class _Killed(KeyboardInterrupt):
    """Stands for a kill: like KeyboardInterrupt, the runner lets it through (no fallback, no record)."""


def test_killed_group_resumes_to_the_same_records(runs, tmp_path, monkeypatch):
    """A group of 4 I-BCQ runs killed just after its checkpoint (every run's) leaves no record and a checkpoint per
    run; rerun grouped, every run resumes from its checkpoint and ends with the uninterrupted group's record."""
    save, saved = RunContext.save_checkpoint, []

    def save_then_die(self, obj, step=None):
        save(self, obj, step)
        saved.append(self.run_id)
        if len(saved) == 4:
            raise _Killed

    cells, job = _cells(SECTIONS[:2]), offline_job(None, load=load_toy)
    monkeypatch.setattr(RunContext, "save_checkpoint", save_then_die)
    with pytest.raises(_Killed):
        run_cells(cells, job, "smoke", seeds=(0, 1), results_root=tmp_path, group=4)
    monkeypatch.setattr(RunContext, "save_checkpoint", save)
    assert not _records(tmp_path) and len(list(checkpoints_root(tmp_path, "smoke").rglob("*.pt"))) == 4
    summary = run_cells(cells, job, "smoke", seeds=(0, 1), results_root=tmp_path, group=4)
    assert summary.ok and summary.groups == [4] and not list(checkpoints_root(tmp_path, "smoke").rglob("*.pt"))
    for key, r in _records(tmp_path).items():
        assert r["resumed_from_step"] == 2 and r["curve"] == runs["grouped"][key]["curve"], key
