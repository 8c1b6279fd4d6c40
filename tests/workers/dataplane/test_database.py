"""The data plane on SQLite and on a real PostgreSQL: schema created by the shipped migrations,
upgrades safe to run at once, times kept aware, the URL setting and its errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from workers.dataplane import DataPlane, DataPlaneError, database_url, display_url
from workers.dataplane.migrate import _SCRIPTS, HEAD
from workers.dataplane.schema import console_users, metadata, rollouts
from workers.settings import Settings

TABLES = {"policy_versions", "outbox", "rollouts", "console_users"}


class TestSchema:
    """What `overdue db upgrade` creates, on both databases."""

    def test_upgrade_creates_every_table_at_head(self, database_url: str) -> None:
        """A fresh database gets the four tables and the newest revision."""
        with DataPlane(database_url) as plane:
            assert TABLES <= set(sa.inspect(plane.engine).get_table_names())
            assert plane.revision() == HEAD

    def test_migrations_match_the_metadata(self, database_url: str) -> None:
        """What the migration scripts build is exactly what the code's table definitions say."""
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        with DataPlane(database_url) as plane, plane.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []

    def test_head_is_the_scripts_head(self) -> None:
        """`HEAD` in code names the last shipped script (a new migration must move it)."""
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(_SCRIPTS))
        assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD]

    def test_upgrade_again_changes_nothing(self, database_url: str) -> None:
        """A second upgrade (every worker start) finds the schema current and keeps the rows."""
        now = datetime.now(UTC)
        with DataPlane(database_url) as plane, plane.engine.begin() as conn:
            conn.execute(
                console_users.insert().values(
                    name="ops1", role="ops", password_hash="x", created_at=now
                )
            )
        with DataPlane(database_url) as again, again.engine.connect() as conn:
            assert again.upgrade() == HEAD
            assert conn.execute(sa.select(console_users.c.name)).scalars().all() == ["ops1"]

    def test_concurrent_upgrades(self, database_url: str) -> None:
        """Four processes' worth of workers starting at once on an empty database all succeed."""
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def start() -> None:
            try:
                barrier.wait()
                DataPlane(database_url).close()
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=start) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with DataPlane(database_url, upgrade=False) as plane:
            assert plane.revision() == HEAD

    def test_many_workers_opening_one_fresh_sqlite_file(self, tmp_path: Path) -> None:
        """Switching a fresh file to WAL while others open it is retried, never 'locked'.

        CI once failed the four-thread test above on this race (1 in about 10 rounds); twenty
        rounds of eight threads made it fail every time before the switch was retried.
        """
        for round_ in range(20):
            url = f"sqlite:///{tmp_path / f'plane{round_}.db'}"
            errors: list[BaseException] = []
            barrier = threading.Barrier(8)

            def start(
                url: str = url,
                errors: list[BaseException] = errors,
                barrier: threading.Barrier = barrier,
            ) -> None:
                try:
                    barrier.wait()
                    DataPlane(url).close()
                except BaseException as e:
                    errors.append(e)

            threads = [threading.Thread(target=start) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == [], f"round {round_}: {errors}"
            with DataPlane(url, upgrade=False) as plane, plane.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"

    def test_check_refuses_a_database_without_schema(self, database_url: str) -> None:
        """Commands other than dev/worker/db upgrade do not migrate: they say what to run."""
        if database_url.startswith("sqlite"):
            sa.create_engine(database_url).connect().close()  # an empty file
        with pytest.raises(DataPlaneError, match="has no schema: run `overdue db upgrade`"):
            DataPlane(database_url, upgrade=False)

    def test_create_makes_a_fresh_schema_but_never_upgrades(self, database_url: str) -> None:
        """Commands that open cases create the schema in a fresh database, and refuse one behind."""
        with DataPlane(database_url, upgrade=False, create=True) as plane:
            assert plane.revision() == HEAD
            with plane.engine.begin() as conn:  # as if an older release had made it
                conn.execute(sa.text("UPDATE alembic_version SET version_num = '0000'"))
        with pytest.raises(
            DataPlaneError, match=r"is at schema 0000, not .*: run `overdue db upgrade`"
        ):
            DataPlane(database_url, upgrade=False, create=True)


class TestValues:
    """Rows read back as they were written, on both databases."""

    def test_rollout_row_round_trips_with_aware_times(self, database_url: str) -> None:
        """JSON, counters and times (any offset in, the same instant in UTC out)."""
        plus8 = timezone(timedelta(hours=8))
        created = datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=plus8)
        with DataPlane(database_url) as plane:
            with plane.engine.begin() as conn:
                conn.execute(
                    rollouts.insert().values(
                        id="r1",
                        policy="consumer-credit-line",
                        from_versions={"1": 180, "2": 20},
                        to_version=3,
                        to_hash="h" * 64,
                        state="canary",
                        percent=10,
                        selected=200,
                        created_at=created,
                        updated_at=created,
                    )
                )
            with plane.engine.connect() as conn:
                row = conn.execute(sa.select(rollouts).where(rollouts.c.id == "r1")).one()
        assert row.from_versions == {"1": 180, "2": 20}
        assert (row.percent, row.selected, row.moved, row.state) == (10, 200, 0, "canary")
        assert row.created_at == created and row.created_at.tzinfo is not None
        assert row.created_at.utcoffset() == timedelta(0)
        assert row.finished_at is None

    def test_naive_times_are_refused(self, database_url: str) -> None:
        """A naive datetime never reaches the database."""
        with (
            DataPlane(database_url) as plane,
            pytest.raises(sa.exc.StatementError, match="naive"),
            plane.engine.begin() as conn,
        ):
            conn.execute(
                console_users.insert().values(
                    name="x", role="viewer", password_hash="x", created_at=datetime(2026, 1, 1)
                )
            )

    def test_token_hashes_are_unique(self, database_url: str) -> None:
        """Two users can never share an API token."""
        now = datetime.now(UTC)
        with DataPlane(database_url) as plane:
            with plane.engine.begin() as conn:
                conn.execute(
                    console_users.insert().values(
                        name="a", role="viewer", password_hash="p", token_hash="t", created_at=now
                    )
                )
            with pytest.raises(sa.exc.IntegrityError), plane.engine.begin() as conn:
                conn.execute(
                    console_users.insert().values(
                        name="b", role="viewer", password_hash="p", token_hash="t", created_at=now
                    )
                )


