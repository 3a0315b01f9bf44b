"""MOMA-PPO Table 4b: four-agent Ant, 4 D4RL-protocol datasets x full / partial observability x 8 methods.

    python papers/moma_ppo/table4b.py --profile smoke      # or quick / full (--device cuda); --help
    python papers/moma_ppo/table4b.py --profile quick --obs-mode partial --dataset full-replay --method moma_ppo

Cells: obs_mode {full (FO: every agent sees the 27-dim state), partial (PO: each agent its leg's hip and ankle
(θ, ω), agent 0 also the torso's 15 dims)} x dataset {random, medium, full-replay, expert} x method {iql
(centralized training and execution: FO rows only, the paper's '—' elsewhere), maiql, maiql_ft (CTDE), ibc, itd3bc,
icql, iomar (independent learners), moma_ppo (world model + MAPPO on synthetic rollouts)} = 60 cells (52 baselines +
8 MOMA-PPO), 3 seeds (§6), the final greedy policy scored over 100 episodes of up to 1,000 steps. Scores are
normalized with D4RL's Ant constants (S_random = −325.6, S_expert = 3879.7; the records' ``normalized`` is × 100,
the table shows fractions as the paper does), mean ± SEM over seeds. Then one verdict per claim of published.CLAIMS
(table4b) and the learning curves, <results>/<profile>/moma_ppo/table4b_curves.png (one panel per row that has
records, papers/moma_ppo/curves.py). How each column runs: papers/moma_ppo/jobs.py (ant_baseline_config,
ant_moma_config) and config.py (T4B_*) and maiql_ft.py (MAIQL-ft: offline MAIQL, then fine-tuned online in the
ground-truth simulator; see papers/moma_ppo/README.md "Table 4b").

Data: common.datasets.mujoco's Ant kinds at the run's profile, split per agent for each obs_mode (IQL, MAIQL(-ft)
and IBC on rewards x 1000 / (max − min episode return), the code's scaling). At smoke missing data are built
(seconds); at quick and full the script stops and names the command that builds them. spec §7's quick cells are
config.T4B_QUICK_CELLS (FO full-replay, PO medium, PO full-replay): run them with --obs-mode / --dataset filters.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Mapping

import numpy as np

from common.reporting.figures import figure_after, missing_cells, seed_values, write_claims
from common.running.cli import grid_filters
from common.running.experiment import Cell
from papers.moma_ppo import config as C
from papers.moma_ppo import curves
from papers.moma_ppo.jobs import ant_baseline_config, ant_missing, ant_moma_config, run_item, table4b_job
from papers.moma_ppo.published import (
    ANT_DATASETS,
    ANT_OBS,
    CLAIMS,
    INDEPENDENT,
    MODEL_FREE,
    PUBLISHED,
    T4B_METHODS,
)

ITEM = Path(__file__).stem
CTDE = ("maiql", "maiql_ft")  # Table 4b's CTDE model-free columns
ROWS = [(o, d) for o in ANT_OBS for d in ANT_DATASETS]  # the paper's 8 rows, in its order


def methods_of(obs_mode: str) -> tuple[str, ...]:
    """The columns with a cell in the rows of ``obs_mode`` (IQL: FO only)."""
    return tuple(m for m in T4B_METHODS if obs_mode in C.T4B_ROWS_OF.get(m, ANT_OBS))


def cell_keys() -> list[tuple[str, str, str]]:
    """(obs_mode, dataset, method) in the paper's order, without the '—' cells (IQL's PO rows)."""
    return [(o, d, m) for o, d in ROWS for m in methods_of(o)]


def build_cells(profile) -> list[Cell]:
    return [Cell("moma_ppo", ITEM, {"obs_mode": o, "dataset": d, "method": m},
                 ant_moma_config(profile, o, d) if m == "moma_ppo" else ant_baseline_config(profile, o, d, m))
            for o, d, m in cell_keys()]


# ---- claims ----------------------------------------------------------------------------------------------------
def _stats(records) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(obs_mode, dataset, method) -> (mean, SEM) over seeds of the final normalized score as a fraction (SEM 0 for
    one seed: the claims' rules then compare means)."""
    out = {}
    for o, d, m in cell_keys():
        v = np.array(list(seed_values(records, "normalized", obs_mode=o, dataset=d, method=m).values()),
                     dtype=float) / 100.0
        if v.size:
            out[(o, d, m)] = (float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0)
    return out


