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

from workers.settings import ConfigError

__all__ = ["metrics_runtime"]


def metrics_runtime(address: str) -> Runtime:
    """A Temporal runtime serving Prometheus metrics on `address` (``host:port``), logging as
    `workers.client.quiet_runtime` does. Pass it to ``Client.connect(runtime=...)``.

    Raises:
        ConfigError: The address is not ``host:port`` or cannot be listened on (one line).
    """
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                logging=logging_config,
                metrics=PrometheusConfig(bind_address=address, counters_total_suffix=True),
            )
        )
    except ValueError as e:  # the core's "Failed starting Prometheus exporter: ..."
        why = str(e)
        if "in use" in why:
            why = "already in use"
        elif "invalid socket address" in why.lower():
            why = "not a host:port address"
        raise ConfigError(
            f"OVERDUE_METRICS_ADDRESS={address}: cannot serve metrics there ({why})"
        ) from None
