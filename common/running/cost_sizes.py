"""The size of a run's networks for the cost model (common.running.cost_model), and how per-step cost scales with it.

Size. ``size_factor`` = batch × Σ width² over the widths of a config's learner sections (every field whose name
holds ``hidden``; an integer width is two layers of it): an update's FLOPs up to a constant where widths dominate
the inputs. A section that leaves a width or the batch to its learner's defaults (the full profiles do) is sized at
those defaults (``section_defaults``): the config class of a learner of common.algos (``DEFAULTS_FROM``), else
nothing (the run is ``unsized`` when no section names a width). A paper's learner (CAST-BCQ's cast_smax, OTC's
bremen, ...) is not looked up through the registry (common.algos.LEARNERS): it holds a paper's learners only once
their modules are imported, so the sizes, and with them the shared slope and every prediction, would depend on the
imports of the process (``--plan --paper omar`` against the README generator); measured, that lookup improved the
median leave-out errors by 1-3 points only (records 61 -> 58 %, item 55 -> 54 %).

Scaling. Seconds per update ≈ c · size^β (``fit_power``), a power law in log-log space: β = 1 where FLOPs dominate,
β → 0 where per-step overhead (Python, dispatch, small kernels) does, as on smoke's tiny networks. One β for all
families, the slope pooled over the families on record at several sizes (``pooled_slope``: the within-family
log-log regression; 0.30 on the committed records), and c per family: with one family's own slope (two smoke and
quick points, each run's set-up folded into its per-step cost) or a slope per paper, leaving an item's own
records out predicted it worse (``python -m common.running.cost_records --leave-out records``: median error 68 %
and 67 % against 61 % for the shared slope).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
from typing import Any, Mapping, Sequence

# learner section -> (module, class) of its config in common.algos
DEFAULTS_FROM = {
    "itd3": ("common.algos.itd3_config", "ITD3Config"),
    "bcq": ("common.algos.bcq_config", "BCQConfig"),
    "mabcq": ("common.algos.bcq_config", "BCQConfig"),
    "awac": ("common.algos.awac_config", "AWACConfig"),
    "td3bc": ("common.algos.itd3bc", "TD3BCConfig"),
    "cql": ("common.algos.cql_discrete", "DiscreteCQLConfig"),
    "iql_discrete": ("common.algos.iql", "IQLConfig"),
    "iql_continuous": ("common.algos.iql_continuous", "ContinuousIQLConfig"),
    "matd3bc": ("common.algos.matd3bc", "MATD3BCConfig"),
    "mappo": ("common.algos.mappo_config", "MAPPOConfig"),
}
BATCH_FIELDS = ("batch_size", "batch")


def _size_fields(cls: Any) -> dict[str, Any]:
    """The width (``*hidden*``) and batch fields of config dataclass ``cls`` with their defaults."""
    out = {}
    for f in dataclasses.fields(cls):
        if ("hidden" in f.name or f.name in BATCH_FIELDS) and f.default is not dataclasses.MISSING:
            out[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
    return out


@functools.lru_cache(maxsize=None)
def _class_defaults(cls: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(_size_fields(cls).items())


def section_defaults(name: str) -> dict[str, Any]:
    """The default widths and batch of learner section ``name`` (the module docstring); {} when not known."""
    if name not in DEFAULTS_FROM:
        return {}
    module, cls_name = DEFAULTS_FROM[name]
    return dict(_class_defaults(getattr(importlib.import_module(module), cls_name)))


def _int(x: Any) -> int:
    return int(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else 0


def size_factor(config: Mapping[str, Any]) -> float | None:
    """batch × Σ width² over the learner sections of ``config`` (sub-configs other than ``dataset``), each section's
    missing widths and batch taken from its learner's defaults (``section_defaults``); None when no section names
    or defaults a width."""
    batch, widths = 0, []
    for name, sub in config.items():
        if not isinstance(sub, Mapping) or name == "dataset":
            continue
        sub = {**section_defaults(name), **sub}
        batch = max([batch] + [_int(sub.get(k)) for k in BATCH_FIELDS])
        for k, v in sub.items():
            if "hidden" in k:
                widths += (
                    [v, v]
                    if isinstance(v, int)
                    else [w for w in v if isinstance(w, int)]
                    if isinstance(v, (list, tuple))
                    else []
                )
    return float(max(batch, 1) * sum(w * w for w in widths)) if widths else None


def _logs(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]


def pooled_slope(groups: Sequence[Sequence[tuple[float, float]]]) -> float | None:
    """The log-log slope of seconds per update on size shared by ``groups`` (each a family's (size, seconds)):
    Σ dx·dy / Σ dx² over the families' points less their family's means, clamped to [0, 1]; None when no family
    has two sizes."""
    sxy = sxx = 0.0
    for pts in groups:
        logs = _logs(pts)
        if len({x for x, _ in logs}) < 2:
            continue
        mx, my = sum(x for x, _ in logs) / len(logs), sum(y for _, y in logs) / len(logs)
        sxy += sum((x - mx) * (y - my) for x, y in logs)
        sxx += sum((x - mx) ** 2 for x, _ in logs)
    return min(max(sxy / sxx, 0.0), 1.0) if sxx > 0 else None


def fit_power(points: Sequence[tuple[float, float]], beta: float | None = None) -> tuple[float, float]:
    """(c, β) of seconds per update ≈ c · size^β over ``points`` (size, seconds per update): β as given (the slope
    pooled over the families, ``pooled_slope``), else the points' own log-log slope clamped to [0, 1] where they
    hold two sizes, else 1 (cost proportional to size); c the geometric mean of seconds / size^β. Points with a
    zero cost or size carry no log and are left out ((0, β) when none is left)."""
    if not points:
        raise ValueError("fit_power needs at least one (size, seconds) point, got none")
    own = pooled_slope([points]) if beta is None else beta
    b = own if own is not None else 1.0
    logs = _logs(points)
    return (math.exp(sum(y - b * x for x, y in logs) / len(logs)) if logs else 0.0), b
