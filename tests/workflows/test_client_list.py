"""`Cases.list`: each case once (its latest run), amounts as decimal strings.

The time-skipping server has no visibility store, so the listing is driven here by a stand-in
client that returns what a real server's list does for a case that continued-as-new: the new run
and the run it continued from, both with the case's workflow id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from workflows import search_attributes as sa
from workflows.client import Cases, amount_text


@dataclass
class _Execution:
    id: str
    status: WorkflowExecutionStatus
    typed_search_attributes: TypedSearchAttributes


class _Client:
    def __init__(self, executions: list[_Execution]) -> None:
        self.executions = executions
        self.queries: list[str] = []

    async def list_workflows(self, query: str) -> AsyncIterator[_Execution]:
        self.queries.append(query)
        for e in self.executions:
            yield e


def _run(
    case_id: str, status: WorkflowExecutionStatus, amount: float, stage: str = "reminder"
) -> _Execution:
    attrs = TypedSearchAttributes(
        [SearchAttributePair(sa.STAGE, stage), SearchAttributePair(sa.AMOUNT_DUE, amount)]
    )
    return _Execution(f"case-{case_id}", status, attrs)


class TestList:
    """A case that continued-as-new is listed once, from its running run."""

    async def test_each_case_once(self) -> None:
        running, old = WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW
        client = _Client(
            [
                _run("A", running, 8020.0, "negotiation"),
                _run("A", old, 8020.0),
                _run("B", WorkflowExecutionStatus.COMPLETED, 99.5, "resolved"),
                _run("A", old, 8020.0),
            ]
        )
        listed = [c async for c in Cases(cast(Client, client)).list()]
        assert [(c.case_id, c.stage, c.balance, c.running) for c in listed] == [
            ("A", "negotiation", "8020.00", True),
            ("B", "resolved", "99.50", False),
        ]
        assert client.queries == ["WorkflowType = 'Case'"]

    async def test_limit_counts_cases_not_runs(self) -> None:
        old = WorkflowExecutionStatus.CONTINUED_AS_NEW
        runs: list[Any] = [
            _run("A", old, 1.0),
            _run("A", old, 1.0),
            _run("B", WorkflowExecutionStatus.RUNNING, 2.0),
        ]
        listed = [c.case_id async for c in Cases(cast(Client, _Client(runs))).list(limit=1)]
        assert listed == ["B"]

    async def test_amounts_in_the_currency_of_the_policy(self) -> None:
        """With a currency reader, each case's amount has its policy's decimals (none in yen)
        and the row names the currency; without one the currency is unknown ("?")."""
        attrs = TypedSearchAttributes(
            [
                SearchAttributePair(sa.STAGE, "reminder"),
                SearchAttributePair(sa.AMOUNT_DUE, 8020.0),
                SearchAttributePair(sa.POLICY_NAME, "yen-line"),
                SearchAttributePair(sa.POLICY_VERSION, 3),
            ]
        )
        client = cast(
            Client, _Client([_Execution("case-Y", WorkflowExecutionStatus.RUNNING, attrs)])
        )
        asked: list[tuple[str | None, int | None]] = []

        async def currency_of(name: str | None, version: int | None) -> str:
            asked.append((name, version))
            return "JPY"

        [yen] = [c async for c in Cases(client).list(currency_of=currency_of)]
        assert (yen.balance, yen.currency, yen.policy) == ("8020", "JPY", "yen-line v3")
        assert asked == [("yen-line", 3)]
        [unknown] = [c async for c in Cases(client).list()]
        assert (unknown.balance, unknown.currency) == ("8020.00", "?")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8020.0, "8020.00"),
        (0.1, "0.10"),
        (1250.5, "1250.50"),
        (999999999999999.0, "999999999999999.00"),
        (12.345, "12.345"),
        (0.0, "0.00"),
    ],
)
def test_amount_text(value: float, text: str) -> None:
    """The float of a search attribute back to the decimal string it was made from."""
    assert amount_text(value) == text


@pytest.mark.parametrize(
    ("value", "currency", "text"),
    [
        (8020.0, "JPY", "8020"),
        (8020.0, "CNY", "8020.00"),
        (0.1, "USD", "0.10"),
        (999999999999999.0, "KRW", "999999999999999"),
        (0.0, "JPY", "0"),
    ],
)
def test_amount_text_in_a_currency(value: float, currency: str, text: str) -> None:
    """A known currency gives its own decimals: none for a zero-decimal one."""
    assert amount_text(value, currency) == text
