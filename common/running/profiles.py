"""Run profiles: how much of a paper's protocol a run reproduces.

Three profiles are defined here, once:

- ``smoke``: CI. Tiny data, a handful of updates, 2 seeds; every script finishes in seconds.
- ``quick``: one 2-core machine. Reduced data and gradient steps, 3 seeds; hours for a paper.
- ``full``: the paper's protocol (its dataset sizes, gradient steps and evaluation), 5 seeds.

A paper adapts a profile with *data*, never with branches, in one place: its ``config.py`` holds a
``PaperProfiles`` whose ``by_profile`` maps a profile name to ``Profile`` fields to override, and whose
``keys`` names (with its meaning) every paper-specific setting allowed in ``overrides``::

    PROFILES = PaperProfiles(
        by_profile={"smoke": {"data_scale": 0.002, "overrides": {"batch_size": 32}},
                    "quick": {"update_scale": 0.2}},
        keys={"batch_size": "minibatch size instead of the paper's"})
    profile = get_profile("quick", PROFILES)

An unknown profile name, ``Profile`` field or paper setting is an error naming the allowed ones. Dataset
sizes have one layer: ``data_scale`` (``Profile.n_data``) of the paper's size.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

PROFILE_NAMES = ("smoke", "quick", "full")


@dataclass
class Profile:
    """How much of the paper's protocol to run. Scales are fractions of the paper's values."""

    name: str  # one of PROFILE_NAMES
    n_seeds: int  # how many seeds a cell runs by default
    seeds: list[int] = field(default_factory=list)  # the default seeds; [] -> range(n_seeds)
    data_scale: float = 1.0  # fraction of the paper's dataset size (transitions / episodes)
    update_scale: float = 1.0  # fraction of the paper's gradient steps
    eval_episodes: int | None = None  # evaluation episodes per evaluation; None -> the paper's
    eval_every: int | None = None  # gradient steps between evaluations; None -> paper's x update_scale
    overrides: dict[str, Any] = field(default_factory=dict)  # paper-specific settings, free keys

    def __post_init__(self) -> None:
        if not self.seeds:
            self.seeds = list(range(self.n_seeds))
        self.validate()

    def validate(self) -> "Profile":
        """Raise ValueError naming the bad value and what is allowed."""
        if self.name not in PROFILE_NAMES:
            raise ValueError(f"unknown profile {self.name!r}; valid profiles: {', '.join(PROFILE_NAMES)}")
        if not isinstance(self.n_seeds, int) or self.n_seeds < 1:
            raise ValueError(f"profile {self.name}: n_seeds must be an int >= 1, got {self.n_seeds!r}")
        if len(self.seeds) != self.n_seeds:
            raise ValueError(
                f"profile {self.name}: seeds {self.seeds} has {len(self.seeds)} entries, n_seeds is {self.n_seeds}"
            )
        if len(set(self.seeds)) != len(self.seeds) or not all(isinstance(s, int) for s in self.seeds):
            raise ValueError(f"profile {self.name}: seeds must be distinct ints, got {self.seeds}")
        for name in ("data_scale", "update_scale"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 < v <= 1.0:
                raise ValueError(f"profile {self.name}: {name} must be in (0, 1], got {v!r}")
        for name in ("eval_episodes", "eval_every"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"profile {self.name}: {name} must be None or an int >= 1, got {v!r}")
        if not isinstance(self.overrides, dict):
            raise ValueError(f"profile {self.name}: overrides must be a dict, got {type(self.overrides).__name__}")
        return self

    # Helpers that turn the paper's numbers into this profile's numbers.
    def n_data(self, paper_size: int) -> int:
        """Dataset size under this profile (at least 1)."""
        return max(1, round(paper_size * self.data_scale))

    def n_updates(self, paper_steps: int) -> int:
        """Gradient steps under this profile (at least 1)."""
        return max(1, round(paper_steps * self.update_scale))

    def eval_interval(self, paper_interval: int) -> int:
        """Gradient steps between evaluations: ``eval_every`` if set, else the paper's, scaled."""
        return self.eval_every if self.eval_every is not None else self.n_updates(paper_interval)

    def n_eval_episodes(self, paper_episodes: int) -> int:
        """Evaluation episodes: ``eval_episodes`` if set, else the paper's."""
        return self.eval_episodes if self.eval_episodes is not None else paper_episodes

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# The three profiles, defined once.
BASE_PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(n_seeds=2, data_scale=0.01, update_scale=0.001, eval_episodes=2, eval_every=None),
    "quick": dict(n_seeds=3, data_scale=0.25, update_scale=0.1, eval_episodes=10, eval_every=None),
    "full": dict(n_seeds=5, data_scale=1.0, update_scale=1.0, eval_episodes=None, eval_every=None),
}

_FIELDS = tuple(f.name for f in dataclasses.fields(Profile) if f.name != "name")


@dataclass(frozen=True)
class PaperProfiles:
    """A paper's profile overrides, validated on construction (see the module docstring)."""

    by_profile: Mapping[str, Mapping[str, Any]]
    keys: Mapping[str, str] = field(default_factory=dict)  # allowed ``overrides`` keys -> meaning

    def __post_init__(self) -> None:
        validate_overrides(self.by_profile)
        for pname, over in self.by_profile.items():
            unknown = sorted(set(over.get("overrides") or {}) - set(self.keys))
            if unknown:
                raise ValueError(f"unknown paper setting(s) {unknown} in the {pname!r} profile's overrides; "
                                 f"allowed: {', '.join(sorted(self.keys)) or 'none'}")


def validate_overrides(paper_overrides: Mapping[str, Mapping[str, Any]] | PaperProfiles | None) -> None:
    """Reject unknown profile names and unknown Profile fields in a paper's override dict."""
    if paper_overrides is None:
        return
    if isinstance(paper_overrides, PaperProfiles):
        paper_overrides = paper_overrides.by_profile
    if not isinstance(paper_overrides, Mapping):
        raise ValueError(f"paper overrides must be a dict keyed by profile name, got {type(paper_overrides).__name__}")
    for pname, over in paper_overrides.items():
        if pname not in PROFILE_NAMES:
            raise ValueError(f"override for unknown profile {pname!r}; valid profiles: {', '.join(PROFILE_NAMES)}")
        if not isinstance(over, Mapping):
            raise ValueError(f"overrides for profile {pname!r} must be a dict, got {type(over).__name__}")
        unknown = sorted(set(over) - set(_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown profile override key(s) {unknown} for profile {pname!r}; allowed: {', '.join(_FIELDS)}"
            )


def get_profile(name: str, paper_overrides: Mapping[str, Mapping[str, Any]] | PaperProfiles | None = None) -> Profile:
    """The base profile ``name`` with the paper's overrides for that profile merged on top.

    ``overrides`` merges key by key; setting ``n_seeds`` without ``seeds`` gives ``range(n_seeds)``.
    A plain dict of overrides (tests, sketches) leaves the paper settings unchecked; a ``PaperProfiles``
    checks them.
    """
    if name not in BASE_PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILE_NAMES)}")
    validate_overrides(paper_overrides)
    if isinstance(paper_overrides, PaperProfiles):
        paper_overrides = paper_overrides.by_profile
    values = copy.deepcopy(BASE_PROFILES[name])
    values.setdefault("overrides", {})
    over = copy.deepcopy(dict((paper_overrides or {}).get(name, {})))
    if "overrides" in over:
        values["overrides"].update(over.pop("overrides"))
    if "seeds" in over and "n_seeds" not in over:
        over["n_seeds"] = len(over["seeds"])
    values.update(over)
    return Profile(name=name, **values)
