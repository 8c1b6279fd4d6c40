"""Argument types shared by the commands: each turns bad text into argparse's usage error (exit 2)."""

from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal, InvalidOperation

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
    """A decimal amount (its sign and precision are the case's business, checked by the core)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}")
    return value
