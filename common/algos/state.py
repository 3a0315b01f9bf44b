"""Checkpoints of the batched offline learners (BCQ, AWAC, CAST-BCQ, ICQ-MA): one format and one check.

    def state_dict(self):            return learner_state(self, self._MODULES)
    def load_state_dict(self, s):    load_learner_state(self, s, self._MODULES)

A learner holds ``cfg`` (a config dataclass), ``seeds``, ``step``, ``gen`` (its torch.Generator) and the named
modules / optimizers. Loading refuses a checkpoint whose config differs from the learner's (fields newer than
the checkpoint take their defaults; JSON lists compare as the config's tuples), naming the differing fields.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, Iterable, Mapping


def learner_state(learner, modules: Iterable[str]) -> dict[str, Any]:
    """Config, seeds, step, generator state and every named module's state_dict."""
    return {"cfg": asdict(learner.cfg), "seeds": list(learner.seeds), "step": learner.step,
            "rng": learner.gen.get_state(), **{name: getattr(learner, name).state_dict() for name in modules}}


def load_learner_state(learner, state: Mapping[str, Any], modules: Iterable[str], *, same_seeds: bool = False) -> None:
    """Restore ``learner_state``'s output into ``learner``; ``same_seeds`` also refuses a checkpoint of other
    seeds (else the learner takes the checkpoint's seeds)."""
    cls = type(learner.cfg)
    saved = asdict(cls(**{**asdict(cls()), **state["cfg"]}))  # newer fields: defaults; lists -> the config's tuples
    if saved != asdict(learner.cfg):
        diff = {f.name for f in fields(cls) if saved.get(f.name) != getattr(learner.cfg, f.name)}
        raise ValueError(f"checkpoint config differs from this learner's in {sorted(diff)}")
    if same_seeds and list(state["seeds"]) != list(learner.seeds):
        raise ValueError(f"checkpoint seeds {list(state['seeds'])} differ from this learner's {list(learner.seeds)}")
    for name in modules:
        getattr(learner, name).load_state_dict(state[name])
    learner.gen.set_state(state["rng"])
    learner.step = int(state["step"])
    learner.seeds = list(state["seeds"])
