"""Opening the data plane: the URL setting, the SQLAlchemy engine, the schema check.

One `DataPlane` per process holds one engine (a connection pool); the outbox and the policy store
share it. SQLite connections run in write-ahead-logging mode with `synchronous=NORMAL` and a busy
timeout, so several processes on one machine write at once (the file 0600 in a 0700 folder); PostgreSQL serves several machines.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from engine.errors import OverdueError
from workers.private_files import private_dir, private_file
from workers.settings import Settings, load_settings

__all__ = ["DATABASE_URL_ENV", "DataPlane", "DataPlaneError", "database_url", "display_url"]

#: The one setting that names the data plane.
DATABASE_URL_ENV = "OVERDUE_DATABASE_URL"

#: The SQLite file of the embedded default, inside the data folder.
DEFAULT_FILE = "overdue.db"


class DataPlaneError(OverdueError):
    """The data plane cannot be used as configured (bad URL, unreachable, schema behind)."""


def database_url(data_dir: str | os.PathLike[str], settings: Settings | None = None) -> str:
    """The configured database: `OVERDUE_DATABASE_URL`, else a SQLite file in the data folder.

    Args:
        data_dir: The data folder (for the default).
        settings: The settings (`workers.settings`); read from the environment if omitted.

    Returns:
        A SQLAlchemy URL as text.
    """
    settings = settings if settings is not None else load_settings()
    return (settings.database_url or "").strip() or sqlite_url(Path(data_dir) / DEFAULT_FILE)


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The URL of a SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


def _normalise(url: str) -> URL:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise DataPlaneError(
            f"{DATABASE_URL_ENV}: not a database URL: {display_url(url)!r}"
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        # The driver is psycopg 3 (a dependency); `postgresql://` alone would ask for psycopg2.
        return parsed.set(drivername="postgresql+psycopg")
    if backend != "sqlite":
        raise DataPlaneError(
            f"{DATABASE_URL_ENV}: unsupported database {backend!r} "
            "(use sqlite:///PATH or postgresql://...)"
        )
    return parsed


def display_url(url: str | URL) -> str:
    """The URL with its password hidden, fit for logs and messages."""
    try:
        return (
            make_url(url).render_as_string(hide_password=True)
            if isinstance(url, str)
            else url.render_as_string(hide_password=True)
        )
    except sa.exc.ArgumentError:
        return "<unparsable URL>"


def _write_ahead_logging(cur: Any, busy_ms: int) -> None:
    """Put the file in WAL mode (persistent: done once per file, then only read back).

    Switching a file to WAL needs it to itself, and SQLite answers "database is locked" at once
    rather than calling the busy handler when another connection has it open; several workers
    opening a fresh file together hit this. So the mode is read first (no lock) and the switch
    retried with a growing pause for as long as the busy timeout allows.
    """
    if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + busy_ms / 1000
    pause = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _sqlite_pragmas(busy_ms: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        _write_ahead_logging(cur, busy_ms)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA secure_delete=ON")  # overwritten values leave no trace in the file
        cur.close()

    return on_connect


class DataPlane:
    """The shared database of every worker, and the schema version it is at."""

    def __init__(
        self, url: str, *, upgrade: bool = True, create: bool = False, busy_timeout: float = 30.0
    ) -> None:
        """Open the database.

        Args:
            url: `sqlite:///PATH` or `postgresql://...` (see `database_url`).
            upgrade: Create or upgrade the schema now (else check it is current and refuse if not).
            create: Without `upgrade`, still create the schema in a database that has none (a
                fresh database has nothing to break), but refuse one that is behind.
            busy_timeout: Seconds a SQLite writer waits for another one holding the lock.

        Raises:
            DataPlaneError: the URL is unusable, the database unreachable, or the schema behind.
        """
        parsed = _normalise(url)
        self.url = display_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                if not (upgrade or create) and not Path(parsed.database).is_file():
                    raise DataPlaneError(
                        f"no data plane at {parsed.database}: run `overdue db upgrade` "
                        "(or start `overdue dev` / `overdue worker`, which create it)"
                    )
                # The file holds personal data (sealed) and the policies: the owner's alone.
                private_dir(Path(parsed.database).parent)
                private_file(parsed.database)
            kwargs["connect_args"] = {"timeout": busy_timeout, "check_same_thread": False}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=20)
        self.engine = sa.create_engine(parsed, **kwargs)
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas(int(busy_timeout * 1000)))
        try:
            if upgrade or (create and self.revision() is None):
                self.upgrade()
            else:
                self.check()
        except Exception:
            self.engine.dispose()
            raise

    def upgrade(self) -> str:
        """Create or upgrade the schema to the newest revision (safe when several run at once).

        Returns:
            The revision now current.
        """
        from workers.dataplane.migrate import upgrade

        try:
            return upgrade(self.engine)
        except sa.exc.OperationalError as e:
            raise DataPlaneError(f"data plane {self.url}: {_reason(e)}") from None

    def revision(self) -> str | None:
        """The schema revision the database is at (None for an empty database)."""
        from workers.dataplane.migrate import current_revision

        try:
            return current_revision(self.engine)
        except sa.exc.OperationalError as e:
            raise DataPlaneError(f"data plane {self.url}: {_reason(e)}") from None

    def check(self) -> None:
        """Refuse a database whose schema is not the newest this code knows.

        Raises:
            DataPlaneError: with the command that fixes it.
        """
        from workers.dataplane.migrate import HEAD

        found = self.revision()
        if found != HEAD:
            state = "has no schema" if found is None else f"is at schema {found}, not {HEAD}"
            raise DataPlaneError(
                f"data plane {self.url} {state}: run `overdue db upgrade` "
                "(or start `overdue dev` / `overdue worker`, which upgrade it)"
            )

    def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        self.engine.dispose()

    def __enter__(self) -> DataPlane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reason(e: sa.exc.OperationalError) -> str:
    # The driver's first line says what went wrong (refused, no such host, bad password...).
    return str(e.orig).strip().splitlines()[0] if e.orig is not None else str(e).splitlines()[0]
