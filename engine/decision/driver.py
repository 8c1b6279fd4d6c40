"""The one driver that runs the core through time.

A case lives on the moments the core asks for (`next_wake_up`) and the events that reach it in
between. Production has Temporal for that; the simulator, the benchmark and the tests drive the
core themselves, and all of them do it here, so they cannot drift apart: `Lane` is one case
(open, fire the wake-up, take an event, run the timers up to a moment); `drive_person` runs every
case of one debtor interleaved in time, each case under its own policy and each contact granted
or deferred by the person's shared ledger with the rules of the asking case's policy
(`engine.decision.person.grant`, a refusal fed back to the case as `ContactDeferred`), as the
`send_contact` activity and the `debtor-<id>` workflow do in production: a person's accounts may
be on different policies, and the strictest rule among them governs each contact.

Pure: no I/O, no clock. Time is whatever moments the caller and the core name; events come from
an `Events` source (the simulator's debtor model, a test's list).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from engine.case import events as ev
from engine.case.actions import Action, Record
from engine.case.person import PersonLedger
from engine.case.state import CaseFile, CaseState
from engine.decision.decide import Decision, advance, decide, open_case
from engine.decision.migrate import migrate
from engine.decision.person import ContactRequest, Deferred, grant, record_cease, record_outcome
from engine.errors import EventRejected
from engine.policy.compiled import CompiledPolicy

__all__ = ["Events", "Lane", "Refused", "Step", "drive_person", "person_event", "settle"]

#: Decisions one case may take before the driver calls it a runaway (a bug, not a long run).
MAX_DECISIONS = 100_000


class Events(Protocol):
    """Where a case's events come from, in time order, and who hears what the case did."""

    def next_at(self) -> datetime | None:
        """When the next event is due (None: no more)."""

    def pop(self, state: CaseState) -> tuple[datetime, ev.Event | None]:
        """The next event, made for the case as it stands (None: it no longer fits)."""

    def on_accepted(self, e: ev.Event, state: CaseState, now: datetime) -> None:
        """The case took `e` at `now`."""

    def on_action(self, a: Action, state: CaseState, now: datetime) -> str | None:
        """`a` went out at `now`; returns a call's outcome to report, if any."""


@dataclass
class Lane:
    """One case in time: the core's state, the wake-up it asked for and the clock.

    `in_place` decides with `advance` (the state object is changed: the simulator's fast path);
    otherwise with `decide`, which leaves every earlier state as it was (tests and the benchmark
    keep them).
    """

    cp: CompiledPolicy
    state: CaseState
    wake: datetime | None
    now: datetime
    in_place: bool = False
    events: Events | None = None
    done: bool = False

    @classmethod
    def open(
        cls, cp: CompiledPolicy, case: CaseFile, now: datetime, *, in_place: bool = False
    ) -> tuple[Lane, Decision]:
        """Open `case` at `now` (raises `EventRejected` if it does not fit its policy)."""
        d = open_case(cp, case, now)
        return cls(cp, d.state, d.next_wake_up, now, in_place), d

    def decide(self, event: ev.Event | None, now: datetime) -> Decision:
        """The core at `now`: `event`, or (None) the passing of time. On `EventRejected` the lane
        is unchanged."""
        d = (advance if self.in_place else decide)(self.cp, self.state, event, now)
        self.state, self.wake, self.now = d.state, d.next_wake_up, now
        return d

    def migrate(self, to: CompiledPolicy, e: ev.MigratePolicy, now: datetime) -> Decision:
        """Move the case onto `to` (`engine.decision.migrate`); every later decision is under it.
        On `EventRejected` the lane is unchanged."""
        d = migrate(to, self.state, e, now)
        self.cp, self.state, self.wake, self.now = to, d.state, d.next_wake_up, now
        return d

    def tick(self) -> Decision:
        """Fire the timer at the wake-up."""
        if self.wake is None:
            raise ValueError("no wake-up to fire")
        return self.decide(None, self.wake)

    def until(
        self, end: datetime | None, *, inclusive: bool = True, max_steps: int = MAX_DECISIONS
    ) -> Iterator[Decision]:
        """Fire every timer up to `end` (before it, unless `inclusive`; all of them when None),
        then land the clock on `end`."""
        for _ in range(max_steps):
            w = self.wake
            if w is None or (end is not None and (w > end or (w == end and not inclusive))):
                break
            yield self.tick()
        else:
            raise RuntimeError(
                f"case {self.state.case.case_id} did not settle in {max_steps} decisions"
            )
        if end is not None:
            self.now = max(self.now, end)

    def next_moment(self) -> datetime | None:
        """Whichever comes first: the next event or the wake-up (an event on a tie)."""
        nxt = self.events.next_at() if self.events is not None else None
        return nxt if nxt is not None and (self.wake is None or nxt <= self.wake) else self.wake


