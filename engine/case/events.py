"""Events a case can receive, as one tagged union (`Event`, discriminated by `kind`).

These are also the workflow's messages: the case workflow's `event` update takes an `Event` as it
is, so an event added here reaches running cases with no change to the workflow. Whether an event
is acceptable in a given state is decided by `engine.decision.decide.validate`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

from engine.case.state import PolicyRef
from engine.case.vocabulary import (
    Attitude,
    Channel,
    CloseReason,
    ContactResult,
    DisputeOutcome,
)

__all__ = [
    "Approve",
    "AttitudeChange",
    "CallResult",
    "Cease",
    "Close",
    "Complaint",
    "ComplaintChannel",
    "ComplaintResolved",
    "ContactDeferred",
    "ContactOutcome",
    "Deny",
    "Dispute",
    "DisputeResolved",
    "Event",
    "Hardship",
    "MigratePolicy",
    "Payment",
    "Plan",
    "Promise",
    "Settle",
    "call_outcome",
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Who recorded the event (a console user, a CLI `--by`), added to its record's reason;
    #: empty for what no person did (a bank feed, a channel, the simulator's debtors).
    by: str = ""


class Payment(_Event):
    """Money received."""

    kind: Literal["payment"] = "payment"
    amount: Decimal
    currency: str
    ref: str = ""


class Promise(_Event):
    """A promise to pay `amount` by `due_date`."""

    kind: Literal["promise"] = "promise"
    amount: Decimal
    due_date: date


class Plan(_Event):
    """A repayment plan agreed with the debtor."""

    kind: Literal["plan"] = "plan"
    instalments: list[tuple[Decimal, date]] = Field(min_length=1)


class Settle(_Event):
    """A settlement for less: the debtor pays `amount` by `until` (default: as late as the policy
    allows) and the rest of the balance is waived; once paid, the case closes `settled`."""

    kind: Literal["settle"] = "settle"
    amount: Decimal
    until: date | None = None


class Dispute(_Event):
    """The debtor disputes the debt: collection stops until it is resolved."""

    kind: Literal["dispute"] = "dispute"
    reason: str = ""


class DisputeResolved(_Event):
    """The dispute's outcome: upheld closes the case, rejected resumes collection."""

    kind: Literal["dispute_resolved"] = "dispute_resolved"
    outcome: DisputeOutcome


class Hardship(_Event):
    """Hardship or breathing space: collection pauses for `days`."""

    kind: Literal["hardship"] = "hardship"
    days: int


class Cease(_Event):
    """The debtor asked to stop communications: only legally required notices go out. With a
    `channel`, the debtor withdrew consent to that one channel only (an opt-out)."""

    kind: Literal["cease"] = "cease"
    channel: Channel | None = None


class Close(_Event):
    """The case ends for a reason outside the policy."""

    kind: Literal["close"] = "close"
    reason: CloseReason


class Approve(_Event):
    """A human approves a step the policy waits for."""

    kind: Literal["approve"] = "approve"
    action: str


class Deny(_Event):
    """A human refuses a step the policy waits for; it is not asked for again in this stage and
    the stage's other rules go on (a time-barred or small debt still writes off)."""

    kind: Literal["deny"] = "deny"
    action: str
    reason: str = Field(min_length=1, max_length=500)


#: How a complaint arrived.
ComplaintChannel = Literal["phone", "email", "letter", "web", "app", "regulator"]


class Complaint(_Event):
    """The debtor complains (about a collector, an agency, a contact...); the policy's
    `complaints:` section says how soon it is answered and whether it holds collection.
    `text` is the debtor's words: personal data, kept in the case (encrypted) and never logged."""

    kind: Literal["complaint"] = "complaint"
    category: str = Field(
        pattern=r"^[a-z][a-z_]{0,31}$", examples=["collector", "contact", "amount"]
    )
    text: str = Field(min_length=1, max_length=2000)
    channel: ComplaintChannel = "phone"


class ComplaintResolved(_Event):
    """The oldest open complaint is answered: upheld (the debtor was right) or rejected."""

    kind: Literal["complaint_resolved"] = "complaint_resolved"
    outcome: Literal["upheld", "rejected"]


class ContactOutcome(_Event):
    """What became of a contact: a call connected or not, a message bounced."""

    kind: Literal["contact_outcome"] = "contact_outcome"
    action_id: str
    outcome: ContactResult
    #: Why it failed, in the channel's words (``webhook HTTP 400``); never personal data.
    reason: str = Field(default="", max_length=200)
    #: The channel said the address itself is wrong (unknown number, refused mailbox, invalid
    #: address): the core stops using it for this case instead of failing again and again.
    address_unusable: bool = False


class ContactDeferred(_Event):
    """A contact the core decided was not granted by the person's ledger (another case of the
    same debtor used the room): the core takes it back and defers it until `until`, or, with no
    `until`, drops it for good (a person-level cease or opt-out)."""

    kind: Literal["contact_deferred"] = "contact_deferred"
    action_id: str
    until: datetime | None
    guardrail: str


class AttitudeChange(_Event):
    """The agent's reading of the debtor's attitude after a conversation."""

    kind: Literal["attitude"] = "attitude"
    attitude: Attitude


#: What a collector records about a call.
CallResult = Literal["connected", "unanswered", "wrong_number"]


def call_outcome(
    action_id: str,
    result: CallResult,
    attitude: str | None = None,
    promise: tuple[Decimal, date] | None = None,
    by: str = "",
) -> list[ContactOutcome | AttitudeChange | Promise]:
    """The events of one call as a collector (`by`) records it in one step: what happened (a
    wrong number makes the phone unusable for this case), the debtor's attitude, a promise."""
    events: list[ContactOutcome | AttitudeChange | Promise] = [
        ContactOutcome(
            action_id=action_id,
            outcome="failed",
            reason="wrong number",
            address_unusable=True,
            by=by,
        )
        if result == "wrong_number"
        else ContactOutcome(action_id=action_id, outcome=result, by=by)
    ]
    if attitude is not None:
        events.append(AttitudeChange.model_validate({"attitude": attitude, "by": by}))
    if promise is not None:
        events.append(Promise(amount=promise[0], due_date=promise[1], by=by))
    return events


class MigratePolicy(_Event):
    """Move the case onto another version of its policy (a rollout, a rollback).

    The case keeps everything it has (balance, holds, promise, plan, contact ledger); only the
    rules it is judged by change from the next decision on. `by` and `reason` go into the case's
    history. Moving to the version the case is already on changes nothing and succeeds, so a
    rollout that retries a batch never moves a case twice.
    """

    kind: Literal["migrate_policy"] = "migrate_policy"
    to: PolicyRef
    reason: str = ""


#: Any event. A named alias (not a bare `Annotated`), so the discriminator survives where type
#: hints are read without extras, as Temporal does for the parameters of an update.
Event = TypeAliasType(
    "Event",
    Annotated[
        Payment
        | Promise
        | Plan
        | Settle
        | Dispute
        | DisputeResolved
        | Hardship
        | Cease
        | Close
        | Approve
        | Deny
        | Complaint
        | ComplaintResolved
        | ContactOutcome
        | AttitudeChange
        | ContactDeferred
        | MigratePolicy,
        Field(discriminator="kind"),
    ],
)
