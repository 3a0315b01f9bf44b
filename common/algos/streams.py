"""The random streams of a batched learner (common/algos/members.py): ``MemberStreams``, one object through which
every random number of an update is drawn (``draw``, ``indices``), holding one generator per stream and, for each
stream, its member count and seed count. A run alone holds one stream for all its members (``one``) or one per seed
(``per_seed``); a group of runs holds the runs' streams side by side (``cat``), so each run draws in the group the
very numbers it draws alone. Shapes: M members, S seeds, U units per seed, B batch, R runs.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from common.datasets.sampling import sample_indices

__all__ = ["MemberStreams", "seeded_generator"]


def seeded_generator(seed: int, device) -> torch.Generator:
    """A torch.Generator on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


class MemberStreams:
    """The training random streams of a learner. Stream k is a torch.Generator that draws for ``n_members[k]``
    consecutive members (``n_seeds[k]`` whole seeds); the first ``runs[0]`` streams belong to run 0, the next
    ``runs[1]`` to run 1, and so on (a learner alone: one run; a stack: the runs' streams side by side, ``cat``).
    A draw calls each stream's generator once, for its own members, and concatenates the parts on the member axis:
    with one stream it is exactly the call ``fn(shape, generator=g)`` of a lone learner (torch.cat of one tensor
    copies it), so a run's numbers never depend on the runs beside it.

    An explicit ``generator`` (the draws of a caller's own stream, e.g. common.running.offline.fixed_minibatches or
    OTC's samplers) stands in for the streams' own: a torch.Generator for every stream in turn, or a list with one
    per run, which draws for that run's streams."""

    def __init__(
        self,
        generators: Sequence[torch.Generator],
        n_members: Sequence[int],
        n_seeds: Sequence[int],
        runs: Sequence[int] | None = None,
    ):
        self.generators = list(generators)
        self.n_members, self.n_seeds = [int(m) for m in n_members], [int(s) for s in n_seeds]
        self.runs = [len(self.generators)] if runs is None else [int(r) for r in runs]
        if not (
            self.generators
            and len(self.generators) == len(self.n_members) == len(self.n_seeds)
            and sum(self.runs) == len(self.generators)
            and min(self.runs) >= 1
        ):
            raise ValueError(
                f"MemberStreams: one generator, member count and seed count per stream and >= 1 stream "
                f"per run, got {len(self.generators)} generators, member counts {self.n_members}, seed "
                f"counts {self.n_seeds}, streams per run {self.runs}"
            )

    @classmethod
    def one(cls, seeds: Sequence[int], n_members: int, device) -> "MemberStreams":
        """One generator for all members, seeded from all the seeds: SeedSequence(seeds) (63 bits)."""
        seed = int(np.random.SeedSequence([int(s) for s in seeds]).generate_state(1, np.uint64)[0] >> 1)
        return cls([seeded_generator(seed, device)], [n_members], [len(seeds)])

    @classmethod
    def per_seed(
        cls, seeds: Sequence[int], units: int, seed_of: Callable[[int], int], device
    ) -> "MemberStreams":
        """One generator per seed (its ``units`` members), seeded with ``seed_of(seed)``: a seed draws alike whatever
        seeds run beside it in the learner."""
        return cls(
            [seeded_generator(seed_of(int(s)), device) for s in seeds], [units] * len(seeds), [1] * len(seeds)
        )

    @classmethod
    def cat(cls, parts: Sequence["MemberStreams"]) -> "MemberStreams":
        """The streams of several learners side by side, each keeping its runs."""
        return cls(
            [g for p in parts for g in p.generators],
            [m for p in parts for m in p.n_members],
            [s for p in parts for s in p.n_seeds],
            [r for p in parts for r in p.runs],
        )

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    def run_generators(self) -> list[list[torch.Generator]]:
        """Each run's generators, in order."""
        out, at = [], 0
        for r in self.runs:
            out.append(self.generators[at : at + r])
            at += r
        return out

    def run_seeds(self) -> list[int]:
        """Each run's seed count, in order."""
        counts, at = [], 0
        for r in self.runs:
            counts.append(sum(self.n_seeds[at : at + r]))
            at += r
        return counts

    def _per_stream(self, per_run: Sequence[Any]) -> list[Any]:
        """One value per run -> one per stream (a run's streams are consecutive)."""
        return [v for v, r in zip(per_run, self.runs) for _ in range(r)]

    def _generators(self, generator) -> list[torch.Generator]:
        if generator is None:
            return self.generators
        if isinstance(generator, torch.Generator):
            return [generator] * len(self.generators)
        gens = list(generator)
        if len(gens) != self.n_runs or not all(isinstance(g, torch.Generator) for g in gens):
            raise ValueError(
                f"give one torch.Generator, or a list of one per run ({self.n_runs}), got {generator!r}"
            )
        return self._per_stream(gens)

    def draw(self, fn: Callable[..., Tensor], shape: Sequence[int], generator=None, **kw) -> Tensor:
        """``fn(shape, generator=g, **kw)`` (e.g. torch.randn) for every stream, with its member count as the
        leading size, concatenated on the member axis: [M, *shape[1:]]."""
        if shape[0] != sum(self.n_members):
            raise ValueError(
                f"a draw of the streams must lead with their {sum(self.n_members)} members, "
                f"got {tuple(shape)}"
            )
        gens = self._generators(generator)
        return torch.cat([fn((m, *shape[1:]), generator=g, **kw) for g, m in zip(gens, self.n_members)])

    def indices(
        self,
        count: int,
        batch: int,
        *,
        replace: bool,
        per_seed: bool = False,
        rows: Sequence[tuple[int, int]] | None = None,
        generator=None,
    ) -> Tensor:
        """Minibatch rows of every member ([M, B]; ``per_seed``: one row set per seed, [S, B]), each stream
        sampling as common.datasets.sampling.sample_indices from its run's rows ``rows[r] = (start, count_r)`` of
        the data (a stack's data, ``stack_rows``); ``rows`` None: every run samples all ``count`` rows."""
        spans = [(0, int(count))] * self.n_runs if rows is None else list(rows)
        if len(spans) != self.n_runs:
            raise ValueError(f"give one (start, count) of rows per run ({self.n_runs}), got {spans}")
        units = self.n_seeds if per_seed else self.n_members
        return torch.cat(
            [
                sample_indices(g, n, u, batch, replace=replace) + start
                for g, u, (start, n) in zip(self._generators(generator), units, self._per_stream(spans))
            ]
        )
