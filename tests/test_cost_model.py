"""The cost model (common.running.cost_model, common.running.cost_records): its counts, keys and sizes read from cell
configs, its fits on hand-made times, its predictions summed over an item's plan, and its error on measured items of
the committed reference (a smoke and a quick item within 30 %). No training: everything from configs and records."""

from __future__ import annotations

import math

import pytest

from common.running.cli import ItemPlan
from common.running.cost_model import (
    CostModel,
    Counts,
    UnitCost,
    cost_key,
    counts,
    fit_env,
    group_sizes,
    predict_item,
    size_factor,
)
from common.running.cost_records import (
    error_rows,
    load,
    predict_invocation,
    predict_plan,
    predict_plans,
    reference_model,
)
from common.running.cost_sizes import fit_power, pooled_slope, section_defaults
from common.running.cost_stages import as_trained, record_config, stage_ids

DS = {"env": "omar/spread", "env_options": {"n_agents": 3}, "kind": "medium", "sizes": {"medium": 1000}}


def cfg(updates=500, eval_every=25, eval_episodes=10, hidden=64, batch=1024, **more):
    return {
        "dataset": DS,
        "method": "omar",
        "itd3": {"hidden": hidden, "batch_size": batch},
        "updates": updates,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "ckpt_every": 50,
        **more,
    }


# ---- what a config counts ----------------------------------------------------------------------------------------
def test_counts_of_each_config_shape():
    assert counts(cfg()) == Counts(500, 20 * 10)
    assert counts(cfg(finetune={"updates": 300})) == Counts(800, 200)  # MOMA-PPO's fine-tuned MA-IQL
    assert counts({"iterations": 300, "eval_every": 60, "eval_episodes": 100}) == Counts(300, 500)
    otc = {
        "offline_updates": 1000,
        "cvae_offline_updates": 200,
        "deployments": 4,
        "tune_updates": 50,
        "eval_episodes": 5,
    }
    assert counts(otc) == Counts(1000 + 200 + 4 * 50, (4 + 1) * 5)
    assert counts({"quantity": "min"}) == Counts(1, 0)  # trains nothing: a constant per run


def test_cost_key_leaves_out_counts_and_the_datasets_details():
    a = cfg()
    b = cfg(updates=10_000, eval_every=500, eval_episodes=5) | {
        "dataset": {**DS, "kind": "expert", "sizes": {}}
    }
    assert cost_key("omar", a) == cost_key("omar", b)  # same learner, sizes and env: one unit cost
    assert cost_key("omar", a) != cost_key("omar", cfg(hidden=128))
    assert cost_key("omar", a) != cost_key("omar", {**a, "dataset": {**DS, "env": "omar/tag"}})
    assert cost_key("omar", a) != cost_key("otc", a)


def test_size_factor():
    assert size_factor(cfg(hidden=64, batch=1024)) == 1024 * 2 * 64**2  # an integer width: two layers
    assert size_factor({"bcq": {"hidden": [32, 16], "hidden_vae": [8], "batch_size": 4}}) == 4 * (
        32**2 + 16**2 + 8**2
    )
    assert size_factor(
        {"bcq": {"hidden": [32, 16], "critic_hidden": 8, "batch_size": 4, "hidden_vae": []}}
    ) == 4 * (32**2 + 16**2 + 2 * 8**2)  # every field naming a width
    # no width anywhere: unsized
    assert size_factor({"method": "x", "world": {"seed": 1}, "updates": 5}) is None


