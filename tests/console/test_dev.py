"""`overdue dev` starts the console beside Temporal and the worker, prints its address and the
first user's credentials, and those credentials sign in."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from workers.devserver import free_port

pytestmark = pytest.mark.e2e


def _dev_command(data: Path, port: int, ui_port: int, console_port: int) -> list[str]:
    """`overdue dev` on a data folder and three ports, as a user types it."""
    return [
        sys.executable,
        "-m",
        "overdue.cli",
        "dev",
        "--data",
        str(data),
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--console-port",
        str(console_port),
    ]


def _start_dev(tmp_path: Path) -> tuple[subprocess.Popen[str], list[int], str]:
    """`overdue dev` on four free ports, read up to the end of its banner. Started again on
    fresh ports when another process took one between the probe and its use."""
    for _ in range(3):
        ports = [free_port() for _ in range(4)]
        cmd = _dev_command(tmp_path, *ports[:3])
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
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        if lines:
            return proc, ports, "".join(lines)
        proc.kill()
        _, err = proc.communicate(timeout=60)
        assert "already in use" in err, f"`overdue dev` printed nothing; its stderr:\n{err}"
    raise AssertionError("three sets of free ports were each taken before use")


def test_dev_prints_console_and_credentials(tmp_path: Path) -> None:
    proc, ports, text = _start_dev(tmp_path)
    try:
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
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip().endswith(
        "stopped: console, worker and Temporal server; the cases are kept in the data folder"
    )
    assert (tmp_path / "console-admin.password").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("which", ["console", "metrics"])
def test_dev_taken_port_is_one_line_before_anything_starts(tmp_path: Path, which: str) -> None:
    """A port of ours that is taken stops `overdue dev` with one line, no traceback, and no
    Temporal server left behind."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        console_port = port if which == "console" else free_port()
        metrics_port = port if which == "metrics" else free_port()
        result = subprocess.run(
            _dev_command(tmp_path, free_port(), free_port(), console_port),
            capture_output=True,
            text=True,
            timeout=120,
            env={
                **os.environ,
                "OVERDUE_CODEC_KEY": "",
                "OVERDUE_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
            },
        )
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "already in use" in lines[0]
    assert f":{port}" in lines[0]
    # Nothing started: the Temporal server never wrote its database.
    assert not (tmp_path / "temporal.db").exists()


def test_the_console_port_is_held_with_no_delay_for_small_writes() -> None:
    """The socket `overdue dev` holds for the console binds the port at once, refuses a second
    holder, and carries TCP_NODELAY, which the connections accepted on it inherit (without it
    every response waited for the client's delayed ACK, about 40 ms a page)."""
    from console.server import reserve_port
    from engine.errors import OverdueError

    sock = reserve_port("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        with pytest.raises(OverdueError, match=f"127.0.0.1:{port} is already in use"):
            sock.listen()
            reserve_port("127.0.0.1", port)
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = sock.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
                assert client.getsockname()[1] != port
    finally:
        sock.close()
