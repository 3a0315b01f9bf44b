"""Checkpoints of the batched learners and the tensor work of stacking runs, for common.algos.members (the member
base) and the learners: one checkpoint format and one check (``learner_state`` / ``load_learner_state``); networks
built per seed (``build_seed_members``) and acting on [S, E, N, O] observations (``member_act``); module and Adam
states and data rows of several runs side by side and back (``stack_module_states``, ``stack_optimizer_states``,
``stack_rows`` and their inverses).

    def state_dict(self):            return learner_state(self, self._MODULES)
    def load_state_dict(self, s):    load_learner_state(self, s, self._MODULES)

A learner holds ``cfg`` (a config dataclass), ``seeds``, ``step``, ``gen`` (its torch.Generator) and the named
modules / optimizers. Loading refuses a checkpoint whose config differs from the learner's (fields newer than
the checkpoint take their defaults; JSON lists compare as the config's tuples), naming the differing fields.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import asdict, fields
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor


def derived_seed(seed: int, *spawn: int) -> int:
    """A torch seed (63 bits) for the stream ``spawn`` of ``seed``: numpy's SeedSequence(seed, spawn_key=spawn), so
    streams of one seed are independent; MAPPO's per-seed generators and ``restore_generator``'s re-seed use it."""
    ss = np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in spawn))
    return int(ss.generate_state(1, np.uint64)[0] >> 1)


def restore_generator(gen: torch.Generator, saved: Tensor, *key: int) -> bool:
    """Set ``gen`` to a saved ``get_state()``. A state saved by a generator of another device type (a CPU
    generator's state is 5,056 bytes, a CUDA one's 16: a checkpoint written on a GPU and resumed on a CPU, or the
    reverse) cannot continue on this one: ``gen`` is then re-seeded from ``key`` (non-negative ints: the seed, the
    stream, the step reached), so the resumed run is deterministic but draws a new stream, and a RuntimeWarning
    says so. Returns True when the saved stream continues."""
    st = saved.cpu()
    if st.numel() == gen.get_state().numel():
        gen.set_state(st)
        return True
    gen.manual_seed(derived_seed(*key))
    warnings.warn(
        f"a random generator's state of {st.numel()} bytes was saved on another device type than this "
        f"{gen.device.type} generator's ({gen.get_state().numel()} bytes): re-seeded from {tuple(key)}, "
        f"the run continues on a new random stream",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


def learner_state(learner, modules: Iterable[str]) -> dict[str, Any]:
    """Config, seeds, step, generator state and every named module's state_dict."""
    return {
        "cfg": asdict(learner.cfg),
        "seeds": list(learner.seeds),
        "step": learner.step,
        "rng": learner.gen.get_state(),
        **{name: getattr(learner, name).state_dict() for name in modules},
    }


def load_learner_state(
    learner, state: Mapping[str, Any], modules: Iterable[str], *, same_seeds: bool = False, rng: bool = True
) -> None:
    """Restore ``learner_state``'s output into ``learner``; ``same_seeds`` also refuses a checkpoint of other
    seeds (else the learner takes the checkpoint's seeds); ``rng=False`` leaves ``learner.gen`` to the caller (a
    learner that saves one generator per seed restores them all itself)."""
    cls = type(learner.cfg)
    # newer fields: defaults; lists -> the config's tuples
    saved = asdict(cls(**{**asdict(cls()), **state["cfg"]}))
    if saved != asdict(learner.cfg):
        diff = {f.name for f in fields(cls) if saved.get(f.name) != getattr(learner.cfg, f.name)}
        raise ValueError(f"checkpoint config differs from this learner's in {sorted(diff)}")
    if same_seeds and list(state["seeds"]) != list(learner.seeds):
        raise ValueError(
            f"checkpoint seeds {list(state['seeds'])} differ from this learner's {list(learner.seeds)}"
        )
    for name in modules:
        getattr(learner, name).load_state_dict(state[name])
    if rng:
        restore_generator(
            learner.gen, state["rng"], int(state["seeds"][0]), len(state["seeds"]), int(state["step"])
        )
    learner.step = int(state["step"])
    learner.seeds = list(state["seeds"])


