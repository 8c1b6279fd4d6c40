"""One person through the simulation: every case of one debtor, interleaved in time, each contact
granted or deferred by the person's shared ledger, as production does.

Production: a case decides a contact, its `send_contact` activity asks the `debtor-<id>` workflow
for a grant (`engine.decision.person.grant`), and a deferral comes back to the case as a
`ContactDeferred` event. Here the same two calls happen between the core's decisions, in the
order of time across the person's cases (ties: the case listed first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.case import events as ev
from engine.case.actions import Action, Record
from engine.case.person import PersonLedger
from engine.case.state import CaseState
from engine.decision.decide import Decision, advance, open_case
from engine.decision.person import ContactRequest, Deferred, grant, record_cease, record_outcome
from engine.errors import EventRejected
from engine.policy.compiled import CompiledPolicy
from simulator.audit import Auditor
from simulator.behaviour import BehaviourSpec, DebtorModel
from simulator.portfolio import SimCase

__all__ = ["CaseRun", "Settled", "open_run", "settle"]


@dataclass
class CaseRun:
    """One case of the person being simulated."""

    cp: CompiledPolicy
    sc: SimCase
    state: CaseState
    model: DebtorModel
    auditor: Auditor | None
    tz: ZoneInfo
    wake: datetime | None
    contacts: dict[str, int] = field(default_factory=dict)
    cur: str = "not_open"
    violations: int = 0
    done: bool = False


@dataclass
class Settled:
    """A decision after the person's ledger had its say: what went out and what is recorded."""

    decision: Decision  # the last decision of the chain (its state and wake-up are current)
    actions: list[Action]  # what was carried out (deferred contacts removed)
    records: list[Record]  # every record of the chain, less the contacts taken back
    outcomes: dict[str, str]  # call outcomes chosen by the debtor model, by action id


def open_run(cp: CompiledPolicy, sc: SimCase, horizon: datetime, seed: int, spec: BehaviourSpec,
             audit: bool) -> tuple[CaseRun, Decision]:
    """Open a case (raises `EventRejected` if it does not fit its policy)."""
    d = open_case(cp, sc.case, sc.opened)
    model = DebtorModel(cp, d.state, sc.opened, horizon, seed, spec)
    return CaseRun(cp, sc, d.state, model, Auditor(cp, sc.case) if audit else None,
                   ZoneInfo(sc.case.debtor.timezone), d.next_wake_up), d


def settle(run: CaseRun, d: Decision, now: datetime, ledger: PersonLedger,
           on_reject: Callable[[str], None]) -> tuple[Settled, PersonLedger]:
    """Ask the person's ledger for every contact `d` decided, feed each refusal back to the case
    as `ContactDeferred` (which may decide further contacts, asked for in turn), and let the
    debtor model react to what went out."""
    actions: list[Action] = []
    records: list[Record] = list(d.records)
    outcomes: dict[str, str] = {}
    todo = list(d.actions)
    case = run.sc.case
    while todo:
        a = todo.pop(0)
        if a.kind == "contact":
            request = ContactRequest(action_id=a.action_id, case_id=case.case_id, channel=a.channel or "",
                                     at=now, timezone=case.debtor.timezone, legally_required=a.legally_required)
            verdict = grant(ledger, request, run.cp.rules, run.cp.hash)
            ledger = verdict.ledger
            if isinstance(verdict, Deferred):
                try:
                    d = advance(run.cp, run.state, ev.ContactDeferred(
                        action_id=a.action_id, until=verdict.until, guardrail=verdict.guardrail), now)
                except EventRejected as e:  # pragma: no cover - the contact was just decided
                    on_reject(f"{case.case_id}: {e}")
                    continue
                records = [r for r in records if not (r.kind == "contact" and r.action_id == a.action_id)]
                records.extend(d.records)
                todo.extend(d.actions)
                continue
        actions.append(a)
        outcome = run.model.on_action(a, run.state, now)
        if outcome is not None:
            outcomes[a.action_id] = outcome
    run.wake = d.next_wake_up
    return Settled(d, actions, records, outcomes), ledger


def person_event(ledger: PersonLedger, e: ev.Event, now: datetime) -> PersonLedger:
    """What an event a case accepted tells the person's ledger (a call's outcome, a cease)."""
    if isinstance(e, ev.ContactOutcome) and e.outcome in ("connected", "unanswered", "failed"):
        return record_outcome(ledger, e.action_id, e.outcome, now)
    if isinstance(e, ev.Cease):
        return record_cease(ledger)
    return ledger


__all__ += ["person_event"]
