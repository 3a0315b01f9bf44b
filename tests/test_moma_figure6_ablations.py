"""MOMA-PPO Figure 6 and the App. B.2 ablations: the grids per profile against published.py, the configs of every
variant (penalty weights, threshold, clipping, k, the ground-truth simulator; the unchanged cells equal Table 4b's),
the claims' rules on hand-made records (each holding and not holding; settings outside a profile's grid), the
ground-truth simulator against the env's own step, and a smoke run of two cells of each script."""

import math
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from common.reporting.claims import Evidence
from common.running.experiment import Cell
from common.running.profiles import get_profile
from papers.moma_ppo import ablations, figure6
from papers.moma_ppo import config as C
from papers.moma_ppo.claims import CLAIMS
from papers.moma_ppo.jobs import ant_moma_config, ant_moma_variant_config, wm_sampling_of
from papers.moma_ppo.published import ABLATION_VARIANTS, ANT_OBS, FIGURE6_PENALTIES, FIGURE6_ROLLOUTS, ITEMS

ROOT = Path(__file__).resolve().parent.parent
PROFILES = {n: get_profile(n, C.PROFILES) for n in ("smoke", "quick", "full")}


def _hash(cfg):
    return Cell("moma_ppo", "x", {}, cfg).config_hash


# ---- grids ------------------------------------------------------------------------------------------------------
def test_figure6_grid_per_profile():
    for name, n, modes in (
        ("smoke", 12, {"full", "partial"}),
        ("quick", 6, {"partial"}),
        ("full", 12, {"full", "partial"}),
    ):
        cells = figure6.build_cells(PROFILES[name])
        assert len(cells) == n and {c.keys["obs_mode"] for c in cells} == modes
        assert {(c.keys["penalty"], c.keys["rollouts"]) for c in cells} == {
            (p, r) for p in FIGURE6_PENALTIES for r in FIGURE6_ROLLOUTS
        }
    assert ITEMS["figure6"].pngs == ("figure6_full.png", "figure6_partial.png")


def test_ablation_grid_per_profile():
    for name, n, ours in (("smoke", 18, {"monotonic_mixer"}), ("full", 16, set())):  # ours: smoke only
        cells = ablations.build_cells(PROFILES[name])
        assert len(cells) == n and {c.keys["variant"] for c in cells} == set(ABLATION_VARIANTS) | ours
    assert ablations.VARIANTS == ABLATION_VARIANTS + ("monotonic_mixer",)  # the paper's, then ours
    # spec §7: PO only, (b) and k in {5, 10, 20}; (d) is reused;
    quick = ablations.build_cells(PROFILES["quick"])
    # (a): is the critic's divergence MAPPO's?
    assert [(c.keys["obs_mode"], c.keys["variant"]) for c in quick] == [
        ("partial", v) for v in ("default", "ground_truth", "no_clip", "no_adaptive", "k5", "k20")
    ]


# ---- configs ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_figure6_configs(profile):
    p = PROFILES[profile]
    cells = {(c.keys["obs_mode"], c.keys["penalty"], c.keys["rollouts"]): c for c in figure6.build_cells(p)}
    for (o, pen, r), c in cells.items():
        base = ant_moma_config(p, o, "full-replay")
        assert c.config["world_model"] == base["world_model"]  # one trained ensemble for every variant
        assert c.config["rollouts"] == base["rollouts"] and c.config["rollouts"]["k"] == 10
        ws = wm_sampling_of(c.config)
        if pen == "epistemic":
            assert not {"lambda_g", "lambda_r", "lambda_aleatoric"} & set(ws)  # the defaults 0.1, 0.05, 0
        else:
            lam = {"aleatoric_1": 1.0, "aleatoric_5": 5.0}[pen]
            assert (ws["lambda_aleatoric"], ws["lambda_g"], ws["lambda_r"]) == (lam, 0.0, 0.0)
        assert ws.get("threshold", 2.0) == (math.inf if r == "fixed" else 2.0)
        # Table 4b's cell: same hash, so its finished runs are copied
        if (pen, r) == ("epistemic", "adaptive"):
            assert c.config == base and c.config_hash == _hash(base)
    assert figure6.REUSE_FROM == ("table4b",)


