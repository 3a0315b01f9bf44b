"""MOMA-PPO's Iterated Coordination Game items: the datasets (Table 1's exact claims), the rollout generator's
time-outs and row order, the world-model cache, and smoke runs of papers/moma_ppo/table1.py and table3.py."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from common.algos.mappo import MAPPO, MAPPOConfig
from common.running.runtime import cpu_model, current_threads
from papers.moma_ppo.config import ICG_BEHAVIOR
from papers.moma_ppo.datasets import icg_dataset, make_icg_dataset, table1_stats
from papers.moma_ppo.jobs import last_fraction
from papers.moma_ppo.moma_ppo import RolloutConfig, generate_rollouts, start_generators, time_out

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path):
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }


@pytest.mark.parametrize("name", list(ICG_BEHAVIOR))
def test_icg_data_match_table1_within_3_se(name):
    """Spec §6 item 1: each agent's P(→) and the mean score lie within 3 SE of the design values (and of Table 1's
    expectations 0.625 / 0.5 / 0.375); every play is a terminal one-step episode."""
    ds = make_icg_dataset(name)
    st = table1_stats(ds)
    p1, p2 = ICG_BEHAVIOR[name]
    want = p1 * p2 + (1 - p1) * (1 - p2)
    assert abs(st["p_right_agent1"] - p1) <= 3 * st["se_p_right_agent1"]
    assert abs(st["p_right_agent2"] - p2) <= 3 * st["se_p_right_agent2"]
    assert abs(st["avg_score"] - want) <= 3 * st["se_avg_score"]
    assert ds.size == ds.n_episodes == 10_000 and ds.terminals.all() and not ds.timeouts.any()
    assert np.array_equal(ds.rewards[:, 0], (ds.actions[:, 0, 0] == ds.actions[:, 1, 0]).astype(np.float32))
    assert ds.card["n_actions"] == [2, 2] and ds.card["protocol"]["dataset"] == name


def test_icg_dataset_is_cached_with_its_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path))
    first, again = icg_dataset("neutral", 300), icg_dataset("neutral", 300)
    assert first.card["sha256"] == again.card["sha256"] and len(list(tmp_path.rglob("*.npz"))) == 1


def test_time_out_rule():
    raw, clamped = torch.tensor([0.5, 2.0, 3.0]), torch.tensor([0.5, 2.0, 2.0])
    assert time_out(0, 10, raw, clamped, 2.0, "paper").tolist() == [1.0, 0.0, 0.0]  # eps_g >= l_eps cuts
    assert time_out(0, 10, raw, clamped, 2.0, "code").tolist() == [1.0, 1.0, 1.0]  # clamped > 2 never holds
    assert time_out(9, 10, raw, clamped, 2.0, "paper").tolist() == [0.0, 0.0, 0.0]  # the k-th step


class _StubModel:
    """A world model whose next obs = obs + 1, reward = the step's obs, never terminal, never uncertain."""

    cfg = SimpleNamespace(threshold=2.0)

    def sample(self, obs, actions):
        B, N = obs.shape[:2]
        z = torch.zeros(B)
        return {
            "next_obs": obs + 1,
            "rewards": obs[..., 0].clone(),
            "masks": torch.ones(B, N),
            "penalty": z,
            "eps_g": z,
            "eps_g_raw": z,
        }


def test_rollouts_are_contiguous_k_steps():
    """k = 3 with a stub model: each start gives 3 rows in order (obs t, t+1, t+2), zetas (1, 1, 0); the first draw is
    floor(b / k) + 1 starts; here (no cuts) every seed's buffer has the same length."""
    pol = MAPPO(
        (1, 1), (1, 1), 2, MAPPOConfig(policy="categorical", hidden=(8, 8)), seeds=[0, 1], n_actions=(2, 2)
    )
    starts = torch.arange(10, dtype=torch.float32)[:, None, None].expand(10, 2, 1).contiguous()
    out = generate_rollouts(_StubModel(), pol, starts, RolloutConfig(k=3, batch=12), start_generators([0, 1]))
    b = out["batch"]
    # 12 // 3 + 1 = 5 starts x 3 steps
    assert b["obs"].shape == (2, 15, 2, 1) and out["stats"]["rows"] == [15, 15]
    assert b["lengths"].tolist() == [15, 15]
    o = b["obs"][..., 0, 0].reshape(2, 5, 3)
    assert torch.equal(o[..., 1] - o[..., 0], torch.ones(2, 5)) and torch.equal(
        o[..., 2] - o[..., 1], torch.ones(2, 5)
    )
    assert b["zetas"].reshape(2, 5, 3)[..., :].tolist() == [[[1.0, 1.0, 0.0]] * 5] * 2
    assert torch.equal(b["next_obs"], b["obs"] + 1) and b["masks"].eq(1).all()


def test_last_fraction_is_alfreds_mean_on_last_20_percents():
    curve = [{"step": i, "score": float(s)} for i, s in enumerate([0, 0, 0, 0, 0, 0, 0, 0, 1, 0])]
    assert last_fraction(curve) == pytest.approx(0.5)  # np.mean(data[int(0.8 * 10):]) = mean(1, 0)


