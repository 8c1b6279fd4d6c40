"""Bounds on an arriving case, checked at the ways in and never on a running case read back."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from engine.case.bounds import check_bounds, control_characters
from engine.case.state import CaseFile
from engine.errors import OverdueError
from engine.policy import registry
from tests.engine.driver import case_file


@pytest.fixture(scope="module")
def case() -> CaseFile:
    return case_file(registry.load("instalment-loan"))


class TestCheckBounds:
    """What `Cases.open` checks before any workflow starts: one line naming every field."""

    def test_a_plain_case_is_in_bounds(self, case: CaseFile) -> None:
        check_bounds(case)
        assert control_characters(case) == []

    @pytest.mark.parametrize(
        ("update", "debtor", "message"),
        [
            (
                {"amount_due": Decimal("1e400")},
                {},
                "amount_due: input should be less than 1000000000000000",
            ),
            (
                {"due_date": date(9999, 12, 31)},
                {},
                "due_date: input should be less than or equal to 2100-12-31",
            ),
            (
                {},
                {"name": "x" * 3_000_000},
                "debtor.name: string should have at most 200 characters",
            ),
            (
                {"product": ""},
                {"email": "e" * 255},
                "debtor.email: string should have at most 254 characters; "
                "product: string should have at least 1 character",
            ),
        ],
    )
    def test_out_of_bounds(
        self, case: CaseFile, update: dict[str, object], debtor: dict[str, str], message: str
    ) -> None:
        bad = case.model_copy(update={**update, "debtor": case.debtor.model_copy(update=debtor)})
        with pytest.raises(OverdueError) as info:
            check_bounds(bad)
        assert str(info.value) == f"case C-1: {message}"

    def test_control_characters_are_named(self, case: CaseFile) -> None:
        bad = case.model_copy(
            update={"debtor": case.debtor.model_copy(update={"email": "a@b\r\nBcc: c@d"})}
        )
        assert control_characters(bad) == ["debtor.email"]


def test_a_running_case_out_of_todays_bounds_still_reads_back(case: CaseFile) -> None:
    """A case opened before a bound existed decodes as it always did: its workflow must replay."""
    old = case.model_dump(mode="json")
    old["debtor"]["name"] = "x" * 10_000
    old["due_date"] = "9999-12-31"
    back = CaseFile.model_validate(old)
    assert len(back.debtor.name) == 10_000 and back.due_date == date(9999, 12, 31)
