"""OTC's entry of ``python -m common.bench --all`` (a plugin of common/bench/suite.py): Table 2's measurement."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from common.bench.suite import Ctx, Row
from papers.otc import table2 as t2

__all__ = ["bench_rows"]


@contextlib.contextmanager
def _empty_data_root() -> Iterator[None]:
    """$OFFMARL_DATA pointed at an empty folder: OTC's Table 2 then times random tensors of its dataset's shapes
    (an update's time does not depend on the values) and never reads the user's cache."""
    old = os.environ.get("OFFMARL_DATA")
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        os.environ["OFFMARL_DATA"] = tmp
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("OFFMARL_DATA", None)
            else:
                os.environ["OFFMARL_DATA"] = old


def bench_rows(ctx: Ctx) -> list[Row]:
    """OTC Table 2's measurement (papers/otc/table2.py ``measure``): a fine-tuning update with d_e's and d_q's
    prioritized sampling against plain BCQ, interleaved in rotated order; fewer updates than the table's 5 x 500."""
    cfg = t2.timing_config("smoke" if ctx.quick else "full")  # full: Table 3's sizes (quick's are the same)
    cfg["timing"] = (
        {"warmup": 2, "reps": 2, "updates": 3} if ctx.quick else {"warmup": 10, "reps": 5, "updates": 50}
    )
    with _empty_data_root():
        m = t2.measure(cfg, 0, ctx.device)
    rows = []
    for method in ("bcq_otc_de", "bcq_otc_dq"):
        rows.append(
            Row(
                f"OTC update {method} (HalfCheetah 2x3, batch {cfg['otc']['batch_size']})",
                1e3 / m["ms"][method],
                "updates/s",
                None,
                m["ratio_to_bcq"][method],
                "plain BCQ update (time ratio: > 1 is slower; paper 1.22 / 1.19)",
            )
        )
    return rows
