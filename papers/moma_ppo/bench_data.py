"""The synthetic shapes, data and world models that MOMA-PPO's benchmark (papers/moma_ppo/bench.py) times: the cost of
an update or an iteration depends on the shapes only, not on the numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["SHAPES", "WM_SIZES", "MAPPO_SIZES", "ROWS", "synthetic", "world_model", "wm_data"]

SHAPES = {
    "reacher-2x1": dict(obs_dims=(8, 6), act_dims=(1, 1)),
    "ant-4x2-po": dict(obs_dims=(15, 4, 4, 4), act_dims=(2, 2, 2, 2)),
}
WM_SIZES = {
    "code": dict(hidden=1024, t_layers=4, r_layers=4, mask_layers=2),
    "quick": dict(hidden=256, t_layers=4, r_layers=4, mask_layers=2),
    "tiny": dict(hidden=16, t_layers=2, r_layers=2, mask_layers=1),  # the test's
}
MAPPO_SIZES = {
    "code": dict(hidden=(256, 256), memory_len=10),
    "quick": dict(hidden=(128, 128), memory_len=0),
    "tiny": dict(hidden=(16, 16), memory_len=2, memory_dim=8, minibatch_size=16),
}
ROWS = 20_000  # synthetic dataset rows (start states, world-model minibatches)


def synthetic(shape: dict, rows: int, device, seed: int = 0) -> dict[str, Any]:
    """A dataset's arrays in the Dataset layout (padded per agent): obs / next_obs [T, N, O], actions [T, N, A] in
    [-1, 1], rewards [T, N], terminals / timeouts [T] (episodes of 50 steps)."""
    g = np.random.default_rng(seed)
    n, o, a = len(shape["obs_dims"]), max(shape["obs_dims"]), max(shape["act_dims"])
    obs = g.normal(size=(rows, n, o)).astype(np.float32)
    for i, d in enumerate(shape["obs_dims"]):
        obs[:, i, d:] = 0.0  # padding
    return {
        "obs": obs,
        "next_obs": obs + 0.1 * g.normal(size=obs.shape).astype(np.float32) * (obs != 0),
        "actions": g.uniform(-1, 1, size=(rows, n, a)).astype(np.float32),
        "rewards": g.normal(size=(rows, n)).astype(np.float32),
        "terminals": np.zeros(rows, dtype=bool),
        "timeouts": (np.arange(rows) % 50) == 49,
    }


def world_model(shape: dict, size: str, n_members: int, device, seed: int = 0):
    """An ensemble of ``n_members`` (its elites the first 5 members; a wide box). One member: an ensemble whose
    heads and optimizer hold a single member (a world model alone, to train only: an ensemble needs >= 2 elites)."""
    from papers.moma_ppo.worldmodel import WorldModelEnsemble  # noqa: PLC0415
    from papers.moma_ppo.worldmodel_data import JointLayout, WorldModelConfig  # noqa: PLC0415
    from papers.moma_ppo.worldmodel_nets import WMHeads  # noqa: PLC0415

    cfg = WorldModelConfig(n_members=max(n_members, 5), n_elites=5, **WM_SIZES[size])
    wm = WorldModelEnsemble(
        JointLayout(shape["obs_dims"], shape["act_dims"]), cfg, seeds=[seed], device=device
    )
    if n_members == 1:
        lay = wm.layout
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            wm.heads = WMHeads(1, lay.in_dim, lay.joint_obs_dim, lay.n_agents, cfg).to(device).train()
        wm.optim = torch.optim.Adam(wm.heads.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        wm.n_per_group = wm.n_members = 1
        return wm
    for k, v in wm.box.items():
        wm.box[k] = torch.full_like(v, -100.0 if k.endswith("low") else 100.0)
    # "not terminal" with p ~ 1, as a trained Reacher / Ant model predicts: the rollouts run their k steps, as real
    # iterations do (rollout_len_mean ~ 10 in quick's Table 4a records); at initialisation p ~ 0.5 would end half the
    # rollouts at every step
    with torch.no_grad():
        list(wm.heads.mask.parameters())[-1].fill_(10.0)
    wm.set_elites(list(range(cfg.n_elites)))
    return wm


def wm_data(wm, arrays: dict, device):
    from papers.moma_ppo.worldmodel_data import WMData  # noqa: PLC0415

    lay = wm.layout
    obs = torch.as_tensor(arrays["obs"], device=device)
    act = torch.as_tensor(arrays["actions"], device=device)
    T = obs.shape[0]
    return WMData(
        inputs=lay.inputs(obs, act),
        next_obs=lay.joint_obs(torch.as_tensor(arrays["next_obs"], device=device)),
        rewards=torch.as_tensor(arrays["rewards"], device=device),
        masks=torch.ones(T, lay.n_agents, device=device),
        train=[torch.arange(T, device=device)],
        valid=[torch.arange(T, device=device)],
    )
