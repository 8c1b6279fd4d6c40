"""The portfolio's ratios, pure: rates with their denominators, recovery, roll rates between two
snapshots' case maps, and figures over time from stored figures documents.

Nothing here reads Temporal or the data plane, so every definition in `docs/portfolio.md` is
tested on plain data; a ratio whose denominator is zero is `None` ("no data"), never 0 or 100%.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from engine.policy.model import ACTIVE_STAGES, TERMINAL_STAGES

__all__ = [
    "GONE",
    "CaseMap",
    "Recovery",
    "RollRates",
    "rate",
    "roll_rates",
    "trend",
]

_CENT = Decimal("0.01")

#: A snapshot's cases: case id -> [stage, segment, balance as a decimal string].
CaseMap = Mapping[str, Sequence[str]]

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
    """What a group of cases has paid against what it still owes."""

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

    def to_json(self) -> dict[str, object]:
        """Amounts as decimal strings."""
        return {
            "cases": self.cases,
            "paid": str(self.paid.quantize(_CENT)),
            "balance": str(self.balance.quantize(_CENT)),
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


def trend(documents: Iterable[tuple[date, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Open cases and balance by stage per day, oldest first, from stored figures documents
    (each the `by_stage` of `GET /api/portfolio`); a stage a day lacks counts 0."""
    rows = []
    for day, doc in sorted(documents, key=lambda d: d[0]):
        by_stage = doc.get("by_stage") or {}
        rows.append(
            {
                "day": day.isoformat(),
                "by_stage": {
                    str(s): {
                        "cases": int((by_stage.get(str(s)) or {}).get("cases", 0)),
                        "balance": str((by_stage.get(str(s)) or {}).get("balance", "0.00")),
                    }
                    for s in ACTIVE_STAGES
                },
            }
        )
    return rows
