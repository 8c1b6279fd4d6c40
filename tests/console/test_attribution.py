"""Every action taken in the console names the signed-in user in the case's history: forms
(payments, dispute resolutions...) and the JSON API alike."""

from __future__ import annotations

import httpx
import pytest

from engine.case import events as ev
from tests.console.conftest import Stack, signed_in

pytestmark = pytest.mark.e2e


async def _post_form(web: httpx.AsyncClient, case_id: str, path: str, **data: str) -> str:
    page = await web.get(f"/cases/{case_id}")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    r = await web.post(
        f"/cases/{case_id}/{path}", data={**data, "csrf": csrf}, follow_redirects=True
    )
    assert r.status_code == 200, r.text
    assert "error" not in str(r.url), r.url
    return r.text


async def test_console_actions_name_the_user_in_the_history(stack: Stack) -> None:
    await stack.open("ATTR-1", 5, amount="800.00", policy="consumer-credit-line")
    await stack.cases.status("ATTR-1")  # opened: an update before that finds no state yet
    await stack.cases.send("ATTR-1", ev.Dispute(reason="not mine"))
    async with signed_in(stack, "olga") as web:
        page = await _post_form(web, "ATTR-1", "dispute-resolution", outcome="rejected")
    assert "dispute rejected: collection resumes (by olga)" in page
    async with signed_in(stack, "colin") as web:
        page = await _post_form(web, "ATTR-1", "payments", amount="100.00")
    assert "payment 100.00 (by colin)" in page

    headers = {"Authorization": f"Bearer {stack.tokens['colin']}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30) as api:
        r = await api.post(
            "/api/cases/ATTR-1/payments", json={"amount": "50.00", "currency": "CNY"}
        )
        assert r.status_code == 200, r.text
    reasons = [h.reason for h in await stack.cases.history("ATTR-1")]
    assert "payment 50.00 (by colin)" in reasons
    assert "dispute: not mine" in reasons  # sent without a user: nothing added
