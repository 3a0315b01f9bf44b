"""Config validation declared on the fields: ``opt(default, ...)`` puts a field's rule (its type, range,
choices, and the option it ``needs``) in the dataclass field's metadata, and ONE validator, ``check(cfg)``,
reads them.

    @dataclass
    class MyConfig:
        hidden: int = opt(64, kind="int", ge=1)
        critic_reg: str = opt("none", choices=("none", "cql"))
        cql_alpha: float | Sequence[float] = opt(
            1.0, kind="num", ge=0, per_member=True,
            needs=Needs("critic_reg='cql'", lambda c: c.critic_reg == "cql"))
        RULES: ClassVar[Rules] = ((lambda c: ..., "what must hold, with {c.field!r} placeholders"),)

        def validate(self) -> "MyConfig":
            return check(self)

``check`` raises one ValueError naming the class, the field, the bad value and what is allowed:
1. every field's own rule, in field order ("MyConfig.hidden=0 is not allowed; choose an integer >= 1"); a
   field whose kind is a config class holds that class's instance, which passes its own ``validate()``;
2. every option set away from its default while the option it needs is off ("MyConfig.cql_alpha=5.0 is set but
   unused: it needs critic_reg='cql'");
3. the class's cross-field ``RULES`` ("MyConfig: <message>"; ``ordered`` and ``low_high`` build common ones).
Values: an integer is Python's or NumPy's, never a bool; a number is a finite real, never a bool
(common.running.validate); a device is "cpu", "cuda" or "cuda:<index>".
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from common.running.validate import is_int, is_num

__all__ = ["Needs", "Rules", "check", "low_high", "opt", "ordered", "unused_to_defaults"]

_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def _is_real(v: Any) -> bool:
    """A real number, +-inf included (e.g. a threshold that inf switches off), not NaN, not a bool."""
    return (
        isinstance(v, (int, float, np.integer, np.floating))
        and not isinstance(v, (bool, np.bool_))
        and not math.isnan(v)
    )


# what each kind admits; a kind may also be a config class (its instances, each passing its own validate())
_KIND_TESTS: dict[str, Callable[[Any], bool]] = {
    "int": is_int,  # Python's or NumPy's, not a bool
    "num": is_num,  # finite, not a bool
    "real": _is_real,
    "bool": lambda v: isinstance(v, (bool, np.bool_)),
    "str": lambda v: isinstance(v, str),
    "device": lambda v: isinstance(v, str) and _DEVICE.fullmatch(v) is not None,
}
KINDS = tuple(_KIND_TESTS)
_KIND_TEXT = {
    "int": "an integer",
    "num": "a number",
    "real": "a number or inf",
    "bool": "True or False",
    "str": "a string",
    "device": "'cpu', 'cuda' or 'cuda:<index>'",
}
Rules = Sequence[tuple[Callable[[Any], bool], str]]


@dataclass(frozen=True)
class Needs:
    """The option a field is used under: ``text`` names it for the error, ``test(cfg)`` says if it is on."""

    text: str
    test: Callable[[Any], bool]


@dataclass(frozen=True)
class Rule:
    """One field's rule (see ``opt``)."""

    kind: str | type | None = None
    choices: tuple | Callable[[], Sequence[Any]] | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    none_ok: bool = False
    per_member: bool = False
    seq: bool = False
    needs: Needs | None = None
    hint: str = ""

    def __post_init__(self) -> None:
        if self.kind is not None and not isinstance(self.kind, type) and self.kind not in KINDS:
            raise ValueError(f"opt(kind={self.kind!r}) is not a kind; choose one of {list(KINDS)} or a class")

    def allowed_choices(self) -> tuple | None:
        """The allowed values: as declared, or read now from the callable declared (a registry's names)."""
        return tuple(self.choices()) if callable(self.choices) else self.choices

    def allows(self, v: Any) -> bool:
        if v is None:
            return self.none_ok or None in (self.allowed_choices() or ())
        if self.seq:
            return isinstance(v, (list, tuple)) and len(v) > 0 and all(self._one(x) for x in v)
        if self.per_member:
            vals = np.atleast_1d(np.asarray(v, dtype=object))
            return vals.ndim == 1 and vals.size > 0 and all(self._one(x) for x in vals)
        return self._one(v)

    def _one(self, v: Any) -> bool:
        choices = self.allowed_choices()
        if choices is not None and not _is_choice(v, choices):
            return False
        if isinstance(self.kind, type):
            return isinstance(v, self.kind)
        if self.kind is not None and not _KIND_TESTS[self.kind](v):
            return False
        bounds = (
            (self.ge, float.__ge__),
            (self.gt, float.__gt__),
            (self.le, float.__le__),
            (self.lt, float.__lt__),
        )
        if any(b is not None for b, _ in bounds):
            if not (_is_real(v) if self.kind == "real" else is_num(v)):
                return False
            return all(b is None or op(float(v), float(b)) for b, op in bounds)
        return True

    def describe(self) -> str:
        """What the rule allows, as the error states it: "choose an integer >= 1 (hint)"."""
        choices = self.allowed_choices()
        if choices is not None:
            text = f"choose one of {list(choices)}"
        elif isinstance(self.kind, type):
            text = f"choose a {self.kind.__name__}"
        else:
            what = _KIND_TEXT.get(self.kind or "", "a number")
            ranges = self._ranges()
            text = f"choose {what}{' ' + ranges if ranges else ''}"
            if self.seq:
                text = text.replace("choose ", "choose a non-empty sequence, each ", 1)
        if self.per_member:
            text += ", or one such value per member"
        if self.none_ok:
            text = text.replace("choose ", "choose None or ", 1)
        return text + (f" ({self.hint})" if self.hint else "")

    def _ranges(self) -> str:
        """The bounds as text: "in [0, 1)" when bounded on both sides, else ">= 0", "> 0", "<= 1" or "< 1"."""
        lo = f"[{_fmt(self.ge)}" if self.ge is not None else ""
        lo = f"({_fmt(self.gt)}" if self.gt is not None else lo
        hi = f"{_fmt(self.le)}]" if self.le is not None else ""
        hi = f"{_fmt(self.lt)})" if self.lt is not None else hi
        if lo and hi:
            return f"in {lo}, {hi}"
        if lo:
            return (">= " if lo[0] == "[" else "> ") + lo[1:]
        if hi:
            return ("<= " if hi[-1] == "]" else "< ") + hi[:-1]
        return ""


