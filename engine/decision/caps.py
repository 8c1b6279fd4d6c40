"""Frequency caps: whether a contact on a channel may go out at a moment, judged on a contact log,
and if not, the earliest moment it might."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.case.state import ContactLog
from engine.policy.guardrails import Rules

__all__ = ["contact_blocked_until"]

DAY = timedelta(days=1)


def _window_free(log: Sequence[ContactLog], at: datetime, cap: tuple[int, int],
                 channel: str | None) -> datetime | None:
    mx, per_days = cap
    since = at - per_days * DAY
    times = [c.at for c in log if c.at > since and (channel is None or c.channel == channel)]
    if len(times) < mx:
        return None
    times.sort()
    # The window frees once enough of the oldest attempts have aged out of it.
    return times[len(times) - mx] + per_days * DAY


def contact_blocked_until(
    rules: Rules,
    log: Sequence[ContactLog],
    channel: str,
    at: datetime,
    tz: ZoneInfo,
    last_conversation_at: datetime | None,
) -> tuple[datetime, str] | None:
    """If a contact on `channel` at `at` would break a cap, the earliest moment it might not,
    with the guardrail's name; None if the caps allow it now. A cap of 0 blocks forever
    (returned as `datetime.max` in UTC)."""
    worst: tuple[datetime, str] | None = None

    def consider(until: datetime | None, name: str) -> None:
        nonlocal worst
        if until is not None and until > at and (worst is None or until > worst[0]):
            worst = (until, name)

    cap = rules.caps.get(channel)
    if cap is not None:
        if cap[0] == 0:
            return (datetime.max.replace(tzinfo=at.tzinfo), f"cap.{channel}.zero")
        consider(_window_free(log, at, cap, channel), f"cap.{channel}.{cap[0]}_per_{cap[1]}d")
    if rules.overall is not None:
        if rules.overall[0] == 0:
            return (datetime.max.replace(tzinfo=at.tzinfo), "cap.overall.zero")
        consider(_window_free(log, at, rules.overall, None),
                 f"cap.overall.{rules.overall[0]}_per_{rules.overall[1]}d")
    if channel == "call":
        if rules.call_cooldown_days and last_conversation_at is not None:
            consider(last_conversation_at + rules.call_cooldown_days * DAY, "call.cooldown_after_conversation")
        if rules.calls_connected_per_day is not None or rules.calls_unanswered_per_day is not None:
            local_day = at.astimezone(tz).date()
            today = [c for c in log if c.channel == "call" and c.at.astimezone(tz).date() == local_day]
            # An attempt whose outcome has not come back yet may have connected and may not have:
            # it counts against both daily caps (the safe side of each).
            connected = sum(1 for c in today if c.outcome in (None, "connected"))
            unanswered = sum(1 for c in today if c.outcome != "connected")
            tomorrow = datetime.combine(local_day + DAY, time(0), tzinfo=tz)
            if rules.calls_connected_per_day is not None and connected >= rules.calls_connected_per_day:
                consider(tomorrow, "call.connected_per_day")
            if rules.calls_unanswered_per_day is not None and unanswered >= rules.calls_unanswered_per_day:
                consider(tomorrow, "call.unanswered_per_day")
    return worst
