"""The person as the unit of contact: the shared ledger's `grant`, one call at a time, no catch-up
bursts, and two cases of one debtor on the shipped policies (the findings of issue 9)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from engine.case import events as ev
from engine.case.person import PersonLedger
from engine.decision.caps import CALL_OUTCOME_TIMEOUT
from engine.decision.person import (
    ContactRequest,
    Deferred,
    Granted,
    grant,
    next_allowed_per_channel,
    record_cease,
    record_outcome,
)
from engine.policy.compiled import CompiledPolicy
from simulator.behaviour import BehaviourSpec
from simulator.portfolio import SimCase
from simulator.run import run_person
from simulator.tally import Tally
from tests.engine.driver import Run, at, calls, case_file, inline_policy
from tests.engine.test_guardrails import in_rolling_window

SH = "Asia/Shanghai"
NY = "America/New_York"
DAY = timedelta(days=1)


def ask(
    ledger: PersonLedger,
    cp: CompiledPolicy,
    case_id: str,
    channel: str,
    when: datetime,
    action: str | None = None,
    required: bool = False,
) -> Granted | Deferred:
    return grant(
        ledger,
        ContactRequest(
            action_id=action or f"{case_id}/{channel}/{when.isoformat()}",
            case_id=case_id,
            channel=channel,
            at=when,
            timezone=cp.policy.timezone,
            legally_required=required,
        ),
        cp.rules,
        cp.hash,
    )


class TestGrant:
    """`grant` applies the per-case guardrail code to the person's whole ledger."""

    def test_two_cases_at_one_instant_one_goes_one_waits(self, cn_policy: CompiledPolicy) -> None:
        ledger = PersonLedger(debtor_id="D-1")
        t = at(date(2025, 3, 4), 10, tz=SH)
        first = ask(ledger, cn_policy, "C-1", "sms", t)
        assert isinstance(first, Granted)
        second = ask(first.ledger, cn_policy, "C-2", "sms", t)
        assert isinstance(second, Deferred)
        assert (
            second.guardrail == "person.spacing.sms"
            and second.until is not None
            and second.until > t
        )
        assert second.ledger.cases == {"C-1": cn_policy.hash, "C-2": cn_policy.hash}
        assert len(second.ledger.contacts) == 1

    def test_idempotent_on_the_action_id(self, cn_policy: CompiledPolicy) -> None:
        t = at(date(2025, 3, 4), 10, tz=SH)
        once = ask(
            PersonLedger(debtor_id="D-1"), cn_policy, "C-1", "sms", t, action="C-1/0.reminder/a"
        )
        again = ask(
            once.ledger,
            cn_policy,
            "C-1",
            "sms",
            t + timedelta(minutes=5),
            action="C-1/0.reminder/a",
        )
        assert isinstance(again, Granted) and len(again.ledger.contacts) == 1

    def test_the_sms_cap_counts_every_case(self, cn_policy: CompiledPolicy) -> None:
        ledger = PersonLedger(debtor_id="D-1")
        for k in range(3):
            v = ask(ledger, cn_policy, f"C-{k % 2 + 1}", "sms", at(date(2025, 3, 4 + k), 10, tz=SH))
            assert isinstance(v, Granted)
            ledger = v.ledger
        fourth = ask(ledger, cn_policy, "C-2", "sms", at(date(2025, 3, 8), 10, tz=SH))
        assert isinstance(fourth, Deferred) and fourth.guardrail == "person.cap.sms.3_per_7d"
        assert fourth.until == at(date(2025, 3, 11), 10, tz=SH)

    def test_one_call_at_a_time(self) -> None:
        cn_policy = inline_policy("CN")  # the floor: 3 connected calls a day
        t = at(date(2025, 3, 4), 10, tz=SH)
        call = ask(PersonLedger(debtor_id="D-1"), cn_policy, "C-1", "call", t, action="c1")
        later = t + timedelta(hours=1, minutes=30)
        waiting = ask(call.ledger, cn_policy, "C-2", "call", later)
        assert isinstance(waiting, Deferred) and waiting.guardrail == "person.call_in_progress"
        assert waiting.until == t + CALL_OUTCOME_TIMEOUT
        # The outcome came back: the next call may go (the daily limit permitting).
        answered = record_outcome(call.ledger, "c1", "unanswered", t + timedelta(minutes=10))
        assert isinstance(ask(answered, cn_policy, "C-2", "call", later), Granted)

    def test_one_connected_call_a_day_per_person(self, cn_policy: CompiledPolicy) -> None:
        t = at(date(2025, 3, 4), 10, tz=SH)
        call = ask(PersonLedger(debtor_id="D-1"), cn_policy, "C-1", "call", t, action="c1")
        talked = record_outcome(call.ledger, "c1", "connected", t + timedelta(minutes=5))
        other = ask(talked, cn_policy, "C-2", "call", t + timedelta(hours=3))
        assert isinstance(other, Deferred) and other.guardrail == "person.call.connected_per_day"
        assert other.until is not None and other.until.astimezone(ZoneInfo(SH)).date() == date(
            2025, 3, 5
        )

    def test_us_seven_days_after_a_conversation_on_any_case(
        self, us_policy: CompiledPolicy
    ) -> None:
        t = at(date(2025, 3, 4), 10, tz=NY)
        call = ask(PersonLedger(debtor_id="D-1"), us_policy, "C-1", "call", t, action="c1")
        talked = record_outcome(call.ledger, "c1", "connected", t + timedelta(minutes=5))
        other = ask(talked, us_policy, "C-2", "call", t + 3 * DAY)
        assert (
            isinstance(other, Deferred)
            and other.guardrail == "person.call.cooldown_after_conversation"
        )
        assert other.until == (t + timedelta(minutes=5)).astimezone(UTC) + 7 * DAY

    def test_cease_of_the_person_stops_all_but_required_notices(
        self, cn_policy: CompiledPolicy
    ) -> None:
        ledger = record_cease(PersonLedger(debtor_id="D-1"))
        t = at(date(2025, 3, 4), 10, tz=SH)
        refused = ask(ledger, cn_policy, "C-2", "sms", t)
        assert isinstance(refused, Deferred) and refused.until is None
        assert refused.guardrail == "person.cease_communication"
        assert isinstance(ask(ledger, cn_policy, "C-2", "letter", t, required=True), Granted)

    def test_next_allowed_per_channel(self, cn_policy: CompiledPolicy) -> None:
        t = at(date(2025, 3, 4), 10, tz=SH)
        call = ask(PersonLedger(debtor_id="D-1"), cn_policy, "C-1", "call", t, action="c1")
        nxt = next_allowed_per_channel(
            call.ledger, [cn_policy.rules], ZoneInfo(SH), t + timedelta(minutes=1)
        )
        assert nxt["sms"] == t + timedelta(minutes=1)
        assert nxt["call"] is not None and nxt["call"].astimezone(ZoneInfo(SH)).date() == date(
            2025, 3, 5
        )

    def test_refused_channel_and_cease_are_never_allowed(self, cn_policy: CompiledPolicy) -> None:
        t = at(date(2025, 3, 4), 10, tz=SH)
        refused = record_cease(PersonLedger(debtor_id="D-1"), "sms")
        assert record_cease(refused, "sms") == refused
        nxt = next_allowed_per_channel(refused, [cn_policy.rules], ZoneInfo(SH), t)
        assert nxt["sms"] is None and nxt["email"] == t
        denied = ask(refused, cn_policy, "C-2", "sms", t)
        assert isinstance(denied, Deferred) and denied.guardrail == "person.no_consent.sms"
        assert isinstance(ask(refused, cn_policy, "C-2", "sms", t, required=True), Granted)
        ceased = record_cease(refused)
        nxt = next_allowed_per_channel(ceased, [cn_policy.rules], ZoneInfo(SH), t)
        assert set(nxt.values()) == {None}


