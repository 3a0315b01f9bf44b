"""OTC Table 1's precondition t1_pi0_reasonable (papers/otc/claims.py) on hand-written records: per complete
(dataset, env, learner) row, the seed-mean D4RL-normalized S(pi^0) against half the learner's published level
(papers/otc/offline_levels.py). Every expected number is written out by hand."""

from common.reporting.claims import UNDECIDED, Evidence
from common.running.profiles import get_profile
from papers.otc import config as C
from papers.otc.claims import CLAIMS, pi0_reasonable
from papers.otc.offline_levels import OFFLINE_LEVELS, offline_level

HC, WALKER, HOPPER = C.MUJOCO_ENVS


def _rec(dataset, env, method, seed, s0, data_mean=None):
    extra = (
        {"normalized_s0": s0}
        if data_mean is None
        else {"normalized_s0": s0, "normalized_data_mean": data_mean}
    )
    return {
        "keys": {"dataset": dataset, "env": env, "method": method},
        "seed": seed,
        "score": 1.0,
        "curve": [{"step": 0, "score": 0.0}, {"step": 1, "score": 1.0}],
        "extra": extra,
    }


def _row(dataset, env, learner, s0_per_seed, methods=None, data_mean=None):
    """Grid cells and records of one Table 1 row: every method of the row, seed i with S(pi^0) s0_per_seed[i]
    (pi^0 is shared by the variants of a seed)."""
    methods = methods or (learner, f"{learner}_otc_de", f"{learner}_otc_dq")
    grid = [{"dataset": dataset, "env": env, "method": m} for m in methods]
    recs = [_rec(dataset, env, m, s, v, data_mean) for m in methods for s, v in enumerate(s0_per_seed)]
    return grid, recs


def _check(*rows, n_seeds=2):
    grid = [k for g, _ in rows for k in g]
    recs = [r for _, rs in rows for r in rs]
    return pi0_reasonable(Evidence(recs, "quick", grid), n_seeds=n_seeds)


def test_published_levels_as_stored():
    assert offline_level("hopper", "medium", "awac") == 57.0
    assert offline_level("walker2d", "medium-replay", "awac") == 27.0
    assert offline_level("halfcheetah", "medium", "bcq") == 40.8
    assert offline_level("hopper", "random", "bcq") is None  # the D4RL paper's table could not be read
    assert offline_level("halfcheetah", "random", "awac") is None  # IQL's table has no random rows
    assert len(OFFLINE_LEVELS) == 3 * 3 * 2
    assert all(v is None or ("Table" in v[1] or "table" in v[1]) for v in OFFLINE_LEVELS.values())


def test_row_above_half_holds():
    # hopper medium awac: (30.0 + 32.0) / 2 = 31.0 >= 57.0 / 2 = 28.5; 31.0 / 57.0 = 54 %
    holds, words = _check(_row("medium", HOPPER, "awac", [30.0, 32.0]))
    assert holds is True
    assert "hopper medium awac: pi^0 31.0 vs published 57.0 (54 %)" in words
    assert "(1 counted, 1 of 1 rows complete)" in words


def test_exactly_half_holds():
    # halfcheetah medium bcq: 20.4 = 40.8 / 2
    holds, words = _check(_row("medium", HC, "bcq", [20.4, 20.4]))
    assert holds is True and "halfcheetah medium bcq: pi^0 20.4 vs published 40.8 (50 %)" in words


def test_row_below_half_fails_and_every_row_is_listed():
    # walker2d medium-replay awac: (12.0 + 13.0) / 2 = 12.5 < 27.0 / 2 = 13.5; 12.5 / 27.0 = 46 %
    holds, words = _check(
        _row("medium-replay", WALKER, "awac", [12.0, 13.0]), _row("medium", HOPPER, "awac", [30.0, 32.0])
    )
    assert holds is False
    assert "walker2d medium-replay awac: pi^0 12.5 vs published 27.0 (46 %)" in words
    assert "hopper medium awac: pi^0 31.0 vs published 57.0 (54 %)" in words
    assert words.index("walker2d medium-replay") < words.index("hopper medium awac")  # Table 1's order
    assert "(2 counted, 2 of 2 rows complete)" in words


def test_missing_row_is_not_checked():
    grid, recs = _row("medium", HOPPER, "awac", [30.0, 32.0])
    recs = [r for r in recs if r["seed"] == 0]  # 1 of 2 seeds
    holds, words = _check((grid, recs))
    assert holds is None and "no (dataset, env, learner) row of the grid has all 2 seeds finished" in words
    # a cell without any record leaves its row incomplete too
    grid, recs = _row("medium", HOPPER, "awac", [30.0, 32.0])
    assert _check((grid, [r for r in recs if r["keys"]["method"] != "awac_otc_dq"]))[0] is None


def test_incomplete_row_beside_a_complete_one_is_not_counted():
    low_grid, low_recs = _row("medium-replay", WALKER, "awac", [1.0, 1.0])
    holds, words = _check(
        (low_grid, [r for r in low_recs if r["seed"] == 1]), _row("medium", HOPPER, "awac", [30.0, 32.0])
    )
    assert holds is True and "(1 counted, 1 of 2 rows complete)" in words
    assert "walker2d" not in words


