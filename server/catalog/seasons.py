"""Planting seasons (SPEC 8.1): inclusive UTC date windows that may wrap the new year."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any


def _day(year: int, month_day: str) -> date:
    month, day = (int(part) for part in month_day.split("-"))
    if month == 2 and day == 29 and not calendar.isleap(year):
        day = 28
    return date(year, month, day)


def current_window(seasons: list[dict[str, Any]], today: date) -> tuple[date, date] | None:
    """The season window containing `today`, or None when the project is out of season."""
    for season in seasons:
        for year in (today.year - 1, today.year):
            start = _day(year, season["start"])
            end = _day(year, season["end"])
            if end < start:
                end = _day(year + 1, season["end"])
            if start <= today <= end:
                return start, end
    return None