def test_size_factor_takes_left_out_widths_and_batch_from_the_learners_defaults():
    """Full configs leave widths to the learner's config class: sized at its defaults, not unsized."""
    from common.algos.awac_config import AWACConfig
    from common.algos.bcq_config import BCQConfig

    assert section_defaults("awac") == {
        "hidden": list(AWACConfig.hidden),
        "batch_size": AWACConfig.batch_size,
    }
    awac = sum(w * w for w in AWACConfig.hidden)
    assert size_factor({"awac": {"batch_size": 128}}) == 128 * awac
    assert size_factor({"awac": {}}) == AWACConfig.batch_size * awac
    vae, q = sum(w * w for w in BCQConfig.hidden_vae), sum(w * w for w in BCQConfig.hidden)
    assert size_factor({"mabcq": {"hidden": [8]}}) == BCQConfig.batch_size * (64 + vae)  # a named width wins
    assert vae > 0 and q > 0 and section_defaults("no_such_learner") == {}
    # a paper's learner: not looked up (the sizes stay import-free)
    assert section_defaults("cast_smax") == {}


# ---- the fits ----------------------------------------------------------------------------------------------------
def test_fit_env_recovers_set_up_step_and_episode_costs():
    c, e, ua, ub = 2.0, 0.1, 0.01, 0.05
    a1, a2, a3, b1 = Counts(100, 10), Counts(1000, 50), Counts(500, 100), Counts(400, 40)
    t = {k: c + (ub if k == b1 else ua) * k.updates + e * k.episodes for k in (a1, a2, a3, b1)}
    # one built the data
    by_key = {
        "A": [(a1, t[a1]), (a1, t[a1]), (a1, 100 * t[a1]), (a2, t[a2]), (a3, t[a3])],
        "B": [(b1, t[b1])],
    }
    units, run, ep = fit_env(by_key)
    assert run == pytest.approx(c) and ep == pytest.approx(e)
    assert units["A"].per_update == pytest.approx(ua) and units["B"].per_update == pytest.approx(ub)
    assert units["A"].seconds(a2) == pytest.approx(t[a2]) and units["A"].n == 5


def test_fit_env_without_two_counts_puts_everything_on_the_steps():
    units, run, ep = fit_env({"A": [(Counts(200, 20), 10.0), (Counts(200, 20), 12.0)]})
    assert (run, ep) == (0.0, 0.0) and units["A"].per_update == pytest.approx(11.0 / 200)


def test_fit_env_caps_the_shared_costs_at_half_a_keys_shortest_run():
    """A set-up seen on long runs is not charged in full to a key whose runs are shorter (smoke's)."""
    big = [(Counts(100, 0), 20.0 + 0.1 * 100), (Counts(1000, 0), 20.0 + 0.1 * 1000)]
    units, run, _ = fit_env({"long": big, "short": [(Counts(10, 0), 4.0)]})
    assert run == pytest.approx(20.0) and units["long"].per_run == pytest.approx(20.0)
    assert units["short"].per_run == pytest.approx(2.0) and units["short"].per_update == pytest.approx(0.2)


def test_fit_power_and_the_pooled_slope():
    law = [(x, 0.5 * x**0.25) for x in (1e3, 1e5, 1e7)]
    assert fit_power(law) == pytest.approx((0.5, 0.25))  # its own slope
    assert fit_power([(1e4, 2.0)], beta=0.5) == pytest.approx((0.02, 0.5))  # one size: the given slope
    assert fit_power([(1e4, 2.0)]) == pytest.approx((2e-4, 1.0))  # no slope: proportional to size
    # slopes clamp to [0, 1]
    assert fit_power([(10.0, 1.0), (1000.0, 0.1)]) == pytest.approx((0.1**0.5, 0.0))
    assert fit_power([(10.0, 0.0)], beta=0.3) == (0.0, 0.3)  # a zero cost carries no log
    with pytest.raises(ValueError, match="at least one"):
        fit_power([])
    # two families at different levels, one slope: the within-family regression ignores the levels
    a, b = [(x, 1.0 * x**0.3) for x in (1e2, 1e4)], [(x, 9.0 * x**0.3) for x in (1e3, 1e6)]
    assert pooled_slope([a, b, [(5.0, 1.0)]]) == pytest.approx(0.3)  # a one-size family adds nothing
    assert pooled_slope([[(5.0, 1.0)]]) is None
    model = CostModel.fit(
        [("omar", cfg(hidden=h, updates=100), 100 * 0.01 * (1024 * 2 * h * h) ** 0.3, 1) for h in (32, 64)]
    )
    assert model.per_size["omar/omar/omar/spread"] == pytest.approx((0.01, 0.3))
    assert model.run_seconds("omar", cfg(hidden=256, updates=100))[0] == pytest.approx(
        100 * 0.01 * (1024 * 2 * 256**2) ** 0.3
    )


