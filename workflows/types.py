"""Inputs and results of the case workflow, its updates, signals, queries and activities.

One type in and one out for each, all pydantic (the worker and client use the pydantic data
converter), so the workflow's contract is readable in one place.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from engine.case.actions import Action, Record
from engine.case.state import CaseFile, CaseState, PolicyRef
from engine.decision.status import CaseStatus

__all__ = [
    "ActionResult",
    "ApproveInput",
    "CaseInput",
    "CaseResult",
    "CloseInput",
    "DisputeInput",
    "EventResult",
    "HardshipInput",
    "OutcomeInput",
    "PaymentInput",
    "PlanInput",
    "PromiseInput",
    "ResolveDisputeInput",
]

#: Records kept in the workflow for `case history`; older ones are dropped (counted) on
#: continue-as-new so a years-long case stays bounded.
HISTORY_LIMIT = 1000


class CaseInput(BaseModel):
    """Start (case + policy pin) or continue (state + history) a case."""

    policy: PolicyRef
    case: CaseFile | None = None
    state: CaseState | None = None
    history: list[Record] = []
    history_dropped: int = 0
    next_wake_up: datetime | None = None
    pending_actions: list[Action] = []
    #: Continue-as-new once history passes this many events (tests force it small);
    #: otherwise when Temporal suggests it.
    max_history_events: int | None = None
    runs: int = 1
    #: The client set the search attributes at start (continue-as-new carries them over), so
    #: the workflow upserts only those that differ. False for cases started before this existed.
    attributes_at_start: bool = False


class CaseResult(BaseModel):
    """How a case ended."""

    case_id: str
    stage: str
    close_reason: str | None
    balance: str
    paid: str
    runs: int


class EventResult(BaseModel):
    """What an accepted update changed."""

    case_id: str
    stage: str
    closed: bool
    balance: str
    holds: list[str]
    reasons: list[str]


class PaymentInput(BaseModel):
    """`case pay`."""

    amount: Decimal
    currency: str
    ref: str = ""


class PromiseInput(BaseModel):
    """`case promise`."""

    amount: Decimal
    due_date: date


class PlanInput(BaseModel):
    """A repayment plan: (amount, date) instalments adding up to the balance."""

    instalments: list[tuple[Decimal, date]] = Field(min_length=1)


class DisputeInput(BaseModel):
    """`case dispute`."""

    reason: str = ""


class ResolveDisputeInput(BaseModel):
    """`case resolve-dispute`."""

    outcome: Literal["upheld", "rejected"]


class HardshipInput(BaseModel):
    """`case hardship`."""

    days: int


class CloseInput(BaseModel):
    """`case close`."""

    reason: Literal["bankrupt", "deceased", "settled", "written_off"]


class ApproveInput(BaseModel):
    """`case approve`."""

    action: str
    by: str = ""


class OutcomeInput(BaseModel):
    """A debtor's reply or a contact's fate, as a signal: call outcome and attitude."""

    action_id: str = ""
    outcome: Literal["delivered", "connected", "unanswered", "failed"] | None = None
    attitude: Literal["cooperative", "neutral", "evasive", "hostile"] | None = None


class ActionResult(BaseModel):
    """What an activity did with an action."""

    action_id: str
    status: Literal["delivered", "duplicate", "queued", "failed"]
    provider_id: str = ""
    #: For ``failed``: the channel's short reason (``smtp 550 recipient refused``), no personal data.
    reason: str = ""
    #: For ``failed``: the channel blamed the recipient's address itself.
    address_unusable: bool = False


__all__ += ["HISTORY_LIMIT", "CaseStatus"]
