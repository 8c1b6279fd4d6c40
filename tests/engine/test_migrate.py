"""Moving a running case onto another version of its policy: what carries over, what the new
version decides from then on, and every refusal leaving the case exactly as it was."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from engine.case import events as ev
from engine.case.state import CaseState
from engine.decision.decide import EventRejected, decide
from engine.decision.migrate import check_migration, migrate
from engine.policy.compiled import CompiledPolicy
from tests.engine.driver import Run, at, case_file, inline_policy

NY = "America/New_York"
DUE = date(2025, 3, 3)

_STAGES: dict[str, Any] = {
    "reminder": {
        "contacts": [
            {"id": "sms", "day": 1, "channel": "sms", "template": "t", "every": 2, "times": 10}
        ],
        "exits": [
            {"to": "negotiation", "when": {"field": "days_past_due", "op": ">=", "value": 20}}
        ],
    },
    "negotiation": {
        "enter_at_day": 20,
        "contacts": [{"id": "mail", "day": 21, "channel": "email", "template": "t"}],
    },
}


def _v(version: int, **overrides: Any) -> CompiledPolicy:
    return inline_policy(name="p", version=version, **{"stages": _STAGES, **overrides})


def _to(cp: CompiledPolicy, **kw: str) -> ev.MigratePolicy:
    return ev.MigratePolicy(
        to=cp.ref, by=kw.get("by", "ops@example.com"), reason=kw.get("reason", "new sms text")
    )


def _open(cp: CompiledPolicy, days: int = 4) -> Run:
    run = Run.open(cp, case_file(cp, due=DUE, tz=NY), at(DUE, 12, tz=NY))
    run.until(at(DUE + timedelta(days=days), 12, tz=NY))
    return run


def test_carries_everything_and_records_who_and_why() -> None:
    v1, v2 = _v(1), _v(2, grace_days=1)
    run = _open(v1)
    run.event(ev.Promise(amount=Decimal("1500.00"), due_date=DUE + timedelta(days=10)), run.now)
    before = run.state
    d = migrate(v2, before, _to(v2), run.now)
    s = d.state
    assert s.policy == v2.ref and before.policy == v1.ref  # the input is not changed
    assert (s.balance, s.holds, s.promise, s.contacts, s.done, s.stage, s.stage_seq) == (
        before.balance,
        before.holds,
        before.promise,
        before.contacts,
        before.done,
        before.stage,
        before.stage_seq,
    )
    (rec,) = [r for r in d.records if r.kind == "migrated"]
    assert rec.detail["by"] == "ops@example.com" and rec.reason.endswith("new sms text")
    assert rec.detail["from"] == "p@1" and rec.detail["to"] == "p@2"


def test_twice_to_the_same_version_is_a_no_op() -> None:
    v1, v2 = _v(1), _v(2, grace_days=1)
    run = _open(v1)
    moved = migrate(v2, run.state, _to(v2), run.now).state
    again = migrate(v2, moved, _to(v2), run.now)
    assert again.state is moved and not again.records and not again.actions


def test_the_new_version_decides_from_then_on_without_resending() -> None:
    """v2 sends its text from the move on; an occurrence already sent under v1 is not sent again
    (same action id), and a rollback to v1 sends nothing twice either."""
    v1 = _v(1)
    v2 = _v(
        2,
        templates={
            **inline_policy().policy.model_dump(mode="json")["templates"],
            "t": {"text": {"en-US": "New text for {name}: {amount} {currency}."}},
        },
    )
    run = _open(v1)
    sent_before = {a.action_id for a in run.contacts()}
    d = run.lane.migrate(v2, _to(v2), run.now)
    assert not d.actions  # nothing was due at the moment of the move
    run.decision = d
    run.until(run.now + timedelta(days=6))
    after = run.contacts()[len(sent_before) :]
    assert after and all(a.action_id not in sent_before for a in after)
    back = migrate(v1, run.state, _to(v1, reason="rollback"), run.now)
    assert not back.actions and back.state.policy == v1.ref


def test_a_stage_the_new_version_lacks_maps_through_migrate() -> None:
    v1 = _v(1)
    only_reminder = {"reminder": {"contacts": _STAGES["reminder"]["contacts"]}}
    run = _open(v1, days=22)
    assert run.state.stage == "negotiation"
    refused = _v(2, stages=only_reminder)
    with pytest.raises(EventRejected, match="has no stage negotiation"):
        migrate(refused, run.state, _to(refused), run.now)
    mapped = _v(2, stages=only_reminder, migrate={"stages": {"negotiation": "reminder"}})
    d = migrate(mapped, run.state, _to(mapped), run.now)
    assert d.state.stage == "reminder" and d.state.stage_seq == run.state.stage_seq + 1
    assert [r.detail["to"] for r in d.records if r.kind == "stage"] == ["reminder"]


def _same(a: CaseState, b: CaseState) -> bool:
    return a.model_dump() == b.model_dump()


@pytest.mark.parametrize(
    "why", ["currency", "closed", "other policy", "wrong ref", "old event path"]
)
def test_refusals_leave_the_state_unchanged(why: str) -> None:
    v1 = _v(1)
    run = _open(v1)
    state = run.state
    if why == "closed":
        state = decide(v1, state, ev.Close(reason="written_off"), run.now).state
    snapshot = state.model_copy(deep=True)
    to = {
        "currency": inline_policy("CN", name="p", version=2, stages=_STAGES),
        "closed": _v(2, grace_days=1),
        "other policy": inline_policy(name="q", version=2, stages=_STAGES),
        "wrong ref": _v(2, grace_days=1),
        "old event path": _v(2, grace_days=1),
    }[why]
    event = _to(to)
    if why == "wrong ref":
        event = ev.MigratePolicy(to=_v(3).ref)
    with pytest.raises(EventRejected):
        if why == "old event path":
            decide(v1, state, event, run.now)
        else:
            migrate(to, state, event, run.now)
    if why != "old event path":  # the update validator's check refuses it too
        with pytest.raises(EventRejected):
            check_migration(state, to, event)
    assert _same(state, snapshot)


def test_closed_case_already_on_the_version_is_a_no_op() -> None:
    v1 = _v(1)
    run = _open(v1)
    closed = decide(v1, run.state, ev.Close(reason="written_off"), run.now).state
    assert not migrate(v1, closed, _to(v1), run.now).records
