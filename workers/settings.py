"""Every setting of Overdue, in one typed model read from the environment.

`load_settings` is the only reader of ``OVERDUE_*`` variables (and of Temporal's few variables
the project itself needs to see); the command line, the worker and the dev server take a
`Settings` and nothing else looks at the environment. The README's "Settings" table lists each
field with its variable.

Where a command finds its data folder, its codec key and its Temporal server when none is set is
decided by `workers.config`, not here: this module only reads and validates.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engine.errors import OverdueError

__all__ = ["ConfigError", "LogLevel", "Settings", "default_dev_state_file", "load_settings"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ConfigError(OverdueError):
    """A setting is missing, malformed or contradicts what is running; the message names it."""


def default_dev_state_file() -> Path:
    """Where `overdue dev` records its folder and address: ``$XDG_STATE_HOME/overdue/dev.json``.

    Per user, not per directory, so a command started anywhere finds the running `overdue dev`.
    """
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "overdue" / "dev.json"


def _split(value: object) -> object:
    """Comma-separated lists in one variable (``sms,call``), as people write them in a shell."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """Overdue's settings. Each field reads ``OVERDUE_<FIELD>`` unless its alias says otherwise.

    Attributes:
        data_dir: The data folder (outbox, policy store, codec key file, the dev server's
            SQLite file). Unset: the running `overdue dev`'s folder.
        codec_key: The payload codec key (base64 of 32 bytes). Unset: ``<data_dir>/codec.key``.
        codec_old_keys: Retired keys still accepted for decoding (comma-separated).
        database_url: The data plane's database. Unset: ``sqlite:///<data_dir>/overdue.db``
            (`workers.dataplane.database_url`).
        portfolio_refresh: Seconds between two refreshes of the console's portfolio figures;
            the page serves the latest snapshot meanwhile.
        dev_state: The file where `overdue dev` records its folder, key and address.
        log_level: The worker's and the dev server's log level.
        smtp_*: E-mail through an SMTP server when `smtp_host` is set.
        webhook_*: The channels in `webhook_channels` through an HTTP webhook when `webhook_url`
            is set.
        temporal_*: Temporal's own standard variables (``TEMPORAL_ADDRESS``...), which win over
            the running `overdue dev`. TLS and API-key variables are read by Temporal's client
            configuration itself (`workers.client`).
    """

    model_config = SettingsConfigDict(
        env_prefix="OVERDUE_",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    data_dir: Path | None = None
    codec_key: SecretStr | None = None
    codec_old_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    database_url: str | None = None
    #: ``host:port`` where a worker serves Prometheus metrics (SDK and domain); unset: none.
    metrics_address: str | None = None
    #: OTLP/HTTP endpoint (``http://host:4318``) receiving traces of clients, workflows and
    #: activities (`workers.tracing`); OpenTelemetry's own variable is read too. Unset: no tracing.
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OVERDUE_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    #: Seconds between two computations of the console's portfolio snapshot (`console.refresher`).
    portfolio_refresh: float = Field(default=60.0, gt=0)
    dev_state: Path = Field(default_factory=default_dev_state_file)
    log_level: LogLevel = "INFO"

    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "overdue@localhost"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False

    webhook_url: str = ""
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_token: SecretStr | None = None
    webhook_channels: Annotated[tuple[str, ...], NoDecode] = ("sms", "call")

    temporal_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS")
    )
    temporal_namespace: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_NAMESPACE")
    )
    temporal_profile: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_PROFILE")
    )
    temporal_config_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_CONFIG_FILE")
    )

    @field_validator("codec_old_keys", "webhook_channels", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        return _split(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "data_dir",
        "codec_key",
        "database_url",
        "smtp_user",
        "smtp_password",
        "webhook_token",
        "temporal_address",
        "temporal_namespace",
        "temporal_profile",
        "temporal_config_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def _variable(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "?"
    field = Settings.model_fields.get(name)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"OVERDUE_{name.upper()}"


def load_settings() -> Settings:
    """Read the settings from the environment.

    Raises:
        ConfigError: A variable has a value of the wrong kind (its name and what it needs).
    """
    try:
        return Settings()
    except ValidationError as e:
        first = e.errors()[0]
        raise ConfigError(f"{_variable(first['loc'])}: {first['msg']}") from None
