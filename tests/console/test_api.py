"""The JSON API, the codec endpoint and /metrics against the real stack: tokens required,
roles enforced, errors as JSON with the right status, never a trace."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.console.conftest import Stack, daytime_zone, first_call
from tests.engine.driver import case_file
from workflows.search_attributes import AWAITING

pytestmark = pytest.mark.e2e


def _api(stack: Stack, user: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {stack.tokens[user]}"} if user else {}
    return httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30)


class TestApi:
    """Cases, the approvals queue and payments through `/api`."""

    async def test_a_token_is_required(self, stack: Stack) -> None:
        """No token, a malformed header or an unknown token: 401 with WWW-Authenticate."""
        async with _api(stack) as api:
            r = await api.get("/api/cases/NOPE")
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == "Bearer"
            assert "Bearer" in r.json()["error"]
            r = await api.get("/api/cases/NOPE", headers={"Authorization": "Basic abc"})
            assert (r.status_code, r.json()["error"]) == (
                401,
                "the Authorization header must be 'Bearer TOKEN'",
            )
            r = await api.get("/api/cases/NOPE", headers={"Authorization": "Bearer od_wrong"})
            assert (r.status_code, r.json()["error"]) == (401, "unknown API token")

    async def test_status_queue_approve_and_pay(self, stack: Stack) -> None:
        """A case awaiting legal referral is in the queue; a manager approves it, a collector
        records a payment; the history names the approver."""
        case = await stack.open("API-1", 100)
        # The console counts a case's age in UTC calendar days since its due date (OverdueSince);
        # the due date is the debtor's (Shanghai), a day ahead of UTC from 16:00 UTC on.
        age = (datetime.now(UTC).date() - case.due_date).days
        await stack.wait_for(f"WorkflowId = 'case-API-1' AND {AWAITING.name} = 'legal_referral'", 1)
        async with _api(stack, "vera") as api:
            status = (await api.get("/api/cases/API-1")).json()
            assert (status["case_id"], status["stage"], status["amount_due"]) == (
                "API-1",
                "escalation",
                "5000.00",
            )
            balance = status["balance"]  # the amount due plus the policy's late fee
            assert status["approvals_pending"] == ["legal_referral"]
            assert status == (await stack.cases.status("API-1")).model_dump(mode="json")
            queue = (await api.get("/api/queues/approvals", params={"stage": "escalation"})).json()
            assert "API-1" in [i["case_id"] for i in queue["items"]]
            item = next(i for i in queue["items"] if i["case_id"] == "API-1")
            assert (item["awaiting"], item["balance"], item["currency"], item["age_days"]) == (
                ["legal_referral"],
                balance,
                status["currency"],  # the case's policy's, read from the policy store
                age,
            )
            # filters narrow the queue: too small a balance, too young
            for params in ({"max_amount": "100"}, {"max_age": "30"}, {"stage": "reminder"}):
                narrowed = (await api.get("/api/queues/approvals", params=params)).json()
                assert "API-1" not in [i["case_id"] for i in narrowed["items"]], params
            r = await api.post("/api/cases/API-1/approvals", json={"action": "legal_referral"})
            assert (r.status_code, r.json()["error"]) == (
                403,
                "role viewer may not do this (approve is needed)",
            )
        async with _api(stack, "mona") as api:
            r = await api.post("/api/cases/API-1/approvals", json={"action": "legal_referral"})
            assert r.status_code == 200, r.text
            assert r.json()["stage"] == "legal_referral"
            r = await api.post("/api/cases/API-1/approvals", json={"action": "legal_referral"})
            assert r.status_code == 409
            assert "no approval of 'legal_referral' is awaited" in r.json()["error"]
        history = await stack.cases.history("API-1")
        assert any(
            r.kind == "approval" and r.reason == "approved legal_referral by mona" for r in history
        )
        async with _api(stack, "colin") as api:
            r = await api.post(
                "/api/cases/API-1/payments",
                json={"amount": "10.00", "currency": "CNY", "ref": "R-1"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["balance"] == str(Decimal(balance) - Decimal("10.00"))
            r = await api.post(
                "/api/cases/API-1/payments", json={"amount": "-1", "currency": "CNY"}
            )
            assert r.status_code == 422
            assert r.json()["error"].startswith("body.amount")

    async def test_unknown_case_is_404(self, stack: Stack) -> None:
        async with _api(stack, "vera") as api:
            r = await api.get("/api/cases/NO-SUCH-CASE")
            assert (r.status_code, r.json()) == (404, {"error": "no case NO-SUCH-CASE"})

    async def test_openapi_document(self, stack: Stack) -> None:
        """The API describes itself; its reference page and Swagger UI are served."""
        async with _api(stack) as api:
            doc = (await api.get("/api/openapi.json")).json()
            assert {
                "/api/cases/{case_id}",
                "/api/queues/approvals",
                "/api/cases/{case_id}/payments",
            } <= set(doc["paths"])
            page = await api.get("/api/docs")
            assert page.status_code == 200
            for path in doc["paths"]:  # every operation, rendered here: it reads offline
                assert f"<code>{path}</code>" in page.text
            assert not re.search(r'(src|href)="https?://', page.text)  # nothing from elsewhere
            assert "swagger-ui" in (await api.get("/api/swagger")).text


class TestCodec:
    """Temporal's remote codec protocol: round trip, permission, CORS for the Web UI only."""

    async def test_round_trip_for_those_allowed(self, stack: Stack) -> None:
        plain = {
            "payloads": [
                {
                    "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                    "data": base64.b64encode('{"name": "王芳"}'.encode()).decode(),
                }
            ]
        }
        async with _api(stack, "olga") as api:
            sealed = await api.post("/codec/encode", json=plain, headers={"X-Namespace": "default"})
            assert sealed.status_code == 200
            payload = sealed.json()["payloads"][0]
            assert base64.b64decode(payload["metadata"]["encoding"]) == b"binary/encrypted"
            assert "王芳".encode() not in base64.b64decode(payload["data"])
            opened = await api.post("/codec/decode", json=sealed.json())
            assert opened.json() == plain
            bad = await api.post("/codec/decode", content=b"not json")
            assert (bad.status_code, bad.json()["error"]) == (
                400,
                "the body is not a Payloads JSON document",
            )
        async with _api(stack, "mona") as api:
            r = await api.post("/codec/decode", json=plain)
            assert r.status_code == 403  # managers see figures, not personal data
        async with _api(stack) as api:
            assert (await api.post("/codec/decode", json=plain)).status_code == 401

    async def test_cors_answers_the_web_ui_only(self, stack: Stack) -> None:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        }
        async with _api(stack) as api:
            r = await api.options(
                "/codec/decode", headers={"Origin": "http://127.0.0.1:8233", **preflight}
            )
            assert r.status_code == 200
            assert r.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
            assert r.headers["access-control-allow-credentials"] == "true"
            r = await api.options(
                "/codec/decode", headers={"Origin": "http://evil.example", **preflight}
            )
            assert "access-control-allow-origin" not in r.headers
            r = await api.get("/api/openapi.json", headers={"Origin": "http://127.0.0.1:8233"})
            assert "access-control-allow-origin" not in r.headers  # only the codec is cross-origin


