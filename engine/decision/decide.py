"""The one entry point of the core: `decide(policy, state, event_or_timer, now)`.

It applies the event (if any), lets time do its work (holds expiring, promises falling due, fees,
exit rules, the contact plan under its guardrails), and says when the next thing can change. Pure:
no clock (the caller passes `now`), no I/O, no Temporal. Same input, same output.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.case import events as ev
from engine.case.actions import Action, Record
from engine.case.state import CONDUCT, CaseFile, CaseState
from engine.case.vocabulary import ActiveStage, HoldKind
from engine.decision.contacts import next_contact_time, send_due_contacts
from engine.decision.context import Ctx, local_midnight
from engine.decision.events_apply import apply_event, release, validate_event
from engine.decision.settlement import lapse, lapse_deadline
from engine.decision.stages import apply_effect, run_exits, run_held_gotos, run_steps, time_barred
from engine.errors import EventRejected
from engine.policy.compiled import CompiledPolicy
from engine.policy.model import ACTIVE_STAGES, Segment

__all__ = ["Decision", "advance", "check_case", "copy_state", "decide", "open_case", "validate"]


@dataclass(frozen=True)
class Decision:
    """What the core decided: the new state, what to do, when to wake, and why."""

    state: CaseState
    actions: list[Action]
    next_wake_up: datetime | None
    records: list[Record]

    @property
    def reasons(self) -> list[str]:
        """The reason of every record, in order."""
        return [r.reason for r in self.records]


def _variant(seg: Segment, case_id: str) -> str | None:
    if not seg.variants:
        return None
    bucket = (
        int.from_bytes(hashlib.sha256(f"{seg.name}:{case_id}".encode()).digest()[:8], "big") % 100
    )
    total = 0
    for v in seg.variants:
        total += v.weight
        if bucket < total:
            return v.name
    return seg.variants[-1].name


def _classify(ctx: Ctx) -> None:
    s = ctx.state
    day = ctx.clock_day()
    for seg in ctx.policy.segments:
        if seg.days_past_due and not seg.days_past_due.contains(day):
            continue
        if seg.amount and not seg.amount.contains(s.balance):
            continue
        if seg.risk_score and not seg.risk_score.contains(s.case.risk_score):
            continue
        if seg.attitude and s.attitude not in seg.attitude:
            continue
        if seg.product and s.case.product not in seg.product:
            continue
        if seg.name != s.segment:
            previous = s.segment
            s.segment = seg.name
            s.variant = _variant(seg, s.case.case_id)
            ctx.record(
                "segment",
                f"segments.{seg.name}" + (f" (was {previous})" if previous else ""),
                detail={"segment": seg.name, "variant": s.variant or ""},
            )
        return


def _next_deadline(ctx: Ctx) -> tuple[datetime, HoldKind] | None:
    """The earliest hold expiry, promise or instalment deadline that has passed, if any."""
    s = ctx.state
    due = [(h.until, h.kind) for h in s.holds if h.until is not None and h.until <= ctx.now]
    if s.promise is not None and _promise_deadline(ctx) <= ctx.now:
        due.append((_promise_deadline(ctx), HoldKind.PROMISE))
    if s.plan is not None and _instalment_deadline(ctx) <= ctx.now:
        due.append((_instalment_deadline(ctx), HoldKind.PLAN))
    lapses = lapse_deadline(ctx)
    if lapses is not None and lapses <= ctx.now:
        due.append((lapses, HoldKind.SETTLEMENT))
    return min(due, key=lambda d: d[0]) if due else None


def _let_time_pass(ctx: Ctx) -> None:
    """Everything that falls due by itself: hold expiry, promise and plan deadlines, fees.

    Deadlines are taken in the order they fell, each at its own moment, so a late decision
    pauses the clock exactly as long as one made on time.
    """
    s = ctx.state
    while not s.closed and (nxt := _next_deadline(ctx)) is not None:
        at, what = nxt
        if what == "promise":
            s.promise = None
            s.broken_promises += 1
            ctx.record("promise", "promise broken", outcome="broken")
            release(ctx, HoldKind.PROMISE, "promise broken", at)
            apply_effect(ctx, "promise_broken")
        elif what == "plan":
            plan = s.plan
            assert plan is not None
            owed = sum(
                (i.amount for i in plan.instalments[: plan.checked + 1]), start=plan.paid * 0
            )
            if plan.paid >= owed:
                plan.checked += 1
                if plan.checked == len(plan.instalments):
                    s.plan = None
                    release(ctx, HoldKind.PLAN, "repayment plan completed", at)
            else:
                s.plan = None
                s.missed_instalments += 1
                ctx.record("plan", f"instalment {plan.checked + 1} missed", outcome="missed")
                release(ctx, HoldKind.PLAN, "repayment plan broken", at)
                apply_effect(ctx, "plan_missed")
        elif what == "settlement":
            lapse(ctx, at)
        else:
            release(ctx, what, f"{what} ended", at)
    if not s.closed and not ctx.stopped:
        day = ctx.clock_day()
        for fee in ctx.policy.fees:
            if fee.day <= day and fee.name not in s.fees_applied and day > ctx.policy.grace_days:
                s.fees_applied.append(fee.name)  # settled for good: charged, or never on this debt
                if s.conduct >= 3 and time_barred(ctx):
                    ctx.record(
                        "suppressed",
                        f"fees.{fee.name}: debt is time-barred",
                        detail={"guardrail": "time_barred"},
                    )
                    continue
                s.balance += fee.amount
                s.fees_total += fee.amount
                ctx.record("fee", f"fees.{fee.name}", detail={"amount": str(fee.amount)})


def _promise_deadline(ctx: Ctx) -> datetime:
    p = ctx.state.promise
    assert p is not None
    return local_midnight(p.due + timedelta(days=1 + ctx.policy.promise.grace_days), ctx.tz)


def _instalment_deadline(ctx: Ctx) -> datetime:
    plan = ctx.state.plan
    assert plan is not None
    due = plan.instalments[plan.checked].due
    return local_midnight(due + timedelta(days=1 + ctx.policy.plan.grace_days), ctx.tz)


def _next_wake_up(ctx: Ctx) -> datetime | None:
    s = ctx.state
    if s.closed:
        return None
    times: list[datetime] = [h.until for h in s.holds if h.until is not None]
    if s.promise is not None:
        times.append(_promise_deadline(ctx))
    if s.plan is not None:
        times.append(_instalment_deadline(ctx))
    lapses = lapse_deadline(ctx)
    if lapses is not None:
        times.append(lapses)
    if not ctx.stopped:
        t = next_contact_time(ctx)
        if t is not None:
            times.append(t)
        times.extend(p.not_before for p in s.pending)
        day = ctx.clock_day()
        dpd_days, stage_days = ctx.cp.exit_days[s.stage]
        days = [d for d in dpd_days if d > day]
        days += [s.stage_entered_day + d for d in stage_days if s.stage_entered_day + d > day]
        days += [f.day for f in ctx.policy.fees if f.day > day and f.name not in s.fees_applied]
        # A segment's days_past_due range can start or end with time alone.
        for seg in ctx.policy.segments:
            if seg.days_past_due is not None:
                bounds = (seg.days_past_due.min, seg.days_past_due.max)
                days += [math.ceil(b) for b in bounds if b is not None and b > day]
        if day <= ctx.policy.grace_days:
            days.append(ctx.policy.grace_days + 1)
        if days:
            times.append(ctx.day_start(min(days)))
        # The debt turning time-barred (calendar days, not the collection clock) changes what may
        # happen: exits on `time_barred`, referrals, fees, placements and letters.
        if not time_barred(ctx) and (s.conduct >= 3 or ctx.cp.exits_to_legal.get(s.stage)):
            times.append(ctx.time_barred_at())
    future = [t for t in times if t > ctx.now]
    return min(future) if future else None


def _run(ctx: Ctx, event: ev.Event | None) -> Decision:
    if event is not None:
        validate_event(ctx, event)
        apply_event(ctx, event)
    s = ctx.state
    if not s.closed:
        _let_time_pass(ctx)
        _classify(ctx)
        run_held_gotos(ctx)
        run_exits(ctx)
        # Until the stage settles: a contact or step may make an exit true, and the stage it
        # leads to may have steps and contacts due right now (they must not wait for a timer).
        for _ in range(len(ACTIVE_STAGES)):
            if s.closed or ctx.stopped:
                break
            seq = s.stage_seq
            run_steps(ctx)
            send_due_contacts(ctx)
            run_steps(ctx)  # a notice just sent may be what a bureau report waited for
            run_exits(ctx)
            if s.stage_seq == seq:
                break
    return Decision(ctx.state, ctx.actions, _next_wake_up(ctx), ctx.records)


def advance(
    cp: CompiledPolicy, state: CaseState, event: ev.Event | None, now: datetime
) -> Decision:
    """`decide`, but changing `state` in place (the simulator's fast path; same logic).

    On `EventRejected` the state may be partly validated but is never changed: validation runs
    before anything is written.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _run(Ctx(cp, state, now), event)


def decide(cp: CompiledPolicy, state: CaseState, event: ev.Event | None, now: datetime) -> Decision:
    """Decide what happens to a case at `now`, given an event or (None) the passing of time.

    Args:
        cp: the compiled policy the case is pinned to.
        state: the case as it stands; not modified.
        event: what happened, or None when a timer fired.
        now: the moment of the decision (the workflow clock), timezone-aware.

    Returns:
        The new state, the actions to carry out, the next wake-up and the reasons.

    Raises:
        EventRejected: the event is invalid for this case; nothing changed.
    """
    return advance(cp, copy_state(state), event, now)


def copy_state(state: CaseState) -> CaseState:
    """A copy of `state` sharing nothing mutable with it (what `model_copy(deep=True)` gives,
    several times faster): every list, dict and nested model is copied; strings, numbers, dates
    and decimals are immutable and shared. Fields set stay as they were (no `update=`)."""
    new = state.model_copy()
    d = new.__dict__
    case = state.case.model_copy()
    case.__dict__["debtor"] = state.case.debtor.model_copy()
    case.__dict__["consent"] = dict(state.case.consent)
    d["case"] = case
    d["policy"] = state.policy.model_copy()
    d["holds"] = [h.model_copy() for h in state.holds]
    if state.promise is not None:
        d["promise"] = state.promise.model_copy()
    if state.plan is not None:
        plan = state.plan.model_copy()
        plan.__dict__["instalments"] = [i.model_copy() for i in state.plan.instalments]
        d["plan"] = plan
    if state.settlement is not None:
        d["settlement"] = state.settlement.model_copy()
    d["done"] = list(state.done)
    d["pending"] = [p.model_copy() for p in state.pending]
    d["contacts"] = [c.model_copy() for c in state.contacts]
    d["approvals_pending"] = list(state.approvals_pending)
    d["approvals_granted"] = list(state.approvals_granted)
    d["approvals_denied"] = list(state.approvals_denied)
    d["complaints"] = [c.model_copy() for c in state.complaints]
    d["fees_applied"] = list(state.fees_applied)
    d["unusable"] = list(state.unusable)
    d["deferred_by"] = list(state.deferred_by)
    d["payment_refs"] = dict(state.payment_refs)
    return new


def validate(cp: CompiledPolicy, state: CaseState, event: ev.Event, now: datetime) -> None:
    """Raise `EventRejected` if the case cannot take `event` now (for update validators)."""
    validate_event(Ctx(cp, state, now), event)


def _gate_into(cp: CompiledPolicy, stage: str) -> str | None:
    """The approval every exit into `stage` waits for, if they all wait for one."""
    gates = [
        ex.approval for spec in cp.policy.stages.values() for ex in spec.exits if ex.to == stage
    ]
    return gates[0] if gates and all(gates) else None


def check_case(cp: CompiledPolicy, case: CaseFile) -> None:
    """Whether a case fits its policy; the client calls this before starting a workflow.

    Raises:
        EventRejected: a currency other than the policy's, or an unknown time zone.
    """
    if case.currency != cp.policy.currency:
        raise EventRejected(
            f"currency {case.currency} differs from policy {cp.policy.name}'s {cp.policy.currency}"
        )
    try:
        from engine.policy.contact_window import zone

        zone(case.debtor.timezone)
    except Exception:
        raise EventRejected(f"unknown time zone {case.debtor.timezone!r}") from None


def open_case(
    cp: CompiledPolicy, case: CaseFile, now: datetime, conduct: int = CONDUCT
) -> Decision:
    """Open a case: pin the policy, start in the stage its age calls for, and decide once.

    A case opened late starts where its days past due put it (the last stage whose
    `enter_at_day` it has reached) and never replays the contacts it missed. `conduct` is the
    rules-of-conduct version the case keeps for life (the workflow passes the one its input
    names, so that histories started before a version replay as they ran).

    Raises:
        EventRejected: the case does not fit the policy (currency, time zone).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    check_case(cp, case)
    state = CaseState(
        case=case,
        policy=cp.ref,
        opened_at=now,
        balance=case.amount_due,
        stage=ActiveStage.REMINDER,
        stage_entered_at=now,
        attitude=case.attitude,
        conduct=conduct,
    )
    ctx = Ctx(cp, state, now)
    day = ctx.clock_day()
    start = ActiveStage.REMINDER
    barred = False
    for stage in ACTIVE_STAGES:
        spec = cp.policy.stages.get(stage)
        if spec is not None and spec.enter_at_day <= day:
            if stage == "legal_referral" and time_barred(ctx):
                barred = True  # time-barred debt never goes to legal referral
                continue
            start = stage
    gated = ""
    while start != "reminder" and _gate_into(cp, start):
        # Entering this stage needs a human's approval (legal referral, usually): a late import
        # must not slip past it. Start one stage earlier; its exit asks for the approval.
        gated = f"; entering {start} needs approval of {_gate_into(cp, start)}"
        start = ACTIVE_STAGES[ACTIVE_STAGES.index(start) - 1]
        while start not in cp.policy.stages:
            start = ACTIVE_STAGES[ACTIVE_STAGES.index(start) - 1]
    state.stage = start
    state.stage_entered_day = day
    ctx.record(
        "opened",
        f"opened at day {day}: starts in {start}"
        + (
            f" (stages.{start}.enter_at_day {cp.policy.stages[start].enter_at_day})"
            if start != "reminder"
            else ""
        )
        + gated,
        detail={"days_past_due": str(day)},
    )
    if barred:
        ctx.record(
            "suppressed",
            f"opened at day {day}: debt is time-barred, no legal referral",
            detail={"guardrail": "time_barred"},
        )
    return _run(ctx, None)


# Re-exported for the shell: the workflow catches it in update validators.
__all__ += ["EventRejected"]
