"""OTC's Figure 6(d) on SMAX: discrete CQL(H) with avail-action masks (common/algos/cql_discrete.py, its loss worked
by hand), greedy and epsilon-greedy actions inside the masks, the per-agent merged data of the sequential collection
(papers/otc/smax_items.py), a smoke run of the panel-d job (record fields), determinism, and panel d reported as
"needs SMAX" where jaxmarl is missing."""

from __future__ import annotations

import math

import pytest
import torch

from common.algos.cql_discrete import (
    DiscreteCQL,
    DiscreteCQLConfig,
    cql_loss,
    epsilon_greedy,
    masked_argmax,
    masked_logsumexp,
    masked_max,
    td_target,
)

T, F = True, False

# ---- the hand-computed case --------------------------------------------------------------------------------------
# one member, two rows, K = 3 actions, gamma = 0.5
#   row 0: Q(o) = [1, 2, 3], avail(o) = [T, T, F], a = 0;  Q'(o') = [0.5, 4, 1], avail(o') = [T, F, T]; r = 1, d = 0
#          y = 1 + 0.5 * max(0.5, 1) = 1.5                  (unmasked: max 4 -> y = 3)
#          (Q(o, a) - y)^2 = (1 - 1.5)^2 = 0.25
#          logsumexp over {1, 2} = 1 + log(1 + e) = 2.3132617; gap = 2.3132617 - 1 = 1.3132617   (unmasked: 3.4076059)
#   row 1: Q(o) = [2, -1, 5], avail(o) = [F, T, T], a = 1;  Q'(o') = [10, 3, 2], avail(o') = [F, T, T]; r = 0.5, d = 1
#          y = r = 0.5;  (-1 - 0.5)^2 = 2.25
#          logsumexp over {-1, 5} = 5 + log(1 + e^-6) = 5.0024757; gap = 5.0024757 + 1 = 6.0024757
#   L_TD  = 1/2 mean(0.25, 2.25) = 0.625
#   L_CQL = mean(1.3132617, 6.0024757) = 3.6578687
#   L     = 0.625 + alpha L_CQL: alpha 1 -> 4.2828687, alpha 2 -> 7.9407374
#   double Q: online Q(o') row 0 = [3, 9, 0] -> a* over {0, 2} = 0, Q'(o', 0) = 0.5, y = 1 + 0.5 * 0.5 = 1.25
Q = torch.tensor([[[1.0, 2.0, 3.0], [2.0, -1.0, 5.0]]])
AVAIL = torch.tensor([[[T, T, F], [F, T, T]]])
ACT = torch.tensor([[0, 1]])
Q_NEXT_T = torch.tensor([[[0.5, 4.0, 1.0], [10.0, 3.0, 2.0]]])
NEXT_AVAIL = torch.tensor([[[T, F, T], [F, T, T]]])
R = torch.tensor([[1.0, 0.5]])
D = torch.tensor([[0.0, 1.0]])
LSE0, LSE1 = 1 + math.log(1 + math.e), 5 + math.log(1 + math.exp(-6))


def test_masked_reductions_by_hand():
    assert masked_max(Q_NEXT_T, NEXT_AVAIL).tolist() == [[1.0, 3.0]]
    assert masked_argmax(Q, AVAIL).tolist() == [[1, 2]]
    assert masked_logsumexp(Q, AVAIL)[0].tolist() == pytest.approx([LSE0, LSE1], abs=1e-6)
    assert LSE0 == pytest.approx(2.3132617, abs=1e-7) and LSE1 == pytest.approx(5.0024757, abs=1e-7)
    nothing = torch.zeros(1, 1, 3, dtype=torch.bool)  # no available action: max := 0, never -inf
    assert masked_max(torch.ones(1, 1, 3), nothing).tolist() == [[0.0]]


