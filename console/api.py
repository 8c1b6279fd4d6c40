"""The JSON API under ``/api`` (bearer token): case status, the approvals queue, payments,
approvals and denials. The OpenAPI document is at ``/api/openapi.json``, its reference at
``/api/docs`` (`console.api_docs`), Swagger UI at ``/api/swagger``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from console.auth import api_user, require
from console.calls import call_events
from console.personal import NO_STORE, DebtorDetails, debtor_details
from console.queues import QueueFilter, QueueItem, approvals_queue, calls_queue, issues_queue
from console.roles import Permission, allowed
from console.service import ConsoleState
from console.users import User
from engine.case import events as ev
from engine.decision.status import CaseStatus
from workflows.types import EventResult

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["cases"])

ApiUser = Annotated[User, Depends(api_user)]


def _console(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


class PaymentRequest(BaseModel):
    """A payment received for a case."""

    amount: Decimal = Field(gt=0, examples=["10.00"])
    currency: str = Field(min_length=3, max_length=3, examples=["CNY"])
    ref: str = Field(
        default="",
        max_length=128,
        description="the payment's reference; a repeat is not applied twice",
    )


class ApprovalRequest(BaseModel):
    """A human decision on a step the policy waits for."""

    action: str = Field(examples=["legal_referral"])


class QueueItemOut(BaseModel):
    """A case waiting in a queue."""

    case_id: str
    stage: str
    segment: str
    balance: str = Field(description="a decimal string with the currency's own decimals")
    currency: str = Field(
        description="the case's currency (its policy's); '?' when the policy cannot be read"
    )
    policy: str
    awaiting: list[str]
    overdue_since: str | None
    age_days: int | None
    call_since: str | None = Field(
        default=None, description="calls queue: when the oldest call without an outcome was made"
    )


class QueueOut(BaseModel):
    """A work queue."""

    count: int
    items: list[QueueItemOut]


@router.get("/cases/{case_id}", response_model=CaseStatus, summary="Where a case stands")
async def case_status(case_id: str, user: ApiUser, request: Request) -> CaseStatus:
    """The `overdue case status --json` document."""
    require(user, Permission.VIEW)
    return await _console(request).cases.status(case_id)


@router.get(
    "/cases/{case_id}/debtor",
    response_model=DebtorDetails,
    summary="The debtor's personal data (collector, ops, admin)",
    responses={403: {"description": "the role may not see personal data"}},
)
async def debtor(
    case_id: str, user: ApiUser, request: Request, response: Response
) -> DebtorDetails:
    """Name, phone, e-mail, address and time zone of the case's debtor; 403 for roles without
    the personal-data permission (viewer, manager)."""
    details = await debtor_details(_console(request).cases, user, case_id)
    response.headers.update(NO_STORE)
    return details


class DenialRequest(BaseModel):
    """A refusal of a step the policy waits for."""

    action: str = Field(examples=["legal_referral"])
    reason: str = Field(min_length=1, max_length=500)


class ComplaintRequest(BaseModel):
    """A complaint the debtor made."""

    category: str = Field(pattern=r"^[a-z][a-z_]{0,31}$", examples=["collector"])
    text: str = Field(min_length=1, max_length=2000)
    channel: ev.ComplaintChannel = "phone"


class ResolutionRequest(BaseModel):
    """How a complaint was answered."""

    outcome: Literal["upheld", "rejected"]


class PromiseIn(BaseModel):
    """A promise agreed on a call."""

    amount: Decimal = Field(gt=0)
    due_date: date


class InstalmentIn(BaseModel):
    """One instalment of a repayment plan."""

    amount: Decimal = Field(gt=0)
    due_date: date


class OutcomeRequest(BaseModel):
    """What happened on a call, in one step: a promise or a plan agreed, not both."""

    action_id: str
    result: ev.CallResult
    attitude: Literal["cooperative", "neutral", "evasive", "hostile"] | None = None
    promise: PromiseIn | None = None
    plan: list[InstalmentIn] | None = Field(default=None, min_length=1, max_length=60)


def _filter(
    stage: str | None = None,
    segment: str | None = None,
    min_amount: Annotated[Decimal | None, Query(ge=0)] = None,
    max_amount: Annotated[Decimal | None, Query(ge=0)] = None,
    min_age: Annotated[int | None, Query(ge=0, description="days overdue, at least")] = None,
    max_age: Annotated[int | None, Query(ge=0, description="days overdue, at most")] = None,
) -> QueueFilter:
    """The query parameters every queue takes (a bad stage or segment is one 400 line)."""
    return QueueFilter(
        stage=stage or None,
        segment=segment or None,
        min_amount=min_amount,
        max_amount=max_amount,
        min_age=min_age,
        max_age=max_age,
    )


Filter = Annotated[QueueFilter, Depends(_filter)]


def _items(items: list[QueueItem]) -> dict[str, Any]:
    return {"count": len(items), "items": [i.to_json() for i in items]}


@router.get(
    "/queues/issues", response_model=QueueOut, summary="Cases with a dispute or complaint open"
)
async def issues(user: ApiUser, request: Request, f: Filter) -> dict[str, Any]:
    """Running cases with a dispute or a complaint open, oldest debt first."""
    require(user, Permission.VIEW)
    state = _console(request)
    today = datetime.now(UTC).date()
    return _items(
        await issues_queue(state.client, f, today, currency_of=state.currencies().of_async)
    )


@router.get("/queues/approvals", response_model=QueueOut, summary="Cases waiting for an approval")
async def approvals(user: ApiUser, request: Request, f: Filter) -> dict[str, Any]:
    """Running cases waiting for a human approval, oldest debt first."""
    require(user, Permission.VIEW)
    state = _console(request)
    today = datetime.now(UTC).date()
    return _items(
        await approvals_queue(state.client, f, today, currency_of=state.currencies().of_async)
    )


@router.get(
    "/queues/calls",
    response_model=QueueOut,
    summary="Calls waiting for their outcome, oldest first",
)
async def calls(user: ApiUser, request: Request, f: Filter) -> dict[str, Any]:
    """Running cases with a call whose outcome is not recorded yet, the longest waiting first
    (`call_since`)."""
    require(user, Permission.VIEW)
    state = _console(request)
    today = datetime.now(UTC).date()
    return _items(
        await calls_queue(state.client, f, today, currency_of=state.currencies().of_async)
    )


@router.post("/cases/{case_id}/payments", response_model=EventResult, summary="Record a payment")
async def pay(case_id: str, body: PaymentRequest, user: ApiUser, request: Request) -> EventResult:
    """Record a payment; a `ref` already recorded on the case is acknowledged, not applied again."""
    require(user, Permission.RECORD)
    console = _console(request)
    payment = ev.Payment(amount=body.amount, currency=body.currency, ref=body.ref)
    return await console.act("payment", user, case_id, [payment])


@router.post("/cases/{case_id}/approvals", response_model=EventResult, summary="Approve a step")
async def approve(
    case_id: str, body: ApprovalRequest, user: ApiUser, request: Request
) -> EventResult:
    """Approve a step the case waits for; the case history names the user."""
    require(user, Permission.APPROVE)
    console = _console(request)
    return await console.act("approve", user, case_id, [ev.Approve(action=body.action)])


@router.post("/cases/{case_id}/denials", response_model=EventResult, summary="Deny a step")
async def deny(case_id: str, body: DenialRequest, user: ApiUser, request: Request) -> EventResult:
    """Refuse a step the case waits for; it is not asked again in this stage."""
    require(user, Permission.APPROVE)
    console = _console(request)
    event = ev.Deny(action=body.action, reason=body.reason)
    return await console.act("deny", user, case_id, [event])


@router.post(
    "/cases/{case_id}/complaints", response_model=EventResult, summary="Record a complaint"
)
async def complain(
    case_id: str, body: ComplaintRequest, user: ApiUser, request: Request
) -> EventResult:
    """Record a complaint; the policy's `complaints:` section says when it must be answered."""
    if not (allowed(user.role, Permission.RECORD) or allowed(user.role, Permission.DISPUTES)):
        require(user, Permission.RECORD)
    console = _console(request)
    event = ev.Complaint(category=body.category, text=body.text, channel=body.channel)
    return await console.act("complaint", user, case_id, [event])


@router.post(
    "/cases/{case_id}/complaints/resolution",
    response_model=EventResult,
    summary="Answer a complaint",
)
async def resolve_complaint(
    case_id: str, body: ResolutionRequest, user: ApiUser, request: Request
) -> EventResult:
    """Answer the oldest open complaint."""
    require(user, Permission.DISPUTES)
    console = _console(request)
    event = ev.ComplaintResolved(outcome=body.outcome)
    return await console.act("resolve_complaint", user, case_id, [event])


@router.post(
    "/cases/{case_id}/outcomes", response_model=EventResult, summary="Record a call outcome"
)
async def outcome(
    case_id: str, body: OutcomeRequest, user: ApiUser, request: Request
) -> EventResult:
    """What happened on a call: result, attitude and a promise agreed, in one step."""
    require(user, Permission.RECORD)
    console = _console(request)
    promise = (body.promise.amount, body.promise.due_date) if body.promise else None
    plan = [(i.amount, i.due_date) for i in body.plan] if body.plan else None
    events = call_events(body.action_id, body.result, body.attitude, promise, plan)
    return await console.act("call_outcome", user, case_id, events)
