"""The JSON API under ``/api`` (bearer token): case status, the approvals queue, payments,
approvals and denials. The OpenAPI document is at ``/api/openapi.json``, interactive docs at
``/api/docs``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from console.auth import api_user, require
from console.queues import QueueFilter, approvals_queue
from console.roles import Permission
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
    ref: str = Field(default="", max_length=128, description="the payment's reference; a repeat is not applied twice")


class ApprovalRequest(BaseModel):
    """A human decision on a step the policy waits for."""

    action: str = Field(examples=["legal_referral"])


class QueueItemOut(BaseModel):
    """A case waiting in a queue."""

    case_id: str
    stage: str
    segment: str
    balance: str
    policy: str
    awaiting: list[str]
    overdue_since: str | None
    age_days: int | None


class QueueOut(BaseModel):
    """A work queue."""

    count: int
    items: list[QueueItemOut]


@router.get("/cases/{case_id}", response_model=CaseStatus, summary="Where a case stands")
async def case_status(case_id: str, user: ApiUser, request: Request) -> CaseStatus:
    """The `overdue case status --json` document."""
    require(user, Permission.VIEW)
    return await _console(request).cases.status(case_id)


@router.get("/queues/approvals", response_model=QueueOut, summary="Cases waiting for an approval")
async def approvals(
    user: ApiUser, request: Request,
    stage: str | None = None, segment: str | None = None,
    min_amount: Annotated[Decimal | None, Query(ge=0)] = None,
    max_amount: Annotated[Decimal | None, Query(ge=0)] = None,
    min_age: Annotated[int | None, Query(ge=0, description="days overdue, at least")] = None,
    max_age: Annotated[int | None, Query(ge=0, description="days overdue, at most")] = None,
) -> dict[str, Any]:
    """Running cases waiting for a human approval, oldest debt first."""
    require(user, Permission.VIEW)
    f = QueueFilter(stage=stage or None, segment=segment or None, min_amount=min_amount,
                    max_amount=max_amount, min_age=min_age, max_age=max_age)
    items = await approvals_queue(_console(request).client, f, datetime.now(UTC).date())
    return {"count": len(items), "items": [i.to_json() for i in items]}


@router.post("/cases/{case_id}/payments", response_model=EventResult, summary="Record a payment")
async def pay(case_id: str, body: PaymentRequest, user: ApiUser, request: Request) -> EventResult:
    """Record a payment; a `ref` already recorded on the case is acknowledged, not applied again."""
    require(user, Permission.RECORD)
    console = _console(request)
    payment = ev.Payment(amount=body.amount, currency=body.currency, ref=body.ref)
    return await console.act("payment", user, console.cases.send(case_id, payment))


@router.post("/cases/{case_id}/approvals", response_model=EventResult, summary="Approve a step")
async def approve(case_id: str, body: ApprovalRequest, user: ApiUser, request: Request) -> EventResult:
    """Approve a step the case waits for; the case history names the user."""
    require(user, Permission.APPROVE)
    console = _console(request)
    return await console.act("approve", user, console.cases.send(case_id, ev.Approve(action=body.action, by=user.name)))
