"""The reference optimum of CAST-BCQ's cliff grid (spec §6.1): Q* of the joint actions by value iteration on
envs.games.CliffGrid's dynamics, and V* (V*(1, 1) is the optimal return); the tests check the spec's exact claims on them.
"""

from __future__ import annotations

import numpy as np

from envs.games import CliffGrid

__all__ = ["optimal_joint_q", "optimal_value"]


def optimal_joint_q(gamma: float, tol: float = 1e-12, max_iter: int = 10_000) -> np.ndarray:
    """Q*[x, y, a_1, a_2] of the cliff grid (envs.games.CliffGrid dynamics, no time limit) by value iteration.

    Shape [W + 1, H + 1, 3, 3] = [7, 5, 3, 3], indexed by the cell's own coordinates x in 1..6, y in 1..4 and
    the action indices (0 fwd, 1 bwd, 2 stay); index 0 and the goal cell (6, 4), where nobody acts, are NaN."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma={gamma!r} must be in [0, 1]")
    G = CliffGrid
    W, H, moves = G.WIDTH, G.HEIGHT, G.MOVES
    K = len(moves)
    cells = [(x, y) for x in range(1, W + 1) for y in range(1, H + 1) if (x, y) != G.GOAL]
    V = np.zeros((W + 1, H + 1))
    Q = np.full((W + 1, H + 1, K, K), np.nan)
    for _ in range(max_iter):
        for x, y in cells:
            for a1 in range(K):
                for a2 in range(K):
                    nx, ny = x + moves[a1], y + moves[a2]
                    if not (1 <= nx <= W and 1 <= ny <= H):
                        Q[x, y, a1, a2] = G.R_CLIFF
                    elif (nx, ny) == G.GOAL:
                        Q[x, y, a1, a2] = G.R_GOAL
                    else:
                        Q[x, y, a1, a2] = G.R_STEP + gamma * V[nx, ny]
        V_new = np.zeros_like(V)
        for x, y in cells:
            V_new[x, y] = Q[x, y].max()
        if np.max(np.abs(V_new - V)) < tol:
            return Q
        V = V_new
    raise RuntimeError(f"value iteration did not converge in {max_iter} sweeps (gamma={gamma})")


def optimal_value(gamma: float) -> np.ndarray:
    """V*[x, y] = max_a Q*[x, y, a] ([7, 5]; index 0 and the goal NaN); V*(1, 1) is the optimal return."""
    Q = optimal_joint_q(gamma)
    V = np.full(Q.shape[:2], np.nan)
    ok = ~np.isnan(Q[..., 0, 0])
    V[ok] = Q[ok].reshape(int(ok.sum()), -1).max(axis=-1)
    return V