def test_row_without_published_level_is_listed_and_not_counted():
    # hopper random bcq has no published level; its 1.0 would be far below any level
    holds, words = _check(
        _row("random", HOPPER, "bcq", [1.0, 1.0]), _row("medium", HOPPER, "awac", [30.0, 32.0])
    )
    assert holds is True
    assert "hopper random bcq: no published level (nor the data's mean in its records)" in words
    assert "(1 counted, 2 of 2 rows complete)" in words
    # only rows without a level: checked, and undecided
    holds, words = _check(_row("random", HOPPER, "bcq", [1.0, 1.0]))
    assert holds is UNDECIDED and "(0 counted, 1 of 1 rows complete)" in words


def test_baseline_only_row_counts():
    # the quick grid's (random, halfcheetah, awac) row holds the baseline cell alone: complete with its 2 seeds
    holds, words = _check(_row("random", HC, "awac", [2.0, 3.0], methods=("awac",)))
    assert holds is UNDECIDED and "halfcheetah random awac: no published level (nor the data's mean" in words


def test_claim_is_first_of_table1_and_reads_the_profile_seeds():
    table1 = [c for c in CLAIMS if c.item == "table1"]
    assert table1[0].id == "t1_pi0_reasonable" and table1[0].check is pi0_reasonable
    assert "ours" in table1[0].text and "half" in table1[0].text
    n = get_profile("quick", C.PROFILE_OVERRIDES).n_seeds
    grid, recs = _row("medium", HOPPER, "awac", [30.0] * n)
    holds, words = table1[0].check(Evidence(recs, "quick", grid))
    assert holds is True and "hopper medium awac: pi^0 30.0 vs published 57.0 (53 %)" in words
    grid, recs = _row("medium", HOPPER, "awac", [30.0] * (n - 1))
    assert table1[0].check(Evidence(recs, "quick", grid))[0] is None


def test_data_mean_is_the_yardstick_where_no_level_is_published():
    # halfcheetah medium-replay bcq has no published level; the data's mean 23.3: (2.2 + 2.3) / 2 = 2.25 < 11.65
    holds, words = _check(_row("medium-replay", HC, "bcq", [2.2, 2.3], data_mean=23.3))
    assert (
        holds is False and "halfcheetah medium-replay bcq: pi^0 2.2 vs the data's mean 23.3 (10 %)" in words
    )
    assert "(1 counted, 1 of 1 rows complete)" in words
    # hopper medium-replay bcq: (17.5 + 26.7) / 2 = 22.1 >= 15.4 / 2 = 7.7; 22.1 / 15.4 = 144 %
    holds, words = _check(_row("medium-replay", HOPPER, "bcq", [17.5, 26.7], data_mean=15.4))
    assert holds is True and "hopper medium-replay bcq: pi^0 22.1 vs the data's mean 15.4 (144 %)" in words
    # a published level wins over the data's mean: hopper medium awac 31.0 vs 57.0 (not vs 5.0)
    holds, words = _check(_row("medium", HOPPER, "awac", [30.0, 32.0], data_mean=5.0))
    assert holds is True and "hopper medium awac: pi^0 31.0 vs published 57.0 (54 %)" in words


def test_rows_on_different_data_have_no_yardstick():
    grid, recs = _row("medium-replay", HC, "bcq", [2.2, 2.3], data_mean=23.3)
    recs[0]["extra"]["normalized_data_mean"] = 30.0  # one record on other data
    holds, words = _check((grid, recs))
    assert holds is UNDECIDED and "no published level (records on different data)" in words


def test_backfill_fills_only_records_on_the_same_data(tmp_path, monkeypatch):
    """scripts/otc_data_mean.py: the field from the dataset the record names, only where the sha256 agrees."""
    import importlib.util
    import json
    import types

    spec = importlib.util.spec_from_file_location("otc_data_mean", "scripts/otc_data_mean.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    card = {"sha256": "aaa", "returns": {"mean": 550.0}, "ref_scores": {"random": -100.0, "expert": 1200.0}}
    monkeypatch.setattr(mod, "load_dataset", lambda spec: types.SimpleNamespace(card=card))
    cfg = {"dataset": {"env": "mamujoco/hopper-3x1", "kind": "medium-replay"}}
    recs = [
        {"run_id": "a", "config": cfg, "extra": {"normalized_s0": 1.0, "data_sha256": "aaa"}},
        {"run_id": "b", "config": cfg, "extra": {"normalized_s0": 1.0, "data_sha256": "bbb"}},  # other data
        {"run_id": "c", "keys": {"claim": "x"}},  # a verdict line: untouched
    ]
    path = tmp_path / "table1.jsonl"
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs))
    before = path.read_text().splitlines()
    assert mod.fill(path, dry_run=True) == (1, 1) and path.read_text().splitlines() == before
    assert mod.fill(path, dry_run=False) == (1, 1)
    after = path.read_text().splitlines()
    assert json.loads(after[0])["extra"]["normalized_data_mean"] == 50.0  # 100 (550 + 100) / 1300
    assert after[1:] == before[1:]
    assert mod.fill(path, dry_run=False) == (0, 1)  # idempotent
