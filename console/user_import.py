"""Bringing the console's users over from the SQLite file earlier versions kept them in.

Before the data plane held them, the console stored users, tokens and sessions in
``<data>/console.db``. The first console command to start on such a folder copies them into the
data plane (users with their Argon2id hashes, tokens and sessions by their SHA-256, sessions only
while they are live, so nobody has to sign in again) and renames the file
``console.db.imported``, which keeps it for whoever wants to look and stops a second import.

A row the data plane already has (same user name, token or session) is left as it is: the data
plane is the truth once it holds something, and running the import twice changes nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import structlog

from console.roles import Role
from engine.errors import OverdueError
from workers.dataplane import DataPlane
from workers.dataplane.schema import console_sessions, console_tokens, console_users

__all__ = ["LEGACY_FILE", "Imported", "import_legacy"]

log = structlog.get_logger("overdue.console")

#: The file earlier versions kept console users in, inside the data folder.
LEGACY_FILE = "console.db"
_SUFFIX = ".imported"


@dataclass(frozen=True)
class Imported:
    """How many rows of each kind the import added to the data plane."""

    users: int
    tokens: int
    sessions: int


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _read(path: Path) -> tuple[list[dict[str, object]], ...]:
    db = sqlite3.connect(path)
    try:
        users = [
            {"name": n, "role": r, "password_hash": p, "created_at": _aware(c)}
            for n, r, p, c in db.execute("SELECT name, role, password, created FROM users")
            if r in {role.value for role in Role}
        ]
        tokens = [
            {"digest": d, "user_name": n, "created_at": _aware(c)}
            for d, n, c in db.execute("SELECT digest, name, created FROM tokens")
        ]
        now = datetime.now(UTC)
        sessions = [
            {"digest": d, "user_name": n, "csrf": s, "created_at": now, "expires_at": _aware(e)}
            for d, n, s, e in db.execute("SELECT digest, name, csrf, expires FROM sessions")
            if _aware(e) > now
        ]
    finally:
        db.close()
    return users, tokens, sessions


def _insert_missing(
    conn: sa.Connection, table: sa.Table, key: str, rows: list[dict[str, object]]
) -> int:
    column = table.c[key]
    have = set(conn.execute(sa.select(column)).scalars())
    fresh = [r for r in rows if r[key] not in have]
    if fresh:
        conn.execute(table.insert(), fresh)
    return len(fresh)


def import_legacy(folder: Path, plane: DataPlane) -> Imported | None:
    """Copy ``<folder>/console.db`` into the data plane once and rename it; None if there is none.

    Raises:
        OverdueError: the file is not an earlier console's database (it is left in place).
    """
    path = folder / LEGACY_FILE
    if not path.is_file():
        return None
    try:
        users, tokens, sessions = _read(path)
    except (sqlite3.Error, ValueError) as e:
        raise OverdueError(
            f"{path}: not the users file of an earlier console ({e}); move it away and restart"
        ) from None
    known = {str(u["name"]) for u in users}
    with plane.engine.begin() as conn:
        known |= set(conn.execute(sa.select(console_users.c.name)).scalars())
        added = Imported(
            users=_insert_missing(conn, console_users, "name", users),
            tokens=_insert_missing(
                conn, console_tokens, "digest", [t for t in tokens if t["user_name"] in known]
            ),
            sessions=_insert_missing(
                conn, console_sessions, "digest", [s for s in sessions if s["user_name"] in known]
            ),
        )
    for suffix in ("", "-wal", "-shm"):
        # Another console starting at the same moment may have renamed it first.
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").rename(f"{path}{_SUFFIX}{suffix}")
    log.info(
        "console.users_imported",
        users=added.users,
        tokens=added.tokens,
        sessions=added.sessions,
    )
    return added
