"""Inputs and results of the debtor workflow (`debtor-<id>`): the grant update, the outcome and
cease signals and the status query."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from engine.case.person import PersonContact, PersonLedger

__all__ = [
    "RUNNING_CASES",
    "DebtorInput",
    "DebtorOutcome",
    "DebtorRefusal",
    "DebtorStatus",
    "GrantInput",
    "GrantResult",
    "PersonNotice",
    "debtor_workflow_id",
]


#: The activity a ledger asks, once idle, which of its cases still run (`workers.activities`).
RUNNING_CASES = "running_cases"


def debtor_workflow_id(debtor_id: str) -> str:
    """The workflow id of a person's ledger."""
    return f"debtor-{debtor_id}"


class DebtorInput(BaseModel):
    """Start (debtor id) or continue (the ledger) a person's ledger."""

    debtor_id: str
    timezone: str = "UTC"
    ledger: PersonLedger | None = None
    #: Continue-as-new once history passes this many events (tests force it small).
    max_history_events: int | None = None
    #: The ledger may end when idle (set by every starter today, carried over by
    #: continue-as-new); without it, a ledger started earlier, the `debtor-idle-end` patch decides.
    idle_end: bool = False


class GrantInput(BaseModel):
    """A contact a case decided, asking for room in the person's ledger (at the workflow's now)."""

    action_id: str
    case_id: str
    channel: str
    timezone: str
    policy_hash: str
    legally_required: bool = False
    #: The moment the case decided the contact: the ledger judges and records it then, as the
    #: case's own check did, so a debtor with one account is never deferred by a few
    #: milliseconds of activity latency at the edge of a window.
    at: datetime | None = None


class GrantResult(BaseModel):
    """Granted, or deferred until `until` (None: never) for the per-person `guardrail`."""

    granted: bool
    until: datetime | None = None
    guardrail: str = ""


class DebtorOutcome(BaseModel):
    """A call's outcome, for the person's ledger."""

    action_id: str
    outcome: Literal["connected", "unanswered", "failed"]


class DebtorRefusal(BaseModel):
    """The person refused one channel (a case file's consent, or an opt-out on any account)."""

    channel: str
    case_id: str = ""


class PersonNotice(BaseModel):
    """A cease (no `channel`) or an opt-out of one channel, for the person's ledger."""

    debtor_id: str
    timezone: str = "UTC"
    channel: str | None = None
    case_id: str = ""


class DebtorStatus(BaseModel):
    """`overdue debtor status`: the person's cases, recent contacts, next moment per channel."""

    debtor_id: str
    cases: list[str]
    contacts: list[PersonContact]
    last_conversation_at: datetime | None
    ceased: bool
    next_allowed: dict[str, datetime | None]
    #: Channels the person refused (on any account), never used again but for required notices.
    refused: list[str] = []
    #: Whether this ledger ended, idle: nothing in it constrains a contact any more.
    ended: bool = False
