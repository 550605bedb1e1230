"""Field checks shared by events and imports: 個人番号 check digit, PNG images, 続柄."""

from __future__ import annotations

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEAD = "世帯主"


def my_number_check_digit(eleven: str) -> int:
    """The 個人番号 check digit (番号法施行令 第8条).

    P_n is the n-th of the eleven digits counted from the right, Q_n = n + 1 for n <= 6 and n - 6 for
    n >= 7; r = Σ P_n·Q_n mod 11; the check digit is 0 when r <= 1, else 11 - r.
    """
    if len(eleven) != 11 or not eleven.isdigit():
        raise ValueError("eleven digits expected")
    total = 0
    for n, ch in enumerate(reversed(eleven), start=1):
        q = n + 1 if n <= 6 else n - 6
        total += int(ch) * q
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
