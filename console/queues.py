"""Work queues as Temporal visibility queries: which running cases wait for a person.

A queue is one list query on the search attributes the workflow keeps current
(`workflows.search_attributes`), so it costs the same with 300 or 10,000 open cases and never
asks a case anything. Filters are validated here and turned into the query; nothing a user types
reaches the query unchecked. Balances are in each case's currency, its policy's, which the caller
reads from the data plane's policy store (`currency_of`, `workers.currencies`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from engine.case.money import UNKNOWN_CURRENCY, amount_in, shown_amount
from engine.case.vocabulary import Approval
from engine.errors import OverdueError
from engine.policy.model import ACTIVE_STAGES
from workflows import search_attributes as sa
from workflows.client import CurrencyOf
from workflows.types import case_id_of

__all__ = [
    "APPROVALS",
    "CALL",
    "QueueFilter",
    "QueueItem",
    "approvals_queue",
    "calls_queue",
    "count_awaiting",
    "filter_query",
    "issues_queue",
    "waited",
]

_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_RUNNING_CASES = "WorkflowType = 'Case' AND ExecutionStatus = 'Running'"
#: Approvals are the policy's closed set of names; disputes and complaints share the attribute.
APPROVALS: tuple[str, ...] = tuple(a.value for a in Approval)
_APPROVALS = f"{sa.AWAITING.name} IN ({', '.join(repr(a) for a in APPROVALS)})"
_ISSUES = f"{sa.AWAITING.name} IN ('dispute', 'complaint')"
#: What a case awaits while one of its calls has no recorded outcome (set by the workflow, with
#: `OverdueCallSince` the time of the oldest such call).
CALL = "call"
_CALLS = f"{sa.AWAITING.name} = '{CALL}'"


@dataclass(frozen=True)
class QueueFilter:
    """What a queue can be narrowed by: stage, segment, balance range, age range (days overdue)."""

    stage: str | None = None
    segment: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    min_age: int | None = None
    max_age: int | None = None

    def __post_init__(self) -> None:
        if self.stage is not None and self.stage not in ACTIVE_STAGES:
            raise OverdueError(f"stage {self.stage!r}: one of {', '.join(ACTIVE_STAGES)}")
        if self.segment is not None and not _SEGMENT.match(self.segment):
            raise OverdueError(f"segment {self.segment!r}: letters, digits, '.', '_' or '-' only")
        for label, n in (("min_age", self.min_age), ("max_age", self.max_age)):
            if n is not None and n < 0:
                raise OverdueError(f"{label} must not be negative")


@dataclass(frozen=True)
class QueueItem:
    """One case in a queue, from its search attributes (no personal data)."""

    case_id: str
    stage: str
    segment: str
    balance: Decimal
    policy: str
    awaiting: tuple[str, ...]
    overdue_since: date | None
    age_days: int | None
    #: When the oldest call of the case still without an outcome was made (the calls queue).
    call_since: datetime | None = None
    #: The case's currency (its policy's), `UNKNOWN_CURRENCY` when it could not be read.
    currency: str = UNKNOWN_CURRENCY

    @property
    def balance_text(self) -> str:
        """The balance with its currency's decimals (`8020` in yen, `8020.00` in yuan)."""
        return shown_amount(self.balance, self.currency)

    def to_json(self) -> dict[str, object]:
        """The item as the API returns it (amounts as decimal strings)."""
        return {
            "case_id": self.case_id,
            "stage": self.stage,
            "segment": self.segment,
            "balance": self.balance_text,
            "currency": self.currency,
            "policy": self.policy,
            "awaiting": list(self.awaiting),
            "overdue_since": self.overdue_since.isoformat() if self.overdue_since else None,
            "age_days": self.age_days,
            "call_since": self.call_since.isoformat() if self.call_since else None,
        }


def filter_query(f: QueueFilter, today: date) -> str:
    """The visibility-query clauses of a filter (empty if it filters nothing)."""
    parts: list[str] = []
    if f.stage:
        parts.append(f"{sa.STAGE.name} = '{f.stage}'")
    if f.segment:
        parts.append(f"{sa.SEGMENT.name} = '{f.segment}'")
    if f.min_amount is not None:
        parts.append(f"{sa.AMOUNT_DUE.name} >= {float(f.min_amount)}")
    if f.max_amount is not None:
        parts.append(f"{sa.AMOUNT_DUE.name} <= {float(f.max_amount)}")
    # Older than N days overdue = due on or before today - N.
    if f.min_age is not None:
        parts.append(f"{sa.OVERDUE_SINCE.name} <= '{_day(today, f.min_age)}'")
    if f.max_age is not None:
        parts.append(f"{sa.OVERDUE_SINCE.name} >= '{_day(today, f.max_age)}'")
    return " AND ".join(parts)


