"""MOMA-PPO Table 4b's MAIQL-ft (papers/moma_ppo/maiql_ft.py): the minibatch's real-data fraction (hand-computed), the
rollout schedule (every 10 updates, 10 true steps from dataset start rows, time-outs at the end, terminals from the
simulator), online rewards scaled like the dataset's, the buffer's final count, a killed run resuming to the same
record and parameters, the cells' configs, and a smoke Table 4b maiql_ft cell end to end."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import envs
from common.algos.iql_continuous import ContinuousIQL, ContinuousIQLConfig
from common.datasets.builder import DatasetBuilder
from common.running.experiment import Cell, RunContext
from common.running.profiles import get_profile
from papers.moma_ppo import config as C
from papers.moma_ppo import maiql_ft as FT
from papers.moma_ppo.jobs import ant_baseline_config, scale_rewards, table4b_group_key
from papers.moma_ppo.simulator import GroundTruthSimulator

ROOT = Path(__file__).resolve().parent.parent
ENV = "mamujoco/ant-4x2"


# ---- the minibatch mix ------------------------------------------------------------------------------------------
def test_real_rows_are_the_data_fraction_of_the_batch():
    """round(B n_data / (n_data + n_online)): 256 x 1000 / 1250 = 204.8 -> 205; half online -> 128; none -> 256."""
    assert FT.real_rows(256, 1000, 250) == 205
    assert FT.real_rows(256, 1000, 1000) == 128
    assert FT.real_rows(256, 1000, 0) == 256
    assert FT.real_rows(256, 3, 1) == 192  # 256 x 0.75


@pytest.mark.parametrize("memory_len", [0, 2])
def test_mixed_batch_takes_the_fraction_from_each_source(memory_len):
    """Data rows carry obs 0, online rows obs 1: each seed's batch holds 256 - 205 = 51 online rows (seed 1's buffer:
    1000 rows, 128), with histories gathered inside each source."""
    N, O, A, T = 2, 3, 2, 1000
    model = ContinuousIQL(
        [O, O],
        [A, A],
        2,
        ContinuousIQLConfig(hidden=(8,), memory_len=memory_len, memory_dim=8 if memory_len else 128),
        seeds=[0, 1],
    )
    data = {
        "obs": torch.zeros(T, N, O),
        "next_obs": torch.zeros(T, N, O),
        "actions": torch.zeros(T, N, A),
        "rewards": torch.zeros(T),
        "masks": torch.ones(T),
        "starts": torch.zeros(T, dtype=torch.long),
    }
    buffers = [FT.OnlineBuffer(1000, N, O, A, "cpu") for _ in range(2)]
    for s, n in enumerate((250, 1000)):
        for k in range(n):
            buffers[s].add(
                torch.ones(N, O), torch.zeros(N, A), 1.0, torch.ones(N, O), 1.0, False, start=k - k % 10
            )
    batch = FT.mixed_batch(model, data, buffers)
    assert batch["obs"].shape == (2, 256, N, O) and batch["rewards"].shape == (2, 256)
    online = batch["obs"][:, :, 0, 0] == 1.0  # [S, B]
    assert online.sum(-1).tolist() == [51, 128]
    assert torch.equal(batch["rewards"] == 1.0, online)
    if memory_len:
        assert batch["memory"].shape == (2, 256, N, memory_len, O + A)
        # a history step of an online row holds online obs (1) or zeros before its rollout's start, never data obs
        h = batch["memory"][..., :O]
        assert bool(((h == 0) | (h == 1)).all()) and bool((h[~online] == 0).all())


# ---- a tiny Ant dataset and run ---------------------------------------------------------------------------------
def _data(obs_mode: str, episodes: int = 3, length: int = 30):
    """Random-action Ant episodes cut at ``length`` steps (time-outs), rewards scaled as Table 4b's IQL family."""
    env = envs.make(ENV, obs_mode=obs_mode)
    rng = np.random.default_rng(0)
    b = DatasetBuilder()
    for e in range(episodes):
        obs = env.reset(seed=e)
        for t in range(length):
            act = rng.uniform(-1, 1, (4, 2)).astype(np.float32)
            nxt, rew, term, _, _ = env.step(act)
            b.add(obs, act, rew, nxt, bool(term), t == length - 1)
            obs = nxt
            if term:
                break
    return scale_rewards(b.build(ENV, "random", spec=env.spec), C.T4B_REWARD_SCALE)


