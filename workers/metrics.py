"""Prometheus metrics of a worker: the SDK's own (task latencies, slots, polls...) and the
domain's (contacts, deferrals, stage moves, payments, approvals, failed decisions), both through
Temporal's metric meter, served by the SDK's core at ``OVERDUE_METRICS_ADDRESS`` (``/metrics``).

The domain metrics are counted in the workflow from the records the core returns
(`workflows.case_workflow`), with `workflow.metric_meter()`, which skips replays: a count is a
decision taken once, however often a history is replayed.
"""

from __future__ import annotations

import errno
import logging
import socket

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from workers.settings import ConfigError

__all__ = ["hold_metrics_address", "metrics_runtime"]


def _unusable(address: str, why: str) -> ConfigError:
    """The one line for a metrics address nothing can listen on."""
    return ConfigError(f"OVERDUE_METRICS_ADDRESS={address}: cannot serve metrics there ({why})")


def hold_metrics_address(address: str | None) -> socket.socket | None:
    """Bind the metrics address until the worker's runtime takes it (`overdue dev` holds it
    while the Temporal server picks random ports for itself); None when metrics are off.

    Raises:
        ConfigError: The address is not ``host:port`` or is taken (one line, before anything
            starts).
    """
    if not address:
        return None
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise _unusable(address, "not a host:port address")
    host = host.strip("[]") or "0.0.0.0"
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as e:
        sock.close()
        raise _unusable(
            address, "already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        ) from None
    return sock


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
        raise _unusable(address, why) from None
