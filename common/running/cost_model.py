"""A cost model: the predicted core-hours of every item at any profile, from unit costs measured in the records.

What it counts. A run (one cell, one seed, one torch thread: its seconds are core-seconds) costs

    t(run) = c_k + u_k · U + e_k · E

- ``U``: the run's training steps, read from its cell config (``counts``): ``updates`` (+ ``finetune.updates``),
  MOMA-PPO's ``iterations``, or OTC's ``offline_updates`` + ``cvae_offline_updates`` + ``deployments`` ×
  ``tune_updates``; ``E``: its evaluation episodes (evaluations × ``eval_episodes``; OTC: one evaluation before the
  deployments and one after each). A config with neither (a probe that only reads a dataset, a timing item) costs a
  constant ``u_k`` per run (``U`` counts 1).
- ``k``, the run's cost key (``cost_key``): its paper and config with the count fields removed and the dataset
  reduced to its environment, so method, network widths, batch sizes and environment are part of the key.
- ``u_k`` per key; the set-up ``c`` (data loading, env and network construction) and the evaluation episode's
  ``e`` shared by the keys of one environment (``fit_env``): least squares over the newest record of each run
  (copied and resumed ones left out) on the median time of each key's distinct counts, so that the run which
  built a dataset first does not count. ``c`` and ``e`` are seen only where keys ran at several counts (profiles at equal
  sizes); else they are 0 and ``u_k`` carries their share, so a profile that evaluates more often per step, or
  runs shorter, is under-predicted by that share.
- A key without records whose family (below) has long runs (``LONG_RUN`` updates) at its very sizes takes their
  per-update cost (**same size**; from shorter runs, which carry the set-up's share, a transfer was worse than
  scaling: median |log error| 0.69 against 0.53 with ``--leave-out records``); else those of the methods its key
  is a variant of (``variant_families``: ``bcq_otc_de_joint`` -> ``bcq_otc_de``), before any scaling.
- A key without records (other widths or batch at this profile) is **scaled** from its family (paper, method,
  environment), else its paper and method: ``u = c · size^β`` (common.running.cost_sizes.fit_power), ``size`` =
  batch × Σ width² of the learner's networks, widths and batch a section leaves out taken from its learner's
  defaults (``size_factor``), a FLOP count up to a constant; ``c`` per family, ``β`` one exponent for every family,
  the log-log slope pooled within the families on record at several sizes (``pooled_slope``; about 0.3 on the
  committed records: smoke's tiny networks are overhead-dominated, so cost grows far slower than FLOPs). Scaled
  predictions are far less reliable than fitted ones (``python -m common.running.cost_records --leave-out
  records`` measures them). A config whose sections name no width and whose learner's defaults are not known
  (a paper's learner: common.running.cost_sizes) is **unsized**: the family's median per-step cost at the
  sizes on record.
- Runs trained as one job (cells as members, ``--group``; MOMA-PPO's seeds) record a share of the job's time
  (``group_sizes`` finds them): they are keys of their own (``member_key``); a run alone whose key was only
  run in groups is predicted by that share (basis ``grouped``, an underestimate of a run alone).
- An item's prediction = Σ over its cells × seeds of ``t`` (a run whose config and seed an earlier item of the
  paper has is copied, 0: common.running.cost_records.predict_plans) + ``start_s``, one item invocation's fixed
  cost (process start, imports, report): the median over the measured one-process invocations of (wall − Σ their
  runs' times).
- Stages that runs share (OTC's cached pi^0 and CVAE, trained by the first variant of a seed that needs them) count
  their steps only in the run that trains them, in the fits and in a plan (common.running.cost_stages).

What it ignores: dataset generation (the MuJoCo SAC behavior runs, SMAX's MAPPO, the world models cached between
runs: minutes to hours, each built once per machine and measured apart), the load of the machine (the records
were made on a busy 2-core machine), the speed-ups of the code since a record was made, the Python and process
overhead beyond the per-run set-up and ``start_s``, ``--group`` in a plan (runs are predicted alone), and GPUs
(no GPU run is on record). The model is fitted on a results root's records by common.running.cost_records, whose
``python -m common.running.cost_records`` prints its error on every item invocation with measured times.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from common.running.cost_sizes import fit_power, pooled_slope, size_factor
from common.running.cost_stages import record_config
from common.running.records import canonical_json, latest_records
from common.running.timings import fmt_seconds

COUNT_FIELDS = (
    "updates",
    "iterations",
    "offline_updates",
    "cvae_offline_updates",
    "tune_updates",
    "deployments",
    "eval_every",
    "eval_episodes",
    "ckpt_every",
    "finetune",
)  # left out of the cost key
LONG_RUN = 5000  # updates: a key whose runs are this long has a per-update cost free of their set-up's share
START_S_DEFAULT = 3.0  # an invocation's fixed cost when no invocation is measured (seconds)


@dataclass(frozen=True)
class Counts:
    """A run's training steps ``updates`` (U) and evaluation episodes ``episodes`` (E)."""

    updates: float
    episodes: float


