"""Frequency caps: whether a contact on a channel may go out at a moment, judged on a contact log,
and if not, the earliest moment it might.

The same function judges one case's log (the core, per decision) and a person's whole ledger (the
per-person `grant` of `engine.decision.person`), so a rule is written once and holds for both.
Besides the policy's caps it keeps contacts apart: no two attempts on one channel within
`SPACING` (never two at the same instant), and one call at a time: a call waits for the previous
call's outcome, or for `CALL_OUTCOME_TIMEOUT`, after which the silent call counts as unanswered
(for the daily caps it stays counted on the safe side of both, whatever comes back later).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.case.state import CONDUCT, ContactLog
from engine.policy.guardrails import Rules

__all__ = ["CALL_OUTCOME_TIMEOUT", "INSTANT", "SPACING", "call_awaiting", "contact_blocked_until"]

DAY = timedelta(days=1)

#: Two attempts on one channel to one person are at least this far apart when either is late
#: (deferred, or fallen behind) or they are for two cases of one person: occurrences of several
#: plan items released together leave one by one, never in a burst.
SPACING = timedelta(hours=1)

#: Contacts a policy planned on their own moments, seconds apart, keep them; never at one instant.
INSTANT = timedelta(seconds=1)

#: How long a call waits for the previous call's outcome. An agent records it when the call
#: ends; a call with no outcome after this long counts as unanswered and the next may go.
CALL_OUTCOME_TIMEOUT = timedelta(hours=2)


def call_awaiting(log: Sequence[ContactLog], at: datetime) -> ContactLog | None:
    """The latest call whose outcome has not come back and has not timed out at `at`, if any."""
    for c in reversed(log):
        if c.channel == "call" and c.outcome is None and c.at <= at < c.at + CALL_OUTCOME_TIMEOUT:
            return c
    return None


def _span_end(start: datetime, days: int, tz: ZoneInfo) -> datetime:
    """When a span of `days` from `start` ends, the stricter way: the later of `days` x 24 hours
    (elapsed time) and the same local time `days` calendar days on. Across a daylight-saving
    change the two differ by an hour; a rule counted in days holds under either reading."""
    return max(start.astimezone(UTC) + days * DAY, start.astimezone(tz) + days * DAY)


def _span_start(end: datetime, days: int, tz: ZoneInfo) -> datetime:
    """When a span of `days` ending at `end` starts, the stricter (earlier) way; see `_span_end`."""
    return min(end.astimezone(UTC) - days * DAY, end.astimezone(tz) - days * DAY)


def _window_free(
    log: Sequence[ContactLog],
    at: datetime,
    cap: tuple[int, int],
    channel: str | None,
    tz: ZoneInfo,
    elapsed: bool = True,
) -> datetime | None:
    mx, per_days = cap
    # Conduct 2 on: a window reaches back the longer of per_days x 24 hours and per_days local
    # calendar days, so neither reading of "N days" across a daylight-saving change is broken
    # (conduct 1 counts wall-clock time in the zone `at` carries).
    since = _span_start(at, per_days, tz) if elapsed else at - per_days * DAY
    times = [c.at for c in log if c.at > since and (channel is None or c.channel == channel)]
    if len(times) < mx:
        return None
    times.sort()
    # The window frees once enough of the oldest attempts have aged out of it.
    oldest = times[len(times) - mx]
    return _span_end(oldest, per_days, tz) if elapsed else oldest + per_days * DAY


def contact_blocked_until(
    rules: Rules,
    log: Sequence[ContactLog],
    channel: str,
    at: datetime,
    tz: ZoneInfo,
    last_conversation_at: datetime | None,
    conduct: int = CONDUCT,
    spacing: timedelta = SPACING,
) -> tuple[datetime, str] | None:
    """If a contact on `channel` at `at` would break a cap, the earliest moment it might not,
    with the guardrail's name; None if the caps allow it now. A cap of 0 blocks forever
    (returned as `datetime.max` in UTC). `conduct` below 2 (cases started before): no spacing,
    no waiting for a call's outcome, windows in wall-clock time."""
    worst: tuple[datetime, str] | None = None

    def consider(until: datetime | None, name: str) -> None:
        nonlocal worst
        if until is not None and until > at and (worst is None or until > worst[0]):
            worst = (until, name)

    elapsed = conduct >= 2
    if elapsed:
        for c in log:
            if c.channel == channel and abs(at - c.at) < spacing:
                consider(c.at + spacing, f"spacing.{channel}")
    cap = rules.caps.get(channel)
    if cap is not None:
        if cap[0] == 0:
            return (datetime.max.replace(tzinfo=at.tzinfo), f"cap.{channel}.zero")
        consider(
            _window_free(log, at, cap, channel, tz, elapsed),
            f"cap.{channel}.{cap[0]}_per_{cap[1]}d",
        )
    if rules.overall is not None:
        if rules.overall[0] == 0:
            return (datetime.max.replace(tzinfo=at.tzinfo), "cap.overall.zero")
        consider(
            _window_free(log, at, rules.overall, None, tz, elapsed),
            f"cap.overall.{rules.overall[0]}_per_{rules.overall[1]}d",
        )
    if channel == "call":
        for until, name in _call_blocks(rules, log, at, tz, last_conversation_at, elapsed):
            consider(until, name)
    return worst


def _call_blocks(
    rules: Rules,
    log: Sequence[ContactLog],
    at: datetime,
    tz: ZoneInfo,
    last_conversation_at: datetime | None,
    elapsed: bool,
) -> list[tuple[datetime, str]]:
    """What holds a call at `at`: the previous call's outcome, the cooldown after a
    conversation, the daily limits (each with the moment it ends)."""
    out: list[tuple[datetime, str]] = []
    waiting = call_awaiting(log, at) if elapsed else None
    if waiting is not None:
        out.append((waiting.at + CALL_OUTCOME_TIMEOUT, "call_in_progress"))
    if rules.call_cooldown_days and last_conversation_at is not None:
        days = rules.call_cooldown_days
        until = (
            _span_end(last_conversation_at, days, tz)
            if elapsed
            else last_conversation_at + days * DAY
        )
        out.append((until, "call.cooldown_after_conversation"))
    if rules.calls_connected_per_day is not None or rules.calls_unanswered_per_day is not None:
        local_day = at.astimezone(tz).date()
        today = [c for c in log if c.channel == "call" and c.at.astimezone(tz).date() == local_day]
        # An attempt whose outcome has not come back yet may have connected and may not have:
        # it counts against both daily caps (the safe side of each).
        connected = sum(1 for c in today if c.outcome in (None, "connected"))
        unanswered = sum(1 for c in today if c.outcome != "connected")
        tomorrow = datetime.combine(local_day + DAY, time(0), tzinfo=tz)
        if rules.calls_connected_per_day is not None and connected >= rules.calls_connected_per_day:
            out.append((tomorrow, "call.connected_per_day"))
        if (
            rules.calls_unanswered_per_day is not None
            and unanswered >= rules.calls_unanswered_per_day
        ):
            out.append((tomorrow, "call.unanswered_per_day"))
    return out
