"""The policy language: pydantic models of the YAML files operations staff write.

A policy names its jurisdictions, classifies cases into segments, and describes each stage: when
a case enters it, which contacts go out on which day, what moves the case on, and what each event
does. `policies/policy.schema.json` is generated from these models (`overdue policy schema`).
"""

from __future__ import annotations

import re
from datetime import time
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from engine.case.vocabulary import (
    ActiveStage,
    Approval,
    Attitude,
    Channel,
    Stage,
    StepAction,
    TerminalStage,
)
from engine.policy.conditions import Condition

__all__ = [
    "ACTIVE_STAGES",
    "ADDED_LATER",
    "MAX_COUNT",
    "MAX_DAYS",
    "POLICY_NAME_PATTERN",
    "TERMINAL_STAGES",
    "ActionSpec",
    "Cap",
    "ComplaintRules",
    "ContactItem",
    "EventEffect",
    "EventRules",
    "Exit",
    "Fee",
    "Guardrails",
    "HardshipRules",
    "MigrateRules",
    "PlanRules",
    "Policy",
    "PromiseRules",
    "Range",
    "Segment",
    "SettlementRules",
    "StageSpec",
    "Target",
    "Template",
    "Variant",
]

#: What a policy's name may be (it also goes into visibility queries, so nothing to quote).
POLICY_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")

#: The stages a policy describes, in order.
ACTIVE_STAGES: tuple[ActiveStage, ...] = tuple(ActiveStage)
TERMINAL_STAGES: tuple[TerminalStage, ...] = tuple(TerminalStage)
#: Where an exit or an event's `goto` may lead.
Target: TypeAlias = Stage


#: Marks a field added to the policy language after policies were in use (its `json_schema_extra`):
#: at its default ("as before") it is left out of the policy's hash, so existing pins hold.
ADDED_LATER: dict[str, Any] = {"x-added-later": True}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: The largest day number a policy may name (ten years on the collection clock): a bound that
#: keeps every date the core computes far from `date.max` (`min_days: 1e14` used to crash it).
MAX_DAYS = 3650
#: The largest count (contacts in a cap, attempts) a policy may name.
MAX_COUNT = 1000
#: Numbers in ranges and conditions stay within this magnitude (amounts are below 10^15).
_BIG = Decimal("1e18")


class Range(_Model):
    """A half-open range `[min, max)`; either end may be left open."""

    min: Decimal | None = Field(default=None, ge=-_BIG, le=_BIG)
    max: Decimal | None = Field(default=None, ge=-_BIG, le=_BIG)

    def contains(self, v: Decimal | int | None) -> bool:
        """Whether `v` lies in the range (an unknown value lies in no bounded range)."""
        if v is None:
            return self.min is None and self.max is None
        return (self.min is None or v >= self.min) and (self.max is None or v < self.max)

    def overlaps(self, other: Range) -> bool:
        """Whether two ranges share at least one value."""
        lo = max(
            self.min if self.min is not None else Decimal("-Infinity"),
            other.min if other.min is not None else Decimal("-Infinity"),
        )
        hi = min(
            self.max if self.max is not None else Decimal("Infinity"),
            other.max if other.max is not None else Decimal("Infinity"),
        )
        return lo < hi


class Variant(_Model):
    """A champion/challenger arm: picked by a stable hash of the case id, by weight."""

    name: str = Field(max_length=64)
    weight: int = Field(ge=0, le=100)


class Segment(_Model):
    """A class of cases; the first segment (in order) whose ranges all match wins."""

    name: str
    description: str = ""
    days_past_due: Range | None = None
    amount: Range | None = None
    risk_score: Range | None = None
    attitude: list[Attitude] | None = None
    product: list[str] | None = None
    variants: list[Variant] = []


