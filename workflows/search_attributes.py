"""The custom search attributes every case sets, so the Web UI and `case list` can filter.

One list, used by the workflow (to upsert), the dev-server launcher (to register) and the tests
(to register on the time-skipping server through the operator service).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)

from engine.case.state import CaseState
from engine.case.vocabulary import HoldKind

__all__ = [
    "ALL_KEYS",
    "AMOUNT_DUE",
    "AWAITING",
    "CALL_SINCE",
    "DEBTOR",
    "DEFERRED_BY",
    "KEYS_BEFORE_AWAITING",
    "KEYS_BEFORE_FACTS",
    "ON_HOLD",
    "OVERDUE_SINCE",
    "PAID",
    "POLICY_NAME",
    "POLICY_VERSION",
    "PROMISES_BROKEN",
    "PROMISES_KEPT",
    "REGISTERED_KEYS",
    "SEGMENT",
    "STAGE",
    "VARIANT",
    "at_start",
    "awaiting",
    "call_since",
    "policy_label",
    "typed",
    "unset",
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

#: The champion/challenger arm the case is in ("" when its policy runs no experiment).
VARIANT = SearchAttributeKey.for_keyword("OverdueVariant")
#: What the debtor has paid so far.
PAID = SearchAttributeKey.for_float("OverduePaid")
PROMISES_KEPT = SearchAttributeKey.for_int("OverduePromisesKept")
PROMISES_BROKEN = SearchAttributeKey.for_int("OverduePromisesBroken")
#: The guardrails (`quiet_hours`, a frequency cap...) that deferred at least one contact.
DEFERRED_BY = SearchAttributeKey.for_keyword_list("OverdueDeferredBy")
#: When the oldest call still without a recorded outcome was made. Unset until the first call;
#: once the outcomes are in it keeps its last value (never unset, see `CaseWorkflow._index`), so
#: it means something only with `OverdueAwaiting = 'call'`: the console's queue of calls to write
#: up, oldest first.
CALL_SINCE = SearchAttributeKey.for_datetime("OverdueCallSince")

#: The person the case belongs to (their debtor id, as in the ledger's workflow id
#: `debtor-<id>`): set by the client when it starts the case, never upserted (it never changes,
#: and continue-as-new carries it over), so it costs no history event. `debtor status` finds a
#: person's open cases by it, whether or not they asked the ledger for a contact yet.
DEBTOR = SearchAttributeKey.for_keyword("OverdueDebtor")

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
#: The keys cases indexed before the case facts above existed; runs without the workflow's
#: `index-facts` patch upsert only these (and never await `call`), so they replay unchanged.
KEYS_BEFORE_FACTS: tuple[SearchAttributeKey[Any], ...] = (*KEYS_BEFORE_AWAITING, AWAITING)
ALL_KEYS: tuple[SearchAttributeKey[Any], ...] = (
    *KEYS_BEFORE_FACTS,
    VARIANT,
    PAID,
    PROMISES_KEPT,
    PROMISES_BROKEN,
    DEFERRED_BY,
    CALL_SINCE,
)
#: Every key a server must have registered: those the workflow keeps current, and `DEBTOR`.
REGISTERED_KEYS: tuple[SearchAttributeKey[Any], ...] = (*ALL_KEYS, DEBTOR)


def at_start(state: CaseState) -> TypedSearchAttributes:
    """The search attributes a case is started with: its indexed values and its debtor."""
    pairs = list(typed(values_for(state)).search_attributes)
    return TypedSearchAttributes([*pairs, SearchAttributePair(DEBTOR, state.case.debtor.id)])


def policy_label(attrs: TypedSearchAttributes) -> str:
    """The policy and version a case's record names, as lists show them (`consumer-credit-line
    v2`; blank parts for a record without them)."""
    version = attrs.get(POLICY_VERSION)
    return f"{attrs.get(POLICY_NAME) or ''} v{'' if version is None else version}"


def values_for(state: CaseState, *, facts: bool = True) -> dict[str, Any]:
    """The value of every search attribute for a case, by attribute name.

    `facts=False` gives what runs without the `index-facts` patch indexed: no `call` awaited.
    """
    return {
        STAGE.name: str(state.stage),  # a plain keyword, not the enum
        SEGMENT.name: state.segment or "",
        AMOUNT_DUE.name: float(state.balance),  # search only; money stays Decimal everywhere else
        POLICY_NAME.name: state.policy.name,
        POLICY_VERSION.name: state.policy.version,
        ON_HOLD.name: state.on_hold,
        OVERDUE_SINCE.name: datetime.combine(state.case.due_date, datetime.min.time(), tzinfo=UTC),
        AWAITING.name: awaiting(state, calls=facts),
        VARIANT.name: state.variant or "",
        PAID.name: float(state.paid_total),  # search only, like the balance
        PROMISES_KEPT.name: state.kept_promises,
        PROMISES_BROKEN.name: state.broken_promises,
        DEFERRED_BY.name: list(state.deferred_by),
        CALL_SINCE.name: call_since(state),
    }


def call_since(state: CaseState) -> datetime | None:
    """When the oldest call of the case still without a recorded outcome was made."""
    return min(
        (c.at for c in state.contacts if c.channel == "call" and c.outcome is None), default=None
    )


def unset(key: SearchAttributeKey[Any]) -> Any:
    """The value an unset `key` stands for: empty for a keyword list, None for the others.

    Such a value is never stored: a case with nothing awaited or no call open costs no upsert.
    """
    return [] if key.indexed_value_type == SearchAttributeIndexedValueType.KEYWORD_LIST else None


def awaiting(state: CaseState, *, calls: bool = True) -> list[str]:
    """The value of `AWAITING` for a case (`call` only with `calls`)."""
    names = set(state.approvals_pending)
    if calls and call_since(state) is not None:
        names.add("call")
    if state.hold(HoldKind.DISPUTE) is not None:
        names.add("dispute")
    if any(c.open for c in state.complaints):
        names.add("complaint")
    return sorted(names)


def typed(values: dict[str, Any]) -> TypedSearchAttributes:
    """The values as the typed collection `start_workflow` takes (an empty list is left unset,
    which is what visibility stores for it anyway)."""
    return TypedSearchAttributes(
        [SearchAttributePair(k, values[k.name]) for k in ALL_KEYS if values[k.name] != unset(k)]
    )
