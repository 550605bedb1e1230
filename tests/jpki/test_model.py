"""The expiry rule and serial parsing, pure."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kofu.common.clock import JST
from kofu.common.errors import InvalidInput
from kofu.jpki.model import RevocationReason, expiry, fifth_birthday_after, parse_serial, serial_hex


@pytest.mark.parametrize(
    ("birth", "issued_on", "last_day"),
    [
        (date(1980, 6, 15), date(2025, 4, 1), date(2029, 6, 15)),  # birthday still to come: it is the 1st
        (date(1980, 3, 1), date(2025, 4, 1), date(2030, 3, 1)),  # birthday passed: first one next year
        (date(1980, 4, 1), date(2025, 4, 1), date(2030, 4, 1)),  # issued on the birthday: it does not count
        (date(1980, 2, 29), date(2025, 4, 1), date(2030, 2, 28)),  # 29 Feb in a common year → 28 Feb
        (date(1980, 2, 29), date(2023, 4, 1), date(2028, 2, 29)),  # … and 29 Feb in a leap year
        (date(1980, 2, 29), date(2024, 2, 28), date(2028, 2, 29)),  # first birthday the next day
        (date(1980, 2, 29), date(2025, 2, 28), date(2030, 2, 28)),  # issued on the substitute birthday
        (date(2025, 1, 10), date(2025, 1, 10), date(2030, 1, 10)),  # a newborn
    ],
)
def test_fifth_birthday_after_issue(birth: date, issued_on: date, last_day: date) -> None:
    assert fifth_birthday_after(birth, issued_on) == last_day


def test_expiry_is_the_end_of_the_birthday_in_japan() -> None:
    # 2025-03-31 20:00 UTC is already 1 April in Japan: the birthday on 1 April has come, so it does not count
    issued_at = datetime(2025, 3, 31, 20, 0, tzinfo=UTC)
    end = expiry(date(1980, 4, 1), issued_at)
    assert end == datetime(2030, 4, 1, 23, 59, 59, tzinfo=JST)
    assert end.tzinfo == UTC


def test_expiry_refuses_naive_times_and_unborn_holders() -> None:
    with pytest.raises(InvalidInput):
        expiry(date(1980, 1, 1), datetime(2025, 1, 1))
    with pytest.raises(InvalidInput):
        expiry(date(2026, 1, 1), datetime(2025, 1, 1, tzinfo=UTC))


def test_serials_round_trip_in_openssl_spellings() -> None:
    assert parse_serial("7c:f5:c0") == 0x7CF5C0 == parse_serial("0x7CF5C0") == parse_serial(0x7CF5C0)
    assert serial_hex(0x7CF5C0) == "7CF5C0"
    for bad in ("xyz", "0", ""):
        with pytest.raises(InvalidInput):
            parse_serial(bad)


def test_every_reason_maps_to_an_rfc5280_reason() -> None:
    assert {r.value: r.rfc5280.value for r in RevocationReason} == {
        "loss": "keyCompromise",
        "death": "cessationOfOperation",
        "return": "cessationOfOperation",
        "move-out": "affiliationChanged",
        "info-change": "superseded",
        "renewal": "superseded",
    }
