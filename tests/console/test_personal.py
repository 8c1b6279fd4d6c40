"""Personal data only for the roles that need it: the debtor's name, phone, e-mail, address and
time zone on the case page and at ``GET /api/cases/{id}/debtor`` for collector, ops and admin;
viewer and manager see neither (403 from the API), on pages or in errors."""

from __future__ import annotations

from urllib.parse import unquote_plus

import httpx
import pytest

from tests.console.conftest import Stack, signed_in

pytestmark = pytest.mark.e2e

NAME, PHONE, EMAIL = "王芳", "+8613800000000", "wf@example.com"  # the conftest's debtor


def _api(stack: Stack, user: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {stack.tokens[user]}"}
    return httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
async def case_id(stack: Stack) -> str:
    await stack.open("PD-1", 20, amount="700.00", policy="consumer-credit-line")
    return "PD-1"


class TestPersonalData:
    @pytest.mark.parametrize("user", ["colin", "olga", "ada"])
    async def test_roles_that_need_it_see_the_debtor(
        self, stack: Stack, case_id: str, user: str
    ) -> None:
        async with signed_in(stack, user) as web:
            page = await web.get(f"/cases/{case_id}")
            assert page.status_code == 200
            assert f'<dd id="debtor-name">{NAME}</dd>' in page.text
            assert PHONE in page.text and EMAIL in page.text and "Asia/Shanghai" in page.text
            assert page.headers["cache-control"] == "no-store"
        async with _api(stack, user) as api:
            r = await api.get(f"/api/cases/{case_id}/debtor")
            assert r.status_code == 200
            assert r.headers["cache-control"] == "no-store"
            assert r.json() == {
                "debtor_id": f"D-{case_id}",
                "name": NAME,
                "phone": PHONE,
                "email": EMAIL,
                "address": "",
                "timezone": "Asia/Shanghai",
                "locale": "zh-CN",
            }

    @pytest.mark.parametrize("user", ["vera", "mona"])
    async def test_viewer_and_manager_never_see_it(
        self, stack: Stack, case_id: str, user: str
    ) -> None:
        async with signed_in(stack, user) as web:
            page = await web.get(f"/cases/{case_id}")
            assert page.status_code == 200
            assert "shown to collectors, ops and admins only" in page.text
            for secret in (NAME, PHONE, EMAIL):
                assert secret not in page.text
            queue = await web.get("/queues/approvals")
            assert NAME not in queue.text
        async with _api(stack, user) as api:
            r = await api.get(f"/api/cases/{case_id}/debtor")
            assert r.status_code == 403
            assert r.json() == {
                "error": f"role {'viewer' if user == 'vera' else 'manager'} may not do this "
                "(personal_data is needed)"
            }
            status = await api.get(f"/api/cases/{case_id}")
            assert status.status_code == 200
            for secret in (NAME, PHONE, EMAIL):
                assert secret not in status.text

    async def test_unknown_case_is_a_clear_404(self, stack: Stack) -> None:
        async with _api(stack, "colin") as api:
            r = await api.get("/api/cases/NO-SUCH/debtor")
            assert (r.status_code, r.json()) == (404, {"error": "no case NO-SUCH"})

    async def test_nothing_personal_in_logs_or_error_pages(
        self, stack: Stack, case_id: str, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """Seen, refused and failed requests about the case leave no personal data behind."""
        capfd.readouterr()
        pages: list[str] = []
        async with signed_in(stack, "colin") as web:
            page = await web.get(f"/cases/{case_id}")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            refused = await web.post(
                f"/cases/{case_id}/outcomes",
                data={"csrf": csrf, "action_id": "no-such-call", "result": "connected"},
            )
            message = unquote_plus(refused.headers["location"])
            assert "unknown or expired contact" in message
            pages.append(message)
            forged = await web.post(f"/cases/{case_id}/payments", data={"amount": "1"})
            assert forged.status_code == 403
            pages.append(forged.text)
        async with signed_in(stack, "mona") as web:
            pages.append((await web.get(f"/cases/{case_id}")).text)
        async with _api(stack, "vera") as api:
            pages.append((await api.get(f"/api/cases/{case_id}/debtor")).text)
        async with _api(stack, "colin") as api:
            await api.get(f"/api/cases/{case_id}/debtor")
        out, err = capfd.readouterr()
        for secret in (NAME, PHONE, EMAIL):
            assert secret not in out + err
            assert all(secret not in p for p in pages)