def published_dataset_means() -> dict[str, float]:
    """Table 2's mean normalized episode return of each Ant dataset, as a fraction (the paper's data)."""
    return {e.keys["dataset"]: e.mean / 100.0 for e in PUBLISHED
            if e.item == "table2" and e.keys.get("env") == C.ANT_ENV and e.keys["quantity"] == "mean"}


def _rows(rows) -> str:
    return ", ".join(f"{'FO' if o == 'full' else 'PO'} {d}" for o, d in rows) or "none"


def verdicts(records, dataset_means: Mapping[str, float] | None = None) -> dict[str, tuple[bool | None, str]]:
    """One verdict per Table 4b claim (the rules are the claims' texts in published.py), on the rows whose every
    cell has a finite score ("complete"; quick runs 3 of the 8 rows, config.T4B_QUICK_CELLS). With rows missing a
    claim is decided only where the rows run already decide it, and is "not checked" (None, with what holds so far)
    otherwise: a rule over every row of a set fails on one row that breaks it; a majority rule (>= 5 of 8 rows) fails
    once more than 3 rows break it and holds once 5 satisfy it; an existence rule holds on one example. Cell-level
    rules (the IQL - MAIQL gaps, MOMA-PPO's PO expert row, random vs expert) read cells, complete rows or not.
    ``dataset_means``: dataset -> mean normalized episode return of the data the cells trained on, as a fraction
    (t4b_model_free_sometimes_below_ibc_or_data; None: that claim is not checked)."""
    ids = [c.id for c in CLAIMS if c.item == ITEM]
    st = _stats(records)
    done = [(o, d) for o, d in ROWS if all((o, d, m) in st for m in methods_of(o))]
    if not done:
        lacking = missing_cells(records, [{"obs_mode": o, "dataset": d, "method": m} for o, d, m in cell_keys()], 1,
                                count=lambda recs, keys: len(seed_values(recs, "normalized", **keys)))
        shown = ", ".join(lacking[:4]) + (f", ... ({len(lacking)} in all)" if len(lacking) > 4 else "")
        return {cid: (None, f"cells without a finite score: {shown} (no row complete)") for cid in ids}
    mean = {k: v[0] for k, v in st.items()}
    sem = {k: v[1] for k, v in st.items()}

    def show(o, d, ms):
        return f"{o} {d}: " + ", ".join(f"{m} {mean[(o, d, m)]:.2f} ± {sem[(o, d, m)]:.2f}" for m in ms)

    def others(o):
        return [m for m in methods_of(o) if m != "moma_ppo"]

    def best(o, d, ms):
        return max(ms, key=lambda m: mean[(o, d, m)])

    def every(rows, ok, detail) -> tuple[bool | None, str]:
        """A rule over every row of ``rows``: False on one complete row that breaks it, True when all are complete
        and keep it, else not checked."""
        have = [r for r in rows if r in done]
        bad = [r for r in have if not ok(*r)]
        gone = [r for r in rows if r not in done]
        text = detail(have)
        if bad:
            return False, f"fails in {_rows(bad)}" + (f" (rows not run: {_rows(gone)})" if gone else "") + f"; {text}"
        if not have:
            return None, f"none of its rows run ({_rows(gone)})"
        if gone:
            return None, f"holds in the {len(have)} rows run ({_rows(have)}); rows not run: {_rows(gone)}; {text}"
        return True, text

    def majority(ok, need=5) -> tuple[list, list, bool | None]:
        """Rows (of the 8) that keep / break ``ok`` among the complete ones, and the verdict of "at least ``need``"."""
        yes = [r for r in done if ok(*r)]
        no = [r for r in done if not ok(*r)]
        return yes, no, (True if len(yes) >= need else False if len(no) > len(ROWS) - need else None)

    def cells(*keys) -> bool:
        return all(k in mean for k in keys)

    fo_rows = [(o, d) for o, d in ROWS if o == "full"]
    fo_mf = [m for m in methods_of("full") if m in MODEL_FREE]
    po_mf = [m for m in methods_of("partial") if m in MODEL_FREE]

    def rows_text(ms_of):
        return lambda have: "; ".join(show(o, d, ms_of(o)) for o, d in have)

    best_all = every(ROWS, lambda o, d: all(mean[(o, d, "moma_ppo")] > mean[(o, d, b)] for b in others(o)),
                     rows_text(methods_of))
    significant = every(ROWS, lambda o, d: all(mean[(o, d, "moma_ppo")] - mean[(o, d, b)]
                                               > sem[(o, d, "moma_ppo")] + sem[(o, d, b)] for b in others(o)),
                        rows_text(methods_of))
    surpassed = every(fo_rows, lambda o, d: all(mean[(o, d, "moma_ppo")] > mean[(o, d, b)] for b in fo_mf),
                      rows_text(methods_of))

    def iql_on_par(o, d):
        rest = [m for m in fo_mf if m != "iql"]
        top = best(o, d, rest)
        low = min(mean[(o, d, m)] for m in rest)
        return low <= mean[(o, d, "iql")] <= mean[(o, d, top)] + sem[(o, d, "iql")] + sem[(o, d, top)]

    on_par = every(fo_rows, iql_on_par, rows_text(lambda o: fo_mf))
    indep_wins, indep_loses, indep = majority(
        lambda o, d: mean[(o, d, best(o, d, INDEPENDENT))] > mean[(o, d, best(o, d, CTDE))])
    indep_text = (f"best independent > best CTDE in {len(indep_wins)} of the {len(done)} rows run "
                  f"({_rows(indep_wins)}; not in: {_rows(indep_loses)}); the rule needs 5 of 8")

    gap_keys = [("full", d, m) for d in ANT_DATASETS for m in ("iql", "maiql")]
    if cells(*gap_keys):
        gap = {d: mean[("full", d, "iql")] - mean[("full", d, "maiql")] for d in ANT_DATASETS}
        varied = (gap["medium"] > gap["expert"] and gap["full-replay"] > gap["expert"],
                  "FO iql − maiql: " + ", ".join(f"{d} {gap[d]:.3f}" for d in ANT_DATASETS))
    else:
        varied = (None, "needs FO iql and maiql on all four datasets; missing: "
                  + ", ".join(f"{o} {d} {m}" for o, d, m in gap_keys if (o, d, m) not in mean))

    steer_rows = [("partial", d) for d in ("random", "medium", "full-replay")]
    steers = every(steer_rows, lambda o, d: mean[(o, d, "moma_ppo")] >= 1.2 * mean[(o, d, best(o, d, po_mf))],
                   lambda have: "; ".join(f"{d}: moma_ppo {mean[(o, d, 'moma_ppo')]:.2f} vs best model-free "
                                          f"{best(o, d, po_mf)} {mean[(o, d, best(o, d, po_mf))]:.2f}" for o, d in have))

    moma_po = {d: mean[("partial", d, "moma_ppo")] for d in ANT_DATASETS if ("partial", d, "moma_ppo") in mean}
    po_text = "PO moma_ppo: " + ", ".join(f"{d} {v:.2f}" for d, v in moma_po.items())
    if "expert" not in moma_po:
        expert_lowest = (None, f"needs PO expert moma_ppo (not run); {po_text}")
    elif any(v <= moma_po["expert"] for d, v in moma_po.items() if d != "expert"):
        expert_lowest = (False, po_text)
    elif len(moma_po) < len(ANT_DATASETS):
        expert_lowest = (None, f"lowest of the {len(moma_po)} PO rows run; {po_text}")
    else:
        expert_lowest = (True, po_text)

    pairs = [m for m in methods_of("partial") if cells(("partial", "random", m), ("partial", "expert", m))]
    rb_text = "PO random vs expert: " + ", ".join(
        f"{m} {mean[('partial', 'random', m)]:.2f}/{mean[('partial', 'expert', m)]:.2f}" for m in pairs)
    if any(mean[("partial", "random", m)] <= mean[("partial", "expert", m)] for m in pairs):
        random_beats = (False, rb_text)
    elif len(pairs) < len(methods_of("partial")):
        random_beats = (None, f"needs both PO random and PO expert cells of every method ({len(pairs)} of "
                              f"{len(methods_of('partial'))} methods have both); {rb_text}")
    else:
        random_beats = (True, rb_text)

    ft_above = [(o, d) for o, d in done if mean[(o, d, "maiql_ft")] - mean[(o, d, "maiql")]
                > sem[(o, d, "maiql_ft")] + sem[(o, d, "maiql")]]
    ft_lower, ft_not_lower, ft_majority = majority(lambda o, d: mean[(o, d, "maiql_ft")] < mean[(o, d, "maiql")])
    ft_text = (f"maiql_ft < maiql in {len(ft_lower)} of the {len(done)} rows run (the rule needs 5 of 8); above "
               f"beyond the summed SEMs in {len(ft_above)} ({_rows(ft_above)})")
    if ft_above or ft_majority is False:
        ft = (False, ft_text)
    elif ft_majority is True and len(done) == len(ROWS):
        ft = (True, ft_text)
    else:
        ft = (None, f"{ft_text}; rows not run: {_rows([r for r in ROWS if r not in done])}")

    below_ibc = [(o, d, m) for o, d in done for m in methods_of(o)
                 if m in MODEL_FREE and m != "ibc" and mean[(o, d, m)] < mean[(o, d, "ibc")]]
    known = {d: v for d, v in (dataset_means or {}).items() if d in ANT_DATASETS}
    if not any(d in known for _, d in done):
        below_data: tuple[bool | None, str] = (None, "the mean normalized returns of the datasets of the rows run "
                                               f"({_rows(done)}) are not known")
    else:
        under = [(o, d, m) for o, d in done if d in known for m in methods_of(o)
                 if m in MODEL_FREE and mean[(o, d, m)] < known[d]]

        def some(xs):
            return f" (e.g. {', '.join(' '.join(x) for x in xs[:3])})" if xs else ""

        text = (f"{len(below_ibc)} (row, method) below IBC{some(below_ibc)}; {len(under)} below the dataset's "
                f"mean{some(under)}; dataset means " + ", ".join(f"{d} {v:.3f}" for d, v in known.items())
                + f"; rows run: {_rows(done)}")
        found = bool(below_ibc) and bool(under)
        every_row = len(done) == len(ROWS) and len(known) == len(ANT_DATASETS)
        below_data = (True if found else False if every_row else None, text)
    return {
        "t4b_moma_best_all_rows": best_all,
        "t4b_moma_significant_all_rows": significant,
        "t4b_model_free_surpassed_in_fo": surpassed,
        "t4b_iql_on_par_with_model_free": on_par,
        "t4b_independent_beat_ctde": (indep, indep_text),
        "t4b_varied_data_harder_than_expert": varied,
        "t4b_moma_steers_under_po": steers,
        "t4b_moma_po_expert_lowest": expert_lowest,
        "t4b_random_beats_expert_under_po": random_beats,
        "t4b_maiql_ft_no_better": ft,
        "t4b_model_free_sometimes_below_ibc_or_data": below_data,
    }


