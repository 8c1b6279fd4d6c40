"""A contact that failed to leave is an outcome the core records: the case counts it, stops
using an address the channel called unusable (suppressing with `address_unusable.<field>`) and
goes on under its policy through the other channels."""

from __future__ import annotations

from datetime import date

from engine.case import events as ev
from engine.decision.decide import decide
from engine.decision.status import case_status
from tests.engine.driver import Run, at, case_file, inline_policy

DUE = date(2025, 3, 3)

#: sms and e-mail on day 1, sms again on day 2, a letter on day 3.
PLAN = {
    "reminder": {
        "contacts": [
            {"id": "sms1", "day": 1, "channel": "sms", "template": "t"},
            {"id": "mail1", "day": 1, "channel": "email", "template": "t", "at": "11:00"},
            {"id": "sms2", "day": 2, "channel": "sms", "template": "t"},
            {"id": "mail2", "day": 2, "channel": "email", "template": "t", "at": "11:00"},
            {"id": "letter", "day": 3, "channel": "letter", "template": "t"},
        ]
    }
}


def _run() -> Run:
    cp = inline_policy(stages=PLAN)
    return Run.open(cp, case_file(cp, due=DUE), at(DUE, 2, tz=cp.policy.timezone))


def _first(run: Run, key: str) -> str:
    (action,) = [a for a in run.contacts() if a.reason == f"reminder.{key}"]
    return action.action_id


class TestFailedDelivery:
    """A permanent failure marks the address; a transient one only counts."""

    def test_unusable_address_is_suppressed_and_the_case_goes_on(self) -> None:
        run = _run()
        tz = run.cp.policy.timezone
        run.until(at(DUE.replace(day=4), 10, tz=tz))
        sms1 = _first(run, "sms1")
        d = run.event(
            ev.ContactOutcome(
                action_id=sms1, outcome="failed", reason="webhook HTTP 400", address_unusable=True
            )
        )
        (rec,) = d.records
        assert (rec.kind, rec.reason, rec.outcome, rec.channel) == (
            "outcome",
            "contact failed: webhook HTTP 400",
            "failed",
            "sms",
        )
        assert rec.detail == {"address_unusable": "phone"}
        assert run.state.unusable == ["phone"] and run.state.failed_contacts == 1
        run.until(at(DUE.replace(day=7), 12, tz=tz))
        assert [a.reason for a in run.contacts()] == [
            "reminder.sms1",
            "reminder.mail1",
            "reminder.mail2",
            "reminder.letter",
        ]
        suppressed = [(r.reason, r.detail["guardrail"]) for r in run.kinds("suppressed")]
        assert suppressed == [("reminder.sms2", "address_unusable.phone")]
        st = case_status(run.cp, run.state, run.now, run.wake)
        assert st.addresses_unusable == ["phone"] and not st.closed

    def test_transient_failure_keeps_the_address(self) -> None:
        run = _run()
        tz = run.cp.policy.timezone
        run.until(at(DUE.replace(day=4), 12, tz=tz))
        mail1 = _first(run, "mail1")
        d = run.event(
            ev.ContactOutcome(
                action_id=mail1,
                outcome="failed",
                reason="gave up after 5 attempts: smtp server unreachable",
            )
        )
        assert d.records[0].detail == {} and run.state.unusable == []
        run.until(at(DUE.replace(day=7), 12, tz=tz))
        assert "reminder.mail2" in [a.reason for a in run.contacts()]
        assert run.kinds("suppressed") == []

    def test_unusable_is_marked_once_and_decide_leaves_the_input_alone(self) -> None:
        run = _run()
        run.until(at(DUE.replace(day=4), 12, tz=run.cp.policy.timezone))
        before = run.state.model_dump()
        failed = ev.ContactOutcome(
            action_id=_first(run, "mail1"), outcome="failed", address_unusable=True
        )
        once = decide(run.cp, run.state, failed, run.now)
        assert run.state.model_dump() == before  # the pure core copies the new list too
        twice = decide(run.cp, once.state, failed, run.now)
        assert twice.state.unusable == ["email"]
        assert once.records[0].reason == "contact failed"
