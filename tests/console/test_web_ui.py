"""On the dev server the Web UI runs against: a client without the codec (what the UI is before
its codec server is set) reads a case's start summary, its activities' summaries and its
current details, and nothing of the debtor."""

from __future__ import annotations

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from tests.console.conftest import Stack, daytime_zone, first_call
from workers.converter import ENCODING
from workflows.client import workflow_id

pytestmark = pytest.mark.e2e

PERSONAL = ("王芳", "+8613800000000", "wf@example.com")


async def test_summaries_and_details_read_without_the_codec(stack: Stack) -> None:
    await stack.open("UI-D", 10, amount="900.00", policy="consumer-credit-line", tz=daytime_zone())
    await first_call(stack, "UI-D")
    plain = await Client.connect(stack.server.address)
    handle = plain.get_workflow_handle(workflow_id("UI-D"))
    events = (await handle.fetch_history()).events
    assert events[0].user_metadata.summary.data.startswith(b'"case UI-D \xc2\xb7 consumer-credit')
    assert (
        events[0].workflow_execution_started_event_attributes.input.payloads[0].metadata["encoding"]
        == ENCODING
    )
    summaries = [
        e.user_metadata.summary.data.decode()
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert any(s.startswith('"contact call negotiation.') for s in summaries), summaries
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "**negotiation** · balance 900.00 CNY" in meta.current_details
    everything = b"".join(e.SerializeToString() for e in events).decode("utf-8", "replace")
    assert not any(p in everything or p in meta.current_details for p in PERSONAL)
