"""OTC's online-tuning job (papers/otc/deploy.py) and the MuJoCo items' cells (papers/otc/mujoco_items.py,
table1.py): the method keys, the paper's protocol in the full config, the samplers' rows (an agent's batch holds
only its own action column; online-only draws only online rows), the bookkeeping of spec T9 (|D^k| = 1 % |B^0|,
|B^k| = |B^0| + k M, pi^0 and D^1 shared by every variant of a seed) and a killed run resuming to the same record."""

from __future__ import annotations

import pytest
import torch

from common.algos.bcq import BCQ, BCQConfig
from common.running.profiles import get_profile
from common.running.records import load_records
from papers.otc import config as C
from papers.otc import deploy as D
from papers.otc import deploy_offline as DO
from papers.otc import mujoco_items as M
from papers.otc import otc as O
from papers.otc import table1
from papers.otc.otc_metrics import improvement_percent

HOP, HC = "mamujoco/hopper-3x1", "mamujoco/halfcheetah-2x3"


def test_method_keys():
    assert C.parse_method("bcq") == C.Method("bcq", "bcq", "uniform")
    assert C.parse_method("awac_otc_dq") == C.Method("awac_otc_dq", "awac", "otc", "q", "adaptive", 1.0)
    assert C.parse_method("bcq_otc_de_fixed0.5") == C.Method(
        "bcq_otc_de_fixed0.5", "bcq", "otc", "embedding", "fixed", 0.5
    )
    assert C.parse_method("bcq_online").sampler == "online" and C.parse_method("awac_br").sampler == "br"
    assert C.parse_method("bcq_otc_de_joint_fixed0.5") == C.Method(
        "bcq_otc_de_joint_fixed0.5", "bcq", "otc", "embedding", "fixed", 0.5, "joint"
    )
    assert C.parse_method("bcq_otc_de").cvae_form == "conditional"
    # the joint form's cells name it; the paper's form stays implicit (the committed cells' configs are unchanged)
    prof = get_profile("quick", C.PROFILE_OVERRIDES)
    assert M.cell_config(prof, HC, "medium", "bcq_otc_de_joint")["otc"]["cvae_form"] == "joint"
    assert "cvae_form" not in M.cell_config(prof, HC, "medium", "bcq_otc_de")["otc"]
    for bad in ("td9_otc_de", "bcq_otc_dx", "bcq_otc_de_fixed", "bcq_uniform", "otc_de", "bcq_otc_dq_joint"):
        with pytest.raises(ValueError, match="unknown OTC method"):
            C.parse_method(bad)


def test_full_config_is_the_papers_protocol():
    full = get_profile("full", C.PROFILE_OVERRIDES)
    bcq = M.cell_config(full, HC, "medium", "bcq_otc_de")
    # K, M, L [P]
    assert (bcq["deployments"], bcq["deploy_fraction"], bcq["tune_updates"]) == (
        10,
        0.01,
        4000,
    )
    assert bcq["bcq"]["hidden"] == [64, 64] and bcq["bcq"]["hidden_vae"] == [64, 64]  # Table 3
    assert (bcq["bcq"]["lr"], bcq["bcq"]["batch_size"]) == (1e-4, 128)
    assert bcq["otc"] == {
        "distance": "embedding",
        "alpha_mode": "adaptive",
        "alpha0": 1.0,
    }  # |B|, |D| defaults
    assert O.OTCConfig(**bcq["otc"]).validate().big_batch == 512
    assert bcq["offline_updates"] == 300_000 and bcq["cvae_offline_updates"] == 100_000
    awac = M.cell_config(full, HC, "medium", "awac")
    assert (awac["tune_updates"], awac["offline_updates"], awac["sampler"]) == (2000, 25_000, "uniform")
    assert "otc" not in awac and "cvae_offline_updates" not in awac
    assert bcq["dataset"]["env_options"] == {"obs_mode": "otc"} and bcq["eval_episodes"] == 10
    with pytest.raises(ValueError, match="unknown OTC dataset"):
        M.cell_config(full, HC, "expert", "bcq")
    # full: the paper's grid alone; smoke and quick add our joint-VAE d_e column (papers/otc/table1.py)
    assert len(table1.grid("full")) == 54 and {m for _, _, m in table1.grid("full")} == set(
        table1.TABLE1_METHODS
    )
    assert {m for _, _, m in table1.grid("smoke")} == {*table1.TABLE1_METHODS, table1.JOINT}
    quick = table1.grid("quick")
    assert len(quick) == 40 and sum(m == table1.JOINT for _, _, m in quick) == 9


