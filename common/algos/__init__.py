"""Offline learners and losses shared by two or more papers, and the registry by which a job builds a
learner by name (``build_learner("itd3", data, section, seed, device)``; common.running.offline).

A builder takes the loaded dataset (``obs_dims``, ``act_dims``, ``size``), the learner's config section
of the cell (a dict), the run's seed and the torch device, and returns a learner with the protocol of
common.running.offline. Register a new one with ``register_learner(name, builder)``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence


def _build_itd3(data, section: Mapping[str, Any], seed: int, device) -> Any:
    """Independent TD3 (+ CQL / OMAR / TD3+BC / ICQ regularisers) from ITD3Config fields."""
    from common.algos.itd3 import ITD3, ITD3Config

    fields = dict(section)
    fields["batch_size"] = min(int(fields["batch_size"]), data.size)  # sampling is without replacement
    return ITD3(data.obs_dims, data.act_dims, 1, ITD3Config(**fields), seeds=[seed], device=device)


def _build_bcq(data, section: Mapping[str, Any], seed: int, device) -> Any:
    """BCQ (Fujimoto et al. 2019) from BCQConfig fields: I-BCQ (view="independent") or centralized BCQ
    (view="central": the dataset's state and its env's join / split_actions)."""
    from common.algos.bcq import BCQ, BCQConfig

    if section.get("variant", "bcq") != "bcq":
        raise ValueError(
            f"learner 'bcq' takes variant='bcq', got {section['variant']!r}; use learner 'mabcq'"
        )
    return BCQ.from_dataset(data, BCQConfig(**section), seeds=[seed], device=device)


def _build_mabcq(data, section: Mapping[str, Any], seed: int, device) -> Any:
    """MABCQ in the CAST-BCQ authors' form: BCQConfig fields with variant="mabcq" (common.algos.bcq)."""
    from common.algos.bcq import BCQ, BCQConfig

    if section.get("variant", "mabcq") != "mabcq":
        raise ValueError(f"learner 'mabcq' takes variant='mabcq', got {section['variant']!r}")
    fields = {**dict(section), "variant": "mabcq"}
    return BCQ.from_dataset(data, BCQConfig(**fields), seeds=[seed], device=device)


def _build_awac(data, section: Mapping[str, Any], seed: int, device) -> Any:
    """AWAC (Nair et al. 2020; OTC's base learner) from AWACConfig fields (common.algos.awac)."""
    from common.algos.awac import build_awac

    return build_awac(data, section, seed, device)


def _build_td3bc(data, section: Mapping[str, Any], seed: int, device) -> Any:
    """Independent TD3+BC as Fujimoto & Gu (target smoothing, policy delay, state normalization; OTC's base learner
    on navigation) from TD3BCConfig fields (common.algos.itd3bc)."""
    from common.algos.itd3bc import build_td3bc

    return build_td3bc(data, section, seed, device)


# Learners of one paper register themselves at import (e.g. papers/cast_bcq/icq_ma.py, grid.py, cast_bcq.py).
LEARNERS: dict[str, Callable[..., Any]] = {
    "itd3": _build_itd3,
    "bcq": _build_bcq,
    "mabcq": _build_mabcq,
    "awac": _build_awac,
    "td3bc": _build_td3bc,
}


# Learners whose runs can train stacked (cells as members), with the config fields that may differ between the
# stacked runs: common.running.offline adds the built-in ones (itd3, iql_continuous, matd3bc, bcq, mabcq), a paper's learner
# comes in through register_learner(..., group_fields=...) (e.g. papers/cast_bcq/cast_bcq.py, icq_ma.py).
GROUPABLE: dict[str, tuple[str, ...]] = {}


def register_learner(name: str, build: Callable[..., Any], group_fields: Sequence[str] | None = None) -> None:
    """Make ``build(data, section, seed, device)`` available as learner ``name`` (a new name only). ``group_fields``
    (a StackableLearner's ``GROUP_FIELDS``, possibly empty): its runs may train stacked (``GROUPABLE``); None: they
    always train alone."""
    if name in LEARNERS and LEARNERS[name] is not build:
        raise ValueError(f"learner {name!r} is already registered")
    if group_fields is not None and (
        isinstance(group_fields, str) or not all(isinstance(f, str) for f in group_fields)
    ):
        raise ValueError(
            f"group_fields={group_fields!r}: give the names of the config fields that may differ "
            "between stacked runs (a tuple of str, possibly empty), or None"
        )
    LEARNERS[name] = build
    if group_fields is not None:
        GROUPABLE[name] = tuple(group_fields)


def get_learner(name: str) -> Callable[..., Any]:
    """The builder of learner ``name``; a ValueError naming the valid learners for an unknown one."""
    try:
        return LEARNERS[name]
    except KeyError:
        raise ValueError(f"unknown learner {name!r}; valid learners: {', '.join(sorted(LEARNERS))}") from None


def build_learner(name: str, data, section: Mapping[str, Any], seed: int, device) -> Any:
    """A fresh learner ``name`` for one seed on ``data`` (see the module docstring)."""
    return get_learner(name)(data, section, seed, device)
