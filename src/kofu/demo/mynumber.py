"""個人番号 (My Number) check digit, as defined by 番号法施行令 第8条.

    check = 0                if r <= 1
            11 - r           otherwise,   r = (Σ_{n=1}^{11} P_n × Q_n) mod 11

P_n is the n-th digit counted from the right (n = 1 is the digit just left of the check digit) and
Q_n = n + 1 for 1 <= n <= 6, n - 5 for 7 <= n <= 11 — weights 2,3,4,5,6,7,2,3,4,5,6 from the right.
The number 123456789018 is the usual example of a valid 個人番号.
"""

from __future__ import annotations

import random

from kofu.registry.validate import my_number_check_digit as check_digit
from kofu.registry.validate import my_number_problem


def is_valid(number: str) -> bool:
    return my_number_problem(number) is None


def random_my_number(rng: random.Random) -> str:
    """A random 個人番号 with a correct check digit (never starting with 0, like issued numbers)."""
    eleven = str(10_000_000_000 + int(rng.random() * 90_000_000_000))
    return f"{eleven}{check_digit(eleven)}"
