"""Money is integer yen, never float."""

from __future__ import annotations

from typing import NewType

Yen = NewType("Yen", int)


def yen(amount: int) -> Yen:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"yen must be an int, got {type(amount).__name__}")
    if amount < 0:
        raise ValueError(f"yen must not be negative, got {amount}")
    return Yen(amount)


def format_yen(amount: int) -> str:
    return f"{amount:,}円"
