"""papers/cast_bcq/published.py: the paper's Table 1 and Table 2 as data, complete and as printed, and its
table claims recomputed from those numbers (which hold, and which the paper's own tables contradict)."""

import pytest

from common.reporting.claims import Claim
from common.reporting.published import Entry, Figure, Table, check_paper, load_published
from papers.cast_bcq import claims as K
from papers.cast_bcq import published as P

HC, HOP, WALK = "mamujoco/halfcheetah-2x3", "mamujoco/hopper-3x1", "mamujoco/walker2d-2x3"
BASELINES_T2 = ("bcq", "i_bcq", "mabcq", "icq_ma")
BASELINES_T1 = ("i_bcq", "mabcq", "icq_ma")

# every claim id of the paper's items, per item
CLAIM_IDS = {
    "figure1": ["f1_ibcq_fails", "f1_iicq_fails", "f1_cast_reaches_goal"],
    "figure4": ["f4_ours_best_all", "f4_icqma_poor", "f4_mabcq_poor_walker_hopper"],
    "table2": [
        "t2_ours_best_uncoordinated",
        "t2_ours_beats_central_bcq_uncoordinated",
        "t2_ours_best_decentralized_d4rl",
        "t2_split_easier",
    ],
    "figure6": ["f6_wo_csaa_worse", "f6_wo_st_close", "f6_wo_cd_drops"],
    "table1": ["t1_ours_best_most_maps", "t1_ibcq_mabcq_low"],
    "figure5": ["f5_ours_best", "f5_ibcq_fails", "f5_mabcq_poor", "f5_icqma_and_ours_satisfactory"],
}


def _t2() -> dict[tuple[str, str, str], float]:
    """(env, dataset, method) -> published Table 2 score."""
    return {
        (e.keys["env"], e.keys["dataset"], e.keys["method"]): e.mean
        for e in P.PUBLISHED
        if e.item == "table2"
    }


def _t1() -> dict[tuple[str, str], float]:
    """(map, method) -> published Table 1 win rate (%)."""
    return {(e.keys["env"], e.keys["method"]): e.mean for e in P.PUBLISHED if e.item == "table1"}


def test_the_paper_is_valid_and_loads_without_error():
    check_paper(P.ITEMS, P.PUBLISHED, K.CLAIMS, P.NOTES)
    ns = load_published("cast_bcq")
    assert ns.error is None and ns.found
    assert len(ns.PUBLISHED) == 61 and len(ns.CLAIMS) == 19 and set(ns.ITEMS) == set(CLAIM_IDS)
    assert all(isinstance(e, Entry) and e.spread == "none" for e in P.PUBLISHED)
    assert all(isinstance(c, Claim) for c in K.CLAIMS) and not hasattr(P, "CLAIMS")


def test_items_read_the_numbers_as_the_paper_prints_them():
    t1, t2 = P.ITEMS["table1"], P.ITEMS["table2"]
    assert isinstance(t2, Table) and (t2.rows, t2.cols, t2.metric, t2.scale, t2.spread) == (
        ("env", "dataset"),
        "method",
        "score",
        "raw",
        "none",
    )
    assert isinstance(t1, Table) and (t1.rows, t1.cols, t1.metric, t1.scale, t1.spread) == (
        ("env",),
        "method",
        "score",
        "percent",
        "none",
    )
    assert t1.factor == 100.0  # our records hold win rates as fractions
    figs = {k: v for k, v in P.ITEMS.items() if k.startswith("figure")}
    assert all(isinstance(f, Figure) and f.metric == "score" for f in figs.values())
    assert figs["figure5"].scale == "percent" and figs["figure4"].seeds == figs["figure5"].seeds == 3


def test_table2_has_every_cell_once():
    t2 = _t2()
    assert len([e for e in P.PUBLISHED if e.item == "table2"]) == len(t2) == 45
    assert set(t2) == {
        (e, d, m)
        for e in (HC, HOP, WALK)
        for d in ("mixed", "medium", "expert")
        for m in (*BASELINES_T2, "cast_bcq")
    }


def test_table1_has_every_cell_once_and_no_central_bcq():
    t1 = _t1()
    assert len([e for e in P.PUBLISHED if e.item == "table1"]) == len(t1) == 16
    assert set(t1) == {
        (m, k)
        for m in ("smax/3s_vs_3z", "smax/MMM", "smax/2s3z", "smax/10m_vs_11m")
        for k in (*BASELINES_T1, "cast_bcq")
    }


@pytest.mark.parametrize(
    "keys, value",
    [
        ((HOP, "mixed", "cast_bcq"), 3077.9),
        ((HC, "expert", "bcq"), 10848.9),
        ((HC, "medium", "mabcq"), 4341.0),
        ((WALK, "medium", "bcq"), 1148.5),
        ((WALK, "expert", "icq_ma"), 910.8),
        ((HOP, "expert", "cast_bcq"), 2428.4),
        ((WALK, "mixed", "i_bcq"), 245.6),
    ],
)
def test_table2_spot_values(keys, value):
    assert _t2()[keys] == value


@pytest.mark.parametrize(
    "keys, value",
    [
        (("smax/MMM", "cast_bcq"), 93),
        (("smax/3s_vs_3z", "i_bcq"), 58),
        (("smax/3s_vs_3z", "icq_ma"), 83),
        (("smax/10m_vs_11m", "icq_ma"), 21),
        (("smax/2s3z", "mabcq"), 1),
    ],
)
def test_table1_spot_values(keys, value):
    assert _t1()[keys] == value


