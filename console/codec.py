"""Temporal's remote codec protocol, so the Web UI shows decrypted payloads to those allowed.

``POST /codec/decode`` and ``POST /codec/encode`` take and return ``{"payloads": [...]}`` in
protobuf JSON (metadata values and data base64), as the Web UI and ``temporal`` CLI send them.
The caller must be signed in to the console (the UI sends the cookie when "include cross-origin
credentials" is on) or send a bearer token, and hold the personal-data permission: payloads
carry names and phone numbers. CORS is answered for the Web UI's origin only (`console.app`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from console.auth import require, session_or_bearer
from console.roles import Permission
from console.users import User
from workers.converter import CodecError

__all__ = ["router"]

router = APIRouter(prefix="/codec", tags=["codec"])


async def _convert(request: Request, user: User, direction: str) -> Response:
    require(user, Permission.PERSONAL_DATA)
    body = await request.body()
    try:
        payloads = json_format.Parse(body, Payloads())
    except json_format.ParseError:
        return JSONResponse({"error": "the body is not a Payloads JSON document"}, status_code=400)
    codec = request.app.state.console.codec
    try:
        if direction == "decode":
            out = await codec.decode(payloads.payloads)
        else:
            out = await codec.encode(payloads.payloads)
    except CodecError as e:
        return JSONResponse({"error": str(e)}, status_code=400)
    return Response(
        json_format.MessageToJson(Payloads(payloads=out)), media_type="application/json"
    )


@router.post("/decode", summary="Decrypt payloads (Temporal remote codec)")
async def decode(request: Request, user: Annotated[User, Depends(session_or_bearer)]) -> Response:
    """Decrypt the payloads the project's codec sealed; others pass through."""
    return await _convert(request, user, "decode")


@router.post("/encode", summary="Encrypt payloads (Temporal remote codec)")
async def encode(request: Request, user: Annotated[User, Depends(session_or_bearer)]) -> Response:
    """Encrypt payloads with the current key."""
    return await _convert(request, user, "encode")
