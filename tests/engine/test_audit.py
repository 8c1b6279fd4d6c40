"""The independent auditor catches a synthetic violation of each kind, and lets clean contacts pass.

Decisions are built by hand (not by the core), so each test plants exactly one breach.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from engine.case import events as ev
from engine.case.actions import Action, Record
from engine.case.state import CaseFile, CaseState, Debtor, Hold
from engine.decision.decide import Decision, open_case
from engine.policy.compiled import CompiledPolicy
from simulator.audit import Auditor, limits_of

CN = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
MONDAY = date(2026, 3, 2)


def make_case(
    cp: CompiledPolicy,
    tz: str,
    *,
    third_party_phone: str = "",
    consent: dict[str, bool] | None = None,
) -> CaseFile:
    return CaseFile(
        case_id="A-1",
        debtor=Debtor(
            id="D",
            name="Lee",
            phone="+1555",
            email="l@example.com",
            address="1 Road",
            timezone=tz,
            locale="en-US",
            third_party_phone=third_party_phone,
        ),
        product="credit_line",
        amount_due=Decimal("3000.00"),
        currency=cp.policy.currency,
        due_date=MONDAY,
        policy=cp.policy.name,
        consent=consent or {},
    )


class Harness:
    """An auditor and a state to hang hand-made decisions on."""

    def __init__(self, cp: CompiledPolicy, tz: ZoneInfo, **case_kw: object) -> None:
        self.cp = cp
        self.tz = tz
        self.case = make_case(cp, str(tz), **case_kw)  # type: ignore[arg-type]
        self.state: CaseState = open_case(
            cp, self.case, datetime.combine(MONDAY, time(0), tzinfo=tz)
        ).state
        self.auditor = Auditor(cp, self.case)
        self.n = 0

    def at(self, day: int, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(MONDAY + timedelta(days=day), time(hh, mm), tzinfo=self.tz)

    def contact(
        self,
        when: datetime,
        channel: str = "sms",
        template: str | None = None,
        *,
        third_party: bool = False,
        stage: str = "negotiation",
        event: ev.Event | None = None,
        closed: bool = False,
    ) -> list[str]:
        self.n += 1
        tpl = template or next(iter(self.cp.policy.templates))
        a = Action(
            action_id=f"A-1/x/{self.n}",
            case_id="A-1",
            kind="contact",
            at=when,
            stage=stage,
            reason=f"test.{self.n}",
            channel=channel,
            template=tpl,
            third_party=third_party,
        )
        r = Record(
            at=when,
            kind="contact",
            stage=stage,
            reason=f"test.{self.n}",
            channel=channel,
            action_id=a.action_id,
        )
        return self.decide(when, [a], [r], event, closed)

    def decide(
        self,
        when: datetime,
        actions: list[Action],
        records: list[Record],
        event: ev.Event | None = None,
        closed: bool = False,
    ) -> list[str]:
        state = self.state.model_copy(update={"closed": closed})
        return self.auditor.observe(Decision(state, actions, None, records), when, event)

    def event(self, when: datetime, e: ev.Event) -> list[str]:
        return self.decide(when, [], [], e)

    def last_call_id(self) -> str:
        return f"A-1/x/{self.n}"


@pytest.fixture
def cn(cn_policy: CompiledPolicy) -> Harness:
    return Harness(cn_policy, CN)


@pytest.fixture
def us(us_policy: CompiledPolicy) -> Harness:
    return Harness(us_policy, NY, third_party_phone="+1666")


class TestLimits:
    """The figures come from the jurisdiction floors and the policy, each kept separately."""

    def test_cn(self, cn_policy: CompiledPolicy) -> None:
        lim = limits_of(cn_policy)
        assert (lim.window_start, lim.window_end) == (time(9), time(21))
        assert lim.caps["sms"] == [(3, 7)] and lim.overall == [(12, 7)]
        assert lim.connected_per_day == 1 and lim.unanswered_per_day == 6
        assert not lim.third_party_allowed and lim.calendars == ("CN",)

    def test_us(self, us_policy: CompiledPolicy) -> None:
        lim = limits_of(us_policy)
        assert (lim.window_start, lim.window_end) == (time(8), time(21))
        assert sorted(lim.caps["call"]) == [(5, 7), (7, 7)]
        assert lim.call_cooldown_days == 7 and lim.third_party_allowed


class TestWindow:
    """Contacts only inside the local window, never on a public holiday."""

    def test_clean_contact_passes(self, cn: Harness) -> None:
        assert cn.contact(cn.at(1, 10)) == []

    def test_outside_the_window(self, cn: Harness) -> None:
        [v] = cn.contact(cn.at(1, 21, 30))
        assert "outside 09:00-21:00" in v and v.startswith("A-1/x/1: ")

    def test_window_is_local_time(self, cn: Harness) -> None:
        # 10:00 in New York is 22:00/23:00 in Shanghai.
        assert cn.contact(datetime.combine(MONDAY, time(10), tzinfo=NY)) != []

    def test_holiday(self, cn: Harness) -> None:
        national_day = datetime(2026, 10, 1, 10, tzinfo=CN)
        assert any("public holiday" in v for v in cn.contact(national_day))


class TestCaps:
    """Rolling caps per channel and overall, call attempts, calls per day, the cooldown."""

    def test_channel_cap(self, cn: Harness) -> None:
        assert [cn.contact(cn.at(d, 10)) for d in range(3)] == [[], [], []]
        [v] = cn.contact(cn.at(3, 10))
        assert "4 sms contacts in 7 days (cap 3)" in v
        assert cn.contact(cn.at(10, 10, 1)) == []  # every earlier one has aged out

    def test_overall_cap(self, cn: Harness) -> None:
        for k in range(12):
            assert cn.contact(cn.at(1 + k // 6, 10 + k % 6), "letter") == []
        assert any("overall cap 12" in v for v in cn.contact(cn.at(3, 10), "letter"))

    def test_call_attempts(self, us: Harness) -> None:
        for d in range(5):
            assert us.contact(us.at(d, 10), "call") == []
            us.event(
                us.at(d, 10), ev.ContactOutcome(action_id=us.last_call_id(), outcome="unanswered")
            )
        assert any(
            "6 call contacts in 7 days (cap 5)" in v for v in us.contact(us.at(5, 10), "call")
        )

    def test_cn_connected_per_day(self, cn: Harness) -> None:
        assert cn.contact(cn.at(1, 10), "call") == []
        cn.event(cn.at(1, 10), ev.ContactOutcome(action_id=cn.last_call_id(), outcome="connected"))
        assert any(
            "1 connected calls that day (cap 1)" in v for v in cn.contact(cn.at(1, 15), "call")
        )
        assert cn.contact(cn.at(2, 10), "call") == []

    def test_cn_unanswered_per_day(self, cn: Harness) -> None:
        for k in range(6):
            assert cn.contact(cn.at(1, 10 + k), "call") == []
            cn.event(
                cn.at(1, 10 + k),
                ev.ContactOutcome(action_id=cn.last_call_id(), outcome="unanswered"),
            )
        assert any(
            "6 unanswered calls that day (cap 6)" in v for v in cn.contact(cn.at(1, 17), "call")
        )

    def test_us_cooldown_after_conversation(self, us: Harness) -> None:
        assert us.contact(us.at(1, 10), "call") == []
        us.event(us.at(1, 10), ev.ContactOutcome(action_id=us.last_call_id(), outcome="connected"))
        assert any("within 7 days of a conversation" in v for v in us.contact(us.at(4, 10), "call"))
        # Seven days of elapsed time: across the DST change of 8 March that is 11:00 local, not 10:00.
        assert us.contact(us.at(8, 10), "call") != []
        assert us.contact(us.at(8, 11), "call") == []


class TestRefusedAddresses:
    """An address a channel refused is not contacted again through any channel needing it."""

    def test_refused_phone(self, cn: Harness) -> None:
        assert cn.contact(cn.at(1, 10), "sms") == []
        failed = ev.ContactOutcome(
            action_id=cn.last_call_id(),
            outcome="failed",
            reason="webhook HTTP 400",
            address_unusable=True,
        )
        assert cn.event(cn.at(1, 10, 1), failed) == []
        assert any("phone, which a channel refused" in v for v in cn.contact(cn.at(2, 10), "call"))
        assert cn.contact(cn.at(2, 11), "email") == []

    def test_transient_failure_blames_no_address(self, cn: Harness) -> None:
        assert cn.contact(cn.at(1, 10), "email") == []
        assert (
            cn.event(
                cn.at(1, 10, 1), ev.ContactOutcome(action_id=cn.last_call_id(), outcome="failed")
            )
            == []
        )
        assert cn.contact(cn.at(2, 10), "email") == []


class TestHolds:
    """No contact while a dispute, hardship, pause, promise or plan holds the case."""

    def test_dispute(self, cn: Harness) -> None:
        assert any("dispute hold" in v for v in cn.contact(cn.at(1, 10), event=ev.Dispute()))
        assert cn.contact(cn.at(9, 10), event=ev.DisputeResolved(outcome="rejected")) == []

    def test_hardship(self, cn: Harness) -> None:
        cn.event(cn.at(1, 10), ev.Hardship(days=10))
        assert any("hardship hold" in v for v in cn.contact(cn.at(5, 10)))
        assert cn.contact(cn.at(11, 10)) == []

    def test_promise_until_its_deadline(self, cn: Harness) -> None:
        cn.event(
            cn.at(1, 10), ev.Promise(amount=Decimal("1000.00"), due_date=MONDAY + timedelta(days=5))
        )
        # Broken at midnight after the due date plus one day of grace: day 7, 00:00.
        assert any("promise hold" in v for v in cn.contact(cn.at(6, 20, 59)))
        assert cn.contact(cn.at(7, 10)) == []

    def test_promise_kept(self, cn: Harness) -> None:
        cn.event(
            cn.at(1, 10), ev.Promise(amount=Decimal("1000.00"), due_date=MONDAY + timedelta(days=5))
        )
        cn.event(cn.at(2, 10), ev.Payment(amount=Decimal("400.00"), currency="CNY"))
        assert cn.contact(cn.at(3, 10)) != []
        assert (
            cn.contact(cn.at(4, 10), event=ev.Payment(amount=Decimal("600.00"), currency="CNY"))
            == []
        )

    def test_plan(self, cn: Harness) -> None:
        plan = ev.Plan(
            instalments=[
                (Decimal("1500.00"), MONDAY + timedelta(days=3)),
                (Decimal("1500.00"), MONDAY + timedelta(days=20)),
            ]
        )
        cn.event(cn.at(1, 10), plan)
        assert any("plan hold" in v for v in cn.contact(cn.at(2, 10)))
        # Instalment 1 unpaid: the plan ends at its deadline (day 3 + 1 + 3 days grace).
        assert cn.contact(cn.at(7, 10)) == []

    def test_pause_from_the_state(self, cn: Harness) -> None:
        cn.state.holds.append(
            Hold(kind="pause", since=cn.at(1, 0), until=cn.at(3, 0), reason="events.x")
        )
        assert any("pause hold" in v for v in cn.contact(cn.at(2, 10)))
        cn.state.holds.clear()
        assert cn.contact(cn.at(3, 10)) == []


class TestConduct:
    """Cease, close, consent, third parties, field visits, reasons."""

    def test_cease(self, cn: Harness) -> None:
        cn.event(cn.at(1, 9), ev.Cease())
        assert any(
            "after a cease-communication request" in v
            for v in cn.contact(cn.at(1, 10), "sms", "overdue")
        )
        assert cn.contact(cn.at(2, 10), "letter", "demand_letter") == []  # legally required

    def test_nothing_after_close(self, cn: Harness) -> None:
        assert cn.contact(cn.at(1, 10), closed=True) == []
        [v] = cn.contact(cn.at(2, 10))
        assert "after the case closed" in v

    def test_refused_channel(self, cn_policy: CompiledPolicy) -> None:
        h = Harness(cn_policy, CN, consent={"sms": False})
        assert any("refused this channel" in v for v in h.contact(h.at(1, 10), "sms"))

    def test_third_party_not_allowed_in_cn(self, cn: Harness) -> None:
        assert any("not allowed" in v for v in cn.contact(cn.at(1, 10), "call", third_party=True))

    def test_third_party_needs_failed_attempts(self, us: Harness) -> None:
        assert any(
            "only 0 failed attempts" in v
            for v in us.contact(us.at(1, 10), "call", third_party=True)
        )
        for k in range(3):
            us.contact(us.at(2 + k, 10), "letter")
            us.event(
                us.at(2 + k, 10),
                ev.ContactOutcome(action_id=us.last_call_id(), outcome="unanswered"),
            )
        assert us.contact(us.at(6, 10), "call", third_party=True) == []

    def test_field_visit_needs_approval_and_escalation(self, cn: Harness) -> None:
        found = cn.contact(cn.at(1, 10), "field_visit", "visit_notice", stage="negotiation")
        assert any("without an approval" in v for v in found) and any(
            "field visit in negotiation" in v for v in found
        )
        cn.event(cn.at(2, 9), ev.Approve(action="field_visit"))
        assert cn.contact(cn.at(2, 10), "field_visit", "visit_notice", stage="escalation") == []

    def test_record_without_reason(self, cn: Harness) -> None:
        r = Record(at=cn.at(1, 10), kind="stage", stage="negotiation", reason=" ")
        [v] = cn.decide(cn.at(1, 10), [], [r])
        assert "without a reason" in v
        assert cn.auditor.violations == [v]
