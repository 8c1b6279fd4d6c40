"""What each event does to a case, and the checks that reject a bad event before anything is
written (the workflow's update validators call `validate` too)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

from engine.case import events as ev
from engine.case.money import format_amount, parse_amount
from engine.case.state import (
    PAYMENT_REFS_KEPT,
    ComplaintState,
    Hold,
    Instalment,
    PlanState,
    PromiseState,
)
from engine.case.vocabulary import DisputeOutcome, HoldKind
from engine.decision.contacts import address_field, take_back
from engine.decision.context import Ctx
from engine.decision.settlement import (
    SETTLEMENT_APPROVAL,
    approve_settlement,
    check_close_settled,
    check_settle,
    overpaid,
    pay_towards,
    settle,
)
from engine.decision.stages import HELD_GOTO, apply_effect, bureau_update, enter
from engine.errors import EventRejected
from engine.policy.model import ComplaintRules

__all__ = [
    "MAX_EVENT_TEXT",
    "PLAN_DAYS_PER_INSTALMENT",
    "already_recorded",
    "apply_event",
    "plan_horizon",
    "release",
    "validate_event",
]

#: A plan may run at most this many days per instalment the policy allows (`plan.max_instalments`
#: months): the policy's limit on a plan's length, so a plan date can never be absurd (9999-12-31).
PLAN_DAYS_PER_INSTALMENT = 31


def plan_horizon(ctx: Ctx) -> date:
    """The latest date a repayment plan's last instalment may fall on."""
    return ctx.local_date() + timedelta(
        days=PLAN_DAYS_PER_INSTALMENT * ctx.policy.plan.max_instalments
    )


def _amount(ctx: Ctx, value: object, what: str) -> None:
    cur = ctx.state.case.currency
    try:
        amount = parse_amount(value, cur)
    except ValueError as e:
        raise EventRejected(f"{what}: {e}") from None
    if amount <= 0:
        raise EventRejected(f"{what} must be positive, not {format_amount(amount, cur)}")


def _check_payment(ctx: Ctx, e: ev.Payment) -> None:
    if e.currency != ctx.state.case.currency:
        raise EventRejected(f"payment in {e.currency} but the case is in {ctx.state.case.currency}")
    _amount(ctx, e.amount, "payment")
    recorded = ctx.state.payment_refs.get(e.ref) if e.ref else None
    if recorded is not None and recorded != e.amount:
        cur = ctx.state.case.currency
        raise EventRejected(
            f"payment ref {e.ref!r} was recorded for {format_amount(recorded, cur)}, "
            f"not {format_amount(e.amount, cur)}"
        )


def already_recorded(ctx: Ctx, e: ev.Event) -> bool:
    """Whether `e` is a payment whose reference the case has already recorded (same amount): it is
    acknowledged and changes nothing, even on a closed case, so a retried bank feed is harmless."""
    return (
        isinstance(e, ev.Payment)
        and bool(e.ref)
        and ctx.state.payment_refs.get(e.ref) == e.amount
        and e.currency == ctx.state.case.currency
    )


def _check_promise(ctx: Ctx, e: ev.Promise) -> None:
    s, today, rules = ctx.state, ctx.local_date(), ctx.policy.promise
    _amount(ctx, e.amount, "promise")
    if s.promise is not None:
        raise EventRejected(f"a promise is already open until {s.promise.due}")
    if s.plan is not None:
        raise EventRejected("a repayment plan is open")
    if e.amount > s.balance:
        raise EventRejected(f"promise of {e.amount} exceeds the balance {s.balance}")
    if e.amount < (s.balance * rules.min_ratio).quantize(s.balance):
        raise EventRejected(f"promise must be at least {rules.min_ratio:%} of the balance")
    if e.due_date < today:
        raise EventRejected(f"promise date {e.due_date} is in the past (today is {today})")
    if e.due_date > today + timedelta(days=rules.max_days):
        raise EventRejected(f"promise date {e.due_date} is more than {rules.max_days} days away")