def test_ablation_configs():
    p = PROFILES["full"]
    cfg = {c.keys["variant"]: c.config for c in ablations.build_cells(p) if c.keys["obs_mode"] == "partial"}
    # smoke's grid
    cfg["monotonic_mixer"] = ant_moma_variant_config(p, "partial", **C.ABLATIONS["monotonic_mixer"])
    base = ant_moma_config(p, "partial", "full-replay")
    assert cfg["default"] == base
    assert wm_sampling_of(cfg["no_clip"]) == {"clip_to_dataset": False}
    assert wm_sampling_of(cfg["no_lambda_g"]) == {"lambda_g": 0.0}  # lambda_r stays 0.05
    assert wm_sampling_of(cfg["no_adaptive"]) == {"threshold": math.inf}
    f6 = figure6.build_cells(p)
    fixed = next(
        c for c in f6 if c.keys == {"obs_mode": "partial", "penalty": "epistemic", "rollouts": "fixed"}
    )
    assert cfg["no_adaptive"] == fixed.config  # copied from Figure 6 when it ran
    for v, k in (("k5", 5), ("k20", 20), ("k50", 50)):
        assert cfg[v]["rollouts"] == {**base["rollouts"], "k": k} and "wm_sampling" not in cfg[v]
    gt = cfg["ground_truth"]
    assert gt["simulator"] == "ground_truth" and "world_model" not in gt and "wm_seed" not in gt
    assert {k: v for k, v in gt.items() if k != "simulator"} == {
        k: v for k, v in base.items() if k not in ("world_model", "wm_seed")
    }
    assert set(ablations.REUSE_FROM) == {"table4b", "figure6"}
    mono = cfg["monotonic_mixer"]  # ours: Table 4b's cell with the paper's QMIX |w| mixer, same world model
    assert mono["mappo"] == {**base["mappo"], "mixer": "monotonic"} and base["mappo"].get("mixer") is None
    assert {k: v for k, v in mono.items() if k != "mappo"} == {k: v for k, v in base.items() if k != "mappo"}


def test_bad_variants_are_errors():
    p = PROFILES["smoke"]
    with pytest.raises(ValueError, match="n_updates.*not allowed"):
        ant_moma_variant_config(p, "full", wm_sampling={"n_updates": 3})
    with pytest.raises(ValueError, match="only 'ground_truth'"):
        ant_moma_variant_config(p, "full", simulator="mujoco")
    with pytest.raises(ValueError, match="without wm_sampling"):
        ant_moma_variant_config(p, "full", simulator="ground_truth", wm_sampling={"lambda_g": 0.0})
    with pytest.raises(ValueError, match="k"):
        ant_moma_variant_config(p, "full", k=0)
    with pytest.raises(ValueError, match="mixer='qmix'.*unconstrained"):
        ant_moma_variant_config(p, "full", mappo={"mixer": "qmix"})


# ---- claims: Figure 6 --------------------------------------------------------------------------------------------
def f6_verdicts(records, obs_modes=ANT_OBS):
    """Every Figure 6 claim (papers/moma_ppo/claims_ant.py) on ``records``, on a grid of ``obs_modes``."""
    ev = Evidence(records, grid=[{"obs_mode": o} for o in obs_modes])
    return {c.id: c.check(ev) for c in CLAIMS if c.item == "figure6"}


def ab_verdicts(records, obs_modes=ANT_OBS, variants=ABLATION_VARIANTS):
    """Every ablation claim on ``records``, on the grid ``obs_modes`` x ``variants``."""
    ev = Evidence(records, grid=[{"obs_mode": o, "variant": v} for o in obs_modes for v in variants])
    return {c.id: c.check(ev) for c in CLAIMS if c.item == "ablations"}


def _rec(keys, seed, frac, **extra):
    return {"keys": keys, "seed": seed, "normalized": 100.0 * frac, "extra": extra}


def _f6(means, sem_noise=0.01):
    """3 seeds per Figure 6 cell around the given means (fractions): seeds at mean - d, mean, mean + d."""
    out = []
    for (o, p, r), m in means.items():
        for s, d in enumerate((-sem_noise, 0.0, sem_noise)):
            out.append(_rec({"obs_mode": o, "penalty": p, "rollouts": r}, s, m + d))
    return out


def _f6_means():
    means = {
        (o, p, r): (0.5 if p == "epistemic" else 0.3)
        for o in ("full", "partial")
        for p in FIGURE6_PENALTIES
        for r in FIGURE6_ROLLOUTS
    }
    means[("full", "aleatoric_1", "adaptive")] = 0.49  # FO adaptive: within the SEMs of epistemic
    return means


