"""CAST-BCQ's data for continuous control (papers/cast_bcq/cast_bcq.py's ``CASTBCQ``): the step tensors its update
reads (the state, the partners' dataset actions a_{-i} and next actions a'_{-i,data}, the code's drop of terminal
rows) and one minibatch of rows per seed, shared by the seed's N members (m = s * N + i)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from common.algos.itd3_losses import with_next_actions
from common.datasets.sampling import gather_members

__all__ = ["BATCH_KEYS", "CASTData"]

BATCH_KEYS = ("obs", "actions", "rewards", "next_obs", "terminals")


class CASTData:
    """The data methods of ``CASTBCQ`` (which holds cfg, the layout, ``others`` and the member sampler)."""

    def prepare_data(self, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The step tensors the update reads, on the learner's device and dtype: obs / next_obs [T, N, O],
        actions / next_actions [T, N, A] (a'_data, 0 where the episode ends), rewards [T, N], terminals /
        next_valid [T] (0 on time-out rows), state / next_state [T, D]; drop_terminals adds rows [T'] (the
        non-terminal rows)."""
        for k in ("state", "next_state"):
            if k not in tensors:
                raise KeyError(f"CAST-BCQ reads {k!r}; the dataset has none")
        if tensors["state"].shape[-1] != self.state_dim:
            raise ValueError(
                f"state has {tensors['state'].shape[-1]} columns, the learner was built for {self.state_dim}"
            )
        t = tensors if "next_actions" in tensors else with_next_actions(tensors)
        keys = BATCH_KEYS + ("state", "next_state", "next_actions", "next_valid")
        out = {k: t[k].to(device=self.device, dtype=self.dtype) for k in keys}
        if self.cfg.drop_terminals:  # the code's quirk: terminal rows never reach the buffer
            out["rows"] = torch.nonzero(out["terminals"] == 0).squeeze(-1)  # [T'] int64
            if out["rows"].numel() == 0:
                raise ValueError("drop_terminals=True leaves no row to sample: every row is terminal")
        return out

    def _partners(self, joint: Tensor) -> Tensor:
        """Seed rows' joint actions [S, B, N, A] -> each member's partners' actions [M, B, (N-1) A], agent order."""
        S, B, N, A = joint.shape
        return joint[:, :, self.others].permute(0, 2, 1, 3, 4).reshape(S * N, B, (N - 1) * A)

    def sample_batch(
        self, data: Mapping[str, Tensor], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """One row set per seed, shared by its N members: obs / next_obs [M, B, O], actions [M, B, A], rewards /
        terminals / next_valid [M, B], state / next_state [M, B, D], others / next_others [M, B, (N-1) A] (the
        partners' dataset actions a_{-i} and a'_{-i,data})."""
        if self.cfg.drop_terminals and "rows" not in data:
            raise KeyError("drop_terminals=True needs the row list: pass learner.prepare_data(tensors)")
        idx_s = self.sample_rows(data, per_seed=True, generator=generator)  # [S, B]
        idx = idx_s.repeat_interleave(self.n_agents, dim=0)  # [M, B]: member s * N + i reads seed s's rows
        batch = gather_members({k: data[k] for k in BATCH_KEYS}, idx, self.agents)
        for k in ("state", "next_state", "next_valid"):
            batch[k] = data[k][idx]
        batch["others"] = self._partners(data["actions"][idx_s])
        batch["next_others"] = self._partners(data["next_actions"][idx_s])
        return batch
