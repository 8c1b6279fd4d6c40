"""What the Temporal Web UI shows of a case to someone without the codec: the start summary, the
activity summaries and the workflow's current details read in clear and hold no personal data;
the case itself (inputs, activity inputs, other queries) stays encrypted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from engine.policy.compiled import CompiledPolicy
from tests.workflows.helpers import Driver, align, local, make_case
from workers.converter import ENCODING
from workflows.cleartext import CLEAR_METADATA
from workflows.client import Cases, workflow_id

#: What `make_case` puts in a case that must never be readable without the codec.
PERSONAL = (b"Lee Wei", b"+8613800000000", b"lee@example.com", b"1 Test Road")


def _clear(p: Payload) -> str:
    """The text of a payload left in clear on purpose (flagged, JSON)."""
    assert p.metadata["encoding"] == b"json/plain" and p.metadata[CLEAR_METADATA] == b"1", p
    assert not any(secret in p.data for secret in PERSONAL)
    return str(p.data.decode())


async def test_a_case_reads_in_the_web_ui_without_the_codec(
    tsenv: WorkflowEnvironment, cases: Cases, cn_policy: CompiledPolicy
) -> None:
    cp, drv = cn_policy, Driver(tsenv, cases)
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    case = make_case(cp, "UI-1", local(now, tz).date() - timedelta(days=1), "1500.00")
    await cases.open(case, cp)
    await drv.run([case.case_id], 1, tz=tz)

    plain = Client(tsenv.client.service_client, namespace=tsenv.client.namespace)
    handle = plain.get_workflow_handle(workflow_id(case.case_id))
    events = (await handle.fetch_history()).events
    started = events[0].workflow_execution_started_event_attributes
    assert _clear(events[0].user_metadata.summary) == (
        f'"case UI-1 · consumer-credit-line v{cp.ref.version} · 1500.00 CNY due {case.due_date}"'
    )
    assert [p.metadata["encoding"] for p in started.input.payloads] == [ENCODING]

    scheduled = [e for e in events if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled
    summaries = [_clear(e.user_metadata.summary) for e in scheduled]
    assert summaries[0].startswith('"contact sms reminder.')
    for e in scheduled:
        payloads = e.activity_task_scheduled_event_attributes.input.payloads
        assert [p.metadata["encoding"] for p in payloads] == [ENCODING]
    # nothing else of the history is in clear: every other payload is encrypted
    raw = b"".join(e.SerializeToString() for e in events)
    assert not any(secret in raw for secret in PERSONAL)

    # the details the UI reads through its built-in query, answered in clear
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert isinstance(meta, WorkflowMetadata)
    details = meta.current_details
    assert details.startswith("**reminder** · balance 1500.00 CNY") and "next decision:" in details
    assert not any(secret.decode() in details for secret in PERSONAL)
    # any other query is answered encrypted: a client without the codec cannot read it
    with pytest.raises(Exception, match="binary/encrypted"):
        await handle.query("status")