def _cell(obs_mode: str, U: int = 6, F: int = 25, memory_len: int = 0) -> Cell:
    section = {"method": "maiql", "hidden": [16, 16], "batch_size": 32, "memory_len": memory_len}
    if memory_len:
        section["memory_dim"] = 8
    cfg = {
        "dataset": {"env": ENV, "env_options": {"obs_mode": obs_mode}, "return_mode": "mean"},
        "method": "maiql_ft",
        "learner": "iql_continuous",
        "iql_continuous": section,
        "updates": U,
        "finetune": {"updates": F},
        "eval_every": 10,
        "eval_episodes": 1,
        "eval_max_steps": 5,
        "ckpt_every": 10,
    }
    return Cell("moma_ppo", "table4b", {"obs_mode": obs_mode, "method": "maiql_ft"}, cfg)


class _Killed(Exception):
    pass


class _KilledAt(RunContext):
    """A run context whose run dies right after saving its checkpoint at step ``at``."""

    def __init__(self, at: int, *a):
        super().__init__(*a)
        self.at = at

    def save_checkpoint(self, obj, step=None):
        super().save_checkpoint(obj, step)
        if step == self.at:
            raise _Killed


def _ctx(tmp_path, name, at=None):
    args = (0, get_profile("smoke"), "cpu", tmp_path / f"{name}.pt", name)
    return RunContext(*args) if at is None else _KilledAt(at, *args)


def _spy(monkeypatch):
    """Record each rollout (the learner's update count when it starts, its buffer rows) and the built learners."""
    seen = {"collect": [], "models": []}
    collect, build = FT.collect, FT.build_learner

    def spy_collect(model, sim, data_obs, buffers, cfg, factor, gen):
        first = buffers[0].n
        lengths = collect(model, sim, data_obs, buffers, cfg, factor, gen)
        seen["collect"].append((model.step, first, lengths[0]))
        return lengths

    def spy_build(*a, **kw):
        seen["models"].append(build(*a, **kw))
        return seen["models"][-1]

    monkeypatch.setattr(FT, "collect", spy_collect)
    monkeypatch.setattr(FT, "build_learner", spy_build)
    return seen


def test_rollout_schedule_rewards_and_buffer_count(tmp_path, monkeypatch):
    """U = 6 offline, F = 25 fine-tuning updates: rollouts before updates 7, 17, 27 (every 10), each from a dataset
    row, 10 true steps unless the ant falls (mask 0 ends it), a time-out on the last row; online rewards = the true
    team reward x the dataset's factor 1000 / (max - min episode return); the record counts what the buffer holds."""
    data = _data("full")
    seen = _spy(monkeypatch)
    out = FT.maiql_ft_run(_cell("full"), 0, _ctx(tmp_path, "a"), load=lambda spec: data)
    assert [c[0] for c in seen["collect"]] == [6, 16, 26]  # learner updates done when each rollout starts
    lengths = [c[2] for c in seen["collect"]]
    assert all(1 <= n <= 10 for n in lengths)
    n = out["online_transitions"]
    assert n == sum(lengths) and out["online_rollouts"] == 3 and n <= 30
    assert out["online_fraction_final"] == pytest.approx(n / (data.size + n))
    raw = np.asarray(data.card["reward_scale"]["factor"])
    returns = np.asarray(data.episode_returns) / raw
    assert float(raw) == pytest.approx(1000.0 / (returns.max() - returns.min()))
    assert FT.reward_factor_of(data) == float(raw)
    # curve: evaluations at 10, U = 6 (before fine-tuning), 20, 30 and U + F = 31
    assert [p["step"] for p in out["curve"]] == [6, 10, 20, 30, 31]
    assert out["score_before_ft"] == out["curve"][0]["score"] and math.isfinite(out["score"])
    assert out["curve"][0]["n_online"] == 0 and out["curve"][-1]["n_online"] == n


