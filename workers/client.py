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

With nothing configured it reaches the embedded dev server at ``127.0.0.1:7233``, namespace
``default``. The data converter defaults to the project's encrypted one (`workers.converter`).
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig

from workers.converter import data_converter as project_data_converter

__all__ = ["DEFAULT_ADDRESS", "DEFAULT_NAMESPACE", "connect", "connect_config"]

#: Where the embedded dev server listens (see `workers.devserver.DevServer`).
DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"


def connect_config(profile: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The keyword arguments `connect` passes to ``Client.connect``, without connecting.

    Args:
        profile: Profile name in the configuration file; ``TEMPORAL_PROFILE`` or ``default``
            if omitted.
        **overrides: ``Client.connect`` keyword arguments taking precedence over the
            configuration (``target_host``, ``namespace``, ``tls``, ``api_key``...).

    Returns:
        The arguments, always with ``target_host`` and ``namespace``.
    """
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config(profile=profile))
    config.setdefault("target_host", DEFAULT_ADDRESS)
    config.setdefault("namespace", DEFAULT_NAMESPACE)
    config.update(overrides)
    return config


async def connect(
    data_converter: DataConverter | None = None, *, profile: str | None = None, **overrides: Any
) -> Client:
    """Connect to the configured Temporal (the embedded server when nothing is configured).

    Args:
        data_converter: The converter; the project's encrypting one
            (`workers.converter.data_converter`) if omitted.
        profile: Profile name in the configuration file; ``TEMPORAL_PROFILE`` or ``default``.
        **overrides: ``Client.connect`` keyword arguments taking precedence over the
            configuration (``target_host``, ``namespace``, ``tls``, ``api_key``, ``identity``...).

    Returns:
        The connected client.
    """
    config = connect_config(profile, **overrides)
    if data_converter is None:
        data_converter = project_data_converter()
    return await Client.connect(data_converter=data_converter, **config)
