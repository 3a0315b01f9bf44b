"""Episode returns of a dataset: the return modes, their summary statistics, normalized scores."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

# Episode return of an episode's rewards [L, N]: "mean" = sum_t mean_i r (the default: the team
# return for shared rewards, OMAR's score on spread); "sum" = sum_t sum_i r; "agent0" = sum_t r_0
# (OMAR's score on tag / world, where agent 0's return is reported). A callable rewards[L, N] ->
# float is also accepted; the card then records "custom:<name>".
RETURN_MODES = ("mean", "sum", "agent0")

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def episode_return_fn(mode: str | Callable[[np.ndarray], float]) -> tuple[Callable[[np.ndarray], float], str]:
    """(fn(rewards [L, N]) -> float, name recorded in the card)."""
    if callable(mode):
        return mode, f"custom:{getattr(mode, '__qualname__', type(mode).__name__)}"
    if mode == "mean":
        return (lambda r: float(np.sum(np.mean(r, axis=1, dtype=np.float64)))), mode
    if mode == "sum":
        return (lambda r: float(np.sum(r, dtype=np.float64))), mode
    if mode == "agent0":
        return (lambda r: float(np.sum(r[:, 0], dtype=np.float64))), mode
    raise ValueError(f"unknown return mode {mode!r}; use one of {', '.join(RETURN_MODES)} or a callable")


def return_stats(returns: np.ndarray) -> dict[str, Any]:
    """Mean, std (population, ddof=0), min, max and quantiles of per-episode returns [E]."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "quantiles": {}}
    return {
        "mean": float(r.mean()),
        "std": float(r.std()),
        "min": float(r.min()),
        "max": float(r.max()),
        "quantiles": {str(q): float(np.quantile(r, q)) for q in QUANTILES},
    }


def normalize(score, refs) -> Any:
    """``100 * (score - S_random) / (S_expert - S_random)``.

    ``refs`` is a card (its ``ref_scores``), a Dataset, an EnvSpec, or ``{"random", "expert"}``.
    ``score`` may be a float or an array. Raises ValueError when the references are missing."""
    if hasattr(refs, "card") and not isinstance(refs, Mapping):  # a Dataset
        refs = refs.card
    elif hasattr(refs, "ref_scores") and not isinstance(refs, Mapping):  # EnvSpec
        refs = refs.ref_scores
    if isinstance(refs, Mapping) and "ref_scores" in refs:
        refs = refs["ref_scores"]
    if not isinstance(refs, Mapping) or refs.get("random") is None or refs.get("expert") is None:
        raise ValueError(
            f"cannot normalize: reference scores missing (need 'random' and 'expert', got {refs!r})"
        )
    lo, hi = float(refs["random"]), float(refs["expert"])
    if hi == lo:
        raise ValueError(f"cannot normalize: expert and random reference scores are equal ({hi})")
    if isinstance(score, (int, float)):
        return 100.0 * (float(score) - lo) / (hi - lo)
    return 100.0 * (np.asarray(score, dtype=np.float64) - lo) / (hi - lo)
