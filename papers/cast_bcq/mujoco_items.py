"""What CAST-BCQ's three MaMuJoCo items (Figure 4, Table 2, Figure 6) share: their cells, their entry point with
the grid filters ``--env / --dataset / --method``, the seed means their claims read, and the curve panels.

A claim is checked only on its complete grid: the cells it reads (``Check.grid``), each with a record for every seed of
the profile; otherwise the script says which of its cells are missing and writes no verdict, so a partial run never
reads as "does not hold", and a claim whose cells are all run does not wait for the rest of the item (Table 2's
'mixed' claims are judged before its 'medium' / 'expert' rows exist).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from common.reporting.figures import figure_after, finite_seeds, missing_cells, seed_means, write_claims
from common.reporting.plotting import plot_curves
from common.running.cli import grid_filters
from common.running.experiment import Cell
from papers.cast_bcq import config as C
from papers.cast_bcq.jobs import MUJOCO_ITEMS, mujoco_config, mujoco_job, run_item
from papers.cast_bcq.published import CLAIMS

LABELS = {"bcq": "BCQ", "i_bcq": "I-BCQ", "mabcq": "MABCQ", "icq_ma": "ICQ-MA", "cast_bcq": "CAST-BCQ (ours)",
          "cast_bcq_wo_csaa": "ours w/o CSAA", "cast_bcq_wo_st": "ours w/o ST", "cast_bcq_wo_cd": "ours w/o CD"}
SHORT = {e: e.split("/")[1] for e in C.MUJOCO_ENVS}  # "halfcheetah-2x3", ...


def cells(item: str, profile, datasets: Sequence[str] | None, methods: Sequence[str]) -> list[Cell]:
    """The item's grid: env x method (datasets None: the 'mixed' data, keys without 'dataset') or
    env x dataset x method (Table 2)."""
    if datasets is None:
        return [Cell("cast_bcq", item, {"env": e, "method": m}, mujoco_config(profile, e, "mixed", m))
                for e in C.MUJOCO_ENVS for m in methods]
    return [Cell("cast_bcq", item, {"env": e, "dataset": d, "method": m}, mujoco_config(profile, e, d, m))
            for d in datasets for e in C.MUJOCO_ENVS for m in methods]


def run(description: str, item: str, build_cells: Callable, finish: Callable, methods: Sequence[str],
        datasets: Sequence[str] | None, argv=None):
    """common.running.cli.main for a MaMuJoCo item: grid filters, runs copied from the other MaMuJoCo items when their
    config and seed are the same, and ``finish(records, results, profile)`` after a clean run."""
    options: dict[str, Any] = {"env": list(C.MUJOCO_ENVS), "method": list(methods)}
    if datasets is not None:
        options["dataset"] = list(datasets)
    return run_item(description, item, build_cells, mujoco_job, argv=argv, reuse_from=MUJOCO_ITEMS,
                    after=figure_after("cast_bcq", item, finish), **grid_filters(options, item))


def finals(records: Sequence[Mapping], **keys: Any) -> tuple[float | None, int]:
    """(mean over seeds of the final evaluation score, number of seeds) of the cell with ``keys``."""
    mean, _, n = seed_means(records, "score", **keys)
    return mean, n


Verdict = tuple[bool, str]
# a claim's check: the cells it reads (key dicts) and its judge, records -> (holds, evidence)
Check = tuple[list[dict[str, Any]], Callable[[Sequence[Mapping]], Verdict]]


def grid_of(envs: Sequence[str], methods: Sequence[str], datasets: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The cells env x method (x dataset) as key dicts, in the items' key order."""
    if datasets is None:
        return [{"env": e, "method": m} for e in envs for m in methods]
    return [{"env": e, "dataset": d, "method": m} for d in datasets for e in envs for m in methods]


def judge_all(checks: Mapping[str, Check], records: Sequence[Mapping]) -> dict[str, Verdict]:
    """Every claim's verdict on ``records`` (which must hold all of its cells)."""
    return {cid: judge(records) for cid, (_, judge) in checks.items()}


def write_verdicts(records: Sequence[Mapping], results: Path, profile: str, item: str,
                   checks: Mapping[str, Check]) -> dict[str, Verdict | tuple[None, str]]:
    """Write the verdict of each claim of ``item`` whose cells all have the profile's seeds with a finite final score;
    the others stay not checked, with the cells they miss printed. Returns what was judged."""
    from common.running.profiles import get_profile

    n_seeds = get_profile(profile, C.PROFILE_OVERRIDES).n_seeds
    out: dict[str, Verdict | tuple[None, str]] = {}
    for cid, (grid, judge) in checks.items():
        missing = missing_cells(records, grid, n_seeds, finite_seeds)
        out[cid] = judge(records) if not missing else (
            None, f"{len(missing)} of its {len(grid)} cells incomplete: {', '.join(missing[:6])}"
                  f"{' ...' if len(missing) > 6 else ''}")
    write_claims(results, profile, "cast_bcq", item, out, CLAIMS)
    return out


def curve_panels(records: Sequence[Mapping], out: Path, item: str, title: str, **keys: Any) -> None:
    """One PNG per env (``<item>_<env>.png``): every method's evaluation curve, mean ± std over seeds."""
    for env in C.MUJOCO_ENVS:
        recs = [r for r in records if (r.get("keys") or {}).get("env") == env
                and all((r.get("keys") or {}).get(k) == v for k, v in keys.items())]
        if not recs:
            continue
        png = plot_curves(recs, out / f"{item}_{SHORT[env]}.png", ["method"], "score", f"{title}: {SHORT[env]}")
        print(f"[cast_bcq/{item}] wrote {png}", flush=True)


def describe(values: Mapping[str, float | None]) -> str:
    """'I-BCQ 402.8, CAST-BCQ (ours) 3077.9' for a dict method -> value."""
    return ", ".join(f"{LABELS.get(m, m)} {'n/a' if v is None else f'{v:.1f}'}" for m, v in values.items())
