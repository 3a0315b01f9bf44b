"""The base of the typed published records (common.reporting.published's items and entries, common.reporting.claims'
claims): keyword-only construction that names an unknown keyword and the allowed ones (``Typed``), and the field
checks, each raising ``PublishedError`` with the bad value and what is allowed."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "PublishedError",
    "Typed",
    "allowed_text",
    "check_number",
    "check_opt_int",
    "check_strings",
    "field_names",
    "label_of",
    "one_of",
]


class PublishedError(ValueError):
    """A published.py value that is not what its field allows."""


def allowed_text(values: Iterable[Any]) -> str:
    """The allowed values of a message, comma-separated."""
    return ", ".join(str(v) for v in values)


def one_of(where: str, name: str, value: Any, allowed: Sequence[Any]) -> None:
    """``value`` of field ``name`` (of ``where``) is one of ``allowed``."""
    if value not in allowed:
        raise PublishedError(f"{where}: {name} {value!r} is not allowed; allowed: {allowed_text(allowed)}")


def field_names(cls: type) -> list[str]:
    """The keywords a dataclass takes."""
    return [f.name for f in dataclasses.fields(cls) if f.init]


class Typed:
    """Keyword-only construction that names an unknown keyword and the allowed ones; read access by field
    name (``x["id"]``, ``x.get("title", "")``) for readers written against the older plain dicts."""

    def __new__(cls, *args: Any, **kw: Any):
        if args:
            raise PublishedError(
                f"{cls.__name__} takes keywords only ({allowed_text(field_names(cls))}), "
                f"got {len(args)} positional argument(s)"
            )
        bad = [k for k in kw if k not in field_names(cls)]
        if bad:
            raise PublishedError(
                f"{cls.__name__}{label_of(kw)}: unknown key {bad[0]!r}; allowed: {allowed_text(field_names(cls))}"
            )
        return super().__new__(cls)

    def _field(self, key: str) -> Any:
        if key != "kind" and key not in field_names(type(self)):
            raise KeyError(
                f"{type(self).__name__} has no field {key!r}; fields: {allowed_text(field_names(type(self)))}"
            )
        return getattr(self, key)

    def __getitem__(self, key: str) -> Any:
        return self._field(key)

    def get(self, key: str, default: Any = None) -> Any:
        v = self._field(key)
        return default if v is None else v


def label_of(kw: Mapping[str, Any]) -> str:
    """A record's name for a message: its item, title or id ('' without one)."""
    for k in ("item", "title", "id"):
        if isinstance(kw.get(k), str) and kw[k]:
            return f" {kw[k]!r}"
    return ""


def check_opt_int(where: str, name: str, v: Any, lo: int) -> None:
    """``v`` is None or an integer >= ``lo``."""
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < lo):
        raise PublishedError(f"{where}: {name} {v!r} must be an integer >= {lo} (or left out)")


def check_strings(where: str, name: str, v: Any) -> tuple[str, ...]:
    """``v`` is a list of key names (not one string); returned as a tuple."""
    if isinstance(v, str) or not all(isinstance(x, str) for x in v):
        raise PublishedError(f"{where}: {name} {v!r} must be a list of key names")
    return tuple(v)


def check_number(where: str, name: str, v: Any, optional: bool) -> None:
    """``v`` is a finite number (or None when ``optional``)."""
    if v is None and optional:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise PublishedError(f"{where}: {name} {v!r} must be a finite number")
