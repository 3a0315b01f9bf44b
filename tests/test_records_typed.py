"""Typed records (common.running.record) and the item store (common.running.store): every committed line reads and
writes back byte for byte, verdicts are written as they always were, and the store reads a file once while it is
unchanged and again once it changes."""

import dataclasses
import json
import os
import warnings

import pytest

from common.running.record import FIELDS, Record, RecordError, Verdict, is_claim
from common.running.records import (
    RecordWarning,
    append_record,
    config_hash,
    load_records,
    records_path,
    replace_record,
    write_claim,
)
from common.running.roots import REFERENCE_ROOT
from common.running.store import Runs, item_file, item_runs, read_item_file


def _run(keys, seed, score, finished, **more):
    return {
        "schema": 1,
        "run_id": f"x/{seed}",
        "paper": "p",
        "item": "t",
        "keys": keys,
        "method": keys.get("method"),
        "seed": seed,
        "profile": "smoke",
        "score": score,
        "normalized": None,
        "curve": [{"step": 1, "score": score}],
        "extra": {"best": 2.0},
        "nonfinite": [],
        "config": {},
        "config_hash": "abc",
        "finished": finished,
        **more,
    }


def test_the_schema_fields_are_the_dataclass_fields():
    names = [f.name for f in dataclasses.fields(Record)]
    assert tuple(names[:-2]) == FIELDS and names[-2:] == ["other", "present"]


