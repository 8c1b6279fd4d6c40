"""Money: `Decimal` amounts with a currency, quantised to the currency's minor unit. Never floats.

Every amount that enters the engine (a case's amount due, a payment, a promise, an instalment, a
policy's fee) is bounded here: below `MAX_AMOUNT` and with no more decimals than its currency
has. The bound keeps every sum the core makes (balance + fees - payments) far inside the 28
significant digits of the default decimal context, so arithmetic never rounds silently and
`quantize` never overflows (`1e400` and 30-digit amounts used to raise `InvalidOperation`).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from engine.errors import OverdueError

__all__ = [
    "CURRENCIES",
    "MAX_AMOUNT",
    "MAX_AMOUNT_TEXT",
    "UNKNOWN_CURRENCY",
    "amount_in",
    "check_amount",
    "format_amount",
    "parse_amount",
    "shown_amount",
    "typed_amount",
]

#: ISO 4217 codes we accept, with their number of minor-unit digits.
CURRENCIES: dict[str, int] = {
    "CNY": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "SGD": 2,
    "JPY": 0,
    "IDR": 2,
    "PHP": 2,
    "MXN": 2,
    "BRL": 2,
    "INR": 2,
    "KRW": 0,
    "VND": 0,
}

#: The currency of an amount nobody could tell the currency of (a case whose policy could not be
#: read): such amounts are kept apart under this name, never added to a known currency's.
UNKNOWN_CURRENCY = "?"

#: Every amount is below this (a thousand billion units: 15 integer digits, 17 significant
#: digits with the minor units, 11 digits of headroom in the 28-digit decimal context).
MAX_AMOUNT = Decimal("1000000000000000")
#: The longest text an amount may be written in (more is not a plausible amount).
MAX_AMOUNT_TEXT = 40


def _quantum(currency: str) -> Decimal:
    digits = CURRENCIES.get(currency)
    if digits is None:
        raise OverdueError(
            f"unknown currency {currency!r} (known: {', '.join(sorted(CURRENCIES))})"
        )
    return Decimal(1).scaleb(-digits)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "...'"


def check_amount(amount: Decimal, currency: str, shown: str | None = None) -> Decimal:
    """Bound an amount already read as a `Decimal` and quantise it to the currency.

    Raises:
        OverdueError: not finite, at or above `MAX_AMOUNT` in size, or more decimals than the
            currency has.
    """
    what = shown or _shown(str(amount))
    if not amount.is_finite():
        raise OverdueError(f"amount {what} is not a finite number")
    if (
        amount.copy_abs() >= MAX_AMOUNT
    ):  # copy_abs, not abs(): abs() rounds, and 1E+999999999 overflows
        raise OverdueError(f"amount {what} is too large (at most {MAX_AMOUNT - 1})")
    q = _quantum(currency)
    rounded = amount.quantize(q, rounding=ROUND_HALF_EVEN)  # cannot overflow below MAX_AMOUNT
    if rounded != amount:
        raise OverdueError(f"amount {what} has more decimals than {currency} allows")
    return rounded


def parse_amount(value: object, currency: str) -> Decimal:
    """Parse an amount (str, int or Decimal, never float) and quantise it to the currency.

    Raises:
        OverdueError: not a number, a float, too long or too large, more precision than the
            currency has, or not finite.
    """
    if isinstance(value, float):
        raise OverdueError(f"amount {value!r} must be a decimal string, not a float")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise OverdueError(f"amount must be a decimal number, not {type(value).__name__}")
    if isinstance(value, Decimal):
        return check_amount(value, currency, _shown(str(value)))
    text = str(value).strip() if isinstance(value, str) else None
    if text is not None and len(text) > MAX_AMOUNT_TEXT:
        raise OverdueError(f"amount {_shown(value)} is too long to be an amount")
    try:
        # An int is bounded below before it becomes a Decimal; str(int) of a huge int is slow.
        if isinstance(value, int) and abs(value) >= MAX_AMOUNT:
            raise OverdueError(f"amount is too large (at most {MAX_AMOUNT - 1})")
        amount = Decimal(text) if text is not None else Decimal(value)
    except InvalidOperation:
        raise OverdueError(f"amount {_shown(value)} is not a number") from None
    return check_amount(amount, currency, _shown(value))


#: An amount as a person types it: digits, a point and more digits; nothing else.
_TYPED = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")


def typed_amount(text: str) -> Decimal:
    """An amount a person typed (command line, console form), in plain decimal notation only:
    `1250` or `1250.50`. `1e9` is refused, though `Decimal` reads it as a billion: a typo must
    not become a payment that closes a case; so are `1,000`, `inf` and `nan`. Sign and
    precision are the case's business (checked by the core).

    Raises:
        OverdueError: not an amount written that way (one line).
    """
    t = text.strip()
    if len(t) > MAX_AMOUNT_TEXT or not _TYPED.fullmatch(t):
        raise OverdueError(f"not an amount: {text!r} (write digits and a point, e.g. 1250.50)")
    return Decimal(t)


def format_amount(amount: Decimal, currency: str) -> str:
    """The canonical decimal string of an amount (`"1250.00"`)."""
    return str(amount.quantize(_quantum(currency)))


def amount_in(value: float | int, currency: str) -> Decimal:
    """A search attribute's float amount as the decimal it was made from, in its currency.

    Amounts are bounded to 15 integer digits, so the float's shortest repr is exact; a known
    currency quantises it to its minor unit (`8020.0` JPY -> `8020`), an unknown one
    (`UNKNOWN_CURRENCY`) keeps it as it is.
    """
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return amount.quantize(_quantum(currency)) if currency in CURRENCIES else amount


def shown_amount(amount: Decimal, currency: str) -> str:
    """The decimal string of an amount in `currency`: `format_amount`'s for a known currency;
    for an unknown one two decimals when that is exact, else every decimal it has."""
    if currency in CURRENCIES:
        return format_amount(amount, currency)
    cents = amount.quantize(Decimal("0.01"))
    return str(cents if cents == amount else amount)
