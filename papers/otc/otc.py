"""OTC's sampler: transition similarity, rank-based prioritized sampling and the adaptive exponent, batched
over members = seeds x agents. Its settings: papers/otc/otc_config.py; the record metric and the tabular Eq. (2)
check: papers/otc/otc_metrics.py; d_e's CVAE: papers/otc/otc_cvae.py; Eq. (4)'s adaptive exponent ``AdaptiveAlpha``:
papers/otc/otc_alpha.py.

Paper: Jiang & Lu, "Online Tuning for Offline Decentralized Multi-Agent Reinforcement Learning", AAAI 2023,
Sec. 3 (Eq. 1-4, Algorithm 1, Sec. 3.5). No official code exists; every line here is ours. "[P]" marks what
the paper states, "[I]" a choice of ours where it is silent (each with its reason, below and at its function;
they belong in papers/otc/README.md's list of deviations).

One fine-tuning update of agent i (Algorithm 1, lines 10-15), per member, all members at once:
  minibatches     B: |B| = 512 rows uniform from B_i^k;  D: |D| = 2000 rows uniform from D_i^k      [P Sec. 3.5]
  best match      x*(b) = argmin_{x in D} d(s_b, a_b, s_x, a_x), exact ties uniform at random        [P Eq. 1]
  similarity      d_b = d(s'_b, s'_{x*(b)})
  d_e             a conditional VAE E(mu, sigma | s, a_i, s'), D(a_i | s, s', z); its mean mu(s, a_i, s')
                  in R^10 replaces both e(s, a_i) and e(s')                                     [P Sec. 3.3, 3.5]
                  match and similarity are then one quantity: d_b = min_{x in D} ||mu_b - mu_x||_1
  d_q             match |Q(s, a_i) - Q(s*, a_i*)|;  d_b = |dev(s'_b) - dev(s'*)|,
                  dev(s') = V(s') / E_{s'} V(s'),  V(s') = E_{a_i} Q(s', a_i)                        [P Sec. 3.3]
                  E_{s'} V(s') = (Q1(s, a_i) - r) / gamma per transition (the authors' MABCQ,
                  Jiang & Lu 2021, arXiv 2108.01832), or the minibatch mean of V (``dq_norm="batch"``) [I]
  Eq. (3)         rank(j) = position of d_j in B sorted ascending (1 = most similar),
                  p_j = 1 / rank(j),  P(j) = p_j^alpha / sum_m p_m^alpha                                [P Eq. 3]
  update batch    128 indices into B drawn from P with replacement, no importance weights          [P Alg. 1]
  Eq. (4)         alpha^k = alpha^{k-1} * DD^k / DD^{k-1} for k > 1,  alpha^1 = alpha^0 = 1.0,
                  DD^k = E_{B^k} d(s', s'* of the best match in D^k)                                   [P Eq. 4]
  Eq. (2)         the tabular check KL(P_D || P~_B) of the modified dynamics (a test, not training)     [P Eq. 2]

Decisions where the paper is silent [I] (also in tests/test_otc_core.py):
- Ranks are ordinal from a stable ascending sort: equal distances keep their index order, so P is a
  deterministic function of d. NaN distances sort last (lowest priority), as ``torch.sort`` places them.
- Exact ties of the best match are broken uniformly at random with one uniform number per B row, drawn
  from the caller's generator on every call (whether or not a tie occurs), so the random stream never
  depends on the data.
- d_e matches by the l1 distance of the CVAE means (``l1_distances``: bitwise ``torch.cdist(p=1)``'s values, summed
  one latent dimension at a time, chunked over B rows so that the [M, b, |D|] block stays under
  ``MATCH_CHUNK_BYTES`` and in cache; about 2x faster than ``cdist`` at Table 3's sizes on one CPU thread).
- d_q matches in one dimension by sort + ``searchsorted``: the nearest Q values are the two neighbours of the
  insertion point, and the tie set is the union of at most two runs of equal Q values in the sorted order.
  Its best distance is bitwise the brute-force minimum (the same subtractions); its tie set is the set of D
  rows whose Q equals one of the two nearest values (a brute force could also tie two different values
  whose differences round to one float, which needs Q values ~1e7 times apart).
- d_q guards: terminal rows get deviation 0 (V(s') of an absorbing state is not the learner's V); the
  normalizer keeps its sign and |E V| >= 1e-6 + 1e-3 * mean_B |Q1(s, a_i)| (one floor per member, from the B
  rows), so that the deviation stays finite where (Q1 - r) / gamma crosses 0. With ``dq_norm="batch"`` the
  mean runs over the non-terminal rows of the same minibatch (B rows for B, D rows for D).
- The CVAE is ``common.networks.heads.VAE`` with obs = [s, s'] (encoder on [s, s', a_i], decoder on [s, s', z] ->
  a_i, tanh * max_action), latent 10 [P Table 3], KL weight 0.5 and Adam 1e-3 (BCQ's VAE constants, the
  closest model the paper names), hidden sizes = the base learner's.
- Adaptive alpha: alpha keeps its value where DD^{k-1} is 0 or not finite, or DD^k is not finite; no clip.

Shapes: M members, B rows of the minibatch B, D rows of the minibatch D, R any number of rows, L latent
dim, O obs dim, A action dim, S tabular states, n drawn indices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from papers.otc.otc_alpha import AdaptiveAlpha
from papers.otc.otc_config import CVAE_FORMS, DQ_NORMS, OTCConfig
from papers.otc.otc_cvae import TransitionCVAE

__all__ = [
    "OTCConfig",  # re-exported: the sampler's settings (papers/otc/otc_config.py)
    "TransitionCVAE",  # re-exported: d_e's CVAE (papers/otc/otc_cvae.py)
    "CVAE_FORMS",  # re-exported: its forms (papers/otc/otc_config.py)
    "ranks",
    "rank_probabilities",
    "prioritized_draw",
    "l1_distances",
    "embedding_match",
    "embedding_distance",
    "embed_pair",
    "embedding_similarity",
    "q_match",
    "q_deviation_distance",
    "value_deviation",
    "q_similarity",
    "AdaptiveAlpha",  # re-exported: Eq. (4)'s adaptive exponent (papers/otc/otc_alpha.py)
]

EV_FLOOR_ABS = 1e-6  # |E V| >= EV_FLOOR_ABS + EV_FLOOR_REL * mean_B |Q1| [I]
EV_FLOOR_REL = 1e-3
MATCH_CHUNK_BYTES = 2 << 20  # largest [M, b, |D|] float block of one l1 chunk (d_e; cache-sized) [I]


# ----------------------------------------------------------------------------------------------
# Eq. (3): ranks, probabilities, the prioritized draw
# ----------------------------------------------------------------------------------------------


def ranks(d: Tensor) -> Tensor:
    """Ordinal ranks [M, B] int64 of d [M, B] per member: 1 = the smallest distance (most similar) [P Sec. 3.4].
    [I] A stable ascending sort: equal distances keep their index order (deterministic). NaN ranks last."""
    order = torch.sort(d, dim=-1, stable=True).indices  # [M, B]: order[m, r-1] = index of rank r
    pos = torch.arange(1, d.shape[-1] + 1, device=d.device).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, pos)


def rank_probabilities(d: Tensor, alpha: float | Tensor) -> Tensor:
    """Eq. (3) [P OTC Sec. 3.4 / Eq. (3)]: P(j) = p_j^alpha / sum_m p_m^alpha with p_j = 1 / rank(j), ranks from
    ``ranks(d)`` (1 = smallest d). alpha = 0 gives the uniform 1/B (the constant f).

    d [M, B] (any float dtype; only its order matters); alpha a float or a tensor [M] (one per member, >= 0).
    -> P [M, B] in d's floating dtype (float32 for integer d), each row summing to 1."""
    dtype = d.dtype if d.is_floating_point() else torch.float32
    m, b = d.shape
    order = torch.sort(d, dim=-1, stable=True).indices  # [M, B]
    r = torch.arange(1, b + 1, device=d.device, dtype=dtype)  # [B] ranks
    a = torch.as_tensor(alpha, device=d.device, dtype=dtype).reshape(-1, 1)  # [M or 1, 1]
    w = r.pow(-a)  # [M or 1, B] = p_r^alpha by rank; alpha 0 -> exactly 1
    by_rank = (w / w.sum(dim=-1, keepdim=True)).expand(m, b)  # [M, B]
    return torch.empty((m, b), device=d.device, dtype=dtype).scatter_(-1, order, by_rank)