def test_quick_keeps_the_papers_l_on_mujoco_and_td3bc_navigation_items_only():
    """quick's MuJoCo items run the paper's L and pi^0 at the protocol's 300,000 BCQ updates, 50,000 only where the
    measured curve settled by then (Hopper medium-replay, HalfCheetah medium), Figures 7-8 the
    paper's L and 1M data with pi^0 at TD3+BC's measured 40,000-update plateau; Figure 6 and SMAX keep their own
    cut (their records were made with it)."""
    from papers.otc import figure6 as F6
    from papers.otc import figure7 as F7
    from papers.otc import figure8 as F8
    from papers.otc import nav_items as N
    from papers.otc import smax_items as X

    quick = get_profile("quick", C.PROFILE_OVERRIDES)
    bcq = M.cell_config(quick, HC, "medium-replay", "bcq_otc_dq")
    assert (bcq["tune_updates"], bcq["offline_updates"], bcq["deployments"]) == (4000, 300_000, 10)
    de = M.cell_config(quick, HC, "medium-replay", "bcq_otc_de")
    assert (de["offline_updates"], de["cvae_offline_updates"]) == (300_000, C.CVAE_OFFLINE_CAP)
    hopper = M.cell_config(quick, "mamujoco/hopper-3x1", "medium-replay", "bcq_otc_de")
    assert (hopper["offline_updates"], hopper["cvae_offline_updates"]) == (50_000, 50_000)
    assert M.cell_config(quick, "mamujoco/hopper-3x1", "medium", "bcq")["offline_updates"] == 300_000
    assert M.cell_config(quick, HC, "medium", "bcq_otc_de")["offline_updates"] == 50_000  # its curve settled
    assert M.cell_config(quick, "mamujoco/walker2d-2x3", "medium", "bcq")["offline_updates"] == 300_000
    full = get_profile("full", C.PROFILE_OVERRIDES)
    assert M.cell_config(full, "mamujoco/hopper-3x1", "medium-replay", "bcq")["offline_updates"] == 300_000
    awac = M.cell_config(quick, HC, "medium", "awac")
    assert (awac["tune_updates"], awac["offline_updates"]) == (2000, 25_000)  # the protocol's: no curve
    nav = N.cell_config(quick, 2, "bcq_otc_de")
    assert (nav["tune_updates"], nav["offline_updates"]) == (500, 20_000)
    for item in (F7, F8):
        for cell in item.build_cells(quick):
            cfg = cell.config
            assert (cfg["tune_updates"], cfg["offline_updates"], cfg["dataset"]["size"]) == (
                2000,
                40_000,
                1_000_000,
            )
    for cell in F6.build_cells(quick):  # panels a-c keep L/8 and the 250k data
        if cell.keys["panel"] != "d":
            assert cell.config["dataset"]["size"] == 250_000
            assert cell.config["tune_updates"] == {"bcq": 500, "bremen": 250}[cell.config["learner"]]
    smoke = get_profile("smoke", C.PROFILE_OVERRIDES)
    assert F8.build_cells(smoke)[0].config["dataset"]["size"] == 2_000  # smoke is untouched
    assert X.cell_config(quick, "cql_otc_dq")["tune_updates"] == 250
    q = table1.grid("quick")  # the whole BCQ half of Table 1, plus 4 AWAC cells
    assert len(q) == 40 and len({(e, d) for e, d, m in q if m.startswith("bcq")}) == 9


