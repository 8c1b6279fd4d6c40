"""Message templates: which placeholders a template may use, and filling them from a case."""

from __future__ import annotations

import string
from collections.abc import Iterator

from engine.case.money import format_amount
from engine.case.state import CaseState
from engine.policy.model import Policy

__all__ = ["PLACEHOLDERS", "placeholders", "render"]

#: Everything a template can name; anything else is a load error.
PLACEHOLDERS: dict[str, str] = {
    "name": "the debtor's name",
    "case_id": "the case number",
    "amount": "the balance now owed",
    "amount_due": "the amount originally overdue",
    "currency": "the currency code",
    "due_date": "the original due date",
    "days_past_due": "calendar days since the due date",
    "pay_url": "where to pay (the policy's pay_url)",
    "dispute_url": "where to dispute (the policy's dispute_url)",
}


def placeholders(text: str) -> Iterator[str]:
    """Every `{field}` named in a template text.

    Only plain `{name}` is allowed: a format spec or a conversion (`{name:>999999999}`,
    `{amount!x}`, `{name:d}`) would fail or blow up when the message is rendered, long after the
    policy loaded.

    Raises:
        ValueError: a malformed template, or a placeholder with a format spec or conversion.
    """
    for _, field, spec, conversion in string.Formatter().parse(text):
        if field is None:
            continue
        if spec or conversion:
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(
                f"{{{shown}}}: only plain {{{field}}} placeholders are allowed "
                "(no format specs or conversions)"
            )
        yield field


def render(policy: Policy, state: CaseState, template: str, locale: str, days_past_due: int) -> str:
    """The template's text in `locale`, filled from the case (templates were checked at load)."""
    texts = policy.templates[template].text
    text = texts.get(locale) or texts[policy.locales[0]]
    case = state.case
    values = {
        "name": case.debtor.name,
        "case_id": case.case_id,
        "amount": format_amount(state.balance, case.currency),
        "amount_due": format_amount(case.amount_due, case.currency),
        "currency": case.currency,
        "due_date": case.due_date.isoformat(),
        "days_past_due": str(days_past_due),
        "pay_url": policy.pay_url.replace("{case_id}", case.case_id),
        "dispute_url": policy.dispute_url.replace("{case_id}", case.case_id),
    }
    return text.format_map(values)
