"""Continuous BCQ's data side (a mixin of ``common.algos.bcq.BCQ``, whose module docstring gives the views): the step
tensors the update reads with an agent axis (``prepare_data``; the central view's state or agent 0's obs and the
joined action; the row list of ``drop_terminals``) and one independent minibatch per member (``sample_batch``).
Shapes: T dataset rows, M members, B batch, N agents, O obs dim, A action dim, J joint action dim.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from common.datasets.sampling import gather_members

if TYPE_CHECKING:
    from common.algos.bcq_config import BCQConfig

BATCH_KEYS = ("obs", "actions", "rewards", "next_obs", "terminals")


class BCQData:
    """BCQ's data side; reads the learner's view, shapes, ``join``, device and training streams."""

    if TYPE_CHECKING:  # what the data side reads of the learner (common.algos.bcq.BCQ), typed for the checker
        cfg: BCQConfig
        central: bool
        state_dim: int | None
        obs_dim: int
        act_dim: int
        act_dims: tuple[int, ...]
        agents: Tensor  # [M] each member's agent
        device: torch.device
        dtype: torch.dtype
        join: Callable[[np.ndarray], np.ndarray]

        def sample_rows(
            self,
            data: Mapping[str, Tensor],
            *,
            per_seed: bool = False,
            generator=None,
            replace: bool | None = None,
        ) -> Tensor: ...

    # ---- data ---------------------------------------------------------------------------------
    def prepare_data(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The step tensors the update reads, on the learner's device and dtype, with an agent axis:
        independent: obs / next_obs [T, N, O], actions [T, N, A], rewards [T, N], terminals [T];
        central: obs / next_obs [T, 1, O] (state or agent 0's obs), actions [T, 1, J] = join(actions),
        rewards [T, 1] (mean over agents), terminals [T]. drop_terminals adds rows [T'] (the non-terminal rows)."""
        if self.central:
            out = self._central_tensors(tensors)
        else:
            out = {k: tensors[k] for k in BATCH_KEYS}
        out = {k: v.to(device=self.device, dtype=self.dtype) for k, v in out.items()}
        if self.cfg.drop_terminals:  # the code's quirk: terminal rows never reach the buffer
            out["rows"] = torch.nonzero(out["terminals"] == 0).squeeze(-1)  # [T'] int64
            if out["rows"].numel() == 0:
                raise ValueError("drop_terminals=True leaves no row to sample: every row is terminal")
        return out

    def _central_tensors(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        if self.state_dim is not None:
            if "state" not in tensors:
                raise KeyError(
                    f"view='central' with state_dim={self.state_dim} needs the dataset's state/next_state"
                )
            obs, next_obs = tensors["state"], tensors["next_state"]  # [T, S]
            if obs.shape[-1] != self.state_dim:
                raise ValueError(
                    f"state has {obs.shape[-1]} columns, the learner was built for {self.state_dim}"
                )
        else:  # no state: agent 0's own observation
            # [T, O]
            obs, next_obs = tensors["obs"][:, 0, : self.obs_dim], tensors["next_obs"][:, 0, : self.obs_dim]
        acts = tensors["actions"]  # [T, N, A]
        joint = torch.as_tensor(np.asarray(self.join(acts.detach().cpu().numpy())))  # [T, J]
        if joint.shape != (acts.shape[0], self.act_dim):
            raise ValueError(
                f"join gave joint actions of shape {tuple(joint.shape)}, need "
                f"[{acts.shape[0]}, {self.act_dim}] (sum of act_dims {self.act_dims})"
            )
        return {
            "obs": obs[:, None],
            "actions": joint[:, None],
            "rewards": tensors["rewards"].mean(-1, keepdim=True),
            "next_obs": next_obs[:, None],
            "terminals": tensors["terminals"],
        }

    def sample_batch(
        self, data: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """One independent minibatch per member from ``prepare_data`` tensors (as ITD3's local critics):
        obs / next_obs [M, B, O], actions [M, B, A], rewards / terminals [M, B]."""
        if self.cfg.drop_terminals and "rows" not in data:
            raise KeyError("drop_terminals=True needs the row list: pass learner.prepare_data(tensors)")
        idx = self.sample_rows(data, generator=generator)  # [M, B]
        return gather_members({k: data[k] for k in BATCH_KEYS}, idx, self.agents)
