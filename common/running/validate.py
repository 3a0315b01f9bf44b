"""Type checks shared by the configs' ``validate()`` methods: an integer or a finite real number, never a bool
(``True`` is an ``int`` to Python, and a flag passed where a count belongs is a mistake to report)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["is_int", "is_num"]


def is_int(v: Any) -> bool:
    """An integer (Python's or NumPy's), not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_num(v: Any) -> bool:
    """A finite real number (Python's or NumPy's), not a bool."""
    return (
        isinstance(v, (int, float, np.integer, np.floating))
        and not isinstance(v, (bool, np.bool_))
        and math.isfinite(float(v))
    )
