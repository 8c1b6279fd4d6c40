"""Two console processes on one data plane share users and sessions: a browser signed in on one
is signed in on the other, and signing out on either ends it on both."""

from __future__ import annotations

import httpx
import pytest

from console.auth import SESSION_COOKIE
from console.server import start, state_for, user_store
from tests.console.conftest import Stack, password
from workers.devserver import free_port

pytestmark = pytest.mark.e2e


async def test_a_session_holds_on_every_console(stack: Stack) -> None:
    users = user_store(stack.folder)
    second = await start(state_for(stack.client, stack.folder, users=users), port=free_port())
    try:
        async with (
            httpx.AsyncClient(base_url=stack.url, timeout=30) as one,
            httpx.AsyncClient(base_url=second.url, timeout=30) as two,
        ):
            form = await one.get("/login")
            csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
            r = await one.post(
                "/login", data={"name": "olga", "password": password("olga"), "csrf": csrf}
            )
            assert r.status_code == 303
            sid = one.cookies[SESSION_COOKIE]
            two.cookies.set(SESSION_COOKIE, sid)
            page = await two.get("/queues/approvals")
            assert page.status_code == 200 and "olga" in page.text
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            r = await two.post("/logout", data={"csrf": csrf})
            assert (r.status_code, r.headers["location"]) == (303, "/login")
            r = await one.get("/queues/approvals")
            assert (r.status_code, r.headers["location"]) == (303, "/login?next=/queues/approvals")
            token = stack.tokens["olga"]
            r = await two.get("/api/queues/calls", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200
    finally:
        await second.stop()
        users.close()
