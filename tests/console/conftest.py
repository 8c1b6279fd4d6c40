"""One real stack for the console's tests: Temporal's dev server, a worker and the console, all
on a fresh data folder, with one user (and API token) per role.

`approval-now` is the shipped consumer-credit-line policy with `escalation.min_days: 0`, so a
case opened 100 days overdue asks for the legal-referral approval at once instead of tomorrow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio.client import Client

from console.roles import Role
from console.server import RunningConsole, start, state_for, user_store
from console.users import DataPlaneUserStore
from engine.case.state import CaseFile
from overdue.runtime import PolicyCache
from tests.conftest import POLICY_DIR
from workers.client import connect
from workers.converter import data_converter, load_or_create_key
from workers.devserver import DevServer, free_port
from workers.settings import Settings
from workers.worker import run_worker
from workflows.client import Cases

#: One user per role: name -> role.
USERS = {
    "vera": Role.VIEWER,
    "colin": Role.COLLECTOR,
    "olga": Role.OPS,
    "mona": Role.MANAGER,
    "ada": Role.ADMIN,
}


def password(name: str) -> str:
    """The test password of a user."""
    return f"pw-{name}-correct-horse"


@contextlib.asynccontextmanager
async def signed_in(stack: Stack, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """A web client signed in to the console as `name` (a user the stack created)."""
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as web:
        form = await web.get("/login")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        r = await web.post(
            "/login", data={"name": name, "password": password(name), "csrf": csrf, "next": "/"}
        )
        assert r.status_code == 303, r.text
        yield web


@dataclass
class Stack:
    """The running stack and what tests need to drive it."""

    folder: Path
    server: DevServer
    client: Client
    console: RunningConsole
    users: DataPlaneUserStore
    policies: PolicyCache
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The console's address."""
        return self.console.url

    @property
    def cases(self) -> Cases:
        """The typed case API."""
        return Cases(self.client)

    async def open(
        self,
        case_id: str,
        days_overdue: int,
        amount: str = "5000.00",
        policy: str = "approval-now.yaml",
        tz: str = "Asia/Shanghai",
        cases: Cases | None = None,
    ) -> CaseFile:
        """Open a CN case `days_overdue` days past due (in the debtor's `tz`) on `policy`."""
        due = (datetime.now(ZoneInfo(tz)) - timedelta(days=days_overdue)).date()
        case = CaseFile.model_validate(
            {
                "case_id": case_id,
                "product": "credit_line",
                "amount_due": amount,
                "currency": "CNY",
                "due_date": due.isoformat(),
                "policy": policy,
                "risk_score": 600,
                "debtor": {
                    "id": f"D-{case_id}",
                    "name": "王芳",
                    "phone": "+8613800000000",
                    "email": "wf@example.com",
                    "timezone": tz,
                    "locale": "zh-CN",
                },
            }
        )
        await (cases or self.cases).open(case, self.policies.get(policy))
        return case

    async def wait_for(self, query: str, count: int) -> None:
        """Wait until visibility shows `count` cases matching `query` (it lags updates by a
        moment); the test's own timeout bounds the wait."""
        for _ in range(600):
            if (await self.client.count_workflows(query)).count == count:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"visibility never showed {count} cases for {query!r}")


def daytime_zone() -> str:
    """A time zone where it is early afternoon now, so a contact due today goes out at once
    whatever hour the tests run (contact windows are in the debtor's local time)."""
    offset = (13 - datetime.now(UTC).hour + 12) % 24 - 12  # -12..+11
    return "Etc/GMT" + ("+" if offset <= 0 else "-") + str(abs(offset))  # POSIX signs are inverted


async def first_call(stack: Stack, case_id: str) -> str:
    """The action id of the first call the case made (waits for the worker to place it)."""
    for _ in range(300):
        calls = [
            r.action_id
            for r in await stack.cases.history(case_id)
            if r.kind == "contact" and r.channel == "call" and r.action_id
        ]
        if calls:
            return calls[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case_id} placed no call")


def _approval_now_policy(folder: Path) -> Path:
    text = (POLICY_DIR / "consumer-credit-line.yaml").read_text(encoding="utf-8")
    text = text.replace("name: consumer-credit-line", "name: approval-now", 1)
    text = text.replace(
        "  escalation:\n    description:", "  escalation:\n    min_days: 0\n    description:", 1
    )
    path = folder / "approval-now.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Dev server + worker + console on one data folder, shared by the console's tests."""
    folder = tmp_path_factory.mktemp("console")
    policy_path = _approval_now_policy(folder)
    server = DevServer(folder / "server", port=free_port(), ui_port=free_port(), headless=True)
    await server.start()
    stop = asyncio.Event()
    worker = None
    console = None
    users = user_store(folder)
    try:
        client = await connect(
            data_converter(load_or_create_key(folder)), target_host=server.address
        )
        worker = asyncio.create_task(run_worker(client, folder, Settings(), stop=stop))
        for name, role in USERS.items():
            users.add(name, role, password(name))
        console = await start(
            state_for(client, folder, ui_url="http://127.0.0.1:8233", users=users), port=free_port()
        )
        policies = PolicyCache(folder, base=policy_path.parent)
        s = Stack(
            folder,
            server,
            client,
            console,
            users,
            policies,
            tokens={name: users.issue_token(name) for name in USERS},
        )
        yield s
    finally:
        if console is not None:
            await console.stop()
        stop.set()
        if worker is not None:
            await worker
        users.close()
        await server.stop()
