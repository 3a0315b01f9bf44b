"""Checkpoints of the batched offline learners (BCQ, AWAC, CAST-BCQ, ICQ-MA, TD3+BC, BREMEN): one format and one
check; and two pieces every batched learner with members m = s * N + i shares: its networks built per seed
(``build_seed_members``) and acting on [S, E, N, O] observations (``member_act``).

    def state_dict(self):            return learner_state(self, self._MODULES)
    def load_state_dict(self, s):    load_learner_state(self, s, self._MODULES)

A learner holds ``cfg`` (a config dataclass), ``seeds``, ``step``, ``gen`` (its torch.Generator) and the named
modules / optimizers. Loading refuses a checkpoint whose config differs from the learner's (fields newer than
the checkpoint take their defaults; JSON lists compare as the config's tuples), naming the differing fields.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor


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


def build_seed_members(build: Callable[[int], dict[str, Any]], seeds: Sequence[int], per_seed: int, device,
                       dtype) -> dict[str, Any]:
    """The learner's networks for every member, seed s's ``per_seed`` members built from ``seeds[s]`` alone (seed
    before building; the global random stream is left as it was): ``build(n)`` returns named modules of n members;
    each is built once for all members, then every seed's part is rebuilt under its own seed and copied in."""
    from common.algos.itd3 import _copy_members

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seeds[0]))
        big = build(len(seeds) * per_seed)
        for s, sd in enumerate(seeds):
            torch.manual_seed(int(sd))
            for name, net in build(per_seed).items():
                _copy_members(big[name], net, s * per_seed)
    for net in big.values():
        net.to(device=device, dtype=dtype).train()
    return big


def member_act(obs, n_seeds: int, n_agents: int, obs_dim: int, select: Callable[[Tensor], Tensor], dtype, device):
    """Acting of an independent learner (member m = s * N + i): obs [S, E, N, O] (numpy or tensor) -> the members'
    obs [M, E, O] -> ``select`` -> actions [S, E, N, A], numpy in, numpy out; run under inference mode."""
    is_np = isinstance(obs, np.ndarray)
    x = torch.as_tensor(obs, dtype=dtype, device=device)
    if x.dim() != 4 or (x.shape[0], x.shape[2], x.shape[3]) != (n_seeds, n_agents, obs_dim):
        raise ValueError(f"obs must be [S={n_seeds}, E, N={n_agents}, O={obs_dim}], got {tuple(x.shape)}")
    S, E, N, O = x.shape
    with torch.inference_mode():
        a = select(x.permute(0, 2, 1, 3).reshape(S * N, E, O))  # [M, E, A]
    out = a.reshape(S, N, E, -1).permute(0, 2, 1, 3)  # [S, E, N, A]
    return out.cpu().numpy() if is_np else out
