"""The queue pages' templates on items given by hand: a case awaiting an approval and a call's
outcome at once is offered only the approval's buttons in the approvals queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import cast

from jinja2 import Environment, FileSystemLoader
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from console.queues import APPROVALS, QueueFilter, QueueItem, approvals_queue
from console.service import TEMPLATES
from tests.console.test_refresher import RUNNING, Record
from workers.currencies import Currencies
from workers.policy_store import PolicyStore
from workflows import search_attributes as sa


def _approvals_page(items: list[QueueItem], can: set[str]) -> str:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    return env.get_template("approvals.html").render(
        request=SimpleNamespace(url=SimpleNamespace(path="/queues/approvals")),
        user=None,
        csrf="t",
        can=can,
        msg="",
        error="",
        problem="",
        filters={},
        back="/queues/approvals",
        items=items,
        approvals=APPROVALS,
    )


def _item(case_id: str, *awaiting: str) -> QueueItem:
    return QueueItem(
        case_id=case_id,
        stage="escalation",
        segment="large",
        balance=Decimal("5000.00"),
        policy="instalment-loan v2",
        awaiting=awaiting,
        overdue_since=date(2026, 9, 1),
        age_days=87,
    )


class TestApprovalsQueue:
    """What an approver may press for each case in the queue."""

    def test_a_call_or_a_dispute_awaited_beside_an_approval_gets_no_button(self) -> None:
        """`call` and `dispute` are in `OverdueAwaiting` too, but nobody approves them."""
        html = _approvals_page([_item("Q-1", "agency_placement", "call", "dispute")], {"approve"})
        assert 'aria-label="Approve agency_placement for Q-1"' in html
        assert 'aria-label="Deny agency_placement for Q-1"' in html
        assert "Approve call" not in html and "Deny call" not in html
        assert "Approve dispute" not in html
        assert 'name="action" value="call"' not in html
        assert "<td>agency_placement</td>" in html  # the waiting-for column lists approvals only

    def test_a_viewer_sees_the_queue_without_buttons(self) -> None:
        """The same row for a role that may not approve: listed, nothing to press."""
        html = _approvals_page([_item("Q-2", "legal_referral", "call")], {"view"})
        assert 'id="row-Q-2"' in html and "<td>legal_referral</td>" in html
        assert "/cases/Q-2/approve" not in html and "/cases/Q-2/deny" not in html


class TestCurrencies:
    """Queue balances are in each case's currency, read from its policy."""

    def test_a_zero_decimal_currency_shows_no_decimals(self) -> None:
        """A yen balance is `8020 JPY`; a yuan one keeps its two decimals."""
        yen = replace(_item("Q-Y", "legal_referral"), balance=Decimal(8020), currency="JPY")
        yuan = replace(_item("Q-C", "legal_referral"), currency="CNY")
        html = _approvals_page([yen, yuan], {"approve"})
        assert '<td class="num">8020 JPY</td>' in html
        assert '<td class="num">5000.00 CNY</td>' in html
        assert yen.to_json()["balance"] == "8020" and yen.to_json()["currency"] == "JPY"

    async def test_the_queue_reads_each_policy_once(self) -> None:
        """Two cases on one yen policy and one on a policy nobody stored: the policy store is
        asked once per version, and the unknown one is said ("?"), not guessed."""
        asked: list[tuple[str, int]] = []

        class Store:
            def version(self, name: str, version: int) -> object:
                asked.append((name, version))
                return SimpleNamespace(currency="JPY") if name == "yen-line" else None

        def rec(case_id: str, policy: str, amount: float) -> Record:
            pairs = [
                SearchAttributePair(sa.STAGE, "escalation"),
                SearchAttributePair(sa.AMOUNT_DUE, amount),
                SearchAttributePair(sa.POLICY_NAME, policy),
                SearchAttributePair(sa.POLICY_VERSION, 1),
            ]
            return Record(f"case-{case_id}", RUNNING, TypedSearchAttributes(pairs))

        class Listing:
            async def list_workflows(self, query: str, limit: int) -> AsyncIterator[Record]:
                for r in (
                    rec("Y1", "yen-line", 8020.0),
                    rec("Y2", "yen-line", 15.0),
                    rec("X1", "gone", 12.5),
                ):
                    yield r

        currencies = Currencies(cast(PolicyStore, Store()))
        items = await approvals_queue(
            cast(Client, Listing()),
            QueueFilter(),
            date(2026, 11, 27),
            currency_of=currencies.of_async,
        )
        assert sorted((i.case_id, i.balance_text, i.currency) for i in items) == [
            ("X1", "12.50", "?"),
            ("Y1", "8020", "JPY"),
            ("Y2", "15", "JPY"),
        ]
        assert asked == [("yen-line", 1), ("gone", 1)]