class TestNoBurst:
    """The core alone (per case): deferred occurrences never go out together."""

    def test_a_repeating_call_that_fell_behind_sends_only_its_latest(
        self, us_policy: CompiledPolicy
    ) -> None:
        # Case S-1 of the issue: a conversation holds the daily calls for 7 days; when it ends,
        # agent_call+4, +5, +6 were all due. Only the latest goes; the others are skipped.
        due = date(2025, 3, 3)
        run = Run.open(
            us_policy,
            case_file(us_policy, due=due, amount="8000.00"),
            at(due + 10 * DAY, 12, tz=NY),
        )
        run.until(at(due + 11 * DAY, 9, 29, tz=NY))
        run.tick()
        (call,) = run.sent("negotiation.agent_call")
        run.event(
            ev.ContactOutcome(action_id=call.action_id, outcome="connected"),
            call.at + timedelta(minutes=5),
        )
        run.until(at(due + 40 * DAY, 12, tz=NY))
        moments = [a.at for a in run.contacts() if a.channel == "call"]
        assert len(moments) == len(set(moments))
        skipped = [
            r.reason for r in run.kinds("skipped") if r.reason.startswith("negotiation.agent_call")
        ]
        assert skipped  # the occurrences that fell behind the cooldown
        after = [a for a in run.contacts() if a.channel == "call" and a.at > call.at]
        assert after[0].at >= (call.at + timedelta(minutes=5)).astimezone(UTC) + 7 * DAY

    def test_calls_due_together_wait_for_each_outcome(self) -> None:
        # Case S-21: several calls due at one instant. One goes; the next waits for its outcome.
        cp = inline_policy(
            "CN", stages={"reminder": {"contacts": calls(4, first_hour=10, at="10:00")}}
        )
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=SH))
        run.until(at(date(2025, 3, 4), 10, tz=SH))
        assert len(run.contacts()) == 1
        assert "call_in_progress" in run.guardrails("deferred")
        first = run.contacts()[0]
        run.event(
            ev.ContactOutcome(action_id=first.action_id, outcome="unanswered"),
            first.at + timedelta(minutes=3),
        )
        # the outcome is in: the next call goes an hour after the first (spacing), not before
        run.until(at(date(2025, 3, 4), 20, tz=SH))
        moments = sorted(a.at for a in run.contacts())
        assert moments[1] == first.at.astimezone(UTC) + timedelta(hours=1)
        assert all(b - a >= timedelta(hours=1) for a, b in pairwise(moments))

    def test_without_an_outcome_the_next_call_waits_for_the_timeout(self) -> None:
        cp = inline_policy(
            "CN", stages={"reminder": {"contacts": calls(2, first_hour=10, at="10:00")}}
        )
        run = Run.open(cp, case_file(cp), at(date(2025, 3, 3), 12, tz=SH))
        run.until(at(date(2025, 3, 4), 20, tz=SH))
        first, second = run.contacts()
        assert second.at == first.at.astimezone(UTC) + CALL_OUTCOME_TIMEOUT