def _is_choice(v: Any, choices: tuple) -> bool:
    """``v`` is one of ``choices`` (a bool never stands for 0 or 1, nor a string for anything but itself)."""
    if not isinstance(v, (str, int, float, np.generic)):
        return False
    return any(
        isinstance(v, (bool, np.bool_)) == isinstance(c, bool)
        and isinstance(v, str) == isinstance(c, str)
        and v == c
        for c in choices
    )


def _fmt(x: float | None) -> str:
    return "inf" if x is not None and math.isinf(x) else f"{x:g}"


def opt(
    default: Any = MISSING,
    *,
    kind: str | type | None = None,
    choices: Sequence[Any] | Callable[[], Sequence[Any]] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    none_ok: bool = False,
    per_member: bool = False,
    seq: bool = False,
    needs: Needs | None = None,
    hint: str = "",
) -> Any:
    """A dataclass field with ``default`` and its rule:
    kind        "int", "num" (finite), "real" (inf allowed), "bool", "str", "device", or a config class whose
                instances pass their own ``validate()``
    choices     the allowed values, or a callable that returns them when checked (a registry's names)
    ge/gt/le/lt bounds of a number
    none_ok     None allowed too
    per_member  a value or a non-empty list of values (one per member of a stack of runs), each checked
    seq         a non-empty list or tuple, each value checked
    needs       the option the field is used under: set away from its default while that option is off is
                an error
    hint        where the allowed values come from, appended to the error
    Without ``default`` the field is required; a mutable default (a list, a config) is copied per instance."""
    frozen = choices if choices is None or callable(choices) else tuple(choices)
    rule = Rule(kind, frozen, ge, gt, le, lt, none_ok, per_member, seq, needs, hint)
    if default is MISSING:
        return field(metadata={"rule": rule})
    if isinstance(default, (list, dict, set)) or is_dataclass(default):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"rule": rule})
    return field(default=default, metadata={"rule": rule})


