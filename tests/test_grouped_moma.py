"""Cells as members for MOMA-PPO (issue 26): a stack of MOMA-PPO runs computes what each run computes alone.

- MAPPO with ragged buffers (``lengths``) and ``MAPPO.stack`` / ``split_state``: one update of a stack of two
  learners on buffers of 37 and 34 rows equals each learner's update alone (parameters, Adam moments, alpha to float
  rounding; generators, step counts exactly), for Gaussian, Gaussian with the history encoder, and categorical
  policies; seeds whose buffers hold different minibatch counts are refused.
- ``generate_rollouts`` with per-seed elite streams (``wm_gens``) on a real (untrained, so often cut) ensemble: the
  rows, lengths and stats of each seed of a stack are those of the seed alone.
- End to end: a smoke Table 4a MOMA-PPO cell of two seeds with ``--group 2`` is planned as one batched group and gives
  the records of the runs alone (to 1e-6 relative); ICG (Table 3) likewise, there with equal team scores and floats
  within 1e-5 (bit for bit on the Intel Xeon project machine, not on the AMD EPYC one); a group killed
  mid-run resumes from the checkpoints its stack wrote to the records of a group never killed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.algos.mappo import MAPPO, MAPPOConfig
from common.running.grouping import plan_groups
from common.running.profiles import get_profile
from moma_data import tiny_reacher_dataset
from papers.moma_ppo import config as C
from papers.moma_ppo.jobs import moma_group_key, reacher_moma_config, table4a_job
from papers.moma_ppo.moma_ppo import RolloutConfig, generate_rollouts, start_generators
from papers.moma_ppo.worldmodel import WorldModelEnsemble
from papers.moma_ppo.worldmodel_data import WorldModelConfig

ROOT = Path(__file__).resolve().parent.parent

VARIANTS = {
    "gaussian": dict(policy="gaussian", obs_norm=True),
    "gaussian+history": dict(policy="gaussian", memory_len=2, memory_dim=4),
    "categorical": dict(policy="categorical"),
}


def _learner(kind: str, seed: int) -> MAPPO:
    cfg = MAPPOConfig(hidden=(8,), minibatch_size=8, epochs=2, **VARIANTS[kind])
    disc = kind == "categorical"
    pol = MAPPO((3, 2), (1, 1) if disc else (1, 2), 1, cfg, seeds=[seed], n_actions=(3, 2) if disc else None)
    if cfg.obs_norm:
        pol.set_obs_stats(torch.randn(1, 50, 2, 3, generator=torch.Generator().manual_seed(9)))
    return pol


def _batch(kind: str, n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    disc = kind == "categorical"
    b = {"obs": torch.randn(1, n, 2, 3, generator=g), "next_obs": torch.randn(1, n, 2, 3, generator=g),
         "actions": (torch.randint(0, 2, (1, n, 2, 1), generator=g).float() if disc
                     else torch.randn(1, n, 2, 2, generator=g)),
         "rewards": torch.randn(1, n, generator=g), "masks": (torch.rand(1, n, generator=g) > 0.1).float(),
         "zetas": (torch.rand(1, n, generator=g) > 0.3).float()}
    if not disc:
        b["actions"][..., 0, 1] = 0.0  # agent 0's padded action dim
    b["obs"][..., 1, 2] = 0.0
    b["next_obs"][..., 1, 2] = 0.0  # agent 1's padded obs entry
    if VARIANTS[kind].get("memory_len"):
        b["memory"] = torch.randn(1, n, 2, 2, 3 + 2, generator=g)
        b["next_memory"] = torch.randn(1, n, 2, 2, 3 + 2, generator=g)
    return b


def _pad_stack(batches: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    n = max(b["rewards"].shape[1] for b in batches)

    def pad(v):
        return torch.cat([v, v.new_zeros(v.shape[0], n - v.shape[1], *v.shape[2:])], dim=1)

    out = {k: torch.cat([pad(b[k]) for b in batches]) for k in batches[0]}
    out["lengths"] = torch.tensor([b["rewards"].shape[1] for b in batches])
    return out


def _close_states(a: dict, b: dict) -> None:
    for name in ("actor", "critic", "mixer", "encoder"):
        if name in a:
            for k, v in a[name].items():
                torch.testing.assert_close(b[name][k], v, rtol=1e-5, atol=1e-6, msg=f"{name}.{k}")
    for p, slots in a["opt"]["state"].items():
        for k, v in slots.items():
            torch.testing.assert_close(b["opt"]["state"][p][k], v, rtol=1e-4, atol=1e-7, msg=f"opt {p} {k}")
    torch.testing.assert_close(b["alpha"], a["alpha"], rtol=1e-5, atol=1e-7)
    assert all(torch.equal(x, y) for x, y in zip(a["rng"] + a["act_rng"], b["rng"] + b["act_rng"]))
    assert (a["n_updates"], a["n_steps"], a["seeds"]) == (b["n_updates"], b["n_steps"], b["seeds"])


@pytest.mark.parametrize("kind", list(VARIANTS))
def test_ragged_stack_update_equals_each_learner_alone(kind):
    """Two updates: the first alone for everyone (so the stack starts from non-empty Adam moments), the second on
    buffers of 37 and 34 rows (4 minibatches of 8 each): alone vs stacked (padded to 37, ``lengths``)."""
    seeds, sizes = (3, 7), (37, 34)
    alone = [_learner(kind, s) for s in seeds]
    again = [_learner(kind, s) for s in seeds]
    for lr in alone + again:
        lr.update(_batch(kind, 40, 100 + lr.seeds[0]))
    second = [_batch(kind, n, 200 + s) for s, n in zip(seeds, sizes)]
    for lr, b in zip(alone, second):
        lr.update(b)
    stack = MAPPO.stack(again)
    out = stack.update(_pad_stack(second))
    assert out["loss"].shape == (2,)
    for lr, state in zip(alone, stack.split_state()):
        _close_states(lr.state_dict(), state)
        fresh = _learner(kind, lr.seeds[0])
        fresh.load_state_dict(state)  # a run's checkpoint in the format of a run alone
    # per-seed counts: the stack draws seed s's noise for its own rows only, as alone
    obs = torch.randn(2, 5, 2, 3, generator=torch.Generator().manual_seed(1))
    obs[..., 1, 2] = 0.0
    mem = torch.randn(2, 5, 2, 2, 5) if VARIANTS[kind].get("memory_len") else None
    kw = {"memory": mem} if mem is not None else {}
    a_stack, _ = stack.act(obs, counts=[5, 3], **kw)
    for s, (lr, c) in enumerate(zip(alone, (5, 3))):
        kw1 = {"memory": mem[s:s + 1, :c]} if mem is not None else {}
        a1, _ = lr.act(obs[s:s + 1, :c], **kw1)
        torch.testing.assert_close(a_stack[s:s + 1, :c], a1, rtol=1e-5, atol=1e-6)


def test_ragged_buffers_with_different_minibatch_counts_are_refused():
    stack = MAPPO.stack([_learner("gaussian", 0), _learner("gaussian", 1)])
    with pytest.raises(ValueError, match=r"different numbers of minibatches of 8 \(\[3, 4\]\)"):
        stack.update(_pad_stack([_batch("gaussian", 37, 0), _batch("gaussian", 30, 1)]))
    with pytest.raises(ValueError, match="lengths must give one buffer length"):
        stack.update({**_pad_stack([_batch("gaussian", 37, 0), _batch("gaussian", 30, 1)]),
                      "lengths": torch.tensor([37, 0])})
    with pytest.raises(ValueError, match="differ from learner 0"):
        MAPPO.stack([_learner("gaussian", 0), _learner("categorical", 1)])
    with pytest.raises(ValueError, match="split_state needs a stack"):
        _learner("gaussian", 0).split_state()


def test_rollouts_of_a_stack_equal_each_seed_alone():
    """An untrained 3-member ensemble (2 elites, never terminal) with a low threshold l_eps, so that rollouts are cut
    at different steps and the seeds' buffers and draws are ragged (42 and 43 rows); each seed alone draws its elites from the ensemble's stream
    (reset to the same state), the stack from one copy of that stream per seed."""
    ds = tiny_reacher_dataset()
    wm = WorldModelEnsemble.for_datasets(ds, WorldModelConfig(n_members=3, n_elites=2, hidden=8, t_layers=1,
                                                              r_layers=1, mask_layers=1, n_updates=0, threshold=0.3),
                                         seeds=[0])
    with torch.no_grad():  # never terminal: rollouts run until cut by the uncertainty or step k
        wm.heads.mask.layers[-1].bias.fill_(10.0)
    wm.set_elites([0, 1])
    start = wm.gen.get_state()
    obs = torch.as_tensor(ds.obs)
    cfg = RolloutConfig(k=4, batch=40).validate()
    seeds = [0, 1]
    alone = []
    for s in seeds:
        wm.gen.set_state(start)
        pol = MAPPO(ds.obs_dims, ds.act_dims, 1, MAPPOConfig(hidden=(8,)), seeds=[s])
        alone.append(generate_rollouts(wm, pol, obs, cfg, start_generators([s])))
    wm_gens = []
    for _ in seeds:
        g = torch.Generator()
        g.set_state(start)
        wm_gens.append(g)
    stack = MAPPO(ds.obs_dims, ds.act_dims, 2, MAPPOConfig(hidden=(8,)), seeds=seeds)
    out = generate_rollouts(wm, stack, obs, cfg, start_generators(seeds), wm_gens=wm_gens)
    rows = [a["stats"]["rows"][0] for a in alone]
    assert out["batch"]["lengths"].tolist() == rows == out["stats"]["rows"]
    assert len(set(rows)) == 2 and all(40 <= r <= 44 for r in rows), rows  # ragged (b to b + k rows), as alone
    assert 0 < alone[0]["stats"]["cut_fraction"][0] < 1
    for s, a in enumerate(alone):
        n = rows[s]
        for key, v in a["batch"].items():
            if key != "lengths":
                torch.testing.assert_close(out["batch"][key][s, :n], v[0], rtol=1e-5, atol=1e-6, msg=key)
                assert not out["batch"][key][s, n:].any()  # padding
        for key, v in a["stats"].items():
            assert out["stats"][key][s] == pytest.approx(v[0], rel=1e-5), key


def _ensemble(ds, seed):
    wm = WorldModelEnsemble.for_datasets(ds, WorldModelConfig(n_members=3, n_elites=2, hidden=8, t_layers=1,
                                                              r_layers=1, mask_layers=1, n_updates=0, threshold=0.3),
                                         seeds=[seed])
    with torch.no_grad():  # never terminal: rollouts run until cut by the uncertainty or step k
        wm.heads.mask.layers[-1].bias.fill_(10.0)
    wm.set_elites([0, 2] if seed else [0, 1])
    return wm


def test_rollouts_of_a_stack_of_cells_equal_each_run_alone():
    """Seeds of two cells (two datasets, each with its own ensemble) in one stack: each seed draws its starts from
    its own dataset and steps in its own cell's group of ``WorldModelEnsemble.stack``, as alone."""
    data = [tiny_reacher_dataset(T=64, seed=0), tiny_reacher_dataset(T=80, seed=3)]
    wms = [_ensemble(d, s) for d, s in zip(data, (0, 1))]
    starts = [w.gen.get_state() for w in wms]
    obs = [torch.as_tensor(d.obs) for d in data]
    cfg = RolloutConfig(k=4, batch=40).validate()
    runs = [(0, 0), (1, 0), (1, 1)]  # (cell, seed)
    alone = []
    for c, s in runs:
        wms[c].gen.set_state(starts[c])
        pol = MAPPO(data[c].obs_dims, data[c].act_dims, 1, MAPPOConfig(hidden=(8,)), seeds=[s])
        alone.append(generate_rollouts(wms[c], pol, obs[c], cfg, start_generators([s])))
    wm_gens = []
    for c, _ in runs:
        g = torch.Generator()
        g.set_state(starts[c])
        wm_gens.append(g)
    seeds = [s for _, s in runs]
    stack = MAPPO.stack([MAPPO(data[c].obs_dims, data[c].act_dims, 1, MAPPOConfig(hidden=(8,)), seeds=[s])
                         for c, s in runs])
    big = WorldModelEnsemble.stack(wms)
    assert big.n_groups == 2 and torch.equal(big.elites, torch.tensor([[0, 1], [0, 2]]))
    out = generate_rollouts(big, stack, [obs[c] for c, _ in runs], cfg, start_generators(seeds), wm_gens=wm_gens,
                            wm_groups=[c for c, _ in runs])
    rows = [a["stats"]["rows"][0] for a in alone]
    assert out["batch"]["lengths"].tolist() == rows
    for r, a in enumerate(alone):
        n = rows[r]
        for key, v in a["batch"].items():
            if key != "lengths":
                torch.testing.assert_close(out["batch"][key][r, :n], v[0], rtol=1e-5, atol=1e-6, msg=key)
        for key, v in a["stats"].items():
            assert out["stats"][key][r] == pytest.approx(v[0], rel=1e-5), key
    assert not torch.equal(alone[0]["batch"]["obs"][0, :5], alone[1]["batch"]["obs"][0, :5])  # the cells differ


