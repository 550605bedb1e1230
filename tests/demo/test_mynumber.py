"""個人番号 check digits (番号法施行令 第8条) of the demo generator."""

from __future__ import annotations

import random

import pytest

from kofu.demo import mynumber


def _law(eleven: str) -> int:
    # written from the ordinance text, independently of the module: P_n counted from the right,
    # Q_n = n + 1 (1 <= n <= 6), n - 5 (7 <= n <= 11)
    digits = [int(c) for c in eleven]
    total = 0
    for n in range(1, 12):
        p = digits[11 - n]
        q = n + 1 if n <= 6 else n - 5
        total += p * q
    r = total % 11
    return 0 if r <= 1 else 11 - r


def test_the_textbook_example() -> None:
    assert mynumber.check_digit("12345678901") == 8
    assert mynumber.is_valid("123456789018")
    assert not mynumber.is_valid("123456789011")


def test_agrees_with_the_ordinance_on_random_numbers() -> None:
    rng = random.Random(8)
    for _ in range(2000):
        eleven = "".join(rng.choice("0123456789") for _ in range(11))
        assert mynumber.check_digit(eleven) == _law(eleven)


def test_random_numbers_are_valid() -> None:
    rng = random.Random(1)
    numbers = [mynumber.random_my_number(rng) for _ in range(500)]
    assert all(len(n) == 12 and mynumber.is_valid(n) for n in numbers)


@pytest.mark.parametrize("bad", ["", "12345678901", "1234567890123", "12345678901a", "１２３４５６７８９０１８"])
def test_rejects_malformed(bad: str) -> None:
    assert not mynumber.is_valid(bad)


def test_the_registry_validator_agrees() -> None:
    from kofu.registry.validate import my_number_problem

    assert my_number_problem("123456789018") is None
    rng = random.Random(2)
    for _ in range(200):
        assert my_number_problem(mynumber.random_my_number(rng)) is None