@dataclass
class Step:
    """One decision of one of the person's cases, after the ledger had its say."""

    case: int  # index in the openings given to `drive_person`
    at: datetime
    event: ev.Event | None  # None: a timer (or the opening, see `opened`)
    decision: Decision  # the last decision of the chain (its state and wake-up are current)
    actions: list[Action]  # what went out (deferred contacts removed)
    records: list[Record]  # every record of the chain, less the contacts taken back
    outcomes: dict[str, str]  # call outcomes the events source reported, by action id
    opened: bool = False
    refusals: list[str] = field(default_factory=list)  # deferrals the case refused (a bug)


@dataclass(frozen=True)
class Refused:
    """A case that did not open (`event` None) or an event it refused; nothing was decided."""

    case: int
    at: datetime
    event: ev.Event | None
    error: EventRejected


def person_event(ledger: PersonLedger, e: ev.Event, now: datetime) -> PersonLedger:
    """What an event a case accepted tells the person's ledger (a call's outcome, a cease, an
    opt-out of one channel)."""
    if isinstance(e, ev.ContactOutcome) and e.outcome in ("connected", "unanswered", "failed"):
        return record_outcome(ledger, e.action_id, e.outcome, now)
    if isinstance(e, ev.Cease):
        return record_cease(ledger, e.channel)
    return ledger


def person_refusals(ledger: PersonLedger, case: CaseFile) -> PersonLedger:
    """The channels a case file refuses are refused for the person, on every account (what
    `workflows.client.Cases.open` tells the person's ledger before the case starts)."""
    for channel, given in sorted(case.consent.items()):
        if given is False:
            ledger = record_cease(ledger, channel)
    return ledger


def settle(
    lane: Lane,
    case: int,
    d: Decision,
    now: datetime,
    event: ev.Event | None,
    ledger: PersonLedger,
    opened: bool = False,
) -> tuple[Step, PersonLedger]:
    """Ask the person's ledger for every contact `d` decided, feed each refusal back to the case
    as `ContactDeferred` (which may decide further contacts, asked for in turn), and tell the
    events source what went out."""
    actions: list[Action] = []
    records: list[Record] = list(d.records)
    outcomes: dict[str, str] = {}
    refusals: list[str] = []
    todo = list(d.actions)
    cf = lane.state.case
    while todo:
        a = todo.pop(0)
        if a.kind == "contact":
            request = ContactRequest(
                action_id=a.action_id,
                case_id=cf.case_id,
                channel=a.channel or "",
                at=now,
                timezone=cf.debtor.timezone,
                legally_required=a.legally_required,
            )
            verdict = grant(ledger, request, lane.cp.rules, lane.cp.hash)
            ledger = verdict.ledger
            if isinstance(verdict, Deferred):
                try:
                    d = lane.decide(
                        ev.ContactDeferred(
                            action_id=a.action_id, until=verdict.until, guardrail=verdict.guardrail
                        ),
                        now,
                    )
                except EventRejected as e:  # pragma: no cover - the contact was just decided
                    refusals.append(f"{cf.case_id}: {e}")
                    continue
                records = [
                    r for r in records if not (r.kind == "contact" and r.action_id == a.action_id)
                ]
                records.extend(d.records)
                todo.extend(d.actions)
                continue
        actions.append(a)
        if lane.events is not None:
            outcome = lane.events.on_action(a, lane.state, now)
            if outcome is not None:
                outcomes[a.action_id] = outcome
    lane.wake = d.next_wake_up
    return Step(case, now, event, d, actions, records, outcomes, opened, refusals), ledger


