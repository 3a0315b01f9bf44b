"""MAPPO's minibatch step (``MinibatchStep``, a mixin of MAPPO: the one step body) and the same step captured in one
CUDA graph (``MinibatchGraph``; issue 23's GPU goal; common/algos/mappo.py ``cuda_graph``).

Why: on a GPU a MOMA-PPO iteration is launch-bound, not arithmetic-bound (papers/moma_ppo/README.md "Cost and the
benchmark": ≈ 2,300 kernel launches per minibatch step, 155 sequential steps per update, the same rate at quick's
sizes as at the code's). The step's shapes are static (B rows per seed) and it holds no host synchronisation, so the
whole step - gather of the minibatch rows, the losses, the alpha rule, backward, the per-seed gradient clip and the
Adam step - is recorded once and replayed with one launch per step.

How (the PyTorch "whole-network capture" recipe):
- Static inputs: the update's buffers (member tensors [M, n, ...], seed tensors [S, n, ...]) are copied into
  buffers of ``capacity`` rows (>= n; rows n.. are stale and never read: a minibatch index is < the seed's length),
  and each step's row indices into one static [S, B] tensor. A larger n re-allocates and re-captures.
- The first ``WARMUP`` steps of a graph run eagerly on a side stream (they are ordinary training steps: the same
  body, the same minibatches, in order); the next step is captured (recording runs nothing) and replayed at once, so
  the sequence of optimizer steps is the eager one's.
- State the graph reads and writes in place: the parameters (``load_state_dict`` copies into them), their ``.grad``
  (allocated in the graph's pool at capture), Adam's moments and step (``capturable=True``, switched on here; the
  step counts move to the device), ``learner.alpha`` (updated with ``copy_``) and the metric sums. Anything that
  replaces one of them (``MAPPO.load_state_dict``, building a stack) drops the graph; the next update re-captures.
- Equality: the body is the eager step's function (``MAPPO.minibatch_step``), read from the static buffers. Against the eager learner the only
  difference is capturable Adam's device-side bias correction (float rounding; tests/test_mappo_graph.py checks
  both on a GPU). ``capture=False`` runs the same body from the same static buffers without a graph: the CPU tests
  use it to prove the buffer logic equal to the eager update bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from common.algos.ppo import clip_grad_norm_per_seed_

__all__ = ["MinibatchStep", "MinibatchGraph", "WARMUP", "SEED_KEYS", "MEMBER_KEYS", "eager_adam"]

WARMUP = 3  # eager steps on a side stream before a capture (the recipe's warm-up; they are real steps)
MEMBER_KEYS = ("obs", "actions", "memory")  # [M, n, ...] gathered with the member index
# [S, n, ...] gathered with the seed index
SEED_KEYS = ("joint", "logp_old", "values_old", "returns", "advantages")


def eager_adam(opt: torch.optim.Optimizer) -> None:
    """Undoes ``MinibatchGraph``'s switch to capturable Adam after a state is loaded (a checkpoint written on a GPU
    in graph mode carries ``capturable=True`` and device step counts; capturable Adam does not run on a CPU): plain
    Adam with its step counts on the CPU, as a fresh one. A graph switches it back when it captures."""
    for group in opt.param_groups:
        group["capturable"] = False
    for st in opt.state.values():
        if "step" in st and torch.is_tensor(st["step"]) and st["step"].device.type != "cpu":
            st["step"] = st["step"].to(device="cpu", dtype=torch.float32)


class MinibatchStep:
    """MAPPO's minibatch step (a mixin of ``common.algos.mappo.MAPPO``: it reads the learner's losses, modules,
    optimizer and alpha): the one step body of the eager update and of ``MinibatchGraph``."""

    if TYPE_CHECKING:  # what the step reads of the learner (common.algos.mappo.MAPPO), typed for the checker
        cfg: Any  # MAPPOConfig
        n_seeds: int
        n_agents: int
        n_members: int
        alpha: Tensor  # [S]
        opt: torch.optim.Optimizer
        step_mode: str
        _graph: MinibatchGraph | None

        def losses(
            self, mb: Mapping[str, Tensor | None], alpha: Tensor
        ) -> tuple[Tensor, Tensor, dict[str, Tensor]]: ...  # mb["memory"] is None without a history encoder

        def parameters(self) -> Iterable[Tensor]: ...

        step_losses: Any  # losses, or torch.compile(losses) with MAPPOConfig.compiled

    def minibatch_step(
        self,
        member: Mapping[str, Tensor | None],
        seed: Mapping[str, Tensor],
        idx: Tensor,
        ar_m: Tensor,
        ar_s: Tensor,
    ) -> dict[str, Tensor]:
        """One Adam step on rows ``idx`` [S, B] of the update's tensors - member [M, n, ...] (obs, actions, memory or
        None) and seed [S, n, ...] (joint, logp_old, values_old, returns, advantages); ar_m [M, 1] and ar_s [S, 1]
        are aranges. Writes alpha in place. Returns the step's [S] metrics (not detached). The one step body of both
        the eager update and the static-buffer / CUDA-graph one (common/algos/mappo_graph.py): nothing in it may
        synchronise with the host."""
        cfg = self.cfg
        S, N, M, B = self.n_seeds, self.n_agents, self.n_members, idx.shape[1]
        # member m = s * N + i reads seed s's rows (an expand, not repeat_interleave: its int form may copy the count
        # to the device, which a capture does not allow)
        idx_m = idx[:, None, :].expand(S, N, B).reshape(M, B)
        mb = {k: (None if v is None else v[ar_m, idx_m]) for k, v in member.items()}
        mb.update({k: v[ar_s, idx] for k, v in seed.items()})
        loss, alpha, info = self.step_losses(mb, self.alpha)  # MAPPO.losses, or its compiled form
        self.alpha.copy_(alpha.detach())  # in place: a graph replays into the same tensor (exports clone it)
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # seeds never interact: d(sum_s L_s) / d theta_s = d L_s / d theta_s
        if cfg.grad_clip is not None:
            info["grad_norm"] = clip_grad_norm_per_seed_(self.parameters(), cfg.grad_clip, S)
        self.opt.step()
        info["loss"] = loss
        return info

    def _minibatch_graph(self) -> MinibatchGraph | None:
        """The static-buffer step of ``step_mode`` "graph" / "buffers" (built on first use, kept across updates),
        None for "eager"."""
        if self.step_mode not in ("eager", "graph", "buffers"):
            raise ValueError(f"step_mode={self.step_mode!r}; allowed: 'eager', 'graph' (cuda), 'buffers'")
        if self.step_mode == "eager":
            return None
        capture = self.step_mode == "graph"
        if self._graph is None or self._graph.capture != capture:
            self._graph = MinibatchGraph(self, capture=capture)
        return self._graph


class MinibatchGraph:
    """The minibatch step of one MAPPO learner (``learner``) over static buffers, replayed from a CUDA graph
    (``capture=True``, CUDA only) or run eagerly from the same buffers (``capture=False``).

    Per update: ``load(src, n)`` (src: the member and seed tensors of ``MEMBER_KEYS`` / ``SEED_KEYS``, n rows; memory
    may be None), ``zero_sums()``, then ``step(idx)`` per minibatch (idx [S, B] long rows), then ``sums`` holds the
    per-key sums over the steps of the update (the eager update's ``sums``)."""

    def __init__(self, learner: Any, capture: bool = True):
        if capture and learner.device.type != "cuda":
            raise ValueError(f"a CUDA graph needs a cuda learner, this one is on {learner.device}")
        self.lr, self.capture = learner, bool(capture)
        self.bufs: dict[str, Tensor | None] = {}
        self.capacity = 0
        self.idx: Tensor | None = None
        self.ar_m: Tensor | None = None
        self.ar_s: Tensor | None = None
        self.sums: dict[str, Tensor] = {}
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warm = 0
        self.captures = 0  # graphs recorded so far (tests, benchmark)
        self.replays = 0

    # ---- buffers ------------------------------------------------------------------------------
    def load(self, src: Mapping[str, Tensor | None], n: int) -> None:
        """Copies the update's tensors (n rows each, on axis 1) into the static buffers, growing them (and dropping
        the graph) when n exceeds the capacity or a shape changes."""
        # the checker does not narrow src[k] by its `is None` test (and below, by s's or b's: None exactly where src[k] is)
        shapes = {
            k: (None if src[k] is None else (src[k].shape[0], *src[k].shape[2:]))  # type: ignore[union-attr]
            for k in MEMBER_KEYS + SEED_KEYS
        }
        have = {k: (None if b is None else (b.shape[0], *b.shape[2:])) for k, b in self.bufs.items()}
        if n > self.capacity or shapes != have:
            cap = max(n, self.capacity)
            self.bufs = {
                k: (
                    None
                    if s is None
                    else torch.zeros(
                        (s[0], cap, *s[1:]),
                        dtype=src[k].dtype,  # type: ignore[union-attr]
                        device=src[k].device,  # type: ignore[union-attr]
                    )
                )
                for k, s in shapes.items()
            }
            self.capacity = cap
            self.reset()
        for k, b in self.bufs.items():
            if b is not None:
                b[:, :n].copy_(src[k])  # type: ignore[arg-type]

    def reset(self) -> None:
        """Drops the graph (the next step warms up and captures again); buffers stay."""
        self.graph, self.warm, self.sums = None, 0, {}

    def zero_sums(self) -> None:
        for v in self.sums.values():
            v.zero_()

    # ---- the step -----------------------------------------------------------------------------
    def _body(self) -> None:
        """One minibatch step from the static buffers (``MAPPO.minibatch_step``, the eager update's step), its
        metrics added in place to ``sums``."""
        b = self.bufs
        info = self.lr.minibatch_step(
            {k: b[k] for k in MEMBER_KEYS}, {k: b[k] for k in SEED_KEYS}, self.idx, self.ar_m, self.ar_s
        )
        if not self.sums:
            self.sums = {k: torch.zeros_like(v.detach()) for k, v in info.items()}
        for k, v in info.items():
            self.sums[k].add_(v.detach())

    def _capturable(self) -> None:
        """Adam with its step counts on the device (needed inside a graph)."""
        opt = self.lr.opt
        for group in opt.param_groups:
            group["capturable"] = True
        for st in opt.state.values():
            if "step" in st and torch.is_tensor(st["step"]) and st["step"].device != self.lr.device:
                st["step"] = st["step"].to(device=self.lr.device, dtype=torch.float32)

    def step(self, idx: Tensor) -> None:
        """One optimizer step on rows ``idx`` [S, B] of the loaded buffers."""
        if self.idx is None or self.idx.shape != idx.shape:
            self.idx = torch.zeros_like(idx)
            self.ar_m = torch.arange(self.lr.n_members, device=idx.device)[:, None]  # [M, 1]
            self.ar_s = torch.arange(self.lr.n_seeds, device=idx.device)[:, None]  # [S, 1]
            self.reset()
        self.idx.copy_(idx)
        if not self.capture:
            self._body()
            return
        if self.graph is not None:
            self.graph.replay()
            self.replays += 1
            return
        self._capturable()
        if self.warm < WARMUP:
            side = torch.cuda.Stream(device=self.lr.device)
            side.wait_stream(torch.cuda.current_stream(self.lr.device))
            with torch.cuda.stream(side):
                self._body()
            torch.cuda.current_stream(self.lr.device).wait_stream(side)
            self.warm += 1
            return
        self.lr.opt.zero_grad(set_to_none=True)  # the graph allocates the gradients in its pool
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._body()
        self.graph = graph
        self.captures += 1
        graph.replay()  # recording ran nothing: this is the step
        self.replays += 1
