"""Structured conditions: their validation, evaluation, plain-words description, and the time
thresholds the core sleeps until."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from engine.policy.conditions import Condition, describe, evaluate, time_thresholds


def c(doc: dict[str, Any]) -> Condition:
    return Condition.model_validate(doc)


FACTS: dict[str, object] = {
    "days_past_due": 31,
    "balance": Decimal("1000.00"),
    "attitude": "hostile",
    "variant": None,
    "broken_promises": 2,
    "segment": "severe",
}


class TestValidation:
    """A condition is either one comparison or one group; anything else is refused."""

    @pytest.mark.parametrize(
        ("doc", "message"),
        [
            ({"field": "balance", "op": ">=", "value": 1, "all": []}, "not both"),
            ({}, "exactly one of all/any"),
            ({"all": [], "any": []}, "exactly one of all/any"),
            ({"field": "balance", "op": ">="}, "needs field, op and value"),
            ({"field": "balance", "op": "in", "value": 5}, "needs a list value"),
            ({"field": "balance", "op": "==", "value": [1, 2]}, "needs a single value"),
            ({"field": "shoe_size", "op": "==", "value": 42}, "field"),
            ({"field": "balance", "op": "~", "value": 1}, "op"),
        ],
    )
    def test_refused(self, doc: dict[str, Any], message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            c(doc)


class TestEvaluate:
    """Comparisons against the case's facts; numbers compare as decimals, unknowns never match."""

    @pytest.mark.parametrize(
        ("doc", "expected"),
        [
            ({"field": "days_past_due", "op": ">=", "value": 31}, True),
            ({"field": "days_past_due", "op": ">", "value": 31}, False),
            ({"field": "days_past_due", "op": "<", "value": 32}, True),
            ({"field": "days_past_due", "op": "<=", "value": 30}, False),
            ({"field": "balance", "op": "==", "value": 1000}, True),  # int against Decimal
            ({"field": "balance", "op": ">=", "value": Decimal("999.99")}, True),
            ({"field": "balance", "op": "!=", "value": Decimal("1000.00")}, False),
            (
                {"field": "balance", "op": ">=", "value": "999.99"},
                False,
            ),  # text against a number (the loader refuses it)
            ({"field": "attitude", "op": "in", "value": ["evasive", "hostile"]}, True),
            ({"field": "attitude", "op": "not_in", "value": ["evasive", "hostile"]}, False),
            ({"field": "broken_promises", "op": "in", "value": [1, 2]}, True),
            ({"field": "variant", "op": "==", "value": "challenger"}, False),  # unknown
            ({"field": "variant", "op": "!=", "value": "challenger"}, True),
            (
                {"field": "attitude", "op": ">", "value": 3},
                False,
            ),  # incomparable: false, not an error
            ({"field": "risk_score", "op": ">=", "value": 500}, False),  # absent fact
        ],
    )
    def test_comparisons(self, doc: dict[str, Any], expected: bool) -> None:
        assert evaluate(c(doc), FACTS) is expected

    def test_groups(self) -> None:
        cond = c(
            {
                "all": [
                    {"field": "days_past_due", "op": ">=", "value": 31},
                    {
                        "any": [
                            {"field": "balance", "op": "<", "value": 5},
                            {"field": "attitude", "op": "==", "value": "hostile"},
                        ]
                    },
                ]
            }
        )
        assert evaluate(cond, FACTS) is True
        assert evaluate(cond, {**FACTS, "attitude": "neutral"}) is False
        assert evaluate(c({"all": []}), FACTS) is True and evaluate(c({"any": []}), FACTS) is False

    def test_no_condition_always_holds(self) -> None:
        assert evaluate(None, {}) is True


class TestDescribe:
    """A condition reads as plain words."""

    def test_words(self) -> None:
        cond = c(
            {
                "all": [
                    {"field": "days_past_due", "op": ">=", "value": 91},
                    {
                        "any": [
                            {"field": "balance", "op": ">=", "value": 1000},
                            {"field": "attitude", "op": "in", "value": ["hostile"]},
                        ]
                    },
                ]
            }
        )
        assert (
            describe(cond)
            == "days_past_due >= 91 and (balance >= 1000 or attitude is one of hostile)"
        )
        assert describe(None) == "always"
        assert (
            describe(c({"field": "variant", "op": "!=", "value": "challenger"}))
            == "variant is not challenger"
        )


class TestTimeThresholds:
    """The day at which a condition on a time field can change by itself."""

    @pytest.mark.parametrize(
        ("op", "value", "expected"),
        [
            (">=", 30, [30]),
            (">", 30, [31]),
            ("<", 30, [30]),
            ("<=", 30, [31]),
            ("==", 30, [30]),
        ],
    )
    def test_ops(self, op: str, value: int, expected: list[int]) -> None:
        assert (
            time_thresholds(
                c({"field": "days_past_due", "op": op, "value": value}), "days_past_due"
            )
            == expected
        )

    def test_nested_and_other_fields(self) -> None:
        cond = c(
            {
                "any": [
                    {"field": "days_in_stage", "op": ">=", "value": 365},
                    {
                        "all": [
                            {"field": "days_past_due", "op": ">=", "value": 91},
                            {"field": "balance", "op": ">=", "value": 5},
                        ]
                    },
                    {"field": "days_past_due", "op": "in", "value": [3, 4]},
                ]
            }
        )
        assert time_thresholds(cond, "days_past_due") == [91]
        assert time_thresholds(cond, "days_in_stage") == [365]
        assert time_thresholds(None, "days_past_due") == []
