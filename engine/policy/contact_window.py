"""The contact window: when, in the debtor's local time, a contact may go out at all."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

__all__ = ["HOLIDAY_YEARS", "holiday_dates", "next_allowed", "zone"]

#: Years for which holiday calendars are computed when a policy is compiled. The `holidays`
#: library reads translation files through gettext/locale, which a workflow sandbox forbids, so
#: the dates are computed once, up front, and the core only looks them up.
HOLIDAY_YEARS = range(2000, 2061)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """A cached `ZoneInfo` (constructing one per decision would dominate the core's cost)."""
    return ZoneInfo(name)


@lru_cache(maxsize=64)
def holiday_dates(calendars: tuple[str, ...]) -> frozenset[date]:
    """Every public holiday of the calendars (country codes) over `HOLIDAY_YEARS`."""
    out: set[date] = set()
    for c in calendars:
        out.update(holidays.country_holidays(c, years=HOLIDAY_YEARS).keys())
    return frozenset(out)


def next_allowed(
    at: datetime, tz: ZoneInfo, start: time, end: time, days_off: Collection[date] = frozenset()
) -> datetime:
    """The earliest moment at or after `at` inside the window `[start, end)` local time, on a day
    that is not in `days_off` (holidays). Returns `at` itself when it is already allowed."""
    local = at.astimezone(tz)
    for i in range(60):  # holidays never run 60 days in a row; bounded for safety
        day = local.date()
        if day not in days_off:
            t = local.time()
            if start <= t < end:
                return at if i == 0 else local
            if t < start:
                return datetime.combine(day, start, tzinfo=tz)
        local = datetime.combine(day + timedelta(days=1), start, tzinfo=tz)
    return local
