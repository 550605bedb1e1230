"""全国地方公共団体コード: five digits (2 prefecture + 3 municipality) plus a check digit.

The check digit (JIS X 0402): weights 6,5,4,3,2 over the five digits; r = sum mod 11;
check = (11 - r) mod 10 when r != 0, else 1 — i.e. the last digit of 11 - r.
"""

from __future__ import annotations

from kofu.common.errors import InvalidInput


def check_digit(five: str) -> int:
    if len(five) != 5 or not five.isdigit():
        raise InvalidInput(f"a local-government code has five digits before its check digit, got {five!r}")
    total = sum(int(d) * w for d, w in zip(five, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def with_check_digit(five: str) -> str:
    return f"{five}{check_digit(five)}"


def validate(code: str) -> str:
    """Returns the six-digit code or raises InvalidInput saying what is wrong."""
    if len(code) != 6 or not code.isdigit():
        raise InvalidInput(
            f"local-government code {code!r} must be six digits (全国地方公共団体コード)",
            f"団体コード {code!r} は6桁の数字で指定してください",
        )
    expected = check_digit(code[:5])
    if int(code[5]) != expected:
        raise InvalidInput(
            f"local-government code {code} has check digit {code[5]}, expected {expected}",
            f"団体コード {code} の検査数字が誤っています（正しくは {expected}）",
        )
    if not 1 <= int(code[:2]) <= 47:
        raise InvalidInput(f"local-government code {code}: prefecture {code[:2]} does not exist")
    return code
