"""Where a case stands, in the shape `overdue case status --json` prints (CLI.md)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from engine.case.money import format_amount
from engine.case.state import CaseState, PolicyRef
from engine.case.vocabulary import Attitude, Channel, HoldKind, Stage
from engine.decision.contacts import occurrences
from engine.decision.context import Ctx
from engine.policy.compiled import CompiledPolicy

__all__ = ["CaseStatus", "ComplaintInfo", "NextAction", "SettlementStatus", "case_status"]


class NextAction(BaseModel):
    """The next thing planned for the case."""

    kind: str  # contact, deadline, stage_check, approval
    channel: Channel | None = None
    at: datetime | None = None
    detail: str = ""


class SettlementStatus(BaseModel):
    """An open settlement for less: what is to be paid by when, and how much is paid."""

    amount: str
    until: date
    paid: str
    approved: bool


class ComplaintInfo(BaseModel):
    """A complaint as the status shows it: what about and by when, never the debtor's words."""

    id: str
    category: str
    channel: str
    filed_at: datetime
    respond_by: date
    outcome: str | None = None


class CaseStatus(BaseModel):
    """A case's standing."""

    case_id: str
    debtor_id: str = ""
    stage: Stage
    closed: bool
    close_reason: str | None
    days_past_due: int
    clock_day: int
    balance: str
    amount_due: str
    paid: str
    currency: str
    segment: str | None
    variant: str | None
    attitude: Attitude
    holds: list[HoldKind]
    approvals_pending: list[str]
    next_action: NextAction | None
    policy: PolicyRef
    contacts: int
    broken_promises: int
    complaints: list[ComplaintInfo] = []
    #: Channels the debtor refused on this case (its file's consent, or an opt-out): no contact
    #: goes on them. Refusals on the person's other accounts are in `debtor status`.
    refused_channels: list[str] = []
    #: Debtor fields a channel reported unusable (contacts needing them are suppressed).
    addresses_unusable: list[str] = []
    #: Set by the workflow while a decision that raised waits for a fix: "<type>: <message>".
    stuck: str | None = None
    #: Paid beyond what the case owed, owed back to the debtor; None when nothing is.
    refund_due: str | None = None
    settlement: SettlementStatus | None = None


def case_status(
    cp: CompiledPolicy, state: CaseState, now: datetime, next_wake_up: datetime | None
) -> CaseStatus:
    """The status of a case at `now`; times are shown in the debtor's local offset."""
    ctx = Ctx(cp, state, now)
    nxt: NextAction | None = None
    if state.closed:
        pass
    elif state.approvals_pending:
        nxt = NextAction(kind="approval", detail=", ".join(state.approvals_pending))
    elif not ctx.stopped:
        pending = {p.key: p.not_before for p in state.pending}
        for due, key, item in occurrences(ctx):
            at = max(due, pending.get(key, due), now)
            if next_wake_up is None or at <= next_wake_up or at == max(due, now):
                nxt = NextAction(
                    kind="contact", channel=item.channel, at=at.astimezone(ctx.tz), detail=key
                )
                break
    if nxt is None and next_wake_up is not None and not state.closed:
        kind = "deadline" if ctx.stopped or state.promise or state.plan else "stage_check"
        nxt = NextAction(kind=kind, at=next_wake_up.astimezone(ctx.tz))
    cur = state.case.currency
    return CaseStatus(
        case_id=state.case.case_id,
        debtor_id=state.case.debtor.id,
        stage=state.stage,
        closed=state.closed,
        close_reason=state.close_reason,
        days_past_due=ctx.calendar_dpd(),
        clock_day=ctx.clock_day(),
        balance=format_amount(state.balance, cur),
        amount_due=format_amount(state.case.amount_due, cur),
        paid=format_amount(state.paid_total, cur),
        currency=cur,
        segment=state.segment,
        variant=state.variant,
        attitude=state.attitude,
        holds=[h.kind for h in state.holds],
        refused_channels=sorted(ch for ch, given in state.case.consent.items() if given is False),
        approvals_pending=list(state.approvals_pending),
        next_action=nxt,
        policy=state.policy,
        contacts=state.contacts_total,
        broken_promises=state.broken_promises,
        complaints=[
            ComplaintInfo(
                id=c.id,
                category=c.category,
                channel=c.channel,
                filed_at=c.filed_at,
                respond_by=c.respond_by,
                outcome=c.outcome,
            )
            for c in state.complaints
        ],
        addresses_unusable=list(state.unusable),
        refund_due=format_amount(state.refund_due, cur) if state.refund_due > 0 else None,
        settlement=None
        if (st := state.settlement) is None
        else SettlementStatus(
            amount=format_amount(st.amount, cur),
            until=st.until,
            paid=format_amount(st.paid, cur),
            approved=st.approved,
        ),
    )
