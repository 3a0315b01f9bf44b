"""Batched ("ensemble") building blocks: every parameter carries a leading member axis.

Members are seeds x agents (one learner trains all of them). One module holds all M members; its
forward takes inputs ``[M, *, in]`` (any number of middle axes, usually one batch axis B) and
returns ``[M, *, out]``. Members never interact: each member sees only its own slice of the input
and its own parameters, so with the loss ``sum_m mean_b loss[m, b]`` one optimizer step over the
stacked parameters (Adam is elementwise) equals M separate per-member steps
(tests/test_nets.py proves this against plain ``nn.Linear``/``nn.BatchNorm1d`` modules).

Axis vocabulary: M members, B batch, I/O/H input/output/hidden sizes.

This module holds the layers (``EnsembleLinear``, ``EnsembleMLP``, ``ValueNet``) and the per-member parameter
helpers (target updates, gradient clipping, one member's state); ``EnsembleBatchNorm1d`` is in
:mod:`common.networks.batchnorm` and the CPU member chunking in :mod:`common.networks.chunking`. The paper-specific
policies, critics and models built from them live in :mod:`common.networks.heads`.

Implementation (docs/stack.md#batched-ensemble-layers): ``EnsembleLinear`` keeps weights
``[M, in, out]`` and runs ``torch.baddbmm``; measured 2-2.7x faster than a Python loop of
per-member modules at MPE sizes (4.5x under torch.compile), no faster at MuJoCo sizes (compute-bound).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from common.networks.batchnorm import EnsembleBatchNorm1d
from common.networks.chunking import chunking_on, flatten_members, member_chunks

__all__ = [
    "EnsembleLinear",
    "EnsembleMLP",
    "ValueNet",
    "polyak_update",
    "hard_update",
    "clip_grad_norm_",
    "member_count",
    "member_state",
    "load_member",
]

Activation = type[nn.Module] | Callable[[Tensor], Tensor] | None


class _Fn(nn.Module):
    """Wraps a plain function (e.g. ``torch.tanh``) as a module, for export to ``nn.Sequential``."""

    def __init__(self, fn: Callable[[Tensor], Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def _as_module(act: Activation) -> nn.Module | None:
    """``nn.ReLU`` (a class) -> ``nn.ReLU()``; a function -> wrapped; a module or None -> itself."""
    if act is None or isinstance(act, nn.Module):
        return act
    if isinstance(act, type) and issubclass(act, nn.Module):
        return act()
    if callable(act):
        return _Fn(cast("Callable[[Tensor], Tensor]", act))  # the checker keeps `type` in act's type here
    raise TypeError(f"activation must be an nn.Module class, a module or a function, got {act!r}")


# ----------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------


class EnsembleLinear(nn.Module):
    """M independent ``nn.Linear(in, out)`` layers: y[m] = x[m] @ W[m] + b[m].

    weight [M, I, O] (note: transposed w.r.t. ``nn.Linear.weight`` [O, I]), bias [M, 1, O].
    Each member is initialised exactly as ``nn.Linear`` would be (kaiming-uniform a=sqrt(5) on the
    weight, i.e. U(+-1/sqrt(I)), bias U(+-1/sqrt(I))), drawing the random numbers in the same order,
    so ``torch.manual_seed(s); EnsembleLinear(1, I, O)`` equals ``torch.manual_seed(s); nn.Linear(I, O)``.
    """

    def __init__(self, n_members: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.n_members = n_members
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(n_members, in_features, out_features))  # [M, I, O]
        self.bias = nn.Parameter(torch.empty(n_members, 1, out_features)) if bias else None  # [M, 1, O]
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """``nn.Linear``'s default init, member by member."""
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        for m in range(self.n_members):
            w = torch.empty(self.out_features, self.in_features)  # [O, I], nn.Linear layout
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            self.weight[m].copy_(w.t())
            if self.bias is not None:
                self.bias[m, 0].uniform_(-bound, bound)

    @torch.no_grad()
    def init_uniform_(self, weight_bound: float, bias_bound: float | None = None) -> EnsembleLinear:
        """Weights ~ U(+-weight_bound) (OMAR/DDPG last layer: 3e-3); bias too if bias_bound given."""
        self.weight.uniform_(-weight_bound, weight_bound)
        if bias_bound is not None and self.bias is not None:
            self.bias.uniform_(-bias_bound, bias_bound)
        return self

    @torch.no_grad()
    def scale_(self, weight_scale: float, bias_value: float | None = 0.0) -> EnsembleLinear:
        """Weights *= weight_scale, bias := bias_value (MOMA-PPO policy heads: x0.1, bias 0)."""
        self.weight.mul_(weight_scale)
        if bias_value is not None and self.bias is not None:
            self.bias.fill_(bias_value)
        return self

    def forward(self, x: Tensor) -> Tensor:
        x3, shape = flatten_members(x, self.n_members)  # [M, N, I]
        if self.bias is None:
            y = torch.bmm(x3, self.weight)  # [M, N, O]
        else:
            y = torch.baddbmm(self.bias, x3, self.weight)  # [M, N, O]
        return y if x.dim() == 3 else y.reshape(*shape[:-1], self.out_features)

    def member_module(self, m: int) -> nn.Linear:
        """Member m as a plain ``nn.Linear`` (a copy)."""
        w = self.weight
        lin = nn.Linear(
            self.in_features, self.out_features, bias=self.bias is not None, device=w.device, dtype=w.dtype
        )  # built in the weights' dtype: no rounding
        with torch.no_grad():
            lin.weight.copy_(self.weight[m].t())
            if self.bias is not None:
                lin.bias.copy_(self.bias[m, 0])
        return lin

    def extra_repr(self) -> str:
        return (
            f"n_members={self.n_members}, in_features={self.in_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


class EnsembleMLP(nn.Module):
    """M independent MLPs: [BatchNorm1d] -> (Linear -> act) x len(hidden) -> Linear -> [out_act].

    Args:
        n_members: M.
        in_dim, out_dim: I, O.
        hidden: hidden widths, e.g. (64, 64) (OMAR MPE) or (256, 256).
        activation: ``nn.Module`` class (``nn.ReLU``) or function, applied after each hidden layer.
        input_norm: BatchNorm1d on the input (OMAR's ``norm_in``).
        output_activation: applied to the output (e.g. ``torch.tanh``), or None.
        last_layer_init: None (``nn.Linear`` default), a float b (weights ~ U(+-b), bias default,
            as OMAR's ``fc3.weight.data.uniform_(-3e-3, 3e-3)``), or a function of the last layer.

    forward(x [M, *, I]) -> [M, *, O].

    ``chunked`` (attribute, default True): whether the CPU member chunking (common.networks.chunking) may split the
    members; owners of wide, compute-bound layers switch it off (the chunks' concatenation is then pure overhead;
    the result is bitwise the same either way).
    """

    chunked: bool = True

    def __init__(
        self,
        n_members: int,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (64, 64),
        activation: Activation = nn.ReLU,
        input_norm: bool = False,
        output_activation: Activation = None,
        last_layer_init: float | Callable[[EnsembleLinear], object] | None = None,
    ):
        super().__init__()
        self.n_members = n_members
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.hidden = tuple(hidden)
        self.norm = EnsembleBatchNorm1d(n_members, in_dim) if input_norm else None
        sizes = (in_dim, *self.hidden, out_dim)
        linears = [EnsembleLinear(n_members, a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        self.layers = nn.ModuleList(linears)
        self.activation = _as_module(activation)
        self.output_activation = _as_module(output_activation)
        if isinstance(last_layer_init, int | float):
            linears[-1].init_uniform_(float(last_layer_init))
        elif last_layer_init is not None:
            last_layer_init(linears[-1])

    def forward(self, x: Tensor) -> Tensor:
        # typed: nn.ModuleList's items are typed nn.Module
        layers = cast("Sequence[EnsembleLinear]", self.layers)
        h, shape = flatten_members(x, self.n_members)  # [M, N, I]
        if self.norm is not None:
            h = self.norm(h)
        width = max((*self.hidden, self.out_dim))
        sizes = [self.n_members]
        if self.chunked and chunking_on(h):
            sizes = member_chunks(self.n_members, h.shape[1], width, h.element_size())
        if len(sizes) == 1:
            h = self._layers(h, [(layer.weight, layer.bias) for layer in layers])
        else:  # cache blocking: members in chunks, each through all layers (same kernels per member)
            params = [
                zip(
                    layer.weight.split(sizes),
                    layer.bias.split(sizes) if layer.bias is not None else [None] * len(sizes),
                )
                for layer in layers
            ]
            per_chunk = zip(*params)  # chunk c -> [(W_c, b_c) of each layer]
            h = torch.cat([self._layers(hc, list(wb)) for hc, wb in zip(h.split(sizes), per_chunk)])
        return h if x.dim() == 3 else h.reshape(*shape[:-1], self.out_dim)  # [M, *, O]

    def _layers(self, h: Tensor, params: list[tuple[Tensor, Tensor | None]]) -> Tensor:
        """Linear -> act ... -> Linear -> [out_act] on h [m, N, I] with the given (W [m, I, O], b) per layer.
        A ReLU overwrites the product it follows (neither (b)addbmm's backward nor anything else reads it)."""
        last = len(params) - 1
        relu = type(self.activation) is nn.ReLU
        for i, (w, b) in enumerate(params):
            h = torch.bmm(h, w) if b is None else torch.baddbmm(b, h, w)  # [m, N, H_i]
            if i < last and self.activation is not None:
                h = h.relu_() if relu else self.activation(h)
        if self.output_activation is not None:
            h = self.output_activation(h)
        return h

    def member_module(self, m: int) -> nn.Sequential:
        """Member m as a plain ``nn.Sequential`` of torch modules (a copy), e.g. to export one agent."""
        mods: list[nn.Module] = []
        if self.norm is not None:
            mods.append(self.norm.member_module(m))
        for i, layer in enumerate(cast("Sequence[EnsembleLinear]", self.layers)):  # typed as in forward
            mods.append(layer.member_module(m))
            if i < len(self.layers) - 1 and self.activation is not None:
                mods.append(self.activation)
        if self.output_activation is not None:
            mods.append(self.output_activation)
        seq = nn.Sequential(*mods)
        seq.train(self.training)
        return seq


def ValueNet(n_members: int, in_dim: int, hidden: Sequence[int] = (256, 256), **kwargs) -> EnsembleMLP:
    """V(s) (or any scalar head): an ``EnsembleMLP`` with one output; forward -> [M, *, 1]."""
    return EnsembleMLP(n_members, in_dim, 1, hidden, **kwargs)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def _tensors(x: nn.Module | Iterable[Tensor]) -> list[Tensor]:
    return list(x.parameters()) if isinstance(x, nn.Module) else list(x)


def adam(params: Iterable[Tensor] | Iterable[dict], **kwargs) -> torch.optim.Adam:
    """Every learner's Adam: torch's, with the multi-tensor (``foreach``) step that torch picks by default on CUDA
    only. Its update equals the per-tensor loop bit for bit (the same kernels per tensor, scalars computed the same
    way; tests/test_nets.py, with weight decay) and takes ~6 % off a BCQ update on one CPU thread (fewer Python-level
    ops). The fused kernel (MAPPO compiled, SAC, the world model) is faster still but rounds differently."""
    return torch.optim.Adam(params, foreach=True, **kwargs)


@torch.no_grad()
def polyak_update(
    target: nn.Module | Iterable[Tensor],
    source: nn.Module | Iterable[Tensor],
    tau: float,
) -> None:
    """target <- (1 - tau) * target + tau * source, in place, for all parameters (one foreach
    kernel). Buffers (BatchNorm running stats) are left alone, as the official soft updates do."""
    tgt, src = _tensors(target), _tensors(source)
    if len(tgt) != len(src):
        raise ValueError(f"target has {len(tgt)} tensors, source {len(src)}")
    torch._foreach_lerp_(tgt, src, tau)


@torch.no_grad()
def hard_update(target: nn.Module, source: nn.Module) -> None:
    """target <- source for all parameters and buffers."""
    target.load_state_dict(source.state_dict())


@torch.no_grad()
def clip_grad_norm_(parameters: nn.Module | Iterable[Tensor], max_norm: float, n_members: int) -> Tensor:
    """Per-member ``torch.nn.utils.clip_grad_norm_``: each member's gradient is rescaled by
    min(1, max_norm / (||g_m|| + 1e-6)), where ||g_m|| is the 2-norm over that member's slices of
    all parameters. (torch's own function would mix members.) Returns the norms [M] before clipping.
    """
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    if not grads:
        return torch.zeros(n_members)
    per_tensor = torch.stack(
        [torch.linalg.vector_norm(g.reshape(n_members, -1), dim=1) for g in grads]
    )  # [P, M]
    norms = torch.linalg.vector_norm(per_tensor, dim=0)  # [M]
    coef = (max_norm / (norms + 1e-6)).clamp_(max=1.0)  # [M]
    for g in grads:
        g.mul_(coef.view(n_members, *([1] * (g.dim() - 1))))
    return norms


def member_count(module: nn.Module) -> int:
    """A member module's ``n_members`` (the leading axis of its every tensor); a TypeError if it has none."""
    m = getattr(module, "n_members", None)
    if m is None:
        raise TypeError(f"{type(module).__name__} has no n_members attribute")
    return m


def member_state(module: nn.Module, m: int) -> dict[str, Tensor]:
    """Member m's parameters and buffers (detached copies, member axis removed), keyed as in
    ``module.state_dict()``. E.g. ``EnsembleLinear``: weight [I, O], bias [1, O]."""
    n = member_count(module)
    if not 0 <= m < n:
        raise IndexError(f"member {m} out of range for {n} members")
    out = {}
    for name, t in module.state_dict().items():
        if t.dim() == 0 or t.shape[0] != n:
            raise ValueError(f"{name} of shape {tuple(t.shape)} has no leading member axis of {n}")
        out[name] = t[m].detach().clone()
    return out


@torch.no_grad()
def load_member(module: nn.Module, m: int, state: dict[str, Tensor]) -> None:
    """Inverse of ``member_state``: writes one member's tensors into slot m, in place."""
    n = member_count(module)
    if not 0 <= m < n:
        raise IndexError(f"member {m} out of range for {n} members")
    own = module.state_dict(keep_vars=True)
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    if missing or unexpected:
        raise KeyError(f"load_member: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    for name, t in own.items():
        t[m].copy_(state[name])
