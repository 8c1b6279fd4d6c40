"""Input and query types of the bare benchmark workflow (`bench.bare`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from engine.case.state import CaseFile

__all__ = ["BareContact", "BareInput", "BareStatus"]


class BareContact(BaseModel):
    """One planned contact: when, through which channel, with which message."""

    key: str
    at: datetime
    channel: str
    template: str
    message: str


class BareInput(BaseModel):
    """The case and its contacts."""

    case: CaseFile
    contacts: list[BareContact]


class BareStatus(BaseModel):
    """What the bare workflow answers to a status query."""

    case_id: str
    sent: int
    paid: bool