def test_group_sizes_and_grouped_keys():
    """Runs trained as one job share its time (same ``started`` and ``wall_time_s``): keys of their own."""
    recs = [
        {"started": "t0", "wall_time_s": 30.0},
        {"started": "t0", "wall_time_s": 30.0},
        {"started": "t1", "wall_time_s": 30.0},
        {"started": "t2", "wall_time_s": 0.2},
        {"started": "t2", "wall_time_s": 0.2},
    ]
    assert group_sizes(recs) == [2, 2, 1, 1, 1]  # under a second: equal clock readings, not a group
    model = CostModel.fit([("omar", cfg(), 10.0, 2), ("omar", cfg(), 10.0, 2)])
    assert model.run_seconds("omar", cfg(), members=2) == (pytest.approx(10.0), "fit")
    # a run alone: an underestimate
    assert model.run_seconds("omar", cfg()) == (pytest.approx(10.0), "grouped")
    assert model.per_size == {}  # grouped shares stay out of the families' size fits


# ---- predictions ---------------------------------------------------------------------------------------------------
def test_run_seconds_bases_and_item_sums():
    fitted = cfg()
    model = CostModel(
        {cost_key("omar", fitted): UnitCost(1.0, 0.02, 0.5, 3)},
        {"omar/omar/omar/spread": (0.001, 0.3)},
        {"omar/omar/omar/spread": 0.03},
        {},
        {},
        start_s=2.0,
    )
    assert model.run_seconds("omar", fitted) == (pytest.approx(1.0 + 0.02 * 500 + 0.5 * 200), "fit")
    wider = cfg(hidden=128)
    assert model.run_seconds("omar", wider) == (
        pytest.approx(0.001 * size_factor(wider) ** 0.3 * 500),
        "scaled",
    )
    unsized = {**fitted, "itd3": None, "learner_x": {"batch_size": 1024}}  # no width named nor known
    assert model.run_seconds("omar", unsized) == (pytest.approx(0.03 * 500), "unsized")
    assert model.run_seconds("omar", {**fitted, "method": "bc"}) == (None, "none")
    p = predict_item(model, "omar", [fitted, wider], seeds=3)
    assert p.core_s == pytest.approx(3 * (111.0 + model.run_seconds("omar", wider)[0]))
    assert p.wall_s == pytest.approx(p.core_s + 2.0) and p.bases == {"fit": 3, "scaled": 3}
    assert "core-h (3 fit, 3 scaled)" in p.describe() and "+" in p.beside(p.wall_s / 1.2)
    gap = predict_item(model, "omar", [fitted, {**fitted, "method": "bc"}], seeds=1)
    assert gap.core_s is None and gap.wall_s is None and gap.bases == {"fit": 1, "none": 1}


def test_predict_plans_todo_whole_grid_and_copied_runs():
    model = load()[0]
    plan = ItemPlan(
        "omar",
        "table1",
        cells=1,
        grid=1,
        seeds=[0, 1],
        runs=2,
        done=1,
        configs=[cfg()],
        todo_runs=[(cfg(), 1)],
    )
    whole, todo = predict_plan(plan, todo=False), predict_plan(plan)
    assert whole is not None and todo is not None and whole.core_s == pytest.approx(2 * todo.core_s)
    assert todo.core_s == pytest.approx(predict_item(model, "omar", [cfg()], 1).core_s)
    assert predict_plan(ItemPlan("omar", "table1", needs="the SMAX maps")) is None  # no grid: nothing to say
    blocked = predict_plan(ItemPlan("omar", "table1", needs="the SMAX maps", seeds=[0, 1], configs=[cfg()]))
    # its whole grid, once it can
    assert blocked is not None and blocked.core_s == pytest.approx(whole.core_s)
    # a later item's run with an earlier item's config and seed is copied (reuse_from), another seed is trained
    later = ItemPlan("omar", "figure1", seeds=[1, 2], configs=[cfg()], todo_runs=[(cfg(), 1), (cfg(), 2)])
    first, second = predict_plans([plan, later])
    assert second is not None and second.bases == {**todo.bases, "copied": 1}
    assert second.core_s == pytest.approx(todo.core_s)
    other_paper = predict_plans([plan, ItemPlan("otc", "table1", todo_runs=[(cfg(), 1)])])[1]
    assert other_paper is not None and "copied" not in other_paper.bases


