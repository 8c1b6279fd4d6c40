"""The domain's words, each defined once.

Everything else (policy model, case state, events, actions, the workflow's messages, the command
line's choices, intake, the simulator, the policy's JSON Schema) takes its words from here. They
are `StrEnum`s: a member *is* its string, so comparisons with plain strings, JSON, traces and
histories read exactly as the words themselves.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeAlias

__all__ = [
    "ActionKind",
    "ActiveStage",
    "Approval",
    "Attitude",
    "Channel",
    "CloseReason",
    "ContactResult",
    "DisputeOutcome",
    "HoldKind",
    "RecordKind",
    "Stage",
    "StepAction",
    "TerminalStage",
    "TraceKind",
    "stage_named",
]


class ActiveStage(StrEnum):
    """A stage a policy describes, in which collection goes on."""

    REMINDER = "reminder"
    NEGOTIATION = "negotiation"
    ESCALATION = "escalation"
    LEGAL_REFERRAL = "legal_referral"


class TerminalStage(StrEnum):
    """A stage a case ends in."""

    RESOLVED = "resolved"
    SETTLED = "settled"
    WRITTEN_OFF = "written_off"
    CLOSED = "closed"


#: Any stage a case can be in.
Stage: TypeAlias = ActiveStage | TerminalStage


def stage_named(name: str) -> Stage:
    """The stage called `name` (for names read back from the stage machine).

    Raises:
        ValueError: no stage has that name.
    """
    if name in _ACTIVE:
        return ActiveStage(name)
    return TerminalStage(name)


_ACTIVE = frozenset(ActiveStage)


class Channel(StrEnum):
    """A way to reach the debtor. `call` is an agent task; `field_visit` a visit task."""

    SMS = "sms"
    PUSH = "push"
    EMAIL = "email"
    CALL = "call"
    LETTER = "letter"
    FIELD_VISIT = "field_visit"


class Attitude(StrEnum):
    """The debtor's attitude, as the case file or an agent reads it."""

    COOPERATIVE = "cooperative"
    NEUTRAL = "neutral"
    EVASIVE = "evasive"
    HOSTILE = "hostile"


class ContactResult(StrEnum):
    """What became of a contact."""

    DELIVERED = "delivered"
    CONNECTED = "connected"
    UNANSWERED = "unanswered"
    FAILED = "failed"


class HoldKind(StrEnum):
    """Something that stops or pauses collection, orthogonal to the stage."""

    DISPUTE = "dispute"
    HARDSHIP = "hardship"
    PAUSE = "pause"
    CEASE = "cease"
    PROMISE = "promise"
    PLAN = "plan"
    SETTLEMENT = "settlement"
    #: An open complaint, when the policy's `complaints.hold` says it stops collection.
    COMPLAINT = "complaint"


class CloseReason(StrEnum):
    """Why a person ends a case outside the policy (`case close`)."""

    BANKRUPT = "bankrupt"
    DECEASED = "deceased"
    SETTLED = "settled"
    WRITTEN_OFF = "written_off"


class DisputeOutcome(StrEnum):
    """How a dispute ends: upheld closes the case, rejected resumes collection."""

    UPHELD = "upheld"
    REJECTED = "rejected"


class Approval(StrEnum):
    """A step a human must approve before the case takes it."""

    LEGAL_REFERRAL = "legal_referral"
    FIELD_VISIT = "field_visit"
    AGENCY_PLACEMENT = "agency_placement"


class StepAction(StrEnum):
    """A non-contact step a policy can order in a stage."""

    AGENCY_PLACEMENT = "agency_placement"
    AGENCY_RECALL = "agency_recall"
    BUREAU_REPORT = "bureau_report"
    LEGAL_REFERRAL = "legal_referral"


class ActionKind(StrEnum):
    """What the core asks the shell to carry out; one activity each."""

    CONTACT = "contact"
    AGENCY_PLACEMENT = "agency_placement"
    AGENCY_RECALL = "agency_recall"
    BUREAU_REPORT = "bureau_report"
    BUREAU_UPDATE = "bureau_update"
    LEGAL_REFERRAL = "legal_referral"
    APPROVAL_REQUEST = "approval_request"


class RecordKind(StrEnum):
    """The kind of one line of a case's audit trail."""

    CONTACT = "contact"
    DEFERRED = "deferred"
    SUPPRESSED = "suppressed"
    STAGE = "stage"
    HOLD = "hold"
    RELEASE = "release"
    PAYMENT = "payment"
    PROMISE = "promise"
    PLAN = "plan"
    SETTLEMENT = "settlement"
    CLOSE = "close"
    ACTION = "action"
    APPROVAL = "approval"
    FEE = "fee"
    SEGMENT = "segment"
    OUTCOME = "outcome"
    OPENED = "opened"
    SKIPPED = "skipped"
    COMPLAINT = "complaint"
    #: The case moved onto another version of its policy (who asked and why in the detail).
    MIGRATED = "migrated"
    #: A decision raised (written by the workflow, never by the core): the case waits for a fix.
    ERROR = "error"


class TraceKind(StrEnum):
    """The kind of one line of a simulation trace (`overdue simulate --trace`): the contract's
    names for what happened, into which record and action kinds are mapped."""

    CONTACT = "contact"
    DEFERRED = "deferred"
    SKIPPED = "skipped"
    STAGE = "stage"
    HOLD = "hold"
    RELEASE = "release"
    PAYMENT = "payment"
    PROMISE = "promise"
    PLAN = "plan"
    SETTLEMENT = "settlement"
    FEE = "fee"
    PLACEMENT = "placement"
    RECALL = "recall"
    BUREAU_REPORT = "bureau_report"
    BUREAU_UPDATE = "bureau_update"
    APPROVAL = "approval"
    LEGAL_REFERRAL = "legal_referral"
    COMPLAINT = "complaint"
    CLOSE = "close"
