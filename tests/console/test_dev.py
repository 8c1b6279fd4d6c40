"""`overdue dev` starts the console beside Temporal and the worker, prints its address and the
first user's credentials, and those credentials sign in."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from workers.devserver import free_port

pytestmark = pytest.mark.e2e


def test_dev_prints_console_and_credentials(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(4)]
    cmd = [
        sys.executable,
        "-m",
        "overdue.cli",
        "dev",
        "--data",
        str(tmp_path),
        "--port",
        str(ports[0]),
        "--ui-port",
        str(ports[1]),
        "--console-port",
        str(ports[2]),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "OVERDUE_CODEC_KEY": "",
            "OVERDUE_METRICS_ADDRESS": f"127.0.0.1:{ports[3]}",
        },
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(lines)
        assert f"console          http://127.0.0.1:{ports[2]}/" in text, text
        assert f"(codec http://127.0.0.1:{ports[2]}/codec)" in text
        assert (
            f"metrics          http://127.0.0.1:{ports[2]}/metrics  "
            f"(worker http://127.0.0.1:{ports[3]}/metrics)"
        ) in text, text
        assert "temporal_" in httpx.get(f"http://127.0.0.1:{ports[3]}/metrics").text
        found = re.search(r"sign in as (\S+) / (\S+)", text)
        assert found, text
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[2]}") as web:
            form = web.get("/login")
            csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
            r = web.post("/login", data={"name": found[1], "password": found[2], "csrf": csrf})
            assert r.status_code == 303
            assert web.get("/queues/approvals").status_code == 200
            assert web.get("/metrics").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (tmp_path / "console-admin.password").stat().st_mode & 0o077 == 0