# ---- shared stages (OTC's pi^0 and CVAE) ---------------------------------------------------------------------------
def otc_cfg(method="bcq_otc_de", kind="medium", cvae=200):
    return {
        "dataset": {"env": "mamujoco/hopper-3x1", "kind": kind},
        "learner": "bcq",
        "bcq": {"hidden": [64, 64], "batch_size": 128},
        "method": method,
        "otc": {"distance": "embedding"} if cvae else {"distance": "q"},
        "offline_updates": 1000,
        "cvae_offline_updates": cvae,
        "deployments": 4,
        "tune_updates": 50,
        "eval_episodes": 5,
    }


def test_stage_ids_are_shared_by_a_seeds_variants_only():
    de, dq, plain = otc_cfg(), otc_cfg("bcq_otc_dq", cvae=0), otc_cfg("bcq", cvae=0)
    ids = [stage_ids("otc", c, 0) for c in (de, dq, plain)]
    assert sorted(ids[0]) == ["cvae", "pi0"] and sorted(ids[1]) == sorted(ids[2]) == ["pi0"]
    assert ids[0]["pi0"] == ids[1]["pi0"] == ids[2]["pi0"]  # one pi^0 for the three variants of seed 0
    assert stage_ids("otc", de, 1)["pi0"] != ids[0]["pi0"]  # another seed
    assert stage_ids("otc", otc_cfg(kind="random"), 0)["pi0"] != ids[0]["pi0"]  # other data
    assert stage_ids("omar", cfg(), 0) == {}  # no shared stage
    assert counts(as_trained(de, ["cvae"])) == Counts(200 + 4 * 50, 5 * 5)  # pi^0 from the cache
    assert counts(as_trained(de, [])) == Counts(4 * 50, 5 * 5)
    with pytest.raises(ValueError, match="'critic'.*valid: pi0, cvae"):
        as_trained(de, ["critic"])
    # a record fits on the parts it trained; an older record without the field on its whole config
    assert record_config({"config": de, "extra": {"offline_s": {"pi0": 9.0}}})["cvae_offline_updates"] == 0
    assert record_config({"config": de, "extra": {}}) is de


def test_a_plan_counts_a_shared_stage_once():
    """Table 1's three variants of a seed: only the first to run trains pi^0 (and d_e its CVAE)."""
    model = reference_model()
    configs = [otc_cfg(), otc_cfg("bcq_otc_dq", cvae=0), otc_cfg("bcq", cvae=0)]
    runs = [(c, s) for s in (0, 1) for c in configs]
    [p] = predict_plans([ItemPlan("otc", "table1", seeds=[0, 1], configs=configs, todo_runs=runs)])
    trained = [configs[0], as_trained(configs[1], []), as_trained(configs[2], [])]
    expect = predict_item(model, "otc", trained, seeds=2)
    whole = predict_item(model, "otc", configs, seeds=2)
    assert p is not None and expect.core_s is not None and whole.core_s is not None
    assert p.core_s == pytest.approx(expect.core_s) and p.core_s < whole.core_s


