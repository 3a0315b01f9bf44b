"""Checkpoints of the batched offline learners (BCQ, AWAC, CAST-BCQ, ICQ-MA, TD3+BC, BREMEN): one format and one
check; two pieces every batched learner with members m = s * N + i shares: its networks built per seed
(``build_seed_members``) and acting on [S, E, N, O] observations (``member_act``); and stacking the learners of
several runs into one (``StackableLearner``: cells as members, common/running/grouping.py), each run keeping its own
random stream (``MemberStreams``) and data rows (``stack_rows``).

    def state_dict(self):            return learner_state(self, self._MODULES)
    def load_state_dict(self, s):    load_learner_state(self, s, self._MODULES)

A learner holds ``cfg`` (a config dataclass), ``seeds``, ``step``, ``gen`` (its torch.Generator) and the named
modules / optimizers. Loading refuses a checkpoint whose config differs from the learner's (fields newer than
the checkpoint take their defaults; JSON lists compare as the config's tuples), naming the differing fields.
"""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import asdict, fields, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode


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
    warnings.warn(f"a random generator's state of {st.numel()} bytes was saved on another device type than this "
                  f"{gen.device.type} generator's ({gen.get_state().numel()} bytes): re-seeded from {tuple(key)}, "
                  f"the run continues on a new random stream", RuntimeWarning, stacklevel=2)
    return False


def learner_state(learner, modules: Iterable[str]) -> dict[str, Any]:
    """Config, seeds, step, generator state and every named module's state_dict."""
    return {"cfg": asdict(learner.cfg), "seeds": list(learner.seeds), "step": learner.step,
            "rng": learner.gen.get_state(), **{name: getattr(learner, name).state_dict() for name in modules}}


def load_learner_state(learner, state: Mapping[str, Any], modules: Iterable[str], *, same_seeds: bool = False,
                       rng: bool = True) -> None:
    """Restore ``learner_state``'s output into ``learner``; ``same_seeds`` also refuses a checkpoint of other
    seeds (else the learner takes the checkpoint's seeds); ``rng=False`` leaves ``learner.gen`` to the caller (a
    learner that saves one generator per seed restores them all itself)."""
    cls = type(learner.cfg)
    saved = asdict(cls(**{**asdict(cls()), **state["cfg"]}))  # newer fields: defaults; lists -> the config's tuples
    if saved != asdict(learner.cfg):
        diff = {f.name for f in fields(cls) if saved.get(f.name) != getattr(learner.cfg, f.name)}
        raise ValueError(f"checkpoint config differs from this learner's in {sorted(diff)}")
    if same_seeds and list(state["seeds"]) != list(learner.seeds):
        raise ValueError(f"checkpoint seeds {list(state['seeds'])} differ from this learner's {list(learner.seeds)}")
    for name in modules:
        getattr(learner, name).load_state_dict(state[name])
    if rng:
        restore_generator(learner.gen, state["rng"], int(state["seeds"][0]), len(state["seeds"]), int(state["step"]))
    learner.step = int(state["step"])
    learner.seeds = list(state["seeds"])


def build_seed_members(build: Callable[[int], dict[str, Any]], seeds: Sequence[int], per_seed: int, device,
                       dtype) -> dict[str, Any]:
    """The learner's networks for every member, seed s's ``per_seed`` members built from ``seeds[s]`` alone (seed
    before building; the global random stream is left as it was): ``build(n)`` returns named modules of n members;
    each is built once for all members, then every seed's part is rebuilt under its own seed and copied in."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seeds[0]))
        big = build(len(seeds) * per_seed)
        for s, sd in enumerate(seeds):
            torch.manual_seed(int(sd))
            for name, net in build(per_seed).items():
                copy_members(big[name], net, s * per_seed)
    for net in big.values():
        net.to(device=device, dtype=dtype).train()
    return big


@torch.no_grad()
def copy_members(big: torch.nn.Module, small: torch.nn.Module, start: int) -> None:
    """Write small's members (all tensors carry a leading member axis) into big[start:start+n]."""
    dst = big.state_dict()
    for k, v in small.state_dict().items():
        dst[k][start:start + v.shape[0]].copy_(v)


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


# ----------------------------------------------------------------------------------------------
# Stacking runs into one learner ("cells as members", common/running/grouping.py)
# ----------------------------------------------------------------------------------------------
# A run alone trains one learner whose tensors all carry the member axis first; R such learners of the
# same shapes stack into one learner of their members side by side (run r's members follow run r-1's).
# The helpers below copy module and Adam states in and out of the stack, concatenate the runs' data,
# and keep every run's own random stream (``MemberStreams``), so that one update of the stack equals
# one update of each run alone.