def test_offline_phase_is_the_maiql_run(tmp_path):
    """The score right before fine-tuning is common.running.offline's MAIQL run of the same seed and settings (same rows, same
    stream): the MAIQL-ft column differs from MAIQL's only by the fine-tuning."""
    from common.running.offline import offline_run

    data = _data("full")
    ft = FT.maiql_ft_run(_cell("full"), 0, _ctx(tmp_path, "ft"), load=lambda spec: data)
    plain = _cell("full")
    plain.config.pop("finetune")
    base = offline_run(plain, 0, _ctx(tmp_path, "maiql"), learner=None, load=lambda spec: data)
    assert ft["score_before_ft"] == base["score"] and ft["curve"][0] == {**base["curve"][-1], "n_online": 0}


def test_online_rows_are_true_steps_from_dataset_starts(monkeypatch):
    """``collect`` straight: each rollout starts at a dataset obs, its rows chain (next obs = the following row's obs),
    rewards are the simulator's x the factor, masks its 1 - terminated, starts name the rollout's first row, and
    only a full-length rollout ends with a time-out."""
    data = _data("partial")
    model = ContinuousIQL(
        data.obs_dims,
        data.act_dims,
        1,
        ContinuousIQLConfig(hidden=(16,), memory_len=2, memory_dim=8),
        seeds=[3],
    )
    tensors = model.prepare_data(data.to_torch())
    sim = GroundTruthSimulator(ENV, {"obs_mode": "partial"})
    ft = FT.FineTuneConfig(updates=30).validate()
    buf = FT.OnlineBuffer(ft.size, model.n_agents, model.obs_dim, model.act_dim, "cpu")
    gen = torch.Generator().manual_seed(0)
    factor = FT.reward_factor_of(data)
    firsts = []
    for _ in range(ft.n_rollouts):
        firsts.append(buf.n)
        FT.collect(model, sim, tensors["obs"], [buf], ft, factor, gen)
    d = {k: v[: buf.n] for k, v in buf.data.items()}
    ends = firsts[1:] + [buf.n]
    for a, b in zip(firsts, ends):
        assert bool((tensors["obs"] == d["obs"][a]).all(-1).all(-1).any())  # a dataset row
        assert bool((buf.starts[a:b] == a).all())
        assert torch.equal(d["next_obs"][a : b - 1], d["obs"][a + 1 : b])
        full = b - a == ft.rollout_len and d["masks"][b - 1] > 0
        assert buf.timeouts[a:b].tolist() == [False] * (b - a - 1) + [bool(full)]
        assert bool((d["masks"][a : b - 1] == 1).all())
    true = sim.sample(d["obs"], d["actions"])
    assert torch.allclose(d["rewards"], true["rewards"][:, 0] * factor, rtol=1e-5)
    assert torch.equal(d["masks"], true["masks"][:, 0])
    assert torch.allclose(d["next_obs"], true["next_obs"])
    assert bool((d["actions"].abs() <= 1 - 1e-5).all()) and d["actions"].std() > 0.1  # sampled, not greedy


