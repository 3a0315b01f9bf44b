"""A tiny paper made with the kit alone (issue 20): one table over an existing env (omar/spread) and an
existing learner (ITD3 from the registry), end to end: records through the runner, the rendered table
with the published column (mean ± standard error, as the new papers publish), and a claim verdict.
Nothing here imports papers/omar: what a new paper needs is in common/."""

import numpy as np

from common.reporting.claims import Evidence, check_claims
from common.reporting.published import load_published
from common.reporting.report import write_item_report
from common.running.cli import main
from common.running.experiment import Cell
from common.running.offline import offline_job
from common.running.records import load_records
from common.running.store import item_runs

PUBLISHED = """
from common.reporting.published import Entry, Table, check_paper

PAPER, TITLE = "toy", "A toy paper"
ITEMS = {"table1": Table(title="ITD3 on spread, two actor learning rates", rows=["method"], cols="actor_lr",
                         metric="score", spread="sem")}
PUBLISHED = [Entry(item="table1", keys={"method": "itd3", "actor_lr": "1e-3"}, mean=-150.0, sem=5.0),
             Entry(item="table1", keys={"method": "itd3", "actor_lr": "1e-2"}, mean=-140.0, sem=5.0)]
check_paper(ITEMS, PUBLISHED)
"""
CLAIMS = '''
from common.reporting.claims import Claim


def all_finite(ev):
    """Every run of the item ends with a finite score."""
    return all(r.score is not None for r in ev.runs), f"{len(ev.runs)} runs"


CLAIMS = [Claim(item="table1", id="finite", text="every run ends with a finite score", check=all_finite)]
'''


def load_toy(spec):
    """A small dataset of random omar/spread transitions, a pure function of the spec (the paper's loader)."""
    from common.datasets.dataset import Dataset

    rng = np.random.default_rng(spec["seed"])
    T, N = spec["size"], 3
    obs = rng.normal(size=(T, N, 18)).astype(np.float32)
    ends = np.zeros(T)
    ends[24::25] = 1
    return Dataset.from_arrays(
        spec["env"],
        spec["kind"],
        obs,
        rng.uniform(-1, 1, (T, N, 2)).astype(np.float32),
        rng.normal(size=(T, N)).astype(np.float32),
        obs + 0.1,
        terminals=np.zeros(T),
        timeouts=ends,
        obs_dims=[18] * N,
        act_dims=[2] * N,
        protocol="random arrays (test)",
        ref_scores={"random": -200.0, "expert": -100.0},
    )


def build_cells(profile):
    data = {
        "env": "omar/spread",
        "env_options": {},
        "return_mode": "mean",
        "kind": "random",
        "size": 200,
        "seed": 0,
    }
    return [
        Cell(
            "toy",
            "table1",
            {"method": "itd3", "actor_lr": lr},
            {
                "dataset": data,
                "method": "itd3",
                "itd3": {"hidden": 16, "batch_size": 32, "actor_lr": float(lr)},
                "updates": 4,
                "eval_every": 2,
                "eval_episodes": 2,
                "ckpt_every": 2,
            },
        )
        for lr in ("1e-3", "1e-2")
    ]


def test_a_toy_paper_runs_end_to_end_through_the_kit(tmp_path):
    papers = tmp_path / "papers"
    (papers / "toy").mkdir(parents=True)
    (papers / "toy" / "published.py").write_text(PUBLISHED)
    (papers / "toy" / "claims.py").write_text(CLAIMS)
    results = tmp_path / "results"
    job = offline_job("itd3", load=load_toy)
    summary = main(
        "toy table 1",
        build_cells,
        job,
        "toy",
        "table1",
        argv=["--profile", "smoke", "--results", str(results), "--no-report"],
    )
    assert summary.ok and len(summary.ran) == 2 * 2  # two cells x the smoke profile's two seeds

    runs = item_runs(results, "smoke", "toy", "table1")
    assert len(runs) == 4 and all(r.extra["dataset_size"] == 200 for r in runs)
    assert all(len(r.curve) == 2 and r.normalized is not None for r in runs)
    mean, _, n = runs.seed_means("score", actor_lr="1e-3")
    assert n == 2 and np.isfinite(mean)

    pub = load_published("toy", papers)
    assert check_claims(results, "toy", "table1", pub.CLAIMS, Evidence(runs, "smoke")) == {
        "finite": (True, "4 runs")
    }
    md = write_item_report(results, "smoke", "toy", "table1", papers_root=papers).read_text()
    assert "-150.0 ± 5.0 (se)" in md and "-140.0 ± 5.0 (se)" in md  # the paper's numbers as it prints them
    assert f"{mean:.1f}" in md  # ours beside them
    assert "finite" in md and "holds" in md
    assert any("claim" in r["keys"] for r in load_records(results, "smoke", "toy", "table1"))