class TestSetting:
    """`OVERDUE_DATABASE_URL`, its default, and what a bad value says."""

    def test_default_is_a_sqlite_file_in_the_data_folder(self, tmp_path: Path) -> None:
        """Nothing set: `<data>/overdue.db`, in write-ahead-logging mode."""
        url = database_url(tmp_path, Settings(database_url=None))
        assert url == f"sqlite:///{(tmp_path / 'overdue.db').resolve()}"
        with DataPlane(url) as plane, plane.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert (tmp_path / "overdue.db").is_file()

    def test_setting_wins(self, tmp_path: Path) -> None:
        """The environment variable names the database."""
        assert (
            database_url(tmp_path, Settings(database_url="postgresql://u:pw@db:5432/o"))
            == "postgresql://u:pw@db:5432/o"
        )

    def test_password_never_shown(self) -> None:
        """Messages and logs show the URL without its password."""
        assert display_url("postgresql://u:secret@db:5432/o") == "postgresql://u:***@db:5432/o"

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("mysql://u@h/db", "unsupported database 'mysql'"),
            ("not a url", "not a database URL"),
            ("postgresql://u:secret@127.0.0.1:1/o", "Connection refused"),
        ],
    )
    def test_bad_urls_are_one_clear_error(self, url: str, message: str) -> None:
        """An unusable setting is a `DataPlaneError` naming the problem, never the password."""
        with pytest.raises(DataPlaneError, match=message) as caught:
            DataPlane(url)
        assert "secret" not in str(caught.value)

    def test_missing_sqlite_file_is_not_created_by_a_reader(self, tmp_path: Path) -> None:
        """A command that only reads does not leave an empty database behind."""
        with pytest.raises(DataPlaneError, match="no data plane at"):
            DataPlane(database_url(tmp_path, Settings(database_url=None)), upgrade=False)
        assert not (tmp_path / "overdue.db").exists()


class TestSharedSqliteFile:
    """One process with two data planes (`overdue dev`: worker and console) and a command."""

    def test_a_second_plane_keeps_the_first_ones_locks(self, tmp_path: Path) -> None:
        """A command's short connection never deletes the WAL under the long-running process.

        Opening the second plane used to open and close the database file to tighten its mode,
        which released every SQLite lock of the first plane (POSIX locks are per process); the
        command's SQLite then thought it was alone, checkpointed and deleted the write-ahead log,
        and the long-running process went on writing into the deleted file, unseen by anyone.
        """
        url = database_url(tmp_path, Settings(database_url=None))
        db = tmp_path / "overdue.db"
        with DataPlane(url) as first:
            with first.engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE probe (n INTEGER)")
            with DataPlane(url):
                command = (
                    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    "c.execute('INSERT INTO probe VALUES (1)'); c.commit(); c.close()"
                )
                subprocess.run([sys.executable, "-c", command, str(db)], check=True)
                assert (tmp_path / "overdue.db-wal").exists()
                with first.engine.begin() as conn:
                    conn.exec_driver_sql("INSERT INTO probe VALUES (2)")
                reader = sqlite3.connect(db)
                try:
                    seen = reader.execute("SELECT n FROM probe ORDER BY n").fetchall()
                finally:
                    reader.close()
                assert seen == [(1,), (2,)]
