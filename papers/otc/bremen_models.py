"""BREMEN's dynamics-model ensemble (papers/otc/bremen.py holds the learner and the sources): the data statistics of
B^0 (normalization, and the range that clips imagined outputs), the models' named loss (MSE in normalized units per
model), and ``BREMENModels``, a mixin of ``BREMEN``: the ensemble's forward pass, normalized targets, the chosen
model's prediction, its Adam step, the hold-out loss, and the early-stopping selection of each model's best
parameters.
Shapes: M members, E models per member, K = M x E models, B batch, n rows, H hold-out rows, T data rows, N agents,
O obs dim, A action dim, D = O + 1 (Delta o, then r).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from common.datasets.sampling import gather_members

STD_FLOOR = 1e-6  # a data std below this (a constant dim) normalizes by 1 instead


def model_loss(pred: Tensor, target: Tensor) -> Tensor:
    """The dynamics models' MSE in normalized units, per model: pred, target [K, B, D] (K = M x E models,
    D = O + 1: Delta o then r) -> [K] = mean_{B, D} (f(x) - y)^2. Sum over models before ``backward``."""
    return (pred - target).square().reshape(pred.shape[0], -1).mean(-1)


@torch.no_grad()
def data_stats(tensors: Mapping[str, Tensor], rows: int = 1 << 16) -> dict[str, Tensor]:
    """Per-agent statistics of B^0 in float64, summed over row chunks (no copy of the data):
    x_mean / x_std [N, O + A] of [o, a]; y_mean / y_std [N, O + 1] of [o' - o, r]; obs_lo / obs_hi [N, O] over
    o and o'; r_lo / r_hi [N]. A std below STD_FLOOR (a constant dim) is replaced by 1."""
    T = tensors["obs"].shape[0]
    acc: dict[str, Any] = {}
    for t0 in range(0, T, rows):
        # [t, N, O], [t, N, A]
        o, a = (
            tensors["obs"][t0 : t0 + rows].double(),
            tensors["actions"][t0 : t0 + rows].double(),
        )
        o2, r = tensors["next_obs"][t0 : t0 + rows].double(), tensors["rewards"][t0 : t0 + rows].double()
        x, y = torch.cat([o, a], -1), torch.cat([o2 - o, r.unsqueeze(-1)], -1)  # [t, N, O+A], [t, N, O+1]
        part = {
            "x1": x.sum(0),
            "x2": x.square().sum(0),
            "y1": y.sum(0),
            "y2": y.square().sum(0),
            "lo": torch.minimum(o.amin(0), o2.amin(0)),
            "hi": torch.maximum(o.amax(0), o2.amax(0)),
            "rlo": r.amin(0),
            "rhi": r.amax(0),
        }
        for k, v in part.items():
            if k not in acc:
                acc[k] = v
            elif k in ("lo", "rlo"):
                acc[k] = torch.minimum(acc[k], v)
            elif k in ("hi", "rhi"):
                acc[k] = torch.maximum(acc[k], v)
            else:
                acc[k] = acc[k] + v

    def mean_std(s1: Tensor, s2: Tensor) -> tuple[Tensor, Tensor]:
        mean = s1 / T
        std = (s2 / T - mean.square()).clamp(min=0.0).sqrt()
        return mean, torch.where(std < STD_FLOOR, torch.ones_like(std), std)

    (xm, xs), (ym, ys) = mean_std(acc["x1"], acc["x2"]), mean_std(acc["y1"], acc["y2"])
    return {
        "x_mean": xm,
        "x_std": xs,
        "y_mean": ym,
        "y_std": ys,
        "obs_lo": acc["lo"],
        "obs_hi": acc["hi"],
        "r_lo": acc["rlo"],
        "r_hi": acc["rhi"],
    }


class BREMENModels:
    """BREMEN's dynamics-model ensemble; reads the learner's models, statistics buffers, hold-out rows and data."""

    # ---- the models ---------------------------------------------------------------------------
    def _model_forward(self, obs: Tensor, act: Tensor, net: nn.Module | None = None) -> Tensor:
        """Every model's normalized prediction: obs [M, n, O], act [M, n, A] -> [M, E, n, O + 1]."""
        b, E = self.buffers, self.cfg.n_models
        x = (torch.cat([obs, act], -1) - b.x_mean[:, None]) / b.x_std[:, None]  # [M, n, O+A]
        M, n, D = x.shape
        y = (self.model if net is None else net)(x.unsqueeze(1).expand(M, E, n, D).reshape(M * E, n, D))
        return y.reshape(M, E, n, -1)

    def _targets(self, obs: Tensor, next_obs: Tensor, rewards: Tensor) -> Tensor:
        """Normalized targets [(o' - o), r]: [M, n, O], [M, n, O], [M, n] -> [M, n, O + 1]."""
        b = self.buffers
        return (torch.cat([next_obs - obs, rewards.unsqueeze(-1)], -1) - b.y_mean[:, None]) / b.y_std[:, None]

    def predict(self, obs: Tensor, act: Tensor, which: Tensor) -> tuple[Tensor, Tensor]:
        """(o', r) of member m's model ``which[m]`` [M] (only that one runs): obs [M, n, O], act [M, n, A] ->
        ([M, n, O], [M, n]), clipped to B^0's range when ``clip_to_data``."""
        b, O = self.buffers, self.obs_dim
        h = (torch.cat([obs, act], -1) - b.x_mean[:, None]) / b.x_std[:, None]  # [M, n, O+A]
        rows = torch.arange(self.n_members, device=self.device) * self.cfg.n_models + which  # [M] model slots
        last = len(self.model.layers) - 1
        for i, layer in enumerate(self.model.layers):  # EnsembleMLP's layers with the chosen members' weights
            h = torch.baddbmm(layer.bias[rows], h, layer.weight[rows])
            h = self.model.activation(h) if i < last else h
        y = h * b.y_std[:, None] + b.y_mean[:, None]  # [M, n, O+1]
        next_obs, r = obs + y[..., :O], y[..., O]
        if self.cfg.clip_to_data:
            next_obs = torch.maximum(torch.minimum(next_obs, b.obs_hi[:, None]), b.obs_lo[:, None])
            r = torch.maximum(torch.minimum(r, b.r_hi[:, None]), b.r_lo[:, None])
        return next_obs, r

    def model_step(self, batch: Mapping[str, Tensor]) -> Tensor:
        """One Adam step of all M x E models on ``batch`` (every model of member m on member m's rows) -> [M]."""
        obs, act = batch["obs"], batch["actions"]  # [M, B, O], [M, B, A]
        y = self._targets(obs, batch["next_obs"], batch["rewards"])  # [M, B, O+1]
        pred = self._model_forward(obs, act)  # [M, E, B, O+1]
        M, E = pred.shape[:2]
        # [M x E]
        loss = model_loss(
            pred.reshape(M * E, *pred.shape[2:]), y.unsqueeze(1).expand_as(pred).reshape(M * E, *y.shape[1:])
        )
        self.model_opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.model_opt.step()
        return loss.detach().view(M, E).mean(-1)

    @torch.no_grad()
    def holdout_loss(self, net: nn.Module | None = None, rows: int = 1024) -> Tensor:
        """Normalized MSE [M x E] of every model on its seed's hold-out rows (of the attached data)."""
        data, H = self._attached(), self.holdout.shape[1]
        idx = self.holdout[self.member_seed]  # [M, H]
        total = torch.zeros(self.n_members * self.cfg.n_models, dtype=self.dtype, device=self.device)
        for h0 in range(0, H, rows):
            b = gather_members(data, idx[:, h0 : h0 + rows], self.agents)
            b = {k: v.to(self.dtype) for k, v in b.items()}
            pred = self._model_forward(b["obs"], b["actions"], net)  # [M, E, h, O+1]
            y = self._targets(b["obs"], b["next_obs"], b["rewards"]).unsqueeze(1)  # [M, 1, h, O+1]
            total += (pred - y).square().mean(-1).sum(-1).reshape(-1)
        return total / H

    @torch.no_grad()
    def select_models(self) -> Tensor:
        """Keep each model's parameters where its hold-out loss beats its best so far; -> the losses [M x E]."""
        loss, best = self.holdout_loss(), self.buffers.best_loss
        better = loss < best  # [M x E]
        best.copy_(torch.where(better, loss, best))
        for pb, p in zip(self.model_best.parameters(), self.model.parameters()):
            pb.copy_(torch.where(better.view(-1, *([1] * (p.dim() - 1))), p, pb))
        return loss

    @torch.no_grad()
    def restore_best_models(self) -> None:
        """Early stopping's end: every model that has a best-so-far takes those parameters."""
        has = torch.isfinite(self.buffers.best_loss)
        for p, pb in zip(self.model.parameters(), self.model_best.parameters()):
            p.copy_(torch.where(has.view(-1, *([1] * (p.dim() - 1))), pb, p))
