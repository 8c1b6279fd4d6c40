"""The console's ASGI app: pages, ``/api``, ``/codec``, ``/metrics``, and one error policy.

Every failure a person or a script can cause ends as a clear page or a JSON error with the
right status (401 sign in, 403 forbidden, 404 no such case, 409 the case refused the event),
never a stack trace; an unexpected error is logged by type only (messages may hold personal
data) and answered 500.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from console import actions, api, api_docs, codec, pages, portfolio_routes
from console.auth import CsrfFailed, Forbidden, NotSignedIn, Unauthorized, page_session
from console.metrics import CONTENT_TYPE
from console.queues import count_awaiting
from console.refresher import NotReady, PortfolioRefresher
from console.service import TEMPLATES, ConsoleState
from engine.errors import EventRejected, OverdueError
from workflows.client import CaseNotFound

__all__ = ["create_app"]

log = structlog.get_logger("overdue.console")


class _CodecCors:
    """CORS for the codec endpoints only, answering the Web UI's origin with credentials; the
    rest of the console stays same-origin."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_credentials=True,
            allow_methods=["POST", "OPTIONS"],
            allow_headers=["Content-Type", "X-Namespace", "Authorization"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/codec/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api", "/codec", "/metrics"))


def _error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    session = None
    try:
        session = page_session(request)
    except NotSignedIn:
        pass
    return pages.render(
        request, "error.html", session, status_code=status, status=status, message=message
    )


def create_app(state: ConsoleState) -> FastAPI:
    """The console app on `state`'s client, users and codec. Its lifespan runs the portfolio's
    refresher (without a lifespan, the first portfolio request computes the snapshot)."""
    refresher = PortfolioRefresher(
        state.client, state.dataplane, state.portfolio_refresh, state.metrics
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        refresher.start()
        try:
            yield
        finally:
            await refresher.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Overdue console API",
        version="1",
        description="Cases, work queues and payments of Overdue. Send `Authorization: Bearer TOKEN` "
        "(`overdue user token NAME`).",
        docs_url=api_docs.SWAGGER_URL,  # /api/docs is ours: it reads offline
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.console = state
    app.state.portfolio = refresher
    app.include_router(api_docs.router)
    app.include_router(api.router)
    app.include_router(portfolio_routes.api_router)
    app.include_router(portfolio_routes.page_router)
    app.include_router(codec.router)
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.mount("/static", StaticFiles(directory=str(TEMPLATES.parent / "static")), name="static")

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        try:
            state.metrics.approvals_waiting.set(await count_awaiting(state.client))
        except OverdueError as e:  # a server without visibility: keep the last value
            log.warning("metrics.count_failed", error=str(e))
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        state.metrics.requests.labels(name, request.method, str(response.status_code)).inc()
        state.metrics.latency.labels(name).observe(time.perf_counter() - started)
        return response

    _handlers(app)
    # Added last so it wraps everything, preflight included.
    app.add_middleware(_CodecCors, origins=state.ui_origins)
    return app


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        query = "expired=1&" if exc.expired else ""
        target = request.url.path if request.method == "GET" else "/"
        return RedirectResponse(f"/login?{query}next={target}", status_code=303)

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> Response:
        return _error(request, 401, exc.message, {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, exc.message)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return _error(
            request,
            403,
            "This form expired or did not come from this console: reload the page and try again.",
        )

    @app.exception_handler(CaseNotFound)
    async def not_found(request: Request, exc: CaseNotFound) -> Response:
        return _error(request, 404, str(exc))

    @app.exception_handler(EventRejected)
    async def rejected(request: Request, exc: EventRejected) -> Response:
        return _error(request, 409, str(exc))

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady) -> Response:
        return _error(request, 503, f"{exc}; try again in a minute", {"Retry-After": "60"})

    @app.exception_handler(OverdueError)
    async def user_error(request: Request, exc: OverdueError) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return _error(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        if _wants_json(request):
            return JSONResponse({"error": problems}, status_code=422)
        return _error(request, 422, problems)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("console.unexpected_error", error_type=type(exc).__name__, path=request.url.path)
        return _error(
            request, 500, "Something went wrong on our side; the console's log has the error type."
        )
