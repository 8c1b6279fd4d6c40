"""Console users, their API tokens and their sessions, behind one small interface.

`UserStore` is what the console needs; `SqliteUserStore` keeps it in a SQLite file in the data
folder until the data plane holds a users table, so moving there is one new class in one module.
Passwords are hashed with Argon2id (argon2-cffi's defaults); tokens and session ids are random
and only their SHA-256 is stored, so a copy of the file lets nobody in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from console.roles import Role
from engine.errors import OverdueError

__all__ = [
    "NAME_PATTERN",
    "Session",
    "SessionLookup",
    "SqliteUserStore",
    "User",
    "UserError",
    "UserStore",
    "generate_password",
]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_HASHER = PasswordHasher()


class UserError(OverdueError):
    """A bad user name, an unknown user, a user that already exists."""


@dataclass(frozen=True)
class User:
    """A console user (never carries the password hash out of the store)."""

    name: str
    role: Role


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who, until when, and the token its forms must carry."""

    user: User
    csrf: str
    expires: datetime


#: What a session cookie turned out to be: valid, expired (say so), or unknown.
SessionLookup = Session | Literal["expired"] | None


class UserStore(Protocol):
    """What the console needs to know about users."""

    def add(self, name: str, role: Role, password: str) -> User:
        """Create a user; `UserError` if the name is taken or malformed."""
        ...

    def count(self) -> int:
        """How many users exist."""
        ...

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password is theirs, else None (same answer for an unknown name)."""
        ...

    def issue_token(self, name: str) -> str:
        """A new API token for `name` (printed once, stored hashed)."""
        ...

    def user_for_token(self, token: str) -> User | None:
        """The user an API token belongs to."""
        ...

    def open_session(self, user: User, ttl: timedelta) -> tuple[str, Session]:
        """A new session id (for the cookie) and the session."""
        ...

    def session(self, sid: str) -> SessionLookup:
        """The session of a cookie."""
        ...

    def close_session(self, sid: str) -> None:
        """Sign out."""
        ...


def generate_password() -> str:
    """A password to print once for a user created without one."""
    return secrets.token_urlsafe(15)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL,
                                  created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (digest TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES users(name),
                                   created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (digest TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES users(name),
                                     csrf TEXT NOT NULL, expires TEXT NOT NULL);
"""


class SqliteUserStore:
    """`UserStore` in a SQLite file (``<data>/console.db``), safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=wal")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def add(self, name: str, role: Role, password: str) -> User:
        """Create a user; `UserError` if the name is taken or malformed."""
        if not NAME_PATTERN.match(name):
            raise UserError(f"user name {name!r}: use 1-64 letters, digits or . _ @ -")
        if len(password) < 8:
            raise UserError("the password must have at least 8 characters")
        hashed = _HASHER.hash(password)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO users VALUES (?, ?, ?, ?)",
                    (name, role.value, hashed, datetime.now(UTC).isoformat()),
                )
            except sqlite3.IntegrityError:
                raise UserError(f"user {name} already exists") from None
        return User(name, role)

    def count(self) -> int:
        """How many users exist."""
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM users").fetchone()
        return int(n)

    def _user(self, name: str) -> tuple[User, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT role, password FROM users WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else (User(name, Role(row[0])), str(row[1]))

    def get(self, name: str) -> User | None:
        """The user called `name`."""
        found = self._user(name)
        return None if found is None else found[0]

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password is theirs, else None (same answer for an unknown name)."""
        found = self._user(name)
        if found is None:
            # Spend the same time as a real check, so response times do not reveal user names.
            _HASHER.hash(password)
            return None
        user, hashed = found
        try:
            _HASHER.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return None
        return user

    def issue_token(self, name: str) -> str:
        """A new API token for `name` (printed once, stored hashed)."""
        if self.get(name) is None:
            raise UserError(f"no user {name}")
        token = "od_" + secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?)",
                (_digest(token), name, datetime.now(UTC).isoformat()),
            )
        return token

    def user_for_token(self, token: str) -> User | None:
        """The user an API token belongs to."""
        with self._lock:
            row = self._db.execute(
                "SELECT u.name, u.role FROM tokens t JOIN users u ON u.name = t.name WHERE t.digest = ?",
                (_digest(token),),
            ).fetchone()
        return None if row is None else User(row[0], Role(row[1]))

    def open_session(self, user: User, ttl: timedelta) -> tuple[str, Session]:
        """A new session id (for the cookie) and the session."""
        sid = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(24), datetime.now(UTC) + ttl)
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)",
                (_digest(sid), user.name, session.csrf, session.expires.isoformat()),
            )
        return sid, session

    def session(self, sid: str) -> SessionLookup:
        """The session of a cookie: the session, ``"expired"``, or None if unknown."""
        with self._lock:
            row = self._db.execute(
                "SELECT u.name, u.role, s.csrf, s.expires FROM sessions s JOIN users u ON u.name = s.name"
                " WHERE s.digest = ?",
                (_digest(sid),),
            ).fetchone()
        if row is None:
            return None
        expires = datetime.fromisoformat(row[3])
        if expires <= datetime.now(UTC):
            self.close_session(sid)
            return "expired"
        return Session(User(row[0], Role(row[1])), row[2], expires)

    def close_session(self, sid: str) -> None:
        """Sign out."""
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE digest = ?", (_digest(sid),))
