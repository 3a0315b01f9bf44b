"""The one base of the batched learners: members, their random streams, and groups of runs as more members.

A learner trains members m = s * U + u (unit u of seed s: an agent, or a seed's one centralized unit); every
network, Adam moment and per-member scalar leads with the member axis. It is always built one way: from its
members' seeds (``seeds``; their data rows and per-member scalars come with the data and the config) and ONE
random-stream object, ``MemberStreams``, through which every random number of an update is drawn (``draw``,
``indices``). A run alone holds one generator for all its members (or one per seed). A group of runs ("cells as
members", common/running/grouping.py, ``--group``) is the same learner with more members: ``StackableLearner.stack``
puts the runs' members side by side and replaces the stream object by the runs' own streams side by side, so each run
draws in the group the very numbers it draws alone, and an update of the group is an update of every run alone (up to
the float rounding of kernels whose results depend on the member count; the generic test of every groupable learner:
tests/test_group_equals_alone.py). There is no other path: a lone learner is a group of one run.
The classes: ``MemberLearner`` (members, streams, minibatch rows, the finite-loss check), ``StackableLearner`` (its
runs stack; a default checkpoint of its named modules and optimizers) and ``SeedStreamsLearner`` (one minibatch
stream per seed, modules in ``nets`` / ``targets``, optimizers in ``opts``). A learner whose update draws nothing
and whose rows its caller draws is a MemberLearner all the same (common/algos/cql_discrete.py).

    class MyLearner(StackableLearner):
        def __init__(self, obs_dims, act_dims, n_seeds, cfg=None, seeds=None, device="cpu", dtype=torch.float32):
            super().__init__(cfg.validate(), obs_dims, act_dims, n_seeds, seeds=seeds, device=device, dtype=dtype)
            nets = self._build_members(lambda n_seeds: {...})     # seed s's networks from seeds[s] alone
        def sample_batch(self, data, generator=None):
            idx = self.sample_rows(data, generator=generator)     # [M, B]: each run its own rows, its own stream
        def update(self, batch):
            eps = self.streams.draw(torch.randn, (self.n_members, B, A), dtype=self.dtype, device=self.device)

``MemberStreams`` is common/algos/streams.py's.
Shapes: M members, S seeds, U units per seed, N agents, B batch, T data rows, R runs.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from common.algos.state import (
    build_seed_members,
    learner_state,
    load_learner_state,
    restore_generator,
    slice_module_state,
    slice_optimizer_state,
    stack_module_states,
    stack_optimizer_states,
    stack_row_lists,
    stack_rows,
)
from common.algos.streams import MemberStreams
from common.datasets.sampling import member_agents


class MemberLearner:
    """The base of the batched learners: members m = s * U + u of ``n_seeds`` seeds and ``U`` units per seed
    (``units``: default one per agent), the agents' padded widths, the device and dtype, the training streams
    (``streams``, module docstring; ``gen``: the first stream's generator, which checkpoints save) and the step.

    Attributes: cfg, seeds, obs_dims / act_dims (per agent), n_seeds, n_agents, n_units, n_members, obs_dim /
    act_dim (the widest: every member's tensors are padded to them), agents ([M] the agent of each member: its
    column of the data), device, dtype, streams, run_cfgs (each run's config: one, or a stack's), step.
    ``seeds`` default to seed, seed + 1, ...: seed s's networks are built from ``seeds[s]`` alone
    (``_build_members``), so a seed's numbers do not depend on the seeds beside it."""

    # each run's (start, count) in the data (stack_data); None: all
    stream_rows: list[tuple[int, int]] | None = None
    # the same in data["rows"] (a row list, e.g. drop_terminals')
    row_spans: list[tuple[int, int]] | None = None

    def __init__(
        self,
        cfg: Any,
        obs_dims: Sequence[int],
        act_dims: Sequence[int],
        n_seeds: int,
        *,
        seeds: Sequence[int] | None = None,
        seed: int = 0,
        units: int | None = None,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        self.cfg = cfg
        self.seeds = [int(s) for s in (seeds if seeds is not None else range(seed, seed + n_seeds))]
        if len(self.seeds) != n_seeds:
            raise ValueError(f"n_seeds={n_seeds} but {len(self.seeds)} seeds given")
        self.obs_dims, self.act_dims = tuple(int(o) for o in obs_dims), tuple(int(a) for a in act_dims)
        if (
            not self.obs_dims
            or len(self.obs_dims) != len(self.act_dims)
            or min(self.obs_dims + self.act_dims) < 1
        ):
            raise ValueError(
                f"need one obs dim and one action dim >= 1 per agent: obs_dims {self.obs_dims}, "
                f"act_dims {self.act_dims}"
            )
        self.n_seeds, self.n_agents = int(n_seeds), len(self.obs_dims)
        self.n_units = self.n_agents if units is None else int(units)
        self.n_members = self.n_seeds * self.n_units
        self.obs_dim, self.act_dim = max(self.obs_dims), max(self.act_dims)
        self.device, self.dtype = torch.device(device), dtype
        self.agents = member_agents(self.n_seeds, self.n_units, device=self.device)  # [M]
        self.streams = self._training_streams()
        self.run_cfgs = [cfg]
        self.step = 0

    def _training_streams(self) -> MemberStreams:
        """The learner's streams: one generator for all members (a subclass may keep one per seed)."""
        return MemberStreams.one(self.seeds, self.n_members, self.device)

    @property
    def gen(self) -> torch.Generator:
        """The first stream's generator (a lone learner's only one): what ``learner_state`` saves."""
        return self.streams.generators[0]

    def _build_members(
        self, build: Callable[[int], dict[str, torch.nn.Module]]
    ) -> dict[str, torch.nn.Module]:
        """``build(n_seeds)``'s modules, seed s's part built from ``seeds[s]`` alone (common.algos.state)."""
        return build_seed_members(build, self.seeds, self.device, self.dtype)

    def _member_act_mask(self) -> Tensor | None:
        """[M, 1, A]: 1 on the action entries of each member's agent, 0 on its padding; None when no agent is
        padded."""
        A = self.act_dim
        am = torch.tensor(
            [[k < self.act_dims[i] for k in range(A)] for i in range(self.n_agents)], dtype=self.dtype
        )
        return None if bool(am.all()) else am[self.agents.cpu()].to(self.device)[:, None, :]

    def sample_rows(
        self,
        data: Mapping[str, Tensor],
        *,
        per_seed: bool = False,
        generator=None,
        replace: bool | None = None,
    ) -> Tensor:
        """Minibatch rows of ``data`` ([M, B]; ``per_seed``: [S, B]) from the training streams (or ``generator``):
        every run samples its own rows of the data (``stream_rows``; a lone learner: all of them), among
        ``data["rows"]`` when the data holds a row list. Batch size and replacement: the config's
        (``batch_size``, ``replace``) unless ``replace`` is given."""
        rows = data.get("rows")
        count = data["obs"].shape[0] if rows is None else rows.shape[0]
        idx = self.streams.indices(
            count,
            self.cfg.batch_size,
            replace=self.cfg.replace if replace is None else replace,
            per_seed=per_seed,
            rows=self.stream_rows if rows is None else self.row_spans,
            generator=generator,
        )
        return idx if rows is None else rows[idx]

    def check_finite(self, losses: Mapping[str, Tensor], label: str) -> None:
        """Every ``cfg.check_finite_every`` updates (one host sync per check, not per update): a FloatingPointError
        naming the first of ``losses`` (detached per-member or per-seed tensors) that is not finite, and all their
        values."""
        if self.step % self.cfg.check_finite_every:
            return
        sums = torch.stack([v.detach().sum() for v in losses.values()])
        if not bool(torch.isfinite(sums).all()):
            bad = [k for k, v in zip(losses, sums.tolist()) if not math.isfinite(v)]
            raise FloatingPointError(
                f"{label}: {bad[0]} is not finite at update {self.step} "
                f"({ {k: v.tolist() for k, v in losses.items()} })"
            )


class StackableLearner(MemberLearner):
    """A member learner whose runs stack: ``stack(learners)`` is one learner of their members side by side (learner
    r's after r - 1's; e.g. one per (cell, seed) of a group) and their streams side by side; ``stack_data`` its
    data (the runs' rows side by side); ``split_state`` the runs' checkpoints back. A subclass names its modules
    ``_NETS`` and optimizers ``_OPTS`` (or ``_optimizers()``; every tensor leads with an axis of whole seeds, seed by
    seed), ``GROUP_FIELDS`` (config fields read per member, which may differ between the stacked runs) and
    ``_empty_stack(cfg, seeds)`` (a fresh learner of those members); ``_stack_extra`` / ``_run_state`` are hooks for
    state beyond modules, optimizers, step and streams, and for a run's ``state_dict`` format."""

    _NETS: tuple[str, ...] = ()
    _OPTS: tuple[str, ...] = ()
    GROUP_FIELDS: tuple[str, ...] = ()

    def stack_signature(self) -> str:
        """What runs must share to stack: agent dims, dtype, device, step and every config field but
        ``GROUP_FIELDS``."""
        cfg = {k: v for k, v in asdict(self.cfg).items() if k not in self.GROUP_FIELDS}
        shape = [getattr(self, k, None) for k in ("obs_dims", "act_dims", "dtype", "device")]
        return json.dumps([shape, self.step, cfg], sort_keys=True, default=str)

    @classmethod
    def stack(cls, learners: Sequence[Any]) -> Any:
        """One learner of the ``learners``' members side by side: modules (targets included) and optimizer moments
        copied in, ``GROUP_FIELDS`` per member where the learners differ (a shared value stays a number, computed
        as alone), and the learners' streams as its streams, so that an update of the stack is an update of each
        learner alone. Train it on ``stack_data``; ``split_state`` gives the learners' state_dicts back."""
        first = learners[0]
        bad = [k for k, lr in enumerate(learners) if lr.stack_signature() != first.stack_signature()]
        if bad:
            raise ValueError(
                f"{cls.__name__}.stack: learners {bad} differ from learner 0 in a config field other "
                f"than {list(cls.GROUP_FIELDS)}, or in agent dims, dtype, device or step"
            )
        per_member = {f: _stacked_value(learners, f) for f in cls.GROUP_FIELDS}
        big = first._empty_stack(replace(first.cfg, **per_member), [s for lr in learners for s in lr.seeds])
        for name in cls._NETS:
            stack_module_states(getattr(big, name), [getattr(lr, name) for lr in learners])
        for name, opt in big._optimizers().items():
            opt.load_state_dict(
                stack_optimizer_states([lr._optimizers()[name].state_dict() for lr in learners])
            )
        big.step = first.step
        big.streams = MemberStreams.cat([lr.streams for lr in learners])
        big.run_cfgs = [c for lr in learners for c in lr.run_cfgs]
        big._stack_extra(learners)
        return big

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The learner's optimizers by name (default: the attributes named in ``_OPTS``)."""
        return {name: getattr(self, name) for name in self._OPTS}

    def _stack_extra(self, learners: Sequence[Any]) -> None:
        """Hook of ``stack``: state beyond modules, optimizers, step and streams that the stack takes from
        ``learners``. Default: none."""

    def _run_state(self, state: dict[str, Any], opt_states: dict[str, Any], seeds: slice) -> dict[str, Any]:
        """Hook of ``split_state``: a run's ``state`` (cfg, seeds, step, rng and its ``_NETS``) and optimizer states
        (by name) in the format of its learner's ``state_dict``; ``seeds``: the run's seeds. Default: the optimizers
        under their names (``learner_state``)."""
        state.update(opt_states)
        return state

    def stack_data(self, parts: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """The runs' ``prepare_data`` tensors, one dict per run (runs on one dataset pass the same dict, stored
        once), as the learner's data: rows side by side; each run samples its own (``stream_rows``; a row list
        ``rows`` shifted to its block, each run's entries ``row_spans``)."""
        if len(parts) != self.streams.n_runs:
            raise ValueError(
                f"stack_data takes one data dict per run of the learner ({self.streams.n_runs}), "
                f"got {len(parts)}"
            )
        data, self.stream_rows = stack_rows(parts)
        if "rows" in data:
            data["rows"], self.row_spans = stack_row_lists(parts, self.stream_rows)
        return data

    def split_state(self) -> list[dict[str, Any]]:
        """Each run's ``state_dict`` as it would be alone (its config, seeds, generator state, its members of every
        module and optimizer): a checkpoint that resumes the run alone or stacked again."""
        out, seed0, S = [], 0, self.n_seeds
        opts = {name: opt.state_dict() for name, opt in self._optimizers().items()}
        for cfg, gens, s in zip(self.run_cfgs, self.streams.run_generators(), self.streams.run_seeds()):
            own = slice(seed0, seed0 + s)
            state = {
                "cfg": asdict(cfg),
                "seeds": list(self.seeds[own]),
                "step": self.step,
                "rng": gens[0].get_state(),
            }
            state.update({name: slice_module_state(getattr(self, name), own, S) for name in self._NETS})
            out.append(
                self._run_state(
                    state, {name: slice_optimizer_state(o, own, S) for name, o in opts.items()}, own
                )
            )
            seed0 += s
        return out

    def state_dict(self) -> dict[str, Any]:
        """The run's checkpoint in the format ``split_state`` writes by default: config, seeds, step, generator
        (``rng``), every module of ``_NETS`` and every optimizer under its name (copies)."""
        state = learner_state(self, self._NETS)
        state.update({name: copy.deepcopy(opt.state_dict()) for name, opt in self._optimizers().items()})
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore ``state_dict``'s output (refused for another config; the learner takes the checkpoint's seeds)."""
        load_learner_state(self, state, self._NETS)
        for name, opt in self._optimizers().items():
            opt.load_state_dict(state[name])


class SeedStreamsLearner(StackableLearner):
    """A stackable learner with one minibatch-row generator per seed (seeded SeedSequence([seed, SAMPLE_STREAM]):
    a seed draws alike whatever seeds or runs beside it), its modules in the ModuleDicts ``nets`` and ``targets``
    and its optimizers in the dict ``opts``. Checkpoint: config, seeds, step, networks, targets, ``opts`` and every
    seed's generator state (``rngs``); a stack's split states alike. A subclass sets ``SAMPLE_STREAM``."""

    _NETS = ("nets", "targets")
    SAMPLE_STREAM = 0  # second entropy word of a seed's minibatch-row generator (each learner its own)
    nets: torch.nn.ModuleDict  # built by the subclass
    targets: torch.nn.ModuleDict
    opts: dict[str, torch.optim.Optimizer]

    def _training_streams(self) -> MemberStreams:
        def seed_of(sd: int) -> int:
            return int(np.random.SeedSequence([sd, self.SAMPLE_STREAM]).generate_state(1, np.uint64)[0] >> 1)

        return MemberStreams.per_seed(self.seeds, self.n_units, seed_of, self.device)

    @property
    def gens(self) -> list[torch.Generator]:
        """The seeds' minibatch-row generators, in seed order."""
        return self.streams.generators

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.opts

    def _run_state(self, state: dict[str, Any], opt_states: dict[str, Any], seeds: slice) -> dict[str, Any]:
        state.update(opts=opt_states, rngs=[g.get_state() for g in self.gens[seeds]])  # one stream per seed
        return state

    def state_dict(self) -> dict[str, Any]:
        state = learner_state(self, self._NETS)
        state["opts"] = {k: copy.deepcopy(o.state_dict()) for k, o in self.opts.items()}
        state["rngs"] = [g.get_state() for g in self.gens]
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        # every seed's generator below
        load_learner_state(self, state, self._NETS, same_seeds=True, rng=False)
        for k, o in self.opts.items():
            o.load_state_dict(state["opts"][k])
        for i, (g, st) in enumerate(zip(self.gens, state["rngs"])):
            restore_generator(g, st, int(state["seeds"][0]), i, int(state.get("step", 0)))


def _stacked_value(learners: Sequence[Any], name: str) -> Any:
    """Config field ``name`` of a stack of ``learners``: their shared number, else one value per member (a
    learner's number repeated over its members, or its own per-member list)."""
    values = [getattr(lr.cfg, name) for lr in learners]
    if all(isinstance(v, (int, float)) for v in values) and len({float(v) for v in values}) == 1:
        return values[0]
    return [
        float(v) if isinstance(v, (int, float)) else float(v[m])
        for lr, v in zip(learners, values)
        for m in range(lr.n_members)
    ]
