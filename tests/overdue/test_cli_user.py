"""`overdue user add` and `overdue user token` write to the data plane, where the console reads."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from console.server import user_store
from overdue.cli import main
from workers.dataplane import DATABASE_URL_ENV
from workers.settings import Settings


class TestUserCommands:
    """Users and tokens made on the command line are the console's."""

    def test_add_and_token_land_in_the_data_plane(
        self,
        database_url: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv(DATABASE_URL_ENV, database_url)
        monkeypatch.setattr("sys.stdin", io.StringIO("typed-password\n"))
        args = ["user", "add", "--data", str(tmp_path), "cleo", "--role", "collector"]
        assert main([*args, "--password-stdin"]) == 0
        assert main(["user", "add", "--data", str(tmp_path), "vik", "--role", "viewer"]) == 0
        assert main(["user", "token", "--data", str(tmp_path), "cleo"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0] == "user cleo added with role collector"
        generated = out[2].removeprefix("password: ")
        token = out[3]
        store = user_store(tmp_path, Settings(database_url=database_url))
        try:
            assert store.verify("cleo", "typed-password") == store.user_for_token(token)
            assert store.verify("vik", generated) is not None
        finally:
            store.close()
        assert not (tmp_path / "console.db").exists()

    def test_a_taken_name_is_one_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        args = ["user", "add", "--data", str(tmp_path), "dup", "--role", "ops"]
        assert main(args) == 0
        capsys.readouterr()
        assert main(args) == 1
        assert capsys.readouterr().err == "error: user dup already exists\n"
        assert main(["user", "token", "--data", str(tmp_path), "nobody"]) == 1
        assert capsys.readouterr().err == "error: no user nobody\n"

    def test_list_and_remove(
        self,
        database_url: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """`user remove` ends the user's tokens and sessions with them; `user list` shows who is
        left, with column headers, or as JSON."""
        monkeypatch.setenv(DATABASE_URL_ENV, database_url)
        data = ["--data", str(tmp_path)]
        for name, role in (("zed", "ops"), ("amy", "manager")):
            assert main(["user", "add", *data, name, "--role", role]) == 0
        assert main(["user", "token", *data, "zed"]) == 0
        token = capsys.readouterr().out.splitlines()[-1]
        store = user_store(tmp_path, Settings(database_url=database_url))
        try:
            zed = store.get("zed")
            assert zed is not None
            sid, _ = store.open_session(zed, timedelta(hours=1))
            assert main(["user", "list", *data]) == 0
            assert capsys.readouterr().out.splitlines() == [
                f"{'NAME':<32} ROLE",
                f"{'amy':<32} manager",
                f"{'zed':<32} ops",
            ]
            assert main(["user", "remove", *data, "zed"]) == 0
            assert "no longer work" in capsys.readouterr().out
            assert store.user_for_token(token) is None and store.session(sid) is None
            assert main(["user", "list", *data, "--json"]) == 0
            assert json.loads(capsys.readouterr().out) == [{"name": "amy", "role": "manager"}]
            assert main(["user", "remove", *data, "zed"]) == 1
            assert capsys.readouterr().err == "error: no user zed\n"
        finally:
            store.close()
