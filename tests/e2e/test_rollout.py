"""End to end on the real dev server: 200 cases opened under version 1, a version 2 changing one
template and one threshold, its dry run on the live states, a 10 % canary (exactly the cases the
stable hash picks report version 2), a promote during which the worker is killed with SIGKILL,
and a rollback; every case ends on version 1 again and the outbox holds every action once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.case.state import CaseFile
from engine.decision.migrate import in_percent
from overdue.runtime import PolicyCache
from workers.client import connect
from workers.converter import data_converter, load_or_create_key
from workers.dataplane import DataPlane, database_url
from workers.devserver import DevServer, free_port
from workers.outbox import Outbox
from workers.settings import Settings
from workflows.client import Cases
from workflows.rollout_client import Rollouts

pytestmark = pytest.mark.e2e

CASES = 200
NAME = "e2e-roll"
DAY = 12  # days past due when the cases open (the one contact goes out that day)


def _zone_at_noon(now: datetime) -> str:
    offset = 12 - now.hour
    if offset > 12:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def _policy(version: int, tz: str, send_at: str, text: str, write_off_day: int) -> str:
    return f"""
name: {NAME}
version: {version}
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
      - {{id: hello, day: {DAY}, channel: sms, template: hello, at: "{send_at}"}}
    exits:
      - {{to: written_off, when: {{field: days_past_due, op: ">=", value: {write_off_day}}}}}
templates:
  hello:
    text:
      en-US: "{text}"
"""


def _case(i: int, tz: str, due: str) -> CaseFile:
    return CaseFile.model_validate(
        {
            "case_id": f"RO-{i:03d}",
            "product": "credit_line",
            "amount_due": "900.00",
            "currency": "CNY",
            "due_date": due,
            "policy": NAME,
            "debtor": {
                "id": f"D{i}",
                "name": f"Debtor {i}",
                "phone": "+8613800000000",
                "email": f"d{i}@example.com",
                "timezone": tz,
                "locale": "en-US",
            },
        }
    )


def _env(address: str) -> dict[str, str]:
    return {**os.environ, "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "default"}


def _start_worker(folder: Path, address: str) -> subprocess.Popen[bytes]:
    with open(folder / "worker.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "overdue.cli", "worker", "--data", str(folder)],
            env=_env(address),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _cli(folder: Path, address: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "overdue.cli", "policy", *args, "--data", str(folder), "--json"],
        env=_env(address),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DevServer]:
    srv = DevServer(tmp_path, port=free_port(), ui_port=free_port(), headless=True)
    await srv.start()
    yield srv
    await srv.stop()


async def _until(check: object, seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


async def _versions(cases: Cases, ids: list[str]) -> dict[str, int]:
    gate = asyncio.Semaphore(20)

    async def one(cid: str) -> tuple[str, int]:
        async with gate:
            return cid, (await cases.status(cid)).policy.version

    return dict(await asyncio.gather(*(one(c) for c in ids)))


async def test_dry_run_canary_promote_through_a_crash_and_rollback(
    server: DevServer, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    tz = _zone_at_noon(now)
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(tz))
    send_at = (local + timedelta(seconds=5)).strftime("%H:%M:%S")
    v1, v2 = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    v1.write_text(
        _policy(1, tz, send_at, "{name}, {amount} {currency} is due.", 30), encoding="utf-8"
    )
    v2.write_text(
        _policy(2, tz, send_at, "{name}: please pay {amount} {currency}.", 20), encoding="utf-8"
    )
    plane = DataPlane(database_url(tmp_path, Settings(database_url=None)))
    cp = PolicyCache(tmp_path, plane=plane).get(str(v1))
    load_or_create_key(tmp_path)
    worker = _start_worker(tmp_path, server.address)
    outbox = Outbox(plane)
    ids = [f"RO-{i:03d}" for i in range(CASES)]
    try:
        client = await connect(
            data_converter(load_or_create_key(tmp_path)), target_host=server.address
        )
        cases = Cases(client)
        due = (local.date() - timedelta(days=DAY)).isoformat()  # v2 writes off 8 days later
        counts = await cases.open_many((_case(i, tz, due), cp) for i in range(CASES))
        assert counts == {"opened": CASES, "already_open": 0}

        async def all_sent() -> bool:
            return outbox.count() >= CASES

        await _until(all_sent, 90, "the first contact of every case")
        listed = [c async for c in cases.list(query=f"OverduePolicy = '{NAME}'")]

        async def all_listed() -> bool:
            return len([c async for c in cases.list(query=f"OverduePolicy = '{NAME}'")]) == CASES

        await _until(all_listed, 30, "every case in visibility")
        del listed

        dry = _cli(tmp_path, server.address, "rollout", str(v2), "--dry-run", "--days", "15")
        assert (
            dry["policy"],
            dry["to_version"],
            dry["selected"],
            dry["movable"],
            dry["refused"],
        ) == (NAME, 2, CASES, CASES, [])
        assert dry["from_versions"] == {"v1": CASES}
        current, proposed = dry["current"], dry["proposed"]
        assert isinstance(current, dict) and isinstance(proposed, dict)
        assert proposed["final_stages"]["written_off"] > current["final_stages"]["written_off"]

        canary = _cli(
            tmp_path, server.address, "rollout", str(v2), "--percent", "10", "--wait", "--by", "e2e"
        )
        chosen = {c for c in ids if in_percent(c, 10)}
        assert (canary["state"], canary["moved"]) == ("done", len(chosen))
        versions = await _versions(cases, ids)
        assert {c for c, v in versions.items() if v == 2} == chosen

        # Promote at a bounded rate (the command returns once it started), and kill the worker
        # in the middle of it.
        started = _cli(
            tmp_path,
            server.address,
            "rollout",
            str(v2),
            "--promote",
            "--batch",
            "5",
            "--interval",
            "0.3",
        )
        assert started["mode"] == "promote"
        rollouts = Rollouts(client)

        async def a_third_moved() -> bool:
            return (await rollouts.progress(NAME)).done >= (CASES - len(chosen)) // 3

        await _until(a_third_moved, 60, "a third of the promote")
        before = (await rollouts.progress(NAME)).done
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert before < CASES - len(chosen), "the kill must land mid-rollout"
        worker = _start_worker(tmp_path, server.address)
        done = await asyncio.wait_for(rollouts.wait(NAME), 120)
        assert done.state == "done" and done.refused_count == 0
        assert set((await _versions(cases, ids)).values()) == {2}
        status = _cli(tmp_path, server.address, "rollout-status", NAME)
        assert status["state"] == "done" and isinstance(status.get("record"), dict)

        back = _cli(
            tmp_path,
            server.address,
            "rollback",
            NAME,
            "--to",
            "1",
            "--wait",
            "--batch",
            "50",
            "--interval",
            "0",
        )
        assert (back["state"], back["moved"], back["refused_count"]) == ("done", CASES, 0)
        assert set((await _versions(cases, ids)).values()) == {1}
        history = await cases.history(ids[0])
        assert [r.detail["to"] for r in history if r.kind == "migrated"][-1] == f"{NAME}@1"
        assert outbox.duplicates() == 0
        assert max(Counter(r.action_id for r in outbox.list()).values()) == 1
        assert outbox.count() == CASES  # the one contact each, never again under v2 or back on v1
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        outbox.close()
        plane.close()
