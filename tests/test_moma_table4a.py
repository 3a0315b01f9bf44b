"""MOMA-PPO Table 4a: the cells grid against published.py (22 cells: IQL only in the FO row), the per-column configs,
the synthetic rollouts on continuous actions against hand-computed cases (the adaptive cut, the clipping to the
dataset box), the "needs" exit at quick without data, and a smoke run of papers/moma_ppo/table4a.py."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from common.running.profiles import get_profile
from moma_data import tiny_reacher_dataset
from papers.moma_ppo import config as C
from papers.moma_ppo.claims import t4a_cells as cell_keys
from papers.moma_ppo.jobs import reacher_baseline_config, reacher_moma_config
from papers.moma_ppo.moma_ppo import RolloutConfig, generate_rollouts, start_generators
from papers.moma_ppo.published import ITEMS, PUBLISHED
from papers.moma_ppo.table4a import build_cells

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path):
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }


# ---- the grid ---------------------------------------------------------------------------------------------------
def test_cells_are_the_published_cells():
    """3 obs modes x 8 methods minus IQL's two PO cells ('—' in the paper) = 22 = 19 baselines + 3 MOMA-PPO."""
    for name in ("smoke", "quick", "full"):
        cells = build_cells(get_profile(name, C.PROFILES))
        ours = {tuple(sorted(c.keys.items())) for c in cells}
        pub = {tuple(sorted(e.keys.items())) for e in PUBLISHED if e.item == "table4a"}
        assert ours == pub and len(cells) == 22
        assert sum(c.keys["method"] == "moma_ppo" for c in cells) == 3
    assert ("independent", "iql") not in cell_keys() and ("full", "iql") in cell_keys()
    assert ITEMS["table4a"].scale == "fraction" and ITEMS["table4a"].factor == 0.01


def test_baseline_configs_per_column():
    full = get_profile("full", C.PROFILES)
    quick = get_profile("quick", C.PROFILES)
    iql = reacher_baseline_config(full, "full", "iql")
    assert iql["learner"] == "iql_continuous" and iql["iql_continuous"] == {
        "method": "iql",
        "central_obs": "agent0",
    }
    assert iql["updates"] == 1_000_001 and iql["eval_episodes"] == 100 and iql["eval_every"] == 20_000
    assert iql["dataset"]["env_options"] == {"obs_mode": "full"} and iql["dataset"]["profile"] == "full"
    # quick: no histories (README "Table 4a"), narrower networks, 10,000 updates; smoke: histories of 2 in PO rows
    po, fo = (reacher_baseline_config(quick, o, "maiql")["iql_continuous"] for o in ("leader-only", "full"))
    assert po == fo == {"method": "maiql", "hidden": [128, 128], "memory_len": 0}
    assert reacher_baseline_config(quick, "independent", "matd3bc")["updates"] == 10_000
    smoke = get_profile("smoke", C.PROFILES)
    assert reacher_baseline_config(smoke, "independent", "matd3bc")["matd3bc"] == {
        "hidden": [32, 32],
        "memory_len": 2,
    }
    assert reacher_baseline_config(smoke, "full", "ibc")["iql_continuous"]["memory_len"] == 0
    assert reacher_baseline_config(quick, "full", "ibc")["iql_continuous"]["method"] == "bc"
    iomar = reacher_baseline_config(full, "independent", "iomar")
    assert (
        iomar["learner"] == "itd3" and iomar["itd3"]["actor_reg"] == "omar" and iomar["itd3"]["hidden"] == 256
    )
    icql = reacher_baseline_config(quick, "independent", "icql")["itd3"]
    assert icql["critic_reg"] == "cql" and icql["actor_reg"] == "none" and icql["hidden"] == 128
    with pytest.raises(ValueError, match="no 'iql' cell for obs_mode='independent'.*valid: full"):
        reacher_baseline_config(full, "independent", "iql")
    with pytest.raises(ValueError, match="unknown Table 4a baseline 'maiql_ft'; valid: iql, maiql"):
        reacher_baseline_config(full, "full", "maiql_ft")
    with pytest.raises(
        ValueError, match="obs_mode='partial' is not allowed; allowed: full, independent, leader-only"
    ):
        reacher_baseline_config(full, "partial", "ibc")


