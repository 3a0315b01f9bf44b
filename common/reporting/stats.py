"""Aggregate statistics for "who beats whom", after rliable (Agarwal et al., NeurIPS 2021).

Shapes follow rliable: a method's scores are a matrix ``[R runs (seeds), T tasks]``; a single task
may be given as a 1-D array ``[R]``. Different methods may have different R (never different T).

- ``iqm``: interquartile mean = mean of the middle 50% of all scores (scipy's ``trim_mean(x, 0.25)``
  on the flattened matrix, exactly as rliable's ``aggregate_iqm``).
- ``stratified_bootstrap_ci``: percentile CI of a statistic, resampling runs with replacement
  independently within each task (rliable's ``StratifiedBootstrap``).
- ``probability_of_improvement``: P(X > Y) averaged over tasks, where per task it is the
  Mann-Whitney U statistic / (R_x R_y): ties count one half (rliable's ``probability_of_improvement``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def _as_matrix(x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"scores must be [runs] or [runs, tasks] with runs >= 1, got shape {a.shape}")
    return a


def iqm(scores) -> float:
    """Interquartile mean of all scores: drop floor(n/4) lowest and highest, average the rest."""
    x = np.sort(np.asarray(scores, dtype=float).ravel())
    n = x.size
    if n == 0:
        raise ValueError("iqm of an empty array")
    cut = int(0.25 * n)
    return float(x[cut : n - cut].mean())


def stratified_bootstrap_ci(
    scores,
    statistic: Callable[[np.ndarray], float] = iqm,
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic(matrix [R, T])``, resampling runs within each task."""
    m = _as_matrix(scores)
    rng = np.random.default_rng(seed)
    r, t = m.shape
    idx = rng.integers(0, r, size=(reps, r, t))  # [reps, R, T] run indices per task
    boot = np.take_along_axis(np.broadcast_to(m, (reps, r, t)), idx, axis=1)
    stats = np.array([statistic(b) for b in boot])
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _poi_task(x: np.ndarray, y: np.ndarray) -> float:
    gt = (x[:, None] > y[None, :]).mean()
    eq = (x[:, None] == y[None, :]).mean()
    return float(gt + 0.5 * eq)


def probability_of_improvement(x, y) -> float:
    """P(X > Y): per task the fraction of run pairs with x > y (ties 1/2), averaged over tasks."""
    mx, my = _as_matrix(x), _as_matrix(y)
    if mx.shape[1] != my.shape[1]:
        raise ValueError(f"x and y must cover the same tasks, got {mx.shape[1]} and {my.shape[1]}")
    return float(np.mean([_poi_task(mx[:, j], my[:, j]) for j in range(mx.shape[1])]))


def probability_of_improvement_ci(
    x, y, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(point, lo, hi): P(X > Y) with a stratified bootstrap CI (runs of x and y resampled apart)."""
    mx, my = _as_matrix(x), _as_matrix(y)
    point = probability_of_improvement(mx, my)
    rng = np.random.default_rng(seed)
    vals = np.zeros(reps)
    for j in range(mx.shape[1]):  # tasks; every bootstrap replicate at once
        bx = mx[rng.integers(0, mx.shape[0], size=(reps, mx.shape[0])), j]  # [reps, Rx]
        by = my[rng.integers(0, my.shape[0], size=(reps, my.shape[0])), j]  # [reps, Ry]
        gt = (bx[:, :, None] > by[:, None, :]).mean(axis=(1, 2))
        eq = (bx[:, :, None] == by[:, None, :]).mean(axis=(1, 2))
        vals += (gt + 0.5 * eq) / mx.shape[1]
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(vals, [alpha, 1.0 - alpha])
    return point, float(lo), float(hi)


def iqm_ci(scores, reps: int = 2000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(IQM, lo, hi) with a stratified bootstrap CI."""
    lo, hi = stratified_bootstrap_ci(scores, iqm, reps=reps, confidence=confidence, seed=seed)
    return iqm(scores), lo, hi


def pairwise_poi(
    scores: dict[str, Sequence[float] | np.ndarray], reps: int = 2000, seed: int = 0
) -> dict[tuple[str, str], tuple[float, float, float]]:
    """P(a > b) with CI for every ordered pair of methods in ``scores`` (method -> [R] or [R, T])."""
    names = list(scores)
    return {
        (a, b): probability_of_improvement_ci(scores[a], scores[b], reps=reps, seed=seed)
        for a in names
        for b in names
        if a != b
    }


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); nan when a side is constant."""

    def ranks(v):
        v = np.asarray(v, dtype=float)
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(1, len(v) + 1)
        for u in np.unique(v):  # average the ranks of ties
            r[v == u] = r[v == u].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])
