"""The console's forms that change a case: deny, disputes, complaints, call outcomes.

Each posts one step of a person's work; it becomes the core's events (with the user's name
where the event carries one), goes through `ConsoleState.act`, and comes back to the page it was
posted from with a one-line message, or the case's refusal in the case's own words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated, get_args

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from console.auth import check_csrf, page_session, require
from console.calls import call_events, plan_from_form
from console.roles import Permission
from console.service import ConsoleState
from console.users import Session
from engine.case import events as ev
from engine.case.money import typed_amount
from engine.errors import OverdueError

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PageSession = Annotated[Session, Depends(page_session)]
FormStr = Annotated[str, Form()]


def _redirect(back: str, case_id: str, **params: str) -> RedirectResponse:
    from urllib.parse import urlencode

    target = back if back.startswith("/") and not back.startswith("//") else f"/cases/{case_id}"
    path = target.partition("?")[0]
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=303)


def _first_problem(e: ValidationError) -> str:
    err = e.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ()))
    return f"{field}: {err.get('msg', 'invalid')}" if field else str(err.get("msg", "invalid"))


async def _do(
    request: Request,
    session: Session,
    case_id: str,
    csrf: str,
    back: str,
    permission: Permission,
    action: str,
    make: Callable[[], Sequence[ev.Event]],
    done: str | Callable[[], str],
) -> Response:
    check_csrf(session.csrf, csrf)
    require(session.user, permission)
    console: ConsoleState = request.app.state.console
    try:
        await console.act(action, session.user, case_id, make())
    except ValidationError as e:
        return _redirect(back, case_id, error=f"{case_id}: {_first_problem(e)}")
    except OverdueError as e:  # the case refused it (EventRejected), or bad input
        return _redirect(back, case_id, error=f"{case_id}: {e}")
    message = done if isinstance(done, str) else done()
    return _redirect(back, case_id, msg=f"{case_id}: {message}")


@router.post("/cases/{case_id}/deny")
async def deny(
    request: Request,
    case_id: str,
    session: PageSession,
    action: FormStr,
    reason: FormStr = "",
    csrf: FormStr = "",
    back: FormStr = "",
) -> Response:
    """Refuse a step the case waits for, with a reason."""
    return await _do(
        request,
        session,
        case_id,
        csrf,
        back,
        Permission.APPROVE,
        "deny",
        lambda: [ev.Deny(action=action, reason=reason.strip())],
        f"{action} denied by {session.user.name}",
    )


@router.post("/cases/{case_id}/dispute-resolution")
async def resolve_dispute(
    request: Request,
    case_id: str,
    session: PageSession,
    outcome: FormStr,
    csrf: FormStr = "",
    back: FormStr = "",
) -> Response:
    """Resolve the case's dispute."""
    return await _do(
        request,
        session,
        case_id,
        csrf,
        back,
        Permission.DISPUTES,
        "resolve_dispute",
        lambda: [ev.DisputeResolved.model_validate({"outcome": outcome})],
        f"dispute {outcome}",
    )


@router.post("/cases/{case_id}/complaints")
async def complain(
    request: Request,
    case_id: str,
    session: PageSession,
    category: FormStr,
    text: FormStr,
    channel: FormStr = "phone",
    csrf: FormStr = "",
    back: FormStr = "",
) -> Response:
    """File a complaint the debtor made."""
    permission = (
        Permission.RECORD if Permission.RECORD.value in _perms(session) else Permission.DISPUTES
    )
    return await _do(
        request,
        session,
        case_id,
        csrf,
        back,
        permission,
        "complaint",
        lambda: [
            ev.Complaint.model_validate(
                {
                    "category": category.strip(),
                    "text": text.strip(),
                    "channel": channel,
                }
            )
        ],
        "complaint recorded",
    )


@router.post("/cases/{case_id}/complaint-resolution")
async def resolve_complaint(
    request: Request,
    case_id: str,
    session: PageSession,
    outcome: FormStr,
    csrf: FormStr = "",
    back: FormStr = "",
) -> Response:
    """Answer the oldest open complaint."""
    return await _do(
        request,
        session,
        case_id,
        csrf,
        back,
        Permission.DISPUTES,
        "resolve_complaint",
        lambda: [ev.ComplaintResolved.model_validate({"outcome": outcome})],
        f"complaint {outcome}",
    )


@router.post("/cases/{case_id}/outcomes")
async def outcome(
    request: Request,
    case_id: str,
    session: PageSession,
    action_id: FormStr,
    result: FormStr,
    attitude: FormStr = "",
    promise_amount: FormStr = "",
    promise_date: FormStr = "",
    plan_count: FormStr = "",
    plan_amount: FormStr = "",
    plan_first: FormStr = "",
    plan_every: FormStr = "",
    csrf: FormStr = "",
    back: FormStr = "",
) -> Response:
    """What happened on a call: result, attitude and a promise or a plan, in one step."""
    agreed = ""

    def make() -> list[ev.Event]:
        nonlocal agreed
        if result not in get_args(ev.CallResult):
            raise OverdueError(f"result must be one of {', '.join(get_args(ev.CallResult))}")
        promise = None
        if promise_amount.strip() or promise_date.strip():
            try:
                promise = (
                    typed_amount(promise_amount),
                    date.fromisoformat(promise_date.strip()),
                )
            except (OverdueError, ValueError):
                raise OverdueError("a promise needs an amount and a date (YYYY-MM-DD)") from None
        plan = plan_from_form(plan_count, plan_amount, plan_first, plan_every)
        agreed = (
            " with a promise"
            if promise
            else f" with a plan of {len(plan)} instalments"
            if plan
            else ""
        )
        return call_events(
            action_id,
            result,  # type: ignore[arg-type]
            attitude or None,
            promise,
            plan,
        )

    return await _do(
        request,
        session,
        case_id,
        csrf,
        back,
        Permission.RECORD,
        "call_outcome",
        make,
        lambda: f"call {result} recorded{agreed}",
    )


def _perms(session: Session) -> set[str]:
    from console.roles import GRANTS

    return {p.value for p in GRANTS[session.user.role]}
