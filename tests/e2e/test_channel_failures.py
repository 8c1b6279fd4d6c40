"""End to end on the dev server: channels that refuse (a webhook answering HTTP 400, an SMTP
server answering 550) end as failed contacts, never as a failed case. The case keeps running, its
next contact leaves, `case pay` still works, and no log line holds the debtor's personal data."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.e2e.burst import zone_at_noon
from workers.converter import load_or_create_key
from workers.devserver import DevServer, free_port

pytestmark = pytest.mark.e2e

NAME, PHONE, EMAIL, ADDRESS = (
    "Wang Fangtest",
    "+8613912345678",
    "wang.fangtest@example.com",
    "88 Testing Street",
)


class _Refuse550:
    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        return "550 5.1.1 no such mailbox"


class _Hook400(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"error": "invalid number"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def channels() -> Iterator[dict[str, str]]:
    """A webhook answering 400 and an SMTP server answering 550; the worker's channel settings."""
    hook = ThreadingHTTPServer(("127.0.0.1", free_port()), _Hook400)
    thread = threading.Thread(target=hook.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    smtp = Controller(_Refuse550(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        yield {
            "OVERDUE_WEBHOOK_URL": f"http://127.0.0.1:{hook.server_address[1]}/send",
            "OVERDUE_SMTP_HOST": "127.0.0.1",
            "OVERDUE_SMTP_PORT": str(smtp.port),
        }
    finally:
        smtp.stop()
        hook.shutdown()
        hook.server_close()
        thread.join()


def _policy(now: datetime, tz: str) -> str:
    local = now.astimezone(ZoneInfo(tz))

    def at(seconds: int) -> str:
        return (local + timedelta(seconds=seconds)).strftime("%H:%M:%S")

    return f"""
name: e2e-refusing-channels
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
      - {{id: sms1, day: 0, channel: sms, template: hello, at: "{at(8)}"}}
      - {{id: mail1, day: 0, channel: email, template: hello, at: "{at(8)}"}}
      - {{id: push1, day: 0, channel: push, template: hello, at: "{at(16)}"}}
      - {{id: sms2, day: 0, channel: sms, template: hello, at: "{at(16)}"}}
      - {{id: mail2, day: 0, channel: email, template: hello, at: "{at(16)}"}}
    exits:
      - {{to: written_off, when: {{field: days_past_due, op: ">=", value: 30}}}}
templates:
  hello:
    text:
      en-US: "{{name}}, {{amount}} {{currency}} is due."
"""


def _overdue(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "overdue.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_refused_contacts_leave_the_case_running(tmp_path: Path, channels: dict[str, str]) -> None:
    """HTTP 400 and SMTP 550 mark the phone and the e-mail unusable; the push planned after
    them leaves; the later SMS and e-mail are suppressed; the case answers and takes a payment."""
    srv = DevServer(tmp_path / "server", port=free_port(), ui_port=free_port(), headless=True)
    asyncio.run(srv.start())
    load_or_create_key(tmp_path)  # as `overdue dev` does; the worker and the commands only read it
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": srv.address,
        "OVERDUE_DATA_DIR": str(tmp_path),
        **channels,
    }
    # The schema first, as an operator deploying does (the worker would, but in its own time).
    upgraded = _overdue(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    worker_log = tmp_path / "worker.log"
    with worker_log.open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "overdue.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    outputs: list[str] = []
    try:
        now = datetime.now(UTC)
        tz = zone_at_noon(now)
        policy = tmp_path / "refusing.yaml"
        policy.write_text(_policy(now, tz), encoding="utf-8")
        case = {
            "case_id": "REF-1",
            "product": "credit_line",
            "amount_due": "900.00",
            "currency": "CNY",
            "due_date": now.astimezone(ZoneInfo(tz)).date().isoformat(),
            "policy": str(policy),
            "debtor": {
                "id": "D-REF-1",
                "name": NAME,
                "phone": PHONE,
                "email": EMAIL,
                "address": ADDRESS,
                "timezone": tz,
                "locale": "en-US",
            },
        }
        case_file = tmp_path / "case.json"
        case_file.write_text(json.dumps(case), encoding="utf-8")
        opened = _overdue(env, "case", "open", str(case_file))
        assert opened.returncode == 0, opened.stderr
        outputs.append(opened.stderr)

        history: list[dict[str, Any]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            r = _overdue(env, "case", "history", "REF-1", "--json")
            outputs.append(r.stderr)
            history = json.loads(r.stdout) if r.returncode == 0 else []
            if sum(h["kind"] == "suppressed" for h in history) >= 2:
                break
            time.sleep(1)
        outcomes = {h["reason"] for h in history if h["kind"] == "outcome"}
        assert outcomes == {
            "contact failed: webhook HTTP 400",
            "contact failed: smtp 550 recipient refused",
        }
        suppressed = {
            (h["reason"], h["detail"]["guardrail"]) for h in history if h["kind"] == "suppressed"
        }
        assert suppressed == {
            ("reminder.sms2", "address_unusable.phone"),
            ("reminder.mail2", "address_unusable.email"),
        }

        box = _overdue(env, "outbox", "--case", "REF-1", "--json")
        rows = json.loads(box.stdout)
        assert [row["action_id"] for row in rows] == ["REF-1/0.reminder/push1"]
        assert rows[0]["message"] == f"{NAME}, 900.00 CNY is due."  # the key is here: shown
        files = list(tmp_path.glob("overdue.db*"))  # the data plane, where the outbox lives
        assert files
        raw = b"".join(p.read_bytes() for p in files)
        assert NAME.encode() not in raw  # ...but sealed at rest
        status = _overdue(env, "case", "status", "REF-1", "--json")
        st = json.loads(status.stdout)
        assert st["closed"] is False and sorted(st["addresses_unusable"]) == ["email", "phone"]
        paid = _overdue(env, "case", "pay", "REF-1", "100.00")
        assert paid.returncode == 0, paid.stderr
        assert "balance 800.00" in paid.stdout
        outputs += [box.stderr, status.stderr, paid.stderr]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        asyncio.run(srv.stop())

    logs = worker_log.read_text(encoding="utf-8", errors="replace") + "".join(outputs)
    logs += (tmp_path / "server" / "temporal.log").read_text(encoding="utf-8", errors="replace")
    assert "contact.failed" in logs  # the failures were logged...
    for personal in (NAME, PHONE, EMAIL, ADDRESS, "Fangtest", "13912345678", "wang.fangtest"):
        assert personal not in logs  # ...without the debtor's personal data
