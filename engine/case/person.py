"""The person behind one or more cases: the contact ledger every case of one debtor shares.

Rules of conduct apply to the person, not to the account: two accounts of one debtor must never
double the contacts. `PersonLedger` is what the `debtor-<id>` workflow carries (and the
simulator keeps per person); `engine.decision.person.grant` judges a contact against it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from engine.case.state import ContactLog

__all__ = ["PersonContact", "PersonLedger"]


class PersonContact(ContactLog):
    """A contact granted to one of the person's cases (the case's own log entry, plus its case)."""

    case_id: str


class PersonLedger(BaseModel):
    """Every recent contact of one person across all of their cases, in the order granted, and
    the facts about the person that every case must honour."""

    debtor_id: str
    contacts: list[PersonContact] = []
    #: When the person last talked with a collector (a connected call on any of their cases).
    last_conversation_at: datetime | None = None
    #: The person asked to stop communications (on any case): only legally required notices.
    ceased: bool = False
    #: Channels the person refused (on any case).
    refused: list[str] = []
    #: Cases that asked for a grant, with the policy hash each is pinned to (for `debtor status`).
    cases: dict[str, str] = {}
    #: How far back contacts are kept: the longest rolling window any of the cases' rules needs.
    keep_days: int = 8
