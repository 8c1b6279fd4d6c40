"""The outbox: a ledger in the data plane recording every contact exactly once, by its action id.

It is the embedded default channel (a contact "leaves" by being written here) and the
deduplication ledger of the real adapters (SMTP, webhook), which check it before sending and
write to it after. The primary key on ``action_id`` makes the exactly-once guarantee hold across
threads, worker processes and machines: a second insert of the same id (``ON CONFLICT DO
NOTHING``, on SQLite and PostgreSQL alike) changes nothing and says so.

The ledger lives in the data plane (`workers.dataplane`): a SQLite file in write-ahead-logging
mode by default (0600 in a 0700 folder, deleted content overwritten), or the PostgreSQL database
every worker shares.

Personal data at rest: the row keeps in clear what deduplication and audit need (action id,
case, kind, channel, template, times, adapter, provider id). The recipient and the rendered
message are sealed with the codec key (AES-256-GCM, as the payload codec; the action id and the
column are the associated data, so a sealed value cannot be moved to another row), or, without
a key, not kept at all. Rows are read back decrypted only by a holder of the key.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.dialects import postgresql, sqlite

from engine.case.actions import Action
from workers.converter import key_id
from workers.dataplane import DataPlane
from workers.dataplane.database import sqlite_url
from workers.dataplane.schema import outbox as _table

__all__ = ["Outbox", "OutboxRow"]

_COLUMNS = (
    _table.c.action_id,
    _table.c.case_id,
    _table.c.kind,
    _table.c.channel,
    _table.c.template,
    _table.c.recipient,
    _table.c.message,
    _table.c.detail_json,
    _table.c.at,
    _table.c.recorded_at,
    _table.c.via,
    _table.c.provider_id,
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
        sealed = self._aead[self.current].encrypt(
            nonce, value.encode("utf-8"), f"{action_id}:{column}".encode()
        )
        return f"{_SEALED}{self.current}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, value: str | None, action_id: str, column: str) -> str | None:
        if value is None or not value.startswith(_SEALED):
            return None  # a clear value of an old file is never shown: sealed on open with a key
        kid, _, data = value[len(_SEALED) :].partition(":")
        aead = self._aead.get(kid)
        if aead is None:
            return None
        try:
            raw = base64.b64decode(data, validate=True)
            return aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], f"{action_id}:{column}".encode()
            ).decode()
        except (binascii.Error, ValueError, InvalidTag):
            return None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _row(values: Any, sealer: _Sealer) -> OutboxRow:
    (
        action_id,
        case_id,
        kind,
        channel,
        template,
        recipient,
        message,
        detail_json,
        at,
        recorded_at,
        via,
        provider_id,
    ) = values
    return OutboxRow(
        action_id=action_id,
        case_id=case_id,
        kind=kind,
        channel=channel,
        template=template,
        recipient=sealer.open(recipient, action_id, "recipient"),
        message=sealer.open(message, action_id, "message"),
        detail=json.loads(detail_json or "{}"),
        at=at,
        recorded_at=recorded_at,
        via=via,
        provider_id=provider_id,
    )


class Outbox:
    """The outbox ledger in the data plane; safe across threads, processes and machines."""

    def __init__(
        self,
        target: DataPlane | str | os.PathLike[str],
        *,
        keys: Sequence[bytes] = (),
        busy_timeout: float = 30.0,
    ) -> None:
        """Open the ledger.

        Args:
            target: The data plane to use (shared, left open on `close`), or the path of a
                SQLite file to hold a data plane of its own (created and upgraded if needed).
            keys: The codec key, then retired keys: the first seals recipients and messages,
                all of them open what they sealed. Without keys neither is kept nor shown.
            busy_timeout: Seconds a SQLite writer waits for another one holding the lock.
        """
        if isinstance(target, DataPlane):
            self.plane, self._owns_plane = target, False
        else:
            self.path = Path(target)
            self.plane = DataPlane(sqlite_url(self.path), busy_timeout=busy_timeout)
            self._owns_plane = True
        self._insert = (postgresql.insert if self.plane.dialect == "postgresql" else sqlite.insert)(
            _table
        )
        self._sealer = _Sealer(keys)
        self._closed = False
        if keys:
            self._seal_clear_rows()

    def _seal_clear_rows(self) -> None:
        """Seal recipients and messages a row keeps in clear (written by an older release)."""
        c = _table.c
        clear = sa.or_(
            sa.and_(c.recipient.is_not(None), c.recipient.not_like(f"{_SEALED}%")),
            sa.and_(c.message.is_not(None), c.message.not_like(f"{_SEALED}%")),
        )
        with self._engine().begin() as conn:
            rows = conn.execute(sa.select(c.action_id, c.recipient, c.message).where(clear)).all()
            for action_id, recipient, message in rows:
                conn.execute(
                    _table.update()
                    .where(c.action_id == action_id)
                    .values(
                        recipient=recipient
                        if recipient is None or recipient.startswith(_SEALED)
                        else self._sealer.seal(recipient, action_id, "recipient"),
                        message=message
                        if message is None or message.startswith(_SEALED)
                        else self._sealer.seal(message, action_id, "message"),
                    )
                )
        if (
            rows and self.plane.dialect == "sqlite"
        ):  # the clear values leave the write-ahead log too
            with self._engine().connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def _engine(self) -> sa.Engine:
        if self._closed:
            raise RuntimeError(f"outbox on {self.plane.url} is closed")
        return self.plane.engine

    def record(
        self, action: Action, *, via: str = "outbox", provider_id: str | None = None
    ) -> bool:
        """Record an action once.

        Args:
            action: The action that left.
            via: The adapter recording it (``outbox``, ``smtp``, ``webhook``).
            provider_id: The provider's id for the delivery, if any.

        Returns:
            True if it was new, False if that action id was already recorded (nothing changed).
        """
        stmt = (
            self._insert.values(
                action_id=action.action_id,
                case_id=action.case_id,
                kind=action.kind,
                channel=action.channel,
                template=action.template,
                recipient=self._sealer.seal(action.to, action.action_id, "recipient"),
                message=self._sealer.seal(action.message, action.action_id, "message"),
                detail_json=json.dumps(action.detail, sort_keys=True, ensure_ascii=False),
                at=_aware(action.at),
                recorded_at=datetime.now(UTC),
                via=via,
                provider_id=provider_id,
            )
            .on_conflict_do_nothing(index_elements=["action_id"])
            .returning(_table.c.action_id)
        )
        # RETURNING says whether this insert wrote the row on both databases (psycopg may not
        # report a row count); a conflicting id returns nothing.
        with self._engine().begin() as conn:
            return conn.execute(stmt).first() is not None

    def get(self, action_id: str) -> OutboxRow | None:
        """The recorded row of an action id, if any.

        Args:
            action_id: The deterministic action id.

        Returns:
            The row, or None when that action has not left.
        """
        with self._engine().connect() as conn:
            found = conn.execute(
                sa.select(*_COLUMNS).where(_table.c.action_id == action_id)
            ).first()
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
        query = sa.select(*_COLUMNS).order_by(_table.c.at, _table.c.action_id)
        if case_id is not None:
            query = query.where(_table.c.case_id == case_id)
        with self._engine().connect() as conn:
            return [_row(r, self._sealer) for r in conn.execute(query)]

    def count(self, case_id: str | None = None) -> int:
        """How many rows are recorded.

        Args:
            case_id: Only count this case's rows, if given.

        Returns:
            The count.
        """
        query = sa.select(sa.func.count()).select_from(_table)
        if case_id is not None:
            query = query.where(_table.c.case_id == case_id)
        with self._engine().connect() as conn:
            return int(conn.execute(query).scalar_one())

    def duplicates(self) -> int:
        """How many rows repeat an action id already present (always 0: it is the primary key).

        Returns:
            The number of extra rows.
        """
        query = sa.select(sa.func.count() - sa.func.count(sa.distinct(_table.c.action_id)))
        with self._engine().connect() as conn:
            return int(conn.execute(query.select_from(_table)).scalar_one())

    def journal_mode(self) -> str:
        """SQLite's journal mode (``"wal"``); on PostgreSQL, the name of the database kind.

        Returns:
            The mode in lower case.
        """
        if self.plane.dialect != "sqlite":
            return self.plane.dialect
        with self._engine().connect() as conn:
            return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()).lower()

    def close(self) -> None:
        """Stop using the ledger (and close the data plane if this outbox opened it). Idempotent."""
        if not self._closed:
            self._closed = True
            if self._owns_plane:
                self.plane.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
