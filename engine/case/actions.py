"""What the core asks the shell to do (`Action`) and what it records about why (`Record`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from engine.case.vocabulary import ActionKind, Channel, RecordKind, Stage

__all__ = ["CONTACT_CHANNELS", "Action", "ActionKind", "Channel", "Record", "RecordKind"]

#: Channels a contact can go through, in the vocabulary's order.
CONTACT_CHANNELS: tuple[Channel, ...] = tuple(Channel)


class Action(BaseModel):
    """One thing to carry out, exactly once, identified by a deterministic `action_id`.

    The id is built from the case, the stage, the plan item and its occurrence, so a retried
    activity or a replayed workflow produces the same id and the channel can drop the duplicate.
    """

    model_config = ConfigDict(frozen=True)

    action_id: str
    case_id: str
    kind: ActionKind
    at: datetime
    stage: Stage
    reason: str
    channel: Channel | None = None
    template: str | None = None
    locale: str | None = None
    #: The rendered message for contacts (personal data: encrypted in histories by the codec).
    message: str | None = None
    #: Where it goes: phone number, e-mail address, postal address; empty for non-contacts.
    to: str | None = None
    third_party: bool = False
    legally_required: bool = False
    #: Extra facts for the adapter (collectors for a field visit, bureau status, approval name).
    detail: dict[str, str] = {}
    #: For contacts: the person, their time zone and the case's policy, so the contact can ask
    #: the person's shared ledger for room (`engine.decision.person.grant`). Empty on actions
    #: decided before the ledger existed: those go out without asking.
    debtor_id: str = ""
    debtor_timezone: str = ""
    policy_hash: str = ""


class Record(BaseModel):
    """One line of the audit trail: every decision, with the rule or guardrail that caused it."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    kind: RecordKind
    stage: Stage
    reason: str
    channel: Channel | None = None
    outcome: str | None = None
    action_id: str | None = None
    detail: dict[str, str] = {}