def test_cql_loss_with_masks_by_hand():
    y = td_target(Q_NEXT_T, NEXT_AVAIL, R, D, gamma=0.5)
    assert y.tolist() == [[1.5, 0.5]]
    for alpha, total in ((1.0, 4.2828687), (2.0, 7.9407374)):
        loss, td, gap = cql_loss(Q, ACT, AVAIL, y, alpha)
        assert td.item() == pytest.approx(0.625, abs=1e-6)
        assert gap.item() == pytest.approx(3.6578687, abs=1e-6)
        assert loss.item() == pytest.approx(total, abs=1e-6)
    # without the masks the numbers differ: the masks are what the test pins
    no_mask = torch.ones_like(AVAIL)
    y_free = td_target(Q_NEXT_T, no_mask, R, D, gamma=0.5)
    assert y_free.tolist() == [[3.0, 0.5]]
    assert cql_loss(Q, ACT, no_mask, y, 1.0)[2].item() != pytest.approx(3.6578687, abs=1e-3)
    # double Q: a* by the online net over avail(o'), valued by the target
    q_next_online = torch.tensor([[[3.0, 9.0, 0.0], [0.0, 0.0, 0.0]]])
    assert td_target(Q_NEXT_T, NEXT_AVAIL, R, D, 0.5, q_next_online).tolist() == [[1.25, 0.5]]


def _stub_learner():
    """A DiscreteCQL whose networks are replaced by the table above (obs[..., 0] = row id)."""
    lr = DiscreteCQL(2, 3, 1, DiscreteCQLConfig(hidden=(4, 4), gamma=0.5), seeds=[0])
    table = {"q": Q[0], "q_target": Q_NEXT_T[0]}
    lr.q = lambda x: table["q"][x[..., 0].long()]  # noqa: E731 - [M, B, O] -> [M, B, K]
    lr.q_target = lambda x: table["q_target"][x[..., 0].long()]  # noqa: E731
    obs = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    batch = {
        "obs": obs,
        "next_obs": obs,
        "actions": ACT,
        "rewards": R,
        "terminals": D,
        "avail": AVAIL,
        "next_avail": NEXT_AVAIL,
    }
    return lr, batch


def test_the_learner_wires_the_masks_into_its_loss():
    lr, batch = _stub_learner()
    loss, td, gap = lr.losses(batch)
    assert (loss.item(), td.item(), gap.item()) == pytest.approx((4.2828687, 0.625, 3.6578687), abs=1e-6)
    # V(o') = max over avail(o') of the ONLINE net (OTC's d_q): row 0 max(1, 3) = 3, row 1 max(-1, 5) = 5
    assert lr.value(batch["next_obs"], batch["next_avail"]).tolist() == [[3.0, 5.0]]
    DiscreteCQL.check_batch(batch)
    bad = {**batch, "actions": torch.tensor([[2, 1]])}  # action 2 unavailable in row 0
    with pytest.raises(ValueError, match="unavailable"):
        DiscreteCQL.check_batch(bad)


def test_config_is_table3_and_rejects_bad_values():
    c = DiscreteCQLConfig().validate()
    assert (c.hidden, c.lr, c.batch_size, c.gamma, c.cql_alpha, c.tau, c.double_q) == (
        (256, 256),
        1e-4,
        128,
        0.99,
        1.0,
        0.005,
        False,
    )
    for bad, match in (
        ({"tau": 0.0}, "tau"),
        ({"hidden": []}, "hidden"),
        ({"batch_size": 0}, "batch_size"),
        ({"cql_alpha": -1.0}, "cql_alpha"),
        ({"double_q": "yes"}, "double_q"),
    ):
        with pytest.raises(ValueError, match=match):
            DiscreteCQLConfig(**bad).validate()


