"""Structured conditions (all/any of field-comparison-value) and their pure evaluation.

Conditions are data, never code: they validate, explain themselves in plain words, and cannot run
anything. The fields a condition may name (`Field`) are the keys of `CaseFacts`, the facts the
decision core computes for a case at a moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal, TypedDict, get_args

from pydantic import BaseModel, ConfigDict, model_validator

from engine.case.vocabulary import Attitude

__all__ = [
    "BOOL_FIELDS",
    "FIELDS",
    "TIME_FIELDS",
    "CaseFacts",
    "Condition",
    "Field",
    "Op",
    "describe",
    "evaluate",
    "time_thresholds",
]

Field = Literal[
    "days_past_due",  # on the collection clock: calendar days since due date, less paused days
    "days_in_stage",  # on the collection clock too
    "balance",
    "amount_due",
    "risk_score",
    "attitude",
    "product",
    "segment",
    "variant",
    "broken_promises",
    "kept_promises",
    "missed_instalments",
    "failed_contacts",  # consecutive contact attempts with no answer
    "contacts_in_stage",
    "paid_ratio",  # paid so far / amount due, 0..1
    "time_barred",  # true/false: past the jurisdiction's limitation period, on calendar days
]
FIELDS: tuple[str, ...] = get_args(Field)


class CaseFacts(TypedDict):
    """The facts a condition is judged on, one per `Field` (a test keeps the two in step)."""

    days_past_due: int
    days_in_stage: int
    balance: Decimal
    amount_due: Decimal
    risk_score: int | None
    attitude: Attitude
    product: str
    segment: str | None
    variant: str | None
    broken_promises: int
    kept_promises: int
    missed_instalments: int
    failed_contacts: int
    contacts_in_stage: int
    paid_ratio: Decimal | int  # 0 (an int) when nothing was due
    time_barred: bool


#: Fields that change with time alone; the core computes when a threshold on them is crossed.
TIME_FIELDS = frozenset({"days_past_due", "days_in_stage"})
#: Fields that are true or false; `time_barred` too turns true with time alone.
BOOL_FIELDS = frozenset({"time_barred"})

Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in"]
Scalar = str | int | Decimal | bool
Value = Scalar | list[Scalar]


class Condition(BaseModel):
    """Either a comparison (`field`, `op`, `value`) or a group (`all:` / `any:` of conditions)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    field: Field | None = None
    op: Op | None = None
    value: Value | None = None
    all: list[Condition] | None = None
    any: list[Condition] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        comparison = self.field is not None or self.op is not None or self.value is not None
        groups = (self.all is not None) + (self.any is not None)
        if comparison and groups:
            raise ValueError("a condition is either field/op/value or all/any, not both")
        if not comparison and groups != 1:
            raise ValueError("a condition needs field/op/value, or exactly one of all/any")
        if comparison:
            if self.field is None or self.op is None or self.value is None:
                raise ValueError("a comparison needs field, op and value")
            if self.op in ("in", "not_in") and not isinstance(self.value, list):
                raise ValueError(f"op {self.op!r} needs a list value")
            if self.op not in ("in", "not_in") and isinstance(self.value, list):
                raise ValueError(f"op {self.op!r} needs a single value, not a list")
        return self


def _num(v: object) -> object:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return Decimal(v)
    return v


_INT_OPS = {
    "==": int.__eq__,
    "!=": int.__ne__,
    "<": int.__lt__,
    "<=": int.__le__,
    ">": int.__gt__,
    ">=": int.__ge__,
}


def _compare(actual: object, op: str, expected: object) -> bool:
    if type(actual) is int and type(expected) is int and op in _INT_OPS:
        return _INT_OPS[op](actual, expected)  # the common case (days, counts): no Decimal needed
    if actual is None:
        return op == "!=" if expected is not None else op == "=="
    a = _num(actual)
    if op == "in":
        return a in [_num(x) for x in expected]  # type: ignore[attr-defined]
    if op == "not_in":
        return a not in [_num(x) for x in expected]  # type: ignore[attr-defined]
    e = _num(expected)
    try:
        if op == "==":
            return bool(a == e)
        if op == "!=":
            return bool(a != e)
        if op == "<":
            return bool(a < e)  # type: ignore[operator]
        if op == "<=":
            return bool(a <= e)  # type: ignore[operator]
        if op == ">":
            return bool(a > e)  # type: ignore[operator]
        return bool(a >= e)  # type: ignore[operator]
    except TypeError:
        return False


def evaluate(cond: Condition | None, facts: Mapping[str, object]) -> bool:
    """Whether the condition holds for these facts (an absent condition always holds)."""
    if cond is None:
        return True
    if cond.all is not None:
        return all(evaluate(c, facts) for c in cond.all)
    if cond.any is not None:
        return any(evaluate(c, facts) for c in cond.any)
    return _compare(facts.get(cond.field or ""), cond.op or "==", cond.value)


def time_thresholds(cond: Condition | None, field: str) -> list[int]:
    """Values of `field` at which this condition's truth can change with time alone.

    For `days_past_due >= 30` that is 30; for `> 30`, 31. Used to sleep exactly until the next
    moment a rule can fire, instead of polling.
    """
    if cond is None:
        return []
    if cond.all is not None or cond.any is not None:
        out: list[int] = []
        for c in cond.all or cond.any or []:
            out.extend(time_thresholds(c, field))
        return out
    if cond.field != field or isinstance(cond.value, list | bool) or cond.value is None:
        return []
    v = int(Decimal(str(cond.value)))
    return [v + 1] if cond.op in (">", "<=") else [v]


_WORDS = {
    "==": "is",
    "!=": "is not",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "in": "is one of",
    "not_in": "is none of",
}


def describe(cond: Condition | None) -> str:
    """The condition in plain words, e.g. `days_past_due >= 30 and broken_promises >= 2`."""
    if cond is None:
        return "always"
    if cond.all is not None:
        return " and ".join(f"({describe(c)})" if c.any else describe(c) for c in cond.all)
    if cond.any is not None:
        return " or ".join(describe(c) for c in cond.any)
    value = ", ".join(map(str, cond.value)) if isinstance(cond.value, list) else str(cond.value)
    return f"{cond.field} {_WORDS[cond.op or '==']} {value}"
