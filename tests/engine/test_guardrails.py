"""The guardrails every case runs under: the jurisdiction floor merged with the policy's
tightenings, frequency caps, call rules, consent, cease, third parties, field visits, the
credit-bureau notice and the limitation period."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from engine.case import events as ev
from engine.errors import EventRejected
from engine.policy.compiled import CompiledPolicy
from engine.policy.guardrails import effective_rules, looser_than_floor
from engine.policy.model import Policy
from tests.engine.driver import Run, at, calls, case_file, inline_policy

NY = "America/New_York"
SH = "Asia/Shanghai"


def in_rolling_window(times: list[datetime], days: int) -> int:
    """The most contacts any rolling window of `days` days holds."""
    times = sorted(times)
    return max(
        (
            len([u for u in times[: i + 1] if u > t - timedelta(days=days)])
            for i, t in enumerate(times)
        ),
        default=0,
    )


def answer_calls(run: Run, outcome: str, end: datetime) -> None:
    """Fire timers until `end`, reporting `outcome` five minutes after every call."""
    while run.wake is not None and run.wake <= end:
        d = run.tick()
        for a in d.actions:
            if a.kind == "contact" and a.channel == "call":
                run.event(
                    ev.ContactOutcome(action_id=a.action_id, outcome=outcome),
                    run.now + timedelta(minutes=5),
                )


def calls_per_local_day(run: Run) -> dict[date, int]:
    out: dict[date, int] = {}
    for a in run.contacts():
        if a.channel == "call":
            d = run.local(a.at).date()
            out[d] = out.get(d, 0) + 1
    return out


class TestEffectiveRules:
    """The floor of each jurisdiction, tightened by the policy; looser values are reported."""

    def test_cn_policy(self, cn_policy: CompiledPolicy) -> None:
        r = cn_policy.rules
        assert (r.window_start, r.window_end) == (time(9), time(21))
        assert r.caps == {"sms": (3, 7), "push": (2, 7)}
        assert r.overall == (12, 7)
        assert (r.calls_connected_per_day, r.calls_unanswered_per_day) == (1, 6)
        assert r.call_cooldown_days is None
        assert r.third_party_allowed is False
        assert r.bureau_notice_days == 0

    def test_us_policy(self, us_policy: CompiledPolicy) -> None:
        r = us_policy.rules
        assert (r.window_start, r.window_end) == (time(8), time(21))
        assert r.caps == {"sms": (2, 7), "email": (3, 7), "call": (5, 7)}
        assert r.call_cooldown_days == 7
        assert r.third_party_allowed is True and r.third_party_after_failed == 3
        assert r.bureau_notice_days == 14
        assert r.limitation_days == 3 * 365

    def test_floors_alone(self) -> None:
        us, cn = inline_policy("US").rules, inline_policy("CN").rules
        assert (us.window_start, us.window_end, us.caps["call"]) == (time(8), time(21), (7, 7))
        assert (cn.window_start, cn.window_end) == (time(8), time(22))
        assert (cn.calls_connected_per_day, cn.calls_unanswered_per_day) == (3, 6)
        assert "call" not in cn.caps

    def test_two_jurisdictions_take_the_strictest(self) -> None:
        r = inline_policy(
            "US", jurisdictions=["CN", "US"], guardrails={"third_party_contact": False}
        ).rules
        assert (r.window_start, r.window_end) == (time(8), time(21))
        assert r.caps["call"] == (7, 7) and r.call_cooldown_days == 7
        assert (r.calls_connected_per_day, r.bureau_notice_days) == (3, 14)
        assert r.third_party_allowed is False

    def test_looser_values_are_reported_and_never_used(self) -> None:
        doc = inline_policy("US").policy.model_dump()
        doc["guardrails"] = {
            "window_start": "07:00",
            "window_end": "22:00",
            "call_max_attempts_7d": 9,
            "call_cooldown_days_after_conversation": 3,
            "bureau_notice_days": 5,
        }
        loose = Policy.model_validate(doc)
        problems = dict(looser_than_floor(loose))
        assert set(problems) == {
            ("guardrails", "window_start"),
            ("guardrails", "window_end"),
            ("guardrails", "call_max_attempts_7d"),
            ("guardrails", "call_cooldown_days_after_conversation"),
            ("guardrails", "bureau_notice_days"),
        }
        assert "08:00" in problems[("guardrails", "window_start")]
        r = effective_rules(loose)
        assert (r.window_start, r.window_end, r.caps["call"]) == (time(8), time(21), (7, 7))
        assert (r.call_cooldown_days, r.bureau_notice_days) == (7, 14)

    def test_third_parties_are_never_allowed_in_cn(self) -> None:
        doc = inline_policy("CN").policy.model_dump()
        doc["guardrails"] = {"third_party_contact": True}
        loose = Policy.model_validate(doc)
        assert [p for p, _ in looser_than_floor(loose)] == [("guardrails", "third_party_contact")]
        assert effective_rules(loose).third_party_allowed is False


class TestCaps:
    """Per-channel and overall caps in rolling windows: the contact over the cap waits until the
    window frees, with the cap as its guardrail; it is never dropped."""

    def test_per_channel(self) -> None:
        cp = inline_policy(
            "US",
            stages={
                "reminder": {
                    "contacts": [
                        {
                            "id": "daily",
                            "day": 1,
                            "channel": "sms",
                            "template": "t",
                            "every": 1,
                            "times": 10,
                        }
                    ]
                }
            },
            guardrails={"caps": {"sms": {"max": 2, "per_days": 7}}},
        )
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=NY))
        run.until(at(date(2025, 4, 20), 12, tz=NY))
        sent = [a.at for a in run.contacts()]
        # Every occurrence is sent or, fallen behind a later one, skipped: never a catch-up burst.
        assert len(sent) + len(run.kinds("skipped")) == 10
        assert len(sent) == 5 and len(set(sent)) == 5
        assert in_rolling_window(sent, 7) == 2
        assert set(run.guardrails("deferred")) == {"cap.sms.2_per_7d"}
        assert set(run.guardrails("skipped")) == {"catch_up"}
        # The third waits until the first leaves the window: exactly 7 x 24 hours after it (the
        # window is elapsed time: across the DST change of 9 March that is 11:00, not 10:00).
        assert sent[2] == sent[0].astimezone(UTC) + timedelta(days=7)
        planned = {
            f"reminder.daily+{k}" if k else "reminder.daily": at(
                date(2025, 3, 4) + timedelta(days=k), 10, tz=NY
            )
            for k in range(10)
        }
        assert all(a.at >= planned[a.reason] for a in run.contacts())  # never early

    def test_overall(self) -> None:
        items = [
            {"id": ch, "day": 1, "channel": ch, "template": "t", "every": 1, "times": 5}
            for ch in ("sms", "email", "push")
        ]
        cp = inline_policy(
            "CN",
            stages={"reminder": {"contacts": items}},
            guardrails={"overall": {"max": 4, "per_days": 7}},
        )
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=SH))
        run.until(at(date(2025, 5, 1), 12, tz=SH))
        sent = [a.at for a in run.contacts()]
        assert len(sent) + len(run.kinds("skipped")) == 15
        assert in_rolling_window(sent, 7) == 4
        assert "cap.overall.4_per_7d" in run.guardrails("deferred")

    def test_a_zero_cap_suppresses(self) -> None:
        cp = inline_policy(
            "US",
            stages={
                "reminder": {
                    "contacts": [
                        {"day": 1, "channel": "email", "template": "t"},
                        {"day": 1, "channel": "sms", "template": "t"},
                    ]
                }
            },
            guardrails={"caps": {"email": {"max": 0, "per_days": 7}}},
        )
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=NY))
        run.until(at(date(2025, 3, 10), 12, tz=NY))
        assert [a.channel for a in run.contacts()] == ["sms"]
        assert run.guardrails("suppressed") == ["cap.email.zero"]

    def test_shipped_caps_hold_over_a_whole_case(
        self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy
    ) -> None:
        for cp, tz in ((cn_policy, SH), (us_policy, NY)):
            run = Run.open(cp, case_file(cp, amount="12000.00"), at(date(2025, 2, 20), 12, tz=tz))
            run.until(at(date(2025, 5, 1), 12, tz=tz))
            run.approve_all()
            run.until(at(date(2025, 9, 1), 12, tz=tz))
            for ch, (mx, per) in cp.rules.caps.items():
                assert (
                    in_rolling_window([a.at for a in run.contacts() if a.channel == ch], per) <= mx
                )
            if cp.rules.overall:
                assert (
                    in_rolling_window([a.at for a in run.contacts()], cp.rules.overall[1])
                    <= cp.rules.overall[0]
                )


class TestUsCalls:
    """Regulation F: at most 7 call attempts in 7 days (the policy takes 5), and no call for 7
    days after a conversation with the debtor."""

    def twice_daily(self, **guardrails: object) -> CompiledPolicy:
        items = [
            {
                "id": f"c{h}",
                "day": 1,
                "channel": "call",
                "template": "t",
                "at": f"{h}:00",
                "every": 1,
                "times": 10,
            }
            for h in (10, 15)
        ]
        return inline_policy("US", stages={"reminder": {"contacts": items}}, guardrails=guardrails)

    @pytest.mark.parametrize(("guardrails", "cap"), [({}, 7), ({"call_max_attempts_7d": 5}, 5)])
    def test_attempts_in_seven_days(self, guardrails: dict[str, object], cap: int) -> None:
        cp = self.twice_daily(**guardrails)
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=NY))
        run.until(at(date(2025, 5, 1), 12, tz=NY))
        sent = sorted(a.at for a in run.contacts())
        assert len(sent) + len(run.kinds("skipped")) == 20
        assert in_rolling_window(sent, 7) == cap
        assert f"cap.call.{cap}_per_7d" in run.guardrails("deferred")
        # the first over the cap waits for the first to age out (7 x 24 hours, across DST too)
        assert sent[cap] == sent[0].astimezone(UTC) + timedelta(days=7)

    def test_no_call_for_seven_days_after_a_conversation(self, us_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        run = Run.open(
            us_policy,
            case_file(us_policy, due=due, amount="8000.00"),
            at(due + timedelta(days=10), 12, tz=NY),
        )
        run.until(at(due + timedelta(days=11), 9, 29, tz=NY))
        run.tick()
        (call,) = run.sent("negotiation.agent_call")
        talked = call.at + timedelta(minutes=20)
        run.event(ev.ContactOutcome(action_id=call.action_id, outcome="connected"), talked)
        run.until(at(due + timedelta(days=30), 12, tz=NY))
        later = sorted(a.at for a in run.contacts() if a.channel == "call" and a.at > call.at)
        assert later and later[0] == talked + timedelta(days=7)
        (rec, *_) = run.deferred("negotiation.agent_call+1")
        assert rec.detail["guardrail"] == "call.cooldown_after_conversation"
        assert datetime.fromisoformat(rec.detail["until"]) == talked + timedelta(days=7)
        # Other channels are not calls: the bureau notice and the SMS go out on their days.
        assert run.local(run.sent("negotiation.day_15.email")[0].at).date() == due + timedelta(
            days=15
        )
        assert run.local(run.sent("negotiation.day_16.sms")[0].at).date() == due + timedelta(
            days=16
        )


class TestCnCalls:
    """China: at most 3 connected (policy: 1) and 6 unanswered calls per local day."""

    def test_three_connected_a_day_on_the_floor(self) -> None:
        cp = inline_policy("CN", stages={"reminder": {"contacts": calls(5)}})
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=SH))
        answer_calls(run, "connected", at(date(2025, 3, 8), 12, tz=SH))
        assert calls_per_local_day(run) == {date(2025, 3, 4): 3, date(2025, 3, 5): 2}
        assert "call.connected_per_day" in run.guardrails("deferred")
        day2 = [
            run.local(a.at) for a in run.contacts() if run.local(a.at).date() == date(2025, 3, 5)
        ]
        # Both waited for the morning; they leave an hour apart, not at one instant.
        assert day2 == [
            datetime(2025, 3, 5, 8, 0, tzinfo=ZoneInfo(SH)),
            datetime(2025, 3, 5, 9, 0, tzinfo=ZoneInfo(SH)),
        ]

    def test_policy_one_connected_a_day(self, cn_policy: CompiledPolicy) -> None:
        assert cn_policy.rules.calls_connected_per_day == 1
        cp = inline_policy(
            "CN",
            stages={"reminder": {"contacts": calls(3)}},
            guardrails={"calls_connected_per_day": 1},
        )
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=SH))
        answer_calls(run, "connected", at(date(2025, 3, 10), 12, tz=SH))
        assert calls_per_local_day(run) == {
            date(2025, 3, 4): 1,
            date(2025, 3, 5): 1,
            date(2025, 3, 6): 1,
        }

    def test_a_call_without_outcome_may_have_connected(self) -> None:
        cp = inline_policy(
            "CN",
            stages={"reminder": {"contacts": calls(2)}},
            guardrails={"calls_connected_per_day": 1},
        )
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=SH))
        run.until(at(date(2025, 3, 6), 12, tz=SH))
        assert calls_per_local_day(run) == {date(2025, 3, 4): 1, date(2025, 3, 5): 1}
        assert run.deferred("reminder.c1")[0].detail["guardrail"] == "call.connected_per_day"

    def test_six_unanswered_a_day(self) -> None:
        cp = inline_policy("CN", stages={"reminder": {"contacts": calls(8)}})
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=SH))
        answer_calls(run, "unanswered", at(date(2025, 3, 8), 12, tz=SH))
        assert calls_per_local_day(run) == {date(2025, 3, 4): 6, date(2025, 3, 5): 2}
        assert run.deferred("reminder.c6")[0].detail["guardrail"] == "call.unanswered_per_day"


class TestConsentAndCease:
    """A refused channel is never used; after a cease request only legally required notices go."""

    def test_refused_channel_is_suppressed(self, us_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        run = Run.open(
            us_policy, case_file(us_policy, due=due, consent={"sms": False}), at(due, 12, tz=NY)
        )
        run.until(at(due + timedelta(days=30), 12, tz=NY))
        assert not [a for a in run.contacts() if a.channel == "sms"]
        assert [a for a in run.contacts() if a.channel == "email"]
        assert set(run.guardrails("suppressed")) == {"no_consent.sms"}
        assert len(run.guardrails("suppressed")) == 2  # the day-1 and day-16 SMS

    def test_cease_leaves_only_legally_required_notices(self, us_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        run = Run.open(
            us_policy, case_file(us_policy, due=due, amount="3000.00"), at(due, 12, tz=NY)
        )
        ceased = at(due + timedelta(days=8), 15, tz=NY)
        run.event(ev.Cease(), ceased)
        run.until(at(due + timedelta(days=100), 12, tz=NY))
        after = [a for a in run.contacts() if a.at >= ceased]
        assert [a.template for a in after] == ["validation_notice", "demand_letter"]
        assert all(a.legally_required for a in after)
        assert run.guardrails("suppressed").count("cease_communication") >= 10
        # The case itself goes on: stages still move and steps still run.
        assert ("negotiation", "escalation") in run.stage_moves()


class TestThirdParties:
    """A third party is contacted only where the jurisdiction and the policy allow it, only when
    the debtor named one, and only after three failed attempts to reach the debtor."""

    def run_us(
        self, us_policy: CompiledPolicy, outcomes: list[str], phone: str = "+15550199"
    ) -> Run:
        due = date(2025, 3, 3)
        run = Run.open(
            us_policy,
            case_file(us_policy, due=due, amount="1500.00", third_party_phone=phone),
            at(due + timedelta(days=25), 12, tz=NY),
        )
        for k, outcome in enumerate(outcomes):  # answers to the agent calls of days 25, 27 and 29
            run.until(at(due + timedelta(days=25 + 2 * k), 10, tz=NY))
            (call,) = run.sent(f"negotiation.agent_call+{7 + k}")
            run.event(ev.ContactOutcome(action_id=call.action_id, outcome=outcome), run.now)
        run.until(at(due + timedelta(days=52), 12, tz=NY))
        return run

    def test_after_three_failed_attempts(self, us_policy: CompiledPolicy) -> None:
        run = self.run_us(us_policy, ["unanswered", "failed", "unanswered"])
        (locate,) = run.sent("escalation.locate")
        assert locate.third_party and locate.to == "+15550199"
        assert locate.template == "location_inquiry"

    def test_not_while_the_debtor_answers(self, us_policy: CompiledPolicy) -> None:
        run = self.run_us(us_policy, ["unanswered", "unanswered"])
        assert not run.sent("escalation.locate")
        assert "third_party.debtor_reachable" in run.guardrails("suppressed")

    def test_a_conversation_resets_the_count(self, us_policy: CompiledPolicy) -> None:
        run = self.run_us(us_policy, ["unanswered", "unanswered", "connected"])
        assert not run.sent("escalation.locate")

    def test_not_without_a_contact_person(self, us_policy: CompiledPolicy) -> None:
        run = self.run_us(us_policy, ["unanswered", "unanswered", "unanswered"], phone="")
        assert not run.sent("escalation.locate")
        assert "third_party.no_contact_person" in run.guardrails("suppressed")

    @pytest.mark.parametrize(("jurisdiction", "allow"), [("CN", True), ("US", False)])
    def test_not_where_not_allowed(self, jurisdiction: str, allow: bool) -> None:
        items = [
            *calls(3, day=1, first_hour=9),
            {"id": "tp", "day": 2, "channel": "call", "template": "t", "third_party": True},
        ]
        cp = inline_policy(
            jurisdiction,
            stages={"reminder": {"contacts": items}},
            guardrails={"third_party_contact": allow},
        )
        tz = cp.policy.timezone
        run = Run.open(
            cp, case_file(cp, third_party_phone="+15550199"), at(date(2025, 3, 3), 12, tz=tz)
        )
        answer_calls(run, "unanswered", at(date(2025, 3, 6), 12, tz=tz))
        assert run.state.failed_contacts == 3
        assert not [a for a in run.contacts() if a.third_party]
        assert run.guardrails("suppressed") == ["third_party.not_allowed"]


class TestFieldVisits:
    """A field visit happens only in escalation, only after a human approved it, and always with
    two collectors."""

    def test_waits_for_approval(self, cn_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        run = Run.open(
            cn_policy,
            case_file(cn_policy, due=due, amount="8000.00"),
            at(due + timedelta(days=40), 12, tz=SH),
        )
        run.until(at(due + timedelta(days=45), 10, tz=SH))
        (request,) = [a for a in run.actions if a.kind == "approval_request"]
        assert request.detail == {"approval": "field_visit"} and request.stage == "escalation"
        run.until(at(due + timedelta(days=50), 12, tz=SH))
        assert not [a for a in run.contacts() if a.channel == "field_visit"]
        assert run.state.approvals_pending == ["field_visit"]
        run.approve_all()
        (visit,) = [a for a in run.contacts() if a.channel == "field_visit"]
        assert visit.stage == "escalation" and visit.detail == {"collectors": "2"}
        assert visit.at == run.now
        assert run.state.approvals_granted == []  # spent on this visit

    def test_below_the_threshold_there_is_no_visit(self, cn_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        run = Run.open(
            cn_policy,
            case_file(cn_policy, due=due, amount="3000.00"),
            at(due + timedelta(days=40), 12, tz=SH),
        )
        run.until(at(due + timedelta(days=60), 12, tz=SH))
        assert not [a for a in run.actions if a.kind == "approval_request"]

    def test_an_approval_does_not_outlive_its_stage(self) -> None:
        cp = inline_policy(
            "CN",
            stages={
                "reminder": {
                    "exits": [
                        {
                            "to": "escalation",
                            "skip": True,
                            "when": {"field": "days_past_due", "op": ">=", "value": 1},
                        }
                    ]
                },
                "escalation": {
                    "enter_at_day": 1,
                    "contacts": [
                        {"id": "visit", "day": 1, "channel": "field_visit", "template": "visit"}
                    ],
                    "exits": [
                        {
                            "to": "legal_referral",
                            "when": {"field": "days_past_due", "op": ">=", "value": 2},
                        }
                    ],
                },
                "legal_referral": {"enter_at_day": 2},
            },
        )
        run = Run.open(cp, case_file(cp, due=date(2025, 3, 3)), at(date(2025, 3, 3), 12, tz=SH))
        run.until(at(date(2025, 3, 4), 12, tz=SH))
        assert run.state.approvals_pending == ["field_visit"]
        run.approve_all(
            at(date(2025, 3, 4), 23, tz=SH)
        )  # too late tonight: the visit waits for 08:00
        run.until(at(date(2025, 3, 6), 12, tz=SH))
        assert run.state.stage == "legal_referral" and not run.contacts()
        assert run.state.approvals_granted == []
        assert [r.detail["guardrail"] for r in run.kinds("suppressed")] == ["stage_change"]

    def test_each_repeated_visit_is_approved_on_its_own(self) -> None:
        cp = inline_policy(
            "CN",
            stages={
                "reminder": {
                    "exits": [
                        {
                            "to": "escalation",
                            "skip": True,
                            "when": {"field": "days_past_due", "op": ">=", "value": 1},
                        }
                    ]
                },
                "escalation": {
                    "enter_at_day": 1,
                    "contacts": [
                        {
                            "id": "visit",
                            "day": 2,
                            "channel": "field_visit",
                            "template": "visit",
                            "every": 3,
                            "times": 3,
                        }
                    ],
                },
            },
        )
        run = Run.open(cp, case_file(cp, due=date(2025, 3, 3)), at(date(2025, 3, 3), 12, tz=SH))
        end = at(date(2025, 3, 20), 12, tz=SH)
        while run.wake is not None and run.wake <= end:
            run.tick()
            run.approve_all(run.now)
        requests = [a.action_id for a in run.actions if a.kind == "approval_request"]
        assert (
            len(requests) == len(set(requests)) == 3
        )  # or the outbox would drop two as duplicates
        assert [a.reason for a in run.contacts()] == [
            "escalation.visit",
            "escalation.visit+1",
            "escalation.visit+2",
        ]

    def test_only_in_escalation(self) -> None:
        cp = inline_policy(
            "US",
            stages={
                "reminder": {
                    "contacts": [{"day": 1, "channel": "field_visit", "template": "visit"}]
                }
            },
        )
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=NY))
        run.until(at(date(2025, 3, 10), 12, tz=NY))
        assert not run.contacts() and not run.state.approvals_pending
        assert run.guardrails("suppressed") == ["field_visit.only_in_escalation"]


class TestBureau:
    """A credit-bureau report goes only after the debtor was sent a bureau notice, and in the US
    only 14 days after it; a report is updated when the case closes."""

    def test_cn_reports_after_the_notice(self, cn_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        run = Run.open(
            cn_policy, case_file(cn_policy, due=due, amount="3000.00"), at(due, 12, tz=SH)
        )
        run.until(at(due + timedelta(days=40), 12, tz=SH))
        (notice, *_) = [
            a for a in run.contacts() if cn_policy.policy.templates[a.template or ""].bureau_notice
        ]
        (report,) = [a for a in run.actions if a.kind == "bureau_report"]
        assert notice.at < report.at and report.stage == "escalation"

    def test_late_import_gets_the_notice_on_entry_then_the_report(
        self, cn_policy: CompiledPolicy
    ) -> None:
        # Imported at day 35 straight into escalation: no notice on the way in, so the engine
        # sends the policy's notice (its first, the SMS) on entry; CN reports right after it.
        due = date(2025, 3, 3)
        opened = at(due + timedelta(days=35), 12, tz=SH)
        run = Run.open(cn_policy, case_file(cn_policy, due=due, amount="3000.00"), opened)
        (notice,) = [a for a in run.contacts() if a.template == "bureau_warning"]
        (report,) = [a for a in run.actions if a.kind == "bureau_report"]
        assert (notice.channel, notice.at, report.at) == ("sms", opened, opened)
        assert notice.reason == "escalation.on_enter.bureau_report: bureau notice first"

    def test_us_late_import_reports_fourteen_days_after_the_engines_notice(
        self, us_policy: CompiledPolicy
    ) -> None:
        due = date(2025, 3, 3)
        opened = at(due + timedelta(days=60), 12, tz=NY)
        run = Run.open(us_policy, case_file(us_policy, due=due, amount="1500.00"), opened)
        (notice,) = [a for a in run.contacts() if a.template == "bureau_notice"]
        assert (notice.channel, notice.at) == ("email", opened)
        run.until(opened + timedelta(days=20))
        (report,) = [a for a in run.actions if a.kind == "bureau_report"]
        assert report.at == opened + timedelta(days=14)

    def test_hostile_debtor_escalated_early_is_reported(self, cn_policy: CompiledPolicy) -> None:
        # Hostile on day 10 (before the day-20 notice of negotiation): escalation at once.
        due = date(2025, 3, 3)
        run = Run.open(
            cn_policy,
            case_file(cn_policy, due=due, amount="3000.00"),
            at(due + timedelta(days=10), 12, tz=SH),
        )
        run.event(ev.AttitudeChange(attitude="hostile"), run.now)
        assert run.state.stage == "escalation"
        run.until(at(due + timedelta(days=12), 12, tz=SH))
        assert [a.kind for a in run.actions if a.kind == "bureau_report"] == ["bureau_report"]

    def test_no_notice_possible_means_no_report(self, cn_policy: CompiledPolicy) -> None:
        # No consent to SMS or e-mail: no bureau notice can reach the debtor, so no report ever.
        due = date(2025, 3, 3)
        case = case_file(
            cn_policy, due=due, amount="3000.00", consent={"sms": False, "email": False}
        )
        run = Run.open(cn_policy, case, at(due + timedelta(days=35), 12, tz=SH))
        run.until(at(due + timedelta(days=60), 12, tz=SH))
        assert not [a for a in run.actions if a.kind == "bureau_report"]
        assert [r.reason for r in run.kinds("suppressed") if "bureau" in r.reason] == [
            "escalation.on_enter.bureau_report: no bureau notice can lawfully reach the debtor, so no report"
        ]

    def test_reported_case_updates_the_bureau_on_plan_dispute_and_payment(
        self, cn_policy: CompiledPolicy
    ) -> None:
        due = date(2025, 3, 3)
        run = Run.open(
            cn_policy,
            case_file(cn_policy, due=due, amount="3000.00"),
            at(due + timedelta(days=35), 12, tz=SH),
        )
        assert run.state.bureau_reported
        run.event(ev.Payment(amount=Decimal("100.00"), currency="CNY"), run.now)
        run.event(ev.Dispute(reason="not mine"), run.now)
        run.event(ev.DisputeResolved(outcome="rejected"), run.now)
        today = run.local(run.now).date()
        balance = run.state.balance
        run.event(ev.Plan(instalments=[(balance, today + timedelta(days=5))]), run.now)
        updates = [a for a in run.actions if a.kind == "bureau_update"]
        assert [a.detail["status"] for a in updates] == [
            "partial_payment",
            "disputed",
            "dispute_resolved",
            "plan",
        ]
        assert len({a.action_id for a in updates}) == 4
        assert updates[0].reason == "payment 100.00: balance now 2920.00"

    def test_dispute_upheld_tells_the_bureau_not_owed(self, cn_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        run = Run.open(
            cn_policy,
            case_file(cn_policy, due=due, amount="3000.00"),
            at(due + timedelta(days=35), 12, tz=SH),
        )
        run.event(ev.Dispute(), run.now)
        run.event(ev.DisputeResolved(outcome="upheld"), run.now)
        assert [a.detail["status"] for a in run.actions if a.kind == "bureau_update"] == [
            "disputed",
            "not_owed",
        ]

    def test_us_waits_fourteen_days_after_the_notice(self) -> None:
        cp = inline_policy(
            "US",
            stages={
                "reminder": {
                    "exits": [
                        {
                            "to": "negotiation",
                            "when": {"field": "days_past_due", "op": ">=", "value": 10},
                        }
                    ]
                },
                "negotiation": {
                    "enter_at_day": 10,
                    "contacts": [{"day": 10, "channel": "email", "template": "notice"}],
                    "exits": [
                        {
                            "to": "escalation",
                            "when": {"field": "days_past_due", "op": ">=", "value": 12},
                        }
                    ],
                },
                "escalation": {"enter_at_day": 12, "on_enter": [{"kind": "bureau_report"}]},
            },
        )
        due = date(2025, 3, 3)
        run = Run.open(cp, case_file(cp, due=due), at(due, 12, tz=NY))
        run.until(at(due + timedelta(days=12), 12, tz=NY))
        (notice,) = run.contacts()
        assert run.state.stage == "escalation" and not [
            a for a in run.actions if a.kind == "bureau_report"
        ]
        assert run.guardrails("deferred") == ["bureau.notice_wait"]
        run.until(notice.at + timedelta(days=14) - timedelta(microseconds=1))
        assert not [a for a in run.actions if a.kind == "bureau_report"]
        assert run.wake == notice.at + timedelta(days=14)  # exactly then, no polling
        run.tick()
        (report,) = [a for a in run.actions if a.kind == "bureau_report"]
        assert report.at == notice.at + timedelta(days=14)

    def test_us_policy_reports_long_after_its_notice(self, us_policy: CompiledPolicy) -> None:
        due = date(2025, 3, 3)
        run = Run.open(
            us_policy, case_file(us_policy, due=due, amount="1500.00"), at(due, 12, tz=NY)
        )
        run.until(at(due + timedelta(days=50), 12, tz=NY))
        (notice,) = run.sent("negotiation.day_15.email")
        (report,) = [a for a in run.actions if a.kind == "bureau_report"]
        assert report.at - notice.at >= timedelta(days=14)
        run.event(ev.Payment(amount=run.state.balance, currency="USD"), run.now)
        (update,) = [a for a in run.actions if a.kind == "bureau_update"]
        assert update.detail == {"status": "paid"} and run.state.stage == "resolved"


class TestTimeBarred:
    """Debt past the limitation period is never referred to court: not on opening, not by an
    exit rule, not by an event."""

    def test_opened_time_barred(self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy) -> None:
        for cp, tz in ((cn_policy, SH), (us_policy, NY)):
            run = Run.open(
                cp,
                case_file(cp, due=date(2021, 1, 4), amount="9000.00"),
                at(date(2025, 3, 14), 12, tz=tz),
            )
            assert run.state.stage == "escalation"
            assert "time_barred" in run.guardrails("suppressed")
            run.until(at(date(2025, 6, 1), 12, tz=tz))
            run.approve_all()
            run.until(at(date(2025, 9, 1), 12, tz=tz))
            assert "legal_referral" not in {r.detail.get("to") for r in run.kinds("stage")}
            assert not [a for a in run.actions if a.kind == "legal_referral"]

    def exit_policy(self, **on: object) -> CompiledPolicy:
        return inline_policy(
            "US",
            guardrails={"limitation_days": 60},
            stages={
                "reminder": {
                    "exits": [
                        {
                            "to": "escalation",
                            "skip": True,
                            "when": {"field": "days_past_due", "op": ">=", "value": 5},
                        }
                    ]
                },
                "escalation": {
                    "enter_at_day": 5,
                    "on": on,
                    "exits": [
                        {
                            "to": "legal_referral",
                            "when": {"field": "days_past_due", "op": ">=", "value": 70},
                        }
                    ],
                },
                "legal_referral": {"enter_at_day": 70, "on_enter": [{"kind": "legal_referral"}]},
            },
        )

    def test_exit_rule_is_suppressed(self) -> None:
        cp = self.exit_policy()
        due = date(2025, 3, 3)
        run = Run.open(cp, case_file(cp, due=due), at(due, 12, tz=NY))
        run.until(at(due + timedelta(days=200), 12, tz=NY))
        assert run.state.stage == "escalation"
        assert run.guardrails("suppressed") == ["time_barred"]
        assert "time-barred" in run.kinds("suppressed")[0].reason

    def test_event_goto_is_suppressed(self) -> None:
        cp = self.exit_policy(promise_broken={"goto": "legal_referral"})
        due = date(2025, 1, 3)
        run = Run.open(cp, case_file(cp, due=due), at(due + timedelta(days=62), 12, tz=NY))
        run.event(ev.Promise(amount=Decimal("500.00"), due_date=due + timedelta(days=63)), run.now)
        run.until(at(due + timedelta(days=69), 12, tz=NY))
        assert run.state.broken_promises == 1 and run.state.stage == "escalation"
        assert "time_barred" in run.guardrails("suppressed")


class TestReportOwedAcrossStages:
    """A report waiting for its notice period is not lost when the case moves on."""

    def test_late_import_moving_to_legal_referral_inside_the_wait(
        self, us_policy: CompiledPolicy
    ) -> None:
        # Imported at day 110 into escalation: the engine's notice goes at once, the report must
        # wait 14 days, but legal referral (which orders no report) comes at day 120.
        due = date(2025, 3, 3)
        opened = at(due + timedelta(days=110), 12, tz="America/New_York")
        run = Run.open(us_policy, case_file(us_policy, due=due, amount="6000.00"), opened)
        (notice,) = [a for a in run.contacts() if a.template == "bureau_notice"]
        end = opened + timedelta(days=20)
        while run.wake is not None and run.wake <= end:
            run.tick()
            run.approve_all()
        assert run.state.stage == "legal_referral"
        (report,) = [a for a in run.actions if a.kind == "bureau_report"]
        assert (report.stage, report.at) == ("legal_referral", notice.at + timedelta(days=14))
        assert report.reason == "legal_referral: bureau report ordered in an earlier stage"
        assert not run.state.bureau_report_owed


class TestDaylightSaving:
    """A rule counted in days holds under both readings of "N days" across a DST change: N x 24
    hours and the same local time N calendar days on (they differ by an hour)."""

    NY = ZoneInfo("America/New_York")

    def test_cooldown_after_a_conversation_ends_at_the_later_reading(
        self, us_policy: CompiledPolicy
    ) -> None:
        """Talked 2024-10-28 09:30 EDT; clocks go back on 3 November: 7 x 24 hours end at 13:30
        UTC on 4 November, 09:30 local (EST) is 14:30 UTC. The call waits until 14:30 UTC."""
        from engine.decision.caps import contact_blocked_until

        talked = datetime(2024, 10, 28, 9, 30, tzinfo=self.NY)
        at = datetime(2024, 11, 4, 13, 30, tzinfo=UTC)
        blocked = contact_blocked_until(us_policy.rules, [], "call", at, self.NY, talked)
        assert blocked == (
            datetime(2024, 11, 4, 14, 30, tzinfo=UTC),
            "call.cooldown_after_conversation",
        )
        later = contact_blocked_until(
            us_policy.rules, [], "call", datetime(2024, 11, 4, 14, 30, tzinfo=UTC), self.NY, talked
        )
        assert later is None

    def test_rolling_window_reaches_back_the_longer_reading(self) -> None:
        """3 SMS per 7 days; clocks go back on 3 November 2024. The oldest SMS went 30 October
        09:00 EDT (13:00 UTC). On 6 November 08:30 EST (13:30 UTC) 7 x 24 hours reach back only to
        13:30 UTC, but 7 local days reach back to 30 October 08:30 EDT: the SMS still counts, and
        the window frees at 09:00 EST, the later of both readings."""
        from engine.case.state import ContactLog
        from engine.decision.caps import contact_blocked_until

        cp = inline_policy("CN", guardrails={"caps": {"sms": {"max": 3, "per_days": 7}}})
        sent = [
            datetime(2024, 10, 30, 9, 0, tzinfo=self.NY),
            datetime(2024, 10, 31, 10, 0, tzinfo=self.NY),
            datetime(2024, 11, 1, 10, 0, tzinfo=self.NY),
        ]
        log = [
            ContactLog(at=t, channel="sms", action_id=f"a{i}", outcome="delivered")
            for i, t in enumerate(sent)
        ]
        at = datetime(2024, 11, 6, 8, 30, tzinfo=self.NY)
        assert contact_blocked_until(cp.rules, log, "sms", at, self.NY, None) == (
            datetime(2024, 11, 6, 9, 0, tzinfo=self.NY),
            "cap.sms.3_per_7d",
        )


class TestCallOutcomeOnce:
    """A call's result is recorded once: a repeat cannot count the call twice."""

    def _called(self) -> tuple[Run, str]:
        cp = inline_policy("CN", stages={"reminder": {"contacts": calls(2)}})
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=SH))
        while True:
            d = run.tick()
            call = next((a for a in d.actions if a.channel == "call"), None)
            if call is not None:
                return run, call.action_id

    def test_a_second_outcome_is_refused(self) -> None:
        run, call = self._called()
        run.event(ev.ContactOutcome(action_id=call, outcome="connected"))
        for again in ("unanswered", "connected"):
            with pytest.raises(EventRejected, match="already recorded: connected"):
                run.event(ev.ContactOutcome(action_id=call, outcome=again))
        assert run.state.failed_contacts == 0

    def test_cases_before_conduct_4_take_it_as_they_did(self) -> None:
        run, call = self._called()
        run.state.conduct = 3
        run.event(ev.ContactOutcome(action_id=call, outcome="connected"))
        run.event(ev.ContactOutcome(action_id=call, outcome="unanswered"))
        assert run.state.failed_contacts == 1