def test_figure6_claims_hold_and_fail():
    v = f6_verdicts(_f6(_f6_means()))
    assert v["f6_epistemic_beats_aleatoric"][0] is True and v["f6_fo_adaptive_not_significant"][0] is True
    # one aleatoric cell within the SEMs of epistemic in PO fixed: not significant
    v = f6_verdicts(_f6(_f6_means() | {("partial", "aleatoric_5", "fixed"): 0.495}))
    assert (
        v["f6_epistemic_beats_aleatoric"][0] is False
        and "not significant" in v["f6_epistemic_beats_aleatoric"][1]
    )
    # FO adaptive: the better aleatoric (here aleatoric_5) significantly below epistemic
    means = _f6_means() | {("full", "aleatoric_1", "adaptive"): 0.2, ("full", "aleatoric_5", "adaptive"): 0.4}
    v = f6_verdicts(_f6(means))
    assert (
        v["f6_fo_adaptive_not_significant"][0] is False
        and "aleatoric_5" in v["f6_fo_adaptive_not_significant"][1]
    )


def test_figure6_claims_on_a_po_only_grid_and_missing_cells():
    recs = [r for r in _f6(_f6_means()) if r["keys"]["obs_mode"] == "partial"]
    v = f6_verdicts(recs, ("partial",))
    assert (
        v["f6_epistemic_beats_aleatoric"][0] is True
        and "not judged: full fixed" in v["f6_epistemic_beats_aleatoric"][1]
    )
    assert v["f6_fo_adaptive_not_significant"][0] is None
    v = f6_verdicts([r for r in recs if r["keys"]["penalty"] != "aleatoric_1"], ("partial",))
    assert (
        v["f6_epistemic_beats_aleatoric"][0] is None
        and "without a finite score" in v["f6_epistemic_beats_aleatoric"][1]
    )
    assert set(v) == {c.id for c in CLAIMS if c.item == "figure6"}


# ---- claims: ablations -------------------------------------------------------------------------------------------
def _ab(means, obs_modes=("full", "partial"), lengths=None, absmax=None, noise=0.01):
    lengths = lengths or {}
    absmax = absmax or {}
    out = []
    for o in obs_modes:
        for v, m in means.items():
            for s, d in enumerate((-noise, 0.0, noise)):
                out.append(
                    _rec(
                        {"obs_mode": o, "variant": v},
                        s,
                        m + d,
                        rollout_len_run_mean=lengths.get(v, 9.5),
                        wm_obs_absmax=absmax.get(v, 10.0),
                        data_obs_absmax=10.0,
                    )
                )
    return out


GOOD = {
    "default": 0.5,
    "ground_truth": 0.7,
    "no_clip": 0.2,
    "no_lambda_g": 0.3,
    "no_adaptive": 0.3,
    "k5": 0.5,
    "k20": 0.505,
    "k50": 0.495,
    "monotonic_mixer": 0.6,
}  # ours: no claim reads it


def test_ablation_claims_hold():
    v = ab_verdicts(_ab(GOOD, lengths={"no_clip": 3.0}, absmax={"no_clip": None}))  # null = inf
    assert {k: h for k, (h, _) in v.items()} == {c.id: True for c in CLAIMS if c.item == "ablations"}
    assert "inf" in v["ab_no_clip_rollouts_explode"][1]


@pytest.mark.parametrize(
    "changes, lengths, absmax, flipped",
    [
        ({"ground_truth": 0.45}, {}, {}, "ab_ground_truth_scores_higher"),
        ({}, {"no_clip": 10.0}, {"no_clip": 1e6}, "ab_no_clip_rollouts_explode"),  # full-length rollouts
        (
            {},
            {"no_clip": 3.0},
            {"no_clip": 50.0},
            "ab_no_clip_rollouts_explode",
        ),  # no explosion (< 10 x data)
        # not below default
        ({}, {"no_clip": 5.0, "default": 4.0}, {"no_clip": 1e6}, "ab_no_clip_rollouts_explode"),
        ({"no_lambda_g": 0.49}, {}, {}, "ab_lambda_g_needed"),
        ({"no_adaptive": 0.6}, {}, {}, "ab_adaptive_rollouts_needed"),
        ({"k50": 0.3}, {}, {}, "ab_rollout_length_insensitive"),
    ],
)
def test_each_ablation_claim_can_fail(changes, lengths, absmax, flipped):
    lengths = {"no_clip": 3.0, **lengths}
    absmax = {"no_clip": 1e6, **absmax}
    v = ab_verdicts(_ab(GOOD | changes, lengths=lengths, absmax=absmax))
    assert {k for k, (h, _) in v.items() if h is False} == {flipped}


