"""Cells as members (common/running/grouping.py, ``--group N``): runs stacked into one batched learner give the records
of the runs alone.

Learner level: ``ITD3.stack`` of learners of other seeds, data, CQL alpha and OMAR tau, updated together,
draws the same minibatches and random numbers as each learner alone (exactly) and ends with the same
parameters, Adam moments and actions, bit for bit.
Runner level: OMAR smoke cells (Table 3 on omar/spread: dataset kinds random / expert, MA-CQL and OMAR, whose
CQL alpha differs per kind; Figure 3's tau sweep; seeds 0 and 1) run alone and grouped give the same records
but for the fields that say when a run was made; a group killed after its first checkpoint resumes, grouped
or alone, to the same records; the CLI option and its errors.

Equality is exact: EnsembleBatchNorm1d pads each member's channels to whole vector blocks
(common.networks.batchnorm.BN_LANES), so a member's numbers do not depend on how many members share the module (without the
padding, MA-CQL and MA-TD3+BC drifted apart from their runs alone in the last bits, then by up to 18 % after
500 updates; docs/scaling.md). The comparisons can fail: another seed or another tau moves scores by 10 % and
more (checked below), and a broken random-stream routing is caught at the learner level.
"""

import json

import numpy as np
import pytest
import torch

from common.algos.itd3 import ITD3, ITD3Config
from common.running.experiment import Cell, Job, RunContext, run_cells
from common.running.profiles import get_profile
from common.running.records import load_records
from common.running.roots import checkpoints_root
from papers.omar import config as C
from papers.omar import figure3, table3
from papers.omar.jobs import offline_job

pytestmark = pytest.mark.filterwarnings("ignore:pkg_resources:UserWarning")

RTOL = 0.0  # exact: EnsembleBatchNorm1d pads members to whole vector blocks (common.networks.batchnorm.BN_LANES)
# what may differ between a grouped record and the record of the same run alone (besides float rounding of
# score, normalized, curve and the readings in extra): when it ran, how long, its Sacred run's id
WHEN = {"started", "finished", "wall_time_s", "sacred_run_id"}
SEEDS = (0, 1)

# ---------------------------------------------------------------------------------------------
# learner level
# ---------------------------------------------------------------------------------------------
N, O, A, B = 3, 6, 2, 32


def _data(seed, rows):
    g = torch.Generator().manual_seed(seed)
    return {"obs": torch.randn(rows, N, O, generator=g), "actions": torch.rand(rows, N, A, generator=g) * 2 - 1,
            "rewards": torch.randn(rows, N, generator=g), "next_obs": torch.randn(rows, N, O, generator=g),
            "terminals": (torch.rand(rows, generator=g) < 0.1).float(),
            "timeouts": (torch.arange(rows) % 25 == 24).float()}


CASES = {  # learner config -> per-run (seed, dataset seed, dataset rows, per-member fields)
    "ma_cql": (dict(critic_reg="cql"), [dict(cql_alpha=a) for a in (0.5, 5.0, 1.0)]),
    "omar": (dict(critic_reg="cql", actor_reg="omar"), [dict(cql_alpha=0.5, omar_tau=0.9), dict(omar_tau=0.7),
                                                       dict(cql_alpha=5.0, omar_tau=0.9)]),
    "omar_cem_mujoco": (dict(critic_reg="cql", actor_reg="omar", cql_proposal="mujoco", omar_sampler="cem",
                             omar_iters=2, omar_n_samples=6, omar_n_elites=3),
                        [dict(omar_tau=t) for t in (0.9, 0.5, 0.9)]),
    "td3bc": (dict(actor_reg="td3bc"), [{}, {}, {}]),
    "icq_joint": (dict(actor_reg="icq", critic_input="joint"), [{}, {}, {}]),
}
RUNS = [(0, 1, 300), (1, 1, 300), (0, 2, 200)]  # (seed, dataset seed, rows): seeds and datasets differ


