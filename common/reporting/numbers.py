"""Our numbers in the paper's terms, and both as the paper prints them: the spread of our seeds of the item's kind
(std or standard error), the decimals the paper prints, and the formats of published | ours | Δ cells
(common.reporting.published says how an item's scale and spread are read)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from common.reporting.published import SPREADS, Entry, Item
from common.reporting.typed import one_of

SEM_DDOF = 1  # the standard error uses the sample std (scipy.stats.sem's default)


def spread_of(values: Sequence[float], kind: str) -> float | None:
    """The spread of ``values`` of ``kind``: std (ddof 0), sem (ddof 1 over sqrt(n); None for n < 2);
    ``none`` gives the std (what our column shows where the paper prints no spread)."""
    one_of("spread_of", "kind", kind, SPREADS)
    a = np.asarray(values, dtype=float)
    if kind == "sem":
        return float(a.std(ddof=SEM_DDOF) / math.sqrt(a.size)) if a.size >= 2 else None
    return float(a.std())


def fmt(x: float | None, p: int) -> str:
    return "—" if x is None else f"{x:.{p}f}"


def fmt_published(mean: float, err: float | None, p: int, spec: Item) -> str:
    """The paper's value as it prints it: ``114.9 ± 2.6``, ``0.55 ± 0.11 (se)``, ``55.0 ± 11.0%``."""
    if err is None:
        return f"{fmt(mean, p)}{spec.unit}"
    return f"{fmt(mean, p)} ± {fmt(err, p)}{spec.unit}" + (" (se)" if spec.spread == "sem" else "")


def fmt_ours(mean: float, err: float | None, n: int, p: int, spec: Item) -> str:
    """Our value beside it: ``12.0 ± 1.6 (3)`` (n seeds), ``0.60 ± 0.06 (se, 3)``, ``60.0 ± 8.2% (3)``."""
    tag = "se, " if spec.ours_spread == "sem" else ""
    return f"{fmt(mean, p)} ± {fmt(err, p)}{spec.unit} ({tag}{n})"


def fmt_delta(delta: float, p: int, spec: Item) -> str:
    """Δ ours − published: ``+1.0``; percentage points for a percent item: ``+5.0 pp``."""
    return f"{delta:+.{p}f}" + (" pp" if spec.scale == "percent" else "")


def describe(spec: Item) -> tuple[str, str, str]:
    """The header's words: our cell (``mean ± std``), the paper's (``mean ± se over 5 seeds``), and a note
    on the scale ("" for raw and normalized numbers, which are shown as recorded)."""
    ours = "mean ± se" if spec.ours_spread == "sem" else "mean ± std"
    pub = {"std": "mean ± std", "sem": "mean ± se", "none": "mean"}[spec.spread]
    pub += f" over {spec.seeds} seeds" if spec.seeds else ""
    notes: dict[str | None, str] = {
        "percent": " · in %: ours are the records' fractions × 100, Δ in percentage points (pp)",
        "fraction": " · fractions (0..1)",
    }
    note = notes.get(spec.scale, "")
    return ours, pub, note


def infer_precision(entries: Sequence[Entry | Mapping[str, Any]], default: int = 1) -> int:
    """Decimals as printed by the paper: the most decimals among published means (at most 3)."""
    best = None
    for e in entries:
        m = e.mean if isinstance(e, Entry) else e.get("mean")
        if isinstance(m, float):
            dec = len(repr(m).split(".")[1]) if "." in repr(m) and "e" not in repr(m) else 0
            best = max(best or 0, min(dec, 3))
        elif isinstance(m, int) and not isinstance(m, bool):
            best = max(best or 0, 0)
    return default if best is None else best
