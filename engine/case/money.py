"""Money: `Decimal` amounts with a currency, quantised to the currency's minor unit. Never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from engine.errors import OverdueError

__all__ = ["CURRENCIES", "format_amount", "parse_amount"]

#: ISO 4217 codes we accept, with their number of minor-unit digits.
CURRENCIES: dict[str, int] = {
    "CNY": 2, "USD": 2, "EUR": 2, "GBP": 2, "HKD": 2, "SGD": 2, "JPY": 0, "IDR": 2, "PHP": 2,
    "MXN": 2, "BRL": 2, "INR": 2, "KRW": 0, "VND": 0,
}


def _quantum(currency: str) -> Decimal:
    digits = CURRENCIES.get(currency)
    if digits is None:
        raise OverdueError(f"unknown currency {currency!r} (known: {', '.join(sorted(CURRENCIES))})")
    return Decimal(1).scaleb(-digits)


def parse_amount(value: object, currency: str) -> Decimal:
    """Parse an amount (str, int or Decimal, never float) and quantise it to the currency.

    Raises:
        OverdueError: not a number, a float, more precision than the currency has, or not finite.
    """
    if isinstance(value, float):
        raise OverdueError(f"amount {value!r} must be a decimal string, not a float")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise OverdueError(f"amount {value!r} is not a number") from None
    if not amount.is_finite():
        raise OverdueError(f"amount {value!r} is not a finite number")
    q = _quantum(currency)
    rounded = amount.quantize(q, rounding=ROUND_HALF_EVEN)
    if rounded != amount:
        raise OverdueError(f"amount {value!r} has more decimals than {currency} allows")
    return rounded


def format_amount(amount: Decimal, currency: str) -> str:
    """The canonical decimal string of an amount (`"1250.00"`)."""
    return str(amount.quantize(_quantum(currency)))
