"""Today's calls without a browser: the queue lists a case while its call waits for an outcome
(`GET /api/queues/calls`, `/queues/calls`), filters as the other queues, and a call recorded with a
plan takes the case off it; a promise and a plan together are one clear refusal."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from console.queues import waited
from tests.console.conftest import Stack, daytime_zone, first_call, signed_in
from workflows.search_attributes import AWAITING

pytestmark = pytest.mark.e2e


def _api(stack: Stack, user: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {stack.tokens[user]}"}
    return httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30)


async def _called(stack: Stack, case_id: str) -> tuple[str, datetime, str]:
    """Open a case that calls at once; its call's action id, time and the debtor's zone."""
    tz = daytime_zone()
    await stack.open(case_id, 10, amount="900.00", policy="consumer-credit-line", tz=tz)
    call = await first_call(stack, case_id)
    (record,) = [r for r in await stack.cases.history(case_id) if r.action_id == call]
    await stack.wait_for(f"WorkflowId = 'case-{case_id}' AND {AWAITING.name} = 'call'", 1)
    return call, record.at, tz


class TestCallsQueue:
    async def test_listed_until_a_plan_is_recorded(self, stack: Stack) -> None:
        call, at, tz = await _called(stack, "CALL-1")
        async with _api(stack, "vera") as api:
            doc = (await api.get("/api/queues/calls")).json()
            (item,) = [i for i in doc["items"] if i["case_id"] == "CALL-1"]
            assert datetime.fromisoformat(item["call_since"]) == at
            assert "call" in item["awaiting"]
            stage = item["stage"]
            other = "legal_referral" if stage != "legal_referral" else "reminder"
            for params, listed in (
                ({"stage": stage}, True),
                ({"stage": other}, False),
                ({"min_amount": "100000"}, False),
                ({"max_age": "5"}, False),
                ({"min_age": "5", "max_age": "20"}, True),
            ):
                found = (await api.get("/api/queues/calls", params=params)).json()["items"]
                assert any(i["case_id"] == "CALL-1" for i in found) is listed, params
        first = (datetime.now(ZoneInfo(tz)) + timedelta(days=3)).date()
        async with signed_in(stack, "colin") as web:
            page = await web.get("/queues/calls")
            assert 'id="row-CALL-1"' in page.text and "<h1>Today's calls</h1>" in page.text
            case = await web.get("/cases/CALL-1", params={"back": "/queues/calls"})
            csrf = case.text.split('name="csrf" value="')[1].split('"')[0]
            assert f"<option>{call}</option>" in case.text
            r = await web.post(
                "/cases/CALL-1/outcomes",
                data={
                    "csrf": csrf,
                    "back": "/queues/calls",
                    "action_id": call,
                    "result": "connected",
                    "plan_count": "3",
                    "plan_amount": "300.00",
                    "plan_first": first.isoformat(),
                    "plan_every": "30",
                },
            )
            assert r.status_code == 303
            assert r.headers["location"] == (
                "/queues/calls?msg=CALL-1%3A+call+connected+recorded+with+a+plan+of+3+instalments"
            )
        status = await stack.cases.status("CALL-1")
        assert "plan" in status.holds
        await stack.wait_for(f"WorkflowId = 'case-CALL-1' AND {AWAITING.name} = 'call'", 0)
        async with _api(stack, "vera") as api:
            doc = (await api.get("/api/queues/calls")).json()
            assert all(i["case_id"] != "CALL-1" for i in doc["items"])

    async def test_a_promise_and_a_plan_together_are_refused(self, stack: Stack) -> None:
        async with _api(stack, "colin") as api:
            r = await api.post(
                "/api/cases/ANY/outcomes",
                json={
                    "action_id": "x",
                    "result": "connected",
                    "promise": {"amount": "10.00", "due_date": "2030-01-01"},
                    "plan": [{"amount": "10.00", "due_date": "2030-01-01"}],
                },
            )
            assert (r.status_code, r.json()) == (
                400,
                {"error": "record a promise or a plan, not both"},
            )
            r = await api.post(
                "/api/cases/ANY/outcomes",
                json={
                    "action_id": "x",
                    "result": "unanswered",
                    "promise": {"amount": "10.00", "due_date": "2030-01-01"},
                },
            )
            assert r.json() == {"error": "a promise or a plan needs a call that connected"}

    async def test_the_nav_link_is_for_roles_that_record(self, stack: Stack) -> None:
        for name, shown in (("vera", False), ("mona", False), ("colin", True), ("olga", True)):
            async with signed_in(stack, name) as web:
                page = await web.get("/queues/approvals")
                assert ('href="/queues/calls"' in page.text) is shown, name


def test_waiting_reads_as_a_person_says_it() -> None:
    now = datetime(2026, 11, 27, 12, 0)
    assert waited(None, now) == ""
    assert waited(now - timedelta(minutes=7, seconds=59), now) == "7 min"
    assert waited(now - timedelta(hours=2, minutes=5), now) == "2 h 5 min"
    assert waited(now - timedelta(days=3, hours=4, minutes=1), now) == "3 d 4 h"
    assert waited(now + timedelta(minutes=5), now) == "0 min"  # a clock a little ahead
