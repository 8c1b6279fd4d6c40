"""The API reference's rows, read from an OpenAPI document without a server."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

from console.api_docs import Operation, operations


class _Body(BaseModel):
    amount: str


def test_each_operation_with_its_parameters_and_body() -> None:
    """Methods upper-cased, required parameters marked, the body named by its schema."""
    app = FastAPI()

    @app.get("/things/{thing_id}", summary="One thing", description="Where it stands.")
    async def one(thing_id: str, verbose: bool = False) -> dict[str, str]:
        return {}

    @app.post("/things/{thing_id}/payments", summary="Pay")
    async def pay(thing_id: str, body: _Body) -> dict[str, str]:
        return {}

    assert operations(app.openapi()) == [
        Operation(
            "GET",
            "/things/{thing_id}",
            "One thing",
            "Where it stands.",
            ("thing_id (path, required)", "verbose (query)"),
            None,
        ),
        Operation(
            "POST",
            "/things/{thing_id}/payments",
            "Pay",
            "",
            ("thing_id (path, required)",),
            "_Body",
        ),
    ]
