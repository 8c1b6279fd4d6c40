"""A call as a collector records it, in one step: what happened, the debtor's attitude, and a
promise or a repayment plan agreed on it.

The core's `call_outcome` gives the outcome, attitude and promise events; a plan is the core's
`Plan` event after them. The form and the API both come through `call_events`, so a call recorded
on either reaches the case as the same events in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from engine.case import events as ev
from engine.case.money import typed_amount
from engine.errors import OverdueError

__all__ = ["MAX_INSTALMENTS", "call_events", "plan_from_form"]

#: The most instalments the form or the API takes for one plan (five years monthly).
MAX_INSTALMENTS = 60


def call_events(
    action_id: str,
    result: ev.CallResult,
    attitude: str | None,
    promise: tuple[Decimal, date] | None,
    plan: Sequence[tuple[Decimal, date]] | None,
) -> list[ev.Event]:
    """The events of one call: the outcome, the attitude noted, then a promise or a plan
    (`ConsoleState.act` names the collector on each).

    Raises:
        OverdueError: both a promise and a plan, or a plan on a call that did not connect.
    """
    if promise is not None and plan:
        raise OverdueError("record a promise or a plan, not both")
    if (promise is not None or plan) and result != "connected":
        raise OverdueError("a promise or a plan needs a call that connected")
    events: list[ev.Event] = list(ev.call_outcome(action_id, result, attitude, promise))
    if plan:
        events.append(ev.Plan(instalments=list(plan)))
    return events


def _amount(text: str, label: str) -> Decimal:
    try:
        value = typed_amount(text)
    except OverdueError:
        raise OverdueError(f"{label}: {text!r} is not an amount") from None
    if value <= 0:
        raise OverdueError(f"{label}: {text!r} is not an amount")
    return value


def plan_from_form(
    count: str, amount: str, first: str, every_days: str
) -> list[tuple[Decimal, date]] | None:
    """A plan of `count` equal instalments of `amount`, the first on `first`, then one every
    `every_days` days; None when the form's plan fields are all empty.

    Raises:
        OverdueError: a field is missing or not a number, an amount or a date.
    """
    if not any(x.strip() for x in (count, amount, first)):
        return None
    if not count.strip().isdigit() or not 1 <= int(count) <= MAX_INSTALMENTS:
        raise OverdueError(f"a plan needs 1 to {MAX_INSTALMENTS} instalments")
    step = every_days.strip() or "30"
    if not step.isdigit() or not 1 <= int(step) <= 366:
        raise OverdueError("instalments come every 1 to 366 days")
    value = _amount(amount, "instalment")
    try:
        start = date.fromisoformat(first.strip())
    except ValueError:
        raise OverdueError("the first instalment needs a date (YYYY-MM-DD)") from None
    return [(value, start + timedelta(days=i * int(step))) for i in range(int(count))]
