"""`overdue outbox` on a data folder without a server: the table's columns line up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from overdue.cli import main
from tests.workers.conftest import make_action
from workers.outbox import Outbox


def test_the_time_fills_its_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A time with microseconds is shown to the second, as wide as `WHEN`, so the case, kind
    and channel columns start where their headers do."""
    monkeypatch.delenv("OVERDUE_DATABASE_URL", raising=False)
    with Outbox(tmp_path / "overdue.db") as box:
        box.record(make_action(at=datetime(2026, 3, 2, 1, 0, 7, 123456, tzinfo=UTC)))
    assert main(["outbox", "--data", str(tmp_path)]) == 0
    header, row, total = capsys.readouterr().out.splitlines()
    assert row.startswith("2026-03-02T01:00:07+00:00  C-1 ")
    for column in ("CASE", "KIND", "CHANNEL", "ACTION ID"):
        start = header.index(column)
        assert row[start - 1] == " " and row[start] != " ", (column, header, row)
    assert total == "1 action(s)"