def seed_rows(v: Tensor, seeds: slice, n_seeds: int) -> Tensor:
    """The rows of seeds ``seeds`` (a slice of a stack's ``n_seeds`` seeds) of a tensor whose leading axis holds the
    same number of rows per seed, seed by seed (members m = s * U + u, or one per seed: a QMIX mixer)."""
    per = v.shape[0] // n_seeds
    if per * n_seeds != v.shape[0]:
        raise ValueError(f"a stacked tensor of {v.shape[0]} rows does not hold whole seeds of {n_seeds}")
    return v[seeds.start * per:seeds.stop * per]


def stack_module_states(big: torch.nn.Module, smalls: Sequence[torch.nn.Module]) -> None:
    """Write the modules ``smalls`` side by side into ``big``: every tensor of ``big`` is those of ``smalls``
    concatenated on its leading (member) axis, in order; each tensor keeps its own count (members or seeds)."""
    dst = big.state_dict()
    parts = [small.state_dict() for small in smalls]
    with torch.no_grad():
        for k, v in dst.items():
            src = torch.cat([p[k] for p in parts])
            if src.shape != v.shape:
                raise ValueError(f"stacking {k}: the parts make {tuple(src.shape)}, the stack holds {tuple(v.shape)}")
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
            raise ValueError(f"optimizer state {k} holds parameters {sorted(st['state'])}, "
                             f"state 0 {sorted(first['state'])}")
    out: dict[int, dict[str, Any]] = {}
    for p, slots in first["state"].items():
        out[p] = {}
        for name, v in slots.items():
            vals = [st["state"][p][name] for st in states]
            if name == "step":  # a shared count: every run took the same number of steps
                if any(float(x) != float(v) for x in vals):
                    raise ValueError(f"optimizer steps differ between the stacked runs: {[float(x) for x in vals]}")
                out[p][name] = v.clone() if torch.is_tensor(v) else v
            else:
                out[p][name] = torch.cat(vals)
    return {"state": out, "param_groups": copy.deepcopy(first["param_groups"])}


def slice_optimizer_state(state: Mapping[str, Any], seeds: slice, n_seeds: int) -> dict[str, Any]:
    """Inverse of ``stack_optimizer_states``: seeds ``seeds`` (of ``n_seeds``) of a stacked optimizer's state_dict."""
    out = {p: {name: (seed_rows(v, seeds, n_seeds).clone() if name != "step" and torch.is_tensor(v) else
                      v.clone() if torch.is_tensor(v) else v) for name, v in slots.items()}
           for p, slots in state["state"].items()}
    return {"state": out, "param_groups": copy.deepcopy(state["param_groups"])}