def test_table1_smoke_end_to_end(tmp_path):
    from common.running.records import load_records

    res = tmp_path / "runs"
    p = subprocess.run(
        [sys.executable, "papers/moma_ppo/table1.py", "--profile", "smoke", "--results", str(res)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    recs = load_records(res, "smoke", "moma_ppo", "table1")
    runs = [r for r in recs if "claim" not in r["keys"]]
    assert len(runs) == 9 and all(0.0 < r["score"] < 1.0 for r in runs)
    assert sorted(r["keys"]["claim"] for r in recs if "claim" in r["keys"]) == [
        "t1_datasets_mix_behaviors",
        "t1_scores_are_agreement_rates",
    ]


def test_table3_smoke_end_to_end(tmp_path):
    """Smoke Table 3: 4 methods x 3 datasets x 2 seeds train, score over 100 greedy episodes (0 or 1 on the one-play
    game), write the 5 claim verdicts; the world model is trained once per dataset and cached."""
    from common.running.records import load_records

    res = tmp_path / "runs"
    p = subprocess.run(
        [sys.executable, "papers/moma_ppo/table3.py", "--profile", "smoke", "--results", str(res)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    recs = load_records(res, "smoke", "moma_ppo", "table3")
    runs = [r for r in recs if "claim" not in r["keys"]]
    assert len(runs) == 12 * 2 and all(r["score"] in (0.0, 1.0) for r in runs)
    moma = [r for r in runs if r["keys"]["method"] == "moma_ppo"]
    # one ensemble per dataset, shared by seeds
    assert len({r["extra"]["world_model_sha256"] for r in moma}) == 3
    assert len(list((tmp_path / "data" / "moma_ppo" / "world_models").glob("*.pt"))) == 3
    assert all(r["extra"]["score_last20pct"] is not None for r in runs)
    assert len([r for r in recs if "claim" in r["keys"]]) == 5
    assert (res / "smoke" / "moma_ppo" / "table3.md").exists()


class _Killed(Exception):
    pass


class _Ctx:
    """The slice of a run context that jobs.world_model reads: the device, a progress bar factory."""

    device = "cpu"

    def __init__(self, kill_after: int | None = None):
        self.kill_after, self.updates, self.totals = kill_after, [], []

    def progress(self, total, desc=None):
        ctx = self
        self.totals.append(total)

        class Bar:
            def update(self, n):
                ctx.updates.append(n)
                if ctx.kill_after is not None and len(ctx.updates) == ctx.kill_after:
                    raise _Killed

            def close(self):
                pass

        return Bar()


def test_world_model_training_killed_resumes_from_its_partial_file(tmp_path, monkeypatch):
    """A job's world model trained in chunks: killed after two chunks of WM_SAVE_EVERY updates, the next job on the
    same cache resumes from ``<cache>.partial`` (its bar covers the updates left), stores the same ensemble as an
    uninterrupted training in another cache, and removes the partial file."""
    from common.running.profiles import get_profile
    from papers.moma_ppo import cell_model, jobs
    from papers.moma_ppo.config import PROFILES

    monkeypatch.setattr(cell_model, "WM_SAVE_EVERY", 20)
    cfg = jobs.icg_moma_config(get_profile("smoke", PROFILES), "unfavorable")  # 50 updates at smoke
    assert cfg["world_model"]["n_updates"] == 50
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "whole"))
    data = jobs.load_dataset(cfg["dataset"])
    whole = jobs.world_model(cfg, data, _Ctx(), None)
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "killed"))
    data = jobs.load_dataset(cfg["dataset"])
    path = jobs.wm_cache_path(cfg, data)
    partial = path.with_name(path.name + ".partial")
    with pytest.raises(_Killed):
        jobs.world_model(cfg, data, _Ctx(kill_after=2), None)
    assert partial.exists() and not path.exists()
    here = {"cpu": cpu_model(), "threads": current_threads()}
    assert cell_model.trained_on(partial) == [{"from_update": 0, **here}]
    ctx = _Ctx()
    resumed = jobs.world_model(cfg, data, ctx, None)
    assert ctx.updates == [10] and ctx.totals == [10]  # the bar covers this process's updates (its ETA)
    assert path.exists() and not partial.exists() and cell_model.trained_on(partial) is None
    assert resumed.checksum() == whole.checksum() and resumed.step == 50
    # where each stretch of updates ran, for the records (world_model_trained_on)
    assert whole.trained_on == [{"from_update": 0, **here}]
    assert (
        resumed.trained_on
        == cell_model.trained_on(path)
        == [{"from_update": 0, **here}, {"from_update": 40, **here}]
    )
    again = _Ctx()
    assert jobs.world_model(cfg, data, again, None).checksum() == whole.checksum() and again.updates == []


def test_a_run_checkpoint_names_the_cached_world_model_and_older_ones_still_load(tmp_path, monkeypatch):
    """A MOMA-PPO checkpoint keeps the cached ensemble's sha256 and sampling stream (``model_checkpoint``); resuming
    loads the cache and continues the stream. A checkpoint from before (the weights inside) loads as it did; one
    naming another ensemble, or a cache that is gone, is an error that says so."""
    from common.running.profiles import get_profile
    from papers.moma_ppo import cell_model, jobs
    from papers.moma_ppo.config import PROFILES

    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path))
    cfg = jobs.icg_moma_config(get_profile("smoke", PROFILES), "unfavorable")
    data = jobs.load_dataset(cfg["dataset"])
    wm = jobs.world_model(cfg, data, _Ctx(), None)
    torch.rand(7, generator=wm.gen)  # the run drew from the stream before its checkpoint
    new, old = cell_model.model_checkpoint(wm), wm.state_dict()
    assert sorted(new) == ["rng", "sha256"] and new["sha256"] == wm.checksum()
    for state in (new, old):
        back = jobs.world_model(cfg, data, _Ctx(), {"world_model": state})
        assert back.checksum() == wm.checksum() and torch.equal(back.gen.get_state(), wm.gen.get_state())
    with pytest.raises(ValueError, match="written on world model 000000000000"):
        jobs.world_model(cfg, data, _Ctx(), {"world_model": {**new, "sha256": "0" * 64}})
    jobs.wm_cache_path(cfg, data).unlink()
    with pytest.raises(FileNotFoundError, match="which is gone"):
        jobs.world_model(cfg, data, _Ctx(), {"world_model": new})
