"""``python -m common.bench --all``: every paper's hot paths in one run, each against what it is compared with in
that same run, the matmul peak read before, between and after them (a median of >= 30 readings, with its spread),
and the page ``results/bench/<machine>.md`` written from the run (machine, versions, load before and after).

``--quick`` runs every entry at tiny sizes (the test's plumbing check, seconds): its rates say nothing about speed.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from common.bench import itd3 as I
from common.bench.core import REPO, Peak, machine_info, machine_slug

# --quick: sizes that only check the plumbing
TINY: dict[str, Any] = dict(n_seeds=2, n_agents=2, obs_dim=4, act_dim=2)
TINY_CFG = I.ITD3Config(
    hidden=8, batch_size=16, cql_n_actions=3, omar_iters=2, omar_n_samples=4, omar_n_elites=2
)
TINY_MUJOCO_CFG = replace(TINY_CFG, cql_proposal="mujoco", omar_sampler="cem")
SAC_TINY: dict[str, Any] = dict(hidden=(16, 16), batch_size=32)


@dataclass
class Row:
    """One hot path's line: its rate, GFLOP/s (None where FLOPs are not counted), and a ratio with what it is
    against (both measured in this run)."""

    path: str
    rate: float
    unit: str
    gflops: float | None
    ratio: float | None
    against: str


@dataclass
class Ctx:
    quick: bool
    device: str
    baseline: str | None = None

    def n(self, full: int) -> int:
        """Updates or rounds: ``full``, or 1 under --quick."""
        return 1 if self.quick else full


def itd3_rows(ctx: Ctx) -> list[Row]:
    """(a) OMAR, MA-CQL, MA-TD3+BC at MPE size and (b) OMAR at MuJoCo size: batched vs the per-member loop."""
    rows = []
    for algo in I.ALGOS:
        r = I.compare(
            I.algo_cfg(TINY_CFG if ctx.quick else I.MPE_CFG, algo),
            **(TINY if ctx.quick else I.MPE),
            n_updates=ctx.n(3),
            reps=ctx.n(3),
            unchunked=False,
            device=ctx.device,
        )
        size = "tiny" if ctx.quick else "MPE"
        rows.append(
            Row(
                f"{algo} update, {size} size, {int(r['members'])} members",
                r["batched_updates_per_s"],
                "updates/s",
                r["batched_gflops"],
                r["ratio_vs_loop"],
                "per-member reference loop",
            )
        )
    r = I.compare(
        I.algo_cfg(TINY_MUJOCO_CFG if ctx.quick else I.MUJOCO_CFG, "OMAR"),
        **(TINY if ctx.quick else I.MUJOCO),
        n_updates=ctx.n(2),
        reps=ctx.n(3),
        unchunked=False,
        device=ctx.device,
    )
    size = "tiny" if ctx.quick else "MuJoCo"
    rows.append(
        Row(
            f"OMAR update, {size} size, {int(r['members'])} members",
            r["batched_updates_per_s"],
            "updates/s",
            r["batched_gflops"],
            r["ratio_vs_loop"],
            "per-member reference loop",
        )
    )
    return rows


def sac_rows(ctx: Ctx) -> list[Row]:
    """SAC (rlkit 2 x 256, batch 256, HalfCheetah's obs 17 / act 6): 4 members batched vs a loop of 4 learners."""
    from common.behavior.sac import SACConfig
    from common.bench.sac import behavior_steps, compare_sac

    cfg = SACConfig(**SAC_TINY, learning_starts=32) if ctx.quick else None
    r = compare_sac(4, 17, 6, n_updates=ctx.n(10), reps=ctx.n(3), device=ctx.device, cfg=cfg)
    size = "tiny" if ctx.quick else "rlkit"
    b = behavior_steps("hopper", 50 if ctx.quick else 3_000, ctx.device, cfg)
    return [
        Row(
            f"SAC update, {size} size, 4 members",
            r["batched_updates_per_s"],
            "updates/s",
            r["batched_gflops"],
            r["ratio_vs_loop"],
            "loop over 4 one-member learners",
        ),
        Row(
            f"SAC behavior step (Hopper: env step + action + update), {size} size, 1 member",
            b["steps_per_s"],
            "steps/s",
            None,
            b["steps_per_s"] / b["updates_per_s"],
            f"its updates alone ({b['updates_per_s']:.3g} updates/s, the run's own clocks; issue 63's target: "
            ">= 85 steps/s)",
        ),
    ]


def members_rows(ctx: Ctx) -> list[Row]:
    """(c) cells as members: OMAR runs (3 agents, particle-world size) stacked vs a loop over them."""
    batch = 16 if ctx.quick else (64 if ctx.device == "cpu" else 1024)
    cfg = replace(I.algo_cfg(TINY_CFG if ctx.quick else I.MPE_CFG, "OMAR"), batch_size=batch)
    size = dict(n_agents=3, obs_dim=4, act_dim=2) if ctx.quick else I.MEMBERS_SIZE
    counts = (6,) if ctx.quick else ((15, 150) if ctx.device == "cpu" else I.MEMBER_COUNTS)
    rows = []
    for m in counts:
        r = I.compare_members(m, cfg, **size, n_updates=ctx.n(2), reps=ctx.n(2), device=ctx.device)
        rows.append(
            Row(
                f"members as cells: {m} members ({int(r['runs'])} OMAR runs, batch {batch})",
                r["stacked_updates_per_s"],
                "updates of all runs/s",
                r["stacked_gflops"],
                r["ratio_vs_loop"],
                f"loop over the {int(r['runs'])} runs alone",
            )
        )
    return rows


def baseline_rows(ctx: Ctx, peak: Peak) -> list[Row]:
    """The current tree against commit ``ctx.baseline`` (common/bench/baseline.py): SAC at 1 and 4 members, OMAR at
    MPE size, MOMA-PPO's quick iteration and CAST-BCQ's quick update (``baseline.TREE_PATHS``)."""
    from common.bench.baseline import TREE_PATHS, compare_trees

    assert ctx.baseline is not None, "baseline rows need a baseline commit"
    rows = []
    for tp in TREE_PATHS:
        r = compare_trees(
            tp.path,
            ctx.baseline,
            tp.sized(ctx.quick),
            n_calls=ctx.n(tp.calls),
            reps=ctx.n(14) + 1,
            device=ctx.device,
            between=lambda: peak.read(1),
            builder=tp.builder,
        )
        rows.append(
            Row(
                f"{tp.label(ctx.quick)}: this tree",
                r["new_per_s"],
                f"{tp.unit}s/s",
                r["new_per_s"] * r["new_gflop_per_call"],
                r["ratio"],
                f"commit {ctx.baseline} ({r['old_per_s']:.3g} {tp.unit}s/s), worker processes interleaved",
            )
        )
    return rows


# The papers' entries are plugins: ``papers/<paper>/bench.py`` defines ``bench_rows(ctx) -> list[Row]``, loaded by
# name when ``--all`` runs (common never imports papers: the layers are envs <- common <- papers).
PAPER_ENTRIES = ("moma_ppo", "cast_bcq", "otc")


def paper_entry(paper: str) -> Callable[[Ctx], list[Row]]:
    """``bench_rows`` of ``papers/<paper>/bench.py`` (a plugin, found by name)."""
    import importlib

    return importlib.import_module(f"papers.{paper}.bench").bench_rows


ENTRIES: dict[str, Callable[[Ctx], list[Row]]] = {
    "itd3": itd3_rows,
    "sac": sac_rows,
    "members": members_rows,
    **{
        p: (lambda ctx, p=p: paper_entry(p)(ctx))  # type: ignore[misc]  # lambda's default arg: untyped
        for p in PAPER_ENTRIES
    },
}


def run_suite(
    ctx: Ctx, entries: tuple[str, ...] = tuple(ENTRIES), log: Callable[[str], None] = print
) -> dict:
    """Every entry of ``entries`` (and the baseline's rows when ``ctx.baseline``), the peak read before (10), between
    (3 after each entry) and after (10) them; an entry that fails gives a line saying why, not a crash."""
    t0 = time.perf_counter()
    before = machine_info(ctx.device)
    peak = Peak(ctx.device).read(3 if ctx.quick else 10)
    rows: list[Row] = []
    failed: dict[str, str] = {}
    todo: list[tuple[str, Callable[[], list[Row]]]] = [(e, lambda e=e: ENTRIES[e](ctx)) for e in entries]  # type: ignore[misc]  # lambda's default arg: untyped
    if ctx.baseline:
        todo.append((f"baseline {ctx.baseline}", lambda: baseline_rows(ctx, peak)))
    for name, fn in todo:
        t = time.perf_counter()
        try:
            new = fn()
        except Exception as e:  # noqa: BLE001 - one entry's failure is reported on the page, the others still run
            failed[name] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
            traceback.print_exc(file=sys.stderr)
            new = []
        rows += new
        log(
            f"{name}: {len(new)} row(s) in {time.perf_counter() - t:.1f} s"
            + (f"; FAILED {failed[name]}" if name in failed else "")
        )
        peak.read(1 if ctx.quick else 3)
    peak.read(3 if ctx.quick else 10)
    after = machine_info(ctx.device)
    return {
        "before": before,
        "after": after,
        "peak": peak,
        "rows": rows,
        "failed": failed,
        "wall_s": time.perf_counter() - t0,
        "quick": ctx.quick,
    }


def _fmt(x: float | None, spec: str, suffix: str = "") -> str:
    return "–" if x is None else f"{x:{spec}}{suffix}"


def table(rows: list[Row], peak: float) -> str:
    """The github-markdown table: hot path | rate | GFLOP/s | % of peak | ratio | against."""
    from tabulate import tabulate

    body = [
        [
            r.path,
            f"{r.rate:.3g} {r.unit}",
            _fmt(r.gflops, ".1f"),
            _fmt(None if r.gflops is None else 100 * r.gflops / peak, ".0f", " %"),
            _fmt(r.ratio, ".2f", "×"),
            r.against,
        ]
        for r in rows
    ]
    return tabulate(
        body,
        headers=["hot path", "rate", "GFLOP/s", "% of peak", "ratio", "against (same run)"],
        tablefmt="github",
        disable_numparse=True,
    )


def render(res: dict, command: str) -> str:
    """The page of one run: where and when it ran, the peak with its spread, the table, what failed."""
    b, a, peak = res["before"], res["after"], res["peak"]
    gpu = f"; GPU {b['gpu']}" if b["gpu"] else ""
    lines = [
        f"# Benchmark: {b['gpu'] or b['cpu']}",
        "",
        f"Written by `{command}` ({res['wall_s']:.0f} s); not edited by hand. Every ratio below was measured in "
        "this run, its two sides interleaved round by round (medians of the rounds); % of peak = GFLOP/s "
        "(torch's FLOP counter) over the median of the matmul readings taken before, between and after the "
        "hot paths. Method: common/bench/__init__.py.",
        "",
    ]
    if res["quick"]:
        lines += [
            "**--quick: tiny sizes, one round: a check of the plumbing, the rates say nothing about speed.**",
            "",
        ]
    s = peak.spread()
    lines += [
        f"- machine: {b['cpu']} ({b['logical_cores']} logical cores){gpu}; device {b['device']}, "
        f"{b['threads']} torch thread(s)",
        f"- python {b['python']}, torch {b['torch']}, numpy {b['numpy']}",
        f"- date {b['date']} to {a['date']}; commit {b['commit']}",
        f"- load average (1, 5, 15 min): {b['load']} before, {a['load']} after (on a busy machine the absolute "
        "rates are lower, the same-run ratios much less so)",
        f"- {peak.describe()}; the spread is the load's swings: a hot path timed in a calmer moment than "
        "the median reading can show more than 100 %",
        "",
        table(res["rows"], s["median"]),
        "",
    ]
    for name, why in res["failed"].items():
        lines.append(f"- **{name} failed**: {why}")
    return "\n".join(lines).rstrip() + "\n"


def write_page(res: dict, command: str, out_dir: str | os.PathLike | None = None) -> os.PathLike:
    """results/bench/<machine>.md (``-quick`` appended under --quick), written atomically."""
    from pathlib import Path

    from common.running.atomic import atomic_write_text

    out = Path(out_dir) if out_dir is not None else REPO / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{machine_slug(res['before'])}{'-quick' if res['quick'] else ''}.md"
    atomic_write_text(path, render(res, command))
    return path