def test_greedy_and_exploring_actions_stay_inside_the_masks():
    torch.manual_seed(0)
    lr = DiscreteCQL(6, 11, 5, DiscreteCQLConfig(hidden=(16, 16)), seeds=[3, 4])  # M = 10 members
    obs = torch.randn(2, 40, 5, 6)
    avail = torch.rand(2, 40, 5, 11) < 0.3
    avail[..., 4] |= ~avail.any(-1)  # at least one action (SMAX: stop)
    a = torch.as_tensor(lr.act(obs, avail))  # [S, E, N]
    assert a.shape == (2, 40, 5)
    assert bool(avail.gather(-1, a.unsqueeze(-1)).all())
    q = lr.q(obs.transpose(1, 2).reshape(10, 40, 6)).reshape(2, 5, 40, 11).transpose(1, 2)
    best = q.masked_fill(~avail, -torch.inf).amax(-1)
    assert torch.equal(q.gather(-1, a.unsqueeze(-1)).squeeze(-1), best)  # the best available action
    assert not torch.equal(q.argmax(-1), a)  # the unmasked argmax differs: the masks did something
    g = torch.Generator().manual_seed(0)
    av = avail.reshape(-1, 5, 11)
    greedy = a.reshape(-1, 5)
    explore = torch.zeros(80, 5, dtype=torch.bool)
    explore[:, 2] = True
    e = epsilon_greedy(greedy, av, explore, 1.0, g)
    assert bool(av.gather(-1, e.unsqueeze(-1)).all())
    assert torch.equal(e[:, [0, 1, 3, 4]], greedy[:, [0, 1, 3, 4]])  # only the explorer deviates
    assert not torch.equal(e[:, 2], greedy[:, 2])


def test_batched_members_equal_separate_seeds():
    """Seed s's members start from seed s alone and learn alone: the batched update equals per-seed learners."""
    cfg = DiscreteCQLConfig(hidden=(8, 8), batch_size=4)
    both = DiscreteCQL(3, 4, 2, cfg, seeds=[0, 1])
    ones = [DiscreteCQL(3, 4, 2, cfg, seeds=[s]) for s in (0, 1)]
    g = torch.Generator().manual_seed(5)
    batch = {
        "obs": torch.randn(4, 4, 3, generator=g),
        "next_obs": torch.randn(4, 4, 3, generator=g),
        "actions": torch.zeros(4, 4, dtype=torch.long),
        "rewards": torch.randn(4, 4, generator=g),
        "terminals": torch.zeros(4, 4),
        "avail": torch.ones(4, 4, 4, dtype=torch.bool),
        "next_avail": torch.rand(4, 4, 4, generator=g) < 0.7,
    }
    for _ in range(3):
        both.update(batch)
        for s, one in enumerate(ones):
            one.update({k: v[2 * s : 2 * s + 2] for k, v in batch.items()})
    x = torch.randn(4, 5, 3)
    ref = torch.cat([ones[s].q(x[2 * s : 2 * s + 2]) for s in (0, 1)])
    torch.testing.assert_close(both.q(x), ref, rtol=1e-5, atol=1e-6)


# ---- the per-agent merged data of the sequential collection ------------------------------------------------------


def _rows(n, agent, base):
    """n transitions of one agent; obs[..., 0] = base + row so that a drawn row names itself."""
    v = torch.arange(n, dtype=torch.float32) + base
    return {
        "obs": v[:, None].expand(n, 2).clone(),
        "next_obs": v[:, None].expand(n, 2).clone(),
        "actions": torch.full((n,), agent),
        "rewards": v.clone(),
        "terminals": torch.zeros(n),
        "avail": torch.ones(n, 3, dtype=torch.bool),
        "next_avail": torch.ones(n, 3, dtype=torch.bool),
    }


def test_each_agent_reads_its_own_online_rows():
    from papers.otc.smax_sampling import Buffers

    n0, N = 10, 2
    off = {k: torch.stack([v, v], dim=1) for k, v in _rows(n0, 9, 0).items()}
    buf = Buffers(off, torch.arange(N))
    buf.add([_rows(3, 0, 100), _rows(5, 1, 200)])  # deployment 1: agent 0 got 3 rows, agent 1 got 5
    buf.add([_rows(4, 0, 300), _rows(2, 1, 400)])  # deployment 2
    assert buf.sizes().tolist() == [17, 17]
    g = torch.Generator().manual_seed(0)
    b = buf.gather(buf.sample(g, 4000))
    ids = b["obs"][..., 0]
    on = ids >= 100
    assert set(ids[0][on[0]].long().tolist()) == {100, 101, 102, 300, 301, 302, 303}
    assert set(ids[1][on[1]].long().tolist()) == {200, 201, 202, 203, 204, 400, 401}
    assert set(ids[0][~on[0]].long().tolist()) == set(range(10))  # the offline rows, every one reachable
    assert bool((b["actions"][on] == torch.arange(N)[:, None].expand_as(on)[on]).all())  # its own column
    new = buf.gather(buf.sample_newest(g, 50))["obs"][..., 0].long()  # min(50, min_j |D_j^2|) = 2 rows
    assert new.shape == (2, 2)
    assert set(new[0].tolist()) <= {300, 301, 302, 303} and set(new[1].tolist()) == {400, 401}
    assert len(set(new[0].tolist())) == 2  # without repeats


