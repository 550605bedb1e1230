"""Field checks shared by events and imports: 個人番号 check digit, PNG images, 続柄."""

from __future__ import annotations

from operator import mul as _mul

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEAD = "世帯主"

# Q_n for the digits read left to right (n = 11 … 1 counted from the right)
MY_NUMBER_WEIGHTS = tuple((n + 1 if n <= 6 else n - 5) for n in range(11, 0, -1))


def my_number_check_digit(eleven: str) -> int:
    """The 個人番号 check digit (番号法施行令 第8条).

    P_n is the n-th of the eleven digits counted from the right, Q_n = n + 1 for n <= 6 and n - 5 for
    n >= 7; r = Σ P_n·Q_n mod 11; the check digit is 0 when r <= 1, else 11 - r.
    """
    if len(eleven) != 11 or not eleven.isascii() or not eleven.isdigit():
        raise ValueError("eleven digits expected")
    total = sum(map(_mul, map(int, eleven), MY_NUMBER_WEIGHTS))
    r = total % 11
    return 0 if r <= 1 else 11 - r


def my_number_problem(value: str) -> str | None:
    """None if `value` is a valid 個人番号, else what is wrong (English)."""
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return "must be 12 digits"
    expected = my_number_check_digit(value[:11])
    if int(value[11]) != expected:
        return f"check digit is {value[11]}, expected {expected}"
    return None


def with_my_number_check_digit(eleven: str) -> str:
    return f"{eleven}{my_number_check_digit(eleven)}"


def is_png(data: bytes) -> bool:
    return data.startswith(PNG_SIGNATURE)