def test_ablation_claims_on_the_quick_grid():
    variants = C.ABLATION_VARIANTS_OF["quick"]
    recs = [r for r in _ab({k: GOOD[k] for k in variants}, ("partial",), {"no_clip": 3.0}, {"no_clip": 1e6})]
    v = ab_verdicts(recs, ("partial",), variants)
    assert v["ab_ground_truth_scores_higher"][0] is True  # (a) joined the quick grid (README "Table 4b")
    assert v["ab_lambda_g_needed"][0] is None
    assert v["ab_no_clip_rollouts_explode"][0] is True and v["ab_adaptive_rollouts_needed"][0] is True
    assert v["ab_rollout_length_insensitive"][0] is True and "k50" in v["ab_rollout_length_insensitive"][1]
    v = ab_verdicts([r for r in recs if r["keys"]["variant"] != "k20"], ("partial",), variants)
    assert v["ab_rollout_length_insensitive"][0] is None


# ---- the ground-truth simulator ------------------------------------------------------------------------------------
@pytest.mark.parametrize("obs_mode", ["full", "partial"])
def test_simulator_matches_the_env_step(obs_mode):
    """From the env's own observations, the stand-in's next obs equals the env's (float32) and its reward the env's:
    exactly on the first step after reset, within 0.05 later (Gymnasium's Ant reads the torso's 'before' position
    from data.xpos, one physics substep stale after a live step and current after set_state: simulator.py)."""
    import envs
    from papers.moma_ppo.simulator import GroundTruthSimulator

    env = envs.make("mamujoco/ant-4x2", obs_mode=obs_mode)
    sim = GroundTruthSimulator("mamujoco/ant-4x2", {"obs_mode": obs_mode})
    obs = env.reset(seed=7)
    rng = np.random.default_rng(0)
    state = env.state()
    # the obs give the state
    np.testing.assert_array_equal(sim.states_of(obs[None])[0], state.astype(np.float64))
    for t in range(8):
        act = rng.uniform(-1, 1, (4, 2)).astype(np.float32)
        out = sim.sample(torch.as_tensor(obs[None]), torch.as_tensor(act[None]))
        obs, rew, term, _, _ = env.step(act)
        np.testing.assert_allclose(out["next_obs"][0].numpy(), obs, rtol=1e-4, atol=1e-4)
        assert out["rewards"][0].tolist() == pytest.approx([float(rew[0])] * 4, abs=1e-4 if t == 0 else 5e-2)
        assert out["masks"][0].tolist() == [float(not term)] * 4
        assert float(out["penalty"].abs().sum() + out["eps_g_raw"].abs().sum()) == 0.0
        if term:
            break
    assert sim.cfg.threshold > 0 and sim.state_dict()["simulator"] == "ground_truth"


@pytest.mark.parametrize("obs_mode", ["full", "independent", "leader-only"])
def test_reacher_simulator_matches_the_env_step(obs_mode):
    """Reacher (Table 4a): from the env's own per-agent observations, in every obs mode (independent agents each miss
    the fingertip dims, which follow from the angles), the stand-in's next obs and reward equal the env's step for
    actions beyond the bounds too (clipped), and it never terminates."""
    import envs
    from papers.moma_ppo.simulator import GroundTruthSimulator

    env = envs.make("mamujoco/reacher-2x1", obs_mode=obs_mode)
    sim = GroundTruthSimulator("mamujoco/reacher-2x1", {"obs_mode": obs_mode})
    obs = env.reset(seed=3)
    rng = np.random.default_rng(1)
    for _ in range(12):
        act = rng.uniform(-1.5, 1.5, (2, 1)).astype(np.float32)
        out = sim.sample(torch.as_tensor(obs[None]), torch.as_tensor(act[None]))
        obs, rew, term, _, _ = env.step(act)
        np.testing.assert_allclose(out["next_obs"][0].numpy(), obs, rtol=1e-5, atol=1e-5)
        assert out["rewards"][0].tolist() == pytest.approx([float(rew[0])] * 2, abs=1e-5)
        assert out["masks"][0].tolist() == [1.0, 1.0] and not term


