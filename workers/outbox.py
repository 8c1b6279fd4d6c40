"""The outbox: a SQLite ledger recording every contact exactly once, by its deterministic action id.

It is the embedded default channel (a contact "leaves" by being written here) and the
deduplication ledger of the real adapters (SMTP, webhook), which check it before sending and
write to it after. The primary key on ``action_id`` makes the exactly-once guarantee hold across
threads and worker processes: a second ``INSERT OR IGNORE`` of the same id changes nothing.

The file runs in write-ahead-logging mode with ``synchronous=normal`` and a busy timeout, so
several worker processes can write at once.

Personal data at rest: the row keeps in clear what deduplication and audit need (action id,
case, kind, channel, template, times, adapter, provider id). The recipient and the rendered
message are sealed with the codec key (AES-256-GCM, as the payload codec; the action id and the
column are the associated data, so a sealed value cannot be moved to another row), or, without
a key, not kept at all. Rows are read back decrypted only by a holder of the key. The file is
0600 in a 0700 folder, and deleted content is overwritten (``secure_delete``).
"""

from __future__ import annotations

import base64
import binascii
import builtins
import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.case.actions import Action
from workers.converter import key_id
from workers.private_files import private_dir, private_file

__all__ = ["Outbox", "OutboxRow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    action_id   TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    channel     TEXT,
    template    TEXT,
    recipient   TEXT,
    message     TEXT,
    detail_json TEXT NOT NULL DEFAULT '{}',
    at          TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    via         TEXT NOT NULL DEFAULT 'outbox',
    provider_id TEXT
);
CREATE INDEX IF NOT EXISTS outbox_case_at ON outbox (case_id, at, action_id);
CREATE INDEX IF NOT EXISTS outbox_at ON outbox (at, action_id);
"""

_COLUMNS = (
    "action_id, case_id, kind, channel, template, recipient, message, detail_json, at, "
    "recorded_at, via, provider_id"
)


@dataclass(frozen=True)
class OutboxRow:
    """One contact (or other action) that left, as recorded in the outbox."""

    action_id: str
    case_id: str
    kind: str
    channel: str | None
    template: str | None
    #: Decrypted when the outbox holds the key it was sealed with; None otherwise.
    recipient: str | None
    #: Decrypted when the outbox holds the key it was sealed with; None otherwise.
    message: str | None
    at: datetime
    recorded_at: datetime
    detail: dict[str, str] = field(default_factory=dict)
    #: Which adapter recorded it: ``outbox``, ``smtp`` or ``webhook``.
    via: str = "outbox"
    #: The provider's id for the delivery (SMTP Message-ID, webhook response id...).
    provider_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON-ready dict (times ISO 8601 with offset).

        Returns:
            A plain dict.
        """
        return {
            "action_id": self.action_id,
            "case_id": self.case_id,
            "kind": self.kind,
            "channel": self.channel,
            "template": self.template,
            "to": self.recipient,
            "message": self.message,
            "detail": dict(self.detail),
            "at": self.at.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "via": self.via,
            "provider_id": self.provider_id,
        }


#: Prefix of a sealed value: ``enc1:<key id>:<base64 of nonce + ciphertext>``.
_SEALED = "enc1:"
_NONCE_BYTES = 12


