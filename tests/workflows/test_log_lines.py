"""What the case workflow writes to the worker's log about its records: never free text."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.case.actions import Record
from workflows.case_workflow import loggable

_AT = datetime(2026, 11, 27, tzinfo=UTC)


def test_a_dispute_hold_logs_its_kind_not_the_debtors_words() -> None:
    hold = Record(
        at=_AT,
        kind="hold",
        stage="reminder",
        reason="dispute: Maria Lopez says she never signed, call 0612345678",
        detail={"hold": "dispute"},
    )
    assert loggable(hold) == "dispute"
    release = Record(
        at=_AT,
        kind="release",
        stage="reminder",
        reason="dispute rejected",
        detail={"hold": "dispute"},
    )
    assert loggable(release) == "dispute"


def test_stage_moves_log_the_rule() -> None:
    stage = Record(at=_AT, kind="stage", stage="negotiation", reason="reminder.after_days")
    assert loggable(stage) == "reminder.after_days"
