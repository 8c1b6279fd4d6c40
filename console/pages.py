"""The console's pages: sign-in, the approvals queue, the case page. Server-rendered, every
form carrying its session's CSRF token, every action going through `ConsoleState.act` with the
user's name where the case history records one.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.auth import CSRF_COOKIE, SESSION_COOKIE, check_csrf, page_session, require
from console.personal import NO_STORE, debtor_of
from console.queues import (
    APPROVALS,
    QueueFilter,
    approvals_queue,
    calls_queue,
    issues_queue,
    waited,
)
from console.roles import GRANTS, Permission, allowed
from console.service import ConsoleState
from console.users import Session
from engine.case import events as ev
from engine.case.money import typed_amount
from engine.errors import EventRejected, OverdueError

__all__ = ["render", "router"]

router = APIRouter(include_in_schema=False)

PageSession = Annotated[Session, Depends(page_session)]


def _console(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def render(
    request: Request,
    name: str,
    session: Session | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page with what every page shows (user, role, CSRF token, messages)."""
    base: dict[str, Any] = {
        "user": session.user if session else None,
        "csrf": session.csrf if session else "",
        "can": {p.value for p in GRANTS[session.user.role]} if session else set(),
        "msg": request.query_params.get("msg", ""),
        "error": request.query_params.get("error", ""),
    }
    base.update(context)
    response: HTMLResponse = _console(request).templates.TemplateResponse(
        request, name, base, status_code=status_code
    )
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _back(path: str, **params: str) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=303)


# -- signing in and out -----------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    """The sign-in page (says so when a session expired)."""
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        login_csrf=token,
        expired=request.query_params.get("expired") == "1",
        next=_safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_console(request).secure_cookies,
    )
    return response


