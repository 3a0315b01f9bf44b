"""The run state of CAST-BCQ's SMAX learner (papers/cast_bcq/smac.py): ``SmaxRunState``, its base class, holds the
checkpoints (``state_dict`` / ``load_state_dict``: networks, targets, RMSprop states, per-seed generators, update
count) and the stacking of runs as members (``stack`` several learners into one, ``split_state`` back into each
run's checkpoint; cells as members, common/running/grouping.py). No math of the learners lives here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from common.algos.state import (
    slice_module_state,
    slice_optimizer_state,
    stack_module_states,
    stack_optimizer_states,
)

__all__ = ["SmaxRunState"]


class SmaxRunState:
    """Checkpoints and stacking of a ``SmaxLearner`` (its attributes cfg, seeds, S, O, D, N, K, device, nets,
    targets, opts, gens, step)."""

    run_seeds: list[int] | None = None  # a stack: each stacked run's seed count, in order (None: one run)

    @classmethod
    def stack(cls, learners: Sequence["SmaxRunState"]) -> "SmaxRunState":
        """One learner whose seeds are those of ``learners`` side by side (e.g. one per (cell, seed) run): networks,
        targets, RMSprop states and per-seed generators copied in. The learner already keeps one random stream per
        seed and clips each seed's gradient on its own norm, so an update of the stack is an update of each learner
        alone (I-BCQ and MABCQ bit for bit: N members per seed in every network; ICQ-MA's mixer and CAST's joint
        critic, one member per seed, up to the float rounding of a batched product over another member count,
        docs/scaling.md). ``split_state`` gives the learners' state_dicts back."""
        first = learners[0]
        sig = lambda lr: (asdict(lr.cfg), lr.O, lr.D, lr.N, lr.K, str(lr.device), lr.step)  # noqa: E731
        bad = [k for k, lr in enumerate(learners) if sig(lr) != sig(first)]
        if bad:
            raise ValueError(f"SmaxLearner.stack: learners {bad} differ from learner 0 in config, shapes, device "
                             "or update count")
        big = cls(first.O, first.D, first.N, first.K, first.cfg, seeds=[s for lr in learners for s in lr.seeds],
                  device=first.device)
        for name in big.nets:
            stack_module_states(big.nets[name], [lr.nets[name] for lr in learners])
        for name in big.targets:
            stack_module_states(big.targets[name], [lr.targets[name] for lr in learners])
        for name, opt in big.opts.items():
            opt.load_state_dict(stack_optimizer_states([lr.opts[name].state_dict() for lr in learners]))
        for g, own in zip(big.gens, [g for lr in learners for g in lr.gens]):
            g.set_state(own.get_state())
        big.step, big.run_seeds = first.step, [lr.S for lr in learners]
        return big

    def split_state(self) -> list[dict[str, Any]]:
        """Each stacked run's ``state_dict`` as its learner alone would write it (a checkpoint that resumes the run
        alone or stacked again)."""
        if self.run_seeds is None:
            raise ValueError("split_state needs a stack of learners (SmaxLearner.stack)")
        out, s0 = [], 0
        opts = {k: v.state_dict() for k, v in self.opts.items()}
        for n in self.run_seeds:
            own = slice(s0, s0 + n)
            out.append({"cfg": asdict(self.cfg), "seeds": self.seeds[own], "step": self.step,
                        "nets": {k: slice_module_state(v, own, self.S) for k, v in self.nets.items()},
                        "targets": {k: slice_module_state(v, own, self.S) for k, v in self.targets.items()},
                        "opts": {k: slice_optimizer_state(v, own, self.S) for k, v in opts.items()},
                        "gens": [g.get_state() for g in self.gens[own]]})
            s0 += n
        return out

    # ---- checkpoints ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"cfg": asdict(self.cfg), "seeds": self.seeds, "step": self.step,
                "nets": {k: v.state_dict() for k, v in self.nets.items()},
                "targets": {k: v.state_dict() for k, v in self.targets.items()},
                "opts": {k: v.state_dict() for k, v in self.opts.items()}, "gens": [g.get_state() for g in self.gens]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if dict(state["cfg"]) != asdict(self.cfg) or list(state["seeds"]) != self.seeds:
            raise ValueError("checkpoint config or seeds differ from this learner's")
        for group, own in (("nets", self.nets), ("targets", self.targets), ("opts", self.opts)):
            for k, v in own.items():
                v.load_state_dict(state[group][k])
        for g, s in zip(self.gens, state["gens"]):
            g.set_state(s.cpu())
        self.step = int(state["step"])
