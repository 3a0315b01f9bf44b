"""How CAST-BCQ's SMAX learners act (papers/cast_bcq/smac.py's ``SmaxLearner``): the code's epsilon-greedy selector
over the available actions around the learner's greedy action, and the epsilon schedules of training (the policies'
floor) and test, read at the learner's update count on the code's clock."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from papers.cast_bcq.smac_config import TRAIN_EPSILON
from papers.cast_bcq.smac_losses import epsilon_at

__all__ = ["SmaxActing"]


class SmaxActing:
    """The acting methods of ``SmaxLearner`` (which holds cfg, step, device, K and ``_greedy``)."""

    def train_epsilon(self) -> float:
        """The policy's training-time epsilon floor now (``epsilon_at`` with TRAIN_EPSILON; 0 when train_epsilon is
        False or the method has no policy)."""
        on = self.cfg.train_epsilon and self.cfg.method in TRAIN_EPSILON and not self.cfg.paper_cast
        return epsilon_at(self.cfg.method, self.step * self.cfg.schedule_scale, TRAIN_EPSILON) if on else 0.0

    def test_epsilon(self) -> float:
        """The test-time epsilon now (``epsilon_at`` at this learner's update count), 0 with test_epsilon False."""
        return (
            epsilon_at(self.cfg.method, self.step * self.cfg.schedule_scale) if self.cfg.test_epsilon else 0.0
        )

    @torch.no_grad()
    def act(
        self,
        obs,
        avail,
        epsilon: float = 0.0,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
    ) -> np.ndarray:
        """Masked actions [S, E, N] (int64) for obs [S, E, N, O] and avail [S, E, N, K] (numpy or torch): greedy
        (``_greedy``), each replaced with probability ``epsilon`` by a uniform available action (the code's
        epsilon-greedy selector; ``generator`` draws both; a list of S generators: seed s's draws from its own, the
        very draws a learner of seed s alone makes with it, e.g. in a stack of runs)."""
        o = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
        av = torch.as_tensor(np.asarray(avail), dtype=torch.bool, device=self.device)
        S, E, N = o.shape[:3]
        om = o.transpose(1, 2).reshape(S * N, E, -1)  # [M, E, O]
        avm = av.transpose(1, 2).reshape(S * N, E, -1)
        a = self._greedy(om, avm)
        if epsilon > 0:
            gens = generator if isinstance(generator, (list, tuple)) else None
            if gens is not None and len(gens) != S:
                raise ValueError(
                    f"act: {len(gens)} generators for {S} seeds; give one per seed, or one for all"
                )
            parts = (
                [(avm, a, generator)]
                if gens is None
                else [(avm[s * N : (s + 1) * N], a[s * N : (s + 1) * N], g) for s, g in enumerate(gens)]
            )
            a = torch.cat([self._epsilon_greedy(av_s, a_s, epsilon, g) for av_s, a_s, g in parts])
        return a.reshape(S, N, E).transpose(1, 2).cpu().numpy()

    def _epsilon_greedy(self, avail: Tensor, greedy: Tensor, epsilon: float, generator) -> Tensor:
        """Each greedy action [m, E] replaced with probability ``epsilon`` by a uniform available one (avail
        [m, E, K]): a multinomial draw for every entry, then a uniform, both from ``generator``."""
        rand = torch.multinomial(avail.reshape(-1, self.K).float(), 1, generator=generator).reshape(
            greedy.shape
        )
        pick = torch.rand(greedy.shape, generator=generator, device=self.device) < epsilon
        return torch.where(pick, rand, greedy)
