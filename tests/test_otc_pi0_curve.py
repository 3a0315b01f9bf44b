"""papers/otc/pi0_curve.py: the offline stage's learning curve (issue 65): rows at every evaluation, a killed or
shorter run continued, the outputs written, bad input refused."""

from __future__ import annotations

import json

import pytest

from papers.otc import config as C
from papers.otc import pi0_curve as P


def test_curve_resumes_and_continues_a_shorter_run(tmp_path, monkeypatch):
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    logs: list[str] = []
    cfg = P.curve_config("smoke", "mamujoco/hopper-3x1", "medium", "bcq", 20)
    first = P.run_curve(cfg, [0, 1], 10, log=logs.append)
    assert [r["updates"] for r in first["rows"]] == [10, 20] and len(first["rows"][0]["normalized"]) == 2
    longer = P.run_curve(
        P.curve_config("smoke", "mamujoco/hopper-3x1", "medium", "bcq", 30), [0, 1], 10, log=logs.append
    )
    assert any("resumed at update 20" in m for m in logs)
    assert longer["rows"][:2] == first["rows"] and [r["updates"] for r in longer["rows"]] == [10, 20, 30]
    paths = P.write_outputs(longer, tmp_path / "out" / "hopper_medium_bcq")
    assert [p.suffix for p in paths] == [".json", ".md", ".png"] and all(p.stat().st_size > 0 for p in paths)
    assert json.loads(paths[0].read_text())["seeds"] == [0, 1]
    assert "| 30 |" in paths[1].read_text()


def test_an_unfinished_curve_is_written_as_partial_and_replaced_when_done(tmp_path, monkeypatch):
    """main: after every evaluation short of the end the curve so far goes to <name>_partial.* (marked partial);
    the finished curve removes them."""
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    seen: list[str] = []
    real = P.write_outputs

    def spy(out, base):
        paths = real(out, base)
        if base.name.endswith("_partial"):
            seen.append(paths[1].read_text())
        return paths

    monkeypatch.setattr(P, "write_outputs", spy)
    argv = ["--profile", "smoke", "--env", "mamujoco/hopper-3x1", "--dataset", "medium", "--seeds", "0"]
    assert P.main([*argv, "--updates", "20", "--eval-every", "10", "--results", str(tmp_path / "res")]) == 0
    assert len(seen) == 1 and "**Partial**: 10 of 20 updates" in seen[0]
    out = tmp_path / "res" / "smoke" / "otc" / "pi0_curve"
    assert sorted(p.name for p in out.iterdir()) == [f"hopper_medium_bcq.{x}" for x in ("json", "md", "png")]
    assert "Partial" not in (out / "hopper_medium_bcq.md").read_text()


def test_navigation_curve_scores_the_return(tmp_path, monkeypatch):
    """Figures 7-8's pi^0: TD3+BC on N-agent navigation, whose random data have no reference scores: the curve
    holds the returns, the outputs say so."""
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    cfg = P.nav_curve_config("smoke", 2, 10)
    assert cfg["learner"] == "td3bc" and cfg["dataset"]["env_options"] == {"n_agents": 2}
    out = P.run_curve(cfg, [0, 1], 5, log=lambda m: None)
    rows = out["rows"]
    assert [r["updates"] for r in rows] == [5, 10] and all(r["normalized"] is None for r in rows)
    assert len(rows[0]["scores"]) == 2 and len({*rows[0]["scores"], *rows[1]["scores"]}) > 1
    md = P.write_outputs(out, tmp_path / "out" / "navigation_n2_td3bc")[1].read_text()
    assert "| updates | return mean ± std |" in md and "n_agents 2" in md


def test_bad_input_names_the_value():
    with pytest.raises(ValueError, match="unknown offline learner 'td3'"):
        P.curve_config("smoke", "mamujoco/hopper-3x1", "medium", "td3", None)
    with pytest.raises(ValueError, match="--updates must be >= 1"):
        P.curve_config("smoke", "mamujoco/hopper-3x1", "medium", "bcq", 0)
    with pytest.raises(SystemExit):
        P.main(["--seeds", "0", "0"])
    with pytest.raises(SystemExit):
        P.main(["--n-agents", "0"])


