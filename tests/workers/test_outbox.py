"""The outbox ledger: exactly once per action id, across threads, connections and processes, on
SQLite (WAL on) and on a real PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.workers.conftest import OUTBOX_KEY, make_action
from workers.dataplane import DataPlane
from workers.devserver import journal_mode
from workers.outbox import Outbox


@pytest.fixture
def shared(database_url: str) -> Iterator[Outbox]:
    """An outbox in a fresh data plane: a SQLite file, then a PostgreSQL database."""
    plane = DataPlane(database_url)
    try:
        yield Outbox(plane, keys=(OUTBOX_KEY,))
    finally:
        plane.close()


class TestRecord:
    """Recording an action id twice leaves one row; rows read back whole and in time order."""

    def test_twice_gives_one_row(self, shared: Outbox) -> None:
        action = make_action()
        assert shared.record(action) is True
        assert shared.record(action) is False
        assert shared.count() == 1
        assert shared.duplicates() == 0

    def test_row_round_trips(self, shared: Outbox) -> None:
        action = make_action(detail={"subject": "Payment reminder", "x": "1"})
        shared.record(action, via="smtp", provider_id="<id@x>")
        row = shared.get(action.action_id)
        assert row is not None
        assert (row.case_id, row.kind, row.channel, row.template) == (
            "C-1",
            "contact",
            "sms",
            "reminder_d3",
        )
        assert row.recipient == action.to
        assert row.message == action.message
        assert row.detail == {"subject": "Payment reminder", "x": "1"}
        assert row.at == action.at
        assert (row.via, row.provider_id) == ("smtp", "<id@x>")
        assert row.to_json()["at"] == "2026-03-02T01:00:00+00:00"
        assert action.action_id in shared
        assert "missing" not in shared

    def test_list_orders_by_time_across_offsets_and_filters_by_case(self, shared: Outbox) -> None:
        base = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        plus8 = timezone(timedelta(hours=8))
        # 08:30+08:00 is 00:30 UTC: earliest, although its local text sorts last.
        shared.record(make_action("b", at=base))
        shared.record(make_action("a", at=base))
        shared.record(make_action("c", at=datetime(2026, 3, 2, 8, 30, tzinfo=plus8)))
        shared.record(make_action("d", case_id="C-2", at=base - timedelta(days=1)))
        assert [r.action_id for r in shared.list()] == ["d", "c", "a", "b"]
        assert [r.action_id for r in shared.list("C-1")] == ["c", "a", "b"]
        assert shared.count("C-2") == 1


class TestConcurrency:
    """Writers in several threads and on several connections never duplicate an action id."""

    def test_two_threads_same_ids(self, shared: Outbox) -> None:
        ids = [f"C-1.a.{i}" for i in range(200)]
        results: dict[str, list[bool]] = {"t1": [], "t2": []}
        barrier = threading.Barrier(2)

        def write(name: str) -> None:
            barrier.wait()
            for action_id in ids:
                results[name].append(shared.record(make_action(action_id)))

        threads = [threading.Thread(target=write, args=(n,)) for n in results]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert shared.count() == len(ids)
        assert shared.duplicates() == 0
        # Each id was new for exactly one of the two writers.
        assert [a + b for a, b in zip(results["t1"], results["t2"], strict=True)] == [1] * len(ids)

    def test_two_outbox_objects_on_one_database(self, database_url: str) -> None:
        first, second = Outbox(DataPlane(database_url)), Outbox(DataPlane(database_url))
        try:
            assert first.record(make_action("x")) is True
            assert second.record(make_action("x")) is False
            assert second.count() == 1
        finally:
            first.plane.close()
            second.plane.close()


_ROOT = Path(__file__).resolve().parents[2]
_WRITER = """
import sys
from tests.workers.conftest import make_action
from workers.dataplane import DataPlane
from workers.outbox import Outbox
box = Outbox(DataPlane(sys.argv[1], upgrade=False, busy_timeout=30))
print(sum(box.record(make_action(f"C-1/1.r/{i}")) for i in range(300)))
box.plane.close()
"""


class TestProcesses:
    """Two worker processes writing the same ids to one database each see every id new exactly once."""

    def test_two_processes(self, database_url: str) -> None:
        DataPlane(database_url).close()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, database_url],
                stdout=subprocess.PIPE,
                text=True,
                cwd=_ROOT,
            )
            for _ in range(2)
        ]
        new_counts = [int(p.communicate(timeout=60)[0]) for p in procs]
        assert [p.returncode for p in procs] == [0, 0]
        assert sum(new_counts) == 300
        with DataPlane(database_url, upgrade=False) as plane:
            box = Outbox(plane)
            assert box.count() == 300
            assert box.duplicates() == 0


class TestStorage:
    """A SQLite file of its own: write-ahead-logging mode, persists across reopen, close is final."""

    def test_wal_on(self, outbox: Outbox) -> None:
        assert outbox.journal_mode() == "wal"
        assert journal_mode(outbox.path) == "wal"

    def test_reopen_keeps_rows_and_close_is_final(self, tmp_path: Path) -> None:
        box = Outbox(tmp_path / "o.db")
        box.record(make_action("kept"))
        box.close()
        box.close()
        reopened = Outbox(tmp_path / "o.db")
        try:
            assert [r.action_id for r in reopened.list()] == ["kept"]
        finally:
            reopened.close()
        with pytest.raises(RuntimeError, match="closed"):
            box.count()

    def test_a_shared_plane_outlives_the_outbox(self, database_url: str) -> None:
        """Closing an outbox on a shared data plane leaves the plane open for the others."""
        with DataPlane(database_url) as plane:
            box = Outbox(plane)
            box.record(make_action("x"))
            box.close()
            assert Outbox(plane).count() == 1
            with pytest.raises(RuntimeError, match="closed"):
                box.count()


class TestPersonalData:
    """Recipients and messages are sealed with the codec key, or not kept; the file is private."""

    def test_file_holds_no_clear_personal_data(self, outbox: Outbox) -> None:
        action = make_action()
        outbox.record(action)
        outbox.close()
        raw = b"".join(p.read_bytes() for p in outbox.path.parent.glob("outbox.db*"))
        assert action.to is not None and action.message is not None
        assert action.to.encode() not in raw and b"Zhang Wei" not in raw
        assert action.action_id.encode() in raw  # what audit and dedup need stays readable

    def test_only_a_key_holder_reads_them(self, outbox: Outbox) -> None:
        action = make_action()
        outbox.record(action)
        with Outbox(outbox.path) as keyless, Outbox(outbox.path, keys=(b"x" * 32,)) as other:
            for box in (keyless, other):
                row = box.get(action.action_id)
                assert row is not None and (row.recipient, row.message) == (None, None)
                assert row.template == "reminder_d3"
        with Outbox(
            outbox.path, keys=(b"n" * 32, OUTBOX_KEY)
        ) as rotated:  # the old key still reads
            row = rotated.get(action.action_id)
            assert row is not None and (row.recipient, row.message) == (action.to, action.message)

    def test_a_sealed_value_cannot_move_to_another_row(self, outbox: Outbox) -> None:
        outbox.record(make_action("a"))
        outbox.record(make_action("b", to="+8613900000000"))
        conn = sqlite3.connect(outbox.path)
        with conn:
            conn.execute(
                "UPDATE outbox SET recipient = (SELECT recipient FROM outbox WHERE action_id = 'a') "
                "WHERE action_id = 'b'"
            )
        conn.close()
        row = outbox.get("b")
        assert row is not None and row.recipient is None

    def test_without_a_key_nothing_personal_is_kept(self, tmp_path: Path) -> None:
        with Outbox(tmp_path / "o.db") as box:
            box.record(make_action())
            row = box.get(make_action().action_id)
        assert row is not None and (row.recipient, row.message) == (None, None)
        with Outbox(tmp_path / "o.db", keys=(OUTBOX_KEY,)) as box:
            row = box.get(make_action().action_id)
        assert row is not None and row.recipient is None  # nothing was kept to show

    def test_clear_rows_of_an_old_file_are_sealed_on_open(self, tmp_path: Path) -> None:
        path = tmp_path / "o.db"
        Outbox(path).close()
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(
                "INSERT INTO outbox (action_id, case_id, kind, recipient, message, at, recorded_at) "
                "VALUES ('old', 'C-1', 'contact', 'lee@example.com', 'Dear Lee', '2026-01-01', '2026-01-01')"
            )
        conn.close()
        with Outbox(path, keys=(OUTBOX_KEY,)) as box:
            row = box.get("old")
            assert row is not None and (row.recipient, row.message) == (
                "lee@example.com",
                "Dear Lee",
            )
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("o.db*"))
        assert b"lee@example.com" not in raw and b"Dear Lee" not in raw

    @pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
    def test_modes(self, tmp_path: Path) -> None:
        old = os.umask(0o022)
        try:
            with Outbox(tmp_path / "data" / "outbox.db") as box:
                box.record(make_action())
        finally:
            os.umask(old)
        assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
        for f in (tmp_path / "data").iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name

    def test_sealed_in_the_shared_database(self, database_url: str) -> None:
        """On PostgreSQL as on SQLite: the stored columns hold only sealed text, read back by the key."""
        action = make_action()
        with DataPlane(database_url) as plane:
            Outbox(plane, keys=(OUTBOX_KEY,)).record(action)
            with plane.engine.connect() as conn:
                stored = conn.exec_driver_sql("SELECT recipient, message FROM outbox").one()
            assert all(v.startswith("enc1:") for v in stored)
            assert action.to not in "".join(stored) and "Zhang Wei" not in "".join(stored)
            row = Outbox(plane, keys=(OUTBOX_KEY,)).get(action.action_id)
            assert row is not None and (row.recipient, row.message) == (action.to, action.message)
