"""Running the shipped Alembic migrations from code: no `alembic.ini` on the user's side.

Several workers may start at once against one database; the upgrade holds a lock while it runs
(a PostgreSQL advisory lock, a file lock beside a SQLite file), so exactly one applies each
migration and the others find the schema current.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from workers.private_files import private_file

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "current_revision", "upgrade"]

#: The newest revision in `migrations/versions/` (a test checks it matches the scripts).
HEAD = "0002"

_SCRIPTS = Path(__file__).resolve().parent / "migrations"

#: An arbitrary constant naming our advisory lock on a shared PostgreSQL.
_PG_LOCK_KEY = 0x0BD0E_0001


def current_revision(engine: sa.Engine) -> str | None:
    """The revision recorded in the database (None when it has no schema yet)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def _config(conn: sa.Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.attributes["connection"] = conn
    return cfg


@contextlib.contextmanager
def _sqlite_lock(engine: sa.Engine) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with private_file(f"{database}.migrate-lock").open("a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def upgrade(engine: sa.Engine) -> str:
    """Bring the schema to `HEAD`; a database already there is left untouched.

    Returns:
        The revision now current.
    """
    if current_revision(engine) == HEAD:
        return HEAD
    from alembic import command

    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                conn.commit()
                command.upgrade(_config(conn), "head")
                conn.commit()
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
    else:
        with _sqlite_lock(engine), engine.connect() as conn:
            command.upgrade(_config(conn), "head")
            conn.commit()
    found = current_revision(engine)
    assert found == HEAD, f"upgrade left the schema at {found}, not {HEAD}"
    return HEAD
