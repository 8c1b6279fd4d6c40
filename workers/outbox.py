"""The outbox: a SQLite ledger recording every contact exactly once, by its deterministic action id.

It is the embedded default channel (a contact "leaves" by being written here) and the
deduplication ledger of the real adapters (SMTP, webhook), which check it before sending and
write to it after. The primary key on ``action_id`` makes the exactly-once guarantee hold across
threads and worker processes: a second ``INSERT OR IGNORE`` of the same id changes nothing.

The file runs in write-ahead-logging mode with ``synchronous=normal`` and a busy timeout, so
several worker processes can write at once.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.case.actions import Action

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
    recipient: str | None
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


def _utc_iso(value: datetime) -> str:
    # Stored in UTC so that text order is time order across offsets.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _row(values: tuple[Any, ...]) -> OutboxRow:
    (action_id, case_id, kind, channel, template, recipient, message, detail_json, at,
     recorded_at, via, provider_id) = values
    return OutboxRow(
        action_id=action_id,
        case_id=case_id,
        kind=kind,
        channel=channel,
        template=template,
        recipient=recipient,
        message=message,
        detail=json.loads(detail_json or "{}"),
        at=datetime.fromisoformat(at),
        recorded_at=datetime.fromisoformat(recorded_at),
        via=via,
        provider_id=provider_id,
    )


class Outbox:
    """The outbox ledger in a SQLite file; one connection per thread, safe across processes."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        """Open (creating if needed) the outbox file.

        Args:
            path: The SQLite file; its folder is created if missing.
            busy_timeout: Seconds a writer waits for another one holding the lock.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        conn = self._conn()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)

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
                action.to,
                action.message,
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
        return _row(found) if found is not None else None

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
        return [_row(r) for r in rows]

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
