"""The custom search attributes every case sets, so the Web UI and `case list` can filter.

One list, used by the workflow (to upsert), the dev-server launcher (to register) and the tests
(to register on the time-skipping server through the operator service).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from engine.case.state import CaseState
from engine.case.vocabulary import HoldKind

__all__ = [
    "ALL_KEYS",
    "AMOUNT_DUE",
    "AWAITING",
    "KEYS_BEFORE_AWAITING",
    "ON_HOLD",
    "OVERDUE_SINCE",
    "POLICY_NAME",
    "POLICY_VERSION",
    "SEGMENT",
    "STAGE",
    "awaiting",
    "typed",
    "values_for",
]

STAGE = SearchAttributeKey.for_keyword("OverdueStage")
SEGMENT = SearchAttributeKey.for_keyword("OverdueSegment")
AMOUNT_DUE = SearchAttributeKey.for_float("OverdueAmountDue")
POLICY_NAME = SearchAttributeKey.for_keyword("OverduePolicy")
POLICY_VERSION = SearchAttributeKey.for_int("OverduePolicyVersion")
ON_HOLD = SearchAttributeKey.for_bool("OverdueOnHold")
OVERDUE_SINCE = SearchAttributeKey.for_datetime("OverdueSince")
#: What a case waits for a person to do: the approvals pending (`legal_referral`,
#: `field_visit`...), `dispute` while disputed, `complaint` while a complaint is open. Each of the
#: console's queues is one visibility query on it instead of a query to every case.
AWAITING = SearchAttributeKey.for_keyword_list("OverdueAwaiting")

#: The keys cases indexed before `AWAITING` existed; runs without the workflow's
#: `index-awaiting` patch upsert only these, so their histories replay unchanged.
KEYS_BEFORE_AWAITING: tuple[SearchAttributeKey[Any], ...] = (
    STAGE,
    SEGMENT,
    AMOUNT_DUE,
    POLICY_NAME,
    POLICY_VERSION,
    ON_HOLD,
    OVERDUE_SINCE,
)
ALL_KEYS: tuple[SearchAttributeKey[Any], ...] = (*KEYS_BEFORE_AWAITING, AWAITING)


def values_for(state: CaseState) -> dict[str, Any]:
    """The value of every search attribute for a case, by attribute name."""
    return {
        STAGE.name: str(state.stage),  # a plain keyword, not the enum
        SEGMENT.name: state.segment or "",
        AMOUNT_DUE.name: float(state.balance),  # search only; money stays Decimal everywhere else
        POLICY_NAME.name: state.policy.name,
        POLICY_VERSION.name: state.policy.version,
        ON_HOLD.name: state.on_hold,
        OVERDUE_SINCE.name: datetime.combine(state.case.due_date, datetime.min.time(), tzinfo=UTC),
        AWAITING.name: awaiting(state),
    }


def awaiting(state: CaseState) -> list[str]:
    """The value of `AWAITING` for a case."""
    names = set(state.approvals_pending)
    if state.hold(HoldKind.DISPUTE) is not None:
        names.add("dispute")
    if any(c.open for c in state.complaints):
        names.add("complaint")
    return sorted(names)


def typed(values: dict[str, Any]) -> TypedSearchAttributes:
    """The values as the typed collection `start_workflow` takes (an empty list is left unset,
    which is what visibility stores for it anyway)."""
    return TypedSearchAttributes(
        [SearchAttributePair(k, values[k.name]) for k in ALL_KEYS if values[k.name] != []]
    )
