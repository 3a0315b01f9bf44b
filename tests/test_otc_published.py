"""papers/otc/published.py: the paper's Table 1 and Table 2 as data, complete and as printed, and its table
claims recomputed from those numbers (which hold, and which the paper's own table contradicts)."""

import pytest

import envs
from common.datasets.card import KINDS as DATASET_KINDS
from common.reporting.claims import Claim
from common.reporting.published import Entry, Figure, Table, check_paper, load_published
from papers.otc import claims as K
from papers.otc import published as P

HC, WALK, HOP = "mamujoco/halfcheetah-2x3", "mamujoco/walker2d-2x3", "mamujoco/hopper-3x1"
LEARNERS_T1 = ("bcq", "awac")

# every claim id of the paper's items, per item (in file order)
CLAIM_IDS = {
    "table1": [
        "t1_pi0_reasonable",
        "t1_otc_beats_uniform",
        "t1_otc_substantially_better",
        "t1_dq_not_commonly_better",
        "t1_otc_improves_offline",
        "t1_awac_fails_hc_random",
    ],
    "table2": ["t2_overhead_below_25pct", "t2_dq_not_slower"],
    "figure3": ["f3_otc_above_bcq"],
    "figure4": [
        "f4_adaptive_beats_fixed",
        "f4_alpha_grows_replay",
        "f4_alpha_stable_replay",
        "f4_alpha_differs_random",
    ],
    "figure5": [
        "f5_otc_best",
        "f5_br_uniform_susceptible",
        "f5_online_only_insufficient",
        "f5_online_only_overfits",
    ],
    "figure6": ["f6ab_otc_beats_bremen", "f6c_offline_bcq_fails", "f6c_otc_beats_bcq", "f6d_otc_beats_cql"],
    "figure7": ["f7_scales_with_agents"],
    "figure8": ["f8_alpha_sensitive", "f8_adaptive_best", "f8_alpha_interior", "f8_otc_best_sampling"],
}


def _t1() -> dict[tuple[str, str, str], tuple[float, float]]:
    """(dataset, env, method) -> published Table 1 (mean, std) improvement (%)."""
    return {
        (e.keys["dataset"], e.keys["env"], e.keys["method"]): (e.mean, e.std)
        for e in P.PUBLISHED
        if e.item == "table1"
    }


def _t2() -> dict[tuple[str, str], float]:
    """(method, quantity) -> published (or derived) Table 2 value."""
    return {(e.keys["method"], e.keys["quantity"]): e.mean for e in P.PUBLISHED if e.item == "table2"}


def _comparisons():
    """(dataset, env, learner, otc method) for every published OTC cell whose uniform cell is published."""
    t1 = _t1()
    return [
        (d, env, lr, f"{lr}_{dist}")
        for d in P.DATASETS
        for env in P.MUJOCO_ENVS
        for lr in LEARNERS_T1
        for dist in P.DISTANCES
        if (d, env, lr) in t1 and (d, env, f"{lr}_{dist}") in t1
    ]


def _rows():
    """(dataset, env, learner) rows with both OTC cells published."""
    t1 = _t1()
    return [
        (d, env, lr)
        for d in P.DATASETS
        for env in P.MUJOCO_ENVS
        for lr in LEARNERS_T1
        if all((d, env, f"{lr}_{dist}") in t1 for dist in P.DISTANCES)
    ]


def test_the_paper_is_valid_and_loads_without_error():
    check_paper(P.ITEMS, P.PUBLISHED, K.CLAIMS, P.NOTES)
    ns = load_published("otc")
    assert ns.error is None and ns.found and ns.PAPER == "otc"
    assert len(ns.PUBLISHED) == 56 and len(ns.CLAIMS) == 26 and set(ns.ITEMS) == set(CLAIM_IDS)
    assert set(ns.NOTES) == set(ns.ITEMS)  # every item says what our copy lacks
    assert all(isinstance(e, Entry) for e in P.PUBLISHED) and all(isinstance(c, Claim) for c in K.CLAIMS)
    assert not hasattr(P, "CLAIMS")  # the claims live beside their rules


