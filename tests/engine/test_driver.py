"""The core's one driver (`engine.decision.driver`): one case's timers and events in time order,
and a debtor's cases interleaved under the shared ledger."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from engine.case import events as ev
from engine.case.actions import Action
from engine.case.person import PersonLedger
from engine.case.state import CaseState
from engine.decision.decide import decide, open_case
from engine.decision.driver import Lane, Refused, Step, drive_person
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import at, case_file

DUE = date(2026, 3, 2)
DAY = timedelta(days=1)


class Listed:
    """Events at fixed moments; remembers what the driver told it."""

    def __init__(self, events: list[tuple[datetime, ev.Event]]) -> None:
        self.events = list(events)
        self.accepted: list[tuple[datetime, str]] = []
        self.sent: list[str] = []

    def next_at(self) -> datetime | None:
        return self.events[0][0] if self.events else None

    def pop(self, state: CaseState) -> tuple[datetime, ev.Event | None]:
        return self.events.pop(0)

    def on_accepted(self, e: ev.Event, state: CaseState, now: datetime) -> None:
        self.accepted.append((now, e.kind))

    def on_action(self, a: Action, state: CaseState, now: datetime) -> str | None:
        self.sent.append(a.action_id)
        return None


def test_lane_fires_the_same_decisions_as_the_core_by_hand(us_policy: CompiledPolicy) -> None:
    case = case_file(us_policy, due=DUE)
    start = at(DUE + 2 * DAY, 1, tz=us_policy.policy.timezone)
    lane, d = Lane.open(us_policy, case, start)
    end = start + 40 * DAY
    got = [(x.next_wake_up, [r.reason for r in x.records]) for x in lane.until(end)]
    want = []
    hand = open_case(us_policy, case, start)
    assert hand.next_wake_up == d.next_wake_up
    while hand.next_wake_up is not None and hand.next_wake_up <= end:
        hand = decide(us_policy, hand.state, None, hand.next_wake_up)
        want.append((hand.next_wake_up, [r.reason for r in hand.records]))
    assert got == want and len(got) > 3
    assert lane.now == end


def test_an_event_at_a_wake_up_goes_after_it_only_when_inclusive(us_policy: CompiledPolicy) -> None:
    start = at(DUE + 2 * DAY, 1, tz=us_policy.policy.timezone)
    lane, _ = Lane.open(us_policy, case_file(us_policy, due=DUE), start)
    wake = lane.wake
    assert wake is not None
    assert list(lane.until(wake, inclusive=False)) == []
    assert lane.wake == wake and lane.now == wake
    assert len(list(lane.until(wake))) == 1
    assert lane.wake is None or lane.wake > wake


def test_decide_keeps_earlier_states_and_advance_does_not(us_policy: CompiledPolicy) -> None:
    start = at(DUE + 2 * DAY, 1, tz=us_policy.policy.timezone)
    for in_place in (False, True):
        lane, _ = Lane.open(us_policy, case_file(us_policy, due=DUE), start, in_place=in_place)
        before = lane.state
        lane.decide(ev.Payment(amount=Decimal("100.00"), currency="USD"), start)
        assert (lane.state is before) is in_place
        assert lane.state.paid_total == Decimal("100.00")


def test_a_person_is_driven_in_time_order_with_events_before_timers(
    us_policy: CompiledPolicy,
) -> None:
    tz = us_policy.policy.timezone
    a = case_file(us_policy, due=DUE, case_id="C-1")
    b = case_file(us_policy, due=DUE, case_id="C-2")
    start = at(DUE + 2 * DAY, 1, tz=tz)
    probe, _ = Lane.open(us_policy, b, start + DAY)
    assert probe.wake is not None
    sources = {
        0: Listed([(start + 3 * DAY, ev.Payment(amount=Decimal("9.99"), currency="CNY"))]),
        1: Listed([(probe.wake, ev.Payment(amount=Decimal("1500.00"), currency="USD"))]),
    }
    steps = list(
        drive_person(
            us_policy,
            [(a, start), (b, start + DAY)],
            start + 30 * DAY,
            lambda k, state: sources[k],
            PersonLedger(debtor_id="D-1"),
        )
    )
    moments = [s.at for s in steps]
    assert moments == sorted(moments)
    assert [(s.case, s.opened) for s in steps if isinstance(s, Step) and s.opened] == [
        (0, True),
        (1, True),
    ]
    refused = [s for s in steps if isinstance(s, Refused)]
    assert [(r.case, r.event.kind if r.event else None) for r in refused] == [(0, "payment")]
    paid = [s for s in steps if isinstance(s, Step) and s.event is not None]
    assert [(s.case, s.at) for s in paid] == [(1, probe.wake)]  # before the timer due then
    assert paid[0].decision.state.closed and sources[1].accepted == [(probe.wake, "payment")]
    assert not any(isinstance(s, Step) and s.case == 1 and s.at > probe.wake for s in steps)
    sent = {x.action_id for s in steps if isinstance(s, Step) for x in s.actions}
    assert sent and set(sources[0].sent) | set(sources[1].sent) == sent
