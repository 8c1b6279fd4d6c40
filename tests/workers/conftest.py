"""Shared fixtures for the worker-side tests: an outbox in a temporary folder and actions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.case.actions import Action
from workers.outbox import Outbox

#: The key the outbox fixture seals recipients and messages with.
OUTBOX_KEY = b"o" * 32


def make_action(action_id: str = "C-1/1.reminder/day_3.sms", **changes: Any) -> Action:
    """An e-mail/SMS contact with personal data, overridable field by field."""
    fields: dict[str, Any] = {
        "action_id": action_id,
        "case_id": "C-1",
        "kind": "contact",
        "at": datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
        "stage": "reminder",
        "reason": "reminder.day_3.sms",
        "channel": "sms",
        "template": "reminder_d3",
        "locale": "zh-CN",
        "message": "Dear Zhang Wei, 1250.00 CNY is due.",
        "to": "+8613812345678",
        "detail": {"subject": "Payment reminder"},
    }
    fields.update(changes)
    return Action(**fields)


@pytest.fixture
def action_factory() -> Callable[..., Action]:
    """The `make_action` helper as a fixture."""
    return make_action


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    """A fresh outbox file, closed after the test."""
    box = Outbox(tmp_path / "outbox.db", keys=(OUTBOX_KEY,))
    try:
        yield box
    finally:
        box.close()
