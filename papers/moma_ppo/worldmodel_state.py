"""The checkpoint of MOMA-PPO's world-model ensemble (papers/moma_ppo/worldmodel.py): what ``sample`` depends on
(the heads' weights, the elites and the clipping box: ``model_state``, named by its ``checksum``) and the whole
training state (``state_dict`` / ``load_state_dict``: also the config, layout, seeds, step, elite scores, optimizer
and generator), checked on load against the ensemble it is loaded into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from torch import Tensor

from common.algos.state import restore_generator
from papers.moma_ppo.worldmodel_data import JointLayout, WorldModelConfig
from papers.moma_ppo.worldmodel_nets import weights_sha256

__all__ = ["BOX_KEYS", "WorldModelCheckpoint"]

BOX_KEYS = ("obs_low", "obs_high", "rew_low", "rew_high")  # the clipping box of ``sample``: per agent and dim


class WorldModelCheckpoint:
    """The checkpoint methods of ``WorldModelEnsemble`` (which holds the attributes they read and write)."""

    def model_state(self) -> dict[str, Tensor]:
        """Everything ``sample`` depends on: the heads' weights, the elites and the clipping box."""
        state = {f"heads.{k}": v for k, v in self.heads.state_dict().items()}
        state["elites"] = self.elites
        state.update({f"box.{k}": v for k, v in self.box.items()})
        return state

    def checksum(self) -> str:
        """sha256 of :meth:`model_state` (:func:`weights_sha256`): names the ensemble in records."""
        return weights_sha256(self.model_state())

    def state_dict(self) -> dict[str, Any]:
        return {
            "cfg": asdict(self.cfg),
            "layout": asdict(self.layout),
            "seeds": list(self.seeds),
            "step": self.step,
            "model": {k: v.detach().clone() for k, v in self.model_state().items()},
            "elite_scores": self.elite_scores.detach().clone(),
            "optim": self.optim.state_dict(),
            "rng": self.gen.get_state(),
            "sha256": self.checksum(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = {**asdict(WorldModelConfig()), **state["cfg"]}
        if saved != asdict(self.cfg):
            diff = sorted(
                f.name for f in fields(WorldModelConfig) if saved.get(f.name) != getattr(self.cfg, f.name)
            )
            raise ValueError(f"checkpoint config differs from this ensemble's in {diff}")
        layout = JointLayout(**state["layout"])
        if layout != self.layout or list(state["seeds"]) != self.seeds:
            raise ValueError(
                f"checkpoint layout {layout} / seeds {state['seeds']} differ from this ensemble's "
                f"{self.layout} / {self.seeds}"
            )
        model = state["model"]
        if "sha256" in state and weights_sha256(model) != state["sha256"]:
            raise ValueError("checkpoint weights do not match their sha256: the file is corrupt")
        self.heads.load_state_dict(
            {k[len("heads.") :]: v for k, v in model.items() if k.startswith("heads.")}
        )
        if bool((model["elites"] >= 0).all()):
            self.set_elites(model["elites"])
        else:
            self.elites.fill_(-1)
        for k in BOX_KEYS:
            self.box[k] = model[f"box.{k}"].to(device=self.device, dtype=self.dtype).clone()
        self.elite_scores = state["elite_scores"].to(device=self.device, dtype=self.dtype).clone()
        self.optim.load_state_dict(state["optim"])
        restore_generator(self.gen, state["rng"], int(self.seeds[0]), len(self.seeds), int(state["step"]))
        self.step = int(state["step"])