@pytest.mark.parametrize("case", sorted(CASES))
def test_stacked_learner_equals_learners_alone(case):
    base, fields = CASES[case]
    data = {d: _data(d, rows) for _, d, rows in RUNS}

    def learner(k):
        seed, _, _ = RUNS[k]
        return ITD3([O] * N, [A] * N, 1, ITD3Config(batch_size=B, **base, **fields[k]), seeds=[seed])

    alone = [learner(k) for k in range(len(RUNS))]
    prepared = {d: alone[0].prepare_data(x) for d, x in data.items()}  # one dict per dataset: stored once
    stack = ITD3.stack([learner(k) for k in range(len(RUNS))])
    tensors = stack.stack_data([prepared[d] for _, d, _ in RUNS])
    assert tensors["obs"].shape[0] == 500  # datasets 1 and 2, not 1 twice
    for _ in range(3):
        batches = [lr.sample_batch(prepared[d]) for lr, (_, d, _) in zip(alone, RUNS)]
        big = stack.sample_batch(tensors)
        for k, b in enumerate(batches):  # the same rows of the same data, drawn from the run's own stream
            assert all(torch.equal(b[key], big[key][3 * k:3 * k + 3]) for key in b)
        for lr, b in zip(alone, batches):
            lr.update(b)
        stack.update(big)
    for lr, state in zip(alone, stack.split_state()):
        own = lr.state_dict()
        assert torch.equal(own["rng"], state["rng"]) and own["cfg"] == state["cfg"] and own["seeds"] == state["seeds"]
        for name in ITD3._NETS:
            for key, v in own[name].items():
                assert torch.equal(v, state[name][key]), (name, key)
        for name in ITD3._OPTS:
            for p, slots in own[name]["state"].items():
                for key, v in slots.items():
                    assert torch.equal(v, state[name]["state"][p][key]), (name, p, key)
    obs = np.random.default_rng(0).standard_normal((len(RUNS), 4, N, O)).astype(np.float32)
    acts = stack.act(obs)
    for k, lr in enumerate(alone):
        assert np.array_equal(lr.act(obs[k:k + 1]), acts[k:k + 1])
    # a split state resumes a run alone, and the stacked and alone learners keep drawing the same numbers
    resumed = learner(0)
    resumed.load_state_dict(stack.split_state()[0])
    b0, big = resumed.sample_batch(prepared[1]), stack.sample_batch(tensors)
    assert torch.equal(b0["obs"], big["obs"][:3])


def test_stack_refuses_learners_of_other_shapes():
    a = ITD3([O] * N, [A] * N, 1, ITD3Config(batch_size=B, critic_reg="cql"), seeds=[0])
    b = ITD3([O] * N, [A] * N, 1, ITD3Config(batch_size=2 * B, critic_reg="cql"), seeds=[1])
    with pytest.raises(ValueError, match=r"learners \[1\] differ from learner 0 .*cql_alpha"):
        ITD3.stack([a, b])
    with pytest.raises(ValueError, match="one data dict per learner of a stack"):
        a.stack_data([_data(0, 50)])


# ---------------------------------------------------------------------------------------------
# runner level: OMAR smoke cells
# ---------------------------------------------------------------------------------------------
PROFILE = get_profile("smoke", C.PROFILE_OVERRIDES)


def _cells():
    """Table 3 on omar/spread (kinds random / expert: alpha 0.5 / 5; MA-CQL and OMAR) and Figure 3's OMAR tau
    cells on random (tau 0.5 / 1): two groups, one of 4 MA-CQL runs, one of 8 OMAR runs (tau, alpha, kind
    and seed differ in it)."""
    t3 = table3.build_cells(PROFILE, envs=("omar/spread",), datasets=("random", "expert"), methods=("ma_cql", "omar"))
    f3 = [c for c in figure3.build_cells(PROFILE) if c.keys["dataset"] == "random" and c.keys["method"] == "omar"]
    return t3 + f3


def _records(root):
    recs = [r for item in ("table3", "figure3") for r in load_records(root, "smoke", "omar", item)]
    return {(r["item"], json.dumps(r["keys"], sort_keys=True), r["seed"]): r for r in recs}


def _close(a, b, scale=1.0):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= RTOL * max(abs(a), abs(b), scale)


def assert_same_records(grouped, alone, when=WHEN):
    assert grouped.keys() == alone.keys()
    for key, g in grouped.items():
        a = alone[key]
        assert {f for f in set(g) | set(a) if g.get(f) != a.get(f)} <= when | {"score", "normalized", "curve", "extra"}
        assert _close(g["score"], a["score"]) and _close(g["normalized"], a["normalized"], 100.0), key
        assert [p["step"] for p in g["curve"]] == [p["step"] for p in a["curve"]]
        assert all(_close(p["score"], q["score"]) for p, q in zip(g["curve"], a["curve"])), key
        assert g["extra"].keys() == a["extra"].keys()
        for f, v in g["extra"].items():
            if isinstance(v, float):
                assert _close(v, a["extra"][f], 100.0 if f.startswith("normalized") else 1.0), (key, f)
            else:
                assert v == a["extra"][f], (key, f)


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    root = tmp_path_factory.mktemp("alone")
    summary = run_cells(_cells(), offline_job, PROFILE, seeds=SEEDS, results_root=root)
    assert summary.ok and len(summary.ran) == 12 and not summary.groups
    return _records(root)


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    root = tmp_path_factory.mktemp("grouped")
    summary = run_cells(_cells(), offline_job, PROFILE, seeds=SEEDS, results_root=root, group=16)
    assert summary.ok and len(summary.ran) == 12 and sorted(summary.groups) == [4, 8]
    return _records(root)