def _check_plan(ctx: Ctx, e: ev.Plan) -> None:
    s = ctx.state
    if s.plan is not None:
        raise EventRejected("a repayment plan is already open")
    if s.promise is not None:
        raise EventRejected(f"a promise is open until {s.promise.due}")
    if len(e.instalments) > ctx.policy.plan.max_instalments:
        raise EventRejected(f"at most {ctx.policy.plan.max_instalments} instalments")
    for amount, _ in e.instalments:
        _amount(ctx, amount, "instalment")
    dates = [d for _, d in e.instalments]
    if dates[0] < ctx.local_date() or any(b <= a for a, b in pairwise(dates)):
        raise EventRejected("instalment dates must be from today on and strictly increasing")
    last = plan_horizon(ctx)
    if dates[-1] > last:
        raise EventRejected(
            f"the last instalment ({dates[-1]}) is after {last}: a plan runs at most "
            f"{ctx.policy.plan.max_instalments} months ({PLAN_DAYS_PER_INSTALMENT} days "
            "per allowed instalment)"
        )
    if sum((a for a, _ in e.instalments), start=s.balance * 0) != s.balance:
        raise EventRejected(f"instalments must add up to the balance {s.balance}")


def _check_dispute(ctx: Ctx, e: ev.Dispute) -> None:
    if ctx.state.hold(HoldKind.DISPUTE):
        raise EventRejected("the case is already disputed")


def _check_resolved(ctx: Ctx, e: ev.DisputeResolved) -> None:
    if not ctx.state.hold(HoldKind.DISPUTE):
        raise EventRejected("the case is not disputed")


def _check_hardship(ctx: Ctx, e: ev.Hardship) -> None:
    if not 1 <= e.days <= ctx.policy.hardship.max_days:
        raise EventRejected(
            f"hardship days must be 1..{ctx.policy.hardship.max_days}, not {e.days}"
        )
    if ctx.state.hold(HoldKind.HARDSHIP):
        raise EventRejected("a hardship pause is already running")


def _check_cease(ctx: Ctx, e: ev.Cease) -> None:
    if ctx.state.hold(HoldKind.CEASE):
        raise EventRejected("communications are already ceased")
    if e.channel is not None and ctx.state.case.consent.get(e.channel, True) is False:
        raise EventRejected(f"the debtor already refused {e.channel}")


def _check_close(ctx: Ctx, e: ev.Close) -> None:
    if e.reason == "settled" and ctx.state.conduct >= 3:  # cases started before close as they did
        check_close_settled(ctx)


def _check_approve(ctx: Ctx, e: ev.Approve) -> None:
    if e.action not in ctx.state.approvals_pending:
        waiting = ", ".join(ctx.state.approvals_pending) or "nothing"
        raise EventRejected(f"no approval of {e.action!r} is awaited (waiting for: {waiting})")


def _check_deny(ctx: Ctx, e: ev.Deny) -> None:
    if e.action not in ctx.state.approvals_pending:
        waiting = ", ".join(ctx.state.approvals_pending) or "nothing"
        raise EventRejected(f"no approval of {e.action!r} is awaited (waiting for: {waiting})")


def _check_complaint_resolved(ctx: Ctx, e: ev.ComplaintResolved) -> None:
    if not any(c.open for c in ctx.state.complaints):
        raise EventRejected("no complaint is open")


def _check_outcome(ctx: Ctx, e: ev.ContactOutcome) -> None:
    contact = next((c for c in ctx.state.contacts if c.action_id == e.action_id), None)
    if contact is None:
        raise EventRejected(f"unknown or expired contact {e.action_id!r}")
    # A call happens once: its result is what the collector heard. A second outcome (a form sent
    # twice, a CLI command repeated, "unanswered" after "connected") would count the call again
    # in the caps and the failed-contact streak. Cases started before conduct 4 take it, as they did.
    if contact.channel == "call" and contact.outcome is not None and ctx.state.conduct >= 4:
        raise EventRejected(
            f"the outcome of call {e.action_id!r} is already recorded: {contact.outcome}"
        )


def _check_deferred(ctx: Ctx, e: ev.ContactDeferred) -> None:
    if not any(c.action_id == e.action_id for c in ctx.state.contacts):
        raise EventRejected(f"unknown or expired contact {e.action_id!r}")


def _check_migrate(ctx: Ctx, e: ev.MigratePolicy) -> None:
    raise EventRejected("a policy migration needs the new policy: engine.decision.migrate takes it")


_CHECKS: dict[type, Callable[[Ctx, Any], None]] = {
    ev.Payment: _check_payment,
    ev.Promise: _check_promise,
    ev.Plan: _check_plan,
    ev.Dispute: _check_dispute,
    ev.DisputeResolved: _check_resolved,
    ev.Hardship: _check_hardship,
    ev.Cease: _check_cease,
    ev.Approve: _check_approve,
    ev.ContactOutcome: _check_outcome,
    ev.ContactDeferred: _check_deferred,
    ev.Settle: check_settle,
    ev.Close: _check_close,
    ev.Deny: _check_deny,
    ev.ComplaintResolved: _check_complaint_resolved,
    ev.MigratePolicy: _check_migrate,
}


