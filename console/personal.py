"""The debtor's personal data, for the roles that need it and nobody else.

Name, phone, e-mail, address and time zone come from the case workflow's `state` query, which the
console's client decrypts with its codec; nothing here is cached, logged or put into a message.
Only roles with `Permission.PERSONAL_DATA` (collector, ops, admin: `console.roles`) get past
`debtor_details`; every other role gets `Forbidden` before the case is even asked.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from console.auth import require
from console.roles import Permission
from console.users import User
from engine.case.state import CaseState
from workflows.client import Cases

__all__ = ["NO_STORE", "DebtorDetails", "debtor_details", "debtor_of"]

#: Response headers for anything showing personal data: no browser or proxy keeps a copy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class DebtorDetails(BaseModel):
    """Who the debtor is and how to reach them (personal data)."""

    debtor_id: str
    name: str
    phone: str = ""
    email: str = ""
    address: str = ""
    timezone: str = Field(description="IANA time zone: the contact window is in this local time")
    locale: str


async def debtor_details(cases: Cases, user: User, case_id: str) -> DebtorDetails:
    """The debtor of `case_id`, if `user` may see personal data.

    Raises:
        Forbidden: the user's role lacks `PERSONAL_DATA`.
        CaseNotFound: no such case.
    """
    require(user, Permission.PERSONAL_DATA)
    return debtor_of(await cases.state(case_id), user)


def debtor_of(state: CaseState, user: User) -> DebtorDetails:
    """The debtor of a case state already read, if `user` may see personal data.

    Raises:
        Forbidden: the user's role lacks `PERSONAL_DATA`.
    """
    require(user, Permission.PERSONAL_DATA)
    debtor = state.case.debtor
    return DebtorDetails(
        debtor_id=debtor.id,
        name=debtor.name,
        phone=debtor.phone,
        email=debtor.email,
        address=debtor.address,
        timezone=debtor.timezone,
        locale=debtor.locale,
    )