def test_every_claim_of_the_paper_is_listed_once_on_its_item(claim_listing):
    assert claim_listing(K.CLAIMS) == CLAIM_IDS
    for c in K.CLAIMS:
        assert "Check" in c.text, c.id  # the rule a checker applies


def test_the_contradicted_claims_are_marked():
    assert set(K.EXPECTED_NOT_TO_HOLD) == {"t2_ours_best_decentralized_d4rl", "f5_ours_best", "f5_ibcq_fails"}
    ids = {c.id: c for c in K.CLAIMS}
    for cid in K.EXPECTED_NOT_TO_HOLD:
        assert "EXPECTED NOT TO HOLD" in ids[cid].text
    others = [c.id for c in K.CLAIMS if c.id not in K.EXPECTED_NOT_TO_HOLD]
    assert not [cid for cid in others if "EXPECTED NOT TO HOLD" in ids[cid].text]
    notes = " ".join(P.NOTES["table1"] + P.NOTES["table2"])
    assert "3d vs 3z" in notes and "bold" in notes and "2870.0" in notes and "58%" in notes


# ----------------------------------------------------------------------------------------------
# the table claims recomputed from the published numbers (each rule as its claim text states it)
# ----------------------------------------------------------------------------------------------
def test_t2_ours_best_uncoordinated_holds_on_every_mixed_row():
    t2 = _t2()
    for env in (HC, HOP, WALK):
        assert all(t2[env, "mixed", "cast_bcq"] > t2[env, "mixed", m] for m in BASELINES_T2), env
        # t2_ours_beats_central_bcq_uncoordinated
        assert t2[env, "mixed", "cast_bcq"] > t2[env, "mixed", "bcq"]


def test_t2_ours_best_decentralized_d4rl_fails_only_on_hopper_expert():
    t2 = _t2()
    failing = [
        (env, d)
        for env in (HC, HOP, WALK)
        for d in ("medium", "expert")
        if not all(t2[env, d, "cast_bcq"] > t2[env, d, m] for m in ("i_bcq", "icq_ma"))
    ]
    assert failing == [(HOP, "expert")]
    assert t2[HOP, "expert", "icq_ma"] == 2870.0 > t2[HOP, "expert", "cast_bcq"] == 2428.4
    # among all five methods, Ours is only 4th there
    row = sorted((t2[HOP, "expert", m] for m in P.MUJOCO_METHODS), reverse=True)
    assert row.index(t2[HOP, "expert", "cast_bcq"]) == 3


def test_t2_split_easier_holds_in_10_of_15_pairs():
    t2 = _t2()
    easier = {
        (m, env)
        for m in P.MUJOCO_METHODS
        for env in (HC, HOP, WALK)
        if t2[env, "medium", m] >= t2[env, "mixed", m]
    }
    assert len(easier) == 10
    assert {(m, env) for m in P.MUJOCO_METHODS for env in (HC, HOP, WALK)} - easier == {
        ("mabcq", HOP),
        ("cast_bcq", HOP),
        ("mabcq", WALK),
        ("icq_ma", WALK),
        ("cast_bcq", WALK),
    }


def test_f4_ratio_claims_hold_on_the_mixed_rows():
    t2 = _t2()
    assert all(t2[env, "mixed", "icq_ma"] <= 2 / 3 * t2[env, "mixed", "cast_bcq"] for env in (HC, HOP, WALK))
    assert all(t2[env, "mixed", "mabcq"] <= 2 / 3 * t2[env, "mixed", "cast_bcq"] for env in (HOP, WALK))
    # why the claim names Walker and Hopper
    assert t2[HC, "mixed", "mabcq"] > 2 / 3 * t2[HC, "mixed", "cast_bcq"]


def test_t1_cast_bcq_best_on_3_of_4_maps():
    t1 = _t1()
    best = [mp for mp in P.SMAX_MAPS if all(t1[mp, "cast_bcq"] > t1[mp, m] for m in BASELINES_T1)]
    assert best == ["smax/MMM", "smax/2s3z", "smax/10m_vs_11m"]
    # t1_ours_best_most_maps' margin
    assert t1["smax/3s_vs_3z", "cast_bcq"] >= t1["smax/3s_vs_3z", "icq_ma"] - 2


def test_table1_claims_on_the_published_numbers():
    t1 = _t1()
    maps = P.SMAX_MAPS
    # t1_ibcq_mabcq_low holds on MMM, 2s3z, 10m_vs_11m
    assert all(
        max(t1[mp, "i_bcq"], t1[mp, "mabcq"]) <= 0.5 * min(t1[mp, "icq_ma"], t1[mp, "cast_bcq"])
        for mp in maps[1:]
    )
    # f5_ours_best and f5_ibcq_fails fail exactly on 3s_vs_3z
    assert [mp for mp in maps if not all(t1[mp, "cast_bcq"] >= t1[mp, m] for m in BASELINES_T1)] == [
        "smax/3s_vs_3z"
    ]
    assert [mp for mp in maps if t1[mp, "i_bcq"] > 10] == ["smax/3s_vs_3z"]
    # f5_mabcq_poor and f5_icqma_and_ours_satisfactory hold
    assert all(t1[mp, "mabcq"] <= 10 for mp in maps)
    assert all(
        t1[mp, m] >= 20 and t1[mp, m] >= max(t1[mp, "i_bcq"], t1[mp, "mabcq"]) + 10
        for mp in maps
        for m in ("icq_ma", "cast_bcq")
    )
