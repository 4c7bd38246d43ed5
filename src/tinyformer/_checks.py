"""Argument checks shared by the modules, so every one words its errors the same way."""

from __future__ import annotations


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` >= 1 (a ``bool`` is not accepted).

    Raises ``TypeError`` for a non-integer and ``ValueError`` for zero or a negative
    number, each naming ``name`` so the caller knows which argument to fix.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value
