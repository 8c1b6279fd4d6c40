"""`overdue db upgrade`, and what the other commands say about a missing or unusable data plane."""

from __future__ import annotations

from pathlib import Path

import pytest

from overdue.cli import main
from tests.postgres import PostgresServer
from workers.dataplane import DATABASE_URL_ENV
from workers.dataplane.migrate import HEAD


class TestDbUpgrade:
    """Creates or upgrades the schema of the configured database."""

    def test_default_sqlite_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Nothing configured: the SQLite file in the data folder, created, then found current."""
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        assert main(["db", "upgrade", "--data", str(tmp_path)]) == 0
        assert main(["db", "upgrade", "--data", str(tmp_path)]) == 0
        out = capsys.readouterr().out.splitlines()
        assert (
            out
            == [
                f"data plane sqlite:///{(tmp_path / 'overdue.db').resolve()}: schema at revision {HEAD}"
            ]
            * 2
        )

    def test_postgresql_from_the_setting(
        self,
        postgres: PostgresServer,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """`OVERDUE_DATABASE_URL=postgresql://...`: the schema goes there, nothing into the data folder."""
        url = postgres.new_database()
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        assert main(["db", "upgrade", "--data", str(tmp_path)]) == 0
        assert capsys.readouterr().out.strip() == f"data plane {url}: schema at revision {HEAD}"
        assert list(tmp_path.iterdir()) == []
        assert main(["outbox", "--data", str(tmp_path), "--json"]) == 0
        assert capsys.readouterr().out.strip() == "[]"

    def test_unusable_setting_is_one_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A database that cannot be reached: exit 1, one line, no password."""
        monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://u:secret@127.0.0.1:1/o")
        assert main(["db", "upgrade", "--data", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(
            "error: data plane postgresql://u:***@127.0.0.1:1/o"
        )


class TestReaders:
    """Commands that only read never create or migrate the data plane."""

    def test_outbox_before_any_upgrade(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`overdue outbox` on a fresh folder: exit 1 with the command that fixes it."""
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        assert main(["outbox", "--data", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "run `overdue db upgrade`" in err
        assert list(tmp_path.iterdir()) == []
