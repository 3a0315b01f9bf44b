"""MOMA-PPO Table 1: the Iterated Coordination Game's datasets: behavior P(a¹=→), P(a²=→) and the average score.

    python papers/moma_ppo/table1.py --profile smoke      # or quick / full (quick = full: 10,000 plays); --help

Cells: dataset {favorable, neutral, unfavorable} x quantity {p_right_agent1, p_right_agent2, avg_score}, each the
empirical value of the generated dataset (papers/moma_ppo/datasets.py: 10,000 independent plays of the listed
behavior policies; one dataset per kind, so one seed). Then one verdict per claim of published.CLAIMS (table1).
"""

from __future__ import annotations

from pathlib import Path

from common.reporting.figures import figure_after, seed_values, write_claims
from common.running.experiment import Cell
from papers.moma_ppo import config as C
from papers.moma_ppo.datasets import icg_spec
from papers.moma_ppo.jobs import run_item, table1_job
from papers.moma_ppo.published import CLAIMS, PUBLISHED, T1_QUANTITIES

ITEM = Path(__file__).stem


def build_cells(profile) -> list[Cell]:
    plays = int(profile.overrides.get("icg_plays", C.ICG_PLAYS))
    return [Cell("moma_ppo", ITEM, {"dataset": d, "quantity": q}, {"dataset": icg_spec(d, plays), "quantity": q})
            for d in C.ICG_BEHAVIOR for q in T1_QUANTITIES]


def verdicts(records) -> dict[str, tuple[bool, str]]:
    v = {d: {q: next(iter(seed_values(records, "score", dataset=d, quantity=q).values()), None)
             for q in T1_QUANTITIES} for d in C.ICG_BEHAVIOR}
    if any(x is None for row in v.values() for x in row.values()):
        return {c.id: (False, "some cells have no record") for c in CLAIMS if c.item == ITEM}
    pub = {(e.keys["dataset"], e.keys["quantity"]): e.mean for e in PUBLISHED if e.item == ITEM}
    agree = {d: r["p_right_agent1"] * r["p_right_agent2"] + (1 - r["p_right_agent1"]) * (1 - r["p_right_agent2"])
             for d, r in v.items()}
    gaps = {d: abs(v[d]["avg_score"] - agree[d]) for d in v}
    row = "; ".join(f"{d}: P1 {r['p_right_agent1']:.4f}, P2 {r['p_right_agent2']:.4f}, score {r['avg_score']:.4f} "
                    f"(published {pub[(d, 'p_right_agent1')]}, {pub[(d, 'p_right_agent2')]}, {pub[(d, 'avg_score')]})"
                    for d, r in v.items())
    f, n, u = v["favorable"], v["neutral"], v["unfavorable"]
    mix = (f["p_right_agent1"] > 0.5 and f["p_right_agent2"] > 0.5
           and u["p_right_agent1"] < 0.5 < u["p_right_agent2"]
           and all(abs(n[q] - 0.5) <= 0.02 for q in T1_QUANTITIES[:2])
           and all(0 < r["avg_score"] < 1 for r in v.values()))
    gap_text = ", ".join(f"{d} {g:.4f}" for d, g in gaps.items())
    return {"t1_scores_are_agreement_rates": (max(gaps.values()) <= 0.01,
                                              f"|score − (P1·P2 + (1−P1)(1−P2))| = {gap_text} (≤ 0.01); {row}"),
            "t1_datasets_mix_behaviors": (mix, row)}


def finish(records, results, profile) -> None:
    write_claims(results, profile, "moma_ppo", ITEM, verdicts(records), CLAIMS)


def main(argv=None):
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, table1_job, argv=argv,
                    default_seeds={p: [0] for p in ("smoke", "quick", "full")},
                    after=figure_after("moma_ppo", ITEM, finish))


if __name__ == "__main__":
    main()
