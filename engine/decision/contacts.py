"""The contact plan of a stage: which occurrences are due, the guardrails each must pass, and
the contact that leaves (or the deferral that waits) with its reason."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.case.actions import Action
from engine.case.state import ContactLog, Pending
from engine.case.vocabulary import HoldKind
from engine.decision.caps import INSTANT, SPACING, contact_blocked_until
from engine.decision.context import Ctx
from engine.policy.conditions import CaseFacts, evaluate
from engine.policy.contact_window import next_allowed
from engine.policy.model import ContactItem
from engine.policy.templates import render

__all__ = [
    "address_field",
    "next_contact_time",
    "occurrences",
    "send_bureau_notice",
    "send_due_contacts",
    "take_back",
]

_ADDRESS = {
    "sms": "phone",
    "call": "phone",
    "push": "id",
    "email": "email",
    "letter": "address",
    "field_visit": "address",
}


def address_field(channel: str, third_party: bool = False) -> str:
    """The debtor field a contact on `channel` goes to (`id` for push: the debtor's app)."""
    return "third_party_phone" if third_party else _ADDRESS[channel]


def occurrences(ctx: Ctx) -> list[tuple[datetime, str, ContactItem]]:
    """Live occurrences of the current stage's plan: (due moment, key, item), not yet settled."""
    return list(ctx.occurrences())


def _earliest_allowed(ctx: Ctx, channel: str, late: bool = True) -> tuple[datetime, str] | None:
    """The earliest moment from now the window, holidays and caps all allow, or None if now."""
    s, r = ctx.state, ctx.rules
    t, why = ctx.now, ""
    for _ in range(16):
        w = next_allowed(t, ctx.tz, r.window_start, r.window_end, r.days_off)
        if w != t:
            holiday = t.astimezone(ctx.tz).date() in r.days_off
            t, why = w, why or ("holiday" if holiday else "contact_window")
        blocked = contact_blocked_until(
            r,
            s.contacts,
            channel,
            t,
            ctx.tz,
            s.last_conversation_at,
            s.conduct,
            SPACING if late or t != ctx.now else INSTANT,
        )
        if blocked is None:
            break
        t, why = blocked[0], blocked[1]
        if t.year >= 9999:
            break
    return None if t == ctx.now else (t, why)


def _settle(ctx: Ctx, key: str) -> None:
    ctx.state.done.append(key)
    ctx.state.pending = [p for p in ctx.state.pending if p.key != key]


def _suppress(ctx: Ctx, key: str, item: ContactItem, guardrail: str) -> None:
    _settle(ctx, key)
    ctx.record(
        "suppressed",
        f"{ctx.state.stage}.{key}",
        channel=item.channel,
        detail={"guardrail": guardrail},
    )


def _check(ctx: Ctx, item: ContactItem) -> str | None:
    """A guardrail that forbids this contact outright (not merely for now), if any."""
    s, case = ctx.state, ctx.state.case
    template = ctx.policy.templates[item.template]
    if s.hold(HoldKind.CEASE) is not None and not template.legally_required:
        return "cease_communication"
    if (template.legal or not template.legally_required) and s.conduct >= 3 and ctx.time_barred():
        return "time_barred"  # only the notices the law requires, and never a demand
    if case.consent.get(item.channel, True) is False:
        return f"no_consent.{item.channel}"
    if item.third_party:
        if not ctx.rules.third_party_allowed:
            return "third_party.not_allowed"
        if s.failed_contacts < ctx.rules.third_party_after_failed:
            return "third_party.debtor_reachable"
        if not case.debtor.third_party_phone:
            return "third_party.no_contact_person"
        if "third_party_phone" in s.unusable:
            return "address_unusable.third_party_phone"
        return None
    if item.channel == "field_visit" and "field_visit" in s.approvals_denied:
        return "field_visit.denied"
    if item.channel == "field_visit" and s.stage != "escalation":
        return "field_visit.only_in_escalation"
    field = _ADDRESS[item.channel]
    if field != "id" and not getattr(case.debtor, field):
        return f"no_{field}"
    if field in s.unusable:
        return f"address_unusable.{field}"
    return None


def _send(ctx: Ctx, key: str, item: ContactItem, reason: str | None = None) -> None:
    s, case = ctx.state, ctx.state.case
    template = ctx.policy.templates[item.template]
    locale = case.debtor.locale if case.debtor.locale in template.text else ctx.policy.locales[0]
    to = (
        case.debtor.third_party_phone
        if item.third_party
        else {
            "phone": case.debtor.phone,
            "email": case.debtor.email,
            "address": case.debtor.address,
            "id": case.debtor.id,
        }[_ADDRESS[item.channel]]
    )
    action_id = ctx.action_id(key)
    detail = {"collectors": "2"} if item.channel == "field_visit" else {}
    reason = reason or f"{s.stage}.{key}"
    ctx.actions.append(
        Action(
            action_id=action_id,
            case_id=case.case_id,
            kind="contact",
            at=ctx.now,
            stage=s.stage,
            reason=reason,
            channel=item.channel,
            template=item.template,
            locale=locale,
            message=render(ctx.policy, s, item.template, locale, ctx.calendar_dpd()),
            to=to,
            third_party=item.third_party,
            legally_required=template.legally_required,
            detail=detail,
            **(
                {
                    "debtor_id": case.debtor.id,
                    "debtor_timezone": case.debtor.timezone,
                    "policy_hash": s.policy.hash,
                }
                if s.conduct >= 2
                else {}
            ),
        )
    )
    s.contacts.append(
        ContactLog(
            at=ctx.now,
            channel=item.channel,
            action_id=action_id,
            outcome=None if item.channel == "call" else "delivered",
            third_party=item.third_party,
        )
    )
    keep = ctx.now - timedelta(days=ctx.rules.longest_window_days + 1)
    if s.contacts[0].at < keep:
        s.contacts = [c for c in s.contacts if c.at >= keep]
    s.contacts_in_stage += 1
    s.contacts_total += 1
    if template.bureau_notice and s.bureau_notice_at is None:
        s.bureau_notice_at = ctx.now
    if item.channel == "field_visit" and "field_visit" in s.approvals_granted:
        s.approvals_granted.remove("field_visit")
    _settle(ctx, key)
    ctx.record(
        "contact",
        reason,
        channel=item.channel,
        action_id=action_id,
        outcome="sent" if item.channel == "call" else "delivered",
        detail={"template": item.template},
    )


def send_due_contacts(ctx: Ctx) -> None:
    """Send every due occurrence the guardrails allow now; defer the rest to their next moment.

    A repeating item that fell behind (its occurrences deferred while later ones fell due) sends
    only its latest due occurrence; the earlier ones are recorded `skipped`, never sent in a burst.
    """
    s = ctx.state
    if s.closed or ctx.stopped:
        return
    facts: CaseFacts | None = None
    pending = {p.key: p for p in s.pending}
    due_now: list[tuple[datetime, str, ContactItem]] = []
    latest: dict[str, str] = {}
    for due, key, item in ctx.occurrences():
        if due > ctx.now:
            break
        due_now.append((due, key, item))
        if s.conduct >= 2:
            latest[item.key] = key
    for due, key, item in due_now:
        if item.when is not None:
            facts = facts or ctx.facts()
            if not evaluate(item.when, facts):
                _settle(ctx, key)  # not for this case (segment, variant...): silently not planned
                continue
        if latest.get(item.key, key) != key:
            _settle(ctx, key)
            ctx.record(
                "skipped",
                f"{s.stage}.{key}",
                channel=item.channel,
                detail={"guardrail": "catch_up", "superseded_by": latest[item.key]},
            )
            continue
        p = pending.get(key)
        if p is not None and p.not_before > ctx.now:
            continue
        forbidden = _check(ctx, item)
        if forbidden:
            _suppress(ctx, key, item, forbidden)
            continue
        if item.channel == "field_visit" and "field_visit" not in s.approvals_granted:
            from engine.decision.stages import request_approval

            request_approval(ctx, "field_visit", f"{s.stage}.{key}", key=key)
            continue
        later = _earliest_allowed(ctx, item.channel, late=due < ctx.now)
        if later is not None:
            if later[0].year >= 9999:
                _suppress(ctx, key, item, later[1])
                continue
            if p is None or p.not_before != later[0]:
                s.pending = [q for q in s.pending if q.key != key]
                s.pending.append(Pending(key=key, not_before=later[0], guardrail=later[1]))
                s.note_deferral(later[1])
                ctx.record(
                    "deferred",
                    f"{s.stage}.{key}",
                    channel=item.channel,
                    detail={"guardrail": later[1], "until": later[0].isoformat()},
                )
            continue
        _send(ctx, key, item)


def send_bureau_notice(ctx: Ctx, key: str, reason: str) -> tuple[datetime | None, str] | None:
    """Send the notice a bureau report needs, now, through the first of the policy's bureau-notice
    contacts the debtor can lawfully get (consent, cease, address), under the usual guardrails.

    Returns None once sent; `(moment, guardrail)` when the window or a cap defers it to `moment`;
    `(None, guardrail)` when no notice can lawfully go out at all (then no report may follow).
    """
    forbidden = "bureau.no_notice_template"
    for item in ctx.cp.bureau_notices:
        why = _check(ctx, item)
        if why is not None:
            forbidden = why
            continue
        later = _earliest_allowed(ctx, item.channel)
        if later is not None:
            return (None, later[1]) if later[0].year >= 9999 else later
        _send(ctx, key, item, reason)
        return None
    return None, forbidden


def next_contact_time(ctx: Ctx) -> datetime | None:
    """When the next planned or deferred contact of the stage falls due, if any."""
    pending = {p.key: p.not_before for p in ctx.state.pending}
    best: datetime | None = None
    for due, key, item in ctx.occurrences():
        if item.channel == "field_visit" and "field_visit" in ctx.state.approvals_pending:
            continue  # waits for a human, not for time
        if best is not None and due >= best:
            break  # in due order: nothing later can come sooner
        t = max(due, pending.get(key, due))
        if t > ctx.now and (best is None or t < best):
            best = t
    return best


def take_back(ctx: Ctx, action_id: str, until: datetime | None, guardrail: str) -> None:
    """A contact the person's ledger did not grant: it did not happen. It leaves the case's log
    and counts, and its occurrence waits until `until` (None: it is dropped for good).

    Only a contact of the current stage entry can wait again; one of an earlier stage (the case
    moved on in the same decision) is recorded as skipped.
    """
    s = ctx.state
    log = next((c for c in s.contacts if c.action_id == action_id), None)
    if log is None:
        return
    s.contacts.remove(log)
    s.contacts_in_stage = max(0, s.contacts_in_stage - 1)
    s.contacts_total = max(0, s.contacts_total - 1)
    if s.bureau_notice_at == log.at and not s.bureau_reported:
        s.bureau_notice_at = next((c.at for c in s.contacts if c.at == log.at), None)
    if log.channel == "field_visit":
        s.approvals_granted.append("field_visit")
    key = action_id.rsplit("/", 1)[-1]
    current = action_id == ctx.action_id(key)
    if key in s.done and current:
        s.done.remove(key)
    if until is None or not current:
        if current:
            s.done.append(key)
        ctx.record(
            "skipped",
            f"{s.stage}.{key}",
            channel=log.channel,
            action_id=action_id,
            detail={"guardrail": guardrail},
        )
        return
    s.pending = [q for q in s.pending if q.key != key]
    s.pending.append(Pending(key=key, not_before=until, guardrail=guardrail))
    s.note_deferral(guardrail)
    ctx.record(
        "deferred",
        f"{s.stage}.{key}",
        channel=log.channel,
        action_id=action_id,
        detail={"guardrail": guardrail, "until": until.isoformat()},
    )