def low_high(name: str) -> tuple[Callable[[Any], bool], str]:
    """The rule of a bounds field ``name`` (declared ``opt(..., kind="num", seq=True)``): two numbers
    (low, high) with low < high."""

    def holds(cfg: Any) -> bool:
        bounds = getattr(cfg, name)
        return len(bounds) == 2 and bounds[0] < bounds[1]

    return holds, f"{name}={{c.{name}!r}} is not allowed; choose two numbers (low, high) with low < high"


def ordered(low: str, high: str, *, strict: bool = True) -> tuple[Callable[[Any], bool], str]:
    """The cross-field rule ``low < high`` (or ``<=`` when not ``strict``) between two number fields."""
    op = "<" if strict else "<="

    def holds(cfg: Any) -> bool:
        a, b = getattr(cfg, low), getattr(cfg, high)
        return bool(a < b if strict else a <= b)

    return holds, f"{low}={{c.{low}!r}} must be {op} {high}={{c.{high}!r}}"


def _default(f: Any) -> Any:
    """Field ``f``'s default value (a fresh one where it has a factory)."""
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else MISSING


def _differs(a: Any, b: Any) -> bool:
    """``a`` is not ``b``, element by element for sequences (a per-member list against a scalar differs)."""
    if isinstance(a, (list, tuple, np.ndarray)) or isinstance(b, (list, tuple, np.ndarray)):
        return not np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    return bool(a != b)


def check(cfg: Any) -> Any:
    """Validate the dataclass ``cfg`` by its fields' rules, then its options' needs, then its class's
    ``RULES``; returns ``cfg``, or raises one ValueError naming the field, the value and what is allowed."""
    name = type(cfg).__name__
    declared = [(f, f.metadata["rule"]) for f in fields(cfg) if "rule" in f.metadata]
    for f, rule in declared:
        v = getattr(cfg, f.name)
        if not rule.allows(v):
            raise ValueError(f"{name}.{f.name}={v!r} is not allowed; {rule.describe()}")
        if isinstance(rule.kind, type) and v is not None:  # a nested config: its own rules, its own message
            if hasattr(v, "validate"):
                v.validate()
            else:
                check(v)
    for f, rule in declared:
        if rule.needs is not None and not rule.needs.test(cfg):
            v = getattr(cfg, f.name)
            if _differs(v, _default(f)):
                raise ValueError(f"{name}.{f.name}={v!r} is set but unused: it needs {rule.needs.text}")
    for test, message in getattr(cfg, "RULES", ()):
        if not test(cfg):
            raise ValueError(f"{name}: {message.format(c=cfg)}")
    return cfg


def unused_to_defaults(cfg: Any) -> Any:
    """``cfg`` with every field whose needed option is off back at its default (until nothing changes): e.g. a
    benchmark that switches a learner's regulariser off drops that regulariser's settings with it."""
    while True:
        reset = {
            f.name: _default(f)
            for f in fields(cfg)
            if "rule" in f.metadata
            and f.metadata["rule"].needs is not None
            and not f.metadata["rule"].needs.test(cfg)
            and _differs(getattr(cfg, f.name), _default(f))
        }
        if not reset:
            return cfg
        cfg = replace(cfg, **reset)