def test_simulator_batches_and_flags_unhealthy_states():
    from papers.moma_ppo.simulator import GroundTruthSimulator

    sim = GroundTruthSimulator("mamujoco/ant-4x2", {"obs_mode": "full"})
    obs = torch.as_tensor(sim.env.reset(seed=1))
    low = obs.clone()
    low[:, 0] = 1.5  # torso z above Ant-v5's healthy range [0.2, 1.0]: terminated
    out = sim.sample(torch.stack([obs, low]), torch.zeros(2, 4, 2))
    assert out["next_obs"].shape == (2, 4, 27) and out["masks"][:, 0].tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="supports the MaMuJoCo tasks"):
        GroundTruthSimulator("mamujoco/hopper-3x1", {})


# ---- the scripts --------------------------------------------------------------------------------------------------
def test_smoke_figure6_then_ablations(tmp_path):
    """Two Figure 6 cells (PO, adaptive: epistemic and aleatoric_5) on one shared world model, then two ablation cells
    (PO default: copied from Figure 6's identical run; ground_truth: the simulator); the claims are printed as not
    checked (cells missing), none written."""
    from common.running.records import load_records

    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OFFMARL_DATA": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }
    runs = str(tmp_path / "runs")

    def run(script, *args):
        p = subprocess.run(
            [
                sys.executable,
                f"papers/moma_ppo/{script}.py",
                "--profile",
                "smoke",
                "--results",
                runs,
                "--obs-mode",
                "partial",
                *args,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
        return p.stdout

    out = run("figure6", "--penalty", "epistemic", "--penalty", "aleatoric_5", "--rollouts", "adaptive")
    assert "claim f6_epistemic_beats_aleatoric: not checked" in out
    f6 = {r["keys"]["penalty"]: r for r in load_records(runs, "smoke", "moma_ppo", "figure6")}
    assert set(f6) == {"epistemic", "aleatoric_5"}
    assert f6["epistemic"]["extra"]["world_model_sha256"] == f6["aleatoric_5"]["extra"]["world_model_sha256"]
    assert f6["epistemic"]["extra"]["penalty_mean"] != f6["aleatoric_5"]["extra"]["penalty_mean"]
    assert all(np.isfinite(r["score"]) for r in f6.values())
    assert (tmp_path / "runs" / "smoke" / "moma_ppo" / "figure6_partial.png").exists()

    out = run("ablations", "--variant", "default", "--variant", "ground_truth")
    assert "1 of those ran were copied" in out and "claim ab_ground_truth_scores_higher: not checked" in out
    ab = {r["keys"]["variant"]: r for r in load_records(runs, "smoke", "moma_ppo", "ablations")}
    assert ab["default"]["reused_from"] == f6["epistemic"]["run_id"]
    gt = ab["ground_truth"]["extra"]
    assert gt["simulator"] == "ground_truth" and "world_model_sha256" not in gt
    assert (
        gt["penalty_mean"] == 0.0 and gt["cut_fraction"] == 0.0 and np.isfinite(ab["ground_truth"]["score"])
    )
    assert not [r for r in load_records(runs, "smoke", "moma_ppo", "ablations") if "claim" in r["keys"]]


def test_claims_do_not_compare_cells_on_different_world_models():
    """A claim whose cells sampled different trained ensembles (e.g. records from before and after a change of the
    profile's world-model settings) is undecided, naming the ensembles; the ground-truth simulator's records (no
    world model) and one shared ensemble leave the verdicts as they were."""
    from common.reporting.claims import UNDECIDED

    def with_wm(recs, sha_of):
        return [
            r | {"extra": r["extra"] | ({"world_model_sha256": sha_of(r)} if sha_of(r) else {})} for r in recs
        ]

    lengths, absmax = {"no_clip": 3.0}, {"no_clip": 1e6}
    same = with_wm(
        _ab(GOOD, lengths=lengths, absmax=absmax),
        lambda r: None if r["keys"]["variant"] == "ground_truth" else "a" * 64,
    )
    assert all(h is True for h, _ in ab_verdicts(same).values())
    mixed = with_wm(
        same,
        lambda r: (
            "b" * 64
            if r["keys"]["variant"] in ("no_clip", "no_adaptive")
            else r["extra"].get("world_model_sha256")
        ),
    )
    v = ab_verdicts(mixed)
    for cid in ("ab_no_clip_rollouts_explode", "ab_adaptive_rollouts_needed"):
        assert (
            v[cid][0] == UNDECIDED and "different world models" in v[cid][1] and "bbbbbbbbbbbb" in v[cid][1]
        )
    assert v["ab_ground_truth_scores_higher"][0] is True and v["ab_lambda_g_needed"][0] is True
    f6 = with_wm(_f6(_f6_means()), lambda r: "c" * 64 if r["keys"]["penalty"] == "aleatoric_5" else "a" * 64)
    v = f6_verdicts(f6)
    assert (
        v["f6_epistemic_beats_aleatoric"][0] == UNDECIDED
        and v["f6_fo_adaptive_not_significant"][0] == UNDECIDED
    )
    assert (
        f6_verdicts(with_wm(_f6(_f6_means()), lambda r: "a" * 64))["f6_epistemic_beats_aleatoric"][0] is True
    )


def test_claims_do_not_compare_cells_with_different_mappo_settings():
    """Cells whose records trained different MAPPO configurations (e.g. quick's Ant MOMA-PPO before and after it took
    the code's 10-step histories) are not compared: the claim is undecided and names both settings; one shared
    setting (and records without a config) leave the verdicts as they were."""
    from common.reporting.claims import UNDECIDED

    def with_mappo(recs, mappo_of):
        return [r | {"config": {"mappo": mappo_of(r)}} if mappo_of(r) is not None else r for r in recs]

    base = _ab(GOOD, lengths={"no_clip": 3.0}, absmax={"no_clip": 1e6})
    same = with_mappo(base, lambda r: {"memory_len": 10})
    assert all(h is True for h, _ in ab_verdicts(same).values())
    assert all(h is True for h, _ in ab_verdicts(with_mappo(base, lambda r: None)).values())
    old = with_mappo(base, lambda r: {"memory_len": 0 if r["keys"]["variant"] == "no_clip" else 10})
    v = ab_verdicts(old)
    assert v["ab_no_clip_rollouts_explode"][0] == UNDECIDED
    assert "different MAPPO settings" in v["ab_no_clip_rollouts_explode"][1]
    assert '"memory_len": 0' in v["ab_no_clip_rollouts_explode"][1]
    assert v["ab_adaptive_rollouts_needed"][0] is True  # default and no_adaptive share one setting


def test_hybrid_models_take_each_half_from_the_named_model():
    """simulator.HybridModel (critic_probe's diagnostic): a stand-in ensemble whose next obs is the input + 1 and whose
    reward is 5 with penalty 0.25. wm_dynamics_true_reward keeps the ensemble's next obs and penalty and takes the
    physics' reward (minus the penalty); true_dynamics_wm_reward the physics' next obs with the ensemble's reward."""
    import envs
    from papers.moma_ppo.simulator import GroundTruthSimulator, HybridModel

    class FakeWM:
        cfg = types.SimpleNamespace(threshold=2.0)

        def sample(self, obs, actions, generator=None, choice=None):
            B, N = obs.shape[:2]
            return {
                "next_obs": obs + 1,
                "rewards": torch.full((B, N), 4.75),
                "rewards_clipped": torch.full((B, N), 5.0),
                "masks": torch.ones(B, N),
                "penalty": torch.full((B,), 0.25),
                "eps_g_raw": torch.full((B,), 0.5),
            }

    env = envs.make("mamujoco/reacher-2x1", obs_mode="full")
    sim = GroundTruthSimulator("mamujoco/reacher-2x1", {"obs_mode": "full"})
    obs = torch.as_tensor(env.reset(seed=2))[None]
    act = torch.tensor([[[0.7], [-0.4]]])
    truth = sim.sample(obs, act)
    a = HybridModel(FakeWM(), sim, "wm_dynamics_true_reward").sample(obs, act)
    assert torch.equal(a["next_obs"], obs + 1) and float(a["penalty"][0]) == 0.25
    assert torch.allclose(a["rewards"], truth["rewards"] - 0.25) and torch.allclose(
        a["rewards_clipped"], truth["rewards"]
    )
    b = HybridModel(FakeWM(), sim, "true_dynamics_wm_reward").sample(obs, act)
    assert torch.equal(b["next_obs"], truth["next_obs"]) and b["rewards"].tolist() == [[4.75, 4.75]]
    assert float(b["eps_g_raw"][0]) == 0.5  # the ensemble's uncertainty still drives the cut
    assert float(truth["rewards"][0, 0]) < -0.65  # the physics charges the control cost 0.7^2 + 0.4^2
    with pytest.raises(ValueError, match="allowed: wm_dynamics_true_reward, true_dynamics_wm_reward"):
        HybridModel(FakeWM(), sim, "both")
