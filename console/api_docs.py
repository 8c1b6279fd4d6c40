"""The API's reference at ``/api/docs``: every operation of the OpenAPI document, rendered on the
server, so it reads on a machine without internet access.

FastAPI's Swagger UI loads its script and style from a CDN (jsDelivr); offline, as many
operations networks are, it was a blank page. It stays at ``/api/swagger`` for those online who
want to try calls from the browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from console import pages

__all__ = ["SWAGGER_URL", "Operation", "operations", "router"]

SWAGGER_URL = "/api/swagger"
_METHODS = ("get", "post", "put", "patch", "delete")

router = APIRouter()


@dataclass(frozen=True)
class Operation:
    """One method on one path, as the reference lists it."""

    method: str
    path: str
    summary: str
    description: str
    parameters: tuple[str, ...]
    body: str | None


def operations(document: dict[str, Any]) -> list[Operation]:
    """The operations of an OpenAPI document, in its order (paths, then methods)."""
    found: list[Operation] = []
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = tuple(
                f"{p['name']} ({p['in']}{', required' if p.get('required') else ''})"
                for p in op.get("parameters", [])
            )
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref")
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    summary=op.get("summary", ""),
                    description=op.get("description", ""),
                    parameters=params,
                    body=ref.rsplit("/", 1)[-1] if ref else None,
                )
            )
    return found


@router.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
async def api_docs(request: Request) -> HTMLResponse:
    """Every operation with its summary, parameters and request body, and where to go next."""
    document = request.app.openapi()
    return pages.render(
        request,
        "api_docs.html",
        info=document.get("info", {}),
        operations=operations(document),
        swagger=SWAGGER_URL,
    )
