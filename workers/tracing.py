"""OpenTelemetry tracing of every client and worker, through temporalio's `TracingInterceptor`.

Off unless an OTLP/HTTP endpoint is configured (``OVERDUE_OTEL_ENDPOINT``, or OpenTelemetry's
own ``OTEL_EXPORTER_OTLP_ENDPOINT``): then each process builds one tracer provider that batches
spans to ``<endpoint>/v1/traces``, and `workers.client.connect` puts the interceptor on the
client, so the worker built on it traces too. Spans follow a case from the command that started
or signalled it (``StartWorkflow:Case``, ``HandleUpdate:event``) through the workflow's run to
each activity (``RunActivity:send_contact``); the trace context travels in Temporal headers.

Spans carry names, workflow and run ids and activity types: never payloads, so no personal
data. The service is named by OpenTelemetry's ``OTEL_SERVICE_NAME`` (default ``overdue``).
Buffered spans are flushed when the process exits.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from temporalio.client import Interceptor

__all__ = ["tracer_provider", "traces_url", "tracing_interceptor"]

_lock = threading.Lock()
_providers: dict[str, TracerProvider] = {}


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of an endpoint (``http://host:4318`` -> ``.../v1/traces``); an
    endpoint already naming the path is kept as it is."""
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"


def tracer_provider(endpoint: str) -> TracerProvider:
    """The process's tracer provider exporting to `endpoint` (one per endpoint, made once)."""
    url = traces_url(endpoint)
    with _lock:
        provider = _providers.get(url)
        if provider is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import SERVICE_NAME, Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            # Resource.create adds OTEL_RESOURCE_ATTRIBUTES; the name given here wins over them.
            name = os.environ.get("OTEL_SERVICE_NAME") or "overdue"
            resource = Resource.create({SERVICE_NAME: name})
            provider = TracerProvider(resource=resource)
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
            atexit.register(provider.shutdown)  # flushes what is still buffered
            _providers[url] = provider
        return provider


def tracing_interceptor(endpoint: str) -> Interceptor:
    """temporalio's tracing interceptor, with a tracer exporting to `endpoint`. On a client it
    traces the client's calls and, through the workers built on that client, workflows and
    activities."""
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return TracingInterceptor(tracer_provider(endpoint).get_tracer("overdue"))