def dataset_means_of(profile: str) -> dict[str, float]:
    """Mean normalized episode return (fraction, D4RL's constants) of each Ant dataset of ``profile`` that is built,
    from its card (the datasets not built are left out)."""
    from common.datasets.dataset import Dataset
    from common.datasets.mujoco import dataset_base
    from common.datasets.returns import normalize

    out = {}
    for d in ANT_DATASETS:
        base = dataset_base("ant", d, profile)
        if not base.with_name(base.name + ".json").exists():
            continue
        out[d] = float(normalize(Dataset.read_card(base)["returns"]["mean"], C.ANT_D4RL_REF_SCORES)) / 100.0
    return out


def finish(records, results, profile) -> None:
    write_claims(results, profile, "moma_ppo", ITEM, verdicts(records, dataset_means_of(profile)), CLAIMS)
    curves.write(records, results, profile, ITEM, ROWS, T4B_METHODS)


# ---- data ------------------------------------------------------------------------------------------------------
def _args_of(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--profile", default="quick")
    p.add_argument("--dataset", action="append")
    return p.parse_known_args(argv)[0]


def main(argv=None):
    a = _args_of(argv)
    kinds = [d for d in ANT_DATASETS if not a.dataset or d in a.dataset]  # only what the selected cells train on
    return run_item(__doc__.splitlines()[0], ITEM, build_cells, table4b_job, argv=argv,
                    default_seeds={p: list(C.T4B_SEEDS) for p in ("quick", "full")} | {"smoke": [0]},
                    needs=lambda: ant_missing(kinds, a.profile), after=figure_after("moma_ppo", ITEM, finish),
                    **grid_filters({"obs_mode": list(ANT_OBS), "dataset": list(ANT_DATASETS),
                                    "method": list(T4B_METHODS)}, ITEM))


if __name__ == "__main__":
    main()