def test_group_key_groups_a_cells_seeds_and_datasets_unless_buffers_could_split():
    prof = get_profile("smoke", C.PROFILES)
    cfg = reacher_moma_config(prof, "full")
    assert moma_group_key(cfg) is not None and moma_group_key(cfg) == moma_group_key(json.loads(json.dumps(cfg)))
    assert moma_group_key({**cfg, "simulator": "ground_truth"}) is None
    B = cfg["mappo"].get("minibatch_size", MAPPOConfig().minibatch_size)
    split = {**cfg, "rollouts": {**cfg["rollouts"], "batch": 2 * B - 2, "k": 2}}  # 2B - 2 to 2B rows: 1 or 2
    assert moma_group_key(split) is None
    other = reacher_moma_config(prof, "independent")
    assert moma_group_key(other) != moma_group_key(cfg)  # another observation layout
    from papers.moma_ppo.jobs import ant_moma_config

    kinds = {moma_group_key(ant_moma_config(prof, "partial", d)) for d in ("random", "medium", "full-replay", "expert")}
    assert len(kinds) == 1  # Table 4b's datasets of one obs mode stack: each run on its own data and ensemble


def _env(tmp_path):
    return {**os.environ, "PYTHONPATH": str(ROOT), "OFFMARL_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}


def _records(path: Path) -> dict:
    """(dataset or obs mode, seed) -> record."""
    return {(json.dumps(r["keys"], sort_keys=True), r["seed"]): r for r in map(json.loads, path.read_text().splitlines())
            if r.get("seed") is not None}


def _assert_close(a, b, where: str, rel: float = 1e-5) -> None:
    """Equal structure and non-float values; floats within ``rel``. Stacked and lone float32 forwards are bit for bit
    equal on the Intel Xeon project machine but not on the AMD EPYC one (measured 2026-11-25: ICG unfavorable's MAPPO
    value curve 2.6e-6 relative apart after 3 iterations, the scores equal), where the kernels sum in another order."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for k in a:
            _assert_close(a[k], b[k], f"{where}.{k}", rel)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{where}[{i}]", rel)
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=rel, abs=1e-9), where
    else:
        assert a == b, where


@pytest.mark.parametrize("item,filters,exact", [
    ("table4a", ["--obs-mode", "full"], False),
    ("table3", ["--dataset", "unfavorable"], True),
    ("table3", [], False),  # the three ICG datasets: 3 cells x 2 seeds in one group, each on its own ensemble
])
def test_grouped_smoke_cell_gives_the_records_of_its_runs_alone(tmp_path, item, filters, exact):
    env = _env(tmp_path)
    recs = {}
    for name, extra in (("alone", []), ("grouped", ["--group", "2" if filters else "6"])):
        res = tmp_path / name
        p = subprocess.run([sys.executable, f"papers/moma_ppo/{item}.py", "--profile", "smoke", "--results", str(res),
                            "--method", "moma_ppo", *filters, "--seeds", "0", "1", "--no-report", *extra],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        if extra:
            n = 2 if filters else 6
            assert f"{n} runs planned in 1 batched group(s)" in p.stdout + p.stderr
        recs[name] = _records(res / "smoke" / "moma_ppo" / f"{item}.jsonl")
    assert sorted(recs["alone"]) == sorted(recs["grouped"]) and len(recs["alone"]) == (2 if filters else 6)
    for seed, r in recs["alone"].items():
        g = recs["grouped"][seed]
        if exact:  # ICG: the team score (a fraction of 100 greedy episodes) is equal, every float within rounding
            assert g["score"] == r["score"] and g["curve"]["score"] == r["curve"]["score"]
            _assert_close(g["curve"], r["curve"], "curve")
            _assert_close(g["extra"], r["extra"], "extra")
        else:
            assert g["score"] == pytest.approx(r["score"], rel=1e-6)
            assert g["curve"]["step"] == r["curve"]["step"]
            for key in ("score", "rollout_len", "reward", "penalty"):
                assert g["curve"][key] == pytest.approx(r["curve"][key], rel=1e-5), key
            assert g["extra"]["rollout_len_run_mean"] == pytest.approx(r["extra"]["rollout_len_run_mean"], rel=1e-6)
            assert g["extra"]["wm_elites"] == r["extra"]["wm_elites"]


def test_the_table4a_job_plans_a_moma_cells_seeds_as_one_group():
    prof = get_profile("smoke", C.PROFILES)
    from papers.moma_ppo.table4a import build_cells

    cells = [c for c in build_cells(prof) if c.keys["method"] == "moma_ppo"]
    tasks = plan_groups([(c, s) for c in cells for s in (0, 1, 2)], table4a_job.group_key, 8)
    assert sorted(len(t) for t in tasks) == [3, 3, 3]  # each obs mode's cell: its 3 seeds


def test_a_killed_moma_group_resumes_from_its_runs_checkpoints(tmp_path, monkeypatch):
    """ICG smoke (3 iterations, a checkpoint after each): a group of two seeds killed in its second iteration (the
    runs alone it falls back to die there too) resumes, grouped, from the checkpoints the stack wrote, to the records
    of the group that was never killed, bit for bit."""
    from papers.moma_ppo import moma_job, table3

    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))

    def run(tag):
        argv = ["--profile", "smoke", "--results", str(tmp_path / tag), "--method", "moma_ppo", "--dataset",
                "unfavorable", "--seeds", "0", "1", "--group", "2", "--no-report"]
        table3.main(argv)
        return _records(tmp_path / tag / "smoke" / "moma_ppo" / "table3.jsonl")

    whole = run("whole")
    real, calls = moma_job.moma_iteration, []

    def dies_in_the_second_iteration(*a, **kw):
        calls.append(len(a[1].seeds))
        if len(calls) >= 2:
            raise RuntimeError("killed")
        return real(*a, **kw)

    monkeypatch.setattr(moma_job, "moma_iteration", dies_in_the_second_iteration)
    with pytest.raises(SystemExit):
        run("cut")
    assert calls[:2] == [2, 2]  # the stack of both seeds ran the first iteration and died in the second
    monkeypatch.setattr(moma_job, "moma_iteration", real)
    again = run("cut")
    for key, w in whole.items():
        a = again[key]
        assert a["resumed_from_step"] == 1, key
        assert a["curve"] == w["curve"] and a["score"] == w["score"] and a["extra"] == w["extra"], key
