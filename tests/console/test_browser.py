"""The console in a real browser: Debian's Chromium, headless, driven by Playwright's Python API.

Each role signs in and sees the queue; a manager approves a legal referral from the queue; a
collector records a payment on the case page; a viewer is refused an action. A screenshot of
every page is written to ``test-artifacts/console/`` (gitignored) for people to look at.

The browser is the system's (`make` installs the `chromium` package when run as root); this
test never downloads one. It fails, rather than skips, when Chromium is missing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, async_playwright, expect

from tests.console.conftest import USERS, Stack, daytime_zone, first_call, password
from workflows.search_attributes import AWAITING

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _prepare() -> None:
    assert CHROMIUM.exists(), (
        "Debian's chromium package is missing: run `make .venv/.installed` as root"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    """Headless system Chromium with a fresh profile."""
    _prepare()
    profile = tmp_path_factory.mktemp("chromium-profile")
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        yield context
        await context.close()


async def _sign_in(browser: BrowserContext, stack: Stack, name: str) -> Page:
    await browser.clear_cookies()
    page = await browser.new_page()
    await page.goto(f"{stack.url}/login")
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(password(name))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Approvals awaiting")).to_be_visible()
    await expect(page.locator(".who")).to_contain_text(f"{name} ({USERS[name]})")
    return page


async def _shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_every_role_signs_in(browser: BrowserContext, stack: Stack) -> None:
    """Each role reaches the queue; only approvers see the approve buttons."""
    await stack.open("BR-0", 100)
    await stack.wait_for(f"WorkflowId = 'case-BR-0' AND {AWAITING.name} = 'legal_referral'", 1)
    for name, role in USERS.items():
        page = await _sign_in(browser, stack, name)
        row = page.locator("#row-BR-0")
        await expect(row).to_be_visible()
        approve = row.get_by_role("button", name="Approve legal_referral for BR-0")
        await expect(approve).to_have_count(1 if role in ("manager", "admin") else 0)
        await _shot(page, f"approvals-as-{role}")
        await page.close()


async def test_wrong_password_page(browser: BrowserContext, stack: Stack) -> None:
    page = await browser.new_page()
    await page.goto(f"{stack.url}/login")
    await page.get_by_label("User name").fill("mona")
    await page.get_by_label("Password").fill("not-her-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    await _shot(page, "sign-in-refused")
    await page.close()


async def test_manager_approves_from_the_queue(browser: BrowserContext, stack: Stack) -> None:
    """The legal referral is approved with one click; the case moves and names the manager."""
    await stack.open("BR-1", 100)
    await stack.wait_for(f"WorkflowId = 'case-BR-1' AND {AWAITING.name} = 'legal_referral'", 1)
    page = await _sign_in(browser, stack, "mona")
    await page.get_by_label("Stage").select_option("escalation")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("button", name="Approve legal_referral for BR-1").click()
    await expect(page.get_by_role("status")).to_have_text("BR-1: legal_referral approved by mona")
    await _shot(page, "approvals-after-approval")
    await page.goto(f"{stack.url}/cases/BR-1")
    await expect(page.locator("#stage")).to_have_text("legal_referral")
    await expect(page.get_by_role("table", name=re.compile("Every decision"))).to_contain_text(
        "approved legal_referral by mona"
    )
    await _shot(page, "case-after-approval")
    await page.close()


async def test_collector_records_a_payment(browser: BrowserContext, stack: Stack) -> None:
    case = await stack.open("BR-2", 40, amount="900.00", policy="consumer-credit-line")
    page = await _sign_in(browser, stack, "colin")
    await page.goto(f"{stack.url}/cases/{case.case_id}")
    before = (await stack.cases.status(case.case_id)).balance
    await page.get_by_label("Payment (CNY)").fill("100.00")
    await page.get_by_label("Reference").fill("BR-2-R1")
    await page.get_by_role("button", name="Record payment").click()
    await expect(page.get_by_role("status")).to_have_text("payment of 100.00 CNY recorded")
    after = (await stack.cases.status(case.case_id)).balance
    assert float(before) - float(after) == pytest.approx(100.0)
    await expect(page.locator("#balance")).to_contain_text(after)
    await _shot(page, "case-after-payment")
    await page.close()


async def test_viewer_sees_but_cannot_act(browser: BrowserContext, stack: Stack) -> None:
    page = await _sign_in(browser, stack, "vera")
    await page.goto(f"{stack.url}/cases/BR-0")
    await expect(page.get_by_text("Your role (viewer) may only look at this case.")).to_be_visible()
    await expect(page.get_by_role("button", name="Record payment")).to_have_count(0)
    await _shot(page, "case-as-viewer")
    await page.close()


async def test_manager_denies_from_the_queue(browser: BrowserContext, stack: Stack) -> None:
    await stack.open("BR-3", 100)
    await stack.wait_for(f"WorkflowId = 'case-BR-3' AND {AWAITING.name} = 'legal_referral'", 1)
    page = await _sign_in(browser, stack, "mona")
    await page.get_by_label("Reason to deny legal_referral for BR-3").fill("debtor in hospital")
    await page.get_by_role("button", name="Deny legal_referral for BR-3").click()
    await expect(page.get_by_role("status")).to_have_text("BR-3: legal_referral denied by mona")
    await page.goto(f"{stack.url}/cases/BR-3")
    await expect(page.locator("#stage")).to_have_text("escalation")
    await expect(page.get_by_role("table", name=re.compile("Every decision"))).to_contain_text(
        "denied legal_referral by mona: debtor in hospital"
    )
    await _shot(page, "case-after-denial")
    await page.close()


async def test_collector_records_a_call_with_a_promise(
    browser: BrowserContext, stack: Stack
) -> None:
    tz = daytime_zone()
    await stack.open("BR-4", 10, amount="800.00", policy="consumer-credit-line", tz=tz)
    call = await first_call(stack, "BR-4")
    due = (datetime.now(ZoneInfo(tz)) + timedelta(days=5)).date().isoformat()
    page = await _sign_in(browser, stack, "colin")
    await page.goto(f"{stack.url}/cases/BR-4")
    form = page.get_by_role("form", name="Record a call outcome")
    await form.get_by_label("Call").select_option(call)
    await form.get_by_label("connected").check()
    await form.get_by_label("Attitude").select_option("cooperative")
    await form.get_by_label("Promise amount").fill("400.00")
    await form.get_by_label("by").fill(due)
    await _shot(page, "case-call-outcome-form")
    await form.get_by_role("button", name="Record call").click()
    await expect(page.get_by_role("status")).to_have_text(
        "BR-4: call connected recorded with a promise"
    )
    timeline = page.get_by_role("table", name=re.compile("Every decision"))
    await expect(timeline).to_contain_text("contact connected")
    await expect(timeline).to_contain_text(f"promise of 400.00 by {due}")
    status = await stack.cases.status("BR-4")
    assert status.attitude == "cooperative" and "promise" in status.holds
    await _shot(page, "case-after-call")
    await page.close()


async def test_complaint_filed_and_resolved(browser: BrowserContext, stack: Stack) -> None:
    await stack.open("BR-5", 12, amount="800.00", policy="consumer-credit-line")
    page = await _sign_in(browser, stack, "colin")
    await page.goto(f"{stack.url}/cases/BR-5")
    form = page.get_by_role("form", name="Record a complaint")
    await form.get_by_label("Complaint about").select_option("contact")
    await form.get_by_label("In the debtor's words").fill("Too many calls at dinner time")
    await form.get_by_role("button", name="Record complaint").click()
    await expect(page.get_by_role("status")).to_have_text("BR-5: complaint recorded")
    await expect(page.locator("#complaints")).to_contain_text("complaint-1: about contact by phone")
    await page.close()
    await stack.wait_for(f"WorkflowId = 'case-BR-5' AND {AWAITING.name} = 'complaint'", 1)
    page = await _sign_in(browser, stack, "olga")
    await page.goto(f"{stack.url}/queues/issues")
    await expect(page.locator("#row-BR-5")).to_contain_text("complaint")
    await _shot(page, "issues-queue")
    await page.get_by_role("button", name="Complaint rejected for BR-5").click()
    await expect(page.get_by_role("status")).to_have_text("BR-5: complaint rejected")
    await page.goto(f"{stack.url}/cases/BR-5")
    await expect(page.locator("#complaints")).to_contain_text("rejected")
    await expect(page.get_by_role("table", name=re.compile("Every decision"))).to_contain_text(
        "complaint-1 rejected by olga"
    )
    await _shot(page, "case-after-complaint")
    await page.close()


async def _portfolio_matches(page: Page, stack: Stack) -> bool:
    """Whether the page just loaded shows the API's counts (both read the same visibility)."""
    async with httpx.AsyncClient(
        base_url=stack.url, headers={"Authorization": f"Bearer {stack.tokens['vera']}"}
    ) as api:
        doc = (await api.get("/api/portfolio")).json()
    shown = {
        "open": await page.locator("#open-cases").inner_text(),
        "complaints": await page.locator("#complaints-open").inner_text(),
        "stages": [
            await c.inner_text()
            for c in await page.locator("#by-stage tbody td:nth-child(2)").all()
        ],
    }
    expected = {
        "open": str(doc["open"]["cases"]),
        "complaints": str(doc["awaiting"].get("complaint", 0)),
        "stages": [str(f["cases"]) for f in doc["by_stage"].values()],
    }
    return shown == expected and doc["open"]["cases"] > 0