def test_grouped_records_equal_the_runs_alone(grouped, alone):
    assert len(alone) == 12
    assert_same_records(grouped, alone)
    # the comparison can fail: another seed, another tau or another dataset give other numbers
    cql = json.dumps({"dataset": "random", "env": "omar/spread", "method": "ma_cql"}, sort_keys=True)
    assert not _close(grouped[("table3", cql, 0)]["score"], alone[("table3", cql, 1)]["score"])
    tau = {t: grouped[("figure3", json.dumps({"dataset": "random", "env": "omar/spread", "method": "omar", "tau": t},
                                             sort_keys=True), 0)] for t in (0.5, 1.0)}
    assert not _close(tau[0.5]["score"], tau[1.0]["score"])
    assert {r["extra"]["data_sha256"] for r in grouped.values()} == {r["extra"]["data_sha256"] for r in alone.values()}
    assert len({r["extra"]["data_sha256"] for r in grouped.values()}) == 2  # two datasets in one group


class _Killed(KeyboardInterrupt):
    """Stands for a kill: like KeyboardInterrupt, the runner lets it through (no fallback, no record)."""


def test_killed_group_resumes_to_the_same_records(grouped, alone, tmp_path, monkeypatch):
    """A group killed just after its first checkpoint (every run's) leaves no record and a checkpoint per run;
    rerun grouped, every run resumes from its checkpoint and ends with the uninterrupted group's record; rerun
    alone, with the records of the runs alone."""
    cells = [c for c in _cells() if c.item == "table3" and c.keys["method"] == "omar"]
    save = RunContext.save_checkpoint
    saved = []

    def save_then_die(self, obj, step=None):
        save(self, obj, step)
        saved.append(self.run_id)
        if len(saved) == 4:  # the group's 4 runs all checkpointed
            raise _Killed

    for tag, group in (("grouped", 4), ("alone", 1)):
        root = tmp_path / tag
        saved.clear()
        monkeypatch.setattr(RunContext, "save_checkpoint", save_then_die)
        with pytest.raises(_Killed):
            run_cells(cells, offline_job, PROFILE, seeds=SEEDS, results_root=root, group=4)
        monkeypatch.setattr(RunContext, "save_checkpoint", save)
        assert not _records(root) and len(list(checkpoints_root(root, "smoke").rglob("*.pt"))) == 4
        summary = run_cells(cells, offline_job, PROFILE, seeds=SEEDS, results_root=root, group=group)
        assert summary.ok and len(summary.ran) == 4 and not list(checkpoints_root(root, "smoke").rglob("*.pt"))
        resumed = _records(root)
        assert {r["resumed_from_step"] for r in resumed.values()} == {5}
        reference = grouped if tag == "grouped" else alone
        assert_same_records(resumed, {k: reference[k] for k in resumed}, WHEN | {"resumed_from_step"})
        if tag == "grouped":  # the same stack, resumed: the same numbers exactly
            assert all(r["curve"] == grouped[k]["curve"] for k, r in resumed.items())


def _failing_group(runs):
    raise RuntimeError("a stacked loss turned non-finite")


def test_failed_group_runs_its_runs_alone(alone, tmp_path):
    """A group that raises is not lost: its runs run alone, with the records of the runs alone (bit for bit)."""
    job = Job(run=offline_job.run, data_spec=offline_job.data_spec, data_identity=offline_job.data_identity,
              group_key=offline_job.group_key, run_group=_failing_group)
    cells = [c for c in _cells() if c.item == "table3" and c.keys["method"] == "ma_cql"]
    summary = run_cells(cells, job, PROFILE, seeds=SEEDS, results_root=tmp_path, group=4)
    assert summary.ok and summary.groups == [4] and len(summary.ran) == 4
    recs = _records(tmp_path)
    assert len(recs) == 4 and all(r["curve"] == alone[k]["curve"] for k, r in recs.items())


