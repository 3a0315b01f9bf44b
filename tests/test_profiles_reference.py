"""The committed full OMAR references keep their meaning: each record's config hash is the hash the code computes now
for its cell at ``--profile full``, its ``profile_settings`` are the full profile's as the code writes them, so the
runner counts every committed run as finished ("done k/m") and reuses it instead of running it again."""

import importlib

import pytest

from common.running.cli import planning
from common.running.profiles import get_profile
from common.running.records import canonical_json, is_claim, load_records
from common.running.roots import REFERENCE_ROOT
from papers.omar import config as C

ITEMS = sorted(p.stem for p in (REFERENCE_ROOT / "full" / "omar").glob("*.jsonl"))


@pytest.fixture(scope="module")
def full():
    return get_profile("full", C.PROFILE_OVERRIDES)


def test_there_are_committed_full_references():
    assert {"table1", "table3", "table5", "figure1"} <= set(ITEMS)


@pytest.mark.parametrize("item", ITEMS)
def test_committed_full_records_match_the_cells_the_code_builds(item, full):
    cells = {c.keys_id(): c for c in importlib.import_module(f"papers.omar.{item}").build_cells(full)}
    runs = [r for r in load_records(REFERENCE_ROOT, "full", "omar", item) if not is_claim(r)]
    assert runs
    for r in runs:
        cell = cells.get(canonical_json(r["keys"]))
        assert cell is not None, f"{r['run_id']}: no cell of the full grid has keys {r['keys']}"
        assert cell.config_hash == r["config_hash"], r["run_id"]
        assert canonical_json(cell.config) == canonical_json(r["config"]), r["run_id"]
        assert r["profile_settings"] == full.to_dict(), r["run_id"]


@pytest.mark.parametrize("item", ["table1", "figure1"])
def test_the_plan_counts_every_committed_run_as_done(item):
    """``--plan``'s "done k/m" on the committed reference: every (cell, seed) with a record is done."""
    runs = {
        (canonical_json(r["keys"]), r["seed"])
        for r in load_records(REFERENCE_ROOT, "full", "omar", item)
        if not is_claim(r)
    }
    with planning() as plans:
        with pytest.raises(SystemExit):
            importlib.import_module(f"papers.omar.{item}").main(
                ["--profile", "full", "--results", str(REFERENCE_ROOT)]
            )
    (plan,) = plans
    assert plan.done == len(runs) == plan.runs
