"""Console users, their API tokens and their sessions, behind one small interface.

`UserStore` is what the console needs; `DataPlaneUserStore` keeps it in the data plane's
`console_users`, `console_tokens` and `console_sessions` tables, so every console process (and
every machine, on PostgreSQL) shares the same users and signed-in sessions. Passwords are hashed
with Argon2id (argon2-cffi's defaults); tokens and session ids are random and only their SHA-256
is stored, so a copy of the database lets nobody in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from console.roles import Role
from engine.errors import OverdueError
from workers.dataplane import DataPlane
from workers.dataplane.schema import console_sessions, console_tokens, console_users

__all__ = [
    "NAME_PATTERN",
    "DataPlaneUserStore",
    "Session",
    "SessionLookup",
    "User",
    "UserError",
    "UserStore",
    "digest",
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


def digest(secret: str) -> str:
    """What is stored of a token or session id: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _role(text: str) -> Role:
    return Role(text)


class DataPlaneUserStore:
    """`UserStore` in the data plane, shared by every console process; safe across threads
    (each call takes a pooled connection of its own)."""

    def __init__(self, plane: DataPlane, *, owns_plane: bool = False) -> None:
        """Use `plane`'s console tables.

        Args:
            plane: The data plane (schema 0002 or later).
            owns_plane: Whether `close` also closes the plane (a store opened for one command).
        """
        self.plane = plane
        self._owns_plane = owns_plane

    def close(self) -> None:
        """Close the plane if this store opened it."""
        if self._owns_plane:
            self.plane.close()

    def add(self, name: str, role: Role, password: str) -> User:
        """Create a user; `UserError` if the name is taken or malformed."""
        if not NAME_PATTERN.match(name):
            raise UserError(f"user name {name!r}: use 1-64 letters, digits or . _ @ -")
        if len(password) < 8:
            raise UserError("the password must have at least 8 characters")
        hashed = _HASHER.hash(password)
        try:
            with self.plane.engine.begin() as conn:
                conn.execute(
                    console_users.insert().values(
                        name=name,
                        role=role.value,
                        password_hash=hashed,
                        created_at=datetime.now(UTC),
                    )
                )
        except sa.exc.IntegrityError:
            raise UserError(f"user {name} already exists") from None
        return User(name, role)

    def users(self) -> list[User]:
        """Every user, by name."""
        with self.plane.engine.connect() as conn:
            rows = conn.execute(
                sa.select(console_users.c.name, console_users.c.role).order_by(console_users.c.name)
            ).all()
        return [User(r.name, _role(r.role)) for r in rows]

    def remove(self, name: str) -> None:
        """Delete a user with their tokens and sessions (signed out everywhere at once).

        Raises:
            UserError: no such user.
        """
        with self.plane.engine.begin() as conn:
            # Explicit deletes: SQLite enforces no foreign keys (so no cascade) unless asked to.
            conn.execute(console_sessions.delete().where(console_sessions.c.user_name == name))
            conn.execute(console_tokens.delete().where(console_tokens.c.user_name == name))
            gone = conn.execute(console_users.delete().where(console_users.c.name == name))
            if gone.rowcount == 0:
                raise UserError(f"no user {name}")

    def count(self) -> int:
        """How many users exist."""
        with self.plane.engine.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(console_users)).scalar_one()
        return int(n)

    def _user(self, name: str) -> tuple[User, str] | None:
        with self.plane.engine.connect() as conn:
            row = conn.execute(
                sa.select(console_users.c.role, console_users.c.password_hash).where(
                    console_users.c.name == name
                )
            ).first()
        return None if row is None else (User(name, _role(row.role)), str(row.password_hash))

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
        try:
            with self.plane.engine.begin() as conn:
                conn.execute(
                    console_tokens.insert().values(
                        digest=digest(token), user_name=name, created_at=datetime.now(UTC)
                    )
                )
        except sa.exc.IntegrityError:  # removed between the check and the insert
            raise UserError(f"no user {name}") from None
        return token

    def user_for_token(self, token: str) -> User | None:
        """The user an API token belongs to."""
        with self.plane.engine.connect() as conn:
            row = conn.execute(
                sa.select(console_users.c.name, console_users.c.role)
                .join(console_tokens, console_tokens.c.user_name == console_users.c.name)
                .where(console_tokens.c.digest == digest(token))
            ).first()
        return None if row is None else User(row.name, _role(row.role))

    def open_session(self, user: User, ttl: timedelta) -> tuple[str, Session]:
        """A new session id (for the cookie) and the session; sessions that ran out are purged
        on the way, so the table holds live sessions and the few expired since the last sign-in."""
        sid = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session = Session(user, secrets.token_urlsafe(24), now + ttl)
        with self.plane.engine.begin() as conn:
            conn.execute(console_sessions.delete().where(console_sessions.c.expires_at <= now))
            conn.execute(
                console_sessions.insert().values(
                    digest=digest(sid),
                    user_name=user.name,
                    csrf=session.csrf,
                    created_at=now,
                    expires_at=session.expires,
                )
            )
        return sid, session

    def session(self, sid: str) -> SessionLookup:
        """The session of a cookie: the session, ``"expired"``, or None if unknown."""
        with self.plane.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    console_users.c.name,
                    console_users.c.role,
                    console_sessions.c.csrf,
                    console_sessions.c.expires_at,
                )
                .join(console_sessions, console_sessions.c.user_name == console_users.c.name)
                .where(console_sessions.c.digest == digest(sid))
            ).first()
        if row is None:
            return None
        expires: datetime = row.expires_at
        if expires <= datetime.now(UTC):
            self.close_session(sid)
            return "expired"
        return Session(User(row.name, _role(row.role)), row.csrf, expires)

    def close_session(self, sid: str) -> None:
        """Sign out."""
        with self.plane.engine.begin() as conn:
            conn.execute(console_sessions.delete().where(console_sessions.c.digest == digest(sid)))

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete every session that ran out; how many were deleted."""
        moment = now if now is not None else datetime.now(UTC)
        with self.plane.engine.begin() as conn:
            result = conn.execute(
                console_sessions.delete().where(console_sessions.c.expires_at <= moment)
            )
        return int(result.rowcount)
