from datetime import date

import pytest

from kofu.common.wareki import wareki, wareki_year


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 4, 1), "令和7年4月1日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1912, 7, 29), "明治45年7月29日"),
    ],
)
def test_era_boundaries(day: date, expected: str) -> None:
    assert wareki(day) == expected


def test_first_year_without_gannen() -> None:
    assert wareki(date(2019, 5, 1), gannen=False) == "令和1年5月1日"


def test_before_meiji_is_refused() -> None:
    with pytest.raises(ValueError, match="before the Meiji era"):
        wareki(date(1868, 1, 24))


def test_fiscal_year_names() -> None:
    assert wareki_year(2025) == "令和7年"
    assert wareki_year(2019) == "令和元年"
    assert wareki_year(2018) == "平成30年"