def _pick(
    openings: Sequence[tuple[CaseFile, datetime]],
    lanes: list[Lane | None],
    unopened: set[int],
    horizon: datetime,
) -> tuple[int, datetime] | None:
    """The case whose next moment (opening, next event, wake-up) comes first, before the
    horizon; ties go to the case listed first."""
    best: tuple[int, datetime] | None = None
    for k, lane in enumerate(lanes):
        if lane is None:
            if k not in unopened:
                continue
            t: datetime | None = openings[k][1]
        elif lane.done:
            continue
        else:
            t = lane.next_moment()
        if t is None or t >= horizon:
            continue
        if best is None or t < best[1]:
            best = (k, t)
    return best


def drive_person(
    cps: Sequence[CompiledPolicy],
    openings: Sequence[tuple[CaseFile, datetime]],
    horizon: datetime,
    events_for: Callable[[int, CaseState], Events | None],
    ledger: PersonLedger,
    max_decisions: int = MAX_DECISIONS,
    start: Callable[[int, datetime], tuple[Lane, Decision]] | None = None,
) -> Iterator[Step | Refused]:
    """Every case of one person (opened at its moment), interleaved in time up to `horizon`,
    sharing one contact ledger; yields each decision (or refusal) in time order.

    `cps[k]` is the policy case `k` runs under (one per opening; they may differ: a person's
    accounts on several policies, each contact asked of the ledger with its own case's rules).
    `events_for(k, state)` gives the events source of case `k` once it is open. `start(k, at)`,
    if given, replaces opening the case file: it returns the case's lane (in place) and its
    first decision, e.g. a live state taken forward from its last decision. A case is done once
    closed. States are changed in place.
    """
    if len(cps) != len(openings):
        raise ValueError(f"{len(cps)} policies for {len(openings)} cases: one per case")
    lanes: list[Lane | None] = [None] * len(openings)
    unopened = set(range(len(openings)))
    for _ in range(max_decisions * len(openings)):
        picked = _pick(openings, lanes, unopened, horizon)
        if picked is None:
            return
        k, moment = picked
        lane = lanes[k]
        event: ev.Event | None = None
        opened = lane is None
        if lane is None:
            unopened.discard(k)
            try:
                lane, d = (
                    start(k, moment)
                    if start is not None
                    else Lane.open(cps[k], openings[k][0], moment, in_place=True)
                )
            except EventRejected as e:
                yield Refused(k, moment, None, e)
                continue
            lane.events = events_for(k, lane.state)
            lanes[k] = lane
            ledger = person_refusals(ledger, lane.state.case)
        else:
            src = lane.events
            nxt = src.next_at() if src is not None else None
            if (
                src is not None
                and nxt is not None
                and nxt == moment
                and (lane.wake is None or nxt <= lane.wake)
            ):
                at, event = src.pop(lane.state)
                if event is None:
                    continue
                try:
                    d = lane.decide(event, at)
                except EventRejected as e:
                    yield Refused(k, at, event, e)
                    continue
                src.on_accepted(event, lane.state, at)
                ledger = person_event(ledger, event, moment)
            else:
                d = lane.decide(None, moment)
        step, ledger = settle(lane, k, d, moment, event, ledger, opened)
        if lane.state.closed:
            lane.done = True
        yield step
    raise RuntimeError(
        f"debtor {ledger.debtor_id} did not settle in {max_decisions} decisions a case"
    )
