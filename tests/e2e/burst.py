"""A burst portfolio for the end-to-end tests: a policy whose contacts all fall due within
seconds of now (in a zone where it is about noon), case files for it, and a worker process."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from engine.case.state import CaseFile

__all__ = ["CONTACTS", "case_file", "policy_text", "start_worker", "zone_at_noon"]

#: One contact per channel: on a loaded machine a contact can fall due late, and late contacts on
#: one channel are an hour apart (`caps.SPACING`), which would stall the burst.
CONTACTS = 3


def zone_at_noon(now: datetime) -> str:
    """A fixed-offset zone in which it is about noon now (inside every contact window)."""
    offset = 12 - now.hour
    if offset > 12:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def policy_text(now: datetime, tz: str) -> str:
    """The `e2e-burst` policy: CONTACTS contacts on the due date, 8 s from now and 3 s apart."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(tz))
    contacts = "\n".join(
        f"      - {{id: c{i}, day: 0, channel: {('sms', 'push', 'email')[i % 3]}, template: hello,"
        f' at: "{(local + timedelta(seconds=8 + 3 * i)).strftime("%H:%M:%S")}"}}'
        for i in range(CONTACTS)
    )
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


def case_file(i: int, tz: str, due: str, policy: str) -> CaseFile:
    """Case `E2E-<i>`, due today in `tz`, on `policy`."""
    return CaseFile.model_validate(
        {
            "case_id": f"E2E-{i:03d}",
            "product": "credit_line",
            "amount_due": "900.00",
            "currency": "CNY",
            "due_date": due,
            "policy": policy,
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


def start_worker(folder: Path, address: str, **env_vars: str) -> subprocess.Popen[bytes]:
    """`overdue worker --data FOLDER` in a child process, against the Temporal at `address`.

    The data plane is the default SQLite file in FOLDER unless `env_vars` name another
    (``OVERDUE_DATABASE_URL``); a value set in the test's own environment is not inherited.
    """
    env = {k: v for k, v in os.environ.items() if k != "OVERDUE_DATABASE_URL"}
    env.update(TEMPORAL_ADDRESS=address, TEMPORAL_NAMESPACE="default", **env_vars)
    with open(folder / "worker.log", "ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "overdue.cli", "worker", "--data", str(folder)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