async def test_portfolio_page_matches_the_api(browser: BrowserContext, stack: Stack) -> None:
    """The manager's portfolio page shows the same counts as `GET /api/portfolio`."""
    page = await _sign_in(browser, stack, "mona")
    await page.goto(f"{stack.url}/portfolio")
    await expect(page.get_by_role("heading", name="Portfolio", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Refresh now").click()  # the cases the tests opened
    await expect(page.get_by_role("status")).to_have_text("Figures refreshed")
    await expect(page.locator("#as-of")).to_contain_text("As of")
    await expect(page.get_by_role("img", name="Open cases per day, by stage")).to_be_visible()
    await expect(page.get_by_role("img", name="Open cases by stage")).to_be_visible()
    for _ in range(20):  # a case the worker is moving may change stage between the two reads
        if await _portfolio_matches(page, stack):
            break
        await page.reload()
    else:
        raise AssertionError("the portfolio page never showed the API's counts")
    await _shot(page, "portfolio")
    await page.close()


async def test_collector_works_the_calls_queue(browser: BrowserContext, stack: Stack) -> None:
    """A collector opens today's calls, records connected with a promise from the case page's
    one form, comes back to the queue, and the case has left it."""
    tz = daytime_zone()
    await stack.open("BR-6", 10, amount="800.00", policy="consumer-credit-line", tz=tz)
    call = await first_call(stack, "BR-6")
    await stack.wait_for(f"WorkflowId = 'case-BR-6' AND {AWAITING.name} = 'call'", 1)
    due = (datetime.now(ZoneInfo(tz)) + timedelta(days=4)).date().isoformat()
    page = await _sign_in(browser, stack, "colin")
    await page.get_by_role("link", name="Today's calls").click()
    await expect(page.get_by_role("heading", name="Today's calls")).to_be_visible()
    row = page.locator("#row-BR-6")
    await expect(row.locator(".waiting")).to_have_text(re.compile(r"^\d+ (min|h \d+ min)$"))
    await _shot(page, "calls-queue")
    await row.get_by_role("link", name="Record the call of BR-6").click()
    form = page.get_by_role("form", name="Record a call outcome")
    await expect(form.get_by_label("Call")).to_have_value(call)
    await form.get_by_label("connected").check()
    await form.get_by_label("Attitude").select_option("cooperative")
    await form.get_by_label("Promise amount").fill("300.00")
    await form.get_by_label("by", exact=True).fill(due)
    await _shot(page, "case-call-form-from-queue")
    await form.get_by_role("button", name="Record call").click()
    await expect(page.get_by_role("status")).to_have_text(
        "BR-6: call connected recorded with a promise"
    )
    await expect(page.get_by_role("heading", name="Today's calls")).to_be_visible()
    await stack.wait_for(f"WorkflowId = 'case-BR-6' AND {AWAITING.name} = 'call'", 0)
    await page.reload()
    await expect(page.get_by_role("heading", name="Today's calls")).to_be_visible()
    await expect(page.locator("#row-BR-6")).to_have_count(0)
    await _shot(page, "calls-queue-after-call")
    status = await stack.cases.status("BR-6")
    assert status.attitude == "cooperative" and "promise" in status.holds
    await page.close()