def build_seed_members(
    build: Callable[[int], dict[str, Any]], seeds: Sequence[int], device, dtype
) -> dict[str, Any]:
    """The learner's networks, seed s's part built from ``seeds[s]`` alone (seed before building; the global random
    stream is left as it was): ``build(n)`` returns the named modules of n seeds (each tensor leading with n times
    its rows per seed: the seed's members, or one row per seed for a mixer); each is built once for all seeds, then
    every seed's rows are rebuilt under its own seed and copied in."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seeds[0]))
        big = build(len(seeds))
        for s, sd in enumerate(seeds):
            torch.manual_seed(int(sd))
            for name, net in build(1).items():
                _copy_seed(big[name], net, s)
    for net in big.values():
        net.to(device=device, dtype=dtype).train()
    return big


@torch.no_grad()
def _copy_seed(big: torch.nn.Module, small: torch.nn.Module, s: int) -> None:
    """Write ``small``'s tensors (one seed's rows each) into rows of seed ``s`` of ``big``'s."""
    dst = big.state_dict()
    for k, v in small.state_dict().items():
        dst[k][s * v.shape[0] : (s + 1) * v.shape[0]].copy_(v)


@torch.no_grad()
def copy_members(big: torch.nn.Module, small: torch.nn.Module, start: int) -> None:
    """Write small's members (all tensors carry a leading member axis) into big[start:start+n]."""
    dst = big.state_dict()
    for k, v in small.state_dict().items():
        dst[k][start : start + v.shape[0]].copy_(v)


def member_act(
    obs, n_seeds: int, n_agents: int, obs_dim: int, select: Callable[[Tensor], Tensor], dtype, device
):
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


# ----------------------------------------------------------------------------------------------
# Stacking runs into one learner (common.algos.members.StackableLearner, common/running/grouping.py)
# ----------------------------------------------------------------------------------------------
# R learners of the same shapes stack into one learner of their members side by side (run r's follow run
# r-1's). The helpers below copy module and Adam states in and out of the stack and concatenate the runs' data.


def seed_rows(v: Tensor, seeds: slice, n_seeds: int) -> Tensor:
    """The rows of seeds ``seeds`` (a slice of a stack's ``n_seeds`` seeds) of a tensor whose leading axis holds the
    same number of rows per seed, seed by seed (members m = s * U + u, or one per seed: a QMIX mixer)."""
    per = v.shape[0] // n_seeds
    if per * n_seeds != v.shape[0]:
        raise ValueError(f"a stacked tensor of {v.shape[0]} rows does not hold whole seeds of {n_seeds}")
    return v[seeds.start * per : seeds.stop * per]


def stack_module_states(big: torch.nn.Module, smalls: Sequence[torch.nn.Module]) -> None:
    """Write the modules ``smalls`` side by side into ``big``: every tensor of ``big`` is those of ``smalls``
    concatenated on its leading (member) axis, in order; each tensor keeps its own count (members or seeds)."""
    dst = big.state_dict()
    parts = [small.state_dict() for small in smalls]
    with torch.no_grad():
        for k, v in dst.items():
            src = torch.cat([p[k] for p in parts])
            if src.shape != v.shape:
                raise ValueError(
                    f"stacking {k}: the parts make {tuple(src.shape)}, the stack holds {tuple(v.shape)}"
                )
            v.copy_(src)


def slice_module_state(module: torch.nn.Module, seeds: slice, n_seeds: int) -> dict[str, Tensor]:
    """Seeds ``seeds`` of a stack of ``n_seeds`` seeds: ``module``'s state_dict as that of a module of those seeds'
    members (copies)."""
    return {k: seed_rows(v, seeds, n_seeds).clone() for k, v in module.state_dict().items()}