class _Sealer:
    """AES-GCM sealing of personal columns with the codec key (and reading with retired keys)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self.current = key_id(keys[0]) if keys else None
        self._aead = {key_id(k): AESGCM(k) for k in reversed(keys)}

    def seal(self, value: str | None, action_id: str, column: str) -> str | None:
        if value is None or self.current is None:
            return None  # without a key the outbox keeps no personal data at all
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead[self.current].encrypt(nonce, value.encode("utf-8"), f"{action_id}:{column}".encode())
        return f"{_SEALED}{self.current}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, value: str | None, action_id: str, column: str) -> str | None:
        if value is None or not value.startswith(_SEALED):
            return None  # a clear value of an old file is never shown: sealed on open with a key
        kid, _, data = value[len(_SEALED):].partition(":")
        aead = self._aead.get(kid)
        if aead is None:
            return None
        try:
            raw = base64.b64decode(data, validate=True)
            return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], f"{action_id}:{column}".encode()).decode()
        except (binascii.Error, ValueError, InvalidTag):
            return None


def _utc_iso(value: datetime) -> str:
    # Stored in UTC so that text order is time order across offsets.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _row(values: tuple[Any, ...], sealer: _Sealer) -> OutboxRow:
    (action_id, case_id, kind, channel, template, recipient, message, detail_json, at,
     recorded_at, via, provider_id) = values
    return OutboxRow(
        action_id=action_id,
        case_id=case_id,
        kind=kind,
        channel=channel,
        template=template,
        recipient=sealer.open(recipient, action_id, "recipient"),
        message=sealer.open(message, action_id, "message"),
        detail=json.loads(detail_json or "{}"),
        at=datetime.fromisoformat(at),
        recorded_at=datetime.fromisoformat(recorded_at),
        via=via,
        provider_id=provider_id,
    )


class Outbox:
    """The outbox ledger in a SQLite file; one connection per thread, safe across processes."""

    def __init__(self, path: str | os.PathLike[str], *, keys: Sequence[bytes] = (),
                 busy_timeout: float = 30.0) -> None:
        """Open (creating if needed) the outbox file.

        Args:
            path: The SQLite file (mode 0600); its folder is created (0700) if missing.
            keys: The codec key, then retired keys: the first seals recipients and messages,
                all of them open what they sealed. Without keys neither is kept nor shown.
            busy_timeout: Seconds a writer waits for another one holding the lock.
        """
        self.path = Path(path)
        private_dir(self.path.parent)
        private_file(self.path)
        self._sealer = _Sealer(keys)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        if keys:
            self._seal_clear_rows(conn)

    def _seal_clear_rows(self, conn: sqlite3.Connection) -> None:
        """Seal the recipients and messages an outbox of an earlier version kept in clear."""
        clear = conn.execute(
            "SELECT action_id, recipient, message FROM outbox WHERE "
            "(recipient IS NOT NULL AND recipient NOT LIKE 'enc1:%') OR "
            "(message IS NOT NULL AND message NOT LIKE 'enc1:%')").fetchall()
        for action_id, recipient, message in clear:
            conn.execute(
                "UPDATE outbox SET recipient = ?, message = ? WHERE action_id = ?",
                (recipient if recipient is None or recipient.startswith(_SEALED)
                 else self._sealer.seal(recipient, action_id, "recipient"),
                 message if message is None or message.startswith(_SEALED)
                 else self._sealer.seal(message, action_id, "message"),
                 action_id))
        if clear:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            if self._closed:
                raise RuntimeError(f"outbox {self.path} is closed")
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,  # autocommit: each statement is its own transaction
                check_same_thread=False,  # only so that close() may close it from another thread
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA secure_delete=ON")  # overwritten values leave no trace in the file
            self._connections.append(conn)
        self._local.conn = conn
        return conn

    def record(self, action: Action, *, via: str = "outbox", provider_id: str | None = None) -> bool:
        """Record an action once.

        Args:
            action: The action that left.
            via: The adapter recording it (``outbox``, ``smtp``, ``webhook``).
            provider_id: The provider's id for the delivery, if any.

        Returns:
            True if it was new, False if that action id was already recorded (nothing changed).
        """
        cursor = self._conn().execute(
            f"INSERT OR IGNORE INTO outbox ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                action.action_id,
                action.case_id,
                action.kind,
                action.channel,
                action.template,
                self._sealer.seal(action.to, action.action_id, "recipient"),
                self._sealer.seal(action.message, action.action_id, "message"),
                json.dumps(action.detail, sort_keys=True, ensure_ascii=False),
                _utc_iso(action.at),
                _utc_iso(datetime.now(UTC)),
                via,
                provider_id,
            ),
        )
        return cursor.rowcount == 1

    def get(self, action_id: str) -> OutboxRow | None:
        """The recorded row of an action id, if any.

        Args:
            action_id: The deterministic action id.

        Returns:
            The row, or None when that action has not left.
        """
        found = self._conn().execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE action_id = ?", (action_id,)
        ).fetchone()
        return _row(found, self._sealer) if found is not None else None

    def __contains__(self, action_id: object) -> bool:
        return isinstance(action_id, str) and self.get(action_id) is not None

    def list(self, case_id: str | None = None) -> builtins.list[OutboxRow]:
        """Every recorded row, oldest first (by ``at`` then ``action_id``).

        Args:
            case_id: Only this case's rows, if given.

        Returns:
            The rows.
        """
        if case_id is None:
            rows = self._conn().execute(
                f"SELECT {_COLUMNS} FROM outbox ORDER BY at, action_id"
            ).fetchall()
        else:
            rows = self._conn().execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE case_id = ? ORDER BY at, action_id",
                (case_id,),
            ).fetchall()
        return [_row(r, self._sealer) for r in rows]

    def count(self, case_id: str | None = None) -> int:
        """How many rows are recorded.

        Args:
            case_id: Only count this case's rows, if given.

        Returns:
            The count.
        """
        if case_id is None:
            found = self._conn().execute("SELECT COUNT(*) FROM outbox").fetchone()
        else:
            found = self._conn().execute(
                "SELECT COUNT(*) FROM outbox WHERE case_id = ?", (case_id,)
            ).fetchone()
        return int(found[0])

    def duplicates(self) -> int:
        """How many rows repeat an action id already present (always 0: it is the primary key).

        Returns:
            The number of extra rows.
        """
        found = self._conn().execute(
            "SELECT COUNT(*) - COUNT(DISTINCT action_id) FROM outbox"
        ).fetchone()
        return int(found[0])

    def journal_mode(self) -> str:
        """The file's journal mode (``"wal"``).

        Returns:
            The mode in lower case.
        """
        return str(self._conn().execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def close(self) -> None:
        """Close every connection this object opened, in any thread. Idempotent."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
