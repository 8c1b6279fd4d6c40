"""Guardrails every policy runs under: the jurisdiction floor merged with the policy's tightenings
into the effective `Rules` of a policy, and the check that a policy loosens none of them.

Applying the rules to a contact happens in `engine.decision.caps` (frequency caps) and
`engine.policy.contact_window` (local hours, holidays).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from engine.policy.contact_window import holiday_dates
from engine.policy.jurisdictions import Floor, strictest
from engine.policy.model import Policy

__all__ = ["Rules", "effective_rules", "looser_than_floor"]


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
    limitation_restarts_on_payment: bool
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
            max(
                floor.calls.cooldown_days_after_conversation or 0,
                g.call_cooldown_days_after_conversation or 0,
            )
            or None
        ),
        calls_connected_per_day=_min(floor.calls.max_connected_per_day, g.calls_connected_per_day),
        calls_unanswered_per_day=_min(
            floor.calls.max_unanswered_per_day, g.calls_unanswered_per_day
        ),
        bureau_notice_days=max(floor.bureau_notice_days, g.bureau_notice_days or 0),
        limitation_days=min(floor.limitation_days, g.limitation_days or floor.limitation_days),
        limitation_restarts_on_payment=floor.limitation_restarts_on_payment
        and g.limitation_restarts_on_payment is not False,
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
        out.append(
            (
                ("guardrails", "window_start"),
                f"contact window may not open before {floor.window_start:%H:%M} under {names}",
            )
        )
    if g.window_end is not None and g.window_end > floor.window_end:
        out.append(
            (
                ("guardrails", "window_end"),
                f"contact window may not close after {floor.window_end:%H:%M} under {names}",
            )
        )
    if g.window_start and g.window_end and g.window_start >= g.window_end:
        out.append((("guardrails", "window_end"), "contact window ends before it starts"))
    checks = [
        ("call_max_attempts_7d", g.call_max_attempts_7d, floor.calls.max_attempts, "at most"),
        (
            "calls_connected_per_day",
            g.calls_connected_per_day,
            floor.calls.max_connected_per_day,
            "at most",
        ),
        (
            "calls_unanswered_per_day",
            g.calls_unanswered_per_day,
            floor.calls.max_unanswered_per_day,
            "at most",
        ),
        ("limitation_days", g.limitation_days, floor.limitation_days, "at most"),
        (
            "call_cooldown_days_after_conversation",
            g.call_cooldown_days_after_conversation,
            floor.calls.cooldown_days_after_conversation,
            "at least",
        ),
        ("bureau_notice_days", g.bureau_notice_days, floor.bureau_notice_days, "at least"),
    ]
    for name, value, limit, sense in checks:
        if value is None or limit is None:
            continue
        if (sense == "at most" and value > limit) or (sense == "at least" and value < limit):
            out.append(
                (("guardrails", name), f"{name} must be {sense} {limit} under {names}, not {value}")
            )
    if g.limitation_restarts_on_payment and not floor.limitation_restarts_on_payment:
        out.append(
            (
                ("guardrails", "limitation_restarts_on_payment"),
                f"the limitation period does not restart on a payment under {names}",
            )
        )
    if g.third_party_contact and not floor.third_party_allowed:
        out.append(
            (
                ("guardrails", "third_party_contact"),
                f"third-party contact is not allowed under {names}",
            )
        )
    return out
