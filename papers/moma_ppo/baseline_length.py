"""MOMA-PPO Table 4b's baselines trained 10x quick's updates, with learning curves: does quick's cut keep who beats whom?

    python papers/moma_ppo/baseline_length.py --profile quick --obs-mode full --dataset full-replay \
        --method ibc --method itd3bc --method iql --group 3       # --help

Not an item of the paper (./run_all.sh runs table*, figure* and ablations* only). Quick trains Table 4b's model-free
baselines 10,000 updates where the code trains 1e6 + 1 (1 %), a cut no measurement backed (issue 64; DEVELOPERS.md:
"every cut is measured"). Each cell here is Table 4b's quick cell (its learner, widths, data, seeds and 100-episode
evaluations) with ``LENGTH_FACTOR`` x its updates and an evaluation every half of quick's length, so every curve
has a point at quick's length; no baseline has a schedule tied to the run's length, so that point is quick's run
(equal to Table 4b's record where the run and the record share a CPU type and a grouping: the summary says so).
MAIQL-ft is left out (its online fine-tuning is a budget of its own). After the runs,
``<results>/<profile>/moma_ppo/baseline_length_ranking.md`` gives, per row, each method's mean ± SEM at quick's
length, at half the long run and at its end, Table 4b's record beside them, and the pairs whose order flips between
quick's length and the end (with their gaps); ``baseline_length_curves.png`` draws the curves.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from common.running.atomic import atomic_write_text
from common.running.experiment import Cell
from common.running.records import load_records
from common.running.store import Runs
from papers.moma_ppo import curves, table4b
from papers.moma_ppo.published import ANT_DATASETS, ANT_OBS, T4B_METHODS

ITEM = Path(__file__).stem
LENGTH_FACTOR = {"smoke": 2, "quick": 10}  # the long run's updates / the profile's
METHODS = tuple(m for m in T4B_METHODS if m not in ("moma_ppo", "maiql_ft"))
SCALE = "table4b"  # curves' scale (normalized, as a fraction) and panels


def build_cells(profile) -> list[Cell]:
    """Table 4b's baseline cells at ``profile`` (MAIQL-ft and MOMA-PPO left out), ``LENGTH_FACTOR`` x the updates."""
    if profile.name not in LENGTH_FACTOR:
        raise ValueError(
            f"--profile {profile.name}: this study measures a cut; allowed: {', '.join(LENGTH_FACTOR)} "
            f"(full already trains the code's 1e6 + 1 updates)"
        )
    out = []
    for cell in table4b.build_cells(profile):
        if cell.keys["method"] not in METHODS:
            continue
        base = int(cell.config["updates"])
        cfg = {**cell.config, "updates": base * LENGTH_FACTOR[profile.name]}
        cfg.update(eval_every=max(1, base // 2), ckpt_every=base, base_updates=base)
        out.append(Cell("moma_ppo", ITEM, dict(cell.keys), cfg))
    return out


def _at(records: Sequence, step: int | None = None) -> tuple[float, float, int] | None:
    """Mean, SEM and n over the seeds' normalized scores (fraction) at ``step`` (None: the last evaluated step), from
    ``curves.cell_series``; None where no seed evaluated there."""
    s = curves.cell_series(records, SCALE)
    if s is None:
        return None
    hit = np.flatnonzero(np.isclose(s.x * s.total, s.total if step is None else step))
    return None if not hit.size else (float(s.mean[hit[0]]), float(s.sem[hit[0]]), int(s.n[hit[0]]))


def flips(short: Mapping[str, float], long: Mapping[str, float]) -> list[tuple[str, str, float, float]]:
    """The method pairs (a, b) that ``short`` orders a > b and ``long`` b > a: (a, b, gap in short, gap in long)."""
    ms = [m for m in short if m in long]
    return [
        (a, b, short[a] - short[b], long[b] - long[a])
        for a in ms
        for b in ms
        if short[a] > short[b] and long[b] > long[a]
    ]


def _fmt(x: tuple[float, float, int] | None) -> str:
    return "—" if x is None else f"{x[0]:.2f} ± {x[1]:.2f} ({x[2]})"


def summary(records: Sequence, reference: Sequence) -> str:
    """The markdown of the study: one table per (obs_mode, dataset) row with records (module docstring)."""
    runs, ref = Runs(records).newest(), Runs(reference).newest()
    lines = [
        "# MOMA-PPO Table 4b's baselines trained longer: is quick's ranking settled?",
        "",
        "Normalized score as a fraction (1 = expert), mean ± SEM (seeds). `table4b` = Table 4b's record (its final",
        "policy at quick's length); `at U` = this run's evaluation at quick's length U (the same training: equal to",
        "the record on one CPU type and grouping).",
    ]
    for obs in ANT_OBS:
        for ds in ANT_DATASETS:
            row = runs.select(obs_mode=obs, dataset=ds)
            if not row:
                continue
            U = int(row[0].config["base_updates"])
            end = int(row[0].config["updates"])
            lines += ["", f"## {obs} {ds} (U = {U:,}; end {end:,})", ""]
            mid = [end // 2] if U < end // 2 < end else []
            lines += [
                "| " + " | ".join(["method", "table4b", "at U", *(f"at {s:,}" for s in [*mid, end])]) + " |",
                "|---" * (3 + len(mid)) + "|---|",
            ]
            short, long = {}, {}
            for m in METHODS:
                rs = row.select(method=m)
                if not rs:
                    continue
                at_u, at_end = _at(rs, U), _at(rs, end)
                mine = ref.select(obs_mode=obs, dataset=ds, method=m)
                base = _at(mine)
                later = " | ".join(_fmt(_at(rs, s)) for s in [*mid, end])
                lines.append(f"| {m} | {_fmt(base)} | {_fmt(at_u)} | {later} |")
                if at_u is not None and at_end is not None:
                    short[m], long[m] = at_u[0], at_end[0]
            f = flips(short, long)
            lines += [
                "",
                f"Order at U: {' > '.join(sorted(short, key=short.get, reverse=True))}; at {end:,}: "
                f"{' > '.join(sorted(long, key=long.get, reverse=True))}.",
                "Flips: "
                + (
                    "; ".join(
                        f"{a} ahead of {b} by {g1:.2f} at U, behind by {g2:.2f} at the end"
                        for a, b, g1, g2 in f
                    )
                    if f
                    else "none (the ranking at quick's length is the ranking at the end)"
                )
                + ".",
            ]
    return "\n".join(lines) + "\n"


def finish(records, results, profile) -> None:
    reference = load_records(Path(results), profile, "moma_ppo", "table4b")
    out = Path(results) / profile / "moma_ppo" / f"{ITEM}_ranking.md"
    atomic_write_text(out, summary(records, reference))
    png = curves.plot(records, SCALE, table4b.T4B_ROWS, METHODS, out.with_name(f"{ITEM}_curves.png"))
    print(f"[moma_ppo/{ITEM}] wrote {out}" + (f" and {png}" if png else ""), flush=True)


def main(argv=None):
    a = table4b._args_of(argv)
    if a.profile == "full":  # other bad values: the shared parser's error
        print(
            f"baseline_length.py: error: --profile {a.profile!r}: this study measures quick's cut; allowed: "
            f"{', '.join(LENGTH_FACTOR)} (full already trains the code's 1e6 + 1 updates)",
            file=sys.stderr,
        )
        sys.exit(2)
    return table4b.run_ant_item(__doc__.splitlines()[0], ITEM, build_cells, finish, METHODS, argv)


if __name__ == "__main__":
    main()
