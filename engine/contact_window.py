"""The contact window: when, in the debtor's local time, a contact may go out at all."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["is_holiday", "next_allowed", "zone"]


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """A cached `ZoneInfo` (constructing one per decision would dominate the core's cost)."""
    return ZoneInfo(name)


@lru_cache(maxsize=4096)
def _holidays(calendar: str, year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays(calendar, years=year).keys())


def is_holiday(day: date, calendars: tuple[str, ...]) -> bool:
    """Whether `day` is a public holiday in any of the calendars."""
    return any(day in _holidays(c, day.year) for c in calendars)


def next_allowed(
    at: datetime, tz: ZoneInfo, start: time, end: time, calendars: tuple[str, ...] = ()
) -> datetime:
    """The earliest moment at or after `at` inside the window `[start, end)` local time, on a day
    that is no holiday. Returns `at` itself when it is already allowed (times keep their zone)."""
    local = at.astimezone(tz)
    for _ in range(60):  # holidays never run 60 days in a row; bounded for safety
        day = local.date()
        if not is_holiday(day, calendars):
            t = local.timetz().replace(tzinfo=None)
            if start <= t < end:
                return at if local == at.astimezone(tz) else local
            if t < start:
                return datetime.combine(day, start, tzinfo=tz)
        local = datetime.combine(day + timedelta(days=1), start, tzinfo=tz)
    return local
