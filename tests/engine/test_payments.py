"""Payments: a reference recorded once is acknowledged, never applied twice (a bank feed that
retries must not close a case as paid), and the references a case keeps stay bounded."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from engine.case import events as ev
from engine.case.state import PAYMENT_REFS_KEPT
from engine.decision.decide import EventRejected, decide, validate
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import Run, at, case_file

NY = "America/New_York"
DUE = date(2025, 3, 3)


def us_run(cp: CompiledPolicy, amount: str = "1500.00") -> Run:
    """A US case on day 12."""
    return Run.open(
        cp, case_file(cp, due=DUE, amount=amount), at(DUE + timedelta(days=12), 12, tz=NY)
    )


def pay(amount: str, ref: str = "") -> ev.Payment:
    return ev.Payment(amount=Decimal(amount), currency="USD", ref=ref)


class TestPaymentReference:
    """The same reference twice: applied once, acknowledged the second time."""

    def test_second_time_is_acknowledged_not_applied(self, us_policy: CompiledPolicy) -> None:
        run = us_run(us_policy)
        run.event(pay("100.00", "BANK-TX-42"), run.now)
        assert run.state.balance == Decimal("1400.00")
        before = run.state.model_dump()
        d = run.event(pay("100.00", "BANK-TX-42"), run.now)
        assert run.state.balance == Decimal("1400.00") and run.state.paid_total == Decimal("100.00")
        assert [(r.kind, r.outcome, r.reason) for r in d.records] == [
            ("payment", "duplicate", "payment ref BANK-TX-42 already recorded: not applied again")
        ]
        assert run.state.model_dump() == before

    def test_twenty_retries_apply_once(self, us_policy: CompiledPolicy) -> None:
        run = us_run(us_policy, "1000.00")
        for _ in range(20):
            run.event(pay("1.00", "R"), run.now)
        assert run.state.balance == Decimal("999.00")
        assert len([r for r in run.kinds("payment") if r.outcome == "duplicate"]) == 19

    def test_payments_without_reference_all_count(self, us_policy: CompiledPolicy) -> None:
        run = us_run(us_policy)
        run.event(pay("100.00"), run.now)
        run.event(pay("100.00"), run.now)
        assert run.state.balance == Decimal("1300.00") and run.state.payment_refs == {}

    def test_different_references_both_count(self, us_policy: CompiledPolicy) -> None:
        run = us_run(us_policy)
        run.event(pay("100.00", "A"), run.now)
        run.event(pay("100.00", "B"), run.now)
        assert run.state.balance == Decimal("1300.00")

    def test_same_reference_other_amount_is_refused(self, us_policy: CompiledPolicy) -> None:
        run = us_run(us_policy)
        run.event(pay("100.00", "A"), run.now)
        before = run.state.model_dump()
        message = "payment ref 'A' was recorded for 100.00, not 50.00"
        with pytest.raises(EventRejected, match=message):
            validate(us_policy, run.state, pay("50.00", "A"), run.now)
        with pytest.raises(EventRejected, match=message):
            decide(us_policy, run.state, pay("50.00", "A"), run.now)
        assert run.state.model_dump() == before

    def test_the_payment_that_closed_the_case_is_acknowledged_after(
        self, us_policy: CompiledPolicy
    ) -> None:
        run = us_run(us_policy)
        run.event(pay("1500.00", "FINAL"), run.now)
        assert run.state.closed and run.state.stage == "resolved"
        validate(us_policy, run.state, pay("1500.00", "FINAL"), run.now)
        d = run.event(pay("1500.00", "FINAL"), run.now)
        assert d.records[0].outcome == "duplicate" and run.state.paid_total == Decimal("1500.00")
        with pytest.raises(EventRejected, match="case C-1 is closed"):
            validate(us_policy, run.state, pay("1500.00", "OTHER"), run.now)

    def test_references_kept_are_bounded_oldest_dropped(self, us_policy: CompiledPolicy) -> None:
        run = us_run(us_policy, "100000.00")
        for k in range(PAYMENT_REFS_KEPT + 5):
            run.event(pay("1.00", f"R{k}"), run.now)
        refs = run.state.payment_refs
        assert len(refs) == PAYMENT_REFS_KEPT
        assert "R0" not in refs and f"R{PAYMENT_REFS_KEPT + 4}" in refs
        # What is kept survives a round trip through JSON (continue-as-new carries the state).
        again = type(run.state).model_validate_json(run.state.model_dump_json())
        assert again.payment_refs == refs