class StackableLearner:
    """Stacking runs of a batched learner into one (a mixin). The learner has ``cfg`` (a config dataclass),
    ``seeds``, ``step``, ``gen``, ``n_members``, ``n_seeds``, the modules ``_NETS`` and optimizers ``_OPTS`` (or
    ``_optimizers()``; every tensor leads with an axis of whole seeds, seed by seed: its members, or one row per seed
    for a mixer), ``GROUP_FIELDS`` (config fields it reads per member, which may differ between the stacked runs)
    and ``_empty_stack(cfg, seeds)`` (a fresh learner of those members). It draws every random number through
    ``streams`` when set (``MemberStreams``; or per-seed generators that ``_stack_extra`` gathers) and samples each
    run's rows (``stream_rows``). ``_stack_extra`` / ``_run_state``: hooks for state beyond modules, optimizers,
    step and ``gen``, and for a run's ``state_dict`` format."""

    _NETS: tuple[str, ...] = ()
    _OPTS: tuple[str, ...] = ()
    GROUP_FIELDS: tuple[str, ...] = ()
    streams: "MemberStreams | None" = None  # None: one stream, the learner's own generator
    stream_rows: list[tuple[int, int]] | None = None  # each stacked run's rows in the stacked data (stack_data)
    run_cfgs: list[Any] | None = None  # the stacked runs' own configs (split_state)

    def stack_signature(self) -> str:
        """What runs must share to stack: agent dims, dtype, device, step and every config field but
        ``GROUP_FIELDS``."""
        cfg = {k: v for k, v in asdict(self.cfg).items() if k not in self.GROUP_FIELDS}
        shape = [getattr(self, k, None) for k in ("obs_dims", "act_dims", "dtype", "device")]
        return json.dumps([shape, self.step, cfg], sort_keys=True, default=str)

    @classmethod
    def stack(cls, learners: Sequence[Any]) -> Any:
        """One learner whose members are those of ``learners`` side by side (learner r's after r - 1's; e.g. one
        per (cell, seed)): modules (targets included) and optimizer moments copied in, ``GROUP_FIELDS`` per
        member where the learners differ (a shared value stays a float, computed as alone), and each learner's
        own generator as the random stream of its members, so that an update of the stack is an update of each
        learner alone (up to the float rounding of kernels whose results depend on the member count). Train it
        on ``stack_data``; ``split_state`` gives the learners' state_dicts back."""
        first = learners[0]
        bad = [k for k, lr in enumerate(learners) if lr.stack_signature() != first.stack_signature()]
        if bad:
            raise ValueError(f"{cls.__name__}.stack: learners {bad} differ from learner 0 in a config field other "
                             f"than {list(cls.GROUP_FIELDS)}, or in agent dims, dtype, device or step")
        per_member = {f: _stacked_value(learners, f) for f in cls.GROUP_FIELDS}
        big = first._empty_stack(replace(first.cfg, **per_member), [s for lr in learners for s in lr.seeds])
        for name in cls._NETS:
            stack_module_states(getattr(big, name), [getattr(lr, name) for lr in learners])
        for name, opt in big._optimizers().items():
            opt.load_state_dict(stack_optimizer_states([lr._optimizers()[name].state_dict() for lr in learners]))
        big.step = first.step
        big.streams = MemberStreams([lr.gen for lr in learners], [lr.n_members for lr in learners],
                                    [lr.n_seeds for lr in learners])
        big.run_cfgs = [lr.cfg for lr in learners]
        big._stack_extra(learners)
        return big

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The learner's optimizers by name (default: the attributes named in ``_OPTS``)."""
        return {name: getattr(self, name) for name in self._OPTS}

    def _stack_extra(self, learners: Sequence[Any]) -> None:
        """Hook of ``stack``: state beyond modules, optimizers, step and ``gen`` that the stack takes from
        ``learners`` (e.g. per-seed generators). Default: none."""

    def _run_state(self, state: dict[str, Any], opt_states: dict[str, Any], seeds: slice) -> dict[str, Any]:
        """Hook of ``split_state``: a run's ``state`` (cfg, seeds, step, rng and its ``_NETS``) and optimizer states
        (by name) in the format of its learner's ``state_dict``; ``seeds``: the run's seeds in the stack. Default:
        the optimizers under their names (``learner_state``)."""
        state.update(opt_states)
        return state

    def stack_data(self, parts: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """The stacked learners' ``prepare_data`` tensors, one dict per learner (learners on one dataset pass
        the same dict, stored once), as the stack's data: rows concatenated; learner r samples its own."""
        if self.streams is None or len(parts) != len(self.run_cfgs):
            raise ValueError(f"stack_data takes one data dict per learner of a stack ({type(self).__name__}.stack)")
        data, self.stream_rows = stack_rows(parts)
        return data

    def split_state(self) -> list[dict[str, Any]]:
        """Each stacked learner's ``learner_state`` as it would be alone (its config, seeds, generator state, its
        members of every module and optimizer): a checkpoint that resumes the run alone or stacked again."""
        if self.streams is None:
            raise ValueError("split_state needs a stack of learners (stack)")
        out, seed0, st, S = [], 0, self.streams, self.n_seeds
        opts = {name: opt.state_dict() for name, opt in self._optimizers().items()}
        for cfg, gen, s in zip(self.run_cfgs, st.generators, st.n_seeds):
            own = slice(seed0, seed0 + s)
            state = {"cfg": asdict(cfg), "seeds": list(self.seeds[own]), "step": self.step, "rng": gen.get_state()}
            state.update({name: slice_module_state(getattr(self, name), own, S) for name in self._NETS})
            out.append(self._run_state(state, {name: slice_optimizer_state(o, own, S) for name, o in opts.items()},
                                       own))
            seed0 += s
        return out


def _stacked_value(learners: Sequence[Any], name: str) -> Any:
    """Config field ``name`` of a stack of ``learners``: their shared number, else one value per member (a
    learner's number repeated over its members, or its own per-member list)."""
    values = [getattr(lr.cfg, name) for lr in learners]
    if all(isinstance(v, (int, float)) for v in values) and len({float(v) for v in values}) == 1:
        return values[0]
    return [float(v) if isinstance(v, (int, float)) else float(v[m])
            for lr, v in zip(learners, values) for m in range(lr.n_members)]


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


def stack_row_lists(parts: Sequence[Mapping[str, Tensor]], stream_rows: Sequence[tuple[int, int]]
                    ) -> tuple[Tensor, list[tuple[int, int]]]:
    """The runs' sampling row lists (``parts[r]["rows"]``: indices into run r's own data, e.g. drop_terminals'
    non-terminal rows) as one list into the stacked data (``stack_rows``: run r's block starts at
    ``stream_rows[r][0]``; runs on one dataset share one entry), and each run's (start, count) in that list, from
    which it samples (``MemberStreams.indices``)."""
    blocks: dict[int, tuple[int, int, Mapping[str, Tensor]]] = {}  # id(part) -> (block start, list start, part)
    at = 0
    for part, (start, _) in zip(parts, stream_rows):
        if id(part) not in blocks:
            blocks[id(part)] = (start, at, part)
            at += int(part["rows"].shape[0])
    rows = torch.cat([part["rows"] + start for start, _, part in blocks.values()])
    return rows, [(blocks[id(p)][1], int(p["rows"].shape[0])) for p in parts]


class MemberStreams:
    """The training random streams of a stack of runs: run r owns ``n_members[r]`` consecutive members
    (``n_seeds[r]`` seeds) and draws their random numbers from its own generator (its learner's alone), the
    very calls its learner alone makes, so its numbers do not depend on the runs beside it. The draws loop
    over runs (one generator call each); everything else in an update stays one batched call."""

    def __init__(self, generators: Sequence[torch.Generator], n_members: Sequence[int], n_seeds: Sequence[int]):
        if not len(generators) == len(n_members) == len(n_seeds):
            raise ValueError("MemberStreams: one generator, member count and seed count per run")
        self.generators, self.n_members, self.n_seeds = list(generators), list(n_members), list(n_seeds)

    def draw(self, fn: Callable[..., Tensor], shape: Sequence[int], generators=None, **kw) -> Tensor:
        """``fn(shape, generator=g_r, **kw)`` (e.g. torch.rand) with the run's member count as the leading
        size, for every run, concatenated on the member axis: [M, *shape[1:]]."""
        if shape[0] != sum(self.n_members):
            raise ValueError(f"a draw for the stack must lead with its {sum(self.n_members)} members, "
                             f"got {tuple(shape)}")
        gens = self.generators if generators is None else generators
        return torch.cat([fn((m, *shape[1:]), generator=g, **kw) for g, m in zip(gens, self.n_members)])

    def indices(self, rows: Sequence[tuple[int, int]], batch: int, replace: bool, per_seed: bool,
                generators=None) -> Tensor:
        """Minibatch rows of every run in the stacked data (``stack_rows``): run r samples from its own
        ``rows[r] = (start, count)`` exactly as its learner alone samples from its data, one row set per
        member ([M, B]) or, with ``per_seed``, one per seed ([S, B])."""
        from common.datasets.sampling import sample_indices

        gens = self.generators if generators is None else generators
        units = self.n_seeds if per_seed else self.n_members
        return torch.cat([sample_indices(g, count, n, batch, replace=replace) + start
                          for g, n, (start, count) in zip(gens, units, rows)])

    def noise(self, sentinel: torch.Generator):
        """A context under which ``torch.randn(shape, generator=sentinel, ...)`` draws per run (``draw``):
        for library code that takes one generator and draws all members at once (OMAR's ``search_action``)."""
        return _StreamNoise(self, sentinel)


class _StreamNoise(TorchFunctionMode):
    """Routes ``torch.randn`` calls made with the sentinel generator to ``MemberStreams.draw``; every other
    torch call passes through unchanged (a mode is off inside its own handler, so no recursion)."""

    def __init__(self, streams: MemberStreams, sentinel: torch.Generator):
        super().__init__()
        self.streams, self.sentinel = streams, sentinel

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.randn and kwargs.get("generator") is self.sentinel:
            shape = args[0] if len(args) == 1 and not isinstance(args[0], int) else args  # randn(size) or randn(*size)
            rest = {k: v for k, v in kwargs.items() if k != "generator"}
            return self.streams.draw(torch.randn, tuple(shape), **rest)
        return func(*args, **kwargs)
