"""Inputs and results of the case workflow and its activities.

All pydantic (the worker and client use the pydantic data converter). The workflow's `event`
update takes the core's own `engine.case.events.Event` and its queries return the core's types,
so only what the core has no type for is defined here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from engine.case.actions import Action, Record
from engine.case.state import CaseFile, CaseState, PolicyRef
from engine.case.vocabulary import HoldKind, Stage
from engine.decision.status import CaseStatus

__all__ = ["ActionResult", "CaseInput", "CaseResult", "EventResult", "case_id_of", "workflow_id"]

_PREFIX = "case-"


def workflow_id(case_id: str) -> str:
    """The workflow id of a case."""
    return f"{_PREFIX}{case_id}"


def case_id_of(workflow_id: str) -> str:
    """The case id a case's workflow id names (the inverse of `workflow_id`)."""
    return workflow_id.removeprefix(_PREFIX)


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
    #: The case indexes its facts (variant, paid, promises, deferrals, open calls) from the
    #: start: set by the client for new cases, carried over by continue-as-new. Without it (a
    #: case started earlier) the `index-facts` patch decides, as it did when the case ran.
    index_facts: bool = False
    #: The rules-of-conduct version a new case opens with (`engine.case.state.CONDUCT`). An input
    #: without it is from a case started before versions existed: 1, so its history replays.
    conduct: int = 1
    #: A decision raised in the run before ("<type>: <message>"): the case is stuck, refuses
    #: events and retries on a timer (`stuck_retries` failures so far) until a fix is deployed.
    stuck: str | None = None
    stuck_retries: int = 0


class CaseResult(BaseModel):
    """How a case ended."""

    case_id: str
    stage: Stage
    close_reason: str | None
    balance: str
    paid: str
    runs: int


class EventResult(BaseModel):
    """What an accepted update changed."""

    case_id: str
    stage: Stage
    closed: bool
    balance: str
    holds: list[HoldKind]
    reasons: list[str]
    #: The balance's currency ("" in results recorded before it was given).
    currency: str = ""
    #: The person the case belongs to (the client tells their ledger of outcomes and cease).
    debtor_id: str = ""
    #: A payment whose reference the case had already recorded: acknowledged, not applied again.
    already_recorded: bool = False


class ActionResult(BaseModel):
    """What an activity did with an action."""

    action_id: str
    status: Literal["delivered", "duplicate", "queued", "failed", "deferred"]
    provider_id: str = ""
    #: For ``deferred``: the person's ledger had no room; the contact may go at ``until`` (None:
    #: never), held by the per-person ``guardrail`` (``person.cap.sms.3_per_7d``).
    until: datetime | None = None
    guardrail: str = ""
    #: For ``failed``: the channel's short reason (``smtp 550 recipient refused``), no personal data.
    reason: str = ""
    #: For ``failed``: the channel blamed the recipient's address itself.
    address_unusable: bool = False


__all__ += ["HISTORY_LIMIT", "CaseStatus"]
