"""Configuration you cannot get wrong: where each command finds its folder, key and server.

`overdue dev` records its data folder, key fingerprint and address in a per-user state file
(`DevState`, at `Settings.dev_state`), so a command started from any directory finds them. Every
other command resolves, in order:

- the data folder: ``--data``, ``OVERDUE_DATA_DIR``, the running `overdue dev`'s folder, else it
  stops with one line naming the setting;
- the codec key: ``OVERDUE_CODEC_KEY``, else ``<data folder>/codec.key``, else it stops. Only
  `overdue dev` creates a key, and only in its own folder: a case encrypted with a key no worker
  holds would be stuck for good;
- the Temporal server: Temporal's own configuration (``TEMPORAL_ADDRESS``, a profile), else the
  `overdue dev` that uses this data folder, else ``127.0.0.1:7233``.

`overdue dev` holds an exclusive lock on its data folder (`FolderLock`) for as long as it runs,
so a second one on the same folder is refused; the lock dies with the process, even on kill -9.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from datetime import datetime
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ValidationError

from workers.converter import (
    KEY_FILE_NAME,
    CodecError,
    decode_key,
    load_or_create_key,
    read_key_file,
)
from workers.private_files import private_dir, private_file
from workers.settings import ConfigError, Settings

__all__ = [
    "DevState",
    "FolderLock",
    "codec_keys",
    "data_folder",
    "dev_address",
    "dev_folder",
    "read_dev_state",
    "write_dev_state",
]

_DEV_FOLDER = Path(".overdue")
_LOCK_NAME = "dev.lock"


class DevState(BaseModel):
    """What a running `overdue dev` tells later commands (no secret: the key's id only)."""

    data_dir: Path
    address: str
    namespace: str
    ui_url: str
    pid: int
    key_id: str
    started: datetime


def read_dev_state(settings: Settings) -> DevState | None:
    """The last `overdue dev`'s record, or None if there is none (or it cannot be read)."""
    try:
        return DevState.model_validate_json(settings.dev_state.read_bytes())
    except (OSError, ValidationError):
        return None


def write_dev_state(settings: Settings, state: DevState) -> None:
    """Record `state` for later commands (atomically; folder 0700, file 0600).

    Raises:
        ConfigError: The state file cannot be written (its path and why).
    """
    path = settings.dev_state
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(state.model_dump_json(indent=2) + "\n")
        tmp.replace(path)
    except OSError as e:
        raise ConfigError(f"cannot write {path} (OVERDUE_DEV_STATE): {e.strerror}") from None


def _same(a: Path, b: Path) -> bool:
    return a.expanduser().resolve() == b.expanduser().resolve()


def data_folder(settings: Settings, explicit: str | None = None) -> Path:
    """The data folder of a command other than `overdue dev` (never created here).

    Raises:
        ConfigError: None is set and no `overdue dev` ever recorded one, or it does not exist.
    """
    if explicit:
        folder, origin = Path(explicit).expanduser(), "--data"
    elif settings.data_dir is not None:
        folder, origin = settings.data_dir.expanduser(), "OVERDUE_DATA_DIR"
    else:
        state = read_dev_state(settings)
        if state is None:
            raise ConfigError(
                "no data folder: set OVERDUE_DATA_DIR (or pass --data), or start `overdue dev` first"
            )
        folder, origin = state.data_dir, f"the folder of `overdue dev` ({settings.dev_state})"
    if not folder.is_dir():
        raise ConfigError(f"data folder {folder} does not exist (from {origin})")
    return folder


def dev_folder(settings: Settings, explicit: str | None = None) -> Path:
    """The data folder of `overdue dev`: ``--data``, ``OVERDUE_DATA_DIR``, else ``.overdue``."""
    if explicit:
        return Path(explicit).expanduser()
    return settings.data_dir.expanduser() if settings.data_dir is not None else _DEV_FOLDER


def codec_keys(
    settings: Settings, folder: Path, *, create: bool = False
) -> tuple[bytes, list[bytes]]:
    """The codec key and the retired keys still accepted for decoding.

    Args:
        settings: The settings (``OVERDUE_CODEC_KEY``, ``OVERDUE_CODEC_OLD_KEYS``).
        folder: The data folder whose ``codec.key`` is used when no key is set.
        create: Create the key file if missing (`overdue dev` on its own folder only).

    Raises:
        ConfigError: No key, or a key that is not base64 of 32 bytes (naming where it came from).
    """
    try:
        old = [
            decode_key(k.get_secret_value(), "OVERDUE_CODEC_OLD_KEYS")
            for k in settings.codec_old_keys
        ]
        if settings.codec_key is not None:
            return decode_key(settings.codec_key.get_secret_value(), "OVERDUE_CODEC_KEY"), old
        path = folder / KEY_FILE_NAME
        if create:
            return load_or_create_key(folder), old
        if not path.is_file():
            raise ConfigError(
                f"no codec key: {path} does not exist; set OVERDUE_CODEC_KEY to the workers' key, "
                "or OVERDUE_DATA_DIR to the folder `overdue dev` uses"
            )
        return read_key_file(path), old
    except CodecError as e:
        raise ConfigError(str(e)) from None
    except OSError as e:
        raise ConfigError(f"codec key in {folder}: {e.strerror}") from None


def dev_address(settings: Settings, folder: Path) -> str | None:
    """The address of the `overdue dev` that uses `folder`, if one recorded it."""
    state = read_dev_state(settings)
    if state is not None and _same(state.data_dir, folder):
        return state.address
    return None


class FolderLock:
    """An exclusive, non-blocking lock on a data folder, held while `overdue dev` runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / _LOCK_NAME
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock and write our pid in it.

        Raises:
            ConfigError: Another process holds it (naming its pid), or the folder is unusable.
        """
        try:
            fh = private_file(private_dir(self.folder) / _LOCK_NAME).open("a+", encoding="ascii")
        except OSError as e:
            raise ConfigError(f"data folder {self.folder}: {e.strerror}") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise ConfigError(
                f"data folder {self.folder} is in use by another `overdue dev` (pid {holder}); "
                "stop it or pass another --data"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        """Let the folder go (also happens when the process dies)."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
