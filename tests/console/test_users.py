"""The user store in the data plane (SQLite and PostgreSQL), the import of an earlier version's
``console.db``, and the role table, without a server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from console.roles import GRANTS, Permission, Role, allowed
from console.server import first_user, user_store
from console.user_import import import_legacy
from console.users import DataPlaneUserStore, UserError, digest
from engine.errors import OverdueError
from workers.dataplane import DataPlane
from workers.dataplane.schema import console_sessions, console_tokens, console_users
from workers.settings import Settings


def _dump(plane: DataPlane) -> str:
    """Everything the console's tables hold, as text."""
    with plane.engine.connect() as conn:
        return "\n".join(
            repr(tuple(row))
            for table in (console_users, console_tokens, console_sessions)
            for row in conn.execute(sa.select(table))
        )


@pytest.fixture
def plane(database_url: str) -> Iterator[DataPlane]:
    with DataPlane(database_url) as p:
        yield p


@pytest.fixture
def store(plane: DataPlane) -> DataPlaneUserStore:
    return DataPlaneUserStore(plane)


class TestUsers:
    """Passwords, tokens and sessions, on both databases."""

    def test_password_is_hashed_with_argon2id(
        self, store: DataPlaneUserStore, plane: DataPlane
    ) -> None:
        store.add("ana", Role.COLLECTOR, "s3cret-enough")
        raw = _dump(plane)
        assert "s3cret-enough" not in raw
        assert "$argon2id$" in raw
        assert store.verify("ana", "s3cret-enough") is not None
        assert store.verify("ana", "wrong-password") is None
        assert store.verify("nobody", "s3cret-enough") is None

    def test_names_passwords_and_duplicates_are_checked(self, store: DataPlaneUserStore) -> None:
        store.add("ana", Role.VIEWER, "long-enough")
        with pytest.raises(UserError, match="already exists"):
            store.add("ana", Role.ADMIN, "long-enough")
        with pytest.raises(UserError, match="user name"):
            store.add("a b", Role.VIEWER, "long-enough")
        with pytest.raises(UserError, match="at least 8"):
            store.add("bo", Role.VIEWER, "short")
        assert store.count() == 1

    def test_tokens_are_stored_hashed(self, store: DataPlaneUserStore, plane: DataPlane) -> None:
        store.add("ana", Role.OPS, "long-enough")
        token = store.issue_token("ana")
        assert token not in _dump(plane)
        user = store.user_for_token(token)
        assert user is not None and (user.name, user.role) == ("ana", Role.OPS)
        assert store.user_for_token(token + "x") is None
        with pytest.raises(UserError, match="no user bo"):
            store.issue_token("bo")

    def test_sessions_expire_and_close(self, store: DataPlaneUserStore) -> None:
        user = store.add("ana", Role.MANAGER, "long-enough")
        sid, session = store.open_session(user, timedelta(hours=1))
        found = store.session(sid)
        assert found != "expired" and found is not None and found.csrf == session.csrf
        assert found.expires == session.expires
        store.close_session(sid)
        assert store.session(sid) is None
        old, _ = store.open_session(user, timedelta(seconds=-1))
        assert store.session(old) == "expired"
        assert store.session(old) is None  # an expired session is removed once reported

    def test_two_consoles_share_users_and_sessions(
        self, store: DataPlaneUserStore, database_url: str
    ) -> None:
        """A session opened by one console process is valid in another (same data plane)."""
        user = store.add("ana", Role.COLLECTOR, "long-enough")
        sid, _ = store.open_session(user, timedelta(hours=1))
        token = store.issue_token("ana")
        with DataPlane(database_url, upgrade=False) as other_plane:
            other = DataPlaneUserStore(other_plane)
            found = other.session(sid)
            assert found is not None and found != "expired" and found.user == user
            assert other.user_for_token(token) == user
            other.close_session(sid)
        assert store.session(sid) is None

    def test_expired_sessions_are_purged(self, store: DataPlaneUserStore, plane: DataPlane) -> None:
        user = store.add("ana", Role.VIEWER, "long-enough")
        for _ in range(3):
            store.open_session(user, timedelta(seconds=-1))
        live, _ = store.open_session(user, timedelta(hours=1))  # purges the three on the way
        with plane.engine.connect() as conn:
            digests = conn.execute(sa.select(console_sessions.c.digest)).scalars().all()
        assert digests == [digest(live)]
        store.open_session(user, timedelta(seconds=-1))
        assert store.purge_expired() == 1
        assert store.purge_expired(datetime.now(UTC) + timedelta(hours=2)) == 1


