"""Histories as MOMA-PPO and its baselines read them: the self-attention history encoder, batched over members,
the dataset history builder (episode-aware, zero-padded, cut at terminals and time-outs), the one-step shift for
s', and an online rolling buffer wrapped around a policy for evaluation.

Paper: Barde, Foerster, Nowrouzezahrai, Zhang, "A Model-Based Solution to the Offline Multi-Agent Reinforcement
Learning Coordination Problem", AAMAS 2024, §3, "Practical considerations": action-observation histories
"restrict[ed] to 10 steps in the past (either from the dataset or from the generated rollouts)", processed "with
one layer of self-attention [Vaswani et al. 2017] followed by one layer of soft-attention [Bahdanau et al.]", the
embeddings "concatenated to the agent's current state". Official code consulted (PBarde/moma-ppo at c276efc,
under ``moma-ppo/offline_marl/offline_marl/``): ``utils/networks.py`` (``SelfAttention``, ``positional_encoding``),
``utils/histories.py`` (``precompute_indexes``, ``next_histories``, ``HistoryEncoder`` buffers),
``single_agent/actors.py`` (``epsilon = 1e-5``). Summary: docs/moma_ppo_official_code.md#ppo-learner.

Encoder (per member m; a history h in R^{L x D}, oldest step first; E = 128)
  X   = h W_e + b_e + P                  P[s, 2k] = sin(s / 10000^(2k/E)), P[s, 2k+1] = cos(s / 10000^(2k/E))
  Q, K, V = X W_q + b_q, X W_k + b_k, X W_v + b_v
  H   = LayerNorm(X + softmax(Q K^T / sqrt(E)) V)        (softmax over the keys; no padding mask [code])
  w_s = softmax_s(tanh(H_s W_s) . q)                     (W_s without bias; q ~ N(0, 1) learned [code])
  emb = sum_s w_s H_s                                    in R^E
Histories (a transition t of an episode that starts at t0; L = 10)
  h_t   = [(o_{t-L}, a_{t-L}), ..., (o_{t-1}, a_{t-1})], the pairs before t0 replaced by zeros
  h'_t  = [(o_{t-L+1}, a_{t-L+1}), ..., (o_t, a_t)], the same rule (the history of s'_t) [code next_history_indexes]
  an episode ends at terminals OR time-outs; history actions are clipped to +-(1 - 1e-5) [code next_histories]
  own (obs, action) pairs per agent: a step vector is [o_i ⊕ a_i] of agent i (padded to O + A).

Memory: the builder never materializes the [T, N, L, D] histories (L times the dataset: 4.6 GB of float32 for
Ant's 1M transitions x 4 agents x 10 steps x (27 + 2) dims, twice with the s' histories): it keeps one int64 per
transition, the row where its episode starts (:func:`episode_starts`, 8 MB for 1M), and gathers a minibatch's
B x L rows with a validity mask (:func:`gather_history`) when the minibatch is drawn.

Numerics: the key bias b_k gets a zero gradient in exact arithmetic (it adds q_s . b_k to every key's score of
query s, which the softmax over the keys ignores); in float32 its gradient is rounding noise that Adam normalises,
so b_k drifts by O(lr) per step, as in the official code. The tests that compare batched and separate runs
therefore run in float64.

Shapes: M members, B batch (any middle axes ``*``), L history length, D step dim, E embedding dim, T dataset
steps, N agents, O / A obs / action dims, P policies (seeds), Ep episodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.networks.nets import EnsembleLinear

__all__ = [
    "SelfAttentionHistoryEncoder",
    "sinusoidal_positions",
    "HISTORY_ACT_CLIP",
    "episode_starts",
    "history_index",
    "gather_history",
    "DatasetHistories",
    "history_step",
    "shift_history",
    "HistoryPolicy",
]

HISTORY_ACT_CLIP = 1.0 - 1e-5  # |a| bound of the actions stored in histories ([code] actors.epsilon = 1e-5)


def sinusoidal_positions(length: int, dim: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """The fixed positions P [L, E]: angle(s, k) = s / 10000^(2 floor(k/2) / E), sin on even k, cos on odd k
    ([code] ``positional_encoding``; position 0 = the oldest step). Computed in float64, then cast."""
    s = torch.arange(length, dtype=torch.float64)[:, None]
    k = torch.arange(dim, dtype=torch.float64)[None, :]
    angle = s / torch.pow(10000.0, 2.0 * torch.div(k, 2, rounding_mode="floor") / dim)
    pos = torch.where(k.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return pos.to(dtype)


class SelfAttentionHistoryEncoder(nn.Module):
    """M independent self-attention history encoders (module docstring), one forward for all members.

    SelfAttentionHistoryEncoder(n_members, in_dim, emb_dim=128, length=10); forward(h [M, *, L, D]) -> [M, *, E].
    Every parameter carries the leading member axis (``embed``, ``wq``, ``wk``, ``wv``: EnsembleLinear with bias;
    ``soft_key``: EnsembleLinear without bias; ``norm_weight`` / ``norm_bias`` [M, E] (LayerNorm, eps 1e-5, init 1 /
    0); ``query`` [M, E] ~ N(0, 1)). The positions are a non-persistent buffer (not in ``state_dict``).
    """

    def __init__(self, n_members: int, in_dim: int, emb_dim: int = 128, length: int = 10):
        super().__init__()
        for name, v in (
            ("n_members", n_members),
            ("in_dim", in_dim),
            ("emb_dim", emb_dim),
            ("length", length),
        ):
            if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
                raise ValueError(f"SelfAttentionHistoryEncoder {name}={v!r} must be an integer >= 1")
        self.n_members, self.in_dim, self.emb_dim, self.length = (
            int(n_members),
            int(in_dim),
            int(emb_dim),
            int(length),
        )
        M, E = self.n_members, self.emb_dim
        self.embed = EnsembleLinear(M, in_dim, E)
        self.wq = EnsembleLinear(M, E, E)
        self.wk = EnsembleLinear(M, E, E)
        self.wv = EnsembleLinear(M, E, E)
        self.norm_weight = nn.Parameter(torch.ones(M, E))
        self.norm_bias = nn.Parameter(torch.zeros(M, E))
        self.soft_key = EnsembleLinear(M, E, E, bias=False)
        self.query = nn.Parameter(torch.randn(M, E))  # [code] torch.nn.init.normal_(self.soft_query)
        self.register_buffer("positions", sinusoidal_positions(self.length, E), persistent=False)  # [L, E]

    def forward(self, h: Tensor) -> Tensor:
        M, L, E = self.n_members, self.length, self.emb_dim
        if h.dim() < 3 or h.shape[0] != M or h.shape[-2:] != (L, self.in_dim):
            raise ValueError(f"histories must be [M={M}, *, L={L}, D={self.in_dim}], got {tuple(h.shape)}")
        mid = h.shape[1:-2]
        x = h.reshape(M, -1, L, self.in_dim)  # [M, B, L, D]
        x = self.embed(x) + self.positions.to(x.dtype)  # [M, B, L, E]
        q, k, v = self.wq(x), self.wk(x), self.wv(x)  # [M, B, L, E]
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(E), dim=-1)  # [M, B, L(query), L(key)]
        z = F.layer_norm(x + att @ v, (E,))  # [M, B, L, E]
        z = z * self.norm_weight[:, None, None, :] + self.norm_bias[:, None, None, :]
        score = (torch.tanh(self.soft_key(z)) * self.query[:, None, None, :]).sum(-1)  # [M, B, L]
        w = torch.softmax(score, dim=-1)
        emb = (w.unsqueeze(-1) * z).sum(-2)  # [M, B, E]
        return emb.reshape(M, *mid, E)

    def extra_repr(self) -> str:
        return (
            f"n_members={self.n_members}, in_dim={self.in_dim}, emb_dim={self.emb_dim}, length={self.length}"
        )


# ----------------------------------------------------------------------------------------------
# dataset histories
# ----------------------------------------------------------------------------------------------


def episode_starts(terminals: Any, timeouts: Any) -> Tensor:
    """starts [T] int64: the row where each transition's episode begins. An episode ends at a row with a terminal
    OR a time-out ([code] ``traj_is_done = (1 - time_out_masks) + (1 - masks) > 0``). Numpy or torch in, torch out."""
    term = torch.as_tensor(np.asarray(terminals) if not isinstance(terminals, Tensor) else terminals)
    tout = torch.as_tensor(np.asarray(timeouts) if not isinstance(timeouts, Tensor) else timeouts)
    if term.shape != tout.shape or term.dim() != 1:
        raise ValueError(f"terminals {tuple(term.shape)} and timeouts {tout.shape} must both be [T]")
    ends = (term != 0) | (tout != 0)  # [T]
    T = ends.shape[0]
    rows = torch.arange(T, device=ends.device)
    begins = torch.zeros(T, dtype=torch.bool, device=ends.device)
    begins[0] = True
    begins[1:] = ends[:-1]
    return torch.cummax(torch.where(begins, rows, torch.zeros_like(rows)), dim=0).values  # [T]


def history_index(rows: Tensor, starts: Tensor, length: int, next_: bool = False) -> tuple[Tensor, Tensor]:
    """Rows of the L history steps of transitions ``rows`` [*], oldest first, and their validity [*, L] (False =
    before the episode's start: a zero step). ``next_``: the history of s' (one step later, ending with the row
    itself). Invalid rows are clamped into range (their values are masked)."""
    offs = torch.arange(-length, 0, device=rows.device) + (1 if next_ else 0)  # [L]
    idx = rows.unsqueeze(-1) + offs  # [*, L]
    valid = idx >= starts[rows].unsqueeze(-1)
    return idx.clamp(min=0), valid


def gather_history(
    x: Tensor, rows: Tensor, starts: Tensor, length: int, next_: bool = False, clip: float | None = None
) -> Tensor:
    """The L history steps of ``x`` [T, ...] for transitions ``rows`` [*]: [*, L, ...], zeros before the episode's
    start; values clipped to +-clip if given (history actions)."""
    idx, valid = history_index(rows, starts, length, next_)
    h = x[idx]  # [*, L, ...]
    if clip is not None:
        h = h.clamp(-clip, clip)
    return h * valid.reshape(*valid.shape, *([1] * (h.dim() - valid.dim()))).to(h.dtype)


class DatasetHistories:
    """Histories of a dataset's transitions, built on demand from indices (module docstring, "Memory").

    DatasetHistories(obs [T, N, O], actions [T, N, A], terminals [T], timeouts [T], length=10);
    ``histories(rows [*])`` and ``next_histories(rows)`` -> [*, N, L, O + A], each agent's own (obs, action)
    pairs with the actions clipped to +-(1 - 1e-5); ``parts(rows, next_)`` -> (obs [*, L, N, O], actions
    [*, L, N, A]) for learners that assemble other step vectors (e.g. joint ones).
    """

    def __init__(
        self,
        obs: Tensor,
        actions: Tensor,
        terminals: Any,
        timeouts: Any,
        length: int = 10,
        act_clip: float = HISTORY_ACT_CLIP,
    ):
        if not (isinstance(length, (int, np.integer)) and length >= 1):
            raise ValueError(f"length={length!r} must be an integer >= 1")
        if obs.shape[0] != actions.shape[0]:
            raise ValueError(
                f"obs ({obs.shape[0]} rows) and actions ({actions.shape[0]} rows) differ in length"
            )
        self.obs, self.actions, self.length, self.act_clip = obs, actions, int(length), float(act_clip)
        self.starts = episode_starts(terminals, timeouts).to(obs.device)  # [T]
        if self.starts.shape[0] != obs.shape[0]:
            raise ValueError(f"terminals have {self.starts.shape[0]} rows, obs {obs.shape[0]}")

    def parts(self, rows: Tensor, next_: bool = False) -> tuple[Tensor, Tensor]:
        o = gather_history(self.obs, rows, self.starts, self.length, next_)
        a = gather_history(self.actions, rows, self.starts, self.length, next_, clip=self.act_clip)
        return o, a

    def histories(self, rows: Tensor, next_: bool = False) -> Tensor:
        o, a = self.parts(rows, next_)  # [*, L, N, O], [*, L, N, A]
        return torch.cat([o, a], dim=-1).movedim(-3, -2)  # [*, N, L, O + A]

    def next_histories(self, rows: Tensor) -> Tensor:
        return self.histories(rows, next_=True)


# ----------------------------------------------------------------------------------------------
# rollouts: the one-step shift and the evaluation buffer
# ----------------------------------------------------------------------------------------------


def history_step(obs: Tensor, actions: Tensor, act_clip: float = HISTORY_ACT_CLIP) -> Tensor:
    """One step vector [o ⊕ clip(a)]: obs [*, O], actions [*, A] -> [*, O + A]."""
    return torch.cat([obs, actions.clamp(-act_clip, act_clip)], dim=-1)


def shift_history(h: Tensor, step: Tensor) -> Tensor:
    """The history one step later ([code] ``next_histories``): drop the oldest step, append ``step``.
    h [*, L, D], step [*, D] -> [*, L, D]."""
    return torch.cat([h[..., 1:, :], step.unsqueeze(-2)], dim=-2)


class HistoryPolicy:
    """A policy for common.running.evaluate that keeps every agent's last L (obs, action) pairs across vectorized steps.

    HistoryPolicy(act, length, step_dim) wraps ``act(obs [P, Ep, N, O], memory [P, Ep, N, L, D]) -> actions
    [P, Ep, N, A]``. Its buffers start as zeros at the first call and are reset by :meth:`reset`; common.running.evaluate
    starts all episodes together, so a fresh wrapper per evaluation (``learner.policy()``) needs no reset signal.
    After each call the step [o ⊕ clip(a, +-(1 - 1e-5))] is appended ([code] ``append_histories`` after the step).
    ``step_fn(obs, actions) -> [P, Ep, U, D]`` replaces the default per-agent step (e.g. a centralized learner's
    joint step, ``n_units`` U = 1).
    Numpy in, numpy out (tensors in, tensors out).
    """

    def __init__(
        self,
        act: Callable[[Tensor, Tensor], Any],
        length: int,
        step_dim: int,
        step_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
        n_units: int | None = None,
        act_clip: float = HISTORY_ACT_CLIP,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        self.act, self.length, self.step_dim, self.act_clip = act, int(length), int(step_dim), float(act_clip)
        self.step_fn, self.n_units = step_fn, n_units
        self.device, self.dtype = torch.device(device), dtype
        self.memory: Tensor | None = None  # [P, Ep, N', L, D]

    def reset(self) -> None:
        self.memory = None

    def __call__(self, obs):
        is_np = isinstance(obs, np.ndarray)
        x = torch.as_tensor(obs, device=self.device, dtype=self.dtype)  # [P, Ep, N, O]
        if self.memory is None:
            self.memory = torch.zeros(
                *x.shape[:2],
                self._n_units(x),
                self.length,
                self.step_dim,
                device=self.device,
                dtype=self.dtype,
            )
        a = torch.as_tensor(self.act(x, self.memory), device=self.device, dtype=self.dtype)  # [P, Ep, N, A]
        step = self.step_fn(x, a) if self.step_fn is not None else history_step(x, a, self.act_clip)
        if step.shape[-1] != self.step_dim:
            raise ValueError(f"history step has {step.shape[-1]} entries, the buffer {self.step_dim}")
        self.memory = shift_history(self.memory, step)
        return a.cpu().numpy() if is_np else a

    def _n_units(self, x: Tensor) -> int:
        return x.shape[2] if self.n_units is None else self.n_units