def test_moma_config_follows_the_code_on_mamujoco():
    full = reacher_moma_config(get_profile("full", C.PROFILES), "leader-only")
    assert full["world_model"] == {} and full["rollouts"] == {"k": 10, "batch": 2000}
    # [code] memory 10
    assert full["mappo"] == {"obs_norm": True, "memory_len": 10} and full["iterations"] == 100_001
    from papers.moma_ppo.worldmodel_data import WorldModelConfig

    wm = WorldModelConfig(**full["world_model"])
    assert (wm.clip_to_dataset, wm.threshold, wm.lambda_g, wm.lambda_r, wm.hidden) == (
        True,
        2.0,
        0.1,
        0.05,
        1024,
    )
    quick = reacher_moma_config(get_profile("quick", C.PROFILES), "full")
    assert quick["world_model"] == {} and quick["mappo"]["hidden"] == [128, 128]  # the code's world model
    assert quick["mappo"]["memory_len"] == 0  # quick: no histories (README "Table 4a")
    # exercised
    assert reacher_moma_config(get_profile("smoke", C.PROFILES), "full")["mappo"]["memory_len"] == 2


# ---- continuous synthetic rollouts --------------------------------------------------------------------------------
class _StubPolicy:
    """Zero actions for one seed (the rollout's bookkeeping does not depend on them)."""

    n_seeds = 1

    def act(self, obs):
        return torch.zeros(*obs.shape[:-1], 1), torch.zeros(obs.shape[:-1])


class _ObsPolicy(_StubPolicy):
    """Action obs[0] - 1.5 for every agent: -1.5, -0.5, 0.5 at obs 0, 1, 2 (the first clipped to -1 in the stat)."""

    def act(self, obs):
        return obs[..., :1] - 1.5, torch.zeros(obs.shape[:-1])


class _CountingWM:
    """next obs = obs + 1 (every entry); eps_g_raw = 3 once the next obs reaches 3 (above l_eps = 2), else 0; the
    clamped eps_g is min(eps_g_raw, 2) as WorldModelEnsemble.sample returns it; reward 1, never terminal."""

    cfg = SimpleNamespace(threshold=2.0)

    def sample(self, obs, actions):
        nxt = obs + 1.0
        raw = torch.where(nxt[:, 0, 0] >= 3.0, 3.0, 0.0)
        B, N = obs.shape[:2]
        return {
            "next_obs": nxt,
            "rewards": torch.ones(B, N),
            "masks": torch.ones(B, N),
            "penalty": torch.zeros(B),
            "eps_g_raw": raw,
            "eps_g": raw.clamp_max(2.0),
        }


def test_rollouts_record_the_clipped_joint_action_sum_of_squares():
    """action_sq = mean over stored rows of sum over agents and dims of clip(a, -1, 1)^2: rows at obs 0, 1, 2 (cut
    at step 2), 2 agents: (1 + 1, 0.25 + 0.25, 0.25 + 0.25) -> mean 1.0 (unclipped it would be 5 / 3)."""
    out = generate_rollouts(
        _CountingWM(),
        _ObsPolicy(),
        torch.zeros(7, 2, 3),
        RolloutConfig(k=5, batch=10).validate(),
        start_generators([0]),
    )
    assert out["batch"]["actions"][0, :3, 0, 0].tolist() == [-1.5, -0.5, 0.5]
    assert out["stats"]["action_sq"] == [pytest.approx(1.0)]


def test_rollouts_cut_where_eps_g_reaches_the_threshold():
    """k = 5, b = 10, every start at obs 0: the paper's rule cuts at step 2 (eps_g = 3 >= 2), so each rollout is
    (0, 1, 2) with zetas (1, 1, 0); 3 starts give 9 rows < 10, one more start (floor((10 - 9) / 5) + 1) gives 12."""
    obs_data = torch.zeros(7, 2, 3)
    out = generate_rollouts(
        _CountingWM(), _StubPolicy(), obs_data, RolloutConfig(k=5, batch=10).validate(), start_generators([0])
    )
    b, st = out["batch"], out["stats"]
    assert b["obs"].shape == (1, 12, 2, 3) and b["actions"].shape == (1, 12, 2, 1)
    assert b["obs"][0, :, 0, 0].tolist() == [0.0, 1.0, 2.0] * 4
    assert b["zetas"][0].tolist() == [1.0, 1.0, 0.0] * 4 and b["masks"][0].tolist() == [1.0] * 12
    assert st["rows"] == [12] and st["rollout_len_mean"] == [3.0] and st["cut_fraction"] == [1.0]
    assert st["obs_absmax"] == [3.0]
    # the official code's test (clamped eps_g > 2) never cuts: 3 starts x 5 steps, a time-out at step k only
    code = generate_rollouts(
        _CountingWM(),
        _StubPolicy(),
        obs_data,
        RolloutConfig(k=5, batch=10, truncation_rule="code").validate(),
        start_generators([0]),
    )
    assert code["batch"]["zetas"][0].tolist() == [1.0, 1.0, 1.0, 1.0, 0.0] * 3
    assert code["stats"]["cut_fraction"] == [0.0] and code["stats"]["rollout_len_mean"] == [5.0]


