"""Configuration you cannot get wrong, on the real `overdue dev` (issue 10, item 3).

A case command from another directory finds the running `overdue dev` or stops with one line and
leaves no stuck case; a second `overdue dev` on one folder is refused; a killed `overdue dev`
restarts cleanly (its orphaned Temporal server is stopped); a server that dies ends it.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workers.devserver import free_port

pytestmark = pytest.mark.e2e

READY = "Ctrl-C stops the worker and the server"


@dataclass
class Dev:
    """A running `overdue dev` and what a user's shell would hold."""

    proc: subprocess.Popen[str]
    folder: Path
    env: dict[str, str]
    out: list[str]


def _env(tmp_path: Path) -> dict[str, str]:
    """A user's environment: nothing of Overdue or Temporal set but a private dev state file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OVERDUE_", "TEMPORAL_"))}
    env["OVERDUE_DEV_STATE"] = str(tmp_path / "state" / "dev.json")
    return env


def _read_until(proc: subprocess.Popen[str], marker: str, seconds: float) -> list[str]:
    """The lines `proc` printed up to `marker` (read in a thread: a pipe read can block)."""
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if marker in line:
                seen.set()
                return

    threading.Thread(target=read, daemon=True).start()
    if not seen.wait(seconds):
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"`overdue dev` never said {marker!r}: {lines} {err}")
    return lines


def start_dev(
    env: dict[str, str],
    folder: Path,
    cwd: Path,
    port: int | None = None,
    ui_port: int | None = None,
) -> Dev:
    """`overdue dev --data FOLDER` started from `cwd`, once it says it is ready."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "overdue.cli",
            "dev",
            "--data",
            str(folder),
            "--port",
            str(port or free_port()),
            "--ui-port",
            str(ui_port or free_port()),
            # never the default 8080: a console someone runs on this machine must not fail this
            "--console-port",
            str(free_port()),
        ],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Dev(proc, folder, env, _read_until(proc, READY, 240))  # a busy CI machine is slow


def stop_dev(dev: Dev) -> tuple[int, str]:
    """Ctrl-C (or whatever is left of it); its exit code and stderr."""
    if dev.proc.poll() is None:
        dev.proc.send_signal(signal.SIGINT)
    try:
        _, err = dev.proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        dev.proc.kill()
        _, err = dev.proc.communicate()
    return dev.proc.returncode, err


