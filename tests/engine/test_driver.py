"""The core's one driver (`engine.decision.driver`): one case's timers and events in time order,
and a debtor's cases interleaved under the shared ledger."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from engine.case import events as ev
from engine.case.actions import Action
from engine.case.person import PersonLedger
from engine.case.state import CaseFile, CaseState
from engine.decision.decide import decide, open_case
from engine.decision.driver import Lane, Refused, Step, drive_person
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import at, case_file, inline_policy

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
            [us_policy, us_policy],
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


def _sms_policy(name: str, cap: int, hour: int) -> CompiledPolicy:
    """A US policy sending one SMS on day 1 at `hour`, under a cap of `cap` SMS in 7 days."""
    return inline_policy(
        "US",
        name=name,
        stages={
            "reminder": {
                "contacts": [
                    {"id": "s", "day": 1, "channel": "sms", "template": "t", "at": f"{hour}:00"}
                ]
            }
        },
        guardrails={"caps": {"sms": {"max": cap, "per_days": 7}}},
    )


def _sms_steps(cps: list[CompiledPolicy]) -> dict[int, list[str]]:
    """Two cases of one debtor (C-1, C-2) driven over three days: per case, what each of its SMS
    became (`sent`, or the guardrail of its deferral)."""
    tz = cps[0].policy.timezone
    cases = [case_file(cp, due=DUE, case_id=f"C-{k + 1}") for k, cp in enumerate(cps)]
    start = at(DUE, 1, tz=tz)
    out: dict[int, list[str]] = {0: [], 1: []}
    for s in drive_person(
        cps,
        [(c, start) for c in cases],
        start + 3 * DAY,
        lambda k, state: None,
        PersonLedger(debtor_id="D-1"),
    ):
        assert isinstance(s, Step)
        out[s.case] += ["sent" for a in s.actions if a.kind == "contact"]
        out[s.case] += [str(r.detail["guardrail"]) for r in s.records if r.kind == "deferred"]
    return out


def test_each_case_asks_the_persons_ledger_with_its_own_policy() -> None:
    """A person's accounts on two policies: the stricter one's cap counts the other account's
    contact and defers its own; the laxer one's does not, whatever came first."""
    lax = _sms_policy("lax", 5, 10)
    strict = _sms_policy("strict", 1, 11)  # its SMS goes an hour after the lax one's
    assert _sms_steps([lax, strict]) == {0: ["sent"], 1: ["person.cap.sms.1_per_7d"]}
    # The same two cases both under the lax policy: both SMS go.
    lax_late = _sms_policy("lax-late", 5, 11)
    assert _sms_steps([lax, lax_late]) == {0: ["sent"], 1: ["sent"]}
    # The strict account first: its own SMS goes, and the lax account's cap allows its own after.
    strict_early = _sms_policy("strict-early", 1, 10)
    lax_later = _sms_policy("lax-later", 5, 11)
    assert _sms_steps([strict_early, lax_later]) == {0: ["sent"], 1: ["sent"]}


def test_one_policy_per_case(us_policy: CompiledPolicy) -> None:
    case = case_file(us_policy, due=DUE)
    start = at(DUE, 1, tz=us_policy.policy.timezone)
    steps = drive_person(
        [us_policy],
        [(case, start), (case, start)],
        start + DAY,
        lambda k, s: None,
        PersonLedger(debtor_id="D-1"),
    )
    with pytest.raises(ValueError, match="one per case"):
        next(steps)


def _steps_of(
    cp: CompiledPolicy, cases: list[CaseFile], events: dict[int, Listed] | None = None
) -> dict[int, list[str]]:
    """Cases of one debtor driven over three days: per case, what its contacts became (`sent`,
    or the per-person guardrail that deferred or skipped them)."""
    start = at(DUE, 1, tz=cp.policy.timezone)
    out: dict[int, list[str]] = {k: [] for k in range(len(cases))}
    for s in drive_person(
        [cp] * len(cases),
        [(c, start) for c in cases],
        start + 3 * DAY,
        lambda k, state: (events or {}).get(k),
        PersonLedger(debtor_id="D-1"),
    ):
        assert isinstance(s, Step)
        out[s.case] += ["sent" for a in s.actions if a.kind == "contact"]
        out[s.case] += [
            str(r.detail["guardrail"]) for r in s.records if r.kind in ("deferred", "skipped")
        ]
    return out


def test_a_channel_one_case_file_refuses_is_refused_for_the_person() -> None:
    """Account 1's file refuses SMS; account 2's says nothing of it: its SMS is refused for the
    person, as production's ledger does (told before the case starts)."""
    cp = _sms_policy("refusals", 5, 10)
    refusing = case_file(cp, due=DUE, case_id="C-1", consent={"sms": False})
    silent = case_file(cp, due=DUE, case_id="C-2")
    got = _steps_of(cp, [refusing, silent])
    assert got[1] == ["person.no_consent.sms"]
    assert "sent" not in got[0]


def test_an_opt_out_on_one_account_refuses_only_that_channel_for_the_person() -> None:
    """`Cease(channel="sms")` on account 1 before the SMS day: account 2's SMS is refused for
    the person, and nothing else is (a full cease would be `person.cease_communication`)."""
    cp = _sms_policy("opt-out", 5, 10)
    cases = [case_file(cp, due=DUE, case_id=f"C-{k}") for k in (1, 2)]
    start = at(DUE, 1, tz=cp.policy.timezone)
    events = {0: Listed([(start + DAY / 2, ev.Cease(channel="sms"))])}
    got = _steps_of(cp, cases, events)
    assert got == {0: [], 1: ["person.no_consent.sms"]}