def test_curve_caches_the_pi0_table1_would_train(tmp_path, monkeypatch):
    """--cache-for: the curve's last pi^0 becomes the Table 1 cell's cached pi^0, equal to what the cell's own offline
    stage (deploy_offline.train_offline_stack, the seeds stacked) trains: evaluations in between draw from their own
    generator, so they leave the training streams alone."""
    import torch

    from common.running.profiles import get_profile
    from papers.otc import config as C
    from papers.otc import deploy as D
    from papers.otc import mujoco_items as M

    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    env, seeds = "mamujoco/hopper-3x1", [0, 1]
    cell = M.cell_config(get_profile("smoke", C.PROFILE_OVERRIDES), env, "medium", "bcq")
    cfg = P.curve_config("smoke", env, "medium", "bcq", cell["offline_updates"])
    logs: list[str] = []
    P.run_curve(cfg, seeds, 20, log=logs.append, cache_for=["smoke"])
    data = D.load_dataset(cell["dataset"])
    paths = [D.offline_paths(cell, data, s, torch.device("cpu"))[0] for s in seeds]
    assert all(p.exists() for p in paths) and sum("cached pi^0 seed" in m for m in logs) == 2
    from_curve = [torch.load(p, weights_only=False) for p in paths]
    for p in paths:
        p.unlink()
    D.train_offline_stack([(cell, data, s, torch.device("cpu")) for s in seeds], P._progress)
    own = [torch.load(p, weights_only=False) for p in paths]
    for a, b in zip(from_curve, own):
        assert a["s0"] == b["s0"] and a["updates"] == b["updates"] == cell["offline_updates"]
        flat_a, flat_b = _flat(a["learner"]), _flat(b["learner"])
        assert len(flat_a) >= 10 and flat_a.keys() == flat_b.keys()  # the networks, optimizers and streams
        assert all(torch.equal(flat_a[k], flat_b[k]) for k in flat_a)
    # a second call keeps the entries; another profile's cell with other updates is only noted
    logs.clear()
    P.run_curve(cfg, seeds, 20, log=logs.append, cache_for=["smoke"])
    assert not any("cached pi^0 seed" in m for m in logs)
    with pytest.raises(ValueError, match="--cache-for quick: its bcq section"):
        P.run_curve(cfg, seeds, 20, log=logs.append, cache_for=["quick"])  # smoke's widths are not quick's


def _flat(state, prefix=""):
    """Every tensor of a nested state dict by its path."""
    import torch

    out = {}
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, list) else []
    for k, v in items:
        if isinstance(v, torch.Tensor):
            out[f"{prefix}{k}"] = v
        else:
            out.update(_flat(v, f"{prefix}{k}."))
    return out


def test_a_learner_variant_is_trained_recorded_and_named(tmp_path, monkeypatch):
    """--set FIELD=VALUE: the variant's section reaches the learner and the record, and names the outputs (as typed);
    bad pairs, unknown fields and refused values are named; a variant is never stored as Table 1's pi^0."""
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    built = []
    real = P.build_learner
    monkeypatch.setattr(P, "build_learner", lambda *a, **k: built.append(real(*a, **k)) or built[-1])
    argv = ["--profile", "smoke", "--env", "mamujoco/hopper-3x1", "--dataset", "medium", "--learner", "awac"]
    res = ["--seeds", "0", "--updates", "4", "--eval-every", "4", "--results", str(tmp_path / "res")]
    assert P.main([*argv, *res, "--set", "lam=1e9", "mean_tanh=true"]) == 0
    assert built and all(b.cfg.lam == 1e9 and b.cfg.mean_tanh is True for b in built)
    out = tmp_path / "res" / "smoke" / "otc" / "pi0_curve" / "hopper_medium_awac_lam=1e9_mean_tanh=true.json"
    rec = json.loads(out.read_text())
    assert rec["config"]["awac"]["lam"] == 1e9 and rec["config"]["awac"]["mean_tanh"] is True
    with pytest.raises(ValueError, match=r"unknown AWACConfig field\(s\) \['lambda'\]; allowed: .*lam"):
        C.learner_overrides("awac", ["lambda=2"])
    with pytest.raises(ValueError, match="FIELD=VALUE, got 'lam'"):
        C.learner_overrides("awac", ["lam"])
    with pytest.raises(ValueError, match="lam"):
        C.learner_overrides("awac", ["lam=-1"])
    assert C.learner_overrides("awac", ["log_std_param=sigmoid"]) == {"log_std_param": "sigmoid"}
    for bad in (["--set", "lam"], ["--set", "lam=2", "--cache-for", "quick"]):
        with pytest.raises(SystemExit):
            P.main([*argv, *res, *bad])


def test_otc_awac_takes_rlkits_mujoco_temperature_and_a_set_curve_is_table1s_pi0():
    """OTC's AWAC cells take lambda 2 (rlkit's MuJoCo sweep; papers/otc/config.py) at every profile, and a curve run
    with `--set lam=2` has exactly the cell's section, so its checkpoint and --cache-for serve Table 1's pi^0."""
    for profile in ("smoke", "quick", "full"):
        cfg = P.curve_config(profile, "mamujoco/walker2d-2x3", "medium", "awac", None)
        assert cfg["awac"]["lam"] == 2
        varied = {**cfg["awac"], **C.learner_overrides("awac", ["lam=2"])}
        assert json.dumps(varied, sort_keys=True) == json.dumps(cfg["awac"], sort_keys=True)
