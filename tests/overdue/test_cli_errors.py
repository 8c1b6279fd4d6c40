"""Expected failures are one line on stderr with exit 1, never a traceback (issue 10, item 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from overdue.cli import _user_error
from workers.devserver import DevServerError


def _run(
    *args: str, stdout: int | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "overdue.cli", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        env=env,
    )


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


class TestOutput:
    """stdout that goes away or fills up."""

    def test_broken_pipe(self) -> None:
        """`overdue ... --json | head`: the reader has gone before the output is written: no
        message (the reader has what it wanted), the shell's exit code for SIGPIPE."""
        read, write = os.pipe()
        os.close(read)
        try:
            r = _run("policy", "schema", stdout=write)
        finally:
            os.close(write)
        assert (r.returncode, r.stderr) == (141, "")  # quiet, as `cat` or `git log` under `head`

    def test_disk_full(self) -> None:
        """`> file` on a full disk (/dev/full answers every write with ENOSPC)."""
        with open("/dev/full", "w") as full:
            r = _run("policy", "schema", stdout=full.fileno())
        assert "No space left on device" in _one_line(r)


class TestUserErrors:
    """Which exceptions are a user's situation (one line) and which are bugs (traceback)."""

    def test_lines(self, tmp_path: Path) -> None:
        assert _user_error(PermissionError(13, "Permission denied", str(tmp_path))) == (
            f"{tmp_path}: Permission denied"
        )
        assert _user_error(OSError(28, "No space left on device")) == "No space left on device"
        assert _user_error(
            DevServerError("gRPC port 127.0.0.1:7233 is already in use\nlog tail...")
        ) == ("gRPC port 127.0.0.1:7233 is already in use")
        assert _user_error(KeyError("bug")) is None

    def test_settings_error_is_one_line(self, tmp_path: Path) -> None:
        env = {
            **os.environ,
            "OVERDUE_SMTP_PORT": "many",
            "OVERDUE_DEV_STATE": str(tmp_path / "dev.json"),
        }
        assert _one_line(_run("outbox", env=env)).startswith("error: OVERDUE_SMTP_PORT: ")
