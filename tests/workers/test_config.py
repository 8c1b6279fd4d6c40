"""Where commands find their folder, key and server; the folder lock; orphaned servers."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workers.config import (
    DevState,
    FolderLock,
    codec_keys,
    data_folder,
    dev_address,
    dev_folder,
    read_dev_state,
    write_dev_state,
)
from workers.converter import KEY_FILE_NAME, load_or_create_key
from workers.devserver import DevServer
from workers.settings import ConfigError, Settings

KEY = bytes(range(32))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Nothing set but a private dev state file."""
    return Settings(
        data_dir=None, codec_key=None, codec_old_keys=(), dev_state=tmp_path / "state" / "dev.json"
    )


def _state(folder: Path) -> DevState:
    return DevState(
        data_dir=folder,
        address="127.0.0.1:7999",
        namespace="default",
        ui_url="http://127.0.0.1:8999",
        pid=os.getpid(),
        key_id="k",
        started=datetime(2026, 11, 27, tzinfo=UTC),
    )


class TestDataFolder:
    """--data, then OVERDUE_DATA_DIR, then the running `overdue dev`, else one line."""

    def test_nothing_set_is_one_line_naming_the_setting(self, settings: Settings) -> None:
        with pytest.raises(ConfigError, match="OVERDUE_DATA_DIR") as e:
            data_folder(settings)
        assert "\n" not in str(e.value)

    def test_dev_state_found_from_anywhere(self, settings: Settings, tmp_path: Path) -> None:
        folder = tmp_path / "dev-data"
        folder.mkdir()
        write_dev_state(settings, _state(folder))
        assert read_dev_state(settings) == _state(folder)
        assert data_folder(settings) == folder
        assert dev_address(settings, folder) == "127.0.0.1:7999"
        assert dev_address(settings, tmp_path) is None  # another folder: not that server's
        assert oct(settings.dev_state.stat().st_mode & 0o777) == "0o600"

    def test_explicit_wins_and_must_exist(self, settings: Settings, tmp_path: Path) -> None:
        write_dev_state(settings, _state(tmp_path))
        env = settings.model_copy(update={"data_dir": tmp_path / "missing"})
        with pytest.raises(ConfigError, match="missing does not exist \\(from OVERDUE_DATA_DIR\\)"):
            data_folder(env)
        assert data_folder(env, str(tmp_path)) == tmp_path

    def test_dev_folder_defaults_to_dot_overdue(self, settings: Settings, tmp_path: Path) -> None:
        assert dev_folder(settings) == Path(".overdue")
        assert dev_folder(settings.model_copy(update={"data_dir": tmp_path})) == tmp_path
        assert dev_folder(settings, "x") == Path("x")

    def test_unreadable_state_is_no_state(self, settings: Settings) -> None:
        settings.dev_state.parent.mkdir(parents=True)
        settings.dev_state.write_text("{not json", encoding="utf-8")
        assert read_dev_state(settings) is None


class TestCodecKeys:
    """Only `overdue dev` creates a key; everyone else finds one or stops."""

    def test_no_key_is_never_created(self, settings: Settings, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"no codec key.*OVERDUE_CODEC_KEY"):
            codec_keys(settings, tmp_path)
        assert not (tmp_path / KEY_FILE_NAME).exists()

    def test_created_only_when_asked(self, settings: Settings, tmp_path: Path) -> None:
        key, old = codec_keys(settings, tmp_path, create=True)
        assert (key, old) == (load_or_create_key(tmp_path), [])
        assert codec_keys(settings, tmp_path) == (key, [])

    def test_variable_wins(self, tmp_path: Path, settings: Settings) -> None:
        text = base64.b64encode(KEY).decode()
        s = Settings(dev_state=settings.dev_state, codec_key=text, codec_old_keys=text)
        assert codec_keys(s, tmp_path) == (KEY, [KEY])
        assert not (tmp_path / KEY_FILE_NAME).exists()

    def test_bad_key_is_one_line(self, settings: Settings, tmp_path: Path) -> None:
        s = Settings(dev_state=settings.dev_state, codec_key="bm90IDMyIGJ5dGVz")
        with pytest.raises(ConfigError, match="OVERDUE_CODEC_KEY: the key must be 32 bytes"):
            codec_keys(s, tmp_path)
        (tmp_path / KEY_FILE_NAME).write_text("garbage!!\n", encoding="ascii")
        with pytest.raises(ConfigError, match="not valid base64"):
            codec_keys(settings, tmp_path)


class TestFolderLock:
    """One `overdue dev` per data folder."""

    def test_second_holder_refused_with_the_first_pid(self, tmp_path: Path) -> None:
        first = FolderLock(tmp_path / "data")
        first.acquire()
        try:
            with pytest.raises(
                ConfigError, match=f"in use by another `overdue dev` \\(pid {os.getpid()}\\)"
            ):
                FolderLock(tmp_path / "data").acquire()
        finally:
            first.release()
        again = FolderLock(tmp_path / "data")
        again.acquire()
        again.release()

    def test_lock_dies_with_its_process(self, tmp_path: Path) -> None:
        """A kill -9'd holder leaves no lock behind."""
        folder = tmp_path / "data"
        code = (
            "import sys, time; from pathlib import Path; from workers.config import FolderLock; "
            f"lock = FolderLock(Path({str(folder)!r})); lock.acquire(); print('locked', flush=True); time.sleep(60)"
        )
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "locked"
            with pytest.raises(ConfigError, match=f"pid {child.pid}"):
                FolderLock(folder).acquire()
        finally:
            child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
        lock = FolderLock(folder)
        lock.acquire()
        lock.release()


class TestOrphanServer:
    """A server left behind by a killed `overdue dev` is stopped by the next start on its folder."""

    def _fake_server(self, db: Path) -> subprocess.Popen[bytes]:
        # Same command-line shape as `temporal server start-dev --db-filename DB`.
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import time; time.sleep(60)",
                "server",
                "start-dev",
                "--db-filename",
                str(db),
            ]
        )
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        while b"start-dev" not in cmdline.read_bytes():  # until the exec has completed
            time.sleep(0.01)
        return proc

    def test_orphan_on_this_folder_is_stopped(self, tmp_path: Path) -> None:
        srv = DevServer(tmp_path, stop_timeout=5)
        orphan = self._fake_server(srv.db_path)
        srv.pid_path.write_text(f"{orphan.pid}\n", encoding="ascii")
        srv._stop_orphan()
        assert orphan.wait(timeout=10) is not None
        assert not srv.pid_path.exists()

    def test_stale_pid_of_another_process_is_left_alone(self, tmp_path: Path) -> None:
        srv = DevServer(tmp_path / "a", stop_timeout=5)
        srv.data_dir.mkdir()
        other = self._fake_server(tmp_path / "b" / "temporal.db")
        try:
            srv.pid_path.write_text(f"{other.pid}\n", encoding="ascii")
            srv._stop_orphan()
            assert other.poll() is None
            assert not srv.pid_path.exists()
        finally:
            other.kill()
            other.wait()