def prioritized_draw(probs: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """The update batch [P OTC Alg. 1 line 14]: n indices [M, n] int64 into B per member, drawn from probs [M, B]
    with replacement (``torch.multinomial``, one call for all members).
    [I] With replacement, as PER's rank-based sampling; no importance-sampling weights (the point of OTC is to
    change the transition distribution, Eq. 2)."""
    return torch.multinomial(probs, int(n), replacement=True, generator=generator)


# ----------------------------------------------------------------------------------------------
# d_e: the l1 nearest neighbour of the CVAE embeddings (the CVAE: papers/otc/otc_cvae.py)
# ----------------------------------------------------------------------------------------------


def _uniform_rows(shape: Sequence[int], generator: torch.Generator, like: Tensor) -> Tensor:
    """One U[0, 1) per row, float64 (exact floor(u * n) for any tie count), from the caller's generator."""
    return torch.rand(tuple(shape), generator=generator, device=like.device, dtype=torch.float64)


def l1_distances(x: Tensor, y_t: Tensor) -> Tensor:
    """All l1 distances of x [M, b, L] to y [M, R, L] given as y_t = y transposed [M, L, R] -> [M, b, R], equal bit
    for bit to ``torch.cdist(x, y, p=1)`` (the same sum over the latent dimensions, in the same order:
    tests/test_otc_distances.py), one dimension at a time in two [M, b, R] buffers: about 2x faster than ``cdist``
    on one CPU thread at Table 3's sizes, whose per-pair loop does not vectorize over R."""
    tot = torch.sub(x[:, :, 0, None], y_t[:, None, 0]).abs_()  # [M, b, R]
    if x.shape[-1] > 1:
        buf = torch.empty_like(tot)
        for k in range(1, x.shape[-1]):
            tot.add_(torch.sub(x[:, :, k, None], y_t[:, None, k], out=buf).abs_())
    return tot


@torch.no_grad()
def embedding_match(
    mu_b: Tensor, mu_d: Tensor, generator: torch.Generator, chunk_bytes: int | None = None
) -> tuple[Tensor, Tensor]:
    """Eq. (1) with d_e [P OTC Sec. 3.3, Eq. (1), Sec. 3.5]: the nearest neighbour of each B row in D under the l1
    distance of the embeddings, and that distance, which is also the transition similarity d_e(s', s'*)
    (mu replaces both e(s, a_i) and e(s')).

    mu_b [M, B, L], mu_d [M, D, L] -> (match [M, B] int64 into D, distance [M, B]).
    [P] Exact ties are broken uniformly at random ([I] one U[0, 1) per B row from ``generator`` on every call).
    [I] ``l1_distances`` (``torch.cdist(p=1)``'s values) in chunks of B rows whose [M, b, D] block stays under
    ``chunk_bytes`` (default ``MATCH_CHUNK_BYTES``); the tie pass (mask + cumsum) runs only on chunks that hold a tie."""
    m, nb, _ = mu_b.shape
    nd = mu_d.shape[1]
    if nd < 1:
        raise ValueError("embedding_match needs at least one D row")
    limit = MATCH_CHUNK_BYTES if chunk_bytes is None else int(chunk_bytes)
    rows = max(1, limit // max(1, m * nd * mu_b.element_size()))
    u = _uniform_rows((m, nb), generator, mu_b)  # [M, B], drawn whatever the data
    mu_d_t = mu_d.transpose(1, 2).contiguous()  # [M, L, D]
    idx_parts, dist_parts = [], []
    for start in range(0, nb, rows):
        dist = l1_distances(mu_b[:, start : start + rows], mu_d_t)  # [M, b, D]
        best, first = dist.min(dim=-1)  # [M, b]
        tie = dist == best.unsqueeze(-1)  # [M, b, D]
        n_tie = tie.sum(dim=-1)  # [M, b] >= 1
        if bool((n_tie > 1).any()):
            # [M, b] in [0, n_tie)
            k = (u[:, start : start + rows] * n_tie).floor().long().clamp_(max=n_tie - 1)
            # index of the (k+1)-th tied column = number of columns whose running tie count is <= k
            first = (tie.cumsum(dim=-1) <= k.unsqueeze(-1)).sum(dim=-1)
        idx_parts.append(first)
        dist_parts.append(best)
    return torch.cat(idx_parts, dim=1), torch.cat(dist_parts, dim=1)


@torch.no_grad()
def embedding_distance(
    mu_b: Tensor, mu_d: Tensor, generator: torch.Generator, chunk_bytes: int | None = None
) -> Tensor:
    """The distance of ``embedding_match`` alone, d_b = min_{x in D} ||mu_b - mu_x||_1 [M, B], bitwise the same
    (the same chunked ``l1_distances``), for the sampler, which needs no match index under d_e: the similarity is
    the distance itself, and a tie changes the match, not the distance. Skips the index and the tie pass (a
    third of the matching's time at Table 3's sizes) but draws the one U[0, 1) per B row that ``embedding_match``
    draws, so that the caller's random stream is the same either way."""
    m, nb, _ = mu_b.shape
    nd = mu_d.shape[1]
    if nd < 1:
        raise ValueError("embedding_distance needs at least one D row")
    limit = MATCH_CHUNK_BYTES if chunk_bytes is None else int(chunk_bytes)
    rows = max(1, limit // max(1, m * nd * mu_b.element_size()))
    _uniform_rows((m, nb), generator, mu_b)  # the draw of embedding_match's tie-breaks, for the stream
    mu_d_t = mu_d.transpose(1, 2).contiguous()  # [M, L, D]
    return torch.cat(
        [l1_distances(mu_b[:, s : s + rows], mu_d_t).amin(dim=-1) for s in range(0, nb, rows)], 1
    )


def embed_pair(
    cvae: TransitionCVAE, batch_b: Mapping[str, Tensor], batch_d: Mapping[str, Tensor]
) -> tuple[Tensor, Tensor]:
    """mu of the B and D rows in one forward: batch_b / batch_d hold "obs", "next_obs" [M, R, O] and "actions"
    [M, R, A] (R = B or D) -> (mu_b [M, B, L], mu_d [M, D, L])."""
    nb = batch_b["obs"].shape[1]
    mu = cvae.embed(*(torch.cat([batch_b[k], batch_d[k]], dim=1) for k in ("obs", "next_obs", "actions")))
    return mu[:, :nb], mu[:, nb:]  # [M, B + D, L] split


def embedding_similarity(
    cvae: TransitionCVAE,
    batch_b: Mapping[str, Tensor],
    batch_d: Mapping[str, Tensor],
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """d_e for one update [P OTC Sec. 3.3, 3.5]: embeds the B and D rows in one forward (``embed_pair``) and
    matches them. -> (match [M, B], similarity d [M, B]) as ``embedding_match``."""
    return embedding_match(*embed_pair(cvae, batch_b, batch_d), generator)


# ----------------------------------------------------------------------------------------------
# d_q: 1-D matching on Q and the value deviation
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def q_match(q_b: Tensor, q_d: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Eq. (1) with d_q [P OTC Sec. 3.3, Eq. (1)]: match x*(b) = argmin_{x in D} |Q_b - Q_x|, exact ties uniform at
    random [P]; q_b [M, B], q_d [M, D] (finite) -> (match [M, B] int64 into D, |Q_b - Q_match| [M, B]).

    [I] A 1-D nearest neighbour by sort + ``searchsorted``, O((B + D) log D): the candidates are the largest
    Q_x < Q_b (run of equal values ending at the insertion point) and the smallest Q_x >= Q_b (run starting
    there); each side's distance is the brute-force subtraction, and the tie set is the union of the runs whose
    distance equals the minimum. One U[0, 1) per B row from ``generator`` picks the k-th tied row."""
    nd = q_d.shape[-1]
    if nd < 1:
        raise ValueError("q_match needs at least one D row")
    vs, order = torch.sort(q_d, dim=-1, stable=True)  # [M, D]
    q_b = q_b.to(vs.dtype).contiguous()
    pos = torch.searchsorted(vs, q_b, right=False)  # [M, B] in [0, D]: vs[:pos] < q_b <= vs[pos:]
    has_l, has_r = pos > 0, pos < nd
    v_l = vs.gather(-1, (pos - 1).clamp(min=0))  # [M, B] largest value < q_b
    v_r = vs.gather(-1, pos.clamp(max=nd - 1))  # [M, B] smallest value >= q_b
    inf = torch.full_like(q_b, math.inf)
    d_l = torch.where(has_l, q_b - v_l, inf)
    d_r = torch.where(has_r, v_r - q_b, inf)
    best = torch.minimum(d_l, d_r)  # [M, B]
    start_l = torch.searchsorted(vs, v_l, right=False)  # run of v_l: [start_l, pos)
    end_r = torch.searchsorted(vs, v_r, right=True)  # run of v_r: [pos, end_r)
    n_l = torch.where(has_l & (d_l == best), pos - start_l, torch.zeros_like(pos))
    n_r = torch.where(has_r & (d_r == best), end_r - pos, torch.zeros_like(pos))
    n = n_l + n_r  # [M, B] >= 1
    u = _uniform_rows(q_b.shape, generator, q_b)
    k = (u * n).floor().long().clamp_(max=n - 1)  # [M, B] in [0, n)
    sorted_idx = torch.where(k < n_l, start_l + k, pos + (k - n_l))  # [M, B] position in vs
    return order.gather(-1, sorted_idx), best


def value_deviation(
    v_next: Tensor,
    q: Tensor,
    rewards: Tensor,
    terminals: Tensor,
    gamma: float,
    floor: Tensor,
    norm: str = "transition",
) -> Tensor:
    """dev(s') = V(s') / E_{s'} V(s') [P OTC Sec. 3.3], per row; all inputs [M, R], floor [M] -> dev [M, R].

    E_{s'} V(s'): norm "transition" = (Q1(s, a_i) - r) / gamma per transition [I: the value deviation of the same
    authors' MABCQ, whose V is the Bellman target of Q1]; "batch" = the mean of V(s') over the non-terminal rows
    given [I: the plainest reading of E_{s'}]. [I] Guards: |E V| >= floor (sign kept, 0 counts as +), terminal
    rows (terminals > 0) get dev = 0."""
    if norm not in DQ_NORMS:
        raise ValueError(f"norm={norm!r} is not allowed; choose one of {list(DQ_NORMS)}")
    done = terminals > 0  # [M, R]
    if norm == "transition":
        ev = (q - rewards) / gamma  # [M, R]
    else:
        live = (~done).to(v_next.dtype)
        ev = ((v_next * live).sum(-1, keepdim=True) / live.sum(-1, keepdim=True).clamp(min=1.0)).expand_as(
            v_next
        )
    sign = torch.where(ev < 0, -torch.ones_like(ev), torch.ones_like(ev))
    ev = sign * torch.maximum(ev.abs(), floor.unsqueeze(-1).to(ev.dtype))
    return torch.where(done, torch.zeros_like(v_next), v_next / ev)


@torch.no_grad()
def q_deviation_distance(
    idx: Tensor,
    q_b: Tensor,
    q_d: Tensor,
    v_next_b: Tensor,
    rewards_b: Tensor,
    rewards_d: Tensor,
    terminals_b: Tensor,
    terminals_d: Tensor,
    gamma: float,
    norm: str = "transition",
    *,
    v_next_d: Tensor | None = None,
    v_next_dm: Tensor | None = None,
) -> Tensor:
    """d_b = |dev(s'_b) - dev(s'*)| [P OTC Sec. 3.3] for the match idx [M, B] into D (``q_match``), with
    ``value_deviation``; q_*, rewards_*, terminals_* [M, B] / [M, D] as ``q_similarity``.

    V(s') of D is either ``v_next_d`` [M, D] (every D row) or ``v_next_dm`` [M, B] (the matched rows D[idx] only;
    norm "transition" only, where dev is a function of its own row): then V runs on |B| rows instead of |D|,
    the sampler's saving (bitwise the same deviations: the same elementwise operations on the same values).
    [I] The |E V| floor is 1e-6 + 1e-3 * mean_B |Q1| per member, from the B rows, for both sets."""
    if (v_next_d is None) == (v_next_dm is None):
        raise ValueError(
            "q_deviation_distance needs exactly one of v_next_d (all D rows) and v_next_dm (matched)"
        )
    if v_next_dm is not None and norm != "transition":
        raise ValueError(
            f"v_next_dm (matched rows only) needs norm='transition'; norm={norm!r} averages V over D"
        )
    floor = EV_FLOOR_ABS + EV_FLOOR_REL * q_b.abs().mean(dim=-1)  # [M]
    dev_b = value_deviation(v_next_b, q_b, rewards_b, terminals_b, gamma, floor, norm)  # [M, B]
    if v_next_d is not None:
        # [M, B]
        dev_m = value_deviation(v_next_d, q_d, rewards_d, terminals_d, gamma, floor, norm).gather(-1, idx)
    else:
        at = [x.gather(-1, idx) for x in (q_d, rewards_d, terminals_d)]
        dev_m = value_deviation(v_next_dm, at[0], at[1], at[2], gamma, floor, norm)  # [M, B]
    return (dev_b - dev_m).abs()


@torch.no_grad()
def q_similarity(
    q_b: Tensor,
    q_d: Tensor,
    v_next_b: Tensor,
    v_next_d: Tensor,
    rewards_b: Tensor,
    rewards_d: Tensor,
    terminals_b: Tensor,
    terminals_d: Tensor,
    gamma: float,
    generator: torch.Generator,
    norm: str = "transition",
) -> tuple[Tensor, Tensor]:
    """d_q for one update [P OTC Sec. 3.3, Eq. (1)]: match by |Q(s, a_i) - Q(s*, a_i*)| (``q_match``), then
    d_b = |dev(s'_b) - dev(s'*)| (``q_deviation_distance``).

    q_* = Q1(s, a_i) of the rows, v_next_* = the learner's V(s') = E_{a_i} Q(s', a_i) (its estimator stays with the
    learner), rewards_*, terminals_*: [M, B] for B and [M, D] for D.
    -> (match [M, B] int64 into D, similarity d [M, B])."""
    idx, _ = q_match(q_b, q_d, generator)
    return idx, q_deviation_distance(
        idx,
        q_b,
        q_d,
        v_next_b,
        rewards_b,
        rewards_d,
        terminals_b,
        terminals_d,
        gamma,
        norm,
        v_next_d=v_next_d,
    )
