"""Honest endings: a settlement for less within the policy's bounds closes the case `settled` only
once paid (and tells the bureau if it was reported); `close settled` by hand is refused; an
overpayment is owed back and the balance never goes below 0.00."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine.case import events as ev
from engine.decision.decide import EventRejected, decide, validate
from engine.decision.status import case_status
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import Run, at, case_file, inline_policy

SH = "Asia/Shanghai"
NY = "America/New_York"
DUE = date(2025, 3, 3)
DAY12 = DUE + timedelta(days=12)


def cn_run(cp: CompiledPolicy, amount: str = "1500.00", day: int = 12) -> Run:
    """A CN case `day` days past due, at noon."""
    return Run.open(
        cp, case_file(cp, due=DUE, amount=amount), at(DUE + timedelta(days=day), 12, tz=SH)
    )


def settle(amount: str, days: int | None = None) -> ev.Settle:
    return ev.Settle(
        amount=Decimal(amount), until=None if days is None else DAY12 + timedelta(days=days)
    )


def pay(amount: str, currency: str = "CNY", ref: str = "") -> ev.Payment:
    return ev.Payment(amount=Decimal(amount), currency=currency, ref=ref)


def rejects(cp: CompiledPolicy, run: Run, e: ev.Event, message: str) -> None:
    """`e` is refused with `message`, by the validator and by `decide`, and nothing changes."""
    before = run.state.model_dump()
    with pytest.raises(EventRejected, match=re.escape(message)):
        validate(cp, run.state, e, run.now)
    with pytest.raises(EventRejected, match=re.escape(message)):
        decide(cp, run.state, e, run.now)
    assert run.state.model_dump() == before


class TestSettlement:
    """consumer-credit-line: at least 60% of the balance, paid within 14 days, no approval."""

    def test_agreed_then_paid_closes_settled(self, cn_policy: CompiledPolicy) -> None:
        run = cn_run(cn_policy)
        d = run.event(settle("900.00", 10), run.now)
        assert [(r.kind, r.outcome) for r in d.records] == [("settlement", "agreed")]
        assert d.records[0].detail == {
            "amount": "900.00",
            "until": "2025-03-25",
            "waived": "600.00",
        }
        assert run.state.hold("settlement") is not None and not run.state.closed
        run.event(pay("400.00"), run.now + timedelta(days=1))
        assert run.state.balance == Decimal("1100.00") and not run.state.closed
        d = run.event(pay("500.00"), run.now + timedelta(days=1))
        assert (run.state.stage, run.state.closed, run.state.balance) == (
            "settled",
            True,
            Decimal("0.00"),
        )
        assert [(r.kind, r.outcome) for r in d.records if r.kind == "settlement"] == [
            ("settlement", "paid")
        ]
        assert "600.00 waived" in d.records[-2].reason
        assert run.state.refund_due == 0

    def test_no_contact_while_it_runs(self, cn_policy: CompiledPolicy) -> None:
        run = cn_run(cn_policy)
        run.event(settle("900.00", 10), run.now)
        sent = len(run.contacts())
        run.until(at(DAY12 + timedelta(days=10), 23, tz=SH))
        assert len(run.contacts()) == sent and run.state.stage == "negotiation"

    def test_lapses_unpaid_and_collection_resumes(self, cn_policy: CompiledPolicy) -> None:
        run = cn_run(cn_policy)
        run.event(settle("900.00", 3), run.now)
        run.event(pay("100.00"), run.now + timedelta(days=1))
        run.until(at(DAY12 + timedelta(days=6), 23, tz=SH))
        lapsed = [r for r in run.kinds("settlement") if r.outcome == "lapsed"]
        assert len(lapsed) == 1 and lapsed[0].at == at(DAY12 + timedelta(days=4), 0, tz=SH)
        assert run.state.settlement is None and run.state.hold("settlement") is None
        assert run.state.balance == Decimal("1400.00") and not run.state.closed
        assert [a for a in run.contacts() if a.at > lapsed[0].at]

    def test_default_date_is_the_longest_the_policy_allows(self, cn_policy: CompiledPolicy) -> None:
        run = cn_run(cn_policy)
        run.event(settle("900.00"), run.now)
        assert run.state.settlement is not None and run.state.settlement.until == DAY12 + timedelta(
            days=14
        )

    def test_overpaid_settlement_is_owed_back(self, cn_policy: CompiledPolicy) -> None:
        run = cn_run(cn_policy)
        run.event(settle("900.00", 10), run.now)
        run.event(pay("1000.00"), run.now)
        assert (run.state.stage, run.state.balance, run.state.refund_due) == (
            "settled",
            Decimal("0.00"),
            Decimal("100.00"),
        )

    @pytest.mark.parametrize(
        ("event", "message"),
        [
            (
                settle("899.99", 5),
                "settlement must be at least 60% of the balance (900.00), not 899.99",
            ),
            (settle("1500.00", 5), "a settlement must be less than the balance 1500.00"),
            (settle("0", 5), "settlement must be positive, not 0.00"),
            (settle("900.001", 5), "settlement: amount"),
            (
                settle("900.00", -1),
                "settlement date 2025-03-14 is in the past (today is 2025-03-15)",
            ),
            (settle("900.00", 15), "settlement date 2025-03-30 is more than 14 days away"),
        ],
    )
    def test_out_of_bounds_is_refused(
        self, cn_policy: CompiledPolicy, event: ev.Settle, message: str
    ) -> None:
        rejects(cn_policy, cn_run(cn_policy), event, message)

    @pytest.mark.parametrize(
        ("setup", "message"),
        [
            (settle("900.00", 5), "a settlement of 900.00 is already agreed until 2025-03-20"),
            (
                ev.Promise(amount=Decimal("500.00"), due_date=DAY12 + timedelta(days=3)),
                "a promise is open until 2025-03-18",
            ),
            (
                ev.Plan(instalments=[(Decimal("1500.00"), DAY12 + timedelta(days=3))]),
                "a repayment plan is open",
            ),
        ],
    )
    def test_refused_in_context(
        self, cn_policy: CompiledPolicy, setup: ev.Event, message: str
    ) -> None:
        run = cn_run(cn_policy)
        run.event(setup, run.now)
        rejects(cn_policy, run, settle("1000.00", 5), message)

    def test_policy_without_settlement_section(self) -> None:
        cp = inline_policy("CN", stages=_one_stage())
        rejects(cp, cn_run(cp), settle("900.00"), "policy inline offers no settlement")


class TestCloseSettled:
    """`close settled` is never taken at its word."""

    def test_without_settlement(self, cn_policy: CompiledPolicy) -> None:
        rejects(
            cn_policy,
            cn_run(cn_policy),
            ev.Close(reason="settled"),
            "no settlement is agreed: a case closes settled only once an agreed settlement is paid",
        )

    def test_with_unpaid_settlement(self, cn_policy: CompiledPolicy) -> None:
        run = cn_run(cn_policy)
        run.event(settle("900.00", 5), run.now)
        run.event(pay("100.00"), run.now)
        rejects(
            cn_policy,
            run,
            ev.Close(reason="settled"),
            "the settlement of 900.00 is not paid yet (100.00 paid): the case closes settled once it is",
        )

    def test_other_reasons_still_close(self, cn_policy: CompiledPolicy) -> None:
        run = cn_run(cn_policy)
        run.event(settle("900.00", 5), run.now)
        run.event(ev.Close(reason="bankrupt"), run.now)
        assert (run.state.stage, run.state.settlement, run.state.holds) == ("closed", None, [])


class TestApproval:
    """instalment-loan: a manager approves each settlement before it binds."""

    def us_run(self, cp: CompiledPolicy) -> Run:
        return Run.open(cp, case_file(cp, due=DUE, amount="1500.00"), at(DAY12, 12, tz=NY))

    def test_paid_before_approval_closes_on_approval(self, us_policy: CompiledPolicy) -> None:
        run = self.us_run(us_policy)
        d = run.event(settle("750.00", 20), run.now)
        assert d.records[0].outcome == "proposed" and run.state.approvals_pending == ["settlement"]
        assert [a.kind for a in d.actions] == ["approval_request"]
        run.event(ev.Payment(amount=Decimal("750.00"), currency="USD"), run.now)
        assert not run.state.closed and run.state.balance == Decimal("750.00")
        rejects(us_policy, run, ev.Close(reason="settled"), "(750.00 paid, and it awaits approval)")
        run.event(ev.Approve(action="settlement", by="manager"), run.now)
        assert (run.state.stage, run.state.balance, run.state.approvals_granted) == (
            "settled",
            Decimal("0.00"),
            [],
        )

    def test_lapsed_unapproved_settlement_stops_waiting(self, us_policy: CompiledPolicy) -> None:
        run = self.us_run(us_policy)
        run.event(settle("750.00", 2), run.now)
        run.until(at(DAY12 + timedelta(days=4), 12, tz=NY))
        assert run.state.approvals_pending == [] and run.state.settlement is None


class TestBureauOnSettlement:
    """A reported case that settles tells the bureau `settled`."""

    def test_reported_case_settles(self, cn_policy: CompiledPolicy) -> None:
        run = cn_run(cn_policy, amount="3000.00", day=12)
        run.until(at(DUE + timedelta(days=40), 12, tz=SH))
        assert run.state.bureau_reported and run.state.stage == "escalation"
        balance = run.state.balance
        amount = (balance * Decimal("0.6")).quantize(Decimal("0.01"))
        run.event(ev.Settle(amount=amount), run.now)
        d = run.event(pay(str(amount)), run.now)
        updates = [a for a in d.actions if a.kind == "bureau_update"]
        assert [a.detail["status"] for a in updates] == ["settled"] and run.state.stage == "settled"


class TestOverpayment:
    """Money beyond the balance is owed back; the balance reads 0.00, never -0.00."""

    def test_refund_due_in_state_status_and_history(self, cn_policy: CompiledPolicy) -> None:
        run = cn_run(cn_policy)
        d = run.event(pay("5500.00"), run.now)
        s = run.state
        assert (s.stage, s.balance, s.refund_due, str(s.balance)) == (
            "resolved",
            Decimal(0),
            Decimal("4000.00"),
            "0.00",
        )
        over = [r for r in d.records if r.outcome == "overpaid"]
        assert over[0].detail == {"refund_due": "4000.00", "surplus": "4000.00"}
        assert d.records[0].detail["balance"] == "0.00"
        st = case_status(cn_policy, s, run.now, None)
        assert (st.balance, st.refund_due) == ("0.00", "4000.00")

    def test_exact_payment_owes_nothing_back(self, cn_policy: CompiledPolicy) -> None:
        run = cn_run(cn_policy)
        run.event(pay("1500.00"), run.now)
        assert str(run.state.balance) == "0.00" and run.state.refund_due == 0
        assert case_status(cn_policy, run.state, run.now, None).refund_due is None


def _one_stage() -> dict[str, Any]:
    return {
        "reminder": {
            "contacts": [],
            "exits": [
                {"to": "written_off", "when": {"field": "days_past_due", "op": ">=", "value": 400}}
            ],
        }
    }