def test_cli_group_with_worker_processes(alone, tmp_path):
    """``--group`` through a paper script and the process launcher: one task, the records of the runs alone."""
    table3.main(["--profile", "smoke", "--env", "omar/spread", "--dataset", "random", "--dataset", "expert",
                 "--method", "ma_cql", "--seeds", "0", "1", "--group", "8", "--launcher", "process", "--jobs", "1",
                 "--results", str(tmp_path), "--no-report"])
    recs = _records(tmp_path)
    assert len(recs) == 4
    assert_same_records(recs, {k: alone[k] for k in recs})


@pytest.mark.parametrize("args, message", [
    (["--group", "0"], "argument --group: group 0 must be a positive integer"),
    (["--group", "two"], "argument --group: group 'two' is not an integer; give a positive integer"),
])
def test_cli_rejects_bad_group(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        table3.main(["--profile", "smoke", "--results", str(tmp_path), *args])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_run_cells_rejects_bad_group(tmp_path):
    cells = _cells()[:1]
    for group, match in ((0, "group 0: give a positive integer"), (2.5, "group 2.5: give a positive integer"),
                         (True, "group True: give a positive integer")):
        with pytest.raises(ValueError, match=match):
            run_cells(cells, offline_job, PROFILE, seeds=[0], results_root=tmp_path, group=group)
    with pytest.raises(ValueError, match="unknown launcher 'slurm'"):
        run_cells(cells, offline_job, PROFILE, seeds=[0], results_root=tmp_path, group=2, launcher="slurm")
    assert not any(tmp_path.iterdir())
    with pytest.raises(TypeError, match="both group_key and run_group"):
        Job(run=offline_job.run, group_key=offline_job.group_key)


def test_group_key_keeps_apart_what_cannot_stack():
    key = offline_job.group_key
    random_, expert = (table3.build_cells(PROFILE, envs=("omar/spread",), datasets=(k,), methods=("omar",))[0]
                       for k in ("random", "expert"))
    assert key(random_.config) == key(expert.config)  # another dataset, alpha: one group
    tag = table3.build_cells(PROFILE, envs=("omar/tag",), datasets=("random",), methods=("omar",))[0]
    cql = table3.build_cells(PROFILE, envs=("omar/spread",), datasets=("random",), methods=("ma_cql",))[0]
    assert len({key(random_.config), key(tag.config), key(cql.config)}) == 3  # another env, another loss
    other = Cell("omar", "x", {}, {**random_.config, "updates": 20})
    assert key(other.config) != key(random_.config)  # another update count


def test_figure1_groups_its_offline_runs_and_keeps_behavior_return(tmp_path):
    """OMAR Figure 1's job groups the seeds of each (b) / (c) cell (one learner loss, env and schedule per group:
    another method or another n is another group) and keeps (d)'s landscape job alone; the grouped records are
    those of the runs alone, each with its dataset's mean return (panel c's baseline)."""
    from papers.omar import figure1

    cells = figure1.build_cells(PROFILE)
    key = {(c.keys["n_agents"], c.keys["method"]): figure1.figure1_group_key(c.config) for c in cells}
    assert key[(2, "landscape")] is None
    assert len({key[(2, "ma_cql")], key[(2, "omar")], key[(1, "ma_cql")]} - {None}) == 3
    chosen = [c for c in cells if (c.keys["n_agents"], c.keys["method"]) in ((2, "ma_cql"), (2, "omar"), (1, "ma_cql"))]
    recs = {}
    for name, group in (("alone", 1), ("grouped", 8)):
        summary = run_cells(chosen, figure1.figure1_job, PROFILE, seeds=SEEDS, results_root=tmp_path / name,
                            group=group)
        assert summary.ok and len(summary.ran) == 6
        assert summary.groups == ([] if group == 1 else [2, 2, 2])
        recs[name] = {(json.dumps(r["keys"], sort_keys=True), r["seed"]): r
                      for r in load_records(tmp_path / name, "smoke", "omar", "figure1")}
    two = lambda recs_: {k: r for k, r in recs_.items() if r["keys"]["n_agents"] == 2}  # noqa: E731
    assert_same_records(two(recs["grouped"]), two(recs["alone"]))  # two members per run: bit for bit
    # n = 1: one member per run, whose batched product rounds with the member count (docs/scaling.md,
    # "Two kernels round with the member count"): the same computation, equal to float rounding (measured 1e-5
    # relative after 10 smoke updates and 2 evaluations)
    for k, g in recs["grouped"].items():
        a = recs["alone"][k]
        assert g["score"] == pytest.approx(a["score"], rel=1e-3) and g["extra"].keys() == a["extra"].keys(), k
        assert g["extra"]["behavior_return"] == a["extra"]["behavior_return"] and \
            isinstance(g["extra"]["behavior_return"], float)
