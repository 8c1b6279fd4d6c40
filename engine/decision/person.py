"""The person as the unit of contact: whether a contact one case decided may go out, judged on
the ledger of every case of the same debtor.

`grant` applies the very code the per-case decision uses (`contact_window.next_allowed`,
`caps.contact_blocked_until`) to the person's whole ledger, with the rules of the case asking
(so the strictest policy among the person's cases governs each of its own contacts). A refusal
names the per-person rule (`person.cap.sms.3_per_7d`, `person.call_in_progress`). Idempotent on
the action id: a retried activity asking again for a contact already granted is granted again,
and the ledger does not count it twice. Pure: the ledger given is not changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from engine.case.actions import CONTACT_CHANNELS
from engine.case.person import PersonContact, PersonLedger
from engine.decision.caps import CALL_OUTCOME_TIMEOUT, contact_blocked_until
from engine.policy.contact_window import next_allowed, zone
from engine.policy.guardrails import Rules

__all__ = [
    "ContactRequest",
    "Deferred",
    "Granted",
    "Verdict",
    "earliest_allowed",
    "grant",
    "next_allowed_per_channel",
    "record_cease",
    "record_outcome",
]

#: A contact refused outright (cease, opt-out) has no moment it may go.
NEVER: datetime | None = None


@dataclass(frozen=True)
class ContactRequest:
    """One contact a case decided, asking the person's ledger for room."""

    action_id: str
    case_id: str
    channel: str
    at: datetime
    timezone: str
    legally_required: bool = False


@dataclass(frozen=True)
class Granted:
    """The contact may go out; it is now in the ledger."""

    ledger: PersonLedger


@dataclass(frozen=True)
class Deferred:
    """The contact may not go out now: wait until `until` (None: never), for `guardrail`."""

    ledger: PersonLedger
    until: datetime | None
    guardrail: str


Verdict = Granted | Deferred


def earliest_allowed(
    ledger: PersonLedger, rules: Rules, channel: str, at: datetime, tz: ZoneInfo
) -> tuple[datetime, str] | None:
    """The earliest moment from `at` the window, holidays and every cap judged on the person's
    ledger allow a contact on `channel`, with the rule that held it; None if `at` itself."""
    t, why = at, ""
    for _ in range(16):
        w = next_allowed(t, tz, rules.window_start, rules.window_end, rules.days_off)
        if w != t:
            holiday = t.astimezone(tz).date() in rules.days_off
            t, why = w, why or ("holiday" if holiday else "contact_window")
        blocked = contact_blocked_until(
            rules, ledger.contacts, channel, t, tz, ledger.last_conversation_at
        )
        if blocked is None:
            break
        t, why = blocked[0], blocked[1]
        if t.year >= 9999:
            break
    return None if t == at else (t, why)


def _pruned(contacts: list[PersonContact], now: datetime, keep_days: int) -> list[PersonContact]:
    keep = now - timedelta(days=keep_days)
    if not contacts or contacts[0].at >= keep:
        return list(contacts)
    return [c for c in contacts if c.at >= keep]


def grant(
    ledger: PersonLedger, request: ContactRequest, rules: Rules, policy_hash: str = ""
) -> Verdict:
    """Whether the person's ledger has room for `request` now (at `request.at`).

    Args:
        ledger: the person's ledger as it stands (not changed).
        request: the contact one case decided.
        rules: the effective guardrails of that case's policy.
        policy_hash: the policy the case is pinned to (remembered for `debtor status`).

    Returns:
        `Granted` with the ledger that counts the contact, or `Deferred` with the earliest moment
        it may go (None: never) and the per-person rule that holds it.
    """
    cases = (
        ledger.cases
        if ledger.cases.get(request.case_id) == policy_hash
        else {**ledger.cases, request.case_id: policy_hash}
    )
    keep_days = max(ledger.keep_days, rules.longest_window_days + 1)
    base = ledger.model_copy(
        update={
            "cases": cases,
            "keep_days": keep_days,
            "contacts": _pruned(ledger.contacts, request.at, keep_days),
        }
    )
    if any(c.action_id == request.action_id for c in base.contacts):
        return Granted(base)
    if not request.legally_required:
        if base.ceased:
            return Deferred(base, NEVER, "person.cease_communication")
        if request.channel in base.refused:
            return Deferred(base, NEVER, f"person.no_consent.{request.channel}")
    later = earliest_allowed(base, rules, request.channel, request.at, zone(request.timezone))
    if later is not None:
        return Deferred(base, None if later[0].year >= 9999 else later[0], f"person.{later[1]}")
    entry = PersonContact(
        at=request.at,
        channel=request.channel,
        action_id=request.action_id,
        case_id=request.case_id,
        outcome=None if request.channel == "call" else "delivered",
    )
    return Granted(base.model_copy(update={"contacts": [*base.contacts, entry]}))


def record_outcome(
    ledger: PersonLedger, action_id: str, outcome: str, now: datetime
) -> PersonLedger:
    """A call's outcome reached the person: a conversation starts the cooldown for every case."""
    contacts = [
        c.model_copy(update={"outcome": outcome}) if c.action_id == action_id else c
        for c in ledger.contacts
    ]
    last = now if outcome == "connected" else ledger.last_conversation_at
    return ledger.model_copy(update={"contacts": contacts, "last_conversation_at": last})


def record_cease(ledger: PersonLedger, channel: str | None = None) -> PersonLedger:
    """The person asked to stop communications (None) or refused one channel."""
    if channel is None:
        return ledger.model_copy(update={"ceased": True})
    if channel in ledger.refused:
        return ledger
    return ledger.model_copy(update={"refused": [*ledger.refused, channel]})


def next_allowed_per_channel(
    ledger: PersonLedger, rules: list[Rules], tz: ZoneInfo, now: datetime
) -> dict[str, datetime | None]:
    """For each channel, the next moment a contact may reach the person under every one of the
    rules given (the strictest wins); None if none ever may (a cease or a refused channel: only
    legally required notices go, which `grant` lets through whatever the moment's caps)."""
    out: dict[str, datetime | None] = {}
    for channel in CONTACT_CHANNELS:
        if ledger.ceased or channel in ledger.refused:
            out[channel] = None
            continue
        moment: datetime | None = now
        for r in rules:
            later = earliest_allowed(ledger, r, channel, now, tz)
            if later is None:
                continue
            if later[0].year >= 9999:
                moment = None
                break
            if moment is not None and later[0] > moment:
                moment = later[0]
        out[channel] = moment
    return out


__all__ += ["CALL_OUTCOME_TIMEOUT", "NEVER"]
