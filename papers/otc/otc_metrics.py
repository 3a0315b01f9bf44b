"""OTC's record metric and the tabular check of Eq. (2): the improvement (%) of S(pi^K) over S(pi^0) (Table 1), the
flag of a near-zero S(pi^0), and the modified dynamics P~_B with KL(P_D || P~_B) computed directly and by Eq. (2)
(a test of the paper's claim, not training). Paper: Jiang & Lu, AAAI 2023, Sec. 3.2 and 4.2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "improvement_percent",
    "improvement_of_last",
    "near_zero_baseline",
    "ModifiedDynamics",
    "kl_modified_dynamics",
]


def improvement_percent(s0: float | np.ndarray, s_k: float | np.ndarray) -> float | np.ndarray:
    """Table 1's improvement [P OTC Sec. 4.2: "improvement (%) at the last deployment compared with the
    offline-trained policies"]: 100 (S_K - S_0) / |S_0|, elementwise. [I] |S_0| in the denominator keeps the
    sign meaningful when S_0 < 0 (random datasets). S_0 = 0 gives +-inf or nan (see ``near_zero_baseline``)."""
    s0, s_k = np.asarray(s0, dtype=np.float64), np.asarray(s_k, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 * (s_k - s0) / np.abs(s0)
    return float(out) if out.ndim == 0 else out


def improvement_of_last(k: int) -> Callable[[Any], float | None]:
    """[I] Another reading of a Table 1 run: ``improvement_percent`` of the mean S(pi^k) over the last ``k``
    deployments (not S(pi^K) alone) over S(pi^0), from the record's curve (point 0 = pi^0). One evaluation of one
    policy is noisy (BCQ's own offline checkpoints 40,000 updates apart read +2.9 +- 35.0 % on Hopper
    medium-replay, papers/otc/README.md), so a mean over the last deployments shows where a run ended with less
    noise. None for a record without k + 1 curve points (a claim line, a run that did not finish)."""

    def of(record: Any) -> float | None:
        s = [float(p["score"]) for p in (getattr(record, "curve", None) or []) if p.get("score") is not None]
        if len(s) < k + 1:
            return None
        return float(improvement_percent(s[0], np.mean(s[-k:])))

    return of


def near_zero_baseline(
    s0: float | np.ndarray, ref_min: float, ref_max: float, frac: float = 0.01
) -> bool | np.ndarray:
    """[I] Flag for the report: |S_0| < frac * (ref_max - ref_min) (default 1 % of the dataset's reference range,
    e.g. D4RL's random..expert), where the improvement % of ``improvement_percent`` is unstable."""
    out = np.abs(np.asarray(s0, dtype=np.float64)) < frac * abs(float(ref_max) - float(ref_min))
    return bool(out) if out.ndim == 0 else out


@dataclass
class ModifiedDynamics:
    """Result of ``kl_modified_dynamics``: the modified P~_B [S], KL(P_D || P_B), KL(P_D || P~_B) computed
    directly, and the same KL by the right-hand side of Eq. (2)."""

    p_tilde: np.ndarray
    kl_before: float
    kl_after: float
    kl_eq2: float


def kl_modified_dynamics(
    p_b: np.ndarray, p_d: np.ndarray, f: Callable[[np.ndarray], np.ndarray], d: np.ndarray
) -> ModifiedDynamics:
    """The modified dynamics and Eq. (2) on one (s, a_i) of a tabular problem [P OTC Sec. 3.2 / Eq. (2)]:
        g(s') = sum_s^ P_D(s^) f(d(s', s^)),  Z = sum_s' P_B(s') g(s'),  P~_B(s') = P_B(s') g(s') / Z,
        KL(P_D || P~_B) = KL(P_D || P_B) - sum_s' P_D(s') log(g(s') / Z)                         (Eq. 2)
    p_b, p_d [S] (P_D > 0 where P_B > 0 is not required, but KL needs P~_B > 0 where P_D > 0); f maps the
    distance matrix elementwise to acceptance values >= 0; d [S, S] = d(s', s^)."""
    p_b, p_d = np.asarray(p_b, dtype=np.float64), np.asarray(p_d, dtype=np.float64)
    g = (np.asarray(f(np.asarray(d, dtype=np.float64)), dtype=np.float64) * p_d[None, :]).sum(axis=1)  # [S]
    z = float((p_b * g).sum())
    p_tilde = p_b * g / z

    def kl(p: np.ndarray, q: np.ndarray) -> float:
        s = p > 0
        return float((p[s] * np.log(p[s] / q[s])).sum())

    kl_before = kl(p_d, p_b)
    s = p_d > 0
    return ModifiedDynamics(
        p_tilde=p_tilde,
        kl_before=kl_before,
        kl_after=kl(p_d, p_tilde),
        kl_eq2=kl_before - float((p_d[s] * np.log(g[s] / z)).sum()),
    )