def test_items_read_the_numbers_as_the_paper_prints_them():
    t1, t2 = P.ITEMS["table1"], P.ITEMS["table2"]
    assert isinstance(t1, Table) and (
        t1.rows,
        t1.cols,
        t1.metric,
        t1.scale,
        t1.spread,
        t1.seeds,
        t1.precision,
    ) == (("dataset", "env"), "method", "score", "raw", "std", 5, 1)
    assert t1.factor == 1.0  # records hold the improvement already in percent
    assert isinstance(t2, Table) and (t2.rows, t2.cols, t2.metric, t2.scale, t2.spread) == (
        ("method",),
        "quantity",
        "score",
        "raw",
        "none",
    )
    figs = {k: v for k, v in P.ITEMS.items() if k.startswith("figure")}
    assert sorted(figs) == [f"figure{i}" for i in range(3, 9)]
    assert all(isinstance(f, Figure) and f.metric == "score" for f in figs.values())


def test_table1_has_every_printed_cell_once_and_no_dash_cell():
    t1 = _t1()
    entries = [e for e in P.PUBLISHED if e.item == "table1"]
    assert len(entries) == len(t1) == 51
    assert all(e.spread == "std" and e.std >= 0 for e in entries)
    every = {(d, env, m) for d in P.DATASETS for env in P.MUJOCO_ENVS for m in P.TABLE1_METHODS}
    dashes = {(c["dataset"], c["env"], c["method"]) for c in P.MISSING_CELLS}
    assert dashes == {("random", HC, "awac_otc_de"), ("random", HC, "awac_otc_dq"), ("random", HC, "awac")}
    assert set(t1) == every - dashes
    assert "–" in " ".join(P.NOTES["table1"]) and "AWAC does not work on halfcheetah-random" in " ".join(
        P.NOTES["table1"]
    )


def test_table2_has_the_printed_ms_and_the_derived_ratios():
    t2 = _t2()
    assert t2 == {
        ("bcq_otc_de", "ms_per_update"): 14.2,
        ("bcq_otc_dq", "ms_per_update"): 13.8,
        ("bcq", "ms_per_update"): 11.6,
        ("bcq_otc_de", "ratio_to_bcq"): 1.224,
        ("bcq_otc_dq", "ratio_to_bcq"): 1.19,
    }
    for m in ("bcq_otc_de", "bcq_otc_dq"):
        assert t2[m, "ratio_to_bcq"] == round(t2[m, "ms_per_update"] / t2["bcq", "ms_per_update"], 3)
    entries = [e for e in P.PUBLISHED if e.item == "table2"]
    assert all(e.spread == "none" for e in entries)
    assert all(
        "derived, not printed" in (e.note or "") for e in entries if e.keys["quantity"] == "ratio_to_bcq"
    )
    assert all(e.note is None for e in entries if e.keys["quantity"] == "ms_per_update")


@pytest.mark.parametrize(
    "keys, mean, std",
    [
        (("random", HC, "bcq_otc_de"), 25.7, 1.2),
        (("random", HC, "bcq"), 9.0, 2.4),
        (("random", WALK, "awac_otc_de"), 102.4, 83.0),
        (("random", WALK, "awac_otc_dq"), -14.8, 6.7),
        (("random", HOP, "awac"), -33.0, 15.8),
        (("random", HOP, "bcq"), 1.2, 12.8),
        (("medium-replay", HC, "awac"), 0.6, 7.3),
        (("medium-replay", WALK, "bcq_otc_dq"), 47.2, 14.6),
        (("medium-replay", WALK, "awac_otc_de"), -8.0, 15.1),
        (("medium-replay", HOP, "awac_otc_de"), 203.0, 13.5),
        (("medium-replay", HOP, "bcq_otc_dq"), 49.2, 52.1),
        (("medium", HC, "bcq_otc_dq"), 15.0, 1.1),
        (("medium", WALK, "bcq"), -13.9, 4.4),
        (("medium", WALK, "awac"), -7.2, 59.0),
        (("medium", HOP, "bcq_otc_de"), 2.6, 3.8),
        (("medium", HOP, "awac_otc_dq"), 81.3, 62.6),
    ],
)
def test_table1_spot_values(keys, mean, std):
    assert _t1()[keys] == (mean, std)


