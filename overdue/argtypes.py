"""Argument types shared by the commands: each turns bad text into argparse's usage error (exit 2)."""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal

from engine.case.money import typed_amount
from engine.errors import OverdueError

__all__ = ["amount", "iso_date", "positive_int"]


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def iso_date(text: str) -> date:
    """A date as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def amount(text: str) -> Decimal:
    """A decimal amount as a person types it (`engine.case.money.typed_amount`; its sign and
    precision are the case's business, checked by the core)."""
    try:
        return typed_amount(text)
    except OverdueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