def _day(today: date, days_before: int) -> str:
    d = date.fromordinal(today.toordinal() - days_before)
    return datetime.combine(d, datetime.min.time(), tzinfo=UTC).isoformat().replace("+00:00", "Z")


async def _list(
    client: Client, query: str, today: date, limit: int, currency_of: CurrencyOf | None
) -> list[QueueItem]:
    items: list[QueueItem] = []
    try:
        async for wf in client.list_workflows(query, limit=limit):
            attrs = wf.typed_search_attributes
            name, version = attrs.get(sa.POLICY_NAME), attrs.get(sa.POLICY_VERSION)
            currency = await currency_of(name, version) if currency_of else UNKNOWN_CURRENCY
            since = attrs.get(sa.OVERDUE_SINCE)
            since_day = since.date() if since is not None else None
            items.append(
                QueueItem(
                    case_id=case_id_of(wf.id),
                    stage=attrs.get(sa.STAGE) or "",
                    segment=attrs.get(sa.SEGMENT) or "",
                    balance=amount_in(attrs.get(sa.AMOUNT_DUE) or 0, currency),
                    policy=sa.policy_label(attrs),
                    awaiting=tuple(attrs.get(sa.AWAITING) or ()),
                    overdue_since=since_day,
                    age_days=(today - since_day).days if since_day is not None else None,
                    call_since=attrs.get(sa.CALL_SINCE),
                    currency=currency,
                )
            )
    except RPCError as e:
        raise OverdueError(f"queue query rejected: {e.message}") from None
    return items


async def approvals_queue(
    client: Client,
    f: QueueFilter,
    today: date,
    *,
    limit: int = 500,
    currency_of: CurrencyOf | None = None,
) -> list[QueueItem]:
    """Running cases waiting for a human approval, oldest debt first."""
    return await _select(client, _APPROVALS, f, today, limit, currency_of, _oldest_debt)


async def issues_queue(
    client: Client,
    f: QueueFilter,
    today: date,
    *,
    limit: int = 500,
    currency_of: CurrencyOf | None = None,
) -> list[QueueItem]:
    """Running cases with a dispute or a complaint open, oldest debt first."""
    return await _select(client, _ISSUES, f, today, limit, currency_of, _oldest_debt)


async def calls_queue(
    client: Client,
    f: QueueFilter,
    today: date,
    *,
    limit: int = 500,
    currency_of: CurrencyOf | None = None,
) -> list[QueueItem]:
    """Running cases with a call whose outcome nobody recorded yet, the longest waiting first."""
    return await _select(client, _CALLS, f, today, limit, currency_of, _longest_waiting)


_NEVER = datetime.max.replace(tzinfo=UTC)


def _oldest_debt(i: QueueItem) -> tuple[date, str]:
    return (i.overdue_since or date.max, i.case_id)


def _longest_waiting(i: QueueItem) -> tuple[datetime, str]:
    return (i.call_since or _NEVER, i.case_id)


def waited(since: datetime | None, now: datetime) -> str:
    """How long something has waited since `since`, as a person reads it ("2 d 3 h", "45 min")."""
    if since is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


async def _select(
    client: Client,
    which: str,
    f: QueueFilter,
    today: date,
    limit: int,
    currency_of: CurrencyOf | None,
    order: Callable[[QueueItem], tuple[Any, str]],
) -> list[QueueItem]:
    """The running cases `which` selects, narrowed by the filter, in `order`."""
    clauses = [_RUNNING_CASES, which]
    extra = filter_query(f, today)
    if extra:
        clauses.append(extra)
    items = await _list(client, " AND ".join(clauses), today, limit, currency_of)
    items.sort(key=order)
    return items


async def count_awaiting(client: Client) -> int:
    """How many running cases wait for an approval (for the metrics)."""
    try:
        return (await client.count_workflows(f"{_RUNNING_CASES} AND {_APPROVALS}")).count
    except RPCError as e:
        raise OverdueError(f"count rejected: {e.message}") from None