@router.post("/login")
async def login(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password; on success open a session and go where the user was heading."""
    check_csrf(request.cookies.get(CSRF_COOKIE, ""), csrf)
    console = _console(request)
    # Off the event loop: an Argon2 check and a database round trip would stall every request.
    user = await asyncio.to_thread(console.users.verify, name, password)
    if user is None:
        console.metrics.sign_in_failures.inc()
        token = secrets.token_urlsafe(24)
        response = render(
            request,
            "login.html",
            status_code=401,
            login_csrf=token,
            expired=False,
            next=_safe_next(next),
            error="Wrong user name or password.",
        )
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=console.secure_cookies
        )
        return response
    sid, _ = await asyncio.to_thread(console.users.open_session, user, console.session_ttl)
    redirect = RedirectResponse(_safe_next(next), status_code=303)
    redirect.set_cookie(
        SESSION_COOKIE,
        sid,
        httponly=True,
        samesite="lax",
        secure=console.secure_cookies,
        max_age=int(console.session_ttl.total_seconds()),
    )
    redirect.delete_cookie(CSRF_COOKIE)
    return redirect


@router.post("/logout")
async def logout(
    request: Request, session: PageSession, csrf: Annotated[str, Form()] = ""
) -> Response:
    """Close the session."""
    check_csrf(session.csrf, csrf)
    sid = request.cookies.get(SESSION_COOKIE, "")
    await asyncio.to_thread(_console(request).users.close_session, sid)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
async def home(session: PageSession) -> Response:
    """The queues are the start page."""
    return RedirectResponse("/queues/approvals", status_code=303)


# -- the approvals queue ----------------------------------------------------------------------
def _decimal(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        value = typed_amount(text)
    except OverdueError:
        raise OverdueError(f"{text!r} is not an amount") from None
    if value < 0:
        raise OverdueError(f"{text!r} is not an amount")
    return value


def _int(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise OverdueError(f"{text!r} is not a number of days")
    return int(text)


@router.get("/queues/approvals", response_class=HTMLResponse)
async def approvals_page(request: Request, session: PageSession) -> Response:
    """Cases waiting for a human approval, filterable by stage, segment, amount and age."""
    # A case also awaits a call's outcome or a dispute; only approvals get buttons here.
    return await _queue_page(
        request, session, approvals_queue, "approvals.html", approvals=APPROVALS
    )


@router.get("/queues/issues", response_class=HTMLResponse)
async def issues_page(request: Request, session: PageSession) -> Response:
    """Cases with a dispute or a complaint open, filterable as the approvals."""
    return await _queue_page(request, session, issues_queue, "issues.html")


@router.get("/queues/calls", response_class=HTMLResponse)
async def calls_page(request: Request, session: PageSession) -> Response:
    """Today's calls: cases with a call whose outcome nobody recorded, the longest waiting first,
    each linking to the case page's call form."""
    return await _queue_page(request, session, calls_queue, "calls.html")


async def _queue_page(
    request: Request, session: Session, fetch: Any, template: str, **extra: Any
) -> Response:
    require(session.user, Permission.VIEW)
    q = request.query_params
    values = {
        k: q.get(k, "")
        for k in ("stage", "segment", "min_amount", "max_amount", "min_age", "max_age")
    }
    problem = ""
    items = []
    try:
        f = QueueFilter(
            stage=values["stage"] or None,
            segment=values["segment"] or None,
            min_amount=_decimal(values["min_amount"]),
            max_amount=_decimal(values["max_amount"]),
            min_age=_int(values["min_age"]),
            max_age=_int(values["max_age"]),
        )
        state = _console(request)
        today = datetime.now(UTC).date()
        items = await fetch(state.client, f, today, currency_of=state.currencies().of_async)
    except OverdueError as e:
        problem = str(e)
    return render(
        request,
        template,
        session,
        items=items,
        filters=values,
        problem=problem,
        now=datetime.now(UTC),
        waited=waited,
        back=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        **extra,
    )


@router.post("/cases/{case_id}/approve")
async def approve(
    request: Request,
    case_id: str,
    session: PageSession,
    action: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Approve a step the case waits for; the history names the user."""
    check_csrf(session.csrf, csrf)
    require(session.user, Permission.APPROVE)
    console = _console(request)
    target = _safe_next(back or f"/cases/{case_id}")
    path, _, _ = target.partition("?")
    try:
        await console.act("approve", session.user, case_id, [ev.Approve(action=action)])
    except EventRejected as e:
        return _back(path, error=f"{case_id}: {e}")
    return _back(path, msg=f"{case_id}: {action} approved by {session.user.name}")


# -- the case page ----------------------------------------------------------------------------
@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str, session: PageSession) -> Response:
    """The case: standing, balance and payments, holds, next action, policy, timeline, actions."""
    require(session.user, Permission.VIEW)
    cases = _console(request).cases
    status = await cases.status(case_id)
    history = await cases.history(case_id)
    personal = allowed(session.user.role, Permission.PERSONAL_DATA)
    records = allowed(session.user.role, Permission.RECORD)
    state = await cases.state(case_id) if personal or records else None
    debtor = debtor_of(state, session.user) if state is not None and personal else None
    payments = [r for r in history if r.kind == "payment"]
    # Calls whose outcome nobody recorded yet (what the calls queue lists), the oldest first.
    calls = (
        [c.action_id for c in state.contacts if c.channel == "call" and c.outcome is None]
        if state is not None
        else []
    )
    response = render(
        request,
        "case.html",
        session,
        debtor=debtor,
        status=status,
        history=list(reversed(history)),
        payments=payments,
        calls=calls,
        back=_safe_next(request.query_params.get("back")) if "back" in request.query_params else "",
        ui_url=_console(request).ui_url,
        today=datetime.now(UTC).date().isoformat(),
    )
    if debtor is not None:
        response.headers.update(NO_STORE)
    return response


@router.post("/cases/{case_id}/payments")
async def pay(
    request: Request,
    case_id: str,
    session: PageSession,
    amount: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    ref: Annotated[str, Form()] = "",
) -> Response:
    """Record a payment taken by a collector."""
    check_csrf(session.csrf, csrf)
    require(session.user, Permission.RECORD)
    console = _console(request)
    path = f"/cases/{case_id}"
    try:
        value = _decimal(amount)
        if value is None or value <= 0:
            raise OverdueError("the amount must be positive")
        currency = (await console.cases.status(case_id)).currency
        payment = ev.Payment(amount=value, currency=currency, ref=ref)
        await console.act("payment", session.user, case_id, [payment])
    except OverdueError as e:  # EventRejected included
        return _back(path, error=str(e))
    return _back(path, msg=f"payment of {value} {currency} recorded")
