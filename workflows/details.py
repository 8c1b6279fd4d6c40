"""What the Temporal Web UI shows of a case without the codec: its current details and the
summaries of its activities, all built here from fields that hold no personal data (stage, money,
hold kinds, approval names, the policy's own keys), never from the debtor or an event's words."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from engine.case.actions import Action
from engine.case.money import format_amount
from engine.case.state import CaseState
from workflows import search_attributes as sa

__all__ = ["action_summary", "case_details"]


def _when(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def action_summary(action: Action) -> str:
    """`contact sms reminder.day_3.sms`: kind, channel, stage and the policy's key of an action
    (the last part of its id), never its free-text reason."""
    key = action.action_id.rsplit("/", 1)[-1]
    return " ".join(
        p for p in (str(action.kind), action.channel or "", f"{action.stage}.{key}") if p
    )


def case_details(state: CaseState, wake: datetime | None, queue: Sequence[Action]) -> str:
    """The case's standing as a few Markdown lines: stage and balance, holds and what a person
    must do, then what happens next and when."""
    cur = state.case.currency
    lines = [
        f"**{state.stage}**"
        + (f" ({state.close_reason})" if state.closed else "")
        + f" · balance {format_amount(state.balance, cur)} {cur}"
        + f" · paid {format_amount(state.paid_total, cur)} {cur}"
        + f" · policy {state.policy.name} v{state.policy.version}"
    ]
    if state.holds:
        lines.append("holds: " + ", ".join(sorted(str(h.kind) for h in state.holds)))
    awaiting = sa.awaiting(state)
    if awaiting:
        lines.append("awaiting: " + ", ".join(awaiting))
    if queue:
        more = f" (+{len(queue) - 1} queued)" if len(queue) > 1 else ""
        lines.append(f"now: {action_summary(queue[0])}{more}")
    if state.closed:
        return "\n\n".join(lines)
    deferred = min(state.pending, key=lambda p: p.not_before, default=None)
    if deferred is not None:
        lines.append(
            f"deferred: {deferred.key} until {_when(deferred.not_before)} ({deferred.guardrail})"
        )
    lines.append(f"next decision: {_when(wake)}" if wake else "next decision: on an event")
    return "\n\n".join(lines)