@pytest.mark.parametrize("at", [20, 23])
def test_killed_run_resumes_to_the_same_record_and_parameters(tmp_path, monkeypatch, at):
    """PO with histories: a run killed after its checkpoint at update 20 (``ckpt_every``'s, inside fine-tuning: 2
    rollouts in the buffer) or 23 (the clock's: ``RunContext.checkpoint_due``) resumes to the record and the
    parameters of a run that never stopped."""
    from common.running import runs as R

    data = _data("partial")
    seen = _spy(monkeypatch)
    cell = _cell("partial", memory_len=2)
    straight = FT.maiql_ft_run(cell, 0, _ctx(tmp_path, "straight"), load=lambda spec: data)
    with monkeypatch.context() as mp:
        if at % cell.config["ckpt_every"]:
            mp.setattr(R, "CHECKPOINT_WALL_S", 0.0)  # the clock says "due" at every update
        with pytest.raises(_Killed):
            FT.maiql_ft_run(cell, 0, _ctx(tmp_path, "killed", at=at), load=lambda spec: data)
    ctx = _ctx(tmp_path, "killed")
    resumed = FT.maiql_ft_run(cell, 0, ctx, load=lambda spec: data)
    assert ctx.resumed_from_step == at
    assert resumed == straight
    a, b = seen["models"][0].state_dict(), seen["models"][2].state_dict()
    for key in ("nets", "targets"):
        for name, v in a[key].items():
            assert torch.equal(v, b[key][name]), (key, name)
    assert all(torch.equal(x, y) for x, y in zip(a["rngs"], b["rngs"]))


# ---- configs and the smoke cell ----------------------------------------------------------------------------------
def test_maiql_ft_cells_and_group_key():
    """MAIQL's defaults [I] plus a finetune section: F = 1e6 at full, 10,000 at quick, 20 at smoke; never stacked."""
    full, quick, smoke = (get_profile(n, C.PROFILES) for n in ("full", "quick", "smoke"))
    f = ant_baseline_config(full, "full", "medium", "maiql_ft")
    assert f["iql_continuous"] == {"method": "maiql"} and f["finetune"] == {"updates": 1_000_000}
    assert f["updates"] == 1_000_001 and f["dataset"]["reward_scale"] == 1000.0
    assert ant_baseline_config(quick, "partial", "medium", "maiql_ft")["finetune"] == {"updates": 10_000}
    s = ant_baseline_config(smoke, "partial", "random", "maiql_ft")
    assert s["finetune"] == {"updates": 20} and s["updates"] == 20
    assert table4b_group_key(s) is None
    assert table4b_group_key(ant_baseline_config(smoke, "partial", "random", "maiql")) is not None
    assert FT.FineTuneConfig().validate().size == 1_000_000  # the code's capacity, exactly filled at full
    with pytest.raises(ValueError, match="exceed capacity"):
        FT.FineTuneConfig(updates=2_000_000).validate()
    with pytest.raises(ValueError, match="rollout_every=0"):
        FT.FineTuneConfig(rollout_every=0).validate()


def test_smoke_table4b_maiql_ft_cell(tmp_path):
    """papers/moma_ppo/table4b.py --profile smoke, PO random maiql_ft: 20 offline + 20 fine-tuning updates, 2
    rollouts, the record's fine-tuning fields."""
    from common.running.records import load_records

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }
    p = subprocess.run(
        [
            sys.executable,
            "papers/moma_ppo/table4b.py",
            "--profile",
            "smoke",
            "--dataset",
            "random",
            "--obs-mode",
            "partial",
            "--method",
            "maiql_ft",
            "--results",
            str(tmp_path / "runs"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    runs = [
        r for r in load_records(tmp_path / "runs", "smoke", "moma_ppo", "table4b") if "claim" not in r["keys"]
    ]
    assert len(runs) == 1
    x = runs[0]["extra"]
    assert x["online_rollouts"] == 2 and 2 <= x["online_transitions"] <= 20 and x["ft_updates"] == 20
    assert x["online_fraction_final"] == pytest.approx(
        x["online_transitions"] / (x["dataset_size"] + x["online_transitions"])
    )
    assert [q["step"] for q in runs[0]["curve"]] == [20, 40]
    assert x["score_before_ft"] == runs[0]["curve"][0]["score"] and math.isfinite(runs[0]["score"])
