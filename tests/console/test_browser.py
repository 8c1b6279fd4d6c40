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
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright, expect

from tests.console.conftest import USERS, Stack, password
from workflows.search_attributes import AWAITING

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _prepare() -> None:
    assert CHROMIUM.exists(), "Debian's chromium package is missing: run `make .venv/.installed` as root"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserContext]:
    """Headless system Chromium with a fresh profile."""
    _prepare()
    profile = tmp_path_factory.mktemp("chromium-profile")
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS)
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
    await expect(page.get_by_role("table", name=re.compile("Every decision"))).to_contain_text("approved legal_referral by mona")
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
