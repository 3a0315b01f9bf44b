"""The SMAX datasets' page names the data the committed records trained on: its rows (smax_cards.json) keep the
datasets another machine built and replace those this machine holds (common/datasets/smax_report.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.datasets.smax_report import ROWS_NAME, card_row, merged_rows, read_rows, report_text, write_page
from common.running.roots import REFERENCE_ROOT


def _card(sha: str, size: int = 100, created: str | None = "2026-11-29T03:27:25+00:00") -> dict:
    src = {"level": 0.5, "iteration": 7, "sampled_win_rate": 0.5, "data_win_rate": 0.4, "final_win_rate": 0.9}
    return {
        "n_episodes": 10,
        "size": size,
        "smax": {"win_rate": 0.4},
        "returns": {"mean": 1.0, "std": 0.5, "min": 0.0, "max": 2.0, "quantiles": {}},
        "behavior": {"env_steps": 1234, "sources": [src]},
        "sha256": sha,
        "created": created,
    }


def test_cache_cards_replace_their_rows_and_the_others_are_kept(tmp_path: Path) -> None:
    old = {
        "2s3z/mixed": card_row("2s3z", "mixed", _card("a" * 64)),
        "5m_vs_6m/medium": card_row("5m_vs_6m", "medium", _card("b" * 64)),
    }
    rows = merged_rows(old, {("2s3z", "mixed"): _card("c" * 64, size=222)})
    assert rows["2s3z/mixed"]["sha256"] == "c" * 64 and rows["2s3z/mixed"]["size"] == 222
    assert rows["5m_vs_6m/medium"] == old["5m_vs_6m/medium"]
    page = tmp_path / "quick" / "datasets" / "smax.md"
    write_page(page, "quick", rows)
    assert read_rows(page.with_name(ROWS_NAME)) == rows
    text = page.read_text(encoding="utf-8")
    assert "`cccccccccccc`" in text and "`bbbbbbbbbbbb`" in text and "`aaaaaaaaaaaa`" not in text
    assert "| 222 |" in text


def test_a_row_without_a_creation_time_and_with_a_note_says_so() -> None:
    row = {**card_row("2s3z", "mixed", _card("d" * 64, created=None)), "note": "migrated by hand"}
    text = report_text("quick", {"2s3z/mixed": row})
    assert "not recorded (1) |" in text and "1. 2s3z / mixed: migrated by hand" in text


def test_a_malformed_row_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / ROWS_NAME
    path.write_text(json.dumps({"2s3z/mixed": {"map": "2s3z", "kind": "mixed"}}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"row '2s3z/mixed' lacks \['n_episodes'"):
        read_rows(path)
    path.write_text(json.dumps({"2s3z/medium": card_row("2s3z", "mixed", _card("e" * 64))}), encoding="utf-8")
    with pytest.raises(ValueError, match="describes 2s3z/mixed"):
        read_rows(path)


def test_committed_page_is_its_rows() -> None:
    page = REFERENCE_ROOT / "quick" / "datasets" / "smax.md"
    rows = read_rows(page.with_name(ROWS_NAME))
    assert rows, "results/quick/datasets/smax_cards.json is missing or empty"
    assert page.read_text(encoding="utf-8") == report_text("quick", rows), (
        "regenerate with: python -m common.datasets.smax --report --profile quick --reference"
    )


def test_every_committed_quick_smax_record_names_a_row_of_the_page() -> None:
    rows = read_rows(REFERENCE_ROOT / "quick" / "datasets" / ROWS_NAME)
    checked, wrong = 0, []
    for path in sorted(REFERENCE_ROOT.glob("*/*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            ds = (rec.get("config") or {}).get("dataset") or {}
            sha = (rec.get("extra") or {}).get("data_sha256")
            if not str(ds.get("env", "")).startswith("smax/") or ds.get("data_profile") != "quick" or not sha:
                continue
            checked += 1
            row = rows.get(f"{ds['map']}/{ds['kind']}")
            if row is None or row["sha256"] != sha:
                wrong.append(
                    f"{path.name} {rec['run_id']}: data {sha[:12]}, page {row and row['sha256'][:12]}"
                )
    assert checked >= 30, f"only {checked} quick SMAX records found: the check would be vacuous"
    assert not wrong, "records trained on data the page does not describe:\n" + "\n".join(wrong[:10])
