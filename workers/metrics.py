"""Prometheus metrics of a worker: the SDK's own (task latencies, slots, polls...) and the
domain's (contacts, deferrals, stage moves, payments, approvals, failed decisions), both through
Temporal's metric meter, served by the SDK's core at ``OVERDUE_METRICS_ADDRESS`` (``/metrics``).

The domain metrics are counted in the workflow from the records the core returns
(`workflows.case_workflow`), with `workflow.metric_meter()`, which skips replays: a count is a
decision taken once, however often a history is replayed.
"""

from __future__ import annotations

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

__all__ = ["metrics_runtime"]


def metrics_runtime(address: str) -> Runtime:
    """A Temporal runtime serving Prometheus metrics on `address` (``host:port``), logging as
    `workers.client.quiet_runtime` does. Pass it to ``Client.connect(runtime=...)``."""
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    return Runtime(
        telemetry=TelemetryConfig(
            logging=logging_config,
            metrics=PrometheusConfig(bind_address=address, counters_total_suffix=True),
        )
    )