def two_accounts(cp: CompiledPolicy, tz: str, due: date) -> list[SimCase]:
    a = case_file(cp, case_id="C-1", due=due, product="credit_line", amount="3000.00", tz=tz)
    b = case_file(
        cp,
        case_id="C-2",
        due=due + timedelta(days=1),
        product="instalment_loan",
        amount="9000.00",
        tz=tz,
    )
    start = at(due, 0, tz=tz)
    return [SimCase(a, start), SimCase(b, start)]


class TestTwoAccounts:
    """Two cases of one debtor on `consumer-credit-line` (CN, 1 connected call a day, 3 SMS in 7
    days): the limits hold for the person, not per account."""

    @pytest.mark.parametrize("answer", [0.0, 1.0])
    def test_limits_hold_for_the_person(self, cn_policy: CompiledPolicy, answer: float) -> None:
        from io import StringIO

        from simulator.trace import TraceWriter

        due = date(2026, 3, 2)
        spec = BehaviourSpec(
            answer={k: answer for k in ("cooperative", "neutral", "evasive", "hostile")},
            respond={},
            self_cure=0,
            dispute=0,
            hardship=0,
            cease=0,
            close=0,
        )
        tally = Tally(days=90)
        out = StringIO()
        start = datetime(2026, 2, 27, tzinfo=UTC)
        run_person(
            cn_policy,
            two_accounts(cn_policy, SH, due),
            start,
            start + 90 * DAY,
            7,
            spec,
            tally,
            trace=TraceWriter(out, None),
        )
        import json

        lines = [json.loads(x) for x in out.getvalue().splitlines()]
        contacts = [x for x in lines if x["kind"] == "contact"]
        assert {x["case_id"] for x in contacts} == {"C-1", "C-2"}
        assert tally.violations == 0, tally.violation_samples
        sms = [datetime.fromisoformat(x["at"]) for x in contacts if x["channel"] == "sms"]
        assert in_rolling_window(sms, 7) <= 3
        connected: dict[str, int] = {}
        for x in contacts:
            if x["channel"] == "call" and x["outcome"] == "connected":
                connected[x["local_at"][:10]] = connected.get(x["local_at"][:10], 0) + 1
        assert all(n <= 1 for n in connected.values())
        moments = [(x["channel"], x["at"]) for x in contacts]
        assert len(moments) == len(set(moments))
        reasons = {x.get("guardrail") for x in lines if x["kind"] == "deferred"}
        assert any(r and r.startswith("person.") for r in reasons)