def _legacy_file(folder: Path) -> tuple[str, str]:
    """A ``console.db`` as the earlier `SqliteUserStore` wrote it: two users, a token, a live
    session and an expired one; returns the token and the live session's id."""
    from argon2 import PasswordHasher

    now = datetime.now(UTC)
    db = sqlite3.connect(folder / "console.db")
    db.executescript(
        """
        CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL,
                            created TEXT NOT NULL);
        CREATE TABLE tokens (digest TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES users(name),
                             created TEXT NOT NULL);
        CREATE TABLE sessions (digest TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES users(name),
                               csrf TEXT NOT NULL, expires TEXT NOT NULL);
        """
    )
    hashed = PasswordHasher().hash("old-password")
    db.executemany(
        "INSERT INTO users VALUES (?, ?, ?, ?)",
        [
            ("old-admin", "admin", hashed, now.isoformat()),
            ("col", "collector", hashed, "2026-01-02T03:04:05+00:00"),
        ],
    )
    token, sid = "od_legacy-token", "legacy-session"
    db.execute("INSERT INTO tokens VALUES (?, ?, ?)", (digest(token), "col", now.isoformat()))
    db.execute(
        "INSERT INTO sessions VALUES (?, ?, ?, ?)",
        (digest(sid), "old-admin", "csrf-1", (now + timedelta(hours=1)).isoformat()),
    )
    db.execute(
        "INSERT INTO sessions VALUES (?, ?, ?, ?)",
        (digest("gone"), "col", "csrf-2", (now - timedelta(hours=1)).isoformat()),
    )
    db.commit()
    db.close()
    return token, sid


class TestLegacyImport:
    """A ``console.db`` of an earlier version moves into the data plane once."""

    def test_users_tokens_and_live_sessions_move_and_the_file_is_renamed(
        self, tmp_path: Path, database_url: str
    ) -> None:
        token, sid = _legacy_file(tmp_path)
        store = user_store(tmp_path, Settings(database_url=database_url))
        try:
            assert store.count() == 2
            assert store.verify("old-admin", "old-password") == store.get("old-admin")
            assert store.user_for_token(token) == store.get("col")
            found = store.session(sid)
            assert found is not None and found != "expired" and found.csrf == "csrf-1"
            assert store.session("gone") is None  # expired sessions are not carried over
        finally:
            store.close()
        assert not (tmp_path / "console.db").exists()
        assert (tmp_path / "console.db.imported").is_file()
        again = user_store(tmp_path, Settings(database_url=database_url))
        try:
            assert again.count() == 2
        finally:
            again.close()

    def test_rows_the_data_plane_has_are_kept(self, tmp_path: Path, plane: DataPlane) -> None:
        _legacy_file(tmp_path)
        store = DataPlaneUserStore(plane)
        store.add("old-admin", Role.VIEWER, "new-password")
        added = import_legacy(tmp_path, plane)
        assert added is not None and (added.users, added.tokens, added.sessions) == (1, 1, 1)
        assert store.get("old-admin") == store.verify("old-admin", "new-password")
        assert store.verify("old-admin", "old-password") is None
        assert import_legacy(tmp_path, plane) is None  # renamed: nothing left to import

    def test_a_file_that_is_not_a_console_database_is_one_clear_error(
        self, tmp_path: Path, plane: DataPlane
    ) -> None:
        (tmp_path / "console.db").write_bytes(b"not sqlite at all" * 10)
        with pytest.raises(OverdueError, match=r"console\.db: not the users file"):
            import_legacy(tmp_path, plane)
        assert (tmp_path / "console.db").is_file()


class TestRoles:
    """Who may do what."""

    def test_personal_data_only_to_roles_that_contact_or_handle_disputes(self) -> None:
        assert {r for r in Role if allowed(r, Permission.PERSONAL_DATA)} == {
            Role.COLLECTOR,
            Role.OPS,
            Role.ADMIN,
        }

    def test_every_role_can_look_and_only_admins_manage_users(self) -> None:
        assert all(Permission.VIEW in GRANTS[r] for r in Role)
        assert {r for r in Role if allowed(r, Permission.USERS)} == {Role.ADMIN}
        assert {r for r in Role if allowed(r, Permission.APPROVE)} == {Role.MANAGER, Role.ADMIN}


class TestFirstUser:
    """What `overdue dev` prints as the first user's credentials."""

    def test_printed_only_while_they_still_sign_in(
        self, store: DataPlaneUserStore, tmp_path: Path
    ) -> None:
        """Made once and printed on every start; once `admin` is removed (or its password is no
        longer the one kept), nothing is printed rather than credentials that are refused."""
        made = first_user(tmp_path, store)
        assert made is not None and made[0] == "admin"
        assert store.verify(*made) is not None
        assert first_user(tmp_path, store) == made  # the next start prints the same
        store.add("mona", Role.MANAGER, "pw-mona-correct-horse")
        store.remove("admin")
        assert first_user(tmp_path, store) is None
        store.add("admin", Role.ADMIN, "someone-elses-password")
        assert first_user(tmp_path, store) is None
