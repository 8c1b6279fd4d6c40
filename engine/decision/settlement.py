"""Honest endings: a settlement for less is an agreed event, and a case closes `settled` only once
that settlement is paid; what was paid beyond what was owed is `refund_due`, never a negative
balance.

A settlement stops collection (a `settlement` hold) until it is paid or its date passes; a lapsed
settlement leaves the full balance standing, less what was paid.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from engine.case import events as ev
from engine.case.money import format_amount, parse_amount
from engine.case.state import Hold, SettlementState
from engine.case.vocabulary import HoldKind
from engine.decision.context import Ctx, local_midnight
from engine.decision.stages import enter, request_approval
from engine.errors import EventRejected

__all__ = [
    "SETTLEMENT_APPROVAL",
    "approve_settlement",
    "check_close_settled",
    "check_settle",
    "lapse",
    "lapse_deadline",
    "overpaid",
    "pay_towards",
    "settle",
]

#: The approval a settlement waits for when the policy's `settlement.approval` is set.
SETTLEMENT_APPROVAL = "settlement"


def _fmt(ctx: Ctx, amount: Decimal) -> str:
    return format_amount(amount, ctx.state.case.currency)


def check_settle(ctx: Ctx, e: ev.Settle) -> None:
    """Refuse a settlement the policy does not allow, with the bound it breaks."""
    s, rules = ctx.state, ctx.policy.settlement
    if rules is None:
        raise EventRejected(
            f"policy {ctx.policy.name} offers no settlement (no settlement: section)"
        )
    try:
        amount = parse_amount(e.amount, s.case.currency)
    except ValueError as err:
        raise EventRejected(f"settlement: {err}") from None
    if amount <= 0:
        raise EventRejected(f"settlement must be positive, not {_fmt(ctx, amount)}")
    if s.settlement is not None:
        raise EventRejected(
            f"a settlement of {_fmt(ctx, s.settlement.amount)} is already agreed "
            f"until {s.settlement.until}"
        )
    if s.plan is not None:
        raise EventRejected("a repayment plan is open")
    if s.promise is not None:
        raise EventRejected(f"a promise is open until {s.promise.due}")
    if amount >= s.balance:
        raise EventRejected(
            f"a settlement must be less than the balance {_fmt(ctx, s.balance)} "
            "(paying it in full needs none)"
        )
    floor = (s.balance * rules.min_ratio).quantize(s.balance, rounding=ROUND_CEILING)
    if amount < floor:
        raise EventRejected(
            f"settlement must be at least {rules.min_ratio:%} of the balance "
            f"({_fmt(ctx, floor)}), not {_fmt(ctx, amount)}"
        )
    today = ctx.local_date()
    if e.until is not None and e.until < today:
        raise EventRejected(f"settlement date {e.until} is in the past (today is {today})")
    if e.until is not None and e.until > today + timedelta(days=rules.max_days):
        raise EventRejected(f"settlement date {e.until} is more than {rules.max_days} days away")


def check_close_settled(ctx: Ctx) -> None:
    """`close settled` is refused: a case closes settled by itself, once a settlement is paid."""
    st = ctx.state.settlement
    if st is None:
        raise EventRejected(
            "no settlement is agreed: a case closes settled only once an agreed "
            "settlement is paid (agree one with settle)"
        )
    waiting = "" if st.approved else ", and it awaits approval"
    raise EventRejected(
        f"the settlement of {_fmt(ctx, st.amount)} is not paid yet "
        f"({_fmt(ctx, st.paid)} paid{waiting}): the case closes settled once it is"
    )


def settle(ctx: Ctx, e: ev.Settle) -> None:
    """Agree a (validated) settlement: collection stops until it is paid or lapses."""
    s, rules = ctx.state, ctx.policy.settlement
    assert rules is not None
    until = e.until or ctx.local_date() + timedelta(days=rules.max_days)
    amount = parse_amount(e.amount, s.case.currency)
    s.settlement = SettlementState(
        amount=amount,
        until=until,
        agreed_at=ctx.now,
        balance_at=s.balance,
        approved=not rules.approval,
    )
    s.holds.append(
        Hold(kind=HoldKind.SETTLEMENT, since=ctx.now, reason=f"settlement until {until}")
    )
    waived = s.balance - amount
    ctx.record(
        "settlement",
        f"settlement of {_fmt(ctx, amount)} by {until} agreed "
        f"({_fmt(ctx, waived)} of {_fmt(ctx, s.balance)} waived once paid)"
        + ("; waits for approval" if rules.approval else ""),
        outcome="proposed" if rules.approval else "agreed",
        detail={
            "amount": _fmt(ctx, amount),
            "until": until.isoformat(),
            "waived": _fmt(ctx, waived),
        },
    )
    if rules.approval:
        request_approval(ctx, SETTLEMENT_APPROVAL, f"settlement of {_fmt(ctx, amount)}")


def pay_towards(ctx: Ctx, amount: Decimal) -> bool:
    """Count a payment towards the open settlement; True if that closed the case settled."""
    st = ctx.state.settlement
    if st is None:
        return False
    st.paid += amount
    return _close_if_paid(ctx)


def approve_settlement(ctx: Ctx) -> None:
    """A human approved the settlement: it binds, and closes the case if already paid."""
    st = ctx.state.settlement
    assert st is not None
    st.approved = True
    _close_if_paid(ctx)


def _close_if_paid(ctx: Ctx) -> bool:
    s = ctx.state
    st = s.settlement
    if st is None or not st.approved or st.paid < st.amount:
        return False
    surplus = st.paid - st.amount
    waived = st.balance_at - st.amount
    s.balance = (s.balance * 0).copy_abs()
    ctx.record(
        "settlement",
        f"settlement of {_fmt(ctx, st.amount)} paid: {_fmt(ctx, waived)} waived",
        outcome="paid",
        detail={"amount": _fmt(ctx, st.amount), "waived": _fmt(ctx, waived)},
    )
    if surplus > 0:
        overpaid(ctx, surplus)
    enter(
        ctx, ctx.cp.machine.fire(s.stage, "close_settled"), "settled: the agreed settlement is paid"
    )
    return True


def overpaid(ctx: Ctx, surplus: Decimal) -> None:
    """Record money received beyond what was owed: it is owed back, and the balance stays 0.00."""
    s = ctx.state
    s.refund_due += surplus
    ctx.record(
        "payment",
        f"overpayment of {_fmt(ctx, surplus)}: owed back to the debtor",
        outcome="overpaid",
        detail={"refund_due": _fmt(ctx, s.refund_due), "surplus": _fmt(ctx, surplus)},
    )


def lapse_deadline(ctx: Ctx) -> datetime | None:
    """When the open settlement lapses unpaid (the local midnight after its date), if one is open."""
    st = ctx.state.settlement
    return None if st is None else local_midnight(st.until + timedelta(days=1), ctx.tz)


def lapse(ctx: Ctx, at: datetime) -> None:
    """The settlement's date passed unpaid: the full balance stands again and collection resumes."""
    from engine.decision.events_apply import release

    s = ctx.state
    st = s.settlement
    assert st is not None
    s.settlement = None
    if SETTLEMENT_APPROVAL in s.approvals_pending:
        s.approvals_pending.remove(SETTLEMENT_APPROVAL)
    ctx.record(
        "settlement",
        f"settlement of {_fmt(ctx, st.amount)} lapsed unpaid "
        f"({_fmt(ctx, st.paid)} paid): the balance {_fmt(ctx, s.balance)} stands",
        outcome="lapsed",
        detail={"amount": _fmt(ctx, st.amount), "paid": _fmt(ctx, st.paid)},
    )
    release(ctx, HoldKind.SETTLEMENT, "settlement lapsed", at)
