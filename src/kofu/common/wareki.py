"""和暦 (Japanese era) dates as printed on certificates: 令和7年4月1日, 元年 for the first year."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Era:
    name: str
    start: date


# The Meiji era is counted from 1868-01-25 (明治改元 took effect retroactively to 1/1 of 明治元年 in the
# lunar calendar); dates before it are not printed in an era.
ERAS: tuple[Era, ...] = (
    Era("令和", date(2019, 5, 1)),
    Era("平成", date(1989, 1, 8)),
    Era("昭和", date(1926, 12, 25)),
    Era("大正", date(1912, 7, 30)),
    Era("明治", date(1868, 1, 25)),
)


def era_of(day: date) -> tuple[Era, int]:
    for era in ERAS:
        if day >= era.start:
            return era, day.year - era.start.year + 1
    raise ValueError(f"{day.isoformat()} is before the Meiji era and has no 和暦 form")


def wareki(day: date, *, gannen: bool = True) -> str:
    """令和7年4月1日; the first year of an era is 元年 unless gannen=False."""
    era, year = era_of(day)
    year_text = "元" if (year == 1 and gannen) else str(year)
    return f"{era.name}{year_text}年{day.month}月{day.day}日"


def wareki_year(fiscal_or_calendar_year: int) -> str:
    """The era name of a year as used for 年度 and 年分: 2025 → 令和7年, 2019 → 令和元年.

    A year in which the era changed takes the new era (2019年度 is 令和元年度, 1989年分 is 平成元年分).
    """
    era, year = era_of(date(fiscal_or_calendar_year, 12, 31))
    return f"{era.name}{'元' if year == 1 else year}年"