def _int(x: Any) -> int:
    return int(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else 0


def counts(config: Mapping[str, Any]) -> Counts:
    """U and E of a run of ``config`` (the module docstring); (1, 0) for a config that trains nothing."""
    eps = _int(config.get("eval_episodes"))
    if "offline_updates" in config:
        deploys = _int(config.get("deployments"))
        u = (
            _int(config["offline_updates"])
            + _int(config.get("cvae_offline_updates"))
            + deploys * _int(config.get("tune_updates"))
        )
        return Counts(float(u), float((deploys + 1) * eps))
    steps = _int(config.get("updates")) or _int(config.get("iterations"))
    if not steps:
        return Counts(1.0, 0.0)
    every = _int(config.get("eval_every"))
    evals = steps // every if every > 0 else 1
    fine = config.get("finetune")
    extra = _int(fine.get("updates")) if isinstance(fine, Mapping) else 0
    return Counts(float(steps + extra), float(evals * eps))


def cost_key(paper: str, config: Mapping[str, Any]) -> str:
    """The cost key of a run: paper and config without the count fields, the dataset reduced to its env."""
    ds = config.get("dataset")
    rest = {k: v for k, v in config.items() if k not in COUNT_FIELDS and k != "dataset"}
    if isinstance(ds, Mapping):
        rest["dataset"] = {"env": ds.get("env"), "env_options": ds.get("env_options")}
    return paper + ":" + canonical_json(rest)


def env_of(paper: str, config: Mapping[str, Any]) -> str:
    """``paper/env``: the environment a run trains and evaluates on (evaluation episodes cost the same there)."""
    ds = config.get("dataset")
    return f"{paper}/{ds.get('env') if isinstance(ds, Mapping) else None}"


def families(paper: str, config: Mapping[str, Any]) -> tuple[str, str]:
    """The key's families, nearest first: (paper, method, environment) and (paper, method)."""
    ds = config.get("dataset")
    env = ds.get("env") if isinstance(ds, Mapping) else None
    method = config.get("method", config.get("learner"))
    return f"{paper}/{method}/{env}", f"{paper}/{method}"


def variant_families(paper: str, config: Mapping[str, Any]) -> tuple[str, ...]:
    """The families of the methods a method key is a variant of, nearest first: the key's prefixes at ``_``
    (``bcq_otc_de_joint`` -> ``bcq_otc_de``, ``bcq_otc``, ``bcq``), each as (paper, method, environment) and
    (paper, method). Read only where the key's own families have nothing at its size (``run_seconds``)."""
    ds = config.get("dataset")
    env = ds.get("env") if isinstance(ds, Mapping) else None
    parts = str(config.get("method", config.get("learner"))).split("_")
    out: list[str] = []
    for n in range(len(parts) - 1, 0, -1):
        base = "_".join(parts[:n])
        out += [f"{paper}/{base}/{env}", f"{paper}/{base}"]
    return tuple(out)


@dataclass(frozen=True)
class UnitCost:
    """Seconds per run (set-up: data loading, env and network construction), per training step and per
    evaluation episode of one cost key, fitted on ``n`` records."""

    per_run: float
    per_update: float
    per_episode: float
    n: int

    def seconds(self, c: Counts) -> float:
        return self.per_run + self.per_update * c.updates + self.per_episode * c.episodes


def _solve_shared(a: list[list[float]], b: list[float]) -> tuple[float, float]:
    """Non-negative (per run, per episode) from the 2×2 normal equations ``a``·θ = ``b``: both if the solution is
    non-negative, else the better of each alone, else (0, 0)."""
    det = a[0][0] * a[1][1] - a[0][1] * a[1][0]
    if det > 1e-9 * max(a[0][0] * a[1][1], 1e-300):
        x = ((b[0] * a[1][1] - b[1] * a[0][1]) / det, (b[1] * a[0][0] - b[0] * a[1][0]) / det)
        if x[0] >= 0 and x[1] >= 0:
            return x
    alone = [(b[i] / a[i][i], i) for i in (0, 1) if a[i][i] > 1e-12 and b[i] > 0]
    if not alone:
        return 0.0, 0.0
    x_best, i_best = max(alone, key=lambda xi: xi[0] * b[xi[1]])  # the larger drop of the squared residual
    return (x_best, 0.0) if i_best == 0 else (0.0, x_best)


def fit_env(by_key: Mapping[str, Sequence[tuple[Counts, float]]]) -> tuple[dict[str, UnitCost], float, float]:
    """The unit costs of the keys of one environment: t ≈ c + u_k·U + e·E, one u_k per key, the set-up c and the
    evaluation episode's e shared by the environment's keys, non-negative, least squares over the median time of
    each key's distinct (U, E) (the median keeps out the run that built a dataset first: its time includes the
    build). c and e are seen where keys were run at several counts (profiles at equal sizes); else they are 0 and
    u_k carries their share. A key on record at one count gets at most half its time as c + e·E (a set-up seen on
    quick's long runs is not smoke's). Returns ({key: UnitCost}, c, e)."""
    med = {
        k: [(c, statistics.median([t for c2, t in pts if c2 == c])) for c in dict.fromkeys(c for c, _ in pts)]
        for k, pts in by_key.items()
        if pts
    }
    a, b = [[0.0, 0.0], [0.0, 0.0]], [0.0, 0.0]
    for pts in med.values():  # the shared (1, E) and t, each key's U projected out
        suu = sum(c.updates**2 for c, _ in pts)

        def resid(ys: list[float]) -> list[float]:
            p = sum(c.updates * y for (c, _), y in zip(pts, ys)) / suu
            return [y - p * c.updates for (c, _), y in zip(pts, ys)]

        feats = [resid([1.0] * len(pts)), resid([c.episodes for c, _ in pts])]
        rt = resid([t for _, t in pts])
        for i in (0, 1):
            b[i] += sum(x * y for x, y in zip(feats[i], rt))
            for j in (0, 1):
                a[i][j] += sum(x * y for x, y in zip(feats[i], feats[j]))
    run, ep = _solve_shared(a, b)
    units = {}
    # at one count, a key's set-up and evaluation take at most half its (median) run
    for k, pts in med.items():
        scale = 1.0 if len(pts) > 1 else min(1.0, 0.5 * pts[0][1] / max(run + ep * pts[0][0].episodes, 1e-12))
        rk, ek = run * scale, ep * scale
        u = sum(c.updates * (t - rk - ek * c.episodes) for c, t in pts) / sum(c.updates**2 for c, _ in pts)
        units[k] = UnitCost(rk, max(u, 0.0), ek, len(by_key[k]))
    return units, run, ep


def group_sizes(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """For each record, how many runs trained as one job with it (cells as members, ``--group``; MOMA-PPO's seeds):
    the records sharing its ``started`` and ``wall_time_s`` (a group's time is shared equally among its runs and the
    record does not say it was grouped, common.running.grouping); 1 under a second, where equal times are the
    clock's resolution."""
    n: dict[tuple, int] = {}
    for r in records:
        n[(r.get("started"), r.get("wall_time_s"))] = n.get((r.get("started"), r.get("wall_time_s")), 0) + 1
    return [
        n[(r.get("started"), r.get("wall_time_s"))] if float(r.get("wall_time_s") or 0) >= 1 else 1
        for r in records
    ]


def member_key(key: str, members: int) -> str:
    """The cost key of runs trained ``members`` to a job (their per-run share differs from a run alone's)."""
    return key if members == 1 else f"{key} x{members}"


def run_points(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any], float, int]]:
    """(paper, config, seconds, group size) of each record that timed a whole run: newest of each run, not copied
    from another item, not resumed, with a positive ``wall_time_s`` and a config; the config with the counts of
    the shared stages the run did not train set to 0 (common.running.cost_stages.record_config)."""
    kept = []
    for r in latest_records(records):
        t = r.get("wall_time_s")
        if r.get("reused_from") or r.get("resumed_from_step") or not isinstance(t, (int, float)) or t <= 0:
            continue
        if isinstance(r.get("config"), Mapping) and r["config"]:
            kept.append(r)
    return [
        (str(r.get("paper")), record_config(r), float(r["wall_time_s"]), n)
        for r, n in zip(kept, group_sizes(kept))
    ]