def test_every_committed_line_reads_and_writes_back_byte_for_byte():
    """Runs and verdicts alike, over the whole committed reference (the lines records.py wrote; a diagnostic
    script's own lines, written with other separators, are read but never written back)."""
    n_runs = n_verdicts = 0
    for path in sorted(REFERENCE_ROOT.glob("*/*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = Record.from_json(line)
            if "schema" not in rec.present:
                assert rec.other and rec.to_dict() == json.loads(line)  # kept, in its order
                continue
            assert rec.to_json() == line, f"{path}: {line[:120]}"
            if is_claim(json.loads(line)):
                assert Verdict.from_record(rec).to_record().to_json() == line
                n_verdicts += 1
            else:
                n_runs += 1
    assert n_runs > 1000 and n_verdicts > 100


def test_record_accessors():
    r = Record.from_dict(_run({"env": "e", "method": "m"}, 0, 1.5, "2026-01-01", threads=4))
    assert r.key("env") == "e" and r.key("dataset") is None and r.key("dataset", "-") == "-"
    assert r.matches(env="e") and r.matches(env="e", method="m") and not r.matches(env="f")
    assert r.matches(dataset=None) and not r.matches(dataset="x")  # a key the cell lacks reads as None
    assert r.value("score") == 1.5 and r.value("best") == 2.0 and r.value("normalized") is None
    assert r.finite("score") == 1.5 and r.finite("normalized") is None
    assert r.n_threads == 4 and Record.from_dict(_run({}, 0, 1.0, "t")).n_threads == 1
    assert r.final() == 1.5 and r.final("step") == 1 and Record().final() is None
    assert r.curve == [{"step": 1, "score": 1.5}]  # points, though the line stores it column-wise
    assert json.loads(r.to_json())["curve"] == {"step": [1], "score": [1.5]}
    with pytest.raises(KeyError, match="no field 'nope'"):
        r.field("nope")
    with pytest.raises(RecordError, match="'keys' must be a JSON object"):
        Record.from_dict({"keys": [1, 2]})


def test_append_writes_a_record_as_its_dict(tmp_path):
    d = _run({"env": "e"}, 0, 1.5, "2026-01-01")
    append_record(tmp_path / "a.jsonl", d)
    append_record(tmp_path / "b.jsonl", Record.from_dict(d))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_a_verdict_is_written_as_before(tmp_path):
    v = write_claim(tmp_path, "quick", "p", "figure2", "wins", None, "cannot tell", {"n": 3})
    line = records_path(tmp_path, "quick", "p", "figure2").read_text().splitlines()[0]
    d = json.loads(line)
    assert list(d)[:5] == ["schema", "run_id", "paper", "item", "keys"] and d["keys"] == {"claim": "wins"}
    assert d["run_id"] == "quick/p/figure2/claim/wins" and d["config_hash"] == config_hash({})
    assert d["extra"] == {"holds": None, "evidence": "cannot tell", "n": 3} and d["score"] is None
    back = Verdict.from_record(Record.from_json(line))
    assert back == v and back.said == "undecided" and back.data == {"n": 3}
    assert back.same_as(None, "cannot tell") and not back.same_as(False, "cannot tell")
    with pytest.raises(RecordError, match="is a run, not a claim verdict"):
        Verdict.from_record(Record.from_dict(_run({"env": "e"}, 0, 1.0, "t")))


def test_the_store_reads_a_file_once_and_again_when_it_changes(tmp_path):
    path = records_path(tmp_path, "smoke", "p", "t")
    assert (
        not item_file(tmp_path, "smoke", "p", "t") and item_file(tmp_path, "smoke", "p", "t").newest is None
    )
    append_record(path, _run({"env": "e"}, 0, 1.0, "2026-01-01T00:00:00"))
    first = item_file(tmp_path, "smoke", "p", "t")
    assert item_file(tmp_path, "smoke", "p", "t") is first and len(first.runs) == 1
    append_record(path, _run({"env": "e"}, 1, 3.0, "2026-01-02T00:00:00"))  # an append: read again
    second = item_file(tmp_path, "smoke", "p", "t")
    assert second is not first and [r.seed for r in second.runs] == [0, 1]
    replace_record(path, _run({"env": "e"}, 0, 2.0, "2026-01-03T00:00:00"))  # a forced re-run: a new file
    third = item_file(tmp_path, "smoke", "p", "t")
    assert [(r.seed, r.score) for r in third.runs] == [(1, 3.0), (0, 2.0)] and third.newest == "2026-01-03"
    write_claim(tmp_path, "smoke", "p", "t", "c", True, "yes")
    write_claim(tmp_path, "smoke", "p", "t", "c", False, "no, on second thought")
    f = read_item_file(path)
    assert len(f.runs) == 2 and [v.said for v in f.verdicts] == ["holds", "does not hold"]
    assert f.newest_verdicts["c"].evidence == "no, on second thought"


def test_the_store_skips_a_corrupt_line_once_with_a_warning(tmp_path):
    path = records_path(tmp_path, "smoke", "p", "t")
    append_record(path, _run({"env": "e"}, 0, 1.0, "t1"))
    with open(path, "a") as f:
        f.write('{"keys": [1]}\n{"broken\n')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert len(read_item_file(path).runs) == 1
    msgs = [str(x.message) for x in w if issubclass(x.category, RecordWarning)]
    assert len(msgs) == 2 and all("skipping corrupt record" in m for m in msgs)
    assert len(load_records(tmp_path, "smoke", "p", "t")) == 2  # the plain reader keeps a dict with odd keys


def test_item_runs_are_the_newest_of_each_run_at_the_profile(tmp_path):
    path = records_path(tmp_path, "smoke", "p", "t")
    for seed, score, fin in ((0, 1.0, "2026-01-01"), (1, 3.0, "2026-01-01"), (0, 5.0, "2026-01-02")):
        append_record(path, _run({"env": "e", "method": "m"}, seed, score, fin))
    append_record(path, _run({"env": "e", "method": "m"}, 2, 9.0, "2026-01-03", profile="quick"))
    # another thread count
    append_record(path, _run({"env": "e", "method": "m"}, 0, 7.0, "2026-01-03", threads=2))
    no_profile = _run({"env": "e", "method": "n"}, 0, 4.0, "2026-01-01")
    del no_profile["profile"]
    append_record(path, no_profile)  # a line that names no profile counts at any
    runs = item_runs(tmp_path, "smoke", "p", "t")
    assert [(r.seed, r.score, r.n_threads) for r in runs] == [
        (0, 5.0, 1),
        (1, 3.0, 1),
        (0, 7.0, 2),
        (0, 4.0, 1),
    ]
    one = runs.where(lambda r: r.n_threads == 1)
    assert one.seed_values("score", method="m") == {0: 5.0, 1: 3.0}
    assert one.seed_means("score", method="m") == (4.0, 1.0, 2) and one.seed_means("score", method="x") == (
        None,
        None,
        0,
    )
    assert runs.select(method="n").key_values("method") == ["n"] and runs.key_values("env") == ["e"]
    grid = Runs(
        [
            _run({"task": t, "method": "m"}, s, v, "t")
            for t, s, v in (("a", 0, 1.0), ("b", 0, 3.0), ("a", 1, 5.0))
        ]
    )
    # seed 1 lacks b
    assert grid.averaged_over("score", [{"task": "a"}, {"task": "b"}], method="m") == (2.0, 0.0, 1)


def test_the_cache_follows_the_file_not_its_name(tmp_path):
    """Two roots with the same relative path are two files; a file removed reads as empty."""
    a, b = tmp_path / "a", tmp_path / "b"
    append_record(records_path(a, "smoke", "p", "t"), _run({"env": "e"}, 0, 1.0, "t"))
    append_record(records_path(b, "smoke", "p", "t"), _run({"env": "e"}, 0, 2.0, "t"))
    assert (
        item_file(a, "smoke", "p", "t").runs[0].score == 1.0
        and item_file(b, "smoke", "p", "t").runs[0].score == 2.0
    )
    os.remove(records_path(a, "smoke", "p", "t"))
    assert not item_file(a, "smoke", "p", "t")
