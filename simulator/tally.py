"""What a simulation counts: per chunk of cases, merged in chunk order into one per policy.

Every figure is a sum (integers, exact `Decimal`s) or a list kept in case order, so merging chunks
in order gives the same result however many processes ran them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from engine.case.actions import CONTACT_CHANNELS
from engine.policy.model import ACTIVE_STAGES, TERMINAL_STAGES

__all__ = ["SAMPLE_LIMIT", "SERIES_STAGES", "STAGES", "Tally", "VariantTally"]

#: Every stage a case can end the simulation in.
STAGES: tuple[str, ...] = ACTIVE_STAGES + TERMINAL_STAGES
#: The rows of the daily series: not yet opened, then every stage.
SERIES_STAGES: tuple[str, ...] = ("not_open", *STAGES)
#: How many violation / rejected-event messages are kept as examples.
SAMPLE_LIMIT = 20


@dataclass
class VariantTally:
    """Figures of one segment/variant (the one a case was in at the end)."""

    cases: int = 0
    amount_due: Decimal = Decimal(0)
    recovered: Decimal = Decimal(0)
    resolved: int = 0
    contacts: int = 0
    violations: int = 0

    def merge(self, o: VariantTally) -> None:
        """Add another tally of the same variant."""
        self.cases += o.cases
        self.amount_due += o.amount_due
        self.recovered += o.recovered
        self.resolved += o.resolved
        self.contacts += o.contacts
        self.violations += o.violations


@dataclass
class Tally:
    """Everything counted over a set of cases under one policy."""

    days: int
    cases: int = 0
    refused_cases: int = 0  # open_case refused them (currency, time zone)
    # The person's accounts on other policies, run alongside (policy name -> cases) but not
    # counted in the figures, and those of them not opened.
    other_cases: Counter[str] = field(default_factory=Counter)
    other_refused: int = 0
    final_stages: Counter[str] = field(default_factory=Counter)
    amount_due: Decimal = Decimal(0)
    recovered: Decimal = Decimal(0)
    contacts: Counter[str] = field(default_factory=Counter)
    deferred: int = 0
    deferred_by_guardrail: Counter[str] = field(default_factory=Counter)
    suppressed_by_guardrail: Counter[str] = field(default_factory=Counter)
    violations: int = 0
    violation_samples: list[str] = field(default_factory=list)
    rejected_events: int = 0
    rejected_samples: list[str] = field(default_factory=list)
    decisions: int = 0
    events: Counter[str] = field(default_factory=Counter)
    promises: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    variants: dict[str, VariantTally] = field(default_factory=dict)
    contacts_per_case: dict[str, Counter[int]] = field(
        default_factory=dict
    )  # channel -> n -> cases
    stage_delta: list[list[int]] = field(default_factory=list)  # [day][SERIES_STAGES index]
    recovered_delta: list[Decimal] = field(default_factory=list)  # [day]

    def __post_init__(self) -> None:
        if not self.stage_delta:
            self.stage_delta = [[0] * len(SERIES_STAGES) for _ in range(max(1, self.days))]
        if not self.recovered_delta:
            self.recovered_delta = [Decimal(0)] * max(1, self.days)

    def merge(self, o: Tally) -> None:
        """Add the tally of the next chunk (call in chunk order)."""
        self.cases += o.cases
        self.refused_cases += o.refused_cases
        self.other_cases.update(o.other_cases)
        self.other_refused += o.other_refused
        self.final_stages.update(o.final_stages)
        self.amount_due += o.amount_due
        self.recovered += o.recovered
        self.contacts.update(o.contacts)
        self.deferred += o.deferred
        self.deferred_by_guardrail.update(o.deferred_by_guardrail)
        self.suppressed_by_guardrail.update(o.suppressed_by_guardrail)
        self.violations += o.violations
        self.violation_samples.extend(
            o.violation_samples[: SAMPLE_LIMIT - len(self.violation_samples)]
        )
        self.rejected_events += o.rejected_events
        self.rejected_samples.extend(
            o.rejected_samples[: SAMPLE_LIMIT - len(self.rejected_samples)]
        )
        self.decisions += o.decisions
        self.events.update(o.events)
        self.promises.update(o.promises)
        self.calls.update(o.calls)
        self.actions.update(o.actions)
        for key, v in o.variants.items():
            self.variants.setdefault(key, VariantTally()).merge(v)
        for ch, hist in o.contacts_per_case.items():
            self.contacts_per_case.setdefault(ch, Counter()).update(hist)
        for mine, theirs in zip(self.stage_delta, o.stage_delta, strict=True):
            for i, d in enumerate(theirs):
                mine[i] += d
        self.recovered_delta = [
            a + b for a, b in zip(self.recovered_delta, o.recovered_delta, strict=True)
        ]

    # -- views -----------------------------------------------------------------------------
    def stage_series(self) -> dict[str, list[int]]:
        """Cases in each stage at the end of each day (including those not opened yet)."""
        running = [0] * len(SERIES_STAGES)
        running[0] = self.cases
        out: dict[str, list[int]] = {s: [] for s in SERIES_STAGES}
        for day in self.stage_delta:
            for i, d in enumerate(day):
                running[i] += d
            for i, s in enumerate(SERIES_STAGES):
                out[s].append(running[i])
        return out

    def recovery_series(self) -> list[Decimal]:
        """Money recovered by the end of each day, cumulative."""
        total = Decimal(0)
        out = []
        for d in self.recovered_delta:
            total += d
            out.append(total)
        return out

    def mean_contacts(self) -> dict[str, float]:
        """Contacts per case, by channel."""
        n = max(1, self.cases - self.refused_cases)
        return {ch: self.contacts.get(ch, 0) / n for ch in CONTACT_CHANNELS}
