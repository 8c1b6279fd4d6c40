"""Logging: one JSON object per line, ISO UTC timestamps, personal data redacted at any depth."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from tests.workers.conftest import make_action
from workers import logs
from workers.logs import REDACTED, configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Logging configured to a string buffer; logging left unconfigured afterwards."""
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    configure_logging(stream=buffer, level="DEBUG", force=True)
    yield buffer
    for handler in [h for h in root.handlers if getattr(h, "_overdue", False)]:
        root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()
    logs._configured = False


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


class TestLogs:
    """Events render as JSON lines, personal keys never reach the output, stdlib logs too."""

    def test_json_and_redaction(self, stream: io.StringIO) -> None:
        action = make_action()
        structlog.get_logger("overdue.test", case_id="C-1").info(
            "contact sent",
            action=action,
            phone="+8613800000000",
            debtor={"name": "Zhang Wei", "id": "D-1"},
        )
        [event] = _lines(stream)
        assert event["event"] == "contact sent"
        assert event["level"] == "info" and event["logger"] == "overdue.test"
        assert event["timestamp"].endswith("Z") and event["timestamp"][10] == "T"
        assert event["case_id"] == "C-1"
        assert event["phone"] == REDACTED
        assert event["debtor"] == {"name": REDACTED, "id": "D-1"}
        assert event["action"]["to"] == REDACTED and event["action"]["message"] == REDACTED
        assert event["action"]["action_id"] == action.action_id
        text = stream.getvalue()
        assert "Zhang Wei" not in text and "+86138" not in text

    def test_stdlib_logging_goes_through(self, stream: io.StringIO) -> None:
        logging.getLogger("temporalio.worker").warning("poll failed %s", "twice")
        [event] = _lines(stream)
        assert (event["event"], event["level"], event["logger"]) == (
            "poll failed twice",
            "warning",
            "temporalio.worker",
        )

    def test_level_filters(self, stream: io.StringIO) -> None:
        configure_logging(stream=stream, level="WARNING", force=True)
        log = structlog.get_logger("x")
        log.info("hidden")
        log.warning("shown", email="a@b.example")
        assert [(e["event"], e["email"]) for e in _lines(stream)] == [("shown", REDACTED)]

    def test_configured_once(self, stream: io.StringIO) -> None:
        other = io.StringIO()
        configure_logging(stream=other)  # ignored: already configured
        structlog.get_logger("x").info("once")
        assert other.getvalue() == "" and len(_lines(stream)) == 1