def overdue(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command as a user types it, in `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "overdue.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def case_file(folder: Path, case_id: str) -> Path:
    due = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
    path = folder / f"{case_id}.json"
    path.write_text(
        json.dumps(
            {
                "case_id": case_id,
                "product": "credit_line",
                "amount_due": "300.00",
                "currency": "CNY",
                "due_date": due,
                "policy": "consumer-credit-line",
                "debtor": {
                    "id": "D-" + case_id,
                    "name": "王芳",
                    "phone": "+8613800000000",
                    "email": "wf@example.com",
                    "timezone": "Asia/Shanghai",
                    "locale": "zh-CN",
                },
            }
        ),
        encoding="utf-8",
    )
    return path


def one_line(r: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exit 1 and exactly one line on stderr, no traceback."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    """`overdue dev` on `tmp/data`, started from `tmp/project`."""
    (tmp_path / "project").mkdir()
    running = start_dev(_env(tmp_path), tmp_path / "data", tmp_path / "project")
    yield running
    stop_dev(running)


class TestFromAnotherDirectory:
    """Commands started anywhere find the running `overdue dev`, or stop with one line."""

    def test_case_commands_find_dev_from_anywhere(self, dev: Dev, tmp_path: Path) -> None:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        opened = overdue(dev.env, elsewhere, "case", "open", str(case_file(elsewhere, "AW-1")))
        assert opened.returncode == 0, opened.stderr
        st = overdue(dev.env, elsewhere, "case", "status", "AW-1", "--json")
        assert st.returncode == 0 and json.loads(st.stdout)["case_id"] == "AW-1"
        assert list(elsewhere.iterdir()) == [elsewhere / "AW-1.json"]  # no key, no folder made here
        listed = overdue(dev.env, elsewhere, "outbox", "--json")
        assert listed.returncode == 0 and isinstance(json.loads(listed.stdout), list)

    def test_wrong_key_is_refused_before_the_case_starts(self, dev: Dev, tmp_path: Path) -> None:
        env = {**dev.env, "OVERDUE_CODEC_KEY": base64.b64encode(os.urandom(32)).decode()}
        line = one_line(overdue(env, tmp_path, "case", "open", str(case_file(tmp_path, "WK-1"))))
        assert "hold codec key" in line and "OVERDUE_CODEC_KEY" in line
        st = overdue(dev.env, tmp_path, "case", "status", "WK-1")
        assert "not found" in one_line(st).lower() or "no case" in one_line(st).lower()

    def test_no_dev_and_nothing_set_names_the_setting(self, tmp_path: Path) -> None:
        env = _env(tmp_path)
        line = one_line(overdue(env, tmp_path, "case", "open", str(case_file(tmp_path, "NS-1"))))
        assert "OVERDUE_DATA_DIR" in line and "overdue dev" in line
        assert not (tmp_path / ".overdue").exists()

    def test_bad_settings_are_one_line(self, dev: Dev, tmp_path: Path) -> None:
        for extra, words in (
            ({"OVERDUE_CODEC_KEY": "not a key"}, "OVERDUE_CODEC_KEY"),
            ({"TEMPORAL_PROFILE": "nope"}, "Profile 'nope' not found"),
            ({"TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}, "cannot reach Temporal"),
            ({"OVERDUE_DATA_DIR": str(tmp_path / "typo")}, "does not exist"),
        ):
            assert words in one_line(
                overdue({**dev.env, **extra}, tmp_path, "case", "status", "X")
            ), extra


class TestOneServerPerFolder:
    """The data folder belongs to the `overdue dev` using it."""

    def test_second_dev_on_the_folder_is_refused(self, dev: Dev, tmp_path: Path) -> None:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "overdue.cli",
                "dev",
                "--data",
                str(dev.folder),
                "--port",
                str(free_port()),
                "--ui-port",
                str(free_port()),
                "--console-port",
                str(free_port()),
            ],
            env=dev.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "is in use by another `overdue dev`" in one_line(r)
        assert dev.proc.poll() is None

    def test_killed_dev_restarts_cleanly(self, dev: Dev, tmp_path: Path) -> None:
        assert (
            overdue(dev.env, tmp_path, "case", "open", str(case_file(tmp_path, "KD-1"))).returncode
            == 0
        )
        orphan = int((dev.folder / "temporal.pid").read_text())
        dev.proc.kill()
        dev.proc.communicate()
        os.kill(orphan, 0)  # the server outlived it (its own session)
        again = start_dev(dev.env, dev.folder, tmp_path)
        try:
            with pytest.raises(ProcessLookupError):
                for _ in range(50):
                    os.kill(orphan, 0)
                    time.sleep(0.1)
            st = overdue(dev.env, tmp_path, "case", "status", "KD-1", "--json")
            assert st.returncode == 0 and json.loads(st.stdout)["case_id"] == "KD-1"
        finally:
            code, err = stop_dev(again)
        assert code == 0, err

    def test_server_that_dies_ends_dev(self, dev: Dev) -> None:
        os.kill(int((dev.folder / "temporal.pid").read_text()), signal.SIGKILL)
        code, err = stop_dev_wait(dev)
        assert code == 1
        assert "Traceback" not in err
        assert err.strip().splitlines() == [
            f"error: the Temporal server stopped unexpectedly (exit code -9); its log: {dev.folder.resolve()}/temporal.log"
        ]


def stop_dev_wait(dev: Dev) -> tuple[int, str]:
    """Wait for `overdue dev` to end by itself."""
    _, err = dev.proc.communicate(timeout=60)
    return dev.proc.returncode, err
