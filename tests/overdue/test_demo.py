"""The demo portfolio of `overdue dev --demo`: the simulator's cases under demo ids and dates."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine.decision.decide import check_case
from engine.policy.compiled import CompiledPolicy
from overdue.demo import demo_portfolio

TODAY = date(2026, 11, 27)


class TestDemoPortfolio:
    """Ids, policies, due dates, determinism."""

    def test_cases_alternate_between_the_policies_with_demo_ids(
        self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy
    ) -> None:
        """Case i is DEMO-000i, on policy i mod 2, in that policy's currency; debtors differ."""
        cases = demo_portfolio([cn_policy, us_policy], TODAY, 6)
        assert [c.case_id for c in cases] == [f"DEMO-{i:04d}" for i in range(1, 7)]
        assert [c.policy for c in cases] == [cn_policy.policy.name, us_policy.policy.name] * 3
        assert [c.currency for c in cases] == [
            cn_policy.policy.currency,
            us_policy.policy.currency,
        ] * 3
        assert len({c.debtor.id for c in cases}) == 6

    def test_every_case_is_accepted_by_its_policy(
        self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy
    ) -> None:
        """What `overdue dev --demo` opens passes the same check `case import` makes."""
        by_name = {cn_policy.policy.name: cn_policy, us_policy.policy.name: us_policy}
        for case in demo_portfolio([cn_policy, us_policy], TODAY, 60):
            check_case(by_name[case.policy], case)

    def test_due_dates_span_the_last_150_days_and_the_next_5(
        self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy
    ) -> None:
        """Mostly overdue cases, spread over five months, a few not yet due."""
        dues = [c.due_date for c in demo_portfolio([cn_policy, us_policy], TODAY, 300)]
        assert all(TODAY - timedelta(days=150) <= d <= TODAY + timedelta(days=5) for d in dues)
        assert sum(d < TODAY for d in dues) > 250
        assert min(dues) < TODAY - timedelta(days=100)

    def test_same_seed_same_portfolio(
        self, cn_policy: CompiledPolicy, us_policy: CompiledPolicy
    ) -> None:
        """Run again on the same day, `--demo` finds the very cases it opened."""
        assert demo_portfolio([cn_policy], TODAY, 20) == demo_portfolio([cn_policy], TODAY, 20)
        assert demo_portfolio([cn_policy], TODAY, 20, seed=1) != demo_portfolio(
            [cn_policy], TODAY, 20
        )

    def test_no_policy_is_an_error(self) -> None:
        """The caller names at least one policy."""
        with pytest.raises(ValueError, match="at least one policy"):
            demo_portfolio([], TODAY)
