"""End to end past one machine: two worker processes with different data folders share one real
PostgreSQL data plane (policy versions, outbox) and one Temporal; one is killed with SIGKILL in
the middle of a portfolio. Every contact leaves exactly once and none is lost, and no worker
needed a shared folder."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from overdue.runtime import PolicyCache
from tests.e2e.burst import CONTACTS, case_file, policy_text, start_worker, zone_at_noon
from tests.postgres import PostgresServer
from workers.client import connect
from workers.converter import data_converter
from workers.dataplane import DataPlane
from workers.devserver import DevServer, free_port
from workers.outbox import Outbox
from workflows.client import Cases

pytestmark = pytest.mark.e2e

CASES = 30


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DevServer]:
    """One Temporal (the dev server) for both "machines"."""
    srv = DevServer(tmp_path / "temporal", port=free_port(), ui_port=free_port(), headless=True)
    await srv.start()
    yield srv
    await srv.stop()


async def _wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


class TestTwoMachines:
    """Two workers, two data folders, one PostgreSQL."""

    async def test_sigkill_one_worker_mid_portfolio(
        self, server: DevServer, postgres: PostgresServer, tmp_path: Path
    ) -> None:
        """The survivor finishes the portfolio: every contact once, none lost, no shared folder."""
        url = postgres.new_database()
        key = os.urandom(32)
        env = {"OVERDUE_DATABASE_URL": url, "OVERDUE_CODEC_KEY": base64.b64encode(key).decode()}
        now = datetime.now(UTC)
        tz = zone_at_noon(now)
        # The case files and the policy live with the operator, not with any worker.
        desk, machine_a, machine_b = (tmp_path / n for n in ("desk", "machine-a", "machine-b"))
        for folder in (desk, machine_a, machine_b):
            folder.mkdir()
        policy_file = desk / "e2e-burst.yaml"
        policy_file.write_text(policy_text(now, tz), encoding="utf-8")
        due = now.astimezone(ZoneInfo(tz)).date().isoformat()

        plane = DataPlane(url)  # as `overdue db upgrade` with OVERDUE_DATABASE_URL set
        workers = [
            start_worker(machine_a, server.address, **env),
            start_worker(machine_b, server.address, **env),
        ]
        try:
            cp = PolicyCache(desk, plane=plane).get(str(policy_file))
            outbox = Outbox(plane)
            client = await connect(data_converter(key), target_host=server.address)
            cases = Cases(client)
            counts = await cases.open_many(
                (case_file(i, tz, due, str(policy_file)), cp) for i in range(CASES)
            )
            assert counts == {"opened": CASES, "already_open": 0}
            total = CASES * CONTACTS
            await _wait_for(lambda: outbox.count() >= total // 3, 90, "a third of the contacts")
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            assert outbox.count() < total, "the kill must land mid-portfolio"
            await _wait_for(lambda: outbox.count() >= total, 150, "every contact after the kill")

            assert outbox.count() == total and outbox.duplicates() == 0
            planned = sorted(f"c{k}" for k in range(CONTACTS))
            for i in range(CASES):
                st = await cases.status(f"E2E-{i:03d}")
                assert st.contacts == CONTACTS and not st.closed
                # Each planned contact of the case, once: none lost, none doubled.
                assert (
                    sorted(r.action_id.rsplit("/", 1)[-1] for r in outbox.list(f"E2E-{i:03d}"))
                    == planned
                )
        finally:
            for w in workers:
                _stop(w)
            plane.close()
        # Neither machine kept a database, an outbox or a policy snapshot of its own.
        for folder in (machine_a, machine_b):
            assert not [
                p.name for p in folder.iterdir() if p.suffix == ".db" or p.name == "policy-store"
            ]
