"""Guardrails every policy runs under: the jurisdiction floor merged with the policy's tightenings,
and the frequency caps that decide whether a contact may go out now or when it may.

The contact window lives in `engine.contact_window`; holds, consent and cease in `engine.decide`,
which calls `contact_blocked_until` here before anything is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.contact_window import holiday_dates
from engine.jurisdictions import Floor, strictest
from engine.policy import Policy
from engine.state import ContactLog

__all__ = ["Rules", "contact_blocked_until", "effective_rules", "looser_than_floor"]

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Rules:
    """The effective guardrails of one policy (floor and tightenings merged, strictest wins)."""

    window_start: time
    window_end: time
    holidays: tuple[str, ...]
    days_off: frozenset[date]  # the holidays' dates, computed at compile time
    caps: dict[str, tuple[int, int]]  # channel -> (max, per_days)
    overall: tuple[int, int] | None
    call_cooldown_days: int | None
    calls_connected_per_day: int | None
    calls_unanswered_per_day: int | None
    bureau_notice_days: int
    limitation_days: int
    third_party_allowed: bool
    third_party_after_failed: int

    @property
    def longest_window_days(self) -> int:
        """How far back the contact log must reach for every cap to be judged."""
        days = [d for _, d in self.caps.values()]
        if self.overall:
            days.append(self.overall[1])
        days.append(self.call_cooldown_days or 0)
        return max([1, *days])


def _min(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def effective_rules(policy: Policy) -> Rules:
    """Merge the jurisdiction floor with the policy's tightenings (assumes the policy was checked
    by `looser_than_floor`; a looser value would simply be ignored here)."""
    floor = strictest(tuple(policy.jurisdictions))
    g = policy.guardrails
    caps: dict[str, tuple[int, int]] = {ch: (c.max, c.per_days) for ch, c in g.caps.items()}
    call_max = _min(floor.calls.max_attempts, g.call_max_attempts_7d)
    if call_max is not None:
        mx, per = caps.get("call", (call_max, 7))
        caps["call"] = (min(mx, call_max), max(per, 7))
    return Rules(
        window_start=max(floor.window_start, g.window_start or floor.window_start),
        window_end=min(floor.window_end, g.window_end or floor.window_end),
        holidays=(cals := tuple(sorted(set(floor.holidays) | set(g.holidays)))),
        days_off=holiday_dates(cals),
        caps=caps,
        overall=(g.overall.max, g.overall.per_days) if g.overall else None,
        call_cooldown_days=(
            max(floor.calls.cooldown_days_after_conversation or 0,
                g.call_cooldown_days_after_conversation or 0) or None
        ),
        calls_connected_per_day=_min(floor.calls.max_connected_per_day, g.calls_connected_per_day),
        calls_unanswered_per_day=_min(floor.calls.max_unanswered_per_day, g.calls_unanswered_per_day),
        bureau_notice_days=max(floor.bureau_notice_days, g.bureau_notice_days or 0),
        limitation_days=min(floor.limitation_days, g.limitation_days or floor.limitation_days),
        third_party_allowed=floor.third_party_allowed and g.third_party_contact,
        third_party_after_failed=g.third_party_after_failed,
    )


def looser_than_floor(policy: Policy) -> list[tuple[tuple[str, ...], str]]:
    """Every guardrail the policy sets looser than its jurisdictions allow: (path, message)."""
    floor: Floor = strictest(tuple(policy.jurisdictions))
    g = policy.guardrails
    names = "+".join(policy.jurisdictions)
    out: list[tuple[tuple[str, ...], str]] = []
    if g.window_start is not None and g.window_start < floor.window_start:
        out.append((("guardrails", "window_start"),
                    f"contact window may not open before {floor.window_start:%H:%M} under {names}"))
    if g.window_end is not None and g.window_end > floor.window_end:
        out.append((("guardrails", "window_end"),
                    f"contact window may not close after {floor.window_end:%H:%M} under {names}"))
    if g.window_start and g.window_end and g.window_start >= g.window_end:
        out.append((("guardrails", "window_end"), "contact window ends before it starts"))
    checks = [
        ("call_max_attempts_7d", g.call_max_attempts_7d, floor.calls.max_attempts, "at most"),
        ("calls_connected_per_day", g.calls_connected_per_day, floor.calls.max_connected_per_day, "at most"),
        ("calls_unanswered_per_day", g.calls_unanswered_per_day, floor.calls.max_unanswered_per_day, "at most"),
        ("limitation_days", g.limitation_days, floor.limitation_days, "at most"),
        ("call_cooldown_days_after_conversation", g.call_cooldown_days_after_conversation,
         floor.calls.cooldown_days_after_conversation, "at least"),
        ("bureau_notice_days", g.bureau_notice_days, floor.bureau_notice_days, "at least"),
    ]
    for name, value, limit, sense in checks:
        if value is None or limit is None:
            continue
        if (sense == "at most" and value > limit) or (sense == "at least" and value < limit):
            out.append((("guardrails", name), f"{name} must be {sense} {limit} under {names}, not {value}"))
    if g.third_party_contact and not floor.third_party_allowed:
        out.append((("guardrails", "third_party_contact"),
                    f"third-party contact is not allowed under {names}"))
    return out


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
