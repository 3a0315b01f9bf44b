"""OTC's adaptive exponent alpha_i^k of Eq. (4) (Jiang & Lu, AAAI 2023, Sec. 3.4), per member: ``AdaptiveAlpha``,
moved out of papers/otc/otc.py (the sampler core, whose module docstring states Eq. (4) with Eq. (1)-(3) and lists
the decisions where the paper is silent) and re-exported there. "[P]" the paper, "[I]" ours (papers/otc/README.md
lists them).

Shapes: M members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from papers.otc.otc_config import ALPHA_MODES

__all__ = ["AdaptiveAlpha"]


class AdaptiveAlpha:
    """alpha_i^k per member [P OTC Sec. 3.4 / Eq. (4)]: alpha^1 = alpha^0, and for k > 1
    alpha^k = alpha^{k-1} * DD^k / DD^{k-1}, where DD^k = E_{B^k} d(s', s'* of the best match in D^k) is the
    expected similarity at deployment k. mode "fixed": alpha^k = alpha^0 (the ablation), DD still recorded.

    ``step(dd_k)`` is called once per deployment k = 1, 2, ... with DD^k [M] and returns alpha^k [M].
    [I] DD^k is estimated by the caller at the start of phase k, with the current model and before any
    update (the mean of the per-transition similarity over ``OTCConfig.n_alpha_draws`` (B, D) draws): alpha^k
    is needed before phase k. [I] alpha keeps its value where DD^{k-1} is 0 or not finite, or DD^k is not
    finite; no clipping. The state is plain floats (JSON-friendly) and float64 internally."""

    def __init__(self, n_members: int, alpha0: float = 1.0, mode: str = "adaptive"):
        if mode not in ALPHA_MODES:
            raise ValueError(f"mode={mode!r} is not allowed; choose one of {list(ALPHA_MODES)}")
        self.n_members, self.alpha0, self.mode = int(n_members), float(alpha0), mode
        self.alpha = torch.full((self.n_members,), self.alpha0, dtype=torch.float64)  # [M] current alpha^k
        self.alphas: list[Tensor] = []  # alpha^1 .. alpha^k, each [M]
        self.estimates: list[Tensor] = []  # DD^1 .. DD^k, each [M]

    @property
    def k(self) -> int:
        """Deployments seen so far."""
        return len(self.estimates)

    def step(self, dd: Tensor | Sequence[float] | float) -> Tensor:
        """Records DD^k [M] (or a scalar for all members) and returns alpha^k [M] (float64, a copy)."""
        dd = torch.as_tensor(dd, dtype=torch.float64).detach().cpu().expand(self.n_members).clone()
        if self.estimates and self.mode == "adaptive":
            prev = self.estimates[-1]
            ok = torch.isfinite(prev) & (prev != 0) & torch.isfinite(dd)
            self.alpha = torch.where(
                ok, self.alpha * dd / torch.where(ok, prev, torch.ones_like(prev)), self.alpha
            )
        self.estimates.append(dd)
        self.alphas.append(self.alpha.clone())
        return self.alpha.clone()

    def state_dict(self) -> dict[str, Any]:
        return {
            "n_members": self.n_members,
            "alpha0": self.alpha0,
            "mode": self.mode,
            "alpha": self.alpha.tolist(),
            "alphas": [a.tolist() for a in self.alphas],
            "estimates": [d.tolist() for d in self.estimates],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        mine = (self.n_members, self.alpha0, self.mode)
        theirs = (int(state["n_members"]), float(state["alpha0"]), state["mode"])
        if mine != theirs:
            raise ValueError(
                f"checkpoint (n_members, alpha0, mode) = {theirs}, this AdaptiveAlpha has {mine}"
            )
        f64 = dict(dtype=torch.float64)
        self.alpha = torch.tensor(state["alpha"], **f64)
        self.alphas = [torch.tensor(a, **f64) for a in state["alphas"]]
        self.estimates = [torch.tensor(d, **f64) for d in state["estimates"]]