def test_same_size_basis_takes_long_runs_of_the_learner_at_its_sizes_elsewhere():
    hop, walk = otc_cfg("bcq", cvae=0), otc_cfg("bcq", cvae=0)
    walk["dataset"] = {"env": "mamujoco/walker2d-2x3", "kind": "medium"}
    long_runs = [("otc", hop | {"offline_updates": u}, 10.0 + 0.01 * u, 1) for u in (4000, 8000)]
    model = CostModel.fit(long_runs)
    t, basis = model.run_seconds("otc", walk)
    per_update = model.units[cost_key("otc", hop)].per_update
    assert basis == "same size" and t == pytest.approx(per_update * counts(walk).updates)
    wider = walk | {"bcq": {"hidden": [256, 256], "batch_size": 128}}
    assert model.run_seconds("otc", wider)[1] == "scaled"  # another size: scaled, as before
    short = CostModel.fit(
        [("otc", hop | {"offline_updates": 100}, 3.0, 1)]
    )  # its per-update cost holds its set-up
    assert short.run_seconds("otc", walk)[1] == "scaled"


def test_a_variant_without_long_runs_takes_the_long_runs_of_the_method_it_varies():
    """bcq_otc_de_joint with only smoke's runs of its own: priced as bcq_otc_de's long runs at its size
    (``variant_families``: the key's prefixes at '_'), not scaled from its own short runs."""
    from common.running.cost_model import variant_families

    de, joint = otc_cfg(), otc_cfg("bcq_otc_de_joint")
    assert variant_families("otc", joint) == (
        "otc/bcq_otc_de/mamujoco/hopper-3x1",
        "otc/bcq_otc_de",
        "otc/bcq_otc/mamujoco/hopper-3x1",
        "otc/bcq_otc",
        "otc/bcq/mamujoco/hopper-3x1",
        "otc/bcq",
    )
    assert variant_families("omar", cfg()) == ()  # a key without '_' varies nothing
    long_de = [("otc", de | {"offline_updates": u}, 10.0 + 0.01 * u, 1) for u in (4000, 8000)]
    smoke = {"bcq": {"hidden": [16, 16], "batch_size": 32}, "offline_updates": 10, "cvae_offline_updates": 10}
    short_joint = [("otc", joint | smoke, 5.0, 1)]  # smoke's widths: another key
    model = CostModel.fit(long_de + short_joint)
    t, basis = model.run_seconds("otc", joint)
    assert basis == "same size"
    env, c = "otc/mamujoco/hopper-3x1", counts(joint)
    extra = model.per_run.get(env, 0.0) + model.per_episode.get(env, 0.0) * c.episodes  # its env's set-up
    assert t == pytest.approx(model.units[cost_key("otc", de)].per_update * c.updates + extra)
    alone = CostModel.fit(short_joint)  # nothing it varies on record: its own short runs, scaled
    assert alone.run_seconds("otc", joint)[1] == "scaled"


# ---- against measured items ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def measured():
    model, invs = load()
    return model, {inv.name: inv for inv in invs}


@pytest.mark.parametrize(
    "name", ["smoke/omar/table2", "smoke/cast_bcq/table1", "quick/moma_ppo/table3", "quick/otc/figure6"]
)
def test_measured_items_within_30_percent(measured, name):
    """The wall time of a measured invocation that ran one process, and its core time (Σ of its runs' times),
    against the model's predictions for its runs (their configs as recorded)."""
    model, invs = measured
    inv = invs[name]
    assert inv.sequential and len(inv.runs) == inv.planned
    p = predict_invocation(model, inv)
    assert p.core_s is not None and p.wall_s is not None and set(p.bases) == {"fit"}
    assert abs(p.wall_s / inv.wall_s - 1) < 0.30, (name, p.wall_s, inv.wall_s)
    assert abs(p.core_s / inv.run_s - 1) < 0.30, (name, p.core_s, inv.run_s)


def test_error_rows_cover_every_measured_invocation(measured):
    rows = error_rows()
    assert [r[0] for r in rows] == list(measured[1]) and all(len(r) == 9 for r in rows)
    assert not any(math.isnan(float(r[4].split()[0])) for r in rows if r[4] != "—")
    with pytest.raises(ValueError, match="leave_out='some' is not allowed"):
        error_rows(leave_out="some")
