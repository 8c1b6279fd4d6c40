"""The portfolio's ratios, pure: rates with their denominators, recovery, roll rates between two
snapshots' case maps, and figures over time from stored figures documents.

Nothing here reads Temporal or the data plane, so every definition in `docs/portfolio.md` is
tested on plain data; a ratio whose denominator is zero is `None` ("no data"), never 0 or 100%.
Amounts are kept per currency (`Amounts`): two currencies are never added, nor divided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from engine.case.money import UNKNOWN_CURRENCY, shown_amount
from engine.policy.model import ACTIVE_STAGES, TERMINAL_STAGES

__all__ = [
    "GONE",
    "Amounts",
    "CaseMap",
    "Recovery",
    "RollRates",
    "amounts_json",
    "by_currency",
    "case_currency",
    "rate",
    "roll_rates",
    "trend",
]

#: Amounts per currency (ISO code, or `UNKNOWN_CURRENCY`).
Amounts = dict[str, Decimal]

#: A snapshot's cases: case id -> [stage, segment, balance as a decimal string, currency]
#: (snapshots stored before currencies were kept lack the currency).
CaseMap = Mapping[str, Sequence[str]]


def by_currency(currency: str) -> tuple[bool, str]:
    """The display order of currencies: by code, an unknown currency last."""
    return (currency == UNKNOWN_CURRENCY, currency)


def amounts_json(amounts: Mapping[str, Decimal]) -> dict[str, str]:
    """`{"CNY": "123.00", "JPY": "8020"}`: each amount with its own currency's decimals."""
    return {c: shown_amount(amounts[c], c) for c in sorted(amounts, key=by_currency)}


def case_currency(row: Sequence[str]) -> str:
    """The currency of a case map's row; `UNKNOWN_CURRENCY` in a snapshot stored before rows
    named it."""
    return row[3] if len(row) > 3 and row[3] else UNKNOWN_CURRENCY


#: Where a case counts at the end of a roll-rate interval when the end snapshot does not have it
#: (visibility dropped its record after the retention period).
GONE = "(gone)"


def rate(numerator: float | int | Decimal, denominator: float | int | Decimal) -> float | None:
    """`numerator / denominator`, or None when the denominator is zero (no data, not 0%)."""
    if not denominator:
        return None
    return float(Decimal(numerator) / Decimal(denominator))


@dataclass
class Recovery:
    """What a group of cases in one currency has paid against what it still owes."""

    cases: int = 0
    paid: Decimal = Decimal(0)
    balance: Decimal = Decimal(0)

    def add(self, paid: Decimal, balance: Decimal) -> None:
        """Count one more case."""
        self.cases += 1
        self.paid += paid
        self.balance += balance

    @property
    def rate(self) -> float | None:
        """paid / (paid + balance): the share of what these cases owed that came in."""
        return rate(self.paid, self.paid + self.balance)

    def to_json(self, currency: str) -> dict[str, object]:
        """Amounts as decimal strings with `currency`'s decimals."""
        return {
            "cases": self.cases,
            "paid": shown_amount(self.paid, currency),
            "balance": shown_amount(self.balance, currency),
            "rate": self.rate,
        }


@dataclass(frozen=True)
class RollRates:
    """Where the cases open in each stage at `start` were at `end`.

    `counts[stage][where]` counts cases open in `stage` at the start that were in `where` (a
    stage, an ending, or `GONE`) at the end; `columns` lists every `where` in display order.
    """

    start: date
    end: date
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    columns: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        """The interval's length in days."""
        return (self.end - self.start).days

    def cases(self, stage: str) -> int:
        """Cases open in `stage` at the start."""
        return sum(self.counts.get(stage, Counter()).values())

    def share(self, stage: str, where: str) -> float | None:
        """The share of `stage`'s starting cases that were in `where` at the end."""
        return rate(self.counts.get(stage, Counter())[where], self.cases(stage))

    def to_json(self) -> dict[str, object]:
        """The interval and, per starting stage, its cases and the share in each end column."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": self.days,
            "columns": list(self.columns),
            "rows": {
                stage: {
                    "cases": self.cases(stage),
                    "to": {where: self.share(stage, where) for where in self.columns},
                }
                for stage in self.counts
            },
        }


def roll_rates(start: CaseMap, end: CaseMap, start_day: date, end_day: date) -> RollRates:
    """The roll-rate matrix between two snapshots' case maps.

    Rows are the active stages (every one, even with no case); a case ended at the start (a
    terminal stage) has no row. Columns are the active stages, the endings, and `GONE` only when
    some starting case is missing from `end`.
    """
    counts: dict[str, Counter[str]] = {str(s): Counter() for s in ACTIVE_STAGES}
    for case_id, row in start.items():
        stage = row[0]
        if stage not in counts:
            continue
        later = end.get(case_id)
        counts[stage][later[0] if later else GONE] += 1
    columns = [str(s) for s in (*ACTIVE_STAGES, *TERMINAL_STAGES)]
    seen = {where for c in counts.values() for where in c}
    columns += sorted(seen - set(columns) - {GONE})  # a stage this code does not know yet
    if GONE in seen:
        columns.append(GONE)
    return RollRates(start_day, end_day, counts, tuple(columns))


def _stored_balance(value: object) -> dict[str, str]:
    """A stored `balance`: a map per currency, or (a document stored before currencies were
    kept) one decimal string that may add several, so of an unknown currency."""
    if isinstance(value, Mapping):
        return {str(c): str(a) for c, a in sorted(value.items(), key=lambda i: by_currency(i[0]))}
    if value is None or Decimal(str(value)) == 0:
        return {}
    return {UNKNOWN_CURRENCY: str(value)}


def trend(documents: Iterable[tuple[date, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Open cases and balance (per currency) by stage per day, oldest first, from stored figures
    documents (each the `by_stage` of `GET /api/portfolio`); a stage a day lacks counts 0."""
    rows = []
    for day, doc in sorted(documents, key=lambda d: d[0]):
        by_stage = doc.get("by_stage") or {}
        rows.append(
            {
                "day": day.isoformat(),
                "by_stage": {
                    str(s): {
                        "cases": int((by_stage.get(str(s)) or {}).get("cases", 0)),
                        "balance": _stored_balance((by_stage.get(str(s)) or {}).get("balance")),
                    }
                    for s in ACTIVE_STAGES
                },
            }
        )
    return rows