def test_continuous_rollouts_stay_in_the_dataset_box():
    """A real (untrained, so wildly extrapolating) world model and Gaussian MAPPO policies whose inputs are scaled
    x50: every synthetic next obs lies in the per-agent, per-dim [min, max] of obs ∪ next_obs (hand-computed from
    the arrays), every reward before the penalty in [r_min, r_max], and the stored reward is that minus the
    penalty; the sampled actions are stored unbounded (some |a| > 1)."""
    from common.algos.mappo import MAPPO, MAPPOConfig
    from papers.moma_ppo.worldmodel import WorldModelEnsemble
    from papers.moma_ppo.worldmodel_data import WorldModelConfig

    ds = tiny_reacher_dataset()
    wm = WorldModelEnsemble.for_datasets(
        ds,
        WorldModelConfig(
            n_members=3, n_elites=2, hidden=8, t_layers=1, r_layers=1, mask_layers=1, n_updates=0
        ),
        seeds=[0],
    )
    wm.set_elites([0, 1])
    lo = np.minimum(ds.obs.min(0), ds.next_obs.min(0))  # [N, O] hand-computed box
    hi = np.maximum(ds.obs.max(0), ds.next_obs.max(0))
    assert np.allclose(wm.box["obs_low"][0].numpy(), lo) and np.allclose(wm.box["obs_high"][0].numpy(), hi)
    obs = torch.as_tensor(ds.obs) * 50.0
    # unbounded actions: clamped to ±(1 − 1e-5) inside
    step = wm.sample(obs, torch.full((len(obs), 2, 1), 7.0))
    assert (step["next_obs"] >= torch.as_tensor(lo) - 1e-6).all() and (
        step["next_obs"] <= torch.as_tensor(hi) + 1e-6
    ).all()
    r_lo, r_hi = float(ds.rewards.min()), float(ds.rewards.max())
    assert (step["rewards_clipped"] >= r_lo - 1e-6).all() and (step["rewards_clipped"] <= r_hi + 1e-6).all()
    assert torch.allclose(step["rewards"], step["rewards_clipped"] - step["penalty"][:, None])
    assert (step["eps_g"] <= 2.0).all() and (step["eps_g"] <= step["eps_g_raw"] + 1e-7).all()

    pol = MAPPO(ds.obs_dims, ds.act_dims, 1, MAPPOConfig(hidden=(8,), obs_norm=True), seeds=[0])
    pol.set_obs_stats(torch.as_tensor(ds.obs)[None])
    out = generate_rollouts(wm, pol, obs, RolloutConfig(k=4, batch=40).validate(), start_generators([0]))
    b = out["batch"]
    assert b["obs"].shape[1] >= 40 - 4 and b["rewards"].shape == b["obs"].shape[:3]
    nxt = b["next_obs"][0]
    assert (nxt >= torch.as_tensor(lo) - 1e-6).all() and (nxt <= torch.as_tensor(hi) + 1e-6).all()
    assert out["stats"]["obs_absmax"][0] <= float(np.abs(np.stack([lo, hi])).max()) + 1e-6
    assert float(b["actions"].abs().max()) > 1.0  # stored as sampled (MAPPO's log-probs are of these)


def verdicts(records):
    """Every Table 4a claim (papers/moma_ppo/claims.py) on ``records``."""
    from common.reporting.claims import Evidence
    from papers.moma_ppo.claims import CLAIMS

    return {c.id: c.check(Evidence(records)) for c in CLAIMS if c.item == "table4a"}


def published_verdicts(without=()):
    """Every claim's verdict (True / False / None) on records equal to the published means (one seed each, so SEM
    0), the cells of the methods ``without`` left out."""
    pub = [e for e in PUBLISHED if e.item == "table4a" and e.keys["method"] not in without]
    recs = [{"keys": dict(e.keys), "seed": 0, "normalized": 100.0 * e.mean} for e in pub]
    return {k: h for k, (h, _) in verdicts(recs).items()}


