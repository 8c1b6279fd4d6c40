"""The pages without a browser: signing in, CSRF, expired sessions, forbidden actions and
unknown pages all end in a clear page, never a trace."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from console.auth import SESSION_COOKIE
from tests.console.conftest import Stack, password, signed_in

pytestmark = pytest.mark.e2e


class TestSignIn:
    async def test_pages_need_a_session(self, stack: Stack) -> None:
        async with httpx.AsyncClient(base_url=stack.url) as web:
            r = await web.get("/cases/X-1")
            assert (r.status_code, r.headers["location"]) == (303, "/login?next=/cases/X-1")

    async def test_wrong_password_is_a_clear_page(self, stack: Stack) -> None:
        async with httpx.AsyncClient(base_url=stack.url) as web:
            form = await web.get("/login")
            csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
            r = await web.post(
                "/login", data={"name": "mona", "password": "nope-nope", "csrf": csrf}
            )
            assert r.status_code == 401
            assert "Wrong user name or password." in r.text
            assert "Traceback" not in r.text

    async def test_sign_in_form_needs_its_csrf_token(self, stack: Stack) -> None:
        async with httpx.AsyncClient(base_url=stack.url) as web:
            r = await web.post(
                "/login", data={"name": "mona", "password": password("mona"), "csrf": "forged"}
            )
            assert r.status_code == 403
            assert "reload the page" in r.text

    async def test_expired_session_says_so(self, stack: Stack) -> None:
        user = stack.users.get("vera")
        assert user is not None
        sid, _ = stack.users.open_session(user, timedelta(seconds=-1))
        async with httpx.AsyncClient(base_url=stack.url, cookies={SESSION_COOKIE: sid}) as web:
            r = await web.get("/queues/approvals")
            assert (r.status_code, r.headers["location"]) == (
                303,
                "/login?expired=1&next=/queues/approvals",
            )
            page = await web.get(r.headers["location"])
            assert "Your session expired" in page.text


class TestActions:
    async def test_forms_need_the_session_csrf_token(self, stack: Stack) -> None:
        async with signed_in(stack, "mona") as web:
            r = await web.post(
                "/cases/ANY/approve", data={"action": "legal_referral", "csrf": "forged"}
            )
            assert r.status_code == 403
            assert "did not come from this console" in r.text

    async def test_forbidden_and_unknown_are_clear_pages(self, stack: Stack) -> None:
        await stack.open("PAGE-1", 100)
        async with signed_in(stack, "vera") as web:
            page = await web.get("/cases/PAGE-1")
            assert page.status_code == 200
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            r = await web.post(
                "/cases/PAGE-1/approve", data={"action": "legal_referral", "csrf": csrf}
            )
            assert r.status_code == 403
            assert "role viewer may not do this" in r.text
            r = await web.get("/cases/NO-SUCH")
            assert r.status_code == 404 and "no case NO-SUCH" in r.text
            r = await web.get("/no/such/page")
            assert r.status_code == 404 and "no such page" in r.text
            r = await web.get("/queues/approvals", params={"min_amount": "lots"})
            assert r.status_code == 200 and "&#39;lots&#39; is not an amount" in r.text

    async def test_refused_event_is_shown_on_the_page(self, stack: Stack) -> None:
        await stack.open("PAGE-2", 5, amount="800.00", policy="consumer-credit-line")
        async with signed_in(stack, "mona") as web:
            page = await web.get("/cases/PAGE-2")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            r = await web.post(
                "/cases/PAGE-2/approve",
                data={"action": "legal_referral", "csrf": csrf},
                follow_redirects=True,
            )
            assert r.status_code == 200
            assert "no approval of &#39;legal_referral&#39; is awaited" in r.text


class TestPortfolioRefresh:
    async def test_a_viewer_may_not_refresh_the_portfolio(self, stack: Stack) -> None:
        """The button is not shown to a viewer, and the form posted anyway is refused."""
        async with signed_in(stack, "vera") as web:
            page = await web.get("/portfolio")
            assert page.status_code == 200 and "Refresh now" not in page.text
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            r = await web.post("/portfolio/refresh", data={"csrf": csrf})
            assert r.status_code == 403 and "Traceback" not in r.text

    async def test_a_refresh_needs_the_form_token(self, stack: Stack) -> None:
        """A manager's refresh from a forged form is refused; from the page it goes through."""
        async with signed_in(stack, "mona") as web:
            assert (
                await web.post("/portfolio/refresh", data={"csrf": "forged"})
            ).status_code == 403
            page = await web.get("/portfolio")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            r = await web.post("/portfolio/refresh", data={"csrf": csrf})
            assert (r.status_code, r.headers["location"]) == (
                303,
                "/portfolio?msg=Figures+refreshed",
            )