#: The longest text an event may carry (a reference, a reason, a name): bounded here, not in the
#: event types, so that an event recorded before the bound still decodes when a case replays.
MAX_EVENT_TEXT = 500


def _check_sizes(e: ev.Event) -> None:
    for name, value in e:
        if isinstance(value, str) and len(value) > MAX_EVENT_TEXT:
            raise EventRejected(f"{name} is {len(value)} characters long; at most {MAX_EVENT_TEXT}")
    if isinstance(e, ev.Plan) and len(e.instalments) > 1000:
        raise EventRejected(f"a plan of {len(e.instalments)} instalments is not a plan")


def validate_event(ctx: Ctx, e: ev.Event) -> None:
    """Raise `EventRejected` with a message for the user if the case cannot take this event."""
    s = ctx.state
    _check_sizes(e)
    if already_recorded(ctx, e):
        return
    if s.closed:
        raise EventRejected(f"case {s.case.case_id} is closed ({s.stage})")
    check = _CHECKS.get(type(e))
    if check is not None:
        check(ctx, e)


def release(ctx: Ctx, kind: HoldKind, reason: str, at: datetime | None = None) -> None:
    """Lift a hold; if the clock stood still, add the paused days so the plan re-anchors.

    `at` is when the hold ended (its expiry or deadline), which may be before now when the
    decision comes late: the clock stood still only until then.
    """
    s = ctx.state
    h = s.hold(kind)
    if h is None:
        return
    start = ctx.pause_start()
    s.holds.remove(h)
    if start is not None and ctx.pause_start() is None:
        days = (ctx.local_date(at) - ctx.local_date(start)).days
        s.paused_days += days
        # Deferrals were computed on the old clock; a goto waiting for the hold stays.
        s.pending = [p for p in s.pending if p.key.startswith(HELD_GOTO)]
    ctx.record("release", reason, detail={"hold": kind})


def _remember_ref(ctx: Ctx, e: ev.Payment) -> None:
    refs = ctx.state.payment_refs
    refs[e.ref] = e.amount
    if len(refs) > PAYMENT_REFS_KEPT:
        del refs[next(iter(refs))]  # the oldest: dicts keep insertion order


def _payment(ctx: Ctx, e: ev.Payment) -> None:
    s = ctx.state
    if e.ref:
        if already_recorded(ctx, e):
            ctx.record(
                "payment",
                f"payment ref {e.ref} already recorded: not applied again",
                outcome="duplicate",
                detail={"amount": format_amount(e.amount, e.currency), "ref": e.ref},
            )
            return
        _remember_ref(ctx, e)
    s.balance -= e.amount
    s.paid_total += e.amount
    s.last_payment_on = ctx.local_date()
    surplus = -s.balance if s.balance < 0 else None
    if surplus is not None:
        s.balance = (s.balance * 0).copy_abs()  # 0.00, never -0.00
    ctx.record(
        "payment",
        f"payment {format_amount(e.amount, e.currency)}",
        detail={
            "amount": format_amount(e.amount, e.currency),
            "ref": e.ref,
            "balance": format_amount(s.balance, e.currency),
        },
    )
    if pay_towards(ctx, e.amount):
        return
    if s.balance <= 0:
        if surplus:
            overpaid(ctx, surplus)
        enter(ctx, ctx.cp.machine.fire(s.stage, "paid_in_full"), "paid in full")
        return
    bureau_update(
        ctx,
        "partial_payment",
        f"payment {format_amount(e.amount, e.currency)}: "
        f"balance now {format_amount(s.balance, e.currency)}",
    )
    if s.promise is not None:
        s.promise.paid += e.amount
        if s.promise.paid >= s.promise.amount:
            s.promise = None
            s.kept_promises += 1
            ctx.record("promise", "promise kept", outcome="kept")
            release(ctx, HoldKind.PROMISE, "promise kept")
            apply_effect(ctx, "promise_kept")
            return
    if s.plan is not None:
        s.plan.paid += e.amount
    apply_effect(ctx, "partial_payment")