class ContactItem(_Model):
    """One planned contact: on `day` (days past due on the collection clock, negative = before
    the due date), through `channel`, with `template`; repeated `every` days up to `times`."""

    id: str | None = None
    day: int = Field(ge=-30, le=MAX_DAYS)
    channel: Channel
    template: str
    every: int | None = Field(default=None, ge=1, le=365)
    times: int = Field(default=1, ge=1, le=100)
    at: time | None = None  # local send time; the policy's send_time otherwise
    when: Condition | None = None
    third_party: bool = (
        False  # to a contact person, only where allowed and the debtor is unreachable
    )

    @property
    def key(self) -> str:
        """A stable name for this item inside its stage (used in action ids and reasons)."""
        return self.id or f"day_{self.day}.{self.channel}"

    def days(self) -> list[int]:
        """Every day this item falls on, repeats included."""
        return [self.day + k * (self.every or 0) for k in range(self.times if self.every else 1)]


class ActionSpec(_Model):
    """A non-contact step (agency placement and recall, credit-bureau report, legal referral)."""

    kind: StepAction
    when: Condition | None = None
    requires_approval: bool = False


class Exit(_Model):
    """A guarded transition out of a stage: the first exit whose condition holds fires."""

    id: str | None = None
    to: Target
    when: Condition | None = None
    approval: Approval | None = None  # a human must approve before the case moves
    skip: bool = False  # may jump past the next stage / ignore the stage's min_days
    reason: str = ""


class EventEffect(_Model):
    """What an event does in a stage: move the case, pause the clock, take steps."""

    goto: Target | None = None
    pause_days: int | None = Field(default=None, ge=0, le=365)
    actions: list[ActionSpec] = []


class EventRules(_Model):
    """Effects per event kind; stage-level rules override the policy-level ones."""

    partial_payment: EventEffect | None = None
    promise_kept: EventEffect | None = None
    promise_broken: EventEffect | None = None
    plan_missed: EventEffect | None = None
    dispute_rejected: EventEffect | None = None
    hostile: EventEffect | None = None


class StageSpec(_Model):
    """One stage of treatment."""

    description: str = ""
    enter_at_day: int = Field(
        default=0, ge=-30, le=MAX_DAYS
    )  # where a case opened late at this age starts
    min_days: int = Field(
        default=1, ge=0, le=MAX_DAYS
    )  # stay at least this long: stages move one at a time
    contacts: list[ContactItem] = []
    on_enter: list[ActionSpec] = []
    exits: list[Exit] = []
    on: EventRules = EventRules()


class Template(_Model):
    """A message in each of the policy's locales; `{placeholders}` are filled from the case."""

    text: dict[str, Annotated[str, StringConstraints(max_length=4000)]]
    legally_required: bool = False  # still sent after a cease-communication request
    bureau_notice: bool = False  # tells the debtor a credit-bureau report may follow
    #: A demand or legal letter: never sent on a time-barred debt.
    legal: bool = Field(default=False, json_schema_extra=ADDED_LATER)


class Cap(_Model):
    """At most `max` contacts in any rolling window of `per_days` days."""

    max: int = Field(ge=0, le=MAX_COUNT)
    per_days: int = Field(ge=1, le=365)


class Guardrails(_Model):
    """Tightenings of the jurisdiction floor. Anything looser is a load error."""

    window_start: time | None = None
    window_end: time | None = None
    holidays: list[str] = []  # holiday calendars (country codes of the `holidays` package)
    caps: dict[Channel, Cap] = {}
    overall: Cap | None = None
    call_max_attempts_7d: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    call_cooldown_days_after_conversation: int | None = Field(default=None, ge=0, le=365)
    calls_connected_per_day: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    calls_unanswered_per_day: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    bureau_notice_days: int | None = Field(default=None, ge=0, le=365)
    limitation_days: int | None = Field(default=None, ge=1, le=10 * MAX_DAYS)
    #: False makes the period run from the due date even where the jurisdiction restarts it on
    #: a payment (tighter); True where the jurisdiction does not is a load error.
    limitation_restarts_on_payment: bool | None = Field(default=None, json_schema_extra=ADDED_LATER)
    third_party_contact: bool = False
    third_party_after_failed: int = Field(default=3, ge=3, le=MAX_COUNT)