@dataclass
class CostModel:
    """Unit costs per cost key, per-step costs by size per family, evaluation costs per environment, and an
    invocation's fixed cost."""

    units: dict[str, UnitCost]
    per_size: dict[str, tuple[float, float]]  # family -> (c, β): seconds per update = c · size_factor^β
    per_step: dict[str, float]  # family -> median seconds per update over its keys (sizes unknown)
    per_run: dict[str, float]  # paper/env -> seconds of a run's set-up
    per_episode: dict[str, float]  # paper/env -> seconds per evaluation episode
    grouped: dict[str, str] = field(default_factory=dict)  # key of runs alone -> a key of its runs in groups
    start_s: float = START_S_DEFAULT
    # "family@size" -> median seconds per update of the family's long-run keys at that size_factor
    at_size: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, points: Sequence[tuple[str, Mapping[str, Any], float, int]], starts: Sequence[float] = ()
    ) -> "CostModel":
        """The model of ``points`` (``run_points``); ``start_s``: the median of ``starts`` (measured invocations'
        wall time beyond their runs' times, common.running.cost_records), else ``START_S_DEFAULT``. Runs trained in
        groups get keys of their own (``member_key``) and do not enter the families' size fits."""
        by_env: dict[str, dict[str, list[tuple[Counts, float]]]] = {}
        sizes: dict[str, float | None] = {}
        fams: dict[str, tuple[str, ...]] = {}
        grouped: dict[str, str] = {}
        for paper, config, t, n in points:
            base = cost_key(paper, config)
            k = member_key(base, n)
            by_env.setdefault(env_of(paper, config), {}).setdefault(k, []).append((counts(config), t))
            sizes[k], fams[k] = size_factor(config), families(paper, config) if n == 1 else ()
            if n > 1:
                grouped[base] = k
        units: dict[str, UnitCost] = {}
        per_run, per_episode = {}, {}
        for env, by_key in by_env.items():
            fitted, per_run[env], per_episode[env] = fit_env(by_key)
            units.update(fitted)
        by_family: dict[str, list[tuple[float | None, float]]] = {}
        for k, unit in units.items():
            for fam in fams[k]:
                by_family.setdefault(fam, []).append((sizes[k], unit.per_update))
        sized = {f: [(x, y) for x, y in v if x is not None] for f, v in by_family.items()}
        nearest = {fs[0] for fs in fams.values() if fs}  # (paper, method, env): each family's points once
        beta = pooled_slope([sized[f] for f in sorted(nearest & set(sized))])
        model = cls(
            units,
            {f: fit_power(v, beta) for f, v in sized.items() if v},
            {f: statistics.median([y for _, y in v]) for f, v in by_family.items()},
            per_run,
            per_episode,
            grouped,
        )
        model.start_s = max(statistics.median(starts), 0.0) if starts else START_S_DEFAULT
        longest = {
            k: max(c.updates for c, _ in pts) for by_key in by_env.values() for k, pts in by_key.items()
        }
        same: dict[str, list[float]] = {}
        for k, unit in units.items():
            sz = sizes[k]
            if sz is not None and longest[k] >= LONG_RUN:
                for f in fams[k]:
                    same.setdefault(f"{f}@{round(sz)}", []).append(unit.per_update)
        model.at_size = {k: statistics.median(v) for k, v in same.items()}
        return model

    def run_seconds(
        self, paper: str, config: Mapping[str, Any], members: int = 1
    ) -> tuple[float | None, str]:
        """(predicted seconds, basis) of one run trained ``members`` to a job: basis ``fit`` (its key's records),
        ``grouped`` (a run alone predicted by its per-run share in a group on record: an underestimate),
        ``same size`` (the median per-step cost of its family's keys at its very ``size_factor`` whose runs reach
        ``LONG_RUN`` updates, so that their per-step cost carries no set-up: the same learner and sizes in another
        environment or setting, plus its environment's set-up and evaluation; where its own families have none,
        those of the methods its key is a variant of, ``variant_families``), ``scaled`` (its family's per-step
        cost at its ``size_factor``, set-up and evaluation included pro rata),
        ``unsized`` (no width known: the family's median per-step cost at the sizes on record) or ``none``
        (None: nothing comparable on record)."""
        c, base = counts(config), cost_key(paper, config)
        unit = self.units.get(member_key(base, members))
        if unit is not None:
            return unit.seconds(c), "fit"
        if members == 1 and base in self.grouped:
            return self.units[self.grouped[base]].seconds(c), "grouped"
        size = size_factor(config)
        env = env_of(paper, config)
        own = families(paper, config)
        for fam in (*own, *variant_families(paper, config)) if size is not None else ():
            u = self.at_size.get(f"{fam}@{round(size or 0)}")
            if u is not None:
                extra = self.per_run.get(env, 0.0) + self.per_episode.get(env, 0.0) * c.episodes
                return u * c.updates + extra, "same size"
        for fam in own:
            if size is not None and fam in self.per_size:
                scale, beta = self.per_size[fam]
                return scale * size**beta * c.updates, "scaled"
            if size is None and fam in self.per_step:
                return self.per_step[fam] * c.updates, "unsized"
        return None, "none"


