"""Run profiles: how much of a paper's protocol a run reproduces.

Three profiles are defined here, once:

- ``smoke``: CI. Tiny data, a handful of updates, 2 seeds; every script finishes in seconds.
- ``quick``: one 2-core machine. Reduced data and gradient steps, 3 seeds; hours for a paper.
- ``full``: the paper's protocol (its dataset sizes, gradient steps and evaluation), 5 seeds.

A paper adapts a profile with *data*, never with branches, in one place, its ``config.py``: a frozen dataclass of
its own settings (a ``PaperSettings``: typed fields, each default the paper's value or None meaning "the paper's",
each with a comment on its meaning and source) and a ``PaperProfiles`` whose ``by_profile`` maps a profile name to
the ``Profile`` fields it changes and, under ``"paper"``, the paper's settings it changes::

    @dataclass(frozen=True)
    class Settings(PaperSettings):
        batch_size: int | None = None  # minibatch size; None: the paper's

    PROFILES = PaperProfiles(Settings, by_profile={
        "smoke": {"data_scale": 0.002, "paper": {"batch_size": 32}},
        "quick": {"update_scale": 0.2}})
    profile = get_profile("quick", PROFILES)  # one Profile, from the command line to the job
    profile.paper.batch_size                  # a job reads attributes, never string keys

An unknown profile name, ``Profile`` field or paper setting, or a setting of the wrong type, is an error naming
the allowed ones. Dataset sizes have one layer: ``data_scale`` (``Profile.n_data``) of the paper's size. A record
stores ``Profile.to_dict()``: the profile's fields and, as ``overrides``, the paper settings its profile set.
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from common.running.fields import Rules, check, opt

PROFILE_NAMES = ("smoke", "quick", "full")


@dataclass(frozen=True)
class PaperSettings:
    """A paper's profile-specific settings: the base of each paper's settings dataclass (its config.py). The base
    itself has none (a profile without a paper: tests, sketches). Build one with ``of`` so that ``given`` knows which
    settings the profile set (the record names those, whatever their values)."""

    # the settings the profile set, in order
    given: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings this paper allows (its fields but ``given``)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "given")

    @classmethod
    def of(cls, values: Mapping[str, Any], where: str = "") -> PaperSettings:
        """The settings with ``values`` set (the rest at their defaults), checked: an unknown name or a value of the
        wrong type is a ValueError naming it and the allowed ones. ``where`` names the profile in the message."""
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise ValueError(
                f"unknown paper setting(s) {unknown}{where} for {cls.__name__}; allowed: "
                f"{', '.join(cls.names()) or 'none'}"
            )
        return cls(given=tuple(values), **copy.deepcopy(dict(values))).validate(where)

    def validate(self, where: str = "") -> PaperSettings:
        """Raise ValueError naming the setting, its value and the type its field declares, when they do not match."""
        hints = typing.get_type_hints(type(self))
        for name in self.names():
            value = getattr(self, name)
            if not _matches(value, hints[name]):
                raise ValueError(
                    f"{type(self).__name__}.{name}{where} = {value!r}: not a {_type_text(hints[name])}"
                )
        return self

    def __getattr__(self, name: str) -> Any:  # only for names that are no field: a clear error
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"paper setting {name!r} is not one of {type(self).__name__}'s "
            f"({', '.join(self.names()) or 'none'}): a job needs the profile of its paper, "
            "get_profile(name, <the paper's config>'s PaperProfiles)"
        )

    def given_dict(self) -> dict[str, Any]:
        """The settings the profile set, with their values (what a record stores as the profile's ``overrides``)."""
        return {name: copy.deepcopy(getattr(self, name)) for name in self.given}


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the declared type ``hint``: None, int (not bool), float (an int too), str, bool, unions
    of those, and ``dict[K, V]`` / ``Mapping[K, V]`` checked key by key."""
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (dict, collections.abc.Mapping):
        kt, vt = typing.get_args(hint) or (Any, Any)
        return isinstance(value, Mapping) and all(
            _matches(k, kt) and _matches(v, vt) for k, v in value.items()
        )
    if hint is Any:
        return True
    return isinstance(value, origin or hint)


def _type_text(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


@dataclass(frozen=True)
class Profile:
    """How much of the paper's protocol to run. Scales are fractions of the paper's values."""

    name: str = opt(choices=PROFILE_NAMES)
    n_seeds: int = opt(kind="int", ge=1)  # how many seeds a cell runs by default
    seeds: list[int] = opt([], kind="int", seq=True)  # the default seeds; [] -> range(n_seeds)
    # fraction of the paper's dataset size (transitions / episodes)
    data_scale: float = opt(1.0, kind="num", gt=0, le=1)
    update_scale: float = opt(1.0, kind="num", gt=0, le=1)  # fraction of the paper's gradient steps
    # evaluation episodes per evaluation; None -> the paper's
    eval_episodes: int | None = opt(None, kind="int", ge=1, none_ok=True)
    # gradient steps between evaluations; None -> paper's x update_scale
    eval_every: int | None = opt(None, kind="int", ge=1, none_ok=True)
    # this paper's own settings at this profile
    paper: PaperSettings = opt(PaperSettings(), kind=PaperSettings, hint="the paper's config.py")
    RULES: ClassVar[Rules] = (
        (lambda c: len(c.seeds) == c.n_seeds, "seeds={c.seeds!r} must hold n_seeds={c.n_seeds} seeds"),
        (lambda c: len(set(c.seeds)) == len(c.seeds), "seeds={c.seeds!r} must be distinct"),
    )

    def __post_init__(self) -> None:
        if not self.seeds:
            object.__setattr__(self, "seeds", list(range(self.n_seeds)))
        self.validate()

    def validate(self) -> Profile:
        """The fields' declared rules and ``RULES`` (common.running.fields.check): a ValueError naming the bad
        value and what is allowed."""
        return check(self)

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
        """The profile as a record stores it (``profile_settings``): its fields, and as ``overrides`` the paper
        settings its profile set (``PaperSettings.given_dict``)."""
        out = {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "paper"
        }
        out["overrides"] = self.paper.given_dict()
        return out


# The three profiles, defined once.
BASE_PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(n_seeds=2, data_scale=0.01, update_scale=0.001, eval_episodes=2, eval_every=None),
    "quick": dict(n_seeds=3, data_scale=0.25, update_scale=0.1, eval_episodes=10, eval_every=None),
    "full": dict(n_seeds=5, data_scale=1.0, update_scale=1.0, eval_episodes=None, eval_every=None),
}

_FIELDS = tuple(f.name for f in dataclasses.fields(Profile) if f.name != "name")


@dataclass(frozen=True)
class PaperProfiles:
    """A paper's profiles: its settings dataclass and, per profile name, the ``Profile`` fields and (under ``paper``)
    the settings that profile changes; every profile's settings are built and checked on construction."""

    settings: type[PaperSettings]  # the paper's settings dataclass (its config.py)
    # profile name -> {Profile field: value, "paper": {setting: value}}
    by_profile: Mapping[str, Mapping[str, Any]]

    def __post_init__(self) -> None:
        if not (isinstance(self.settings, type) and issubclass(self.settings, PaperSettings)):
            raise ValueError(
                f"PaperProfiles.settings must be a PaperSettings subclass, got {self.settings!r}"
            )
        validate_overrides(self.by_profile)
        for pname in PROFILE_NAMES:
            self.settings_of(pname)

    def settings_of(self, name: str) -> PaperSettings:
        """The paper's settings at profile ``name`` (checked: ``PaperSettings.of``)."""
        return self.settings.of(
            (self.by_profile.get(name) or {}).get("paper") or {}, f" in the {name!r} profile"
        )


def validate_overrides(paper_overrides: Mapping[str, Mapping[str, Any]] | PaperProfiles | None) -> None:
    """Reject unknown profile names and unknown Profile fields in a paper's override dict."""
    if paper_overrides is None:
        return
    if isinstance(paper_overrides, PaperProfiles):
        paper_overrides = paper_overrides.by_profile
    if not isinstance(paper_overrides, Mapping):
        raise ValueError(
            f"paper overrides must be a dict keyed by profile name, got {type(paper_overrides).__name__}"
        )
    for pname, over in paper_overrides.items():
        if pname not in PROFILE_NAMES:
            raise ValueError(
                f"override for unknown profile {pname!r}; valid profiles: {', '.join(PROFILE_NAMES)}"
            )
        if not isinstance(over, Mapping):
            raise ValueError(f"overrides for profile {pname!r} must be a dict, got {type(over).__name__}")
        unknown = sorted(set(over) - set(_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown profile override key(s) {unknown} for profile {pname!r}; allowed: {', '.join(_FIELDS)}"
            )


def get_profile(
    name: str, paper_overrides: Mapping[str, Mapping[str, Any]] | PaperProfiles | None = None
) -> Profile:
    """The base profile ``name`` with the paper's overrides for that profile merged on top.

    Setting ``n_seeds`` without ``seeds`` gives ``range(n_seeds)``. With a ``PaperProfiles`` the profile carries the
    paper's settings (``Profile.paper``); a plain dict (tests, sketches) may change ``Profile`` fields only: paper
    settings need the paper's settings dataclass.
    """
    if name not in BASE_PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILE_NAMES)}")
    validate_overrides(paper_overrides)
    values = copy.deepcopy(BASE_PROFILES[name])
    if isinstance(paper_overrides, PaperProfiles):
        over = {**paper_overrides.by_profile.get(name, {}), "paper": paper_overrides.settings_of(name)}
    else:
        over = dict((paper_overrides or {}).get(name, {}))
        if "paper" in over:
            raise ValueError(
                f"paper settings {over['paper']!r} in the {name!r} profile need a PaperProfiles (the "
                "paper's settings dataclass), not a plain dict of overrides"
            )
    over = copy.deepcopy(over)
    if "seeds" in over and "n_seeds" not in over:
        over["n_seeds"] = len(over["seeds"])
    values.update(over)
    return Profile(name=name, **values)