async def test_metrics(stack: Stack) -> None:
    """Prometheus text with the console's own metrics and the approvals waiting."""
    async with _api(stack) as api:
        await api.get("/healthz")
        r = await api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    for name in (
        "overdue_console_requests_total",
        "overdue_console_request_seconds_bucket",
        "overdue_approvals_waiting",
        "overdue_console_actions_total",
    ):
        assert name in text, name
    assert 'route="/healthz"' in text


class TestPeopleWork:
    """Denials, complaints and call outcomes through the API; each names the user in the
    case history, and the disputes-and-complaints queue follows."""

    async def test_deny_keeps_the_case_in_its_stage(self, stack: Stack) -> None:
        await stack.open("API-D", 100)
        await stack.wait_for(f"WorkflowId = 'case-API-D' AND {AWAITING.name} = 'legal_referral'", 1)
        async with _api(stack, "mona") as api:
            r = await api.post(
                "/api/cases/API-D/denials", json={"action": "legal_referral", "reason": ""}
            )
            assert r.status_code == 422
            r = await api.post(
                "/api/cases/API-D/denials",
                json={"action": "legal_referral", "reason": "in hospital"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["stage"] == "escalation"
        status = await stack.cases.status("API-D")
        assert status.approvals_pending == [] and status.stage == "escalation"
        history = await stack.cases.history("API-D")
        assert any(h.reason == "denied legal_referral by mona: in hospital" for h in history)
        await stack.wait_for(f"WorkflowId = 'case-API-D' AND {AWAITING.name} = 'legal_referral'", 0)

    async def test_complaint_is_queued_until_answered(self, stack: Stack) -> None:
        await stack.open("API-C", 12, amount="800.00", policy="consumer-credit-line")
        async with _api(stack, "colin") as api:
            r = await api.post(
                "/api/cases/API-C/complaints",
                json={"category": "collector", "text": "rude agent", "channel": "phone"},
            )
            assert r.status_code == 200, r.text
            r = await api.post("/api/cases/API-C/complaints/resolution", json={"outcome": "upheld"})
            assert r.status_code == 403  # collectors take complaints; ops answer them
        await stack.wait_for(f"WorkflowId = 'case-API-C' AND {AWAITING.name} = 'complaint'", 1)
        async with _api(stack, "vera") as api:
            queue = (await api.get("/api/queues/issues")).json()
            assert "API-C" in [i["case_id"] for i in queue["items"]]
            approvals = (await api.get("/api/queues/approvals")).json()
            assert "API-C" not in [i["case_id"] for i in approvals["items"]]
            status = (await api.get("/api/cases/API-C")).json()
            (complaint,) = status["complaints"]
            assert (complaint["category"], complaint["outcome"]) == ("collector", None)
            assert "text" not in complaint  # the debtor's words are not in the status
        async with _api(stack, "olga") as api:
            r = await api.post("/api/cases/API-C/complaints/resolution", json={"outcome": "upheld"})
            assert r.status_code == 200, r.text
            r = await api.post("/api/cases/API-C/complaints/resolution", json={"outcome": "upheld"})
            assert (r.status_code, r.json()["error"]) == (409, "no complaint is open")
        await stack.wait_for(f"WorkflowId = 'case-API-C' AND {AWAITING.name} = 'complaint'", 0)
        reasons = [h.reason for h in await stack.cases.history("API-C") if h.kind == "complaint"]
        assert (
            reasons[0].endswith("(recorded by colin)")
            and reasons[1] == "complaint-1 upheld by olga"
        )

    async def test_call_outcome_with_a_promise_in_one_step(self, stack: Stack) -> None:
        tz = daytime_zone()
        await stack.open("API-O", 10, amount="800.00", policy="consumer-credit-line", tz=tz)
        call = await first_call(stack, "API-O")
        due = (datetime.now(ZoneInfo(tz)) + timedelta(days=5)).date().isoformat()
        async with _api(stack, "colin") as api:
            r = await api.post(
                "/api/cases/API-O/outcomes",
                json={
                    "action_id": call,
                    "result": "connected",
                    "attitude": "cooperative",
                    "promise": {"amount": "400.00", "due_date": due},
                },
            )
            assert r.status_code == 200, r.text
            assert "promise" in r.json()["holds"]
            r = await api.post(
                "/api/cases/API-O/outcomes", json={"action_id": "nope", "result": "unanswered"}
            )
            assert r.status_code == 409
            assert r.json()["error"] == "unknown or expired contact 'nope'"
        status = await stack.cases.status("API-O")
        assert status.attitude == "cooperative"


async def test_portfolio_counts_open_cases(stack: Stack) -> None:
    """Opening a case adds one to the open count, its stage and its age bucket once the snapshot
    is refreshed (a manager may ask for that now); readers get the same snapshot."""
    async with _api(stack, "mona") as api, _api(stack, "vera") as viewer:
        before = (await api.post("/api/portfolio/refresh")).json()
        await stack.open("API-P", 45, amount="700.00", policy="consumer-credit-line")
        await stack.wait_for("WorkflowId = 'case-API-P' AND ExecutionStatus = 'Running'", 1)
        refreshed = await api.post("/api/portfolio/refresh")
        assert refreshed.status_code == 200
        after = (await viewer.get("/api/portfolio")).json()
        assert (await viewer.post("/api/portfolio/refresh")).status_code == 403
    assert after["refresh"]["taken_at"] == refreshed.json()["refresh"]["taken_at"]
    assert after["refresh"]["failed"] is None
    assert after["open"]["cases"] == before["open"]["cases"] + 1
    assert after["by_stage"]["escalation"]["cases"] >= before["by_stage"]["escalation"]["cases"] + 1
    assert after["by_age"]["31-60"]["cases"] == before["by_age"]["31-60"]["cases"] + 1
    # Every case's currency is read from its policy in the data plane: none is unknown.
    assert "CNY" in after["open"]["balance"] and "?" not in after["open"]["balance"]
    assert set(after) >= {
        "by_segment",
        "by_stage_segment",
        "by_policy",
        "awaiting",
        "ended",
        "cure_rate",
        "promises",
        "recovery",
        "deferrals",
        "complaints_open",
        "contacts",
        "over_time",
        "roll_rates",
    }
    assert after["over_time"][-1]["day"] == after["as_of"][:10]  # today's row is stored
    assert after["over_time"][-1]["by_stage"]["escalation"] == after["by_stage"]["escalation"]
    assert "needs two snapshots" in after["roll_rates"]["note"]


async def test_portfolio_keeps_yuan_and_dollars_apart(stack: Stack) -> None:
    """A dollar case (instalment-loan) beside the yuan ones: the open balance and its policy's
    row name USD, read from the policy store, and no figure adds the two."""
    cp = stack.policies.get("instalment-loan")
    due = datetime.now(UTC).date() - timedelta(days=20)
    await stack.cases.open(case_file(cp, due=due, amount="321.00", case_id="API-USD"), cp)
    await stack.open("API-CNY", 20, amount="700.00", policy="consumer-credit-line")
    query = "WorkflowId IN ('case-API-USD', 'case-API-CNY') AND ExecutionStatus = 'Running'"
    await stack.wait_for(query, 2)
    async with _api(stack, "mona") as api:
        doc = (await api.post("/api/portfolio/refresh")).json()
    assert set(doc["open"]["balance"]) == {"CNY", "USD"}
    [usd] = [f for name, f in doc["by_policy"].items() if name.startswith("instalment-loan ")]
    assert list(usd["balance"]) == ["USD"] and Decimal(usd["balance"]["USD"]) >= Decimal("321.00")
    for stage in doc["by_stage"].values():
        assert "?" not in stage["balance"]


async def test_portfolio_recovery_counts_a_payment(stack: Stack) -> None:
    """A payment recorded on a case shows as paid in the recovery figures (by segment and by
    variant alike) once the case has indexed it and the snapshot is refreshed."""

    def paid(doc: dict[str, object], by: str) -> Decimal:
        groups = doc["recovery"][by]  # type: ignore[index]
        return sum((Decimal(g["CNY"]["paid"]) for g in groups.values() if "CNY" in g), Decimal(0))

    await stack.open("API-R", 45, amount="700.00", policy="consumer-credit-line")
    await stack.wait_for("WorkflowId = 'case-API-R' AND ExecutionStatus = 'Running'", 1)
    async with _api(stack, "mona") as api, _api(stack, "colin") as collector:
        before = (await api.post("/api/portfolio/refresh")).json()
        paying = await collector.post(
            "/api/cases/API-R/payments", json={"amount": "70.00", "currency": "CNY", "ref": "R1"}
        )
        assert paying.status_code == 200
        await stack.wait_for("WorkflowId = 'case-API-R' AND OverduePaid > 0", 1)
        after = (await api.post("/api/portfolio/refresh")).json()
    assert paid(after, "by_segment") - paid(before, "by_segment") == Decimal("70.00")
    assert paid(after, "by_variant") - paid(before, "by_variant") == Decimal("70.00")