def test_verdicts_need_every_cell_they_read():
    """One cell: every claim waits. Every baseline cell but no MOMA-PPO cell: the claims that read only baselines
    are decided (on the published means), the four that read MOMA-PPO or IQL still wait."""
    recs = [{"keys": {"obs_mode": "full", "method": "ibc"}, "seed": 0, "normalized": 100.0}]
    v = verdicts(recs)
    assert len(v) == 7 and all(h is None and "cells without a finite score" in e for h, e in v.values())
    assert published_verdicts(without=("moma_ppo", "iql")) == {
        "t4a_moma_matches_or_beats_all": None,
        "t4a_moma_on_par_with_iql": None,
        "t4a_ibc_best_independent": True,
        "t4a_ctde_fare_better_than_independent": True,
        "t4a_model_free_worse_under_po": True,
        "t4a_independent_fail_under_po": None,
        "t4a_independent_learners_fail": False,
    }
    # on par with IQL reads the FO row only: FO MOMA-PPO and IQL decide it, the PO MOMA-PPO cells are not waited for
    fo = [
        {"keys": {"obs_mode": "full", "method": m}, "seed": 0, "normalized": 100.0}
        for m in ("iql", "moma_ppo")
    ]
    assert verdicts(fo)["t4a_moma_on_par_with_iql"][0] is True


def test_verdicts_on_the_published_means():
    """The claims' rules on the published means: the paper's own verdicts (tests/test_moma_ppo_published.py) except
    where a rule needs the SEMs (matches / on par)."""
    assert published_verdicts() == {
        "t4a_moma_matches_or_beats_all": True,
        "t4a_moma_on_par_with_iql": True,
        "t4a_ibc_best_independent": True,
        "t4a_ctde_fare_better_than_independent": True,
        "t4a_model_free_worse_under_po": True,
        "t4a_independent_fail_under_po": True,
        "t4a_independent_learners_fail": False,
    }


# ---- the script ---------------------------------------------------------------------------------------------------
def test_quick_without_data_names_the_command(tmp_path):
    p = subprocess.run(
        [
            sys.executable,
            "papers/moma_ppo/table4a.py",
            "--profile",
            "quick",
            "--results",
            str(tmp_path / "runs"),
        ],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 3, p.stdout + p.stderr
    assert "python -m papers.moma_ppo.reacher --profile quick" in p.stdout
    assert not (tmp_path / "data" / "moma_ppo").exists()  # nothing built silently


def test_table4a_smoke_end_to_end(tmp_path):
    """Smoke Table 4a: builds the smoke Reacher data (seconds), trains the 22 cells x 1 seed, scores each over 4
    greedy episodes, writes the 7 claim verdicts and the report; one world model per obs mode, cached."""
    from common.running.records import load_records

    res = tmp_path / "runs"
    p = subprocess.run(
        [sys.executable, "papers/moma_ppo/table4a.py", "--profile", "smoke", "--results", str(res)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    recs = load_records(res, "smoke", "moma_ppo", "table4a")
    runs = [r for r in recs if "claim" not in r["keys"]]
    assert len(runs) == 22 and all(np.isfinite(r["normalized"]) and np.isfinite(r["score"]) for r in runs)
    for r in runs:  # normalized with the paper's constants (x 100)
        assert r["normalized"] == pytest.approx(
            100 * (r["score"] + 11.144625) / (-4.2370844 + 11.144625), rel=1e-6
        )
    moma = [r for r in runs if r["keys"]["method"] == "moma_ppo"]
    assert len({r["extra"]["world_model_sha256"] for r in moma}) == 3
    assert len(list((tmp_path / "data" / "moma_ppo" / "world_models").glob("*.pt"))) == 3
    assert all(r["extra"]["wm_obs_absmax"] <= r["extra"]["data_obs_absmax"] + 1e-4 for r in moma)  # clipped
    assert len([r for r in recs if "claim" in r["keys"]]) == 7
    assert (res / "smoke" / "moma_ppo" / "table4a.md").exists()
    card = json.loads((tmp_path / "data/moma_ppo/reacher/smoke/expert-mix-v2.json").read_text())
    assert card["ref_scores"] == {"random": -11.144625, "expert": -4.2370844}


def test_scores_count_the_team_reward_once():
    """Reacher copies the team reward to both agents: the cells' return mode must count it once (the paper's
    constants -11.144625 / -4.2370844 are single-copy returns). A zero-action episode's return under the spec's mode
    equals the sum over time of agent 0's reward, and half of the both-agents sum."""
    import envs
    from common.datasets.returns import episode_return_fn
    from papers.moma_ppo.jobs import reacher_spec

    for mode in ("full", "independent", "leader-only"):
        spec = reacher_spec(mode, "smoke")
        assert spec["return_mode"] == "mean"
        env = envs.make(spec["env"], **spec["env_options"])
        env.reset(seed=3)
        rews = []
        for _ in range(50):
            out = env.step(np.zeros((2, 1), np.float32))
            rews.append(np.asarray(out[1], np.float64))
        r = np.stack(rews)  # [T, 2]
        assert np.array_equal(r[:, 0], r[:, 1])
        fn, _ = episode_return_fn(spec["return_mode"])
        assert fn(r) == pytest.approx(r[:, 0].sum()) and fn(r) == pytest.approx(0.5 * r.sum())
