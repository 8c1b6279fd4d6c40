"""The custom search attributes every case sets, so the Web UI and `case list` can filter.

One list, used by the workflow (to upsert), the dev-server launcher (to register) and the tests
(to register on the time-skipping server through the operator service).
"""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey

__all__ = [
    "ALL_KEYS",
    "AMOUNT_DUE",
    "ON_HOLD",
    "OVERDUE_SINCE",
    "POLICY_NAME",
    "POLICY_VERSION",
    "SEGMENT",
    "STAGE",
]

STAGE = SearchAttributeKey.for_keyword("OverdueStage")
SEGMENT = SearchAttributeKey.for_keyword("OverdueSegment")
AMOUNT_DUE = SearchAttributeKey.for_float("OverdueAmountDue")
POLICY_NAME = SearchAttributeKey.for_keyword("OverduePolicy")
POLICY_VERSION = SearchAttributeKey.for_int("OverduePolicyVersion")
ON_HOLD = SearchAttributeKey.for_bool("OverdueOnHold")
OVERDUE_SINCE = SearchAttributeKey.for_datetime("OverdueSince")

ALL_KEYS: tuple[SearchAttributeKey[Any], ...] = (
    STAGE, SEGMENT, AMOUNT_DUE, POLICY_NAME, POLICY_VERSION, ON_HOLD, OVERDUE_SINCE,
)
