"""The user store and the role table, without a server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from console.roles import GRANTS, Permission, Role, allowed
from console.users import SqliteUserStore, UserError


def _dump(folder: Path) -> str:
    """Everything the store's file holds, as text."""
    db = sqlite3.connect(folder / "console.db")
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteUserStore]:
    s = SqliteUserStore(tmp_path / "console.db")
    yield s
    s.close()


class TestUsers:
    """Passwords, tokens and sessions."""

    def test_password_is_hashed_with_argon2id(self, store: SqliteUserStore, tmp_path: Path) -> None:
        store.add("ana", Role.COLLECTOR, "s3cret-enough")
        raw = _dump(tmp_path)
        assert "s3cret-enough" not in raw
        assert "$argon2id$" in raw
        assert store.verify("ana", "s3cret-enough") is not None
        assert store.verify("ana", "wrong-password") is None
        assert store.verify("nobody", "s3cret-enough") is None

    def test_names_passwords_and_duplicates_are_checked(self, store: SqliteUserStore) -> None:
        store.add("ana", Role.VIEWER, "long-enough")
        with pytest.raises(UserError, match="already exists"):
            store.add("ana", Role.ADMIN, "long-enough")
        with pytest.raises(UserError, match="user name"):
            store.add("a b", Role.VIEWER, "long-enough")
        with pytest.raises(UserError, match="at least 8"):
            store.add("bo", Role.VIEWER, "short")
        assert store.count() == 1

    def test_tokens_are_stored_hashed(self, store: SqliteUserStore, tmp_path: Path) -> None:
        store.add("ana", Role.OPS, "long-enough")
        token = store.issue_token("ana")
        assert token not in _dump(tmp_path)
        user = store.user_for_token(token)
        assert user is not None and (user.name, user.role) == ("ana", Role.OPS)
        assert store.user_for_token(token + "x") is None
        with pytest.raises(UserError, match="no user bo"):
            store.issue_token("bo")

    def test_sessions_expire_and_close(self, store: SqliteUserStore) -> None:
        user = store.add("ana", Role.MANAGER, "long-enough")
        sid, session = store.open_session(user, timedelta(hours=1))
        found = store.session(sid)
        assert found != "expired" and found is not None and found.csrf == session.csrf
        store.close_session(sid)
        assert store.session(sid) is None
        old, _ = store.open_session(user, timedelta(seconds=-1))
        assert store.session(old) == "expired"
        assert store.session(old) is None  # an expired session is removed once reported


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
