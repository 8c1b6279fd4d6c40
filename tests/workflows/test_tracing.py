"""Tracing: with an OTLP endpoint configured, a case's client calls, workflow and activities reach
a real OTLP/HTTP receiver as spans of one trace, and no span carries personal data."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from temporalio.testing import WorkflowEnvironment

from engine.case import events as ev
from engine.policy.compiled import CompiledPolicy
from tests.workflows.conftest import tsenv_converter
from tests.workflows.helpers import align, local, make_case
from workers.channels import ChannelRouter, OutboxChannel
from workers.client import connect
from workers.outbox import Outbox
from workers.settings import Settings
from workers.tracing import tracer_provider, traces_url
from workers.worker import build_worker
from workflows.client import Cases


class _Receiver(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP protobuf exports and keeps them."""

    exports: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/traces":
            req = ExportTraceServiceRequest()
            req.ParseFromString(body)
            self.server.exports.append(req)  # type: ignore[attr-defined]
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    """A local OTLP/HTTP receiver: its endpoint and the exports it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.exports = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.exports  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_traces_url() -> None:
    """An endpoint gets OTLP's traces path once; a full traces URL is kept."""
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_url("https://c/v1/traces") == "https://c/v1/traces"


def test_standard_variable_turns_tracing_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenTelemetry's own endpoint variable is honoured; ours wins when both are set."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://std:4318")
    assert Settings().otel_endpoint == "http://std:4318"
    monkeypatch.setenv("OVERDUE_OTEL_ENDPOINT", "http://ours:4318")
    assert Settings().otel_endpoint == "http://ours:4318"


async def test_a_case_is_traced_without_personal_data(
    tsenv: WorkflowEnvironment,
    outbox: Outbox,
    cn_policy: CompiledPolicy,
    collector: tuple[str, list[ExportTraceServiceRequest]],
) -> None:
    endpoint, exports = collector
    config = tsenv.client.service_client.config
    client = await connect(
        tsenv_converter(),
        Settings(otel_endpoint=endpoint),
        target_host=config.target_host,
        namespace=tsenv.client.namespace,
    )
    queue = f"tq-{uuid.uuid4()}"
    worker = build_worker(client, outbox, ChannelRouter(OutboxChannel(outbox)), task_queue=queue)
    cases = Cases(client, task_queue=queue)
    cp = cn_policy
    tz = cp.policy.timezone
    now = await align(tsenv, tz)
    case = make_case(cp, "TRACE-1", local(now, tz).date() - timedelta(days=3), "900.00")
    async with worker:
        handle = await cases.open(case, cp)
        await tsenv.sleep(timedelta(days=2))  # reminders go out: activities run
        await cases.send("TRACE-1", ev.Close(reason="written_off"))
        await handle.result()
    assert tracer_provider(endpoint).force_flush(10_000)

    spans = [
        span
        for req in exports
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    names = {s.name for s in spans}
    assert "StartWorkflow:Case" in names
    assert "RunWorkflow:Case" in names
    assert any(n.startswith("StartActivity:") for n in names)
    assert any(n.startswith("RunActivity:") for n in names)
    assert "HandleUpdate:event" in names or "StartWorkflowUpdate:event" in names
    # One trace: the run and the activities hang under the start of the case.
    start = next(s for s in spans if s.name == "StartWorkflow:Case")
    run = [s for s in spans if s.name.startswith("RunActivity:")]
    assert run and all(s.trace_id == start.trace_id for s in run)
    services = {
        a.value.string_value
        for req in exports
        for rs in req.resource_spans
        for a in rs.resource.attributes
        if a.key == "service.name"
    }
    assert services == {"overdue"}
    raw = b"".join(req.SerializeToString() for req in exports)
    for personal in (case.debtor.name, case.debtor.phone, case.debtor.email):
        if personal:
            assert personal.encode() not in raw