class PromiseRules(_Model):
    """Promises to pay: how far ahead, how much at least, how long contacts pause."""

    max_days: int = Field(default=14, ge=1, le=90)
    min_ratio: Decimal = Field(default=Decimal("0.1"), ge=0, le=1)  # of the balance
    grace_days: int = Field(default=1, ge=0, le=14)  # after the promise date before it is broken
    pause_clock: bool = True  # the collection clock stands still while a promise is open


class PlanRules(_Model):
    """Repayment plans: instalments, and how late a payment may be before it is missed."""

    max_instalments: int = Field(default=12, ge=1, le=60)
    grace_days: int = Field(default=3, ge=0, le=30)


class MigrateRules(_Model):
    """How a case running on an earlier version of this policy enters this one (a rollout).

    `stages` maps a stage the case may stand in to the stage it continues in here; a stage this
    version still describes needs no entry. A case in a stage that is neither here nor mapped is
    refused by the rollout, never moved to a guess.
    """

    stages: dict[ActiveStage, ActiveStage] = {}


class SettlementRules(_Model):
    """Settlements for less than the balance: how low an agreed amount may go (a share of the
    balance), how long the debtor has to pay it, and whether a human approves each one."""

    min_ratio: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)  # of the balance
    max_days: int = Field(default=30, ge=1, le=180)
    approval: bool = False


class ComplaintRules(_Model):
    """How a complaint is answered: within how many days, and whether collection stops until
    it is (contacts and stage moves, as a dispute does)."""

    respond_within_days: int = Field(default=15, ge=1, le=90)
    hold: bool = False


class HardshipRules(_Model):
    """Hardship and breathing space: the longest pause a request can take."""

    max_days: int = Field(default=60, ge=1, le=365)


class Fee(_Model):
    """A one-off fee added to the balance when the collection clock reaches `day`."""

    name: str = Field(max_length=64)
    day: int = Field(ge=1, le=MAX_DAYS)
    amount: Decimal = Field(gt=0)  # bounded and checked against the currency in `checks`


class Policy(_Model):
    """A whole collection policy, as one YAML file."""

    name: str = Field(pattern=POLICY_NAME_PATTERN.pattern, max_length=64)
    version: int = Field(ge=1, le=1_000_000)
    description: str = ""
    jurisdictions: list[Literal["CN", "US"]] = Field(min_length=1)
    timezone: str  # default for debtors without one
    currency: str
    locales: list[str] = Field(min_length=1)
    grace_days: int = Field(default=0, ge=0, le=60)
    send_time: time = time(9, 0)
    pay_url: str = "https://pay.example.com/{case_id}"  # filled into templates as {pay_url}
    dispute_url: str = "https://help.example.com/dispute/{case_id}"  # as {dispute_url}
    segments: list[Segment] = Field(min_length=1)
    stages: dict[ActiveStage, StageSpec]
    events: EventRules = EventRules()
    promise: PromiseRules = PromiseRules()
    plan: PlanRules = PlanRules()
    hardship: HardshipRules = HardshipRules()
    #: No section: the policy offers no settlement (a settle event is refused).
    settlement: SettlementRules | None = Field(default=None, json_schema_extra=ADDED_LATER)
    #: No section: complaints are answered within 15 days and do not hold collection.
    complaints: ComplaintRules | None = Field(default=None, json_schema_extra=ADDED_LATER)
    guardrails: Guardrails = Guardrails()
    #: No section: a case moves here only from a stage this version describes.
    migrate: MigrateRules | None = Field(default=None, json_schema_extra=ADDED_LATER)
    fees: list[Fee] = []
    templates: dict[str, Template]

    def stage(self, stage: Stage) -> StageSpec | None:
        """The spec of `stage`; None for a terminal stage or one this policy leaves out."""
        return self.stages.get(stage) if isinstance(stage, ActiveStage) else None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "US" is a folder of zones
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str) -> str:
        from engine.case.money import CURRENCIES

        if v not in CURRENCIES:
            raise ValueError(f"unknown currency {v!r}")
        return v