def test_keys_use_only_the_allowed_values():
    names = set(envs.names())
    assert set(P.MUJOCO_ENVS) <= names and set(P.DATASETS) <= set(DATASET_KINDS)
    assert {"otc/navigation", "otc/predator_prey", "games/nonstationary_nav"} <= names
    for e in P.PUBLISHED:
        if e.item == "table1":
            assert set(e.keys) == {"dataset", "env", "method"}
            assert e.keys["dataset"] in P.DATASETS and e.keys["env"] in P.MUJOCO_ENVS
            assert e.keys["method"] in P.TABLE1_METHODS
        else:
            assert set(e.keys) == {"method", "quantity"}
            assert e.keys["method"] in P.TABLE2_METHODS and e.keys["quantity"] in P.QUANTITIES
    # methods are <learner> (uniform) or <learner>_<sampler>
    samplers = {
        "otc_de",
        "otc_dq",
        "br",
        "online",
        *(f"otc_dq_fixed{a}" for a in P.FIG8_FIXED_ALPHAS),
        "otc_de_fixed1.0",
    }
    methods = {
        *P.TABLE1_METHODS,
        *P.TABLE2_METHODS,
        *P.FIG4_METHODS,
        *P.FIG5_METHODS,
        *P.FIG8_METHODS,
        *(m for p in P.FIG6_PANELS.values() for m in p[2:]),
    }
    for m in methods:
        learner, _, sampler = m.partition("_")
        assert learner in P.LEARNERS and (sampler == "" or sampler in samplers), m
    for env, dataset, *_ in P.FIG6_PANELS.values():
        assert dataset in DATASET_KINDS and (env in names or env == "smax/5m_vs_6m")
    assert all(
        c in {(e, d) for e in P.MUJOCO_ENVS for d in P.DATASETS} for c in (*P.FIG4_CELLS, *P.FIG5_CELLS)
    )


def test_every_claim_of_the_paper_is_listed_once_on_its_item(claim_listing):
    assert claim_listing(K.CLAIMS) == CLAIM_IDS
    for c in K.CLAIMS:
        assert "Check" in c.text and "'" in c.text, c.id  # the paper's words, quoted, and the rule


# ----------------------------------------------------------------------------------------------
# the table claims recomputed from the published numbers (each rule as its claim text states it)
# ----------------------------------------------------------------------------------------------
def _otc_beats_uniform() -> bool:
    t1 = _t1()
    return all(t1[d, env, m][0] > t1[d, env, lr][0] for d, env, lr, m in _comparisons())


def _otc_substantially_better() -> bool:
    t1 = _t1()
    big = [
        (d, env, m)
        for d, env, lr, m in _comparisons()
        if t1[d, env, m][0] - t1[d, env, lr][0] > max(t1[d, env, m][1], t1[d, env, lr][1])
    ]
    return len(big) > len(_comparisons()) / 2


def _dq_not_commonly_better() -> bool:
    t1 = _t1()
    dq_wins = [
        r for r in _rows() if t1[r[0], r[1], f"{r[2]}_otc_dq"][0] > t1[r[0], r[1], f"{r[2]}_otc_de"][0]
    ]
    return len(dq_wins) <= len(_rows()) / 2


def _otc_improves_offline() -> bool:
    t1 = _t1()
    return all(v[0] > 0 for (_, _, m), v in t1.items() if "_otc_" in m)


def _overhead_below_25pct() -> bool:
    t2 = _t2()
    return all(t2[m, "ratio_to_bcq"] < 1.25 for m in ("bcq_otc_de", "bcq_otc_dq"))


def _dq_not_slower() -> bool:
    t2 = _t2()
    return t2["bcq_otc_dq", "ms_per_update"] <= t2["bcq_otc_de", "ms_per_update"]


def _f3_otc_above_bcq() -> bool:  # Table 1's BCQ columns are Figure 3's final values
    t1 = _t1()
    return all(
        t1[d, env, m][0] > t1[d, env, "bcq"][0]
        for d in P.DATASETS
        for env in P.MUJOCO_ENVS
        for m in ("bcq_otc_de", "bcq_otc_dq")
    )


def _f5_otc_above_uniform() -> bool:  # the part of f5_otc_best / f5_br_uniform_susceptible Table 1 covers
    t1 = _t1()
    return all(t1[d, env, "bcq_otc_de"][0] > t1[d, env, "bcq"][0] for env, d in P.FIG5_CELLS)