# ---- the panel-d job ---------------------------------------------------------------------------------------------


def test_panel_d_reports_needs_smax_without_jaxmarl(monkeypatch):
    from papers.otc import figure6
    from papers.otc import smax_items as X

    monkeypatch.setattr(X, "needs_smax", lambda: "SMAX (pip install -e '.[smax]')")
    assert figure6.panels() == ["a", "b", "c"] and all(p != "d" for p, _ in figure6.grid("smoke"))
    verdict, why = _f6d([], X.needs_smax())
    assert verdict is None and "needs SMAX" in why


def _f6d(recs, smax_missing):
    """f6d_otc_beats_cql (papers/otc/claims_nav.py) on ``recs``; ``smax_missing``: what panel d lacks (None: SMAX
    is installed)."""
    from common.reporting.claims import Evidence
    from papers.otc.claims_nav import f6d_otc_beats_cql

    return f6d_otc_beats_cql(
        Evidence(recs, data={"random_success": lambda: 0.0, "smax_missing": smax_missing})
    )


def _panel_d_record(method, wins, ret, data_win=0.0):
    return {
        "keys": {"panel": "d", "env": "smax/5m_vs_6m", "method": method},
        "extra": {"data_win_rate": data_win},
        "curve": [
            {"step": 0, "score": 0.0, "eval_return": 0.1},
            {"step": 1, "score": wins, "eval_return": ret},
        ],
    }


@pytest.mark.parametrize(
    "o, b, want", [(0.0, 0.0, "undecided"), (0.25, 0.0, True), (0.0, 0.25, False), (0.5, 0.5, False)]
)
def test_panel_d_verdict_is_undecided_only_when_nobody_wins(monkeypatch, o, b, want):
    """Both methods at a 0 win rate leave the claim undecided (with the returns shown), not 'does not hold'; any win
    decides it by the win rate alone."""
    recs = [_panel_d_record("cql_otc_dq", o, 0.9), _panel_d_record("cql", b, 0.4)]
    for p, m in (
        ("a", "bremen"),
        ("a", "bremen_otc_de"),
        ("b", "bremen"),
        ("b", "bremen_otc_de"),
        ("c", "bcq"),
        ("c", "bcq_otc_de"),
    ):
        recs.append({"keys": {"panel": p, "method": m}, "curve": [{"score": 0.0}]})
    verdict, why = _f6d(recs, None)
    assert verdict == want and type(verdict) is type(want)
    if want == "undecided":
        assert "cannot order" in why and "OTC (d_q) 0.900 vs CQL 0.400" in why and "0.000" in why


def test_panel_d_configs():
    from common.running.profiles import get_profile
    from papers.otc import config as C
    from papers.otc import smax_items as X

    full = X.cell_config(get_profile("full", C.PROFILE_OVERRIDES), "cql_otc_dq")
    assert (full["deployments"], full["tune_updates"], full["offline_updates"], full["eval_episodes"]) == (
        10,
        2000,
        100_000,
        32,
    )
    assert (full["deploy_fraction"], full["epsilon"], full["cql"]) == (0.01, 0.1, {"batch_size": 128})
    assert full["otc"] == {"distance": "q", "alpha_mode": "adaptive", "alpha0": 1.0}
    assert full["dataset"]["kind"] == "medium" and full["dataset"]["env"] == "smax/5m_vs_6m"
    assert full["reward_scale"] == 10.0  # SMAC's return scale (max 20) from SMAX's (max ~2)
    assert X.deploy_episodes(10_000, 0.01) == 100 and X.deploy_episodes(4, 0.01, 1) == 1
    for bad in ("cql_otc_de", "cql_br", "bcq"):
        with pytest.raises(ValueError, match="not built for SMAX"):
            X.cell_config(get_profile("smoke", C.PROFILE_OVERRIDES), bad)