def _dispute_resolved(ctx: Ctx, e: ev.DisputeResolved) -> None:
    s = ctx.state
    if e.outcome == DisputeOutcome.UPHELD:
        release(ctx, HoldKind.DISPUTE, "dispute upheld")
        enter(
            ctx,
            ctx.cp.machine.fire(s.stage, "dispute_upheld"),
            "dispute upheld: the debt is not owed",
        )
    else:
        release(ctx, HoldKind.DISPUTE, "dispute rejected: collection resumes")
        bureau_update(ctx, "dispute_resolved", "dispute rejected: the debt stands")
        apply_effect(ctx, "dispute_rejected")


def _contact_outcome(ctx: Ctx, e: ev.ContactOutcome) -> None:
    s = ctx.state
    channel: str | None = None
    detail: dict[str, str] = {}
    for c in s.contacts:
        if c.action_id == e.action_id:
            c.outcome = e.outcome
            channel = c.channel
            if e.outcome == "failed" and e.address_unusable:
                field = address_field(c.channel, c.third_party)
                # push goes to the debtor's app, not to an address the case holds
                if field != "id":
                    detail["address_unusable"] = field
                    if field not in s.unusable:
                        s.unusable.append(field)
    if e.outcome == "connected":
        s.failed_contacts = 0
        s.last_conversation_at = ctx.now
    elif e.outcome in ("unanswered", "failed"):
        s.failed_contacts += 1
    reason = f"contact {e.outcome}" + (f": {e.reason}" if e.reason else "")
    ctx.record(
        "outcome",
        reason,
        outcome=e.outcome,
        action_id=e.action_id,
        detail=detail,
        channel=channel if detail else None,
    )
    # A call that waited for this outcome is judged again now, not at the outcome timeout.
    s.pending = [p for p in s.pending if not p.guardrail.endswith("call_in_progress")]


def _approve(ctx: Ctx, e: ev.Approve) -> None:
    s = ctx.state
    s.approvals_pending.remove(e.action)
    ctx.record(
        "approval",
        f"approved {e.action}" + (f" by {e.by}" if e.by else ""),
        detail={"approval": e.action, "outcome": "granted"},
    )
    if e.action == SETTLEMENT_APPROVAL and s.settlement is not None:
        approve_settlement(ctx)
    else:
        s.approvals_granted.append(e.action)


def _complaint(ctx: Ctx, e: ev.Complaint) -> None:
    """File a complaint; its words stay in the state, out of the record's reason (records are
    logged in part)."""
    s = ctx.state
    rules = ctx.policy.complaints or ComplaintRules()
    cid = f"complaint-{len(s.complaints) + 1}"
    respond_by = ctx.local_date() + timedelta(days=rules.respond_within_days)
    s.complaints.append(
        ComplaintState(
            id=cid,
            category=e.category,
            channel=e.channel,
            text=e.text,
            filed_at=ctx.now,
            respond_by=respond_by,
            by=e.by,
        )
    )
    ctx.record(
        "complaint",
        f"{cid} about {e.category} by {e.channel}: answer by {respond_by}"
        + (f" (recorded by {e.by})" if e.by else ""),
        detail={"complaint": cid, "category": e.category, "respond_by": respond_by.isoformat()},
    )
    if rules.hold and s.hold(HoldKind.COMPLAINT) is None:
        s.holds.append(Hold(kind=HoldKind.COMPLAINT, since=ctx.now, reason=f"{cid} open"))
        ctx.record(
            "hold",
            f"{cid}: collection held until it is answered (complaints.hold)",
            detail={"hold": "complaint"},
        )


def _complaint_resolved(ctx: Ctx, e: ev.ComplaintResolved) -> None:
    s = ctx.state
    c = next(c for c in s.complaints if c.open)
    c.resolved_at, c.outcome, c.resolved_by = ctx.now, e.outcome, e.by
    ctx.record(
        "complaint",
        f"{c.id} {e.outcome}" + (f" by {e.by}" if e.by else ""),
        outcome=e.outcome,
        detail={"complaint": c.id, "category": c.category},
    )
    if not any(x.open for x in s.complaints):
        release(ctx, HoldKind.COMPLAINT, f"{c.id} answered: collection resumes")


def _deny(ctx: Ctx, e: ev.Deny) -> None:
    s = ctx.state
    s.approvals_pending.remove(e.action)
    s.approvals_denied.append(e.action)
    ctx.record(
        "approval",
        f"denied {e.action}" + (f" by {e.by}" if e.by else "") + f": {e.reason}",
        detail={"approval": e.action, "outcome": "denied"},
    )


