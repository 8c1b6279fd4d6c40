"""Driving one case through time on the core alone, the way the workflow does, for the fuzz
targets: open it, fire every timer for a while, and say so if it ends up stuck."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from engine.case import events as ev
from engine.case.state import CaseFile, CaseState, Debtor
from engine.decision.decide import Decision, decide, open_case
from engine.policy.compiled import CompiledPolicy
from tests.fuzz.harness import Stuck

__all__ = ["NOW", "case_on", "check_not_stuck", "open_and_run", "run_for"]

#: The moment fuzzed cases open (fixed: a fuzz run is reproducible).
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("UTC"))


def case_on(
    cp: CompiledPolicy, *, days_overdue: int = 5, amount: str = "1500.00", case_id: str = "F-1"
) -> CaseFile:
    """A plain case on `cp`: its currency, zone and first locale, every address filled in."""
    p = cp.policy
    return CaseFile(
        case_id=case_id,
        debtor=Debtor(
            id="D-F",
            name="Lee",
            phone="+15550100",
            email="lee@example.com",
            address="1 Main St",
            timezone=p.timezone,
            locale=p.locales[0],
            third_party_phone="+15550199",
        ),
        product="credit_line",
        amount_due=Decimal(amount),
        currency=p.currency,
        due_date=NOW.date() - timedelta(days=days_overdue),
        policy=p.name,
    )


def check_not_stuck(state: CaseState, wake: datetime | None) -> None:
    """An open case must have a next wake-up, or wait for something a person can give."""
    if state.closed or wake is not None:
        return
    if state.approvals_pending or state.hold("dispute") is not None:
        return
    raise Stuck(
        f"case {state.case.case_id} open in {state.stage} with no wake-up, holds "
        f"{[h.kind for h in state.holds]}, nothing awaited"
    )


def run_for(
    cp: CompiledPolicy,
    d: Decision,
    now: datetime,
    days: int,
    max_steps: int = 3000,
    approve: bool = True,
) -> tuple[Decision, datetime]:
    """Fire the case's timers for `days` days (at most `max_steps` decisions); with `approve`, a
    person approves every step the policy waits for as soon as it is asked."""
    end = now + timedelta(days=days)
    for _ in range(max_steps):
        check_not_stuck(d.state, d.next_wake_up)
        if approve and d.state.approvals_pending and not d.state.closed:
            d = decide(cp, d.state, ev.Approve(action=d.state.approvals_pending[0], by="fuzz"), now)
            continue
        if d.state.closed or d.next_wake_up is None or d.next_wake_up > end:
            break
        now = max(now, d.next_wake_up)
        d = decide(cp, d.state, None, now)
    return d, max(now, end)


def open_and_run(cp: CompiledPolicy, case: CaseFile, days: int = 400) -> Decision:
    """Open `case` at `NOW` and let `days` pass."""
    d = open_case(cp, case, NOW)
    return run_for(cp, d, NOW, days)[0]
