"""Structured logging: JSON lines on stderr, ISO timestamps, personal data redacted.

`configure_logging` sets up structlog once per process and routes the standard library's
``logging`` (the Temporal SDK's own logs) through the same processors, so every line is one JSON
object. The `redact_personal_data` processor replaces the values of personal-data keys
(``name``, ``phone``, ``email``, ``address``, ``to``, ``message`` and variants such as
``debtor_phone``) with ``"[redacted]"``, at any depth, including inside pydantic models and
dataclasses logged as values. It cannot see personal data pasted into the event text itself: log
ids, not people.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from pydantic import BaseModel
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = ["PERSONAL_KEYS", "REDACTED", "configure_logging", "redact_personal_data"]

#: Keys whose values are personal data.
PERSONAL_KEYS: frozenset[str] = frozenset(
    {"name", "phone", "email", "address", "to", "message", "debtor_name", "full_name", "recipient"}
)
_PERSONAL_SUFFIXES = ("_phone", "_email", "_address", "_message")
REDACTED = "[redacted]"
_MAX_DEPTH = 8

_configured = False


def _is_personal(key: object) -> bool:
    if not isinstance(key, str):
        return False
    lowered = key.lower()
    return lowered in PERSONAL_KEYS or lowered.endswith(_PERSONAL_SUFFIXES)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {k: REDACTED if _is_personal(k) else _scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    return value


def redact_personal_data(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """A structlog processor replacing personal-data values with ``"[redacted]"``.

    Args:
        logger: The wrapped logger (unused).
        method_name: The log method name (unused).
        event_dict: The event being logged.

    Returns:
        The event, scrubbed.
    """
    for key in list(event_dict):
        if key == "event":
            continue
        if _is_personal(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        redact_personal_data,
    ]


def configure_logging(
    json: bool = True,
    level: str | int = "INFO",
    *,
    stream: TextIO | None = None,
    force: bool = False,
) -> None:
    """Configure structlog and the standard library logging, once per process.

    Later calls do nothing unless `force` is true.

    Args:
        json: JSON lines (True) or a human console format (False).
        level: The minimum level (name or number).
        stream: Where lines go; ``sys.stderr`` if omitted.
        force: Reconfigure even if already configured (tests, CLI flags parsed late).
    """
    global _configured
    if _configured and not force:
        return
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    out = stream if stream is not None else sys.stderr
    renderer: Processor = (
        structlog.processors.JSONRenderer(default=str)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared = _shared_processors()
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_overdue", False):
            root.removeHandler(old)
    handler._overdue = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    _configured = True
