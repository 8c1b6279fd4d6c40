"""Bounds on a case as it arrives: sizes of each field, a sane due date, a bounded amount.

Checked at every way in (`engine.case.intake` for files, `workflows.client.Cases.open` for the
API) and never when a running case is read back: `CaseFile` itself stays as lax as it was, so a
case opened before a bound existed still decodes and replays. A 3 MB name used to pass intake and
then overflow Temporal's payload limit; 9999-12-31 opened a case that then failed on date
arithmetic (`OverflowError`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints, ValidationError

from engine.case.money import MAX_AMOUNT
from engine.case.state import CaseFile, Debtor
from engine.errors import OverdueError

__all__ = ["MAX_DUE_DATE", "MIN_DUE_DATE", "BoundedCase", "check_bounds", "control_characters"]

#: The range of due dates a case may have: outside it a case is a typo or an attack, and dates
#: near `date.max` break the core's date arithmetic.
MIN_DUE_DATE = date(1970, 1, 1)
MAX_DUE_DATE = date(2100, 12, 31)


Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(max_length=32)]
Email = Annotated[str, StringConstraints(max_length=254)]
Address = Annotated[str, StringConstraints(max_length=500)]
Word = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=8)]
PolicyName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
ConsentKey = Annotated[str, StringConstraints(max_length=32)]


class BoundedDebtor(Debtor):
    """The debtor with a size for every field."""

    id: Id
    name: Name
    phone: Phone = ""
    email: Email = ""
    address: Address = ""
    timezone: Word
    locale: Word
    third_party_phone: Phone = ""


class BoundedCase(CaseFile):
    """A `CaseFile` with every field bounded; validate arriving data with it, keep `CaseFile`."""

    debtor: BoundedDebtor
    product: Word
    amount_due: Decimal = Field(gt=0, lt=MAX_AMOUNT, allow_inf_nan=False)
    currency: Code
    due_date: date = Field(ge=MIN_DUE_DATE, le=MAX_DUE_DATE)
    policy: PolicyName
    consent: dict[ConsentKey, bool] = Field(default={}, max_length=16)

    def plain(self) -> CaseFile:
        """The same case as a plain `CaseFile` (what workflows and the core carry)."""
        return CaseFile.model_validate(self.model_dump())


def control_characters(case: CaseFile) -> list[str]:
    """The fields of a case that hold control characters (a CR/LF in an e-mail address travels
    into message headers; no field of a case is more than one line)."""
    fields = {
        "case_id": case.case_id,
        "product": case.product,
        "policy": case.policy,
        **{f"debtor.{k}": v for k, v in case.debtor.model_dump().items()},
    }
    return [
        name
        for name, v in fields.items()
        if isinstance(v, str) and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in v)
    ]


def check_bounds(case: CaseFile) -> None:
    """Raise one `OverdueError` naming every field of `case` out of bounds.

    Raises:
        OverdueError: `field: problem; field: problem`.
    """
    try:
        BoundedCase.model_validate(case.model_dump())
    except ValidationError as e:
        problems = [
            f"{'.'.join(str(x) for x in err['loc'])}: {err['msg'][0].lower()}{err['msg'][1:]}"
            for err in e.errors(include_url=False)
        ]
        raise OverdueError(f"case {case.case_id[:128]}: " + "; ".join(problems)) from None