def _run_panel_d(tmp_path, monkeypatch, tag, methods=("cql", "cql_otc_dq")):
    pytest.importorskip("jaxmarl")
    from common.running.records import load_records
    from papers.otc import figure6
    from papers.otc import smax_items as X

    monkeypatch.setattr(X, "offline_dir", lambda: tmp_path / tag / "offline")  # pi^0 trained afresh per run
    argv = [
        "--profile",
        "smoke",
        "--panel",
        "d",
        "--seeds",
        "0",
        "--results",
        str(tmp_path / tag),
        "--no-report",
    ]
    for m in methods:
        argv += ["--method", m]
    figure6.main(argv)
    return {
        r["keys"]["method"]: r
        for r in load_records(tmp_path / tag, "smoke", "otc", "figure6")
        if "claim" not in r["keys"]
    }


def test_panel_d_smoke_job_and_determinism(tmp_path, monkeypatch):
    a = _run_panel_d(tmp_path, monkeypatch, "a")
    assert set(a) == {"cql", "cql_otc_dq"}
    for method, r in a.items():
        assert r["keys"] == {"panel": "d", "env": "smax/5m_vs_6m", "method": method}
        assert [p["step"] for p in r["curve"]] == [0, 1, 2]  # K = 2 at smoke
        assert all(0.0 <= p["score"] <= 1.0 for p in r["curve"]) and r["score"] == r["curve"][-1]["score"]
        x = r["extra"]
        assert x["s_final"] == r["score"] and x["deploy_episodes_per_agent"] == 1
        k1 = r["curve"][1]
        assert k1["deploy_episodes"] == 5 and len(k1["online_rows"]) == 5  # N phases of M = 1 episode
        assert x["online_env_steps"] == sum(p["deploy_env_steps"] for p in r["curve"][1:])
        assert {"data_sha256", "return_s0", "return_final", "online_digest"} <= set(x)
    assert "alpha" in a["cql_otc_dq"]["curve"][1] and a["cql_otc_dq"]["curve"][1]["alpha"] == [1.0] * 5
    # pi^0 and the first deployment are shared by both methods (common random numbers) [I C5, C23]
    assert a["cql"]["curve"][0] == a["cql_otc_dq"]["curve"][0]
    assert a["cql"]["curve"][1]["deploy_return"] == a["cql_otc_dq"]["curve"][1]["deploy_return"]
    assert a["cql"]["curve"][1]["online_rows"] == a["cql_otc_dq"]["curve"][1]["online_rows"]
    # same seed, fresh pi^0 -> same record
    b = _run_panel_d(tmp_path, monkeypatch, "b", methods=("cql_otc_dq",))
    r, s = a["cql_otc_dq"], b["cql_otc_dq"]
    assert s["curve"] == r["curve"] and s["score"] == r["score"]
    assert s["extra"]["online_digest"] == r["extra"]["online_digest"]


def test_panel_d_killed_run_resumes_to_the_same_record(tmp_path, monkeypatch):
    from papers.otc import smax_items as X

    whole = _run_panel_d(tmp_path, monkeypatch, "whole", methods=("cql_otc_dq",))["cql_otc_dq"]
    real = X.sequential_deployment

    def dies_at_the_second_deployment(learner, env, seed, k, *rest):
        if k == 2:
            raise RuntimeError("killed")
        return real(learner, env, seed, k, *rest)

    monkeypatch.setattr(X, "sequential_deployment", dies_at_the_second_deployment)
    with pytest.raises(SystemExit):
        _run_panel_d(tmp_path, monkeypatch, "cut", methods=("cql_otc_dq",))
    monkeypatch.setattr(X, "sequential_deployment", real)
    again = _run_panel_d(tmp_path, monkeypatch, "cut", methods=("cql_otc_dq",))["cql_otc_dq"]
    assert again["resumed_from_step"] == 1
    assert (
        again["curve"] == whole["curve"]
        and again["extra"]["online_digest"] == whole["extra"]["online_digest"]
    )
