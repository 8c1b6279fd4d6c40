"""A worker with `OVERDUE_METRICS_ADDRESS` serves Prometheus metrics: the SDK's own and the
domain's, counted in the workflow through Temporal's meter."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.console.conftest import Stack, daytime_zone
from workers.client import connect
from workers.converter import data_converter, load_or_create_key
from workers.devserver import free_port
from workers.settings import Settings
from workers.worker import run_worker
from workflows.client import Cases

pytestmark = pytest.mark.e2e


async def test_worker_serves_sdk_and_domain_metrics(stack: Stack) -> None:
    address = f"127.0.0.1:{free_port()}"
    settings = Settings(metrics_address=address)
    client = await connect(
        data_converter(load_or_create_key(stack.folder)), settings, target_host=stack.server.address
    )
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(client, stack.folder, settings, task_queue=queue, stop=stop)
    )
    try:
        cases = Cases(client, task_queue=queue)
        tz = daytime_zone()
        case = await stack.open(
            "MET-1", 10, amount="800.00", policy="consumer-credit-line", tz=tz, cases=cases
        )
        text = ""
        async with httpx.AsyncClient(timeout=10) as web:
            for _ in range(100):
                text = (await web.get(f"http://{address}/metrics")).text
                if (
                    "overdue_contacts_total{" in text
                    and "temporal_workflow_task_execution_latency" in text
                ):
                    break
                await asyncio.sleep(0.2)
        assert 'channel="call"' in text, text[-2000:]
        assert "temporal_workflow_task_execution_latency" in text  # the SDK's own
        assert case.debtor.name not in text and case.debtor.phone not in text
    finally:
        stop.set()
        await worker
