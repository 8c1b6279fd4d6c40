"""Jurisdiction presets: the legal floor of every guardrail. A policy may tighten, never loosen.

The figures are conservative readings of the rules collection teams work under:

- US: FDCPA §805(a)(1) presumes 08:00-21:00 local time convenient; Regulation F §1006.14 presumes
  harassment above 7 call attempts in 7 days or within 7 days after a telephone conversation;
  §1006.30(a) requires contacting the consumer before furnishing to a credit bureau, and we wait
  14 days after that notice; third parties only for location information.
- CN: the industry self-regulation for internet finance collection (2018 convention, CBIRC
  guidance) forbids collection contacts 22:00-08:00, limits calls (we use 3 connected and 6
  unanswered per day), and forbids contacting unrelated third parties; negative credit reports
  need the debtor told first (Credit Reporting Regulation art. 15).
- Limitation periods: 3 years in both (PRC Civil Code art. 188; most US states 3-6 years, we
  take 3 as the floor), on calendar days. In CN a payment (the debtor agreeing to perform)
  interrupts the period, which starts again (art. 195); in the US the floor does not restart it,
  since states differ and the shorter reading protects the debtor. Time-barred debt gets no
  fee, no agency placement, no demand or legal letter, no legal referral: only the notices the
  law requires.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import time

__all__ = ["JURISDICTIONS", "CallRules", "Floor", "strictest"]


@dataclass(frozen=True)
class CallRules:
    """Call caps; None means the jurisdiction sets no such cap."""

    max_attempts: int | None = None  # attempts in a rolling window of `attempts_days`
    attempts_days: int = 7
    cooldown_days_after_conversation: int | None = None
    max_connected_per_day: int | None = None
    max_unanswered_per_day: int | None = None


@dataclass(frozen=True)
class Floor:
    """The loosest a policy may be in one jurisdiction (or the merge of several)."""

    window_start: time
    window_end: time
    calls: CallRules
    bureau_notice_days: int  # days between telling the debtor and reporting to a bureau
    limitation_days: int  # after this many calendar days the debt is time-barred
    #: Whether the period runs from the last payment (when later than the due date).
    limitation_restarts_on_payment: bool
    third_party_allowed: bool  # whether a policy may contact third parties at all
    holidays: tuple[str, ...] = field(default=())  # holiday calendars every contact respects


JURISDICTIONS: dict[str, Floor] = {
    "US": Floor(
        window_start=time(8, 0),
        window_end=time(21, 0),
        calls=CallRules(max_attempts=7, attempts_days=7, cooldown_days_after_conversation=7),
        bureau_notice_days=14,
        limitation_days=3 * 365,
        limitation_restarts_on_payment=False,
        third_party_allowed=True,
    ),
    "CN": Floor(
        window_start=time(8, 0),
        window_end=time(22, 0),
        calls=CallRules(max_connected_per_day=3, max_unanswered_per_day=6),
        bureau_notice_days=0,
        limitation_days=3 * 365,
        limitation_restarts_on_payment=True,
        third_party_allowed=False,
    ),
}


def _min_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def strictest(codes: list[str] | tuple[str, ...]) -> Floor:
    """Merge presets: the latest start, earliest end, smallest caps, longest waits win."""
    floors = [JURISDICTIONS[c] for c in codes]
    out = floors[0]
    for f in floors[1:]:
        calls = CallRules(
            max_attempts=_min_opt(out.calls.max_attempts, f.calls.max_attempts),
            attempts_days=max(out.calls.attempts_days, f.calls.attempts_days),
            cooldown_days_after_conversation=(
                None
                if out.calls.cooldown_days_after_conversation is None
                and f.calls.cooldown_days_after_conversation is None
                else max(
                    out.calls.cooldown_days_after_conversation or 0,
                    f.calls.cooldown_days_after_conversation or 0,
                )
            ),
            max_connected_per_day=_min_opt(
                out.calls.max_connected_per_day, f.calls.max_connected_per_day
            ),
            max_unanswered_per_day=_min_opt(
                out.calls.max_unanswered_per_day, f.calls.max_unanswered_per_day
            ),
        )
        out = replace(
            out,
            window_start=max(out.window_start, f.window_start),
            window_end=min(out.window_end, f.window_end),
            calls=calls,
            bureau_notice_days=max(out.bureau_notice_days, f.bureau_notice_days),
            limitation_days=min(out.limitation_days, f.limitation_days),
            limitation_restarts_on_payment=out.limitation_restarts_on_payment
            and f.limitation_restarts_on_payment,
            third_party_allowed=out.third_party_allowed and f.third_party_allowed,
            holidays=tuple(sorted(set(out.holidays) | set(f.holidays))),
        )
    return out
