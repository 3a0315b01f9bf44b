"""papers/otc/pi0_carry.py: a pi^0 exported from one data root (one session) and imported into an empty one (the next)
is the pi^0 the next session's tuning run uses: it trains none of its own, its S(pi^0) is the exported one, and its
record names where pi^0 came from (``extra["pi0_carried"]``); a pi^0 trained here carries no such field."""

from __future__ import annotations

import json

import pytest
import torch

from papers.otc import pi0_carry as P
from papers.otc import table1

ENV, DATASET = "mamujoco/hopper-3x1", "random"


def _run(results, method: str) -> dict:
    argv = ["--profile", "smoke", "--results", str(results), "--env", ENV, "--dataset", DATASET]
    summary = table1.main([*argv, "--method", method, "--seeds", "0", "--no-report"])
    assert len(summary.ran) == 1 and not summary.failed
    lines = (results / "smoke/otc/table1.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("method") == method and r.get("seed") == 0][-1]


def test_a_carried_pi0_is_the_one_the_next_session_tunes(tmp_path, monkeypatch):
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data1"))
    first = _run(tmp_path / "r1", "bcq")
    assert "pi0" in first["extra"]["offline_s"] and "pi0_carried" not in first["extra"]
    committed = tmp_path / "committed"
    [pt] = P.export_pi0(ENV, DATASET, [0], "smoke", root=committed, log=lambda *_: None)
    card = json.loads(pt.with_suffix(".json").read_text())
    assert card["s0"] == first["extra"]["s0"] and card["data_sha256"] == first["extra"]["data_sha256"]

    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data2"))  # the next session: no cache
    with pytest.raises(FileNotFoundError, match="no cached pi\\^0 .* seed 0"):
        P.export_pi0(ENV, DATASET, [0], "smoke", root=tmp_path / "other", log=lambda *_: None)
    logs: list[str] = []
    [entry] = P.import_pi0(ENV, DATASET, "smoke", root=committed, log=logs.append)
    assert "the same data bytes" in logs[0]
    assert torch.load(entry, weights_only=False)["carried"]["cache_key"] == card["cache_key"]
    tuned = _run(tmp_path / "r2", "bcq_otc_dq")
    assert "pi0" not in tuned["extra"]["offline_s"]  # no pi^0 trained: the carried one
    assert tuned["extra"]["s0"] == first["extra"]["s0"]
    assert tuned["extra"]["pi0_carried"]["cache_key"] == card["cache_key"]
    assert tuned["extra"]["pi0_carried"]["cpu"] == card["cpu"]
    P.import_pi0(ENV, DATASET, "smoke", root=committed, log=logs.append)  # again: the entry is kept
    assert "already cached, kept" in logs[-1]

    card["offline_updates"] += 1  # a card for another cell is refused, naming both
    pt.with_suffix(".json").write_text(json.dumps(card))
    entry.unlink()
    with pytest.raises(ValueError, match="updates .* are not the cell's"):
        P.import_pi0(ENV, DATASET, "smoke", root=committed)


def test_bad_input_names_the_allowed_values(capsys):
    with pytest.raises(SystemExit):
        P.main(["import", "--env", "mamujoco/ant-4x2", "--dataset", DATASET])
    assert "mamujoco/hopper-3x1" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no committed pi\\^0"):
        P.import_pi0(ENV, "medium", "smoke", root=P.COMMITTED.parent / "nowhere")
