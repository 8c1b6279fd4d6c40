"""Connecting to Temporal through Temporal's standard client configuration.

`connect` reads the environment and the profile file exactly as every Temporal SDK and the
``temporal`` CLI do (`temporalio.envconfig`):

- ``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``;
- ``TEMPORAL_TLS``, ``TEMPORAL_TLS_CLIENT_CERT_PATH`` / ``_DATA``,
  ``TEMPORAL_TLS_CLIENT_KEY_PATH`` / ``_DATA``, ``TEMPORAL_TLS_SERVER_CA_CERT_PATH`` / ``_DATA``,
  ``TEMPORAL_TLS_SERVER_NAME``, ``TEMPORAL_TLS_DISABLE_HOST_VERIFICATION``;
- ``TEMPORAL_GRPC_META_<NAME>`` headers;
- ``TEMPORAL_PROFILE`` (profile name) and ``TEMPORAL_CONFIG_FILE`` (TOML profile file, by default
  ``temporal.toml`` in the user's configuration folder).

With nothing configured it reaches the `overdue dev` that uses the command's data folder (its
address comes from `workers.config`), else ``127.0.0.1:7233``, namespace ``default``. The data
converter is the project's encrypted one (`workers.converter`), keyed by `workers.config`.

Temporal's core library logs through Python's ``logging`` here (`quiet_runtime`), so its
warnings reach stderr like every other log line and never stdout, where ``--json`` writes.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError

from workers.converter import EncryptionCodec
from workers.settings import ConfigError, Settings

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_NAMESPACE",
    "check_worker_keys",
    "connect",
    "connect_config",
    "quiet_runtime",
    "worker_identity",
]

#: Where the embedded dev server listens (see `workers.devserver.DevServer`).
DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"
_KEYS_RE = re.compile(r"\bkeys=([0-9a-f,]+)")
_runtime_set = False


def quiet_runtime() -> None:
    """Send the Temporal core's own log lines (connection retries...) to Python's logging.

    Left alone, the core prints its warnings on stdout, which breaks ``--json``. Called before
    the first client of the process; later calls do nothing.
    """
    global _runtime_set
    if _runtime_set:
        return
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    Runtime.set_default(
        Runtime(telemetry=TelemetryConfig(logging=logging_config)), error_if_already_set=False
    )
    _runtime_set = True


def connect_config(
    settings: Settings | None = None, *, fallback_address: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """The keyword arguments `connect` passes to ``Client.connect``, without connecting.

    Args:
        settings: The settings (``TEMPORAL_PROFILE``, ``TEMPORAL_CONFIG_FILE``...); read from the
            environment if omitted.
        fallback_address: Where to go when Temporal's configuration names no address (the
            running `overdue dev`); ``127.0.0.1:7233`` if omitted.
        **overrides: ``Client.connect`` keyword arguments taking precedence over the
            configuration (``target_host``, ``namespace``, ``tls``, ``api_key``...).

    Returns:
        The arguments, always with ``target_host`` and ``namespace``.

    Raises:
        ConfigError: An unknown profile, or a profile file that cannot be read.
    """
    settings = settings if settings is not None else Settings()
    config_file = str(settings.temporal_config_file) if settings.temporal_config_file else None
    try:
        loaded = ClientConfig.load_client_connect_config(
            profile=settings.temporal_profile, config_file=config_file
        )
    except Exception as e:  # the bridge's own ConfigError: unknown profile, bad TOML...
        raise ConfigError(
            f"Temporal client configuration (TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE): {e}"
        ) from None
    config: dict[str, Any] = dict(loaded)
    config.setdefault("target_host", fallback_address or DEFAULT_ADDRESS)
    config.setdefault("namespace", DEFAULT_NAMESPACE)
    config.update(overrides)
    return config


async def connect(
    data_converter: DataConverter,
    settings: Settings | None = None,
    *,
    fallback_address: str | None = None,
    **overrides: Any,
) -> Client:
    """Connect to the configured Temporal (the running `overdue dev` when nothing is configured).

    Args:
        data_converter: The project's converter (`workers.converter.data_converter`).
        settings: The settings; read from the environment if omitted.
        fallback_address: The address used when Temporal's configuration names none.
        **overrides: ``Client.connect`` keyword arguments taking precedence over the
            configuration (``target_host``, ``namespace``, ``tls``, ``api_key``, ``identity``...).

    Returns:
        The connected client.

    Raises:
        ConfigError: The configuration is wrong, or the server cannot be reached (one line).
    """
    config = connect_config(settings, fallback_address=fallback_address, **overrides)
    quiet_runtime()
    if settings is not None and settings.metrics_address and "runtime" not in config:
        from workers.metrics import metrics_runtime

        config["runtime"] = metrics_runtime(settings.metrics_address)
    if settings is not None and settings.otel_endpoint and "interceptors" not in config:
        from workers.tracing import tracing_interceptor

        config["interceptors"] = [tracing_interceptor(settings.otel_endpoint)]
    try:
        return await Client.connect(data_converter=data_converter, **config)
    except RuntimeError as e:
        reason = str(e).removeprefix("Failed client connect: ")
        if "Connection refused" in reason:
            reason = "connection refused"
        raise ConfigError(
            f"cannot reach Temporal at {config['target_host']} ({reason[:200]}); "
            "start `overdue dev`, or set TEMPORAL_ADDRESS"
        ) from None


def worker_identity(client: Client, base: str) -> str:
    """The identity a worker shows Temporal: `base` plus the ids of the codec keys it holds.

    Clients read it back (`check_worker_keys`) and refuse to start work no worker could decrypt.
    """
    codec = client.data_converter.payload_codec
    if isinstance(codec, EncryptionCodec):
        return f"{base} keys={','.join(codec.key_ids)}"
    return base


async def check_worker_keys(client: Client, task_queue: str) -> None:
    """Refuse a client whose codec key the workers polling `task_queue` do not hold.

    Only Overdue workers (identities with ``keys=``) are judged; with none polling, nothing is
    known and the work waits for a worker as Temporal always lets it.

    Raises:
        ConfigError: Workers poll the queue and none of them holds this client's key.
    """
    codec = client.data_converter.payload_codec
    if not isinstance(codec, EncryptionCodec):
        return
    try:
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except RPCError as e:
        raise ConfigError(
            f"Temporal at {client.service_client.config.target_host}: {e.message}"
        ) from None
    held: set[str] = set()
    for poller in resp.pollers:
        match = _KEYS_RE.search(poller.identity)
        if match:
            held.update(match.group(1).split(","))
    if held and codec.key_id not in held:
        raise ConfigError(
            f"the workers on {task_queue} hold codec key {', '.join(sorted(held))}, this command has "
            f"{codec.key_id}: set OVERDUE_CODEC_KEY to their key, or OVERDUE_DATA_DIR to their folder"
        )