def stack_optimizer_states(states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The state_dict of one optimizer over the stacked parameters, from the state_dicts of the runs'
    optimizers (same parameters, same settings, same step): per-parameter moments concatenated on the
    member axis, the step count and ``param_groups`` taken from the first (checked equal)."""
    first = states[0]
    for k, st in enumerate(states[1:], 1):
        if set(st["state"]) != set(first["state"]):
            raise ValueError(
                f"optimizer state {k} holds parameters {sorted(st['state'])}, "
                f"state 0 {sorted(first['state'])}"
            )
    out: dict[int, dict[str, Any]] = {}
    for p, slots in first["state"].items():
        out[p] = {}
        for name, v in slots.items():
            vals = [st["state"][p][name] for st in states]
            if name == "step":  # a shared count: every run took the same number of steps
                if any(float(x) != float(v) for x in vals):
                    raise ValueError(
                        f"optimizer steps differ between the stacked runs: {[float(x) for x in vals]}"
                    )
                out[p][name] = v.clone() if torch.is_tensor(v) else v
            else:
                out[p][name] = torch.cat(vals)
    return {"state": out, "param_groups": copy.deepcopy(first["param_groups"])}


def slice_optimizer_state(state: Mapping[str, Any], seeds: slice, n_seeds: int) -> dict[str, Any]:
    """Inverse of ``stack_optimizer_states``: seeds ``seeds`` (of ``n_seeds``) of a stacked optimizer's state_dict."""
    out = {
        p: {
            name: (
                seed_rows(v, seeds, n_seeds).clone()
                if name != "step" and torch.is_tensor(v)
                else v.clone()
                if torch.is_tensor(v)
                else v
            )
            for name, v in slots.items()
        }
        for p, slots in state["state"].items()
    }
    return {"state": out, "param_groups": copy.deepcopy(state["param_groups"])}


def stack_rows(parts: Sequence[Mapping[str, Tensor]]) -> tuple[dict[str, Tensor], list[tuple[int, int]]]:
    """The runs' step tensors ([T_r, ...] each; runs on one dataset pass the same dict, stored once)
    concatenated on the row axis, and each run's rows as (start, count)."""
    blocks: dict[int, tuple[int, Mapping[str, Tensor]]] = {}  # id(part) -> (start, part)
    start = 0
    for part in parts:
        if id(part) not in blocks:
            blocks[id(part)] = (start, part)
            start += int(part["obs"].shape[0])
    keys = list(parts[0])
    if any(list(p) != keys for p in parts):
        raise ValueError(f"the stacked runs' data must hold the same keys; run 0 has {keys}")
    data = {k: torch.cat([p[k] for _, p in blocks.values()]) for k in keys}
    rows = [(blocks[id(p)][0], int(p["obs"].shape[0])) for p in parts]
    return data, rows


def stack_row_lists(
    parts: Sequence[Mapping[str, Tensor]], stream_rows: Sequence[tuple[int, int]]
) -> tuple[Tensor, list[tuple[int, int]]]:
    """The runs' sampling row lists (``parts[r]["rows"]``: indices into run r's own data, e.g. drop_terminals'
    non-terminal rows) as one list into the stacked data (``stack_rows``: run r's block starts at
    ``stream_rows[r][0]``; runs on one dataset share one entry), and each run's (start, count) in that list, from
    which it samples (``MemberStreams.indices``)."""
    # id(part) -> (block start, list start, part)
    blocks: dict[int, tuple[int, int, Mapping[str, Tensor]]] = {}
    at = 0
    for part, (start, _) in zip(parts, stream_rows):
        if id(part) not in blocks:
            blocks[id(part)] = (start, at, part)
            at += int(part["rows"].shape[0])
    rows = torch.cat([part["rows"] + start for start, _, part in blocks.values()])
    return rows, [(blocks[id(p)][1], int(p["rows"].shape[0])) for p in parts]
