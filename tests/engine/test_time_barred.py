"""Limitation on the calendar: a debt is time-barred by calendar days since the due date (or the
last payment where the jurisdiction restarts the period), whatever holds paused the collection
clock; a time-barred debt gets no fee, no agency placement, no demand letter, no legal referral,
only the notices the law requires."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine.case import events as ev
from engine.errors import PolicyErrors
from engine.policy.checks import check_policy
from engine.policy.compiled import CompiledPolicy
from engine.policy.loader import load_model
from engine.policy.model import Policy
from tests.engine.driver import Run, at, case_file, inline_policy

SH = "Asia/Shanghai"
NY = "America/New_York"
DUE = date(2021, 1, 4)


def barred_policy(jurisdiction: str = "US", **guardrails: Any) -> CompiledPolicy:
    """Escalation from day 0 with everything a time-barred debt must not get, limitation 40 days."""
    return inline_policy(
        jurisdiction,
        guardrails={"limitation_days": 40, **guardrails},
        fees=[{"name": "late_fee", "day": 45, "amount": "20.00"}],
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
                "on_enter": [{"kind": "agency_placement"}],
                "contacts": [
                    {"day": 50, "channel": "letter", "template": "demand"},
                    {"day": 50, "channel": "sms", "template": "t"},
                    {"day": 50, "channel": "email", "template": "legal"},
                ],
                "exits": [
                    {
                        "to": "written_off",
                        "when": {"field": "days_past_due", "op": ">=", "value": 400},
                    }
                ],
            },
        },
        templates={
            "t": {"text": {"en-US": "Hi {name}, {amount} {currency} is due."}},
            "legal": {"text": {"en-US": "Notice to {name}."}, "legally_required": True},
            "demand": {
                "text": {"en-US": "Demand: {name} owes {amount}."},
                "legally_required": True,
                "legal": True,
            },
        },
    )


class TestOnTheCalendar:
    """A hold pauses collection, never limitation."""

    def test_exit_fires_when_the_hold_ends_not_the_held_days_later(
        self, cn_policy: CompiledPolicy
    ) -> None:
        opened = at(DUE + timedelta(days=1070), 12, tz=SH)
        run = Run.open(cn_policy, case_file(cn_policy, due=DUE, amount="5000.00"), opened)
        assert run.state.stage == "escalation"
        run.event(ev.Hardship(days=30), opened + timedelta(days=5))  # day 1075 to 1105
        run.until(opened + timedelta(days=60))
        (close,) = run.kinds("close")
        assert close.reason.startswith("escalation.time_barred: time_barred is True")
        # When the hold ended (calendar day 1105), not 30 paused days after day 1095.
        assert close.at == opened + timedelta(days=35)
        assert run.state.stage == "written_off"

    def test_cn_payment_restarts_the_period(self, cn_policy: CompiledPolicy) -> None:
        opened = at(DUE + timedelta(days=1000), 12, tz=SH)
        run = Run.open(cn_policy, case_file(cn_policy, due=DUE, amount="5000.00"), opened)
        run.event(ev.Payment(amount=Decimal("10.00"), currency="CNY"), run.now)
        assert run.state.last_payment_on == DUE + timedelta(days=1000)
        run.until(opened + timedelta(days=100))
        assert not run.kinds("close") and run.state.stage == "escalation"

    def test_us_payment_does_not_restart_it(self, us_policy: CompiledPolicy) -> None:
        opened = at(DUE + timedelta(days=1000), 12, tz=NY)
        run = Run.open(us_policy, case_file(us_policy, due=DUE, amount="5000.00"), opened)
        run.event(ev.Payment(amount=Decimal("10.00"), currency="USD"), run.now)
        run.until(opened + timedelta(days=100))
        (close,) = run.kinds("close")
        assert run.local(close.at).date() == DUE + timedelta(days=1096)


class TestNothingButRequiredNotices:
    """Past the limitation period: no fee, placement, demand letter or soft contact."""

    def test_time_barred_case(self) -> None:
        cp = barred_policy()
        run = Run.open(
            cp, case_file(cp, due=DUE, amount="500.00"), at(DUE + timedelta(days=41), 12, tz=NY)
        )
        run.until(at(DUE + timedelta(days=60), 12, tz=NY))
        assert [a.template for a in run.contacts()] == ["legal"]  # the notice the law requires
        assert not [a for a in run.actions if a.kind == "agency_placement"]
        assert run.state.balance == Decimal("500.00") and run.state.fees_total == 0
        suppressed = {r.reason: r.detail["guardrail"] for r in run.kinds("suppressed")}
        assert suppressed == {
            "escalation.on_enter.agency_placement: debt is time-barred": "time_barred",
            "fees.late_fee: debt is time-barred": "time_barred",
            "escalation.day_50.letter": "time_barred",
            "escalation.day_50.sms": "time_barred",
        }

    def test_the_same_case_in_time_gets_everything(self) -> None:
        cp = barred_policy(limitation_days=400)
        run = Run.open(
            cp, case_file(cp, due=DUE, amount="500.00"), at(DUE + timedelta(days=41), 12, tz=NY)
        )
        run.until(at(DUE + timedelta(days=60), 12, tz=NY))
        assert sorted(a.template or "" for a in run.contacts()) == ["demand", "legal", "t"]
        assert [a.kind for a in run.actions if a.kind == "agency_placement"] == ["agency_placement"]
        assert run.state.fees_total == Decimal("20.00")

    def test_it_turns_time_barred_on_the_exact_day(self) -> None:
        # In time at opening (day 30): placed; the fee of day 45 falls after the period ends.
        cp = barred_policy()
        run = Run.open(
            cp, case_file(cp, due=DUE, amount="500.00"), at(DUE + timedelta(days=30), 12, tz=NY)
        )
        assert [a.kind for a in run.actions if a.kind == "agency_placement"] == ["agency_placement"]
        run.until(at(DUE + timedelta(days=41), 0, tz=NY) - timedelta(microseconds=1))
        assert run.wake == at(DUE + timedelta(days=41), 0, tz=NY)  # wakes exactly when it turns
        run.until(at(DUE + timedelta(days=60), 12, tz=NY))
        assert run.state.fees_total == 0 and [a.template for a in run.contacts()] == ["legal"]


class TestPolicyCheck:
    """The new guardrail and fact are checked like the others."""

    @pytest.mark.parametrize(
        ("snippet", "message"),
        [
            (
                "guardrails: {limitation_restarts_on_payment: true}",
                "the limitation period does not restart on a payment under US",
            ),
        ],
    )
    def test_looser_than_the_floor(self, snippet: str, message: str) -> None:
        with pytest.raises(PolicyErrors, match=message):
            _load(_policy_yaml(snippet))

    def test_time_barred_compared_with_a_number(self) -> None:
        text = _policy_yaml("").replace(
            '{field: days_past_due, op: ">=", value: 400}',
            '{field: time_barred, op: ">", value: 1}',
        )
        with pytest.raises(PolicyErrors, match="time_barred is true or false"):
            _load(text)

    def test_time_barred_exit_fires_with_time_alone(self) -> None:
        text = _policy_yaml("").replace(
            '{field: days_past_due, op: ">=", value: 400}',
            '{field: time_barred, op: "==", value: true}',
        )
        assert _load(text).name == "p"


def _load(text: str) -> Policy:
    return load_model(text, "p.yaml", Policy, check_policy)


def _policy_yaml(extra: str) -> str:
    return f"""name: p
version: 1
jurisdictions: [US]
timezone: America/New_York
currency: USD
locales: [en-US]
segments: [{{name: all}}]
stages:
  reminder:
    exits:
      - {{to: written_off, when: {{field: days_past_due, op: ">=", value: 400}}}}
templates:
  t: {{text: {{en-US: "Hi {{name}}"}}}}
{extra}
"""