#: Events handled by one function each (the older ones are the branches of `apply_event`).
_APPLY: dict[type, Callable[[Ctx, Any], None]] = {
    ev.Deny: _deny,
    ev.Complaint: _complaint,
    ev.ComplaintResolved: _complaint_resolved,
    ev.Approve: _approve,
    ev.Settle: settle,
    ev.ContactDeferred: lambda ctx, e: take_back(ctx, e.action_id, e.until, e.guardrail),
}


#: Events whose record already names who did it, in its own words.
_SAYS_WHO = (ev.Approve, ev.Deny, ev.Complaint, ev.ComplaintResolved, ev.MigratePolicy)


def apply_event(ctx: Ctx, e: ev.Event) -> None:
    """Apply a validated event to the case; the first record it makes ends `(by NAME)` when a
    person recorded it (nothing is added otherwise, so unattributed trails stay as they were)."""
    first = len(ctx.records)
    _apply(ctx, e)
    if e.by and not isinstance(e, _SAYS_WHO) and len(ctx.records) > first:
        r = ctx.records[first]
        # In brackets: a reason may itself say "by" ("promise of 500.00 by 2026-12-04").
        ctx.records[first] = r.model_copy(update={"reason": f"{r.reason} (by {e.by})"})


def _apply(ctx: Ctx, e: ev.Event) -> None:
    handler = _APPLY.get(type(e))
    if handler is not None:
        handler(ctx, e)
        return
    s = ctx.state
    now = ctx.now
    if isinstance(e, ev.Payment):
        _payment(ctx, e)
    elif isinstance(e, ev.Promise):
        s.promise = PromiseState(amount=e.amount, due=e.due_date, made_at=now)
        s.holds.append(Hold(kind=HoldKind.PROMISE, since=now, reason=f"promise until {e.due_date}"))
        ctx.record(
            "promise",
            f"promise of {e.amount} by {e.due_date}",
            outcome="made",
            detail={"amount": str(e.amount), "due": e.due_date.isoformat()},
        )
    elif isinstance(e, ev.Plan):
        s.plan = PlanState(
            instalments=[Instalment(amount=a, due=d) for a, d in e.instalments], started_at=now
        )
        s.holds.append(
            Hold(kind=HoldKind.PLAN, since=now, reason=f"plan of {len(e.instalments)} instalments")
        )
        ctx.record(
            "plan",
            f"repayment plan of {len(e.instalments)} instalments",
            detail={"instalments": str(len(e.instalments))},
        )
        bureau_update(ctx, "plan", f"repayment plan of {len(e.instalments)} instalments agreed")
    elif isinstance(e, ev.Dispute):
        s.holds.append(Hold(kind=HoldKind.DISPUTE, since=now, reason=e.reason))
        ctx.record(
            "hold", f"dispute: {e.reason}" if e.reason else "dispute", detail={"hold": "dispute"}
        )
        bureau_update(ctx, "disputed", "the debtor disputes the debt")
    elif isinstance(e, ev.DisputeResolved):
        _dispute_resolved(ctx, e)
    elif isinstance(e, ev.Hardship):
        s.holds.append(
            Hold(
                kind=HoldKind.HARDSHIP,
                since=now,
                until=now + timedelta(days=e.days),
                reason=f"hardship {e.days} days",
            )
        )
        ctx.record("hold", f"hardship: pause {e.days} days", detail={"hold": "hardship"})
    elif isinstance(e, ev.Cease) and e.channel is not None:
        # An opt-out is a withdrawn consent: the same check that honours the case file's consent
        # (`contacts._check`, `no_consent.<channel>`) refuses every later contact on it.
        s.case = s.case.model_copy(update={"consent": {**s.case.consent, e.channel: False}})
        ctx.record(
            "hold",
            f"opt-out: no more {e.channel}",
            detail={"hold": "opt_out", "channel": str(e.channel)},
        )
    elif isinstance(e, ev.Cease):
        s.holds.append(Hold(kind=HoldKind.CEASE, since=now, reason="cease-communication request"))
        ctx.record(
            "hold",
            "cease-communication request: only legally required notices",
            detail={"hold": "cease"},
        )
    elif isinstance(e, ev.Close):
        enter(ctx, ctx.cp.machine.fire(s.stage, f"close_{e.reason}"), f"closed: {e.reason}")
    elif isinstance(e, ev.ContactOutcome):
        _contact_outcome(ctx, e)
    elif isinstance(e, ev.AttitudeChange):
        s.attitude = e.attitude
        ctx.record("segment", f"attitude now {e.attitude}", detail={"attitude": e.attitude})
        if e.attitude == "hostile":
            apply_effect(ctx, "hostile")
