"""The portfolio's page and API: both serve the refresher's latest snapshot, so they answer at
once whatever the portfolio's size and always show the same counts. Managers and admins may ask
for a refresh now (`POST /api/portfolio/refresh`, or the page's button).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from console.auth import api_user, check_csrf, page_session, require
from console.pages import render
from console.queues import APPROVALS
from console.refresher import PortfolioRefresher, Snapshot
from console.roles import Permission
from console.users import Session, User
from engine.case.money import shown_amount
from engine.policy.model import ACTIVE_STAGES

__all__ = ["api_router", "page_context", "page_router", "refresher"]

api_router = APIRouter(prefix="/api", tags=["portfolio"])
page_router = APIRouter(include_in_schema=False)

ApiUser = Annotated[User, Depends(api_user)]
PageSession = Annotated[Session, Depends(page_session)]

#: The colours of the stages' lines in the figures-over-time chart.
_STAGE_COLOURS = ("#1d3557", "#457b9d", "#e76f51", "#9d0208")


def refresher(request: Request) -> PortfolioRefresher:
    """The app's portfolio refresher."""
    r: PortfolioRefresher = request.app.state.portfolio
    return r


def _document(r: PortfolioRefresher, snapshot: Snapshot) -> dict[str, Any]:
    doc = snapshot.to_json()
    doc["refresh"] = {
        "taken_at": snapshot.as_of.isoformat(),
        "seconds": round(snapshot.seconds, 3),
        "interval": r.interval,
        "failed": (
            {"at": r.failure.at.isoformat(), "reason": r.failure.reason} if r.failure else None
        ),
    }
    return doc


@api_router.get("/portfolio", summary="The live portfolio's figures")
async def portfolio_figures(user: ApiUser, request: Request) -> dict[str, Any]:
    """The latest snapshot (see `refresh`): cases and balances by stage, segment, age and policy;
    what waits for people; how ended cases ended; promises, recovery, deferrals, contacts by
    channel; figures over time and roll rates (definitions in docs/portfolio.md)."""
    require(user, Permission.VIEW)
    r = refresher(request)
    return _document(r, await r.current())


@api_router.post(
    "/portfolio/refresh",
    summary="Recompute the portfolio now",
    responses={503: {"description": "the refresh failed; the last good snapshot is kept"}},
)
async def refresh_now(user: ApiUser, request: Request) -> Response:
    """Recompute the snapshot now (managers and admins) and answer the new figures."""
    require(user, Permission.REFRESH)
    r = refresher(request)
    snapshot = await r.refresh()
    if snapshot is None:
        reason = r.failure.reason if r.failure else "unknown"
        return JSONResponse({"error": f"portfolio refresh failed: {reason}"}, status_code=503)
    return JSONResponse(_document(r, snapshot))


@page_router.get("/portfolio", response_class=HTMLResponse)
async def portfolio_page(request: Request, session: PageSession) -> Response:
    """The latest snapshot's figures with charts (definitions in docs/portfolio.md)."""
    require(session.user, Permission.VIEW)
    r = refresher(request)
    return render(request, "portfolio.html", session, **page_context(r, await r.current()))


def page_context(r: PortfolioRefresher, snapshot: Snapshot) -> dict[str, Any]:
    """What `portfolio.html` shows of a snapshot (and of the refresher's last failure). Amounts
    are the API document's (`j`), per currency and with each currency's decimals."""
    p = snapshot.portfolio
    segments = sorted(p.by_segment)
    days = [row["day"] for row in snapshot.over_time]
    return dict(
        p=p,
        j=p.to_json(),
        s=snapshot,
        failure=r.failure,
        interval=r.interval,
        segments=segments,
        currencies=p.currencies,
        approvals=sum(n for name, n in p.awaiting.items() if name in APPROVALS),
        stage_rows=[(s, f.cases, str(f.cases)) for s, f in p.by_stage.items()],
        # One chart per currency: a bar of yuan beside a bar of dollars would compare nothing.
        segment_charts=[
            (
                currency,
                [
                    (
                        seg,
                        float(p.by_segment[seg].balance[currency]),
                        shown_amount(p.by_segment[seg].balance[currency], currency),
                    )
                    for seg in segments
                    if currency in p.by_segment[seg].balance
                ],
            )
            for currency in p.currencies
        ],
        age_rows=[(label, f.cases, str(f.cases)) for label, f in p.by_age.items()],
        trend_days=days,
        trend_series=[
            (
                str(stage),
                [row["by_stage"][str(stage)]["cases"] for row in snapshot.over_time],
                colour,
            )
            for stage, colour in zip(ACTIVE_STAGES, _STAGE_COLOURS, strict=True)
        ],
        contacts={ch: c.to_json(len(p.cases)) for ch, c in snapshot.contacts.items()},
    )


@page_router.post("/portfolio/refresh")
async def refresh_page(
    request: Request, session: PageSession, csrf: Annotated[str, Form()] = ""
) -> Response:
    """The page's "refresh now" button."""
    check_csrf(session.csrf, csrf)
    require(session.user, Permission.REFRESH)
    r = refresher(request)
    done = await r.refresh()
    query = "msg=Figures+refreshed" if done is not None else "error=The+refresh+failed"
    return RedirectResponse(f"/portfolio?{query}", status_code=303)