# claims the published numbers decide -> their rule (the figure ones: the part Table 1 covers)
TABLE_RULES = {
    "t1_otc_beats_uniform": _otc_beats_uniform,
    "t1_otc_substantially_better": _otc_substantially_better,
    "t1_dq_not_commonly_better": _dq_not_commonly_better,
    "t1_otc_improves_offline": _otc_improves_offline,
    "t2_overhead_below_25pct": _overhead_below_25pct,
    "t2_dq_not_slower": _dq_not_slower,
    "f3_otc_above_bcq": _f3_otc_above_bcq,
    "f5_otc_best": _f5_otc_above_uniform,
    "f5_br_uniform_susceptible": _f5_otc_above_uniform,
}


def test_expected_not_to_hold_is_exactly_what_the_published_numbers_give():
    assert set(TABLE_RULES) <= {c.id for c in K.CLAIMS}
    failing = {cid for cid, rule in TABLE_RULES.items() if not rule()}
    assert failing == set(K.EXPECTED_NOT_TO_HOLD) == {"t1_otc_improves_offline"}
    ids = {c.id: c for c in K.CLAIMS}
    for cid in K.EXPECTED_NOT_TO_HOLD:
        assert "EXPECTED NOT TO HOLD" in ids[cid].text
    assert not [
        c.id for c in K.CLAIMS if c.id not in K.EXPECTED_NOT_TO_HOLD and "EXPECTED NOT TO HOLD" in c.text
    ]


def test_t1_otc_beats_uniform_in_34_of_34_and_substantially_in_24():
    t1 = _t1()
    comps = _comparisons()
    assert len(comps) == 34
    assert sum(t1[d, env, m][0] > t1[d, env, lr][0] for d, env, lr, m in comps) == 34
    big = [
        c
        for c in comps
        if t1[c[0], c[1], c[3]][0] - t1[c[0], c[1], c[2]][0]
        > max(t1[c[0], c[1], c[3]][1], t1[c[0], c[1], c[2]][1])
    ]
    assert len(big) == 24
    # the smallest margins: 2.7 on medium halfcheetah (d_e+BCQ 14.8 vs 12.1, d_q+AWAC 28.7 vs 26.0)
    margins = {c: t1[c[0], c[1], c[3]][0] - t1[c[0], c[1], c[2]][0] for c in comps}
    assert min(margins.values()) == pytest.approx(2.7)
    assert margins["medium", HC, "bcq", "bcq_otc_de"] == pytest.approx(2.7)
    assert margins["random", WALK, "awac", "awac_otc_dq"] == pytest.approx(4.7)


def test_t1_dq_beats_de_in_7_of_17_rows():
    t1 = _t1()
    rows = _rows()
    assert len(rows) == 17
    dq_wins = {r for r in rows if t1[r[0], r[1], f"{r[2]}_otc_dq"][0] > t1[r[0], r[1], f"{r[2]}_otc_de"][0]}
    assert dq_wins == {
        ("medium-replay", WALK, "bcq"),
        ("medium-replay", HOP, "bcq"),
        ("medium", HC, "bcq"),
        ("medium", HOP, "bcq"),
        ("medium-replay", HC, "awac"),
        ("medium-replay", WALK, "awac"),
        ("medium", WALK, "awac"),
    }
    assert sum(r[2] == "bcq" for r in dq_wins) == 4 and sum(r[2] == "awac" for r in dq_wins) == 3


def test_t1_otc_below_offline_in_exactly_two_cells():
    t1 = _t1()
    negative = {k for k, v in t1.items() if "_otc_" in k[2] and v[0] <= 0}
    assert negative == {("random", WALK, "awac_otc_dq"), ("medium-replay", WALK, "awac_otc_de")}
    assert sum("_otc_" in k[2] for k in t1) == 34


def test_t2_overhead_is_22_and_19_percent():
    _t2()
    assert 14.2 / 11.6 - 1 == pytest.approx(0.2241, abs=1e-4) and 13.8 / 11.6 - 1 == pytest.approx(
        0.1897, abs=1e-4
    )
    assert _overhead_below_25pct() and _dq_not_slower()


def test_figure4_adaptive_runs_are_table1_cells():
    t1 = _t1()
    assert [t1[d, env, "bcq_otc_de"][0] for env, d in P.FIG4_CELLS] == [25.7, 13.0]
