"""OMAR's dataset protocol per profile (papers/omar/data_protocol.py), its dataset report (dataset_report.py) and command line (datasets.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import envs
from common.behavior.matd3_train import _env_seed
from common.running.profiles import get_profile
from papers.omar import data_protocol as dp
from papers.omar import dataset_report as dr
from papers.omar import datasets as od
from papers.omar.config import DATASETS, MEDIUM_FRACTION, PROFILE_OVERRIDES

ENV, OPTS = "omar/spread1d", {"n_agents": 1}  # learns within the smoke budget


def _profile(name):
    return get_profile(name, PROFILE_OVERRIDES)


def test_sizes_and_steps_per_profile():
    assert dp.dataset_sizes(_profile("smoke")) == {
        "random": 2_000,
        "medium-replay": None,
        "medium": 2_000,
        "expert": 2_000,
    }
    assert dp.dataset_sizes(_profile("quick"))["expert"] == 100_000
    assert dp.dataset_sizes(_profile("full"))["expert"] == 1_000_000  # paper §4.1.1
    assert dp.behavior_steps(_profile("quick"), "omar/spread") == 100_000
    assert dp.behavior_steps(_profile("quick"), "mamujoco/halfcheetah-2x3") == 100_000
    versions = [*dp.VERSION.values(), *dp.PARTICLE_VERSION.values()]
    assert len(set(versions)) == len(versions)  # a profile's or family's cache never shadows another's
    # the particle worlds' caches moved with OMAR's physics; HalfCheetah's did not
    assert dp.dataset_spec("omar/spread", _profile("quick"))["version"] == 1004
    assert dp.dataset_spec("mamujoco/halfcheetah-2x3", _profile("quick"))["version"] == 1003


def test_env_options_are_part_of_the_spec_and_the_cache_path():
    p = _profile("quick")
    plain, prey = dp.dataset_spec("omar/tag", p), dp.dataset_spec("omar/tag", p, {"prey": "v2"})
    assert prey["env_options"] == {"prey": "v2"} and plain["env_options"] == {}
    a, b = dp.spec_paths(plain), dp.spec_paths(prey)
    assert all(a[k] != b[k] for k in DATASETS)
    assert a["expert"].name == "expert-v1004" and b["expert"].name.startswith("expert-v1004-o")


def test_published_stats_medium_positions():
    """Spread's medium data sit 31 % of the way from random to expert, etc.

    Source: docs/omar_official_code.md#released-dataset-statistics.
    """
    for env, frac in MEDIUM_FRACTION.items():
        s = dr.PUBLISHED_STATS[env]
        pos = dr.medium_position(s["random"][0], s["medium"][0], s["expert"][0])
        assert pos == pytest.approx(100 * frac, abs=1.0), env
    assert dr.PUBLISHED_STATS["omar/spread"]["medium-replay"][4] == 97_500


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    mp = pytest.MonkeyPatch()
    mp.setenv("OFFMARL_DATA", str(root))
    p = _profile("smoke")
    out = tmp_path_factory.mktemp("results") / "datasets.md"
    text, path = dr.write_report(p, [ENV, "omar/spread"], OPTS, generate=False, out=out, log=lambda s: None)
    assert "not generated" in text  # nothing cached yet, nothing generated
    text, path = dr.write_report(p, [ENV], OPTS, generate=True, out=out, log=lambda s: None)
    spec = dp.dataset_spec(ENV, p, OPTS)
    data = {k: dp.load_spec(spec, k, log=lambda s: None) for k in DATASETS}
    yield text, path, data, spec
    mp.undo()


def test_report_renders_from_smoke_datasets(smoke_report):
    text, path, data, spec = smoke_report
    assert path.read_text() == text
    assert "| env" in text and "medium at %" in text and "OMAR return" in text
    for kind, d in data.items():
        r = d.card["returns"]
        assert f"| {kind} " in text.replace("|  ", "| ")
        assert f"{r['mean']:,.1f} ± {r['std']:,.1f}" in text
    assert dp.is_cached(spec)
    rows = dr.report_rows(_profile("smoke"), ["omar/spread"], None)
    assert rows[0]["ours"] is None and rows[0]["published"]["mean"] == 159.57


def test_report_keeps_published_cards_when_the_cache_is_empty(smoke_report, tmp_path, monkeypatch):
    """The report publishes each generated dataset's card beside itself; on a machine whose cache lacks the
    arrays (a fresh clone) the same rows are rendered from those cards, marked, instead of 'not generated'."""
    text, path, data, spec = smoke_report
    for kind, d in data.items():
        card = dr.published_card_path(path.parent / "cards", spec, kind)
        assert card.exists() and json.loads(card.read_text())["sha256"] == d.card["sha256"]
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "empty-cache"))
    assert not dp.is_cached(spec)
    again, _ = dr.write_report(_profile("smoke"), [ENV], OPTS, generate=False, out=path, log=lambda s: None)
    assert "not generated" not in again and again.count("(published card) |") == len(DATASETS)
    for kind, d in data.items():
        r = d.card["returns"]
        assert f"{r['mean']:,.1f} ± {r['std']:,.1f}" in again and d.card["sha256"][:12] in again
    rows = dr.report_rows(_profile("smoke"), [ENV], OPTS, cards_dir=path.parent / "cards")
    assert [r["ours"]["transitions"] for r in rows] == [data[k].size for k in DATASETS]
    assert [r["ours"]["episodes"] for r in rows] == [data[k].n_episodes for k in DATASETS]
    # without published cards (another report path) the rows are not generated, as before
    other, _ = dr.write_report(
        _profile("smoke"), [ENV], OPTS, generate=False, out=tmp_path / "r" / "d.md", log=lambda s: None
    )
    assert "not generated" in other
    monkeypatch.undo()  # the generated cache again: the same rows, read from the arrays' own cards
    cached = dr.report_rows(_profile("smoke"), [ENV], OPTS)
    assert [dict(r, ours={**r["ours"], "source": None}) for r in rows] == [
        dict(r, ours={**r["ours"], "source": None}) for r in cached
    ]
    assert {r["ours"]["source"] for r in rows} == {"published card"} and {
        r["ours"]["source"] for r in cached
    } == {"cache"}


def test_protocol_invariants_of_the_smoke_datasets(smoke_report):
    _, _, data, spec = smoke_report
    refs = {"random": data["random"].episode_returns.mean(), "expert": data["expert"].episode_returns.mean()}
    for d in data.values():  # every card carries the same reference scores
        assert d.card["ref_scores"] == pytest.approx(refs)
        assert d.card["protocol"]["env_options"] == OPTS
    for k in ("random", "medium", "expert"):
        assert data[k].size == spec["sizes"][k]
    beh = data["medium"].card["behavior"]
    mr = data["medium-replay"]
    # medium-replay = the behavior run's buffer up to the medium cut, starting at its first reset
    assert mr.size == beh["medium_step"] and mr.timeouts[-1]
    assert beh["medium_step"] > spec["behavior_cfg"]["learning_starts"]  # the medium policy was trained
    np.testing.assert_array_equal(mr.obs[0], envs.make(ENV, **OPTS).reset(_env_seed(0, 0)))
    assert beh["medium_eval_score"] >= beh["medium_threshold"]
    assert beh["medium_threshold"] == pytest.approx(
        beh["random_eval_score"]
        + spec["medium_fraction"] * (beh["expert_eval_score"] - beh["random_eval_score"])
    )
    assert data["expert"].card["returns"]["mean"] > data["random"].card["returns"]["mean"]


def test_cli_help_and_nothing_to_do(capsys):
    with pytest.raises(SystemExit) as e:
        od.main(["--help"])
    assert e.value.code == 0 and "--generate" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        od.main(["--profile", "smoke"])
    assert e.value.code == 2


def test_spread1d_defaults_to_the_tables_1_2_task_and_the_cli_accepts_it(tmp_path):
    # omar/spread1d's dataset key defaults to Tables 1-2's 2 agents (jobs.SWEEP_TASK), so the
    # CLI generates and reports the very datasets those tables read
    from papers.omar import table1
    from papers.omar.jobs import SWEEP_TASK

    assert dp.default_env_options("omar/spread1d") == SWEEP_TASK[1]
    assert dp.default_env_options("omar/tag") == {"prey": "v2"}
    p = _profile("full")
    assert dp.spec_paths(
        dp.dataset_spec("omar/spread1d", p, dp.default_env_options("omar/spread1d"))
    ) == dp.spec_paths(table1.build_cells(p)[0].config["dataset"])
    # not generated: no rows' data
    rows = dr.report_rows(_profile("smoke"), ["omar/spread1d"], {"n_agents": 5})
    assert [r["kind"] for r in rows] == list(DATASETS) and all(r["published"] is None for r in rows)
    out = tmp_path / "report.md"
    assert (
        od.main(
            [
                "--report",
                "--profile",
                "smoke",
                "--env",
                "omar/spread1d",
                "--env-options",
                '{"n_agents": 5}',
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "omar/spread1d" in out.read_text()


def test_record_generations_tell_dataset_generations_apart(tmp_path):
    """Records on two generations of one dataset (and a legacy record without the sha) give two rows,
    in order of first use; a copied run is not counted again, nor a superseded one; a record on no
    dataset is ignored."""
    from common.running.records import append_record, records_path

    spec = {"env": "omar/spread", "kind": "expert", "env_options": {}, "version": 99, "behavior_seed": 0}
    old = {"dataset_size": 100, "ref_scores": {"random": 1.0, "expert": 2.0}}
    new = {"data_sha256": "ab" * 32, "dataset_size": 100, "ref_scores": {"random": 1.0, "expert": 3.0}}

    def rec(item, seed, extra, started, **kw):
        return {
            "paper": "omar",
            "item": item,
            "keys": {"method": "m"},
            "seed": seed,
            "profile": "full",
            "run_id": f"full/omar/{item}/m/seed{seed}",
            "score": 1.0,
            "config": {"dataset": spec},
            "extra": extra,
            "started": started,
            **kw,
        }

    for r in (
        rec("table3", 0, old, "2026-11-21T10:00"),
        rec("table3", 1, old, "2026-11-21T11:00"),
        rec("table5", 0, new, "2026-11-22T10:00"),
        rec("table5", 1, {**new, "data_sha256": None}, "2026-11-22T11:00"),
        rec("figure3", 0, old, "2026-11-22T12:00", reused_from="full/omar/table3/m/seed0"),
        rec("table6", 0, {"holds": True}, "2026-11-22T12:00"),
        # a --force re-run of table3 seed 1 on the new generation supersedes its old record
        rec("table3", 1, new, "2026-11-22T13:00", finished="2026-11-22T13:05"),
    ):
        append_record(records_path(tmp_path, "full", "omar", r["item"]), r)
    rows = dr.record_generations("full", tmp_path)
    assert [(g["generation"], g["runs"]) for g in rows] == [
        (1, {"table3": 1}),
        (2, {"table5": 2, "table3": 1}),
    ]
    assert rows[1]["identity"]["data_sha256"] == "ab" * 32 and rows[0]["identity"]["data_sha256"] is None
    assert all(g["in_cache"] is None for g in rows)  # version 99 is never cached
    text = dr.render_generations(rows)
    assert "| omar/spread" in text and "table3 1" in text and "1.0 / 3.0" in text and "abababababab" in text


def test_spread1d_report_over_n_agents(tmp_path, monkeypatch):
    """--n-agents: one report with a block of rows per n (Figures 1-2), each n's own dataset; bad
    combinations are clear errors."""
    monkeypatch.setenv("OFFMARL_DATA", str(tmp_path / "data"))
    out = tmp_path / "spread1d.md"
    assert (
        od.main(
            [
                "--report",
                "--generate",
                "--profile",
                "smoke",
                "--env",
                "omar/spread1d",
                "--n-agents",
                "1",
                "--n-agents",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = out.read_text()
    assert "`n_agents` as in each row" in text
    p = _profile("smoke")
    for n in (1, 2):
        spec = dp.dataset_spec("omar/spread1d", p, {"n_agents": n})
        assert dp.is_cached(spec)
        mean = dp.load_spec(spec, "expert", log=lambda s: None).card["returns"]["mean"]
        line = next(
            ln for ln in text.splitlines() if ln.startswith(f"| omar/spread1d n={n} ") and "| expert" in ln
        )
        assert f"{mean:,.1f} ±" in line
    assert sum(ln.startswith("| omar/spread1d n=") for ln in text.splitlines()) == 2 * len(DATASETS)
    for argv, msg in (
        (["--env", "omar/spread"], "needs --env omar/spread1d alone"),
        (["--env", "omar/spread1d", "--env-options", '{"n_agents": 3}'], "not both"),
        (["--env", "omar/spread1d", "--n-agents", "0"], "must be >= 1"),
    ):
        with pytest.raises(SystemExit) as e:
            od.main(["--report", "--profile", "smoke", "--n-agents", "1", *argv])
        assert e.value.code == 2
