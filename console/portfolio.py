"""The live portfolio's figures, from Temporal's visibility (definitions in `docs/portfolio.md`).

One pass over every case's search attributes (running and ended) gives counts and balances by
stage, segment, policy and age, what waits for people, how ended cases ended, the promises kept
and broken, recovery by segment and variant, the guardrails that deferred contacts, and each
case's stage, segment and balance (the snapshot's case map, for roll rates); nothing asks a case
anything. The pass costs one list query over every case, so the console runs it in the
background (`console.refresher`) and pages serve its latest result.

Every amount is kept per currency: a case's currency is its policy's, read from the data plane's
policy store (`workers.currencies`); a case whose policy cannot be read is under
`UNKNOWN_CURRENCY` ("?"), never added to a known currency.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError

from console.portfolio_rates import Amounts, Recovery, amounts_json, by_currency, rate
from engine.case.money import amount_in, shown_amount
from engine.errors import OverdueError
from engine.policy.model import ACTIVE_STAGES, TERMINAL_STAGES
from workers.currencies import Currencies
from workflows import search_attributes as sa
from workflows.types import case_id_of

__all__ = ["AGE_BUCKETS", "NONE", "Figures", "Portfolio", "portfolio"]

#: The group of a case with no segment (or no variant).
NONE = "(none)"

#: Rows decoded between two yields to the event loop, so pages keep answering during a pass.
_YIELD_EVERY = 200
#: Days-overdue buckets of the ageing table: (label, first day, last day or None).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("not yet due", -10_000, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("91-180", 91, 180),
    ("181+", 181, None),
)


@dataclass
class Figures:
    """A count of cases and the balance they owe, per currency."""

    cases: int = 0
    balance: Amounts = field(default_factory=dict)

    def add(self, balance: Decimal, currency: str) -> None:
        """Count one more case, owing `balance` in `currency`."""
        self.cases += 1
        self.balance[currency] = self.balance.get(currency, Decimal(0)) + balance

    def to_json(self) -> dict[str, object]:
        """Amounts as decimal strings per currency: `{"cases": 3, "balance": {"CNY": "9.00"}}`."""
        return {"cases": self.cases, "balance": amounts_json(self.balance)}


@dataclass
class Portfolio:
    """The figures of the live portfolio at `as_of`; every amount per currency."""

    as_of: datetime
    open: Figures = field(default_factory=Figures)
    by_stage: dict[str, Figures] = field(default_factory=dict)
    by_segment: dict[str, Figures] = field(default_factory=dict)
    by_stage_segment: dict[str, dict[str, Figures]] = field(default_factory=dict)
    by_policy: dict[str, Figures] = field(default_factory=dict)
    by_age: dict[str, Figures] = field(default_factory=dict)
    on_hold: int = 0
    awaiting: Counter[str] = field(default_factory=Counter)
    ended: Counter[str] = field(default_factory=Counter)
    promises_kept: int = 0
    promises_broken: int = 0
    #: Recovery per segment, then per currency (a rate never divides one currency by another).
    recovery_by_segment: dict[str, dict[str, Recovery]] = field(default_factory=dict)
    #: The same per champion/challenger variant.
    recovery_by_variant: dict[str, dict[str, Recovery]] = field(default_factory=dict)
    #: Cases (open and ended) a guardrail deferred at least once, by guardrail.
    deferred_by: Counter[str] = field(default_factory=Counter)
    #: Every open or ended case: id -> [stage, segment, balance, currency] (no personal data).
    cases: dict[str, list[str]] = field(default_factory=dict)

    @property
    def currencies(self) -> list[str]:
        """The currencies open cases owe in, in display order (an unknown one last)."""
        return sorted(self.open.balance, key=by_currency)

    @property
    def cure_rate(self) -> float | None:
        """Share of ended cases that ended paid in full (`resolved`); None before any ended."""
        total = sum(self.ended.values())
        return self.ended["resolved"] / total if total else None

    @property
    def promise_kept_rate(self) -> float | None:
        """Promises kept / (kept + broken), over open and ended cases; None before any is due."""
        return rate(self.promises_kept, self.promises_kept + self.promises_broken)

    def to_json(self) -> dict[str, object]:
        """The document `GET /api/portfolio` returns."""

        def figs(d: dict[str, Figures]) -> dict[str, object]:
            return {k: v.to_json() for k, v in d.items()}

        def recovery(d: dict[str, dict[str, Recovery]]) -> dict[str, object]:
            return {
                k: {c: by[c].to_json(c) for c in sorted(by, key=by_currency)}
                for k, by in sorted(d.items())
            }

        return {
            "as_of": self.as_of.isoformat(),
            "open": self.open.to_json(),
            "by_stage": figs(self.by_stage),
            "by_segment": figs(self.by_segment),
            "by_stage_segment": {s: figs(d) for s, d in self.by_stage_segment.items()},
            "by_policy": figs(self.by_policy),
            "by_age": figs(self.by_age),
            "on_hold": self.on_hold,
            "awaiting": dict(self.awaiting),
            "ended": dict(self.ended),
            "cure_rate": self.cure_rate,
            "complaints_open": self.awaiting["complaint"],
            "promises": {
                "kept": self.promises_kept,
                "broken": self.promises_broken,
                "kept_rate": self.promise_kept_rate,
            },
            "recovery": {
                "by_segment": recovery(self.recovery_by_segment),
                "by_variant": recovery(self.recovery_by_variant),
            },
            "deferrals": dict(sorted(self.deferred_by.items())),
        }


def _bucket(days: int) -> str:
    for label, first, last in AGE_BUCKETS:
        if days >= first and (last is None or days <= last):
            return label
    return AGE_BUCKETS[-1][0]


async def portfolio(
    client: Client, today: date | None = None, currencies: Currencies | None = None
) -> Portfolio:
    """Every case's search attributes, summed up per currency (`currencies` tells a policy
    version's; without it every amount is of an unknown currency)."""
    today = today or datetime.now(UTC).date()
    currencies = currencies or Currencies(None)
    p = Portfolio(as_of=datetime.now(UTC))
    p.by_stage = {s: Figures() for s in ACTIVE_STAGES}
    p.by_age = {label: Figures() for label, _, _ in AGE_BUCKETS}
    try:
        async for wf in client.list_workflows("WorkflowType = 'Case'"):
            if len(p.cases) % _YIELD_EVERY == _YIELD_EVERY - 1:
                await asyncio.sleep(0)
            attrs = wf.typed_search_attributes
            stage = attrs.get(sa.STAGE) or ""
            running = wf.status == WorkflowExecutionStatus.RUNNING
            if not running and stage not in TERMINAL_STAGES:
                continue  # failed or terminated by hand: not a case that ended
            name, version = attrs.get(sa.POLICY_NAME), attrs.get(sa.POLICY_VERSION)
            cur = await currencies.of_async(name, version)
            balance = amount_in(attrs.get(sa.AMOUNT_DUE) or 0, cur)
            segment = attrs.get(sa.SEGMENT) or NONE
            _facts(p, wf.id, stage, segment, balance, cur, attrs)
            if not running:
                p.ended[stage] += 1
                continue
            p.open.add(balance, cur)
            p.by_stage.setdefault(stage, Figures()).add(balance, cur)
            p.by_segment.setdefault(segment, Figures()).add(balance, cur)
            p.by_stage_segment.setdefault(stage, {}).setdefault(segment, Figures()).add(
                balance, cur
            )
            p.by_policy.setdefault(sa.policy_label(attrs), Figures()).add(balance, cur)
            since = attrs.get(sa.OVERDUE_SINCE)
            if since is not None:
                p.by_age[_bucket((today - since.date()).days)].add(balance, cur)
            if attrs.get(sa.ON_HOLD):
                p.on_hold += 1
            for name in attrs.get(sa.AWAITING) or ():
                p.awaiting[name] += 1
    except RPCError as e:
        raise OverdueError(f"portfolio query rejected: {e.message}") from None
    return p


def _facts(
    p: Portfolio,
    workflow_id: str,
    stage: str,
    segment: str,
    balance: Decimal,
    currency: str,
    attrs: TypedSearchAttributes,
) -> None:
    """What every case adds, open or ended: its row in the case map, its promises, its recovery
    and the guardrails that deferred it. A case started before these facts were indexed lacks
    them: it counts as nothing paid, no promise, no deferral."""
    case_id = case_id_of(workflow_id)
    p.cases[case_id] = [stage, segment, shown_amount(balance, currency), currency]
    p.promises_kept += attrs.get(sa.PROMISES_KEPT) or 0
    p.promises_broken += attrs.get(sa.PROMISES_BROKEN) or 0
    paid = amount_in(attrs.get(sa.PAID) or 0, currency)
    by_segment = p.recovery_by_segment.setdefault(segment, {})
    by_segment.setdefault(currency, Recovery()).add(paid, balance)
    by_variant = p.recovery_by_variant.setdefault(attrs.get(sa.VARIANT) or NONE, {})
    by_variant.setdefault(currency, Recovery()).add(paid, balance)
    for guardrail in set(attrs.get(sa.DEFERRED_BY) or ()):
        p.deferred_by[guardrail] += 1