@dataclass
class Prediction:
    """An item's predicted core-seconds of training ``core_s`` (None when a run is not predicted), the wall
    time of one process running them (``wall_s``: + one invocation's start) and how many runs each basis gave."""

    core_s: float | None
    start_s: float
    bases: dict[str, int]

    @property
    def wall_s(self) -> float | None:
        return None if self.core_s is None else self.core_s + self.start_s

    def describe(self) -> str:
        how = ", ".join(f"{n} {b}" for b, n in sorted(self.bases.items()))
        return "model —" if self.core_s is None else f"model {self.core_s / 3600:.2f} core-h ({how})"

    __str__ = describe

    def beside(self, wall_s: float) -> str:
        """The prediction beside a measured wall time (after a run)."""
        return (
            ""
            if self.wall_s is None
            else f"; the cost model predicted {fmt_seconds(self.wall_s)} in one "
            f"process ({error_pct(self.wall_s, wall_s)})"
        )


def predict_item(
    model: CostModel,
    paper: str,
    configs: Sequence[Mapping[str, Any]],
    seeds: int,
    members: Sequence[int] | None = None,
) -> Prediction:
    """Σ over ``configs`` (one per cell) × ``seeds`` of the run's predicted seconds (each alone, or ``members[i]``
    runs to a job)."""
    total, bases = 0.0, dict[str, int]()
    for i, config in enumerate(configs):
        s, basis = model.run_seconds(paper, config, 1 if members is None else members[i])
        bases[basis] = bases.get(basis, 0) + seeds
        total = total + s * seeds if s is not None else math.nan
    return Prediction(None if math.isnan(total) else total, model.start_s, bases)


def error_pct(predicted: float | None, measured: float) -> str:
    return "—" if predicted is None or measured <= 0 else f"{100 * (predicted - measured) / measured:+.0f} %"