def test_deploy_size_is_one_percent():
    assert D.deploy_size(1_000_000, 0.01) == 10_000
    assert D.deploy_size(20_000, 0.01) == 200
    assert D.deploy_size(3_000, 0.01, minimum=50) == 50


def _toy(n_offline=40, n_online=12):
    """A 2-agent BCQ and merged tensors whose rows encode (row, agent): actions = 10 row + agent, obs = row."""
    learner = BCQ([3, 3], [1, 1], 1, BCQConfig(hidden=(8, 8), hidden_vae=(8, 8), batch_size=16), seeds=[0])
    T = n_offline + n_online
    rows = torch.arange(T, dtype=torch.float32)
    merged = {
        "obs": rows[:, None, None].expand(T, 2, 3).clone(),
        "next_obs": rows[:, None, None].expand(T, 2, 3) + 1,
        "actions": (10 * rows[:, None] + torch.arange(2.0))[..., None] / 1000.0,
        "rewards": torch.zeros(T, 2),
        "terminals": torch.zeros(T),
    }
    newest = {k: v[n_offline:] for k, v in merged.items()}
    return learner, merged, newest


@pytest.mark.parametrize("method", ["bcq", "bcq_online", "bcq_otc_dq", "bcq_otc_de", "bcq_br"])
def test_an_agents_batch_holds_only_its_own_action_column(method):
    learner, merged, newest = _toy()
    m = C.parse_method(method)
    cfg = {
        "otc": {
            "distance": m.distance or "embedding",
            "alpha_mode": "adaptive",
            "alpha0": 1.0,
            "big_batch": 16,
            "match_batch": 8,
            "batch_size": 16,
            "n_alpha_draws": 2,
        },
        "br": {"hidden": [8, 8], "density_batch": 8},
        "n_offline": 40,
        "capacity": 52,
    }
    cvae = cgen = None
    if m.distance == "embedding":
        cvae = O.TransitionCVAE(2, 3, 1, hidden=(8, 8))
        cgen = torch.Generator().manual_seed(1)
    s = D.Sampler(m.sampler, learner, cfg, 0, "cpu", cvae, cgen)
    info = s.start_phase(merged, newest)
    assert (set(info) == {"alpha", "dd"}) == (m.sampler == "otc")
    b = s.batch(merged, newest, 40)
    code = torch.round(b["actions"][..., 0] * 1000).long()  # [M, n] = 10 row + agent
    assert torch.equal(code % 10, learner.agents[:, None].expand_as(code))  # member m = agent m
    assert torch.equal(code // 10, b["obs"][..., 0].long())  # the action is the same row's
    if m.sampler == "online":
        assert bool((code // 10 >= 40).all())
    if m.sampler == "br":  # the drawn rows' priorities were rewritten from the density net
        p = s.br.priorities[0]
        assert not torch.equal(p[code[0] // 10], torch.ones(16)) and float(p[:40].min()) > 0


def _smoke(tmp_path, methods, seeds=("0",), env=HOP, extra=()):
    argv = [
        "--profile",
        "smoke",
        "--env",
        env,
        "--dataset",
        "random",
        "--seeds",
        *seeds,
        "--results",
        str(tmp_path),
        "--no-report",
        *extra,
    ]
    for m in methods:
        argv += ["--method", m]
    table1.main(argv)
    recs = load_records(tmp_path, "smoke", "otc", "table1")
    return {r["keys"]["method"]: r for r in recs if "claim" not in r["keys"]}


def test_variants_of_a_seed_share_pi0_and_the_first_deployment(tmp_path):
    recs = _smoke(tmp_path, ["bcq", "bcq_otc_de", "bcq_otc_dq"])
    assert len(recs) == 3
    firsts = {(r["curve"][0]["score"], r["curve"][1]["deploy_return"]) for r in recs.values()}
    assert len(firsts) == 1  # S(pi^0) and D^1 identical across variants [I C5, C6]
    r = recs["bcq_otc_de"]
    m = r["extra"]["deploy_steps"]
    assert m == max(20, round(0.01 * r["extra"]["dataset_size"]))
    assert [p.get("online_rows") for p in r["curve"]] == [None, m, 2 * m]  # |B^k| = |B^0| + k M
    assert len(r["curve"][1]["alpha"]) == 3 and r["curve"][1]["alpha"] == [1.0, 1.0, 1.0]  # alpha^1 = alpha^0
    assert r["score"] == pytest.approx(improvement_percent(r["extra"]["s0"], r["extra"]["s_final"]))
    # each record names the offline parts its run trained, with their seconds (the cost model's split): the first
    # variant in Table 1's order (d_e) trained pi^0 and its CVAE, the others took pi^0 from the cache
    trained = {m: sorted(x["extra"]["offline_s"]) for m, x in recs.items()}
    assert trained == {"bcq_otc_de": ["cvae", "pi0"], "bcq_otc_dq": [], "bcq": []}, trained
    assert all(t > 0 for x in recs.values() for t in x["extra"]["offline_s"].values())


def test_a_killed_run_resumes_to_the_same_record(tmp_path, monkeypatch):
    whole = _smoke(tmp_path / "whole", ["bcq_otc_dq"])["bcq_otc_dq"]
    real = D.deploy

    def dies_at_the_second_deployment(learner, cfg, seed, k, n):
        if k == 2:
            raise RuntimeError("killed")
        return real(learner, cfg, seed, k, n)

    monkeypatch.setattr(D, "deploy", dies_at_the_second_deployment)
    with pytest.raises(SystemExit):
        _smoke(tmp_path / "cut", ["bcq_otc_dq"])
    monkeypatch.setattr(D, "deploy", real)
    again = _smoke(tmp_path / "cut", ["bcq_otc_dq"])["bcq_otc_dq"]
    assert again["resumed_from_step"] == 1
    assert again["curve"] == whole["curve"] and again["score"] == whole["score"]


def test_navigation_cells_and_random_data(tmp_path, monkeypatch):
    from papers.otc import datasets as OD
    from papers.otc import figure7, figure8
    from papers.otc import nav_items as V

    full = get_profile("full", C.PROFILE_OVERRIDES)
    cfg = V.cell_config(full, 6, "td3bc_otc_dq")
    assert cfg["dataset"]["size"] == 1_000_000 and cfg["dataset"]["env_options"] == {"n_agents": 6}
    assert cfg["td3bc"] == {"batch_size": 128, "max_action": 0.1} and cfg["tune_updates"] == 2000
    assert cfg["offline_updates"] == 100_000 and cfg["otc"]["distance"] == "q"
    assert (
        len(figure7.grid("full")) == 6 and len(figure8.grid("full")) == 14 and len(figure8.grid("quick")) == 7
    )
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path))
    a = OD.random_dataset("otc/navigation", {"n_agents": 3}, 60, seed=1)
    b = OD.random_dataset("otc/navigation", {"n_agents": 3}, 60, seed=1)  # from the cache, checksum verified
    assert a.size == 60 and a.card["sha256"] == b.card["sha256"] and float(abs(a.actions).max()) <= 0.1
    assert a.card["regenerate_command"].startswith(
        "python -m papers.otc.datasets --env otc/navigation --size 60"
    )
    with pytest.raises(ValueError, match="no OTC random dataset"):
        OD.random_dataset("omar/spread", {}, 10)


def test_nonstationary_schedule():
    from papers.otc import figure6

    b = figure6.betas(10)
    assert b["deploy"][0] == pytest.approx(0.1) and b["deploy"][-1] == pytest.approx(0.2)  # spec T14
    assert (
        b["eval"][0] == b["deploy"][0] and b["eval"][3] == b["deploy"][3] and b["eval"][10] == b["deploy"][9]
    )
    cfg = figure6.cell_config(get_profile("full", C.PROFILE_OVERRIDES), "c", "bcq_otc_de")
    assert cfg["dataset"]["env_options"] == {"beta": None} and cfg["offline_updates"] == 50_000
    assert D.env_options_at(cfg, "deploy", 1) == {"beta": pytest.approx(0.1)}  # deployment k = 1 at beta_1
    assert D.env_options_at(cfg, "eval", 0) == {"beta": pytest.approx(0.1)}  # pi^0 faces beta_1 next
    assert D.env_options_at(cfg, "eval", 10) == {"beta": pytest.approx(0.2)}
    assert D.env_options_at({"dataset": {"env_options": {"n_agents": 3}}}, "eval", 4) == {"n_agents": 3}


def test_grouped_offline_stage_gives_the_records_of_the_runs_alone(tmp_path, monkeypatch):
    """Cells as members (``--group``): the pi^0 of a group (2 datasets x 2 seeds, shared by two samplers each) train
    as one stacked I-BCQ, those of AWAC's cells as another stack; every record and every cached pi^0 equals the run
    alone's, bit for bit."""
    from common.running.experiment import run_cells

    smoke = get_profile("smoke", C.PROFILE_OVERRIDES)
    grid = [(HOP, d, m) for d in ("random", "medium") for m in ("bcq", "bcq_otc_dq", "awac")]
    cells = M.cells("grouped", smoke, grid)
    keys = [D.offline_group_key(c.config) for c in cells]
    assert len(set(keys)) == 2 and None not in keys  # BCQ's and AWAC's: datasets and samplers may differ
    assert D.offline_group_key(M.cell_config(smoke, HOP, "random", "bremen")) is None  # BREMEN does not stack
    stacked, calls = D.train_offline_stack, []

    def counted(todo, progress):
        calls.append(len(todo))
        return stacked(todo, progress)

    monkeypatch.setattr(D, "train_offline_stack", counted)
    out = {}
    for tag, group in (("alone", 1), ("grouped", 8)):
        monkeypatch.setattr(DO, "offline_dir", lambda tag=tag: tmp_path / tag / "offline")
        summary = run_cells(cells, D.job, "smoke", seeds=(0, 1), results_root=tmp_path / tag, group=group)
        assert summary.ok and len(summary.ran) == 12 and summary.groups == ([8, 4] if group > 1 else [])
        out[tag] = {
            (r["keys"]["dataset"], r["keys"]["method"], r["seed"]): r
            for r in load_records(tmp_path / tag, "smoke", "otc", "grouped")
        }
    assert calls == [4, 4]  # a stack of the 4 pi^0 (2 datasets x 2 seeds) per learner, none alone
    assert len(out["alone"]) == len(out["grouped"]) == 12
    for key, a in out["alone"].items():
        g = out["grouped"][key]
        assert g["curve"] == a["curve"] and g["score"] == a["score"], key
        assert g["extra"]["s0"] == a["extra"]["s0"] and g["extra"]["data_sha256"] == a["extra"]["data_sha256"]
    # the 8 pi^0 differ (the test can fail)
    assert len({r["extra"]["s0"] for r in out["grouped"].values()}) == 8
    # each pi^0 is named by the record of the first run that uses it, stacked or alone (the cost model's split)
    named = {
        tag: {k for k, r in recs.items() if "pi0" in r["extra"]["offline_s"]} for tag, recs in out.items()
    }
    assert len(named["alone"]) == 8 and named["grouped"] == named["alone"]
    caches = {tag: sorted((tmp_path / tag / "offline").glob("*.pt")) for tag in out}
    assert [p.name for p in caches["alone"]] == [p.name for p in caches["grouped"]] and len(
        caches["alone"]
    ) == 8
    for pa, pg in zip(caches["alone"], caches["grouped"]):
        a, g = (torch.load(p, weights_only=False) for p in (pa, pg))
        assert (
            a["s0"] == g["s0"]
            and a["updates"] == g["updates"]
            and torch.equal(a["learner"]["rng"], g["learner"]["rng"])
        )
        nets = [
            n
            for n, st in a["learner"].items()
            if n not in ("cfg", "rng") and isinstance(st, dict) and "state" not in st
        ]
        assert {"actor", "critic", "critic_target"} <= set(nets)
        for name in nets:
            assert all(torch.equal(v, g["learner"][name][k]) for k, v in a["learner"][name].items()), name
