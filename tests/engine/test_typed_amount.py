"""Amounts a person types (command line, console forms): plain decimal notation only, so a typo
such as `1e9` never becomes a payment of a billion that closes the case."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.case.money import typed_amount
from engine.errors import OverdueError


@pytest.mark.parametrize(
    ("text", "value"),
    [("1250", "1250"), ("1250.50", "1250.50"), (" 10.00 ", "10.00"), (".5", "0.5"), ("-3", "-3")],
)
def test_plain_decimals_are_amounts(text: str, value: str) -> None:
    assert typed_amount(text) == Decimal(value)


@pytest.mark.parametrize(
    "text", ["1e9", "1E+3", "1,000", "inf", "NaN", "abc", "", "1.2.3", "+-5", "0x10", "1_000"]
)
def test_anything_else_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(OverdueError, match="not an amount") as e:
        typed_amount(text)
    assert "\n" not in str(e.value)


def test_a_huge_text_is_refused_before_it_is_read() -> None:
    with pytest.raises(OverdueError, match="not an amount"):
        typed_amount("9" * 10_000)
